/*
 * policy.c - per-project lifecycle policies (policy.h): the const table of
 * policy keys (how each value is checked, its default), the rows in
 * project_policies, and the creation check (required labels, maximum
 * lifetime).
 *
 * A project is the value of an instance's user.project label ("default"
 * without one); it needs no creation: a project without rows has the
 * default policy.  A PUT replaces a project's explicit keys as a whole,
 * after checking every value, in one transaction.
 *
 * Keys:
 *   labels.required        comma list of label names (owner,project,purpose,
 *                          or any user.* name without "user."), default none
 *   lifetime.max           a duration; an expiry is required within it
 *                          (given none, an instance expires at the maximum)
 *   expiry.action          stop | snapshot-then-delete | delete (default stop)
 *   expiry.warn            lead time of the expiry warning event (default 1d)
 *   expiry.grace           snapshot-then-delete: the stopped instance and its
 *                          snapshot are kept this long, then deleted (7d)
 *   expiry.stop_timeout    clean-stop timeout before SIGKILL (default 30s)
 *   idle.after             idle this long triggers idle.action (default: off)
 *   idle.action            none | stop | snapshot-then-delete | delete (none)
 *   sprawl.stopped_after   a stopped instance is sprawl after this (7d)
 *   sprawl.snapshot_after  a never-restored snapshot is sprawl after this (30d)
 *   prune.allow            sprawl kinds prune may remove: comma list of
 *                          expired,idle,stopped,snapshot,volume,image (none)
 * Volumes and images belong to no project: the "default" project's
 * prune.allow governs them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mgr_internal.h"
#include "vessel/mgr/cluster.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/mgr/policy.h"

/* ---- durations and times ---- */

int mgr_duration_parse(const char *s, int64_t *out, struct vs_err *err)
{
	char *end;
	if (!s || !isdigit((unsigned char)s[0]))
		return vs_errf(err, EINVAL, "duration \"%.40s\": expected N[s|m|h|d|w]",
			       s ? s : "");
	errno = 0;
	long long n = strtoll(s, &end, 10);
	int64_t unit = 1;
	if (*end) {
		switch (*end) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		default: unit = 0; break;
		}
		if (!unit || end[1])
			return vs_errf(err, EINVAL, "duration \"%.40s\": expected N[s|m|h|d|w]", s);
	}
	if (errno || n < 0 || n > 100LL * 366 * 86400 / unit)
		return vs_errf(err, ERANGE, "duration \"%.40s\": at most 100 years", s);
	*out = (int64_t)n * unit;
	return 0;
}

int mgr_time_parse(const char *s, time_t *out, struct vs_err *err)
{
	struct tm tm = { 0 };
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!end || (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0))
		return vs_errf(err, EINVAL, "time \"%.40s\": expected YYYY-MM-DDTHH:MM:SSZ (UTC)",
			       s ? s : "");
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return vs_errf(err, EINVAL, "time \"%.40s\": out of range", s);
	*out = t;
	return 0;
}

void mgr_time_format(time_t t, char *buf, size_t len)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *const action_names[] = {
	[MGR_EXPIRY_NONE] = "none",
	[MGR_EXPIRY_STOP] = "stop",
	[MGR_EXPIRY_SNAPSHOT_DELETE] = "snapshot-then-delete",
	[MGR_EXPIRY_DELETE] = "delete",
};

const char *mgr_expiry_action_name(enum mgr_expiry_action a)
{
	return action_names[a];
}

static int action_parse(const char *v, bool allow_none, enum mgr_expiry_action *a,
			struct vs_err *err)
{
	for (size_t i = allow_none ? 0 : 1; i < VS_ARRAY_SIZE(action_names); i++)
		if (strcmp(v, action_names[i]) == 0) {
			*a = (enum mgr_expiry_action)i;
			return 0;
		}
	return vs_errf(err, EINVAL, "\"%.40s\": expected %sstop, snapshot-then-delete or delete", v,
		       allow_none ? "none, " : "");
}

/* ---- the key table ---- */

enum key_kind { KEY_DURATION, KEY_ACTION, KEY_ACTION_OR_NONE, KEY_LABELS, KEY_KINDS };

