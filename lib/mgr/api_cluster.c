/*
 * api_cluster.c - the cluster's REST API: /1.0/cluster (init, join,
 * state), /1.0/cluster/members, and the two hooks api.c runs around every
 * HTTP request of a member: forwarding an instance request to the member
 * that runs the instance (or that a new one is placed on), and merging the
 * other members' instances into GET /1.0/instances.
 *
 * A forwarded request goes out with ?target=MEMBER for creations, so the
 * receiving member (seeing itself as the target) runs it instead of
 * placing it again; instance requests arrive where the instance is local
 * and run there.  The forwarder waits for the other member's operation
 * and answers with its result (sync), so callers see one call either way.
 * Only JSON routes are forwarded (the table below); streams are served by
 * the member that runs the instance.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "vessel/core/log.h"
#include "vessel/mgr/cluster.h"
#include "vessel/mgr/db.h"
#include "vessel/mgr/instance.h"
#include "vessel/mgr/volume.h"

static struct mgr_cluster *cluster_of(struct api_request *req)
{
	return mgr_get_cluster(req->m);
}

void api_get_cluster(struct api_request *req, struct api_response *res)
{
	struct mgr_cluster *c = cluster_of(req);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "enabled", json_object_new_boolean(mgr_cluster_enabled(c)));
	json_object_object_add(o, "server_name", json_object_new_string(mgr_cluster_self(c)));
	char leader[128];
	mgr_cluster_leader(c, leader, sizeof(leader));
	json_object_object_add(o, "leader", json_object_new_string(leader));
	struct vs_err err = VS_ERR_INIT;
	int v = mgr_cluster_enabled(c) ? mgr_cluster_schema_version(c, &err) : 0;
	json_object_object_add(o, "schema_version", v > 0 ? json_object_new_int(v) : NULL);
	api_sync(res, o);
}

/* PUT /1.0/cluster {"server_name","address","join"? | "cluster_token"?}:
 * init, join through a member's Raft address (the cluster certificate
 * copied by hand), or join with a token. */
