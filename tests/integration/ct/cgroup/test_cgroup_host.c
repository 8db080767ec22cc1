/*
 * test_cgroup_host.c - the cgroup library on the real host (v1, v2 or
 * hybrid): real processes in real cgroups, limits enforced by the kernel.
 *
 *  - detection agrees with /proc/self/mountinfo;
 *  - a process allocating past its memory limit is OOM-killed, and the stats
 *    count the kill;
 *  - a pids limit stops forks;
 *  - freeze stops progress, thaw resumes it;
 *  - device rules deny a device node and allow it when a rule says so
 *    (v1 devices controller, or the BPF program on v2);
 *  - the BPF device program works on the unified hierarchy of a hybrid host;
 *  - update changes a running cgroup's limit; kill reaches every process;
 *  - a limit the kernel refuses gives a precise error and leaves nothing;
 *  - pure v1: in a private mount namespace without the cgroup2 mount,
 *    detection says v1 and a container cgroup works without it;
 *  - pure v2: in a private mount namespace with cgroup2 at /sys/fs/cgroup,
 *    detection says v2; BPF device rules via create, cgroup.freeze,
 *    cgroup.kill work; a limit without its controller fails precisely;
 *  - destroy leaves no directory in any hierarchy.
 * Needs root and a writable /sys/fs/cgroup; exits 77 (skip) otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <linux/sched.h>

#include "vessel/core/util.h"
#include "vessel/ct/cgroup.h"

/* internal to lib/ct/cgroup, exercised directly on the unified mount */
int cgroup_bpf_devices_apply(const char *dir, const struct ct_device_rule *rules, unsigned nrules,
			     struct vs_err *err);

static enum ct_cgroup_layout host_layout;
static char prefix[64];

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void parse(const char *text, struct ct_resources *res)
{
	struct json_object *obj = json_tokener_parse(text);
	assert_non_null(obj);
	struct vs_err err = VS_ERR_INIT;
	if (ct_resources_parse(obj, res, &err) < 0)
		fail_msg("parse: %s", err.msg);
	json_object_put(obj);
}

/* A child that waits on a pipe before running fn, so it can be placed first. */
struct held {
	pid_t pid;
	int go;
};

static struct held spawn_held(int (*fn)(void *), void *arg)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(100);
		_exit(fn(arg));
	}
	close(p[0]);
	return (struct held){ pid, p[1] };
}

static void release(struct held *h)
{
	assert_int_equal(write(h->go, "g", 1), 1);
	close(h->go);
}

static int wait_status(pid_t pid)
{
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void name(char *buf, size_t size, const char *what)
{
	snprintf(buf, size, "%s-%s", prefix, what);
}

/* No directory of this name is left in any hierarchy under /sys/fs/cgroup. */
static void assert_gone_everywhere(const char *leaf)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "test -z \"$(find /sys/fs/cgroup -maxdepth 6 -type d -name '%s' 2>/dev/null)\"",
		 leaf);
	if (system(cmd) != 0)
		fail_msg("cgroup directory %s was left behind", leaf);
}

static void create_or_fail(struct ct_cgroup *cg, const char *path, const struct ct_resources *res,
			   pid_t pid)
{
	struct vs_err err = VS_ERR_INIT;
	if (ct_cgroup_create(cg, host_layout, path, res, pid, &err) < 0)
		fail_msg("create %s: %s", path, err.msg);
}

static void destroy_or_fail(struct ct_cgroup *cg)
{
	struct vs_err err = VS_ERR_INIT;
	if (ct_cgroup_destroy(cg, true, &err) < 0)
		fail_msg("destroy %s: %s", cg->path, err.msg);
	assert_gone_everywhere(cg->path);
}

static void test_detect(void **state)
{
	/* independent check from the mount table */
	FILE *f = fopen("/proc/self/mountinfo", "re");
	assert_non_null(f);
	char line[1024];
	bool root_v2 = false, unified_v2 = false;
	while (fgets(line, sizeof(line), f)) {
		char mnt[512], fstype[64];
		const char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s", fstype) != 1)
			continue;
		if (!strcmp(fstype, "cgroup2") && !strcmp(mnt, "/sys/fs/cgroup"))
			root_v2 = true;
		if (!strcmp(fstype, "cgroup2") && !strcmp(mnt, "/sys/fs/cgroup/unified"))
			unified_v2 = true;
	}
	fclose(f);
	enum ct_cgroup_layout want = root_v2	  ? CT_CGROUP_V2
				     : unified_v2 ? CT_CGROUP_HYBRID
						  : CT_CGROUP_V1;
	assert_int_equal(host_layout, want);
	print_message("host cgroup layout: %s\n", want == CT_CGROUP_V2	     ? "v2"
						  : want == CT_CGROUP_HYBRID ? "hybrid"
									     : "v1");
}

