/*
 * api_internal.h - what the API's handlers share: the typed request a
 * handler gets (path parameters, parsed JSON body, caller identity), the
 * response it fills, the const route table and the JSON helpers that
 * make every parse strict (unknown keys and wrong types are 400s).
 */
#ifndef VESSEL_MGR_API_INTERNAL_H
#define VESSEL_MGR_API_INTERNAL_H

#include <json-c/json.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <sys/types.h>

#include "vessel/core/err.h"
#include "vessel/mgr/mgr.h"

#define API_BODY_MAX   (1u << 20)   /* JSON bodies */
#define API_UPLOAD_MAX (8ull << 30) /* image uploads */
#define API_PARAMS_MAX 2

struct api_request {
	struct mgr *m;
	struct MHD_Connection *conn;
	const char *method;
	char params[API_PARAMS_MAX][256]; /* {name} segments of the path */
	struct json_object *body;	  /* parsed JSON body, or NULL */
	const char *upload_path;	  /* raw upload saved to this file, or NULL */
	struct mgr_op *stream_op;	  /* API_BODY_JSON_OR_STREAM: the work the body went to */
	const char *query;		  /* without HTTP (mgr_api_dispatch): "a=1&b=2" */
	uid_t uid;			  /* unix socket callers; (uid_t)-1 over TLS */
	gid_t gid;
	bool tls;	   /* came over the TLS listener */
	char identity[80]; /* for the audit log: "uid:N", or "tls:FINGERPRINT" */
	/* over TLS: the fingerprint of the client certificate presented ("" when
	 * none); untrusted when the caller is not trusted (open routes only) */
	char peer_fingerprint[65];
	bool untrusted;
	/* sent by another cluster member on a caller's behalf (api.c): answered
	 * for this member only, never passed on again */
	bool forwarded;
};

struct api_response {
	unsigned http_status;
	struct json_object *json;    /* the whole envelope */
	struct MHD_Response *stream; /* or a ready response (events) */
	/* with stream: http_status if set (else 200); stream_cls_free(stream_cls)
	 * is called when the request is done (may be NULL) */
	void *stream_cls;
	void (*stream_cls_free)(void *cls);
	/* or an upgrade to upgrade_protocol (101): upgrade(upgrade_cls, ...) gets
	 * the raw stream; with urh NULL (a TLS connection, api_upgrade.c) it
	 * closes the socket itself when done.  stream_cls as above. */
	MHD_UpgradeHandler upgrade;
	void *upgrade_cls;
	const char *upgrade_protocol;
};

typedef void (*api_handler)(struct api_request *req, struct api_response *res);

enum api_body {
	API_BODY_NONE,
	API_BODY_JSON,
	API_BODY_JSON_OR_UPLOAD,
	/* JSON, or an application/octet-stream body piped as it arrives into
	 * work started before it (api_stream_begin): an instance import */
	API_BODY_JSON_OR_STREAM,
};

struct api_route {
	const char *method;
	const char *pattern; /* "/1.0/instances/{}/state": {} is one segment */
	api_handler fn;
	enum api_body body;
};

extern const struct api_route api_routes[];
extern const size_t api_nroutes;
/* Whether a route may be called over TLS without a trusted client
 * certificate (redeeming a cluster join token: its handler checks the
 * caller itself). */
bool api_route_untrusted(const struct api_route *route);

/* Envelopes. */
void api_sync(struct api_response *res, struct json_object *metadata);
/* Answer with the object of `list` (an array, consumed) whose "name" is
 * `name`; false (nothing answered) when there is none. */
bool api_sync_named(struct api_response *res, struct json_object *list, const char *name);
/* Whether the request asks for objects (?recursion=, any value but 0). */
bool api_recursion(struct api_request *req);
/* Answer a listing: with ?recursion= the objects of `list` (an array,
 * consumed) as they are, otherwise each one's URL, prefix followed by its
 * field `key` (Incus's convention). */
void api_sync_listing(struct api_request *req, struct api_response *res, struct json_object *list,
		      const char *prefix, const char *key);
