/*
 * api.c - the HTTP side of vesseld's API (api.h): the unix socket, the
 * caller check, body collection with size limits, routing through the
 * const table in api_routes.c, and the Incus envelopes.
 *
 * The TLS listener is a second libmicrohttpd daemon on the same handlers:
 * its server certificate is handed to GnuTLS by a certificate callback
 * (one TLS listener per process: the callback has no user pointer), which
 * also makes the session ask for a client certificate with no list of
 * acceptable issuers (clients' certificates are self-signed, as Incus's
 * are); the caller check then looks the presented certificate's
 * fingerprint up in the trust store.
 *
 * libmicrohttpd runs one thread per connection (handlers may wait on an
 * operation, the event stream blocks in its reader).  The access handler
 * is called first with the headers (caller check, route, size limits:
 * refusals are answered at once, before the body is read), then once per
 * body chunk (collected up to API_BODY_MAX, or streamed to a file for an
 * image upload), then once more to run the handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <grp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api_internal.h"
#include "fsutil.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/linger.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/api.h"
#include "vessel/mgr/policy.h"
#include "vessel/mgr/cluster.h"
#include "vessel/mgr/tls.h"
#include "vessel/mgr/trust.h"

struct mgr_api;

/* What a daemon's callbacks get: the API and which listener. */
struct listener {
	struct mgr_api *api;
	bool tls;
	bool ui; /* the loopback UI listener (api_ui.c) */
};

struct mgr_api {
	struct mgr *m;
	struct MHD_Daemon *daemon;
	struct MHD_Daemon *tls_daemon;
	int fd;
	char *socket_path;
	gid_t group; /* (gid_t)-1 when the group does not exist */
	struct listener unix_l, tls_l, ui_l;
	gnutls_pcert_st pcert;
	gnutls_privkey_t pkey;
	bool have_pcert;
	char *ui_dir;			     /* the UI's files, or NULL */
	struct MHD_Daemon *ui_daemon;	     /* --ui-listen */
	unsigned ui_port;		     /* its port (the Host check) */
	char ui_token[API_UI_TOKEN_LEN + 1]; /* its bearer token */
};

struct req_ctx {
	const struct api_route *route;
	struct api_request req;
	char *buf;
	size_t len, cap;
	int upload_fd;
	char *upload_dir;
	char *upload_path;
	uint64_t upload_len;
	void *stream_cls; /* api_response's, freed with the context */
	void (*stream_cls_free)(void *cls);
	struct mgr_op *stream_op; /* API_BODY_JSON_OR_STREAM: upload_fd is its pipe */
	bool stream_gone;	  /* its reader stopped: the rest is discarded */
	bool upgraded_tls;	  /* api_upgrade.c has the connection: close it */
	unsigned refuse;	  /* HTTP status decided while reading the body */
	char refuse_msg[200];
};

/* ---- envelopes ---- */

static void respond_json(struct api_response *res, unsigned status, struct json_object *o)
{
	json_object_put(res->json);
	res->http_status = status;
	res->json = o;
}

void api_sync(struct api_response *res, struct json_object *metadata)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("sync"));
	json_object_object_add(o, "status", json_object_new_string("Success"));
	json_object_object_add(o, "status_code", json_object_new_int(200));
	json_object_object_add(o, "operation", json_object_new_string(""));
	json_object_object_add(o, "metadata", metadata);
	respond_json(res, 200, o);
}

bool api_sync_named(struct api_response *res, struct json_object *list, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *o = json_object_array_get_idx(list, i), *n;
		if (json_object_object_get_ex(o, "name", &n) &&
		    strcmp(json_object_get_string(n), name) == 0) {
			api_sync(res, json_object_get(o));
			json_object_put(list);
			return true;
		}
	}
	json_object_put(list);
	return false;
}

bool api_recursion(struct api_request *req)
{
	const char *r = api_query(req, "recursion");
	return r && strcmp(r, "0") != 0;
}

void api_sync_listing(struct api_request *req, struct api_response *res, struct json_object *list,
		      const char *prefix, const char *key)
{
	if (api_recursion(req)) {
		api_sync(res, list);
		return;
	}
	struct json_object *urls = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *v;
		if (!json_object_object_get_ex(json_object_array_get_idx(list, i), key, &v))
			continue;
		char url[400];
		snprintf(url, sizeof(url), "%s%s", prefix, json_object_get_string(v));
		json_object_array_add(urls, json_object_new_string(url));
	}
	json_object_put(list);
	api_sync(res, urls);
}

void api_async(struct api_response *res, struct mgr_op *op)
{
	struct json_object *o = json_object_new_object();
	char url[96];
	snprintf(url, sizeof(url), "/1.0/operations/%s", mgr_op_id(op));
	json_object_object_add(o, "type", json_object_new_string("async"));
	json_object_object_add(o, "status", json_object_new_string("Operation created"));
	json_object_object_add(o, "status_code", json_object_new_int(100));
	json_object_object_add(o, "operation", json_object_new_string(url));
	json_object_object_add(o, "metadata", mgr_op_to_json(op));
	respond_json(res, 202, o);
}

static struct json_object *error_json(unsigned code, const char *msg)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("error"));
	json_object_object_add(o, "error", json_object_new_string(msg));
	json_object_object_add(o, "error_code", json_object_new_int((int)code));
	return o;
}

