/*
 * create.c - the `create`, `start` and `run` operations (runtime-spec 1.1
 * runtime.md "Lifecycle" steps 1-8, "Create", "Start").
 *
 * No re-exec: the runtime clone(2)s the container process directly with
 * the new namespaces.  The child and the runtime talk over a SEQPACKET
 * socketpair (sync.c):
 *
 *   parent                              child (new namespaces)
 *   write uid/gid maps, cgroup   GO ->  join paths, hostname, mounts, devices
 *                              <- HOOKS
 *   prestart+createRuntime hooks GO ->  createContainer hooks, pivot_root,
 *                                       masked/ro paths, rlimits, console
 *                              <- READY accept() on ROOT/ID/start.sock
 *   save state, pid file, exit
 *
 * `start` connects to start.sock; the child then runs the startContainer
 * hooks and execve()s.  The accepted connection is close-on-exec, so
 * `start` reads EOF exactly when execve succeeded, or an error message if
 * it failed.  A failing create kills the child and removes its cgroup and
 * state directory: nothing is left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config_internal.h"
#include "console_proxy.h"
#include "container_cgroup.h"
#include "create_internal.h"
#include "linux_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/ct/container.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct create_ctx {
	const struct ct_create_opts *o;
	struct ct_config cfg;
	char *config_text; /* the bytes cfg was parsed from, saved in the state dir */
	size_t config_len;
	char bundle[PATH_MAX];
	char rootfs[PATH_MAX];
	int dirfd;
	int sync[2];
	int listen_fd;
	int console_fd;
	pid_t pid;
	struct ct_state st;
	struct ct_cgroup cg_plan; /* where the cgroup goes (ctc_plan) */
	bool cg_late;		  /* cgroup made after clone, while the child works */
	bool net_in_child;	  /* the child unshares its network namespace itself */
	bool born_in_cgroup2;	  /* CLONE_INTO_CGROUP did the cgroup2 part */
	bool start_now;		  /* run: exec right after READY, no start socket */
	bool proxy_console;	  /* run in the foreground: the runtime is the terminal */
	int console_peer;	  /* our end of the console socketpair (proxy_console) */
};

int ct_start_socket_addr(int dirfd, struct sockaddr_un *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	snprintf(addr->sun_path, sizeof(addr->sun_path), "/proc/self/fd/%d/start.sock", dirfd);
	return 0;
}

void ct_rfc3339_now(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%09ldZ", ts.tv_nsec);
}

/* The parent must speak before the child goes on only to write the id
 * maps of a new user namespace; the hooks round trip is only needed when
 * there are hooks.  Both sides decide from the same config. */
static bool need_first_go(const struct ct_config *cfg)
{
	return cfg->ns[CT_NS_USER].enabled && !cfg->ns[CT_NS_USER].path;
}

/*
 * On a v1 host the cgroup is made while the child is already at work: the
 * parent clones first, creates the cgroup and its limits, then says GO; the
 * child meanwhile creates its network namespace (the slow one to make,
 * and slower still while the kernel tears down a previous container's) and
 * its mounts, and only then waits for GO and joins the cgroup itself
 * (before it unshares a cgroup namespace, mounts a cgroup file system,
 * pivots or runs hooks).  On cgroup2 and hybrid hosts the child is born in
 * the cgroup2 directory with CLONE_INTO_CGROUP, so the cgroup must exist
 * first; a new user namespace needs the GO for its id maps first: both keep
 * the plain order.
 */
static bool cgroup_after_clone(const struct create_ctx *c)
{
	return c->cg_plan.layout == CT_CGROUP_V1 && !need_first_go(&c->cfg);
}

static bool need_hooks_trip(const struct ct_config *cfg)
{
	return cfg->nhooks[CT_HOOK_PRESTART] || cfg->nhooks[CT_HOOK_CREATE_RUNTIME] ||
	       cfg->nhooks[CT_HOOK_CREATE_CONTAINER] || cfg->nhooks[CT_HOOK_START_CONTAINER];
}

/* ---------------------------------------------------------------- child */

