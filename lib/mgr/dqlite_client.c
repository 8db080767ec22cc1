/*
 * dqlite_client.c - dqlite's wire protocol, client side (dqlite_client.h).
 *
 * Why a client here: vesseld embeds a dqlite node (libdqlite's
 * dqlite_node_* API, see cluster.c) and Debian's libdqlite 1.11 exposes no
 * client, so the manager talks to the cluster's leader through the
 * documented protocol (https://canonical.com/dqlite/docs/reference/
 * wire-protocol).  Everything is little-endian 64-bit words: after the
 * handshake word (protocol version 1) each message is a header word (body
 * length in words, type, schema version) and a body of fields: uint64,
 * uint32 pairs, and text NUL-terminated and zero-padded to a word.
 * Statement parameters are a tuple: a count byte and one type byte per
 * value, padded to a word, then the values; a result row starts with 4-bit
 * type codes (low nibble first) padded to a word.  A result set ends with
 * the DONE word; the PART word means another ROWS message follows.
 *
 * Blocking sockets with send/receive timeouts: the daemon's cluster
 * thread and API handlers call in under cluster.c's lock.  A cluster
 * member sets a dialer (mgr_dq_set_dialer: raft_tls.c, TLS with the
 * cluster certificate) that every connection goes through instead of TCP.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vessel/core/util.h"
#include "vessel/mgr/dqlite_client.h"

#define PROTOCOL_VERSION 1
#define BODY_MAX	 (64u << 20)
#define ROWS_DONE	 0xffffffffffffffffull
#define ROWS_PART	 0xeeeeeeeeeeeeeeeeull

enum {
	REQ_LEADER = 0,
	REQ_OPEN = 3,
	REQ_EXEC_SQL = 8,
	REQ_QUERY_SQL = 9,
	REQ_ADD = 12,
	REQ_ASSIGN = 13,
	REQ_REMOVE = 14,
	REQ_CLUSTER = 16,
};
enum {
	RES_FAILURE = 0,
	RES_SERVER = 1,
	RES_SERVERS = 3,
	RES_DB = 4,
	RES_RESULT = 6,
	RES_ROWS = 7,
	RES_EMPTY = 8,
};

/* SQLite's extended codes dqlite answers when leadership moved. */
#define SQLITE_IOERR_NOT_LEADER	     (10 | (40 << 8))
#define SQLITE_IOERR_LEADERSHIP_LOST (10 | (41 << 8))

struct mgr_dq {
	int fd;
	char *address;
	uint32_t db;
	bool have_db;
	int timeout_ms;
	uint64_t last_code; /* of the last FAILURE response */
};

/* ---- encoding ---- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void wb_need(struct wbuf *b, size_t n)
{
	if (b->oom || b->len + n <= b->cap)
		return;
	size_t cap = (b->len + n) * 2 + 64;
	uint8_t *np = realloc(b->p, cap);
	if (!np) {
		b->oom = true;
		return;
	}
	memset(np + b->cap, 0, cap - b->cap);
	b->p = np;
	b->cap = cap;
}

static void wb_u64(struct wbuf *b, uint64_t v)
{
	wb_need(b, 8);
	if (b->oom)
		return;
	for (int i = 0; i < 8; i++)
		b->p[b->len + i] = (uint8_t)(v >> (8 * i));
	b->len += 8;
}

static void wb_text(struct wbuf *b, const char *s)
{
	size_t n = strlen(s) + 1, padded = (n + 7) & ~(size_t)7;
	wb_need(b, padded);
	if (b->oom)
		return;
	memcpy(b->p + b->len, s, n);
	memset(b->p + b->len + n, 0, padded - n);
	b->len += padded;
}

static void wb_params(struct wbuf *b, const struct mgr_dq_value *v, size_t n)
{
	size_t hdr = (1 + n + 7) & ~(size_t)7;
	wb_need(b, hdr);
	if (b->oom)
		return;
	memset(b->p + b->len, 0, hdr);
	b->p[b->len] = (uint8_t)n;
	for (size_t i = 0; i < n; i++)
		b->p[b->len + 1 + i] = (uint8_t)v[i].type;
	b->len += hdr;
	for (size_t i = 0; i < n; i++) {
		switch (v[i].type) {
		case MGR_DQ_INTEGER: wb_u64(b, (uint64_t)v[i].i); break;
		case MGR_DQ_FLOAT: {
			uint64_t u;
			memcpy(&u, &v[i].f, 8);
			wb_u64(b, u);
			break;
		}
		case MGR_DQ_TEXT: wb_text(b, v[i].s ? v[i].s : ""); break;
		case MGR_DQ_BLOB: {
			size_t len = v[i].s ? strlen(v[i].s) : 0, padded = (len + 7) & ~(size_t)7;
			wb_u64(b, len);
			wb_need(b, padded);
			if (b->oom)
				return;
			memset(b->p + b->len, 0, padded);
			if (len)
				memcpy(b->p + b->len, v[i].s, len);
			b->len += padded;
			break;
		}
		default: wb_u64(b, 0); break;
		}
	}
}

/* ---- decoding ---- */

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static uint64_t rb_u64(struct rbuf *r)
{
	if (r->off + 8 > r->len) {
		r->bad = true;
		return 0;
	}
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)r->p[r->off + i] << (8 * i);
	r->off += 8;
	return v;
}

