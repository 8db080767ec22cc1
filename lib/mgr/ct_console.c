/*
 * ct_console.c - the console of a container: a small supervisor process
 * that holds the master of the container's terminal.
 *
 * Why a process of its own: containers are made by short-lived
 * vessel-runtime processes and must outlive a `kill -9` of vesseld, so
 * neither can hold the terminal.  Before the runtime's `create`, vesseld
 * forks (twice: the supervisor is re-parented to init, never a child of
 * vesseld, in its own session) a supervisor that waits on
 * DIR/console-setup.sock; the runtime creates the container with
 * process.terminal and --console-socket on that socket and passes the pty
 * master over it (SCM_RIGHTS, as runc does).  The supervisor then
 *   - copies everything the container writes to DIR/console.log (cut back
 *     to empty past CONSOLE_LOG_MAX, so it cannot fill the disk), and to
 *     the attached client if there is one;
 *   - serves DIR/console.sock: one attached client at a time (a new one
 *     takes over from the old), whose bytes go to the terminal;
 *   - serves DIR/console-ctl.sock: a client sends a struct winsize (8
 *     bytes) and gets one byte back (0, or the errno of TIOCSWINSZ): the
 *     terminal's window size, which the kernel signals to the container's
 *     foreground process group (SIGWINCH).  Incus carries the same over
 *     its console's control websocket;
 *   - exits when the terminal hangs up (every process of the container is
 *     gone), or after SETUP_TIMEOUT_MS if the runtime never connects.
 * It is named vessel-console (its comm; its command line is still vesseld's).
 * It holds an flock on DIR/console.pid for its life (taken by the parent
 * before the fork, so there is no window), which tells stop whether one is
 * alive without trusting a pid that could have been reused.
 *
 * The supervisor is a fork of the multi-threaded vesseld without an exec,
 * so between fork and exit it calls only async-signal-safe functions
 * (plain system calls; every path and buffer is prepared before the fork,
 * nothing is allocated) and leaves through _exit.  Its pid is written by
 * the intermediate child that forked it, before it runs, so a stop can kill
 * it wherever it is; and prctl is the raw system call (ASan's wrapper locks
 * its thread registry, which another thread may have held at the fork).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mgr_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

#define CONSOLE_LOG_MAX	 (4u << 20)
#define SETUP_TIMEOUT_MS 120000
#define SEND_TIMEOUT_S	 5

struct paths {
	char setup[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char ctl[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char pid[4096];
	char log[4096];
};

static int make_paths(const char *dir, struct paths *p, struct vs_err *err)
{
	if ((size_t)snprintf(p->setup, sizeof(p->setup), "%s/console-setup.sock", dir) >=
		sizeof(p->setup) ||
	    (size_t)snprintf(p->sock, sizeof(p->sock), "%s/console.sock", dir) >= sizeof(p->sock) ||
	    (size_t)snprintf(p->ctl, sizeof(p->ctl), "%s/console-ctl.sock", dir) >= sizeof(p->ctl))
		return vs_errf(err, ENAMETOOLONG, "console socket path too long under %s", dir);
	snprintf(p->pid, sizeof(p->pid), "%s/console.pid", dir);
	snprintf(p->log, sizeof(p->log), "%s/console.log", dir);
	return 0;
}

static int listen_on(const char *path, struct vs_err *err)
{
	vs_cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vs_syserrf(err, errno, "console socket");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	memcpy(a.sun_path, path, strlen(path) + 1);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 4) < 0)
		return vs_syserrf(err, errno, "listen on %s", path);
	return vs_steal_fd(&fd);
}

/* ---- the supervisor (after fork: system calls only) ---- */

static bool write_all(int fd, const char *p, size_t n)
{
	return vs_write_full(fd, p, n) == 0;
}

static int recv_master(int conn)
{
	char name[256];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) < 0)
		return -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* One window-size request on the control socket (a short read timeout: a
 * stuck client cannot hold the console up for long). */
