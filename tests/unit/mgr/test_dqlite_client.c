/*
 * test_dqlite_client.c - lib/mgr's dqlite wire-protocol client against a
 * fake server on loopback (one thread, one connection per test) that
 * answers with scripted, mostly malformed, responses: each must give a
 * precise error (never a crash, hang or leak: the ASan build runs this
 * too), and a well-formed result set with every value type must decode.
 * The real dqlite is exercised end to end by tests/integration/mgr/
 * test_cluster.sh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "vessel/mgr/dqlite_client.h"

struct fake {
	int lfd;
	char addr[64];
	uint8_t reply[4096]; /* sent after each request is read */
	size_t reply_len;
	int delay_ms; /* before answering every request but the first */
	pthread_t thread;
};

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A message: header for `words` body words (may lie), type, body bytes. */
static size_t msg(uint8_t *out, uint32_t words, uint8_t type, const void *body, size_t len)
{
	memset(out, 0, 8);
	out[0] = (uint8_t)words;
	out[1] = (uint8_t)(words >> 8);
	out[2] = (uint8_t)(words >> 16);
	out[3] = (uint8_t)(words >> 24);
	out[4] = type;
	memcpy(out + 8, body, len);
	return 8 + len;
}

static void *serve(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	uint8_t buf[8192];
	/* handshake word, then requests: answer each header+body once */
	ssize_t n = read(fd, buf, 8);
	for (int nreq = 0; n > 0; nreq++) {
		uint8_t hdr[8];
		size_t got = 0;
		while (got < 8 && (n = read(fd, hdr + got, 8 - got)) > 0)
			got += (size_t)n;
		if (got < 8)
			break;
		size_t words = hdr[0] | hdr[1] << 8, body = words * 8, r = 0;
		while (r < body &&
		       (n = read(fd, buf, body - r < sizeof(buf) ? body - r : sizeof(buf))) > 0)
			r += (size_t)n;
		if (nreq && f->delay_ms)
			usleep((useconds_t)f->delay_ms * 1000);
		if (send(fd, f->reply, f->reply_len, MSG_NOSIGNAL) < 0)
			break;
	}
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f, const uint8_t *reply, size_t len)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->reply, reply, len);
	f->reply_len = len;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
}

static void fake_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->lfd);
}

/* Connect and pretend a database is open (OPEN answered with DB id 7). */
static struct mgr_dq *open_db(struct fake *f, struct vs_err *err)
{
	struct mgr_dq *c;
	assert_int_equal(mgr_dq_connect_one(f->addr, 1000, &c, err), 0);
	return c;
}

static void expect_error(const uint8_t *reply, size_t len, int code, const char *pat,
			 int (*call)(struct mgr_dq *, struct vs_err *))
{
	struct fake f;
	fake_start(&f, reply, len);
	struct vs_err err = VS_ERR_INIT;
	struct mgr_dq *c = open_db(&f, &err);
	int r = call(c, &err);
	if (r != -code || !strstr(err.msg, pat))
		fail_msg("got %d (%s), expected -%d with \"%s\"", r, err.msg, code, pat);
	mgr_dq_close(c);
	fake_stop(&f);
}

static int call_leader(struct mgr_dq *c, struct vs_err *err)
{
	uint64_t id;
	char *a = NULL;
	int r = mgr_dq_leader(c, &id, &a, err);
	free(a);
	return r;
}

static int call_open(struct mgr_dq *c, struct vs_err *err)
{
	return mgr_dq_open(c, "x.db", err);
}

static void test_leader_malformed(void **state)
{
	(void)state;
	uint8_t m[64], body[16] = { 0 };
	put64(body, 5); /* id, then a text without its NUL */
	memset(body + 8, 'a', 8);
	size_t n = msg(m, 2, 1 /* SERVER */, body, 16);
	expect_error(m, n, EPROTO, "malformed LEADER", call_leader);
}

