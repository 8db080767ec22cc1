/*
 * audit.c - the audit log (policy.h): every non-GET request through the
 * API (refused ones too) and every action of the daemon's policy thread,
 * as rows of audit_log, append-only and hash-chained.
 *
 * Each record's hash is SHA-256 (GnuTLS) over the previous record's hash
 * and its own fields, each length-prefixed ("N:" + bytes) so that no two
 * records hash the same input; the first record chains from 64 zeros.
 * Triggers refuse UPDATE and DELETE on the table, so the daemon cannot
 * change history by mistake; someone editing the file directly can, and
 * verification catches it:
 *   - an edited record no longer matches its hash (or, re-hashed, the next
 *     record's chain breaks);
 *   - a deleted record leaves a gap in the sequence numbers;
 *   - deleted records at the end are caught by STATE/audit-head, the last
 *     sequence number and hash, rewritten (atomically) after each append.
 * The verifier reports the first bad sequence number.
 *
 * Appends take the database lock for the read of the last hash and the
 * insert together, so records are chained in the order they are numbered.
 *
 * In a cluster the log is the cluster database's (mgr_shared_db): one
 * chain for all members, each record naming the member that wrote it
 * (`member`, hashed after the other fields when not empty, so records of
 * a single host hash as before).  Two members appending at once meet in
 * the leader's transaction (busy) or on the sequence number (taken): the
 * loser reads the new last record and tries again.  The head file of a
 * member is STATE/cluster/audit-head (its last append to the cluster's
 * log).  A request forwarded from another member is recorded there, by
 * the member that received it, not again by the one that ran it (api.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mgr_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/cluster.h"
#include "vessel/mgr/policy.h"

#define HASH_HEX 65
static const char genesis[HASH_HEX] =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct audit_fields {
	int64_t seq;
	const char *time, *who, *method, *path, *instance, *summary;
	int status;
	const char *member; /* "" on a single host: not hashed */
};

static int buf_add(char **buf, size_t *len, size_t *cap, const char *s)
{
	char pre[32];
	size_t sl = strlen(s);
	int pl = snprintf(pre, sizeof(pre), "%zu:", sl);
	if (*len + (size_t)pl + sl + 1 > *cap) {
		size_t nc = (*len + (size_t)pl + sl + 1) * 2;
		char *nb = realloc(*buf, nc);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, pre, (size_t)pl);
	memcpy(*buf + *len + pl, s, sl);
	*len += (size_t)pl + sl;
	return 0;
}

/* hex SHA-256 of prev + the fields into out. */
static int audit_hash(const char *prev, const struct audit_fields *f, char out[HASH_HEX])
{
	char seq[24], status[16];
	snprintf(seq, sizeof(seq), "%lld", (long long)f->seq);
	snprintf(status, sizeof(status), "%d", f->status);
	const char *parts[] = { prev,	 seq,	      f->time,	  f->who, f->method,
				f->path, f->instance, f->summary, status, f->member };
	vs_cleanup_free char *buf = NULL;
	size_t len = 0, cap = 0;
	size_t nparts = VS_ARRAY_SIZE(parts) - (f->member && *f->member ? 0 : 1);
	for (size_t i = 0; i < nparts; i++)
		if (buf_add(&buf, &len, &cap, parts[i]) < 0)
			return -ENOMEM;
	unsigned char d[32];
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, len, d) < 0)
		return -EIO;
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return 0;
}

static char *head_path(struct mgr *m)
{
	char *p = NULL;
	bool cluster = mgr_cluster_enabled(mgr_get_cluster(m));
	return asprintf(&p, "%s/%saudit-head", mgr_state_dir(m), cluster ? "cluster/" : "") < 0
		   ? NULL
		   : p;
}

/* Holding the db lock: STATE/audit-head = "SEQ HASH\n" (temp + rename). */
static void head_write(struct mgr *m, int64_t seq, const char *hash)
{
	vs_cleanup_free char *path = head_path(m), *tmp = NULL;
	if (!path || asprintf(&tmp, "%s.tmp", path) < 0)
		return;
	char line[128];
	int n = snprintf(line, sizeof(line), "%lld %s\n", (long long)seq, hash);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	int r = vs_write_full(fd, line, (size_t)n);
	close(fd);
	if (r < 0 || rename(tmp, path) < 0)
		vs_log(VS_LOG_WARN, "audit: cannot write %s", path);
}

