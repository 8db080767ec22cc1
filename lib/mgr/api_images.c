/*
 * api_images.c - /1.0/images: list, show, delete, aliases, and import as
 * an operation.  An import comes either as the raw bytes of an OCI archive
 * (Content-Type application/octet-stream, aliases in the X-Vessel-Aliases
 * header: what `vessel image import FILE` sends) or as JSON naming a
 * source on the server: {"source":{"type":"oci","path":"/abs/dir-or-file"}}
 * (root callers only: the daemon reads the path with its own rights) or
 * {"source":{"type":"builtin","name":"busybox"}}.  Either way a directory
 * or archive with a metadata.json (and no oci-layout) is a VM image
 * (image_vm.c); "type":"vm" names one explicitly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_internal.h"
#include "fsutil.h"
#include "vessel/core/cleanup.h"

void api_get_images(struct api_request *req, struct api_response *res)
{
	struct mgr_image *list;
	size_t n;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_image_list(mgr_get_images(req->m), &list, &n, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	bool full = api_recursion(req);
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		if (full) {
			json_object_array_add(a, mgr_image_to_json(&list[i]));
		} else {
			char url[96];
			snprintf(url, sizeof(url), "/1.0/images/%s", list[i].fingerprint);
			json_object_array_add(a, json_object_new_string(url));
		}
	}
	mgr_image_list_free(list, n);
	api_sync(res, a);
}

void api_get_image(struct api_request *req, struct api_response *res)
{
	struct mgr_image img;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_image_get(mgr_get_images(req->m), req->params[0], &img, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, mgr_image_to_json(&img));
	mgr_image_free(&img);
}

void api_delete_image(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	if (mgr_image_delete(mgr_get_images(req->m), req->params[0], &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, json_object_new_object());
}

void api_post_image_aliases(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "name", "target", "description", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *name = NULL, *target = NULL, *desc = NULL;
	if (api_json_keys(req->body, "request", keys, &err) < 0 ||
	    api_json_string(req->body, "name", &name, &err) < 0 ||
	    api_json_string(req->body, "target", &target, &err) < 0 ||
	    api_json_string(req->body, "description", &desc, &err) < 0)
		goto bad;
	if (!name || !target) {
		vs_errf(&err, EINVAL, "\"name\" and \"target\" are required");
		goto bad;
	}
	if (mgr_image_alias_add(mgr_get_images(req->m), name, target, &err) < 0)
		goto bad;
	api_sync(res, json_object_new_object());
	return;
bad:
	api_error_from(res, &err);
}

void api_delete_image_alias(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	if (mgr_image_alias_delete(mgr_get_images(req->m), req->params[0], &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, json_object_new_object());
}

struct import_job {
	struct mgr *m;
	char *path;    /* file or directory to import */
	char *own_dir; /* removed afterwards (uploads), or NULL */
	char *alias;
	bool builtin;
	struct mgr_op *op;
};

static void import_job_free(void *p)
{
	struct import_job *j = p;
	if (j->own_dir) {
		struct vs_err e = VS_ERR_INIT;
		mgr_rm_rf(j->own_dir, &e);
	}
	free(j->own_dir);
	free(j->path);
	free(j->alias);
	free(j);
}

static bool import_cancelled(void *opaque)
{
	return mgr_op_cancelled(((struct import_job *)opaque)->op);
}

static void import_progress(void *opaque, const char *stage, unsigned pct)
{
	struct import_job *j = opaque;
	struct json_object *md = json_object_new_object();
	json_object_object_add(md, "stage", json_object_new_string(stage));
	json_object_object_add(md, "progress", json_object_new_int((int)pct));
	mgr_op_set_metadata(j->op, md);
}

static int import_run(struct mgr_op *op, void *arg, struct vs_err *err)
{
	struct import_job *j = arg;
	j->op = op;
	char fp[65];
	struct mgr_import_ctl ctl = { import_cancelled, import_progress, j };
	int r = j->builtin
		    ? mgr_image_import_busybox(mgr_get_images(j->m), j->path, j->alias, fp, err)
		: mgr_image_is_vm_source(j->path)
		    ? mgr_image_import_vm(mgr_get_images(j->m), j->path, j->alias, &ctl, fp, err)
		    : mgr_image_import_oci(mgr_get_images(j->m), j->path, j->alias, &ctl, fp, err);
	if (r < 0)
		return r;
	struct json_object *md = json_object_new_object();
	json_object_object_add(md, "fingerprint", json_object_new_string(fp));
	mgr_op_set_metadata(op, md);
	return 0;
}

