/*
 * server.c - the control API's HTTP side: the unix socket, libmicrohttpd,
 * request bodies, routing, the state check at the safe point, and replies
 * (the request pipeline is described in api_internal.h).
 *
 * Threading: libmicrohttpd accepts on its internal polling thread and
 * serves each connection on a thread of its own (so a long request, e.g. a
 * migration, does not block GET requests meanwhile); handlers reach the
 * machine only through vm_machine_run_at_safepoint(), which serialises
 * them and blocks the calling thread until the machine thread has run the
 * callback between two slices.  Counters are atomics.
 *
 * Hostile input: the body is limited (Content-Length checked before
 * anything is read, chunked bodies while they arrive), must be one JSON
 * object, and every route rejects unknown fields.  A client that goes
 * away mid-request only frees its connection state (notify_completed).
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api_internal.h"
#include "vessel/core/linger.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/vm/snapshot.h"

#define API_DEFAULT_MAX_BODY (64 * 1024)
#define API_DRAIN_NS	     (2ULL * 1000000000)

/* Per-request state kept by libmicrohttpd between calls. */
struct api_conn {
	char *body;
	size_t len;
	bool too_big;
	uint64_t start_ns;
};

void api_respond_json(struct api_response *resp, unsigned status, struct json_object *json)
{
	json_object_put(resp->json);
	free(resp->text);
	resp->text = NULL;
	resp->status = status;
	resp->json = json;
}

void api_respond_error(struct api_response *resp, unsigned status, const char *fmt, ...)
{
	char msg[VS_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string(msg));
	api_respond_json(resp, status, o);
}

void api_respond_text(struct api_response *resp, unsigned status, char *text,
		      const char *content_type)
{
	json_object_put(resp->json);
	resp->json = NULL;
	free(resp->text);
	resp->status = status;
	resp->text = text;
	resp->content_type = content_type;
}

enum api_vm_state api_vm_state(struct vm_api *api)
{
	struct vm_machine *m = __atomic_load_n(&api->m, __ATOMIC_ACQUIRE);
	if (!m)
		return API_VM_EMPTY;
	return vm_machine_paused(m) ? API_VM_PAUSED : API_VM_RUNNING;
}

const char *api_vm_state_name(enum api_vm_state s)
{
	switch (s) {
	case API_VM_RUNNING: return "running";
	case API_VM_PAUSED: return "paused";
	case API_VM_EMPTY: return "empty";
	}
	return "unknown";
}

int api_body_only_keys(struct json_object *body, const char *const *keys, struct vs_err *err)
{
	json_object_object_foreach(body, key, val)
	{
		(void)val;
		bool known = false;
		for (unsigned i = 0; keys[i] && !known; i++)
			known = strcmp(keys[i], key) == 0;
		if (!known)
			return vs_errf(err, EINVAL, "unknown field '%s'", key);
	}
	return 0;
}

int api_body_string(struct json_object *body, const char *key, const char **out, struct vs_err *err)
{
	struct json_object *v;
	if (!json_object_object_get_ex(body, key, &v))
		return vs_errf(err, EINVAL, "missing field '%s'", key);
	if (!json_object_is_type(v, json_type_string))
		return vs_errf(err, EINVAL, "field '%s' must be a string", key);
	*out = json_object_get_string(v);
	return 0;
}

/* ---- dispatch ------------------------------------------------------------ */

struct api_safepoint_call {
	struct vm_api *api;
	struct api_request *req;
	struct api_response *resp;
};

static int api_at_safepoint(struct vm_machine *m, void *opaque)
{
	struct api_safepoint_call *c = opaque;
	const struct api_route *rt = c->req->route;
	enum api_vm_state st = api_vm_state(c->api);
	struct vs_err err = VS_ERR_INIT;
	(void)m;
	if (!(rt->states & st)) {
		api_respond_error(c->resp, 409, "%s %s is not allowed while the VM is %s",
				  rt->method, rt->path, api_vm_state_name(st));
		return 0;
	}
	if (rt->check && rt->check(c->api, c->req, &err) < 0) {
		api_respond_error(c->resp, 409, "%s", err.msg);
		return 0;
	}
	if (rt->exec_safepoint)
		rt->exec_safepoint(c->api, c->req, c->resp);
	return 0;
}

