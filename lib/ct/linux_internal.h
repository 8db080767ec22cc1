/*
 * linux_internal.h - the Linux mechanisms behind the runtime, shared by
 * container.c and exec.c: namespaces, rootfs, process set-up, seccomp,
 * console, hooks, and the parent/child sync channel.
 *
 * Everything here that runs in the container child is async-signal-safe in
 * spirit: it allocates little, never prints, and reports failures through
 * struct vs_err, which the child ships to the parent over the sync socket.
 */
#ifndef VESSEL_CT_LINUX_INTERNAL_H
#define VESSEL_CT_LINUX_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "vessel/core/err.h"
#include "vessel/ct/config.h"

/* ---- sync channel (SOCK_SEQPACKET socketpair) ---- */
enum ct_sync_type {
	CT_SYNC_GO = 1, /* parent -> child: continue */
	CT_SYNC_HOOKS,	/* child -> parent: mounts done, run createRuntime hooks */
	CT_SYNC_READY,	/* child -> parent: created, waiting for start */
	CT_SYNC_ERROR,	/* child -> parent: failed; code + msg follow */
};

struct ct_sync_msg {
	int type;
	int code;
	char msg[VS_ERR_MSG_MAX];
};

int ct_sync_send(int fd, int type, const struct vs_err *err);
/* Receive one message; EOF becomes -EPIPE with a message. */
int ct_sync_recv(int fd, struct ct_sync_msg *m, struct vs_err *err);
/* Wait for a message of `type`; an ERROR message turns into err. */
int ct_sync_expect(int fd, int type, struct vs_err *err);
/* Send/expect a message carrying a number in its code field. */
int ct_sync_send_code(int fd, int type, int code);
int ct_sync_expect_code(int fd, int type, int *code, struct vs_err *err);

/* ---- namespaces.c ---- */
/* Write uid_map/gid_map of pid (parent side). */
int ct_ns_write_mappings(pid_t pid, const struct ct_config *cfg, struct vs_err *err);
/* Join the namespaces given by path in cfg (child side; user first). skip: mask of types. */
int ct_ns_join_paths(const struct ct_config *cfg, unsigned skip_mask, struct vs_err *err);
/* Write time namespace offsets for the children of the calling process. */
int ct_ns_set_time_offsets(const struct ct_config *cfg, struct vs_err *err);
/* Open /proc/PID/ns/NAME for every namespace PID does not share with us. */
int ct_ns_open_of_pid(pid_t pid, int fds[CT_NS_COUNT], struct vs_err *err);
void ct_ns_close_all(int fds[CT_NS_COUNT]);

/* ---- rootfs.c ---- */
/* In the new mount namespace, before pivot: propagation, rootfs bind, mounts, devices. */
int ct_rootfs_prepare(const struct ct_config *cfg, const char *rootfs, const char *bundle,
		      bool userns, struct vs_err *err);
/* pivot_root (or move+chroot), then masked/readonly paths, readonly root. */
int ct_rootfs_finish(const struct ct_config *cfg, const char *rootfs, bool no_pivot,
		     struct vs_err *err);
/* A container without its own mount namespace left its mounts under rootfs
 * in the runtime's namespace: detach every mount below rootfs (not rootfs
 * itself).  Returns how many were detached. */
int ct_rootfs_detach_shared(const char *rootfs);
/* Resolve PATH inside rootfs (symlinks cannot escape); creates missing
 * directories (and the last component as a file or directory if asked). */
enum ct_resolve_create { CT_RESOLVE_NONE, CT_RESOLVE_DIR, CT_RESOLVE_FILE };
int ct_rootfs_open_in_root(int rootfd, const char *path, enum ct_resolve_create create,
			   struct vs_err *err);

/* ---- process.c ---- */
/* Everything after the rootfs up to (not including) execve, then execve.
 * Returns only on failure.  seccomp_early: load seccomp before dropping
 * privileges (needed when noNewPrivileges is false). */
int ct_process_exec(const struct ct_process *proc, const struct ct_config *cfg, struct vs_err *err);
int ct_process_set_rlimits(const struct ct_process *proc, struct vs_err *err);
int ct_process_set_oom_score(const struct ct_process *proc, struct vs_err *err);

/* ---- seccomp.c ---- */
int ct_seccomp_load(const struct ct_seccomp *sec, bool no_new_privs, struct vs_err *err);

/* ---- console.c ---- */
/* Connect to the console socket path (before the child is forked). */
int ct_console_connect(const char *path, struct vs_err *err);
/* Create a pty, send the master over sockfd, make the slave our ctty+stdio;
 * bind_console (container init only): bind the slave onto /dev/console. */
int ct_console_setup(int sockfd, const struct ct_process *proc, bool bind_console,
		     struct vs_err *err);

/* ---- hooks.c ---- */
int ct_hooks_run(const struct ct_hook *hooks, unsigned n, const char *kind, const char *state_json,
		 struct vs_err *err);
/* poststart/poststop: every hook runs; each failure is logged as a warning.
 * Returns the number of hooks that failed. */
unsigned ct_hooks_run_all(const struct ct_hook *hooks, unsigned n, const char *kind,
			  const char *state_json);

/* ---- misc ---- */
/* clone(2) without a new stack: fork-like; returns the pid or -errno.
 * cgroup_fd >= 0: try clone3(CLONE_INTO_CGROUP) first; *in_cgroup says
 * whether the child was born in that cgroup. */
pid_t ct_clone_fork(unsigned long flags, int cgroup_fd, bool *in_cgroup);

#endif
