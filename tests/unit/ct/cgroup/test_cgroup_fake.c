/*
 * test_cgroup_fake.c - the cgroup library against fake v1, hybrid and v2
 * trees in a temporary directory (include/vessel/ct/cgroup_testing.h):
 * detection, path resolution, the exact values written to every interface
 * file, all-or-nothing creation, freeze, stats and destroy.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "vessel/ct/cgroup.h"
#include "vessel/ct/cgroup_testing.h"

static char tmp[256];

static void put(const char *rel, const char *content)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	/* mkdir -p of the parent */
	for (char *p = path + strlen(tmp) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	if (content) {
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(content, f);
		fclose(f);
	} else {
		mkdir(path, 0755);
	}
}

static const char *get(const char *rel)
{
	static char buf[4096];
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static bool exists(const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	return access(path, F_OK) == 0;
}

static void rm_rf(const char *path)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "/tmp/vessel-cgfake-XXXXXX");
	assert_non_null(mkdtemp(tmp));
	return 0;
}

static int teardown(void **state)
{
	ct_cgroup_testing_set_root(NULL, NULL);
	rm_rf(tmp);
	return 0;
}

static void parse(const char *text, struct ct_resources *res)
{
	struct json_object *obj = json_tokener_parse(text);
	assert_non_null(obj);
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(ct_resources_parse(obj, res, &err), 0);
	json_object_put(obj);
}

static void make_v1_tree(void)
{
	put("cpu,cpuacct", NULL);
	put("cpuset/cpuset.cpus", "0-3\n");
	put("cpuset/cpuset.mems", "0\n");
	put("memory", NULL);
	put("pids", NULL);
	put("devices", NULL);
	put("freezer", NULL);
	put("blkio", NULL);
	put("systemd", NULL);
	put("unified", NULL); /* an empty mount point: not hybrid */
	ct_cgroup_testing_set_root(tmp, NULL);
}

static void test_detect(void **state)
{
	enum ct_cgroup_layout layout = 0;
	make_v1_tree();
	assert_int_equal(ct_cgroup_detect(&layout, NULL), 0);
	assert_int_equal(layout, CT_CGROUP_V1);
	put("unified/cgroup.controllers", "");
	assert_int_equal(ct_cgroup_detect(&layout, NULL), 0);
	assert_int_equal(layout, CT_CGROUP_HYBRID);
	put("cgroup.controllers", "cpu memory pids");
	assert_int_equal(ct_cgroup_detect(&layout, NULL), 0);
	assert_int_equal(layout, CT_CGROUP_V2);
}

