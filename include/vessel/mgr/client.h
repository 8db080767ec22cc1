/*
 * client.h - the API client the CLI (and tests) use: HTTP over vesseld's
 * unix socket with libcurl.  Requests return the envelope's metadata; an
 * async response is followed to its operation, waited on, and its result
 * (or error) returned, so callers see one call either way.  Errors carry
 * the daemon's message, or say plainly that the daemon is not reachable.
 */
#ifndef VESSEL_MGR_CLIENT_H
#define VESSEL_MGR_CLIENT_H

#include <json-c/json.h>
#include <stdbool.h>

#include "vessel/core/err.h"

struct mgr_client;

struct mgr_client *mgr_client_new(const char *socket_path, struct vs_err *err);
void mgr_client_free(struct mgr_client *c);

/*
 * METHOD path (e.g. "/1.0/instances?recursion=1") with an optional JSON
 * body (not taken over).  *metadata (may be NULL) gets the result: the sync
 * metadata, or the finished operation's metadata for async requests.
 */
int mgr_client_do(struct mgr_client *c, const char *method, const char *path,
		  struct json_object *body, struct json_object **metadata, struct vs_err *err);
/* POST a file's bytes (application/octet-stream) with extra headers. */
int mgr_client_upload(struct mgr_client *c, const char *path, const char *file,
		      const char *const *headers, struct json_object **metadata,
		      struct vs_err *err);
/* GET a stream of JSON lines; on_line returns non-zero to stop. */
int mgr_client_stream(struct mgr_client *c, const char *path,
		      int (*on_line)(const char *line, void *opaque), void *opaque,
		      struct vs_err *err);

#endif
