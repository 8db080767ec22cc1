/*
 * api_instances.c - /1.0/instances: each handler parses its body into a
 * typed request (strictly: unknown keys, wrong types and bad values are
 * 400s), checks it against the current state synchronously (so a refusal
 * is an error response, not a failed operation), and only then starts the
 * work, as an operation when it can take long (create, state changes,
 * delete, exec) or directly when it cannot (config, rename).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/mgr/policy.h"

static struct json_object *resources_of(const char *name)
{
	struct json_object *r = json_object_new_object(), *a = json_object_new_array();
	char url[128];
	snprintf(url, sizeof(url), "/1.0/instances/%s", name);
	json_object_array_add(a, json_object_new_string(url));
	json_object_object_add(r, "instances", a);
	return r;
}

static void start_op(struct api_request *req, struct api_response *res, const char *desc,
		     const char *name, bool may_cancel, mgr_op_fn fn, void *arg,
		     void (*free_arg)(void *))
{
	struct vs_err err = VS_ERR_INIT;
	struct mgr_op *op = mgr_op_start(mgr_get_ops(req->m), desc, resources_of(name), may_cancel,
					 fn, arg, free_arg, &err);
	if (!op) {
		api_error_from(res, &err);
		return;
	}
	api_async(res, op);
	mgr_op_put(op);
}

/* A config object {"key":"value"|null} into entries (values NULL for null
 * when allow_null, else a 400). */