static const struct policy_key {
	const char *name;
	enum key_kind kind;
	const char *def;
	size_t off; /* in struct mgr_policy */
} policy_keys[] = {
	{ "labels.required", KEY_LABELS, "", offsetof(struct mgr_policy, labels_required) },
	{ "lifetime.max", KEY_DURATION, "0", offsetof(struct mgr_policy, lifetime_max_s) },
	{ "expiry.action", KEY_ACTION, "stop", offsetof(struct mgr_policy, expiry_action) },
	{ "expiry.warn", KEY_DURATION, "1d", offsetof(struct mgr_policy, expiry_warn_s) },
	{ "expiry.grace", KEY_DURATION, "7d", offsetof(struct mgr_policy, expiry_grace_s) },
	{ "expiry.stop_timeout", KEY_DURATION, "30s", offsetof(struct mgr_policy, stop_timeout_s) },
	{ "idle.after", KEY_DURATION, "0", offsetof(struct mgr_policy, idle_after_s) },
	{ "idle.action", KEY_ACTION_OR_NONE, "none", offsetof(struct mgr_policy, idle_action) },
	{ "sprawl.stopped_after", KEY_DURATION, "7d",
	  offsetof(struct mgr_policy, stopped_after_s) },
	{ "sprawl.snapshot_after", KEY_DURATION, "30d",
	  offsetof(struct mgr_policy, snapshot_after_s) },
	{ "prune.allow", KEY_KINDS, "", offsetof(struct mgr_policy, prune_allow) },
};

static const char *const sprawl_kinds[] = { "expired",	"idle",	  "stopped",
					    "snapshot", "volume", "image" };

/* A comma list whose items each pass ok(); "" is fine. */
static int check_list(const char *key, const char *v, bool labels, struct vs_err *err)
{
	char buf[256];
	if (strlen(v) >= (labels ? 256 : 128))
		return vs_errf(err, EINVAL, "%s: too long", key);
	snprintf(buf, sizeof(buf), "%s", v);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		bool ok = true;
		if (labels) {
			for (const char *p = t; *p; p++)
				ok &= isalnum((unsigned char)*p) || *p == '-' || *p == '_' ||
				      *p == '.';
		} else {
			ok = false;
			for (size_t i = 0; i < VS_ARRAY_SIZE(sprawl_kinds); i++)
				ok |= strcmp(t, sprawl_kinds[i]) == 0;
		}
		if (!ok)
			return vs_errf(err, EINVAL, "%s: \"%.40s\" is not %s", key, t,
				       labels ? "a label name"
					      : "one of expired, idle, stopped, snapshot, "
						"volume, image");
	}
	return 0;
}

/* Check one key=value and store it into p (may be NULL: check only). */
static int key_apply(const char *key, const char *v, struct mgr_policy *p, struct vs_err *err)
{
	const struct policy_key *k = NULL;
	for (size_t i = 0; i < VS_ARRAY_SIZE(policy_keys) && !k; i++)
		if (strcmp(policy_keys[i].name, key) == 0)
			k = &policy_keys[i];
	if (!k)
		return vs_errf(err, EINVAL,
			       "unknown policy key \"%.64s\" (labels.required, lifetime.max, "
			       "expiry.action, expiry.warn, expiry.grace, expiry.stop_timeout, "
			       "idle.after, idle.action, sprawl.stopped_after, "
			       "sprawl.snapshot_after, prune.allow)",
			       key);
	int r = 0;
	int64_t d = 0;
	enum mgr_expiry_action a = MGR_EXPIRY_NONE;
	switch (k->kind) {
	case KEY_DURATION: r = mgr_duration_parse(v, &d, err); break;
	case KEY_ACTION: r = action_parse(v, false, &a, err); break;
	case KEY_ACTION_OR_NONE: r = action_parse(v, true, &a, err); break;
	case KEY_LABELS: r = check_list(key, v, true, err); break;
	case KEY_KINDS: r = check_list(key, v, false, err); break;
	}
	if (r < 0)
		return vs_err_prefix(err, "%s", key);
	if (!p)
		return 0;
	char *field = (char *)p + k->off;
	switch (k->kind) {
	case KEY_DURATION: *(int64_t *)(void *)field = d; break;
	case KEY_ACTION:
	case KEY_ACTION_OR_NONE: *(enum mgr_expiry_action *)(void *)field = a; break;
	case KEY_LABELS: snprintf(field, sizeof(p->labels_required), "%s", v); break;
	case KEY_KINDS: snprintf(field, sizeof(p->prune_allow), "%s", v); break;
	}
	return 0;
}

const char *mgr_instance_project(const struct mgr_instance *inst)
{
	const char *p = mgr_instance_config_get(inst, "user.project");
	return p && *p ? p : "default";
}

