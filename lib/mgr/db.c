/*
 * db.c - the manager's SQLite database (see vessel/mgr/db.h).
 *
 * Migrations are forward only: migrations[i] takes the schema from version
 * i to i + 1.  Each runs in one IMMEDIATE transaction together with the
 * INSERT of its version into `schema`, so a crash leaves the file at the old
 * or the new version, never between.  A file newer than this program (a
 * version above mgr_db_schema_latest()) is refused rather than guessed at.
 *
 * The statements go through store.h, so the same code and the same
 * migrations run on the host's SQLite file (mgr_db_open) and on the
 * cluster's dqlite database (mgr_db_open_store).
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/mgr/db.h"

struct cached_stmt {
	const char *sql; /* a literal: compared by address */
	struct mgr_stmt *st;
};

struct mgr_db {
	struct mgr_store *store;
	pthread_mutex_t lock;
	struct cached_stmt *cache; /* mgr_db_prepare_cached */
	size_t ncache;
};

/* The schema, one string per version.  Never edit a released entry: add one. */
static const char *const migrations[] = {
	/* 1: images, their layers and aliases; instances and their config */
	"CREATE TABLE images ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  fingerprint TEXT NOT NULL UNIQUE,"
	"  type TEXT NOT NULL CHECK (type IN ('container', 'vm')),"
	"  architecture TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  config TEXT NOT NULL,"
	"  created_at TEXT NOT NULL);"
	"CREATE TABLE image_layers ("
	"  image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL,"
	"  digest TEXT NOT NULL,"
	"  PRIMARY KEY (image_id, position));"
	"CREATE INDEX image_layers_digest ON image_layers (digest);"
	"CREATE TABLE image_aliases ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
	"  description TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE instances ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  type TEXT NOT NULL CHECK (type IN ('container', 'vm')),"
	"  image_id INTEGER REFERENCES images (id) ON DELETE RESTRICT,"
	"  runtime_id TEXT NOT NULL UNIQUE,"
	"  power_state TEXT NOT NULL DEFAULT 'stopped'"
	"    CHECK (power_state IN ('stopped', 'running', 'frozen')),"
	"  created_at TEXT NOT NULL,"
	"  last_used_at TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE instance_config ("
	"  instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  PRIMARY KEY (instance_id, key));",
	/* 2: networks (a bridge each) and the NICs of instances on them */
	"CREATE TABLE networks ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  bridge TEXT NOT NULL UNIQUE,"
	"  subnet TEXT NOT NULL UNIQUE,"
	"  nat INTEGER NOT NULL DEFAULT 1,"
	"  isolated INTEGER NOT NULL DEFAULT 0,"
	"  created_at TEXT NOT NULL);"
	"CREATE TABLE instance_nics ("
	"  instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,"
	"  network_id INTEGER NOT NULL REFERENCES networks (id) ON DELETE RESTRICT,"
	"  name TEXT NOT NULL,"
	"  mac TEXT NOT NULL UNIQUE,"
	"  address TEXT NOT NULL,"
	"  PRIMARY KEY (instance_id, name),"
	"  UNIQUE (network_id, address));",
	/* 3: snapshots of instances */
	"CREATE TABLE instance_snapshots ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  created_at TEXT NOT NULL,"
	"  UNIQUE (instance_id, name));",
	/* 4: the trust store of TLS client certificates */
	"CREATE TABLE certificates ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  fingerprint TEXT NOT NULL UNIQUE,"
	"  name TEXT NOT NULL,"
	"  type TEXT NOT NULL DEFAULT 'client' CHECK (type IN ('client')),"
	"  certificate TEXT NOT NULL,"
	"  created_at TEXT NOT NULL);",
	/* 5: storage volumes (files in the pool directory) and their attachments */
	"CREATE TABLE storage_volumes ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  format TEXT NOT NULL DEFAULT 'raw' CHECK (format IN ('raw')),"
	"  size INTEGER NOT NULL,"
	"  created_at TEXT NOT NULL);"
	"CREATE TABLE instance_volumes ("
	"  volume_id INTEGER NOT NULL UNIQUE REFERENCES storage_volumes (id) ON DELETE RESTRICT,"
	"  instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,"
	"  path TEXT NOT NULL,"
	"  PRIMARY KEY (instance_id, path));",
	/* 6: lifecycle policies (policy.c), expiry (expiry.c), the audit log (audit.c) */
	"CREATE TABLE project_policies ("
	"  project TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  PRIMARY KEY (project, key));"
	"CREATE TABLE instance_expiry ("
	"  instance_id INTEGER PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,"
	"  expires_at TEXT NOT NULL,"
	"  warned INTEGER NOT NULL DEFAULT 0,"
	"  state TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (state IN ('pending', 'acting', 'grace', 'done')),"
	"  action TEXT NOT NULL DEFAULT '',"
	"  action_id INTEGER NOT NULL DEFAULT 0,"
	"  updated_at TEXT NOT NULL);"
	"CREATE TABLE policy_actions ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  instance_id INTEGER NOT NULL,"
	"  instance TEXT NOT NULL,"
	"  reason TEXT NOT NULL CHECK (reason IN ('expired', 'idle')),"
	"  action TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('started', 'done', 'failed')),"
	"  started_at TEXT NOT NULL,"
	"  finished_at TEXT NOT NULL DEFAULT '',"
	"  error TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE instance_power_changes ("
	"  instance_id INTEGER PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,"
	"  changed_at TEXT NOT NULL);"
	"CREATE TRIGGER instance_power_changed AFTER UPDATE OF power_state ON instances"
	"  WHEN OLD.power_state != NEW.power_state BEGIN"
	"  INSERT OR REPLACE INTO instance_power_changes (instance_id, changed_at)"
	"    VALUES (NEW.id, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));"
	"  END;"
	"CREATE TABLE snapshot_restores ("
	"  snapshot_id INTEGER PRIMARY KEY REFERENCES instance_snapshots (id) ON DELETE CASCADE,"
	"  restored_at TEXT NOT NULL);"
	"CREATE TABLE audit_log ("
	"  seq INTEGER PRIMARY KEY,"
	"  time TEXT NOT NULL,"
	"  who TEXT NOT NULL,"
	"  method TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  instance TEXT NOT NULL,"
	"  summary TEXT NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  hash TEXT NOT NULL);"
	"CREATE INDEX audit_log_instance ON audit_log (instance);"
	"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN"
	"  SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN"
	"  SELECT RAISE(ABORT, 'the audit log is append-only'); END;",

	/* 7: clusters: the members (in the cluster's dqlite database; empty in a
	 * single host's file) and where each instance runs */
	"CREATE TABLE cluster_members ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  node_id TEXT NOT NULL UNIQUE,"
	"  address TEXT NOT NULL UNIQUE,"
	"  api_url TEXT NOT NULL,"
	"  certificate TEXT NOT NULL,"
	"  description TEXT NOT NULL DEFAULT '',"
	"  heartbeat INTEGER NOT NULL DEFAULT 0,"
	"  memory_free INTEGER NOT NULL DEFAULT 0,"
	"  cpus INTEGER NOT NULL DEFAULT 0,"
	"  created_at TEXT NOT NULL);"
	"ALTER TABLE instances ADD COLUMN location TEXT NOT NULL DEFAULT ''",

	/* 8: usage history (lib/mgr/usage_store.c): raw rows (resolution 0), 5-minute
	 * and hourly aggregates; rates per second, memory in bytes */
	"CREATE TABLE instance_usage ("
	"  instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,"
	"  resolution INTEGER NOT NULL,"
	"  t INTEGER NOT NULL,"
	"  cpu REAL NOT NULL, cpu_min REAL, cpu_max REAL, cpu_p95 REAL,"
	"  memory INTEGER NOT NULL, memory_min INTEGER, memory_max INTEGER, memory_p95 INTEGER,"
	"  disk_read REAL NOT NULL, disk_write REAL NOT NULL, disk_ops REAL NOT NULL,"
	"  net_rx REAL NOT NULL, net_tx REAL NOT NULL, net_packets REAL NOT NULL,"
	"  throttled REAL NOT NULL, pressure REAL NOT NULL, oom_kills REAL NOT NULL,"
	"  guest_available INTEGER NOT NULL, guest_total INTEGER NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  PRIMARY KEY (instance_id, resolution, t)) WITHOUT ROWID;",

	/* 9: storage volume snapshots (volume_snapshot.c): a row once the
	 * snapshot's file is in place; the volume's delete takes them along */
	"CREATE TABLE volume_snapshots ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  volume_id INTEGER NOT NULL REFERENCES storage_volumes (id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  created_at TEXT NOT NULL,"
	"  UNIQUE (volume_id, name));",

	/* qcow2 storage volumes: SQLite cannot alter a CHECK, so storage_volumes
	 * is rebuilt, and with it the two tables that reference it (foreign keys
	 * stay on inside the migration's transaction: the new tables reference
	 * each other, the old ones are dropped children first, the renames
	 * update the references), ids and AUTOINCREMENT counters kept */
	"CREATE TABLE storage_volumes_new ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  format TEXT NOT NULL DEFAULT 'raw' CHECK (format IN ('raw', 'qcow2')),"
	"  size INTEGER NOT NULL,"
	"  created_at TEXT NOT NULL);"
	"INSERT INTO storage_volumes_new (id, name, format, size, created_at)"
	"  SELECT id, name, format, size, created_at FROM storage_volumes;"
	"CREATE TABLE instance_volumes_new ("
	"  volume_id INTEGER NOT NULL UNIQUE REFERENCES storage_volumes_new (id) "
	"    ON DELETE RESTRICT,"
	"  instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,"
	"  path TEXT NOT NULL,"
	"  PRIMARY KEY (instance_id, path));"
	"INSERT INTO instance_volumes_new (volume_id, instance_id, path)"
	"  SELECT volume_id, instance_id, path FROM instance_volumes;"
	"CREATE TABLE volume_snapshots_new ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  volume_id INTEGER NOT NULL REFERENCES storage_volumes_new (id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  created_at TEXT NOT NULL,"
	"  UNIQUE (volume_id, name));"
	"INSERT INTO volume_snapshots_new (id, volume_id, name, size, created_at)"
	"  SELECT id, volume_id, name, size, created_at FROM volume_snapshots;"
	"DELETE FROM sqlite_sequence WHERE name IN "
	"  ('storage_volumes_new', 'volume_snapshots_new');"
	"INSERT INTO sqlite_sequence (name, seq) SELECT name || '_new', seq FROM sqlite_sequence"
	"  WHERE name IN ('storage_volumes', 'volume_snapshots');"
	"DROP TABLE volume_snapshots;"
	"DROP TABLE instance_volumes;"
	"DROP TABLE storage_volumes;"
	"ALTER TABLE storage_volumes_new RENAME TO storage_volumes;"
	"ALTER TABLE instance_volumes_new RENAME TO instance_volumes;"
	"ALTER TABLE volume_snapshots_new RENAME TO volume_snapshots;",

	/* cluster join tokens (cluster_token.c): one row per token issued by
	 * `vessel cluster add NAME`; only hashes of the secret and of the
	 * token as issued are kept; a row stays after use or revocation so a
	 * second use is refused with its reason */
	"CREATE TABLE cluster_join_tokens ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL,"
	"  secret_hash TEXT NOT NULL UNIQUE,"
	"  token_hash TEXT NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  used_at INTEGER,"
	"  used_by TEXT,"
	"  revoked_at INTEGER);"
	"CREATE INDEX cluster_join_tokens_name ON cluster_join_tokens (name)",

	/* the cluster's copy of each instance (cluster.c): its API object
	 * (config, devices, snapshots) as its member last reported it, so any
	 * member answers for it while that member is offline; '' in a single
	 * host's file */
	"ALTER TABLE instances ADD COLUMN detail TEXT NOT NULL DEFAULT ''",

	/* a cluster's audit log is one chain for all members (audit.c): each
	 * record names the member that wrote it ('' on a single host) */
	"ALTER TABLE audit_log ADD COLUMN member TEXT NOT NULL DEFAULT ''",

	/* a cluster member's images and storage volumes as it last reported
	 * them (cluster.c: JSON arrays of their API objects), listed by the
	 * others while it is unreachable; and the cluster's image aliases,
	 * one row per name (cluster_image.c): a name names one image in the
	 * whole cluster.  Unused in a single host's file */
	"ALTER TABLE cluster_members ADD COLUMN images TEXT NOT NULL DEFAULT '[]';"
	"ALTER TABLE cluster_members ADD COLUMN volumes TEXT NOT NULL DEFAULT '[]';"
	"CREATE TABLE cluster_image_aliases ("
	"  name TEXT PRIMARY KEY,"
	"  fingerprint TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL)",
};