static uint64_t rb_peek(struct rbuf *r)
{
	size_t off = r->off;
	uint64_t v = rb_u64(r);
	r->off = off;
	return v;
}

static const char *rb_text(struct rbuf *r)
{
	if (r->off >= r->len) {
		r->bad = true;
		return "";
	}
	const char *s = (const char *)r->p + r->off;
	const char *nul = memchr(s, 0, r->len - r->off);
	if (!nul) {
		r->bad = true;
		return "";
	}
	size_t n = (size_t)(nul - s) + 1;
	r->off += (n + 7) & ~(size_t)7;
	if (r->off > r->len)
		r->off = r->len;
	return s;
}

/* ---- I/O ---- */

static int io_all(struct mgr_dq *c, void *buf, size_t n, bool wr, struct vs_err *err)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t k = wr ? send(c->fd, p, n, MSG_NOSIGNAL) : recv(c->fd, p, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return vs_errf(err, ETIMEDOUT, "dqlite %s: no answer within %d ms",
				       c->address, c->timeout_ms);
		if (k < 0)
			return vs_syserrf(err, errno, "dqlite %s", c->address);
		if (k == 0)
			return vs_errf(err, ECONNRESET, "dqlite %s: connection closed", c->address);
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int send_msg(struct mgr_dq *c, uint8_t type, struct wbuf *body, struct vs_err *err)
{
	if (body->oom)
		return vs_errf(err, ENOMEM, "out of memory");
	uint8_t hdr[8] = { 0 };
	uint32_t words = (uint32_t)(body->len / 8);
	for (int i = 0; i < 4; i++)
		hdr[i] = (uint8_t)(words >> (8 * i));
	hdr[4] = type;
	int r = io_all(c, hdr, 8, true, err);
	if (r == 0 && body->len)
		r = io_all(c, body->p, body->len, true, err);
	return r;
}

/* One response: *type and its body (malloc'd) in *r. */
static int recv_msg(struct mgr_dq *c, uint8_t *type, struct rbuf *r, struct vs_err *err)
{
	uint8_t hdr[8];
	int rc = io_all(c, hdr, 8, false, err);
	if (rc < 0)
		return rc;
	uint64_t words = (uint64_t)hdr[0] | (uint64_t)hdr[1] << 8 | (uint64_t)hdr[2] << 16 |
			 (uint64_t)hdr[3] << 24;
	if (words * 8 > BODY_MAX)
		return vs_errf(err, EPROTO, "dqlite %s: response of %llu words is too large",
			       c->address, (unsigned long long)words);
	uint8_t *body = malloc(words * 8 + 1);
	if (!body)
		return vs_errf(err, ENOMEM, "out of memory");
	rc = io_all(c, body, words * 8, false, err);
	if (rc < 0) {
		free(body);
		return rc;
	}
	*type = hdr[4];
	*r = (struct rbuf){ .p = body, .len = words * 8 };
	return 0;
}

/* A FAILURE response as an error. */
static int failure(struct mgr_dq *c, struct rbuf *r, struct vs_err *err)
{
	uint64_t code = rb_u64(r);
	const char *msg = rb_text(r);
	int e = EIO;
	c->last_code = code;
	if (code == SQLITE_IOERR_NOT_LEADER || code == SQLITE_IOERR_LEADERSHIP_LOST ||
	    strstr(msg, "not leader") || strstr(msg, "leadership lost"))
		e = EAGAIN;
	else if ((code & 0xff) == 19) /* SQLITE_CONSTRAINT */
		e = EEXIST;
	else if ((code & 0xff) == 5 || (code & 0xff) == 6) /* BUSY, LOCKED */
		e = EBUSY;
	return vs_errf(err, e, "dqlite %s: %s (code %llu)", c->address, msg,
		       (unsigned long long)code);
}

/* Send a request and receive the answer, expecting type want (FAILURE is
 * turned into an error). */
static int roundtrip(struct mgr_dq *c, uint8_t type, struct wbuf *body, uint8_t want,
		     struct rbuf *r, struct vs_err *err)
{
	int rc = send_msg(c, type, body, err);
	free(body->p);
	body->p = NULL;
	if (rc < 0)
		return rc;
	uint8_t got;
	rc = recv_msg(c, &got, r, err);
	if (rc < 0)
		return rc;
	if (got == want)
		return 0;
	rc = got == RES_FAILURE
		 ? failure(c, r, err)
		 : vs_errf(err, EPROTO, "dqlite %s: unexpected response type %u", c->address, got);
	free((void *)r->p);
	r->p = NULL;
	return rc;
}

/* ---- connecting ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pthread_mutex_t dial_lock = PTHREAD_MUTEX_INITIALIZER;
static mgr_dq_dial_fn dial_fn;
static void *dial_arg;

void mgr_dq_set_dialer(mgr_dq_dial_fn fn, void *arg)
{
	pthread_mutex_lock(&dial_lock);
	dial_fn = fn;
	dial_arg = arg;
	pthread_mutex_unlock(&dial_lock);
}

static void set_timeouts(int fd, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int mgr_dq_tcp_connect(const char *address, int timeout_ms, struct vs_err *err)
{
	char host[256];
	const char *port;
	if (vs_split_hostport(address, host, sizeof(host), &port) < 0)
		return vs_errf(err, EINVAL, "dqlite address %s: expected HOST:PORT", address);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g)
		return vs_errf(err, EINVAL, "dqlite address %s: %s", address, gai_strerror(g));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		freeaddrinfo(ai);
		return vs_syserrf(err, errno, "socket");
	}
	int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int k;
		do
			k = poll(&p, 1, timeout_ms);
		while (k < 0 && errno == EINTR);
		int so = 0;
		socklen_t sl = sizeof(so);
		if (k == 0)
			so = ETIMEDOUT;
		else if (k < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) < 0)
			so = errno;
		rc = so ? -1 : 0;
		errno = so;
	}
	if (rc < 0) {
		int e = errno;
		close(fd);
		return vs_syserrf(err, e, "dqlite: connect to %s", address);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	set_timeouts(fd, timeout_ms);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int mgr_dq_connect_one(const char *addr, int timeout_ms, struct mgr_dq **out, struct vs_err *err)
{
	*out = NULL;
	pthread_mutex_lock(&dial_lock);
	mgr_dq_dial_fn fn = dial_fn;
	void *arg = dial_arg;
	pthread_mutex_unlock(&dial_lock);
	int fd = fn ? fn(arg, addr, timeout_ms, err) : mgr_dq_tcp_connect(addr, timeout_ms, err);
	if (fd < 0)
		return fd;
	set_timeouts(fd, timeout_ms);
	struct mgr_dq *c = calloc(1, sizeof(*c));
	if (!c || !(c->address = strdup(addr))) {
		free(c);
		close(fd);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	uint8_t hs[8] = { PROTOCOL_VERSION };
	int rc = io_all(c, hs, 8, true, err);
	if (rc < 0) {
		mgr_dq_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void mgr_dq_set_timeout(struct mgr_dq *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
	set_timeouts(c->fd, timeout_ms);
}

void mgr_dq_close(struct mgr_dq *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->address);
	free(c);
}

bool mgr_dq_alive(struct mgr_dq *c)
{
	/* between requests the server sends nothing: anything readable is
	 * its end of the connection (EOF or a reset) */
	struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
	int k;
	do
		k = poll(&p, 1, 0);
	while (k < 0 && errno == EINTR);
	return k == 0;
}

