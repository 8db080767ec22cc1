/*
 * test_usage_advice.c - the right-sizing rules (lib/mgr/usage_advice.c) on
 * synthetic histories with known figures, through mgr_advice_json() of a
 * manager on a temp state directory (no sampler: the default knobs, 1 hour
 * of history needed, idle after a day, a 7-day window):
 *   over    2 CPUs, p95 0.3 cores; 1 GiB, peak 100 MiB   -> 1 CPU, 144 MiB
 *   cpu     1 CPU, throttled 30% of the time             -> starved, 2 CPUs
 *   oom     64 MiB with OOM kills                        -> starved, 128 MiB
 *   vm      a VM guest with 5% of its memory available   -> starved
 *   idle    nothing for 25 hours                         -> idle
 *   young   20 minutes of history                        -> nothing yet
 *   fine    1 CPU at 0.7, 256 MiB with a 200 MiB peak    -> nothing
 */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vessel/mgr/mgr.h"
#include "vessel/mgr/usage.h"

#define MIB 1048576.0

static char dir[64];
static struct mgr *m;

static void sql(const char *q)
{
	struct vs_err err = VS_ERR_INIT;
	mgr_db_lock(mgr_get_db(m));
	int r = mgr_db_exec(mgr_get_db(m), q, &err);
	mgr_db_unlock(mgr_get_db(m));
	if (r < 0)
		fail_msg("%s: %s", q, err.msg);
}

/* An instance with config "k=v,k=v" and `secs` of raw rows (every 10 s up
 * to now) made by fill(i, row). */
static void instance(int id, const char *name, const char *type, const char *cfg, int secs,
		     void (*fill)(size_t i, struct mgr_usage_row *r))
{
	char q[512];
	snprintf(q, sizeof(q),
		 "INSERT INTO instances (id, name, type, runtime_id, power_state, created_at) "
		 "VALUES (%d, '%s', '%s', 'vessel-%016d', 'running', '')",
		 id, name, type, id);
	sql(q);
	char *c = strdup(cfg), *save = NULL;
	for (char *kv = strtok_r(c, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		*eq = 0;
		snprintf(q, sizeof(q), "INSERT INTO instance_config VALUES (%d, '%s', '%s')", id,
			 kv, eq + 1);
		sql(q);
	}
	free(c);
	size_t n = (size_t)secs / 10;
	struct mgr_usage_row *rows = calloc(n, sizeof(*rows));
	int64_t *ids = calloc(n, sizeof(*ids));
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < n; i++) {
		rows[i].t = now - secs + (int64_t)i * 10;
		rows[i].count = 1;
		fill(i, &rows[i]);
		rows[i].cpu_min = rows[i].cpu_max = rows[i].cpu_p95 = rows[i].cpu;
		rows[i].memory_min = rows[i].memory_max = rows[i].memory_p95 = rows[i].memory;
		ids[i] = id;
	}
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(mgr_usage_db_put_many(mgr_get_db(m), MGR_USAGE_RAW, ids, rows, n, &err),
			 0);
	free(rows);
	free(ids);
}

static void fill_over(size_t i, struct mgr_usage_row *r)
{
	r->cpu = i % 10 == 0 ? 0.3 : 0.1; /* 10% at 0.3: p95 0.3 */
	r->memory = (i % 10 == 0 ? 100 : 60) * MIB;
	r->net_rx = 5000;
}

static void fill_throttled(size_t i, struct mgr_usage_row *r)
{
	r->cpu = 0.98;
	r->throttled = 0.3;
	r->memory = 10 * MIB;
}

static void fill_oom(size_t i, struct mgr_usage_row *r)
{
	r->cpu = 0.2;
	r->memory = 60 * MIB;
	r->oom_kills = i % 50 == 0;
}

static void fill_vm(size_t i, struct mgr_usage_row *r)
{
	r->cpu = 0.2;
	r->memory = 480 * MIB;
	r->guest_total = 500 * MIB;
	r->guest_available = 25 * MIB;
}

static void fill_idle(size_t i, struct mgr_usage_row *r)
{
	r->cpu = 0.001;
	r->memory = 8 * MIB;
}