int api_request_parse(const struct api_route *rt, const char *body, size_t len,
		      struct api_request *req, struct api_response *resp)
{
	*req = (struct api_request){ .route = rt };
	if (len > 0) {
		if (!rt->body) {
			api_respond_error(resp, 400, "%s %s takes no request body", rt->method,
					  rt->path);
			return -EINVAL;
		}
		if (len > INT32_MAX) {
			api_respond_error(resp, 413, "request body too large");
			return -EINVAL;
		}
		struct json_tokener *tok = json_tokener_new();
		if (!tok) {
			api_respond_error(resp, 500, "out of memory");
			return -ENOMEM;
		}
		req->body = json_tokener_parse_ex(tok, body, (int)len);
		enum json_tokener_error jerr = json_tokener_get_error(tok);
		size_t used = json_tokener_get_parse_end(tok);
		json_tokener_free(tok);
		if (jerr != json_tokener_success || !req->body) {
			json_object_put(req->body);
			req->body = NULL;
			api_respond_error(resp, 400, "malformed JSON body: %s",
					  jerr == json_tokener_continue
					      ? "unexpected end of input"
					      : json_tokener_error_desc(jerr));
			return -EINVAL;
		}
		for (; used < len; used++)
			if (!strchr(" \t\r\n", body[used]) || body[used] == 0) {
				json_object_put(req->body);
				req->body = NULL;
				api_respond_error(resp, 400,
						  "malformed JSON body: trailing data after the "
						  "object");
				return -EINVAL;
			}
		if (!json_object_is_type(req->body, json_type_object)) {
			json_object_put(req->body);
			req->body = NULL;
			api_respond_error(resp, 400, "the request body must be a JSON object");
			return -EINVAL;
		}
	} else if (rt->body) {
		api_respond_error(resp, 400, "%s %s needs a JSON body", rt->method, rt->path);
		return -EINVAL;
	}
	struct vs_err err = VS_ERR_INIT;
	if (rt->parse && rt->parse(req, &err) < 0) {
		json_object_put(req->body);
		req->body = NULL;
		api_respond_error(resp, 400, "%s", err.msg);
		return -EINVAL;
	}
	return 0;
}

static const struct api_route *api_find_route(const char *method, const char *path,
					      bool *path_known)
{
	*path_known = false;
	for (unsigned i = 0; i < vm_api_nroutes; i++) {
		const struct api_route *rt = &vm_api_routes[i];
		if (strcmp(rt->path, path) != 0)
			continue;
		*path_known = true;
		if (strcmp(rt->method, method) == 0)
			return rt;
	}
	return NULL;
}

/*
 * A request while the API is empty (no board yet).  GET /vm tells so, PUT
 * /snapshot/load hands its path to vm_api_wait_load() and waits for the
 * outcome, anything else is 409.  False if the board arrived meanwhile:
 * then the request goes the normal way.
 */
