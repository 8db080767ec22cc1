/*
 * vessel-agent - the vessel guest agent: runs commands and moves files for
 * the host over a virtio-console port (found by find_port), as incus-agent
 * does over vsock.  Static, libc only; built by guest/rootfs.sh with the
 * riscv64 cross compiler and started in the background by the guest's /init.
 *
 * Protocol: guest/agent/agent_proto.h, docs/agent-protocol.md.  One
 * operation (exec, push or pull) at a time; HELLO and PING are answered at
 * any time, and HELLO abandons the operation in progress (a new client).
 *
 * Robustness: every frame is checked (magic, length bound, CRC) before it is
 * looked at; garbage is skipped up to the next magic and reported with one
 * VAG_ERROR; a frame left incomplete for VAG_FRAME_IDLE_MS (a client that
 * went away mid-frame) is given up and the stream rescanned from the byte
 * after its magic, so the next client's frames are found even inside it.
 * Data the agent sends (stdout, stderr, pulled files) is flow controlled by
 * a window of VAG_WINDOW bytes that the host reopens with VAG_ACK: the host
 * backend drops what its client does not read, so nothing may be in flight
 * beyond what the socket buffers hold.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent_proto.h"

#define INBUF_SIZE (VAG_HDR_SIZE + VAG_MAX_PAYLOAD + 4096)

static int port = -1;
static int sigchld_fd = -1; /* signalfd: a command exited */
static uint8_t inbuf[INBUF_SIZE];
static size_t inlen;
static long long last_rx_ms;
static uint32_t unacked; /* data bytes sent and not yet acknowledged */

enum op_kind { OP_NONE, OP_EXEC, OP_PUSH, OP_PULL };

static struct {
	enum op_kind kind;
	uint32_t id;
	/* exec */
	pid_t pid;
	int out_fd, err_fd, in_fd;
	bool stdin_streamed, stdin_eof, exited;
	int status;
	uint8_t *stdin_buf;
	size_t stdin_len, stdin_off;
	/* push and pull */
	int file_fd;
	int push_errno;
	uint32_t mode;
	uint64_t size;
} op = { .kind = OP_NONE };

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- sending ----------------------------------------------------------- */

static void write_all(const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(port, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = port, .events = POLLOUT };
			poll(&pfd, 1, 1000);
		} else if (n < 0 && errno != EINTR) {
			return; /* the port is gone: nothing sensible to do */
		}
	}
}

static void send_frame(uint16_t type, uint32_t id, const void *payload, uint32_t len)
{
	static uint8_t frame[VAG_HDR_SIZE + VAG_MAX_PAYLOAD];
	if (len > VAG_MAX_PAYLOAD)
		len = VAG_MAX_PAYLOAD;
	vag_header(frame, type, id, payload, len);
	if (len)
		memcpy(frame + VAG_HDR_SIZE, payload, len);
	write_all(frame, VAG_HDR_SIZE + len); /* one write: hvc sends it in few pieces */
}

