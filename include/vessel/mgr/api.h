/*
 * api.h - vesseld's REST API (Incus-style JSON over HTTP, served with
 * libmicrohttpd) on a unix socket and, when configured, on TCP with TLS.
 *
 * The listening socket is made here (mode 0660, group `vessel` when that
 * group exists) and handed to libmicrohttpd; every connection's caller is
 * identified with SO_PEERCRED/SO_PEERGROUPS on its fd, never from the
 * request: root, the daemon's own user and members of group `vessel` are
 * served, anyone else gets 403 before the request is read.
 *
 * The TLS listener (opts->listen) serves with the server certificate
 * STATE/server.crt and its key server.key (made with GnuTLS on first start)
 * and asks every client for a certificate: one whose SHA-256 fingerprint is
 * in the trust store (vessel/mgr/trust.h) is served, with that fingerprint
 * as its identity; none or an untrusted one gets 403 before the request is
 * read.  Plain HTTP on that port fails the TLS handshake.
 *
 * The web UI's files are served at /ui/ on every listener (after the same
 * caller check); --ui-listen adds a plain-HTTP listener on loopback only,
 * for a browser on the host, with a bearer token (api_ui.c).
 *
 * Responses are Incus envelopes: {"type":"sync","status":"Success",
 * "status_code":200,"metadata":...}, {"type":"async","operation":
 * "/1.0/operations/ID",...} with 202, and {"type":"error","error_code":N,
 * "error":"..."}.  A request that fails to parse or validate is answered
 * 4xx and changes nothing.
 */
#ifndef VESSEL_MGR_API_H
#define VESSEL_MGR_API_H

#include "vessel/core/err.h"
#include "vessel/mgr/mgr.h"

struct mgr_api;

struct mgr_api_opts {
	const char *socket_path; /* default /run/vessel/vessel.sock */
	const char *group;	 /* default "vessel" */
	unsigned max_connections;
	const char *listen; /* "ADDR:PORT" ("[V6]:PORT"): the TLS listener, or NULL */
	/* The web UI: its bundled files (NULL: /ui/ answers "not installed"), and
	 * the plain-HTTP UI listener on a loopback address (NULL: none), whose API
	 * needs the bearer token written to STATE/ui-token (see api_ui.c). */
	const char *ui_dir;
	const char *ui_listen;
};

int mgr_api_start(struct mgr *m, const struct mgr_api_opts *opts, struct mgr_api **out,
		  struct vs_err *err);
/* Stop serving and remove the socket. */
void mgr_api_stop(struct mgr_api *api);

/*
 * One request without HTTP (tests, the fuzz target): routing, the body
 * limits and parse, the handler, as the server runs them for a root
 * caller.  url may carry a query string.  *response gets the JSON text
 * (malloc'd); an event stream is opened and closed at once ("stream").
 */
int mgr_api_dispatch(struct mgr *m, const char *method, const char *url, const char *body,
		     size_t len, unsigned *status, char **response, struct vs_err *err);

#endif