static int append_once(struct mgr *m, struct mgr_db *db, const char *member,
		       const struct mgr_audit_rec *rec, struct vs_err *err)
{
	char now[32], prev[HASH_HEX], hash[HASH_HEX];
	mgr_timestamp(now, sizeof(now));
	mgr_db_lock(db);
	int r = mgr_db_begin(db, err);
	if (r < 0) {
		mgr_db_unlock(db);
		return r;
	}
	int64_t seq = 1;
	memcpy(prev, genesis, HASH_HEX);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", err);
		if (!st) {
			r = -err->code;
		} else if (mgr_stmt_step(st) == SQLITE_ROW) {
			seq = mgr_stmt_column_int64(st, 0) + 1;
			snprintf(prev, sizeof(prev), "%s", mgr_stmt_column_text(st, 1));
		}
	}
	struct audit_fields f = { seq,
				  now,
				  rec->who ? rec->who : "",
				  rec->method ? rec->method : "",
				  rec->path ? rec->path : "",
				  rec->instance ? rec->instance : "",
				  rec->summary ? rec->summary : "",
				  rec->status,
				  member };
	if (r == 0 && audit_hash(prev, &f, hash) < 0)
		r = vs_errf(err, EIO, "audit: SHA-256 failed");
	if (r == 0) {
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    db,
		    "INSERT INTO audit_log (seq, time, who, method, path, instance, summary, "
		    "status, hash, member) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_int64(st, 1, seq);
			mgr_stmt_bind_text(st, 2, f.time);
			mgr_stmt_bind_text(st, 3, f.who);
			mgr_stmt_bind_text(st, 4, f.method);
			mgr_stmt_bind_text(st, 5, f.path);
			mgr_stmt_bind_text(st, 6, f.instance);
			mgr_stmt_bind_text(st, 7, f.summary);
			mgr_stmt_bind_int(st, 8, f.status);
			mgr_stmt_bind_text(st, 9, hash);
			mgr_stmt_bind_text(st, 10, member);
			int rc = mgr_stmt_step(st);
			if (rc != SQLITE_DONE)
				r = mgr_db_err(db, rc, "audit append", err);
		}
	}
	if (r == 0)
		r = mgr_db_commit(db, err);
	if (r < 0)
		mgr_db_rollback(db);
	else
		head_write(m, seq, hash);
	mgr_db_unlock(db);
	return r;
}

int mgr_audit_append(struct mgr *m, const struct mgr_audit_rec *rec, struct vs_err *err)
{
	struct mgr_db *db = mgr_shared_db(m, err);
	if (!db)
		return -err->code;
	struct mgr_cluster *c = mgr_get_cluster(m);
	const char *member = mgr_cluster_enabled(c) ? mgr_cluster_self(c) : "";
	/* another member's append won the race: chain after it (a few
	 * seconds of tries; each loser goes again at once or nearly) */
	for (int attempt = 0;; attempt++) {
		vs_err_clear(err);
		int r = append_once(m, db, member, rec, err);
		if (r == 0 || attempt >= 200 || (r != -EBUSY && r != -EEXIST && r != -EAGAIN))
			return r;
		struct timespec ts = { 0, (attempt < 20 ? 1 : 20) * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/* ---- summaries ---- */

static bool secret_key(const char *k)
{
	static const char *const words[] = { "password", "secret",	"token",
					     "private",	 "certificate", "environment" };
	for (size_t i = 0; i < VS_ARRAY_SIZE(words); i++)
		if (strcasestr(k, words[i]))
			return true;
	return false;
}

/* A copy of o with secrets replaced and long strings cut (depth-bounded). */
static struct json_object *redact(struct json_object *o, int depth)
{
	if (!o)
		return NULL;
	switch (json_object_get_type(o)) {
	case json_type_object: {
		if (depth > 4)
			return json_object_new_string("{...}");
		struct json_object *c = json_object_new_object();
		json_object_object_foreach(o, k, v)
		{
			json_object_object_add(c, k,
					       secret_key(k) ? json_object_new_string("<redacted>")
							     : redact(v, depth + 1));
		}
		return c;
	}
	case json_type_array: {
		if (depth > 4)
			return json_object_new_string("[...]");
		struct json_object *c = json_object_new_array();
		size_t n = json_object_array_length(o);
		for (size_t i = 0; i < n && i < 16; i++)
			json_object_array_add(c,
					      redact(json_object_array_get_idx(o, i), depth + 1));
		if (n > 16)
			json_object_array_add(c, json_object_new_string("..."));
		return c;
	}
	case json_type_string: {
		const char *s = json_object_get_string(o);
		if (strlen(s) <= 64)
			return json_object_new_string(s);
		char cut[68];
		snprintf(cut, sizeof(cut), "%.61s...", s);
		return json_object_new_string(cut);
	}
	default: return json_object_get(o);
	}
}

void mgr_audit_summary(struct json_object *body, char *buf, size_t len)
{
	buf[0] = 0;
	if (!body || !len)
		return;
	struct json_object *c = redact(body, 0);
	const char *s = json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t max = len < MGR_AUDIT_SUMMARY_MAX ? len : MGR_AUDIT_SUMMARY_MAX;
	if (strlen(s) < max)
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "%.*s...", (int)(max - 4), s);
	json_object_put(c);
}

/* ---- reading and verifying ---- */

static struct json_object *row_json(struct mgr_stmt *st)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "seq", json_object_new_int64(mgr_stmt_column_int64(st, 0)));
	static const char *const names[] = {
		"time", "who", "method", "path", "instance", "summary"
	};
	for (int i = 0; i < 6; i++)
		json_object_object_add(o, names[i],
				       json_object_new_string(mgr_stmt_column_text(st, 1 + i)));
	json_object_object_add(o, "status", json_object_new_int(mgr_stmt_column_int(st, 7)));
	json_object_object_add(o, "hash", json_object_new_string(mgr_stmt_column_text(st, 8)));
	json_object_object_add(o, "member", json_object_new_string(mgr_stmt_column_text(st, 9)));
	return o;
}