static void child_fail(struct create_ctx *c, struct vs_err *err)
{
	ct_sync_send(c->sync[1], CT_SYNC_ERROR, err);
	_exit(1);
}

static int child_set_names(const struct ct_config *cfg, struct vs_err *err)
{
	if (cfg->hostname && *cfg->hostname &&
	    sethostname(cfg->hostname, strlen(cfg->hostname)) < 0)
		return vs_syserrf(err, errno, "sethostname %s", cfg->hostname);
	if (cfg->domainname && *cfg->domainname &&
	    setdomainname(cfg->domainname, strlen(cfg->domainname)) < 0)
		return vs_syserrf(err, errno, "setdomainname %s", cfg->domainname);
	return 0;
}

static int child_fds(const struct create_ctx *c, struct vs_err *err)
{
	int first = 3 + c->o->preserve_fds;
	if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return vs_syserrf(err, errno, "close_range");
	for (int fd = 3; fd < first; fd++) {
		int fl = fcntl(fd, F_GETFD);
		if (fl >= 0 && fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
			return vs_syserrf(err, errno, "preserve fd %d", fd);
	}
	return 0;
}

/* startContainer hooks (in the container, after pivot_root), then execve.
 * Returns only on failure, with err filled. */
static void child_start_process(struct create_ctx *c, struct vs_err *err)
{
	const struct ct_config *cfg = &c->cfg;
	if (cfg->nhooks[CT_HOOK_START_CONTAINER]) {
		vs_cleanup_free char *sj = ct_state_to_json_as(&c->st, CT_STATUS_CREATED, false);
		if (ct_hooks_run(cfg->hooks[CT_HOOK_START_CONTAINER],
				 cfg->nhooks[CT_HOOK_START_CONTAINER], "startContainer",
				 sj ? sj : "{}", err) < 0)
			return;
	}
	ct_process_exec(&cfg->process, cfg, err);
}

/* A cgroup mount shows the cgroup the child is in when it mounts it. */
static bool mounts_cgroupfs(const struct ct_config *cfg)
{
	for (unsigned i = 0; i < cfg->nmounts; i++) {
		const char *t = cfg->mounts[i].type;
		if (t && (!strcmp(t, "cgroup") || !strcmp(t, "cgroup2")))
			return true;
	}
	return false;
}

/* cg_late: wait until the parent made the cgroup, then join it (once). */
static void child_join_late(struct create_ctx *c)
{
	struct vs_err err = VS_ERR_INIT;
	if (!c->cg_late)
		return;
	c->cg_late = false;
	if (ct_sync_expect(c->sync[1], CT_SYNC_GO, &err) < 0)
		_exit(1);
	if (ctc_enter_self(&c->cg_plan, false, &err) < 0)
		child_fail(c, &err);
	ct_debug_mark("child: in cgroup (late)");
}

static __attribute__((noreturn)) void child_main(struct create_ctx *c)
{
	struct vs_err err = VS_ERR_INIT;
	const struct ct_config *cfg = &c->cfg;
	close(c->sync[0]);
	/* `run` blocks every signal in the runtime; the process starts with none */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* our copy of the locked state dir fd would hold the lock until execve */
	close(c->dirfd);
	if (c->net_in_child && unshare(CLONE_NEWNET) < 0) {
		vs_syserrf(&err, errno, "create network namespace");
		child_fail(c, &err);
	}
	if (!c->cg_late && c->st.has_cgroup &&
	    ctc_enter_self(&c->st.cgroup, c->born_in_cgroup2, &err) < 0)
		child_fail(c, &err);
	ct_debug_mark("child: in cgroup");
	if (need_first_go(cfg) && ct_sync_expect(c->sync[1], CT_SYNC_GO, &err) < 0)
		_exit(1);
	if (cfg->ns[CT_NS_USER].enabled) {
		/* become root of the (now mapped) user namespace */
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
			vs_syserrf(&err, errno, "become root in the user namespace (is 0 mapped?)");
			child_fail(c, &err);
		}
	}
	unsigned skip = (1u << CT_NS_PID) | (1u << CT_NS_TIME);
	if (ct_ns_join_paths(cfg, skip, &err) < 0)
		child_fail(c, &err);
	bool new_cgroupns = cfg->ns[CT_NS_CGROUP].enabled && !cfg->ns[CT_NS_CGROUP].path;
	if (new_cgroupns || mounts_cgroupfs(cfg))
		child_join_late(c);
	if (new_cgroupns && unshare(CLONE_NEWCGROUP) < 0) {
		vs_syserrf(&err, errno, "create cgroup namespace");
		child_fail(c, &err);
	}
	if (child_set_names(cfg, &err) < 0 ||
	    ct_rootfs_prepare(cfg, c->rootfs, c->bundle, cfg->ns[CT_NS_USER].enabled, &err) < 0)
		child_fail(c, &err);
	ct_debug_mark("child: mounts done");
	child_join_late(c);
	if (need_hooks_trip(cfg)) {
		/* the parent runs prestart/createRuntime and tells us our host pid */
		int host_pid = 0;
		ct_sync_send(c->sync[1], CT_SYNC_HOOKS, NULL);
		if (ct_sync_expect_code(c->sync[1], CT_SYNC_GO, &host_pid, &err) < 0)
			_exit(1);
		c->st.pid = host_pid;
	}
	if (cfg->nhooks[CT_HOOK_CREATE_CONTAINER]) {
		vs_cleanup_free char *sj = ct_state_to_json_as(&c->st, CT_STATUS_CREATED, false);
		if (ct_hooks_run(cfg->hooks[CT_HOOK_CREATE_CONTAINER],
				 cfg->nhooks[CT_HOOK_CREATE_CONTAINER], "createContainer",
				 sj ? sj : "{}", &err) < 0)
			child_fail(c, &err);
	}
	ct_debug_mark("child: pivoting");
	if (ct_rootfs_finish(cfg, c->rootfs, c->o->no_pivot, &err) < 0 ||
	    ct_process_set_rlimits(&cfg->process, &err) < 0 ||
	    ct_process_set_oom_score(&cfg->process, &err) < 0)
		child_fail(c, &err);
	if (cfg->process.terminal) {
		if (ct_console_setup(c->console_fd, &cfg->process, true, &err) < 0)
			child_fail(c, &err);
		close(c->console_fd);
	}
	if (!c->o->no_new_keyring)
		syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, NULL);
	if (child_fds(c, &err) < 0)
		child_fail(c, &err);
	ct_debug_mark("child: ready");
	ct_sync_send(c->sync[1], CT_SYNC_READY, NULL);
	if (c->start_now) {
		/* run: no `start` to wait for.  The sync socket is close-on-exec:
		 * the parent reads EOF when execve succeeded, else our reason. */
		child_start_process(c, &err);
		ct_sync_send(c->sync[1], CT_SYNC_ERROR, &err);
		_exit(127);
	}
	close(c->sync[1]);

	int conn;
	do
		conn = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	while (conn < 0 && errno == EINTR);
	if (conn < 0)
		_exit(1);
	close(c->listen_fd);
	child_start_process(c, &err);
	vs_write_full(conn, err.msg, strlen(err.msg));
	_exit(127);
}

