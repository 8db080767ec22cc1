/*
 * policy.h - lifecycle policies, expiry, sprawl and the audit log (issue
 * 12, "Lifecycle policies and audit").
 *
 * - Labels are the config keys user.owner, user.project and user.purpose.
 *   An instance belongs to the project named by user.project, or to
 *   "default" without one.
 * - Policies are per project (project_policies rows; unset keys take the
 *   defaults of the const table in policy.c): labels required at creation,
 *   a maximum lifetime, the action at expiry, the warning lead time, the
 *   idle action, what counts as sprawl and what prune may remove.
 * - Expiry (expiry.c) is a durable state machine per instance, driven by
 *   a thread of vesseld; each action runs as its own operation.
 * - Sprawl (sprawl.c): what holds resources without earning them; prune
 *   removes the part the policies allow.
 * - The audit log (audit.c): every non-GET API request, hash-chained.
 */
#ifndef VESSEL_MGR_POLICY_H
#define VESSEL_MGR_POLICY_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "vessel/core/err.h"
#include "vessel/mgr/mgr.h"

/* ---- policies (policy.c) ---- */

#define MGR_PROJECT_MAX 63

enum mgr_expiry_action {
	MGR_EXPIRY_NONE, /* idle.action only: report, do nothing */
	MGR_EXPIRY_STOP,
	MGR_EXPIRY_SNAPSHOT_DELETE,
	MGR_EXPIRY_DELETE,
};

/* A project's effective policy (defaults filled in). */
struct mgr_policy {
	char project[MGR_PROJECT_MAX + 1];
	char labels_required[256]; /* "owner,purpose" (label names, no "user.") */
	int64_t lifetime_max_s;	   /* 0: unlimited */
	enum mgr_expiry_action expiry_action;
	int64_t expiry_warn_s;	/* warning lead time (0: none) */
	int64_t expiry_grace_s; /* snapshot-then-delete: snapshot kept this long */
	int64_t stop_timeout_s; /* clean stop before SIGKILL */
	int64_t idle_after_s;	/* 0: no idle action */
	enum mgr_expiry_action idle_action;
	int64_t stopped_after_s;  /* sprawl: stopped this long */
	int64_t snapshot_after_s; /* sprawl: snapshot never restored, this old */
	char prune_allow[128];	  /* sprawl kinds prune may remove */
};

const char *mgr_expiry_action_name(enum mgr_expiry_action a);
/* A duration: "90s", "30m", "12h", "7d", "2w" (or plain seconds). */
int mgr_duration_parse(const char *s, int64_t *out, struct vs_err *err);
/* RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" both ways. */
int mgr_time_parse(const char *s, time_t *out, struct vs_err *err);
void mgr_time_format(time_t t, char *buf, size_t len);

/* The project of an instance: user.project, or "default". */
const char *mgr_instance_project(const struct mgr_instance *inst);
/* Project names: like instance names (mgr_name_validate). */
int mgr_policy_load(struct mgr *m, const char *project, struct mgr_policy *p, struct vs_err *err);
/* {"project","config":{set keys},"effective":{every key}} */
int mgr_policy_get_json(struct mgr *m, const char *project, struct json_object **out,
			struct vs_err *err);
/* Replace the project's explicit keys with cfg (validated as a whole first). */
/* When this host joins a cluster: its project policies into the
 * cluster's (a key the cluster sets already keeps the cluster's value). */
int mgr_policy_cluster_push(struct mgr *m, struct vs_err *err);
int mgr_policy_put(struct mgr *m, const char *project, const struct mgr_config_entry *cfg, size_t n,
		   struct vs_err *err);
/* Creation check: required labels (EINVAL listing what is missing) and the
 * expiry against the maximum lifetime.  *expires_at gets the expiry to
 * record (0: none): the request's, or the lifetime's when none is given. */
int mgr_policy_check_create(struct mgr *m, const struct mgr_create_req *req, time_t *expires_at,
			    struct vs_err *err);