int mgr_audit_list(struct mgr *m, const char *since, const char *instance, struct json_object **out,
		   struct vs_err *err)
{
	time_t t;
	if (since && *since && mgr_time_parse(since, &t, err) < 0)
		return vs_err_prefix(err, "since");
	if (instance && *instance && mgr_name_validate(instance, err) < 0)
		return vs_err_prefix(err, "instance");
	struct mgr_db *db = mgr_shared_db(m, err);
	if (!db)
		return -err->code;
	struct json_object *a = json_object_new_array();
	int r = 0;
	mgr_db_lock(db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    db,
		    "SELECT seq, time, who, method, path, instance, summary, status, hash, member "
		    "FROM audit_log WHERE (?1 = '' OR time >= ?1) AND (?2 = '' OR instance = ?2) "
		    "ORDER BY seq",
		    err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_text(st, 1, since ? since : "");
			mgr_stmt_bind_text(st, 2, instance ? instance : "");
			while (mgr_stmt_step(st) == SQLITE_ROW)
				json_object_array_add(a, row_json(st));
		}
	}
	mgr_db_unlock(db);
	if (r < 0) {
		json_object_put(a);
		return r;
	}
	*out = a;
	return 0;
}

int mgr_audit_verify(struct mgr *m, struct json_object **out, struct vs_err *err)
{
	int64_t expect = 1, first_bad = 0, records = 0;
	char prev[HASH_HEX], reason[200] = "";
	memcpy(prev, genesis, HASH_HEX);
	struct mgr_db *db = mgr_shared_db(m, err);
	if (!db)
		return -err->code;
	int r = 0;
	mgr_db_lock(db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    db,
		    "SELECT seq, time, who, method, path, instance, summary, status, hash, member "
		    "FROM audit_log ORDER BY seq",
		    err);
		if (!st)
			r = -err->code;
		while (st && !first_bad && mgr_stmt_step(st) == SQLITE_ROW) {
			records++;
			struct audit_fields f = {
				mgr_stmt_column_int64(st, 0), mgr_stmt_column_text(st, 1),
				mgr_stmt_column_text(st, 2),  mgr_stmt_column_text(st, 3),
				mgr_stmt_column_text(st, 4),  mgr_stmt_column_text(st, 5),
				mgr_stmt_column_text(st, 6),  mgr_stmt_column_int(st, 7),
				mgr_stmt_column_text(st, 9),
			};
			const char *stored = mgr_stmt_column_text(st, 8);
			char h[HASH_HEX];
			if (f.seq != expect) {
				first_bad = expect;
				snprintf(reason, sizeof(reason), "record %lld is missing",
					 (long long)expect);
			} else if (audit_hash(prev, &f, h) < 0) {
				r = vs_errf(err, EIO, "audit: SHA-256 failed");
				break;
			} else if (!stored || strcmp(h, stored) != 0) {
				first_bad = f.seq;
				snprintf(reason, sizeof(reason),
					 "record %lld does not match its hash (altered, or the "
					 "record before it was)",
					 (long long)f.seq);
			} else {
				memcpy(prev, h, HASH_HEX);
				expect++;
			}
		}
	}
	mgr_db_unlock(db);
	if (r < 0)
		return r;
	if (!first_bad) {
		/* records removed at the end: the head file names a later one */
		vs_cleanup_free char *path = head_path(m), *text = NULL;
		size_t len;
		long long hseq;
		char hhash[HASH_HEX];
		if (path && vs_read_file(path, &text, &len, 256, NULL) == 0 &&
		    sscanf(text, "%lld %64s", &hseq, hhash) == 2) {
			if (hseq >= expect) {
				first_bad = expect;
				snprintf(reason, sizeof(reason),
					 "records %lld to %lld are missing (the log ends early)",
					 (long long)expect, hseq);
			} else if (hseq == expect - 1 && strcmp(hhash, prev) != 0) {
				first_bad = hseq; /* the last record replaced by another */
				snprintf(reason, sizeof(reason),
					 "record %lld is not the one last written (audit-head)",
					 hseq);
			}
		}
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(!first_bad));
	json_object_object_add(o, "first_bad", first_bad ? json_object_new_int64(first_bad) : NULL);
	json_object_object_add(o, "records", json_object_new_int64(records));
	json_object_object_add(o, "reason", json_object_new_string(reason));
	*out = o;
	return 0;
}
