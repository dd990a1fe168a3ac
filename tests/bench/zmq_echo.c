/* SPDX-License-Identifier: Apache-2.0 */
/* A ROUTER that echoes every message: the baseline for a stub->agent round trip. */
#include <signal.h>
#include <stdio.h>
#include <zmq.h>

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ck-zmq-echo ENDPOINT\n");
		return 2;
	}
	void *ctx = zmq_ctx_new();
	void *r = zmq_socket(ctx, ZMQ_ROUTER);
	if (zmq_bind(r, argv[1]) != 0) {
		perror("bind");
		return 1;
	}
	fprintf(stderr, "ready\n");
	for (;;) {
		zmq_msg_t id, body;
		zmq_msg_init(&id);
		zmq_msg_init(&body);
		if (zmq_msg_recv(&id, r, 0) < 0 || zmq_msg_recv(&body, r, 0) < 0)
			break;
		zmq_msg_send(&id, r, ZMQ_SNDMORE);
		zmq_msg_send(&body, r, 0);
	}
	return 0;
}
