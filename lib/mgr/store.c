/*
 * store.c - SQL statements on SQLite or dqlite (see vessel/mgr/store.h).
 *
 * Two back ends behind the same calls.  The local one is a thin veneer
 * over sqlite3 (the same calls, the same codes: no behaviour change for a
 * single host).  The dqlite one runs each statement on the cluster's
 * leader through dqlite_client.c: prepare only keeps the SQL, binds fill
 * a parameter array, and the first step sends the statement (QUERY_SQL
 * for a statement that returns rows, EXEC_SQL otherwise), buffering a
 * query's rows for the following steps and converting column values the
 * way sqlite3_column_* would.
 *
 * Failures of the dqlite back end keep SQLite's code when the leader
 * answered one (a constraint, a busy database) and otherwise report
 * SQLITE_IOERR with the client's errno (ENOTCONN: no leader reachable,
 * ETIMEDOUT, ECONNRESET, ...), which mgr_store_error() gives back.
 * Leader changes: the connection is dropped and the next statement finds
 * the new leader.  Retrying is safe for a statement that never ran (no
 * connection, or "not leader": dqlite checks leadership before running)
 * and for a read; a write that may have run ("leadership lost", a reset
 * connection after sending) is reported, never repeated.  Inside a
 * transaction nothing is retried: the leader's connection held it, so it
 * is lost, and every statement fails with EAGAIN until the rollback.
 * Another connection's write transaction (another member's, or this
 * member's reports) makes a write busy (SQLITE_BUSY, "database is
 * locked"): a single statement is retried with backoff for up to
 * BUSY_RETRY_MS, and a transaction begins IMMEDIATE, so that it meets the
 * lock at its BEGIN, retried the same way, for every caller alike.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "vessel/mgr/dqlite_client.h"
#include "vessel/mgr/store.h"

/* SQLite's extended codes dqlite answers when leadership moved. */
#define CODE_NOT_LEADER	     (SQLITE_IOERR | (40 << 8))
#define CODE_LEADERSHIP_LOST (SQLITE_IOERR | (41 << 8))
#define BUSY_RETRY_MS	     10000 /* as the local busy timeout */
#define CONV_MAX	     32	   /* a number as text */

enum store_kind { STORE_SQLITE, STORE_DQLITE };

struct mgr_store {
	enum store_kind kind;
	sqlite3 *conn; /* SQLITE */
	/* DQLITE */
	struct mgr_dq *dq; /* to the leader, NULL until needed */
	char **addrs;
	size_t naddrs;
	char *name;
	int timeout_ms;
	bool in_tx, tx_lost;
	int64_t changes, last_id;
	int last_errno; /* of the last failure, 0 when SQLite's code says it */
	char msg[VS_ERR_MSG_MAX];
};

struct mgr_stmt {
	struct mgr_store *s;
	sqlite3_stmt *st; /* SQLITE */
	/* DQLITE */
	char *sql;
	bool query, ran;
	struct mgr_dq_value *params;
	size_t nparams;
	struct mgr_dq_rows rows;
	size_t next;		/* the row the next step returns */
	bool have_row;		/* rows' row next - 1 is current */
	char (*conv)[CONV_MAX]; /* per column: a number as text */
};

/* ---- errors ---- */

static int dq_fail(struct mgr_store *s, int rc, int errnum, const char *msg)
{
	s->last_errno = errnum;
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
	return rc;
}

const char *mgr_store_errmsg(struct mgr_store *s)
{
	if (s->kind == STORE_SQLITE)
		return sqlite3_errmsg(s->conn);
	return s->msg;
}

int mgr_store_error(struct mgr_store *s, int rc, const char *what, struct vs_err *err)
{
	int code = EIO;
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		code = EEXIST;
	else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		code = EBUSY;
	else if ((rc & 0xff) == SQLITE_NOMEM)
		code = ENOMEM;
	else if (s && s->kind == STORE_DQLITE && s->last_errno)
		code = s->last_errno;
	return vs_errf(err, code, "database: %s: %s", what,
		       s ? mgr_store_errmsg(s) : sqlite3_errstr(rc));
}

/* ---- opening ---- */

int mgr_store_open_sqlite(const char *path, struct mgr_store **out, struct vs_err *err)
{
	*out = NULL;
	struct mgr_store *s = calloc(1, sizeof(*s));
	if (!s)
		return vs_errf(err, ENOMEM, "out of memory");
	s->kind = STORE_SQLITE;
	int rc = sqlite3_open_v2(path, &s->conn,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		int r = vs_errf(err, EIO, "open database %s: %s", path,
				s->conn ? sqlite3_errmsg(s->conn) : sqlite3_errstr(rc));
		mgr_store_close(s);
		return r;
	}
	sqlite3_busy_timeout(s->conn, BUSY_RETRY_MS);
	sqlite3_extended_result_codes(s->conn, 1);
	*out = s;
	return 0;
}