void api_post_images(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "source", "aliases", NULL };
	static const char *const src_keys[] = { "type", "path", "name", NULL };
	struct vs_err err = VS_ERR_INIT;
	struct import_job *j = calloc(1, sizeof(*j));
	if (!j) {
		api_error(res, 500, "out of memory");
		return;
	}
	j->m = req->m;
	const char *alias = NULL;
	if (req->upload_path) {
		alias = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Vessel-Aliases");
		/* the upload belongs to the request: move it to the operation */
		j->own_dir = mgr_image_tmpdir(mgr_get_images(req->m), &err);
		if (!j->own_dir || asprintf(&j->path, "%s/image", j->own_dir) < 0) {
			j->path = NULL;
			goto bad;
		}
		if (rename(req->upload_path, j->path) < 0) {
			vs_syserrf(&err, errno, "keep the upload");
			goto bad;
		}
	} else {
		struct json_object *src = NULL, *aliases = NULL;
		const char *type = NULL, *path = NULL, *name = NULL;
		if (api_json_keys(req->body, "request", keys, &err) < 0)
			goto bad;
		if (!json_object_object_get_ex(req->body, "source", &src) ||
		    api_json_keys(src, "source", src_keys, &err) < 0 ||
		    api_json_string(src, "type", &type, &err) < 0 ||
		    api_json_string(src, "path", &path, &err) < 0 ||
		    api_json_string(src, "name", &name, &err) < 0) {
			if (!err.code)
				vs_errf(&err, EINVAL, "\"source\" is required");
			goto bad;
		}
		if (json_object_object_get_ex(req->body, "aliases", &aliases)) {
			struct json_object *a0, *n0;
			if (!json_object_is_type(aliases, json_type_array) ||
			    json_object_array_length(aliases) > 1) {
				vs_errf(&err, EINVAL, "\"aliases\": expected at most one alias");
				goto bad;
			}
			if (json_object_array_length(aliases) == 1) {
				a0 = json_object_array_get_idx(aliases, 0);
				static const char *const akeys[] = { "name", "description", NULL };
				if (api_json_keys(a0, "aliases[0]", akeys, &err) < 0)
					goto bad;
				if (!json_object_object_get_ex(a0, "name", &n0) ||
				    !json_object_is_type(n0, json_type_string)) {
					vs_errf(&err, EINVAL, "aliases[0].name: expected a string");
					goto bad;
				}
				alias = json_object_get_string(n0);
			}
		}
		if (type && (strcmp(type, "oci") == 0 || strcmp(type, "vm") == 0)) {
			if (req->uid != 0) {
				vs_errf(&err, EPERM,
					"importing a server path needs root; upload "
					"the archive instead");
				goto bad;
			}
			if (!path || path[0] != '/') {
				vs_errf(&err, EINVAL, "source.path: expected an absolute path");
				goto bad;
			}
			if (access(path, R_OK) < 0) {
				vs_syserrf(&err, errno, "%s", path);
				goto bad;
			}
			j->path = strdup(path);
		} else if (type && strcmp(type, "builtin") == 0) {
			if (!name || strcmp(name, "busybox") != 0) {
				vs_errf(&err, EINVAL, "source.name: the built-in image is busybox");
				goto bad;
			}
			j->builtin = true;
			j->path = strdup("/bin/busybox");
			if (!alias)
				alias = "busybox";
		} else {
			vs_errf(&err, EINVAL, "source.type: expected oci, vm or builtin");
			goto bad;
		}
		if (!j->path) {
			vs_errf(&err, ENOMEM, "out of memory");
			goto bad;
		}
	}
	if (alias && (mgr_image_alias_validate(alias, &err) < 0 || !(j->alias = strdup(alias)))) {
		if (!err.code)
			vs_errf(&err, ENOMEM, "out of memory");
		goto bad;
	}
	struct mgr_op *op = mgr_op_start(mgr_get_ops(req->m), "Importing image", NULL, true,
					 import_run, j, import_job_free, &err);
	if (!op) {
		api_error_from(res, &err);
		return;
	}
	api_async(res, op);
	mgr_op_put(op);
	return;
bad:
	import_job_free(j);
	api_error_from(res, &err);
}
