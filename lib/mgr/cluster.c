/*
 * cluster.c - vessel clusters on dqlite (cluster.h).
 *
 * Design.  Each member's vesseld embeds a dqlite node (libdqlite's
 * dqlite_node_create/set_bind_address/start, data in STATE/cluster/raft)
 * listening on the member's cluster address.  The first member
 * (`vessel cluster init`) is node id 1, which dqlite bootstraps as a
 * cluster of one; a joining member starts an empty node with an id derived
 * from its address and asks the leader (through the wire-protocol client,
 * dqlite_client.c) to ADD it and ASSIGN it the voter role; Raft then
 * replicates the log to it.  With three voters any two keep a quorum: when
 * the leader dies the others elect a new one within seconds.
 *
 * The cluster database "vessel.db" gets the single-host schema: db.c's
 * migrations are applied through the cluster (each in one transaction
 * with its `schema` row, so a member finding the version current applies
 * nothing: once per cluster).  It holds `cluster_members` (name, Raft and
 * API addresses, server certificate, heartbeat, free capacity) and the
 * `instances` rows of every member with their `location`.  Each member
 * keeps its instances' full state in its local SQLite file (images,
 * networks, volumes and the instances' config stay per host: the engine
 * runs them there); a sync thread reports this member to the cluster every
 * second: its heartbeat and free memory, and its instances (upserted with
 * their power state and `detail`, the instance's API object with its
 * snapshots: the cluster's copy, which any member serves while this one is
 * offline; removed when gone), plus at once after any change
 * (mgr_cluster_kick).  A member whose heartbeat is older than OFFLINE_S is
 * shown offline, and so are its instances; when it comes back its node
 * catches up from the Raft log and its next report refreshes its rows.
 *
 * The API: any member answers for the whole cluster.  An instance request
 * for an instance another member runs is forwarded to that member's TLS
 * API (api.c), authenticated by this member's server certificate, which
 * members trust because it is in cluster_members; the other's certificate
 * is pinned from the same table.  New instances go to --target or to the
 * online member with the most free memory per instance already placed.
 *
 * The Raft port speaks TLS (raft_tls.c; dqlite 1.11 has none of its own):
 * the node binds a private abstract socket ("@", dqlite picks the name),
 * vesseld accepts TLS on the member's cluster address and relays to it,
 * and the node's connections to other members (its connect function) and
 * the manager's dqlite client (its dialer) go through a TLS client.  All
 * present the cluster certificate, STATE/cluster/cluster.crt and .key
 * (made by `cluster init`; a host about to join gets both with a join
 * token, cluster_token.c, or copied from a member by hand), and accept
 * only a peer presenting the same.  The API's TLS is separate.
 */
#include <curl/curl.h>
#include <dqlite.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "mgr_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/client.h"
#include "vessel/mgr/cluster.h"
#include "vessel/mgr/db.h"
#include "vessel/mgr/dqlite_client.h"
#include "vessel/mgr/network.h"
#include "vessel/mgr/policy.h"
#include "vessel/mgr/tls.h"
#include "vessel/mgr/volume.h"
#include "cluster_internal.h"
#include "raft_tls.h"

#define DB_NAME	   "vessel.db"
#define SYNC_MS	   1000
#define OFFLINE_S  8
#define CONNECT_MS 5000
#define REQUEST_MS 15000 /* one request to the leader (a loaded host answers late) */
/* A request forwarded to another member: it may be hung (stopped, or its
 * host overloaded) with its kernel still accepting.  Its TLS handshake
 * never completes (CONNECT_MS ends it); one that hangs mid-request is
 * ended by FORWARD_IDLE_S without a byte (ETIMEDOUT: generous, since a
 * handler answers synchronously after work such as building the busybox
 * image on demand); an operation there is waited on in polls of
 * FORWARD_WAIT_S, so a long one keeps bytes coming. */
#define FORWARD_IDLE_S 120
#define FORWARD_WAIT_S 10
#define MAX_MEMBERS    64
/* A join's Raft membership change (ADD, then ASSIGN as voter, which the
 * leader answers only once this node caught up with its log): each request
 * may take MEMBERSHIP_MS, retried (after asking the configuration what is
 * done already) until JOIN_MS; a failed join takes the node out again
 * within LEAVE_MS before it stops. */
#define MEMBERSHIP_MS 30000
#define JOIN_MS	      120000
#define LEAVE_MS      60000

struct mgr_cluster {
	struct mgr *m;
	char *dir;	 /* STATE/cluster */
	char *conf_path; /* STATE/cluster/member.json */
	char *listen;	 /* vesseld's TLS listener */
	pthread_mutex_t lock;
	bool enabled;
	char name[64], address[128], url[160];
	uint64_t node_id;
	dqlite_node *node;
	struct mgr_raft_tls *tls; /* the Raft port's TLS, once a cluster certificate is here */
	struct mgr_dq *conn;	  /* to the leader, or NULL */
	struct mgr_cluster_member members[MAX_MEMBERS];
	size_t nmembers;
	char peers[MAX_MEMBERS][128]; /* Raft addresses to find the leader by */
	size_t npeers;
	pthread_t thread;
	bool have_thread, stop, kick;
	pthread_mutex_t shared_lock; /* for opening shared */
	struct mgr_db *shared;	     /* mgr_shared_db: the cluster database, NULL until used */
	char shared_addrs[MAX_MEMBERS + 1][128]; /* its addresses, under shared_lock */
	bool networks_ready; /* this host's networks pushed: sync them from the cluster */
	bool reported;	     /* the last report of instances: its hash and time */
	uint64_t report_hash;
	int64_t report_time;
	uint64_t objects_hash; /* of the images and volumes last reported */
	int64_t objects_time;
	pthread_cond_t cond;
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static void now_iso(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the member's own configuration ---- */

static int conf_save(struct mgr_cluster *c, struct vs_err *err)
{
	struct json_object *o = json_object_new_object(), *p = json_object_new_array();
	json_object_object_add(o, "name", json_object_new_string(c->name));
	json_object_object_add(o, "address", json_object_new_string(c->address));
	json_object_object_add(o, "url", json_object_new_string(c->url));
	char id[24];
	snprintf(id, sizeof(id), "%" PRIu64, c->node_id);
	json_object_object_add(o, "node_id", json_object_new_string(id));
	for (size_t i = 0; i < c->npeers; i++)
		json_object_array_add(p, json_object_new_string(c->peers[i]));
	json_object_object_add(o, "peers", p);
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	int r = vs_write_file_atomic(c->conf_path, s, strlen(s), err);
	json_object_put(o);
	return r;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;
	if (n)
		memmove(dst, src, n);
	dst[n] = 0;
}

static int conf_load(struct mgr_cluster *c, struct vs_err *err)
{
	vs_cleanup_free char *text = NULL;
	size_t len;
	if (vs_read_file(c->conf_path, &text, &len, 1u << 20, err) < 0)
		return -err->code;
	struct json_object *o = json_tokener_parse(text), *v;
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return vs_errf(err, EINVAL, "%s: not a JSON object", c->conf_path);
	}
	if (json_object_object_get_ex(o, "name", &v))
		copy_str(c->name, sizeof(c->name), json_object_get_string(v));
	if (json_object_object_get_ex(o, "address", &v))
		copy_str(c->address, sizeof(c->address), json_object_get_string(v));
	if (json_object_object_get_ex(o, "url", &v))
		copy_str(c->url, sizeof(c->url), json_object_get_string(v));
	if (json_object_object_get_ex(o, "node_id", &v))
		c->node_id = strtoull(json_object_get_string(v), NULL, 10);
	c->npeers = 0;
	if (json_object_object_get_ex(o, "peers", &v) && json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v) && c->npeers < MAX_MEMBERS; i++)
			copy_str(c->peers[c->npeers++], sizeof(c->peers[0]),
				 json_object_get_string(json_object_array_get_idx(v, i)));
	json_object_put(o);
	if (!c->name[0] || !c->address[0] || !c->node_id)
		return vs_errf(err, EINVAL, "%s: incomplete", c->conf_path);
	return 0;
}

/* ---- the Raft port's TLS ---- */

/* Load the cluster certificate (with create, make it when missing: a new
 * cluster) and route the dqlite client's connections through TLS. */