static void test_wrong_type(void **state)
{
	(void)state;
	uint8_t m[64], body[8] = { 0 };
	size_t n = msg(m, 1, 99, body, 8);
	expect_error(m, n, EPROTO, "unexpected response type 99", call_open);
}

static void test_huge_length(void **state)
{
	(void)state;
	uint8_t m[16], body[8] = { 0 };
	size_t n = msg(m, 0xffffffffu, 4, body, 0);
	expect_error(m, n, EPROTO, "too large", call_open);
}

static void test_truncated_body(void **state)
{
	(void)state;
	uint8_t m[16], body[8] = { 0 };
	size_t n = msg(m, 3, 4, body, 8); /* says 3 words, sends 1, then nothing */
	expect_error(m, n, ETIMEDOUT, "no answer within 1000 ms", call_open);
}

static void test_failure_codes(void **state)
{
	(void)state;
	uint8_t m[64], body[32] = { 0 };
	put64(body, 10 | (40 << 8)); /* SQLITE_IOERR_NOT_LEADER */
	strcpy((char *)body + 8, "not leader");
	size_t n = msg(m, 3, 0, body, 24);
	expect_error(m, n, EAGAIN, "not leader", call_open);
	put64(body, 19 | (8 << 8)); /* SQLITE_CONSTRAINT_UNIQUE */
	strcpy((char *)body + 8, "UNIQUE failed");
	n = msg(m, 3, 0, body, 24);
	expect_error(m, n, EEXIST, "UNIQUE failed", call_open);
}

/* ROWS needs an open database: OPEN then QUERY on one connection, the
 * fake sends DB then ROWS in one reply to OPEN: OPEN reads DB, QUERY
 * finds the ROWS already waiting. */
static void rows_case(const uint8_t *rows, size_t rows_len, int want, const char *pat,
		      struct mgr_dq_rows *out)
{
	uint8_t script[4096];
	uint8_t dbbody[8] = { 7 };
	size_t n = msg(script, 1, 4, dbbody, 8);
	memcpy(script + n, rows, rows_len);
	n += rows_len;
	/* the fake sends the whole script after OPEN: DB is read by OPEN, the
	 * ROWS stay in the socket for QUERY (whose own reply comes after) */
	struct fake f;
	fake_start(&f, script, n);
	struct vs_err err = VS_ERR_INIT;
	struct mgr_dq *c = open_db(&f, &err);
	assert_int_equal(mgr_dq_open(c, "x.db", &err), 0);
	struct mgr_dq_value p[] = { MGR_DQ_INT(1), MGR_DQ_TEXT("x") };
	int r = mgr_dq_query(c, "SELECT ?, ?", p, 2, out, &err);
	if (r != want || (pat && !strstr(err.msg, pat)))
		fail_msg("query: got %d (%s), expected %d \"%s\"", r, err.msg, want,
			 pat ? pat : "");
	mgr_dq_close(c);
	fake_stop(&f);
}