uint64_t mgr_dq_last_code(struct mgr_dq *c)
{
	uint64_t code = c->last_code;
	c->last_code = 0;
	return code;
}

const char *mgr_dq_address(const struct mgr_dq *c)
{
	return c->address;
}

int mgr_dq_leader(struct mgr_dq *c, uint64_t *id, char **address, struct vs_err *err)
{
	struct wbuf b = { 0 };
	wb_u64(&b, 0);
	struct rbuf r;
	int rc = roundtrip(c, REQ_LEADER, &b, RES_SERVER, &r, err);
	if (rc < 0)
		return rc;
	*id = rb_u64(&r);
	const char *a = rb_text(&r);
	bool bad = r.bad;
	*address = bad ? NULL : strdup(a);
	free((void *)r.p);
	if (bad)
		return vs_errf(err, EPROTO, "dqlite %s: malformed LEADER response", c->address);
	return *address ? 0 : vs_errf(err, ENOMEM, "out of memory");
}

int mgr_dq_connect(const char *const *addrs, size_t n, int timeout_ms, struct mgr_dq **out,
		   struct vs_err *err)
{
	*out = NULL;
	int64_t deadline = now_ms() + timeout_ms;
	int per = timeout_ms < 2000 ? timeout_ms : 2000;
	char last[VS_ERR_MSG_MAX] = "no cluster address";
	for (;;) {
		for (size_t i = 0; i < n; i++) {
			struct vs_err e = VS_ERR_INIT;
			struct mgr_dq *c;
			if (mgr_dq_connect_one(addrs[i], per, &c, &e) < 0) {
				snprintf(last, sizeof(last), "%s", e.msg);
				continue;
			}
			uint64_t id;
			char *leader = NULL;
			if (mgr_dq_leader(c, &id, &leader, &e) < 0) {
				snprintf(last, sizeof(last), "%s", e.msg);
				mgr_dq_close(c);
				continue;
			}
			if (!leader[0]) {
				snprintf(last, sizeof(last), "dqlite %s: no leader known",
					 addrs[i]);
				free(leader);
				mgr_dq_close(c);
				continue;
			}
			if (strcmp(leader, addrs[i]) == 0) {
				free(leader);
				mgr_dq_set_timeout(c, timeout_ms);
				*out = c;
				return 0;
			}
			mgr_dq_close(c);
			/* ask the leader itself: it must agree it leads */
			if (mgr_dq_connect_one(leader, per, &c, &e) == 0) {
				uint64_t id2;
				char *l2 = NULL;
				if (mgr_dq_leader(c, &id2, &l2, &e) == 0 &&
				    strcmp(l2, leader) == 0) {
					free(l2);
					free(leader);
					mgr_dq_set_timeout(c, timeout_ms);
					*out = c;
					return 0;
				}
				free(l2);
				mgr_dq_close(c);
			}
			snprintf(last, sizeof(last), "%s", e.msg[0] ? e.msg : "leader moved");
			free(leader);
		}
		if (now_ms() >= deadline)
			break;
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return vs_errf(err, ENOTCONN, "no dqlite leader reachable (last: %s)", last);
}

/* ---- databases ---- */

int mgr_dq_open(struct mgr_dq *c, const char *name, struct vs_err *err)
{
	struct wbuf b = { 0 };
	wb_text(&b, name);
	wb_u64(&b, 0);
	wb_text(&b, "volatile");
	struct rbuf r;
	int rc = roundtrip(c, REQ_OPEN, &b, RES_DB, &r, err);
	if (rc < 0)
		return rc;
	c->db = (uint32_t)rb_u64(&r);
	c->have_db = true;
	free((void *)r.p);
	return 0;
}

int mgr_dq_exec(struct mgr_dq *c, const char *sql, const struct mgr_dq_value *params, size_t np,
		uint64_t *last_id, uint64_t *changes, struct vs_err *err)
{
	if (!c->have_db)
		return vs_errf(err, EINVAL, "dqlite: no database open");
	if (np > 255)
		return vs_errf(err, EINVAL, "dqlite: too many parameters");
	struct wbuf b = { 0 };
	wb_u64(&b, c->db);
	wb_text(&b, sql);
	if (np)
		wb_params(&b, params, np);
	struct rbuf r;
	int rc = roundtrip(c, REQ_EXEC_SQL, &b, RES_RESULT, &r, err);
	if (rc < 0)
		return rc;
	uint64_t li = rb_u64(&r), ch = rb_u64(&r);
	free((void *)r.p);
	if (last_id)
		*last_id = li;
	if (changes)
		*changes = ch;
	return 0;
}

void mgr_dq_rows_free(struct mgr_dq_rows *r)
{
	if (!r->v)
		return;
	for (size_t i = 0; i < r->nrows * r->ncols; i++)
		free(r->v[i].s);
	free(r->v);
	r->v = NULL;
	r->nrows = 0;
}

/* The rows of one ROWS message appended to out; *more when PART ended it. */
static int parse_rows(struct mgr_dq *c, struct rbuf *r, struct mgr_dq_rows *out, bool *more,
		      size_t *cap, struct vs_err *err)
{
	uint64_t ncols = rb_u64(r);
	if (r->bad || ncols > 4096)
		return vs_errf(err, EPROTO, "dqlite %s: malformed ROWS", c->address);
	for (uint64_t k = 0; k < ncols; k++)
		rb_text(r);
	out->ncols = ncols;
	*more = false;
	for (;;) {
		uint64_t w = rb_peek(r);
		if (r->bad)
			break;
		if (w == ROWS_DONE || w == ROWS_PART) {
			*more = w == ROWS_PART;
			return 0;
		}
		size_t hdr = ((ncols + 15) / 16) * 8;
		if (r->off + hdr > r->len)
			break;
		const uint8_t *types = r->p + r->off;
		r->off += hdr;
		if (out->nrows + 1 > *cap) {
			size_t nc = *cap ? *cap * 2 : 16;
			struct mgr_dq_value *nv = realloc(out->v, nc * ncols * sizeof(*nv) + 1);
			if (!nv)
				return vs_errf(err, ENOMEM, "out of memory");
			out->v = nv;
			*cap = nc;
		}
		struct mgr_dq_value *row = out->v + out->nrows * ncols;
		memset(row, 0, ncols * sizeof(*row));
		out->nrows++;
		for (uint64_t k = 0; k < ncols; k++) {
			int t = (types[k / 2] >> (4 * (k % 2))) & 0xf;
			struct mgr_dq_value *v = &row[k];
			switch (t) {
			case MGR_DQ_INTEGER:
			case 9:	 /* UNIXTIME */
			case 11: /* BOOLEAN */
				v->type = MGR_DQ_INTEGER;
				v->i = (int64_t)rb_u64(r);
				break;
			case MGR_DQ_FLOAT: {
				uint64_t u = rb_u64(r);
				v->type = MGR_DQ_FLOAT;
				memcpy(&v->f, &u, 8);
				break;
			}
			case MGR_DQ_TEXT:
			case 10: /* ISO8601 */
				v->type = MGR_DQ_TEXT;
				v->s = strdup(rb_text(r));
				if (!v->s)
					return vs_errf(err, ENOMEM, "out of memory");
				break;
			case MGR_DQ_BLOB: {
				uint64_t len = rb_u64(r);
				if (len > r->len - r->off) {
					r->bad = true;
					break;
				}
				v->type = MGR_DQ_BLOB;
				v->s = malloc(len + 1);
				if (!v->s)
					return vs_errf(err, ENOMEM, "out of memory");
				memcpy(v->s, r->p + r->off, len);
				v->s[len] = 0;
				r->off += (len + 7) & ~(uint64_t)7;
				break;
			}
			case MGR_DQ_NULL:
				v->type = MGR_DQ_NULL;
				rb_u64(r);
				break;
			default: r->bad = true; break;
			}
			if (r->bad)
				break;
		}
		if (r->bad)
			break;
	}
	return vs_errf(err, EPROTO, "dqlite %s: malformed ROWS", c->address);
}

int mgr_dq_query(struct mgr_dq *c, const char *sql, const struct mgr_dq_value *params, size_t np,
		 struct mgr_dq_rows *out, struct vs_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!c->have_db)
		return vs_errf(err, EINVAL, "dqlite: no database open");
	if (np > 255)
		return vs_errf(err, EINVAL, "dqlite: too many parameters");
	struct wbuf b = { 0 };
	wb_u64(&b, c->db);
	wb_text(&b, sql);
	if (np)
		wb_params(&b, params, np);
	struct rbuf r;
	int rc = roundtrip(c, REQ_QUERY_SQL, &b, RES_ROWS, &r, err);
	size_t cap = 0;
	while (rc == 0) {
		bool more = false;
		rc = parse_rows(c, &r, out, &more, &cap, err);
		free((void *)r.p);
		if (rc < 0 || !more)
			break;
		uint8_t type;
		rc = recv_msg(c, &type, &r, err);
		if (rc == 0 && type != RES_ROWS) {
			rc = type == RES_FAILURE ? failure(c, &r, err)
						 : vs_errf(err, EPROTO, "dqlite: expected ROWS");
			free((void *)r.p);
		}
	}
	if (rc < 0)
		mgr_dq_rows_free(out);
	return rc;
}