void api_async(struct api_response *res, struct mgr_op *op);
void api_error(struct api_response *res, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error from a vs_err: ENOENT 404, EEXIST/EBUSY/EALREADY 409, EINVAL/ERANGE
 * 400, EPERM/EACCES 403, ENOTSUP 501, others 500. */
void api_error_from(struct api_response *res, const struct vs_err *err);

/*
 * Answer with a body that a thread writes as it goes (an export, an image
 * sent to another member): write(ctx, fd, err) runs on its own thread into
 * a pipe the response reads from (chunked; when write fails, the body ends
 * without its last chunk, and the failure is logged as "WHAT: message").
 * done(ctx) runs once the response is gone, or at once when it cannot be
 * started (then the answer is a 500).  A client that leaves early closes
 * the pipe: the writer gets EPIPE and ends.
 */
void api_pipe_response(struct api_response *res, const char *content_type,
		       int (*write)(void *ctx, int fd, struct vs_err *err), void (*done)(void *ctx),
		       void *ctx, const char *what);

/* Strict JSON: the object may hold only these keys (NULL-terminated). */
int api_json_keys(struct json_object *o, const char *what, const char *const *allowed,
		  struct vs_err *err);
/* Typed field getters: ENOENT-free (missing -> default), EINVAL on a wrong type. */
int api_json_string(struct json_object *o, const char *key, const char **out, struct vs_err *err);
int api_json_bool(struct json_object *o, const char *key, bool *out, struct vs_err *err);
int api_json_int(struct json_object *o, const char *key, int64_t *out, struct vs_err *err);
/* A query parameter (NULL when absent). */
const char *api_query(struct api_request *req, const char *key);

/* The web UI (api_ui.c): /ui and /ui/... paths; their static files from dir
 * (NULL: not installed) for GET and HEAD; the UI listener's bearer token
 * (made at start, written to STATE/ui-token) and Host check. */
#define API_UI_TOKEN_LEN 64
bool api_ui_path(const char *url);
enum MHD_Result api_ui_respond(const char *dir, struct MHD_Connection *conn, const char *url,
			       const char *method);
int api_ui_token_make(const char *state_dir, char token[API_UI_TOKEN_LEN + 1], struct vs_err *err);
bool api_ui_token_ok(struct MHD_Connection *conn, const char *token);
bool api_ui_host_ok(struct MHD_Connection *conn, unsigned port);

/* Handlers (api_instances.c, api_images.c, api_operations.c). */
void api_get_root(struct api_request *req, struct api_response *res);
void api_get_instances(struct api_request *req, struct api_response *res);
void api_post_instances(struct api_request *req, struct api_response *res);
void api_get_instance(struct api_request *req, struct api_response *res);
void api_put_instance(struct api_request *req, struct api_response *res);
void api_patch_instance(struct api_request *req, struct api_response *res);
void api_post_instance(struct api_request *req, struct api_response *res);
void api_delete_instance(struct api_request *req, struct api_response *res);
void api_get_instance_state(struct api_request *req, struct api_response *res);
void api_put_instance_state(struct api_request *req, struct api_response *res);
void api_post_instance_exec(struct api_request *req, struct api_response *res);
void api_get_snapshots(struct api_request *req, struct api_response *res);
void api_post_snapshots(struct api_request *req, struct api_response *res);
void api_get_snapshot(struct api_request *req, struct api_response *res);
void api_delete_snapshot(struct api_request *req, struct api_response *res);
void api_get_images(struct api_request *req, struct api_response *res);
void api_post_images(struct api_request *req, struct api_response *res);
void api_get_image(struct api_request *req, struct api_response *res);
void api_get_image_export(struct api_request *req, struct api_response *res);
void api_delete_image(struct api_request *req, struct api_response *res);
void api_post_image_aliases(struct api_request *req, struct api_response *res);
void api_delete_image_alias(struct api_request *req, struct api_response *res);
void api_get_operations(struct api_request *req, struct api_response *res);
void api_get_operation(struct api_request *req, struct api_response *res);
void api_get_operation_wait(struct api_request *req, struct api_response *res);
void api_delete_operation(struct api_request *req, struct api_response *res);
void api_get_events(struct api_request *req, struct api_response *res);
void api_get_networks(struct api_request *req, struct api_response *res);
void api_post_networks(struct api_request *req, struct api_response *res);
void api_get_network(struct api_request *req, struct api_response *res);
void api_delete_network(struct api_request *req, struct api_response *res);
void api_get_certificates(struct api_request *req, struct api_response *res);
void api_post_certificates(struct api_request *req, struct api_response *res);
void api_get_certificate(struct api_request *req, struct api_response *res);
void api_delete_certificate(struct api_request *req, struct api_response *res);
void api_get_volumes(struct api_request *req, struct api_response *res);
void api_post_volumes(struct api_request *req, struct api_response *res);
void api_get_volume(struct api_request *req, struct api_response *res);
void api_patch_volume(struct api_request *req, struct api_response *res);
void api_delete_volume(struct api_request *req, struct api_response *res);
void api_post_volume_attach(struct api_request *req, struct api_response *res);
void api_post_volume_detach(struct api_request *req, struct api_response *res);
void api_put_volume(struct api_request *req, struct api_response *res);
void api_get_volume_snapshots(struct api_request *req, struct api_response *res);
void api_post_volume_snapshots(struct api_request *req, struct api_response *res);
void api_get_volume_snapshot(struct api_request *req, struct api_response *res);
void api_delete_volume_snapshot(struct api_request *req, struct api_response *res);
/* api_policy.c */
void api_get_project_policy(struct api_request *req, struct api_response *res);
void api_put_project_policy(struct api_request *req, struct api_response *res);
void api_get_sprawl(struct api_request *req, struct api_response *res);
void api_post_prune(struct api_request *req, struct api_response *res);
void api_get_audit(struct api_request *req, struct api_response *res);
void api_get_audit_verify(struct api_request *req, struct api_response *res);
void api_get_instance_console(struct api_request *req, struct api_response *res);
void api_put_instance_console(struct api_request *req, struct api_response *res);
void api_get_instance_files(struct api_request *req, struct api_response *res);
void api_post_instance_files(struct api_request *req, struct api_response *res);
/* End the console bridges (api_console.c) before the daemon stops. */
void api_console_shutdown(void);
void api_get_cluster(struct api_request *req, struct api_response *res);
void api_put_cluster(struct api_request *req, struct api_response *res);
void api_get_cluster_members(struct api_request *req, struct api_response *res);
void api_get_cluster_member(struct api_request *req, struct api_response *res);
void api_patch_cluster_member(struct api_request *req, struct api_response *res);
void api_delete_cluster_member(struct api_request *req, struct api_response *res);
void api_post_cluster_member_evacuate(struct api_request *req, struct api_response *res);
void api_post_cluster_members(struct api_request *req, struct api_response *res);
void api_get_cluster_tokens(struct api_request *req, struct api_response *res);
void api_delete_cluster_token(struct api_request *req, struct api_response *res);
void api_post_cluster_join(struct api_request *req, struct api_response *res);
/* Cluster hooks around a request's handler (api_cluster.c): true when the
 * request was answered by forwarding it to another member. */
bool api_cluster_intercept(struct api_request *req, const struct api_route *route, const char *url,
			   struct api_response *res);
void api_cluster_after(struct api_request *req, const struct api_route *route,
		       struct api_response *res);
/* api_usage.c */
void api_get_instance_usage(struct api_request *req, struct api_response *res);
void api_get_metrics(struct api_request *req, struct api_response *res);
void api_get_advice(struct api_request *req, struct api_response *res);
void api_post_instance_advice_apply(struct api_request *req, struct api_response *res);
/* api_export.c */
void api_get_instance_export(struct api_request *req, struct api_response *res);
/* api_migrate.c */
void api_get_instance_migrate(struct api_request *req, struct api_response *res);
void api_post_instance_migrate_in(struct api_request *req, struct api_response *res);
/*
 * A streamed body (API_BODY_JSON_OR_STREAM): start the work that reads it
 * (an instance import) before the body arrives; *wfd gets the pipe the body
 * is written to, *op the operation (a reference).  0, or -errno with err
 * (refused before the body is read).
 */
int api_stream_begin(struct api_request *req, int *wfd, struct mgr_op **op, struct vs_err *err);
/* Upgrade a TLS connection to protocol without libmicrohttpd's relay
 * (api_upgrade.c): the 101 is sent, fn gets a socket with urh NULL. */
int api_upgrade_tls(struct MHD_Connection *conn, const char *protocol, MHD_UpgradeHandler fn,
		    void *cls, struct vs_err *err);

#endif
