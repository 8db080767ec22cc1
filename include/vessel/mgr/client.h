/*
 * client.h - the API client the CLI (and tests) use: HTTP over vesseld's
 * unix socket, or HTTPS to its TLS listener, with libcurl.  Requests return the envelope's metadata; an
 * async response is followed to its operation, waited on, and its result
 * (or error) returned, so callers see one call either way.  Errors carry
 * the daemon's message, or say plainly that the daemon is not reachable.
 */
#ifndef VESSEL_MGR_CLIENT_H
#define VESSEL_MGR_CLIENT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "vessel/core/err.h"

struct mgr_client;

struct mgr_client *mgr_client_new(const char *socket_path, struct vs_err *err);
/*
 * A remote vesseld's TLS listener ("https://HOST:PORT"): cert and key are
 * the client's certificate (in the server's trust store), server_cert the
 * server's certificate, pinned: no other is accepted.
 */
struct mgr_client *mgr_client_new_remote(const char *url, const char *cert, const char *key,
					 const char *server_cert, struct vs_err *err);
void mgr_client_free(struct mgr_client *c);
/* The PEM of the certificate a TLS listener shows, unverified (to be
 * shown by fingerprint and pinned by the caller). */
int mgr_client_fetch_server_cert(const char *url, char **pem, struct vs_err *err);

/*
 * METHOD path (e.g. "/1.0/instances?recursion=1") with an optional JSON
 * body (not taken over).  *metadata (may be NULL) gets the result: the sync
 * metadata, or the finished operation's metadata for async requests.
 */
int mgr_client_do(struct mgr_client *c, const char *method, const char *path,
		  struct json_object *body, struct json_object **metadata, struct vs_err *err);
/* The same with extra request headers ("Name: value", NULL-terminated). */
int mgr_client_do_ex(struct mgr_client *c, const char *method, const char *path,
		     struct json_object *body, const char *const *headers,
		     struct json_object **metadata, struct vs_err *err);
/* POST a file's bytes (application/octet-stream) with extra headers. */
int mgr_client_upload(struct mgr_client *c, const char *path, const char *file,
		      const char *const *headers, struct json_object **metadata,
		      struct vs_err *err);
/*
 * GET path's body (a file, not an envelope) into fd; an error envelope
 * (status other than 200) becomes err, as does a transfer cut short.
 * progress (may be NULL) is told the bytes received so far.
 */
int mgr_client_download(struct mgr_client *c, const char *path, int fd,
			void (*progress)(void *opaque, uint64_t bytes), void *opaque,
			struct vs_err *err);
/* POST the bytes read from fd (to its end; chunked) like mgr_client_upload;
 * progress (may be NULL) is told the bytes sent so far. */
int mgr_client_upload_fd(struct mgr_client *c, const char *path, int fd, const char *const *headers,
			 void (*progress)(void *opaque, uint64_t bytes), void *opaque,
			 struct json_object **metadata, struct vs_err *err);
/* Deadlines of a request (0: none): connect_ms for the connection and its
 * TLS handshake, idle_s without a byte from the server (a peer whose
 * kernel accepted but whose process does not answer: ETIMEDOUT); wait_s
 * for each long poll of an operation (below idle_s; default 60). */
void mgr_client_set_deadlines(struct mgr_client *c, long connect_ms, long idle_s, int wait_s);
/* GET a stream of JSON lines; on_line returns non-zero to stop. */
int mgr_client_stream(struct mgr_client *c, const char *path,
		      int (*on_line)(const char *line, void *opaque), void *opaque,
		      struct vs_err *err);
/* While an operation is waited on: fn gets its metadata (e.g. {"stage",
 * "progress"}) about once a second, and NULL when the wait ends (fn NULL:
 * none, the default). */
void mgr_client_set_progress(struct mgr_client *c,
			     void (*fn)(void *opaque, struct json_object *metadata), void *opaque);
/* GET path upgraded to PROTOCOL (101): *fd the raw stream, over the local
 * socket or (through a thread that carries the TLS) to a remote. */
int mgr_client_upgrade(struct mgr_client *c, const char *path, const char *protocol, int *fd,
		       struct vs_err *err);
/* The same with a METHOD and extra header lines ("Name: value"). */
int mgr_client_upgrade_ex(struct mgr_client *c, const char *method, const char *path,
			  const char *protocol, const char *const *headers, int *fd,
			  struct vs_err *err);

/* The errno an API answer's HTTP status stands for (EIO for any other). */
int mgr_client_errno_of_status(long status);

#endif