static int alloc_64m(void *arg)
{
	size_t total = 64u << 20;
	volatile char *p = malloc(total); /* volatile: the stores must happen */
	if (!p)
		return 3;
	for (size_t i = 0; i < total; i += 4096)
		p[i] = 1;
	return 0; /* reaching here means the limit did not hold */
}

static void test_memory_oom(void **state)
{
	char path[96];
	name(path, sizeof(path), "mem");
	struct ct_resources res;
	parse("{\"memory\":{\"limit\":16777216,\"swap\":16777216}}", &res);
	struct held h = spawn_held(alloc_64m, NULL);
	struct ct_cgroup cg;
	create_or_fail(&cg, path, &res, h.pid);
	struct ct_cgroup_stats st;
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(ct_cgroup_stats(&cg, &st, &err), 0);
	assert_int_equal(st.memory_limit, 16777216);
	release(&h);
	int status = wait_status(h.pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(ct_cgroup_stats(&cg, &st, &err), 0);
	assert_true(st.memory_max_usage > 8u << 20);
	assert_true(st.memory_max_usage <= 16u << 20);
	print_message("OOM-killed at max usage %llu, oom_kills %llu\n",
		      (unsigned long long)st.memory_max_usage, (unsigned long long)st.oom_kills);
	destroy_or_fail(&cg);
	ct_resources_free(&res);
}

static int fork_many(void *arg)
{
	int made = 0;
	for (int i = 0; i < 20; i++) {
		pid_t p = fork();
		if (p < 0)
			break;
		if (p == 0) {
			pause();
			_exit(0);
		}
		made++;
	}
	int *out = arg;
	*out = made;
	return made < 20 ? 0 : 1;
}

static void test_pids_limit(void **state)
{
	char path[96];
	name(path, sizeof(path), "pids");
	struct ct_resources res;
	parse("{\"pids\":{\"limit\":4}}", &res);
	int *made = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(made != MAP_FAILED);
	struct held h = spawn_held(fork_many, made);
	struct ct_cgroup cg;
	create_or_fail(&cg, path, &res, h.pid);
	release(&h);
	int status = wait_status(h.pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(*made, 3); /* 4 tasks: the parent plus three */
	/* the orphans are still in the cgroup: pids sees them, kill reaches them */
	pid_t *pids = NULL;
	size_t n = 0;
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(ct_cgroup_pids(&cg, &pids, &n, &err), 0);
	assert_int_equal(n, 3);
	free(pids);
	struct ct_cgroup_stats st;
	assert_int_equal(ct_cgroup_stats(&cg, &st, &err), 0);
	assert_int_equal(st.pids_current, 3);
	assert_int_equal(st.pids_limit, 4);
	assert_int_equal(ct_cgroup_kill(&cg, SIGKILL, &err), 0);
	for (int i = 0; i < 500; i++) {
		assert_int_equal(ct_cgroup_pids(&cg, &pids, &n, &err), 0);
		free(pids);
		if (n == 0)
			break;
		sleep_ms(10);
	}
	assert_int_equal(n, 0);
	destroy_or_fail(&cg);
	munmap(made, 4096);
	ct_resources_free(&res);
}

static int spin(void *arg)
{
	volatile uint64_t *counter = arg;
	for (;;)
		(*counter)++;
	return 0;
}

static void test_freeze(void **state)
{
	char path[96];
	name(path, sizeof(path), "freeze");
	uint64_t *counter =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(counter != MAP_FAILED);
	struct held h = spawn_held(spin, counter);
	struct ct_cgroup cg;
	create_or_fail(&cg, path, NULL, h.pid);
	release(&h);
	while (*(volatile uint64_t *)counter == 0)
		sleep_ms(1);
	struct vs_err err = VS_ERR_INIT;
	if (ct_cgroup_freeze(&cg, true, &err) < 0)
		fail_msg("freeze: %s", err.msg);
	uint64_t a = *(volatile uint64_t *)counter;
	sleep_ms(150);
	uint64_t b = *(volatile uint64_t *)counter;
	assert_int_equal(a, b);
	if (ct_cgroup_freeze(&cg, false, &err) < 0)
		fail_msg("thaw: %s", err.msg);
	sleep_ms(50);
	assert_true(*(volatile uint64_t *)counter > b);
	/* destroy with force kills the spinner, even while it is frozen */
	if (ct_cgroup_freeze(&cg, true, &err) < 0)
		fail_msg("freeze again: %s", err.msg);
	destroy_or_fail(&cg);
	int status = wait_status(h.pid);
	assert_true(WIFSIGNALED(status));
	munmap(counter, 4096);
}

static char devnode[128];

static int open_devnode(void *arg)
{
	int fd = open(devnode, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0)
		return 0;
	return errno == EPERM ? 1 : 2;
}

/* /dev/kmsg's numbers (1:11) are not among the default devices */
static void devices_case(const char *rules, int want_exit)
{
	char path[96];
	name(path, sizeof(path), "dev");
	struct ct_resources res;
	parse(rules, &res);
	struct held h = spawn_held(open_devnode, NULL);
	struct ct_cgroup cg;
	create_or_fail(&cg, path, &res, h.pid);
	release(&h);
	int status = wait_status(h.pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != want_exit)
		fail_msg("rules %s: open of c 1:11 gave %d, want %d", rules, WEXITSTATUS(status),
			 want_exit);
	destroy_or_fail(&cg);
	ct_resources_free(&res);
}

static void test_devices(void **state)
{
	snprintf(devnode, sizeof(devnode), "/tmp/%s-kmsg", prefix);
	unlink(devnode);
	assert_int_equal(mknod(devnode, S_IFCHR | 0600, makedev(1, 11)), 0);
	devices_case("{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}", 1);
	devices_case("{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},"
		     "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":11,\"access\":\"r\"}]}",
		     0);
	/* a later deny of the same device wins over an earlier allow */
	devices_case("{\"devices\":[{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":11,"
		     "\"access\":\"r\"},{\"allow\":false,\"type\":\"c\",\"major\":1,\"minor\":11,"
		     "\"access\":\"r\"}]}",
		     1);
	unlink(devnode);
}

/* The v2 device program, tried on the unified mount of a hybrid host. */
static void test_bpf_on_unified(void **state)
{
	const char *base =
	    host_layout == CT_CGROUP_V2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";
	if (host_layout == CT_CGROUP_V1) {
		print_message("no cgroup2 mount: BPF device test not applicable\n");
		return;
	}
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/%s-bpf", base, prefix);
	snprintf(devnode, sizeof(devnode), "/tmp/%s-kmsg", prefix);
	unlink(devnode);
	assert_int_equal(mknod(devnode, S_IFCHR | 0600, makedev(1, 11)), 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	struct ct_device_rule deny_all = { false, 'a', -1, -1, "rwm" };
	struct ct_device_rule allow_kmsg_r = { true, 'c', 1, 11, "r" };
	struct vs_err err = VS_ERR_INIT;
	int want[2] = { 1, 0 };
	for (int round = 0; round < 2; round++) {
		struct ct_device_rule rules[2] = { deny_all, allow_kmsg_r };
		if (cgroup_bpf_devices_apply(dir, rules, round == 0 ? 1 : 2, &err) < 0)
			fail_msg("bpf: %s", err.msg);
		struct held h = spawn_held(open_devnode, NULL);
		char procs[300], pid[16];
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
		snprintf(pid, sizeof(pid), "%d", (int)h.pid);
		FILE *f = fopen(procs, "w");
		assert_non_null(f);
		fputs(pid, f);
		assert_int_equal(fclose(f), 0);
		release(&h);
		int status = wait_status(h.pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), want[round]);
	}
	/* /dev/null stays usable under deny-all (default devices) */
	assert_int_equal(rmdir(dir), 0);
	unlink(devnode);
}

static int sleeper(void *arg)
{
	pause();
	return 0;
}

static void test_update_and_refusal(void **state)
{
	char path[96];
	name(path, sizeof(path), "upd");
	struct held h = spawn_held(sleeper, NULL);
	struct ct_resources res;
	parse("{\"memory\":{\"limit\":33554432}}", &res);
	struct ct_cgroup cg;
	create_or_fail(&cg, path, &res, h.pid);
	ct_resources_free(&res);
	parse("{\"memory\":{\"limit\":50331648},\"pids\":{\"limit\":10}}", &res);
	struct vs_err err = VS_ERR_INIT;
	if (ct_cgroup_update(&cg, &res, &err) < 0)
		fail_msg("update: %s", err.msg);
	struct ct_cgroup_stats st;
	assert_int_equal(ct_cgroup_stats(&cg, &st, &err), 0);
	assert_int_equal(st.memory_limit, 50331648);
	assert_int_equal(st.pids_limit, 10);
	ct_resources_free(&res);
	/* the kernel refuses a cpu that does not exist */
	parse("{\"cpu\":{\"cpus\":\"4095\"}}", &res);
	int r = ct_cgroup_update(&cg, &res, &err);
	assert_true(r < 0);
	assert_non_null(strstr(err.msg, "cpuset.cpus"));
	assert_non_null(strstr(err.msg, "4095"));
	print_message("refused update: %s\n", err.msg);
	ct_resources_free(&res);
	release(&h);
	destroy_or_fail(&cg);
	wait_status(h.pid);

	/* the same refusal at creation: nothing may remain */
	name(path, sizeof(path), "refused");
	parse("{\"memory\":{\"limit\":33554432},\"cpu\":{\"cpus\":\"4095\"}}", &res);
	struct held h2 = spawn_held(sleeper, NULL);
	r = ct_cgroup_create(&cg, host_layout, path, &res, h2.pid, &err);
	assert_true(r < 0);
	print_message("refused create: %s\n", err.msg);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "cpuset.cpus"));
	assert_gone_everywhere(path);
	kill(h2.pid, SIGKILL);
	wait_status(h2.pid);
	ct_resources_free(&res);
}