static void send_error(uint32_t id, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void send_error(uint32_t id, int err, const char *fmt, ...)
{
	uint8_t buf[512];
	va_list ap;
	vag_put32(buf, (uint32_t)err);
	va_start(ap, fmt);
	int n = vsnprintf((char *)buf + 4, sizeof(buf) - 4, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof(buf) - 5)
		n = (int)sizeof(buf) - 5;
	send_frame(VAG_ERROR, id, buf, 4 + (uint32_t)n);
}

/* ---- operations ---------------------------------------------------------- */

static void op_reset(void)
{
	if (op.kind == OP_EXEC && !op.exited && op.pid > 0) {
		kill(-op.pid, SIGKILL);
		waitpid(op.pid, NULL, 0);
	}
	close_fd(&op.out_fd);
	close_fd(&op.err_fd);
	close_fd(&op.in_fd);
	close_fd(&op.file_fd);
	free(op.stdin_buf);
	memset(&op, 0, sizeof(op));
	op.kind = OP_NONE;
	op.out_fd = op.err_fd = op.in_fd = op.file_fd = -1;
	unacked = 0;
}

/* A TLV field iterator over a request payload. */
struct tlv {
	const uint8_t *p, *end;
};

/* Next field: 1 found, 0 at the end, -1 malformed. */
static int tlv_next(struct tlv *t, uint16_t *tag, const uint8_t **val, uint32_t *len)
{
	if (t->p == t->end)
		return 0;
	if ((size_t)(t->end - t->p) < 8)
		return -1;
	*tag = vag_get16(t->p);
	*len = vag_get32(t->p + 4);
	if (vag_get16(t->p + 2) != 0 || *len > (size_t)(t->end - t->p) - 8)
		return -1;
	*val = t->p + 8;
	t->p += 8 + *len;
	return 1;
}

/* A NUL-terminated copy of a string field, NULL if it holds a NUL. */
static char *tlv_string(const uint8_t *val, uint32_t len)
{
	if (memchr(val, 0, len))
		return NULL;
	char *s = malloc(len + 1);
	if (s) {
		memcpy(s, val, len);
		s[len] = 0;
	}
	return s;
}

static void free_strv(char **v)
{
	if (v)
		for (char **p = v; *p; p++)
			free(*p);
	free(v);
}

static void exec_start(uint32_t id, const uint8_t *payload, uint32_t len)
{
	char **argv = calloc(VAG_MAX_ARGS + 1, sizeof(char *));
	char **envp = calloc(VAG_MAX_ARGS + 4, sizeof(char *));
	char *cwd = NULL;
	unsigned argc = 0, envc = 0;
	bool stdin_streamed = false;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	struct tlv t = { payload, payload + len };
	uint16_t tag;
	const uint8_t *val;
	uint32_t vlen;
	int r;

	if (!argv || !envp) {
		send_error(id, ENOMEM, "exec: out of memory");
		goto out;
	}
	envp[envc++] = strdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	envp[envc++] = strdup("HOME=/root");
	while ((r = tlv_next(&t, &tag, &val, &vlen)) > 0) {
		char *s = NULL;
		if (tag == VAG_TAG_ARG || tag == VAG_TAG_ENV || tag == VAG_TAG_CWD) {
			s = tlv_string(val, vlen);
			if (!s) {
				send_error(id, EINVAL, "exec: field %u holds a NUL byte", tag);
				goto out;
			}
		}
		if (tag == VAG_TAG_ARG && argc < VAG_MAX_ARGS) {
			argv[argc++] = s;
		} else if (tag == VAG_TAG_ENV && envc < VAG_MAX_ARGS + 2 && strchr(s, '=')) {
			envp[envc++] = s;
		} else if (tag == VAG_TAG_CWD && !cwd) {
			cwd = s;
		} else if (tag == VAG_TAG_STDIN && vlen == 1) {
			stdin_streamed = val[0] == 1;
		} else {
			free(s);
			send_error(id, EINVAL, "exec: unexpected field %u (length %u)", tag, vlen);
			goto out;
		}
	}
	if (r < 0 || argc == 0) {
		send_error(id, EINVAL, r < 0 ? "exec: malformed fields" : "exec: no argv");
		goto out;
	}
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    (stdin_streamed && pipe2(in, O_CLOEXEC) < 0)) {
		send_error(id, errno, "exec: pipe: %s", strerror(errno));
		goto out;
	}
	/*
	 * posix_spawn: glibc runs the child on a CLONE_VM|CLONE_VFORK stack and
	 * reports a failed exec (or chdir) as its return value; no page tables
	 * are copied, which matters on an emulated CPU.  argv[0] is looked up
	 * in the agent's PATH.
	 */
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	pid_t pid;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
					    POSIX_SPAWN_SETSIGDEF);
	if (stdin_streamed)
		posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	int e = posix_spawnp(&pid, argv[0], &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (e) {
		send_error(id, e, "exec %s%s%s: %s", argv[0], cwd ? " in " : "", cwd ? cwd : "",
			   strerror(e));
		goto out;
	}
	op_reset();
	op.kind = OP_EXEC;
	op.id = id;
	op.pid = pid;
	op.out_fd = out[0];
	op.err_fd = errp[0];
	out[0] = errp[0] = -1;
	op.stdin_streamed = stdin_streamed;
	if (stdin_streamed) {
		op.in_fd = in[1];
		in[1] = -1;
		fcntl(op.in_fd, F_SETFL, O_NONBLOCK);
	}
out:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&out[i]);
		close_fd(&errp[i]);
	}
	free_strv(argv);
	free_strv(envp);
	free(cwd);
}