/* ---- membership ---- */

int mgr_dq_add(struct mgr_dq *c, uint64_t id, const char *address, struct vs_err *err)
{
	struct wbuf b = { 0 };
	wb_u64(&b, id);
	wb_text(&b, address);
	struct rbuf r;
	int rc = roundtrip(c, REQ_ADD, &b, RES_EMPTY, &r, err);
	if (rc == 0)
		free((void *)r.p);
	return rc;
}

int mgr_dq_assign(struct mgr_dq *c, uint64_t id, uint64_t role, struct vs_err *err)
{
	struct wbuf b = { 0 };
	wb_u64(&b, id);
	wb_u64(&b, role);
	struct rbuf r;
	int rc = roundtrip(c, REQ_ASSIGN, &b, RES_EMPTY, &r, err);
	if (rc == 0)
		free((void *)r.p);
	return rc;
}

int mgr_dq_remove(struct mgr_dq *c, uint64_t id, struct vs_err *err)
{
	struct wbuf b = { 0 };
	wb_u64(&b, id);
	struct rbuf r;
	int rc = roundtrip(c, REQ_REMOVE, &b, RES_EMPTY, &r, err);
	if (rc == 0)
		free((void *)r.p);
	return rc;
}

void mgr_dq_servers_free(struct mgr_dq_server *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i].address);
	free(s);
}

