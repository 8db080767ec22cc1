/*
 * expiry.c - instance expiry (policy.h): parsing and recording expiries,
 * and the daemon's policy thread that warns before them and acts on them.
 *
 * The state machine, one instance_expiry row per instance with an expiry:
 *
 *   pending --(expires_at - expiry.warn reached)--> pending, warned=1
 *           (one "instance-expiry-warning" lifecycle event)
 *   pending --(expires_at reached)--> acting(action)        [one transaction
 *           with the INSERT of a policy_actions row "started"]
 *   acting(stop)     --stopped-->   done
 *   acting(snapshot) --stopped, snapshot "expired" taken--> grace
 *   grace   --(expires_at + expiry.grace reached)--> acting(delete)
 *   acting(delete)   --deleted (the row goes with the instance)-->
 *   pending <--(a new expiry is set: `vessel config set NAME expires=...`)-- done|grace
 *
 * Exactly once: the move to acting is committed before the action starts,
 * so a vesseld killed at any point finds the row in acting at its next
 * start and resumes that action, and every step is idempotent against the
 * host's state: a stop of a stopped instance is skipped, a snapshot that
 * exists is not taken again, a delete of a missing instance is done.  A
 * done row never acts again until its expiry is changed.  policy_actions
 * keeps one row per action (the journal the tests count); a "started" row
 * whose instance is gone is a delete that completed before a crash.
 *
 * Isolation: the thread only reads and writes rows and starts operations;
 * each action runs as its own operation (its own thread) with the
 * project's expiry.stop_timeout, so one stuck stop or deletion never
 * delays another instance's expiry.  An instance with an action in flight
 * is skipped by later ticks.
 *
 * Idle actions (idle.after, idle.action) turn into an expiry "now" with the
 * idle action, so they share the machine (and act once per idle period).
 *
 * Test hook (documented as such in docs/vesseld.md): with the environment
 * variable VESSEL_TEST_POLICY_DELAY_MS=N, each action waits N ms after it
 * has been recorded and before it touches the instance, so that a test can
 * `kill -9` vesseld right when an action starts.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mgr_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/mgr/policy.h"

#define EXPIRY_SNAPSHOT "expired"

/* ---- parsing and recording ---- */

int mgr_expiry_parse(const char *spec, time_t now, time_t *out, struct vs_err *err)
{
	*out = 0;
	if (!spec || !*spec)
		return vs_errf(err, EINVAL,
			       "expires: empty value (a duration such as 7d, a time "
			       "such as 2026-12-31T00:00:00Z, or never)");
	if (strcmp(spec, "never") == 0)
		return 0;
	int64_t d;
	struct vs_err e = VS_ERR_INIT;
	if (strchr(spec, 'T')) {
		time_t t;
		if (mgr_time_parse(spec, &t, err) < 0)
			return vs_err_prefix(err, "expires");
		if (t <= now)
			return vs_errf(err, EINVAL, "expires %s: that time has passed", spec);
		*out = t;
		return 0;
	}
	if (mgr_duration_parse(spec, &d, &e) < 0)
		return vs_errf(err, EINVAL,
			       "expires \"%.40s\": expected a duration (90s, 30m, 12h, 7d, 2w), "
			       "a time YYYY-MM-DDTHH:MM:SSZ or never",
			       spec);
	if (d == 0)
		return vs_errf(err, EINVAL, "expires %s: must be in the future", spec);
	*out = now + (time_t)d;
	return 0;
}

void mgr_expiry_get(struct mgr *m, int64_t instance_id, char *buf, size_t len)
{
	buf[0] = 0;
	struct vs_err err = VS_ERR_INIT;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db, "SELECT expires_at FROM instance_expiry WHERE instance_id = ?", &err);
		if (st) {
			mgr_stmt_bind_int64(st, 1, instance_id);
			if (mgr_stmt_step(st) == SQLITE_ROW)
				snprintf(buf, len, "%s", mgr_stmt_column_text(st, 0));
		}
	}
	mgr_db_unlock(m->db);
}

struct mgr_expiries {
	size_t n;
	struct expiry_entry {
		int64_t id;
		char at[32];
	} v[];
};

