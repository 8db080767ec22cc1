/*
 * test_config.c - unit tests for the config.json parser, the name tables
 * (signals, capabilities), container ID rules, mount options and the
 * symlink-safe resolution inside a rootfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../lib/ct/linux_internal.h"
#include "../../../lib/ct/mounts_internal.h"
#include "vessel/ct/config.h"
#include "vessel/ct/state.h"

#define MINIMAL_HEAD                                                                      \
	"{\"ociVersion\":\"1.1.0\",\"root\":{\"path\":\"rootfs\",\"readonly\":true},"     \
	"\"process\":{\"cwd\":\"/\",\"args\":[\"sh\",\"-c\",\"true\"],\"env\":[\"A=1\"]," \
	"\"user\":{\"uid\":5,\"gid\":6,\"additionalGids\":[7,8]},"                        \
	"\"capabilities\":{\"bounding\":[\"CAP_KILL\",\"cap_chown\"]},"                   \
	"\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":10,\"hard\":20}]},"

static int parse(const char *text, struct ct_config *cfg, struct vs_err *err)
{
	return ct_config_parse(text, strlen(text), cfg, err);
}

static void test_valid(void **state)
{
	struct ct_config cfg;
	struct vs_err err = VS_ERR_INIT;
	const char *text = MINIMAL_HEAD
	    "\"hostname\":\"box\",\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\"}],"
	    "\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"uts\"},"
	    "{\"type\":\"network\",\"path\":\"/proc/1/ns/net\"}],"
	    "\"maskedPaths\":[\"/proc/kcore\"],\"rootfsPropagation\":\"rprivate\","
	    "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":"
	    "[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":95}]}}}";
	assert_int_equal(parse(text, &cfg, &err), 0);
	assert_string_equal(cfg.root_path, "rootfs");
	assert_true(cfg.root_readonly);
	assert_string_equal(cfg.hostname, "box");
	assert_int_equal(cfg.process.nargs, 3);
	assert_null(cfg.process.args[3]);
	assert_int_equal(cfg.process.uid, 5);
	assert_int_equal(cfg.process.gid, 6);
	assert_int_equal(cfg.process.nadditional_gids, 2);
	assert_int_equal(cfg.process.caps.bounding, (1ULL << 5) | (1ULL << 0));
	assert_int_equal(cfg.process.nrlimits, 1);
	assert_true(cfg.ns[CT_NS_MOUNT].enabled);
	assert_null(cfg.ns[CT_NS_MOUNT].path);
	assert_string_equal(cfg.ns[CT_NS_NET].path, "/proc/1/ns/net");
	assert_false(cfg.ns[CT_NS_PID].enabled);
	assert_int_equal(cfg.nmasked_paths, 1);
	assert_int_equal(cfg.rootfs_propagation, MS_PRIVATE | MS_REC);
	assert_true(cfg.has_seccomp);
	assert_int_equal(cfg.seccomp.nrules, 1);
	ct_config_free(&cfg);
}

struct bad_case {
	const char *tail; /* appended to MINIMAL_HEAD (or a whole doc if it starts with '!') */
	const char *msg;
};