/*
 * Pure v2 on the real kernel: in a private mount namespace, cgroup2 is
 * mounted at /sys/fs/cgroup in place of the v1 tree (on a hybrid host the
 * unified hierarchy has no controllers, so limits must fail precisely while
 * everything the v2 core offers works: BPF device rules through
 * ct_cgroup_create, cgroup.freeze, cgroup.kill, cgroup.procs, destroy).
 * Returns a step number on failure (run in a child process).
 */
static int v2_namespace_body(void)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 10;
	if (host_layout != CT_CGROUP_V2) {
		if (umount2("/sys/fs/cgroup", MNT_DETACH) < 0 ||
		    mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL) < 0)
			return 11;
	}
	enum ct_cgroup_layout layout = 0;
	if (ct_cgroup_detect(&layout, NULL) < 0 || layout != CT_CGROUP_V2)
		return 12;
	char path[96];
	snprintf(path, sizeof(path), "/%s-v2/c", prefix);
	struct vs_err err = VS_ERR_INIT;
	struct ct_cgroup cg;

	/* device rules: deny-all, so c 1:11 is refused, /dev/null still allowed */
	struct ct_resources res;
	ct_resources_init(&res);
	struct ct_device_rule deny_all = { false, 'a', -1, -1, "rwm" };
	res.devices = &deny_all;
	res.ndevices = 1;
	struct held h = spawn_held(open_devnode, NULL);
	if (ct_cgroup_create(&cg, layout, path, &res, h.pid, &err) < 0) {
		fprintf(stderr, "v2 create: %s\n", err.msg);
		kill(h.pid, SIGKILL);
		return 13;
	}
	release(&h);
	int status = wait_status(h.pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 1)
		return 14;
	if (ct_cgroup_destroy(&cg, true, &err) < 0)
		return 15;

	/* freeze, thaw, kill through cgroup.freeze and cgroup.kill */
	uint64_t *counter =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	h = spawn_held(spin, counter);
	if (ct_cgroup_create(&cg, layout, path, NULL, h.pid, &err) < 0)
		return 16;
	release(&h);
	while (*(volatile uint64_t *)counter == 0)
		sleep_ms(1);
	if (ct_cgroup_freeze(&cg, true, &err) < 0) {
		fprintf(stderr, "v2 freeze: %s\n", err.msg);
		return 17;
	}
	uint64_t a = *(volatile uint64_t *)counter;
	sleep_ms(100);
	if (*(volatile uint64_t *)counter != a)
		return 18;
	if (ct_cgroup_freeze(&cg, false, &err) < 0)
		return 19;
	sleep_ms(30);
	if (*(volatile uint64_t *)counter == a)
		return 20;
	pid_t *pids = NULL;
	size_t n = 0;
	if (ct_cgroup_pids(&cg, &pids, &n, &err) < 0 || n != 1 || pids[0] != h.pid)
		return 21;
	free(pids);
	if (ct_cgroup_freeze(&cg, true, &err) < 0 || ct_cgroup_destroy(&cg, true, &err) < 0) {
		fprintf(stderr, "v2 destroy of a frozen cgroup: %s\n", err.msg);
		return 22;
	}
	status = wait_status(h.pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		return 23;

	/* a limit whose controller is not available: precise error, nothing left */
	ct_resources_init(&res);
	res.memory_limit = 8 << 20;
	int r = ct_cgroup_create(&cg, layout, path, &res, 0, &err);
	if (host_layout == CT_CGROUP_HYBRID) {
		if (r != -ENOTSUP || !strstr(err.msg, "memory.max") ||
		    !strstr(err.msg, "controller 'memory' is not enabled")) {
			fprintf(stderr, "v2 memory without controller: %d %s\n", r, err.msg);
			return 24;
		}
	} else if (r == 0) {
		ct_cgroup_destroy(&cg, true, NULL);
	}
	char top[128], leaf[160];
	snprintf(top, sizeof(top), "/sys/fs/cgroup/%s-v2", prefix);
	snprintf(leaf, sizeof(leaf), "%s/c", top);
	if (access(leaf, F_OK) == 0)
		return 25;
	rmdir(top); /* the parent stays by design: remove it here */
	return access(top, F_OK) == 0 ? 26 : 0;
}