struct mgr_expiries *mgr_expiries_load(struct mgr *m)
{
	struct mgr_expiries *e = NULL;
	size_t cap = 0;
	struct vs_err err = VS_ERR_INIT;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_cached_stmt struct mgr_stmt *st = mgr_db_prepare_cached(
		    m->db,
		    "SELECT instance_id, expires_at FROM instance_expiry ORDER BY instance_id",
		    &err);
		while (st && mgr_stmt_step(st) == SQLITE_ROW) {
			if (!e || e->n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				struct mgr_expiries *ne =
				    realloc(e, sizeof(*e) + nc * sizeof(e->v[0]));
				if (!ne)
					break;
				if (!e)
					ne->n = 0;
				e = ne;
				cap = nc;
			}
			e->v[e->n].id = mgr_stmt_column_int64(st, 0);
			snprintf(e->v[e->n].at, sizeof(e->v[0].at), "%s",
				 mgr_stmt_column_text(st, 1));
			e->n++;
		}
	}
	mgr_db_unlock(m->db);
	return e;
}

const char *mgr_expiries_find(const struct mgr_expiries *e, int64_t id)
{
	size_t lo = 0, hi = e ? e->n : 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (e->v[mid].id < id)
			lo = mid + 1;
		else if (e->v[mid].id > id)
			hi = mid;
		else
			return e->v[mid].at;
	}
	return NULL;
}

void mgr_expiries_free(struct mgr_expiries *e)
{
	free(e);
}

/* Holding the lock: set (t != 0) or clear the expiry; EBUSY while acting. */
static int expiry_write_locked(struct mgr *m, int64_t id, time_t t, struct vs_err *err)
{
	char when[32], now[32];
	mgr_time_format(t, when, sizeof(when));
	mgr_timestamp(now, sizeof(now));
	mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
	    m->db,
	    t ? "INSERT INTO instance_expiry (instance_id, expires_at, updated_at) VALUES (?, ?, "
		"?) "
		"ON CONFLICT (instance_id) DO UPDATE SET expires_at = excluded.expires_at, "
		"warned = 0, state = 'pending', action = '', action_id = 0, "
		"updated_at = excluded.updated_at WHERE instance_expiry.state != 'acting'"
	      : "DELETE FROM instance_expiry WHERE instance_id = ? AND state != 'acting'",
	    err);
	if (!st)
		return -err->code;
	mgr_stmt_bind_int64(st, 1, id);
	if (t) {
		mgr_stmt_bind_text(st, 2, when);
		mgr_stmt_bind_text(st, 3, now);
	}
	int rc = mgr_stmt_step(st);
	if (rc != SQLITE_DONE)
		return mgr_db_err(m->db, rc, "write expiry", err);
	if (mgr_db_changes(m->db) == 0) {
		/* nothing changed: no row to clear, or an action in progress */
		mgr_cleanup_stmt struct mgr_stmt *q = mgr_db_prepare(
		    m->db, "SELECT state FROM instance_expiry WHERE instance_id = ?", err);
		if (!q)
			return -err->code;
		mgr_stmt_bind_int64(q, 1, id);
		if (mgr_stmt_step(q) == SQLITE_ROW &&
		    strcmp(mgr_stmt_column_text(q, 0), "acting") == 0)
			return vs_errf(err, EBUSY,
				       "the expiry action of this instance is in progress");
	}
	return 0;
}

int mgr_expiry_record(struct mgr *m, int64_t instance_id, time_t expires_at, struct vs_err *err)
{
	if (!expires_at)
		return 0;
	mgr_db_lock(m->db);
	int r = expiry_write_locked(m, instance_id, expires_at, err);
	mgr_db_unlock(m->db);
	return r;
}

int mgr_expiry_change(struct mgr *m, const char *name, const char *spec, struct vs_err *err)
{
	struct mgr_instance inst;
	int r = mgr_instance_db_get(m->db, name, &inst, err);
	if (r < 0)
		return r;
	struct mgr_policy p;
	time_t created = 0;
	if ((r = mgr_policy_load(m, mgr_instance_project(&inst), &p, err)) < 0)
		goto out;
	if ((r = mgr_time_parse(inst.created_at, &created, err)) < 0)
		goto out;
	/* parse once up front (a bad value changes nothing) ... */
	time_t t;
	if ((r = mgr_expiry_parse(spec, time(NULL), &t, err)) < 0)
		goto out;
	if (!t && p.lifetime_max_s) {
		r = vs_errf(err, EINVAL,
			    "project %s has a maximum lifetime: %s cannot be made to never expire",
			    p.project, inst.name);
		goto out;
	}
	mgr_db_lock(m->db);
	/* ... and again under the lock: a relative expiry counts from the commit */
	r = mgr_expiry_parse(spec, time(NULL), &t, err);
	if (r == 0 && t && p.lifetime_max_s && t > created + p.lifetime_max_s) {
		char lim[32];
		mgr_time_format(created + p.lifetime_max_s, lim, sizeof(lim));
		r = vs_errf(err, EINVAL,
			    "expires %s: beyond project %s's maximum lifetime (%s for %s)", spec,
			    p.project, lim, inst.name);
	}
	if (r == 0)
		r = expiry_write_locked(m, inst.id, t, err);
	mgr_db_unlock(m->db);
	if (r == 0)
		mgr_emit_lifecycle(m, "instance-updated", inst.name);
out:
	mgr_instance_free(&inst);
	return r;
}