static const struct bad_case bad_cases[] = {
	{ "\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"bogus\"}]}}",
	  "unknown namespace type \"bogus\"" },
	{ "\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"mount\"}]}}",
	  "listed twice" },
	/* no mount namespace: shared with the runtime, so no read-only root */
	{ "\"linux\":{\"namespaces\":[{\"type\":\"uts\"}]}}",
	  "root.readonly: needs a mount namespace" },
	{ "\"linux\":{\"namespaces\":[{\"type\":\"mount\"}],\"sysctl\":{\"vm.swappiness\":\"1\"}}}",
	  "linux.sysctl.vm.swappiness: not a namespaced sysctl" },
	{ "\"linux\":{\"namespaces\":[{\"type\":\"mount\"}],\"sysctl\":{\"kernel.shmmax\":\"1\"}}}",
	  "linux.sysctl.kernel.shmmax: needs an ipc namespace" },
	{ "\"hostname\":\"x\",\"linux\":{\"namespaces\":[{\"type\":\"mount\"}]}}",
	  "hostname: needs a uts namespace" },
	{ "\"mounts\":[{\"destination\":\"rel\"}],\"linux\":{\"namespaces\":[{\"type\":\"mount\"}]}"
	  "}",
	  "mounts[0].destination: rel is not an absolute path" },
	{ "\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"user\"}]}}",
	  "a new user namespace needs both" },
	{ "\"linux\":{\"namespaces\":[{\"type\":\"mount\"}],\"rootfsPropagation\":\"sideways\"}}",
	  "unknown propagation \"sideways\"" },
	{ "\"linux\":{\"namespaces\":[{\"type\":\"mount\"}],\"devices\":[{\"path\":\"/dev/x\","
	  "\"type\":\"q\"}]}}",
	  "unknown device type \"q\"" },
	{ "!{\"ociVersion\":\"1.1.0\"", "unexpected end of document" },
	{ "!{\"ociVersion\":\"1.1.0\",\"root\":{\"path\":\"r\"}} x", "trailing data" },
	{ "![]", "config.json: expected an object" },
	{ "!{\"ociVersion\":\"0.9\",\"root\":{\"path\":\"r\"}}", "unsupported version 0.9" },
	{ "!{\"ociVersion\":\"1.0.2\",\"root\":{}}", "root.path: required field is missing" },
	{ "!{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"cwd\":\"rel\","
	  "\"args\":[\"a\"]}}",
	  "process.cwd: rel is not an absolute path" },
	{ "!{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"cwd\":\"/\","
	  "\"args\":[]}}",
	  "process.args: must name at least the program" },
	{ "!{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"cwd\":\"/\","
	  "\"args\":[\"a\"],\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":5,\"hard\":1}]}}",
	  "soft limit 5 exceeds hard limit 1" },
	{ "!{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"cwd\":\"/\","
	  "\"args\":[\"a\"],\"oomScoreAdj\":5000}}",
	  "process.oomScoreAdj: 5000 out of range" },
};

static void test_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char doc[4096];
		if (bad_cases[i].tail[0] == '!')
			snprintf(doc, sizeof(doc), "%s", bad_cases[i].tail + 1);
		else
			snprintf(doc, sizeof(doc), "%s%s", MINIMAL_HEAD, bad_cases[i].tail);
		struct ct_config cfg;
		struct vs_err err = VS_ERR_INIT;
		int r = parse(doc, &cfg, &err);
		if (r == 0 || !strstr(err.msg, bad_cases[i].msg))
			fail_msg("case %zu: r=%d msg=\"%s\", want \"%s\"", i, r, err.msg,
				 bad_cases[i].msg);
	}
}

/* config-linux.md "Namespaces": a type left out is inherited, not an error */
static void test_inherit_namespaces(void **state)
{
	(void)state;
	static const char *const docs[] = {
		"{\"ociVersion\":\"1.1.0\",\"root\":{\"path\":\"r\"},\"process\":{\"cwd\":\"/\","
		"\"args\":[\"a\"]}}",
		"{\"ociVersion\":\"1.1.0\",\"root\":{\"path\":\"r\"},\"process\":{\"cwd\":\"/\","
		"\"args\":[\"a\"]},\"linux\":{\"namespaces\":[{\"type\":\"pid\"}]}}",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct ct_config cfg;
		struct vs_err err = VS_ERR_INIT;
		if (parse(docs[i], &cfg, &err) < 0)
			fail_msg("doc %zu: %s", i, err.msg);
		assert_false(cfg.ns[CT_NS_MOUNT].enabled);
		ct_config_free(&cfg);
	}
}