/* ---- expiry (expiry.c) ---- */

/*
 * Parse an expiry: a duration from `now` ("7d"), an RFC 3339 UTC time, or
 * "never" (*out = 0).  A time in the past is refused.
 */
int mgr_expiry_parse(const char *spec, time_t now, time_t *out, struct vs_err *err);
/* The instance's expiry as RFC 3339 into buf, "" without one. */
void mgr_expiry_get(struct mgr *m, int64_t instance_id, char *buf, size_t len);
/* Every instance's expiry in one query (for listings); NULL when there is
 * none or on failure (then every find answers NULL). */
struct mgr_expiries;
struct mgr_expiries *mgr_expiries_load(struct mgr *m);
/* The RFC 3339 expiry of instance id, or NULL. */
const char *mgr_expiries_find(const struct mgr_expiries *e, int64_t id);
void mgr_expiries_free(struct mgr_expiries *e);
/* Record an expiry (0 clears) for a just-created instance. */
int mgr_expiry_record(struct mgr *m, int64_t instance_id, time_t expires_at, struct vs_err *err);
/*
 * Change NAME's expiry: spec as for mgr_expiry_parse, relative to the
 * moment the change is committed; checked against the project's maximum
 * lifetime.  Re-arms an expiry that has acted (EBUSY while it acts).
 */
int mgr_expiry_change(struct mgr *m, const char *name, const char *spec, struct vs_err *err);

/* The daemon's policy thread: expiry warnings and actions, idle actions. */
struct mgr_policy_runner;
int mgr_policy_runner_start(struct mgr *m, int interval_ms, struct mgr_policy_runner **out,
			    struct vs_err *err);
void mgr_policy_runner_stop(struct mgr_policy_runner *r);

/* ---- idleness (idle.c) ---- */

/*
 * Since when the instance has been idle (*since, 0: it is not idle).
 * Until the usage sampler provides real activity figures, idle means
 * stopped: since its last power change.
 */
int mgr_usage_idle_since(struct mgr *m, const struct mgr_instance *inst, time_t *since,
			 struct vs_err *err);
/* When the instance's power state last changed (0 if never recorded). */
time_t mgr_power_changed_at(struct mgr *m, const struct mgr_instance *inst);

/* ---- sprawl and prune (sprawl.c) ---- */

/* [{"kind","name","reason","cost":{"cpu","memory","disk"},"prunable"}] */
int mgr_sprawl(struct mgr *m, struct json_object **out, struct vs_err *err);
/* Remove the prunable items (or only list them with dry_run):
 * {"dry_run","removed":[...],"failed":[...]} */
int mgr_prune(struct mgr *m, bool dry_run, struct json_object **out, struct vs_err *err);

/* ---- the audit log (audit.c) ---- */

struct mgr_audit_rec {
	const char *who;      /* "uid:0", "tls:FINGERPRINT", "vesseld:policy" */
	const char *method;   /* HTTP method, or POLICY for the daemon's own actions */
	const char *path;     /* without the query */
	const char *instance; /* the instance concerned, or "" */
	const char *summary;  /* bounded, secrets removed (mgr_audit_summary) */
	int status;	      /* HTTP status */
};

#define MGR_AUDIT_SUMMARY_MAX 512

int mgr_audit_append(struct mgr *m, const struct mgr_audit_rec *rec, struct vs_err *err);
/* A bounded, secret-free summary of a request body into buf. */
void mgr_audit_summary(struct json_object *body, char *buf, size_t len);
/* Records, oldest first; since (RFC 3339) and instance may be NULL. */
int mgr_audit_list(struct mgr *m, const char *since, const char *instance, struct json_object **out,
		   struct vs_err *err);
/* {"ok","first_bad":seq|null,"records":N,"reason"} */
int mgr_audit_verify(struct mgr *m, struct json_object **out, struct vs_err *err);

#endif