/* The explicit rows of a project as a JSON object. */
static int policy_rows(struct mgr *m, const char *project, struct json_object **out,
		       struct vs_err *err)
{
	struct mgr_db *db = mgr_shared_db(m, err); /* a cluster's: one set for all */
	if (!db)
		return -err->code;
	struct json_object *o = json_object_new_object();
	int r = 0;
	mgr_db_lock(db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    db, "SELECT key, value FROM project_policies WHERE project = ? ORDER BY key",
		    err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_text(st, 1, project);
			while (mgr_stmt_step(st) == SQLITE_ROW)
				json_object_object_add(
				    o, mgr_stmt_column_text(st, 0),
				    json_object_new_string(mgr_stmt_column_text(st, 1)));
		}
	}
	mgr_db_unlock(db);
	if (r < 0) {
		json_object_put(o);
		return r;
	}
	*out = o;
	return 0;
}

int mgr_policy_load(struct mgr *m, const char *project, struct mgr_policy *p, struct vs_err *err)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->project, sizeof(p->project), "%s", project);
	for (size_t i = 0; i < VS_ARRAY_SIZE(policy_keys); i++)
		key_apply(policy_keys[i].name, policy_keys[i].def, p, NULL);
	struct json_object *rows;
	int r = policy_rows(m, project, &rows, err);
	if (r < 0)
		return r;
	json_object_object_foreach(rows, key, val)
	{
		struct vs_err e = VS_ERR_INIT; /* a row written by an older vesseld: skip */
		key_apply(key, json_object_get_string(val), p, &e);
	}
	json_object_put(rows);
	return 0;
}

int mgr_policy_get_json(struct mgr *m, const char *project, struct json_object **out,
			struct vs_err *err)
{
	int r = mgr_name_validate(project, err);
	if (r < 0)
		return vs_err_prefix(err, "project");
	struct json_object *rows;
	if ((r = policy_rows(m, project, &rows, err)) < 0)
		return r;
	struct json_object *eff = json_object_new_object();
	for (size_t i = 0; i < VS_ARRAY_SIZE(policy_keys); i++) {
		struct json_object *v;
		const char *val = json_object_object_get_ex(rows, policy_keys[i].name, &v)
				      ? json_object_get_string(v)
				      : policy_keys[i].def;
		json_object_object_add(eff, policy_keys[i].name, json_object_new_string(val));
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "project", json_object_new_string(project));
	json_object_object_add(o, "config", rows);
	json_object_object_add(o, "effective", eff);
	*out = o;
	return 0;
}

int mgr_policy_put(struct mgr *m, const char *project, const struct mgr_config_entry *cfg, size_t n,
		   struct vs_err *err)
{
	int r = mgr_name_validate(project, err);
	if (r < 0)
		return vs_err_prefix(err, "project");
	for (size_t i = 0; i < n; i++)
		if ((r = key_apply(cfg[i].key, cfg[i].value, NULL, err)) < 0)
			return r;
	struct mgr_db *db = mgr_shared_db(m, err); /* a cluster's: one set for all */
	if (!db)
		return -err->code;
	mgr_db_lock(db);
	r = mgr_db_begin(db, err);
	if (r == 0) {
		mgr_cleanup_stmt struct mgr_stmt *del =
		    mgr_db_prepare(db, "DELETE FROM project_policies WHERE project = ?", err);
		mgr_cleanup_stmt struct mgr_stmt *ins = mgr_db_prepare(
		    db, "INSERT INTO project_policies (project, key, value) VALUES (?, ?, ?)", err);
		if (!del || !ins) {
			r = -err->code;
		} else {
			mgr_stmt_bind_text(del, 1, project);
			int rc = mgr_stmt_step(del);
			if (rc != SQLITE_DONE)
				r = mgr_db_err(db, rc, "delete policy", err);
			for (size_t i = 0; i < n && r == 0; i++) {
				mgr_stmt_reset(ins);
				mgr_stmt_bind_text(ins, 1, project);
				mgr_stmt_bind_text(ins, 2, cfg[i].key);
				mgr_stmt_bind_text(ins, 3, cfg[i].value);
				if ((rc = mgr_stmt_step(ins)) != SQLITE_DONE)
					r = mgr_db_err(db, rc, "insert policy", err);
			}
		}
		if (r == 0)
			r = mgr_db_commit(db, err);
		if (r < 0)
			mgr_db_rollback(db);
	}
	mgr_db_unlock(db);
	return r;
}

