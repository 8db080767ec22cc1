/*
 * client.c - the host side of the guest agent protocol (agent_proto.h,
 * docs/agent-protocol.md) over the unix socket of `vessel-vmm --agent`.
 *
 * The socket is non-blocking; every wait is a poll() against the call's
 * deadline.  Incoming bytes are resynchronised as the agent does it: bytes
 * before a magic are skipped, a frame with a bad checksum or an oversized
 * length loses its first byte and the stream is rescanned, so a stale or
 * damaged byte never wedges the client.  Frames for another request id
 * (late replies of an abandoned operation, the agent's id-0 reports) are
 * dropped.  Data frames are acknowledged as they are consumed, which keeps
 * the agent's window (VAG_WINDOW) open; the window is smaller than the
 * socket buffers, so the VMM never has to drop agent output.
 *
 * Connecting: the agent sends an unsolicited HELLO_REPLY when it starts
 * and answers every HELLO; HELLO is re-sent every HELLO_RESEND_MS, which is
 * longer than the agent's idle limit for a partial frame (a previous client
 * that vanished mid-frame is thus flushed out by the agent's timeout, not
 * kept alive by our retries).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent_proto.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/vm/agent.h"

#define HELLO_RESEND_MS	    4000
#define CAPTURE_MAX_DEFAULT (64u << 20)
#define RBUF_SIZE	    (VAG_HDR_SIZE + VAG_MAX_PAYLOAD + 4096)

struct vm_agent {
	int fd;
	uint32_t next_id;
	bool dirty; /* an operation was abandoned: say HELLO before the next one */
	char version[256];
	uint8_t rbuf[RBUF_SIZE];
	size_t rlen;
	/* The frame last returned by agent_recv (points into rbuf until the next call). */
	size_t consumed;
};

struct frame {
	uint16_t type;
	uint32_t id;
	const uint8_t *payload;
	uint32_t len;
};

/* Deadline in ns of CLOCK_MONOTONIC; 0 = none. */
static uint64_t deadline_after(double timeout_sec)
{
	if (timeout_sec <= 0)
		return 0;
	return vs_now_ns() + (uint64_t)(timeout_sec * 1e9);
}