/* ---- the policy thread ---- */

struct mgr_policy_runner {
	struct mgr *m;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	int refs; /* the thread's, and one per action in flight */
	int interval_ms;
	int delay_ms; /* VESSEL_TEST_POLICY_DELAY_MS */
	int64_t *inflight;
	size_t ninflight, cap;
	time_t last_idle_scan;
};

static void runner_put(struct mgr_policy_runner *r)
{
	pthread_mutex_lock(&r->lock);
	bool last = --r->refs == 0;
	pthread_mutex_unlock(&r->lock);
	if (!last)
		return;
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r->inflight);
	free(r);
}

/* Mark id in flight; false if it already is (or no memory). */
static bool inflight_add(struct mgr_policy_runner *r, int64_t id)
{
	bool ok = true;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->ninflight && ok; i++)
		ok = r->inflight[i] != id;
	if (ok && r->ninflight == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		int64_t *n = realloc(r->inflight, cap * sizeof(*n));
		if (n) {
			r->inflight = n;
			r->cap = cap;
		} else {
			ok = false;
		}
	}
	if (ok) {
		r->inflight[r->ninflight++] = id;
		r->refs++;
	}
	pthread_mutex_unlock(&r->lock);
	return ok;
}

static void inflight_remove(struct mgr_policy_runner *r, int64_t id)
{
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->ninflight; i++)
		if (r->inflight[i] == id) {
			r->inflight[i] = r->inflight[--r->ninflight];
			break;
		}
	pthread_mutex_unlock(&r->lock);
	runner_put(r);
}

struct expiry_job {
	struct mgr_policy_runner *runner;
	int64_t instance_id;
	int64_t action_id;
	char name[MGR_NAME_MAX + 1];
	char project[MGR_PROJECT_MAX + 1];
	char action[32]; /* stop, snapshot, delete */
};

static void job_free(void *p)
{
	struct expiry_job *j = p;
	inflight_remove(j->runner, j->instance_id);
	free(j);
}

/* Run one SQL statement with (text, int64) bindings as given by fmt. */
static int exec_bound(struct mgr *m, const char *sql, const char *s1, const char *s2, int64_t i1,
		      struct vs_err *err)
{
	mgr_db_lock(m->db);
	int r = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(m->db, sql, err);
		if (!st) {
			r = -err->code;
		} else {
			int k = 1;
			if (s1)
				mgr_stmt_bind_text(st, k++, s1);
			if (s2)
				mgr_stmt_bind_text(st, k++, s2);
			mgr_stmt_bind_int64(st, k, i1);
			int rc = mgr_stmt_step(st);
			if (rc != SQLITE_DONE)
				r = mgr_db_err(m->db, rc, "policy state", err);
		}
	}
	mgr_db_unlock(m->db);
	return r;
}

static void finish_action(struct mgr *m, int64_t action_id, const char *name, const char *what,
			  int rc, const struct vs_err *e)
{
	char now[32];
	mgr_timestamp(now, sizeof(now));
	struct vs_err err = VS_ERR_INIT;
	exec_bound(m,
		   "UPDATE policy_actions SET state = ?, finished_at = ?, error = '' WHERE id = ?",
		   rc == 0 ? "done" : "failed", now, action_id, &err);
	if (rc < 0) {
		vs_err_clear(&err);
		exec_bound(m, "UPDATE policy_actions SET error = ? WHERE id = ?", e->msg, NULL,
			   action_id, &err);
	}
	char path[128], summary[MGR_AUDIT_SUMMARY_MAX];
	snprintf(path, sizeof(path), "/1.0/instances/%s", name);
	snprintf(summary, sizeof(summary), "%s%s%.400s", what, rc ? ": " : "", rc ? e->msg : "");
	struct mgr_audit_rec rec = { "vesseld:policy", "POLICY",	   path, name,
				     summary,	       rc == 0 ? 200 : 500 };
	vs_err_clear(&err);
	if (mgr_audit_append(m, &rec, &err) < 0)
		vs_log(VS_LOG_WARN, "audit: %s", err.msg);
}