static void test_pure_v2_namespace(void **state)
{
	snprintf(devnode, sizeof(devnode), "/tmp/%s-kmsg", prefix);
	unlink(devnode);
	assert_int_equal(mknod(devnode, S_IFCHR | 0600, makedev(1, 11)), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(v2_namespace_body());
	int status = wait_status(pid);
	unlink(devnode);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("pure v2 namespace: failed at step %d", WEXITSTATUS(status));
	char leaf[96];
	name(leaf, sizeof(leaf), "v2");
	assert_gone_everywhere(leaf);
}

/* Pure v1: the cgroup2 mount hidden in a private mount namespace. */
static void test_pure_v1_namespace(void **state)
{
	if (host_layout != CT_CGROUP_HYBRID) {
		print_message("host is not hybrid: pure-v1 namespace test not applicable\n");
		return;
	}
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    umount2("/sys/fs/cgroup/unified", MNT_DETACH) < 0)
			_exit(10);
		enum ct_cgroup_layout layout = 0;
		if (ct_cgroup_detect(&layout, NULL) < 0 || layout != CT_CGROUP_V1)
			_exit(11);
		char path[96];
		snprintf(path, sizeof(path), "%s-v1ns", prefix);
		struct ct_resources res;
		ct_resources_init(&res);
		res.memory_limit = 8 << 20;
		res.pids_limit = 8;
		struct ct_cgroup cg;
		struct vs_err err = VS_ERR_INIT;
		/* a member that is not this process: relative paths resolve against ours */
		pid_t member = fork();
		if (member == 0) {
			pause();
			_exit(0);
		}
		if (ct_cgroup_create(&cg, layout, path, &res, member, &err) < 0) {
			fprintf(stderr, "create in v1 namespace: %s\n", err.msg);
			kill(member, SIGKILL);
			_exit(12);
		}
		struct ct_cgroup_stats st;
		if (ct_cgroup_stats(&cg, &st, &err) < 0 || st.memory_limit != 8 << 20 ||
		    st.pids_limit != 8 || st.pids_current != 1) {
			fprintf(stderr, "v1 namespace stats: limit %llu pids %llu (%s)\n",
				(unsigned long long)st.memory_limit,
				(unsigned long long)st.pids_limit, err.msg);
			ct_cgroup_destroy(&cg, true, NULL);
			_exit(13);
		}
		char unified[300];
		snprintf(unified, sizeof(unified), "/sys/fs/cgroup/unified/%s", path);
		if (access(unified, F_OK) == 0)
			_exit(15);
		if (ct_cgroup_destroy(&cg, true, &err) < 0) {
			fprintf(stderr, "destroy in v1 namespace: %s\n", err.msg);
			_exit(14);
		}
		waitpid(member, NULL, 0);
		_exit(0);
	}
	int status = wait_status(pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	char leaf[96];
	name(leaf, sizeof(leaf), "v1ns");
	assert_gone_everywhere(leaf);
}

