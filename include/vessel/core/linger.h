/*
 * linger.h - a lingering close for libmicrohttpd's connections.
 */
#ifndef VESSEL_CORE_LINGER_H
#define VESSEL_CORE_LINGER_H

#include <microhttpd.h>

/*
 * vs_linger_close (util.h) for a libmicrohttpd daemon: start it with
 * MHD_OPTION_NOTIFY_CONNECTION, vs_httpd_linger_notify, NULL, and call
 * vs_httpd_linger_unread_body on a request answered at its first call
 * (refused before its body was read); libmicrohttpd closes such a
 * connection after the answer, and its descriptor then lingers.
 */
void vs_httpd_linger_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			    enum MHD_ConnectionNotificationCode code);
void vs_httpd_linger_unread_body(struct MHD_Connection *conn);

#endif