int mgr_db_schema_latest(void)
{
	return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

const char *mgr_db_migration(int from)
{
	return from >= 0 && from < mgr_db_schema_latest() ? migrations[from] : NULL;
}

void mgr_db_lock(struct mgr_db *db)
{
	pthread_mutex_lock(&db->lock);
}

void mgr_db_unlock(struct mgr_db *db)
{
	pthread_mutex_unlock(&db->lock);
}

sqlite3 *mgr_db_handle(struct mgr_db *db)
{
	return mgr_store_sqlite(db->store);
}

struct mgr_store *mgr_db_store(struct mgr_db *db)
{
	return db->store;
}

int mgr_db_err(struct mgr_db *db, int rc, const char *what, struct vs_err *err)
{
	return mgr_store_error(db ? db->store : NULL, rc, what, err);
}

int mgr_db_exec(struct mgr_db *db, const char *sql, struct vs_err *err)
{
	int rc = mgr_store_exec(db->store, sql);
	if (rc == SQLITE_OK)
		return 0;
	struct vs_err e = VS_ERR_INIT; /* the code as for a statement */
	return vs_errf(err, -mgr_store_error(db->store, rc, "exec", &e), "database: %s",
		       mgr_store_errmsg(db->store));
}

int mgr_db_begin(struct mgr_db *db, struct vs_err *err)
{
	int rc = mgr_store_begin(db->store);
	return rc == SQLITE_OK ? 0 : mgr_db_err(db, rc, "begin", err);
}

int mgr_db_commit(struct mgr_db *db, struct vs_err *err)
{
	int rc = mgr_store_commit(db->store);
	return rc == SQLITE_OK ? 0 : mgr_db_err(db, rc, "commit", err);
}

void mgr_db_rollback(struct mgr_db *db)
{
	mgr_store_rollback(db->store);
}

int64_t mgr_db_changes(struct mgr_db *db)
{
	return mgr_store_changes(db->store);
}

int64_t mgr_db_last_insert_id(struct mgr_db *db)
{
	return mgr_store_last_insert_id(db->store);
}

struct mgr_stmt *mgr_db_prepare(struct mgr_db *db, const char *sql, struct vs_err *err)
{
	struct mgr_stmt *st = NULL;
	int rc = mgr_stmt_prepare(db->store, sql, false, &st);
	if (rc != SQLITE_OK) {
		mgr_db_err(db, rc, "prepare", err);
		return NULL;
	}
	return st;
}

struct mgr_stmt *mgr_db_prepare_cached(struct mgr_db *db, const char *sql, struct vs_err *err)
{
	for (size_t i = 0; i < db->ncache; i++)
		if (db->cache[i].sql == sql)
			return db->cache[i].st;
	struct cached_stmt *nc = realloc(db->cache, (db->ncache + 1) * sizeof(*nc));
	if (!nc) {
		vs_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	db->cache = nc;
	struct mgr_stmt *st = NULL;
	int rc = mgr_stmt_prepare(db->store, sql, true, &st);
	if (rc != SQLITE_OK) {
		mgr_db_err(db, rc, "prepare", err);
		return NULL;
	}
	db->cache[db->ncache++] = (struct cached_stmt){ sql, st };
	return st;
}

/* Holding the lock: the version recorded in `schema` (0 for a new file). */
static int schema_version_locked(struct mgr_db *db, struct vs_err *err)
{
	int r = mgr_db_exec(db,
			    "CREATE TABLE IF NOT EXISTS schema ("
			    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
			    "  version INTEGER NOT NULL UNIQUE,"
			    "  updated_at TEXT NOT NULL)",
			    err);
	if (r < 0)
		return r;
	mgr_cleanup_stmt struct mgr_stmt *st =
	    mgr_db_prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema", err);
	if (!st)
		return -err->code;
	int rc = mgr_stmt_step(st);
	if (rc != SQLITE_ROW)
		return mgr_db_err(db, rc, "read schema version", err);
	return mgr_stmt_column_int(st, 0);
}

int mgr_db_schema_version(struct mgr_db *db, struct vs_err *err)
{
	mgr_db_lock(db);
	int v = schema_version_locked(db, err);
	mgr_db_unlock(db);
	return v;
}

/* Each migration in one transaction with its `schema` row; on a cluster
 * the first member to get there applies it and the others then find the
 * version current (the transaction makes that once per cluster). */
static int migrate(struct mgr_db *db, struct vs_err *err)
{
	for (;;) {
		int v = schema_version_locked(db, err);
		if (v < 0)
			return v;
		if (v > mgr_db_schema_latest())
			return vs_errf(
			    err, EPROTO,
			    "database schema version %d is newer than this vesseld knows (%d)", v,
			    mgr_db_schema_latest());
		if (v == mgr_db_schema_latest())
			return 0;
		int r = mgr_db_begin(db, err);
		if (r < 0)
			return vs_err_prefix(err, "migration to schema %d", v + 1);
		int now = schema_version_locked(db, err);
		r = now < 0 ? now : 0;
		if (r == 0 && now != v) {
			/* another member migrated meanwhile: look again */
			mgr_db_rollback(db);
			continue;
		}
		if (r == 0)
			r = mgr_db_exec(db, migrations[v], err);
		if (r == 0) {
			char sql[160];
			snprintf(sql, sizeof(sql),
				 "INSERT INTO schema (version, updated_at) "
				 "VALUES (%d, strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now'))",
				 v + 1);
			r = mgr_db_exec(db, sql, err);
		}
		if (r == 0)
			r = mgr_db_commit(db, err);
		if (r < 0) {
			mgr_db_rollback(db);
			return vs_err_prefix(err, "migration to schema %d", v + 1);
		}
	}
}

static int db_new(struct mgr_store *store, struct mgr_db **out, struct vs_err *err)
{
	struct mgr_db *db = calloc(1, sizeof(*db));
	if (!db) {
		mgr_store_close(store);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	pthread_mutex_init(&db->lock, NULL);
	db->store = store;
	*out = db;
	return 0;
}

int mgr_db_open(const char *path, struct mgr_db **out, struct vs_err *err)
{
	*out = NULL;
	struct mgr_store *store;
	struct mgr_db *db = NULL;
	int r = mgr_store_open_sqlite(path, &store, err);
	if (r < 0 || (r = db_new(store, &db, err)) < 0)
		return r;
	mgr_db_lock(db);
	r = mgr_db_exec(db, "PRAGMA journal_mode = WAL", err);
	if (r == 0)
		r = mgr_db_exec(db, "PRAGMA foreign_keys = ON", err);
	if (r == 0)
		r = mgr_db_exec(db, "PRAGMA synchronous = NORMAL", err);
	if (r == 0)
		r = migrate(db, err);
	mgr_db_unlock(db);
	if (r < 0) {
		vs_err_prefix(err, "%s", path);
		mgr_db_close(db);
		return r;
	}
	*out = db;
	return 0;
}

int mgr_db_open_store(struct mgr_store *store, struct mgr_db **out, struct vs_err *err)
{
	*out = NULL;
	struct mgr_db *db = NULL;
	int r = db_new(store, &db, err);
	if (r < 0)
		return r;
	mgr_db_lock(db);
	r = migrate(db, err);
	mgr_db_unlock(db);
	if (r < 0) {
		mgr_db_close(db);
		return r;
	}
	*out = db;
	return 0;
}

void mgr_db_close(struct mgr_db *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->ncache; i++)
		mgr_stmt_finalize(db->cache[i].st);
	free(db->cache);
	mgr_store_close(db->store);
	pthread_mutex_destroy(&db->lock);
	free(db);
}