/* --------------------------------------------------------------- parent */

static int resolve_paths(struct create_ctx *c, struct vs_err *err)
{
	const char *bundle = c->o->bundle ? c->o->bundle : ".";
	if (!realpath(bundle, c->bundle))
		return vs_syserrf(err, errno, "bundle %s", bundle);
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/config.json", c->bundle) >= (int)sizeof(path))
		return vs_errf(err, ENAMETOOLONG, "bundle path too long: %s", c->bundle);
	int r = ct_config_read(path, &c->cfg, &c->config_text, &c->config_len, err);
	if (r < 0)
		return r;
	char raw[PATH_MAX];
	const char *rp = c->cfg.root_path;
	if (snprintf(raw, sizeof(raw), rp[0] == '/' ? "%.0s%s" : "%s/%s", c->bundle, rp) >=
	    (int)sizeof(raw))
		return vs_errf(err, ENAMETOOLONG, "root.path too long");
	if (!realpath(raw, c->rootfs))
		return vs_syserrf(err, errno, "root.path %s", raw);
	struct stat st;
	if (stat(c->rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
		return vs_errf(err, ENOTDIR, "root.path %s: not a directory", raw);
	if (strcmp(c->rootfs, "/") == 0)
		return vs_errf(err, EINVAL, "root.path: the host's / cannot be a container rootfs");
	if (c->cfg.process.terminal && !c->o->console_socket && !c->proxy_console)
		return vs_errf(err, EINVAL,
			       "process.terminal is true: --console-socket is required");
	return 0;
}

static int open_start_socket(struct create_ctx *c, struct vs_err *err)
{
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0)
		return vs_syserrf(err, errno, "start socket");
	struct sockaddr_un addr;
	ct_start_socket_addr(c->dirfd, &addr);
	if (bind(c->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(c->listen_fd, 1) < 0)
		return vs_syserrf(err, errno, "start socket");
	return 0;
}

static unsigned long clone_flags(const struct ct_config *cfg)
{
	unsigned long flags = 0;
	for (int t = 0; t < CT_NS_COUNT; t++) {
		if (!cfg->ns[t].enabled || cfg->ns[t].path)
			continue;
		if (t == CT_NS_CGROUP || t == CT_NS_TIME)
			continue; /* cgroup: after the cgroup move; time: unshared by the parent */
		flags |= (unsigned long)ct_ns_clone_flag(t);
	}
	return flags;
}

/* Enter the pid/time namespaces the child must be born in; restore after. */
static int spawn_child(struct create_ctx *c, struct vs_err *err)
{
	const struct ct_config *cfg = &c->cfg;
	vs_cleanup_close int own_pid = -1, own_time = -1;
	int r = 0;
	if (cfg->ns[CT_NS_PID].path) {
		own_pid = open("/proc/self/ns/pid_for_children", O_RDONLY | O_CLOEXEC);
		vs_cleanup_close int fd = open(cfg->ns[CT_NS_PID].path, O_RDONLY | O_CLOEXEC);
		if (own_pid < 0 || fd < 0 || setns(fd, CLONE_NEWPID) < 0)
			return vs_syserrf(err, errno, "join pid namespace %s",
					  cfg->ns[CT_NS_PID].path);
	}
	if (cfg->ns[CT_NS_TIME].enabled) {
		own_time = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
		if (own_time < 0)
			return vs_syserrf(err, errno, "time namespaces are not supported");
		if (cfg->ns[CT_NS_TIME].path) {
			vs_cleanup_close int fd =
			    open(cfg->ns[CT_NS_TIME].path, O_RDONLY | O_CLOEXEC);
			if (fd < 0 || setns(fd, CLONE_NEWTIME) < 0)
				r = vs_syserrf(err, errno, "join time namespace %s",
					       cfg->ns[CT_NS_TIME].path);
		} else {
			r = ct_ns_set_time_offsets(cfg, err);
		}
	}
	if (r == 0) {
		vs_cleanup_close int cgfd = c->st.has_cgroup ? ctc_unified_fd(&c->st) : -1;
		bool born = false;
		unsigned long flags = clone_flags(cfg);
		if (c->net_in_child)
			flags &= ~(unsigned long)CLONE_NEWNET;
		pid_t pid = ct_clone_fork(flags, cgfd, &born);
		c->born_in_cgroup2 = born;
		if (pid == 0)
			child_main(c);
		if (pid < 0)
			r = vs_syserrf(err, -pid, "clone container process");
		else
			c->pid = pid;
	}
	if (own_pid >= 0)
		setns(own_pid, CLONE_NEWPID);
	if (own_time >= 0)
		setns(own_time, CLONE_NEWTIME);
	return r;
}

static int run_runtime_hooks(struct create_ctx *c, struct vs_err *err)
{
	const struct ct_config *cfg = &c->cfg;
	if (!cfg->nhooks[CT_HOOK_PRESTART] && !cfg->nhooks[CT_HOOK_CREATE_RUNTIME])
		return 0;
	/* as crun: prestart and createRuntime run once create has set up the
	 * environment (runtime.md "Lifecycle" steps 5-6): the state says created */
	vs_cleanup_free char *sj = ct_state_to_json_as(&c->st, CT_STATUS_CREATED, false);
	if (!sj)
		return vs_errf(err, ENOMEM, "out of memory");
	int r = ct_hooks_run(cfg->hooks[CT_HOOK_PRESTART], cfg->nhooks[CT_HOOK_PRESTART],
			     "prestart", sj, err);
	if (r == 0)
		r = ct_hooks_run(cfg->hooks[CT_HOOK_CREATE_RUNTIME],
				 cfg->nhooks[CT_HOOK_CREATE_RUNTIME], "createRuntime", sj, err);
	return r;
}

static void fill_state(struct create_ctx *c)
{
	struct ct_state *st = &c->st;
	snprintf(st->id, sizeof(st->id), "%s", c->o->id);
	snprintf(st->bundle, sizeof(st->bundle), "%s", c->bundle);
	snprintf(st->rootfs, sizeof(st->rootfs), "%s", c->rootfs);
	ct_rfc3339_now(st->created, sizeof(st->created));
	st->userns = c->cfg.ns[CT_NS_USER].enabled;
	st->shared_mntns = !c->cfg.ns[CT_NS_MOUNT].enabled;
	for (int k = 0; k < CT_HOOK_KIND_COUNT; k++)
		if (c->cfg.nhooks[k])
			st->hook_mask |= 1u << k;
	st->saved_status = CT_STATUS_CREATING;
	struct json_object *ann = json_object_object_get(c->cfg.json, "annotations");
	if (ann && json_object_is_type(ann, json_type_object))
		st->annotations_json =
		    strdup(json_object_to_json_string_ext(ann, JSON_C_TO_STRING_PLAIN));
}

static int write_pid_file(const char *path, pid_t pid, struct vs_err *err)
{
	if (!path)
		return 0;
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
	return vs_write_file_atomic(path, buf, (size_t)n, err);
}

/*
 * runtime.md "Lifecycle": changes to config.json after create must not
 * affect the container.  create keeps the exact bytes it parsed as
 * ROOT/ID/config.json; start (poststart hooks), exec and delete (poststop
 * hooks) read that copy, never the bundle's file again.
 */
static int save_config(const struct create_ctx *c, struct vs_err *err)
{
	vs_cleanup_close int fd =
	    openat(c->dirfd, "config.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return vs_syserrf(err, errno, "save config of %s", c->o->id);
	int w = vs_write_full(fd, c->config_text, c->config_len);
	return w < 0 ? vs_syserrf(err, -w, "save config of %s", c->o->id) : 0;
}

int ct_saved_config_load(int dirfd, const char *bundle, struct ct_config *cfg, struct vs_err *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/config.json", dirfd);
	if (faccessat(dirfd, "config.json", F_OK, 0) < 0 && errno == ENOENT)
		return ct_config_load(bundle, cfg, err); /* made by an older vessel-runtime */
	return ct_config_read(path, cfg, NULL, NULL, err);
}

/* --debug timeline of create/run, in microseconds since the first step */
void ct_debug_mark(const char *what)
{
	static uint64_t t0;
	if (!vs_log_enabled(VS_LOG_DEBUG))
		return;
	uint64_t now = vs_now_ns();
	if (!t0)
		t0 = now;
	vs_log(VS_LOG_DEBUG, "create: %s at +%llu us", what, (unsigned long long)(now - t0) / 1000);
}

/* A send to the child failed: fetch the reason it left (its ERROR message). */
static int child_gone(int fd, struct vs_err *err)
{
	int r = ct_sync_expect(fd, CT_SYNC_READY, err);
	return r < 0 ? r : vs_errf(err, EPIPE, "container process exited during setup");
}

static int create_steps(struct create_ctx *c, struct vs_err *err)
{
	int r;
	ct_debug_mark("begin");
	if ((r = ct_id_validate(c->o->id, err)) < 0 || (r = resolve_paths(c, err)) < 0)
		return r;
	ct_debug_mark("config loaded");
	if ((r = ct_state_dir_create(c->o->root, c->o->id, &c->dirfd, err)) < 0 ||
	    (r = save_config(c, err)) < 0)
		return r;
	fill_state(c);
	if (c->cfg.process.terminal && c->o->console_socket &&
	    (c->console_fd = ct_console_connect(c->o->console_socket, err)) < 0)
		return c->console_fd;
	if (c->cfg.process.terminal && !c->o->console_socket) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return vs_syserrf(err, errno, "console socketpair");
		c->console_peer = sv[0];
		c->console_fd = sv[1];
	}
	if (!c->start_now && (r = open_start_socket(c, err)) < 0)
		return r;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c->sync) < 0)
		return vs_syserrf(err, errno, "socketpair");
	/* the cgroup exists, empty, before the child, or is made while the
	 * child works (cgroup_after_clone): either way the child moves itself in */
	if ((r = ctc_plan(&c->cfg, c->o->id, &c->cg_plan, err)) < 0)
		return r;
	c->cg_late = cgroup_after_clone(c);
	c->net_in_child = c->cg_late && c->cfg.ns[CT_NS_NET].enabled && !c->cfg.ns[CT_NS_NET].path;
	if (!c->cg_late && (r = ctc_setup(&c->cfg, &c->cg_plan, 0, &c->st, err)) < 0)
		return r;
	ct_debug_mark(c->cg_late ? "cgroup planned" : "cgroup ready");
	if ((r = spawn_child(c, err)) < 0)
		return r;
	ct_debug_mark("cloned");
	close(c->sync[1]);
	c->sync[1] = -1;
	if (c->cg_late) {
		if ((r = ctc_setup(&c->cfg, &c->cg_plan, 0, &c->st, err)) < 0)
			return r;
		ct_debug_mark("cgroup ready (late)");
		if (ct_sync_send(c->sync[0], CT_SYNC_GO, NULL) < 0)
			return child_gone(c->sync[0], err);
	}
	c->st.pid = c->pid;
	c->st.start_time = ct_proc_start_time(c->pid);
	if (c->cfg.ns[CT_NS_USER].enabled && !c->cfg.ns[CT_NS_USER].path &&
	    (r = ct_ns_write_mappings(c->pid, &c->cfg, err)) < 0)
		return r;
	if (need_first_go(&c->cfg) && ct_sync_send(c->sync[0], CT_SYNC_GO, NULL) < 0)
		return child_gone(c->sync[0], err);
	if (need_hooks_trip(&c->cfg)) {
		/* the state exists from here on, so hooks can query it */
		if ((r = ct_state_save(c->dirfd, &c->st, err)) < 0 ||
		    (r = ct_sync_expect(c->sync[0], CT_SYNC_HOOKS, err)) < 0)
			return r;
		ct_debug_mark("mounts done");
		if ((r = run_runtime_hooks(c, err)) < 0)
			return r;
		if (ct_sync_send_code(c->sync[0], CT_SYNC_GO, c->pid) < 0)
			return child_gone(c->sync[0], err);
	}
	if ((r = ct_sync_expect(c->sync[0], CT_SYNC_READY, err)) < 0)
		return r;
	ct_debug_mark("ready");
	c->st.saved_status = c->start_now ? CT_STATUS_RUNNING : CT_STATUS_CREATED;
	if ((r = ct_state_save(c->dirfd, &c->st, err)) < 0)
		return r;
	return write_pid_file(c->o->pid_file, c->pid, err);
}

