/*
 * trust.c - the TLS client trust store (vessel/mgr/trust.h): rows of the
 * `certificates` table.  The fingerprint is computed here from the PEM
 * (never taken from a caller), so a row always names its certificate.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vessel/mgr/instance.h"
#include "vessel/mgr/trust.h"

#define CERT_PEM_MAX (64u << 10)

static int check_name(const char *name, struct vs_err *err)
{
	size_t n = strlen(name);
	if (n == 0 || n > 64)
		return vs_errf(err, EINVAL, "certificate name must be 1 to 64 characters");
	for (size_t i = 0; i < n; i++)
		if (!isprint((unsigned char)name[i]))
			return vs_errf(err, EINVAL, "certificate name: unprintable character");
	return 0;
}

/* A fingerprint or a prefix of one: 12..64 lowercase hex digits. */
static int check_fp(const char *fp, struct vs_err *err)
{
	size_t n = strlen(fp);
	if (n < 12 || n > MGR_FINGERPRINT_LEN || strspn(fp, "0123456789abcdef") != n)
		return vs_errf(err, EINVAL,
			       "fingerprint \"%.80s\": expected 12 to 64 lowercase hex digits", fp);
	return 0;
}

int mgr_trust_add(struct mgr_db *db, const char *pem, const char *name,
		  char fp[MGR_FINGERPRINT_LEN + 1], struct vs_err *err)
{
	if (check_name(name, err) < 0)
		return -EINVAL;
	size_t len = strlen(pem);
	if (len > CERT_PEM_MAX)
		return vs_errf(err, E2BIG, "certificate too large");
	if (mgr_tls_fingerprint_pem(pem, len, fp, err) < 0)
		return -EINVAL;
	char now[32];
	mgr_timestamp(now, sizeof(now));
	mgr_db_lock(db);
	int r = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    db,
		    "INSERT INTO certificates (fingerprint, name, type, certificate, "
		    "created_at) VALUES (?, ?, 'client', ?, ?)",
		    err);
		if (!st) {
			r = -EIO;
		} else {
			mgr_stmt_bind_text(st, 1, fp);
			mgr_stmt_bind_text(st, 2, name);
			mgr_stmt_bind_text(st, 3, pem);
			mgr_stmt_bind_text(st, 4, now);
			int rc = mgr_stmt_step(st);
			if ((rc & 0xff) == SQLITE_CONSTRAINT)
				r = vs_errf(err, EEXIST, "certificate %.12s is already trusted",
					    fp);
			else if (rc != SQLITE_DONE)
				r = mgr_db_err(db, rc, "add certificate", err);
		}
	}
	mgr_db_unlock(db);
	return r;
}

static struct json_object *row_json(struct mgr_stmt *st)
{
	struct json_object *o = json_object_new_object();
	static const char *const keys[] = { "fingerprint", "name", "type", "certificate",
					    "created_at" };
	for (int i = 0; i < 5; i++)
		json_object_object_add(o, keys[i],
				       json_object_new_string(mgr_stmt_column_text(st, i)));
	return o;
}

#define CERT_COLS "SELECT fingerprint, name, type, certificate, created_at FROM certificates "

int mgr_trust_list(struct mgr_db *db, struct json_object **out, struct vs_err *err)
{
	*out = NULL;
	struct json_object *a = json_object_new_array();
	mgr_db_lock(db);
	int r = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db, CERT_COLS "ORDER BY name, fingerprint", err);
		int rc = SQLITE_DONE;
		if (!st)
			r = -EIO;
		else
			while ((rc = mgr_stmt_step(st)) == SQLITE_ROW)
				json_object_array_add(a, row_json(st));
		if (!r && rc != SQLITE_DONE)
			r = mgr_db_err(db, rc, "list certificates", err);
	}
	mgr_db_unlock(db);
	if (r < 0) {
		json_object_put(a);
		return r;
	}
	*out = a;
	return 0;
}

/* The full fingerprint a prefix names (exactly one row). */
static int resolve(struct mgr_db *db, const char *prefix, char fp[MGR_FINGERPRINT_LEN + 1],
		   struct json_object **row, struct vs_err *err)
{
	if (check_fp(prefix, err) < 0)
		return -EINVAL;
	char like[MGR_FINGERPRINT_LEN + 2];
	snprintf(like, sizeof(like), "%s%%", prefix);
	int r = 0, n = 0;
	mgr_db_lock(db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db, CERT_COLS "WHERE fingerprint LIKE ? LIMIT 2", err);
		int rc = SQLITE_DONE;
		if (!st) {
			r = -EIO;
		} else {
			mgr_stmt_bind_text(st, 1, like);
			while ((rc = mgr_stmt_step(st)) == SQLITE_ROW) {
				if (n++ == 0) {
					snprintf(fp, MGR_FINGERPRINT_LEN + 1, "%s",
						 mgr_stmt_column_text(st, 0));
					if (row)
						*row = row_json(st);
				}
			}
			if (rc != SQLITE_DONE)
				r = mgr_db_err(db, rc, "find certificate", err);
		}
	}
	mgr_db_unlock(db);
	if (r == 0 && n == 0)
		r = vs_errf(err, ENOENT, "certificate %s not found", prefix);
	else if (r == 0 && n > 1)
		r = vs_errf(err, EINVAL, "fingerprint prefix %s is ambiguous", prefix);
	if (r < 0 && row && *row) {
		json_object_put(*row);
		*row = NULL;
	}
	return r;
}

int mgr_trust_get(struct mgr_db *db, const char *fingerprint, struct json_object **out,
		  struct vs_err *err)
{
	char fp[MGR_FINGERPRINT_LEN + 1];
	*out = NULL;
	return resolve(db, fingerprint, fp, out, err);
}

int mgr_trust_remove(struct mgr_db *db, const char *fingerprint, struct vs_err *err)
{
	char fp[MGR_FINGERPRINT_LEN + 1];
	int r = resolve(db, fingerprint, fp, NULL, err);
	if (r < 0)
		return r;
	mgr_db_lock(db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db, "DELETE FROM certificates WHERE fingerprint = ?", err);
		if (!st) {
			r = -EIO;
		} else {
			mgr_stmt_bind_text(st, 1, fp);
			int rc = mgr_stmt_step(st);
			if (rc != SQLITE_DONE)
				r = mgr_db_err(db, rc, "remove certificate", err);
		}
	}
	mgr_db_unlock(db);
	return r;
}

bool mgr_trust_check(struct mgr_db *db, const char *fingerprint)
{
	struct vs_err err = VS_ERR_INIT;
	bool found = false;
	mgr_db_lock(db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db, "SELECT 1 FROM certificates WHERE fingerprint = ?", &err);
		if (st) {
			mgr_stmt_bind_text(st, 1, fingerprint);
			found = mgr_stmt_step(st) == SQLITE_ROW;
		}
	}
	mgr_db_unlock(db);
	return found;
}
