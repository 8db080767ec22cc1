/*
 * exec.c - run an additional process in a running container (runc/crun
 * `exec`; runtime-spec 1.1 config.md "Process" for --process files).
 *
 * The runtime opens /proc/PID/ns/ files of the container's init, enters its pid
 * (and time) namespace "for children" itself, forks, and the child joins the
 * rest with setns(2), the user namespace first.  The child joins the
 * container's cgroup itself before anything else (see container_cgroup.c
 * for why the child and not the parent), so the process is confined from
 * its first instruction.  The sync socket is
 * close-on-exec: EOF tells the parent execve succeeded; an error message
 * tells it why not.  The state lock is released once the process runs, so
 * a long `exec` never blocks `kill` or `delete` of the container.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container_cgroup.h"
#include "create_internal.h"
#include "linux_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/ct/container.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct exec_ctx {
	const struct ct_exec_opts *o;
	const struct ct_state *st; /* the container (its cgroup) */
	struct ct_config cfg;	   /* the container's config (seccomp, defaults) */
	bool have_cfg;
	struct json_object *pjson; /* --process document */
	struct ct_process proc;
	const char **env; /* merged env when built from the CLI */
	int ns[CT_NS_COUNT];
	int sync[2];
	int console_fd;
};

static int parse_user(const char *spec, struct ct_process *p, struct vs_err *err)
{
	char *end;
	unsigned long uid = strtoul(spec, &end, 10);
	if (end == spec || (*end && *end != ':') || uid >= UINT32_MAX)
		return vs_errf(err, EINVAL, "--user %s: expected UID[:GID]", spec);
	p->uid = (uint32_t)uid;
	p->gid = 0;
	if (*end == ':') {
		const char *g = end + 1;
		unsigned long gid = strtoul(g, &end, 10);
		if (end == g || *end || gid >= UINT32_MAX)
			return vs_errf(err, EINVAL, "--user %s: expected UID[:GID]", spec);
		p->gid = (uint32_t)gid;
	}
	p->nadditional_gids = 0;
	return 0;
}

static int merge_env(struct exec_ctx *c, struct vs_err *err)
{
	const char *const *extra = c->o->env;
	unsigned nextra = 0;
	while (extra && extra[nextra])
		nextra++;
	if (!nextra)
		return 0;
	unsigned nbase = c->proc.nenv;
	const char **v = calloc(nbase + nextra + 1, sizeof(*v));
	if (!v)
		return vs_errf(err, ENOMEM, "out of memory");
	unsigned n = 0;
	for (unsigned i = 0; i < nbase; i++) {
		const char *e = c->proc.env[i];
		size_t klen = strcspn(e, "=");
		bool overridden = false;
		for (unsigned k = 0; k < nextra; k++)
			if (strncmp(extra[k], e, klen + 1) == 0)
				overridden = true;
		if (!overridden)
			v[n++] = e;
	}
	for (unsigned k = 0; k < nextra; k++) {
		if (!strchr(extra[k], '=')) {
			free(v);
			return vs_errf(err, EINVAL, "--env %s: expected KEY=VALUE", extra[k]);
		}
		v[n++] = extra[k];
	}
	c->env = v;
	c->proc.env = v;
	c->proc.nenv = n;
	return 0;
}

