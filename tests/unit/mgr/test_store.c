/*
 * test_store.c - lib/mgr's statement layer (store.h) on both engines: the
 * same battery of statements (binds of every type, column conversions,
 * reset and rebind, constraints as EEXIST, foreign keys, transactions,
 * changes and insert ids, the manager's migrations) on a local SQLite
 * file and on a one-node dqlite cluster started here as cluster.c starts
 * its node; then, on dqlite only, the leader going away: a precise error
 * while it is gone, a transaction lost with it, and the store finding it
 * again when it is back; and on a cluster of three nodes, the leader
 * stopped: its transaction lost, and reads and writes going on with the
 * new leader among the other two.
 */
#include <arpa/inet.h>
#include <dqlite.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vessel/mgr/db.h"
#include "vessel/mgr/dqlite_client.h"
#include "vessel/mgr/store.h"

/* The leader search of each statement: short for the leader-gone case,
 * whose waits for the restarted node are the test's own. */
static int search_ms = 30000;

struct fixture {
	char dir[64];
	char addr[64];
	dqlite_node *node;
	struct mgr_store *s;
};

static void rm_tree(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static int setup_sqlite(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/vessel-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/t.db", f->dir);
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(mgr_store_open_sqlite(path, &f->s, &err), 0);
	assert_int_equal(mgr_store_exec(f->s, "PRAGMA foreign_keys = ON"), SQLITE_OK);
	assert_false(mgr_store_is_dqlite(f->s));
	*state = f;
	return 0;
}

/* A free loopback port (bound, read back, released). */
static void free_addr(char *out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	snprintf(out, cap, "127.0.0.1:%u", ntohs(sa.sin_port));
}

static void node_start(struct fixture *f)
{
	char raft[128];
	snprintf(raft, sizeof(raft), "%s/raft", f->dir);
	(void)mkdir(raft, 0700);
	assert_int_equal(dqlite_node_create(1, f->addr, raft, &f->node), 0);
	assert_int_equal(dqlite_node_set_bind_address(f->node, f->addr), 0);
	assert_int_equal(dqlite_node_start(f->node), 0);
}

static void node_stop(struct fixture *f)
{
	if (!f->node)
		return;
	dqlite_node_stop(f->node);
	dqlite_node_destroy(f->node);
	f->node = NULL;
}

static int setup_dqlite(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/vessel-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	free_addr(f->addr, sizeof(f->addr));
	node_start(f);
	const char *addrs[] = { f->addr };
	struct vs_err err = VS_ERR_INIT;
	/* a generous leader search: the node elects itself under load */
	int r = mgr_store_open_dqlite(addrs, 1, "test.db", search_ms, &f->s, &err);
	if (r != 0)
		fail_msg("open dqlite store: %s", err.msg);
	assert_true(mgr_store_is_dqlite(f->s));
	assert_null(mgr_store_sqlite(f->s));
	*state = f;
	return 0;
}

static int setup_dqlite_short(void **state)
{
	search_ms = 1000;
	int r = setup_dqlite(state);
	search_ms = 30000;
	return r;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	mgr_store_close(f->s);
	node_stop(f);
	rm_tree(f->dir);
	free(f);
	return 0;
}

static struct mgr_stmt *prep(struct mgr_store *s, const char *sql)
{
	struct mgr_stmt *st = NULL;
	int rc = mgr_stmt_prepare(s, sql, false, &st);
	if (rc != SQLITE_OK)
		fail_msg("prepare %s: %s", sql, mgr_store_errmsg(s));
	return st;
}

static void exec_ok(struct mgr_store *s, const char *sql)
{
	int rc = mgr_store_exec(s, sql);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, mgr_store_errmsg(s));
}

static int64_t count(struct mgr_store *s, const char *sql)
{
	struct mgr_stmt *st = prep(s, sql);
	assert_int_equal(mgr_stmt_step(st), SQLITE_ROW);
	int64_t n = mgr_stmt_column_int64(st, 0);
	assert_int_equal(mgr_stmt_step(st), SQLITE_DONE);
	mgr_stmt_finalize(st);
	return n;
}