int mgr_policy_cluster_push(struct mgr *m, struct vs_err *err)
{
	struct mgr_db *shared = mgr_shared_db(m, err);
	if (!shared)
		return -err->code;
	if (shared == m->db)
		return 0;
	struct mgr_config_entry *rows = NULL;
	char **projects = NULL;
	size_t n = 0;
	int r = 0;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(m->db, "SELECT project, key, value FROM project_policies", err);
		if (!st)
			r = -err->code;
		while (r == 0 && st && mgr_stmt_step(st) == SQLITE_ROW) {
			struct mgr_config_entry *nr = realloc(rows, (n + 1) * sizeof(*rows));
			char **np = realloc(projects, (n + 1) * sizeof(*projects));
			if (nr)
				rows = nr;
			if (np)
				projects = np;
			if (!nr || !np) {
				r = vs_errf(err, ENOMEM, "out of memory");
				break;
			}
			projects[n] = strdup(mgr_stmt_column_text(st, 0));
			rows[n].key = strdup(mgr_stmt_column_text(st, 1));
			rows[n].value = strdup(mgr_stmt_column_text(st, 2));
			n++;
		}
	}
	mgr_db_unlock(m->db);
	/* the cluster's value wins where both have one (join refused a
	 * different one); the others are added */
	mgr_db_lock(shared);
	{
		mgr_cleanup_stmt struct mgr_stmt *ins = mgr_db_prepare(
		    shared,
		    "INSERT INTO project_policies (project, key, value) VALUES (?, ?, ?)"
		    " ON CONFLICT (project, key) DO NOTHING",
		    err);
		if (!ins && r == 0)
			r = -err->code;
		for (size_t i = 0; r == 0 && ins && i < n; i++) {
			if (!projects[i] || !rows[i].key || !rows[i].value) {
				r = vs_errf(err, ENOMEM, "out of memory");
				break;
			}
			mgr_stmt_reset(ins);
			mgr_stmt_bind_text(ins, 1, projects[i]);
			mgr_stmt_bind_text(ins, 2, rows[i].key);
			mgr_stmt_bind_text(ins, 3, rows[i].value);
			int rc = mgr_stmt_step(ins);
			if (rc != SQLITE_DONE)
				r = mgr_db_err(shared, rc, "push policy", err);
		}
	}
	mgr_db_unlock(shared);
	for (size_t i = 0; i < n; i++) {
		free(projects[i]);
		free((char *)rows[i].key);
		free((char *)rows[i].value);
	}
	free(projects);
	free(rows);
	return r;
}

int mgr_policy_check_create(struct mgr *m, const struct mgr_create_req *req, time_t *expires_at,
			    struct vs_err *err)
{
	*expires_at = 0;
	const char *project = "default";
	for (size_t i = 0; i < req->nconfig; i++)
		if (strcmp(req->config[i].key, "user.project") == 0 && req->config[i].value &&
		    *req->config[i].value)
			project = req->config[i].value;
	struct mgr_policy p;
	int r = mgr_policy_load(m, project, &p, err);
	if (r < 0)
		return r;
	/* required labels: all missing ones in one message */
	char missing[512] = "", buf[256];
	snprintf(buf, sizeof(buf), "%s", p.labels_required);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		bool have = false;
		for (size_t i = 0; i < req->nconfig && !have; i++)
			have = strncmp(req->config[i].key, "user.", 5) == 0 &&
			       strcmp(req->config[i].key + 5, t) == 0 && req->config[i].value &&
			       *req->config[i].value;
		if (!have) {
			size_t l = strlen(missing);
			snprintf(missing + l, sizeof(missing) - l, "%suser.%s", l ? ", " : "", t);
		}
	}
	if (missing[0])
		return vs_errf(err, EINVAL,
			       "project %s requires labels: missing %s (set them with -c "
			       "user.KEY=VALUE)",
			       project, missing);
	time_t now = time(NULL), exp = 0;
	if (req->expires && (r = mgr_expiry_parse(req->expires, now, &exp, err)) < 0)
		return r;
	if (p.lifetime_max_s) {
		if (!exp && req->expires)
			return vs_errf(err, EINVAL,
				       "project %s has a maximum lifetime: an instance cannot "
				       "be made to never expire",
				       project);
		if (!exp)
			exp = now + p.lifetime_max_s;
		if (exp > now + p.lifetime_max_s)
			return vs_errf(err, EINVAL,
				       "expiry %s exceeds project %s's maximum lifetime (%lld s)",
				       req->expires, project, (long long)p.lifetime_max_s);
	}
	*expires_at = exp;
	return 0;
}
