/*
 * api_migrate.c - a running VM moved live between hosts (migrate.h):
 *
 *   GET  /1.0/instances/NAME/migrate      with "Upgrade: vessel-migrate": the
 *        source side; the connection becomes the VMM's migration stream
 *        (its disks copied).  Without the upgrade: the last live move of
 *        NAME through this vesseld ({"state", "downtime_ms", "total_ms",
 *        "bytes", "disk_bytes", "error"}), kept after the instance is gone
 *   POST /1.0/instances/NAME/migrate-in   with "Upgrade: vessel-migrate"
 *        and X-Vessel-Instance: {"image", "config", "devices", "volumes"} (JSON on one
 *        line): the destination side; the instance NAME is created and its
 *        incoming VMM started before the 101, so a refusal is an ordinary
 *        error envelope; then the stream feeds that VMM
 *
 * The client (`vessel move`) joins the two connections, each authenticated
 * as any request to that vesseld (its socket's permissions, or TLS with a
 * trusted client certificate), so a live move needs the same trust as
 * `vessel copy`.  After the upgrade each side runs on a detached thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api_internal.h"
#include "vessel/core/log.h"
#include "vessel/mgr/migrate.h"

#define PROTOCOL "vessel-migrate"

struct mig_ctx {
	struct mgr *m;
	char name[MGR_NAME_MAX + 1];
	struct mgr_migrate_in *in; /* destination; NULL: source */
	int refs;		   /* the request's context and the upgrade */
	MHD_socket sock;
	struct MHD_UpgradeResponseHandle *urh;
	char *extra;
	size_t extra_len;
};

static void ctx_drop(struct mig_ctx *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		mgr_migrate_in_abort(c->in); /* the upgrade never ran */
		free(c->extra);
		free(c);
	}
}

static void *mig_run(void *arg)
{
	struct mig_ctx *c = arg;
	struct vs_err err = VS_ERR_INIT;
	struct mgr_migrate_in *in = c->in;
	c->in = NULL;
	if (in)
		mgr_migrate_in_run(in, c->sock, c->extra, c->extra_len, &err);
	else
		mgr_migrate_out(c->m, c->name, c->sock, c->extra, c->extra_len, &err);
	if (c->urh)
		MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
	else
		close(c->sock); /* a TLS connection (api_upgrade.c) */
	ctx_drop(c);
	return NULL;
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
		       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	(void)conn;
	(void)req_cls;
	struct mig_ctx *c = cls;
	c->sock = sock;
	c->urh = urh;
	if (extra_in_size && (c->extra = malloc(extra_in_size))) {
		memcpy(c->extra, extra_in, extra_in_size);
		c->extra_len = extra_in_size;
	}
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if ((!extra_in_size || c->extra) && pthread_create(&t, &attr, mig_run, c) == 0) {
		pthread_attr_destroy(&attr);
		return;
	}
	pthread_attr_destroy(&attr);
	vs_log(VS_LOG_WARN, "migration of %s: cannot start its thread", c->name);
	if (urh)
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	else
		close(sock);
	ctx_drop(c);
}

static void ctx_release(void *p)
{
	ctx_drop(p);
}

static bool wants_upgrade(struct MHD_Connection *conn)
{
	const char *up =
	    conn ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upgrade") : NULL;
	return up && strcasecmp(up, PROTOCOL) == 0;
}

static void upgrade(struct api_request *req, struct api_response *res, struct mgr_migrate_in *in)
{
	struct mig_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		mgr_migrate_in_abort(in);
		api_error(res, 500, "out of memory");
		return;
	}
	c->m = req->m;
	c->in = in;
	c->refs = 2;
	snprintf(c->name, sizeof(c->name), "%.63s", req->params[0]);
	res->upgrade = on_upgrade;
	res->upgrade_cls = c;
	res->upgrade_protocol = PROTOCOL;
	res->stream_cls = c;
	res->stream_cls_free = ctx_release;
}

void api_get_instance_migrate(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	if (!wants_upgrade(req->conn)) {
		struct mgr_migrate_result r;
		if (mgr_migrate_result_get(req->params[0], &r) < 0) {
			api_error(res, 404, "no live move of %s through this host", req->params[0]);
			return;
		}
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "state", json_object_new_string(r.state));
		json_object_object_add(o, "downtime_ms", json_object_new_double(r.downtime_ms));
		json_object_object_add(o, "total_ms", json_object_new_double(r.total_ms));
		json_object_object_add(o, "bytes", json_object_new_int64(r.bytes));
		json_object_object_add(o, "disk_bytes", json_object_new_int64(r.disk_bytes));
		json_object_object_add(o, "error",
				       r.error[0] ? json_object_new_string(r.error) : NULL);
		api_sync(res, o);
		return;
	}
	if (mgr_migrate_out_check(req->m, req->params[0], &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	upgrade(req, res, NULL);
}

void api_post_instance_migrate_in(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	if (!wants_upgrade(req->conn)) {
		api_error(res, 400, "expected Connection: Upgrade, Upgrade: " PROTOCOL);
		return;
	}
	const char *hdr =
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Vessel-Instance");
	struct json_object *meta = hdr ? json_tokener_parse(hdr) : NULL;
	if (!meta || !json_object_is_type(meta, json_type_object)) {
		json_object_put(meta);
		api_error(res, 400, "X-Vessel-Instance: expected a JSON object");
		return;
	}
	json_object_object_add(meta, "name", json_object_new_string(req->params[0]));
	struct mgr_migrate_in *in = NULL;
	int r = mgr_migrate_in_prepare(req->m, meta, &in, &err);
	json_object_put(meta);
	if (r < 0) {
		api_error_from(res, &err);
		return;
	}
	upgrade(req, res, in);
}
