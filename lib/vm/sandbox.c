/*
 * sandbox.c - `vessel-vmm --sandbox` (contract in include/vessel/vm/sandbox.h).
 *
 * Order matters: namespaces, the empty root and the capability bounding set
 * need privileges, so they come before the uid switch; NO_NEW_PRIVS comes
 * before the filter (an unprivileged process may only install one with it);
 * the filter comes last and is synchronised to every thread (the disk I/O
 * threads already run) with SECCOMP_FILTER_FLAG_TSYNC.
 *
 * The allow-list is one const table: a row is a system call and, for a few,
 * a condition on one argument (no PROT_EXEC for mmap/mprotect, terminal
 * requests (and TIOCOUTQ) only for ioctl, flag requests only for fcntl, signals only to
 * this process for tgkill, CLONE_THREAD for clone, AF_UNIX for socket;
 * clone3 fails with ENOSYS, its flags being out of the filter's reach, and
 * glibc falls back to clone; wait4 only on cfg->reap_pid, the connect
 * broker).  Everything else kills the process (SCMP_ACT_KILL_PROCESS),
 * which the kernel reports as SIGSYS.
 *
 * vm_sandbox_drop() is the same without the filter, for the connect broker
 * (broker.c), which keeps its network namespace and loads its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdbool.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "vessel/vm/sandbox.h"

enum arg_rule {
	ANY,
	THREAD_A0,  /* clone: arg 0 (flags) with CLONE_THREAD (pthread_create) */
	ENOSYS_ANY, /* clone3: its flags are behind a pointer; ENOSYS makes glibc use clone */
	UNIX_A0,    /* socket: arg 0 (domain) AF_UNIX */
	NAME_A0,    /* prctl: arg 0 PR_SET_NAME (libmicrohttpd names its threads) */
	NO_EXEC_A2, /* arg 2 (prot) without PROT_EXEC */
	TTY_A1,	    /* arg 1 (request) a terminal request */
	FLAGS_A1,   /* arg 1 (cmd) F_GETFL/F_SETFL/F_GETFD/F_SETFD/F_DUPFD_CLOEXEC */
	SELF_A0,    /* arg 0 (tgid) this process */
};

static const struct {
	const char *name;
	enum arg_rule rule;
} allowed[] = {
	/* I/O on descriptors opened before the sandbox */
	{ "read", ANY },
	{ "write", ANY },
	{ "readv", ANY },
	{ "writev", ANY },
	{ "pread64", ANY },
	{ "pwrite64", ANY },
	{ "preadv", ANY },
	{ "pwritev", ANY },
	{ "preadv2", ANY },
	{ "pwritev2", ANY },
	{ "lseek", ANY },
	{ "fdatasync", ANY },
	{ "fsync", ANY },
	{ "ftruncate", ANY },
	{ "fallocate", ANY },
	{ "fstat", ANY },
	{ "newfstatat", ANY }, /* glibc's fstat; paths resolve in the empty root */
	{ "close", ANY },
	{ "accept4", ANY }, /* the unix-socket serial port */
	{ "unlink", ANY },  /* its socket path on close: nothing to find */
	{ "ioctl", TTY_A1 },
	{ "fcntl", FLAGS_A1 },
	/* the control API: a thread per connection (libmicrohttpd) */
	{ "clone", THREAD_A0 },
	{ "clone3", ENOSYS_ANY },
	{ "set_robust_list", ANY },
	{ "prctl", NAME_A0 },
	{ "sched_getaffinity", ANY }, /* AddressSanitizer's pthread_create */
	{ "rseq", ANY },
	{ "recvfrom", ANY },
	{ "sendto", ANY },
	{ "recvmsg", ANY },
	{ "sendmsg", ANY },
	{ "shutdown", ANY },
	{ "setsockopt", ANY },
	{ "getsockopt", ANY },
	{ "getsockname", ANY },
	{ "getpeername", ANY },
	{ "eventfd2", ANY },
	{ "pipe2", ANY },

	/* the run loop */
	{ "ppoll", ANY },
	{ "poll", ANY },
	{ "timerfd_settime", ANY },
	{ "timerfd_gettime", ANY },
	{ "getrandom", ANY },
	{ "clock_gettime", ANY },
	{ "clock_getres", ANY },
	{ "clock_nanosleep", ANY },
	{ "nanosleep", ANY },
	{ "gettimeofday", ANY },
	{ "sched_yield", ANY },
	/* memory (malloc, the disk caches) */
	{ "brk", ANY },
	{ "mmap", NO_EXEC_A2 },
	{ "mprotect", NO_EXEC_A2 },
	{ "munmap", ANY },
	{ "mremap", ANY },
	{ "madvise", ANY },
	/* threads that already exist, signals, exit */
	{ "futex", ANY },
	{ "rt_sigreturn", ANY },
	{ "rt_sigprocmask", ANY },
	{ "rt_sigaction", ANY },
	{ "sigaltstack", ANY },
	{ "restart_syscall", ANY },
	{ "memfd_create", ANY }, /* savevm and migration state buffers */
	{ "sysinfo", ANY },	 /* glibc sysconf(_SC_PHYS_PAGES), the balloon */
	{ "getpid", ANY },
	{ "gettid", ANY },
	{ "getuid", ANY },
	{ "geteuid", ANY },
	{ "getgid", ANY },
	{ "getegid", ANY },
	{ "tgkill", SELF_A0 }, /* abort() */
	{ "exit", ANY },
	{ "exit_group", ANY },
};

