/*
 * namespaces.c - Linux namespaces for containers (runtime-spec 1.1
 * config-linux.md "Namespaces", "User namespace mappings", "Offset for Time
 * Namespace").
 *
 * New namespaces are created by ct_clone_fork() in one clone(2) call (so
 * every new namespace is owned by the new user namespace when there is
 * one).  Namespaces given by path are joined by the child with setns(2),
 * the user namespace first so that the others are joined with its
 * privileges.  The pid namespace is the exception: setns(CLONE_NEWPID)
 * only affects children, so the parent joins it before cloning.  The time
 * namespace likewise applies to children: the parent unshares it and
 * writes the offsets before cloning.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "linux_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* /proc/PID/ns names, indexed by enum ct_ns_type. */
static const char *const proc_ns_names[CT_NS_COUNT] = {
	[CT_NS_PID] = "pid",	   [CT_NS_NET] = "net",	  [CT_NS_MOUNT] = "mnt",
	[CT_NS_IPC] = "ipc",	   [CT_NS_UTS] = "uts",	  [CT_NS_USER] = "user",
	[CT_NS_CGROUP] = "cgroup", [CT_NS_TIME] = "time",
};

pid_t ct_clone_fork(unsigned long flags, int cgroup_fd, bool *in_cgroup)
{
	*in_cgroup = false;
	if (cgroup_fd >= 0) {
		/* clone3 with CLONE_INTO_CGROUP (Linux 5.7): born in the cgroup */
		struct clone_args_v2 {
			uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
			    stack_size, tls, set_tid, set_tid_size, cgroup;
		} args;
		memset(&args, 0, sizeof(args));
		args.flags = flags | 0x200000000ULL /* CLONE_INTO_CGROUP */;
		args.exit_signal = SIGCHLD;
		args.cgroup = (uint64_t)cgroup_fd;
		long r = syscall(SYS_clone3, &args, sizeof(args));
		if (r >= 0) {
			*in_cgroup = true;
			return (pid_t)r;
		}
		if (errno != ENOSYS && errno != E2BIG && errno != EINVAL)
			return -errno;
	}
	long r = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (r < 0)
		return -errno;
	return (pid_t)r;
}

static int write_map(pid_t pid, const char *file, const struct ct_id_mapping *m, unsigned n,
		     struct vs_err *err)
{
	char buf[4096];
	size_t used = 0;
	for (unsigned i = 0; i < n; i++) {
		int w = snprintf(buf + used, sizeof(buf) - used, "%u %u %u\n", m[i].container_id,
				 m[i].host_id, m[i].size);
		if (w < 0 || (size_t)w >= sizeof(buf) - used)
			return vs_errf(err, E2BIG, "%s: too many mappings", file);
		used += (size_t)w;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	vs_cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "open %s", path);
	if (write(fd, buf, used) != (ssize_t)used)
		return vs_syserrf(err, errno, "write %s (kernel refused the mapping)", file);
	return 0;
}

int ct_ns_write_mappings(pid_t pid, const struct ct_config *cfg, struct vs_err *err)
{
	int r = write_map(pid, "uid_map", cfg->uid_mappings, cfg->nuid_mappings, err);
	if (r < 0)
		return r;
	return write_map(pid, "gid_map", cfg->gid_mappings, cfg->ngid_mappings, err);
}

static int join_one(enum ct_ns_type t, const char *path, struct vs_err *err)
{
	vs_cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "open %s namespace %s", ct_ns_name(t), path);
	if (setns(fd, ct_ns_clone_flag(t)) < 0)
		return vs_syserrf(err, errno, "join %s namespace %s", ct_ns_name(t), path);
	return 0;
}

int ct_ns_join_paths(const struct ct_config *cfg, unsigned skip_mask, struct vs_err *err)
{
	static const enum ct_ns_type order[] = {
		CT_NS_USER, CT_NS_IPC,	  CT_NS_UTS,  CT_NS_NET,
		CT_NS_PID,  CT_NS_CGROUP, CT_NS_TIME, CT_NS_MOUNT
	};
	for (size_t i = 0; i < VS_ARRAY_SIZE(order); i++) {
		enum ct_ns_type t = order[i];
		if (!cfg->ns[t].enabled || !cfg->ns[t].path || (skip_mask & (1u << t)))
			continue;
		int r = join_one(t, cfg->ns[t].path, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int ct_ns_set_time_offsets(const struct ct_config *cfg, struct vs_err *err)
{
	if (unshare(CLONE_NEWTIME) < 0)
		return vs_syserrf(err, errno, "create time namespace");
	if (!cfg->has_time_offsets)
		return 0;
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "monotonic %lld %u\nboottime %lld %u\n",
			 (long long)cfg->time_offset_mono_s, cfg->time_offset_mono_ns,
			 (long long)cfg->time_offset_boot_s, cfg->time_offset_boot_ns);
	vs_cleanup_close int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "open /proc/self/timens_offsets");
	if (write(fd, buf, (size_t)n) != n)
		return vs_syserrf(err, errno, "linux.timeOffsets: kernel refused the offsets");
	return 0;
}

void ct_ns_close_all(int fds[CT_NS_COUNT])
{
	for (int i = 0; i < CT_NS_COUNT; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int ct_ns_open_of_pid(pid_t pid, int fds[CT_NS_COUNT], struct vs_err *err)
{
	for (int i = 0; i < CT_NS_COUNT; i++)
		fds[i] = -1;
	for (int i = 0; i < CT_NS_COUNT; i++) {
		char path[64], self[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, proc_ns_names[i]);
		snprintf(self, sizeof(self), "/proc/self/ns/%s", proc_ns_names[i]);
		struct stat a, b;
		if (stat(path, &a) < 0) {
			if (errno == ENOENT && i == CT_NS_TIME)
				continue;
			int r = vs_syserrf(err, errno, "stat %s", path);
			ct_ns_close_all(fds);
			return r;
		}
		if (stat(self, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			continue;
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			int r = vs_syserrf(err, errno, "open %s", path);
			ct_ns_close_all(fds);
			return r;
		}
	}
	return 0;
}