void api_error(struct api_response *res, unsigned code, const char *fmt, ...)
{
	char msg[VS_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	respond_json(res, code, error_json(code, msg));
}

void api_error_from(struct api_response *res, const struct vs_err *err)
{
	unsigned code;
	switch (err->code) {
	case ENOENT: code = 404; break;
	case EEXIST:
	case EBUSY:
	case EALREADY: code = 409; break;
	case EINVAL:
	case ERANGE:
	case E2BIG:
	case ENAMETOOLONG: code = 400; break;
	case EPERM:
	case EACCES: code = 403; break;
	case ENOTSUP: code = 501; break;
	case EAGAIN: code = 503; break; /* e.g. what it needs is on an offline cluster member */
	default: code = 500; break;
	}
	api_error(res, code, "%s", err->msg[0] ? err->msg : "internal error");
}

struct pipe_response {
	int rfd, wfd;
	pthread_t thread;
	bool joined;
	int result;
	int (*write)(void *ctx, int fd, struct vs_err *err);
	void (*done)(void *ctx);
	void *ctx;
	char what[128];
};

static void *pipe_response_thread(void *arg)
{
	struct pipe_response *p = arg;
	struct vs_err err = VS_ERR_INIT;
	p->result = p->write(p->ctx, p->wfd, &err);
	if (p->result < 0)
		vs_log(VS_LOG_WARN, "%s: %s", p->what, err.msg);
	close(p->wfd);
	p->wfd = -1;
	return NULL;
}

static ssize_t pipe_response_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct pipe_response *p = cls;
	for (;;) {
		ssize_t n = read(p->rfd, buf, max);
		if (n > 0)
			return n;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		/* end of the pipe: the writer is done; its result decides */
		pthread_join(p->thread, NULL);
		p->joined = true;
		return p->result < 0 ? MHD_CONTENT_READER_END_WITH_ERROR
				     : MHD_CONTENT_READER_END_OF_STREAM;
	}
}

static void pipe_response_free(void *cls)
{
	struct pipe_response *p = cls;
	close(p->rfd); /* a writer still running gets EPIPE and ends */
	if (!p->joined)
		pthread_join(p->thread, NULL);
	p->done(p->ctx);
	free(p);
}

void api_pipe_response(struct api_response *res, const char *content_type,
		       int (*write)(void *ctx, int fd, struct vs_err *err), void (*done)(void *ctx),
		       void *ctx, const char *what)
{
	struct pipe_response *p = calloc(1, sizeof(*p));
	int fds[2];
	if (!p) {
		api_error(res, 500, "out of memory");
		done(ctx);
		return;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		api_error(res, 500, "pipe: %s", strerror(errno));
		free(p);
		done(ctx);
		return;
	}
	*p = (struct pipe_response){
		.rfd = fds[0], .wfd = fds[1], .write = write, .done = done, .ctx = ctx
	};
	snprintf(p->what, sizeof(p->what), "%s", what);
	if (pthread_create(&p->thread, NULL, pipe_response_thread, p) != 0) {
		api_error(res, 500, "%s: cannot start a thread", what);
		close(fds[0]);
		close(fds[1]);
		free(p);
		done(ctx);
		return;
	}
	res->stream = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1 << 16,
							pipe_response_read, p, pipe_response_free);
	if (!res->stream) {
		pipe_response_free(p);
		api_error(res, 500, "out of memory");
		return;
	}
	MHD_add_response_header(res->stream, "Content-Type", content_type);
}

/* ---- strict JSON helpers ---- */

int api_json_keys(struct json_object *o, const char *what, const char *const *allowed,
		  struct vs_err *err)
{
	if (!o || !json_object_is_type(o, json_type_object))
		return vs_errf(err, EINVAL, "%s: expected a JSON object", what);
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok)
			return vs_errf(err, EINVAL, "%s: unknown key \"%.64s\"", what, key);
	}
	return 0;
}

int api_json_string(struct json_object *o, const char *key, const char **out, struct vs_err *err)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return vs_errf(err, EINVAL, "\"%s\": expected a string", key);
	*out = json_object_get_string(v);
	return 0;
}

int api_json_bool(struct json_object *o, const char *key, bool *out, struct vs_err *err)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return vs_errf(err, EINVAL, "\"%s\": expected true or false", key);
	*out = json_object_get_boolean(v);
	return 0;
}

int api_json_int(struct json_object *o, const char *key, int64_t *out, struct vs_err *err)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return vs_errf(err, EINVAL, "\"%s\": expected an integer", key);
	*out = json_object_get_int64(v);
	return 0;
}

const char *api_query(struct api_request *req, const char *key)
{
	if (req->conn)
		return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
	/* without HTTP: look key up in "k=v&k2=v2" (no unescaping) */
	static __thread char value[256];
	size_t kl = strlen(key);
	for (const char *p = req->query; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			snprintf(value, sizeof(value), "%.*s", (int)(n - kl - 1), p + kl + 1);
			return value;
		}
		if (n == kl && strncmp(p, key, kl) == 0)
			return "";
		p += n + (amp ? 1 : 0);
	}
	return NULL;
}

/* ---- routing ---- */

/* Match path against pattern; fills params.  1 match, 0 no. */
static int match(const char *pattern, const char *path, struct api_request *req)
{
	size_t np = 0;
	const char *p = pattern, *u = path;
	while (*p && *u) {
		if (p[0] == '{' && p[1] == '}') {
			size_t n = strcspn(u, "/");
			if (n == 0 || n >= sizeof(req->params[0]) || np >= API_PARAMS_MAX)
				return 0;
			memcpy(req->params[np], u, n);
			req->params[np][n] = 0;
			np++;
			u += n;
			p += 2;
			continue;
		}
		if (*p != *u)
			return 0;
		p++;
		u++;
	}
	return !*p && !*u;
}