/* Only with cfg->root (--snapshot-dir): snapshot files, migration sockets there. */
static const struct {
	const char *name;
	enum arg_rule rule;
} allowed_in_root[] = {
	{ "openat", ANY },     { "rename", ANY },
	{ "renameat", ANY },   { "getcwd", ANY },  /* a snapshot's path as a diff's parent, */
	{ "readlink", ANY },			   /* and realpath() of a loaded one */
	{ "socket", UNIX_A0 }, { "connect", ANY }, /* outgoing migration */
};

/* TIOCOUTQ is also SIOCOUTQ: a migration's bytes its destination has not read */
static const unsigned long tty_requests[] = {
	TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCOUTQ
};
/* F_DUPFD_CLOEXEC: the API keeps a refused request's connection to linger (core/linger.c) */
static const int fcntl_cmds[] = { F_GETFL, F_SETFL, F_GETFD, F_SETFD, F_DUPFD_CLOEXEC };

const char *const *vm_sandbox_syscalls(void)
{
	static const char *names[sizeof(allowed) / sizeof(allowed[0]) + 1];
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		names[i] = allowed[i].name;
	return names;
}

static int add_rule(scmp_filter_ctx ctx, int nr, enum arg_rule rule)
{
	int r = 0;
	switch (rule) {
	case ANY: return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	case THREAD_A0:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	case ENOSYS_ANY: return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
	case NAME_A0:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)PR_SET_NAME));
	case UNIX_A0:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)AF_UNIX));
	case NO_EXEC_A2:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	case TTY_A1:
		for (size_t i = 0; i < sizeof(tty_requests) / sizeof(tty_requests[0]) && r == 0;
		     i++)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					     SCMP_A1(SCMP_CMP_EQ, tty_requests[i]));
		return r;
	case FLAGS_A1:
		for (size_t i = 0; i < sizeof(fcntl_cmds) / sizeof(fcntl_cmds[0]) && r == 0; i++)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)fcntl_cmds[i]));
		return r;
	case SELF_A0:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	}
	return -EINVAL;
}

