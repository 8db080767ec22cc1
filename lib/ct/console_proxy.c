/*
 * console_proxy.c - `run` in the foreground with process.terminal and no
 * --console-socket (what a person typing `vessel-runtime run` gets, as with
 * runc): the runtime receives the pty master from its own child over a
 * socketpair, puts its terminal in raw mode, and copies stdin -> pty and
 * pty -> stdout until the container process exits, forwarding signals
 * (SIGWINCH becomes a window-size update of the pty).
 *
 * Invariant: every signal is blocked in the caller (ct_container_run), so
 * they arrive through a signalfd in the same poll loop as the data.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "console_proxy.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"

int ct_console_recv_master(int sock, struct vs_err *err)
{
	char name[64];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return vs_syserrf(err, errno, "receive the terminal");
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)))
		return vs_errf(err, EPROTO, "receive the terminal: no descriptor");
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

static void copy_winsize(int from, int to)
{
	struct winsize ws;
	if (ioctl(from, TIOCGWINSZ, &ws) == 0)
		ioctl(to, TIOCSWINSZ, &ws);
}

/* Copy what is readable on `from` to `to`; returns -1 at EOF/EIO. */
static int pump(int from, int to)
{
	char buf[4096];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	return vs_write_full(to, buf, (size_t)n) < 0 ? -1 : 0;
}

static int status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

int ct_console_proxy(int master, pid_t pid, int *exit_status)
{
	sigset_t all;
	sigfillset(&all);
	vs_cleanup_close int sfd = signalfd(-1, &all, SFD_CLOEXEC);
	struct termios saved;
	bool raw = isatty(0) && tcgetattr(0, &saved) == 0;
	if (raw) {
		struct termios t = saved;
		cfmakeraw(&t);
		tcsetattr(0, TCSANOW, &t);
		copy_winsize(0, master);
	}
	bool in_open = true, out_open = true, done = false;
	int status = 0;
	while (!done || out_open) {
		struct pollfd p[3] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = out_open ? master : -1, .events = POLLIN },
			{ .fd = in_open ? 0 : -1, .events = POLLIN },
		};
		if (poll(p, 3, done ? 100 : -1) <= 0) {
			if (done)
				break; /* nothing more after the exit */
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGWINCH)
					copy_winsize(0, master);
				else if (si.ssi_signo != SIGCHLD)
					kill(pid, (int)si.ssi_signo);
			}
		}
		if (!done && waitpid(pid, &status, WNOHANG) == pid)
			done = true;
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
			if (pump(master, 1) < 0)
				out_open = false;
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR))
			if (pump(0, master) < 0)
				in_open = false;
	}
	if (!done)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
	*exit_status = status_code(status);
	return 0;
}
