/*
 * instance_db.c - instance rows: `instances` (one row each) and
 * `instance_config` (one row per key, deleted with the instance by its
 * foreign key).  Multi-statement changes run in one transaction; a unique
 * name is the database's job (EEXIST "instance NAME already exists").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/mgr/instance.h"

static void copy_col(char *dst, size_t len, struct mgr_stmt *st, int col)
{
	const char *s = mgr_stmt_column_text(st, col);
	size_t n = s ? (size_t)mgr_stmt_column_bytes(st, col) : 0;
	if (n > len - 1)
		n = len - 1; /* truncated, as snprintf did */
	if (n)
		memcpy(dst, s, n);
	dst[n] = 0;
}

static enum mgr_power power_from_db(const char *s)
{
	if (strcmp(s, "running") == 0)
		return MGR_POWER_RUNNING;
	if (strcmp(s, "frozen") == 0)
		return MGR_POWER_FROZEN;
	return MGR_POWER_STOPPED;
}

#define INSTANCE_COLS                                                                    \
	"i.id, i.name, i.type, COALESCE(i.image_id, 0), COALESCE(img.fingerprint, ''), " \
	"i.runtime_id, i.power_state, i.created_at, i.last_used_at "                     \
	"FROM instances i LEFT JOIN images img ON img.id = i.image_id "

static void row_to_instance(struct mgr_stmt *st, struct mgr_instance *inst)
{
	memset(inst, 0, sizeof(*inst));
	inst->id = mgr_stmt_column_int64(st, 0);
	copy_col(inst->name, sizeof(inst->name), st, 1);
	const char *type = mgr_stmt_column_text(st, 2);
	inst->type = type && strcmp((const char *)type, "vm") == 0 ? MGR_INSTANCE_VM
								   : MGR_INSTANCE_CONTAINER;
	inst->image_id = mgr_stmt_column_int64(st, 3);
	copy_col(inst->image_fingerprint, sizeof(inst->image_fingerprint), st, 4);
	copy_col(inst->runtime_id, sizeof(inst->runtime_id), st, 5);
	char power[16];
	copy_col(power, sizeof(power), st, 6);
	inst->power = power_from_db(power);
	copy_col(inst->created_at, sizeof(inst->created_at), st, 7);
	copy_col(inst->last_used_at, sizeof(inst->last_used_at), st, 8);
}

