/*
 * console.c - process.terminal through the console socket (runtime-spec
 * 1.1 config.md "Console"; runc's --console-socket protocol): the runtime
 * creates a pty inside the container (from the container's devpts), sends
 * the master to the AF_UNIX socket given by the caller with SCM_RIGHTS (the
 * message data is the pty name), binds the slave onto /dev/console, and
 * makes the slave the process's controlling terminal and stdio.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "linux_internal.h"
#include "vessel/core/cleanup.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

int ct_console_connect(const char *path, struct vs_err *err)
{
	vs_cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vs_syserrf(err, errno, "console socket");
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	vs_cleanup_close int dirfd = -1;
	if (strlen(path) < sizeof(addr.sun_path)) {
		memcpy(addr.sun_path, path, strlen(path) + 1);
	} else {
		/* too long for sun_path: go through an fd of its directory */
		const char *slash = strrchr(path, '/');
		char dir[4096];
		if (!slash || (size_t)(slash - path) >= sizeof(dir))
			return vs_errf(err, ENAMETOOLONG, "console socket path too long: %s", path);
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			return vs_syserrf(err, errno, "console socket directory %s", dir);
		if (snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dirfd,
			     slash + 1) >= (int)sizeof(addr.sun_path))
			return vs_errf(err, ENAMETOOLONG, "console socket path too long: %s", path);
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return vs_syserrf(err, errno, "connect to console socket %s", path);
	return vs_steal_fd(&fd);
}

static int send_fd(int sockfd, int fd, const char *name, struct vs_err *err)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof(cbuf));
	struct iovec iov = { .iov_base = (void *)name, .iov_len = strlen(name) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sockfd, &msg, MSG_NOSIGNAL) < 0)
		return vs_syserrf(err, errno, "send terminal to console socket");
	return 0;
}

/* config.md "Console": /dev/console is the pty (a bind of the slave); a
 * read-only /dev without a console node is left alone. */
static int bind_dev_console(const char *pty, struct vs_err *err)
{
	int fd = open("/dev/console", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EROFS || errno == ENOENT
			   ? 0
			   : vs_syserrf(err, errno, "create /dev/console");
	close(fd);
	if (mount(pty, "/dev/console", NULL, MS_BIND, NULL) < 0)
		return vs_syserrf(err, errno, "bind %s to /dev/console", pty);
	return 0;
}

int ct_console_setup(int sockfd, const struct ct_process *proc, bool bind_console,
		     struct vs_err *err)
{
	vs_cleanup_close int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return vs_syserrf(err, errno, "open /dev/ptmx in the container");
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return vs_syserrf(err, errno, "unlock pty");
	int ptyno = -1;
	if (ioctl(master, TIOCGPTN, &ptyno) < 0)
		return vs_syserrf(err, errno, "pty number");
	vs_cleanup_close int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (slave < 0)
		return vs_syserrf(err, errno, "open pty slave");
	if (fchown(slave, proc->uid, proc->gid) < 0 && errno != EINVAL && errno != EPERM)
		return vs_syserrf(err, errno, "chown pty slave");
	if (proc->console_width || proc->console_height) {
		struct winsize ws = { .ws_row = (unsigned short)proc->console_height,
				      .ws_col = (unsigned short)proc->console_width };
		if (ioctl(slave, TIOCSWINSZ, &ws) < 0)
			return vs_syserrf(err, errno, "set console size");
	}
	char name[32];
	snprintf(name, sizeof(name), "/dev/pts/%d", ptyno);
	if (bind_console) {
		int r = bind_dev_console(name, err);
		if (r < 0)
			return r;
	}
	int r = send_fd(sockfd, master, name, err);
	if (r < 0)
		return r;
	setsid();
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return vs_syserrf(err, errno, "set controlling terminal");
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			return vs_syserrf(err, errno, "dup2 terminal");
	return 0;
}