static void exec_stdin(uint32_t id, const uint8_t *data, uint32_t len)
{
	if (op.kind != OP_EXEC || op.id != id || !op.stdin_streamed) {
		send_error(id, ESRCH, "stdin: no exec %u reading stdin", id);
		return;
	}
	if (op.stdin_eof)
		return; /* after the end (or after the child closed it): ignored */
	if (len == 0) {
		op.stdin_eof = true;
		if (op.stdin_off == op.stdin_len)
			close_fd(&op.in_fd);
		return;
	}
	if (op.in_fd < 0)
		return; /* the command closed its stdin: drop, as a pipe would */
	size_t pending = op.stdin_len - op.stdin_off;
	if (pending + len > VAG_STDIN_MAX) {
		send_error(id, ENOBUFS, "stdin: more than %u bytes waiting", VAG_STDIN_MAX);
		close_fd(&op.in_fd);
		op.stdin_eof = true;
		return;
	}
	if (op.stdin_off > 0) { /* compact */
		memmove(op.stdin_buf, op.stdin_buf + op.stdin_off, pending);
		op.stdin_len = pending;
		op.stdin_off = 0;
	}
	uint8_t *b = realloc(op.stdin_buf, op.stdin_len + len);
	if (!b) {
		send_error(id, ENOMEM, "stdin: out of memory");
		return;
	}
	memcpy(b + op.stdin_len, data, len);
	op.stdin_buf = b;
	op.stdin_len += len;
}

static void exec_feed_stdin(void)
{
	while (op.in_fd >= 0 && op.stdin_off < op.stdin_len) {
		ssize_t n =
		    write(op.in_fd, op.stdin_buf + op.stdin_off, op.stdin_len - op.stdin_off);
		if (n > 0)
			op.stdin_off += (size_t)n;
		else if (n < 0 && errno == EAGAIN)
			return;
		else if (n < 0 && errno != EINTR) {
			close_fd(&op.in_fd); /* EPIPE: the command closed its stdin */
			return;
		}
	}
	if (op.in_fd >= 0 && op.stdin_eof && op.stdin_off == op.stdin_len)
		close_fd(&op.in_fd);
}

/* Forward what one output pipe has, within the window. */
static void exec_forward(int *fd, uint16_t type)
{
	static uint8_t buf[VAG_CHUNK];
	size_t room = VAG_WINDOW - unacked;
	if (room > sizeof(buf))
		room = sizeof(buf);
	ssize_t n = read(*fd, buf, room);
	if (n > 0) {
		send_frame(type, op.id, buf, (uint32_t)n);
		unacked += (uint32_t)n;
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close_fd(fd);
	}
}

static void exec_check_done(void)
{
	if (op.kind != OP_EXEC || op.out_fd >= 0 || op.err_fd >= 0)
		return;
	if (!op.exited) {
		pid_t r = waitpid(op.pid, &op.status, WNOHANG);
		if (r == 0)
			return;
		op.exited = true;
	}
	uint8_t p[8];
	if (WIFSIGNALED(op.status)) {
		vag_put32(p, (uint32_t)-1);
		vag_put32(p + 4, (uint32_t)WTERMSIG(op.status));
	} else {
		vag_put32(p, (uint32_t)WEXITSTATUS(op.status));
		vag_put32(p + 4, 0);
	}
	uint32_t id = op.id;
	op_reset();
	send_frame(VAG_EXIT, id, p, sizeof(p));
}

static bool path_field(uint32_t id, const uint8_t *payload, uint32_t len, char **path,
		       uint32_t *mode)
{
	struct tlv t = { payload, payload + len };
	uint16_t tag;
	const uint8_t *val;
	uint32_t vlen;
	int r;
	while ((r = tlv_next(&t, &tag, &val, &vlen)) > 0) {
		if (tag == VAG_TAG_PATH && !*path && vlen > 0) {
			*path = tlv_string(val, vlen);
			if (!*path)
				break;
		} else if (tag == VAG_TAG_MODE && mode && vlen == 4) {
			*mode = vag_get32(val) & 07777;
		} else {
			r = -1;
			break;
		}
	}
	if (r < 0 || !*path) {
		free(*path);
		*path = NULL;
		send_error(id, EINVAL, "malformed path request");
		return false;
	}
	return true;
}