/* The route for (method, path); *status 404/405 when none. */
static const struct api_route *find_route(const char *method, const char *path,
					  struct api_request *req, unsigned *status)
{
	bool path_known = false;
	for (size_t i = 0; i < api_nroutes; i++) {
		if (!match(api_routes[i].pattern, path, req))
			continue;
		path_known = true;
		if (strcmp(api_routes[i].method, method) == 0)
			return &api_routes[i];
	}
	*status = path_known ? 405 : 404;
	return NULL;
}

/* ---- the caller ---- */

static bool caller_allowed(struct mgr_api *api, int fd, uid_t *uid, gid_t *gid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return false;
	*uid = cr.uid;
	*gid = cr.gid;
	if (cr.uid == 0 || cr.uid == geteuid())
		return true;
	if (api->group == (gid_t)-1)
		return false;
	if (cr.gid == api->group)
		return true;
	gid_t groups[256];
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == api->group)
			return true;
	return false;
}

/* ---- libmicrohttpd callbacks ---- */

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status,
				 struct json_object *o)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(text);
	char *copy = malloc(len + 1);
	enum MHD_Result r = MHD_NO;
	if (copy) {
		memcpy(copy, text, len);
		copy[len] = '\n';
		struct MHD_Response *resp =
		    MHD_create_response_from_buffer(len + 1, copy, MHD_RESPMEM_MUST_FREE);
		if (resp) {
			MHD_add_response_header(resp, "Content-Type", "application/json");
			r = MHD_queue_response(conn, status, resp);
			MHD_destroy_response(resp);
		} else {
			free(copy);
		}
	}
	json_object_put(o);
	return r;
}

static enum MHD_Result refuse(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	return send_json(conn, status, error_json(status, msg));
}

/*
 * The audit record of a request that changes (or tried to change)
 * something: every method but GET, refused requests included.  The
 * instance concerned comes from the path, or from the body's "name"
 * (create) or "instance" (volume attach/detach).
 */
static void audit_request(struct mgr *m, const char *who, const char *method, const char *url,
			  struct json_object *body, uint64_t upload_len, unsigned status)
{
	if (strcmp(method, "GET") == 0)
		return;
	char inst[MGR_NAME_MAX + 1] = "", summary[MGR_AUDIT_SUMMARY_MAX + 1] = "";
	char path[1024];
	snprintf(path, sizeof(path), "%.*s", (int)strcspn(url, "?"), url);
	static const char prefix[] = "/1.0/instances/";
	struct json_object *v;
	if (strncmp(path, prefix, sizeof(prefix) - 1) == 0) {
		const char *n = path + sizeof(prefix) - 1;
		snprintf(inst, sizeof(inst), "%.*s", (int)strcspn(n, "/"), n);
	} else if (body &&
		   ((strcmp(path, "/1.0/instances") == 0 &&
		     json_object_object_get_ex(body, "name", &v)) ||
		    json_object_object_get_ex(body, "instance", &v)) &&
		   json_object_is_type(v, json_type_string)) {
		snprintf(inst, sizeof(inst), "%s", json_object_get_string(v));
	}
	if (upload_len)
		snprintf(summary, sizeof(summary), "upload of %llu bytes",
			 (unsigned long long)upload_len);
	else
		mgr_audit_summary(body, summary, sizeof(summary));
	struct mgr_audit_rec rec = { who, method, path, inst, summary, (int)status };
	struct vs_err err = VS_ERR_INIT;
	if (mgr_audit_append(m, &rec, &err) < 0)
		vs_log(VS_LOG_WARN, "audit: %s %s: %s", method, path, err.msg);
}

static void ctx_free(struct req_ctx *c)
{
	if (!c)
		return;
	if (c->stream_cls_free)
		c->stream_cls_free(c->stream_cls);
	free(c->buf);
	if (c->upload_fd >= 0)
		close(c->upload_fd);
	if (c->upload_dir) {
		struct vs_err e = VS_ERR_INIT;
		mgr_rm_rf(c->upload_dir, &e);
	}
	free(c->upload_dir);
	free(c->upload_path);
	mgr_op_put(c->stream_op); /* its reader saw the end of the pipe above */
	json_object_put(c->req.body);
	free(c);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	ctx_free(*con_cls);
	*con_cls = NULL;
}

static bool is_upload(struct MHD_Connection *conn)
{
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
	return ct && strncmp(ct, "application/octet-stream", 24) == 0;
}

/* A TLS caller: the fingerprint of the certificate it presented, if trusted. */
static unsigned tls_caller(struct mgr_api *api, struct MHD_Connection *conn,
			   char fp[MGR_FINGERPRINT_LEN + 1], const char **why)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	unsigned n = 0;
	const gnutls_datum_t *peers =
	    ci && ci->tls_session ? gnutls_certificate_get_peers(ci->tls_session, &n) : NULL;
	fp[0] = 0;
	if (!peers || n == 0 || gnutls_certificate_type_get(ci->tls_session) != GNUTLS_CRT_X509) {
		*why = "a trusted client certificate is required";
		return 403;
	}
	struct vs_err err = VS_ERR_INIT;
	if (mgr_tls_fingerprint_der(peers[0].data, peers[0].size, fp, &err) < 0) {
		*why = "cannot read the client certificate";
		return 403;
	}
	if (!mgr_trust_check(mgr_get_db(api->m), fp) &&
	    !mgr_cluster_trusts(mgr_get_cluster(api->m), fp)) {
		*why = "client certificate not trusted";
		return 403;
	}
	return 0;
}

