/*
 * snapshot.c - PUT /snapshot/create and PUT /snapshot/load of the control
 * API (docs/api/vessel-vmm.yaml, docs/snapshot-format.md).
 *
 * Both run entirely at one safe point: every hart is stopped while the
 * file is written or loaded, so the state is consistent without pausing.
 * A load validates the whole file before changing anything: a bad file is
 * a 400 and the guest keeps running untouched.  Only a failure after
 * validation (a disk cannot be rolled back, RAM cannot be mapped) leaves
 * the machine unusable: then the VMM stops with an error (500).
 * PUT /snapshot/delete removes a disk snapshot (a savevm's) from the open
 * qcow2 disks, which only the VMM may change while it runs.
 */
#include <errno.h>
#include <string.h>

#include "vessel/core/util.h"
#include "vessel/vm/snapshot.h"

#include "api_internal.h"

int api_snapshot_create_parse(struct api_request *req, struct vs_err *err)
{
	static const char *const keys[] = { "path", "type", "disks", "savevm", NULL };
	int r = api_body_only_keys(req->body, keys, err);
	if (r < 0)
		return r;
	struct json_object *sv;
	req->u.snapshot.savevm = json_object_object_get_ex(req->body, "savevm", &sv);
	if (req->u.snapshot.savevm) {
		if (json_object_object_length(req->body) != 1)
			return vs_errf(err, EINVAL,
				       "'savevm' goes alone (the VM is stored in its "
				       "qcow2 disk, not in a file)");
		if ((r = api_body_string(req->body, "savevm", &req->u.snapshot.path, err)) < 0)
			return r;
		if (!req->u.snapshot.path[0])
			return vs_errf(err, EINVAL, "field 'savevm' is empty");
		return 0;
	}
	if ((r = api_body_string(req->body, "path", &req->u.snapshot.path, err)) < 0)
		return r;
	if (!req->u.snapshot.path[0])
		return vs_errf(err, EINVAL, "field 'path' is empty");
	req->u.snapshot.kind = VM_SNAP_FULL;
	struct json_object *v;
	if (json_object_object_get_ex(req->body, "type", &v)) {
		const char *t =
		    json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
		if (strcmp(t, "full") == 0)
			req->u.snapshot.kind = VM_SNAP_FULL;
		else if (strcmp(t, "diff") == 0)
			req->u.snapshot.kind = VM_SNAP_DIFF;
		else
			return vs_errf(err, EINVAL, "field 'type' must be \"full\" or \"diff\"");
	}
	req->u.snapshot.no_disks = false;
	if (json_object_object_get_ex(req->body, "disks", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return vs_errf(err, EINVAL, "field 'disks' must be true or false");
		req->u.snapshot.no_disks = !json_object_get_boolean(v);
	}
	return 0;
}

bool api_path_allowed(struct vm_api *api, const char *path, struct api_response *resp)
{
	if (!api->cfg.confined)
		return true;
	if (!api->cfg.confined_dir) {
		api_respond_error(resp, 400,
				  "%s: under --sandbox, snapshot files and migration sockets "
				  "need --snapshot-dir",
				  path);
		return false;
	}
	bool dotdot = false;
	for (const char *c = path; *c; c = strchr(c, '/') ? strchr(c, '/') + 1 : c + strlen(c))
		if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == 0))
			dotdot = true;
	if (path[0] == '/' || dotdot) {
		api_respond_error(resp, 400,
				  "%s: under --sandbox, paths are relative to --snapshot-dir "
				  "(no leading '/', no '..')",
				  path);
		return false;
	}
	return true;
}