static void serve_ctl(int ctl_fd, int master)
{
	int c = accept4(ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct winsize ws;
	unsigned char status = EINVAL;
	if (recv(c, &ws, sizeof(ws), MSG_WAITALL) == (ssize_t)sizeof(ws) && ws.ws_row && ws.ws_col)
		status = ioctl(master, TIOCSWINSZ, &ws) == 0 ? 0 : (unsigned char)errno;
	(void)send(c, &status, 1, MSG_NOSIGNAL);
	close(c);
}

__attribute__((noreturn)) static void supervise(const struct paths *p, int setup_fd, int sock_fd,
						int ctl_fd, int log_fd)
{
	struct pollfd pf = { .fd = setup_fd, .events = POLLIN };
	int master = -1;
	if (poll(&pf, 1, SETUP_TIMEOUT_MS) == 1) {
		int conn = accept4(setup_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn >= 0) {
			master = recv_master(conn);
			close(conn);
		}
	}
	close(setup_fd);
	unlink(p->setup);
	int client = -1;
	static char buf[16384];
	while (master >= 0) {
		struct pollfd fds[4] = { { .fd = master, .events = POLLIN },
					 { .fd = sock_fd, .events = POLLIN },
					 { .fd = client, .events = POLLIN },
					 { .fd = ctl_fd, .events = POLLIN } };
		if (poll(fds, 4, -1) < 0) { /* a negative fd (no client) is skipped */
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[3].revents & POLLIN)
			serve_ctl(ctl_fd, master);
		if (fds[0].revents) {
			ssize_t n = read(master, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				break; /* EIO: the terminal's last process is gone */
			struct stat st;
			if (fstat(log_fd, &st) == 0 && st.st_size > CONSOLE_LOG_MAX)
				(void)ftruncate(log_fd, 0);
			(void)write_all(log_fd, buf, (size_t)n);
			if (client >= 0 && send(client, buf, (size_t)n, MSG_NOSIGNAL) != n) {
				close(client); /* gone, or too slow for SEND_TIMEOUT_S */
				client = -1;
			}
		}
		if (fds[1].revents & POLLIN) {
			int c = accept4(sock_fd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0) {
				struct timeval tv = { .tv_sec = SEND_TIMEOUT_S };
				setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
				if (client >= 0)
					close(client); /* the newest attach takes over */
				client = c;
				continue;
			}
		}
		if (client >= 0 && fds[2].revents) {
			ssize_t n = read(client, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || !write_all(master, buf, (size_t)n)) {
				close(client);
				client = -1;
			}
		}
	}
	unlink(p->sock);
	unlink(p->ctl);
	_exit(0);
}

int mgr_ct_console_spawn(const char *dir, char *setup_path, size_t setup_len, struct vs_err *err)
{
	struct paths p;
	int r = make_paths(dir, &p, err);
	if (r < 0)
		return r;
	if (strlen(p.setup) >= setup_len)
		return vs_errf(err, ENAMETOOLONG, "console socket path too long");
	memcpy(setup_path, p.setup, strlen(p.setup) + 1);
	mgr_ct_console_stop(dir); /* one of an earlier start that did not finish */
	vs_cleanup_close int pid_fd = open(p.pid, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (pid_fd < 0)
		return vs_syserrf(err, errno, "open %s", p.pid);
	if (flock(pid_fd, LOCK_EX | LOCK_NB) < 0)
		return vs_syserrf(err, errno, "lock %s", p.pid);
	vs_cleanup_close int log_fd =
	    open(p.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
	if (log_fd < 0)
		return vs_syserrf(err, errno, "open %s", p.log);
	vs_cleanup_close int setup_fd = listen_on(p.setup, err);
	if (setup_fd < 0)
		return setup_fd;
	vs_cleanup_close int sock_fd = listen_on(p.sock, err);
	if (sock_fd < 0) {
		unlink(p.setup);
		return sock_fd;
	}
	vs_cleanup_close int ctl_fd = listen_on(p.ctl, err);
	if (ctl_fd < 0) {
		unlink(p.setup);
		unlink(p.sock);
		return ctl_fd;
	}
	pid_t child = fork();
	if (child < 0) {
		unlink(p.setup);
		unlink(p.sock);
		unlink(p.ctl);
		return vs_syserrf(err, errno, "fork the console supervisor");
	}
	if (child == 0) {
		pid_t g = fork();
		if (g != 0) { /* the grandchild is re-parented: never vesseld's child */
			/* its pid is in the file before it runs a line, so that a stop
			 * finds it wherever it is */
			char num[24], rev[24];
			int n = 0;
			for (pid_t v = g; v > 0 && n < 20; v /= 10)
				rev[n++] = (char)('0' + v % 10);
			for (int i = 0; i < n; i++)
				num[i] = rev[n - 1 - i];
			num[n++] = '\n';
			if (g > 0 && ftruncate(pid_fd, 0) == 0)
				(void)pwrite(pid_fd, num, (size_t)n, 0);
			_exit(g > 0 ? 0 : 1);
		}
		setsid();
		/* not "vesseld" in ps and pgrep; the raw system call, as a
		 * sanitizer's prctl wrapper takes a lock that another thread of
		 * vesseld may have held at the fork (a child stuck for ever) */
		syscall(SYS_prctl, PR_SET_NAME, "vessel-console", 0, 0, 0);
		if (chdir("/") < 0)
			_exit(1);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		for (int s = 1; s < 32; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		/* keep only what the loop uses (pid_fd holds the lock): close the
		 * ranges between them, in order */
		unsigned keep[] = { (unsigned)pid_fd, (unsigned)log_fd, (unsigned)setup_fd,
				    (unsigned)sock_fd, (unsigned)ctl_fd };
		for (size_t i = 1; i < VS_ARRAY_SIZE(keep); i++)
			for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
				unsigned t = keep[j];
				keep[j] = keep[j - 1];
				keep[j - 1] = t;
			}
		unsigned from = 3;
		for (size_t i = 0; i < VS_ARRAY_SIZE(keep); i++) {
			if (keep[i] > from)
				syscall(SYS_close_range, from, keep[i] - 1, 0);
			from = keep[i] + 1;
		}
		syscall(SYS_close_range, from, ~0U, 0);
		supervise(&p, setup_fd, sock_fd, ctl_fd, log_fd);
	}
	int st;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	return 0;
}

void mgr_ct_console_stop(const char *dir)
{
	struct paths p;
	struct vs_err e = VS_ERR_INIT;
	if (make_paths(dir, &p, &e) < 0)
		return;
	vs_cleanup_close int fd = open(p.pid, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		/* alive: the pid in the file is the lock holder's */
		char buf[32] = "";
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
		if (pid > 1)
			kill((pid_t)pid, SIGKILL);
		uint64_t deadline = vs_now_ns() + 10ull * 1000000000;
		while (flock(fd, LOCK_EX | LOCK_NB) < 0 && vs_now_ns() < deadline) {
			struct timespec ts = { 0, 10 * 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	unlink(p.setup);
	unlink(p.sock);
	unlink(p.ctl);
	unlink(p.pid);
}

int mgr_ct_console_connect(const char *dir, const char *name, int *out, struct vs_err *err)
{
	struct paths p;
	int r = make_paths(dir, &p, err);
	if (r < 0)
		return r;
	vs_cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vs_syserrf(err, errno, "socket");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	memcpy(a.sun_path, p.sock, strlen(p.sock) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return vs_errf(err, errno == ENOENT || errno == ECONNREFUSED ? ENOTSUP : errno,
			       "instance %s has no console (%s; it was started without one or "
			       "its terminal has closed: restart it)",
			       name, strerror(errno));
	*out = vs_steal_fd(&fd);
	return 0;
}

int mgr_ct_console_resize(const char *dir, const char *name, unsigned width, unsigned height,
			  struct vs_err *err)
{
	if (!width || !height || width > 0xffff || height > 0xffff)
		return vs_errf(err, EINVAL, "console size %ux%u: expected 1 to 65535", width,
			       height);
	struct paths p;
	int r = make_paths(dir, &p, err);
	if (r < 0)
		return r;
	vs_cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vs_syserrf(err, errno, "socket");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	memcpy(a.sun_path, p.ctl, strlen(p.ctl) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return vs_errf(err, errno == ENOENT || errno == ECONNREFUSED ? ENOTSUP : errno,
			       "instance %s: its console has no size control (%s; a console "
			       "started by an older vesseld: restart the instance)",
			       name, strerror(errno));
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct winsize ws = { .ws_row = (unsigned short)height, .ws_col = (unsigned short)width };
	unsigned char status;
	if (send(fd, &ws, sizeof(ws), MSG_NOSIGNAL) != (ssize_t)sizeof(ws) ||
	    recv(fd, &status, 1, MSG_WAITALL) != 1)
		return vs_syserrf(err, errno ? errno : EIO, "instance %s: console size", name);
	if (status)
		return vs_syserrf(err, status, "instance %s: console size", name);
	return 0;
}