static int parse_config(struct json_object *cfg, bool allow_null, struct mgr_config_entry **out,
			size_t *n, struct vs_err *err)
{
	*out = NULL;
	*n = 0;
	if (!cfg)
		return 0;
	if (!json_object_is_type(cfg, json_type_object))
		return vs_errf(err, EINVAL, "\"config\": expected an object");
	size_t cnt = (size_t)json_object_object_length(cfg);
	if (cnt > 256)
		return vs_errf(err, EINVAL, "\"config\": more than 256 keys");
	struct mgr_config_entry *v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v)
		return vs_errf(err, ENOMEM, "out of memory");
	size_t i = 0;
	json_object_object_foreach(cfg, key, val)
	{
		if (val && !json_object_is_type(val, json_type_string)) {
			free(v);
			return vs_errf(err, EINVAL, "config %.64s: expected a string value", key);
		}
		if (!val && !allow_null) {
			free(v);
			return vs_errf(err, EINVAL, "config %.64s: null is not a value here", key);
		}
		v[i].key = key;
		v[i].value = val ? (char *)json_object_get_string(val) : NULL;
		i++;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* ---- GET /1.0, /1.0/instances, /1.0/instances/NAME ---- */

void api_get_root(struct api_request *req, struct api_response *res)
{
	struct json_object *o = json_object_new_object(), *env = json_object_new_object();
	json_object_object_add(o, "api_version", json_object_new_string("1.0"));
	json_object_object_add(o, "api_status", json_object_new_string("development"));
	json_object_object_add(o, "auth", json_object_new_string("trusted"));
	json_object_object_add(env, "server", json_object_new_string("vesseld"));
	json_object_object_add(env, "server_version", json_object_new_string("0.1.0"));
	json_object_object_add(env, "instance_types", json_object_new_string("container"));
	json_object_object_add(env, "storage", json_object_new_string("overlay"));
	json_object_object_add(env, "database_schema", json_object_new_int(mgr_db_schema_latest()));
	json_object_object_add(o, "environment", env);
	api_sync(res, o);
}

void api_get_instances(struct api_request *req, struct api_response *res)
{
	struct mgr_instance *list;
	size_t n;
	struct vs_err err = VS_ERR_INIT;
	if (api_recursion(req)) {
		struct json_object *all;
		if (mgr_instances_json(req->m, &all, &err) < 0)
			api_error_from(res, &err);
		else
			api_sync(res, all);
		return;
	}
	if (mgr_instance_db_list(mgr_get_db(req->m), &list, &n, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		char url[128];
		snprintf(url, sizeof(url), "/1.0/instances/%s", list[i].name);
		json_object_array_add(a, json_object_new_string(url));
	}
	mgr_instance_list_free(list, n);
	api_sync(res, a);
}

void api_get_instance(struct api_request *req, struct api_response *res)
{
	struct mgr_instance inst;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_instance_db_get(mgr_get_db(req->m), req->params[0], &inst, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, mgr_instance_to_json(req->m, &inst));
	mgr_instance_free(&inst);
}

void api_get_instance_state(struct api_request *req, struct api_response *res)
{
	struct mgr_instance inst;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_instance_db_get(mgr_get_db(req->m), req->params[0], &inst, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	struct json_object *full = mgr_instance_to_json(req->m, &inst),
			   *o = json_object_new_object();
	const char *keep[] = { "status", "status_code", "pid" };
	for (size_t i = 0; i < 3; i++) {
		struct json_object *v;
		if (json_object_object_get_ex(full, keep[i], &v))
			json_object_object_add(o, keep[i], json_object_get(v));
	}
	json_object_put(full);
	mgr_instance_free(&inst);
	api_sync(res, o);
}

/* ---- POST /1.0/instances ---- */

struct create_job {
	struct mgr *m;
	char name[MGR_NAME_MAX + 1];
	char image[256];
	enum mgr_instance_type type;
	struct mgr_config_entry *config;
	size_t nconfig;
	bool start;
	char network[64];			   /* "" for none */
	char expires[64];			   /* "" for the policy's */
	char more_networks[MGR_MORE_NICS_MAX][64]; /* eth1, eth2, ... */
	const char *more[MGR_MORE_NICS_MAX];	   /* pointers to them */
	size_t nmore;
};

static void create_job_free(void *p)
{
	struct create_job *j = p;
	for (size_t i = 0; i < j->nconfig; i++) {
		free(j->config[i].key);
		free(j->config[i].value);
	}
	free(j->config);
	free(j);
}

static int create_run(struct mgr_op *op, void *arg, struct vs_err *err)
{
	struct create_job *j = arg;
	struct mgr_create_req cr = { j->name,
				     j->type,
				     j->image,
				     j->config,
				     j->nconfig,
				     j->network[0] ? j->network : NULL,
				     j->expires[0] ? j->expires : NULL,
				     j->more,
				     j->nmore };
	int r = mgr_instance_create(j->m, &cr, err);
	if (r == 0 && j->start)
		r = mgr_instance_action(j->m, j->name, MGR_ACTION_START, false, 0, err);
	return r;
}

/* "devices": {"eth0": {"type": "nic", "network": NAME}, "eth1": ...}: NICs
 * eth0 to eth3, without gaps; networks[i] is ethi's network */
static int parse_devices(struct json_object *b, const char *networks[MGR_MORE_NICS_MAX + 1],
			 size_t *n, struct vs_err *err)
{
	static const char *const dev_keys[] = { "eth0", "eth1", "eth2", "eth3", NULL };
	static const char *const nic_keys[] = { "type", "network", NULL };
	_Static_assert(VS_ARRAY_SIZE(dev_keys) == MGR_MORE_NICS_MAX + 2, "one key per NIC");
	struct json_object *devs, *nic;
	*n = 0;
	if (!json_object_object_get_ex(b, "devices", &devs))
		return 0;
	if (api_json_keys(devs, "devices", dev_keys, err) < 0)
		return vs_err_prefix(err, "NICs eth0 to eth3 are supported");
	for (size_t i = 0; dev_keys[i]; i++) {
		const char *type = NULL, *network = NULL;
		char what[24];
		snprintf(what, sizeof(what), "devices.%s", dev_keys[i]);
		if (!json_object_object_get_ex(devs, dev_keys[i], &nic))
			continue;
		if (*n != i)
			return vs_errf(err, EINVAL, "%s: eth%zu is missing", what, *n);
		if (api_json_keys(nic, what, nic_keys, err) < 0 ||
		    api_json_string(nic, "type", &type, err) < 0 ||
		    api_json_string(nic, "network", &network, err) < 0)
			return -err->code;
		if (!type || strcmp(type, "nic") != 0 || !network || !network[0])
			return vs_errf(err, EINVAL, "%s: expected type nic and a network", what);
		networks[(*n)++] = network;
	}
	return 0;
}

void api_post_instances(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "name",	   "type",    "source",	 "config", "start",
					    "description", "devices", "expires", NULL };
	static const char *const src_keys[] = { "type", "alias", "fingerprint", NULL };
	struct vs_err err = VS_ERR_INIT;
	struct json_object *b = req->body, *src = NULL;
	const char *name = NULL, *type = "container", *stype = NULL, *alias = NULL, *fp = NULL,
		   *desc = NULL, *expires = NULL;
	bool start = false;
	vs_cleanup_free struct mgr_config_entry *cfg = NULL;
	size_t ncfg = 0;
	struct json_object *cfgo = NULL;
	if (req->stream_op) { /* an export file, already read by its import (api_export.c) */
		api_async(res, req->stream_op);
		return;
	}
	if (api_json_keys(b, "request", keys, &err) < 0 ||
	    api_json_string(b, "name", &name, &err) < 0 ||
	    api_json_string(b, "type", &type, &err) < 0 ||
	    api_json_string(b, "description", &desc, &err) < 0 ||
	    api_json_string(b, "expires", &expires, &err) < 0 ||
	    api_json_bool(b, "start", &start, &err) < 0)
		goto bad;
	if (!name) {
		vs_errf(&err, EINVAL, "\"name\" is required");
		goto bad;
	}
	if (!json_object_object_get_ex(b, "source", &src) ||
	    api_json_keys(src, "source", src_keys, &err) < 0 ||
	    api_json_string(src, "type", &stype, &err) < 0 ||
	    api_json_string(src, "alias", &alias, &err) < 0 ||
	    api_json_string(src, "fingerprint", &fp, &err) < 0) {
		if (!err.code)
			vs_errf(&err, EINVAL, "\"source\" is required");
		goto bad;
	}
	if (!stype || strcmp(stype, "image") != 0) {
		vs_errf(&err, EINVAL, "source.type: only \"image\" is supported");
		goto bad;
	}
	if (!alias == !fp) {
		vs_errf(&err, EINVAL, "source: give exactly one of alias and fingerprint");
		goto bad;
	}
	json_object_object_get_ex(b, "config", &cfgo);
	if (parse_config(cfgo, false, &cfg, &ncfg, &err) < 0)
		goto bad;
	const char *networks[MGR_MORE_NICS_MAX + 1];
	size_t nnetworks = 0;
	if (parse_devices(b, networks, &nnetworks, &err) < 0)
		goto bad;
	struct create_job *j = calloc(1, sizeof(*j));
	if (!j) {
		vs_errf(&err, ENOMEM, "out of memory");
		goto bad;
	}
	j->m = req->m;
	j->start = start;
	if (mgr_instance_type_parse(type, &j->type, &err) < 0 ||
	    snprintf(j->name, sizeof(j->name), "%s", name) >= (int)sizeof(j->name) ||
	    snprintf(j->image, sizeof(j->image), "%s", alias ? alias : fp) >=
		(int)sizeof(j->image)) {
		if (!err.code)
			vs_errf(&err, EINVAL, "name or image reference too long");
		create_job_free(j);
		goto bad;
	}
	j->config = calloc(ncfg ? ncfg : 1, sizeof(*j->config));
	for (size_t i = 0; j->config && i < ncfg; i++) {
		j->config[i].key = strdup(cfg[i].key);
		j->config[i].value = strdup(cfg[i].value);
		j->nconfig++;
	}
	for (size_t i = 0; i < nnetworks; i++) {
		char *dst = i ? j->more_networks[i - 1] : j->network;
		snprintf(dst, 64, "%.63s", networks[i]);
		if (i)
			j->more[j->nmore++] = dst;
	}
	if (expires)
		snprintf(j->expires, sizeof(j->expires), "%.63s", expires);
	struct mgr_create_req cr = { j->name,
				     j->type,
				     j->image,
				     j->config,
				     j->nconfig,
				     j->network[0] ? j->network : NULL,
				     j->expires[0] ? j->expires : NULL,
				     j->more,
				     j->nmore };
	if (mgr_instance_create_check(req->m, &cr, &err) < 0) {
		create_job_free(j);
		goto bad;
	}
	start_op(req, res, start ? "Creating and starting instance" : "Creating instance", name,
		 false, create_run, j, create_job_free);
	return;
bad:
	api_error_from(res, &err);
}

/* ---- PUT/PATCH/POST/DELETE /1.0/instances/NAME ---- */

static void update_config(struct api_request *req, struct api_response *res, bool replace)
{
	static const char *const keys[] = { "config", "description", "expires", NULL };
	/* (PUT with "restore" is a snapshot restore: api_put_instance) */
	struct vs_err err = VS_ERR_INIT;
	struct json_object *cfgo = NULL, *exp = NULL;
	vs_cleanup_free struct mgr_config_entry *cfg = NULL;
	size_t n = 0;
	if (api_json_keys(req->body, "request", keys, &err) < 0)
		goto bad;
	/* "expires": a duration, an RFC 3339 time, "never" or null (policy.h) */
	bool has_exp = json_object_object_get_ex(req->body, "expires", &exp);
	if (has_exp && exp && !json_object_is_type(exp, json_type_string)) {
		vs_errf(&err, EINVAL, "\"expires\": expected a string or null");
		goto bad;
	}
	bool has_cfg = json_object_object_get_ex(req->body, "config", &cfgo);
	if (parse_config(cfgo, !replace, &cfg, &n, &err) < 0)
		goto bad;
	if ((has_cfg || !has_exp) &&
	    mgr_instance_update_config(req->m, req->params[0], cfg, n, replace, &err) < 0)
		goto bad;
	if (has_exp && mgr_expiry_change(req->m, req->params[0],
					 exp ? json_object_get_string(exp) : "never", &err) < 0)
		goto bad;
	api_sync(res, json_object_new_object());
	return;
bad:
	api_error_from(res, &err);
}

struct snap_job {
	struct mgr *m;
	char name[MGR_NAME_MAX + 1];
	char snap[MGR_NAME_MAX + 1];
	int what; /* 0 create, 1 restore, 2 delete, 3 create stateful */
};

static int snap_run(struct mgr_op *op, void *arg, struct vs_err *err)
{
	struct snap_job *j = arg;
	if (j->what == 0 || j->what == 3)
		return mgr_snapshot_create_stateful(j->m, j->name, j->snap, j->what == 3, err);
	if (j->what == 1)
		return mgr_snapshot_restore(j->m, j->name, j->snap, err);
	return mgr_snapshot_delete(j->m, j->name, j->snap, err);
}

static void snap_op(struct api_request *req, struct api_response *res, const char *snap, int what)
{
	static const char *const desc[] = { "Creating snapshot", "Restoring snapshot",
					    "Deleting snapshot", "Creating stateful snapshot" };
	struct vs_err err = VS_ERR_INIT;
	if (mgr_snapshot_check(req->m, req->params[0], snap, what == 1 || what == 2, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	struct snap_job *j = calloc(1, sizeof(*j));
	if (!j) {
		api_error(res, 500, "out of memory");
		return;
	}
	j->m = req->m;
	j->what = what;
	snprintf(j->name, sizeof(j->name), "%.63s", req->params[0]);
	snprintf(j->snap, sizeof(j->snap), "%.63s", snap);
	start_op(req, res, desc[what], req->params[0], false, snap_run, j, free);
}

void api_put_instance(struct api_request *req, struct api_response *res)
{
	struct json_object *restore;
	if (req->body && json_object_object_get_ex(req->body, "restore", &restore)) {
		if (json_object_object_length(req->body) != 1 ||
		    !json_object_is_type(restore, json_type_string)) {
			api_error(res, 400, "\"restore\": a snapshot name, and nothing else");
			return;
		}
		snap_op(req, res, json_object_get_string(restore), 1);
		return;
	}
	update_config(req, res, true);
}

void api_get_snapshots(struct api_request *req, struct api_response *res)
{
	struct json_object *list;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_snapshot_list(req->m, req->params[0], &list, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	char prefix[160];
	snprintf(prefix, sizeof(prefix), "/1.0/instances/%.63s/snapshots/", req->params[0]);
	api_sync_listing(req, res, list, prefix, "name");
}

void api_post_snapshots(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "name", "stateful", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *name = NULL;
	bool stateful = false;
	if (api_json_keys(req->body, "request", keys, &err) < 0 ||
	    api_json_string(req->body, "name", &name, &err) < 0 ||
	    api_json_bool(req->body, "stateful", &stateful, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	if (!name) {
		api_error(res, 400, "\"name\" is required");
		return;
	}
	snap_op(req, res, name, stateful ? 3 : 0);
}

void api_get_snapshot(struct api_request *req, struct api_response *res)
{
	struct json_object *list;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_snapshot_list(req->m, req->params[0], &list, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	if (!api_sync_named(res, list, req->params[1]))
		api_error(res, 404, "snapshot %.64s of %.64s not found", req->params[1],
			  req->params[0]);
}

void api_delete_snapshot(struct api_request *req, struct api_response *res)
{
	snap_op(req, res, req->params[1], 2);
}

void api_patch_instance(struct api_request *req, struct api_response *res)
{
	update_config(req, res, false);
}

void api_post_instance(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "name", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *name = NULL;
	if (api_json_keys(req->body, "request", keys, &err) < 0 ||
	    api_json_string(req->body, "name", &name, &err) < 0)
		goto bad;
	if (!name) {
		vs_errf(&err, EINVAL, "\"name\" is required (rename)");
		goto bad;
	}
	if (mgr_instance_rename(req->m, req->params[0], name, &err) < 0)
		goto bad;
	api_sync(res, json_object_new_object());
	return;
bad:
	api_error_from(res, &err);
}

struct name_job {
	struct mgr *m;
	char name[MGR_NAME_MAX + 1];
	enum mgr_action action;
	bool force;
	int timeout;
};

static int delete_run(struct mgr_op *op, void *arg, struct vs_err *err)
{
	struct name_job *j = arg;
	return mgr_instance_delete(j->m, j->name, j->force, err);
}

static struct name_job *name_job_new(struct api_request *req, struct api_response *res)
{
	struct name_job *j = calloc(1, sizeof(*j));
	if (!j) {
		api_error(res, 500, "out of memory");
		return NULL;
	}
	j->m = req->m;
	snprintf(j->name, sizeof(j->name), "%.63s", req->params[0]);
	return j;
}

void api_delete_instance(struct api_request *req, struct api_response *res)
{
	struct mgr_instance inst;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_instance_db_get(mgr_get_db(req->m), req->params[0], &inst, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	const char *f = api_query(req, "force");
	bool force = f && (strcmp(f, "1") == 0 || strcmp(f, "true") == 0);
	enum mgr_power p;
	pid_t pid;
	if (!force && mgr_instance_live(req->m, &inst, &p, &pid, &err) == 0 &&
	    p != MGR_POWER_STOPPED) {
		vs_errf(&err, EBUSY, "instance %s is %s: stop it first (or force)", inst.name,
			mgr_power_status(p));
		mgr_instance_free(&inst);
		api_error_from(res, &err);
		return;
	}
	mgr_instance_free(&inst);
	struct name_job *j = name_job_new(req, res);
	if (!j)
		return;
	j->force = force;
	start_op(req, res, "Deleting instance", req->params[0], false, delete_run, j, free);
}

/* ---- PUT /1.0/instances/NAME/state ---- */

static int state_run(struct mgr_op *op, void *arg, struct vs_err *err)
{
	struct name_job *j = arg;
	return mgr_instance_action(j->m, j->name, j->action, j->force, j->timeout, err);
}

void api_put_instance_state(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "action", "timeout", "force", "stateful", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *action = NULL;
	int64_t timeout = 30;
	bool force = false, stateful = false;
	enum mgr_action a;
	if (api_json_keys(req->body, "request", keys, &err) < 0 ||
	    api_json_string(req->body, "action", &action, &err) < 0 ||
	    api_json_int(req->body, "timeout", &timeout, &err) < 0 ||
	    api_json_bool(req->body, "force", &force, &err) < 0 ||
	    api_json_bool(req->body, "stateful", &stateful, &err) < 0)
		goto bad;
	if (!action) {
		vs_errf(&err, EINVAL, "\"action\" is required");
		goto bad;
	}
	if (mgr_action_parse(action, &a, &err) < 0)
		goto bad;
	if (timeout < -1 || timeout > 3600) {
		vs_errf(&err, EINVAL, "\"timeout\": -1 to 3600 seconds");
		goto bad;
	}
	if (stateful) {
		vs_errf(&err, ENOTSUP, "stateful stop/start is not supported yet");
		goto bad;
	}
	if (mgr_instance_action_check(req->m, req->params[0], a, &err) < 0)
		goto bad;
	struct name_job *j = name_job_new(req, res);
	if (!j)
		return;
	j->action = a;
	j->force = force;
	j->timeout = timeout < 0 ? 3600 : (int)timeout;
	char desc[64];
	snprintf(desc, sizeof(desc), "Instance %s", mgr_action_name(a));
	start_op(req, res, desc, req->params[0], false, state_run, j, free);
	return;
bad:
	api_error_from(res, &err);
}

/* ---- POST /1.0/instances/NAME/exec ---- */

struct exec_job {
	struct mgr *m;
	char name[MGR_NAME_MAX + 1];
	char **argv;
	char **env;
	char *cwd;
	char user[48];
	bool has_user;
	char *stdin_data;
	size_t stdin_len;
};

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void exec_job_free(void *p)
{
	struct exec_job *j = p;
	strv_free(j->argv);
	strv_free(j->env);
	free(j->cwd);
	free(j->stdin_data);
	free(j);
}

static int exec_run(struct mgr_op *op, void *arg, struct vs_err *err)
{
	struct exec_job *j = arg;
	struct mgr_exec_req er = { j->argv,	  j->env,      j->cwd, j->has_user ? j->user : NULL,
				   j->stdin_data, j->stdin_len };
	struct mgr_exec_result rr;
	int r = mgr_instance_exec(j->m, j->name, &er, &rr, err);
	if (r < 0)
		return r;
	struct json_object *md = json_object_new_object();
	json_object_object_add(md, "return", json_object_new_int(rr.exit_code));
	json_object_object_add(md, "stdout",
			       json_object_new_string_len(rr.out ? rr.out : "", (int)rr.out_len));
	json_object_object_add(
	    md, "stderr", json_object_new_string_len(rr.errout ? rr.errout : "", (int)rr.err_len));
	mgr_op_set_metadata(op, md);
	mgr_exec_result_free(&rr);
	return 0;
}

void api_post_instance_exec(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "command",	   "environment", "cwd",
					    "user",	   "group",	  "record-output",
					    "interactive", "stdin",	  "wait-for-websocket",
					    NULL };
	struct vs_err err = VS_ERR_INIT;
	struct json_object *b = req->body, *cmd = NULL, *env = NULL;
	const char *cwd = NULL, *in = NULL;
	int64_t uid = -1, gid = -1;
	bool record = true, interactive = false, wait_ws = false;
	struct exec_job *j = NULL;
	if (api_json_keys(b, "request", keys, &err) < 0 ||
	    api_json_string(b, "cwd", &cwd, &err) < 0 ||
	    api_json_string(b, "stdin", &in, &err) < 0 || api_json_int(b, "user", &uid, &err) < 0 ||
	    api_json_int(b, "group", &gid, &err) < 0 ||
	    api_json_bool(b, "record-output", &record, &err) < 0 ||
	    api_json_bool(b, "interactive", &interactive, &err) < 0 ||
	    api_json_bool(b, "wait-for-websocket", &wait_ws, &err) < 0)
		goto bad;
	if (interactive || wait_ws || !record) {
		vs_errf(&err, ENOTSUP, "only record-output exec is supported so far");
		goto bad;
	}
	if (!json_object_object_get_ex(b, "command", &cmd) ||
	    !json_object_is_type(cmd, json_type_array) || json_object_array_length(cmd) == 0 ||
	    json_object_array_length(cmd) > 32) {
		vs_errf(&err, EINVAL, "\"command\": expected an array of 1 to 32 strings");
		goto bad;
	}
	if (cwd && cwd[0] != '/') {
		vs_errf(&err, EINVAL, "\"cwd\": expected an absolute path");
		goto bad;
	}
	if (uid < -1 || uid > 0xfffffffe || gid < -1 || gid > 0xfffffffe) {
		vs_errf(&err, EINVAL, "\"user\"/\"group\": out of range");
		goto bad;
	}
	json_object_object_get_ex(b, "environment", &env);
	if (env &&
	    (!json_object_is_type(env, json_type_object) || json_object_object_length(env) > 8)) {
		vs_errf(&err, EINVAL, "\"environment\": expected an object of at most 8 strings");
		goto bad;
	}
	if (mgr_instance_action_check(req->m, req->params[0], MGR_ACTION_FREEZE, &err) < 0) {
		/* freeze is legal exactly when exec is: the instance runs */
		if (err.code == EINVAL)
			vs_errf(&err, EINVAL, "instance %s is not running: cannot exec",
				req->params[0]);
		goto bad;
	}
	j = calloc(1, sizeof(*j));
	size_t n = json_object_array_length(cmd);
	if (!j || !(j->argv = calloc(n + 1, sizeof(char *))) ||
	    !(j->env = calloc(10, sizeof(char *)))) {
		vs_errf(&err, ENOMEM, "out of memory");
		goto bad;
	}
	j->m = req->m;
	snprintf(j->name, sizeof(j->name), "%.63s", req->params[0]);
	for (size_t i = 0; i < n; i++) {
		struct json_object *a = json_object_array_get_idx(cmd, i);
		if (!json_object_is_type(a, json_type_string)) {
			vs_errf(&err, EINVAL, "\"command\"[%zu]: expected a string", i);
			goto bad;
		}
		if (!(j->argv[i] = strdup(json_object_get_string(a)))) {
			vs_errf(&err, ENOMEM, "out of memory");
			goto bad;
		}
	}
	size_t k = 0;
	if (env) {
		json_object_object_foreach(env, key, val)
		{
			if (!val || !json_object_is_type(val, json_type_string) || !*key ||
			    strchr(key, '=')) {
				vs_errf(&err, EINVAL, "environment %.64s: expected NAME: string",
					key);
				goto bad;
			}
			if (asprintf(&j->env[k], "%s=%s", key, json_object_get_string(val)) < 0) {
				j->env[k] = NULL;
				vs_errf(&err, ENOMEM, "out of memory");
				goto bad;
			}
			k++;
		}
	}
	if (cwd && !(j->cwd = strdup(cwd))) {
		vs_errf(&err, ENOMEM, "out of memory");
		goto bad;
	}
	if (uid >= 0) {
		j->has_user = true;
		snprintf(j->user, sizeof(j->user), "%lld:%lld", (long long)uid,
			 (long long)(gid >= 0 ? gid : uid));
	}
	if (in) {
		j->stdin_len = strlen(in);
		if (!(j->stdin_data = strdup(in))) {
			vs_errf(&err, ENOMEM, "out of memory");
			goto bad;
		}
	}
	start_op(req, res, "Executing command", req->params[0], false, exec_run, j, exec_job_free);
	return;
bad:
	if (j)
		exec_job_free(j);
	api_error_from(res, &err);
}
