/*
 * sandbox.h - confinement of a running VMM (`vessel-vmm --sandbox`), in the
 * spirit of Firecracker's jailer and seccomp filters: once the VMM has opened
 * everything it needs (images, TAP, sockets, terminal) and started its disk
 * I/O threads, a guest that escapes device emulation finds little to use.
 *
 * vm_sandbox_enter(), called on the machine thread before the run loop:
 *  - when started as root: the machine thread moves to a new, empty network
 *    namespace; the process's root and working directory become an empty,
 *    deleted directory (so no path resolves, nothing can be created), or
 *    cfg->root (`--snapshot-dir`) when given; the
 *    capability bounding set and ambient set are emptied; supplementary
 *    groups are dropped and the process switches to uid/gid (65534 by
 *    default), which clears its permitted and effective capabilities;
 *  - always: PR_SET_NO_NEW_PRIVS, then a seccomp filter (libseccomp) on
 *    every thread that kills the process on any system call outside the
 *    allow-list of what the running VMM uses (vm_sandbox_syscalls()):
 *    ppoll, read/write and their vector and positional forms, fdatasync,
 *    ftruncate, fallocate, futex, memory management without PROT_EXEC,
 *    timerfd_settime, getrandom, accept4, terminal ioctls, exit; for the
 *    control API's threads: clone of threads only, socket I/O; and only
 *    with cfg->root: openat/rename (snapshot files) and AF_UNIX socket +
 *    connect (migration), which resolve inside that root; with
 *    cfg->reap_pid, wait4 on that pid.  No execve, ptrace, mount, chroot,
 *    setuid, AF_INET/netlink sockets, kill of other processes...  Outgoing
 *    tcp: migration goes through the connect broker (broker.h), forked
 *    before the drop.
 *
 * Without root the first part is skipped (only NO_NEW_PRIVS and seccomp).
 * Nothing can undo the sandbox; it is meant to be entered once, for good.
 * Sanitizer builds: LeakSanitizer's exit scan needs forbidden calls (ptrace,
 * clone, /proc): run sandboxed VMMs with ASAN_OPTIONS=detect_leaks=0.
 */
#ifndef VESSEL_VM_SANDBOX_H
#define VESSEL_VM_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vessel/core/err.h"

#define VM_SANDBOX_NOBODY 65534

struct vm_sandbox_config {
	uid_t uid; /* switched to when started as root */
	gid_t gid;
	/*
	 * The directory that becomes the root (`--snapshot-dir`): snapshot
	 * files and migration sockets of the control API resolve inside it.
	 * NULL: an empty directory, deleted.
	 */
	const char *root;
	/* The process stays in its network namespace (the connect broker). */
	bool keep_network;
	/* A child the sandboxed process may reap (wait4 on that pid only):
	 * the connect broker (broker.h); 0: none. */
	pid_t reap_pid;
};

/* Enter the sandbox (see above); 0 or -errno with err filled (the process
 * may then be partly confined: the caller should exit). */
int vm_sandbox_enter(const struct vm_sandbox_config *cfg, struct vs_err *err);

/*
 * The first part alone, for a process with a filter of its own (the connect
 * broker, broker.h): when root, the namespaces (network only without
 * keep_network), the root, capabilities and uid/gid; then
 * PR_SET_NO_NEW_PRIVS.  No seccomp filter: the caller installs its own.
 */
int vm_sandbox_drop(const struct vm_sandbox_config *cfg, struct vs_err *err);

/* The allow-list without a root, for documentation and tests: names, NULL-terminated. */
const char *const *vm_sandbox_syscalls(void);

#endif
