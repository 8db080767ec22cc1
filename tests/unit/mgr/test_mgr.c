/*
 * test_mgr.c - unit tests of lib/mgr's pieces that need no container: the
 * database (migrations, WAL, foreign keys, refusing a newer schema), the
 * instance rows (unique names, config cascade, rename), name, alias and
 * config-key validation, operations (success, failure, cancel, metadata,
 * events) and the event queue's bound.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "vessel/mgr/db.h"
#include "vessel/mgr/events.h"
#include "vessel/mgr/image.h"
#include "vessel/mgr/instance.h"
#include "vessel/mgr/mgr.h"
#include "vessel/mgr/operation.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vessel-mgr-unit.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vessel.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static int64_t count(struct mgr_db *db, const char *sql)
{
	struct vs_err err = VS_ERR_INIT;
	mgr_db_lock(db);
	struct mgr_stmt *st = mgr_db_prepare(db, sql, &err);
	assert_non_null(st);
	assert_int_equal(mgr_stmt_step(st), SQLITE_ROW);
	int64_t n = mgr_stmt_column_int64(st, 0);
	mgr_stmt_finalize(st);
	mgr_db_unlock(db);
	return n;
}

static void test_db_migrations(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	struct mgr_db *db;
	assert_int_equal(mgr_db_open(path, &db, &err), 0);
	assert_int_equal(mgr_db_schema_version(db, &err), mgr_db_schema_latest());
	assert_int_equal(count(db, "SELECT COUNT(*) FROM schema"), mgr_db_schema_latest());
	/* WAL and foreign keys */
	mgr_db_lock(db);
	struct mgr_stmt *st = mgr_db_prepare(db, "PRAGMA journal_mode", &err);
	assert_int_equal(mgr_stmt_step(st), SQLITE_ROW);
	assert_string_equal(mgr_stmt_column_text(st, 0), "wal");
	mgr_stmt_finalize(st);
	mgr_db_unlock(db);
	assert_int_equal(count(db, "PRAGMA foreign_keys"), 1);
	mgr_db_close(db);
	/* reopening applies nothing twice */
	assert_int_equal(mgr_db_open(path, &db, &err), 0);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM schema"), mgr_db_schema_latest());
	/* a file from a newer vesseld is refused */
	mgr_db_lock(db);
	assert_int_equal(
	    mgr_db_exec(db, "INSERT INTO schema (version, updated_at) VALUES (999, 'x')", &err), 0);
	mgr_db_unlock(db);
	mgr_db_close(db);
	assert_int_equal(mgr_db_open(path, &db, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "newer"));
	assert_null(db);
}

/* A database one migration short of the qcow2 volumes' (whatever its
 * number), with a volume attached to an instance, one with snapshots, both
 * upgraded: every row and reference survives, qcow2 is allowed, the
 * AUTOINCREMENT counters go on, the foreign keys still act. */