static void test_rows(void **state)
{
	(void)state;
	uint8_t body[256] = { 0 }, m[300];
	size_t o = 0;
	put64(body + o, 5); /* columns */
	o += 8;
	const char *names[] = { "i", "t", "n", "f", "b" };
	for (int i = 0; i < 5; i++) {
		strcpy((char *)body + o, names[i]);
		o += 8;
	}
	/* row header: 4-bit types, low nibble first: 1 3 | 5 2 | 4 */
	body[o] = 1 | 3 << 4;
	body[o + 1] = 5 | 2 << 4;
	body[o + 2] = 4;
	o += 8;
	put64(body + o, (uint64_t)-42);
	o += 8;
	strcpy((char *)body + o, "hello, dqlite");
	o += 16;
	o += 8; /* NULL */
	double d = 2.5;
	memcpy(body + o, &d, 8);
	o += 8;
	put64(body + o, 3);
	memcpy(body + o + 8, "abc", 3);
	o += 16;
	put64(body + o, 0xffffffffffffffffull); /* DONE */
	o += 8;
	size_t n = msg(m, (uint32_t)(o / 8), 7, body, o);
	struct mgr_dq_rows rows;
	rows_case(m, n, 0, NULL, &rows);
	assert_int_equal(rows.nrows, 1);
	assert_int_equal(rows.ncols, 5);
	assert_int_equal(mgr_dq_at(&rows, 0, 0)->i, -42);
	assert_string_equal(mgr_dq_at(&rows, 0, 1)->s, "hello, dqlite");
	assert_int_equal(mgr_dq_at(&rows, 0, 2)->type, MGR_DQ_NULL);
	assert_true(mgr_dq_at(&rows, 0, 3)->f == 2.5);
	assert_string_equal(mgr_dq_at(&rows, 0, 4)->s, "abc");
	mgr_dq_rows_free(&rows);

	/* the same without its end marker: malformed, nothing leaked */
	n = msg(m, (uint32_t)(o / 8 - 1), 7, body, o - 8);
	rows_case(m, n, -EPROTO, "malformed ROWS", &rows);
	/* a blob longer than the message */
	uint8_t bad[64] = { 0 };
	put64(bad, 1);
	strcpy((char *)bad + 8, "b");
	bad[16] = 4;
	put64(bad + 24, 1u << 30);
	n = msg(m, 5, 7, bad, 40);
	rows_case(m, n, -EPROTO, "malformed ROWS", &rows);
	/* an unknown type code */
	bad[16] = 15;
	n = msg(m, 5, 7, bad, 40);
	rows_case(m, n, -EPROTO, "malformed ROWS", &rows);
}

static void test_connect_refused(void **state)
{
	(void)state;
	struct vs_err err = VS_ERR_INIT;
	struct mgr_dq *c;
	const char *bad[] = { "nonsense", "127.0.0.1:1" };
	assert_int_equal(mgr_dq_connect_one(bad[0], 1000, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "expected HOST:PORT"));
	assert_int_equal(mgr_dq_connect(bad, 2, 300, &c, &err), -ENOTCONN);
	assert_non_null(strstr(err.msg, "no dqlite leader reachable"));
}

/* A SERVER response naming the fake itself: it leads. */
static size_t leader_is_self(uint8_t *m, const struct fake *f)
{
	uint8_t body[80] = { 0 };
	put64(body, 1);
	snprintf((char *)body + 8, sizeof(body) - 8, "%s", f->addr);
	size_t len = 8 + ((strlen(f->addr) + 1 + 7) & ~(size_t)7);
	return msg(m, (uint32_t)(len / 8), 1, body, len);
}

/* The connection mgr_dq_connect finds answers requests within the whole
 * budget, not the 2 s of one dial: a leader answering in 2.5 s is heard
 * with a 6 s budget (a loaded host's ASSIGN failed so); mgr_dq_set_timeout
 * shortens it again. */
static void test_request_timeout(void **state)
{
	(void)state;
	struct fake f;
	fake_start(&f, (const uint8_t *)"", 0);
	f.reply_len = leader_is_self(f.reply, &f);
	f.delay_ms = 2500;
	const char *addrs[] = { f.addr };
	struct vs_err err = VS_ERR_INIT;
	struct mgr_dq *c;
	assert_int_equal(mgr_dq_connect(addrs, 1, 6000, &c, &err), 0);
	if (call_leader(c, &err) < 0)
		fail_msg("a request answered after 2.5 s: %s", err.msg);
	mgr_dq_set_timeout(c, 300);
	assert_int_equal(call_leader(c, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "no answer within 300 ms"));
	mgr_dq_close(c);
	fake_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leader_malformed), cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_huge_length),	 cmocka_unit_test(test_truncated_body),
		cmocka_unit_test(test_failure_codes),	 cmocka_unit_test(test_rows),
		cmocka_unit_test(test_connect_refused),	 cmocka_unit_test(test_request_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
