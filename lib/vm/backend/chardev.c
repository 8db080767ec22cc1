/*
 * chardev.c - character backends for the serial port and the console:
 * the process's stdio and a listening unix socket.
 *
 * stdio: when stdin is a terminal it goes to raw mode (no echo, no line
 * editing, no signals: Ctrl-C reaches the guest) and the original mode is
 * restored on close and, should the program die through exit(), by an
 * atexit handler.  Escapes as in QEMU: Ctrl-A x quits (on_quit), Ctrl-A
 * Ctrl-A sends one Ctrl-A, Ctrl-A followed by anything else sends both.
 *
 * unix: a SOCK_STREAM listener; one client at a time is accepted when the
 * listener becomes readable (a client that hung up makes room at once,
 * even if its EOF has not been read yet); output is dropped while nobody
 * is connected (the guest never blocks on its console), except for the
 * copy appended to a log file when one is set (vessel-vmm --serial-log).
 *
 * Input flow control: the frontend disables input (set_input false) while
 * it has no room, so a chatty host never makes the run loop spin.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "vessel/core/util.h"
#include "vessel/vm/backend.h"
#include "vessel/vm/starttrace.h"

#define ESCAPE_CHAR 0x01 /* Ctrl-A */

void vm_chardev_attach(struct vm_chardev *cd, const struct vm_host_poll *poll,
		       void (*on_input)(void *opaque), void *opaque)
{
	cd->poll = *poll;
	cd->on_input = on_input;
	cd->input_opaque = opaque;
	cd->ops->set_input(cd, true);
}

/* Write without blocking for long: waits at most ~100 ms for room. */
static void write_some(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			if (poll(&pfd, 1, 100) > 0)
				continue;
		}
		return; /* the reader is gone or stuck: drop the rest */
	}
}

/* ---- stdio --------------------------------------------------------------- */

struct stdio_chardev {
	struct vm_chardev cd; /* first */
	bool raw;
	bool watching;
	bool escape; /* the previous byte was Ctrl-A */
};

static struct termios saved_termios;
static bool termios_saved;
static unsigned stdio_users; /* the terminal is restored when the last one closes */

static void stdio_restore_terminal(void)
{
	if (termios_saved) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
		termios_saved = false;
	}
}

static void stdio_write(struct vm_chardev *cd, const void *buf, size_t len)
{
	vm_start_mark_last("console-byte");
	write_some(STDOUT_FILENO, buf, len);
}

static void stdio_stdin_ready(void *opaque)
{
	struct vm_chardev *cd = opaque;
	if (cd->on_input)
		cd->on_input(cd->input_opaque);
}

static size_t stdio_read(struct vm_chardev *cd, void *buf, size_t len)
{
	struct stdio_chardev *s = (struct stdio_chardev *)cd;
	uint8_t *out = buf;
	size_t got = 0;
	/* Read one byte at a time so that an escape never loses data. */
	while (got < len) {
		uint8_t c;
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		if (poll(&pfd, 1, 0) <= 0)
			break;
		ssize_t n = read(STDIN_FILENO, &c, 1);
		if (n <= 0) {
			/* EOF on stdin: stop watching, output still works. */
			cd->ops->set_input(cd, false);
			break;
		}
		if (s->escape) {
			s->escape = false;
			if (c == 'x' || c == 'X') {
				if (cd->on_quit)
					cd->on_quit(cd->quit_opaque);
				break;
			}
			if (c != ESCAPE_CHAR && got + 1 < len)
				out[got++] = ESCAPE_CHAR;
			out[got++] = c;
			continue;
		}
		if (s->raw && c == ESCAPE_CHAR) {
			s->escape = true;
			continue;
		}
		out[got++] = c;
	}
	return got;
}

static void stdio_set_input(struct vm_chardev *cd, bool enabled)
{
	struct stdio_chardev *s = (struct stdio_chardev *)cd;
	if (!cd->poll.watch || enabled == s->watching)
		return;
	if (enabled)
		s->watching =
		    cd->poll.watch(cd->poll.opaque, STDIN_FILENO, stdio_stdin_ready, cd) == 0;
	else {
		cd->poll.unwatch(cd->poll.opaque, STDIN_FILENO);
		s->watching = false;
	}
}

static void stdio_close(struct vm_chardev *cd)
{
	stdio_set_input(cd, false);
	if (--stdio_users == 0)
		stdio_restore_terminal();
	free(cd);
}

static const struct vm_chardev_ops stdio_ops = { stdio_write, stdio_read, stdio_set_input,
						 stdio_close };