/* Stop NAME if it runs (a stopped or missing instance is fine). */
static int ensure_stopped(struct mgr *m, const char *name, int timeout_s, struct vs_err *err)
{
	struct mgr_instance inst;
	int r = mgr_instance_db_get(m->db, name, &inst, err);
	if (r < 0)
		return r;
	enum mgr_power p;
	pid_t pid;
	r = mgr_instance_live(m, &inst, &p, &pid, err);
	mgr_instance_free(&inst);
	if (r == 0 && p != MGR_POWER_STOPPED) {
		r = mgr_instance_action(m, name, MGR_ACTION_STOP, false, timeout_s, err);
		if (r == -EINVAL && mgr_instance_action_check(m, name, MGR_ACTION_STOP, NULL) < 0)
			r = 0; /* stopped meanwhile */
	}
	return r;
}

static int expiry_run(struct mgr_op *op, void *arg, struct vs_err *err)
{
	struct expiry_job *j = arg;
	struct mgr *m = j->runner->m;
	(void)op;
	vs_log(VS_LOG_INFO, "policy: %s: %s (action %lld)", j->name, j->action,
	       (long long)j->action_id);
	if (j->runner->delay_ms > 0)
		usleep((useconds_t)j->runner->delay_ms * 1000);
	struct mgr_policy p;
	if (mgr_policy_load(m, j->project, &p, err) < 0)
		p.stop_timeout_s = 30;
	int timeout = p.stop_timeout_s > 3600 ? 3600 : (int)p.stop_timeout_s;
	int r = 0;
	char now[32];
	mgr_timestamp(now, sizeof(now));
	if (strcmp(j->action, "delete") == 0) {
		r = mgr_instance_delete(m, j->name, true, err);
		if (r == -ENOENT)
			r = 0;
		if (r < 0) { /* recorded as failed below, not retried */
			struct vs_err e = VS_ERR_INIT;
			exec_bound(m,
				   "UPDATE instance_expiry SET state = 'done', updated_at = ? "
				   "WHERE instance_id = ?",
				   now, NULL, j->instance_id, &e);
		}
		finish_action(m, j->action_id, j->name, "expired: deleted", r, err);
		if (r == 0)
			mgr_emit_lifecycle(m, "instance-expired", j->name);
		return r;
	}
	r = ensure_stopped(m, j->name, timeout, err);
	bool snap = strcmp(j->action, "snapshot") == 0;
	if (r == 0 && snap) {
		struct vs_err e = VS_ERR_INIT;
		if (mgr_snapshot_check(m, j->name, EXPIRY_SNAPSHOT, false, &e) == 0)
			r = mgr_snapshot_create(m, j->name, EXPIRY_SNAPSHOT, err);
		else if (e.code != EEXIST)
			r = vs_errf(err, e.code, "%s", e.msg);
	}
	struct vs_err e2 = VS_ERR_INIT;
	if (r == -ENOENT) { /* deleted meanwhile: nothing left to do */
		r = 0;
	} else {
		/* failed actions are not retried: recorded as failed, state done */
		exec_bound(m,
			   "UPDATE instance_expiry SET state = ?, updated_at = ? WHERE "
			   "instance_id = ? AND state = 'acting'",
			   r == 0 && snap ? "grace" : "done", now, j->instance_id, &e2);
	}
	char path[128];
	snprintf(path, sizeof(path), "/1.0/instances/%s", j->name);
	if (r == 0 && snap) {
		/* phase one of snapshot-then-delete: the journal row stays
		 * "started" until the delete at the end of the grace period */
		struct mgr_audit_rec rec = { "vesseld:policy",
					     "POLICY",
					     path,
					     j->name,
					     "expired: stopped, snapshot \"" EXPIRY_SNAPSHOT
					     "\" taken",
					     200 };
		mgr_audit_append(m, &rec, &e2);
	} else {
		finish_action(m, j->action_id, j->name,
			      snap ? "expired: snapshot-then-delete" : "expired: stopped", r, err);
	}
	if (r == 0)
		mgr_emit_lifecycle(m, "instance-expired", j->name);
	else
		vs_log(VS_LOG_WARN, "policy: %s: %s failed: %s", j->name, j->action, err->msg);
	return r;
}