static int tls_load(struct mgr_cluster *c, bool create, struct vs_err *err)
{
	if (c->tls)
		return 0;
	vs_cleanup_free char *crt = NULL, *key = NULL;
	if (asprintf(&crt, "%s/cluster.crt", c->dir) < 0 ||
	    asprintf(&key, "%s/cluster.key", c->dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if (create) {
		bool made = false;
		int r = mgr_tls_ensure_cert(crt, key, "vessel cluster", NULL, &made, err);
		if (r < 0)
			return r;
		if (made)
			vs_log(VS_LOG_INFO, "cluster: made the cluster certificate %s", crt);
	} else if (access(crt, F_OK) < 0 || access(key, F_OK) < 0) {
		return vs_errf(err, ENOENT,
			       "no cluster certificate here: copy cluster.crt and cluster.key "
			       "from a member's STATE/cluster/ to %s/ (mode 0600) first: the "
			       "Raft port speaks TLS with that certificate only",
			       c->dir);
	}
	int r = mgr_raft_tls_new(crt, key, &c->tls, err);
	if (r == 0)
		mgr_dq_set_dialer(mgr_raft_tls_dial, c->tls);
	return r;
}

static void tls_drop(struct mgr_cluster *c)
{
	if (!c->tls)
		return;
	mgr_dq_set_dialer(NULL, NULL);
	mgr_raft_tls_free(c->tls);
	c->tls = NULL;
}

/* ---- the dqlite node ---- */

static int node_start(struct mgr_cluster *c, struct vs_err *err)
{
	if (!c->tls)
		return vs_errf(err, EINVAL, "dqlite node: no cluster certificate loaded");
	vs_cleanup_free char *raft = NULL;
	if (asprintf(&raft, "%s/raft", c->dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if (mkdir(raft, 0700) < 0 && errno != EEXIST)
		return vs_syserrf(err, errno, "mkdir %s", raft);
	int rv = dqlite_node_create(c->node_id, c->address, raft, &c->node);
	if (rv != 0) {
		int r = vs_errf(err, EIO, "dqlite node: %s",
				c->node ? dqlite_node_errmsg(c->node) : "cannot create");
		if (c->node)
			dqlite_node_destroy(c->node);
		c->node = NULL;
		return r;
	}
	/* a private socket; the public address is TLS's (raft_tls.c) */
	if ((rv = dqlite_node_set_bind_address(c->node, "@")) != 0 ||
	    (rv = dqlite_node_set_connect_func(c->node, mgr_raft_tls_node_connect, c->tls)) != 0 ||
	    (rv = dqlite_node_start(c->node)) != 0) {
		int r = vs_errf(err, EADDRNOTAVAIL, "dqlite node on %s: %s", c->address,
				dqlite_node_errmsg(c->node));
		dqlite_node_destroy(c->node);
		c->node = NULL;
		return r;
	}
	const char *local = dqlite_node_get_bind_address(c->node);
	int r = mgr_raft_tls_listen(c->tls, c->address, local, err);
	if (r < 0) {
		dqlite_node_stop(c->node);
		dqlite_node_destroy(c->node);
		c->node = NULL;
		return vs_err_prefix(err, "dqlite node");
	}
	vs_log(VS_LOG_INFO, "cluster: member %s, dqlite node %" PRIx64 " on %s (TLS, node at %s)",
	       c->name, c->node_id, c->address, local);
	return 0;
}

static void node_stop(struct mgr_cluster *c)
{
	if (!c->node)
		return;
	mgr_raft_tls_unlisten(c->tls);
	dqlite_node_stop(c->node);
	dqlite_node_destroy(c->node);
	c->node = NULL;
}

/* ---- the connection to the leader (holding the lock) ---- */

static void disconnect(struct mgr_cluster *c)
{
	mgr_dq_close(c->conn);
	c->conn = NULL;
}

static int ensure_conn(struct mgr_cluster *c, struct vs_err *err)
{
	if (c->conn)
		return 0;
	const char *addrs[MAX_MEMBERS + 1];
	size_t n = 0;
	addrs[n++] = c->address;
	for (size_t i = 0; i < c->npeers && n < MAX_MEMBERS + 1; i++)
		if (strcmp(c->peers[i], c->address) != 0)
			addrs[n++] = c->peers[i];
	struct mgr_dq *q;
	int r = mgr_dq_connect(addrs, n, CONNECT_MS, &q, err);
	if (r < 0)
		return r;
	mgr_dq_set_timeout(q, REQUEST_MS);
	if ((r = mgr_dq_open(q, DB_NAME, err)) < 0) {
		mgr_dq_close(q);
		return r;
	}
	c->conn = q;
	return 0;
}

/* Run fn on the leader, reconnecting once when the connection broke or
 * leadership moved. */
static int with_leader(struct mgr_cluster *c,
		       int (*fn)(struct mgr_cluster *, void *, struct vs_err *), void *arg,
		       struct vs_err *err)
{
	int r = -ENOTCONN;
	/* another connection's transaction (a member's report) makes a write
	 * busy for a moment: retry that for up to about two seconds */
	for (int attempt = 0, busy = 0; attempt < 3 && busy < 200;) {
		vs_err_clear(err);
		if ((r = ensure_conn(c, err)) < 0) {
			attempt++; /* e.g. an election in progress */
			continue;
		}
		r = fn(c, arg, err);
		if (r == -EBUSY) {
			struct timespec ts = { 0, (busy < 20 ? 1 : 10) * 1000 * 1000 };
			nanosleep(&ts, NULL);
			busy++;
			continue;
		}
		if (r >= 0 || (r != -EAGAIN && r != -ECONNRESET && r != -EPIPE && r != -ETIMEDOUT &&
			       r != -ENOTCONN))
			return r;
		disconnect(c);
		attempt++;
	}
	return r;
}

static int exec_simple(struct mgr_cluster *c, const char *sql, const struct mgr_dq_value *p,
		       size_t np, struct vs_err *err)
{
	return mgr_dq_exec(c->conn, sql, p, np, NULL, NULL, err);
}

/* ---- the schema: db.c's migrations, once per cluster ---- */

static int migrate_fn(struct mgr_cluster *c, void *arg, struct vs_err *err)
{
	(void)arg;
	int r = exec_simple(c,
			    "CREATE TABLE IF NOT EXISTS schema ("
			    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
			    "  version INTEGER NOT NULL UNIQUE,"
			    "  updated_at TEXT NOT NULL)",
			    NULL, 0, err);
	if (r < 0)
		return r;
	for (;;) {
		struct mgr_dq_rows rows;
		r = mgr_dq_query(c->conn, "SELECT COALESCE(MAX(version), 0) FROM schema", NULL, 0,
				 &rows, err);
		if (r < 0)
			return r;
		int v = rows.nrows ? (int)mgr_dq_at(&rows, 0, 0)->i : 0;
		mgr_dq_rows_free(&rows);
		if (v > mgr_db_schema_latest())
			return vs_errf(err, EPROTO,
				       "cluster database schema %d is newer than this vesseld (%d)",
				       v, mgr_db_schema_latest());
		if (v == mgr_db_schema_latest())
			return 0;
		char ts[32];
		now_iso(ts);
		vs_cleanup_free char *sql = NULL;
		if (asprintf(
			&sql,
			"BEGIN; %s; INSERT INTO schema (version, updated_at) VALUES (%d, '%s');"
			" COMMIT",
			mgr_db_migration(v), v + 1, ts) < 0)
			return vs_errf(err, ENOMEM, "out of memory");
		r = exec_simple(c, sql, NULL, 0, err);
		if (r < 0) {
			struct vs_err e2 = VS_ERR_INIT;
			exec_simple(c, "ROLLBACK", NULL, 0, &e2);
			return vs_err_prefix(err, "cluster schema version %d", v + 1);
		}
		vs_log(VS_LOG_INFO, "cluster: database migrated to schema version %d", v + 1);
	}
}

/* ---- host capacity ---- */

static int64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	if (!f)
		return 0;
	char line[256];
	long long kb = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return (int64_t)kb * 1024;
}

/* ---- members ---- */

static void cert_path_of(const char *dir, const char *name, char *out, size_t cap)
{
	char tmp[sizeof(((struct mgr_cluster_member *)0)->cert_path)];
	snprintf(tmp, sizeof(tmp), "%s/certs/%s.crt", dir, name);
	copy_str(out, cap, tmp);
}

static int load_members_fn(struct mgr_cluster *c, void *arg, struct vs_err *err)
{
	(void)arg;
	struct mgr_dq_rows rows;
	int r = mgr_dq_query(c->conn,
			     "SELECT name, address, api_url, certificate, description, heartbeat,"
			     " memory_free, cpus FROM cluster_members ORDER BY name",
			     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	int64_t now = now_s();
	bool peers_changed = false;
	c->nmembers = 0;
	for (size_t i = 0; i < rows.nrows && i < MAX_MEMBERS; i++) {
		struct mgr_cluster_member *mb = &c->members[c->nmembers++];
		memset(mb, 0, sizeof(*mb));
		copy_str(mb->name, sizeof(mb->name), mgr_dq_at(&rows, i, 0)->s);
		copy_str(mb->address, sizeof(mb->address), mgr_dq_at(&rows, i, 1)->s);
		copy_str(mb->url, sizeof(mb->url), mgr_dq_at(&rows, i, 2)->s);
		copy_str(mb->description, sizeof(mb->description), mgr_dq_at(&rows, i, 4)->s);
		mb->heartbeat = mgr_dq_at(&rows, i, 5)->i;
		mb->memory_free = mgr_dq_at(&rows, i, 6)->i;
		mb->cpus = mgr_dq_at(&rows, i, 7)->i;
		mb->self = strcmp(mb->name, c->name) == 0;
		mb->online = mb->self || now - mb->heartbeat <= OFFLINE_S;
		const char *pem = mgr_dq_at(&rows, i, 3)->s;
		struct vs_err e = VS_ERR_INIT;
		if (pem && mgr_tls_fingerprint_pem(pem, strlen(pem), mb->fingerprint, &e) < 0)
			mb->fingerprint[0] = 0;
		cert_path_of(c->dir, mb->name, mb->cert_path, sizeof(mb->cert_path));
		if (pem && access(mb->cert_path, R_OK) < 0)
			vs_write_file_atomic(mb->cert_path, pem, strlen(pem), &e);
		bool known = false;
		for (size_t k = 0; k < c->npeers; k++)
			known |= strcmp(c->peers[k], mb->address) == 0;
		if (!known && c->npeers < MAX_MEMBERS) {
			copy_str(c->peers[c->npeers++], sizeof(c->peers[0]), mb->address);
			peers_changed = true;
		}
	}
	mgr_dq_rows_free(&rows);
	if (peers_changed) {
		struct vs_err e = VS_ERR_INIT;
		if (conf_save(c, &e) < 0)
			vs_log(VS_LOG_WARN, "cluster: %s", e.msg);
	}
	return 0;
}

/* This member's instances as the cluster keeps them: each its API object
 * (mgr_instances_json: config, devices, status) with its snapshots and
 * without its pid, so any member answers for it while this one is away. */
struct report_item {
	const struct mgr_instance *inst;
	const char *power; /* its database name */
	const char *detail;
};

static struct json_object *find_named(struct json_object *a, size_t hint, const char *name)
{
	size_t n = json_object_array_length(a);
	for (size_t k = 0; k < n; k++) {
		struct json_object *o = json_object_array_get_idx(a, (hint + k) % n), *v;
		if (json_object_object_get_ex(o, "name", &v) &&
		    strcmp(json_object_get_string(v), name) == 0)
			return o;
	}
	return NULL;
}

/* Add "snapshots" ([{"name","created_at"}]) to each object of all. */
static int add_snapshots(struct mgr_db *db, struct json_object *all, struct vs_err *err)
{
	for (size_t i = 0; i < json_object_array_length(all); i++)
		json_object_object_add(json_object_array_get_idx(all, i), "snapshots",
				       json_object_new_array());
	mgr_db_lock(db);
	int r = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db,
				   "SELECT i.name, s.name, s.created_at FROM instance_snapshots s"
				   " JOIN instances i ON i.id = s.instance_id ORDER BY s.id",
				   err);
		int rc = SQLITE_DONE;
		if (!st)
			r = -err->code;
		while (st && (rc = mgr_stmt_step(st)) == SQLITE_ROW) {
			struct json_object *o = find_named(all, 0, mgr_stmt_column_text(st, 0)), *a;
			if (!o || !json_object_object_get_ex(o, "snapshots", &a))
				continue;
			struct json_object *s = json_object_new_object();
			json_object_object_add(s, "name",
					       json_object_new_string(mgr_stmt_column_text(st, 1)));
			json_object_object_add(s, "created_at",
					       json_object_new_string(mgr_stmt_column_text(st, 2)));
			json_object_array_add(a, s);
		}
		if (st && rc != SQLITE_DONE)
			r = mgr_db_err(db, rc, "snapshots", err);
	}
	mgr_db_unlock(db);
	return r;
}

/* This host's images and storage volumes as JSON arrays of their API
 * objects (malloc'd strings), for the cluster's copy. */
static int member_objects(struct mgr_cluster *c, char **images, char **volumes, struct vs_err *err)
{
	*images = *volumes = NULL;
	struct mgr_image *list = NULL;
	size_t n = 0;
	struct json_object *vols = NULL;
	if (mgr_image_list(mgr_get_images(c->m), &list, &n, err) < 0 ||
	    mgr_volume_list(c->m, &vols, err) < 0) {
		if (list)
			mgr_image_list_free(list, n);
		return -EIO; /* local trouble: not a connection problem */
	}
	struct json_object *imgs = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(imgs, mgr_image_to_json(&list[i]));
	mgr_image_list_free(list, n);
	*images = strdup(json_object_to_json_string_ext(imgs, JSON_C_TO_STRING_PLAIN));
	*volumes = strdup(json_object_to_json_string_ext(vols, JSON_C_TO_STRING_PLAIN));
	json_object_put(imgs);
	json_object_put(vols);
	if (!*images || !*volumes) {
		free(*images);
		free(*volumes);
		*images = *volumes = NULL;
		return vs_errf(err, ENOMEM, "out of memory");
	}
	return 0;
}

/* This member's report: heartbeat, capacity, its instances, images and
 * volumes. */
static int report_fn(struct mgr_cluster *c, void *arg, struct vs_err *err)
{
	(void)arg;
	struct mgr_dq_value hb[] = { MGR_DQ_INT(now_s()), MGR_DQ_INT(mem_available()),
				     MGR_DQ_INT(sysconf(_SC_NPROCESSORS_ONLN)),
				     MGR_DQ_TEXT(c->name) };
	uint64_t mine = 0;
	int r = mgr_dq_exec(c->conn,
			    "UPDATE cluster_members SET heartbeat = ?, memory_free = ?, cpus = ?"
			    " WHERE name = ?",
			    hb, 4, NULL, &mine, err);
	if (r < 0)
		return r;
	if (!mine) /* removed from the cluster: report nothing any more */
		return vs_errf(err, ENOENT, "member %s was removed from the cluster", c->name);
	struct mgr_instance *inst = NULL;
	size_t n = 0;
	struct json_object *all = NULL;
	if (mgr_instance_db_list(mgr_get_db(c->m), &inst, &n, err) < 0)
		return -EIO; /* local trouble: not a connection problem */
	if (mgr_instances_json(c->m, &all, err) < 0 ||
	    add_snapshots(mgr_get_db(c->m), all, err) < 0) {
		json_object_put(all);
		mgr_instance_list_free(inst, n);
		return -EIO;
	}
	vs_cleanup_free char *images = NULL, *volumes = NULL;
	if (member_objects(c, &images, &volumes, err) < 0) {
		json_object_put(all);
		mgr_instance_list_free(inst, n);
		return -EIO;
	}
	struct report_item *items = calloc(n + 1, sizeof(*items));
	if (!items) {
		json_object_put(all);
		mgr_instance_list_free(inst, n);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	/* images and volumes: one statement of its own (not in the instances'
	 * transaction, which a write would make hold the database's write lock
	 * for several round trips), when they changed or every 30 s */
	uint64_t oh = 1469598103934665603ull;
	for (const char *q = images; *q; q++)
		oh = (oh ^ (uint8_t)*q) * 1099511628211ull;
	for (const char *q = volumes; *q; q++)
		oh = (oh ^ (uint8_t)*q) * 1099511628211ull;
	if (oh != c->objects_hash || now_s() - c->objects_time >= 30) {
		struct mgr_dq_value o[] = { MGR_DQ_TEXT(images), MGR_DQ_TEXT(volumes),
					    MGR_DQ_TEXT(c->name) };
		r = exec_simple(c,
				"UPDATE cluster_members SET images = ?, volumes = ? WHERE name = ?",
				o, 3, err);
		if (r < 0) {
			free(items);
			json_object_put(all);
			mgr_instance_list_free(inst, n);
			return r;
		}
		c->objects_hash = oh;
		c->objects_time = now_s();
	}
	/* what is reported: names and objects, hashed (FNV-1a) */
	uint64_t h = 1469598103934665603ull;
	size_t nitems = 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = find_named(all, i, inst[i].name), *st;
		if (!o) /* created after the listing: the next report has it */
			continue;
		json_object_object_del(o, "pid");
		const char *status =
		    json_object_object_get_ex(o, "status", &st) ? json_object_get_string(st) : "";
		struct report_item *it = &items[nitems++];
		it->inst = &inst[i];
		it->power = mgr_power_db_name(strcmp(status, "Running") == 0  ? MGR_POWER_RUNNING
					      : strcmp(status, "Frozen") == 0 ? MGR_POWER_FROZEN
									      : MGR_POWER_STOPPED);
		it->detail = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		for (const char *q = inst[i].name; *q; q++)
			h = (h ^ (uint8_t)*q) * 1099511628211ull;
		for (const char *q = it->detail; *q; q++)
			h = (h ^ (uint8_t)*q) * 1099511628211ull;
	}
	/* unchanged since the last report: only a full one every 30 s */
	if (c->reported && h == c->report_hash && now_s() - c->report_time < 30) {
		free(items);
		json_object_put(all);
		mgr_instance_list_free(inst, n);
		return 0;
	}
	bool conflict = false;
	r = exec_simple(c, "BEGIN", NULL, 0, err);
	for (size_t i = 0; r == 0 && i < nitems; i++) {
		const struct mgr_instance *in = items[i].inst;
		struct mgr_dq_value v[] = {
			MGR_DQ_TEXT(in->name),
			MGR_DQ_TEXT(in->type == MGR_INSTANCE_VM ? "vm" : "container"),
			MGR_DQ_TEXT(in->runtime_id),
			MGR_DQ_TEXT(items[i].power),
			MGR_DQ_TEXT(in->created_at),
			MGR_DQ_TEXT(c->name),
			MGR_DQ_TEXT(items[i].detail),
		};
		/* an UPDATE first, an INSERT when there is no row: not one
		 * upsert, whose conflict clause would override the OR REPLACE of
		 * the power-change trigger (a second change of an instance's
		 * power state failed on instance_power_changes) */
		struct mgr_dq_value u[] = { v[3], v[6], v[0], v[5] };
		uint64_t changed = 0;
		r = mgr_dq_exec(c->conn,
				"UPDATE instances SET power_state = ?, detail = ?"
				" WHERE name = ? AND location = ?",
				u, 4, NULL, &changed, err);
		if (r == 0 && !changed)
			r = mgr_dq_exec(
			    c->conn,
			    "INSERT INTO instances (name, type, runtime_id, power_state,"
			    " created_at, location, detail) VALUES (?, ?, ?, ?, ?, ?, ?)"
			    " ON CONFLICT (name) DO NOTHING",
			    v, 7, NULL, &changed, err);
		/* the name is still another member's (an instance moving here):
		 * report again until that row is gone */
		if (r == 0 && !changed)
			conflict = true;
	}
	if (r == 0) {
		/* rows of this member whose instance is gone */
		struct mgr_dq_rows rows;
		struct mgr_dq_value me = MGR_DQ_TEXT(c->name);
		r = mgr_dq_query(c->conn, "SELECT name FROM instances WHERE location = ?", &me, 1,
				 &rows, err);
		for (size_t i = 0; r == 0 && i < rows.nrows; i++) {
			const char *name = mgr_dq_at(&rows, i, 0)->s;
			bool here = false;
			for (size_t k = 0; k < n && !here; k++)
				here = strcmp(inst[k].name, name) == 0;
			if (here)
				continue;
			struct mgr_dq_value d[] = { MGR_DQ_TEXT(name), MGR_DQ_TEXT(c->name) };
			r = exec_simple(c, "DELETE FROM instances WHERE name = ? AND location = ?",
					d, 2, err);
		}
		if (r == 0 || rows.v)
			mgr_dq_rows_free(&rows);
	}
	free(items);
	json_object_put(all);
	mgr_instance_list_free(inst, n);
	if (r == 0)
		r = exec_simple(c, "COMMIT", NULL, 0, err);
	if (r == 0) {
		c->reported = !conflict;
		c->report_hash = h;
		c->report_time = now_s();
		return 0;
	}
	struct vs_err e2 = VS_ERR_INIT;
	exec_simple(c, "ROLLBACK", NULL, 0, &e2);
	return r;
}

static int need_enabled(struct mgr_cluster *c, struct vs_err *err);

struct cache_arg {
	const char *member;
	bool volumes;
	char *json;
};

static int cache_fn(struct mgr_cluster *c, void *arg, struct vs_err *err)
{
	struct cache_arg *a = arg;
	struct mgr_dq_rows rows;
	struct mgr_dq_value v = MGR_DQ_TEXT(a->member);
	int r = mgr_dq_query(c->conn,
			     a->volumes ? "SELECT volumes FROM cluster_members WHERE name = ?"
					: "SELECT images FROM cluster_members WHERE name = ?",
			     &v, 1, &rows, err);
	if (r < 0)
		return r;
	if (!rows.nrows)
		r = vs_errf(err, ENOENT, "no cluster member %s", a->member);
	else if (!(a->json = strdup(mgr_dq_at(&rows, 0, 0)->s ? mgr_dq_at(&rows, 0, 0)->s : "[]")))
		r = vs_errf(err, ENOMEM, "out of memory");
	mgr_dq_rows_free(&rows);
	return r;
}

int mgr_cluster_member_objects(struct mgr_cluster *c, const char *member, bool volumes,
			       struct json_object **out, struct vs_err *err)
{
	*out = NULL;
	int r = need_enabled(c, err);
	if (r < 0)
		return r;
	struct cache_arg a = { member, volumes, NULL };
	pthread_mutex_lock(&c->lock);
	r = with_leader(c, cache_fn, &a, err);
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return r;
	struct json_object *o = json_tokener_parse(a.json);
	free(a.json);
	if (!o || !json_object_is_type(o, json_type_array)) {
		json_object_put(o);
		return vs_errf(err, EPROTO,
			       "member %s: its %s in the cluster database are not a list", member,
			       volumes ? "volumes" : "images");
	}
	*out = o;
	return 0;
}

static int sync_once(struct mgr_cluster *c, struct vs_err *err)
{
	int r = with_leader(c, report_fn, NULL, err);
	if (r == 0)
		r = with_leader(c, load_members_fn, NULL, err);
	return r;
}

static void *sync_thread(void *arg)
{
	struct mgr_cluster *c = arg;
	char last[VS_ERR_MSG_MAX] = "";
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct vs_err err = VS_ERR_INIT;
		if (sync_once(c, &err) < 0) {
			if (strcmp(last, err.msg) != 0)
				vs_log(VS_LOG_WARN, "cluster: cannot report to the cluster: %s",
				       err.msg);
			copy_str(last, sizeof(last), err.msg);
		} else {
			if (last[0]) {
				vs_log(VS_LOG_INFO, "cluster: reporting to the cluster again");
				last[0] = 0;
			}
			/* networks from the cluster's definition (network.c): host
			 * commands, so without the lock */
			if (c->networks_ready) {
				pthread_mutex_unlock(&c->lock);
				if (mgr_network_cluster_sync(c->m, &err) < 0)
					vs_log(VS_LOG_DEBUG, "cluster: networks: %s", err.msg);
				pthread_mutex_lock(&c->lock);
			}
		}
		if (c->kick) {
			c->kick = false;
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += SYNC_MS / 1000;
		while (!c->stop && !c->kick &&
		       pthread_cond_timedwait(&c->cond, &c->lock, &ts) != ETIMEDOUT)
			;
		c->kick = false;
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static int start_thread(struct mgr_cluster *c, struct vs_err *err)
{
	c->stop = false;
	int rc = pthread_create(&c->thread, NULL, sync_thread, c);
	if (rc)
		return vs_syserrf(err, rc, "cluster thread");
	c->have_thread = true;
	return 0;
}

void mgr_cluster_kick(struct mgr_cluster *c)
{
	if (!c || !c->enabled)
		return;
	pthread_mutex_lock(&c->lock);
	c->kick = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* This host's networks and policies into the cluster's (what did not
 * conflict: join_conflicts refused the rest), then networks synced from
 * the cluster's definition. */
static void push_networks(struct mgr_cluster *c)
{
	struct vs_err err = VS_ERR_INIT;
	if (mgr_network_cluster_push(c->m, &err) < 0)
		vs_log(VS_LOG_WARN, "cluster: this host's networks: %s", err.msg);
	vs_err_clear(&err);
	if (mgr_policy_cluster_push(c->m, &err) < 0)
		vs_log(VS_LOG_WARN, "cluster: this host's policies: %s", err.msg);
	pthread_mutex_lock(&c->lock);
	c->networks_ready = true;
	c->kick = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* ---- open/close ---- */

int mgr_cluster_open(struct mgr *m, const char *listen, struct mgr_cluster **out,
		     struct vs_err *err)
{
	*out = NULL;
	struct mgr_cluster *c = calloc(1, sizeof(*c));
	if (!c)
		return vs_errf(err, ENOMEM, "out of memory");
	c->m = m;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->shared_lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (asprintf(&c->dir, "%s/cluster", mgr_state_dir(m)) < 0 ||
	    asprintf(&c->conf_path, "%s/member.json", c->dir) < 0 ||
	    (listen && !(c->listen = strdup(listen)))) {
		mgr_cluster_close(c);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	m->cluster = c;
	if (access(c->conf_path, F_OK) == 0) {
		int r = conf_load(c, err);
		if (r == 0)
			r = tls_load(c, false, err);
		if (r == 0)
			r = node_start(c, err);
		c->networks_ready = true; /* pushed when it joined */
		if (r == 0)
			r = start_thread(c, err);
		if (r < 0) {
			m->cluster = NULL;
			mgr_cluster_close(c);
			return vs_err_prefix(err, "cluster");
		}
		c->enabled = true;
	}
	*out = c;
	return 0;
}

void mgr_cluster_close(struct mgr_cluster *c)
{
	if (!c)
		return;
	if (c->have_thread) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_cond_signal(&c->cond);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	mgr_db_close(c->shared);
	c->shared = NULL;
	disconnect(c);
	node_stop(c);
	tls_drop(c);
	if (c->m && c->m->cluster == c)
		c->m->cluster = NULL;
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->shared_lock);
	pthread_cond_destroy(&c->cond);
	free(c->dir);
	free(c->conf_path);
	free(c->listen);
	free(c);
}

bool mgr_cluster_enabled(struct mgr_cluster *c)
{
	return c && c->enabled;
}

const char *mgr_cluster_self(struct mgr_cluster *c)
{
	return c ? c->name : "";
}

struct mgr_db *mgr_shared_db(struct mgr *m, struct vs_err *err)
{
	struct mgr_cluster *c = mgr_get_cluster(m);
	if (!mgr_cluster_enabled(c))
		return mgr_get_db(m);
	pthread_mutex_lock(&c->shared_lock);
	if (!c->shared) {
		/* this member's node first (it is always there and knows the
		 * leader), then the others known */
		char(*copy)[128] = c->shared_addrs;
		const char *addrs[MAX_MEMBERS + 1];
		size_t n = 0;
		pthread_mutex_lock(&c->lock);
		copy_str(copy[n++], sizeof(copy[0]), c->address);
		for (size_t i = 0; i < c->npeers && n < MAX_MEMBERS + 1; i++)
			if (strcmp(c->peers[i], c->address) != 0)
				copy_str(copy[n++], sizeof(copy[0]), c->peers[i]);
		pthread_mutex_unlock(&c->lock);
		for (size_t i = 0; i < n; i++)
			addrs[i] = copy[i];
		struct mgr_store *store = NULL;
		int r = mgr_store_open_dqlite(addrs, n, DB_NAME, CONNECT_MS, &store, err);
		if (r == 0 && (r = mgr_db_open_store(store, &c->shared, err)) < 0)
			c->shared = NULL; /* the store was closed with it */
		if (r < 0)
			vs_err_prefix(err, "the cluster database");
	}
	struct mgr_db *db = c->shared;
	pthread_mutex_unlock(&c->shared_lock);
	return db;
}

static int schema_fn(struct mgr_cluster *c, void *arg, struct vs_err *err)
{
	struct mgr_dq_rows rows;
	int r = mgr_dq_query(c->conn, "SELECT COALESCE(MAX(version), 0) FROM schema", NULL, 0,
			     &rows, err);
	if (r == 0) {
		*(int *)arg = rows.nrows ? (int)mgr_dq_at(&rows, 0, 0)->i : 0;
		mgr_dq_rows_free(&rows);
	}
	return r;
}

int mgr_cluster_schema_version(struct mgr_cluster *c, struct vs_err *err)
{
	if (!mgr_cluster_enabled(c))
		return vs_errf(err, ENOENT, "this host is not a cluster member");
	int v = 0;
	pthread_mutex_lock(&c->lock);
	int r = with_leader(c, schema_fn, &v, err);
	pthread_mutex_unlock(&c->lock);
	return r < 0 ? r : v;
}

void mgr_cluster_leader(struct mgr_cluster *c, char *out, size_t cap)
{
	out[0] = 0;
	if (!mgr_cluster_enabled(c))
		return;
	pthread_mutex_lock(&c->lock);
	struct vs_err err = VS_ERR_INIT;
	if (ensure_conn(c, &err) == 0)
		copy_str(out, cap, mgr_dq_address(c->conn));
	pthread_mutex_unlock(&c->lock);
}

/* ---- init and join ---- */

struct self_row {
	const char *pem;
};

static int insert_self_fn(struct mgr_cluster *c, void *arg, struct vs_err *err)
{
	struct self_row *s = arg;
	char ts[32], id[24];
	now_iso(ts);
	snprintf(id, sizeof(id), "%" PRIu64, c->node_id);
	struct mgr_dq_value v[] = { MGR_DQ_TEXT(c->name),	 MGR_DQ_TEXT(id),
				    MGR_DQ_TEXT(c->address),	 MGR_DQ_TEXT(c->url),
				    MGR_DQ_TEXT(s->pem),	 MGR_DQ_INT(now_s()),
				    MGR_DQ_INT(mem_available()), MGR_DQ_TEXT(ts) };
	return exec_simple(c,
			   "INSERT INTO cluster_members (name, node_id, address, api_url,"
			   " certificate, heartbeat, memory_free, created_at)"
			   " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			   v, 8, err);
}

/* Validate and fill name, address and the API URL (the address's host and
 * the TLS listener's port); nothing is written. */
static int check_self(struct mgr_cluster *c, const char *name, const char *address,
		      struct vs_err *err)
{
	if (c->enabled)
		return vs_errf(err, EALREADY, "this host is already member %s of a cluster",
			       c->name);
	if (mgr_name_validate(name, err) < 0)
		return vs_err_prefix(err, "member name");
	if (!c->listen)
		return vs_errf(err, EINVAL,
			       "vesseld needs a TLS listener (--listen ADDR:PORT) to be a member: "
			       "members forward requests to each other's API");
	const char *colon = address ? strrchr(address, ':') : NULL;
	if (!colon || colon == address || !colon[1] || strlen(address) >= sizeof(c->address))
		return vs_errf(err, EINVAL, "cluster address %s: expected HOST:PORT",
			       address ? address : "(none)");
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535)
		return vs_errf(err, EINVAL, "cluster address %s: bad port", address);
	const char *lp = strrchr(c->listen, ':');
	if (!lp)
		return vs_errf(err, EINVAL, "listener %s: no port", c->listen);
	copy_str(c->name, sizeof(c->name), name);
	copy_str(c->address, sizeof(c->address), address);
	snprintf(c->url, sizeof(c->url), "https://%.*s%s", (int)(colon - address), address, lp);
	return 0;
}

/* check_self, then STATE/cluster and its certs/. */
static int setup_self(struct mgr_cluster *c, const char *name, const char *address,
		      struct vs_err *err)
{
	int r = check_self(c, name, address, err);
	if (r < 0)
		return r;
	vs_cleanup_free char *certs = NULL;
	if (asprintf(&certs, "%s/certs", c->dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if ((mkdir(c->dir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(certs, 0700) < 0 && errno != EEXIST))
		return vs_syserrf(err, errno, "mkdir %s", certs);
	return 0;
}

static int read_own_cert(struct mgr_cluster *c, char **pem, struct vs_err *err)
{
	vs_cleanup_free char *path = NULL;
	size_t len;
	if (asprintf(&path, "%s/server.crt", mgr_state_dir(c->m)) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	return vs_read_file(path, pem, &len, 1u << 20, err);
}

/* Undo a failed init/join: stop the node, forget its files. */
static void abandon(struct mgr_cluster *c)
{
	disconnect(c);
	node_stop(c);
	tls_drop(c);
	vs_cleanup_free char *raft = NULL;
	if (asprintf(&raft, "%s/raft", c->dir) >= 0)
		mgr_rm_rf(raft, NULL);
	unlink(c->conf_path);
	c->name[0] = 0;
	c->npeers = 0;
	c->nmembers = 0;
}

static int finish_setup(struct mgr_cluster *c, struct vs_err *err)
{
	vs_cleanup_free char *pem = NULL;
	struct self_row s;
	int r = read_own_cert(c, &pem, err);
	s.pem = pem;
	if (r == 0)
		r = with_leader(c, migrate_fn, NULL, err);
	if (r == 0)
		r = with_leader(c, insert_self_fn, &s, err);
	if (r == 0)
		r = with_leader(c, load_members_fn, NULL, err);
	if (r == 0)
		r = conf_save(c, err);
	if (r == 0)
		r = start_thread(c, err);
	return r;
}

int mgr_cluster_init(struct mgr_cluster *c, const char *name, const char *address,
		     struct vs_err *err)
{
	pthread_mutex_lock(&c->lock);
	int r = setup_self(c, name, address, err);
	if (r < 0) {
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	c->node_id = 1; /* dqlite bootstraps node 1 as a cluster of one */
	c->npeers = 0;
	r = tls_load(c, true, err);
	if (r == 0)
		r = node_start(c, err);
	if (r == 0)
		r = finish_setup(c, err);
	if (r < 0)
		abandon(c);
	else
		c->enabled = true;
	pthread_mutex_unlock(&c->lock);
	if (r == 0)
		push_networks(c);
	return r;
}

int mgr_cluster_join(struct mgr_cluster *c, const char *name, const char *address, const char *join,
		     struct vs_err *err)
{
	const char *joins[] = { join };
	return mgr_cluster_join_peers(c, name, address, joins, 1, err);
}

int mgr_cluster_join_check(struct mgr_cluster *c, const char *name, const char *address,
			   struct vs_err *err)
{
	pthread_mutex_lock(&c->lock);
	char keep_name[sizeof(c->name)], keep_address[sizeof(c->address)], keep_url[sizeof(c->url)];
	memcpy(keep_name, c->name, sizeof(keep_name));
	memcpy(keep_address, c->address, sizeof(keep_address));
	memcpy(keep_url, c->url, sizeof(keep_url));
	int r = check_self(c, name, address, err);
	memcpy(c->name, keep_name, sizeof(keep_name));
	memcpy(c->address, keep_address, sizeof(keep_address));
	memcpy(c->url, keep_url, sizeof(keep_url));
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* Before a host joins (nothing changed yet): its networks and policies
 * against the cluster's, through the client q.  A network of the same name
 * defined otherwise, one on a subnet the cluster gives another network, a
 * policy key of the same project set to another value: EEXIST naming the
 * first.  What does not conflict is merged after the join (push_local). */
static int join_conflicts(struct mgr_cluster *c, struct mgr_dq *q, struct vs_err *err)
{
	struct mgr_db *db = mgr_get_db(c->m);
	struct mgr_network *lo = NULL;
	size_t nlo = 0;
	int r = mgr_network_list(db, &lo, &nlo, err);
	struct mgr_dq_rows rows = { 0 };
	if (r == 0)
		r = mgr_dq_query(q, "SELECT name, subnet, nat, isolated FROM networks", NULL, 0,
				 &rows, err);
	for (size_t i = 0; r == 0 && i < nlo; i++)
		for (size_t k = 0; r == 0 && k < rows.nrows; k++) {
			const char *name =
			    mgr_dq_at(&rows, k, 0)->s ? mgr_dq_at(&rows, k, 0)->s : "";
			const char *subnet =
			    mgr_dq_at(&rows, k, 1)->s ? mgr_dq_at(&rows, k, 1)->s : "";
			bool nat = mgr_dq_at(&rows, k, 2)->i != 0;
			bool isolated = mgr_dq_at(&rows, k, 3)->i != 0;
			bool same_name = strcmp(name, lo[i].name) == 0;
			if (same_name && (strcmp(subnet, lo[i].subnet) != 0 || nat != lo[i].nat ||
					  isolated != lo[i].isolated))
				r = vs_errf(
				    err, EEXIST,
				    "this host's network %s (subnet %s%s) is defined otherwise "
				    "in the cluster (subnet %s%s): delete or rename it here "
				    "first",
				    lo[i].name, lo[i].subnet,
				    lo[i].isolated ? ", isolated"
				    : lo[i].nat	   ? ", nat"
						   : "",
				    subnet,
				    isolated ? ", isolated"
				    : nat    ? ", nat"
					     : "");
			else if (!same_name && strcmp(subnet, lo[i].subnet) == 0)
				r = vs_errf(err, EEXIST,
					    "this host's network %s has subnet %s, the cluster's "
					    "network %s: delete or rename it here first",
					    lo[i].name, subnet, name);
		}
	free(lo);
	if (rows.v)
		mgr_dq_rows_free(&rows);
	if (r < 0)
		return r;
	struct mgr_dq_rows pol = { 0 };
	r = mgr_dq_query(q, "SELECT project, key, value FROM project_policies", NULL, 0, &pol, err);
	if (r < 0)
		return r;
	mgr_db_lock(db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db, "SELECT project, key, value FROM project_policies", err);
		if (!st)
			r = -err->code;
		while (r == 0 && st && mgr_stmt_step(st) == SQLITE_ROW) {
			const char *p = mgr_stmt_column_text(st, 0),
				   *k = mgr_stmt_column_text(st, 1),
				   *v = mgr_stmt_column_text(st, 2);
			for (size_t i = 0; r == 0 && i < pol.nrows; i++) {
				const char *cp = mgr_dq_at(&pol, i, 0)->s,
					   *ck = mgr_dq_at(&pol, i, 1)->s,
					   *cv = mgr_dq_at(&pol, i, 2)->s;
				if (cp && ck && cv && strcmp(cp, p) == 0 && strcmp(ck, k) == 0 &&
				    strcmp(cv, v) != 0)
					r = vs_errf(
					    err, EEXIST,
					    "this host's policy of project %s sets %s=%s, the "
					    "cluster's %s=%s: change it here first",
					    p, k, v, k, cv);
			}
		}
	}
	mgr_db_unlock(db);
	mgr_dq_rows_free(&pol);
	return r;
}

/* ---- a join's Raft membership change ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether a membership request that failed may be asked again: no answer
 * in time or a broken connection (it may have been applied: the next
 * round asks the configuration first), the leader moved, or another
 * change (a catch-up) still in progress.  Anything else is final. */
static bool membership_retryable(int r, const char *msg)
{
	return r == -ETIMEDOUT || r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN ||
	       r == -ECONNREFUSED || r == -EAGAIN || r == -EBUSY ||
	       strstr(msg, "configuration change") || strstr(msg, "not the leader") ||
	       strstr(msg, "leadership") || strstr(msg, "no connection") ||
	       strstr(msg, "shutting down");
}

/* This node's role in the configuration the leader q holds: 0 voter, 1
 * standby, 2 spare; -1 when absent. */
static int raft_role(struct mgr_dq *q, uint64_t id, int *role, struct vs_err *err)
{
	struct mgr_dq_server *srv;
	size_t n;
	int r = mgr_dq_cluster(q, &srv, &n, err);
	if (r < 0)
		return r;
	*role = -1;
	for (size_t i = 0; i < n; i++)
		if (srv[i].id == id)
			*role = (int)srv[i].role;
	mgr_dq_servers_free(srv, n);
	return 0;
}

/*
 * Make node c->node_id a voter through the leader found by joins[] (q: a
 * connection to it, or NULL; taken).  Each round asks the configuration
 * and sends what is missing (ADD, then ASSIGN), so a request answered too
 * late for us, or a leader that moved, is picked up where it stood; a
 * round that fails for a reason that may pass is retried until JOIN_MS.
 */
static int join_raft(struct mgr_cluster *c, struct mgr_dq *q, const char *const *joins,
		     size_t njoins, struct vs_err *err)
{
	int64_t deadline = mono_ms() + JOIN_MS;
	int r, rounds = 0;
	for (;;) {
		vs_err_clear(err);
		r = q ? 0 : mgr_dq_connect(joins, njoins, CONNECT_MS, &q, err);
		int role = -1;
		if (r == 0) {
			mgr_dq_set_timeout(q, MEMBERSHIP_MS);
			r = raft_role(q, c->node_id, &role, err);
		}
		if (r == 0 && role == 0)
			break;
		if (r == 0 && role < 0)
			r = mgr_dq_add(q, c->node_id, c->address, err);
		if (r == 0)
			r = mgr_dq_assign(q, c->node_id, 0 /* voter */, err);
		if (r == 0)
			break;
		mgr_dq_close(q);
		q = NULL;
		rounds++;
		if (!membership_retryable(r, err->msg) || mono_ms() >= deadline)
			break;
		vs_log(VS_LOG_INFO, "cluster: join: Raft membership round %d: %s (retrying)",
		       rounds, err->msg);
		struct timespec ts = { 0, 500 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	mgr_dq_close(q);
	if (r < 0 && rounds > 1)
		vs_err_prefix(err, "no Raft membership after %d attempts in %d s", rounds,
			      JOIN_MS / 1000);
	return r;
}

/* Take node c->node_id out of the configuration again (a join that failed
 * after it was added): while it is a voter there, stopping it would cost
 * the cluster a vote (two members, one of them this: no quorum left).
 * The node keeps running meanwhile, so a catch-up in progress can end. */
static int leave_raft(struct mgr_cluster *c, const char *const *joins, size_t njoins,
		      struct vs_err *err)
{
	int64_t deadline = mono_ms() + LEAVE_MS;
	int r;
	for (;;) {
		vs_err_clear(err);
		struct mgr_dq *q = NULL;
		int role = -1;
		r = mgr_dq_connect(joins, njoins, CONNECT_MS, &q, err);
		if (r == 0) {
			mgr_dq_set_timeout(q, MEMBERSHIP_MS);
			r = raft_role(q, c->node_id, &role, err);
		}
		if (r == 0 && role >= 0)
			r = mgr_dq_remove(q, c->node_id, err);
		if (r == 0 && role >= 0)
			r = raft_role(q, c->node_id, &role, err);
		mgr_dq_close(q);
		if (r == 0 && role < 0)
			return 0;
		if ((r < 0 && !membership_retryable(r, err->msg)) || mono_ms() >= deadline)
			break;
		struct timespec ts = { 0, 500 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (r == 0)
		r = vs_errf(err, EBUSY, "still in the configuration");
	return r;
}

int mgr_cluster_join_peers(struct mgr_cluster *c, const char *name, const char *address,
			   const char *const *joins, size_t njoins, struct vs_err *err)
{
	pthread_mutex_lock(&c->lock);
	int r = setup_self(c, name, address, err);
	if (r < 0) {
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	const char *join = njoins ? joins[0] : NULL;
	for (size_t i = 0; i < njoins || !njoins; i++) {
		const char *j = njoins ? joins[i] : NULL;
		if (!j || !strchr(j, ':') || strlen(j) >= sizeof(c->peers[0]) || i >= MAX_MEMBERS) {
			pthread_mutex_unlock(&c->lock);
			return vs_errf(err, EINVAL, "join address %s: expected HOST:PORT",
				       j ? j : "(none)");
		}
	}
	c->node_id = dqlite_generate_node_id(address);
	if (c->node_id <= 1)
		c->node_id += 2;
	for (size_t i = 0; i < njoins; i++)
		copy_str(c->peers[i], sizeof(c->peers[0]), joins[i]);
	c->npeers = njoins;
	/* the leader must know this member's name is free before Raft grows */
	struct mgr_dq *q = NULL;
	r = tls_load(c, false, err);
	if (r == 0 && (r = mgr_dq_connect(joins, njoins, CONNECT_MS, &q, err)) == 0)
		mgr_dq_set_timeout(q, REQUEST_MS);
	if (r == 0)
		r = mgr_dq_open(q, DB_NAME, err);
	if (r == 0) {
		struct mgr_dq_rows rows;
		struct mgr_dq_value v[] = { MGR_DQ_TEXT(name), MGR_DQ_TEXT(address) };
		r = mgr_dq_query(q,
				 "SELECT name FROM cluster_members WHERE name = ? OR address = ?",
				 v, 2, &rows, err);
		if (r == 0 && rows.nrows)
			r = vs_errf(err, EEXIST,
				    "the cluster already has a member %s or address %s", name,
				    address);
		if (r == 0 || rows.v)
			mgr_dq_rows_free(&rows);
	}
	if (r == 0)
		r = join_conflicts(c, q, err);
	bool started = false;
	if (r == 0)
		started = (r = node_start(c, err)) == 0;
	if (r == 0) {
		r = join_raft(c, q, joins, njoins, err);
		q = NULL;
	}
	mgr_dq_close(q);
	if (r == 0)
		r = finish_setup(c, err);
	if (r < 0) {
		vs_err_prefix(err, "join %s", join);
		struct vs_err e = VS_ERR_INIT;
		disconnect(c);
		if (started && leave_raft(c, joins, njoins, &e) < 0) {
			vs_log(VS_LOG_WARN,
			       "cluster: the failed join could not take node %" PRIx64
			       " out of the cluster's Raft configuration: %s",
			       c->node_id, e.msg);
			char first[VS_ERR_MSG_MAX];
			snprintf(first, sizeof(first), "%s", err->msg);
			vs_errf(err, -r,
				"%s; and node %" PRIx64 " (%s) could not be taken out of the "
				"cluster's Raft configuration again (%s): check `vessel cluster "
				"list` on a member",
				first, c->node_id, address, e.msg);
		}
		abandon(c);
	} else {
		c->enabled = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (r == 0)
		push_networks(c);
	return r;
}

/* ---- for cluster_token.c (cluster_internal.h) ---- */

static int need_enabled(struct mgr_cluster *c, struct vs_err *err);

struct run_arg {
	int (*fn)(struct mgr_dq *q, void *arg, struct vs_err *err);
	void *arg;
};

static int run_fn(struct mgr_cluster *c, void *arg, struct vs_err *err)
{
	struct run_arg *a = arg;
	return a->fn(c->conn, a->arg, err);
}

int mgr_cluster_run(struct mgr_cluster *c,
		    int (*fn)(struct mgr_dq *q, void *arg, struct vs_err *err), void *arg,
		    struct vs_err *err)
{
	int r = need_enabled(c, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	struct run_arg a = { fn, arg };
	r = with_leader(c, run_fn, &a, err);
	pthread_mutex_unlock(&c->lock);
	return r;
}

const char *mgr_cluster_dir(struct mgr_cluster *c)
{
	return c->dir;
}

const char *mgr_cluster_state_dir(struct mgr_cluster *c)
{
	return mgr_state_dir(c->m);
}

/* ---- members ---- */

static int refresh_locked(struct mgr_cluster *c, struct vs_err *err)
{
	return with_leader(c, load_members_fn, NULL, err);
}

static int need_enabled(struct mgr_cluster *c, struct vs_err *err)
{
	if (!mgr_cluster_enabled(c))
		return vs_errf(err, ENOENT,
			       "this host is not a cluster member (vessel cluster init)");
	return 0;
}

int mgr_cluster_members(struct mgr_cluster *c, struct mgr_cluster_member **out, size_t *n,
			struct vs_err *err)
{
	*out = NULL;
	*n = 0;
	int r = need_enabled(c, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	r = refresh_locked(c, err);
	if (r == 0) {
		*out = calloc(c->nmembers + 1, sizeof(**out));
		if (!*out)
			r = vs_errf(err, ENOMEM, "out of memory");
		else
			memcpy(*out, c->members, c->nmembers * sizeof(**out));
		*n = c->nmembers;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

struct json_object *mgr_cluster_member_json(const struct mgr_cluster_member *mb)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "server_name", json_object_new_string(mb->name));
	json_object_object_add(o, "url", json_object_new_string(mb->url));
	json_object_object_add(o, "address", json_object_new_string(mb->address));
	json_object_object_add(o, "status",
			       json_object_new_string(mb->online ? "Online" : "Offline"));
	json_object_object_add(o, "description", json_object_new_string(mb->description));
	json_object_object_add(o, "fingerprint", json_object_new_string(mb->fingerprint));
	json_object_object_add(o, "memory_free", json_object_new_int64(mb->memory_free));
	json_object_object_add(o, "cpus", json_object_new_int64(mb->cpus));
	json_object_object_add(o, "heartbeat", json_object_new_int64(mb->heartbeat));
	return o;
}

struct remove_arg {
	const char *name;
	bool force;
	uint64_t node_id;
};

static int remove_fn(struct mgr_cluster *c, void *arg, struct vs_err *err)
{
	struct remove_arg *a = arg;
	struct mgr_dq_rows rows;
	struct mgr_dq_value v = MGR_DQ_TEXT(a->name);
	int r = mgr_dq_query(c->conn,
			     "SELECT node_id, (SELECT COUNT(*) FROM instances WHERE location = ?)"
			     " FROM cluster_members WHERE name = ?",
			     (struct mgr_dq_value[]){ v, v }, 2, &rows, err);
	if (r < 0)
		return r;
	if (!rows.nrows) {
		mgr_dq_rows_free(&rows);
		return vs_errf(err, ENOENT, "no cluster member %s", a->name);
	}
	a->node_id =
	    strtoull(mgr_dq_at(&rows, 0, 0)->s ? mgr_dq_at(&rows, 0, 0)->s : "0", NULL, 10);
	int64_t ninst = mgr_dq_at(&rows, 0, 1)->i;
	mgr_dq_rows_free(&rows);
	if (ninst && !a->force)
		return vs_errf(err, EBUSY,
			       "member %s still has %" PRId64
			       " instance(s): evacuate it first, or force",
			       a->name, ninst);
	/* still in Raft's configuration? (a retry after the leader itself was
	 * removed finds it gone) */
	struct mgr_dq_server *srv;
	size_t nsrv;
	if ((r = mgr_dq_cluster(c->conn, &srv, &nsrv, err)) < 0)
		return r;
	bool in_raft = false;
	for (size_t i = 0; i < nsrv; i++)
		in_raft |= srv[i].id == a->node_id;
	mgr_dq_servers_free(srv, nsrv);
	if (in_raft && (r = mgr_dq_remove(c->conn, a->node_id, err)) < 0)
		return r;
	r = exec_simple(c, "DELETE FROM instances WHERE location = ?", &v, 1, err);
	if (r == 0)
		r = exec_simple(c, "DELETE FROM cluster_members WHERE name = ?", &v, 1, err);
	return r;
}

int mgr_cluster_remove(struct mgr_cluster *c, const char *name, bool force, struct vs_err *err)
{
	int r = need_enabled(c, err);
	if (r < 0)
		return r;
	if (strcmp(name, c->name) == 0)
		return vs_errf(err, EINVAL,
			       "member %s cannot remove itself: ask another member to remove it",
			       name);
	pthread_mutex_lock(&c->lock);
	struct remove_arg a = { .name = name, .force = force };
	r = with_leader(c, remove_fn, &a, err);
	if (r == 0) {
		for (size_t i = 0; i < c->npeers; i++)
			for (size_t k = 0; k < c->nmembers; k++)
				if (strcmp(c->members[k].name, name) == 0 &&
				    strcmp(c->members[k].address, c->peers[i]) == 0) {
					memmove(c->peers[i], c->peers[i + 1],
						(c->npeers - i - 1) * sizeof(c->peers[0]));
					c->npeers--;
					i--;
					break;
				}
		struct vs_err e = VS_ERR_INIT;
		if (refresh_locked(c, &e) == 0)
			conf_save(c, &e);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

struct desc_arg {
	const char *name, *desc;
};

static int desc_fn(struct mgr_cluster *c, void *arg, struct vs_err *err)
{
	struct desc_arg *a = arg;
	struct mgr_dq_value v[] = { MGR_DQ_TEXT(a->desc), MGR_DQ_TEXT(a->name) };
	uint64_t changes = 0;
	int r = mgr_dq_exec(c->conn, "UPDATE cluster_members SET description = ? WHERE name = ?", v,
			    2, NULL, &changes, err);
	if (r == 0 && !changes)
		r = vs_errf(err, ENOENT, "no cluster member %s", a->name);
	return r;
}

int mgr_cluster_set_description(struct mgr_cluster *c, const char *name, const char *desc,
				struct vs_err *err)
{
	int r = need_enabled(c, err);
	if (r < 0)
		return r;
	if (strlen(desc) >= sizeof(c->members[0].description))
		return vs_errf(err, EINVAL, "description: longer than %zu bytes",
			       sizeof(c->members[0].description) - 1);
	pthread_mutex_lock(&c->lock);
	struct desc_arg a = { name, desc };
	r = with_leader(c, desc_fn, &a, err);
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* ---- instances ---- */

struct locate_arg {
	const char *name;
	char location[64], type[16], power[16], created_at[32];
	char *detail; /* with want_detail: the cluster's copy (malloc'd) */
	bool want_detail;
};

static int locate_fn(struct mgr_cluster *c, void *arg, struct vs_err *err)
{
	struct locate_arg *a = arg;
	struct mgr_dq_rows rows;
	struct mgr_dq_value v = MGR_DQ_TEXT(a->name);
	int r = mgr_dq_query(c->conn,
			     "SELECT location, detail, type, power_state, created_at"
			     " FROM instances WHERE name = ?",
			     &v, 1, &rows, err);
	if (r < 0)
		return r;
	if (rows.nrows) {
		copy_str(a->location, sizeof(a->location), mgr_dq_at(&rows, 0, 0)->s);
		copy_str(a->type, sizeof(a->type), mgr_dq_at(&rows, 0, 2)->s);
		copy_str(a->power, sizeof(a->power), mgr_dq_at(&rows, 0, 3)->s);
		copy_str(a->created_at, sizeof(a->created_at), mgr_dq_at(&rows, 0, 4)->s);
		const char *d = mgr_dq_at(&rows, 0, 1)->s;
		free(a->detail);
		a->detail = a->want_detail && d ? strdup(d) : NULL;
		if (a->want_detail && d && !a->detail) {
			mgr_dq_rows_free(&rows);
			return vs_errf(err, ENOMEM, "out of memory");
		}
	}
	mgr_dq_rows_free(&rows);
	if (!a->location[0])
		return vs_errf(err, ENOENT, "instance %s not found", a->name);
	return load_members_fn(c, NULL, err);
}

static const struct mgr_cluster_member *member_named(struct mgr_cluster *c, const char *name)
{
	for (size_t i = 0; i < c->nmembers; i++)
		if (strcmp(c->members[i].name, name) == 0)
			return &c->members[i];
	return NULL;
}

int mgr_cluster_locate(struct mgr_cluster *c, const char *name, struct mgr_cluster_member *member,
		       struct vs_err *err)
{
	int r = need_enabled(c, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	struct locate_arg a = { .name = name };
	r = with_leader(c, locate_fn, &a, err);
	if (r == 0) {
		const struct mgr_cluster_member *mb = member_named(c, a.location);
		if (mb)
			*member = *mb;
		else
			r = vs_errf(err, ENOENT, "instance %s is on %s, not a member any more",
				    name, a.location);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* The cluster's copy of an instance as an API object: its member's last
 * report, with the status Offline when that member is. */
static struct json_object *copy_object(const char *detail, const char *name, const char *type,
				       const char *power, const char *created_at,
				       const char *location, bool online)
{
	struct json_object *o = detail && *detail ? json_tokener_parse(detail) : NULL;
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	if (!o) { /* reported by a vesseld without copies: what the row has */
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "type", json_object_new_string(type));
		json_object_object_add(o, "image", json_object_new_string(""));
		json_object_object_add(o, "config", json_object_new_object());
		json_object_object_add(o, "created_at", json_object_new_string(created_at));
		json_object_object_add(o, "last_used_at", json_object_new_string(""));
		json_object_object_add(o, "devices", json_object_new_object());
		json_object_object_add(o, "snapshots", json_object_new_array());
	}
	const char *status = !online			     ? "Offline"
			     : strcmp(power, "running") == 0 ? "Running"
			     : strcmp(power, "frozen") == 0  ? "Frozen"
							     : "Stopped";
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "status_code",
			       json_object_new_int(status[0] == 'O'   ? 112
						   : status[0] == 'R' ? 103
						   : status[0] == 'F' ? 110
								      : 102));
	json_object_object_add(o, "pid", json_object_new_int(0));
	json_object_object_add(o, "location", json_object_new_string(location));
	return o;
}

int mgr_cluster_instance_copy(struct mgr_cluster *c, const char *name,
			      struct mgr_cluster_member *member, struct json_object **copy,
			      struct vs_err *err)
{
	*copy = NULL;
	int r = need_enabled(c, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	struct locate_arg a = { .name = name, .want_detail = true };
	r = with_leader(c, locate_fn, &a, err);
	if (r == 0) {
		const struct mgr_cluster_member *mb = member_named(c, a.location);
		if (mb) {
			*member = *mb;
			*copy = copy_object(a.detail, name, a.type, a.power, a.created_at, mb->name,
					    mb->online);
		} else {
			r = vs_errf(err, ENOENT, "instance %s is on %s, not a member any more",
				    name, a.location);
		}
	}
	pthread_mutex_unlock(&c->lock);
	free(a.detail);
	return r;
}

static int remote_fn(struct mgr_cluster *c, void *arg, struct vs_err *err)
{
	struct json_object *into = arg;
	int r = load_members_fn(c, NULL, err);
	if (r < 0)
		return r;
	struct mgr_dq_rows rows;
	struct mgr_dq_value v = MGR_DQ_TEXT(c->name);
	r = mgr_dq_query(
	    c->conn,
	    "SELECT name, type, power_state, created_at, location, detail FROM instances"
	    " WHERE location != ? ORDER BY name",
	    &v, 1, &rows, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rows.nrows; i++) {
		const char *loc = mgr_dq_at(&rows, i, 4)->s;
		const struct mgr_cluster_member *mb = member_named(c, loc ? loc : "");
		struct json_object *o =
		    copy_object(mgr_dq_at(&rows, i, 5)->s, mgr_dq_at(&rows, i, 0)->s,
				mgr_dq_at(&rows, i, 1)->s, mgr_dq_at(&rows, i, 2)->s,
				mgr_dq_at(&rows, i, 3)->s, loc ? loc : "", mb && mb->online);
		json_object_object_del(o, "snapshots"); /* not part of a listing */
		json_object_array_add(into, o);
	}
	mgr_dq_rows_free(&rows);
	return 0;
}

int mgr_cluster_remote_instances(struct mgr_cluster *c, struct json_object *into,
				 struct vs_err *err)
{
	int r = need_enabled(c, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	size_t before = json_object_array_length(into);
	r = with_leader(c, remote_fn, into, err);
	if (r < 0) /* a retry must not leave half a list */
		while (json_object_array_length(into) > before)
			json_object_array_del_idx(into, before, 1);
	pthread_mutex_unlock(&c->lock);
	return r;
}

struct place_arg {
	int64_t counts[MAX_MEMBERS];
};

static int place_fn(struct mgr_cluster *c, void *arg, struct vs_err *err)
{
	struct place_arg *a = arg;
	int r = load_members_fn(c, NULL, err);
	if (r < 0)
		return r;
	struct mgr_dq_rows rows;
	r = mgr_dq_query(c->conn, "SELECT location, COUNT(*) FROM instances GROUP BY location",
			 NULL, 0, &rows, err);
	if (r < 0)
		return r;
	memset(a->counts, 0, sizeof(a->counts));
	for (size_t i = 0; i < rows.nrows; i++)
		for (size_t k = 0; k < c->nmembers; k++)
			if (strcmp(c->members[k].name, mgr_dq_at(&rows, i, 0)->s) == 0)
				a->counts[k] = mgr_dq_at(&rows, i, 1)->i;
	mgr_dq_rows_free(&rows);
	return 0;
}

static int place(struct mgr_cluster *c, const char *target, const char *exclude,
		 struct mgr_cluster_member *out, struct vs_err *err);

int mgr_cluster_place(struct mgr_cluster *c, const char *target, struct mgr_cluster_member *out,
		      struct vs_err *err)
{
	return place(c, target, NULL, out, err);
}

static int place(struct mgr_cluster *c, const char *target, const char *exclude,
		 struct mgr_cluster_member *out, struct vs_err *err)
{
	int r = need_enabled(c, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	struct place_arg a;
	r = with_leader(c, place_fn, &a, err);
	if (r == 0) {
		const struct mgr_cluster_member *best = NULL;
		double best_score = -1;
		for (size_t k = 0; k < c->nmembers; k++) {
			const struct mgr_cluster_member *mb = &c->members[k];
			if (target && strcmp(mb->name, target) == 0) {
				best = mb;
				break;
			}
			double score = (double)mb->memory_free / (double)(1 + a.counts[k]);
			if (exclude && strcmp(mb->name, exclude) == 0)
				continue;
			if (!target && mb->online && score > best_score) {
				best = mb;
				best_score = score;
			}
		}
		if (!best)
			r = target ? vs_errf(err, ENOENT, "no cluster member %s", target)
				   : vs_errf(err, EAGAIN, "no cluster member is online");
		else if (!best->online)
			r = vs_errf(err, EAGAIN, "cluster member %s is offline", best->name);
		else
			*out = *best;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

bool mgr_cluster_trusts(struct mgr_cluster *c, const char *fingerprint)
{
	if (!mgr_cluster_enabled(c))
		return false;
	bool ok = false;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nmembers && !ok; i++)
		ok = c->members[i].fingerprint[0] &&
		     strcmp(c->members[i].fingerprint, fingerprint) == 0;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

int mgr_cluster_forward(struct mgr_cluster *c, const struct mgr_cluster_member *to,
			const char *method, const char *path, struct json_object *body,
			struct json_object **metadata, struct vs_err *err)
{
	if (!to->online)
		return vs_errf(err, EAGAIN, "cluster member %s is offline", to->name);
	vs_cleanup_free char *crt = NULL, *key = NULL;
	if (asprintf(&crt, "%s/server.crt", mgr_state_dir(c->m)) < 0 ||
	    asprintf(&key, "%s/server.key", mgr_state_dir(c->m)) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	struct mgr_client *cl = mgr_client_new_remote(to->url, crt, key, to->cert_path, err);
	if (!cl)
		return -err->code;
	/* recorded in the audit log here, not again there (api.c) */
	char hdr[128];
	snprintf(hdr, sizeof(hdr), "%s: %s", MGR_CLUSTER_FORWARDED_HEADER, c->name);
	const char *const headers[] = { hdr, NULL };
	mgr_client_set_deadlines(cl, CONNECT_MS, FORWARD_IDLE_S, FORWARD_WAIT_S);
	int r = mgr_client_do_ex(cl, method, path, body, headers, metadata, err);
	mgr_client_free(cl);
	return r;
}

/* ---- evacuate ---- */

struct dl {
	FILE *f;
	char head[512]; /* the start of an error body */
	size_t hlen;
};

static size_t dl_write(char *p, size_t sz, size_t nm, void *ud)
{
	struct dl *d = ud;
	size_t n = sz * nm;
	if (d->hlen < sizeof(d->head) - 1) {
		size_t k = n < sizeof(d->head) - 1 - d->hlen ? n : sizeof(d->head) - 1 - d->hlen;
		memcpy(d->head + d->hlen, p, k);
		d->hlen += k;
		d->head[d->hlen] = 0;
	}
	return fwrite(p, 1, n, d->f);
}

/* GET base+path from a member's TLS API (its certificate ca pinned) into
 * the new file (an export is a stream, not JSON), as this member. */
static int download(struct mgr_cluster *c, const char *base, const char *ca, const char *path,
		    const char *file, struct vs_err *err)
{
	vs_cleanup_free char *crt = NULL, *key = NULL, *url = NULL;
	if (asprintf(&crt, "%s/server.crt", mgr_state_dir(c->m)) < 0 ||
	    asprintf(&key, "%s/server.key", mgr_state_dir(c->m)) < 0 ||
	    asprintf(&url, "%s%s", base, path) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	struct dl d = { .f = fopen(file, "wxe") };
	if (!d.f)
		return vs_syserrf(err, errno, "%s", file);
	CURL *h = curl_easy_init();
	if (!h) {
		fclose(d.f);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_SSLCERT, crt);
	curl_easy_setopt(h, CURLOPT_SSLKEY, key);
	curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_MS);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a member that stopped answering */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)FORWARD_IDLE_S);
	char hdr[128];
	snprintf(hdr, sizeof(hdr), "%s: %s", MGR_CLUSTER_FORWARDED_HEADER, c->name);
	struct curl_slist *hl = curl_slist_append(NULL, hdr);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, dl_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);
	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hl);
	int r = 0;
	if (fclose(d.f) != 0)
		r = vs_syserrf(err, errno, "%s", file);
	else if (cc != CURLE_OK)
		r = vs_errf(err, EIO, "export %s: %s", path, curl_easy_strerror(cc));
	else if (status == 404 && strstr(d.head, "\"not found\""))
		r = vs_errf(
		    err, ENOTSUP,
		    "this vesseld cannot export instances (evacuate moves them as exports)");
	else if (status != 200) {
		struct json_object *o = json_tokener_parse(d.head), *e;
		r = vs_errf(err, EIO, "export %s: HTTP %ld: %s", path, status,
			    o && json_object_object_get_ex(o, "error", &e)
				? json_object_get_string(e)
				: "error");
		json_object_put(o);
	}
	if (r < 0)
		unlink(file);
	return r;
}

static int download_self(struct mgr_cluster *c, const char *path, const char *file,
			 struct vs_err *err)
{
	vs_cleanup_free char *crt = NULL;
	if (asprintf(&crt, "%s/server.crt", mgr_state_dir(c->m)) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	return download(c, c->url, crt, path, file, err);
}

int mgr_cluster_download(struct mgr_cluster *c, const struct mgr_cluster_member *from,
			 const char *path, const char *file, struct vs_err *err)
{
	if (!from->online)
		return vs_errf(err, EAGAIN, "cluster member %s is offline", from->name);
	return download(c, from->url, from->cert_path, path, file, err);
}

static struct mgr_client *client_to(struct mgr_cluster *c, const struct mgr_cluster_member *to,
				    struct vs_err *err)
{
	vs_cleanup_free char *crt = NULL, *key = NULL;
	if (asprintf(&crt, "%s/server.crt", mgr_state_dir(c->m)) < 0 ||
	    asprintf(&key, "%s/server.key", mgr_state_dir(c->m)) < 0) {
		vs_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	return mgr_client_new_remote(to->url, crt, key, to->cert_path, err);
}

static int state_action(struct mgr_client *cl, const char *name, const char *action,
			struct vs_err *err)
{
	vs_cleanup_free char *path = NULL;
	if (asprintf(&path, "/1.0/instances/%s/state", name) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	struct json_object *b = json_object_new_object();
	json_object_object_add(b, "action", json_object_new_string(action));
	if (strcmp(action, "stop") == 0)
		json_object_object_add(b, "force", json_object_new_boolean(true));
	int r = mgr_client_do(cl, "PUT", path, b, NULL, err);
	json_object_put(b);
	return r;
}

/* Can evacuate carry everything of inst?  Not a VM's own snapshots: they
 * live inside its disk, which an export flattens. */
static int evacuate_check(struct mgr_cluster *c, const struct mgr_instance *inst,
			  struct vs_err *err)
{
	if (inst->type != MGR_INSTANCE_VM)
		return 0;
	struct json_object *snaps = NULL;
	if (mgr_snapshot_list(c->m, inst->name, &snaps, err) < 0)
		return vs_err_prefix(err, "snapshots of %s", inst->name);
	size_t ns = json_object_array_length(snaps);
	json_object_put(snaps);
	if (ns)
		return vs_errf(err, ENOTSUP,
			       "VM %s has %zu snapshot(s), which live inside its disk: evacuate "
			       "moves instances as exports, which cannot carry them; delete them "
			       "(vessel snapshot delete) or move the VM by hand, then evacuate "
			       "again",
			       inst->name, ns);
	return 0;
}

/* Move one local instance to member `to`: stop, export with its
 * snapshots and its volumes' snapshots (?snapshots=1), import there,
 * delete here with the volumes that went with it (mgr_volume_delete_moved
 * as a live move), start there.  A VM's own snapshots live inside its
 * disk, which an export flattens: such a VM is refused before anything
 * happens (ENOTSUP, saying so).  A failure before the delete leaves it
 * here, started again if it was running; one removing its volumes here is
 * in warn (code 0 when none). */
static int evacuate_one(struct mgr_cluster *c, struct mgr_client *self,
			const struct mgr_instance *inst, const struct mgr_cluster_member *to,
			struct vs_err *warn, struct vs_err *err)
{
	enum mgr_power p = inst->power;
	pid_t pid;
	struct vs_err e = VS_ERR_INIT;
	if (mgr_instance_live(c->m, inst, &p, &pid, &e) < 0)
		p = inst->power;
	bool was_running = p == MGR_POWER_RUNNING;
	if (p == MGR_POWER_FROZEN)
		return vs_errf(err, EBUSY, "instance %s is frozen: resume or stop it first",
			       inst->name);
	if (evacuate_check(c, inst, err) < 0)
		return -err->code;
	vs_cleanup_free struct mgr_volume_mount *vols = NULL;
	size_t nvols = 0;
	if (mgr_volume_mounts(c->m, inst->id, &vols, &nvols, err) < 0)
		return vs_err_prefix(err, "volumes of %s", inst->name);
	if (was_running && state_action(self, inst->name, "stop", err) < 0)
		return vs_err_prefix(err, "stop %s", inst->name);
	vs_cleanup_free char *file = NULL, *path = NULL, *hdr = NULL, *del = NULL;
	if (asprintf(&file, "%s/evacuate-%s", c->dir, inst->name) < 0 ||
	    asprintf(&path, "/1.0/instances/%s/export?snapshots=1", inst->name) < 0 ||
	    asprintf(&hdr, "X-Vessel-Name: %s", inst->name) < 0 ||
	    asprintf(&del, "/1.0/instances/%s", inst->name) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	unlink(file);
	int r = download_self(c, path, file, err);
	if (r == 0) {
		struct mgr_client *tc = client_to(c, to, err);
		const char *const headers[] = { "Content-Type: application/octet-stream", hdr,
						NULL };
		vs_cleanup_free char *ipath = NULL;
		if (tc && asprintf(&ipath, "/1.0/instances?target=%s", to->name) < 0)
			r = vs_errf(err, ENOMEM, "out of memory");
		else
			r = tc ? mgr_client_upload(tc, ipath, file, headers, NULL, err)
			       : -err->code;
		if (r < 0)
			vs_err_prefix(err, "import %s on %s", inst->name, to->name);
		if (r == 0 && (r = mgr_client_do(self, "DELETE", del, NULL, NULL, err)) < 0)
			vs_err_prefix(err, "%s copied to %s, but not deleted here", inst->name,
				      to->name);
		else if (r == 0 && nvols > 0)
			mgr_volume_delete_moved(c->m, inst->name, vols, nvols, warn);
		if (r == 0 && was_running && (r = state_action(tc, inst->name, "start", err)) < 0)
			vs_err_prefix(err, "%s moved to %s, but not started there", inst->name,
				      to->name);
		mgr_client_free(tc);
		unlink(file);
		if (r == 0 || strstr(err->msg, "moved to") || strstr(err->msg, "not deleted"))
			return r;
	}
	if (was_running) {
		struct vs_err e2 = VS_ERR_INIT;
		if (state_action(self, inst->name, "start", &e2) < 0)
			vs_log(VS_LOG_WARN, "cluster: evacuate: restarting %s: %s", inst->name,
			       e2.msg);
	}
	return r;
}

int mgr_cluster_evacuate(struct mgr_cluster *c, struct json_object *moved, struct vs_err *err)
{
	int r = need_enabled(c, err);
	if (r < 0)
		return r;
	struct mgr_cluster_member self_mb;
	memset(&self_mb, 0, sizeof(self_mb));
	copy_str(self_mb.url, sizeof(self_mb.url), c->url);
	snprintf(self_mb.cert_path, sizeof(self_mb.cert_path), "%s/server.crt",
		 mgr_state_dir(c->m));
	struct mgr_client *self = client_to(c, &self_mb, err);
	if (!self)
		return -err->code;
	struct mgr_instance *inst = NULL;
	size_t n = 0;
	r = mgr_instance_db_list(mgr_get_db(c->m), &inst, &n, err);
	/* what cannot move is said before anything moves */
	for (size_t i = 0; r == 0 && i < n; i++)
		r = evacuate_check(c, &inst[i], err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct mgr_cluster_member to;
		if ((r = place(c, NULL, c->name, &to, err)) < 0) {
			vs_err_prefix(err, "no member to move %s to", inst[i].name);
			break;
		}
		vs_log(VS_LOG_INFO, "cluster: evacuating %s to %s", inst[i].name, to.name);
		struct vs_err warn = VS_ERR_INIT;
		if ((r = evacuate_one(c, self, &inst[i], &to, &warn, err)) < 0)
			break;
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(inst[i].name));
		json_object_object_add(o, "from", json_object_new_string(c->name));
		json_object_object_add(o, "to", json_object_new_string(to.name));
		if (warn.code) {
			vs_log(VS_LOG_WARN, "cluster: evacuate %s: %s", inst[i].name, warn.msg);
			json_object_object_add(o, "warning", json_object_new_string(warn.msg));
		}
		json_object_array_add(moved, o);
		mgr_cluster_kick(c);
	}
	mgr_instance_list_free(inst, n);
	mgr_client_free(self);
	return r;
}