/* poll() timeout in ms up to the deadline (-1: none), capped by cap_ms when >= 0. */
static int ms_left(uint64_t deadline, int cap_ms)
{
	if (!deadline)
		return cap_ms;
	uint64_t now = vs_now_ns();
	if (now >= deadline)
		return 0;
	uint64_t ms = (deadline - now + 999999) / 1000000;
	if (cap_ms >= 0 && ms > (uint64_t)cap_ms)
		return cap_ms;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static bool expired(uint64_t deadline)
{
	return deadline && vs_now_ns() >= deadline;
}

/* ---- sending ----------------------------------------------------------- */

static int send_all(struct vm_agent *a, const uint8_t *p, size_t len, uint64_t deadline,
		    struct vs_err *err)
{
	while (len > 0) {
		ssize_t n = send(a->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return vs_syserrf(err, errno, "agent: send");
		struct pollfd pfd = { .fd = a->fd, .events = POLLOUT };
		int t = ms_left(deadline, -1);
		if (t == 0 || poll(&pfd, 1, t) == 0)
			return vs_errf(err, ETIMEDOUT, "agent: timed out sending a request");
	}
	return 0;
}

static int send_frame(struct vm_agent *a, uint16_t type, uint32_t id, const void *payload,
		      uint32_t len, uint64_t deadline, struct vs_err *err)
{
	uint8_t hdr[VAG_HDR_SIZE];
	vag_header(hdr, type, id, payload, len);
	int r = send_all(a, hdr, sizeof(hdr), deadline, err);
	if (r == 0 && len)
		r = send_all(a, payload, len, deadline, err);
	return r;
}

/* A growing TLV payload. */
struct tlv_buf {
	uint8_t *p;
	size_t len, cap;
	bool failed;
};

static void tlv_add(struct tlv_buf *b, uint16_t tag, const void *val, size_t len)
{
	if (b->failed)
		return;
	if (len > VAG_MAX_PAYLOAD || b->len + 8 + len > VAG_MAX_PAYLOAD) {
		b->failed = true;
		return;
	}
	if (b->len + 8 + len > b->cap) {
		size_t cap = (b->len + 8 + len) * 2;
		uint8_t *np = realloc(b->p, cap);
		if (!np) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	vag_put16(b->p + b->len, tag);
	vag_put16(b->p + b->len + 2, 0);
	vag_put32(b->p + b->len + 4, (uint32_t)len);
	if (len)
		memcpy(b->p + b->len + 8, val, len);
	b->len += 8 + len;
}

static void tlv_add_str(struct tlv_buf *b, uint16_t tag, const char *s)
{
	tlv_add(b, tag, s, strlen(s));
}

/* ---- receiving ------------------------------------------------------------ */

static void rbuf_consume(struct vm_agent *a, size_t n)
{
	memmove(a->rbuf, a->rbuf + n, a->rlen - n);
	a->rlen -= n;
}

/* A complete, valid frame at the front of rbuf (after resync): true. */
static bool frame_ready(struct vm_agent *a, struct frame *f)
{
	static const uint8_t magic[4] = { 'V', 'S', 'A', 'G' };
	for (;;) {
		size_t skip = 0;
		while (skip < a->rlen) {
			size_t k = a->rlen - skip < 4 ? a->rlen - skip : 4;
			if (memcmp(a->rbuf + skip, magic, k) == 0)
				break;
			skip++;
		}
		rbuf_consume(a, skip);
		if (a->rlen < VAG_HDR_SIZE)
			return false;
		uint32_t len = vag_get32(a->rbuf + 12);
		if (len > VAG_MAX_PAYLOAD || vag_get16(a->rbuf + 6) != 0) {
			rbuf_consume(a, 1);
			continue;
		}
		if (a->rlen < VAG_HDR_SIZE + len)
			return false;
		if (!vag_crc_ok(a->rbuf, len)) {
			rbuf_consume(a, 1);
			continue;
		}
		f->type = vag_get16(a->rbuf + 4);
		f->id = vag_get32(a->rbuf + 8);
		f->len = len;
		f->payload = a->rbuf + VAG_HDR_SIZE;
		a->consumed = VAG_HDR_SIZE + len;
		return true;
	}
}

/*
 * Wait for the next frame (any id) until the deadline, or until extra_fd
 * (>= 0) is ready for extra_events (returns 1 then, with no frame).
 * Returns 0 with *f filled, 1 for extra_fd, -errno on error/timeout.
 */
static int agent_recv(struct vm_agent *a, struct frame *f, uint64_t deadline, int extra_fd,
		      short extra_events, int cap_ms, struct vs_err *err)
{
	if (a->consumed) {
		rbuf_consume(a, a->consumed);
		a->consumed = 0;
	}
	for (;;) {
		if (frame_ready(a, f))
			return 0;
		struct pollfd pfd[2] = { { .fd = a->fd, .events = POLLIN },
					 { .fd = extra_fd, .events = extra_events } };
		int t = ms_left(deadline, cap_ms);
		if (expired(deadline))
			return vs_errf(err, ETIMEDOUT, "agent: timed out waiting for the guest");
		int r = poll(pfd, extra_fd >= 0 ? 2 : 1, t);
		if (r < 0 && errno != EINTR)
			return vs_syserrf(err, errno, "agent: poll");
		if (r == 0 && cap_ms >= 0 && !expired(deadline))
			return 2; /* the caller's periodic work (HELLO resend) */
		if (r <= 0)
			continue;
		if (extra_fd >= 0 && pfd[1].revents)
			return 1;
		if (!pfd[0].revents)
			continue;
		ssize_t n = recv(a->fd, a->rbuf + a->rlen, sizeof(a->rbuf) - a->rlen, 0);
		if (n == 0)
			return vs_errf(err, ECONNRESET,
				       "agent: the VMM closed the connection (another client "
				       "connected, or the VM stopped)");
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return vs_syserrf(err, errno, "agent: recv");
		if (n > 0)
			a->rlen += (size_t)n;
	}
}

/* An ERROR frame as an error: -errno and its message. */
static int frame_error(const struct frame *f, const char *what, struct vs_err *err)
{
	int code = EPROTO;
	int mlen = 0;
	const char *msg = "";
	if (f->len >= 4) {
		uint32_t c = vag_get32(f->payload);
		code = c > 0 && c < 4096 ? (int)c : EPROTO;
		msg = (const char *)f->payload + 4;
		mlen = (int)(f->len - 4);
	}
	/* The guest's text: printed with a bound, control bytes are its problem. */
	return vs_errf(err, code, "%s: guest agent: %.*s", what, mlen > 400 ? 400 : mlen, msg);
}

/* Wait for OK (or ERROR) for request id. */
static int wait_ok(struct vm_agent *a, uint32_t id, uint64_t deadline, const char *what,
		   struct vs_err *err)
{
	struct frame f;
	for (;;) {
		int r = agent_recv(a, &f, deadline, -1, 0, -1, err);
		if (r < 0)
			return r;
		if (f.id != id)
			continue;
		if (f.type == VAG_OK)
			return 0;
		if (f.type == VAG_ERROR)
			return frame_error(&f, what, err);
	}
}

/*
 * Acknowledge consumed data.  A failure is not fatal here: what the agent
 * already sent (up to its EXIT or FILE_END) may still be in our buffer, and
 * a dead connection shows up in the next read anyway.
 */
static void agent_ack(struct vm_agent *a, uint32_t n, uint64_t deadline)
{
	uint8_t p[4];
	struct vs_err ignored = VS_ERR_INIT;
	vag_put32(p, n);
	if (send_frame(a, VAG_ACK, 0, p, 4, deadline, &ignored) < 0)
		a->dirty = true;
}

/* ---- hello ------------------------------------------------------------------ */

static int agent_hello(struct vm_agent *a, uint64_t deadline, struct vs_err *err)
{
	uint32_t id = a->next_id++;
	int r = send_frame(a, VAG_HELLO, id, NULL, 0, deadline, err);
	if (r < 0)
		return r;
	for (;;) {
		struct frame f;
		r = agent_recv(a, &f, deadline, -1, 0, HELLO_RESEND_MS, err);
		if (r < 0)
			return vs_err_prefix(err, "waiting for the agent's hello");
		if (r == 2) { /* nothing yet: the agent may not have been listening */
			id = a->next_id++;
			r = send_frame(a, VAG_HELLO, id, NULL, 0, deadline, err);
			if (r < 0)
				return r;
			continue;
		}
		/* Our reply or the agent's start-up hello (id 0); older replies are stale. */
		if (f.type != VAG_HELLO_REPLY || (f.id != id && f.id != 0) || f.len < 4)
			continue;
		uint32_t version = vag_get32(f.payload);
		if (version != VAG_VERSION)
			return vs_errf(err, EPROTONOSUPPORT,
				       "agent speaks protocol version %u, we speak %u", version,
				       VAG_VERSION);
		size_t n = f.len - 4 < sizeof(a->version) - 1 ? f.len - 4 : sizeof(a->version) - 1;
		memcpy(a->version, f.payload + 4, n);
		a->version[n] = 0;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)a->version[i] < 0x20 || a->version[i] == 0x7f)
				a->version[i] = '?';
		/* HELLOs still on their way are handled before our next request (the
		 * stream is ordered); their replies are dropped as stale. */
		a->dirty = false;
		return 0;
	}
}

/* Before an operation: a HELLO if the last one was abandoned. */
static int agent_ready(struct vm_agent *a, uint64_t deadline, struct vs_err *err)
{
	if (a->fd < 0)
		return vs_errf(err, ENOTCONN, "agent: not connected");
	return a->dirty ? agent_hello(a, deadline, err) : 0;
}

static int agent_connect_socket(const char *path, uint64_t deadline, struct vs_err *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return vs_errf(err, ENAMETOOLONG, "agent socket %s: path too long", path);
	strcpy(addr.sun_path, path);
	for (;;) {
		vs_cleanup_close int fd =
		    socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return vs_syserrf(err, errno, "agent socket %s", path);
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return vs_steal_fd(&fd);
		int e = errno;
		if ((e != ENOENT && e != ECONNREFUSED && e != EAGAIN) || expired(deadline) ||
		    !deadline)
			return vs_syserrf(err, e, "agent socket %s", path);
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

struct vm_agent *vm_agent_connect(const char *path, double timeout_sec, struct vs_err *err)
{
	uint64_t deadline = deadline_after(timeout_sec);
	struct vm_agent *a = calloc(1, sizeof(*a));
	if (!a) {
		vs_errf(err, ENOMEM, "agent: out of memory");
		return NULL;
	}
	a->next_id = 1;
	a->fd = -1;
	for (;;) {
		a->fd = agent_connect_socket(path, deadline, err);
		if (a->fd < 0)
			break;
		int r = agent_hello(a, deadline, err);
		if (r == 0)
			return a;
		/* Closed at once: the VMM still serves the previous client (it
		 * notices its hangup when it next reads); try again. */
		if (r != -ECONNRESET || a->rlen || expired(deadline) || !deadline)
			break;
		close(a->fd);
		a->fd = -1;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	vm_agent_close(a);
	return NULL;
}

void vm_agent_close(struct vm_agent *a)
{
	if (!a)
		return;
	if (a->fd >= 0)
		close(a->fd);
	free(a);
}

const char *vm_agent_version(const struct vm_agent *a)
{
	return a->version;
}

int vm_agent_ping(struct vm_agent *a, double timeout_sec, struct vs_err *err)
{
	uint64_t deadline = deadline_after(timeout_sec);
	int r = agent_ready(a, deadline, err);
	if (r < 0)
		return r;
	uint32_t id = a->next_id++;
	uint8_t token[8];
	uint64_t now = vs_now_ns();
	memcpy(token, &now, sizeof(token));
	r = send_frame(a, VAG_PING, id, token, sizeof(token), deadline, err);
	for (;;) {
		struct frame f;
		if (r == 0)
			r = agent_recv(a, &f, deadline, -1, 0, -1, err);
		if (r < 0) {
			a->dirty = true;
			return vs_err_prefix(err, "ping");
		}
		if (f.id == id && f.type == VAG_PONG && f.len == sizeof(token) &&
		    memcmp(f.payload, token, sizeof(token)) == 0)
			return 0;
		if (f.id == id && f.type == VAG_ERROR)
			return frame_error(&f, "ping", err);
	}
}

/* ---- exec ---------------------------------------------------------------- */

struct capture {
	int fd;
	char *buf;
	size_t len, cap, max;
};

static int capture_add(struct capture *c, const uint8_t *p, size_t n, const char *name,
		       struct vs_err *err)
{
	if (c->fd >= 0) {
		while (n > 0) {
			ssize_t w = write(c->fd, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && errno == EAGAIN) {
				struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
				poll(&pfd, 1, -1);
				continue;
			}
			if (w <= 0)
				return vs_syserrf(err, w < 0 ? errno : EIO, "exec: writing %s",
						  name);
			p += w;
			n -= (size_t)w;
		}
		return 0;
	}
	if (c->len + n > c->max)
		return vs_errf(err, EFBIG, "exec: %s is longer than %zu bytes", name, c->max);
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap < c->len + n + 1)
			cap *= 2;
		char *nb = realloc(c->buf, cap);
		if (!nb)
			return vs_errf(err, ENOMEM, "exec: out of memory for %s", name);
		c->buf = nb;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = 0;
	return 0;
}

static int exec_send_request(struct vm_agent *a, uint32_t id, const struct vm_agent_exec *req,
			     bool streamed_stdin, uint64_t deadline, struct vs_err *err)
{
	struct tlv_buf b = { 0 };
	unsigned n = 0;
	for (const char *const *p = req->argv; *p; p++, n++)
		tlv_add_str(&b, VAG_TAG_ARG, *p);
	for (const char *const *p = req->env; p && *p; p++) {
		if (!strchr(*p, '=')) {
			free(b.p);
			return vs_errf(err, EINVAL, "exec: environment entry '%s' has no '='", *p);
		}
		tlv_add_str(&b, VAG_TAG_ENV, *p);
	}
	if (req->cwd)
		tlv_add_str(&b, VAG_TAG_CWD, req->cwd);
	uint8_t one = 1;
	if (streamed_stdin)
		tlv_add(&b, VAG_TAG_STDIN, &one, 1);
	if (b.failed || n == 0 || n > VAG_MAX_ARGS) {
		free(b.p);
		return vs_errf(err, n == 0 ? EINVAL : E2BIG,
			       n == 0 ? "exec: no command" : "exec: command line too long");
	}
	int r = send_frame(a, VAG_EXEC, id, b.p, (uint32_t)b.len, deadline, err);
	free(b.p);
	return r;
}

int vm_agent_exec(struct vm_agent *a, const struct vm_agent_exec *req,
		  struct vm_agent_exec_result *res, struct vs_err *err)
{
	memset(res, 0, sizeof(*res));
	if (!req->argv || !req->argv[0])
		return vs_errf(err, EINVAL, "exec: no command");
	uint64_t deadline = deadline_after(req->timeout_sec);
	int r = agent_ready(a, deadline, err);
	if (r < 0)
		return r;
	bool streamed = req->stdin_fd >= 0 || req->stdin_data;
	size_t max = req->capture_max ? req->capture_max : CAPTURE_MAX_DEFAULT;
	struct capture out = { .fd = req->stdout_fd, .max = max };
	struct capture errc = { .fd = req->stderr_fd, .max = max };
	const uint8_t *data = req->stdin_data;
	size_t data_left = req->stdin_data ? req->stdin_len : 0;
	bool stdin_open = streamed; /* the end of stdin is still to be sent */
	uint32_t id = a->next_id++;

	r = exec_send_request(a, id, req, streamed, deadline, err);
	/* Let the command start: an exec error comes before any stdin is needed. */
	while (r == 0) {
		/* Send stdin from memory in pieces, between reads. */
		if (stdin_open && req->stdin_fd < 0) {
			size_t n = data_left < VAG_CHUNK ? data_left : VAG_CHUNK;
			r = send_frame(a, VAG_STDIN, id, data, (uint32_t)n, deadline, err);
			if (r < 0)
				break;
			data += n;
			data_left -= n;
			if (n == 0)
				stdin_open = false;
		}
		struct frame f;
		bool want_fd = stdin_open && req->stdin_fd >= 0;
		r = agent_recv(a, &f, deadline, want_fd ? req->stdin_fd : -1, POLLIN,
			       stdin_open && !want_fd ? 0 : -1, err);
		if (r == 2) {
			r = 0;
			continue;
		}
		if (r == 1) { /* stdin_fd readable */
			uint8_t buf[VAG_CHUNK];
			ssize_t n = read(req->stdin_fd, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
				r = 0;
				continue;
			}
			if (n < 0) {
				r = vs_syserrf(err, errno, "exec: reading stdin");
				break;
			}
			r = send_frame(a, VAG_STDIN, id, buf, (uint32_t)n, deadline, err);
			if (n == 0)
				stdin_open = false;
			continue;
		}
		if (r < 0)
			break;
		if (f.id != id)
			continue;
		if (f.type == VAG_STDOUT || f.type == VAG_STDERR) {
			r = capture_add(f.type == VAG_STDOUT ? &out : &errc, f.payload, f.len,
					f.type == VAG_STDOUT ? "stdout" : "stderr", err);
			if (r == 0)
				agent_ack(a, f.len, deadline);
		} else if (f.type == VAG_EXIT && f.len == 8) {
			int32_t status = (int32_t)vag_get32(f.payload);
			uint32_t sig = vag_get32(f.payload + 4);
			if (!(status >= 0 && status <= 255 && sig == 0) &&
			    !(status == -1 && sig >= 1 && sig < 128)) {
				r = vs_errf(err, EPROTO,
					    "exec: the agent reported exit status %d, signal %u",
					    (int)status, sig);
				break;
			}
			res->exit_status = status;
			res->signal = (int)sig;
			res->out = vs_steal_ptr(&out.buf);
			res->out_len = out.len;
			res->err = vs_steal_ptr(&errc.buf);
			res->err_len = errc.len;
			if (req->stdout_fd < 0 && !res->out)
				res->out = calloc(1, 1);
			if (req->stderr_fd < 0 && !res->err)
				res->err = calloc(1, 1);
			return 0;
		} else if (f.type == VAG_ERROR) {
			r = frame_error(&f, "exec", err);
			free(out.buf);
			free(errc.buf);
			if (stdin_open)
				a->dirty = true;
			return r;
		}
	}
	free(out.buf);
	free(errc.buf);
	a->dirty = true; /* the command may still run: the next call resets the agent */
	return r;
}

void vm_agent_exec_result_free(struct vm_agent_exec_result *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
}

/* ---- files ----------------------------------------------------------------- */

int vm_agent_push(struct vm_agent *a, const char *local, const char *remote, int mode,
		  double timeout_sec, struct vs_err *err)
{
	uint64_t deadline = deadline_after(timeout_sec);
	vs_cleanup_close int fd = open(local, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return vs_syserrf(err, errno, "push: %s", local);
	if (!S_ISREG(st.st_mode))
		return vs_errf(err, EINVAL, "push: %s is not a regular file", local);
	int r = agent_ready(a, deadline, err);
	if (r < 0)
		return r;
	struct tlv_buf b = { 0 };
	uint8_t m[4];
	vag_put32(m, mode < 0 ? (uint32_t)(st.st_mode & 07777) : (uint32_t)mode & 07777);
	tlv_add_str(&b, VAG_TAG_PATH, remote);
	tlv_add(&b, VAG_TAG_MODE, m, 4);
	if (b.failed || !*remote) {
		free(b.p);
		return vs_errf(err, EINVAL, "push: bad guest path '%s'", remote);
	}
	uint32_t id = a->next_id++;
	r = send_frame(a, VAG_PUSH, id, b.p, (uint32_t)b.len, deadline, err);
	free(b.p);
	if (r == 0)
		r = wait_ok(a, id, deadline, "push", err);
	if (r == -ETIMEDOUT || r == -ECONNRESET)
		a->dirty = true;
	if (r < 0)
		return r;
	vs_cleanup_free uint8_t *buf = malloc(VAG_MAX_PAYLOAD);
	if (!buf) {
		a->dirty = true;
		return vs_errf(err, ENOMEM, "push: out of memory");
	}
	for (;;) {
		ssize_t n = read(fd, buf, VAG_MAX_PAYLOAD);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			a->dirty = true; /* the agent keeps a half file open: reset it */
			return vs_syserrf(err, errno, "push: reading %s", local);
		}
		r = send_frame(a, VAG_PUSH_DATA, id, buf, (uint32_t)n, deadline, err);
		if (r < 0) {
			a->dirty = true;
			return r;
		}
		if (n == 0)
			break;
	}
	r = wait_ok(a, id, deadline, "push", err);
	if (r == -ETIMEDOUT || r == -ECONNRESET)
		a->dirty = true;
	return r < 0 ? vs_err_prefix(err, "%s", remote) : 0;
}

int vm_agent_pull(struct vm_agent *a, const char *remote, const char *local, double timeout_sec,
		  struct vs_err *err)
{
	uint64_t deadline = deadline_after(timeout_sec);
	int r = agent_ready(a, deadline, err);
	if (r < 0)
		return r;
	vs_cleanup_free char *tmp = NULL;
	if (asprintf(&tmp, "%s.pull-XXXXXX", local) < 0) {
		tmp = NULL;
		return vs_errf(err, ENOMEM, "pull: out of memory");
	}
	vs_cleanup_close int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "pull: cannot create a file next to %s", local);
	struct tlv_buf b = { 0 };
	tlv_add_str(&b, VAG_TAG_PATH, remote);
	uint32_t id = a->next_id++;
	r = b.failed || !*remote ? vs_errf(err, EINVAL, "pull: bad guest path '%s'", remote)
				 : send_frame(a, VAG_PULL, id, b.p, (uint32_t)b.len, deadline, err);
	free(b.p);
	uint64_t got = 0;
	while (r == 0) {
		struct frame f;
		r = agent_recv(a, &f, deadline, -1, 0, -1, err);
		if (r < 0) {
			a->dirty = true;
			break;
		}
		if (f.id != id)
			continue;
		if (f.type == VAG_FILE_DATA) {
			const uint8_t *p = f.payload;
			size_t n = f.len;
			while (n > 0 && r == 0) {
				ssize_t w = write(fd, p, n);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0) {
					r = vs_syserrf(err, w < 0 ? errno : EIO, "pull: writing %s",
						       tmp);
					a->dirty = true;
				} else {
					p += w;
					n -= (size_t)w;
				}
			}
			got += f.len;
			if (r == 0)
				agent_ack(a, f.len, deadline);
		} else if (f.type == VAG_FILE_END && f.len == 12) {
			uint64_t size =
			    vag_get32(f.payload + 4) | (uint64_t)vag_get32(f.payload + 8) << 32;
			if (size != got) {
				r = vs_errf(err, EIO,
					    "pull %s: got %llu bytes, the agent sent %llu", remote,
					    (unsigned long long)got, (unsigned long long)size);
				break;
			}
			if (fchmod(fd, vag_get32(f.payload) & 07777) < 0 || fsync(fd) < 0 ||
			    rename(tmp, local) < 0) {
				r = vs_syserrf(err, errno, "pull: %s", local);
				break;
			}
			return 0;
		} else if (f.type == VAG_ERROR) {
			r = frame_error(&f, "pull", err);
		}
	}
	unlink(tmp);
	return r;
}