/*
 * The fast join: cgroup created empty, child born in the cgroup2 directory by
 * clone3(CLONE_INTO_CGROUP) (v2/hybrid) and joining the v1 hierarchies
 * itself; limits hold (OOM at the memory limit) and every hierarchy lists it.
 */
static int fast_child(const struct ct_cgroup *cg, bool unified_too, const char *leaf)
{
	struct vs_err err = VS_ERR_INIT;
	uint64_t t0 = vs_now_ns();
	if (ct_cgroup_enter_self(cg, unified_too, &err) < 0) {
		fprintf(stderr, "enter_self: %s\n", err.msg);
		return 20;
	}
	uint64_t t1 = vs_now_ns();
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[512];
	int in = 0, total = 0;
	while (f && fgets(line, sizeof(line), f)) {
		total++;
		in += strstr(line, leaf) != NULL;
	}
	if (f)
		fclose(f);
	if (in != total || total == 0) {
		fprintf(stderr, "fast join: in %d of %d hierarchies\n", in, total);
		return 21;
	}
	printf("fast join took %.3f ms\n", (double)(t1 - t0) / 1e6);
	fflush(stdout);
	return alloc_64m(NULL) == 0 ? 22 : 23;
}

static void test_fast_join(void **state)
{
	char path[96];
	name(path, sizeof(path), "fast");
	struct ct_resources res;
	parse("{\"memory\":{\"limit\":16777216,\"swap\":16777216}}", &res);
	for (int variant = 0; variant < 2; variant++) {
		struct ct_cgroup cg;
		create_or_fail(&cg, path, &res, 0);
		struct vs_err err = VS_ERR_INIT;
		int cgfd = -1;
		pid_t pid;
		if (variant == 0 && host_layout != CT_CGROUP_V1) {
			cgfd = ct_cgroup_open_unified(&cg, &err);
			if (cgfd < 0)
				fail_msg("open_unified: %s", err.msg);
			struct clone_args args;
			memset(&args, 0, sizeof(args));
			args.flags = CLONE_INTO_CGROUP;
			args.exit_signal = SIGCHLD;
			args.cgroup = (uint64_t)cgfd;
			pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
			if (pid == 0)
				_exit(fast_child(&cg, false, path));
		} else {
			pid = fork();
			if (pid == 0)
				_exit(fast_child(&cg, true, path));
		}
		assert_true(pid > 0);
		if (cgfd >= 0)
			close(cgfd);
		int status = wait_status(pid);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("variant %d: child status 0x%x, want OOM kill", variant, status);
		destroy_or_fail(&cg);
	}
	ct_resources_free(&res);
}

