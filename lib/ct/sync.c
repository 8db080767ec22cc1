/*
 * sync.c - the parent/child channel of container creation and exec: a
 * SOCK_SEQPACKET socketpair carrying fixed-size struct ct_sync_msg records,
 * so each message arrives whole and an exited peer reads as EOF (after the
 * messages it sent, even when it left one of ours unread).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "linux_internal.h"

int ct_sync_send(int fd, int type, const struct vs_err *err)
{
	struct ct_sync_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	if (err) {
		m.code = err->code;
		memcpy(m.msg, err->msg, sizeof(m.msg));
		m.msg[sizeof(m.msg) - 1] = 0;
	}
	ssize_t n;
	do
		n = send(fd, &m, sizeof(m), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(m) ? 0 : -EPIPE;
}

int ct_sync_recv(int fd, struct ct_sync_msg *m, struct vs_err *err)
{
	ssize_t n;
	bool reset = false;
	/* a peer that exits with a message of ours unread leaves ECONNRESET,
	 * which a SOCK_SEQPACKET recv reports (once) before the messages the
	 * peer sent: read again for its last word (its error), or EOF */
	do
		n = recv(fd, m, sizeof(*m), 0);
	while (n < 0 && (errno == EINTR || (errno == ECONNRESET && !reset && (reset = true))));
	if (n < 0)
		return vs_syserrf(err, errno, "container setup channel");
	if (n == 0)
		return vs_errf(err, EPIPE, "container process exited during setup");
	if (n != (ssize_t)sizeof(*m))
		return vs_errf(err, EPROTO, "container setup channel: short message");
	m->msg[sizeof(m->msg) - 1] = 0;
	return 0;
}

int ct_sync_send_code(int fd, int type, int code)
{
	struct vs_err e = VS_ERR_INIT;
	e.code = code;
	return ct_sync_send(fd, type, &e);
}

int ct_sync_expect(int fd, int type, struct vs_err *err)
{
	int code;
	return ct_sync_expect_code(fd, type, &code, err);
}

int ct_sync_expect_code(int fd, int type, int *code, struct vs_err *err)
{
	struct ct_sync_msg m;
	int r = ct_sync_recv(fd, &m, err);
	if (r < 0)
		return r;
	if (m.type == CT_SYNC_ERROR)
		return vs_errf(err, m.code ? m.code : EIO, "%s", m.msg);
	if (m.type != type)
		return vs_errf(err, EPROTO, "container setup channel: unexpected message %d",
			       m.type);
	*code = m.code;
	return 0;
}
