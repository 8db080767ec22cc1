/*
 * db.h - the manager's database: one SQLite file under the state directory
 * (default /var/lib/vessel/vessel.db), the truth about instances and images.
 *
 * Opened in WAL mode with foreign keys on; the schema is a list of numbered
 * forward migrations, applied in one transaction each with the version
 * recorded in the `schema` table (as Incus keeps it).  The SQL stays within
 * what dqlite accepts (no PRAGMA user_version, no RETURNING, no
 * sqlite-specific functions in queries), so clustering can swap the engine.
 *
 * One connection, shared by the daemon's threads behind a mutex: callers
 * take mgr_db_lock() around a statement or a transaction.  Statements are
 * store.h's, so the same code runs on the cluster's dqlite database
 * (mgr_db_open_store).
 */
#ifndef VESSEL_MGR_DB_H
#define VESSEL_MGR_DB_H

#include <sqlite3.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/mgr/store.h"

struct mgr_db;

/* Open (creating) PATH and migrate it to the newest schema. */
int mgr_db_open(const char *path, struct mgr_db **out, struct vs_err *err);
/* The same on an open store (the cluster's dqlite database), which the
 * database then owns (closed with it, also when this fails). */
int mgr_db_open_store(struct mgr_store *store, struct mgr_db **out, struct vs_err *err);
void mgr_db_close(struct mgr_db *db);

/* The schema version the file is at (after open: mgr_db_schema_latest()). */
int mgr_db_schema_version(struct mgr_db *db, struct vs_err *err);
int mgr_db_schema_latest(void);
/* The SQL of the migration from version FROM to FROM + 1 (the cluster
 * applies the same schema to its dqlite database), or NULL. */
const char *mgr_db_migration(int from);

void mgr_db_lock(struct mgr_db *db);
void mgr_db_unlock(struct mgr_db *db);
/* The store; only while holding the lock. */
struct mgr_store *mgr_db_store(struct mgr_db *db);
/* The SQLite connection of a local database (NULL on dqlite), for tests
 * that trace statements. */
sqlite3 *mgr_db_handle(struct mgr_db *db);

/* Run SQL without results (holding the lock). */
int mgr_db_exec(struct mgr_db *db, const char *sql, struct vs_err *err);
/* A write transaction (holding the lock throughout). */
int mgr_db_begin(struct mgr_db *db, struct vs_err *err);
int mgr_db_commit(struct mgr_db *db, struct vs_err *err);
void mgr_db_rollback(struct mgr_db *db);
/* Rows changed and the rowid inserted by the last write. */
int64_t mgr_db_changes(struct mgr_db *db);
int64_t mgr_db_last_insert_id(struct mgr_db *db);
/* Prepare a statement (holding the lock); NULL and err on failure. */
struct mgr_stmt *mgr_db_prepare(struct mgr_db *db, const char *sql, struct vs_err *err);
/* A failed statement (its result code) as an error: a constraint is
 * EEXIST, a busy database EBUSY (see mgr_store_error). */
int mgr_db_err(struct mgr_db *db, int rc, const char *what, struct vs_err *err);

static inline void mgr_db_finalizep(struct mgr_stmt **st)
{
	if (*st)
		mgr_stmt_finalize(*st);
}
#define mgr_cleanup_stmt __attribute__((cleanup(mgr_db_finalizep)))

/* A statement of a hot path (a listing), prepared once per connection and
 * kept until mgr_db_close (holding the lock); sql must be a string literal:
 * its address is the cache key.  Given back with mgr_cleanup_cached_stmt
 * (reset and unbound, not finalized), before the lock is released. */
struct mgr_stmt *mgr_db_prepare_cached(struct mgr_db *db, const char *sql, struct vs_err *err);

static inline void mgr_db_releasep(struct mgr_stmt **st)
{
	if (*st) {
		mgr_stmt_reset(*st);
		mgr_stmt_clear_bindings(*st);
	}
}
#define mgr_cleanup_cached_stmt __attribute__((cleanup(mgr_db_releasep)))

#endif
