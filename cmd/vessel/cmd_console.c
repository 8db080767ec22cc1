/*
 * cmd_console.c - `vessel console NAME [--show-log]`: attach the terminal
 * to an instance's console (the API's console stream, an upgraded
 * connection), or print the console's log.
 *
 * Attached, the local terminal is in raw mode (every key goes to the
 * instance, Ctrl-c included); Ctrl-a q detaches and Ctrl-a Ctrl-a sends one
 * Ctrl-a.  The terminal is restored on every way out: detach, the stream
 * closing, an error, and SIGTERM/SIGHUP/SIGINT/SIGQUIT from outside.
 * Without a terminal on stdin (a pipe), its end also detaches.
 *
 * On a terminal its window size goes to the instance (PUT .../console
 * {"width","height"}) at attach and on every SIGWINCH (a self-pipe wakes
 * the relay); a VM's serial port has none, so after the first refusal
 * no more are sent.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "vessel/core/util.h"

#define DETACH_PREFIX 0x01 /* Ctrl-a */

static struct termios saved;
static volatile sig_atomic_t raw_on;

static void restore_terminal(void)
{
	if (raw_on) {
		tcsetattr(0, TCSANOW, &saved);
		raw_on = 0;
	}
}

static int winch_pipe[2] = { -1, -1 };

static void on_winch(int sig)
{
	(void)sig;
	int saved_errno = errno;
	(void)!write(winch_pipe[1], "w", 1);
	errno = saved_errno;
}

/* The terminal's size to the instance's console (best effort): false once refused. */
static bool send_size(struct mgr_client *c, const char *path)
{
	struct winsize ws;
	if (ioctl(0, TIOCGWINSZ, &ws) < 0 || !ws.ws_col || !ws.ws_row)
		return true;
	struct json_object *b = json_object_new_object();
	json_object_object_add(b, "width", json_object_new_int(ws.ws_col));
	json_object_object_add(b, "height", json_object_new_int(ws.ws_row));
	struct vs_err e = VS_ERR_INIT;
	int r = mgr_client_do(c, "PUT", path, b, NULL, &e);
	json_object_put(b);
	return r == 0;
}

static void on_signal(int sig)
{
	restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

static bool write_all(int fd, const char *p, size_t n)
{
	return (fd == 1 ? vs_write_full(fd, p, n) : vs_send_full(fd, p, n)) == 0;
}

/* Copy both ways until detach (0), the stream's end (0) or an error (1);
 * window size changes go to c's path. */
static int relay(int sock, struct mgr_client *c, const char *path)
{
	char in[4096], out[4096 * 2], buf[16384];
	bool prefix = false, sizes = true;
	for (;;) {
		struct pollfd fds[3] = { { .fd = 0, .events = POLLIN },
					 { .fd = sock, .events = POLLIN },
					 { .fd = winch_pipe[0], .events = POLLIN } };
		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (fds[2].revents) {
			char w[64];
			while (read(winch_pipe[0], w, sizeof(w)) > 0)
				;
			if (sizes)
				sizes = send_size(c, path);
		}
		if (fds[1].revents) {
			ssize_t n = read(sock, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return 0; /* the console closed (the instance stopped) */
			if (!write_all(1, buf, (size_t)n))
				return 1;
		}
		if (fds[0].revents) {
			ssize_t n = read(0, in, sizeof(in));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return 0;
			size_t o = 0;
			for (ssize_t i = 0; i < n; i++) {
				char ch = in[i];
				if (prefix) {
					prefix = false;
					if (ch == 'q')
						return write_all(sock, out, o) ? 0 : 1;
					out[o++] = DETACH_PREFIX;
					if (ch == DETACH_PREFIX)
						continue;
				} else if (ch == DETACH_PREFIX) {
					prefix = true;
					continue;
				}
				out[o++] = ch;
			}
			if (!write_all(sock, out, o))
				return 1;
		}
	}
}

int cmd_console(struct cli *cli, int argc, char **argv)
{
	bool show_log = false;
	const char *name = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--show-log") == 0)
			show_log = true;
		else if (argv[i][0] == '-')
			return cli_usage("console", "unknown option %s", argv[i]);
		else if (!name)
			name = argv[i];
		else
			return cli_usage("console", "expected one NAME");
	}
	if (!name)
		return cli_usage("console", "expected NAME");
	char *e = curl_easy_escape(NULL, name, 0);
	char *path = NULL;
	if (!e || asprintf(&path, "/1.0/instances/%s/console", e) < 0)
		path = NULL;
	curl_free(e);
	struct vs_err err = VS_ERR_INIT;
	struct mgr_client *c = path ? cli_client(cli, &err) : NULL;
	if (!path && !err.msg[0])
		vs_errf(&err, ENOMEM, "out of memory");
	if (!c) {
		free(path);
		return cli_fail(&err);
	}
	if (show_log) {
		fflush(stdout);
		int r = mgr_client_download(c, path, 1, NULL, NULL, &err);
		free(path);
		return r < 0 ? cli_fail(&err) : 0;
	}
	int sock = -1;
	int r = mgr_client_upgrade(c, path, "vessel-console", &sock, &err);
	if (r < 0) {
		free(path);
		return cli_fail(&err);
	}
	bool tty = isatty(0) && tcgetattr(0, &saved) == 0;
	if (tty && pipe2(winch_pipe, O_CLOEXEC | O_NONBLOCK) == 0 && send_size(c, path)) {
		struct sigaction sa = { .sa_handler = on_winch, .sa_flags = SA_RESTART };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGWINCH, &sa, NULL);
	}
	if (tty) {
		static const int sigs[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT };
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], on_signal);
		struct termios raw = saved;
		cfmakeraw(&raw);
		if (tcsetattr(0, TCSANOW, &raw) == 0) /* keeps what was typed ahead */
			raw_on = 1;
	}
	/* after raw mode: what is typed from here on goes to the instance */
	fprintf(stderr, "Attached to the console of %s. To detach, press Ctrl-a q.\r\n", name);
	r = relay(sock, c, path);
	restore_terminal();
	signal(SIGWINCH, SIG_DFL);
	free(path);
	close(sock);
	fprintf(stderr, "\nDetached from %s.\n", name);
	if (r)
		fprintf(stderr, "vessel: error: console of %s: %s\n", name, strerror(errno));
	return r;
}