static int load_process(struct exec_ctx *c, int dirfd, const char *bundle, struct vs_err *err)
{
	int r;
	c->have_cfg = ct_saved_config_load(dirfd, bundle, &c->cfg, NULL) == 0;
	if (c->o->process_file) {
		vs_cleanup_free char *text = NULL;
		size_t len;
		if ((r = vs_read_file(c->o->process_file, &text, &len, 1 << 20, err)) < 0)
			return r;
		c->pjson = json_tokener_parse(text);
		if (!c->pjson)
			return vs_errf(err, EINVAL, "%s: invalid JSON", c->o->process_file);
		if ((r = ct_process_parse(c->pjson, &c->proc, err)) < 0)
			return vs_err_prefix(err, "%s", c->o->process_file);
		return 0;
	}
	if (!c->o->args || !c->o->args[0])
		return vs_errf(err, EINVAL, "exec: no command given (use --process or ARGS)");
	if (!c->have_cfg)
		return vs_errf(err, ENOENT, "exec: cannot read the container's config.json");
	c->proc = c->cfg.process; /* borrow; vectors below are replaced, never freed twice */
	c->proc.rlimits = NULL;
	c->proc.nrlimits = 0;
	c->proc.has_oom_score_adj = false;
	c->proc.args = (const char **)c->o->args;
	c->proc.terminal = c->o->tty;
	if (c->o->cwd)
		c->proc.cwd = c->o->cwd;
	if (c->o->no_new_privs)
		c->proc.no_new_privileges = true;
	for (const char *const *cap = c->o->caps; cap && *cap; cap++) {
		int n = ct_cap_from_name(*cap);
		if (n < 0)
			return vs_errf(err, EINVAL, "--cap %s: unknown capability", *cap);
		uint64_t bit = 1ULL << n;
		c->proc.caps.bounding |= bit;
		c->proc.caps.effective |= bit;
		c->proc.caps.permitted |= bit;
	}
	if (c->o->user && (r = parse_user(c->o->user, &c->proc, err)) < 0)
		return r;
	return merge_env(c, err);
}

static __attribute__((noreturn)) void exec_child(struct exec_ctx *c)
{
	struct vs_err err = VS_ERR_INIT;
	close(c->sync[0]);
	/* a container without a mount namespace of its own lives chroot()ed in
	 * ours: take its root before joining the others */
	int rootfd = -1;
	if (c->ns[CT_NS_MOUNT] < 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/root", (int)c->st->pid);
		if ((rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			vs_syserrf(&err, errno, "open %s", path);
			goto fail;
		}
	}
	/* join the cgroup first, while still in the runtime's user namespace */
	if (c->st->has_cgroup && ctc_enter_self(&c->st->cgroup, false, &err) < 0)
		goto fail;
	static const enum ct_ns_type order[] = { CT_NS_USER, CT_NS_IPC,	   CT_NS_UTS,
						 CT_NS_NET,  CT_NS_CGROUP, CT_NS_MOUNT };
	for (size_t i = 0; i < VS_ARRAY_SIZE(order); i++) {
		enum ct_ns_type t = order[i];
		if (c->ns[t] >= 0 && setns(c->ns[t], ct_ns_clone_flag(t)) < 0) {
			vs_syserrf(&err, errno, "join %s namespace", ct_ns_name(t));
			goto fail;
		}
	}
	if (rootfd >= 0 && (fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0)) {
		vs_syserrf(&err, errno, "chroot into the container's root");
		goto fail;
	}
	if (ct_sync_expect(c->sync[1], CT_SYNC_GO, &err) < 0)
		_exit(127);
	if (ct_process_set_rlimits(&c->proc, &err) < 0)
		goto fail;
	if (c->proc.terminal) {
		if (ct_console_setup(c->console_fd, &c->proc, false, &err) < 0)
			goto fail;
		close(c->console_fd);
	} else {
		setsid();
	}
	int first = 3 + c->o->preserve_fds;
	syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC);
	for (int fd = 3; fd < first; fd++)
		fcntl(fd, F_SETFD, 0);
	ct_process_exec(&c->proc, c->have_cfg ? &c->cfg : NULL, &err);
fail:
	ct_sync_send(c->sync[1], CT_SYNC_ERROR, &err);
	_exit(127);
}

static int spawn(struct exec_ctx *c, pid_t *pid, struct vs_err *err)
{
	vs_cleanup_close int own_pid = -1, own_time = -1;
	int r = 0;
	if (c->ns[CT_NS_PID] >= 0) {
		own_pid = open("/proc/self/ns/pid_for_children", O_RDONLY | O_CLOEXEC);
		if (own_pid < 0 || setns(c->ns[CT_NS_PID], CLONE_NEWPID) < 0)
			return vs_syserrf(err, errno, "join pid namespace");
	}
	if (c->ns[CT_NS_TIME] >= 0) {
		own_time = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
		if (own_time < 0 || setns(c->ns[CT_NS_TIME], CLONE_NEWTIME) < 0)
			r = vs_syserrf(err, errno, "join time namespace");
	}
	if (r == 0) {
		pid_t p = fork();
		if (p == 0)
			exec_child(c);
		if (p < 0)
			r = vs_syserrf(err, errno, "fork");
		*pid = p;
	}
	if (own_pid >= 0)
		setns(own_pid, CLONE_NEWPID);
	if (own_time >= 0)
		setns(own_time, CLONE_NEWTIME);
	return r;
}