static bool api_empty_dispatch(struct vm_api *api, struct api_request *req,
			       struct api_response *resp)
{
	const struct api_route *rt = req->route;
	if (strcmp(rt->method, "GET") == 0 && strcmp(rt->path, "/vm") == 0) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "state", json_object_new_string("empty"));
		api_respond_json(resp, 200, o);
		return true;
	}
	if (rt->exec_safepoint != api_snapshot_load_exec) {
		api_respond_error(resp, 409,
				  "%s %s is not allowed while the VM is empty (no VM yet: "
				  "PUT /snapshot/load builds it from a snapshot)",
				  rt->method, rt->path);
		return true;
	}
	if (!api_path_allowed(api, req->u.snapshot.path, resp))
		return true;
	uint64_t t0 = vs_now_ns();
	pthread_mutex_lock(&api->lock);
	if (api->m) {
		pthread_mutex_unlock(&api->lock);
		return false;
	}
	if (api->loading) {
		pthread_mutex_unlock(&api->lock);
		api_respond_error(resp, 409, "a snapshot is being loaded into the empty VMM");
		return true;
	}
	api->loading = true;
	api->load_done = false;
	api->load_path = req->u.snapshot.path;
	pthread_cond_broadcast(&api->cond);
	while (!api->load_done)
		pthread_cond_wait(&api->cond, &api->lock);
	int r = api->load_r;
	if (r < 0)
		api_respond_error(resp, r == -ENOMEM ? 500 : 400, "%s", api->load_msg);
	api->loading = false;
	api->load_path = NULL;
	pthread_mutex_unlock(&api->lock);
	if (r == 0) {
		struct json_object *j = json_object_new_object();
		json_object_object_add(j, "path", json_object_new_string(req->u.snapshot.path));
		json_object_object_add(j, "elapsed_ms",
				       json_object_new_double((vs_now_ns() - t0) / 1e6));
		api_respond_json(resp, 200, j);
	}
	return true;
}

struct virt_board *vm_api_wait_load(struct vm_api *api, vm_api_load_fn load, void *opaque)
{
	pthread_mutex_lock(&api->lock);
	for (;;) {
		while (!api->loading || api->load_done)
			pthread_cond_wait(&api->cond, &api->lock);
		const char *path = api->load_path;
		pthread_mutex_unlock(&api->lock);
		struct vs_err err = VS_ERR_INIT;
		struct virt_board *b = load(opaque, path, &err);
		pthread_mutex_lock(&api->lock);
		if (b) {
			api->board = b;
			__atomic_store_n(&api->m, virt_board_machine(b), __ATOMIC_RELEASE);
			api->load_r = 0;
		} else {
			api->load_r = err.code > 0 ? -err.code : -EINVAL;
			snprintf(api->load_msg, sizeof(api->load_msg), "%s",
				 err.msg[0] ? err.msg : "the snapshot could not be loaded");
		}
		api->load_done = true;
		pthread_cond_broadcast(&api->cond);
		if (b) {
			pthread_mutex_unlock(&api->lock);
			return b;
		}
	}
}

static enum MHD_Result api_count_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	(*(unsigned *)cls)++;
	return MHD_YES;
}

static void api_dispatch(struct vm_api *api, struct MHD_Connection *conn, const char *method,
			 const char *path, struct api_conn *c, struct api_response *resp)
{
	bool path_known;
	const struct api_route *rt = api_find_route(method, path, &path_known);
	if (!rt) {
		if (path_known)
			api_respond_error(resp, 405, "%s is not supported on %s", method, path);
		else
			api_respond_error(resp, 404, "no such resource: %s", path);
		return;
	}
	unsigned nargs = 0;
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, api_count_arg, &nargs);
	if (nargs) {
		api_respond_error(resp, 400, "%s %s takes no query parameters", method, path);
		return;
	}
	if (c->too_big) {
		api_respond_error(resp, 413, "request body larger than %zu bytes",
				  api->cfg.max_body);
		return;
	}
	struct api_request req;
	if (api_request_parse(rt, c->body, c->len, &req, resp) < 0)
		return;
	if (api_vm_state(api) == API_VM_EMPTY && api_empty_dispatch(api, &req, resp)) {
		json_object_put(req.body);
		return;
	}
	struct api_safepoint_call call = { api, &req, resp };
	vm_machine_run_at_safepoint(api->m, api_at_safepoint, &call);
	if (resp->status == 0 && rt->exec)
		rt->exec(api, &req, resp);
	if (resp->status == 0)
		api_respond_error(resp, 500, "%s %s produced no response", method, path);
	json_object_put(req.body);
}