static int load_filter(const struct vm_sandbox_config *cfg, struct vs_err *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return vs_errf(err, ENOMEM, "sandbox: seccomp_init failed");
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r < 0) {
		seccomp_release(ctx);
		return vs_errf(err, -r, "sandbox: seccomp thread synchronisation: %s",
			       strerror(-r));
	}
	size_t nbase = sizeof(allowed) / sizeof(allowed[0]);
	size_t nroot = cfg->root ? sizeof(allowed_in_root) / sizeof(allowed_in_root[0]) : 0;
	for (size_t i = 0; i < nbase + nroot; i++) {
		const char *name = i < nbase ? allowed[i].name : allowed_in_root[i - nbase].name;
		int nr = seccomp_syscall_resolve_name(name);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not a system call on this architecture */
		r = add_rule(ctx, nr,
			     i < nbase ? allowed[i].rule : allowed_in_root[i - nbase].rule);
		if (r < 0) {
			seccomp_release(ctx);
			return vs_errf(err, -r, "sandbox: seccomp rule for %s: %s", name,
				       strerror(-r));
		}
	}
	/* the connect broker, reaped at exit (waitpid is wait4) */
	if (cfg->reap_pid > 0 &&
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(wait4), 1,
				  SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)cfg->reap_pid))) < 0) {
		seccomp_release(ctx);
		return vs_errf(err, -r, "sandbox: seccomp rule for wait4: %s", strerror(-r));
	}
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return vs_errf(err, -r, "sandbox: loading the seccomp filter: %s", strerror(-r));
	return 0;
}

/* Root and working directory: cfg->root, else an empty directory, deleted. */
static int new_root(const char *root, struct vs_err *err)
{
	if (root) {
		if (chdir(root) < 0 || chroot(".") < 0 || chdir("/") < 0)
			return vs_syserrf(err, errno, "sandbox: chroot into %s", root);
		return 0;
	}
	char dir[] = "/tmp/vessel-sandbox-XXXXXX";
	if (!mkdtemp(dir))
		return vs_syserrf(err, errno, "sandbox: mkdtemp");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int saved = errno;
	rmdir(dir);
	if (fd < 0)
		return vs_syserrf(err, saved, "sandbox: open %s", dir);
	int r = 0;
	if (fchdir(fd) < 0 || chroot(".") < 0 || chdir("/") < 0)
		r = vs_syserrf(err, errno, "sandbox: chroot into an empty directory");
	close(fd);
	return r;
}

static int drop_privileges(const struct vm_sandbox_config *cfg, struct vs_err *err)
{
	if (!cfg->keep_network && unshare(CLONE_NEWNET) < 0)
		return vs_syserrf(err, errno, "sandbox: unshare(CLONE_NEWNET)");
	int r = new_root(cfg->root, err);
	if (r < 0)
		return r;
	for (unsigned long cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return vs_syserrf(err, errno, "sandbox: dropping capability %lu", cap);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return vs_syserrf(err, errno, "sandbox: clearing ambient capabilities");
	if (setgroups(0, NULL) < 0)
		return vs_syserrf(err, errno, "sandbox: setgroups");
	if (setresgid(cfg->gid, cfg->gid, cfg->gid) < 0)
		return vs_syserrf(err, errno, "sandbox: setresgid(%u)", (unsigned)cfg->gid);
	if (setresuid(cfg->uid, cfg->uid, cfg->uid) < 0)
		return vs_syserrf(err, errno, "sandbox: setresuid(%u)", (unsigned)cfg->uid);
	if (cfg->uid != 0) {
		cap_t none = cap_init();
		r = none && cap_set_proc(none) == 0 ? 0 : -errno;
		cap_free(none);
		if (r < 0)
			return vs_syserrf(err, -r, "sandbox: clearing capabilities");
	}
	return 0;
}

int vm_sandbox_drop(const struct vm_sandbox_config *cfg, struct vs_err *err)
{
	/* glibc reads the time zone once, on first use (libmicrohttpd's Date
	 * header): now, while /etc/localtime resolves and open is allowed */
	tzset();
	if (geteuid() == 0) {
		int r = drop_privileges(cfg, err);
		if (r < 0)
			return r;
	} else if (cfg->root && chdir(cfg->root) < 0) {
		return vs_syserrf(err, errno, "sandbox: chdir %s", cfg->root);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return vs_syserrf(err, errno, "sandbox: PR_SET_NO_NEW_PRIVS");
	return 0;
}

int vm_sandbox_enter(const struct vm_sandbox_config *cfg, struct vs_err *err)
{
	int r = vm_sandbox_drop(cfg, err);
	return r < 0 ? r : load_filter(cfg, err);
}
