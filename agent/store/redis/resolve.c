/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host names of Redis nodes without blocking the loop. hiredis 0.14 resolves a name with a
 * blocking getaddrinfo() inside every redisAsyncConnect(), which would stall the agent on
 * each reconnect while a resolver is slow. So a name given in the URL is resolved once, while
 * the store is built (before the loop serves anyone), and every connection, reconnects
 * included, goes to that literal address. A name that does not resolve then is left to
 * hiredis (the old, blocking behaviour: a warning says so). A name learnt later (CLUSTER
 * SLOTS, MOVED; Redis announces IP addresses unless configured otherwise) is not resolved on
 * the loop: the node stays unreachable, with a log line. Decision: no resolver thread
 * (getaddrinfo_a runs one), the agent is one thread.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "base/log.h"
#include "store/redis/redis_int.h"

static bool
is_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

bool
cki_redis_resolve(rstore *s, const char *host, char *addr, size_t cap)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	snprintf(addr, cap, "%s", host);
	if (is_literal(host))
		return true;
	if (!s->building) {
		cki_log_warn("store redis: node %s is a host name learnt after start-up; it is not "
		             "resolved on the loop (announce IP addresses)",
		             host);
		return false;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0 || res == NULL) {
		cki_log_warn(
		        "store redis: cannot resolve %s now (%s); each connection attempt will "
		        "resolve it (blocking)",
		        host, rc != 0 ? gai_strerror(rc) : "no address");
		return true;
	}
	if (getnameinfo(res->ai_addr, res->ai_addrlen, addr, (socklen_t)cap, NULL, 0,
	                NI_NUMERICHOST) != 0)
		snprintf(addr, cap, "%s", host);
	else
		cki_log_info("store redis: %s resolved to %s (kept for reconnects)", host, addr);
	freeaddrinfo(res);
	return true;
}
