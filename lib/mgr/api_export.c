/*
 * api_export.c - an instance as one file over the API (export.h):
 *
 *   GET  /1.0/instances/NAME/export?snapshots=1&stateful=1
 *        the file itself, streamed (chunked): the point-in-time copy is
 *        taken before the response starts, so a refusal is an error
 *        envelope; a failure while streaming ends the response without its
 *        last chunk, which the client sees as an error (and an importer as
 *        a truncated file)
 *   POST /1.0/instances  with Content-Type application/octet-stream
 *        the file as the body (X-Vessel-Name: a new name, optional): an
 *        operation, started when the request arrives, reads the body from a
 *        pipe as it comes in (no copy of the file is stored), verifies it
 *        and creates the instance, with progress ({"stage","bytes",
 *        "member"}) in its metadata
 *
 * The stream is written by a thread of its own into a pipe that
 * libmicrohttpd's content reader drains.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/mgr/export.h"

static int export_write(void *ctx, int fd, struct vs_err *err)
{
	return mgr_export_write(ctx, fd, err);
}

static void export_done(void *ctx)
{
	mgr_export_free(ctx);
}

static bool query_bool(struct api_request *req, const char *key, bool *out, struct vs_err *err)
{
	const char *v = api_query(req, key);
	*out = false;
	if (!v)
		return true;
	if (!strcmp(v, "1") || !strcmp(v, "true"))
		*out = true;
	else if (strcmp(v, "0") && strcmp(v, "false") && strcmp(v, "")) {
		vs_errf(err, EINVAL, "%s=%s: expected true or false", key, v);
		return false;
	}
	return true;
}

void api_get_instance_export(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	struct mgr_export_opts o = { 0 };
	if (!query_bool(req, "snapshots", &o.snapshots, &err) ||
	    !query_bool(req, "stateful", &o.stateful, &err)) {
		api_error_from(res, &err);
		return;
	}
	struct mgr_export *x;
	if (mgr_export_begin(req->m, req->params[0], &o, &x, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	char what[MGR_NAME_MAX + 16];
	snprintf(what, sizeof(what), "export %.63s", req->params[0]);
	api_pipe_response(res, "application/octet-stream", export_write, export_done, x, what);
}

struct import_job {
	struct mgr *m;
	int fd;
	char *name; /* or NULL: the file's */
	struct mgr_op *op;
};

static void import_job_free(void *p)
{
	struct import_job *j = p;
	if (j->fd >= 0)
		close(j->fd);
	free(j->name);
	free(j);
}

static bool import_cancelled(void *opaque)
{
	return mgr_op_cancelled(((struct import_job *)opaque)->op);
}

static void import_progress(void *opaque, uint64_t bytes, const char *member)
{
	struct import_job *j = opaque;
	struct json_object *md = json_object_new_object();
	json_object_object_add(md, "stage", json_object_new_string("verify"));
	json_object_object_add(md, "bytes", json_object_new_int64((int64_t)bytes));
	json_object_object_add(md, "member", json_object_new_string(member));
	mgr_op_set_metadata(j->op, md);
}

static int import_run(struct mgr_op *op, void *arg, struct vs_err *err)
{
	struct import_job *j = arg;
	j->op = op;
	struct mgr_import_ctl_export ctl = { import_cancelled, import_progress, j };
	char name[MGR_NAME_MAX + 1];
	int r = mgr_instance_import(j->m, j->fd, j->name, &ctl, name, err);
	if (r < 0)
		return r;
	struct json_object *md = json_object_new_object();
	json_object_object_add(md, "name", json_object_new_string(name));
	mgr_op_set_metadata(op, md);
	return 0;
}

int api_stream_begin(struct api_request *req, int *wfd, struct mgr_op **op, struct vs_err *err)
{
	*wfd = -1;
	*op = NULL;
	const char *name = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Vessel-Name");
	int r;
	if (name && (r = mgr_name_validate(name, err)) < 0)
		return r;
	struct import_job *j = calloc(1, sizeof(*j));
	if (!j || (name && !(j->name = strdup(name)))) {
		free(j);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	j->m = req->m;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		import_job_free(j);
		return vs_syserrf(err, errno, "pipe");
	}
	j->fd = p[0];
	struct json_object *res = json_object_new_object();
	json_object_object_add(res, "instances", json_object_new_array());
	*op = mgr_op_start(mgr_get_ops(req->m), "Importing instance", res, true, import_run, j,
			   import_job_free, err);
	if (!*op) {
		close(p[1]);
		return -err->code;
	}
	*wfd = p[1];
	return 0;
}