static void create_tables(struct mgr_store *s)
{
	exec_ok(s, "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT,"
		   "  name TEXT NOT NULL UNIQUE, n INTEGER, x REAL, note TEXT);"
		   "CREATE TABLE c (t_id INTEGER NOT NULL REFERENCES t (id) ON DELETE CASCADE,"
		   "  v TEXT NOT NULL)");
}

static void test_binds_and_columns(void **state)
{
	struct fixture *f = *state;
	struct mgr_store *s = f->s;
	create_tables(s);

	struct mgr_stmt *ins = prep(s, "INSERT INTO t (name, n, x, note) VALUES (?, ?, ?, ?)");
	assert_int_equal(mgr_stmt_bind_text(ins, 1, "one"), SQLITE_OK);
	assert_int_equal(mgr_stmt_bind_int64(ins, 2, INT64_C(1) << 40), SQLITE_OK);
	assert_int_equal(mgr_stmt_bind_double(ins, 3, 2.5), SQLITE_OK);
	assert_int_equal(mgr_stmt_bind_null(ins, 4), SQLITE_OK);
	assert_int_equal(mgr_stmt_step(ins), SQLITE_DONE);
	assert_int_equal(mgr_store_last_insert_id(s), 1);
	assert_int_equal(mgr_store_changes(s), 1);
	/* the same statement again after a reset, other values */
	assert_int_equal(mgr_stmt_reset(ins), SQLITE_OK);
	mgr_stmt_clear_bindings(ins);
	mgr_stmt_bind_text(ins, 1, "two");
	mgr_stmt_bind_int(ins, 2, -7);
	mgr_stmt_bind_double(ins, 3, 3.0);
	mgr_stmt_bind_text(ins, 4, "42 apples");
	assert_int_equal(mgr_stmt_step(ins), SQLITE_DONE);
	assert_int_equal(mgr_store_last_insert_id(s), 2);
	/* a duplicate: the constraint as EEXIST with SQLite's message */
	mgr_stmt_reset(ins);
	mgr_stmt_bind_text(ins, 1, "one");
	int rc = mgr_stmt_step(ins);
	assert_int_equal(rc & 0xff, SQLITE_CONSTRAINT);
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(mgr_store_error(s, rc, "insert", &err), -EEXIST);
	assert_non_null(strstr(err.msg, "UNIQUE constraint failed: t.name"));
	assert_non_null(strstr(err.msg, "database: insert: "));
	mgr_stmt_finalize(ins);

	struct mgr_stmt *q =
	    prep(s, "SELECT id, name, n, x, note FROM t WHERE id >= ? ORDER BY id");
	mgr_stmt_bind_int64(q, 1, 1);
	assert_int_equal(mgr_stmt_step(q), SQLITE_ROW);
	assert_int_equal(mgr_stmt_column_count(q), 5);
	assert_int_equal(mgr_stmt_column_type(q, 0), SQLITE_INTEGER);
	assert_int_equal(mgr_stmt_column_type(q, 1), SQLITE_TEXT);
	assert_int_equal(mgr_stmt_column_type(q, 3), SQLITE_FLOAT);
	assert_int_equal(mgr_stmt_column_type(q, 4), SQLITE_NULL);
	assert_string_equal(mgr_stmt_column_text(q, 1), "one");
	assert_int_equal(mgr_stmt_column_bytes(q, 1), 3);
	assert_int_equal(mgr_stmt_column_int64(q, 2), INT64_C(1) << 40);
	/* conversions as sqlite3_column_* make them */
	assert_string_equal(mgr_stmt_column_text(q, 2), "1099511627776");
	assert_string_equal(mgr_stmt_column_text(q, 3), "2.5");
	assert_int_equal(mgr_stmt_column_int(q, 3), 2);
	assert_true(mgr_stmt_column_double(q, 0) == 1.0);
	assert_null(mgr_stmt_column_text(q, 4));
	assert_int_equal(mgr_stmt_column_int64(q, 4), 0);
	assert_int_equal(mgr_stmt_step(q), SQLITE_ROW);
	assert_int_equal(mgr_stmt_column_int(q, 2), -7);
	assert_string_equal(mgr_stmt_column_text(q, 3), "3.0");
	assert_int_equal(mgr_stmt_column_int64(q, 4), 42); /* leading digits of text */
	assert_true(mgr_stmt_column_double(q, 4) == 42.0);
	assert_int_equal(mgr_stmt_step(q), SQLITE_DONE);
	/* reset and rebind: a query runs again */
	mgr_stmt_reset(q);
	mgr_stmt_bind_int64(q, 1, 2);
	assert_int_equal(mgr_stmt_step(q), SQLITE_ROW);
	assert_string_equal(mgr_stmt_column_text(q, 1), "two");
	assert_int_equal(mgr_stmt_step(q), SQLITE_DONE);
	mgr_stmt_reset(q);
	mgr_stmt_bind_int64(q, 1, 3);
	assert_int_equal(mgr_stmt_step(q), SQLITE_DONE); /* no rows */
	mgr_stmt_finalize(q);

	/* changes of an UPDATE, a DELETE matching nothing */
	exec_ok(s, "UPDATE t SET n = n + 1");
	assert_int_equal(mgr_store_changes(s), 2);
	struct mgr_stmt *del = prep(s, "DELETE FROM t WHERE name = ?");
	mgr_stmt_bind_text(del, 1, "nobody");
	assert_int_equal(mgr_stmt_step(del), SQLITE_DONE);
	assert_int_equal(mgr_store_changes(s), 0);
	mgr_stmt_finalize(del);
	/* a WITH query returns rows too */
	assert_int_equal(count(s, "WITH k AS (SELECT id FROM t) SELECT COUNT(*) FROM k"), 2);
}