static void free_addrs(struct mgr_store *s)
{
	for (size_t i = 0; i < s->naddrs; i++)
		free(s->addrs[i]);
	free(s->addrs);
	s->addrs = NULL;
	s->naddrs = 0;
}

int mgr_store_set_peers(struct mgr_store *s, const char *const *addrs, size_t n, struct vs_err *err)
{
	if (s->kind != STORE_DQLITE)
		return vs_errf(err, EINVAL, "not a dqlite store");
	if (n == 0)
		return vs_errf(err, EINVAL, "dqlite store: no addresses");
	char **a = calloc(n, sizeof(*a));
	if (!a)
		return vs_errf(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (!(a[i] = strdup(addrs[i]))) {
			while (i--)
				free(a[i]);
			free(a);
			return vs_errf(err, ENOMEM, "out of memory");
		}
	free_addrs(s);
	s->addrs = a;
	s->naddrs = n;
	return 0;
}

static void dq_disconnect(struct mgr_store *s)
{
	mgr_dq_close(s->dq);
	s->dq = NULL;
}

/* A connection to the leader with the database open; foreign keys are a
 * property of the connection, set on each new one. */
static int dq_connect(struct mgr_store *s, struct vs_err *err)
{
	if (s->dq && !mgr_dq_alive(s->dq)) {
		/* the leader closed it (stopped, or stepped down): nothing
		 * was sent, so whatever comes next is safe to send elsewhere,
		 * but a transaction there is gone */
		dq_disconnect(s);
		if (s->in_tx) {
			s->tx_lost = true;
			return vs_errf(err, EAGAIN,
				       "the transaction was lost with the cluster's leader");
		}
	}
	if (s->dq)
		return 0;
	struct mgr_dq *q;
	int r = mgr_dq_connect((const char *const *)s->addrs, s->naddrs, s->timeout_ms, &q, err);
	if (r < 0)
		return r;
	if ((r = mgr_dq_open(q, s->name, err)) == 0)
		r = mgr_dq_exec(q, "PRAGMA foreign_keys = ON", NULL, 0, NULL, NULL, err);
	if (r < 0) {
		mgr_dq_close(q);
		return r;
	}
	s->dq = q;
	return 0;
}

int mgr_store_open_dqlite(const char *const *addrs, size_t n, const char *name, int timeout_ms,
			  struct mgr_store **out, struct vs_err *err)
{
	*out = NULL;
	struct mgr_store *s = calloc(1, sizeof(*s));
	if (!s)
		return vs_errf(err, ENOMEM, "out of memory");
	s->kind = STORE_DQLITE;
	s->timeout_ms = timeout_ms;
	int r = (s->name = strdup(name)) ? 0 : vs_errf(err, ENOMEM, "out of memory");
	if (r == 0)
		r = mgr_store_set_peers(s, addrs, n, err);
	if (r == 0)
		r = dq_connect(s, err);
	if (r < 0) {
		mgr_store_close(s);
		return r;
	}
	*out = s;
	return 0;
}

void mgr_store_close(struct mgr_store *s)
{
	if (!s)
		return;
	if (s->conn)
		sqlite3_close_v2(s->conn);
	dq_disconnect(s);
	free_addrs(s);
	free(s->name);
	free(s);
}

bool mgr_store_is_dqlite(const struct mgr_store *s)
{
	return s->kind == STORE_DQLITE;
}

sqlite3 *mgr_store_sqlite(struct mgr_store *s)
{
	return s->kind == STORE_SQLITE ? s->conn : NULL;
}

/* ---- running a statement on dqlite ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool transport_errno(int e)
{
	return e == EAGAIN || e == ENOTCONN || e == ECONNRESET || e == ECONNREFUSED || e == EPIPE ||
	       e == ETIMEDOUT || e == EPROTO || e == EHOSTUNREACH;
}

/* Run sql once on the leader: a query into rows (when rows), else a write.
 * Returns SQLITE_OK or the failure's code (recorded in s). */
static int dq_run(struct mgr_store *s, const char *sql, const struct mgr_dq_value *params,
		  size_t np, struct mgr_dq_rows *rows)
{
	if (s->tx_lost)
		return dq_fail(s, CODE_LEADERSHIP_LOST, EAGAIN,
			       "the transaction was lost with the cluster's leader");
	int64_t deadline = 0; /* of retrying, from the first retry (not counting
			       * the leader search of the first attempt) */
	for (int delay = 1;; delay = delay < 100 ? delay * 2 : 100) {
		struct vs_err e = VS_ERR_INIT;
		bool sent = false;
		int r = dq_connect(s, &e);
		if (r == 0) {
			sent = true;
			uint64_t li = 0, ch = 0;
			r = rows ? mgr_dq_query(s->dq, sql, params, np, rows, &e)
				 : mgr_dq_exec(s->dq, sql, params, np, &li, &ch, &e);
			if (r == 0) {
				if (!rows) {
					s->changes = (int64_t)ch;
					s->last_id = (int64_t)li;
				}
				s->last_errno = 0;
				return SQLITE_OK;
			}
		}
		int code = sent ? (int)mgr_dq_last_code(s->dq) : 0;
		bool moved = !code ? transport_errno(-r)
				   : code == CODE_NOT_LEADER || code == CODE_LEADERSHIP_LOST;
		if (moved)
			dq_disconnect(s);
		if (!code)
			code = r == -ENOMEM ? SQLITE_NOMEM : SQLITE_IOERR;
		if (s->in_tx) {
			if (moved)
				s->tx_lost = true;
			return dq_fail(s, code, -r, e.msg);
		}
		bool busy = (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED;
		/* never ran: no connection (dq_connect already waited its
		 * timeout for a leader: not again), or not the leader */
		bool retry = busy || code == CODE_NOT_LEADER || (sent && moved && rows);
		if (retry && !deadline)
			deadline = now_ms() + BUSY_RETRY_MS;
		if (!retry || now_ms() >= deadline)
			return dq_fail(s, code, -r, e.msg);
		struct timespec ts = { 0, (long)delay * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/* ---- connection-wide calls ---- */

int mgr_store_exec(struct mgr_store *s, const char *sql)
{
	if (s->kind == STORE_SQLITE)
		return sqlite3_exec(s->conn, sql, NULL, NULL, NULL);
	return dq_run(s, sql, NULL, 0, NULL);
}

int mgr_store_begin(struct mgr_store *s)
{
	if (s->kind == STORE_SQLITE)
		return sqlite3_exec(s->conn, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (s->in_tx)
		return dq_fail(s, SQLITE_ERROR, EBUSY, "a transaction is already open");
	/* IMMEDIATE: the write lock taken here, where a busy database is
	 * retried (dq_run, up to BUSY_RETRY_MS), not at the transaction's
	 * first write, where nothing can be retried */
	int rc = dq_run(s, "BEGIN IMMEDIATE", NULL, 0, NULL);
	if (rc == SQLITE_OK)
		s->in_tx = true;
	return rc;
}

int mgr_store_commit(struct mgr_store *s)
{
	if (s->kind == STORE_SQLITE)
		return sqlite3_exec(s->conn, "COMMIT", NULL, NULL, NULL);
	int rc = dq_run(s, "COMMIT", NULL, 0, NULL);
	if (rc == SQLITE_OK)
		s->in_tx = false;
	return rc;
}

void mgr_store_rollback(struct mgr_store *s)
{
	if (s->kind == STORE_SQLITE) {
		sqlite3_exec(s->conn, "ROLLBACK", NULL, NULL, NULL);
		return;
	}
	if (s->in_tx && !s->tx_lost && s->dq) {
		struct vs_err e = VS_ERR_INIT;
		if (mgr_dq_exec(s->dq, "ROLLBACK", NULL, 0, NULL, NULL, &e) < 0 &&
		    transport_errno(e.code))
			dq_disconnect(s);
	}
	s->in_tx = s->tx_lost = false;
}

int64_t mgr_store_changes(struct mgr_store *s)
{
	return s->kind == STORE_SQLITE ? sqlite3_changes(s->conn) : s->changes;
}

int64_t mgr_store_last_insert_id(struct mgr_store *s)
{
	return s->kind == STORE_SQLITE ? sqlite3_last_insert_rowid(s->conn) : s->last_id;
}

/* ---- statements ---- */

/* Does sql return rows?  By its first keyword, as dqlite needs to know
 * before sending it. */
static bool returns_rows(const char *sql)
{
	static const char *const kw[] = { "SELECT", "WITH", "PRAGMA", "VALUES", "EXPLAIN" };
	while (isspace((unsigned char)*sql) || *sql == '(')
		sql++;
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
		size_t n = strlen(kw[i]);
		if (strncasecmp(sql, kw[i], n) == 0 && !isalnum((unsigned char)sql[n]) &&
		    sql[n] != '_')
			return true;
	}
	return false;
}

int mgr_stmt_prepare(struct mgr_store *s, const char *sql, bool persistent, struct mgr_stmt **out)
{
	*out = NULL;
	struct mgr_stmt *st = calloc(1, sizeof(*st));
	if (!st)
		return SQLITE_NOMEM;
	st->s = s;
	if (s->kind == STORE_SQLITE) {
		int rc = sqlite3_prepare_v3(
		    s->conn, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, &st->st, NULL);
		if (rc != SQLITE_OK) {
			free(st);
			return rc;
		}
	} else {
		if (!(st->sql = strdup(sql))) {
			free(st);
			return dq_fail(s, SQLITE_NOMEM, ENOMEM, "out of memory");
		}
		st->query = returns_rows(sql);
	}
	*out = st;
	return SQLITE_OK;
}

/* The parameter slot i (from 1) of a dqlite statement, growing the array
 * with NULLs; NULL when i is out of range, the statement already ran
 * (sqlite3: misuse without a reset) or memory ran out. */
static struct mgr_dq_value *param(struct mgr_stmt *st, int i, int *rc)
{
	*rc = SQLITE_OK;
	if (st->ran) {
		*rc = SQLITE_MISUSE;
		return NULL;
	}
	if (i < 1 || i > 255) {
		*rc = SQLITE_RANGE;
		return NULL;
	}
	if ((size_t)i > st->nparams) {
		struct mgr_dq_value *np = realloc(st->params, (size_t)i * sizeof(*np));
		if (!np) {
			*rc = SQLITE_NOMEM;
			return NULL;
		}
		for (size_t k = st->nparams; k < (size_t)i; k++)
			np[k] = (struct mgr_dq_value){ .type = MGR_DQ_NULL };
		st->params = np;
		st->nparams = (size_t)i;
	}
	return &st->params[i - 1];
}

int mgr_stmt_bind_int64(struct mgr_stmt *st, int i, int64_t v)
{
	if (st->st)
		return sqlite3_bind_int64(st->st, i, v);
	int rc;
	struct mgr_dq_value *p = param(st, i, &rc);
	if (p)
		*p = (struct mgr_dq_value){ .type = MGR_DQ_INTEGER, .i = v };
	return rc;
}

int mgr_stmt_bind_int(struct mgr_stmt *st, int i, int v)
{
	return st->st ? sqlite3_bind_int(st->st, i, v) : mgr_stmt_bind_int64(st, i, v);
}

int mgr_stmt_bind_double(struct mgr_stmt *st, int i, double v)
{
	if (st->st)
		return sqlite3_bind_double(st->st, i, v);
	int rc;
	struct mgr_dq_value *p = param(st, i, &rc);
	if (p)
		*p = (struct mgr_dq_value){ .type = MGR_DQ_FLOAT, .f = v };
	return rc;
}

int mgr_stmt_bind_text(struct mgr_stmt *st, int i, const char *v)
{
	if (st->st)
		return sqlite3_bind_text(st->st, i, v, -1, SQLITE_STATIC);
	int rc;
	struct mgr_dq_value *p = param(st, i, &rc);
	if (p)
		*p = v ? (struct mgr_dq_value){ .type = MGR_DQ_TEXT, .s = (char *)v }
		       : (struct mgr_dq_value){ .type = MGR_DQ_NULL };
	return rc;
}

int mgr_stmt_bind_null(struct mgr_stmt *st, int i)
{
	if (st->st)
		return sqlite3_bind_null(st->st, i);
	int rc;
	struct mgr_dq_value *p = param(st, i, &rc);
	if (p)
		*p = (struct mgr_dq_value){ .type = MGR_DQ_NULL };
	return rc;
}

int mgr_stmt_step(struct mgr_stmt *st)
{
	if (st->st)
		return sqlite3_step(st->st);
	if (!st->ran) {
		int rc =
		    dq_run(st->s, st->sql, st->params, st->nparams, st->query ? &st->rows : NULL);
		if (rc != SQLITE_OK)
			return rc;
		st->ran = true;
		st->next = 0;
		free(st->conv);
		st->conv = NULL;
		if (st->query && st->rows.ncols &&
		    !(st->conv = calloc(st->rows.ncols, sizeof(*st->conv))))
			return dq_fail(st->s, SQLITE_NOMEM, ENOMEM, "out of memory");
	}
	if (!st->query || st->next >= st->rows.nrows) {
		st->have_row = false;
		return SQLITE_DONE;
	}
	st->next++;
	st->have_row = true;
	return SQLITE_ROW;
}

/* Column k of the current dqlite row, or NULL. */
static const struct mgr_dq_value *cell(struct mgr_stmt *st, int k)
{
	if (!st->have_row || k < 0 || (size_t)k >= st->rows.ncols)
		return NULL;
	return mgr_dq_at(&st->rows, st->next - 1, (size_t)k);
}

int mgr_stmt_column_count(struct mgr_stmt *st)
{
	if (st->st)
		return sqlite3_column_count(st->st);
	return st->ran ? (int)st->rows.ncols : 0;
}

int mgr_stmt_column_type(struct mgr_stmt *st, int k)
{
	if (st->st)
		return sqlite3_column_type(st->st, k);
	const struct mgr_dq_value *v = cell(st, k);
	return v ? (int)v->type : SQLITE_NULL; /* the protocol uses SQLite's codes */
}

int64_t mgr_stmt_column_int64(struct mgr_stmt *st, int k)
{
	if (st->st)
		return sqlite3_column_int64(st->st, k);
	const struct mgr_dq_value *v = cell(st, k);
	if (!v)
		return 0;
	switch (v->type) {
	case MGR_DQ_INTEGER: return v->i;
	case MGR_DQ_FLOAT: return (int64_t)v->f;
	case MGR_DQ_TEXT:
	case MGR_DQ_BLOB: return v->s ? strtoll(v->s, NULL, 10) : 0;
	default: return 0;
	}
}

int mgr_stmt_column_int(struct mgr_stmt *st, int k)
{
	return st->st ? sqlite3_column_int(st->st, k) : (int)mgr_stmt_column_int64(st, k);
}

double mgr_stmt_column_double(struct mgr_stmt *st, int k)
{
	if (st->st)
		return sqlite3_column_double(st->st, k);
	const struct mgr_dq_value *v = cell(st, k);
	if (!v)
		return 0;
	switch (v->type) {
	case MGR_DQ_INTEGER: return (double)v->i;
	case MGR_DQ_FLOAT: return v->f;
	case MGR_DQ_TEXT:
	case MGR_DQ_BLOB: return v->s ? strtod(v->s, NULL) : 0;
	default: return 0;
	}
}

const char *mgr_stmt_column_text(struct mgr_stmt *st, int k)
{
	if (st->st)
		return (const char *)sqlite3_column_text(st->st, k);
	const struct mgr_dq_value *v = cell(st, k);
	if (!v)
		return NULL;
	switch (v->type) {
	case MGR_DQ_TEXT:
	case MGR_DQ_BLOB: return v->s;
	case MGR_DQ_INTEGER:
		snprintf(st->conv[k], CONV_MAX, "%lld", (long long)v->i);
		return st->conv[k];
	case MGR_DQ_FLOAT:
		/* SQLite prints a real with 15 significant digits, always
		 * with a decimal point */
		snprintf(st->conv[k], CONV_MAX, "%.15g", v->f);
		if (!strpbrk(st->conv[k], ".eEn"))
			strncat(st->conv[k], ".0", CONV_MAX - strlen(st->conv[k]) - 1);
		return st->conv[k];
	default: return NULL;
	}
}

int mgr_stmt_column_bytes(struct mgr_stmt *st, int k)
{
	if (st->st)
		return sqlite3_column_bytes(st->st, k);
	const char *t = mgr_stmt_column_text(st, k);
	return t ? (int)strlen(t) : 0;
}

int mgr_stmt_reset(struct mgr_stmt *st)
{
	if (st->st)
		return sqlite3_reset(st->st);
	mgr_dq_rows_free(&st->rows);
	st->rows.ncols = 0;
	st->ran = st->have_row = false;
	st->next = 0;
	return SQLITE_OK;
}

void mgr_stmt_clear_bindings(struct mgr_stmt *st)
{
	if (st->st) {
		sqlite3_clear_bindings(st->st);
		return;
	}
	for (size_t k = 0; k < st->nparams; k++)
		st->params[k] = (struct mgr_dq_value){ .type = MGR_DQ_NULL };
}

void mgr_stmt_finalize(struct mgr_stmt *st)
{
	if (!st)
		return;
	if (st->st)
		sqlite3_finalize(st->st);
	mgr_dq_rows_free(&st->rows);
	free(st->conv);
	free(st->params);
	free(st->sql);
	free(st);
}
