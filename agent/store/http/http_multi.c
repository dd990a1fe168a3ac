/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl multi on the agent's loop. libcurl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION -> cki_loop_watch_fd) and when to wake it (CURLMOPT_TIMERFUNCTION ->
 * cki_loop_timer); we call curl_multi_socket_action() and hand each finished transfer to the
 * transport's callback. Connections are pooled by the multi handle with HTTP/2 multiplexing
 * (CURLPIPE_MULTIPLEX) and bounded by the configured pool size.
 */
#include "store/http/http_multi.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"

static void
track_fd(cki_http_multi *m, int fd, bool on)
{
	for (size_t i = 0; i < m->n_fds; i++) {
		if (m->fds[i] == fd) {
			if (!on)
				m->fds[i] = m->fds[--m->n_fds];
			return;
		}
	}
	if (!on)
		return;
	if (m->n_fds == m->cap_fds) {
		size_t cap = m->cap_fds ? m->cap_fds * 2 : 8;
		int *fds = realloc(m->fds, cap * sizeof *fds);

		if (fds == NULL)
			return; /* only the destroy-time sweep misses it */
		m->fds = fds;
		m->cap_fds = cap;
	}
	m->fds[m->n_fds++] = fd;
}

static void
check_done(cki_http_multi *m)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		CURL *e = msg->easy_handle;
		CURLcode cc = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_multi_remove_handle(m->multi, e);
		m->done(m->done_arg, e, cc);
	}
}

static void
on_io(cki_loop *loop, int fd, unsigned events, void *arg)
{
	cki_http_multi *m = arg;
	int flags = 0, running = 0;

	if (events & CKI_EV_READ)
		flags |= CURL_CSELECT_IN;
	if (events & CKI_EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	if (events & CKI_EV_ERROR)
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(m->multi, fd, flags, &running);
	check_done(m);
}

static int
socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	cki_http_multi *m = userp;
	unsigned events = 0;

	if (what == CURL_POLL_REMOVE) {
		cki_loop_unwatch_fd(m->loop, fd);
		track_fd(m, fd, false);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= CKI_EV_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= CKI_EV_WRITE;
	if (cki_loop_watch_fd(m->loop, fd, events, on_io, m) != CK_OK) {
		/* the transfer then ends by its own timeout */
		cki_log_error("http: cannot watch socket %d", fd);
		return -1;
	}
	track_fd(m, fd, true);
	return 0;
}

static void
on_curl_timer(cki_loop *loop, void *arg)
{
	cki_http_multi *m = arg;
	int running = 0;

	m->curl_timer = 0;
	curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(m);
}

static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	cki_http_multi *m = userp;

	cki_loop_timer_cancel(m->loop, m->curl_timer);
	m->curl_timer = 0;
	if (timeout_ms < 0)
		return 0;
	/* even 0 goes through the loop: socket_action must not be called from here */
	m->curl_timer = cki_loop_timer(m->loop, (uint64_t)timeout_ms, on_curl_timer, m);
	return m->curl_timer != 0 ? 0 : -1;
}

ck_err
cki_http_multi_init(cki_http_multi *m, cki_loop *loop, long pool_size, cki_http_multi_done_cb done,
                    void *done_arg, char *why, size_t why_cap)
{
	CURLMcode mc = CURLM_OK;

	m->loop = loop;
	m->done = done;
	m->done_arg = done_arg;
	m->multi = curl_multi_init();
	if (m->multi == NULL) {
		snprintf(why, why_cap, "libcurl initialisation failed");
		return CK_EINTERNAL;
	}
	mc = curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, pool_size);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, pool_size);
	if (mc != CURLM_OK) {
		snprintf(why, why_cap, "libcurl multi setup failed: %s", curl_multi_strerror(mc));
		return CK_EINTERNAL;
	}
	return CK_OK;
}

void
cki_http_multi_fini(cki_http_multi *m)
{
	if (m->multi != NULL)
		curl_multi_cleanup(m->multi); /* closes pooled connections (CURL_POLL_REMOVE) */
	m->multi = NULL;
	if (m->loop != NULL) {
		cki_loop_timer_cancel(m->loop, m->curl_timer);
		for (size_t i = 0; i < m->n_fds; i++)
			cki_loop_unwatch_fd(m->loop, m->fds[i]);
	}
	m->curl_timer = 0;
	free(m->fds);
	m->fds = NULL;
	m->n_fds = m->cap_fds = 0;
}