/* Whatever a failed test left: every name used above, force-destroyed. */
static int cleanup_all(void **state)
{
	static const char *const names[] = { "mem", "pids",    "freeze", "dev",
					     "upd", "refused", "fast" };
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct ct_cgroup cg = { .layout = host_layout };
		name(cg.path, sizeof(cg.path), names[i]);
		ct_cgroup_destroy(&cg, true, NULL);
	}
	char dir[256];
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/unified/%s-bpf", prefix);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s-bpf", prefix);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "/tmp/%s-kmsg", prefix);
	unlink(dir);
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/unified/%s-v2/c", prefix);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/unified/%s-v2", prefix);
	rmdir(dir);
	return 0;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		return 77;
	}
	struct vs_err err = VS_ERR_INIT;
	if (ct_cgroup_detect(&host_layout, &err) < 0) {
		fprintf(stderr, "SKIP: %s\n", err.msg);
		return 77;
	}
	snprintf(prefix, sizeof(prefix), "vessel-itest-%d", (int)getpid());
	/* a writable hierarchy is needed */
	struct ct_cgroup probe;
	char path[96];
	snprintf(path, sizeof(path), "%s-probe", prefix);
	if (ct_cgroup_create(&probe, host_layout, path, NULL, 0, &err) < 0) {
		fprintf(stderr, "SKIP: cannot create cgroups here: %s\n", err.msg);
		return 77;
	}
	ct_cgroup_destroy(&probe, true, NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_memory_oom),
		cmocka_unit_test(test_fast_join),
		cmocka_unit_test(test_pids_limit),
		cmocka_unit_test(test_freeze),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_bpf_on_unified),
		cmocka_unit_test(test_update_and_refusal),
		cmocka_unit_test(test_pure_v1_namespace),
		cmocka_unit_test(test_pure_v2_namespace),
	};
	return cmocka_run_group_tests(tests, NULL, cleanup_all);
}
