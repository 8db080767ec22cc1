/*
 * store.h - the manager's SQL statements, on either of its two database
 * engines: the host's SQLite file or the cluster's dqlite database
 * (Raft-replicated SQLite, reached through dqlite_client.h).
 *
 * The calls mirror sqlite3's (prepare, bind, step, column, reset,
 * finalize, exec, changes, last insert id) and keep its result codes
 * (SQLITE_OK, SQLITE_ROW, SQLITE_DONE, SQLITE_CONSTRAINT, ...), which
 * dqlite carries on the wire as well, so code written against sqlite3
 * converts mechanically.  mgr_store_error() turns a code into the house
 * error (a negative errno and a message): a constraint is EEXIST, a busy
 * database EBUSY, a cluster without a reachable leader ENOTCONN, a
 * leader change inside a transaction EAGAIN.
 *
 * On dqlite a statement is its SQL text and bound values.  The first
 * step of a query (SELECT, WITH, PRAGMA, VALUES, EXPLAIN) sends it once
 * and iterates the buffered rows; any other statement is executed by the
 * first step (SQLITE_DONE) and records changes and the last insert id.
 * Outside a transaction a statement is retried on the new leader when
 * leadership moved before it ran (a read always, a write only when dqlite
 * says this node was not the leader, i.e. it did not run) and while the
 * database is busy; inside one the transaction is lost with the leader,
 * and every statement fails until mgr_store_rollback().
 *
 * Not thread-safe: one caller at a time (db.c's lock).  Bound text must
 * stay valid until the statement's next step (SQLITE_STATIC semantics).
 */
#ifndef VESSEL_MGR_STORE_H
#define VESSEL_MGR_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/core/err.h"

struct mgr_store;
struct mgr_stmt;

/* Open (creating) the SQLite file PATH. */
int mgr_store_open_sqlite(const char *path, struct mgr_store **out, struct vs_err *err);
/* Connect to the leader of the dqlite cluster among addrs[] ("HOST:PORT")
 * and open (creating) database NAME on it; timeout_ms bounds each search
 * for a leader (this one and every reconnection). */
int mgr_store_open_dqlite(const char *const *addrs, size_t n, const char *name, int timeout_ms,
			  struct mgr_store **out, struct vs_err *err);
/* The addresses a dqlite store reconnects to from now on (membership
 * changed); 0 or a negative errno. */
int mgr_store_set_peers(struct mgr_store *s, const char *const *addrs, size_t n,
			struct vs_err *err);
void mgr_store_close(struct mgr_store *s);

bool mgr_store_is_dqlite(const struct mgr_store *s);
/* The SQLite connection of a local store (NULL on dqlite): for tests that
 * trace statements, never for queries. */
sqlite3 *mgr_store_sqlite(struct mgr_store *s);

/* Run SQL (several statements allowed) without results. */
int mgr_store_exec(struct mgr_store *s, const char *sql);
/* A write transaction (BEGIN IMMEDIATE on SQLite, BEGIN on dqlite, whose
 * leader serialises writers itself). */
int mgr_store_begin(struct mgr_store *s);
int mgr_store_commit(struct mgr_store *s);
/* Always leaves the store outside a transaction (also after a lost one). */
void mgr_store_rollback(struct mgr_store *s);
/* Rows changed and the rowid inserted by the last write. */
int64_t mgr_store_changes(struct mgr_store *s);
int64_t mgr_store_last_insert_id(struct mgr_store *s);
/* The message of the last failure. */
const char *mgr_store_errmsg(struct mgr_store *s);
/* The last failure's code (rc) as an error: "database: WHAT: message". */
int mgr_store_error(struct mgr_store *s, int rc, const char *what, struct vs_err *err);

/* Statements.  persistent: kept for many runs (a hint to SQLite). */
int mgr_stmt_prepare(struct mgr_store *s, const char *sql, bool persistent, struct mgr_stmt **out);
/* Parameters are numbered from 1, as in sqlite3. */
int mgr_stmt_bind_int64(struct mgr_stmt *st, int i, int64_t v);
int mgr_stmt_bind_int(struct mgr_stmt *st, int i, int v);
int mgr_stmt_bind_double(struct mgr_stmt *st, int i, double v);
int mgr_stmt_bind_text(struct mgr_stmt *st, int i, const char *v); /* NULL binds NULL */
int mgr_stmt_bind_null(struct mgr_stmt *st, int i);
/* SQLITE_ROW, SQLITE_DONE or a failure code. */
int mgr_stmt_step(struct mgr_stmt *st);
/* Columns of the current row, numbered from 0, converted as sqlite3 does;
 * text is valid until the next step, reset or finalize. */
int mgr_stmt_column_count(struct mgr_stmt *st);
int mgr_stmt_column_type(struct mgr_stmt *st, int k); /* SQLITE_INTEGER ... SQLITE_NULL */
int64_t mgr_stmt_column_int64(struct mgr_stmt *st, int k);
int mgr_stmt_column_int(struct mgr_stmt *st, int k);
double mgr_stmt_column_double(struct mgr_stmt *st, int k);
const char *mgr_stmt_column_text(struct mgr_stmt *st, int k); /* NULL for NULL */
int mgr_stmt_column_bytes(struct mgr_stmt *st, int k);
/* Ready to run again with the same bindings. */
int mgr_stmt_reset(struct mgr_stmt *st);
void mgr_stmt_clear_bindings(struct mgr_stmt *st);
void mgr_stmt_finalize(struct mgr_stmt *st);

#endif