/* Whether method and url name a route open to untrusted TLS callers. */
static bool route_untrusted(const char *method, const char *url)
{
	struct api_request tmp;
	memset(&tmp, 0, sizeof(tmp));
	unsigned status;
	const struct api_route *r = find_route(method, url, &tmp, &status);
	return r && api_route_untrusted(r);
}

/* The UI's static files (api_ui.c); a refused write to them is audited
 * like any refused request. */
static enum MHD_Result ui_files(struct mgr_api *api, const char *who, struct MHD_Connection *conn,
				const char *url, const char *method)
{
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		audit_request(api->m, who, method, url, NULL, 0, 405);
	return api_ui_respond(api->ui_dir, conn, url, method);
}

/* First call: who, where, how big. */
static enum MHD_Result begin(struct listener *l, struct MHD_Connection *conn, const char *url,
			     const char *method, void **con_cls)
{
	struct mgr_api *api = l->api;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	char fp[MGR_FINGERPRINT_LEN + 1] = "";
	bool untrusted = false;
	if (l->ui) {
		/* static files for anyone on loopback, the API with the token */
		if (!api_ui_host_ok(conn, api->ui_port)) {
			audit_request(api->m, "ui:foreign-host", method, url, NULL, 0, 403);
			return refuse(conn, 403,
				      "the UI listener answers only Host 127.0.0.1, localhost "
				      "or [::1] with its port");
		}
		if (api_ui_path(url))
			return ui_files(api, "ui:anonymous", conn, url, method);
		if (!api_ui_token_ok(conn, api->ui_token)) {
			audit_request(api->m, "ui:no-token", method, url, NULL, 0, 401);
			return refuse(conn, 401,
				      "the UI listener needs \"Authorization: Bearer TOKEN\" "
				      "(TOKEN in the state directory's ui-token)");
		}
	} else if (l->tls) {
		const char *why = NULL;
		if (tls_caller(api, conn, fp, &why) && route_untrusted(method, url)) {
			untrusted = true; /* its handler checks the caller itself */
		} else if (why) {
			vs_log(VS_LOG_INFO, "api: TLS caller refused: %s%s%s", why,
			       fp[0] ? ", fingerprint " : "", fp);
			char who[80];
			snprintf(who, sizeof(who), "tls:%s", fp[0] ? fp : "unknown");
			audit_request(api->m, who, method, url, NULL, 0, 403);
			return refuse(conn, 403, why);
		}
	} else {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || !caller_allowed(api, ci->connect_fd, &uid, &gid)) {
			vs_log(VS_LOG_INFO, "api: refused uid %ld (not root, not in group vessel)",
			       (long)uid);
			char who[80];
			snprintf(who, sizeof(who), "uid:%ld", (long)uid);
			audit_request(api->m, who, method, url, NULL, 0, 403);
			return refuse(conn, 403, "not allowed: root or group vessel only");
		}
	}
	if (api_ui_path(url)) {
		char who[80];
		if (l->tls)
			snprintf(who, sizeof(who), "tls:%s", fp);
		else
			snprintf(who, sizeof(who), "uid:%ld", (long)uid);
		return ui_files(api, who, conn, url, method);
	}
	struct req_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return MHD_NO;
	c->upload_fd = -1;
	c->req.m = api->m;
	c->req.conn = conn;
	c->req.method = method;
	c->req.uid = uid;
	c->req.gid = gid;
	c->req.tls = l->tls;
	c->req.untrusted = untrusted;
	snprintf(c->req.peer_fingerprint, sizeof(c->req.peer_fingerprint), "%s", fp);
	if (l->ui)
		snprintf(c->req.identity, sizeof(c->req.identity), "ui:token");
	else if (untrusted)
		snprintf(c->req.identity, sizeof(c->req.identity), "tls-untrusted:%s",
			 fp[0] ? fp : "none");
	else if (l->tls)
		snprintf(c->req.identity, sizeof(c->req.identity), "tls:%s", fp);
	else
		snprintf(c->req.identity, sizeof(c->req.identity), "uid:%ld", (long)uid);
	unsigned status = 404;
	c->route = find_route(method, url, &c->req, &status);
	if (!c->route) {
		audit_request(api->m, c->req.identity, method, url, NULL, 0, status);
		free(c);
		return refuse(conn, status, status == 405 ? "method not allowed" : "not found");
	}
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	uint64_t declared = cl ? strtoull(cl, NULL, 10) : 0;
	bool stream = c->route->body == API_BODY_JSON_OR_STREAM && is_upload(conn);
	bool upload = (c->route->body == API_BODY_JSON_OR_UPLOAD && is_upload(conn)) || stream;
	if (declared > (upload ? API_UPLOAD_MAX : API_BODY_MAX)) {
		audit_request(api->m, c->req.identity, method, url, NULL, 0, 413);
		free(c);
		return refuse(conn, 413, "request body too large");
	}
	if (c->route->body == API_BODY_NONE && declared > 0) {
		audit_request(api->m, c->req.identity, method, url, NULL, 0, 400);
		free(c);
		return refuse(conn, 400, "this request takes no body");
	}
	if (stream) {
		struct vs_err err = VS_ERR_INIT;
		if (api_stream_begin(&c->req, &c->upload_fd, &c->stream_op, &err) < 0) {
			unsigned st = err.code == EINVAL ? 400 : err.code == EEXIST ? 409 : 500;
			ctx_free(c);
			return refuse(conn, st, err.msg);
		}
	} else if (upload) {
		struct vs_err err = VS_ERR_INIT;
		c->upload_dir = mgr_image_tmpdir(mgr_get_images(api->m), &err);
		if (!c->upload_dir || asprintf(&c->upload_path, "%s/upload", c->upload_dir) < 0 ||
		    (c->upload_fd =
			 open(c->upload_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
			ctx_free(c);
			return refuse(conn, 500, "cannot store the upload");
		}
	}
	*con_cls = c;
	return MHD_YES;
}

static void body_chunk(struct req_ctx *c, const char *data, size_t n)
{
	if (c->refuse)
		return;
	if (c->upload_fd >= 0) {
		c->upload_len += n;
		if (c->upload_len > API_UPLOAD_MAX) {
			c->refuse = 413;
			snprintf(c->refuse_msg, sizeof(c->refuse_msg), "upload too large");
		} else if (c->stream_op) {
			/* a reader that stopped (a refused file) has its reason in the
			 * operation: the rest of the body is read and dropped */
			if (!c->stream_gone && vs_write_full(c->upload_fd, data, n) < 0)
				c->stream_gone = true;
		} else if (vs_write_full(c->upload_fd, data, n) < 0) {
			c->refuse = 500;
			snprintf(c->refuse_msg, sizeof(c->refuse_msg), "cannot store the upload");
		}
		return;
	}
	if (c->route->body == API_BODY_NONE) {
		c->refuse = 400;
		snprintf(c->refuse_msg, sizeof(c->refuse_msg), "this request takes no body");
		return;
	}
	if (c->len + n > API_BODY_MAX) {
		c->refuse = 413;
		snprintf(c->refuse_msg, sizeof(c->refuse_msg), "request body too large");
		return;
	}
	if (c->len + n + 1 > c->cap) {
		size_t cap = (c->len + n + 1) * 2;
		char *nb = realloc(c->buf, cap);
		if (!nb) {
			c->refuse = 500;
			snprintf(c->refuse_msg, sizeof(c->refuse_msg), "out of memory");
			return;
		}
		c->buf = nb;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, data, n);
	c->len += n;
	c->buf[c->len] = 0;
}

/* Parse a request body as one JSON object (nothing after it). */
static int parse_json_body(const char *buf, size_t len, struct json_object **out,
			   struct vs_err *err)
{
	*out = NULL;
	if (!len)
		return 0;
	struct json_tokener *tok = json_tokener_new_ex(32);
	if (!tok)
		return vs_errf(err, ENOMEM, "out of memory");
	struct json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o || je != json_tokener_success) {
		json_object_put(o);
		return vs_errf(err, EINVAL, "request body: invalid JSON: %s",
			       json_tokener_error_desc(
				   je == json_tokener_success ? json_tokener_error_parse_eof : je));
	}
	for (size_t i = used; i < len; i++)
		if (!buf[i] || !strchr(" \t\r\n", buf[i])) {
			json_object_put(o);
			return vs_errf(err, EINVAL, "request body: data after the JSON value");
		}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return vs_errf(err, EINVAL, "request body: expected a JSON object");
	}
	*out = o;
	return 0;
}

