/*
 * api_upgrade.c - a connection upgraded to another protocol (a live move's
 * stream, api_migrate.c) without libmicrohttpd's TLS relay.
 *
 * Over the local socket libmicrohttpd hands the application the raw socket
 * (MHD_create_response_for_upgrade), which is as fast as the socket.  Over
 * TLS it relays between the TLS session and a socketpair itself, through
 * buffers taken from what is left of the connection's memory pool - and
 * libmicrohttpd 0.9.75 (Debian 12) never gives back the write buffer of the
 * 101 headers, which holds the whole pool, so every TLS upgrade falls back
 * to its 8-byte emergency buffer: 4 bytes per system call, ~0.5 MB/s.  A
 * live move through a TLS remote took ~40 s and the guest's downtime was
 * the ~25 s the destination needed to drain what was queued on the way.
 *
 * So over TLS the connection is suspended (libmicrohttpd then only waits
 * for its resumption and leaves the socket alone), the 101 is written with
 * the connection's own GnuTLS session, and a thread relays between that
 * session and a socketpair with 64 KiB buffers; the application gets the
 * socketpair's other end as if from libmicrohttpd (urh NULL: it closes the
 * socket itself when done).  When either side ends the connection is
 * resumed and closed (api.c: the request's handler answers MHD_NO).
 */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_internal.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"

#define BUF	(64 * 1024)
#define DRAIN_S 30 /* after the end: the peer's close awaited that long */

struct pump {
	struct MHD_Connection *conn;
	gnutls_session_t s;
	int net; /* the TLS connection's socket (non-blocking) */
	int app; /* our end of the socketpair */
};

static bool wait_fd(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	for (;;) {
		int n = poll(&p, 1, -1);
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return false;
	}
}

static bool tls_send_all(gnutls_session_t s, int net, const char *p, size_t n)
{
	while (n) {
		ssize_t w = gnutls_record_send(s, p, n);
		if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) {
			if (!wait_fd(net, gnutls_record_get_direction(s) ? POLLOUT : POLLIN))
				return false;
			continue;
		}
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static bool fd_send_all(int fd, const char *p, size_t n)
{
	return vs_send_full(fd, p, n) == 0;
}

static void *pump_run(void *arg)
{
	struct pump *pp = arg;
	char *buf = malloc(BUF);
	for (bool ok = buf != NULL; ok;) {
		/* GnuTLS may hold decrypted bytes the socket no longer shows */
		bool pending = gnutls_record_check_pending(pp->s) > 0;
		struct pollfd p[2] = { { .fd = pp->net, .events = POLLIN },
				       { .fd = pp->app, .events = POLLIN } };
		if (!pending && poll(p, 2, -1) < 0) {
			ok = errno == EINTR;
			continue;
		}
		if (pending || p[0].revents) {
			ssize_t n = gnutls_record_recv(pp->s, buf, BUF);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				continue;
			ok = n > 0 && fd_send_all(pp->app, buf, (size_t)n);
			continue;
		}
		if (p[1].revents) {
			ssize_t n = read(pp->app, buf, BUF);
			if (n < 0 && errno == EINTR)
				continue;
			ok = n > 0 && tls_send_all(pp->s, pp->net, buf, (size_t)n);
		}
	}
	close(pp->app);
	/* The end, after what was sent (a live move's last byte matters): TLS
	 * close_notify and FIN; what the peer still sends is read and dropped
	 * (a peer blocked sending would not see the end) until it closes, then
	 * the connection is reset in case it did not; libmicrohttpd closes the
	 * socket once resumed (the request's handler answers MHD_NO). */
	gnutls_bye(pp->s, GNUTLS_SHUT_WR);
	shutdown(pp->net, SHUT_WR);
	for (int idle = 0; buf && idle < DRAIN_S;) {
		bool pending = gnutls_record_check_pending(pp->s) > 0;
		struct pollfd p = { .fd = pp->net, .events = POLLIN };
		int n = pending ? 1 : poll(&p, 1, 1000);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0) {
			idle++;
			continue;
		}
		ssize_t got = gnutls_record_recv(pp->s, buf, BUF);
		if (got == 0 || (got < 0 && got != GNUTLS_E_AGAIN && got != GNUTLS_E_INTERRUPTED))
			break;
	}
	free(buf);
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	connect(pp->net, &unspec, sizeof(unspec)); /* TCP: reset, the fd stays */
	MHD_resume_connection(pp->conn);
	free(pp);
	return NULL;
}

int api_upgrade_tls(struct MHD_Connection *conn, const char *protocol, MHD_UpgradeHandler fn,
		    void *cls, struct vs_err *err)
{
	const union MHD_ConnectionInfo *si =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	const union MHD_ConnectionInfo *fi =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!si || !si->tls_session || !fi)
		return vs_errf(err, EINVAL, "not a TLS connection");
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return vs_syserrf(err, errno, "socketpair");
	struct pump *pp = calloc(1, sizeof(*pp));
	if (!pp) {
		close(sp[0]);
		close(sp[1]);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	*pp = (struct pump){ .conn = conn,
			     .s = (gnutls_session_t)si->tls_session,
			     .net = fi->connect_fd,
			     .app = sp[1] };
	MHD_suspend_connection(conn);
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
			 "Upgrade: %s\r\n\r\n",
			 protocol);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (n < 0 || (size_t)n >= sizeof(hdr) || !tls_send_all(pp->s, pp->net, hdr, (size_t)n) ||
	    pthread_create(&t, &attr, pump_run, pp) != 0) {
		pthread_attr_destroy(&attr);
		close(sp[0]);
		close(sp[1]);
		free(pp);
		MHD_resume_connection(conn);
		return vs_errf(err, EIO, "cannot upgrade the TLS connection");
	}
	pthread_attr_destroy(&attr);
	fn(cls, conn, NULL, NULL, 0, sp[0], NULL); /* it owns sp[0] now */
	return 0;
}