/* ---- libmicrohttpd glue ----------------------------------------------------- */

static enum MHD_Result api_send(struct MHD_Connection *conn, struct api_response *resp)
{
	const char *body, *type;
	size_t len;
	if (resp->json) {
		body = json_object_to_json_string_ext(resp->json, JSON_C_TO_STRING_PLAIN);
		type = "application/json";
	} else {
		body = resp->text ? resp->text : "";
		type = resp->content_type ? resp->content_type : "text/plain";
	}
	len = strlen(body);
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result ret = MHD_queue_response(conn, resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static void api_count(struct vm_api *api, unsigned status, uint64_t start_ns)
{
	if (status < API_MAX_STATUS)
		__atomic_add_fetch(&api->requests[status], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&api->request_ns_total, vs_now_ns() - start_ns, __ATOMIC_RELAXED);
}

static enum MHD_Result api_access(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct vm_api *api = cls;
	struct api_conn *c = *con_cls;
	(void)version;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return MHD_NO;
		c->start_ns = vs_now_ns();
		*con_cls = c;
		__atomic_add_fetch(&api->in_flight, 1, __ATOMIC_SEQ_CST);
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > api->cfg.max_body) {
			/* Refuse before reading: libmicrohttpd then closes the
			 * connection, and the body still coming lingers. */
			struct api_response resp = { 0 };
			api_respond_error(&resp, 413, "request body larger than %zu bytes",
					  api->cfg.max_body);
			enum MHD_Result r = api_send(conn, &resp);
			vs_httpd_linger_unread_body(conn);
			api_count(api, resp.status, c->start_ns);
			json_object_put(resp.json);
			return r;
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (c->too_big)
			return MHD_YES;
		if (c->len + n > api->cfg.max_body) {
			c->too_big = true;
			free(c->body);
			c->body = NULL;
			c->len = 0;
			return MHD_YES;
		}
		char *nb = realloc(c->body, c->len + n + 1);
		if (!nb)
			return MHD_NO;
		memcpy(nb + c->len, upload_data, n);
		c->body = nb;
		c->len += n;
		c->body[c->len] = 0;
		return MHD_YES;
	}
	struct api_response resp = { 0 };
	api_dispatch(api, conn, method, url, c, &resp);
	enum MHD_Result r = api_send(conn, &resp);
	api_count(api, resp.status, c->start_ns);
	json_object_put(resp.json);
	free(resp.text);
	return r;
}

static void api_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			  enum MHD_RequestTerminationCode toe)
{
	struct vm_api *api = cls;
	struct api_conn *c = *con_cls;
	(void)conn;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		vs_log(VS_LOG_DEBUG, "api: request ended early (code %d)", (int)toe);
	if (c) {
		free(c->body);
		free(c);
		*con_cls = NULL;
		__atomic_sub_fetch(&api->in_flight, 1, __ATOMIC_SEQ_CST);
	}
}

static void api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = 0;
	vs_log(VS_LOG_DEBUG, "api: %s", msg);
}

/* ---- socket and lifetime ------------------------------------------------------ */

/*
 * The socket appears at PATH only once it listens: a client that connects
 * as soon as it sees the file is never refused.  It is bound under a
 * temporary name next to PATH (PATH.PID.tmp, when that fits in sun_path)
 * and renamed; a PATH too long for the suffix is bound in place.
 */
