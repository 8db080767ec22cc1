/*
 * Unit tests of the connect broker (lib/vm/broker.c): allow-list parsing;
 * a connection to an allowed loopback destination comes back as a working
 * blocking descriptor; a refused port, a destination outside the
 * allow-list and a host name come back as precise errors; a malformed
 * request gets an EINVAL reply and the broker serves on, as after 3000
 * mutated URIs and 300 random messages; the broker runs
 * confined (seccomp, no_new_privs, uid 65534 and no capabilities when
 * root, its own session, nothing open but its channel and stdio) in the
 * caller's network namespace; it exits when freed and dies with the
 * process that started it (SIGKILL included); and its filter kills on
 * anything but the few calls it needs.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vessel/vm/broker.h"
#include "vessel/vm/sandbox.h"

/* A listening socket on 127.0.0.1 and its port. */
static int listen_loopback(unsigned *port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 4), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return s;
}

static struct vm_broker *start(const char *const *specs, unsigned n)
{
	struct vm_broker_allow allow[VM_BROKER_MAX_ALLOW];
	struct vs_err err = VS_ERR_INIT;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(vm_broker_allow_parse(specs[i], &allow[i], &err), 0);
	struct vm_broker_config cfg = {
		.allow = allow, .nallow = n, .uid = VM_SANDBOX_NOBODY, .gid = VM_SANDBOX_NOBODY
	};
	struct vm_broker *b = vm_broker_start(&cfg, &err);
	if (!b)
		fail_msg("vm_broker_start: %s", err.msg);
	return b;
}

static void test_allow_parse(void **state)
{
	static const char *const good[] = { "tcp:10.0.0.0/8:*",	   "tcp:127.0.0.1:4000",
					    "tcp:[::1]:22",	   "tcp:[fd00::]/8:*",
					    "tcp:0.0.0.0/0:65535", "tcp:192.168.1.7/32:1" };
	static const char *const bad[] = { "tcp:localhost:80",
					   "tcp:1.2.3.4:0",
					   "tcp:1.2.3.4:70000",
					   "tcp:1.2.3.4/33:*",
					   "udp:1.2.3.4:1",
					   "tcp:1.2.3.4",
					   "tcp:::1:5",
					   "tcp:[::1]/129:*",
					   "tcp:1.2.3.4:*x",
					   "tcp:[::1:5",
					   "",
					   "tcp:1.2.3.4/:*" };
	struct vm_broker_allow a;
	struct vs_err err = VS_ERR_INIT;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (vm_broker_allow_parse(good[i], &a, &err) < 0)
			fail_msg("%s refused: %s", good[i], err.msg);
	assert_int_equal(vm_broker_allow_parse("tcp:10.1.0.0/16:*", &a, &err), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.prefix, 16);
	assert_int_equal(a.port, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vs_err_clear(&err);
		if (vm_broker_allow_parse(bad[i], &a, &err) != -EINVAL)
			fail_msg("%s accepted", bad[i]);
		assert_non_null(strstr(err.msg, "expected tcp:ADDR"));
	}
}

static void test_check(void **state)
{
	static const char *const specs[] = { "tcp:10.1.0.0/16:*", "tcp:127.0.0.1:4000",
					     "tcp:[fd00::]/8:5000" };
	struct vm_broker *b = start(specs, 3);
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(vm_broker_check(b, "tcp:10.1.200.3:1", &err), 0);
	assert_int_equal(vm_broker_check(b, "tcp:127.0.0.1:4000", &err), 0);
	assert_int_equal(vm_broker_check(b, "tcp:[fd12::1]:5000", &err), 0);
	assert_int_equal(vm_broker_check(b, "tcp:fd12::1:5000", &err), 0);
	assert_int_equal(vm_broker_check(b, "tcp:10.2.0.1:1", &err), -EACCES);
	assert_non_null(strstr(err.msg, "not allowed by --sandbox-connect"));
	assert_non_null(strstr(err.msg, "tcp:10.1.0.0/16:*"));
	assert_int_equal(vm_broker_check(b, "tcp:127.0.0.1:4001", &err), -EACCES);
	assert_int_equal(vm_broker_check(b, "tcp:[fd12::1]:5001", &err), -EACCES);
	assert_int_equal(vm_broker_check(b, "tcp:[fe80::1]:5000", &err), -EACCES);
	assert_int_equal(vm_broker_check(b, "tcp:localhost:4000", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "numeric"));
	assert_int_equal(vm_broker_check(b, "tcp:127.0.0.1:0", &err), -EINVAL);
	assert_int_equal(vm_broker_check(b, "unix:/tmp/x", &err), -EINVAL);
	vm_broker_free(b);
}

