/*
 * api_volumes.c - /1.0/storage-volumes: list, create ({"name","size"},
 * optional "format": "raw" or "qcow2"),
 * show, resize (PATCH {"size"}), delete, and attach/detach to a container
 * (POST .../attach {"instance","path"}, .../detach {"instance"}).  Sizes
 * are strings ("64MiB", "1G") or byte counts.  All are quick (mkfs and
 * resize2fs of a sparse file) and answered synchronously.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "vessel/core/util.h"
#include "vessel/mgr/cluster.h"
#include "vessel/mgr/db.h"
#include "vessel/mgr/instance.h"
#include "vessel/mgr/operation.h"
#include "vessel/mgr/volume.h"

static int size_of(struct json_object *body, uint64_t *out, bool required, struct vs_err *err)
{
	struct json_object *v;
	if (!json_object_object_get_ex(body, "size", &v) || !v) {
		*out = 0;
		return required ? vs_errf(err, EINVAL, "\"size\" is required") : 0;
	}
	if (json_object_is_type(v, json_type_int)) {
		int64_t n = json_object_get_int64(v);
		if (n <= 0)
			return vs_errf(err, EINVAL, "\"size\": expected a positive size");
		*out = (uint64_t)n;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return vs_errf(err, EINVAL, "\"size\": expected a size (\"64MiB\") or bytes");
	return vs_parse_size(json_object_get_string(v), out, err);
}

/* In a cluster, a volume object names its member ("location"). */
static void locate(struct api_request *req, struct json_object *o)
{
	struct mgr_cluster *c = mgr_get_cluster(req->m);
	if (mgr_cluster_enabled(c))
		json_object_object_add(o, "location", json_object_new_string(mgr_cluster_self(c)));
}

