/*
 * test_usage_store.c - unit tests of the usage history (lib/mgr/usage_store.c):
 * raw rows aggregate into 5-minute rows (count, weighted avg, min, max,
 * nearest-rank p95, summed OOM kills) and those into hourly rows, only for
 * complete buckets, once (a second pass changes nothing); rows age out at a
 * day, 30 days and a year; the rows go with their instance; the window
 * parser and the sampler's refusal of bad cgroup names; when two readings
 * make a row.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vessel/mgr/db.h"
#include "vessel/mgr/instance.h"
#include "usage_internal.h"
#include "vessel/mgr/usage.h"

static char dir[64];
static char path[128];
static struct mgr_db *db;
static int64_t id;

#define T0 (1800000000LL / 3600 * 3600) /* an hour boundary */

static int64_t count(const char *sql)
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

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vessel-usage-unit.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vessel.db", dir);
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(mgr_db_open(path, &db, &err), 0);
	struct mgr_instance inst = { .type = MGR_INSTANCE_CONTAINER };
	snprintf(inst.name, sizeof(inst.name), "u1");
	snprintf(inst.runtime_id, sizeof(inst.runtime_id), "vessel-0000000000000001");
	snprintf(inst.created_at, sizeof(inst.created_at), "2027-01-15T08:00:00Z");
	assert_int_equal(mgr_instance_db_insert(db, &inst, &err), 0);
	id = inst.id;
	return 0;
}

