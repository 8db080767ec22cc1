/*
 * httpd_linger.c - vs_linger_close for a libmicrohttpd daemon's connections.
 * Not in core_sources: the musl-built vessel-runtime has no libmicrohttpd.
 */
#include <fcntl.h>
#include <stdlib.h>

#include "vessel/core/linger.h"
#include "vessel/core/util.h"

/* Per connection (MHD_OPTION_NOTIFY_CONNECTION): the descriptor kept when
 * a request was answered before its body was read. */
struct linger_sock {
	int fd;
};

void vs_httpd_linger_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			    enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	(void)conn;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		struct linger_sock *s = malloc(sizeof(*s));
		if (s)
			s->fd = -1;
		*socket_context = s;
		return;
	}
	struct linger_sock *s = *socket_context;
	if (s) {
		vs_linger_close(s->fd);
		free(s);
	}
	*socket_context = NULL;
}

void vs_httpd_linger_unread_body(struct MHD_Connection *conn)
{
	const char *cl =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!(cl && strtoull(cl, NULL, 10) > 0) &&
	    !MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		return;
	const union MHD_ConnectionInfo *sc =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	const union MHD_ConnectionInfo *fd =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct linger_sock *s = sc ? sc->socket_context : NULL;
	if (s && fd && s->fd < 0)
		s->fd = fcntl(fd->connect_fd, F_DUPFD_CLOEXEC, 0);
}