static void test_v1_create_apply(void **state)
{
	make_v1_tree();
	/* swap accounting present; BFQ only: the library must pick these files */
	put("memory/vessel/t1/memory.memsw.limit_in_bytes", "9223372036854771712\n");
	put("blkio/vessel/t1/blkio.bfq.weight", "100\n");
	struct ct_resources res;
	parse("{\"memory\":{\"limit\":1048576,\"swap\":4194304,\"reservation\":65536},"
	      "\"cpu\":{\"shares\":512,\"quota\":20000,\"period\":100000,\"cpus\":\"1\"},"
	      "\"pids\":{\"limit\":16},\"blockIO\":{\"weight\":200},"
	      "\"devices\":[{\"allow\":false,\"access\":\"rwm\"},"
	      "{\"allow\":true,\"type\":\"c\",\"major\":10,\"minor\":200,\"access\":\"rwm\"}]}",
	      &res);
	struct ct_cgroup cg;
	struct vs_err err = VS_ERR_INIT;
	int r = ct_cgroup_create(&cg, CT_CGROUP_V1, "/vessel/t1", &res, 4242, &err);
	if (r < 0)
		fail_msg("create: %s", err.msg);
	assert_int_equal(cg.layout, CT_CGROUP_V1);
	assert_string_equal(cg.path, "/vessel/t1");
	assert_string_equal(get("memory/vessel/t1/memory.limit_in_bytes"), "1048576");
	assert_string_equal(get("memory/vessel/t1/memory.memsw.limit_in_bytes"), "4194304");
	assert_string_equal(get("memory/vessel/t1/memory.soft_limit_in_bytes"), "65536");
	assert_string_equal(get("cpu,cpuacct/vessel/t1/cpu.shares"), "512");
	assert_string_equal(get("cpu,cpuacct/vessel/t1/cpu.cfs_period_us"), "100000");
	assert_string_equal(get("cpu,cpuacct/vessel/t1/cpu.cfs_quota_us"), "20000");
	/* the intermediate cpuset directory inherited the parent's sets */
	assert_string_equal(get("cpuset/vessel/cpuset.cpus"), "0-3");
	assert_string_equal(get("cpuset/vessel/cpuset.mems"), "0");
	assert_string_equal(get("cpuset/vessel/t1/cpuset.cpus"), "1");
	assert_string_equal(get("cpuset/vessel/t1/cpuset.mems"), "0");
	assert_string_equal(get("pids/vessel/t1/pids.max"), "16");
	assert_string_equal(get("blkio/vessel/t1/blkio.bfq.weight"), "200");
	assert_false(exists("blkio/vessel/t1/blkio.weight"));
	/* deny-all first, then (last written) the final default rule */
	assert_string_equal(get("devices/vessel/t1/devices.deny"), "a");
	assert_string_equal(get("devices/vessel/t1/devices.allow"), "c 136:* rwm");
	/* the pid joined every hierarchy, including name=systemd */
	static const char *const hier[] = { "cpu,cpuacct", "cpuset",  "memory", "pids",
					    "devices",	   "freezer", "blkio",	"systemd" };
	for (unsigned i = 0; i < 8; i++) {
		char rel[128];
		snprintf(rel, sizeof(rel), "%s/vessel/t1/cgroup.procs", hier[i]);
		assert_string_equal(get(rel), "4242");
	}
	assert_false(exists("unified/vessel"));

	/* update: lowering memory writes the limit before memsw */
	struct ct_resources upd;
	parse("{\"memory\":{\"limit\":524288,\"swap\":524288},\"pids\":{\"limit\":-1}}", &upd);
	put("memory/vessel/t1/memory.memsw.limit_in_bytes", "4194304");
	assert_int_equal(ct_cgroup_update(&cg, &upd, &err), 0);
	assert_string_equal(get("memory/vessel/t1/memory.limit_in_bytes"), "524288");
	assert_string_equal(get("memory/vessel/t1/memory.memsw.limit_in_bytes"), "524288");
	assert_string_equal(get("pids/vessel/t1/pids.max"), "max");
	/* devices are untouched by an update without device rules */
	assert_string_equal(get("devices/vessel/t1/devices.allow"), "c 136:* rwm");

	assert_int_equal(ct_cgroup_freeze(&cg, true, &err), 0);
	assert_string_equal(get("freezer/vessel/t1/freezer.state"), "FROZEN");
	assert_int_equal(ct_cgroup_freeze(&cg, false, &err), 0);
	assert_string_equal(get("freezer/vessel/t1/freezer.state"), "THAWED");

	put("memory/vessel/t1/memory.usage_in_bytes", "12345\n");
	put("memory/vessel/t1/memory.max_usage_in_bytes", "23456\n");
	put("memory/vessel/t1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
	put("cpu,cpuacct/vessel/t1/cpuacct.usage", "999\n");
	put("pids/vessel/t1/pids.current", "2\n");
	struct ct_cgroup_stats st;
	assert_int_equal(ct_cgroup_stats(&cg, &st, &err), 0);
	assert_int_equal(st.memory_usage, 12345);
	assert_int_equal(st.memory_limit, 524288);
	assert_int_equal(st.memory_max_usage, 23456);
	assert_int_equal(st.oom_kills, 3);
	assert_int_equal(st.cpu_usage_ns, 999);
	assert_int_equal(st.pids_current, 2);
	assert_int_equal(st.pids_limit, UINT64_MAX);

	pid_t *pids = NULL;
	size_t npids = 0;
	assert_int_equal(ct_cgroup_pids(&cg, &pids, &npids, &err), 0);
	assert_int_equal(npids, 1);
	assert_int_equal(pids[0], 4242);
	free(pids);

	assert_int_equal(ct_cgroup_destroy(&cg, false, &err), 0);
	for (unsigned i = 0; i < 8; i++) {
		char rel[128];
		snprintf(rel, sizeof(rel), "%s/vessel/t1", hier[i]);
		assert_false(exists(rel));
	}
	ct_resources_free(&res);
	ct_resources_free(&upd);
}

static void test_v1_relative_path(void **state)
{
	make_v1_tree();
	put("self", "9:name=systemd:/user.slice\n4:memory:/sandbox/x\n3:cpuset:/\n"
		    "1:cpu,cpuacct:/cpu-here\n0::/unified-here\n");
	char self[300];
	snprintf(self, sizeof(self), "%s/self", tmp);
	ct_cgroup_testing_set_root(tmp, self);
	struct ct_cgroup cg;
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(ct_cgroup_create(&cg, CT_CGROUP_V1, "ctr", NULL, 77, &err), 0);
	assert_string_equal(get("memory/sandbox/x/ctr/cgroup.procs"), "77");
	assert_string_equal(get("cpu,cpuacct/cpu-here/ctr/cgroup.procs"), "77");
	assert_string_equal(get("systemd/user.slice/ctr/cgroup.procs"), "77");
	assert_string_equal(get("cpuset/ctr/cgroup.procs"), "77");
	assert_string_equal(get("pids/ctr/cgroup.procs"), "77"); /* not listed: root */
	assert_int_equal(ct_cgroup_destroy(&cg, false, &err), 0);
	assert_false(exists("memory/sandbox/x/ctr"));
}

static void test_hybrid_joins_unified(void **state)
{
	make_v1_tree();
	put("unified/cgroup.controllers", "");
	struct ct_cgroup cg;
	struct vs_err err = VS_ERR_INIT;
	struct ct_resources res;
	parse("{\"memory\":{\"limit\":2097152}}", &res);
	assert_int_equal(ct_cgroup_create(&cg, CT_CGROUP_HYBRID, "/h/c", &res, 99, &err), 0);
	assert_string_equal(get("unified/h/c/cgroup.procs"), "99");
	assert_string_equal(get("memory/h/c/memory.limit_in_bytes"), "2097152");
	assert_false(exists("unified/h/c/memory.max")); /* limits go through v1 */
	assert_int_equal(ct_cgroup_destroy(&cg, false, &err), 0);
	assert_false(exists("unified/h/c"));
	assert_false(exists("memory/h/c"));
	ct_resources_free(&res);
}

/* The fast join: the child writes "0" to v1 "tasks" itself. */
static void test_enter_self(void **state)
{
	make_v1_tree();
	put("unified/cgroup.controllers", "");
	struct ct_cgroup cg;
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(ct_cgroup_create(&cg, CT_CGROUP_HYBRID, "/fast/c", NULL, 0, &err), 0);
	assert_false(exists("memory/fast/c/cgroup.procs")); /* pid 0: nobody moved yet */
	assert_int_equal(ct_cgroup_enter_self(&cg, false, &err), 0);
	assert_string_equal(get("memory/fast/c/tasks"), "0");
	assert_string_equal(get("cpu,cpuacct/fast/c/tasks"), "0");
	assert_string_equal(get("systemd/fast/c/tasks"), "0");
	assert_false(exists("unified/fast/c/cgroup.procs")); /* clone3 put it there */
	assert_int_equal(ct_cgroup_enter_self(&cg, true, &err), 0);
	assert_string_equal(get("unified/fast/c/cgroup.procs"), "0");
	int fd = ct_cgroup_open_unified(&cg, &err);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(ct_cgroup_destroy(&cg, false, &err), 0);
	assert_false(exists("memory/fast/c"));

	/* pure v1 has no cgroup2 directory to clone into */
	struct ct_cgroup v1;
	assert_int_equal(ct_cgroup_create(&v1, CT_CGROUP_V1, "/fast/v1", NULL, 0, &err), 0);
	assert_int_equal(ct_cgroup_open_unified(&v1, &err), -ENOENT);
	assert_int_equal(ct_cgroup_destroy(&v1, false, &err), 0);
}

/* A limit that cannot be applied: error names it, nothing is left behind. */
static void test_v1_failure_undoes(void **state)
{
	make_v1_tree();
	struct ct_cgroup cg;
	struct vs_err err = VS_ERR_INIT;
	struct ct_resources res;
	parse("{\"pids\":{\"limit\":5},"
	      "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":2097152}]}",
	      &res);
	int r = ct_cgroup_create(&cg, CT_CGROUP_V1, "/deep/er/c", &res, 5, &err);
	assert_int_equal(r, -ENOTSUP);
	assert_non_null(strstr(err.msg, "cgroup /deep/er/c: "));
	assert_non_null(strstr(err.msg, "'hugetlb' controller, which is not mounted"));
	assert_false(exists("pids/deep"));
	assert_false(exists("memory/deep"));
	assert_false(exists("cpuset/deep"));
	ct_resources_free(&res);

	parse("{\"unified\":{\"memory.high\":\"5\"}}", &res);
	assert_int_equal(ct_cgroup_create(&cg, CT_CGROUP_V1, "/u", &res, 5, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "unified (memory.high) needs cgroup v2"));
	assert_false(exists("pids/u"));
	ct_resources_free(&res);

	/* a directory that existed before is kept */
	put("memory/pre/keep", "x");
	parse("{\"unified\":{\"memory.high\":\"5\"}}", &res);
	assert_int_equal(ct_cgroup_create(&cg, CT_CGROUP_V1, "/pre/c", &res, 5, &err), -ENOTSUP);
	assert_true(exists("memory/pre/keep"));
	assert_false(exists("memory/pre/c"));
	ct_resources_free(&res);
}