int mgr_dq_cluster(struct mgr_dq *c, struct mgr_dq_server **out, size_t *n, struct vs_err *err)
{
	*out = NULL;
	*n = 0;
	struct wbuf b = { 0 };
	wb_u64(&b, 1); /* format 1: with roles */
	struct rbuf r;
	int rc = roundtrip(c, REQ_CLUSTER, &b, RES_SERVERS, &r, err);
	if (rc < 0)
		return rc;
	uint64_t cnt = rb_u64(&r);
	if (cnt > 1024) {
		free((void *)r.p);
		return vs_errf(err, EPROTO, "dqlite %s: malformed SERVERS", c->address);
	}
	struct mgr_dq_server *s = calloc(cnt + 1, sizeof(*s));
	if (!s) {
		free((void *)r.p);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	for (uint64_t i = 0; i < cnt; i++) {
		s[i].id = rb_u64(&r);
		s[i].address = strdup(rb_text(&r));
		s[i].role = rb_u64(&r);
	}
	bool bad = r.bad;
	free((void *)r.p);
	if (bad) {
		mgr_dq_servers_free(s, cnt);
		return vs_errf(err, EPROTO, "dqlite %s: malformed SERVERS", c->address);
	}
	*out = s;
	*n = cnt;
	return 0;
}