static int parse_body(struct req_ctx *c, struct vs_err *err)
{
	if (c->stream_op) {
		close(c->upload_fd); /* the end of the file for its reader */
		c->upload_fd = -1;
		c->req.stream_op = c->stream_op;
		return 0;
	}
	if (c->upload_fd >= 0) {
		close(c->upload_fd);
		c->upload_fd = -1;
		c->req.upload_path = c->upload_path;
		return 0;
	}
	return parse_json_body(c->buf, c->len, &c->req.body, err);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct listener *l = cls;
	if (!*con_cls) {
		enum MHD_Result r = begin(l, conn, url, method, con_cls);
		if (!*con_cls) /* answered before its body: the rest lingers */
			vs_httpd_linger_unread_body(conn);
		return r;
	}
	struct req_ctx *c = *con_cls;
	if (c->upgraded_tls)
		return MHD_NO; /* resumed after its stream ended: close */
	if (*upload_data_size) {
		body_chunk(c, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (c->refuse) {
		audit_request(c->req.m, c->req.identity, method, url, NULL, c->upload_len,
			      c->refuse);
		return refuse(conn, c->refuse, c->refuse_msg);
	}
	struct vs_err err = VS_ERR_INIT;
	if (parse_body(c, &err) < 0) {
		audit_request(c->req.m, c->req.identity, method, url, NULL, 0, 400);
		return refuse(conn, 400, err.msg);
	}
	struct api_response res = { 0 };
	/* forwarded by another member, which records it in the cluster's log */
	c->req.forwarded =
	    c->req.tls && c->req.peer_fingerprint[0] &&
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MGR_CLUSTER_FORWARDED_HEADER) &&
	    mgr_cluster_trusts(mgr_get_cluster(c->req.m), c->req.peer_fingerprint);
	/* a cluster member forwards what another member runs (api_cluster.c) */
	if (!api_cluster_intercept(&c->req, c->route, url, &res)) {
		c->route->fn(&c->req, &res);
		api_cluster_after(&c->req, c->route, &res);
	}
	/* the audit trail: who changed what (remote callers at INFO; the log
	 * of record is audit.c's) */
	unsigned result = res.upgrade ? 101 : res.stream ? 200 : res.json ? res.http_status : 500;
	bool forwarded = c->req.forwarded;
	if (strcmp(method, "GET") != 0) {
		vs_log(c->req.tls ? VS_LOG_INFO : VS_LOG_DEBUG, "api: %s %s by %s%s: %u", method,
		       url, c->req.identity, forwarded ? " (forwarded)" : "", result);
		if (!forwarded)
			audit_request(c->req.m, c->req.identity, method, url, c->req.body,
				      c->upload_len, result);
	}
	if (res.upgrade) {
		c->stream_cls = res.stream_cls;
		c->stream_cls_free = res.stream_cls_free;
		if (c->req.tls) {
			if (api_upgrade_tls(conn, res.upgrade_protocol, res.upgrade,
					    res.upgrade_cls, &err) < 0) {
				vs_log(VS_LOG_WARN, "api: %s %s: %s", method, url, err.msg);
				if (c->stream_cls_free) /* the upgrade's share, never run */
					c->stream_cls_free(c->stream_cls);
				return MHD_NO;
			}
			c->upgraded_tls = true;
			return MHD_YES;
		}
		res.stream = MHD_create_response_for_upgrade(res.upgrade, res.upgrade_cls);
		if (!res.stream) {
			if (c->stream_cls_free)
				c->stream_cls_free(c->stream_cls);
			return MHD_NO;
		}
		MHD_add_response_header(res.stream, MHD_HTTP_HEADER_UPGRADE, res.upgrade_protocol);
		res.http_status = MHD_HTTP_SWITCHING_PROTOCOLS;
	}
	if (res.stream) {
		c->stream_cls = res.stream_cls;
		c->stream_cls_free = res.stream_cls_free;
		enum MHD_Result r =
		    MHD_queue_response(conn, res.http_status ? res.http_status : 200, res.stream);
		MHD_destroy_response(res.stream);
		json_object_put(res.json);
		return r;
	}
	if (!res.json)
		api_error(&res, 500, "no response");
	return send_json(conn, res.http_status, res.json);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = 0;
	vs_log(VS_LOG_DEBUG, "libmicrohttpd: %s", msg);
}

/* ---- the socket ---- */

static int make_socket(struct mgr_api *api, const char *path, const char *group, struct vs_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return vs_errf(err, ENAMETOOLONG, "socket path %s is too long", path);
	strcpy(sa.sun_path, path);
	vs_cleanup_free char *dir = strdup(path);
	if (!dir)
		return vs_errf(err, ENOMEM, "out of memory");
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		int r = mgr_mkdir_p(dir, 0755, err);
		if (r < 0)
			return r;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vs_syserrf(err, errno, "socket");
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			return vs_errf(err, EEXIST, "%s exists and is not a socket", path);
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return vs_errf(err, EADDRINUSE, "%s: another vesseld is listening", path);
		}
		close(fd);
		unlink(path); /* left by a vesseld that died */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return vs_syserrf(err, errno, "socket");
	}
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0) {
		int e = errno;
		close(fd);
		return vs_syserrf(err, e, "bind %s", path);
	}
	struct group gr, *g = NULL;
	char buf[4096];
	api->group = (gid_t)-1;
	if (getgrnam_r(group, &gr, buf, sizeof(buf), &g) == 0 && g) {
		api->group = g->gr_gid;
		if (chown(path, 0, g->gr_gid) < 0)
			vs_log(VS_LOG_WARN, "chown %s: %s", path, strerror(errno));
	}
	if (chmod(path, 0660) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return vs_syserrf(err, e, "listen on %s", path);
	}
	api->fd = fd;
	return 0;
}