static void push_start(uint32_t id, const uint8_t *payload, uint32_t len)
{
	char *path = NULL;
	uint32_t mode = 0644;
	if (!path_field(id, payload, len, &path, &mode))
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		send_error(id, errno, "push %s: %s", path, strerror(errno));
		free(path);
		return;
	}
	free(path);
	op_reset();
	op.kind = OP_PUSH;
	op.id = id;
	op.file_fd = fd;
	op.mode = mode;
	send_frame(VAG_OK, id, NULL, 0);
}

static void push_data(uint32_t id, const uint8_t *data, uint32_t len)
{
	if (op.kind != OP_PUSH || op.id != id) {
		send_error(id, ESRCH, "push data: no push %u open", id);
		return;
	}
	while (len > 0 && !op.push_errno) {
		ssize_t n = write(op.file_fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			op.push_errno = n < 0 ? errno : EIO;
			break;
		}
		data += n;
		len -= (uint32_t)n;
	}
}

static void push_end(uint32_t id)
{
	if (op.kind != OP_PUSH || op.id != id) {
		send_error(id, ESRCH, "push data: no push %u open", id);
		return;
	}
	int e = op.push_errno;
	if (!e && fchmod(op.file_fd, op.mode) < 0)
		e = errno;
	if (!e && close(op.file_fd) < 0)
		e = errno;
	else if (e)
		close(op.file_fd);
	op.file_fd = -1;
	op_reset();
	if (e)
		send_error(id, e, "push: %s", strerror(e));
	else
		send_frame(VAG_OK, id, NULL, 0);
}

static void pull_start(uint32_t id, const uint8_t *payload, uint32_t len)
{
	char *path = NULL;
	struct stat st;
	if (!path_field(id, payload, len, &path, NULL))
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	int e = fd < 0 || fstat(fd, &st) < 0 ? errno : S_ISREG(st.st_mode) ? 0 : EINVAL;
	if (e) {
		send_error(id, e, "pull %s: %s", path,
			   e == EINVAL ? "not a regular file" : strerror(e));
		if (fd >= 0)
			close(fd);
		free(path);
		return;
	}
	free(path);
	op_reset();
	op.kind = OP_PULL;
	op.id = id;
	op.file_fd = fd;
	op.mode = st.st_mode & 07777;
}

/* Send the next piece of the pulled file, within the window. */
static void pull_step(void)
{
	static uint8_t buf[VAG_CHUNK];
	size_t room = VAG_WINDOW - unacked;
	if (room > sizeof(buf))
		room = sizeof(buf);
	ssize_t n = read(op.file_fd, buf, room);
	if (n < 0 && errno == EINTR)
		return;
	uint32_t id = op.id;
	if (n < 0) {
		int e = errno;
		op_reset();
		send_error(id, e, "pull: read: %s", strerror(e));
	} else if (n == 0) {
		uint8_t p[12];
		vag_put32(p, op.mode);
		vag_put32(p + 4, (uint32_t)op.size);
		vag_put32(p + 8, (uint32_t)(op.size >> 32));
		op_reset();
		send_frame(VAG_FILE_END, id, p, sizeof(p));
	} else {
		send_frame(VAG_FILE_DATA, id, buf, (uint32_t)n);
		unacked += (uint32_t)n;
		op.size += (uint64_t)n;
	}
}

static void send_hello(uint32_t id)
{
	uint8_t p[256];
	struct utsname u;
	vag_put32(p, VAG_VERSION);
	int n = 0;
	if (uname(&u) == 0)
		n = snprintf((char *)p + 4, sizeof(p) - 4, "vessel-agent %d %s %s %s", VAG_VERSION,
			     u.sysname, u.release, u.machine);
	if (n < 0 || n > (int)sizeof(p) - 5)
		n = 0;
	send_frame(VAG_HELLO_REPLY, id, p, 4 + (uint32_t)n);
}