static int api_listen(const char *path, struct vs_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	if (strlen(path) >= sizeof(sa.sun_path))
		return vs_errf(err, ENAMETOOLONG, "--api %s: path too long (max %zu bytes)", path,
			       sizeof(sa.sun_path) - 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return vs_errf(err, EEXIST, "--api %s: exists and is not a socket", path);
		if (unlink(path) < 0)
			return vs_syserrf(err, errno, "--api %s: cannot replace the old socket",
					  path);
	}
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.%ld.tmp", path, (long)getpid());
	bool renamed = n > 0 && (size_t)n < sizeof(sa.sun_path);
	if (!renamed)
		strcpy(sa.sun_path, path);
	else
		unlink(sa.sun_path); /* left by a killed process of the same pid */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vs_syserrf(err, errno, "--api: socket");
	/* 0600 from the start: no window in which others could connect. */
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		r = vs_syserrf(err, errno, "--api %s: bind", path);
		close(fd);
		return r;
	}
	/* a backlog above the connection limit (64): a burst of clients waits
	 * for the accept thread instead of getting EAGAIN (slow under ASan) */
	if (chmod(sa.sun_path, 0600) < 0 || listen(fd, SOMAXCONN) < 0 ||
	    (renamed && rename(sa.sun_path, path) < 0)) {
		r = vs_syserrf(err, errno, "--api %s: listen", path);
		close(fd);
		unlink(sa.sun_path);
		return r;
	}
	return fd;
}

struct vm_api *vm_api_start(const struct vm_api_config *cfg, struct vs_err *err)
{
	struct vm_api *api = calloc(1, sizeof(*api));
	if (!api) {
		vs_errf(err, ENOMEM, "api: out of memory");
		return NULL;
	}
	api->cfg = *cfg;
	if (!api->cfg.max_body)
		api->cfg.max_body = API_DEFAULT_MAX_BODY;
	api->board = cfg->board;
	api->m = cfg->board ? virt_board_machine(cfg->board) : NULL;
	pthread_mutex_init(&api->lock, NULL);
	pthread_cond_init(&api->cond, NULL);
	api->path = strdup(cfg->socket_path);
	/* kept open: GET /metrics reads it under --sandbox too (no /proc there) */
	api->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	/* and the pagemap, which snapshots and migration read (pages never
	 * touched are not sent) */
	if (cfg->confined)
		vm_snap_pagemap_keep();
	api->listen_fd = api->path ? api_listen(api->path, err) : -ENOMEM;
	if (api->listen_fd < 0) {
		if (!api->path)
			vs_errf(err, ENOMEM, "api: out of memory");
		if (api->statm_fd >= 0)
			close(api->statm_fd);
		free(api->path);
		free(api);
		return NULL;
	}
	api->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
		MHD_USE_TURBO | MHD_USE_ITC | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, api_access, api, MHD_OPTION_LISTEN_SOCKET, api->listen_fd,
	    MHD_OPTION_NOTIFY_COMPLETED, api_completed, api, MHD_OPTION_NOTIFY_CONNECTION,
	    vs_httpd_linger_notify, NULL, MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, api,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
	    MHD_OPTION_END);
	if (!api->daemon) {
		vs_errf(err, EIO, "--api %s: libmicrohttpd did not start", api->path);
		close(api->listen_fd);
		if (api->statm_fd >= 0)
			close(api->statm_fd);
		unlink(api->path);
		free(api->path);
		free(api);
		return NULL;
	}
	return api;
}

void vm_api_stop(struct vm_api *api)
{
	if (!api)
		return;
	/*
	 * Stop accepting, then let the requests in progress send their answers
	 * (a poweroff request ends the VM before its 200 is on the wire) for up
	 * to API_DRAIN_NS; idle keep-alive connections are simply closed.
	 */
	MHD_socket lfd = MHD_quiesce_daemon(api->daemon);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	uint64_t deadline = vs_now_ns() + API_DRAIN_NS;
	while (__atomic_load_n(&api->in_flight, __ATOMIC_SEQ_CST) > 0 && vs_now_ns() < deadline) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(api->daemon); /* joins the threads */
	api_migrate_cleanup();
	unlink(api->path);
	if (api->statm_fd >= 0)
		close(api->statm_fd);
	pthread_mutex_destroy(&api->lock);
	pthread_cond_destroy(&api->cond);
	free(api->path);
	free(api);
}