/* ---- the TLS listener ---- */

static struct mgr_api *tls_current; /* the process's TLS listener (see the top) */

/* GnuTLS asks for the server's certificate: ours, and ask for the client's. */
static int tls_cert_cb(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
		       const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
		       gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	struct mgr_api *api = tls_current;
	if (!api || !api->have_pcert)
		return -1;
	gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
	*pcert = &api->pcert;
	*pcert_length = 1;
	*pkey = api->pkey;
	return 0;
}

/* "ADDR:PORT" or "[V6]:PORT" (ADDR may be empty: any) to a socket address. */
static int parse_listen(const char *opt, const char *spec, struct sockaddr_storage *ss,
			struct vs_err *err)
{
	char host[128];
	const char *port;
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof(host))
			return vs_errf(err, EINVAL, "%s %s: expected ADDR:PORT or [V6]:PORT", opt,
				       spec);
		snprintf(host, sizeof(host), "%.*s", (int)(end - spec - 1), spec + 1);
		port = end + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			return vs_errf(err, EINVAL, "%s %s: expected ADDR:PORT", opt, spec);
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
		port = colon + 1;
	}
	char *end;
	unsigned long p = strtoul(port, &end, 10);
	if (!*port || *end || p == 0 || p > 65535)
		return vs_errf(err, EINVAL, "%s %s: bad port", opt, spec);
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE },
			*res = NULL;
	int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0 || !res)
		return vs_errf(err, EINVAL, "%s %s: %s (a numeric address is expected)", opt, spec,
			       gai_strerror(rc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static int load_server_cert(struct mgr_api *api, struct vs_err *err)
{
	vs_cleanup_free char *crt_path = NULL, *key_path = NULL, *crt = NULL, *key = NULL;
	const char *dir = mgr_state_dir(api->m);
	if (asprintf(&crt_path, "%s/server.crt", dir) < 0 ||
	    asprintf(&key_path, "%s/server.key", dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	const char *const names[] = { host, "localhost", "127.0.0.1", "::1", NULL };
	bool created;
	if (mgr_tls_ensure_cert(crt_path, key_path, host, names, &created, err) < 0)
		return vs_err_prefix(err, "server certificate");
	size_t clen, klen;
	if (vs_read_file(crt_path, &crt, &clen, 1u << 20, err) < 0 ||
	    vs_read_file(key_path, &key, &klen, 1u << 20, err) < 0)
		return -EIO;
	gnutls_datum_t cd = { (unsigned char *)crt, (unsigned)clen },
		       kd = { (unsigned char *)key, (unsigned)klen };
	int rc = gnutls_pcert_import_x509_raw(&api->pcert, &cd, GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0)
		return vs_errf(err, EINVAL, "%s: %s", crt_path, gnutls_strerror(rc));
	api->have_pcert = true;
	if ((rc = gnutls_privkey_init(&api->pkey)) < 0 ||
	    (rc = gnutls_privkey_import_x509_raw(api->pkey, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0)
		return vs_errf(err, EINVAL, "%s: %s", key_path, gnutls_strerror(rc));
	char fp[MGR_FINGERPRINT_LEN + 1];
	if (mgr_tls_fingerprint_pem(crt, clen, fp, err) < 0)
		return -EINVAL;
	vs_log(VS_LOG_INFO, "%s server certificate %s (fingerprint %s)",
	       created ? "made a new" : "using the", crt_path, fp);
	return 0;
}

static int start_tls(struct mgr_api *api, const struct mgr_api_opts *opts, struct vs_err *err)
{
	struct sockaddr_storage ss = { 0 };
	int r = parse_listen("--listen", opts->listen, &ss, err);
	if (r < 0)
		return r;
	if (tls_current)
		return vs_errf(err, EBUSY, "only one TLS listener per process");
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
	    MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES)
		return vs_errf(err, ENOTSUP, "libmicrohttpd was built without TLS");
	if ((r = load_server_cert(api, err)) < 0)
		return r;
	tls_current = api;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_ERROR_LOG | MHD_USE_TLS | MHD_ALLOW_UPGRADE |
			 MHD_ALLOW_SUSPEND_RESUME; /* api_upgrade.c */
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	api->tls_daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, &api->tls_l, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&ss, MHD_OPTION_HTTPS_CERT_CALLBACK, tls_cert_cb,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, api, MHD_OPTION_NOTIFY_CONNECTION,
	    vs_httpd_linger_notify, NULL, MHD_OPTION_CONNECTION_LIMIT,
	    opts->max_connections ? opts->max_connections : 512u, MHD_OPTION_CONNECTION_TIMEOUT,
	    600u, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, api, MHD_OPTION_END);
	if (!api->tls_daemon) {
		tls_current = NULL;
		return vs_errf(err, EADDRINUSE,
			       "libmicrohttpd did not start TLS on %s (address in use?)",
			       opts->listen);
	}
	vs_log(VS_LOG_INFO, "serving TLS on %s (client certificates from the trust store)",
	       opts->listen);
	return 0;
}

/* ---- the loopback UI listener (api_ui.c) ---- */

static int start_ui(struct mgr_api *api, const struct mgr_api_opts *opts, struct vs_err *err)
{
	struct sockaddr_storage ss = { 0 };
	int r = parse_listen("--ui-listen", opts->ui_listen, &ss, err);
	if (r < 0)
		return r;
	bool loopback = false;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
		loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
		api->ui_port = ntohs(sin->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
		loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
		api->ui_port = ntohs(sin6->sin6_port);
	}
	if (!loopback)
		return vs_errf(err, EINVAL,
			       "--ui-listen %s: a loopback address is required (127.0.0.1:PORT "
			       "or [::1]:PORT); remote browsers use --listen (TLS)",
			       opts->ui_listen);
	unsigned flags =
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	api->ui_daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, &api->ui_l, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
	    MHD_OPTION_NOTIFY_CONNECTION, vs_httpd_linger_notify, NULL, MHD_OPTION_CONNECTION_LIMIT,
	    opts->max_connections ? opts->max_connections : 512u, MHD_OPTION_CONNECTION_TIMEOUT,
	    600u, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, api, MHD_OPTION_END);
	if (!api->ui_daemon)
		return vs_errf(err, EADDRINUSE,
			       "libmicrohttpd did not start on %s (address in use?)",
			       opts->ui_listen);
	if (!api->ui_dir)
		vs_log(VS_LOG_WARN, "the web UI is not installed: /ui/ answers 404 (--ui-dir)");
	vs_log(VS_LOG_INFO,
	       "serving the UI on http://%s/ui/ (loopback; its API needs the token in %s/ui-token)",
	       opts->ui_listen, mgr_state_dir(api->m));
	return 0;
}

int mgr_api_start(struct mgr *m, const struct mgr_api_opts *opts, struct mgr_api **out,
		  struct vs_err *err)
{
	*out = NULL;
	struct mgr_api *api = calloc(1, sizeof(*api));
	if (!api)
		return vs_errf(err, ENOMEM, "out of memory");
	api->m = m;
	api->fd = -1;
	api->unix_l = (struct listener){ api, false, false };
	api->tls_l = (struct listener){ api, true, false };
	api->ui_l = (struct listener){ api, false, true };
	if (opts->ui_dir && !(api->ui_dir = strdup(opts->ui_dir))) {
		free(api);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	const char *path = opts->socket_path ? opts->socket_path : "/run/vessel/vessel.sock";
	if (!(api->socket_path = strdup(path))) {
		free(api->ui_dir);
		free(api);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	/* the UI's token before anything answers: whoever sees the socket up
	 * finds the token of this run */
	if (opts->ui_listen && api_ui_token_make(mgr_state_dir(m), api->ui_token, err) < 0) {
		free(api->socket_path);
		free(api->ui_dir);
		free(api);
		return vs_err_prefix(err, "UI token");
	}
	int r = make_socket(api, path, opts->group ? opts->group : "vessel", err);
	if (r < 0) {
		free(api->socket_path);
		free(api->ui_dir);
		free(api);
		return r;
	}
	/* the TLS and UI listeners before the unix socket answers: whoever
	 * sees the socket answer can reach every listener of this run (clients
	 * that connect meanwhile wait in the socket's backlog) */
	if (opts->listen && (r = start_tls(api, opts, err)) < 0) {
		mgr_api_stop(api);
		return r;
	}
	if (opts->ui_listen && (r = start_ui(api, opts, err)) < 0) {
		mgr_api_stop(api);
		return r;
	}
	api->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG |
		MHD_ALLOW_UPGRADE,
	    0, NULL, NULL, on_request, &api->unix_l, MHD_OPTION_LISTEN_SOCKET, api->fd,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, api, MHD_OPTION_NOTIFY_CONNECTION,
	    vs_httpd_linger_notify, NULL, MHD_OPTION_CONNECTION_LIMIT,
	    opts->max_connections ? opts->max_connections : 512u, MHD_OPTION_CONNECTION_TIMEOUT,
	    600u, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, api, MHD_OPTION_END);
	if (!api->daemon) {
		mgr_api_stop(api);
		return vs_errf(err, EIO, "libmicrohttpd did not start on %s", path);
	}
	*out = api;
	return 0;
}

void mgr_api_stop(struct mgr_api *api)
{
	if (!api)
		return;
	api_console_shutdown();
	if (api->ui_daemon)
		MHD_stop_daemon(api->ui_daemon);
	if (api->tls_daemon)
		MHD_stop_daemon(api->tls_daemon);
	if (api->have_pcert)
		gnutls_pcert_deinit(&api->pcert);
	if (api->pkey)
		gnutls_privkey_deinit(api->pkey);
	if (tls_current == api)
		tls_current = NULL;
	int fd = api->fd;
	if (api->daemon) {
		fd = MHD_quiesce_daemon(api->daemon);
		MHD_stop_daemon(api->daemon);
	}
	if (fd >= 0)
		close(fd);
	unlink(api->socket_path);
	free(api->socket_path);
	free(api->ui_dir);
	free(api);
}

int mgr_api_dispatch(struct mgr *m, const char *method, const char *url, const char *body,
		     size_t len, unsigned *status, char **response, struct vs_err *err)
{
	*response = NULL;
	struct api_request req = {
		.m = m, .method = method, .uid = 0, .gid = 0, .identity = "uid:0"
	};
	char path[2048];
	const char *q = strchr(url, '?');
	size_t pl = q ? (size_t)(q - url) : strlen(url);
	struct api_response res = { 0 };
	if (pl >= sizeof(path)) {
		api_error(&res, 404, "not found");
		goto out;
	}
	memcpy(path, url, pl);
	path[pl] = 0;
	req.query = q ? q + 1 : NULL;
	unsigned st = 404;
	const struct api_route *route = find_route(method, path, &req, &st);
	if (!route) {
		api_error(&res, st, st == 405 ? "method not allowed" : "not found");
		goto out;
	}
	if (len > API_BODY_MAX) {
		api_error(&res, 413, "request body too large");
		goto out;
	}
	if (route->body == API_BODY_NONE && len) {
		api_error(&res, 400, "this request takes no body");
		goto out;
	}
	struct vs_err perr = VS_ERR_INIT;
	if (parse_json_body(body, len, &req.body, &perr) < 0) {
		api_error(&res, 400, "%s", perr.msg);
		goto out;
	}
	route->fn(&req, &res);
	if (res.stream) {
		json_object_put(req.body);
		MHD_destroy_response(res.stream);
		res.stream = NULL;
		if (res.stream_cls_free)
			res.stream_cls_free(res.stream_cls);
		json_object_put(res.json);
		res.json = NULL;
		res.http_status = 200;
		*status = 200;
		*response = strdup("stream");
		return *response ? 0 : vs_errf(err, ENOMEM, "out of memory");
	}
out:
	if (!res.json)
		api_error(&res, 500, "no response");
	audit_request(m, req.identity, method, url, req.body, 0, res.http_status);
	json_object_put(req.body);
	*status = res.http_status;
	*response = strdup(json_object_to_json_string_ext(res.json, JSON_C_TO_STRING_PLAIN));
	json_object_put(res.json);
	return *response ? 0 : vs_errf(err, ENOMEM, "out of memory");
}