static void spawn(struct mgr_policy_runner *r, int64_t id, const char *name, const char *project,
		  const char *action, int64_t action_id)
{
	struct expiry_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	if (!inflight_add(r, id)) {
		free(j);
		return;
	}
	j->runner = r;
	j->instance_id = id;
	j->action_id = action_id;
	snprintf(j->name, sizeof(j->name), "%s", name);
	snprintf(j->project, sizeof(j->project), "%s", project);
	snprintf(j->action, sizeof(j->action), "%s", action);
	char desc[128];
	snprintf(desc, sizeof(desc), "Expiry: %s %s", action, name);
	struct json_object *res = json_object_new_object(), *a = json_object_new_array();
	char url[128];
	snprintf(url, sizeof(url), "/1.0/instances/%s", name);
	json_object_array_add(a, json_object_new_string(url));
	json_object_object_add(res, "instances", a);
	struct vs_err err = VS_ERR_INIT;
	struct mgr_op *op =
	    mgr_op_start(r->m->ops, desc, res, false, expiry_run, j, job_free, &err);
	if (!op) {
		vs_log(VS_LOG_WARN, "policy: %s: %s", name, err.msg);
		job_free(j);
		return;
	}
	mgr_op_put(op);
}

/*
 * Move a row to acting with a new journal row, in one transaction;
 * from_state guards against a concurrent change.  *action_id: the journal
 * row (reuse: nonzero keeps the given one).
 */
static int begin_action(struct mgr *m, int64_t id, const char *name, const char *from_state,
			const char *reason, const char *journal_action, const char *step,
			int64_t *action_id, struct vs_err *err)
{
	char now[32];
	mgr_timestamp(now, sizeof(now));
	mgr_db_lock(m->db);
	int r = mgr_db_begin(m->db, err);
	if (r < 0) {
		mgr_db_unlock(m->db);
		return r;
	}
	if (!*action_id) {
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "INSERT INTO policy_actions (instance_id, instance, reason, action, state, "
		    "started_at) VALUES (?, ?, ?, ?, 'started', ?)",
		    err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_int64(st, 1, id);
			mgr_stmt_bind_text(st, 2, name);
			mgr_stmt_bind_text(st, 3, reason);
			mgr_stmt_bind_text(st, 4, journal_action);
			mgr_stmt_bind_text(st, 5, now);
			int rc = mgr_stmt_step(st);
			if (rc != SQLITE_DONE)
				r = mgr_db_err(m->db, rc, "journal", err);
			else
				*action_id = mgr_db_last_insert_id(m->db);
		}
	}
	if (r == 0) {
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "UPDATE instance_expiry SET state = 'acting', action = ?, action_id = ?, "
		    "updated_at = ? WHERE instance_id = ? AND state = ?",
		    err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_text(st, 1, step);
			mgr_stmt_bind_int64(st, 2, *action_id);
			mgr_stmt_bind_text(st, 3, now);
			mgr_stmt_bind_int64(st, 4, id);
			mgr_stmt_bind_text(st, 5, from_state);
			int rc = mgr_stmt_step(st);
			if (rc != SQLITE_DONE)
				r = mgr_db_err(m->db, rc, "expiry state", err);
			else if (mgr_db_changes(m->db) != 1)
				r = vs_errf(err, EAGAIN, "changed meanwhile");
		}
	}
	if (r == 0)
		r = mgr_db_commit(m->db, err);
	if (r < 0)
		mgr_db_rollback(m->db);
	mgr_db_unlock(m->db);
	return r;
}

static const char *step_of(enum mgr_expiry_action a)
{
	return a == MGR_EXPIRY_DELETE		 ? "delete"
	       : a == MGR_EXPIRY_SNAPSHOT_DELETE ? "snapshot"
						 : "stop";
}