static void fill_fine(size_t i, struct mgr_usage_row *r)
{
	r->cpu = 0.7;
	r->memory = 200 * MIB;
	r->net_rx = 100000;
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vessel-advice-unit.XXXXXX");
	assert_non_null(mkdtemp(dir));
	struct mgr_opts mo = { .state_dir = dir, .runtime_path = "/bin/true" };
	struct vs_err err = VS_ERR_INIT;
	if (mgr_open(&mo, &m, &err) < 0)
		fail_msg("mgr_open: %s", err.msg);
	instance(1, "over", "container", "limits.cpu=2,limits.memory=1GiB", 7200, fill_over);
	instance(2, "cpu", "container", "limits.cpu=1", 7200, fill_throttled);
	instance(3, "oom", "container", "limits.memory=64MiB", 7200, fill_oom);
	instance(4, "vm", "vm", "limits.memory=512MiB", 7200, fill_vm);
	instance(5, "idle", "container", "", 25 * 3600, fill_idle);
	instance(6, "young", "container", "limits.cpu=2,limits.memory=1GiB", 1200, fill_over);
	instance(7, "fine", "container", "limits.cpu=1,limits.memory=256MiB", 7200, fill_fine);
	return 0;
}

static int teardown(void **state)
{
	mgr_close(m);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* The advice item of name with key (NULL: the keyless one), or NULL. */
static struct json_object *item(struct json_object *arr, const char *name, const char *key)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *a = json_object_array_get_idx(arr, i), *n, *k;
		json_object_object_get_ex(a, "instance", &n);
		json_object_object_get_ex(a, "key", &k);
		if (strcmp(json_object_get_string(n), name) != 0)
			continue;
		if ((!key && !k) || (key && k && strcmp(json_object_get_string(k), key) == 0))
			return a;
	}
	return NULL;
}

static const char *field(struct json_object *a, const char *key)
{
	struct json_object *v;
	assert_true(json_object_object_get_ex(a, key, &v));
	return json_object_get_string(v);
}

static void test_rules(void **state)
{
	struct json_object *arr = NULL;
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(mgr_advice_json(m, NULL, &arr, &err), 0);
	printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
	struct json_object *a;
	/* over-provisioned on both */
	assert_non_null(a = item(arr, "over", "limits.cpu"));
	assert_string_equal(field(a, "kind"), "over-provisioned");
	assert_string_equal(field(a, "current"), "2");
	assert_string_equal(field(a, "recommended"), "1");
	assert_non_null(strstr(field(a, "evidence"), "p95 0.30 of 2 cores"));
	assert_non_null(strstr(field(a, "impact"), "saves 1 CPU"));
	assert_non_null(a = item(arr, "over", "limits.memory"));
	assert_string_equal(field(a, "current"), "1024MiB");
	assert_string_equal(field(a, "recommended"), "144MiB"); /* 1.3 x 100, 16 MiB steps */
	assert_non_null(strstr(field(a, "impact"), "saves 880 MiB"));
	/* starved CPU (needs a second CPU on the host) */
	if (sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
		assert_non_null(a = item(arr, "cpu", "limits.cpu"));
		assert_string_equal(field(a, "kind"), "starved");
		assert_string_equal(field(a, "recommended"), "2");
		assert_non_null(strstr(field(a, "evidence"), "throttled 30% of the time"));
	}
	/* starved memory: OOM kills; a VM guest short of memory */
	assert_non_null(a = item(arr, "oom", "limits.memory"));
	assert_string_equal(field(a, "kind"), "starved");
	assert_string_equal(field(a, "recommended"), "128MiB");
	assert_non_null(strstr(field(a, "evidence"), "15 OOM kills"));
	assert_non_null(a = item(arr, "vm", "limits.memory"));
	assert_string_equal(field(a, "kind"), "starved");
	assert_non_null(strstr(field(a, "evidence"), "guest had only 25 MiB available of 500 MiB"));
	assert_string_equal(field(a, "recommended"), "1024MiB");
	/* idle; nothing for the young and the well-sized */
	assert_non_null(a = item(arr, "idle", NULL));
	assert_string_equal(field(a, "kind"), "idle");
	assert_null(item(arr, "over", NULL));
	assert_null(item(arr, "young", "limits.cpu"));
	assert_null(item(arr, "young", "limits.memory"));
	assert_null(item(arr, "fine", "limits.cpu"));
	assert_null(item(arr, "fine", "limits.memory"));
	assert_null(item(arr, "fine", NULL));
	json_object_put(arr);
	/* one instance; an unknown one */
	assert_int_equal(mgr_advice_json(m, "over", &arr, &err), 0);
	assert_int_equal(json_object_array_length(arr), 2);
	json_object_put(arr);
	assert_int_equal(mgr_advice_json(m, "nope", &arr, &err), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