struct vm_chardev *vm_chardev_open_stdio(struct vs_err *err)
{
	struct stdio_chardev *s = calloc(1, sizeof(*s));
	if (!s) {
		vs_errf(err, ENOMEM, "stdio console: out of memory");
		return NULL;
	}
	s->cd.ops = &stdio_ops;
	if (isatty(STDIN_FILENO) && !termios_saved &&
	    tcgetattr(STDIN_FILENO, &saved_termios) == 0) {
		struct termios raw = saved_termios;
		cfmakeraw(&raw);
		raw.c_oflag |= OPOST | ONLCR; /* keep "\n" -> "\r\n" on output */
		termios_saved = true;
		static bool atexit_done;
		if (!atexit_done && atexit(stdio_restore_terminal) == 0)
			atexit_done = true;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	s->raw = termios_saved; /* escapes only on the terminal we made raw */
	stdio_users++;
	return &s->cd;
}

/* ---- unix socket ----------------------------------------------------------- */

struct unix_chardev {
	struct vm_chardev cd; /* first */
	int listen_fd, client_fd;
	int log_fd; /* a copy of the output (--serial-log), or -1 */
	bool input_enabled, client_watched, listening;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static void unix_drop_client(struct unix_chardev *u)
{
	if (u->client_fd < 0)
		return;
	if (u->client_watched)
		u->cd.poll.unwatch(u->cd.poll.opaque, u->client_fd);
	u->client_watched = false;
	close(u->client_fd);
	u->client_fd = -1;
}

static void unix_client_ready(void *opaque)
{
	struct vm_chardev *cd = opaque;
	if (cd->on_input)
		cd->on_input(cd->input_opaque);
}

static void unix_sync_watch(struct unix_chardev *u)
{
	bool want = u->client_fd >= 0 && u->input_enabled;
	if (!u->cd.poll.watch || want == u->client_watched)
		return;
	if (want)
		u->client_watched = u->cd.poll.watch(u->cd.poll.opaque, u->client_fd,
						     unix_client_ready, &u->cd) == 0;
	else {
		u->cd.poll.unwatch(u->cd.poll.opaque, u->client_fd);
		u->client_watched = false;
	}
}

static void unix_accept(void *opaque)
{
	struct unix_chardev *u = opaque;
	int fd = accept4(u->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (u->client_fd >= 0) { /* one client at a time... */
		/* ...unless the current one hung up and we have not read its EOF
		 * yet (input is off while the guest has no room). */
		struct pollfd pfd = { .fd = u->client_fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR))) {
			unix_drop_client(u);
		} else {
			close(fd);
			return;
		}
	}
	u->client_fd = fd;
	unix_sync_watch(u);
}

static void unix_write(struct vm_chardev *cd, const void *buf, size_t len)
{
	struct unix_chardev *u = (struct unix_chardev *)cd;
	if (u->client_fd >= 0)
		write_some(u->client_fd, buf, len);
	if (u->log_fd >= 0 && write(u->log_fd, buf, len) < 0)
		return; /* a full disk loses log lines, never the guest's output */
}

static size_t unix_read(struct vm_chardev *cd, void *buf, size_t len)
{
	struct unix_chardev *u = (struct unix_chardev *)cd;
	if (u->client_fd < 0)
		return 0;
	ssize_t n = read(u->client_fd, buf, len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		unix_drop_client(u); /* hung up: wait for the next one */
		return 0;
	}
	return n > 0 ? (size_t)n : 0;
}

static void unix_set_input(struct vm_chardev *cd, bool enabled)
{
	struct unix_chardev *u = (struct unix_chardev *)cd;
	/* The listener is watched from the first attach on, whatever the flow. */
	if (!u->listening && cd->poll.watch)
		u->listening = cd->poll.watch(cd->poll.opaque, u->listen_fd, unix_accept, u) == 0;
	u->input_enabled = enabled;
	unix_sync_watch(u);
}

static void unix_close(struct vm_chardev *cd)
{
	struct unix_chardev *u = (struct unix_chardev *)cd;
	unix_drop_client(u);
	if (u->log_fd >= 0)
		close(u->log_fd);
	if (u->listen_fd >= 0) {
		if (u->listening)
			cd->poll.unwatch(cd->poll.opaque, u->listen_fd);
		close(u->listen_fd);
		unlink(u->path);
	}
	free(u);
}

static const struct vm_chardev_ops unix_ops = { unix_write, unix_read, unix_set_input, unix_close };

struct vm_chardev *vm_chardev_open_unix(const char *path, struct vs_err *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path)) {
		vs_errf(err, ENAMETOOLONG, "serial socket %s: path too long", path);
		return NULL;
	}
	struct unix_chardev *u = calloc(1, sizeof(*u));
	if (!u) {
		vs_errf(err, ENOMEM, "serial socket %s: out of memory", path);
		return NULL;
	}
	u->cd.ops = &unix_ops;
	u->client_fd = -1;
	u->log_fd = -1;
	/* Bound under a temporary name and renamed once it listens (never over
	 * an existing PATH): a client that sees PATH can connect (no
	 * ECONNREFUSED between bind and listen). */
	int n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s.%d.tmp", path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path))
		snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	strcpy(u->path, path);
	u->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->listen_fd < 0 || bind(u->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(u->listen_fd, 1) < 0 ||
	    (strcmp(addr.sun_path, path) != 0 &&
	     renameat2(AT_FDCWD, addr.sun_path, AT_FDCWD, path, RENAME_NOREPLACE) < 0)) {
		/* an existing PATH stays untouched, refused as bind would */
		vs_syserrf(err, errno == EEXIST ? EADDRINUSE : errno, "serial socket %s", path);
		if (u->listen_fd >= 0) {
			if (strcmp(addr.sun_path, path) != 0)
				unlink(addr.sun_path);
			close(u->listen_fd);
		}
		free(u);
		return NULL;
	}
	return &u->cd;
}

int vm_chardev_unix_set_log(struct vm_chardev *cd, const char *path, struct vs_err *err)
{
	struct unix_chardev *u = (struct unix_chardev *)cd;
	if (cd->ops != &unix_ops)
		return vs_errf(err, EINVAL, "serial log: the serial port is not on a unix socket");
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return vs_syserrf(err, errno, "serial log %s", path);
	if (u->log_fd >= 0)
		close(u->log_fd);
	u->log_fd = fd;
	return 0;
}