static void handle(uint16_t type, uint32_t id, const uint8_t *payload, uint32_t len)
{
	bool busy = op.kind != OP_NONE;
	switch (type) {
	case VAG_HELLO:
		op_reset(); /* a new client: whatever ran for the last one is dropped */
		send_hello(id);
		return;
	case VAG_PING: send_frame(VAG_PONG, id, payload, len); return;
	case VAG_ACK:
		if (len != 4) {
			send_error(id, EINVAL, "ack: payload of %u bytes, expected 4", len);
			return;
		}
		uint32_t n = vag_get32(payload);
		unacked -= n < unacked ? n : unacked;
		return;
	case VAG_STDIN: exec_stdin(id, payload, len); return;
	case VAG_PUSH_DATA:
		if (len)
			push_data(id, payload, len);
		else
			push_end(id);
		return;
	case VAG_EXEC:
	case VAG_PUSH:
	case VAG_PULL:
		if (busy) {
			send_error(id, EBUSY, "busy with request %u", op.id);
			return;
		}
		if (type == VAG_EXEC)
			exec_start(id, payload, len);
		else if (type == VAG_PUSH)
			push_start(id, payload, len);
		else
			pull_start(id, payload, len);
		return;
	default: send_error(id, ENOSYS, "unknown frame type 0x%x", type); return;
	}
}

/* ---- receiving ------------------------------------------------------------ */

static void consume(size_t n)
{
	memmove(inbuf, inbuf + n, inlen - n);
	inlen -= n;
}

/*
 * Take every complete frame from inbuf.  idle: the partial frame at the
 * front has waited too long, give it up.
 */
static void parse(bool idle)
{
	static const uint8_t magic[4] = { 'V', 'S', 'A', 'G' };
	bool quiet = false; /* the skip after a bad frame was already reported */
	while (inlen > 0) {
		size_t skip = 0;
		while (skip < inlen) {
			size_t k = inlen - skip < 4 ? inlen - skip : 4;
			if (memcmp(inbuf + skip, magic, k) == 0)
				break;
			skip++;
		}
		if (skip) {
			if (!quiet)
				send_error(0, EPROTO, "skipped %zu bytes that are not a frame",
					   skip);
			consume(skip);
			quiet = false;
			continue;
		}
		if (inlen < VAG_HDR_SIZE) {
			if (!idle)
				return;
			send_error(0, EPROTO, "incomplete frame header timed out");
			consume(1);
			quiet = true;
			idle = false;
			continue;
		}
		uint16_t type = vag_get16(inbuf + 4), flags = vag_get16(inbuf + 6);
		uint32_t id = vag_get32(inbuf + 8), len = vag_get32(inbuf + 12);
		if (len > VAG_MAX_PAYLOAD || flags) {
			send_error(id, len > VAG_MAX_PAYLOAD ? EMSGSIZE : EPROTO,
				   len > VAG_MAX_PAYLOAD ? "frame of %u bytes is too long"
							 : "frame flags %u are not 0",
				   len > VAG_MAX_PAYLOAD ? len : flags);
			consume(1);
			quiet = true;
			continue;
		}
		if (inlen < VAG_HDR_SIZE + len) {
			if (!idle)
				return;
			send_error(id, ETIMEDOUT, "incomplete frame of type 0x%x timed out", type);
			consume(1);
			quiet = true;
			idle = false;
			continue;
		}
		if (!vag_crc_ok(inbuf, len)) {
			send_error(id, EBADMSG, "frame of type 0x%x has a bad checksum", type);
			consume(1);
			quiet = true;
			continue;
		}
		handle(type, id, inbuf + VAG_HDR_SIZE, len);
		consume(VAG_HDR_SIZE + len);
		quiet = false;
	}
}

static int open_port(const char *path)
{
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct termios t;
	if (tcgetattr(fd, &t) == 0) { /* a tty: raw bytes both ways */
		cfmakeraw(&t);
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
		tcsetattr(fd, TCSANOW, &t);
		tcflush(fd, TCIOFLUSH);
	}
	return fd;
}

/* Is /dev/NAME the kernel's console= (the user's, not ours)? */
static bool is_console(const char *name)
{
	char cmdline[4096], want[32];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);
	close(fd);
	if (n <= 0)
		return false;
	cmdline[n] = 0;
	snprintf(want, sizeof(want), "console=%s", name);
	for (char *p = cmdline; (p = strstr(p, want)); p += strlen(want)) {
		char end = p[strlen(want)];
		if ((p == cmdline || p[-1] == ' ') &&
		    (end == 0 || end == ' ' || end == ',' || end == '\n'))
			return true;
	}
	return false;
}