static void test_foreign_keys_and_transactions(void **state)
{
	struct fixture *f = *state;
	struct mgr_store *s = f->s;
	create_tables(s);
	exec_ok(s, "INSERT INTO t (name) VALUES ('a')");
	/* a dangling reference is refused (foreign keys are on) */
	struct mgr_stmt *st = prep(s, "INSERT INTO c (t_id, v) VALUES (?, 'x')");
	mgr_stmt_bind_int64(st, 1, 999);
	int rc = mgr_stmt_step(st);
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(mgr_store_error(s, rc, "insert", &err), -EEXIST);
	assert_non_null(strstr(err.msg, "FOREIGN KEY"));
	mgr_stmt_finalize(st);

	/* rolled back: gone; committed: there */
	assert_int_equal(mgr_store_begin(s), SQLITE_OK);
	exec_ok(s, "INSERT INTO t (name) VALUES ('b')");
	assert_int_equal(count(s, "SELECT COUNT(*) FROM t"), 2); /* seen inside */
	mgr_store_rollback(s);
	assert_int_equal(count(s, "SELECT COUNT(*) FROM t"), 1);
	assert_int_equal(mgr_store_begin(s), SQLITE_OK);
	exec_ok(s, "INSERT INTO t (name) VALUES ('c');"
		   "INSERT INTO c (t_id, v) SELECT id, 'y' FROM t WHERE name = 'c'");
	assert_int_equal(mgr_store_commit(s), SQLITE_OK);
	assert_int_equal(count(s, "SELECT COUNT(*) FROM c"), 1);
	/* the cascade */
	exec_ok(s, "DELETE FROM t WHERE name = 'c'");
	assert_int_equal(count(s, "SELECT COUNT(*) FROM c"), 0);

	/* bad SQL: a precise error at prepare (SQLite) or first step (dqlite) */
	st = NULL;
	rc = mgr_stmt_prepare(s, "SELEC 1", false, &st);
	if (rc == SQLITE_OK) {
		rc = mgr_stmt_step(st);
		mgr_stmt_finalize(st);
	}
	assert_int_equal(mgr_store_error(s, rc, "query", &err), -EIO);
	assert_non_null(strstr(err.msg, "syntax error"));
}