static void read_proc(pid_t pid, const char *file, char *out, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(out, 1, size - 1, f);
	out[n] = 0;
	fclose(f);
}

static void same_link(pid_t pid, const char *what)
{
	char mine[128], its[128], path[64];
	snprintf(path, sizeof(path), "/proc/self/%s", what);
	ssize_t a = readlink(path, mine, sizeof(mine) - 1);
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	ssize_t b = readlink(path, its, sizeof(its) - 1);
	assert_true(a > 0 && b > 0);
	mine[a] = its[b] = 0;
	assert_string_equal(mine, its);
}

/* The broker as seen from outside. */
static void test_confined(void **state)
{
	static const char *const specs[] = { "tcp:127.0.0.1:4000" };
	struct vm_broker *b = start(specs, 1);
	pid_t pid = vm_broker_pid(b);
	char text[4096];
	read_proc(pid, "status", text, sizeof(text));
	assert_non_null(strstr(text, "Name:\tvessel-broker"));
	assert_non_null(strstr(text, "NoNewPrivs:\t1"));
	assert_non_null(strstr(text, "Seccomp:\t2"));
	if (geteuid() == 0) {
		assert_non_null(strstr(text, "Uid:\t65534\t65534\t65534\t65534"));
		assert_non_null(strstr(text, "Gid:\t65534\t65534\t65534\t65534"));
		assert_non_null(strstr(text, "CapEff:\t0000000000000000"));
		assert_non_null(strstr(text, "CapPrm:\t0000000000000000"));
		assert_non_null(strstr(text, "CapBnd:\t0000000000000000"));
		char root[256], path[64];
		snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
		ssize_t len = readlink(path, root, sizeof(root) - 1);
		assert_true(len > 0);
		root[len] = 0;
		assert_non_null(strstr(root, "(deleted)"));
		/* nothing open but stdin/stdout (/dev/null), stderr, the channel */
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
		DIR *d = opendir(path);
		assert_non_null(d);
		int n = 0;
		for (struct dirent *e; (e = readdir(d));)
			if (e->d_name[0] != '.') {
				assert_true(atoi(e->d_name) <= 3);
				n++;
			}
		closedir(d);
		assert_int_equal(n, 4);
	}
	same_link(pid, "ns/net"); /* it stays in the network namespace */
	/* its own session: no terminal signals */
	read_proc(pid, "stat", text, sizeof(text));
	const char *p = strrchr(text, ')');
	assert_non_null(p);
	int ppid, pgrp, sid;
	assert_int_equal(sscanf(p + 2, "%*c %d %d %d", &ppid, &pgrp, &sid), 3);
	assert_int_equal(ppid, getpid());
	assert_int_equal(sid, pid);
	vm_broker_free(b);
}

static void test_connect(void **state)
{
	unsigned port;
	int l = listen_loopback(&port);
	char spec[64], uri[64];
	snprintf(spec, sizeof(spec), "tcp:127.0.0.0/8:%u", port);
	const char *specs[] = { spec };
	struct vm_broker *b = start(specs, 1);
	struct vs_err err = VS_ERR_INIT;
	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%u", port);
	for (int round = 0; round < 3; round++) {
		int fd = vm_broker_connect(b, uri, &err);
		if (fd < 0)
			fail_msg("vm_broker_connect %s: %s", uri, err.msg);
		int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
		assert_int_equal(fl & O_NONBLOCK, 0);
		assert_true(fdfl & FD_CLOEXEC);
		int c = accept(l, NULL, NULL);
		assert_true(c >= 0);
		assert_int_equal(write(fd, "ping", 4), 4);
		char buf[8] = { 0 };
		assert_int_equal(read(c, buf, sizeof(buf)), 4);
		assert_string_equal(buf, "ping");
		assert_int_equal(write(c, "pong", 4), 4);
		assert_int_equal(read(fd, buf, sizeof(buf)), 4);
		assert_memory_equal(buf, "pong", 4);
		close(c);
		close(fd);
	}
	vm_broker_free(b);
	close(l);
}