/*
 * The port when none is given: the highest-numbered hvc that has a device
 * behind it (devtmpfs shows hvc0..7 whatever exists; open says ENODEV) and
 * is not the console.  vessel-vmm adds the agent's port after the user's
 * virtio console, so it is hvc1 next to one, hvc0 alone.
 */
static const char *find_port(char *buf, size_t size)
{
	for (int i = 7; i >= 0; i--) {
		char name[16];
		snprintf(name, sizeof(name), "hvc%d", i);
		snprintf(buf, size, "/dev/%s", name);
		int fd = open(buf, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		close(fd);
		if (!is_console(name))
			return buf;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	char found[32];
	if (argc > 2 || (argc > 1 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: vessel-agent [PORT]   (default: the last hvc that is "
				"not the console)\n");
		return 2;
	}
	const char *path = argc > 1 ? argv[1] : find_port(found, sizeof(found));
	if (!path) {
		fprintf(stderr, "vessel-agent: no virtio console port for the agent\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* SIGCHLD through a signalfd: the exit is seen at once, not by polling
	 * (commands get an empty mask from posix_spawn). */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) == 0)
		sigchld_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	port = open_port(path);
	if (port < 0) {
		fprintf(stderr, "vessel-agent: %s: %s\n", path, strerror(errno));
		return 1;
	}
	op_reset();
	send_hello(0); /* unsolicited: a waiting client learns we are up */
	for (;;) {
		struct pollfd pfd[5];
		int n = 0, timeout = -1;
		pfd[n++] = (struct pollfd){ .fd = port, .events = POLLIN };
		if (sigchld_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = sigchld_fd, .events = POLLIN };
		bool window = unacked < VAG_WINDOW;
		int i_out = -1, i_err = -1, i_in = -1;
		if (op.kind == OP_EXEC) {
			if (op.out_fd >= 0 && window) {
				i_out = n;
				pfd[n++] = (struct pollfd){ .fd = op.out_fd, .events = POLLIN };
			}
			if (op.err_fd >= 0 && window) {
				i_err = n;
				pfd[n++] = (struct pollfd){ .fd = op.err_fd, .events = POLLIN };
			}
			if (op.in_fd >= 0 && op.stdin_off < op.stdin_len) {
				i_in = n;
				pfd[n++] = (struct pollfd){ .fd = op.in_fd, .events = POLLOUT };
			}
			if (op.out_fd < 0 && op.err_fd < 0 && sigchld_fd < 0)
				timeout = 20; /* output done: poll for the exit */
		}
		if (op.kind == OP_PULL && window)
			timeout = 0;
		if (inlen > 0) {
			long long left = last_rx_ms + VAG_FRAME_IDLE_MS - now_ms();
			int t = left < 0 ? 0 : (int)left;
			if (timeout < 0 || t < timeout)
				timeout = t;
		}
		int r = poll(pfd, (nfds_t)n, timeout);
		if (r < 0 && errno != EINTR)
			return 1;
		if (r > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t got = read(port, inbuf + inlen, sizeof(inbuf) - inlen);
			if (got > 0) {
				inlen += (size_t)got;
				last_rx_ms = now_ms();
				parse(false);
			} else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* hangup on the port: reopen it */
				close(port);
				while ((port = open_port(path)) < 0)
					sleep(1);
			}
		}
		if (inlen > 0 && now_ms() - last_rx_ms >= VAG_FRAME_IDLE_MS) {
			parse(true);
			last_rx_ms = now_ms();
		}
		if (r > 0 && sigchld_fd >= 0 && pfd[1].revents) {
			struct signalfd_siginfo si;
			while (read(sigchld_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				; /* drained; exec_check_done below reaps */
		}
		if (r > 0 && i_in >= 0 && pfd[i_in].revents)
			exec_feed_stdin();
		if (op.kind == OP_EXEC && op.stdin_off < op.stdin_len)
			exec_feed_stdin();
		if (r > 0 && i_out >= 0 && pfd[i_out].revents && op.out_fd >= 0)
			exec_forward(&op.out_fd, VAG_STDOUT);
		if (r > 0 && i_err >= 0 && pfd[i_err].revents && op.err_fd >= 0 &&
		    unacked < VAG_WINDOW)
			exec_forward(&op.err_fd, VAG_STDERR);
		exec_check_done();
		if (op.kind == OP_PULL && unacked < VAG_WINDOW)
			pull_step();
	}
}