static void emit_warning(struct mgr *m, const char *name, const char *expires_at,
			 enum mgr_expiry_action a)
{
	struct json_object *md = json_object_new_object(), *ctx = json_object_new_object();
	char src[128];
	snprintf(src, sizeof(src), "/1.0/instances/%s", name);
	json_object_object_add(md, "action", json_object_new_string("instance-expiry-warning"));
	json_object_object_add(md, "source", json_object_new_string(src));
	json_object_object_add(ctx, "expires_at", json_object_new_string(expires_at));
	json_object_object_add(ctx, "expiry_action",
			       json_object_new_string(mgr_expiry_action_name(a)));
	json_object_object_add(md, "context", ctx);
	mgr_events_emit(m->events, "lifecycle", md);
}

struct due_row {
	int64_t id, action_id;
	char name[MGR_NAME_MAX + 1];
	char project[MGR_PROJECT_MAX + 1];
	char expires_at[32];
	char state[16];
	char action[32];
	bool warned;
};

static void tick_expiry(struct mgr_policy_runner *r)
{
	struct mgr *m = r->m;
	struct vs_err err = VS_ERR_INIT;
	struct due_row *rows = NULL;
	size_t n = 0, cap = 0;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "SELECT e.instance_id, i.name, COALESCE(c.value, ''), e.expires_at, e.state, "
		    "e.action, e.action_id, e.warned FROM instance_expiry e "
		    "JOIN instances i ON i.id = e.instance_id "
		    "LEFT JOIN instance_config c ON c.instance_id = e.instance_id "
		    "AND c.key = 'user.project' WHERE e.state != 'done' ORDER BY e.expires_at",
		    &err);
		while (st && mgr_stmt_step(st) == SQLITE_ROW) {
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 32;
				struct due_row *nr = realloc(rows, nc * sizeof(*nr));
				if (!nr)
					break;
				rows = nr;
				cap = nc;
			}
			struct due_row *d = &rows[n++];
			d->id = mgr_stmt_column_int64(st, 0);
			snprintf(d->name, sizeof(d->name), "%s", mgr_stmt_column_text(st, 1));
			const char *pj = mgr_stmt_column_text(st, 2);
			snprintf(d->project, sizeof(d->project), "%s", *pj ? pj : "default");
			snprintf(d->expires_at, sizeof(d->expires_at), "%s",
				 mgr_stmt_column_text(st, 3));
			snprintf(d->state, sizeof(d->state), "%s", mgr_stmt_column_text(st, 4));
			snprintf(d->action, sizeof(d->action), "%s", mgr_stmt_column_text(st, 5));
			d->action_id = mgr_stmt_column_int64(st, 6);
			d->warned = mgr_stmt_column_int(st, 7) != 0;
		}
	}
	mgr_db_unlock(m->db);
	time_t now = time(NULL);
	for (size_t i = 0; i < n; i++) {
		struct due_row *d = &rows[i];
		time_t exp;
		struct mgr_policy p;
		vs_err_clear(&err);
		if (mgr_time_parse(d->expires_at, &exp, &err) < 0 ||
		    mgr_policy_load(m, d->project, &p, &err) < 0)
			continue;
		if (strcmp(d->state, "acting") == 0) {
			/* resumed after a restart (or still running: skipped) */
			spawn(r, d->id, d->name, d->project, d->action, d->action_id);
		} else if (strcmp(d->state, "pending") == 0 && now >= exp) {
			int64_t aid = 0;
			const char *jaction = mgr_expiry_action_name(p.expiry_action);
			if (begin_action(m, d->id, d->name, "pending", "expired", jaction,
					 step_of(p.expiry_action), &aid, &err) == 0)
				spawn(r, d->id, d->name, d->project, step_of(p.expiry_action), aid);
		} else if (strcmp(d->state, "pending") == 0 && !d->warned && p.expiry_warn_s &&
			   now >= exp - p.expiry_warn_s) {
			if (exec_bound(
				m,
				"UPDATE instance_expiry SET warned = 1 WHERE instance_id = ? "
				"AND warned = 0",
				NULL, NULL, d->id, &err) == 0)
				emit_warning(m, d->name, d->expires_at, p.expiry_action);
		} else if (strcmp(d->state, "grace") == 0 && now >= exp + p.expiry_grace_s) {
			int64_t aid = d->action_id;
			if (begin_action(m, d->id, d->name, "grace", "expired",
					 "snapshot-then-delete", "delete", &aid, &err) == 0)
				spawn(r, d->id, d->name, d->project, "delete", aid);
		}
	}
	free(rows);
}

/* Idle actions: an idle instance gets an expiry "now" with the idle action
 * (once per idle period: not again before its power state changes). */
