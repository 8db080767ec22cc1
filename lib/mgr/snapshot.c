/*
 * snapshot.c - instance snapshots (mgr.h): the rows in instance_snapshots
 * and the driver's copy of the instance's storage.  Row and copy are
 * ordered like everything else the manager makes: create copies first and
 * records after (a crash leaves an unrecorded copy, which the next create
 * of that name replaces, and which goes with the instance); delete removes
 * the row first and the copy after.  Restore runs with the instance
 * stopped, and starts it again when it was running.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgr_internal.h"
#include "vessel/core/log.h"

/* Holding nothing: the id of snapshot SNAP of instance id (0 if none). */
static int64_t snapshot_id(struct mgr *m, int64_t instance_id, const char *snap, struct vs_err *err)
{
	int64_t id = 0;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db, "SELECT id FROM instance_snapshots WHERE instance_id = ? AND name = ?",
		    err);
		if (!st) {
			id = -1;
		} else {
			mgr_stmt_bind_int64(st, 1, instance_id);
			mgr_stmt_bind_text(st, 2, snap);
			if (mgr_stmt_step(st) == SQLITE_ROW)
				id = mgr_stmt_column_int64(st, 0);
		}
	}
	mgr_db_unlock(m->db);
	return id;
}

int mgr_snapshot_check(struct mgr *m, const char *name, const char *snap, bool want_exists,
		       struct vs_err *err)
{
	int r = mgr_name_validate(snap, err);
	if (r < 0)
		return vs_err_prefix(err, "snapshot");
	struct mgr_instance inst;
	if ((r = mgr_instance_db_get(m->db, name, &inst, err)) < 0)
		return r;
	int64_t id = snapshot_id(m, inst.id, snap, err);
	if (id < 0)
		r = -err->code;
	else if (want_exists && !id)
		r = vs_errf(err, ENOENT, "snapshot %s of %s not found", snap, inst.name);
	else if (!want_exists && id)
		r = vs_errf(err, EEXIST, "snapshot %s of %s already exists", snap, inst.name);
	mgr_instance_free(&inst);
	return r;
}

int mgr_snapshot_create(struct mgr *m, const char *name, const char *snap, struct vs_err *err)
{
	return mgr_snapshot_create_stateful(m, name, snap, false, err);
}

int mgr_snapshot_create_stateful(struct mgr *m, const char *name, const char *snap, bool stateful,
				 struct vs_err *err)
{
	int r = mgr_name_validate(snap, err);
	if (r < 0)
		return vs_err_prefix(err, "snapshot");
	struct mgr_instance inst;
	if ((r = mgr_get_busy(m, name, &inst, err)) < 0)
		return r;
	const struct mgr_driver *d = mgr_driver_for(inst.type, err);
	int64_t id = snapshot_id(m, inst.id, snap, err);
	if (!d || id < 0)
		r = -err->code;
	else if (id)
		r = vs_errf(err, EEXIST, "snapshot %s of %s already exists", snap, inst.name);
	if (r == 0 && stateful) {
		enum mgr_power p = MGR_POWER_STOPPED;
		pid_t pid;
		if (!d->snapshot_stateful)
			r = vs_errf(err, ENOTSUP, "stateful snapshots of a %s are not supported",
				    mgr_instance_type_name(inst.type));
		else if ((r = d->state(m, &inst, &p, &pid, err)) == 0 && p != MGR_POWER_RUNNING)
			r = vs_errf(err, EINVAL,
				    "instance %s is %s: a stateful snapshot needs it running",
				    inst.name, mgr_power_status(p));
	}
	if (r == 0)
		r = d->snapshot_create(m, &inst, snap, err);
	if (r == 0 && stateful && (r = d->snapshot_stateful(m, &inst, snap, err)) < 0) {
		struct vs_err e2 = VS_ERR_INIT;
		d->snapshot_delete(m, &inst, snap, &e2);
	}
	if (r == 0) {
		char now[32];
		mgr_timestamp(now, sizeof(now));
		mgr_db_lock(m->db);
		{
			mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
			    m->db,
			    "INSERT INTO instance_snapshots (instance_id, name, created_at) "
			    "VALUES (?, ?, ?)",
			    err);
			if (!st) {
				r = -err->code;
			} else {
				mgr_stmt_bind_int64(st, 1, inst.id);
				mgr_stmt_bind_text(st, 2, snap);
				mgr_stmt_bind_text(st, 3, now);
				int rc = mgr_stmt_step(st);
				if (rc != SQLITE_DONE)
					r = mgr_db_err(m->db, rc, "insert snapshot", err);
			}
		}
		mgr_db_unlock(m->db);
		if (r < 0) {
			struct vs_err e2 = VS_ERR_INIT;
			d->snapshot_delete(m, &inst, snap, &e2);
		}
	}
	if (r == 0)
		mgr_emit_lifecycle(m, "instance-snapshot-created", inst.name);
	mgr_busy_release(m, inst.id);
	mgr_instance_free(&inst);
	return r;
}