static void reply_volume(struct api_request *req, struct api_response *res, const char *name)
{
	struct json_object *o;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_volume_get(req->m, name, &o, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	locate(req, o);
	api_sync(res, o);
}

/* In a cluster (asked by a caller, not by another member): the other
 * members' volumes too, each with its location. */
void api_get_volumes(struct api_request *req, struct api_response *res)
{
	struct json_object *list, *answers = NULL;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_volume_list(req->m, &list, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(list); i++)
		locate(req, json_object_array_get_idx(list, i));
	struct mgr_cluster *c = mgr_get_cluster(req->m);
	if (mgr_cluster_enabled(c) && !req->forwarded &&
	    mgr_cluster_fanout_listing(c, "/1.0/storage-volumes?recursion=1", true, &answers,
				       &err) == 0) {
		for (size_t i = 0; i < json_object_array_length(answers); i++) {
			struct json_object *a = json_object_array_get_idx(answers, i), *md, *mb;
			if (!json_object_object_get_ex(a, "metadata", &md) ||
			    !json_object_is_type(md, json_type_array))
				continue;
			/* an unreachable member's, from its last report */
			bool unreachable = json_object_object_get_ex(a, "unreachable", NULL) &&
					   json_object_object_get_ex(a, "member", &mb);
			for (size_t k = 0; k < json_object_array_length(md); k++) {
				struct json_object *v = json_object_array_get_idx(md, k);
				if (unreachable) {
					json_object_object_add(
					    v, "location",
					    json_object_new_string(json_object_get_string(mb)));
					json_object_object_add(v, "location_status",
							       json_object_new_string("Offline"));
				}
				json_object_array_add(list, json_object_get(v));
			}
		}
		json_object_put(answers);
	}
	api_sync_listing(req, res, list, "/1.0/storage-volumes/", "name");
}

void api_post_volumes(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "name", "size", "format", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *name = NULL, *format = NULL;
	uint64_t size = 0;
	if (api_json_keys(req->body, "request", keys, &err) < 0 ||
	    api_json_string(req->body, "name", &name, &err) < 0 ||
	    api_json_string(req->body, "format", &format, &err) < 0 ||
	    size_of(req->body, &size, true, &err) < 0)
		goto bad;
	if (!name) {
		vs_errf(&err, EINVAL, "\"name\" is required");
		goto bad;
	}
	if (format && strcmp(format, "raw") != 0 && strcmp(format, "qcow2") != 0) {
		vs_errf(&err, EINVAL, "\"format\": expected \"raw\" or \"qcow2\"");
		goto bad;
	}
	if (mgr_volume_create(req->m, name, size, format, &err) < 0)
		goto bad;
	reply_volume(req, res, name);
	return;
bad:
	api_error_from(res, &err);
}

void api_get_volume(struct api_request *req, struct api_response *res)
{
	reply_volume(req, res, req->params[0]);
}

void api_patch_volume(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "size", NULL };
	struct vs_err err = VS_ERR_INIT;
	uint64_t size;
	if (api_json_keys(req->body, "request", keys, &err) < 0 ||
	    size_of(req->body, &size, true, &err) < 0 ||
	    mgr_volume_resize(req->m, req->params[0], size, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	reply_volume(req, res, req->params[0]);
}

void api_delete_volume(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	if (mgr_volume_delete(req->m, req->params[0], &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, json_object_new_object());
}

void api_post_volume_attach(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "instance", "path", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *inst = NULL, *path = NULL;
	if (api_json_keys(req->body, "request", keys, &err) < 0 ||
	    api_json_string(req->body, "instance", &inst, &err) < 0 ||
	    api_json_string(req->body, "path", &path, &err) < 0)
		goto bad;
	if (!inst || !path) {
		vs_errf(&err, EINVAL, "\"instance\" and \"path\" are required");
		goto bad;
	}
	if (mgr_volume_attach(req->m, req->params[0], inst, path, &err) < 0) {
		/* an instance of another member: a volume's file is on its own */
		struct mgr_cluster *c = mgr_get_cluster(req->m);
		struct mgr_cluster_member mb;
		struct vs_err e2 = VS_ERR_INIT;
		struct mgr_instance here;
		bool local = mgr_instance_db_get(mgr_get_db(req->m), inst, &here, NULL) == 0;
		if (local)
			mgr_instance_free(&here);
		if (err.code == ENOENT && mgr_cluster_enabled(c) && !local &&
		    mgr_cluster_locate(c, inst, &mb, &e2) == 0 && !mb.self) {
			api_error(res, 409,
				  "storage volume %s is on member %s, instance %s on member %s: a "
				  "volume attaches to instances of its own member (create it there "
				  "with --target %s)",
				  req->params[0], mgr_cluster_self(c), inst, mb.name, mb.name);
			return;
		}
		goto bad;
	}
	reply_volume(req, res, req->params[0]);
	return;
bad:
	api_error_from(res, &err);
}

void api_post_volume_detach(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "instance", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *inst = NULL;
	if (api_json_keys(req->body, "request", keys, &err) < 0 ||
	    api_json_string(req->body, "instance", &inst, &err) < 0)
		goto bad;
	if (!inst) {
		vs_errf(&err, EINVAL, "\"instance\" is required");
		goto bad;
	}
	if (mgr_volume_detach(req->m, req->params[0], inst, &err) < 0)
		goto bad;
	reply_volume(req, res, req->params[0]);
	return;
bad:
	api_error_from(res, &err);
}

/* ---- snapshots: /1.0/storage-volumes/NAME/snapshots[/SNAP], and PUT
 * /1.0/storage-volumes/NAME {"restore": SNAP} as for instances; create,
 * restore and delete copy or remove files, so they are operations (what
 * they would refuse is answered before one starts) ---- */

struct volsnap_job {
	struct mgr *m;
	char name[MGR_NAME_MAX + 1];
	char snap[MGR_NAME_MAX + 1]; /* "" (create): the next free snapN */
	enum mgr_volume_snapshot_action what;
};

static int volsnap_run(struct mgr_op *op, void *arg, struct vs_err *err)
{
	struct volsnap_job *j = arg;
	if (j->what == MGR_VOLUME_SNAPSHOT_RESTORE)
		return mgr_volume_snapshot_restore(j->m, j->name, j->snap, err);
	if (j->what == MGR_VOLUME_SNAPSHOT_DELETE)
		return mgr_volume_snapshot_delete(j->m, j->name, j->snap, err);
	char made[MGR_NAME_MAX + 1];
	int r = mgr_volume_snapshot_create(j->m, j->name, j->snap, made, sizeof(made), err);
	if (r == 0) {
		struct json_object *md = json_object_new_object();
		json_object_object_add(md, "name", json_object_new_string(made));
		mgr_op_set_metadata(op, md);
	}
	return r;
}

static void volsnap_op(struct api_request *req, struct api_response *res, const char *snap,
		       enum mgr_volume_snapshot_action what)
{
	static const char *const desc[] = { "Creating volume snapshot", "Restoring volume snapshot",
					    "Deleting volume snapshot" };
	struct vs_err err = VS_ERR_INIT;
	if (mgr_volume_snapshot_check(req->m, req->params[0], snap, what, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	struct volsnap_job *j = calloc(1, sizeof(*j));
	if (!j) {
		api_error(res, 500, "out of memory");
		return;
	}
	j->m = req->m;
	j->what = what;
	snprintf(j->name, sizeof(j->name), "%.63s", req->params[0]);
	snprintf(j->snap, sizeof(j->snap), "%.63s", snap ? snap : "");
	struct json_object *rs = json_object_new_object(), *a = json_object_new_array();
	char url[128];
	snprintf(url, sizeof(url), "/1.0/storage-volumes/%s", j->name);
	json_object_array_add(a, json_object_new_string(url));
	json_object_object_add(rs, "storage-volumes", a);
	struct mgr_op *op =
	    mgr_op_start(mgr_get_ops(req->m), desc[what], rs, false, volsnap_run, j, free, &err);
	if (!op) {
		api_error_from(res, &err);
		return;
	}
	api_async(res, op);
	mgr_op_put(op);
}

void api_put_volume(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "restore", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *snap = NULL;
	if (api_json_keys(req->body, "request", keys, &err) < 0 ||
	    api_json_string(req->body, "restore", &snap, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	if (!snap) {
		api_error(res, 400,
			  "\"restore\": a snapshot name is required (PATCH {\"size\"} resizes)");
		return;
	}
	volsnap_op(req, res, snap, MGR_VOLUME_SNAPSHOT_RESTORE);
}

void api_get_volume_snapshots(struct api_request *req, struct api_response *res)
{
	struct json_object *list;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_volume_snapshot_list(req->m, req->params[0], &list, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	char prefix[160];
	snprintf(prefix, sizeof(prefix), "/1.0/storage-volumes/%.63s/snapshots/", req->params[0]);
	api_sync_listing(req, res, list, prefix, "name");
}

void api_post_volume_snapshots(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "name", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *name = NULL;
	if (req->body && (api_json_keys(req->body, "request", keys, &err) < 0 ||
			  api_json_string(req->body, "name", &name, &err) < 0)) {
		api_error_from(res, &err);
		return;
	}
	volsnap_op(req, res, name, MGR_VOLUME_SNAPSHOT_CREATE);
}

void api_get_volume_snapshot(struct api_request *req, struct api_response *res)
{
	struct json_object *list;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_volume_snapshot_list(req->m, req->params[0], &list, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	if (!api_sync_named(res, list, req->params[1]))
		api_error(res, 404, "snapshot %.64s of storage volume %.64s not found",
			  req->params[1], req->params[0]);
}

void api_delete_volume_snapshot(struct api_request *req, struct api_response *res)
{
	volsnap_op(req, res, req->params[1], MGR_VOLUME_SNAPSHOT_DELETE);
}
