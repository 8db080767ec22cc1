/*
 * test_state.c - unit tests for container state (lib/ct/state.c): the state
 * directory life cycle, save/load round trip, and honest status: a dead or
 * recycled pid reads as stopped whatever the saved status says.
 */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vessel/ct/state.h"

static char root[64];

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/vessel-ct-state.XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_dir_lifecycle(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	int fd = -1, fd2 = -1;
	assert_int_equal(ct_state_dir_create(root, "c1", &fd, &err), 0);
	assert_int_equal(ct_state_dir_create(root, "c1", &fd2, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "container c1 already exists"));
	assert_int_equal(ct_state_dir_remove(root, "c1", fd, &err), 0);
	close(fd);
	assert_int_equal(ct_state_dir_open(root, "c1", &fd2, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "container c1 does not exist"));
}

static void test_roundtrip_and_status(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	int fd = -1;
	assert_int_equal(ct_state_dir_create(root, "c2", &fd, &err), 0);
	struct ct_state st;
	memset(&st, 0, sizeof(st));
	snprintf(st.id, sizeof(st.id), "c2");
	snprintf(st.bundle, sizeof(st.bundle), "/b");
	st.pid = getpid();
	st.start_time = ct_proc_start_time(st.pid);
	assert_true(st.start_time > 0);
	st.saved_status = CT_STATUS_RUNNING;
	st.has_cgroup = true;
	st.cgroup.layout = CT_CGROUP_HYBRID;
	snprintf(st.cgroup.path, sizeof(st.cgroup.path), "/vessel/c2");
	st.annotations_json = strdup("{\"a\":\"b\"}");
	st.hook_mask = 5;
	assert_int_equal(ct_state_save(fd, &st, &err), 0);

	struct ct_state back;
	assert_int_equal(ct_state_load(fd, &back, &err), 0);
	assert_string_equal(back.id, "c2");
	assert_string_equal(back.bundle, "/b");
	assert_int_equal(back.pid, st.pid);
	assert_int_equal(back.start_time, st.start_time);
	assert_int_equal(back.cgroup.layout, CT_CGROUP_HYBRID);
	assert_string_equal(back.cgroup.path, "/vessel/c2");
	assert_int_equal(back.hook_mask, 5);
	assert_int_equal(ct_state_status(&back), CT_STATUS_RUNNING);
	char *json = ct_state_to_json(&back, false);
	struct json_object *o = json_tokener_parse(json);
	assert_non_null(o);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "status")), "running");
	assert_string_equal(json_object_get_string(json_object_object_get(
				json_object_object_get(o, "annotations"), "a")),
			    "b");
	json_object_put(o);
	free(json);

	/* a recycled pid (wrong start time) is not the container */
	back.start_time += 1;
	assert_int_equal(ct_state_status(&back), CT_STATUS_STOPPED);
	/* a dead pid is stopped, and state JSON then says pid 0 */
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	back.pid = child;
	assert_int_equal(ct_state_status(&back), CT_STATUS_STOPPED);
	json = ct_state_to_json(&back, false);
	assert_non_null(strstr(json, "\"pid\":0"));
	assert_non_null(strstr(json, "\"status\":\"stopped\""));
	free(json);
	ct_state_free(&back);
	ct_state_free(&st);
	assert_int_equal(ct_state_dir_remove(root, "c2", fd, &err), 0);
	close(fd);
}

static void test_zombie_is_stopped(void **state)
{
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	/* not reaped yet: a zombie */
	for (int i = 0; i < 200; i++) {
		char path[64], buf[256];
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)child);
		FILE *f = fopen(path, "r");
		if (!f)
			break;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		if (strstr(buf, ") Z "))
			break;
		usleep(5000);
	}
	assert_int_equal(ct_proc_start_time(child), 0);
	waitpid(child, NULL, 0);
}

static void test_missing_state_file(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	int fd = -1;
	assert_int_equal(ct_state_dir_create(root, "c3", &fd, &err), 0);
	struct ct_state st;
	assert_int_equal(ct_state_load(fd, &st, &err), -ENODATA);
	assert_int_equal(ct_state_dir_remove(root, "c3", fd, &err), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dir_lifecycle),
		cmocka_unit_test(test_roundtrip_and_status),
		cmocka_unit_test(test_zombie_is_stopped),
		cmocka_unit_test(test_missing_state_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
