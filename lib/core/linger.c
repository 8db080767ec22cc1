/*
 * linger.c - a lingering close for HTTP servers.
 *
 * A server that answers a request before reading its body (a refused
 * header, a body declared too large) closes the connection after the
 * answer: it cannot find where the next request would start.  Closed at
 * once with the client's bytes still unread, the kernel resets a TCP
 * connection and fails a unix socket's writes, and a client still sending
 * its body can lose the answer before it reads it (curl: "send failure",
 * no status).  Web servers linger instead (RFC 9112 section 9.6): shut the
 * sending side so the client sees the end of the answer, then read and drop
 * what it still sends until it stops or closes, for a bounded time.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vessel/core/util.h"

#define LINGER_MAX	64	       /* connections lingering at once */
#define LINGER_IDLE_MS	2000	       /* the client sent nothing for this long */
#define LINGER_TOTAL_NS 10000000000ull /* a client that never stops */

static unsigned lingering; /* atomic */

static void *linger_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint64_t end = vs_now_ns() + LINGER_TOTAL_NS;
	char buf[16384];
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, LINGER_IDLE_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0 || vs_now_ns() >= end)
			break;
	}
	close(fd);
	__atomic_sub_fetch(&lingering, 1, __ATOMIC_RELAXED);
	return NULL;
}

void vs_linger_close(int fd)
{
	if (fd < 0)
		return;
	shutdown(fd, SHUT_WR);
	if (__atomic_add_fetch(&lingering, 1, __ATOMIC_RELAXED) > LINGER_MAX)
		goto now;
	pthread_attr_t attr;
	pthread_t t;
	if (pthread_attr_init(&attr) != 0)
		goto now;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int r = pthread_create(&t, &attr, linger_main, (void *)(intptr_t)fd);
	pthread_attr_destroy(&attr);
	if (r == 0)
		return;
now:
	__atomic_sub_fetch(&lingering, 1, __ATOMIC_RELAXED);
	close(fd);
}