int mgr_snapshot_restore(struct mgr *m, const char *name, const char *snap, struct vs_err *err)
{
	struct mgr_instance inst;
	int r = mgr_get_busy(m, name, &inst, err);
	if (r < 0)
		return r;
	const struct mgr_driver *d = mgr_driver_for(inst.type, err);
	int64_t id = snapshot_id(m, inst.id, snap, err);
	enum mgr_power p = MGR_POWER_STOPPED;
	pid_t pid;
	if (!d || id < 0)
		r = -err->code;
	else if (!id)
		r = vs_errf(err, ENOENT, "snapshot %s of %s not found", snap, inst.name);
	if (r == 0)
		r = d->state(m, &inst, &p, &pid, err);
	if (r == 0 && p != MGR_POWER_STOPPED) {
		r = d->stop(m, &inst, false, 30, err);
		if (r == 0)
			r = mgr_instance_db_set_power(m->db, inst.id, MGR_POWER_STOPPED, false,
						      err);
	}
	if (r == 0)
		r = d->snapshot_restore(m, &inst, snap, err);
	if (r == 0 && p != MGR_POWER_STOPPED) {
		struct mgr_image img = { 0 };
		r = inst.image_id ? mgr_image_get_by_id(&m->images, inst.image_id, &img, err) : 0;
		if (r == 0)
			r = d->start(m, &inst, inst.image_id ? &img : NULL, err);
		mgr_image_free(&img);
		if (r == 0)
			r = mgr_instance_db_set_power(m->db, inst.id, MGR_POWER_RUNNING, true, err);
	}
	if (r == 0) { /* a restored snapshot is a used one (sprawl.c) */
		mgr_db_lock(m->db);
		{
			mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
			    m->db,
			    "INSERT OR REPLACE INTO snapshot_restores (snapshot_id, restored_at) "
			    "VALUES (?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
			    NULL);
			if (st) {
				mgr_stmt_bind_int64(st, 1, id);
				mgr_stmt_step(st);
			}
		}
		mgr_db_unlock(m->db);
		mgr_emit_lifecycle(m, "instance-restored", inst.name);
	}
	mgr_busy_release(m, inst.id);
	mgr_instance_free(&inst);
	return r;
}

int mgr_snapshot_delete(struct mgr *m, const char *name, const char *snap, struct vs_err *err)
{
	struct mgr_instance inst;
	int r = mgr_get_busy(m, name, &inst, err);
	if (r < 0)
		return r;
	const struct mgr_driver *d = mgr_driver_for(inst.type, err);
	int64_t id = snapshot_id(m, inst.id, snap, err);
	if (!d || id < 0)
		r = -err->code;
	else if (!id)
		r = vs_errf(err, ENOENT, "snapshot %s of %s not found", snap, inst.name);
	if (r == 0) {
		char sql[96];
		snprintf(sql, sizeof(sql), "DELETE FROM instance_snapshots WHERE id = %lld",
			 (long long)id);
		mgr_db_lock(m->db);
		r = mgr_db_exec(m->db, sql, err);
		mgr_db_unlock(m->db);
	}
	if (r == 0)
		r = d->snapshot_delete(m, &inst, snap, err);
	if (r == 0)
		mgr_emit_lifecycle(m, "instance-snapshot-deleted", inst.name);
	mgr_busy_release(m, inst.id);
	mgr_instance_free(&inst);
	return r;
}

int mgr_snapshot_list(struct mgr *m, const char *name, struct json_object **list,
		      struct vs_err *err)
{
	*list = NULL;
	struct mgr_instance inst;
	int r = mgr_instance_db_get(m->db, name, &inst, err);
	if (r < 0)
		return r;
	struct json_object *a = json_object_new_array();
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "SELECT name, created_at FROM instance_snapshots WHERE instance_id = ? "
		    "ORDER BY id",
		    err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_int64(st, 1, inst.id);
			while (mgr_stmt_step(st) == SQLITE_ROW) {
				struct json_object *o = json_object_new_object();
				json_object_object_add(
				    o, "name", json_object_new_string(mgr_stmt_column_text(st, 0)));
				json_object_object_add(
				    o, "created_at",
				    json_object_new_string(mgr_stmt_column_text(st, 1)));
				json_object_array_add(a, o);
			}
		}
	}
	mgr_db_unlock(m->db);
	mgr_instance_free(&inst);
	if (r < 0) {
		json_object_put(a);
		return r;
	}
	*list = a;
	return 0;
}