static void test_db_qcow2_volumes_upgrade(void **state)
{
	int target = -1;
	for (int i = 0; i < mgr_db_schema_latest(); i++)
		if (strstr(mgr_db_migration(i), "storage_volumes_new"))
			target = i;
	assert_true(target > 0);
	sqlite3 *c;
	assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
	assert_int_equal(sqlite3_exec(c,
				      "PRAGMA foreign_keys = ON;"
				      "CREATE TABLE schema (id INTEGER PRIMARY KEY AUTOINCREMENT,"
				      " version INTEGER NOT NULL UNIQUE, updated_at TEXT NOT NULL)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	for (int i = 0; i < target; i++) {
		char sql[128];
		snprintf(sql, sizeof(sql),
			 "INSERT INTO schema (version, updated_at) VALUES (%d, 'x')", i + 1);
		assert_int_equal(sqlite3_exec(c, mgr_db_migration(i), NULL, NULL, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_exec(c, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	assert_int_equal(
	    sqlite3_exec(
		c,
		"INSERT INTO instances (id, name, type, runtime_id, created_at)"
		" VALUES (7, 'c1', 'container', 'rid1', 'x');"
		"INSERT INTO storage_volumes (id, name, size, created_at) VALUES"
		" (4, 'v1', 8388608, 'x'), (5, 'v2', 16777216, 'x'), (6, 'gone', 1, 'x');"
		"DELETE FROM storage_volumes WHERE name = 'gone';"
		"INSERT INTO instance_volumes (volume_id, instance_id, path)"
		" VALUES (4, 7, '/data');"
		"INSERT INTO volume_snapshots (id, volume_id, name, size, created_at) VALUES"
		" (11, 5, 's1', 16777216, 'x'), (12, 5, 's2', 16777216, 'x'),"
		" (13, 5, 'gone', 1, 'x');"
		"DELETE FROM volume_snapshots WHERE id = 13;",
		NULL, NULL, NULL),
	    SQLITE_OK);
	/* qcow2 is refused before */
	assert_int_not_equal(
	    sqlite3_exec(c,
			 "INSERT INTO storage_volumes (name, format, size, created_at)"
			 " VALUES ('q', 'qcow2', 1, 'x')",
			 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(c);

	struct vs_err err = VS_ERR_INIT;
	struct mgr_db *db;
	assert_int_equal(mgr_db_open(path, &db, &err), 0);
	assert_int_equal(mgr_db_schema_version(db, &err), mgr_db_schema_latest());
	assert_int_equal(count(db, "SELECT COUNT(*) FROM storage_volumes WHERE format = 'raw' AND "
				   "((id = 4 AND name = 'v1') OR (id = 5 AND name = 'v2'))"),
			 2);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM instance_volumes WHERE volume_id = 4 AND "
				   "instance_id = 7 AND path = '/data'"),
			 1);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM volume_snapshots WHERE volume_id = 5"), 2);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%_new'"),
			 0);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
	mgr_db_lock(db);
	/* qcow2 is allowed, anything else still refused; ids go on after the
	 * highest ever given */
	assert_int_equal(mgr_db_exec(db,
				     "INSERT INTO storage_volumes (name, format, size, created_at) "
				     "VALUES ('q', 'qcow2', 8388608, 'x')",
				     &err),
			 0);
	assert_int_not_equal(
	    mgr_db_exec(db,
			"INSERT INTO storage_volumes (name, format, size, created_at) "
			"VALUES ('b', 'vmdk', 8388608, 'x')",
			&err),
	    0);
	mgr_db_unlock(db);
	assert_int_equal(count(db, "SELECT id FROM storage_volumes WHERE name = 'q'"), 7);
	mgr_db_lock(db);
	/* the references still act: an attached volume cannot go, a volume's
	 * snapshots go with it */
	assert_int_not_equal(mgr_db_exec(db, "DELETE FROM storage_volumes WHERE id = 4", &err), 0);
	assert_int_equal(mgr_db_exec(db, "DELETE FROM storage_volumes WHERE id = 5", &err), 0);
	assert_int_equal(mgr_db_exec(db, "DELETE FROM instances WHERE id = 7", &err), 0);
	mgr_db_unlock(db);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM volume_snapshots"), 0);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM instance_volumes"), 0);
	mgr_db_lock(db);
	assert_int_equal(
	    mgr_db_exec(db,
			"INSERT INTO volume_snapshots (volume_id, name, size, created_at) "
			"VALUES (4, 's3', 1, 'x')",
			&err),
	    0);
	mgr_db_unlock(db);
	assert_int_equal(count(db, "SELECT id FROM volume_snapshots WHERE name = 's3'"), 14);
	mgr_db_close(db);
}

static void make(struct mgr_instance *inst, const char *name, const char *rid)
{
	memset(inst, 0, sizeof(*inst));
	snprintf(inst->name, sizeof(inst->name), "%s", name);
	snprintf(inst->runtime_id, sizeof(inst->runtime_id), "%s", rid);
	mgr_timestamp(inst->created_at, sizeof(inst->created_at));
}

static void test_instance_rows(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	struct mgr_db *db;
	assert_int_equal(mgr_db_open(path, &db, &err), 0);
	struct mgr_instance a, b, got;
	make(&a, "a1", "vessel-0000000000000001");
	assert_int_equal(mgr_instance_config_set(&a, "limits.memory", "64MiB", &err), 0);
	assert_int_equal(mgr_instance_config_set(&a, "user.x", "y", &err), 0);
	assert_int_equal(mgr_instance_db_insert(db, &a, &err), 0);
	assert_true(a.id > 0);
	make(&b, "a1", "vessel-0000000000000002");
	assert_int_equal(mgr_instance_db_insert(db, &b, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "already exists"));
	assert_int_equal(count(db, "SELECT COUNT(*) FROM instances"), 1);

	assert_int_equal(mgr_instance_db_get(db, "a1", &got, &err), 0);
	assert_string_equal(mgr_instance_config_get(&got, "limits.memory"), "64MiB");
	assert_string_equal(got.runtime_id, "vessel-0000000000000001");
	assert_int_equal(got.power, MGR_POWER_STOPPED);
	mgr_instance_free(&got);

	assert_int_equal(mgr_instance_db_set_power(db, a.id, MGR_POWER_RUNNING, true, &err), 0);
	assert_int_equal(mgr_instance_db_get(db, "a1", &got, &err), 0);
	assert_int_equal(got.power, MGR_POWER_RUNNING);
	assert_true(got.last_used_at[0] != 0);
	mgr_instance_free(&got);

	/* config replace */
	assert_int_equal(mgr_instance_config_set(&a, "user.x", NULL, &err), 0);
	assert_int_equal(mgr_instance_db_set_config(db, &a, &err), 0);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM instance_config"), 1);

	assert_int_equal(mgr_instance_db_rename(db, a.id, "a2", &err), 0);
	assert_int_equal(mgr_instance_db_get(db, "a1", &got, &err), -ENOENT);
	assert_int_equal(mgr_instance_db_get(db, "a2", &got, &err), 0);
	mgr_instance_free(&got);

	struct mgr_instance *list;
	size_t n;
	assert_int_equal(mgr_instance_db_list(db, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	mgr_instance_list_free(list, n);

	/* the config goes with the row (foreign key cascade) */
	assert_int_equal(mgr_instance_db_delete(db, a.id, &err), 0);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM instance_config"), 0);
	assert_int_equal(mgr_instance_db_delete(db, a.id, &err), -ENOENT);
	mgr_instance_free(&a);
	mgr_instance_free(&b);
	mgr_db_close(db);
}

static void test_names(void **state)
{
	static const char *const good[] = {
		"a", "c1", "web-01", "A-b-C",
		"a23456789012345678901234567890123456789012345678901234567890123"
	};
	static const char *const bad[] = {
		"",    "1a",  "-a",
		"a-",  "a_b", "a.b",
		"a b", "a/b", "a234567890123456789012345678901234567890123456789012345678901234"
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(mgr_name_validate(good[i], NULL), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vs_err err = VS_ERR_INIT;
		assert_int_equal(mgr_name_validate(bad[i], &err), -EINVAL);
		assert_true(err.msg[0] != 0);
	}
	assert_int_equal(mgr_image_alias_validate("busybox", NULL), 0);
	assert_int_equal(mgr_image_alias_validate("debian:12", NULL), 0);
	assert_int_equal(mgr_image_alias_validate("a/b", NULL), -EINVAL);
	assert_int_equal(mgr_image_alias_validate("abcdef12", NULL), -EINVAL);
	assert_int_equal(mgr_image_alias_validate("", NULL), -EINVAL);
}

static void test_config_keys(void **state)
{
	const enum mgr_instance_type c = MGR_INSTANCE_CONTAINER;
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(mgr_config_validate(c, "limits.memory", "64MiB", NULL), 0);
	assert_int_equal(mgr_config_validate(c, "limits.memory", "1000T", &err), -ERANGE);
	assert_non_null(strstr(err.msg, "exceeds the host"));
	assert_int_equal(mgr_config_validate(c, "limits.memory", "lots", NULL), -EINVAL);
	assert_int_equal(mgr_config_validate(c, "limits.memory", "1K", NULL), -ERANGE);
	assert_int_equal(mgr_config_validate(c, "limits.cpu", "1", NULL), 0);
	assert_int_equal(mgr_config_validate(c, "limits.cpu", "0", NULL), -EINVAL);
	assert_int_equal(mgr_config_validate(c, "limits.cpu", "100000", NULL), -ERANGE);
	assert_int_equal(mgr_config_validate(c, "limits.cpu", "0-0", NULL), 0);
	assert_int_equal(mgr_config_validate(c, "limits.cpu", "1-0", NULL), -EINVAL);
	assert_int_equal(mgr_config_validate(c, "limits.cpu", "0,x", NULL), -EINVAL);
	assert_int_equal(mgr_config_validate(c, "limits.cpu", "0-99999", NULL), -ERANGE);
	assert_int_equal(mgr_config_validate(c, "user.purpose", "anything", NULL), 0);
	assert_int_equal(mgr_config_validate(c, "user.", "x", NULL), -EINVAL);
	assert_int_equal(mgr_config_validate(c, "limits.bogus", "1", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown config key"));
	assert_true(mgr_config_key_live("limits.memory"));
	assert_false(mgr_config_key_live("nope"));
}

static int op_ok(struct mgr_op *op, void *arg, struct vs_err *err)
{
	struct json_object *md = json_object_new_object();
	json_object_object_add(md, "answer", json_object_new_int(42));
	mgr_op_set_metadata(op, md);
	return 0;
}

static int op_fail(struct mgr_op *op, void *arg, struct vs_err *err)
{
	return vs_errf(err, EINVAL, "it went wrong");
}

static int op_until_cancelled(struct mgr_op *op, void *arg, struct vs_err *err)
{
	while (!mgr_op_cancelled(op))
		usleep(1000);
	return vs_errf(err, ECANCELED, "cancelled");
}

static const char *status_of(struct mgr_op *op, struct json_object **keep)
{
	*keep = mgr_op_to_json(op);
	struct json_object *s;
	json_object_object_get_ex(*keep, "status", &s);
	return json_object_get_string(s);
}

static void test_operations(void **state)
{
	struct mgr_events *ev = mgr_events_new();
	struct mgr_listener *l = mgr_events_listen(ev, "operation");
	struct mgr_ops *ops = mgr_ops_new(ev);
	struct vs_err err = VS_ERR_INIT;
	struct json_object *j;

	struct mgr_op *a = mgr_op_start(ops, "ok", NULL, false, op_ok, NULL, NULL, &err);
	assert_non_null(a);
	assert_true(mgr_op_wait(a, 60000));
	assert_string_equal(status_of(a, &j), "Success");
	struct json_object *md, *ans;
	assert_true(json_object_object_get_ex(j, "metadata", &md));
	assert_true(json_object_object_get_ex(md, "answer", &ans));
	assert_int_equal(json_object_get_int(ans), 42);
	json_object_put(j);
	assert_int_equal(mgr_op_cancel(a, &err), -EALREADY);

	struct mgr_op *b = mgr_op_start(ops, "fail", NULL, false, op_fail, NULL, NULL, &err);
	assert_true(mgr_op_wait(b, 60000));
	assert_string_equal(status_of(b, &j), "Failure");
	struct json_object *e;
	json_object_object_get_ex(j, "err", &e);
	assert_string_equal(json_object_get_string(e), "it went wrong");
	json_object_put(j);

	struct mgr_op *c =
	    mgr_op_start(ops, "long", NULL, true, op_until_cancelled, NULL, NULL, &err);
	assert_false(mgr_op_wait(c, 10));
	struct mgr_op *again = mgr_ops_get(ops, mgr_op_id(c));
	assert_ptr_equal(again, c);
	mgr_op_put(again);
	assert_int_equal(mgr_op_cancel(c, &err), 0);
	assert_true(mgr_op_wait(c, 60000));
	assert_string_equal(status_of(c, &j), "Cancelled");
	json_object_put(j);

	struct mgr_op *d = mgr_op_start(ops, "no cancel", NULL, false, op_ok, NULL, NULL, &err);
	assert_true(mgr_op_wait(d, 60000));
	assert_null(mgr_ops_get(ops, "not-an-id"));

	struct json_object *list = mgr_ops_list_json(ops);
	assert_int_equal(json_object_array_length(list), 4);
	json_object_put(list);

	/* events: created, running, (metadata), done for each */
	bool closed;
	char *line = mgr_listener_next(ev, l, 1000, &closed);
	assert_non_null(line);
	assert_non_null(strstr(line, "\"type\":\"operation\""));
	free(line);

	mgr_op_put(a);
	mgr_op_put(b);
	mgr_op_put(c);
	mgr_op_put(d);
	mgr_ops_free(ops);
	mgr_events_unlisten(ev, l);
	mgr_events_free(ev);
}

static void test_events_bounded(void **state)
{
	struct mgr_events *ev = mgr_events_new();
	struct mgr_listener *all = mgr_events_listen(ev, NULL);
	struct mgr_listener *life = mgr_events_listen(ev, "lifecycle");
	for (int i = 0; i < 5000; i++) {
		struct json_object *md = json_object_new_object();
		json_object_object_add(md, "i", json_object_new_int(i));
		mgr_events_emit(ev, i % 2 ? "lifecycle" : "operation", md);
	}
	bool closed;
	char *line = mgr_listener_next(ev, all, 0, &closed);
	assert_non_null(line); /* the oldest kept: the first ones were dropped */
	assert_null(strstr(line, "\"i\":0}"));
	free(line);
	line = mgr_listener_next(ev, life, 0, &closed);
	assert_non_null(strstr(line, "lifecycle"));
	free(line);
	mgr_events_shutdown(ev);
	unsigned n = 0;
	while ((line = mgr_listener_next(ev, life, 0, &closed))) {
		n++;
		free(line);
	}
	assert_true(closed);
	assert_true(n < 1024);
	mgr_events_unlisten(ev, all);
	mgr_events_unlisten(ev, life);
	mgr_events_free(ev);
}

static void test_one_daemon_per_state_dir(void **state)
{
	struct mgr_opts o = { .state_dir = dir, .runtime_path = "/bin/false" };
	struct vs_err err = VS_ERR_INIT;
	struct mgr *a, *b;
	assert_int_equal(mgr_open(&o, &a, &err), 0);
	assert_int_equal(mgr_open(&o, &b, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "another vesseld"));
	mgr_close(a);
	/* the lock goes with the first: a second manager opens now */
	assert_int_equal(mgr_open(&o, &b, &err), 0);
	mgr_close(b);
}

static int count_stmt(unsigned type, void *ctx, void *p, void *x)
{
	(void)type;
	(void)p;
	(void)x;
	(*(unsigned *)ctx)++;
	return 0;
}

/* SQL statements run by one full listing (GET /1.0/instances?recursion=1) */
static unsigned listing_statements(struct mgr *m, size_t want)
{
	struct vs_err err = VS_ERR_INIT;
	unsigned n = 0;
	sqlite3 *conn = mgr_db_handle(mgr_get_db(m));
	sqlite3_trace_v2(conn, SQLITE_TRACE_STMT, count_stmt, &n);
	struct json_object *all = NULL;
	assert_int_equal(mgr_instances_json(m, &all, &err), 0);
	sqlite3_trace_v2(conn, 0, NULL, NULL);
	assert_int_equal(json_object_array_length(all), want);
	/* every one as the single-instance view shows it: stopped (no runtime
	 * state, or a runtime directory without state.json), config included */
	for (size_t i = 0; i < want; i++) {
		struct json_object *o = json_object_array_get_idx(all, i), *v, *c;
		assert_true(json_object_object_get_ex(o, "status", &v));
		assert_string_equal(json_object_get_string(v), "Stopped");
		assert_true(json_object_object_get_ex(o, "pid", &v));
		assert_int_equal(json_object_get_int(v), 0);
		assert_true(json_object_object_get_ex(o, "config", &c));
		assert_true(json_object_object_get_ex(c, "user.n", &v));
		struct json_object *name;
		assert_true(json_object_object_get_ex(o, "name", &name));
		assert_string_equal(json_object_get_string(v), json_object_get_string(name));
		struct mgr_instance one;
		assert_int_equal(
		    mgr_instance_db_get(mgr_get_db(m), json_object_get_string(name), &one, &err),
		    0);
		struct json_object *single = mgr_instance_to_json(m, &one);
		assert_true(json_object_equal(o, single));
		json_object_put(single);
		mgr_instance_free(&one);
	}
	json_object_put(all);
	return n;
}

/* A listing runs a fixed number of SQL statements (one per table), the
 * same for 10 instances as for 1,000: no query per instance. */
static void test_listing_statements(void **state)
{
	struct mgr_opts o = { .state_dir = dir, .runtime_path = "/bin/false" };
	struct vs_err err = VS_ERR_INIT;
	struct mgr *m;
	assert_int_equal(mgr_open(&o, &m, &err), 0);
	struct mgr_db *db = mgr_get_db(m);
	unsigned at[2] = { 0, 0 };
	size_t sizes[2] = { 10, 1000 }, have = 0;
	for (int k = 0; k < 2; k++) {
		for (; have < sizes[k]; have++) {
			struct mgr_instance inst;
			char name[32], rid[40];
			snprintf(name, sizeof(name), "l%zu", have);
			snprintf(rid, sizeof(rid), "vessel-%016zx", have + 1);
			make(&inst, name, rid);
			inst.power = have % 2 ? MGR_POWER_RUNNING : MGR_POWER_STOPPED;
			assert_int_equal(mgr_instance_config_set(&inst, "user.n", name, &err), 0);
			assert_int_equal(mgr_instance_db_insert(db, &inst, &err), 0);
			mgr_instance_free(&inst);
		}
		/* first no runtime state at all; then one runtime directory
		 * without a state: found, and stopped */
		if (k == 1) {
			char p[4096];
			snprintf(p, sizeof(p), "%s/vessel-%016x", mgr_runtime_root(m), 3);
			assert_true(mkdir(mgr_runtime_root(m), 0700) == 0 || errno == EEXIST);
			assert_true(mkdir(p, 0700) == 0);
		}
		at[k] = listing_statements(m, sizes[k]);
	}
	assert_true(at[0] > 0);
	assert_true(at[0] <= 8);
	assert_int_equal(at[1], at[0]);
	mgr_close(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_db_migrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_db_qcow2_volumes_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instance_rows, setup, teardown),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_config_keys),
		cmocka_unit_test(test_operations),
		cmocka_unit_test(test_events_bounded),
		cmocka_unit_test_setup_teardown(test_one_daemon_per_state_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing_statements, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
