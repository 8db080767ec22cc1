/*
 * process.c - turn the prepared container child into the user's process
 * (runtime-spec 1.1 config.md "Process", "POSIX process", "Linux process";
 * config-linux.md "Seccomp"): rlimits, oom_score_adj, cwd, umask,
 * capabilities in all five sets (libcap + prctl), user and groups,
 * noNewPrivileges, seccomp, then execve with a PATH search in the
 * process's own environment.
 *
 * Order matters and follows runc: the bounding set is dropped while we
 * still hold CAP_SETPCAP; PR_SET_KEEPCAPS keeps permitted caps across the
 * uid change; seccomp is loaded before the privilege drop when
 * noNewPrivileges is false (loading needs CAP_SYS_ADMIN then), else last.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linux_internal.h"
#include "vessel/core/cleanup.h"

int ct_process_set_rlimits(const struct ct_process *proc, struct vs_err *err)
{
	for (unsigned i = 0; i < proc->nrlimits; i++) {
		const struct ct_rlimit *rl = &proc->rlimits[i];
		struct rlimit lim = { (rlim_t)rl->soft, (rlim_t)rl->hard };
		if (setrlimit(rl->resource, &lim) < 0)
			return vs_syserrf(
			    err, errno,
			    "process.rlimits: kernel refused limit %d (soft %llu, hard "
			    "%llu)",
			    rl->resource, (unsigned long long)rl->soft,
			    (unsigned long long)rl->hard);
	}
	return 0;
}

int ct_process_set_oom_score(const struct ct_process *proc, struct vs_err *err)
{
	if (!proc->has_oom_score_adj)
		return 0;
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%d", proc->oom_score_adj);
	vs_cleanup_close int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "open /proc/self/oom_score_adj");
	if (write(fd, buf, (size_t)n) != n)
		return vs_syserrf(err, errno, "process.oomScoreAdj: kernel refused %d",
				  proc->oom_score_adj);
	return 0;
}

static int last_cap(void)
{
	static int cached = -1;
	if (cached >= 0)
		return cached;
	int v = 40;
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 40;
		fclose(f);
	}
	cached = v > 63 ? 63 : v;
	return cached;
}

static int drop_bounding(const struct ct_caps *caps, struct vs_err *err)
{
	int last = last_cap();
	for (int c = 0; c <= last; c++) {
		if (caps->bounding & (1ULL << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return vs_syserrf(err, errno, "drop capability %d from the bounding set",
					  c);
	}
	return 0;
}

static int set_caps(const struct ct_caps *caps, struct vs_err *err)
{
	cap_t c = cap_init();
	if (!c)
		return vs_syserrf(err, errno, "cap_init");
	int last = last_cap();
	int r = 0;
	for (int i = 0; i <= last; i++) {
		cap_value_t v = i;
		if (caps->effective & (1ULL << i))
			cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_SET);
		if (caps->permitted & (1ULL << i))
			cap_set_flag(c, CAP_PERMITTED, 1, &v, CAP_SET);
		if (caps->inheritable & (1ULL << i))
			cap_set_flag(c, CAP_INHERITABLE, 1, &v, CAP_SET);
	}
	if (cap_set_proc(c) < 0)
		r = vs_syserrf(err, errno, "set process capabilities");
	cap_free(c);
	if (r < 0)
		return r;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return vs_syserrf(err, errno, "clear ambient capabilities");
	/* The kernel only allows ambient caps that are permitted and
	 * inheritable; others are skipped (runc and crun do the same). */
	uint64_t ambient = caps->ambient & caps->permitted & caps->inheritable;
	for (int i = 0; i <= last; i++)
		if ((ambient & (1ULL << i)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) < 0)
			return vs_syserrf(err, errno, "raise ambient capability %d", i);
	return 0;
}

static int set_user(const struct ct_process *proc, struct vs_err *err)
{
	gid_t groups[256] = { 0 };
	unsigned n = proc->nadditional_gids;
	if (n > VS_ARRAY_SIZE(groups))
		return vs_errf(err, E2BIG, "process.user.additionalGids: too many groups");
	for (unsigned i = 0; i < n; i++)
		groups[i] = proc->additional_gids[i];
	if (setgroups(n, groups) < 0 && !(errno == EPERM && n == 0))
		return vs_syserrf(err, errno, "setgroups");
	if (setresgid(proc->gid, proc->gid, proc->gid) < 0)
		return vs_syserrf(err, errno, "setgid %u (is it mapped?)", proc->gid);
	if (setresuid(proc->uid, proc->uid, proc->uid) < 0)
		return vs_syserrf(err, errno, "setuid %u (is it mapped?)", proc->uid);
	return 0;
}

static const char *env_lookup(const char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (; env && *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

static int exec_search(const struct ct_process *proc, struct vs_err *err)
{
	const char *file = proc->args[0];
	char *const *argv = (char *const *)proc->args;
	char *const *envp = (char *const *)(proc->env ? proc->env : (const char *[]){ NULL });
	if (strchr(file, '/')) {
		execve(file, argv, envp);
		return vs_syserrf(err, errno, "exec %s", file);
	}
	const char *path = env_lookup(proc->env, "PATH");
	if (!path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	int saved = ENOENT;
	while (*path) {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);
		char full[PATH_MAX];
		if (len + strlen(file) + 2 <= sizeof(full)) {
			snprintf(full, sizeof(full), "%.*s/%s", (int)len, len ? path : ".", file);
			execve(full, argv, envp);
			if (errno != ENOENT && errno != ENOTDIR)
				saved = errno;
		}
		if (!end)
			break;
		path = end + 1;
	}
	return vs_syserrf(err, saved, "exec %s", file);
}

int ct_process_exec(const struct ct_process *proc, const struct ct_config *cfg, struct vs_err *err)
{
	int r;
	bool cwd_done = chdir(proc->cwd) == 0;
	int cwd_errno = errno;
	if (proc->umask >= 0)
		umask((mode_t)proc->umask);
	bool nnp = proc->no_new_privileges;
	if (cfg && cfg->has_seccomp && !nnp && (r = ct_seccomp_load(&cfg->seccomp, false, err)) < 0)
		return r;
	if (proc->caps.present && (r = drop_bounding(&proc->caps, err)) < 0)
		return r;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return vs_syserrf(err, errno, "PR_SET_KEEPCAPS");
	if ((r = set_user(proc, err)) < 0)
		return r;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return vs_syserrf(err, errno, "PR_SET_KEEPCAPS");
	if (proc->caps.present && (r = set_caps(&proc->caps, err)) < 0)
		return r;
	if (!cwd_done && chdir(proc->cwd) < 0)
		return vs_syserrf(err, cwd_errno == EACCES ? errno : cwd_errno, "chdir %s",
				  proc->cwd);
	if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return vs_syserrf(err, errno, "set no_new_privs");
	if (cfg && cfg->has_seccomp && nnp && (r = ct_seccomp_load(&cfg->seccomp, true, err)) < 0)
		return r;
	return exec_search(proc, err);
}
