/* Unit tests for lib/core: sizes, errors, file helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vessel/core/err.h"
#include "vessel/core/util.h"

static void test_parse_size_units(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	uint64_t v = 0;
	assert_int_equal(vs_parse_size("4096", &v, &err), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(vs_parse_size("64K", &v, &err), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(vs_parse_size("1G", &v, &err), 0);
	assert_int_equal(v, 1ULL << 30);
	assert_int_equal(vs_parse_size("1.5G", &v, &err), 0);
	assert_int_equal(v, 3ULL << 29);
	assert_int_equal(vs_parse_size("2TiB", &v, &err), 0);
	assert_int_equal(v, 2ULL << 40);
	assert_int_equal(vs_parse_size("512M", &v, &err), 0);
	assert_int_equal(v, 512ULL << 20);
}

static void test_parse_size_rejects(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	uint64_t v = 0;
	assert_int_equal(vs_parse_size("", &v, &err), -EINVAL);
	assert_int_equal(vs_parse_size("-1", &v, &err), -EINVAL);
	assert_int_equal(vs_parse_size("12Q", &v, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "12Q"));
	assert_int_equal(vs_parse_size("1.5", &v, &err), -EINVAL);
	assert_int_equal(vs_parse_size("99999999999999999999", &v, &err), -ERANGE);
	assert_int_equal(vs_parse_size("17E", &v, &err), -ERANGE);
}

static void test_err_format(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(vs_syserrf(&err, ENOENT, "open %s", "x.img"), -ENOENT);
	assert_string_equal(err.msg, "open x.img: No such file or directory");
	assert_int_equal(vs_err_prefix(&err, "disk %d", 3), -ENOENT);
	assert_string_equal(err.msg, "disk 3: open x.img: No such file or directory");
	assert_int_equal(vs_errf(NULL, EINVAL, "ignored"), -EINVAL);
	assert_int_equal(vs_errf(&err, 0, "zero"), -EIO); /* never reads as success */
}

static void test_file_roundtrip(void **state)
{
	char dir[] = "/tmp/vessel-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/f", dir);
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(vs_write_file_atomic(path, "hello", 5, &err), 0);
	char *buf = NULL;
	size_t len = 0;
	assert_int_equal(vs_read_file(path, &buf, &len, 1024, &err), 0);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "hello");
	free(buf);
	assert_int_equal(vs_read_file(path, &buf, &len, 3, &err), -EFBIG);
	unlink(path);
	assert_int_equal(vs_read_file(path, &buf, &len, 3, &err), -ENOENT);
	rmdir(dir);
}

/* In a child (whatever stdio this test was given): close 0 and 1, call
 * vs_stdio_ensure(), and report through the exit code what went wrong. */
static int stdio_ensure_child(void)
{
	struct stat null, st, before, after;
	if (stat("/dev/null", &null) < 0 || fstat(2, &before) < 0)
		return 10; /* stderr must be open: meson captures it */
	close(0);
	close(1);
	vs_stdio_ensure();
	if (fstat(0, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != null.st_rdev)
		return 11;
	if ((fcntl(0, F_GETFL) & O_ACCMODE) != O_RDONLY)
		return 12;
	if (fstat(1, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != null.st_rdev)
		return 13;
	if ((fcntl(1, F_GETFL) & O_ACCMODE) != O_WRONLY)
		return 14;
	if (fstat(2, &after) < 0 || after.st_ino != before.st_ino || after.st_dev != before.st_dev)
		return 15; /* an open descriptor is left alone */
	int fd = open("/dev/null", O_RDONLY);
	return fd > 2 ? 0 : 16; /* the lowest free number is above 2 */
}

/* Closed stdio descriptors come back on /dev/null; open ones are untouched. */
static void test_split_hostport(void **state)
{
	(void)state;
	char host[16];
	const char *port;
	assert_int_equal(vs_split_hostport("10.0.0.1:8443", host, sizeof(host), &port), 0);
	assert_string_equal(host, "10.0.0.1");
	assert_string_equal(port, "8443");
	assert_int_equal(vs_split_hostport("[::1]:7000", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_string_equal(port, "7000");
	assert_int_equal(vs_split_hostport("[fd00::2]:1", host, sizeof(host), &port), 0);
	assert_string_equal(host, "fd00::2");
	static const char *const bad[] = { "",	      "host",
					   ":80",     "host:",
					   "[]:80",   "[::1:80",
					   "::1]:80", "averyveryverylonghostname:1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vs_split_hostport(bad[i], host, sizeof(host), &port), -EINVAL);
}

static void test_stdio_ensure(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(stdio_ensure_child());
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size_units), cmocka_unit_test(test_parse_size_rejects),
		cmocka_unit_test(test_err_format),	 cmocka_unit_test(test_file_roundtrip),
		cmocka_unit_test(test_stdio_ensure),	 cmocka_unit_test(test_split_hostport),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