static void tick_idle(struct mgr_policy_runner *r)
{
	struct mgr *m = r->m;
	struct mgr_instance *list;
	size_t n;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_instance_db_list(m->db, &list, &n, &err) < 0)
		return;
	time_t now = time(NULL);
	for (size_t i = 0; i < n; i++) {
		struct mgr_policy p;
		time_t since;
		vs_err_clear(&err);
		if (mgr_policy_load(m, mgr_instance_project(&list[i]), &p, &err) < 0 ||
		    !p.idle_after_s || p.idle_action == MGR_EXPIRY_NONE ||
		    mgr_usage_idle_since(m, &list[i], &since, &err) < 0 || !since ||
		    now - since < p.idle_after_s)
			continue;
		char since_s[32], now_s[32];
		mgr_time_format(since, since_s, sizeof(since_s));
		mgr_time_format(now, now_s, sizeof(now_s));
		bool skip = true;
		mgr_db_lock(m->db);
		{
			/* acted on during this idle period, or an expiry action underway */
			mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
			    m->db,
			    "SELECT (SELECT COUNT(*) FROM policy_actions WHERE instance_id = ?1 "
			    "AND reason = 'idle' AND started_at >= ?2) + (SELECT COUNT(*) FROM "
			    "instance_expiry WHERE instance_id = ?1 AND state IN ('acting', "
			    "'grace'))",
			    &err);
			if (st) {
				mgr_stmt_bind_int64(st, 1, list[i].id);
				mgr_stmt_bind_text(st, 2, since_s);
				skip =
				    mgr_stmt_step(st) != SQLITE_ROW || mgr_stmt_column_int(st, 0);
			}
			if (!skip && expiry_write_locked(m, list[i].id, now, &err) < 0)
				skip = true;
		}
		mgr_db_unlock(m->db);
		if (skip)
			continue;
		int64_t aid = 0;
		if (begin_action(m, list[i].id, list[i].name, "pending", "idle",
				 mgr_expiry_action_name(p.idle_action), step_of(p.idle_action),
				 &aid, &err) == 0)
			spawn(r, list[i].id, list[i].name, p.project, step_of(p.idle_action), aid);
	}
	mgr_instance_list_free(list, n);
}

/* At start: a journal row "started" whose instance is gone was a delete
 * that completed before vesseld died. */
static void close_finished_deletes(struct mgr *m)
{
	char now[32];
	mgr_timestamp(now, sizeof(now));
	struct vs_err err = VS_ERR_INIT;
	exec_bound(m,
		   "UPDATE policy_actions SET state = 'done', finished_at = ? WHERE state = "
		   "'started' AND instance_id NOT IN (SELECT id FROM instances) AND id > ?",
		   now, NULL, 0, &err);
}

static void *runner_main(void *arg)
{
	struct mgr_policy_runner *r = arg;
	close_finished_deletes(r->m);
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		pthread_mutex_unlock(&r->lock);
		tick_expiry(r);
		time_t now = time(NULL);
		if (now - r->last_idle_scan >= 60 || now < r->last_idle_scan) {
			r->last_idle_scan = now;
			tick_idle(r);
		}
		pthread_mutex_lock(&r->lock);
		if (r->stop)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += r->interval_ms / 1000;
		ts.tv_nsec += (long)(r->interval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int mgr_policy_runner_start(struct mgr *m, int interval_ms, struct mgr_policy_runner **out,
			    struct vs_err *err)
{
	*out = NULL;
	struct mgr_policy_runner *r = calloc(1, sizeof(*r));
	if (!r)
		return vs_errf(err, ENOMEM, "out of memory");
	r->m = m;
	r->refs = 1;
	r->interval_ms = interval_ms > 0 ? interval_ms : 1000;
	const char *d = getenv("VESSEL_TEST_POLICY_DELAY_MS");
	if (d && *d) {
		r->delay_ms = atoi(d);
		vs_log(VS_LOG_WARN, "policy: test hook: actions wait %d ms before acting",
		       r->delay_ms);
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	int rc = pthread_create(&r->thread, NULL, runner_main, r);
	if (rc) {
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->cond);
		free(r);
		return vs_syserrf(err, rc, "policy thread");
	}
	*out = r;
	return 0;
}

void mgr_policy_runner_stop(struct mgr_policy_runner *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	runner_put(r); /* actions in flight hold their own references */
}