void api_snapshot_create_exec(struct vm_api *api, struct api_request *req,
			      struct api_response *resp)
{
	if (!req->u.snapshot.savevm && !api_path_allowed(api, req->u.snapshot.path, resp))
		return;
	struct vs_err err = VS_ERR_INIT;
	struct vm_snapshot_options o = {
		.path = req->u.snapshot.path,
		.kind = req->u.snapshot.kind,
		.no_disks = req->u.snapshot.no_disks,
	};
	struct vm_snapshot_result res;
	int r = req->u.snapshot.savevm ? virt_savevm(api->board, o.path, &res, &err)
				       : virt_snapshot_save(api->board, &o, &res, &err);
	if (r < 0) {
		api_respond_error(resp, r == -EINVAL ? 400 : 500, "%s", err.msg);
		return;
	}
	struct json_object *j = json_object_new_object();
	json_object_object_add(j, "path", json_object_new_string(o.path));
	json_object_object_add(j, "type",
			       json_object_new_string(req->u.snapshot.savevm   ? "savevm"
						      : o.kind == VM_SNAP_DIFF ? "diff"
									       : "full"));
	json_object_object_add(j, "file_bytes", json_object_new_int64((int64_t)res.file_bytes));
	json_object_object_add(j, "ram_pages", json_object_new_int64((int64_t)res.ram_pages));
	json_object_object_add(j, "elapsed_ms", json_object_new_double(res.elapsed_ns / 1e6));
	json_object_object_add(j, "disk_snapshots", json_object_new_int((int)res.disks));
	json_object_object_add(j, "disk_tag", res.disks ? json_object_new_string(res.tag) : NULL);
	api_respond_json(resp, 200, j);
}

int api_snapshot_load_parse(struct api_request *req, struct vs_err *err)
{
	static const char *const keys[] = { "path", NULL };
	int r = api_body_only_keys(req->body, keys, err);
	if (r < 0 || (r = api_body_string(req->body, "path", &req->u.snapshot.path, err)) < 0)
		return r;
	if (!req->u.snapshot.path[0])
		return vs_errf(err, EINVAL, "field 'path' is empty");
	return 0;
}

void api_snapshot_load_exec(struct vm_api *api, struct api_request *req, struct api_response *resp)
{
	if (!api_path_allowed(api, req->u.snapshot.path, resp))
		return;
	struct vs_err err = VS_ERR_INIT;
	uint64_t t0 = vs_now_ns();
	int r = virt_snapshot_restore(api->board, req->u.snapshot.path, &err);
	if (r == -EIO) {
		vm_machine_request_exit(api->m, VM_EXIT_ERROR, 0);
		api_respond_error(resp, 500, "%s", err.msg);
		return;
	}
	if (r < 0) {
		api_respond_error(resp, 400, "%s", err.msg);
		return;
	}
	struct json_object *j = json_object_new_object();
	json_object_object_add(j, "path", json_object_new_string(req->u.snapshot.path));
	json_object_object_add(j, "elapsed_ms", json_object_new_double((vs_now_ns() - t0) / 1e6));
	api_respond_json(resp, 200, j);
}

int api_snapshot_delete_parse(struct api_request *req, struct vs_err *err)
{
	static const char *const keys[] = { "tag", NULL };
	int r = api_body_only_keys(req->body, keys, err);
	if (r < 0 || (r = api_body_string(req->body, "tag", &req->u.snapshot.path, err)) < 0)
		return r;
	if (!req->u.snapshot.path[0])
		return vs_errf(err, EINVAL, "field 'tag' is empty");
	return 0;
}

void api_snapshot_delete_exec(struct vm_api *api, struct api_request *req,
			      struct api_response *resp)
{
	struct vs_err err = VS_ERR_INIT;
	unsigned n = 0;
	int r = virt_snapshot_delete_tag(api->board, req->u.snapshot.path, &n, &err);
	if (r < 0) {
		api_respond_error(resp, r == -ENOENT ? 404 : 500, "%s", err.msg);
		return;
	}
	struct json_object *j = json_object_new_object();
	json_object_object_add(j, "tag", json_object_new_string(req->u.snapshot.path));
	json_object_object_add(j, "disk_snapshots", json_object_new_int((int)n));
	api_respond_json(resp, 200, j);
}
