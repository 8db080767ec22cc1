/*
 * Unit tests of vm_sandbox_enter() (lib/vm/sandbox.c): each case forks, the
 * child enters the sandbox and then makes one system call; the parent
 * checks how the child ended.  A call outside the allow-list (socket, open,
 * an executable mapping, execve) must kill the child with SIGSYS; the calls
 * the VMM needs (write, pread/pwrite, fdatasync, mmap without PROT_EXEC,
 * ppoll) must work; with a root (--snapshot-dir) files and AF_UNIX sockets
 * work there while AF_INET and fork still kill; a child started as root must end up as uid/gid 65534
 * with no capabilities, no_new_privs and a filter in force.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vessel/vm/sandbox.h"

enum action {
	DO_NOTHING,
	DO_SOCKET,
	DO_OPEN,
	DO_EXEC_MAPPING,
	DO_EXECVE,
	DO_VMM_CALLS,
	DO_ROOT_FILES, /* with a root: create a file and a unix socket there */
	DO_ROOT_INET,  /* with a root: still no AF_INET socket */
	DO_ROOT_FORK,  /* with a root: clone without CLONE_THREAD */
};

static char root_dir[] = "/tmp/vessel-sandbox-test-XXXXXX";

/* In the child: enter, act, report through the exit status. */
static void child(enum action what, int fd)
{
	struct vs_err err = VS_ERR_INIT;
	struct vm_sandbox_config cfg = { .uid = VM_SANDBOX_NOBODY, .gid = VM_SANDBOX_NOBODY };
	if (what >= DO_ROOT_FILES)
		cfg.root = root_dir;
	if (vm_sandbox_enter(&cfg, &err) < 0)
		_exit(10);
	switch (what) {
	case DO_ROOT_FILES: {
		int f = open("made-inside", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (f < 0 || write(f, "x", 1) != 1 || close(f) < 0)
			_exit(15);
		if (rename("made-inside", "renamed") < 0)
			_exit(16);
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			_exit(17);
		close(s);
		break;
	}
	case DO_ROOT_INET: syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); break;
	case DO_ROOT_FORK: syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); break;
	case DO_NOTHING: break;
	case DO_SOCKET: syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); break;
	case DO_OPEN: syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY); break;
	case DO_EXEC_MAPPING:
		mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	case DO_EXECVE: {
		char *argv[] = { "/bin/true", NULL };
		execve("/bin/true", argv, NULL);
		break;
	}
	case DO_VMM_CALLS: {
		char buf[512] = "sandboxed";
		void *p =
		    mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		if (p == MAP_FAILED || munmap(p, 1 << 20) < 0)
			_exit(11);
		if (ppoll(&pfd, 1, NULL, NULL) != 1)
			_exit(12);
		if (write(fd, buf, 9) != 9)
			_exit(13);
		if (getuid() == 0) /* root always switches to VM_SANDBOX_NOBODY */
			_exit(14);
		break;
	}
	}
	_exit(0);
}

/* Fork, run child(what), return the raw wait status. */
static int run(enum action what, int fd)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child(what, fd);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void expect_killed(enum action what)
{
	int status = run(what, -1);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
		fail_msg("child not killed by SIGSYS (status 0x%x)", status);
}

static void test_enter_and_live(void **state)
{
	int status = run(DO_NOTHING, -1);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_socket_kills(void **state)
{
	expect_killed(DO_SOCKET);
}

static void test_open_kills(void **state)
{
	expect_killed(DO_OPEN);
}

static void test_exec_mapping_kills(void **state)
{
	expect_killed(DO_EXEC_MAPPING);
}

static void test_execve_kills(void **state)
{
	expect_killed(DO_EXECVE);
}

/* What the VMM does while running still works; as root, the identity and
 * the confinement are visible in /proc from outside. */
static void test_vmm_calls_work(void **state)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	int status = run(DO_VMM_CALLS, p[1]);
	close(p[1]);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	char buf[16] = { 0 };
	assert_int_equal(read(p[0], buf, sizeof(buf)), 9);
	assert_string_equal(buf, "sandboxed");
	close(p[0]);
}

/* The state of a sandboxed child, read from /proc/PID/status by the parent. */
static void test_proc_status(void **state)
{
	int go[2], ready[2];
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vs_err err = VS_ERR_INIT;
		struct vm_sandbox_config cfg = { .uid = VM_SANDBOX_NOBODY,
						 .gid = VM_SANDBOX_NOBODY };
		char c = 0;
		if (vm_sandbox_enter(&cfg, &err) < 0)
			_exit(10);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(11);
		_exit(0);
	}
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	char path[64], text[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = 0;
	fclose(f);
	assert_non_null(strstr(text, "NoNewPrivs:\t1"));
	assert_non_null(strstr(text, "Seccomp:\t2"));
	if (geteuid() == 0) {
		assert_non_null(strstr(text, "Uid:\t65534\t65534\t65534\t65534"));
		assert_non_null(strstr(text, "Gid:\t65534\t65534\t65534\t65534"));
		assert_non_null(strstr(text, "CapEff:\t0000000000000000"));
		assert_non_null(strstr(text, "CapPrm:\t0000000000000000"));
		assert_non_null(strstr(text, "CapBnd:\t0000000000000000"));
		char root[256];
		snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
		ssize_t len = readlink(path, root, sizeof(root) - 1);
		assert_true(len > 0);
		root[len] = 0;
		assert_non_null(strstr(root, "(deleted)"));
	}
	assert_int_equal(write(go[1], "g", 1), 1);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
}

/* --snapshot-dir: files and unix sockets work inside the root, nothing else
 * opens up (no AF_INET, no new process). */
static void test_root_files(void **state)
{
	assert_non_null(mkdtemp(root_dir));
	assert_int_equal(chmod(root_dir, 0777), 0); /* written as 65534 when root */
	int status = run(DO_ROOT_FILES, -1);
	char path[128];
	snprintf(path, sizeof(path), "%s/renamed", root_dir);
	int found = access(path, F_OK) == 0;
	unlink(path);
	expect_killed(DO_ROOT_INET);
	expect_killed(DO_ROOT_FORK);
	rmdir(root_dir);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(found);
}

static void test_allow_list_named(void **state)
{
	const char *const *names = vm_sandbox_syscalls();
	int has_ppoll = 0, has_open = 0;
	for (; *names; names++) {
		has_ppoll |= strcmp(*names, "ppoll") == 0;
		has_open |= strstr(*names, "open") != NULL;
	}
	assert_true(has_ppoll);
	assert_false(has_open);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enter_and_live), cmocka_unit_test(test_socket_kills),
		cmocka_unit_test(test_open_kills),     cmocka_unit_test(test_exec_mapping_kills),
		cmocka_unit_test(test_execve_kills),   cmocka_unit_test(test_vmm_calls_work),
		cmocka_unit_test(test_proc_status),    cmocka_unit_test(test_allow_list_named),
		cmocka_unit_test(test_root_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