/* Errors come back with the broker's errno and the destination named. */
static void test_errors(void **state)
{
	unsigned port;
	int l = listen_loopback(&port);
	close(l); /* nothing listens there now */
	char uri[64];
	static const char *const specs[] = { "tcp:127.0.0.1/32:*" };
	struct vm_broker *b = start(specs, 1);
	struct vs_err err = VS_ERR_INIT;
	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%u", port);
	assert_int_equal(vm_broker_connect(b, uri, &err), -ECONNREFUSED);
	assert_non_null(strstr(err.msg, uri));
	assert_non_null(strstr(err.msg, strerror(ECONNREFUSED)));
	/* the broker checks the allow-list itself (a VMM may skip its check) */
	assert_int_equal(vm_broker_connect(b, "tcp:127.0.0.2:22", &err), -EACCES);
	assert_non_null(strstr(err.msg, "not allowed by --sandbox-connect"));
	assert_int_equal(vm_broker_connect(b, "tcp:localhost:22", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "numeric"));
	char longuri[400];
	memset(longuri, '1', sizeof(longuri));
	memcpy(longuri, "tcp:", 4);
	longuri[sizeof(longuri) - 1] = 0;
	assert_int_equal(vm_broker_connect(b, longuri, &err), -EINVAL);
	vm_broker_free(b);
}

/* Wrong sizes on the channel: an EINVAL reply, then the broker serves on. */
static void test_malformed(void **state)
{
	unsigned port;
	int l = listen_loopback(&port);
	char spec[64], uri[64];
	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u", port);
	const char *specs[] = { spec };
	struct vm_broker *b = start(specs, 1);
	int chan = vm_broker_channel(b);
	char big[1024];
	memset(big, 'x', sizeof(big));
	size_t sizes[] = { 1, 7, 100, sizeof(big) };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(send(chan, big, sizes[i], 0), (ssize_t)sizes[i]);
		char rep[512];
		ssize_t n = recv(chan, rep, sizeof(rep), 0);
		assert_true(n >= 8);
		int32_t errnum;
		memcpy(&errnum, rep + 4, 4);
		assert_int_equal(errnum, EINVAL);
		assert_non_null(strstr(rep + 8, "malformed request"));
	}
	/* a full-size request without a NUL in the URI */
	assert_int_equal(send(chan, big, 4 + 256, 0), 4 + 256);
	char rep[512];
	assert_true(recv(chan, rep, sizeof(rep), 0) >= 8);
	int32_t errnum;
	memcpy(&errnum, rep + 4, 4);
	assert_int_equal(errnum, EINVAL);
	/* a stale reply (its request's seq) is skipped by the next request */
	assert_int_equal(send(chan, big, 3, 0), 3);
	struct vs_err err = VS_ERR_INIT;
	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%u", port);
	int fd = vm_broker_connect(b, uri, &err);
	if (fd < 0)
		fail_msg("after malformed requests: %s", err.msg);
	close(fd);
	vm_broker_free(b);
	close(l);
}