static void test_bad_paths(void **state)
{
	make_v1_tree();
	struct ct_cgroup cg;
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(ct_cgroup_create(&cg, CT_CGROUP_V1, "/a/../../etc", NULL, 1, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "'..' are not allowed"));
	assert_int_equal(ct_cgroup_create(&cg, CT_CGROUP_V1, "/", NULL, 1, &err), -EINVAL);
	assert_int_equal(ct_cgroup_create(&cg, CT_CGROUP_V1, "", NULL, 1, &err), -EINVAL);
	assert_int_equal(
	    ct_cgroup_create(&cg, CT_CGROUP_V1, "system.slice:vessel:x", NULL, 1, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "systemd"));
	assert_false(exists("memory/a"));
}

static void test_v2_create_apply(void **state)
{
	put("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
	put("cgroup.subtree_control", "");
	ct_cgroup_testing_set_root(tmp, NULL);
	enum ct_cgroup_layout layout;
	assert_int_equal(ct_cgroup_detect(&layout, NULL), 0);
	assert_int_equal(layout, CT_CGROUP_V2);
	struct ct_resources res;
	parse("{\"memory\":{\"limit\":1048576,\"swap\":3145728,\"reservation\":4096},"
	      "\"cpu\":{\"shares\":1024,\"quota\":50000,\"period\":100000,\"cpus\":\"0\","
	      "\"mems\":\"0\"},"
	      "\"pids\":{\"limit\":0},\"blockIO\":{\"weight\":100},"
	      "\"hugepageLimits\":[{\"pageSize\":\"1GB\",\"limit\":0}],"
	      "\"unified\":{\"memory.high\":\"900000\"}}",
	      &res);
	struct ct_cgroup cg;
	struct vs_err err = VS_ERR_INIT;
	int r = ct_cgroup_create(&cg, CT_CGROUP_V2, "/a/b", &res, 31, &err);
	if (r < 0)
		fail_msg("create: %s", err.msg);
	assert_string_equal(get("cgroup.subtree_control"),
			    "+cpu +cpuset +io +memory +pids +hugetlb");
	assert_string_equal(get("a/cgroup.subtree_control"),
			    "+cpu +cpuset +io +memory +pids +hugetlb");
	assert_false(exists("a/b/cgroup.subtree_control"));
	assert_string_equal(get("a/b/memory.max"), "1048576");
	assert_string_equal(get("a/b/memory.swap.max"), "2097152");
	assert_string_equal(get("a/b/memory.low"), "4096");
	assert_string_equal(get("a/b/cpu.weight"), "39");
	assert_string_equal(get("a/b/cpu.max"), "50000 100000");
	assert_string_equal(get("a/b/cpuset.cpus"), "0");
	assert_string_equal(get("a/b/cpuset.mems"), "0");
	assert_string_equal(get("a/b/pids.max"), "max");
	assert_string_equal(get("a/b/io.weight"), "default 910");
	assert_string_equal(get("a/b/hugetlb.1GB.max"), "0");
	assert_string_equal(get("a/b/memory.high"), "900000");
	assert_string_equal(get("a/b/cgroup.procs"), "31");

	/* update of the period alone keeps the quota */
	struct ct_resources upd;
	parse("{\"cpu\":{\"period\":200000},\"memory\":{\"limit\":-1}}", &upd);
	assert_int_equal(ct_cgroup_update(&cg, &upd, &err), 0);
	assert_string_equal(get("a/b/cpu.max"), "50000 200000");
	assert_string_equal(get("a/b/memory.max"), "max");

	assert_int_equal(ct_cgroup_freeze(&cg, true, &err), 0);
	assert_string_equal(get("a/b/cgroup.freeze"), "1");
	assert_int_equal(ct_cgroup_freeze(&cg, false, &err), 0);
	assert_string_equal(get("a/b/cgroup.freeze"), "0");

	put("a/b/memory.current", "4096\n");
	put("a/b/memory.peak", "8192\n");
	put("a/b/memory.events", "low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n");
	put("a/b/cpu.stat", "usage_usec 250\nuser_usec 200\n");
	put("a/b/pids.current", "3\n");
	struct ct_cgroup_stats st;
	assert_int_equal(ct_cgroup_stats(&cg, &st, &err), 0);
	assert_int_equal(st.memory_usage, 4096);
	assert_int_equal(st.memory_max_usage, 8192);
	assert_int_equal(st.memory_limit, UINT64_MAX);
	assert_int_equal(st.oom_kills, 1);
	assert_int_equal(st.cpu_usage_ns, 250000);
	assert_int_equal(st.pids_current, 3);

	assert_int_equal(ct_cgroup_destroy(&cg, false, &err), 0);
	assert_false(exists("a/b"));
	ct_resources_free(&res);
	ct_resources_free(&upd);

	/* v2 refuses v1-only realtime limits, and undoes the directories */
	parse("{\"cpu\":{\"realtimeRuntime\":1000}}", &res);
	assert_int_equal(ct_cgroup_create(&cg, CT_CGROUP_V2, "/rt/c", &res, 31, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "realtime"));
	assert_false(exists("rt"));
	ct_resources_free(&res);

	/* blockIO per device and throttles: io.weight and io.max */
	parse("{\"blockIO\":{\"weightDevice\":[{\"major\":8,\"minor\":0,\"weight\":1000}],"
	      "\"throttleWriteIOPSDevice\":[{\"major\":8,\"minor\":16,\"rate\":300}]}}",
	      &res);
	if (ct_cgroup_create(&cg, CT_CGROUP_V2, "/io", &res, 31, &err) < 0)
		fail_msg("create: %s", err.msg);
	assert_string_equal(get("io/io.weight"), "8:0 10000");
	assert_string_equal(get("io/io.max"), "8:16 wiops=300");
	assert_int_equal(ct_cgroup_destroy(&cg, false, &err), 0);
	ct_resources_free(&res);

	/* what cgroup v2 cannot do is refused, naming the key */
	static const char *const refused[][2] = {
		{ "{\"network\":{\"classID\":1}}", "linux.resources.network" },
		{ "{\"memory\":{\"kernelTCP\":65536}}", "linux.resources.memory.kernelTCP" },
		{ "{\"memory\":{\"swappiness\":10}}", "linux.resources.memory.swappiness" },
		{ "{\"blockIO\":{\"leafWeight\":100}}", "linux.resources.blockIO.leafWeight" },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		parse(refused[i][0], &res);
		assert_int_equal(ct_cgroup_create(&cg, CT_CGROUP_V2, "/no", &res, 31, &err),
				 -ENOTSUP);
		if (!strstr(err.msg, refused[i][1]))
			fail_msg("%s: %s", refused[i][0], err.msg);
		assert_false(exists("no"));
		ct_resources_free(&res);
	}

	/* swap without any limit cannot be converted */
	parse("{\"memory\":{\"swap\":3145728}}", &res);
	assert_int_equal(ct_cgroup_create(&cg, CT_CGROUP_V2, "/sw", &res, 31, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "needs a memory.limit"));
	assert_false(exists("sw"));
	ct_resources_free(&res);
}

static void test_shares_to_weight(void **state)
{
	assert_int_equal(ct_cgroup_shares_to_weight(2), 1);
	assert_int_equal(ct_cgroup_shares_to_weight(262144), 10000);
	assert_int_equal(ct_cgroup_shares_to_weight(1024), 39);
	assert_int_equal(ct_cgroup_shares_to_weight(0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_detect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v1_create_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v1_relative_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hybrid_joins_unified, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v1_failure_undoes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enter_self, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_create_apply, setup, teardown),
		cmocka_unit_test(test_shares_to_weight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