void api_put_cluster(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "server_name", "address",	    "join",
					    "enabled",	   "cluster_token", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *name = NULL, *address = NULL, *join = NULL, *token = NULL;
	bool enabled = true;
	struct mgr_cluster *c = cluster_of(req);
	if (!req->body) {
		api_error(res, 400, "expected a JSON body");
		return;
	}
	if (api_json_keys(req->body, "cluster", keys, &err) < 0 ||
	    api_json_string(req->body, "server_name", &name, &err) < 0 ||
	    api_json_string(req->body, "address", &address, &err) < 0 ||
	    api_json_string(req->body, "join", &join, &err) < 0 ||
	    api_json_string(req->body, "cluster_token", &token, &err) < 0 ||
	    api_json_bool(req->body, "enabled", &enabled, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	if (!enabled) {
		api_error(res, 501, "leaving a cluster: remove the member from another member");
		return;
	}
	if (!name || !address) {
		api_error(res, 400, "server_name and address are required");
		return;
	}
	if (!c) {
		api_error(res, 501, "this vesseld has no cluster support started");
		return;
	}
	if (join && *join && token) {
		api_error(res, 400, "join and cluster_token: one or the other");
		return;
	}
	if (token)
		join = "token";
	int r = token		? mgr_cluster_join_token(c, name, address, token, &err)
		: join && *join ? mgr_cluster_join(c, name, address, join, &err)
				: mgr_cluster_init(c, name, address, &err);
	if (r < 0) {
		api_error_from(res, &err);
		return;
	}
	vs_log(VS_LOG_INFO, "cluster: %s as member %s (%s)", join ? "joined" : "initialised", name,
	       address);
	api_get_cluster(req, res);
}

void api_get_cluster_members(struct api_request *req, struct api_response *res)
{
	struct mgr_cluster_member *mb;
	size_t n;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_cluster_members(cluster_of(req), &mb, &n, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, mgr_cluster_member_json(&mb[i]));
	free(mb);
	api_sync(res, a);
}

void api_get_cluster_member(struct api_request *req, struct api_response *res)
{
	struct mgr_cluster_member *mb;
	size_t n;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_cluster_members(cluster_of(req), &mb, &n, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(mb[i].name, req->params[0]) == 0) {
			api_sync(res, mgr_cluster_member_json(&mb[i]));
			free(mb);
			return;
		}
	free(mb);
	api_error(res, 404, "no cluster member %s", req->params[0]);
}

void api_patch_cluster_member(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "description", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *desc = NULL;
	if (!req->body) {
		api_error(res, 400, "expected a JSON body");
		return;
	}
	if (api_json_keys(req->body, "member", keys, &err) < 0 ||
	    api_json_string(req->body, "description", &desc, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	if (!desc) {
		api_error(res, 400, "nothing to change (description)");
		return;
	}
	if (mgr_cluster_set_description(cluster_of(req), req->params[0], desc, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, NULL);
}

void api_delete_cluster_member(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	const char *f = api_query(req, "force");
	bool force = f && strcmp(f, "1") == 0;
	if (mgr_cluster_remove(cluster_of(req), req->params[0], force, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, NULL);
}

/* POST /1.0/cluster/members/NAME/evacuate: run by NAME itself (forwarded
 * there when asked elsewhere), since its instances' files are there. */
void api_post_cluster_member_evacuate(struct api_request *req, struct api_response *res)
{
	struct mgr_cluster *c = cluster_of(req);
	struct vs_err err = VS_ERR_INIT;
	struct json_object *moved = json_object_new_array();
	if (mgr_cluster_enabled(c) && strcmp(req->params[0], mgr_cluster_self(c)) == 0) {
		int r = mgr_cluster_evacuate(c, moved, &err);
		if (r < 0) {
			json_object_put(moved);
			api_error_from(res, &err);
			return;
		}
		api_sync(res, moved);
		return;
	}
	json_object_put(moved);
	struct mgr_cluster_member *mb;
	size_t n;
	if (mgr_cluster_members(c, &mb, &n, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(mb[i].name, req->params[0]) == 0) {
			struct json_object *md = NULL;
			char path[160];
			snprintf(path, sizeof(path), "/1.0/cluster/members/%s/evacuate",
				 mb[i].name);
			if (mgr_cluster_forward(c, &mb[i], "POST", path, NULL, &md, &err) < 0)
				api_error(res, err.code == EAGAIN ? 503 : 500, "%s", err.msg);
			else
				api_sync(res, md);
			free(mb);
			return;
		}
	free(mb);
	api_error(res, 404, "no cluster member %s", req->params[0]);
}

/* ---- join tokens (cluster_token.c) ---- */

/* POST /1.0/cluster/members {"server_name" (or "name"), "expiry"?}: a
 * join token for a new member. */
void api_post_cluster_members(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "server_name", "name", "expiry", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *name = NULL, *alias = NULL;
	int64_t expiry = 0;
	if (!req->body) {
		api_error(res, 400, "expected a JSON body");
		return;
	}
	if (api_json_keys(req->body, "member", keys, &err) < 0 ||
	    api_json_string(req->body, "server_name", &name, &err) < 0 ||
	    api_json_string(req->body, "name", &alias, &err) < 0 ||
	    api_json_int(req->body, "expiry", &expiry, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	if (!name)
		name = alias;
	if (!name) {
		api_error(res, 400, "server_name is required");
		return;
	}
	if (json_object_object_get_ex(req->body, "expiry", NULL) && expiry <= 0) {
		api_error(res, 400, "expiry: a number of seconds above 0");
		return;
	}
	struct json_object *md = NULL;
	if (mgr_cluster_token_issue(cluster_of(req), name, expiry, &md, &err) < 0) {
		if (err.code == EAGAIN)
			api_error(res, 503, "%s", err.msg);
		else
			api_error_from(res, &err);
		return;
	}
	api_sync(res, md);
}

void api_get_cluster_tokens(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	struct json_object *list = NULL;
	if (mgr_cluster_tokens(cluster_of(req), &list, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, list);
}

void api_delete_cluster_token(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	if (mgr_cluster_token_revoke(cluster_of(req), req->params[0], &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, NULL);
}

/* POST /1.0/cluster/join {"cluster_token","certificate"}: open to callers
 * without a trusted certificate (a host about to join); answers nothing
 * but refusals without a valid token. */
void api_post_cluster_join(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "cluster_token", "certificate", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *token = NULL, *cert = NULL;
	if (!req->body) {
		api_error(res, 400, "expected a JSON body");
		return;
	}
	if (api_json_keys(req->body, "join", keys, &err) < 0 ||
	    api_json_string(req->body, "cluster_token", &token, &err) < 0 ||
	    api_json_string(req->body, "certificate", &cert, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	if (!token || !cert) {
		api_error(res, 400, "cluster_token and certificate are required");
		return;
	}
	if (req->tls && !req->peer_fingerprint[0]) {
		api_error(res, 403, "present the certificate as the TLS client certificate");
		return;
	}
	struct json_object *md = NULL;
	if (mgr_cluster_token_redeem(cluster_of(req), token, cert,
				     req->tls ? req->peer_fingerprint : NULL, &md, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, md);
}

/* ---- the hooks around every request (api.c) ---- */

struct qs {
	char *s;
	size_t len;
	bool oom;
};

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	(void)kind;
	struct qs *q = cls;
	if (strcmp(key, "target") == 0)
		return MHD_YES;
	char *k = curl_escape(key, 0), *v = value ? curl_escape(value, 0) : NULL;
	char *ns = NULL;
	if (!k || (value && !v) ||
	    asprintf(&ns, "%s%s%s%s%s", q->s ? q->s : "", q->s ? "&" : "", k, v ? "=" : "",
		     v ? v : "") < 0) {
		q->oom = true;
		ns = NULL;
	}
	curl_free(k);
	curl_free(v);
	if (ns) {
		free(q->s);
		q->s = ns;
	}
	return MHD_YES;
}

/* The request's path and query string for another member (target added). */
static char *forward_path(struct api_request *req, const char *url, const char *target)
{
	struct qs q = { 0 };
	if (req->conn)
		MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
	char *t = target ? curl_escape(target, 0) : NULL;
	char *p = NULL;
	if (q.oom || (target && !t) ||
	    asprintf(&p, "%s%s%s%s%s%s", url, q.s || t ? "?" : "", q.s ? q.s : "",
		     q.s && t ? "&" : "", t ? "target=" : "", t ? t : "") < 0)
		p = NULL;
	free(q.s);
	curl_free(t);
	return p;
}

/* A request for an instance whose member is offline (or stopped
 * answering): reads from the cluster's copy, changes refused with 503. */
static void answer_offline(struct api_request *req, const struct api_route *route,
			   const char *member, struct api_response *res)
{
	const char *name = req->params[0];
	const char *p = route->pattern;
	bool get = strcmp(req->method, "GET") == 0;
	bool readable = strcmp(p, "/1.0/instances/{}") == 0 ||
			strcmp(p, "/1.0/instances/{}/state") == 0 ||
			strcmp(p, "/1.0/instances/{}/snapshots") == 0 ||
			strcmp(p, "/1.0/instances/{}/snapshots/{}") == 0;
	if (!get || !readable) {
		api_error(res, 503,
			  "cluster member %s is offline: instance %s %s until it is back (the "
			  "cluster keeps a read-only copy of its configuration)",
			  member, name, get ? "cannot answer this" : "cannot be changed");
		return;
	}
	struct mgr_cluster_member mb;
	struct json_object *copy = NULL, *snaps = NULL;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_cluster_instance_copy(cluster_of(req), name, &mb, &copy, &err) < 0) {
		api_error(res, err.code == ENOENT ? 404 : 503, "cluster: %s", err.msg);
		return;
	}
	/* the member may answer again by now; still Offline: it did not, here */
	json_object_object_add(copy, "status", json_object_new_string("Offline"));
	json_object_object_add(copy, "status_code", json_object_new_int(112));
	if (json_object_object_get_ex(copy, "snapshots", &snaps))
		json_object_get(snaps);
	else
		snaps = json_object_new_array();
	json_object_object_del(copy, "snapshots");
	if (strcmp(p, "/1.0/instances/{}") == 0) {
		api_sync(res, copy);
		json_object_put(snaps);
		return;
	}
	if (strcmp(p, "/1.0/instances/{}/state") == 0) {
		struct json_object *o = json_object_new_object(), *v;
		const char *keep[] = { "status", "status_code", "pid" };
		for (size_t i = 0; i < 3; i++)
			if (json_object_object_get_ex(copy, keep[i], &v))
				json_object_object_add(o, keep[i], json_object_get(v));
		api_sync(res, o);
	} else if (strcmp(p, "/1.0/instances/{}/snapshots") == 0) {
		char prefix[160];
		snprintf(prefix, sizeof(prefix), "/1.0/instances/%.63s/snapshots/", name);
		api_sync_listing(req, res, json_object_get(snaps), prefix, "name");
	} else if (!api_sync_named(res, json_object_get(snaps), req->params[1])) {
		api_error(res, 404, "snapshot %.64s of %.64s not found", req->params[1], name);
	}
	json_object_put(snaps);
	json_object_put(copy);
}

/* Forward the request to member `to`; -ECONNREFUSED (-EHOSTUNREACH,
 * -EAGAIN) when it cannot be reached: the request never ran there. */
static int forward(struct api_request *req, const struct mgr_cluster_member *to, const char *url,
		   const char *target, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	char *path = forward_path(req, url, target);
	if (!path) {
		api_error(res, 500, "out of memory");
		return -ENOMEM;
	}
	vs_log(VS_LOG_DEBUG, "cluster: forwarding %s %s to %s", req->method, path, to->name);
	struct json_object *md = NULL;
	int r = mgr_cluster_forward(cluster_of(req), to, req->method, path, req->body, &md, &err);
	free(path);
	if (r < 0) {
		if (r == -EAGAIN || r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -ETIMEDOUT)
			api_error(res, 503, "%s", err.msg);
		else
			api_error_from(res, &err);
		return r;
	}
	api_sync(res, md);
	return 0;
}

/* After a creation forwarded to another member: until that member's
 * report has the instance in the cluster database (a second at most, as
 * a rule), so that the caller's next request for it, to any member, finds
 * it.  Bounded: a slow report only delays that. */
static void wait_reported(struct mgr_cluster *c, const char *name)
{
	for (int i = 0; i < 200; i++) {
		struct mgr_cluster_member mb;
		struct vs_err err = VS_ERR_INIT;
		if (mgr_cluster_locate(c, name, &mb, &err) == 0 || err.code != ENOENT)
			return;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	vs_log(VS_LOG_WARN, "cluster: %s created, not yet in the cluster database", name);
}

static bool instance_is_local(struct api_request *req, const char *name)
{
	struct mgr_instance inst;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_instance_db_get(mgr_get_db(req->m), name, &inst, &err) < 0)
		return false;
	mgr_instance_free(&inst);
	return true;
}

/* Instance routes that are forwarded: those answered with JSON (streams —
 * events, console, file transfers, exports — are served by the member that
 * runs the instance only). */
static const char *const forwarded[] = {
	"/1.0/instances/{}",
	"/1.0/instances/{}/state",
	"/1.0/instances/{}/exec",
	"/1.0/instances/{}/snapshots",
	"/1.0/instances/{}/snapshots/{}",
	"/1.0/instances/{}/usage",
	"/1.0/instances/{}/advice/apply",
};

static bool is_forwarded(const char *pattern)
{
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		if (strcmp(forwarded[i], pattern) == 0)
			return true;
	return false;
}

/* Whether the last report of offline member mb lists volume name. */
static bool offline_holds(struct mgr_cluster *c, const struct mgr_cluster_member *mb,
			  const char *name)
{
	struct json_object *list;
	struct vs_err e = VS_ERR_INIT;
	if (mgr_cluster_member_objects(c, mb->name, true, &list, &e) < 0)
		return false;
	bool found = false;
	for (size_t i = 0; i < json_object_array_length(list) && !found; i++) {
		struct json_object *n;
		found = json_object_object_get_ex(json_object_array_get_idx(list, i), "name", &n) &&
			strcmp(json_object_get_string(n), name) == 0;
	}
	json_object_put(list);
	return found;
}

/* The member holding storage volume NAME (another online one answering
 * GET /1.0/storage-volumes/NAME, or an offline one whose last report lists
 * it: mb->online false): 0 and *mb; ENOENT when none does. */
static int volume_holder(struct mgr_cluster *c, const char *name, struct mgr_cluster_member *mb,
			 struct vs_err *err)
{
	char *esc = curl_escape(name, 0), *path = NULL;
	if (!esc || asprintf(&path, "/1.0/storage-volumes/%s", esc) < 0) {
		curl_free(esc);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	curl_free(esc);
	struct mgr_cluster_member *all;
	size_t n;
	int r = mgr_cluster_members(c, &all, &n, err);
	if (r == 0) {
		r = vs_errf(err, ENOENT, "storage volume %.64s not found", name);
		for (size_t i = 0; i < n && r < 0; i++) {
			struct json_object *md = NULL;
			struct vs_err e = VS_ERR_INIT;
			if (all[i].self)
				continue;
			if (!all[i].online
				? !offline_holds(c, &all[i], name)
				: mgr_cluster_forward(c, &all[i], "GET", path, NULL, &md, &e) < 0)
				continue;
			json_object_put(md);
			*mb = all[i];
			vs_err_clear(err);
			r = 0;
		}
		free(all);
	}
	free(path);
	return r;
}

/* Storage volume requests: a volume lives on one member (its file), which
 * answers every request for it; a creation goes to ?target= (default: the
 * member asked), its name unique in the cluster. */
static bool intercept_volume(struct api_request *req, const struct api_route *route,
			     const char *url, struct api_response *res)
{
	struct mgr_cluster *c = cluster_of(req);
	struct vs_err err = VS_ERR_INIT;
	struct mgr_cluster_member mb;
	bool create =
	    strcmp(route->pattern, "/1.0/storage-volumes") == 0 && strcmp(req->method, "POST") == 0;
	if (strncmp(route->pattern, "/1.0/storage-volumes/{}", 23) != 0 && !create)
		return false;
	const char *name = req->params[0];
	struct json_object *n;
	if (create)
		name = req->body && json_object_object_get_ex(req->body, "name", &n) &&
			       json_object_is_type(n, json_type_string)
			   ? json_object_get_string(n)
			   : NULL;
	if (!name)
		return false; /* the handler says what is missing */
	struct json_object *o = NULL;
	if (mgr_volume_get(req->m, name, &o, NULL) == 0) { /* here */
		json_object_put(o);
		return false;
	}
	int r = volume_holder(c, name, &mb, &err);
	if (r < 0 && err.code != ENOENT) {
		api_error(res, 503, "cluster: %s", err.msg);
		return true;
	}
	if (!create) {
		if (r < 0)
			return false; /* the handler answers 404 */
		if (!mb.online) {
			api_error(res, 503,
				  "storage volume %s is on cluster member %s, which is offline",
				  name, mb.name);
			return true;
		}
		forward(req, &mb, url, NULL, res);
		return true;
	}
	if (r == 0) {
		api_error(res, 409, "storage volume %s already exists on member %s%s", name,
			  mb.name, mb.online ? "" : " (offline)");
		return true;
	}
	const char *target = api_query(req, "target");
	if (!target || !*target || strcmp(target, mgr_cluster_self(c)) == 0)
		return false;
	vs_err_clear(&err);
	if (mgr_cluster_place(c, target, &mb, &err) < 0) {
		api_error(res, err.code == ENOENT ? 404 : 503, "%s", err.msg);
		return true;
	}
	if (mb.self)
		return false;
	forward(req, &mb, url, mb.name, res);
	return true;
}

bool api_cluster_intercept(struct api_request *req, const struct api_route *route, const char *url,
			   struct api_response *res)
{
	struct mgr_cluster *c = cluster_of(req);
	if (!mgr_cluster_enabled(c) || req->upload_path)
		return false;
	/* sent by another member: answered here */
	if (req->forwarded && strncmp(route->pattern, "/1.0/storage-volumes", 20) == 0)
		return false;
	if (intercept_volume(req, route, url, res))
		return true;
	struct vs_err err = VS_ERR_INIT;
	struct mgr_cluster_member mb;
	if (is_forwarded(route->pattern)) {
		if (instance_is_local(req, req->params[0]))
			return false;
		if (mgr_cluster_locate(c, req->params[0], &mb, &err) < 0) {
			if (err.code == ENOENT)
				return false; /* the handler answers 404 */
			api_error(res, 503, "cluster: %s", err.msg);
			return true;
		}
		if (mb.self)
			return false;
		if (!mb.online) {
			answer_offline(req, route, mb.name, res);
			return true;
		}
		int r = forward(req, &mb, url, NULL, res);
		/* it stopped answering before its heartbeat aged: the same */
		if (r == -EAGAIN || r == -ECONNREFUSED || r == -EHOSTUNREACH) {
			json_object_put(res->json);
			res->json = NULL;
			answer_offline(req, route, mb.name, res);
		}
		return true;
	}
	/* creations from a JSON request; an uploaded or streamed body (an
	 * import) is created where it arrives */
	if (strcmp(route->pattern, "/1.0/instances") == 0 && strcmp(req->method, "POST") == 0 &&
	    req->body) {
		struct json_object *n;
		const char *name = req->body && json_object_object_get_ex(req->body, "name", &n)
				       ? json_object_get_string(n)
				       : NULL;
		if (name && !instance_is_local(req, name)) {
			if (mgr_cluster_locate(c, name, &mb, &err) == 0) {
				api_error(res, 409, "instance %s already exists on member %s", name,
					  mb.name);
				return true;
			}
			if (err.code != ENOENT) {
				api_error(res, 503, "cluster: %s", err.msg);
				return true;
			}
		}
		const char *target = api_query(req, "target");
		vs_err_clear(&err);
		if (mgr_cluster_place(c, target && *target ? target : NULL, &mb, &err) < 0) {
			api_error(res, err.code == ENOENT ? 404 : 503, "%s", err.msg);
			return true;
		}
		if (mb.self)
			return false;
		if (forward(req, &mb, url, mb.name, res) == 0 && name)
			wait_reported(c, name);
		return true;
	}
	return false;
}

void api_cluster_after(struct api_request *req, const struct api_route *route,
		       struct api_response *res)
{
	struct mgr_cluster *c = cluster_of(req);
	if (!mgr_cluster_enabled(c) || !res->json)
		return;
	bool list = strcmp(route->pattern, "/1.0/instances") == 0;
	if (strcmp(req->method, "GET") != 0) {
		if (strncmp(route->pattern, "/1.0/instances", 14) == 0)
			mgr_cluster_kick(c);
		return;
	}
	struct json_object *md;
	if (!list || res->http_status != 200 ||
	    !json_object_object_get_ex(res->json, "metadata", &md) ||
	    !json_object_is_type(md, json_type_array))
		return;
	bool full = api_recursion(req);
	for (size_t i = 0; full && i < json_object_array_length(md); i++)
		json_object_object_add(json_object_array_get_idx(md, i), "location",
				       json_object_new_string(mgr_cluster_self(c)));
	struct json_object *remote = json_object_new_array();
	struct vs_err err = VS_ERR_INIT;
	if (mgr_cluster_remote_instances(c, remote, &err) < 0) {
		vs_log(VS_LOG_WARN, "cluster: listing other members' instances: %s", err.msg);
		json_object_put(remote);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(remote); i++) {
		struct json_object *o = json_object_array_get_idx(remote, i), *nm;
		if (full) {
			json_object_array_add(md, json_object_get(o));
		} else if (json_object_object_get_ex(o, "name", &nm)) {
			char u[160];
			snprintf(u, sizeof(u), "/1.0/instances/%s", json_object_get_string(nm));
			json_object_array_add(md, json_object_new_string(u));
		}
	}
	json_object_put(remote);
}