static uint32_t rng_next(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* What a VMM taken over by its guest could send: mutated URIs through the
 * API, random fixed-size messages on the channel.  Each gets a socket only
 * for an allowed destination, else EINVAL or EACCES; the broker serves on. */
static void test_hostile_requests(void **state)
{
	unsigned port;
	int l = listen_loopback(&port);
	char spec[64];
	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u", port);
	/* only our listener: no mutation may reach anything else */
	const char *specs[] = { spec };
	struct vm_broker *b = start(specs, 1);
	const char *bases[] = {
		spec,	       "tcp:[fd00::1]:7", "tcp:fd00::1:7", "tcp:10.0.0.1:1", "unix:/x",
		"tcp:",	       "tcp:1.2.3.4:",	  "tcp:[::1]:80",  "tcp:[]:1",	     "tcp:::::",
		"tcp:1:2:3:4", "tcp:127.0.0.1:+1"
	};
	const char alphabet[] = ":[]/.0123456789abcdef*-+ x\xff";
	uint32_t x = 0x9e3779b9u;
	unsigned granted = 0;
	for (int i = 0; i < 3000; i++) {
		char uri[300];
		snprintf(uri, sizeof(uri), "%s",
			 bases[rng_next(&x) % (sizeof(bases) / sizeof(bases[0]))]);
		for (unsigned k = rng_next(&x) % 4; k > 0; k--) {
			size_t len = strlen(uri), at = len ? rng_next(&x) % len : 0;
			char c = alphabet[rng_next(&x) % (sizeof(alphabet) - 1)];
			switch (rng_next(&x) % 3) {
			case 0: uri[at] = c; break; /* replace */
			case 1: uri[at] = 0; break; /* truncate */
			case 2:			    /* insert */
				if (len + 1 < sizeof(uri)) {
					memmove(uri + at + 1, uri + at, len - at + 1);
					uri[at] = c;
				}
				break;
			}
		}
		struct vs_err err = VS_ERR_INIT;
		int fd = vm_broker_connect(b, uri, &err);
		if (fd >= 0) {
			struct vs_err e2 = VS_ERR_INIT;
			if (vm_broker_check(b, uri, &e2) < 0)
				fail_msg("%s: a socket for a destination not allowed", uri);
			int c = accept(l, NULL, NULL);
			assert_true(c >= 0);
			close(c);
			close(fd);
			granted++;
		} else if (fd != -EINVAL && fd != -EACCES) {
			fail_msg("%s: unexpected %d (%s)", uri, fd, err.msg);
		} else {
			assert_true(err.msg[0] != 0);
		}
	}
	assert_true(granted > 0); /* the unmutated allowed URI comes up */
	/* random requests of the exact size, straight on the channel */
	int chan = vm_broker_channel(b);
	for (int i = 0; i < 300; i++) {
		uint8_t msg[4 + 256];
		for (size_t k = 0; k < sizeof(msg); k++)
			msg[k] = (uint8_t)rng_next(&x);
		if (i % 2)
			msg[4 + rng_next(&x) % 256] = 0;
		assert_int_equal(send(chan, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
		char rep[512];
		ssize_t n = recv(chan, rep, sizeof(rep), 0); /* any descriptor is dropped */
		assert_true(n >= 8);
		int32_t errnum;
		memcpy(&errnum, rep + 4, 4);
		assert_true(errnum == EINVAL || errnum == EACCES);
	}
	struct vs_err err = VS_ERR_INIT;
	int fd = vm_broker_connect(b, spec, &err);
	if (fd < 0)
		fail_msg("after hostile requests: %s", err.msg);
	close(fd);
	assert_int_equal(kill(vm_broker_pid(b), 0), 0);
	vm_broker_free(b);
	close(l);
}

static void test_exits_when_freed(void **state)
{
	static const char *const specs[] = { "tcp:127.0.0.1:4000" };
	struct vm_broker *b = start(specs, 1);
	pid_t pid = vm_broker_pid(b);
	assert_int_equal(kill(pid, 0), 0);
	vm_broker_free(b); /* reaps it */
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

/* The process that started the broker is killed: the broker dies too
 * (this test process is the subreaper that sees it end). */
static void test_dies_with_vmm(void **state)
{
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid_t vmm = fork();
	assert_true(vmm >= 0);
	if (vmm == 0) {
		static const char *const specs[] = { "tcp:127.0.0.1:4000" };
		struct vm_broker_allow allow;
		struct vs_err err = VS_ERR_INIT;
		if (vm_broker_allow_parse(specs[0], &allow, &err) < 0)
			_exit(10);
		struct vm_broker_config cfg = { .allow = &allow,
						.nallow = 1,
						.uid = VM_SANDBOX_NOBODY,
						.gid = VM_SANDBOX_NOBODY };
		struct vm_broker *b = vm_broker_start(&cfg, &err);
		if (!b)
			_exit(11);
		pid_t pid = vm_broker_pid(b);
		if (write(p[1], &pid, sizeof(pid)) != sizeof(pid))
			_exit(12);
		for (;;)
			pause();
	}
	close(p[1]);
	pid_t broker;
	assert_int_equal(read(p[0], &broker, sizeof(broker)), sizeof(broker));
	close(p[0]);
	assert_int_equal(kill(vmm, SIGKILL), 0);
	int st;
	assert_int_equal(waitpid(vmm, &st, 0), vmm);
	/* the broker, reparented to us, ends on its own: deadline 30 s */
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t r = waitpid(broker, &st, WNOHANG);
		if (r == broker)
			break;
		assert_int_equal(r, 0);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 30)
			fail_msg("the broker %d outlived its VMM", (int)broker);
		struct timespec ms = { 0, 10000000 };
		nanosleep(&ms, NULL);
	}
	assert_true((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
		    (WIFEXITED(st) && WEXITSTATUS(st) == 0));
	prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

enum filter_action {
	F_INET_STREAM, /* allowed */
	F_UNIX_SOCKET,
	F_INET_DGRAM,
	F_INET_RAW_PROTO,
	F_OPEN,
	F_SENDMSG_OTHER_FD,
	F_WRITE_STDOUT,
	F_GETSOCKOPT_OTHER,
	F_FORK,
};

/* In a child: load the broker's filter (channel fd 5), then one call. */
static int filter_child(enum filter_action what)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vs_err err = VS_ERR_INIT;
		if (vm_broker_filter_load(5, &err) < 0)
			_exit(10);
		long r = 0;
		int v = 0;
		socklen_t vl = sizeof(v);
		struct msghdr mh = { 0 };
		switch (what) {
		case F_INET_STREAM:
			r = syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				    0);
			if (r < 0)
				_exit(11);
			r = syscall(SYS_socket, AF_INET6, SOCK_STREAM, 0);
			if (r < 0 && errno != EAFNOSUPPORT)
				_exit(12);
			break;
		case F_UNIX_SOCKET: syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0); break;
		case F_INET_DGRAM: syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0); break;
		case F_INET_RAW_PROTO: syscall(SYS_socket, AF_INET, SOCK_STREAM, 6); break;
		case F_OPEN: syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY); break;
		case F_SENDMSG_OTHER_FD: syscall(SYS_sendmsg, 6, &mh, 0); break;
		case F_WRITE_STDOUT: syscall(SYS_write, 1, "x", 1); break;
		case F_GETSOCKOPT_OTHER:
			syscall(SYS_getsockopt, 5, SOL_SOCKET, SO_PEERCRED, &v, &vl);
			break;
		case F_FORK: syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); break;
		}
		syscall(SYS_exit_group, 0); /* no sanitizer exit hooks */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void test_filter(void **state)
{
	int st = filter_child(F_INET_STREAM);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("allowed socket(AF_INET, SOCK_STREAM): status 0x%x", st);
	enum filter_action killed[] = { F_UNIX_SOCKET,	    F_INET_DGRAM,
					F_INET_RAW_PROTO,   F_OPEN,
					F_SENDMSG_OTHER_FD, F_WRITE_STDOUT,
					F_GETSOCKOPT_OTHER, F_FORK };
	for (size_t i = 0; i < sizeof(killed) / sizeof(killed[0]); i++) {
		st = filter_child(killed[i]);
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
			fail_msg("action %d: not killed by SIGSYS (status 0x%x)", (int)killed[i],
				 st);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allow_parse),	 cmocka_unit_test(test_check),
		cmocka_unit_test(test_confined),	 cmocka_unit_test(test_connect),
		cmocka_unit_test(test_errors),		 cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_hostile_requests), cmocka_unit_test(test_exits_when_freed),
		cmocka_unit_test(test_dies_with_vmm),	 cmocka_unit_test(test_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
