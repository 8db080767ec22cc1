/*
 * test_resources.c - ct_resources_parse: OCI linux.resources accepted into
 * the right fields, and every malformed member refused with a message that
 * names it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "vessel/ct/cgroup.h"

static int parse(const char *text, struct ct_resources *res, struct vs_err *err)
{
	struct json_object *obj = json_tokener_parse(text);
	assert_non_null(obj);
	int r = ct_resources_parse(obj, res, err);
	json_object_put(obj);
	return r;
}

static void test_full(void **state)
{
	struct ct_resources res;
	struct vs_err err = VS_ERR_INIT;
	int r = parse("{\"memory\":{\"limit\":1048576,\"reservation\":524288,\"swap\":2097152,"
		      "\"swappiness\":10,\"disableOOMKiller\":true},"
		      "\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000,"
		      "\"realtimeRuntime\":1000,\"realtimePeriod\":2000,\"cpus\":\"0-1,3\","
		      "\"mems\":\"0\"},"
		      "\"pids\":{\"limit\":32},\"blockIO\":{\"weight\":300},"
		      "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":4194304}],"
		      "\"devices\":[{\"allow\":false,\"access\":\"rwm\"},"
		      "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rw\"}],"
		      "\"unified\":{\"memory.high\":\"1000000\"},"
		      "\"network\":{\"classID\":1}}",
		      &res, &err);
	assert_int_equal(r, 0);
	assert_int_equal(res.memory_limit, 1048576);
	assert_int_equal(res.memory_reservation, 524288);
	assert_int_equal(res.memory_swap, 2097152);
	assert_int_equal(res.memory_swappiness, 10);
	assert_true(res.memory_disable_oom_killer);
	assert_int_equal(res.cpu_shares, 512);
	assert_int_equal(res.cpu_quota, 50000);
	assert_int_equal(res.cpu_period, 100000);
	assert_int_equal(res.cpu_realtime_runtime, 1000);
	assert_int_equal(res.cpu_realtime_period, 2000);
	assert_string_equal(res.cpu_cpus, "0-1,3");
	assert_string_equal(res.cpu_mems, "0");
	assert_int_equal(res.pids_limit, 32);
	assert_int_equal(res.blkio_weight, 300);
	assert_int_equal(res.nhugetlb, 1);
	assert_string_equal(res.hugetlb[0].page_size, "2MB");
	assert_int_equal(res.hugetlb[0].limit, 4194304);
	assert_int_equal(res.ndevices, 2);
	assert_false(res.devices[0].allow);
	assert_int_equal(res.devices[0].type, 'a');
	assert_int_equal(res.devices[0].major, -1);
	assert_true(res.devices[1].allow);
	assert_int_equal(res.devices[1].type, 'c');
	assert_int_equal(res.devices[1].major, 1);
	assert_int_equal(res.devices[1].minor, 3);
	assert_string_equal(res.devices[1].access, "rw");
	assert_int_equal(res.nunified, 1);
	assert_string_equal(res.unified_keys[0], "memory.high");
	assert_string_equal(res.unified_values[0], "1000000");
	ct_resources_free(&res);
}

/* the members that used to be skipped silently are parsed for the back ends */
static void test_full_rest(void **state)
{
	struct ct_resources res;
	struct vs_err err = VS_ERR_INIT;
	int r = parse("{\"memory\":{\"kernel\":1048576,\"kernelTCP\":65536,"
		      "\"useHierarchy\":true,\"checkBeforeUpdate\":true},\"cpu\":{\"idle\":1},"
		      "\"blockIO\":{\"leafWeight\":20,\"weightDevice\":[{\"major\":8,\"minor\":0,"
		      "\"weight\":300,\"leafWeight\":40}],"
		      "\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0,\"rate\":100}],"
		      "\"throttleWriteIOPSDevice\":[{\"major\":8,\"minor\":16,\"rate\":7}]},"
		      "\"network\":{\"classID\":1048577,\"priorities\":[{\"name\":\"eth0\","
		      "\"priority\":5}]},\"rdma\":{\"mlx5_0\":{\"hcaHandles\":3}}}",
		      &res, &err);
	if (r < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(res.memory_kernel, 1048576);
	assert_int_equal(res.memory_kernel_tcp, 65536);
	assert_int_equal(res.memory_use_hierarchy, 1);
	assert_true(res.memory_check_before_update);
	assert_int_equal(res.cpu_idle, 1);
	assert_int_equal(res.blkio_leaf_weight, 20);
	assert_int_equal(res.nblkio_weight_devices, 1);
	assert_int_equal(res.blkio_weight_devices[0].weight, 300);
	assert_int_equal(res.blkio_weight_devices[0].leaf_weight, 40);
	assert_int_equal(res.nblkio_throttle[CT_THROTTLE_READ_BPS], 1);
	assert_int_equal(res.blkio_throttle[CT_THROTTLE_READ_BPS][0].rate, 100);
	assert_int_equal(res.nblkio_throttle[CT_THROTTLE_WRITE_IOPS], 1);
	assert_int_equal(res.blkio_throttle[CT_THROTTLE_WRITE_IOPS][0].minor, 16);
	assert_int_equal(res.nblkio_throttle[CT_THROTTLE_WRITE_BPS], 0);
	assert_int_equal(res.net_class_id, 1048577);
	assert_int_equal(res.nnet_priorities, 1);
	assert_string_equal(res.net_priorities[0].name, "eth0");
	assert_int_equal(res.net_priorities[0].priority, 5);
	assert_int_equal(res.nrdma, 1);
	assert_string_equal(res.rdma[0].device, "mlx5_0");
	assert_int_equal(res.rdma[0].hca_handles, 3);
	assert_int_equal(res.rdma[0].hca_objects, CT_RES_UNSET);
	ct_resources_free(&res);
}

static void test_empty_and_null(void **state)
{
	struct ct_resources res;
	assert_int_equal(ct_resources_parse(NULL, &res, NULL), 0);
	assert_int_equal(res.memory_limit, CT_RES_UNSET);
	assert_int_equal(res.pids_limit, CT_RES_UNSET);
	assert_string_equal(res.cpu_cpus, "");
	assert_int_equal(parse("{}", &res, NULL), 0);
	assert_int_equal(res.cpu_shares, CT_RES_UNSET);
	/* zero means "not set" for podman/runc */
	assert_int_equal(parse("{\"memory\":{\"limit\":0},\"cpu\":{\"shares\":0}}", &res, NULL), 0);
	assert_int_equal(res.memory_limit, CT_RES_UNSET);
	assert_int_equal(res.cpu_shares, CT_RES_UNSET);
	/* -1 = unlimited */
	assert_int_equal(parse("{\"memory\":{\"limit\":-1},\"pids\":{\"limit\":-1}}", &res, NULL),
			 0);
	assert_int_equal(res.memory_limit, -1);
	assert_int_equal(res.pids_limit, -1);
	ct_resources_free(&res);
}

static void expect_error(const char *text, const char *needle)
{
	struct ct_resources res;
	struct vs_err err = VS_ERR_INIT;
	int r = parse(text, &res, &err);
	assert_true(r < 0);
	assert_int_equal(-r, err.code);
	if (!strstr(err.msg, needle))
		fail_msg("message '%s' lacks '%s'", err.msg, needle);
	/* nothing allocated survives a failure */
	assert_null(res.devices);
	assert_null(res.hugetlb);
	assert_null(res.unified_keys);
}

static void test_errors(void **state)
{
	expect_error("[]", "linux.resources: expected an object");
	expect_error("{\"memory\":5}", "linux.resources.memory: expected an object");
	expect_error("{\"memory\":{\"limit\":\"1G\"}}", "memory.limit: expected an integer");
	expect_error("{\"memory\":{\"limit\":-5}}", "memory.limit: -5 is out of range");
	expect_error("{\"memory\":{\"swappiness\":101}}", "memory.swappiness");
	expect_error("{\"memory\":{\"limit\":2000000,\"swap\":1000000}}",
		     "memory.swap: 1000000 is below memory.limit");
	expect_error("{\"memory\":{\"disableOOMKiller\":1}}",
		     "disableOOMKiller: expected a boolean");
	expect_error("{\"cpu\":{\"shares\":1}}", "cpu.shares: 1 is below the minimum 2");
	expect_error("{\"cpu\":{\"shares\":300000}}", "cpu.shares");
	expect_error("{\"cpu\":{\"period\":10}}", "cpu.period");
	expect_error("{\"cpu\":{\"quota\":500}}", "cpu.quota: 500 is below the minimum");
	expect_error("{\"cpu\":{\"cpus\":\"0-\"}}", "cpu.cpus: '0-' is not a list");
	expect_error("{\"cpu\":{\"cpus\":\"1-2-3\"}}", "cpu.cpus");
	expect_error("{\"cpu\":{\"mems\":\"0\\n1\"}}", "cpu.mems");
	expect_error("{\"pids\":{}}", "pids.limit: required member missing");
	expect_error("{\"pids\":{\"limit\":1.5}}", "pids.limit: expected an integer");
	expect_error("{\"blockIO\":{\"weight\":5}}", "blockIO.weight: 5 is out of range");
	expect_error("{\"blockIO\":{\"weight\":1001}}", "blockIO.weight");
	expect_error("{\"hugepageLimits\":{}}", "hugepageLimits: expected an array");
	expect_error("{\"hugepageLimits\":[{\"pageSize\":\"2M\",\"limit\":1}]}",
		     "hugepageLimits[0].pageSize: '2M' is not a size");
	expect_error("{\"hugepageLimits\":[{\"pageSize\":\"../x/2MB\",\"limit\":1}]}", "pageSize");
	expect_error("{\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":-1}]}",
		     "hugepageLimits[0].limit");
	expect_error("{\"devices\":[{\"access\":\"rwm\"}]}", "devices[0].allow: required");
	expect_error("{\"devices\":[{\"allow\":true,\"type\":\"x\"}]}", "devices[0].type");
	expect_error("{\"devices\":[{\"allow\":true},{\"allow\":true,\"access\":\"rwx\"}]}",
		     "devices[1].access");
	expect_error("{\"devices\":[{\"allow\":true,\"access\":\"rr\"}]}", "devices[0].access");
	expect_error("{\"devices\":[{\"allow\":true,\"access\":\"\"}]}", "devices[0].access");
	expect_error("{\"devices\":[{\"allow\":true,\"major\":\"1\"}]}", "devices[0].major");
	expect_error("{\"unified\":{\"../../etc/passwd\":\"x\"}}", "is not a cgroup v2 file name");
	expect_error("{\"unified\":{\"cgroup.procs/\":\"x\"}}", "is not a cgroup v2 file name");
	expect_error("{\"unified\":{\"memory.high\":5}}", "unified.memory.high: expected a string");
	expect_error("{\"blockIO\":{\"weightDevice\":[{\"major\":8,\"weight\":5}]}}",
		     "blockIO.weightDevice[0]: major and minor are required");
	expect_error("{\"blockIO\":{\"weightDevice\":[{\"major\":8,\"minor\":0,\"weight\":5}]}}",
		     "blockIO.weightDevice.weight: 5 is out of range");
	expect_error("{\"blockIO\":{\"throttleReadIOPSDevice\":[{\"major\":8,\"minor\":0}]}}",
		     "throttleReadIOPSDevice[0].rate: required");
	expect_error("{\"network\":{\"priorities\":[{\"name\":\"a b\",\"priority\":1}]}}",
		     "network.priorities[0].name: 'a b' is not an interface name");
	expect_error("{\"network\":{\"classID\":-1}}", "network.classID");
	expect_error("{\"rdma\":{\"x\":5}}", "rdma.x: expected an object");
	expect_error("{\"cpu\":{\"idle\":2}}", "cpu.idle");
	expect_error("{\"memory\":{\"useHierarchy\":1}}", "useHierarchy: expected a boolean");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_full_rest),
		cmocka_unit_test(test_empty_and_null),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