/* Holding the lock: load the config rows of inst. */
static int load_config(struct mgr_db *db, struct mgr_instance *inst, struct vs_err *err)
{
	mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
	    db, "SELECT key, value FROM instance_config WHERE instance_id = ? ORDER BY key", err);
	if (!st)
		return -err->code;
	mgr_stmt_bind_int64(st, 1, inst->id);
	int rc;
	while ((rc = mgr_stmt_step(st)) == SQLITE_ROW) {
		int r = mgr_instance_config_set(inst, mgr_stmt_column_text(st, 0),
						mgr_stmt_column_text(st, 1), err);
		if (r < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return mgr_db_err(db, rc, "read instance config", err);
	return 0;
}

static int by_id(const void *a, const void *b)
{
	const struct mgr_instance *x = *(struct mgr_instance *const *)a;
	const struct mgr_instance *y = *(struct mgr_instance *const *)b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Holding the lock: the config of every instance in v with one query
 * (a list of 1,000 instances is one statement, not 1,000). */
static int load_all_config(struct mgr_db *db, struct mgr_instance *v, size_t n, struct vs_err *err)
{
	struct mgr_instance **idx = malloc(n * sizeof(*idx));
	if (!idx)
		return vs_errf(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		idx[i] = &v[i];
	qsort(idx, n, sizeof(*idx), by_id);
	int r = 0;
	{
		mgr_cleanup_cached_stmt struct mgr_stmt *st = mgr_db_prepare_cached(
		    db,
		    "SELECT instance_id, key, value FROM instance_config ORDER BY instance_id, key",
		    err);
		if (!st) {
			r = -err->code;
		} else {
			int rc;
			while (r == 0 && (rc = mgr_stmt_step(st)) == SQLITE_ROW) {
				struct mgr_instance key = { .id = mgr_stmt_column_int64(st, 0) };
				struct mgr_instance *kp = &key;
				struct mgr_instance **hit =
				    bsearch(&kp, idx, n, sizeof(*idx), by_id);
				if (hit)
					r = mgr_instance_config_set(
					    *hit, mgr_stmt_column_text(st, 1),
					    mgr_stmt_column_text(st, 2), err);
			}
			if (r == 0 && rc != SQLITE_DONE)
				r = mgr_db_err(db, rc, "read instance config", err);
		}
	}
	free(idx);
	return r;
}

static int insert_config(struct mgr_db *db, const struct mgr_instance *inst, struct vs_err *err)
{
	mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
	    db, "INSERT INTO instance_config (instance_id, key, value) VALUES (?, ?, ?)", err);
	if (!st)
		return -err->code;
	for (size_t i = 0; i < inst->nconfig; i++) {
		mgr_stmt_reset(st);
		mgr_stmt_bind_int64(st, 1, inst->id);
		mgr_stmt_bind_text(st, 2, inst->config[i].key);
		mgr_stmt_bind_text(st, 3, inst->config[i].value);
		int rc = mgr_stmt_step(st);
		if (rc != SQLITE_DONE)
			return mgr_db_err(db, rc, "insert instance config", err);
	}
	return 0;
}

static int end_tx(struct mgr_db *db, int r, struct vs_err *err)
{
	if (r == 0)
		r = mgr_db_commit(db, err);
	if (r < 0)
		mgr_db_rollback(db);
	mgr_db_unlock(db);
	return r;
}

int mgr_instance_db_insert(struct mgr_db *db, struct mgr_instance *inst, struct vs_err *err)
{
	mgr_db_lock(db);
	int r = mgr_db_begin(db, err);
	if (r < 0) {
		mgr_db_unlock(db);
		return r;
	}
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db,
				   "INSERT INTO instances (name, type, image_id, runtime_id, "
				   "power_state, created_at) VALUES (?, ?, ?, ?, 'stopped', ?)",
				   err);
		if (!st)
			return end_tx(db, -err->code, err);
		mgr_stmt_bind_text(st, 1, inst->name);
		mgr_stmt_bind_text(st, 2, inst->type == MGR_INSTANCE_VM ? "vm" : "container");
		if (inst->image_id)
			mgr_stmt_bind_int64(st, 3, inst->image_id);
		else
			mgr_stmt_bind_null(st, 3);
		mgr_stmt_bind_text(st, 4, inst->runtime_id);
		mgr_stmt_bind_text(st, 5, inst->created_at);
		int rc = mgr_stmt_step(st);
		if (rc != SQLITE_DONE) {
			if ((rc & 0xff) == SQLITE_CONSTRAINT)
				r = vs_errf(err, EEXIST, "instance %s already exists", inst->name);
			else
				r = mgr_db_err(db, rc, "insert instance", err);
			return end_tx(db, r, err);
		}
		inst->id = mgr_db_last_insert_id(db);
	}
	r = insert_config(db, inst, err);
	return end_tx(db, r, err);
}

int mgr_instance_db_get(struct mgr_db *db, const char *name, struct mgr_instance *inst,
			struct vs_err *err)
{
	mgr_db_lock(db);
	int r = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db, "SELECT " INSTANCE_COLS "WHERE i.name = ?", err);
		if (!st) {
			r = -err->code;
			goto out;
		}
		mgr_stmt_bind_text(st, 1, name);
		int rc = mgr_stmt_step(st);
		if (rc == SQLITE_DONE) {
			r = vs_errf(err, ENOENT, "instance %.80s not found", name);
			goto out;
		}
		if (rc != SQLITE_ROW) {
			r = mgr_db_err(db, rc, "read instance", err);
			goto out;
		}
		row_to_instance(st, inst);
	}
	r = load_config(db, inst, err);
	if (r < 0)
		mgr_instance_free(inst);
out:
	mgr_db_unlock(db);
	return r;
}

