/*
 * migrate.c - PUT /migrate and GET /migrate of the control API
 * (docs/api/vessel-vmm.yaml, docs/migration.md).
 *
 * PUT starts the migration on its own thread and answers 202 at once, so
 * GET /migrate can report progress while it runs (the API serves each
 * connection on its own thread).  One migration at a time: a second PUT
 * while one is active is a 409; after a failure the VM runs on and a new
 * migration may be started.  Under --sandbox a tcp: destination is
 * checked against the connect broker's allow-list first (400 with the list)
 * and connected by the broker.
 */
#include <errno.h>
#include <string.h>

#include "vessel/vm/broker.h"
#include "vessel/vm/migrate.h"

#include "api_internal.h"

static pthread_mutex_t mig_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vm_migration *mig_current; /* the last one started */

int api_migrate_parse(struct api_request *req, struct vs_err *err)
{
	static const char *const keys[] = { "uri", "disks", NULL };
	int r = api_body_only_keys(req->body, keys, err);
	if (r < 0 || (r = api_body_string(req->body, "uri", &req->u.snapshot.path, err)) < 0)
		return r;
	struct json_object *v;
	if (json_object_object_get_ex(req->body, "disks", &v)) {
		const char *d =
		    json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
		req->u.snapshot.copy_disks = strcmp(d, "copy") == 0;
		if (strcmp(d, "shared") != 0 && strcmp(d, "copy") != 0)
			return vs_errf(err, EINVAL, "field 'disks' must be \"shared\" or \"copy\"");
	}
	if (strncmp(req->u.snapshot.path, "unix:", 5) != 0 &&
	    strncmp(req->u.snapshot.path, "tcp:", 4) != 0)
		return vs_errf(err, EINVAL, "uri %s: expected unix:PATH or tcp:HOST:PORT",
			       req->u.snapshot.path);
	return 0;
}

static const char *state_name(enum vm_migration_state s)
{
	switch (s) {
	case VM_MIGRATION_ACTIVE: return "active";
	case VM_MIGRATION_COMPLETED: return "completed";
	case VM_MIGRATION_FAILED: return "failed";
	default: return "none";
	}
}

static struct json_object *status_json(void)
{
	struct vm_migration_status st = { 0 };
	if (mig_current)
		vm_migration_status(mig_current, &st);
	struct json_object *j = json_object_new_object();
	json_object_object_add(j, "state", json_object_new_string(state_name(st.state)));
	json_object_object_add(j, "rounds", json_object_new_int((int)st.rounds));
	json_object_object_add(j, "pages_sent", json_object_new_int64((int64_t)st.pages_sent));
	json_object_object_add(j, "bytes_sent", json_object_new_int64((int64_t)st.bytes_sent));
	json_object_object_add(j, "dirty_pages", json_object_new_int64((int64_t)st.dirty_pages));
	json_object_object_add(j, "disk_bytes_sent",
			       json_object_new_int64((int64_t)st.disk_bytes_sent));
	json_object_object_add(j, "throttle_percent", json_object_new_int((int)st.throttle_pct));
	bool done = st.state == VM_MIGRATION_COMPLETED || st.state == VM_MIGRATION_FAILED;
	json_object_object_add(j, "total_ms", done ? json_object_new_double(st.total_ms) : NULL);
	json_object_object_add(
	    j, "downtime_ms",
	    st.state == VM_MIGRATION_COMPLETED ? json_object_new_double(st.downtime_ms) : NULL);
	json_object_object_add(
	    j, "error", st.state == VM_MIGRATION_FAILED ? json_object_new_string(st.error) : NULL);
	return j;
}

void api_migrate_start(struct vm_api *api, struct api_request *req, struct api_response *resp)
{
	struct vs_err err = VS_ERR_INIT;
	const char *uri = req->u.snapshot.path;
	if (api->cfg.confined && strncmp(uri, "tcp:", 4) == 0) {
		if (!api->cfg.broker) {
			api_respond_error(resp, 400,
					  "%s: under --sandbox the VMM has no network (empty "
					  "namespace): start it with --sandbox-connect (a connect "
					  "broker) or migrate over unix:PATH inside --snapshot-dir",
					  uri);
			return;
		}
		if (vm_broker_check(api->cfg.broker, uri, &err) < 0) {
			api_respond_error(resp, 400, "%s", err.msg);
			return;
		}
	}
	if (strncmp(uri, "unix:", 5) == 0 && !api_path_allowed(api, uri + 5, resp))
		return;
	pthread_mutex_lock(&mig_lock);
	if (mig_current) {
		struct vm_migration_status st;
		vm_migration_status(mig_current, &st);
		if (st.state == VM_MIGRATION_ACTIVE) {
			pthread_mutex_unlock(&mig_lock);
			api_respond_error(resp, 409, "a migration is already running");
			return;
		}
		vm_migration_free(mig_current);
		mig_current = NULL;
	}
	mig_current =
	    vm_migration_start_via(api->board, req->u.snapshot.path, req->u.snapshot.copy_disks,
				   api->cfg.confined ? api->cfg.broker : NULL, &err);
	if (!mig_current) {
		pthread_mutex_unlock(&mig_lock);
		api_respond_error(resp, 400, "%s", err.msg);
		return;
	}
	struct json_object *j = status_json();
	pthread_mutex_unlock(&mig_lock);
	api_respond_json(resp, 202, j);
}

void api_migrate_get(struct vm_api *api, struct api_request *req, struct api_response *resp)
{
	pthread_mutex_lock(&mig_lock);
	struct json_object *j = status_json();
	pthread_mutex_unlock(&mig_lock);
	api_respond_json(resp, 200, j);
}

void api_migrate_cleanup(void)
{
	pthread_mutex_lock(&mig_lock);
	vm_migration_free(mig_current);
	mig_current = NULL;
	pthread_mutex_unlock(&mig_lock);
}
