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
 * take mgr_db_lock() around a statement or a transaction.
 */
#ifndef VESSEL_MGR_DB_H
#define VESSEL_MGR_DB_H

#include <sqlite3.h>
#include <stdint.h>

#include "vessel/core/err.h"

struct mgr_db;

/* Open (creating) PATH and migrate it to the newest schema. */
int mgr_db_open(const char *path, struct mgr_db **out, struct vs_err *err);
void mgr_db_close(struct mgr_db *db);

/* The schema version the file is at (after open: mgr_db_schema_latest()). */
int mgr_db_schema_version(struct mgr_db *db, struct vs_err *err);
int mgr_db_schema_latest(void);
/* The SQL of the migration from version FROM to FROM + 1 (the cluster
 * applies the same schema to its dqlite database), or NULL. */
const char *mgr_db_migration(int from);

void mgr_db_lock(struct mgr_db *db);
void mgr_db_unlock(struct mgr_db *db);
/* The connection; only while holding the lock. */
sqlite3 *mgr_db_handle(struct mgr_db *db);

/* Run SQL without results (holding the lock). */
int mgr_db_exec(struct mgr_db *db, const char *sql, struct vs_err *err);
/* Prepare a statement (holding the lock); NULL and err on failure. */
sqlite3_stmt *mgr_db_prepare(struct mgr_db *db, const char *sql, struct vs_err *err);
/* A failed sqlite call as an error: maps SQLITE_CONSTRAINT to EEXIST. */
int mgr_db_err(struct mgr_db *db, int rc, const char *what, struct vs_err *err);

static inline void mgr_db_finalizep(sqlite3_stmt **st)
{
	if (*st)
		sqlite3_finalize(*st);
}
#define mgr_cleanup_stmt __attribute__((cleanup(mgr_db_finalizep)))

/* A statement of a hot path (a listing), prepared once per connection and
 * kept until mgr_db_close (holding the lock); sql must be a string literal:
 * its address is the cache key.  Given back with mgr_cleanup_cached_stmt
 * (reset and unbound, not finalized), before the lock is released. */
sqlite3_stmt *mgr_db_prepare_cached(struct mgr_db *db, const char *sql, struct vs_err *err);

static inline void mgr_db_releasep(sqlite3_stmt **st)
{
	if (*st) {
		sqlite3_reset(*st);
		sqlite3_clear_bindings(*st);
	}
}
#define mgr_cleanup_cached_stmt __attribute__((cleanup(mgr_db_releasep)))

#endif