static int teardown(void **state)
{
	mgr_db_close(db);
	db = NULL;
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Raw rows every 10 s over [T0, T0 + secs): cpu = (i % 30) / 10, memory
 * = 1 MiB x (i % 7 + 1), one OOM kill every 100 samples. */
static void feed(int secs)
{
	struct vs_err err = VS_ERR_INIT;
	size_t n = (size_t)secs / 10;
	struct mgr_usage_row *rows = calloc(n, sizeof(*rows));
	int64_t *ids = calloc(n, sizeof(*ids));
	assert_non_null(rows);
	assert_non_null(ids);
	for (size_t i = 0; i < n; i++) {
		rows[i].t = T0 + (int64_t)i * 10;
		rows[i].cpu = (double)(i % 30) / 10;
		rows[i].memory = 1048576.0 * (double)(i % 7 + 1);
		rows[i].oom_kills = i % 100 == 0;
		rows[i].net_rx = 100;
		rows[i].count = 1;
		ids[i] = id;
	}
	assert_int_equal(mgr_usage_db_put_many(db, MGR_USAGE_RAW, ids, rows, n, &err), 0);
	free(rows);
	free(ids);
}

static void test_rollup(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	feed(7200 + 150); /* two hours and half a bucket */
	assert_int_equal(mgr_usage_db_maintain(db, T0 + 7200 + 150, &err), 0);
	/* 24 complete 5-minute buckets; the half one waits */
	assert_int_equal(count("SELECT COUNT(*) FROM instance_usage WHERE resolution = 300"), 24);
	assert_int_equal(count("SELECT COUNT(*) FROM instance_usage WHERE resolution = 3600"), 2);
	struct mgr_usage_row *rows;
	size_t n;
	assert_int_equal(mgr_usage_db_rows(db, id, MGR_USAGE_5MIN, 0, &rows, &n, &err), 0);
	assert_int_equal(n, 24);
	/* bucket 0: i = 0..29, cpu 0.0..2.9: avg 1.45, min 0, max 2.9, p95
	 * nearest rank ceil(0.95 x 30) = 29th value = 2.8 */
	assert_int_equal(rows[0].t, T0);
	assert_int_equal(rows[0].count, 30);
	assert_true(fabs(rows[0].cpu - 1.45) < 1e-9);
	assert_true(fabs(rows[0].cpu_min - 0.0) < 1e-9);
	assert_true(fabs(rows[0].cpu_max - 2.9) < 1e-9);
	assert_true(fabs(rows[0].cpu_p95 - 2.8) < 1e-9);
	assert_true(fabs(rows[0].memory_max - 7 * 1048576.0) < 1);
	assert_true(fabs(rows[0].memory_min - 1048576.0) < 1);
	assert_true(fabs(rows[0].oom_kills - 1) < 1e-9); /* i = 0 */
	assert_true(fabs(rows[0].net_rx - 100) < 1e-9);
	assert_int_equal(rows[1].t, T0 + 300);
	free(rows);
	assert_int_equal(mgr_usage_db_rows(db, id, MGR_USAGE_HOUR, 0, &rows, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].count, 360);
	assert_true(fabs(rows[0].cpu - 1.45) < 1e-9);
	assert_true(fabs(rows[0].cpu_max - 2.9) < 1e-9);
	assert_true(fabs(rows[0].oom_kills - 4) < 1e-9); /* i = 0, 100, 200, 300 */
	free(rows);
	/* a second pass changes nothing */
	assert_int_equal(mgr_usage_db_maintain(db, T0 + 7200 + 150, &err), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM instance_usage WHERE resolution = 300"), 24);
	assert_int_equal(count("SELECT COUNT(*) FROM instance_usage WHERE resolution = 3600"), 2);
	/* the window picks the resolution */
	enum mgr_usage_res res;
	assert_int_equal(mgr_usage_db_window(db, id, 3600, T0 + 7200 + 150, &res, &rows, &n, &err),
			 0);
	assert_int_equal(res, MGR_USAGE_RAW);
	assert_int_equal(n, 360);
	free(rows);
	assert_int_equal(mgr_usage_db_window(db, id, 30 * 86400, T0 + 7200, &res, &rows, &n, &err),
			 0);
	assert_int_equal(res, MGR_USAGE_5MIN);
	free(rows);
	assert_int_equal(mgr_usage_db_window(db, id, 365 * 86400, T0 + 7200, &res, &rows, &n, &err),
			 0);
	assert_int_equal(res, MGR_USAGE_HOUR);
	assert_int_equal(n, 2);
	free(rows);
}

static void test_retention(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	feed(7200);
	assert_int_equal(mgr_usage_db_maintain(db, T0 + 7200, &err), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM instance_usage WHERE resolution = 0"), 720);
	/* two days on: raw rows gone, the aggregates stay */
	assert_int_equal(mgr_usage_db_maintain(db, T0 + 2 * 86400, &err), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM instance_usage WHERE resolution = 0"), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM instance_usage WHERE resolution = 300"), 24);
	/* 31 days: the 5-minute rows gone, hourly kept */
	assert_int_equal(mgr_usage_db_maintain(db, T0 + 31 * 86400, &err), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM instance_usage WHERE resolution = 300"), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM instance_usage WHERE resolution = 3600"), 2);
	/* a year and a day: nothing left */
	assert_int_equal(mgr_usage_db_maintain(db, T0 + 366 * 86400, &err), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM instance_usage"), 0);
}

static void test_cascade(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	feed(600);
	assert_int_equal(count("SELECT COUNT(*) FROM instance_usage"), 60);
	assert_int_equal(mgr_instance_db_delete(db, id, &err), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM instance_usage"), 0);
}

static void test_window_parse(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	int64_t s;
	assert_int_equal(mgr_usage_window_parse("1h", &s, &err), 0);
	assert_int_equal(s, 3600);
	assert_int_equal(mgr_usage_window_parse("30d", &s, &err), 0);
	assert_int_equal(s, 30 * 86400);
	assert_int_equal(mgr_usage_window_parse("1y", &s, &err), 0);
	assert_int_equal(s, 365 * 86400);
	assert_int_equal(mgr_usage_window_parse("90", &s, &err), 0);
	assert_int_equal(s, 90);
	assert_int_equal(mgr_usage_window_parse(NULL, &s, &err), 0);
	assert_int_equal(s, 3600);
	const char *bad[] = { "0", "-1h", "2w", "h", "1hh", "1.5h", "9999999999999999999d" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mgr_usage_window_parse(bad[i], &s, &err), -EINVAL);
	assert_int_equal(mgr_usage_window_parse("2y", &s, &err), -ERANGE);
	assert_int_equal(mgr_usage_window_parse("400d", &s, &err), -ERANGE);
}

static void test_bad_cgroup(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	struct mgr_usage_sample s;
	assert_int_equal(mgr_usage_cgroup("", NULL, 0, &s, &err), -EINVAL);
	assert_int_equal(mgr_usage_cgroup("..", NULL, 0, &s, &err), -EINVAL);
	assert_int_equal(mgr_usage_cgroup("a/../b", NULL, 0, &s, &err), -EINVAL);
	assert_int_equal(mgr_usage_cgroup("vessel-no-such-cgroup", NULL, 0, &s, &err), -ENOENT);
	/* a VMM API socket that does not exist: an error, not a hang */
	assert_true(mgr_usage_vm_at("vessel-no-such", "/nonexistent/api.sock", 0, &s, &err) < 0);
}

/* The sampler's rule for making a history row of two readings. */
static void test_row_due(void **state)
{
	(void)state;
	struct mgr_usage_sample a = { .cpu_ns = 100,
				      .memory_bytes = 50u << 20,
				      .valid = MGR_USAGE_CPU | MGR_USAGE_MEMORY };
	struct mgr_usage_sample b = a;
	b.cpu_ns = 200;
	assert_true(mgr_usage_row_due(&a, &b));
	/* the memory read failed this time: no row with memory 0 */
	b.valid = MGR_USAGE_CPU;
	b.memory_bytes = 0;
	assert_false(mgr_usage_row_due(&a, &b));
	/* the next good reading after the gap makes a row again */
	struct mgr_usage_sample c = a;
	c.cpu_ns = 300;
	assert_true(mgr_usage_row_due(&b, &c));
	/* a host without the memory controller never had the figure */
	struct mgr_usage_sample d = { .cpu_ns = 100, .valid = MGR_USAGE_CPU };
	struct mgr_usage_sample e = { .cpu_ns = 200, .valid = MGR_USAGE_CPU };
	assert_true(mgr_usage_row_due(&d, &e));
	/* counters that went back: a restart in between */
	c.cpu_ns = 50;
	assert_false(mgr_usage_row_due(&a, &c));
	c = a;
	c.cpu_ns = 300;
	a.oom_kills = 2;
	assert_false(mgr_usage_row_due(&a, &c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rollup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cascade, setup, teardown),
		cmocka_unit_test(test_window_parse),
		cmocka_unit_test(test_bad_cgroup),
		cmocka_unit_test(test_row_due),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