/* The manager's schema migrates on either engine, once. */
static void test_migrations(void **state)
{
	struct fixture *f = *state;
	struct vs_err err = VS_ERR_INIT;
	struct mgr_db *db;
	int r = mgr_db_open_store(f->s, &db, &err);
	f->s = NULL; /* the database owns it */
	if (r != 0)
		fail_msg("migrate: %s", err.msg);
	assert_int_equal(mgr_db_schema_version(db, &err), mgr_db_schema_latest());
	mgr_db_lock(db);
	struct mgr_stmt *st = mgr_db_prepare(
	    db,
	    "INSERT INTO storage_volumes (name, format, size, created_at) VALUES (?, ?, 1, 'now')",
	    &err);
	assert_non_null(st);
	mgr_stmt_bind_text(st, 1, "v");
	mgr_stmt_bind_text(st, 2, "qcow2"); /* the last schema's CHECK */
	assert_int_equal(mgr_stmt_step(st), SQLITE_DONE);
	mgr_stmt_reset(st);
	mgr_stmt_bind_text(st, 1, "w");
	mgr_stmt_bind_text(st, 2, "vdi");
	int rc = mgr_stmt_step(st);
	assert_int_equal(mgr_db_err(db, rc, "insert", &err), -EEXIST);
	assert_non_null(strstr(err.msg, "CHECK constraint failed"));
	mgr_stmt_finalize(st);
	assert_int_equal(count(mgr_db_store(db), "SELECT COUNT(*) FROM schema"),
			 mgr_db_schema_latest());
	mgr_db_unlock(db);
	mgr_db_close(db);
}

/* dqlite: the leader gone and back. */
static void test_leader_gone(void **state)
{
	struct fixture *f = *state;
	struct mgr_store *s = f->s;
	create_tables(s);
	exec_ok(s, "INSERT INTO t (name) VALUES ('kept')");
	assert_int_equal(mgr_store_begin(s), SQLITE_OK);
	exec_ok(s, "INSERT INTO t (name) VALUES ('lost')");
	node_stop(f);
	/* the transaction is lost with the leader; the store says so until
	 * the rollback, and runs nothing outside it meanwhile */
	int rc = mgr_store_exec(s, "INSERT INTO t (name) VALUES ('lost2')");
	assert_int_not_equal(rc, SQLITE_OK);
	rc = mgr_store_commit(s);
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(mgr_store_error(s, rc, "commit", &err), -EAGAIN);
	assert_non_null(strstr(err.msg, "lost with the cluster's leader"));
	mgr_store_rollback(s);
	/* no leader: a read fails once the leader search gives up */
	const char *addrs[] = { f->addr };
	assert_int_equal(mgr_store_set_peers(s, addrs, 1, &err), 0);
	struct mgr_stmt *q = prep(s, "SELECT name FROM t ORDER BY id");
	rc = mgr_stmt_step(q);
	assert_int_equal(mgr_store_error(s, rc, "query", &err), -ENOTCONN);
	assert_non_null(strstr(err.msg, "no dqlite leader reachable"));
	/* back: the same statement finds it, with only the committed row */
	node_start(f);
	time_t deadline = time(NULL) + 60; /* its election, under load */
	do {
		mgr_stmt_reset(q);
		rc = mgr_stmt_step(q);
	} while (rc != SQLITE_ROW && time(NULL) < deadline);
	if (rc != SQLITE_ROW)
		fail_msg("after restart: %s", mgr_store_errmsg(s));
	assert_string_equal(mgr_stmt_column_text(q, 0), "kept");
	assert_int_equal(mgr_stmt_step(q), SQLITE_DONE);
	mgr_stmt_finalize(q);
}

/* Three nodes: 1 bootstraps, 2 and 3 are added as voters. */
struct trio {
	char dir[64];
	char addr[3][64];
	dqlite_node *node[3];
	struct mgr_store *s;
};

static void trio_start(struct trio *t, int i)
{
	char raft[128];
	snprintf(raft, sizeof(raft), "%s/raft%d", t->dir, i + 1);
	(void)mkdir(raft, 0700);
	assert_int_equal(dqlite_node_create((dqlite_node_id)(i + 1), t->addr[i], raft, &t->node[i]),
			 0);
	assert_int_equal(dqlite_node_set_bind_address(t->node[i], t->addr[i]), 0);
	assert_int_equal(dqlite_node_start(t->node[i]), 0);
}

static void trio_stop(struct trio *t, int i)
{
	if (!t->node[i])
		return;
	dqlite_node_stop(t->node[i]);
	dqlite_node_destroy(t->node[i]);
	t->node[i] = NULL;
}