static void exec_ctx_free(struct exec_ctx *c)
{
	ct_ns_close_all(c->ns);
	for (int i = 0; i < 2; i++)
		if (c->sync[i] >= 0)
			close(c->sync[i]);
	if (c->console_fd >= 0)
		close(c->console_fd);
	if (c->pjson) {
		ct_process_free(&c->proc);
		json_object_put(c->pjson);
	}
	free(c->env);
	if (c->have_cfg)
		ct_config_free(&c->cfg);
}

static int exec_locked(struct exec_ctx *c, pid_t *pid, struct vs_err *err)
{
	const struct ct_exec_opts *o = c->o;
	int r = ct_id_validate(o->id, err);
	if (r < 0)
		return r;
	vs_cleanup_close int dirfd = -1;
	if ((r = ct_state_dir_open(o->root, o->id, &dirfd, err)) < 0)
		return r;
	struct ct_state st;
	if ((r = ct_state_load(dirfd, &st, err)) < 0)
		return r;
	enum ct_status s = ct_state_status(&st);
	if (s != CT_STATUS_RUNNING && s != CT_STATUS_CREATED) {
		r = vs_errf(err, EINVAL, "container %s is %s: cannot exec", o->id,
			    ct_status_name(s));
		goto out;
	}
	if ((r = load_process(c, dirfd, st.bundle, err)) < 0)
		goto out;
	if (c->proc.terminal && !o->console_socket) {
		r = vs_errf(err, EINVAL, "exec --tty needs --console-socket");
		goto out;
	}
	if ((r = ct_ns_open_of_pid(st.pid, c->ns, err)) < 0)
		goto out;
	if (c->proc.terminal && (c->console_fd = ct_console_connect(o->console_socket, err)) < 0) {
		r = c->console_fd;
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c->sync) < 0) {
		r = vs_syserrf(err, errno, "socketpair");
		goto out;
	}
	c->st = &st;
	if ((r = spawn(c, pid, err)) < 0)
		goto out;
	close(c->sync[1]);
	c->sync[1] = -1;
	if (ct_sync_send(c->sync[0], CT_SYNC_GO, NULL) < 0) {
		/* the child failed before GO: fetch its reason */
		r = ct_sync_expect(c->sync[0], CT_SYNC_GO, err);
		if (r == 0)
			r = vs_errf(err, EPIPE, "exec in %s: process exited during setup", o->id);
		goto kill;
	}
	struct ct_sync_msg m;
	struct vs_err rerr = VS_ERR_INIT;
	if (ct_sync_recv(c->sync[0], &m, &rerr) == 0) {
		r = vs_errf(err, m.code ? m.code : EIO, "exec in %s: %s", o->id, m.msg);
		goto kill;
	}
	if (o->pid_file) {
		char buf[16];
		int n = snprintf(buf, sizeof(buf), "%d", (int)*pid);
		if ((r = vs_write_file_atomic(o->pid_file, buf, (size_t)n, err)) < 0)
			goto kill;
	}
	goto out;
kill:
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = -1;
out:
	ct_state_free(&st);
	return r;
}

int ct_container_exec(const struct ct_exec_opts *o, int *exit_status, struct vs_err *err)
{
	struct exec_ctx c;
	memset(&c, 0, sizeof(c));
	c.o = o;
	c.sync[0] = c.sync[1] = c.console_fd = -1;
	for (int i = 0; i < CT_NS_COUNT; i++)
		c.ns[i] = -1;
	pid_t pid = -1;
	*exit_status = 0;
	int r = exec_locked(&c, &pid, err);
	exec_ctx_free(&c);
	if (r < 0 || o->detach)
		return r;
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	int status = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig > 0 && sig != SIGCHLD)
			kill(pid, sig);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (WIFEXITED(status))
		*exit_status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		*exit_status = 128 + WTERMSIG(status);
	return 0;
}