static void test_signals(void **state)
{
	assert_int_equal(ct_signal_from_name("KILL"), 9);
	assert_int_equal(ct_signal_from_name("SIGTERM"), 15);
	assert_int_equal(ct_signal_from_name("sigusr1"), 10);
	assert_int_equal(ct_signal_from_name("9"), 9);
	assert_int_equal(ct_signal_from_name("RTMIN+1"), SIGRTMIN + 1);
	assert_int_equal(ct_signal_from_name("SIGFOO"), -1);
	assert_int_equal(ct_signal_from_name("0"), -1);
	assert_int_equal(ct_signal_from_name("99"), -1);
	assert_int_equal(ct_signal_from_name("9x"), -1);
	assert_int_equal(ct_signal_from_name(""), -1);
}

static void test_caps(void **state)
{
	assert_int_equal(ct_cap_from_name("CAP_SYS_ADMIN"), 21);
	assert_int_equal(ct_cap_from_name("cap_chown"), 0);
	assert_int_equal(ct_cap_from_name("SYS_ADMIN"), -1);
	assert_int_equal(ct_cap_from_name("CAP_FLY"), -1);
}

static void test_ids(void **state)
{
	assert_int_equal(ct_id_validate("abc-1.2_x+y", NULL), 0);
	assert_int_equal(ct_id_validate("a/b", NULL), -EINVAL);
	assert_int_equal(ct_id_validate("..", NULL), -EINVAL);
	assert_int_equal(ct_id_validate(".", NULL), -EINVAL);
	assert_int_equal(ct_id_validate("a..b", NULL), -EINVAL);
	assert_int_equal(ct_id_validate("", NULL), -EINVAL);
	assert_int_equal(ct_id_validate("a b", NULL), -EINVAL);
	char long_id[CT_ID_MAX + 2];
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = 0;
	assert_int_equal(ct_id_validate(long_id, NULL), -EINVAL);
}

static void test_mount_options(void **state)
{
	const char *opts[] = { "ro",	  "nosuid", "rbind", "rslave",	 "mode=755",
			       "size=1m", "rw",	    "ro",    "tmpcopyup" };
	struct ct_mount m = { .destination = "/x", .options = opts, .noptions = 9 };
	struct ct_mount_opts o;
	assert_int_equal(ct_mount_options_parse(&m, &o, NULL), 0);
	assert_true(o.flags & MS_RDONLY);
	assert_true(o.flags & MS_NOSUID);
	assert_true(o.flags & MS_BIND);
	assert_true(o.flags & MS_REC);
	assert_int_equal(o.propagation, MS_SLAVE | MS_REC);
	assert_string_equal(o.data, "mode=755,size=1m");
}

/* A symlink in the "rootfs" pointing at an absolute host path, or climbing
 * with .., must resolve inside the rootfs. */
static void test_open_in_root(void **state)
{
	char tmpl[] = "/tmp/vessel-ct-unit.XXXXXX";
	char *dir = mkdtemp(tmpl);
	assert_non_null(dir);
	char root[256], outside[256], link[PATH_MAX], p[PATH_MAX];
	snprintf(root, sizeof(root), "%s/root", dir);
	snprintf(outside, sizeof(outside), "%s/outside", dir);
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	snprintf(link, sizeof(link), "%s/abs", root);
	assert_int_equal(symlink(outside, link), 0);
	snprintf(link, sizeof(link), "%s/up", root);
	assert_int_equal(symlink("../../../../outside", link), 0);
	int rootfd = open(root, O_PATH | O_DIRECTORY);
	assert_true(rootfd >= 0);
	struct vs_err err = VS_ERR_INIT;
	int fd = ct_rootfs_open_in_root(rootfd, "/abs/made", CT_RESOLVE_DIR, &err);
	assert_true(fd >= 0);
	close(fd);
	fd = ct_rootfs_open_in_root(rootfd, "/up/file", CT_RESOLVE_FILE, &err);
	assert_true(fd >= 0);
	close(fd);
	/* nothing appeared outside; both landed inside root/<outside path> */
	snprintf(p, sizeof(p), "%s/made", outside);
	assert_int_not_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/file", outside);
	assert_int_not_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s%s/made", root, outside);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/outside/file", root);
	assert_int_equal(access(p, F_OK), 0);
	close(rootfd);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_inherit_namespaces),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_mount_options),
		cmocka_unit_test(test_open_in_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