static void create_ctx_close(struct create_ctx *c)
{
	int *fds[] = { &c->sync[0], &c->sync[1], &c->listen_fd, &c->console_fd, &c->console_peer };
	for (size_t i = 0; i < VS_ARRAY_SIZE(fds); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

static void create_rollback(struct create_ctx *c)
{
	struct vs_err ignored = VS_ERR_INIT;
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	ctc_destroy(&c->st, true, &ignored);
	if (c->st.shared_mntns)
		ct_rootfs_detach_shared(c->rootfs);
	if (c->dirfd >= 0)
		ct_state_dir_remove(c->o->root, c->o->id, c->dirfd, &ignored);
	if (c->o->pid_file)
		unlink(c->o->pid_file);
}

/* Shared by create and run: on success the state dir stays locked in *dirfd. */
/* run passes syncfd (keeps the sync socket) and consolefd (foreground:
 * receives the console socketpair end when the config wants a terminal). */
static int create_locked(const struct ct_create_opts *o, bool start_now, pid_t *pid, int *dirfd,
			 int *syncfd, int *consolefd, struct vs_err *err)
{
	struct create_ctx c;
	memset(&c, 0, sizeof(c));
	c.o = o;
	c.start_now = start_now;
	c.proxy_console = consolefd != NULL;
	c.dirfd = c.sync[0] = c.sync[1] = c.listen_fd = c.console_fd = c.console_peer = -1;
	int r = create_steps(&c, err);
	if (r < 0)
		create_rollback(&c);
	if (r == 0 && syncfd)
		*syncfd = vs_steal_fd(&c.sync[0]);
	if (r == 0 && consolefd)
		*consolefd = vs_steal_fd(&c.console_peer);
	create_ctx_close(&c);
	ct_config_free(&c.cfg);
	free(c.config_text);
	ct_state_free(&c.st);
	if (r == 0) {
		*pid = c.pid;
		*dirfd = c.dirfd;
	} else if (c.dirfd >= 0) {
		close(c.dirfd);
	}
	return r;
}

int ct_container_create(const struct ct_create_opts *o, pid_t *pid, struct vs_err *err)
{
	int dirfd = -1;
	int r = create_locked(o, false, pid, &dirfd, NULL, NULL, err);
	if (dirfd >= 0)
		close(dirfd);
	return r;
}

/* ---------------------------------------------------------------- start */

/* poststart hooks (from the config saved at create): failures are warnings. */
static void run_poststart(const struct ct_config *cfg, const struct ct_state *st)
{
	if (!cfg->nhooks[CT_HOOK_POSTSTART])
		return;
	vs_cleanup_free char *sj = ct_state_to_json(st, false);
	ct_hooks_run_all(cfg->hooks[CT_HOOK_POSTSTART], cfg->nhooks[CT_HOOK_POSTSTART], "poststart",
			 sj ? sj : "{}");
}

/* Load the saved config when the container has poststart hooks. */
static bool load_for_poststart(int dirfd, const struct ct_state *st, struct ct_config *cfg)
{
	struct vs_err err = VS_ERR_INIT;
	if (!(st->hook_mask & (1u << CT_HOOK_POSTSTART)))
		return false; /* do not read the config for nothing */
	if (ct_saved_config_load(dirfd, st->bundle, cfg, &err) < 0) {
		vs_log(VS_LOG_WARN, "poststart hooks not run: %s", err.msg);
		return false;
	}
	return true;
}

int ct_start_locked(int dirfd, struct ct_state *st, struct vs_err *err)
{
	enum ct_status s = ct_state_status(st);
	if (s != CT_STATUS_CREATED)
		return vs_errf(err, EINVAL, "container %s is %s, not created", st->id,
			       ct_status_name(s));
	vs_cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vs_syserrf(err, errno, "start socket");
	struct sockaddr_un addr;
	ct_start_socket_addr(dirfd, &addr);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return vs_syserrf(err, errno, "start container %s", st->id);
	char msg[VS_ERR_MSG_MAX];
	size_t used = 0;
	for (;;) {
		ssize_t n = read(fd, msg + used, sizeof(msg) - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		if (used == sizeof(msg) - 1)
			break;
	}
	unlinkat(dirfd, "start.sock", 0);
	if (used > 0) {
		msg[used] = 0;
		return vs_errf(err, EIO, "start container %s: %s", st->id, msg);
	}
	st->saved_status = CT_STATUS_RUNNING;
	int r = ct_state_save(dirfd, st, err);
	if (r < 0)
		return r;
	struct ct_config cfg;
	if (load_for_poststart(dirfd, st, &cfg)) {
		run_poststart(&cfg, st);
		ct_config_free(&cfg);
	}
	return 0;
}

int ct_container_start(const char *root, const char *id, struct vs_err *err)
{
	int r = ct_id_validate(id, err);
	if (r < 0)
		return r;
	vs_cleanup_close int dirfd = -1;
	if ((r = ct_state_dir_open(root, id, &dirfd, err)) < 0)
		return r;
	struct ct_state st;
	if ((r = ct_state_load(dirfd, &st, err)) < 0)
		return r;
	r = ct_start_locked(dirfd, &st, err);
	ct_state_free(&st);
	return r;
}

/* ------------------------------------------------------------------ run */

/* Called with every signal blocked (see ct_container_run). */
static int wait_forwarding(pid_t pid, int *exit_status)
{
	sigset_t all;
	sigfillset(&all);
	int status = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			break;
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0 || sig == SIGCHLD)
			continue;
		kill(pid, sig);
	}
	if (WIFEXITED(status))
		*exit_status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		*exit_status = 128 + WTERMSIG(status);
	else
		*exit_status = 255;
	return 0;
}

/* The child's verdict on execve: 0 on EOF (it ran), or its error. */
static int exec_verdict(int syncfd, struct vs_err *err)
{
	struct ct_sync_msg m;
	struct vs_err e = VS_ERR_INIT;
	if (ct_sync_recv(syncfd, &m, &e) < 0)
		return 0; /* EOF: the close-on-exec socket went with execve */
	return vs_errf(err, m.code ? m.code : EIO, "start container: %s", m.msg);
}

int ct_container_run(const struct ct_create_opts *o, bool detach, int *exit_status,
		     struct vs_err *err)
{
	pid_t pid = 0;
	vs_cleanup_close int dirfd = -1, syncfd = -1, consolefd = -1, master = -1;
	*exit_status = 0;
	/* From here on signals for the container queue up until they can be
	 * forwarded; the child empties its own mask first thing. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	int r = create_locked(o, true, &pid, &dirfd, &syncfd, detach ? NULL : &consolefd, err);
	if (r < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return r;
	}
	struct ct_state st;
	struct ct_config cfg;
	memset(&st, 0, sizeof(st));
	r = ct_state_load(dirfd, &st, err);
	bool have_cfg = r == 0 && load_for_poststart(dirfd, &st, &cfg);
	close(dirfd);
	dirfd = -1;
	/* Without poststart hooks or --detach nobody needs to know that execve
	 * happened before the process exits: skip that round trip. */
	bool confirm = detach || (st.hook_mask & (1u << CT_HOOK_POSTSTART));
	if (r == 0 && consolefd >= 0) /* sent before READY, so already here */
		r = master = ct_console_recv_master(consolefd, err);
	if (r > 0)
		r = 0;
	if (r == 0 && confirm && (r = exec_verdict(syncfd, err)) == 0 && have_cfg)
		run_poststart(&cfg, &st);
	if (have_cfg)
		ct_config_free(&cfg);
	ct_state_free(&st);
	ct_debug_mark("started");
	if (r == 0 && !detach) {
		if (master >= 0)
			ct_console_proxy(master, pid, exit_status);
		else
			wait_forwarding(pid, exit_status);
		ct_debug_mark("exited");
		if (!confirm && *exit_status == 127)
			r = exec_verdict(syncfd, err); /* 127 may be our own failure */
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (r < 0 || !detach) {
		struct vs_err derr = VS_ERR_INIT;
		int dr = ct_container_delete(o->root, o->id, true, r < 0 ? &derr : err);
		waitpid(pid, NULL, WNOHANG);
		ct_debug_mark("deleted");
		return r < 0 ? r : dr;
	}
	return 0;
}