static int setup_trio(void **state)
{
	struct trio *t = calloc(1, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/vessel-store-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	for (int i = 0; i < 3; i++) {
		free_addr(t->addr[i], sizeof(t->addr[i]));
		trio_start(t, i);
	}
	const char *addrs[] = { t->addr[0], t->addr[1], t->addr[2] };
	struct vs_err err = VS_ERR_INIT;
	struct mgr_dq *q;
	if (mgr_dq_connect(addrs, 1, 30000, &q, &err) < 0)
		fail_msg("leader: %s", err.msg);
	for (uint64_t id = 2; id <= 3; id++)
		if (mgr_dq_add(q, id, addrs[id - 1], &err) < 0 ||
		    mgr_dq_assign(q, id, 0 /* voter */, &err) < 0)
			fail_msg("add node %d: %s", (int)id, err.msg);
	mgr_dq_close(q);
	if (mgr_store_open_dqlite(addrs, 3, "test.db", 30000, &t->s, &err) < 0)
		fail_msg("open: %s", err.msg);
	*state = t;
	return 0;
}

static int teardown_trio(void **state)
{
	struct trio *t = *state;
	mgr_store_close(t->s);
	for (int i = 0; i < 3; i++)
		trio_stop(t, i);
	rm_tree(t->dir);
	free(t);
	return 0;
}

static void test_leader_failover(void **state)
{
	struct trio *t = *state;
	struct mgr_store *s = t->s;
	create_tables(s);
	exec_ok(s, "INSERT INTO t (name) VALUES ('before')");
	/* which node leads */
	const char *addrs[] = { t->addr[0], t->addr[1], t->addr[2] };
	struct vs_err err = VS_ERR_INIT;
	struct mgr_dq *q;
	assert_int_equal(mgr_dq_connect(addrs, 3, 30000, &q, &err), 0);
	int leader = -1;
	for (int i = 0; i < 3; i++)
		if (strcmp(mgr_dq_address(q), t->addr[i]) == 0)
			leader = i;
	mgr_dq_close(q);
	assert_true(leader >= 0);

	assert_int_equal(mgr_store_begin(s), SQLITE_OK);
	exec_ok(s, "INSERT INTO t (name) VALUES ('lost')");
	trio_stop(t, leader);
	/* the open transaction went with the leader */
	int rc = mgr_store_exec(s, "INSERT INTO t (name) VALUES ('lost too')");
	assert_int_equal(mgr_store_error(s, rc, "insert", &err), -EAGAIN);
	assert_int_not_equal(mgr_store_commit(s), SQLITE_OK);
	mgr_store_rollback(s);
	/* the other two elect a leader: a write and a read go on there */
	struct mgr_stmt *ins = prep(s, "INSERT INTO t (name) VALUES (?)");
	mgr_stmt_bind_text(ins, 1, "after");
	rc = mgr_stmt_step(ins);
	if (rc != SQLITE_DONE)
		fail_msg("write after the leader stopped: %s", mgr_store_errmsg(s));
	mgr_stmt_finalize(ins);
	struct mgr_stmt *sel = prep(s, "SELECT name FROM t ORDER BY id");
	assert_int_equal(mgr_stmt_step(sel), SQLITE_ROW);
	assert_string_equal(mgr_stmt_column_text(sel, 0), "before");
	assert_int_equal(mgr_stmt_step(sel), SQLITE_ROW);
	assert_string_equal(mgr_stmt_column_text(sel, 0), "after");
	assert_int_equal(mgr_stmt_step(sel), SQLITE_DONE);
	mgr_stmt_finalize(sel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_binds_and_columns, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_keys_and_transactions, setup_sqlite,
						teardown),
		cmocka_unit_test_setup_teardown(test_migrations, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_binds_and_columns, setup_dqlite, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_keys_and_transactions, setup_dqlite,
						teardown),
		cmocka_unit_test_setup_teardown(test_migrations, setup_dqlite, teardown),
		cmocka_unit_test_setup_teardown(test_leader_gone, setup_dqlite_short, teardown),
		cmocka_unit_test_setup_teardown(test_leader_failover, setup_trio, teardown_trio),
	};
	/* as vesseld: the in-process nodes' Raft transport (libuv) writes to
	 * the sockets of a stopped node */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