int mgr_instance_db_list(struct mgr_db *db, struct mgr_instance **list, size_t *n,
			 struct vs_err *err)
{
	*list = NULL;
	*n = 0;
	mgr_db_lock(db);
	struct mgr_instance *v = NULL;
	size_t cnt = 0, cap = 0;
	int r = 0;
	{
		mgr_cleanup_cached_stmt struct mgr_stmt *st =
		    mgr_db_prepare_cached(db, "SELECT " INSTANCE_COLS "ORDER BY i.name", err);
		if (!st) {
			r = -err->code;
			goto out;
		}
		int rc;
		while ((rc = mgr_stmt_step(st)) == SQLITE_ROW) {
			if (cnt == cap) {
				cap = cap ? cap * 2 : 16;
				struct mgr_instance *nv = realloc(v, cap * sizeof(*v));
				if (!nv) {
					r = vs_errf(err, ENOMEM, "out of memory");
					goto out;
				}
				v = nv;
			}
			row_to_instance(st, &v[cnt++]);
		}
		if (rc != SQLITE_DONE) {
			r = mgr_db_err(db, rc, "list instances", err);
			goto out;
		}
	}
	if (r == 0 && cnt)
		r = load_all_config(db, v, cnt, err);
out:
	mgr_db_unlock(db);
	if (r < 0) {
		mgr_instance_list_free(v, cnt);
		return r;
	}
	*list = v;
	*n = cnt;
	return 0;
}

int mgr_instance_db_set_power(struct mgr_db *db, int64_t id, enum mgr_power p, bool used,
			      struct vs_err *err)
{
	char now[32];
	mgr_timestamp(now, sizeof(now));
	mgr_db_lock(db);
	int r = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    db,
		    used ? "UPDATE instances SET power_state = ?, last_used_at = ? WHERE id = ?"
			 : "UPDATE instances SET power_state = ? WHERE id = ? OR id = ?",
		    err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_text(st, 1, mgr_power_db_name(p));
			if (used)
				mgr_stmt_bind_text(st, 2, now);
			else
				mgr_stmt_bind_int64(st, 2, id);
			mgr_stmt_bind_int64(st, 3, id);
			int rc = mgr_stmt_step(st);
			if (rc != SQLITE_DONE)
				r = mgr_db_err(db, rc, "update instance state", err);
		}
	}
	mgr_db_unlock(db);
	return r;
}

int mgr_instance_db_set_config(struct mgr_db *db, const struct mgr_instance *inst,
			       struct vs_err *err)
{
	mgr_db_lock(db);
	int r = mgr_db_begin(db, err);
	if (r < 0) {
		mgr_db_unlock(db);
		return r;
	}
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db, "DELETE FROM instance_config WHERE instance_id = ?", err);
		if (!st)
			return end_tx(db, -err->code, err);
		mgr_stmt_bind_int64(st, 1, inst->id);
		int rc = mgr_stmt_step(st);
		if (rc != SQLITE_DONE)
			return end_tx(db, mgr_db_err(db, rc, "clear instance config", err), err);
	}
	r = insert_config(db, inst, err);
	return end_tx(db, r, err);
}

/* One UPDATE/DELETE by id that must touch exactly one row. */
static int exec_one(struct mgr_db *db, const char *sql, const char *text, int64_t id,
		    const char *what, struct vs_err *err)
{
	mgr_db_lock(db);
	int r = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(db, sql, err);
		if (!st) {
			r = -err->code;
			goto out;
		}
		int i = 1;
		if (text)
			mgr_stmt_bind_text(st, i++, text);
		mgr_stmt_bind_int64(st, i, id);
		int rc = mgr_stmt_step(st);
		if (rc != SQLITE_DONE) {
			if ((rc & 0xff) == SQLITE_CONSTRAINT && text)
				r = vs_errf(err, EEXIST, "instance %s already exists", text);
			else
				r = mgr_db_err(db, rc, what, err);
		} else if (mgr_db_changes(db) != 1) {
			r = vs_errf(err, ENOENT, "%s: instance not found", what);
		}
	}
out:
	mgr_db_unlock(db);
	return r;
}

int mgr_instance_db_rename(struct mgr_db *db, int64_t id, const char *name, struct vs_err *err)
{
	return exec_one(db, "UPDATE instances SET name = ? WHERE id = ?", name, id,
			"rename instance", err);
}

int mgr_instance_db_delete(struct mgr_db *db, int64_t id, struct vs_err *err)
{
	return exec_one(db, "DELETE FROM instances WHERE id = ?", NULL, id, "delete instance", err);
}
