/*
 * cluster_token.c - join tokens: a host joins a cluster with a one-time
 * token instead of a hand-copied cluster certificate (cluster.h, Incus's
 * `cluster add` / `join --token`; docs/vesseld.md "Join tokens").
 *
 * A token is base64 (RFC 4648, standard alphabet) of a JSON object:
 *
 *   {"server_name": NAME, "secret": 64 hex digits (32 bytes of getrandom),
 *    "expires_at": unix seconds,
 *    "members": [{"address": "HOST:PORT of a member's TLS API",
 *                 "fingerprint": SHA-256 of that member's API certificate}]}
 *
 * Issuing (`vessel cluster add NAME`, on any member): a row in the cluster
 * database's cluster_join_tokens with the SHA-256 of the secret and of the
 * token's JSON as issued (never the secret), so any member can redeem it.
 *
 * Redeeming (POST /1.0/cluster/join, the one route an untrusted TLS client
 * may call): the joining vesseld decodes the token, checks its name and
 * expiry, reaches a listed member's API pinning that member's certificate
 * (its fingerprint from the token; the connection carries the public key
 * pin, so the secret goes only to that member), presents its own API
 * certificate as the TLS client certificate and in the body, and sends the
 * token.  The member compares the secret's hash with the rows of that name
 * in constant time, then refuses with the reason (altered, revoked, used,
 * expired, name taken: 403/409) or marks the row used in the same
 * transaction and answers with the cluster certificate and key and the
 * members' Raft addresses.  Without the secret nothing is revealed: an
 * unknown secret and an unknown name get the same answer.  The joiner
 * writes cluster.crt and cluster.key (0600) only then, and joins through
 * those addresses as `cluster join` does.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster_internal.h"
#include "fsutil.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/client.h"
#include "vessel/mgr/instance.h"
#include "vessel/mgr/tls.h"

#define TOKEN_MEMBERS	16
#define SECRET_BYTES	32
#define PURGE_AFTER_S	(7 * 86400) /* rows of finished tokens kept this long */
#define REDEEM_TIMEOUT	60L
#define RESPONSE_MAX	(1u << 20)
#define TOKEN_TTL_MAX_S (7 * 86400)

struct token {
	char name[64];
	char secret[2 * SECRET_BYTES + 1];
	int64_t expires_at;
	size_t nmembers;
	struct {
		char address[128];
		char fingerprint[MGR_FINGERPRINT_LEN + 1];
	} members[TOKEN_MEMBERS];
	char json_hash[65]; /* SHA-256 of the JSON text as issued */
};

static void iso_of(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Equal hex digests, in time independent of where they differ. */
static bool digest_equal(const char *a, const char *b)
{
	size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;
	if (la != 64 || lb != 64)
		return false;
	volatile unsigned char d = 0;
	for (size_t i = 0; i < 64; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static const char *field_string(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* ---- the token's text ---- */

static int token_decode(const char *text, struct token *t, struct vs_err *err)
{
	memset(t, 0, sizeof(*t));
	if (!text || !*text)
		return vs_errf(err, EINVAL, "join token: empty");
	size_t len = strnlen(text, MGR_CLUSTER_TOKEN_MAX + 1);
	if (len > MGR_CLUSTER_TOKEN_MAX)
		return vs_errf(err, EINVAL, "join token: longer than %d bytes",
			       MGR_CLUSTER_TOKEN_MAX);
	while (len && strchr(" \t\r\n", text[len - 1]))
		len--;
	while (len && strchr(" \t\r\n", *text))
		text++, len--;
	gnutls_datum_t in = { (unsigned char *)text, (unsigned)len }, raw = { NULL, 0 };
	if (!len || gnutls_base64_decode2(&in, &raw) < 0)
		return vs_errf(err, EINVAL, "join token: not base64");
	struct json_tokener *tok = json_tokener_new_ex(8);
	struct json_object *o =
	    tok ? json_tokener_parse_ex(tok, (const char *)raw.data, (int)raw.size) : NULL;
	bool whole = tok && json_tokener_get_error(tok) == json_tokener_success &&
		     json_tokener_get_parse_end(tok) == raw.size;
	json_tokener_free(tok);
	mgr_sha256_buf(raw.data, raw.size, t->json_hash);
	gnutls_free(raw.data);
	int r = 0;
	struct json_object *v, *members;
	if (!o || !whole || !json_object_is_type(o, json_type_object)) {
		r = vs_errf(err, EINVAL, "join token: not a JSON object");
		goto out;
	}
	json_object_object_foreach(o, k, unused)
	{
		(void)unused;
		if (strcmp(k, "server_name") && strcmp(k, "secret") && strcmp(k, "expires_at") &&
		    strcmp(k, "members")) {
			r = vs_errf(err, EINVAL, "join token: unknown key %.40s", k);
			goto out;
		}
	}
	const char *name = field_string(o, "server_name"), *secret = field_string(o, "secret");
	struct vs_err e = VS_ERR_INIT;
	if (!name || strlen(name) >= sizeof(t->name) || mgr_name_validate(name, &e) < 0) {
		r = vs_errf(err, EINVAL, "join token: no valid server_name");
		goto out;
	}
	if (!secret || strlen(secret) != 2 * SECRET_BYTES ||
	    !mgr_is_hex(secret, 2 * SECRET_BYTES)) {
		r = vs_errf(err, EINVAL, "join token: no valid secret");
		goto out;
	}
	if (!json_object_object_get_ex(o, "expires_at", &v) ||
	    !json_object_is_type(v, json_type_int)) {
		r = vs_errf(err, EINVAL, "join token: no expires_at");
		goto out;
	}
	t->expires_at = json_object_get_int64(v);
	if (!json_object_object_get_ex(o, "members", &members) ||
	    !json_object_is_type(members, json_type_array) ||
	    json_object_array_length(members) == 0 ||
	    json_object_array_length(members) > TOKEN_MEMBERS) {
		r = vs_errf(err, EINVAL, "join token: no member list (1 to %d)", TOKEN_MEMBERS);
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(members); i++) {
		struct json_object *m = json_object_array_get_idx(members, i);
		const char *a =
		    json_object_is_type(m, json_type_object) ? field_string(m, "address") : NULL;
		const char *f = a ? field_string(m, "fingerprint") : NULL;
		if (!a || !*a || strlen(a) >= sizeof(t->members[0].address) || !strchr(a, ':') ||
		    strpbrk(a, "/?#@ ") || !f || strlen(f) != MGR_FINGERPRINT_LEN ||
		    !mgr_is_hex(f, MGR_FINGERPRINT_LEN)) {
			r = vs_errf(err, EINVAL,
				    "join token: member %zu: bad address or fingerprint", i);
			goto out;
		}
		snprintf(t->members[i].address, sizeof(t->members[i].address), "%s", a);
		snprintf(t->members[i].fingerprint, sizeof(t->members[i].fingerprint), "%s", f);
		t->nmembers++;
	}
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->secret, sizeof(t->secret), "%s", secret);
out:
	json_object_put(o);
	return r;
}

/* ---- issuing, listing, revoking (on a member) ---- */

struct issue_arg {
	const char *name, *self;
	char secret_hash[65], token_hash[65];
	int64_t now, expires_at;
};

static int rollback(struct mgr_dq *q, int r)
{
	struct vs_err e = VS_ERR_INIT;
	mgr_dq_exec(q, "ROLLBACK", NULL, 0, NULL, NULL, &e);
	return r;
}

static int count_of(struct mgr_dq *q, const char *sql, const struct mgr_dq_value *v, size_t n,
		    int64_t *out, struct vs_err *err)
{
	struct mgr_dq_rows rows = { 0 };
	int r = mgr_dq_query(q, sql, v, n, &rows, err);
	if (r == 0)
		*out = rows.nrows ? mgr_dq_at(&rows, 0, 0)->i : 0;
	if (r == 0 || rows.v)
		mgr_dq_rows_free(&rows);
	return r;
}

static int issue_fn(struct mgr_dq *q, void *arg, struct vs_err *err)
{
	struct issue_arg *a = arg;
	int r = mgr_dq_exec(q, "BEGIN", NULL, 0, NULL, NULL, err);
	if (r < 0)
		return r;
	int64_t n = 0;
	struct mgr_dq_value name = MGR_DQ_TEXT(a->name);
	if ((r = count_of(q, "SELECT COUNT(*) FROM cluster_members WHERE name = ?", &name, 1, &n,
			  err)) < 0)
		return rollback(q, r);
	if (n)
		return rollback(
		    q, vs_errf(err, EEXIST, "the cluster already has a member %s", a->name));
	struct mgr_dq_value pend[] = { MGR_DQ_TEXT(a->name), MGR_DQ_INT(a->now) };
	if ((r = count_of(q,
			  "SELECT COUNT(*) FROM cluster_join_tokens WHERE name = ? AND"
			  " used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
			  pend, 2, &n, err)) < 0)
		return rollback(q, r);
	if (n)
		return rollback(q, vs_errf(err, EEXIST,
					   "a join token for %s is pending (vessel cluster "
					   "revoke-token %s first)",
					   a->name, a->name));
	struct mgr_dq_value old = MGR_DQ_INT(a->now - PURGE_AFTER_S);
	struct mgr_dq_value row[] = { MGR_DQ_TEXT(a->name),	  MGR_DQ_TEXT(a->secret_hash),
				      MGR_DQ_TEXT(a->token_hash), MGR_DQ_TEXT(a->self),
				      MGR_DQ_INT(a->now),	  MGR_DQ_INT(a->expires_at) };
	if ((r = mgr_dq_exec(q, "DELETE FROM cluster_join_tokens WHERE expires_at < ?", &old, 1,
			     NULL, NULL, err)) < 0 ||
	    (r = mgr_dq_exec(q,
			     "INSERT INTO cluster_join_tokens (name, secret_hash, token_hash,"
			     " created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
			     row, 6, NULL, NULL, err)) < 0 ||
	    (r = mgr_dq_exec(q, "COMMIT", NULL, 0, NULL, NULL, err)) < 0)
		return rollback(q, r);
	return 0;
}

int mgr_cluster_token_issue(struct mgr_cluster *c, const char *name, int64_t ttl_s,
			    struct json_object **out, struct vs_err *err)
{
	*out = NULL;
	if (!name || mgr_name_validate(name, err) < 0)
		return vs_err_prefix(err, "member name");
	if (strlen(name) >= sizeof(((struct token *)0)->name))
		return vs_errf(err, EINVAL, "member name: too long");
	if (ttl_s <= 0)
		ttl_s = MGR_CLUSTER_TOKEN_TTL_S;
	if (ttl_s > TOKEN_TTL_MAX_S)
		return vs_errf(err, EINVAL, "expiry: at most %d seconds", TOKEN_TTL_MAX_S);
	struct mgr_cluster_member *mb = NULL;
	size_t nmb = 0;
	int r = mgr_cluster_members(c, &mb, &nmb, err);
	if (r < 0)
		return r;
	/* the members a joiner may ask: online, with a known API certificate */
	/* this member first: the one the administrator is talking to */
	struct json_object *members = json_object_new_array();
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < nmb && json_object_array_length(members) < TOKEN_MEMBERS;
		     i++) {
			const char *host =
			    strncmp(mb[i].url, "https://", 8) == 0 ? mb[i].url + 8 : NULL;
			if (mb[i].self != (pass == 0) || !mb[i].online || !host || !*host ||
			    !mb[i].fingerprint[0])
				continue;
			struct json_object *m = json_object_new_object();
			json_object_object_add(m, "address", json_object_new_string(host));
			json_object_object_add(m, "fingerprint",
					       json_object_new_string(mb[i].fingerprint));
			json_object_array_add(members, m);
		}
	free(mb);
	if (json_object_array_length(members) == 0) {
		json_object_put(members);
		return vs_errf(err, EAGAIN, "no cluster member is online with a TLS API");
	}
	unsigned char raw[SECRET_BYTES];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		json_object_put(members);
		return vs_syserrf(err, errno, "getrandom");
	}
	char secret[2 * SECRET_BYTES + 1];
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(secret + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));
	struct issue_arg a = { .name = name, .self = mgr_cluster_self(c), .now = time(NULL) };
	a.expires_at = a.now + ttl_s;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "server_name", json_object_new_string(name));
	json_object_object_add(o, "secret", json_object_new_string(secret));
	json_object_object_add(o, "expires_at", json_object_new_int64(a.expires_at));
	json_object_object_add(o, "members", members);
	const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	mgr_sha256_buf(js, strlen(js), a.token_hash);
	mgr_sha256_buf(secret, strlen(secret), a.secret_hash);
	gnutls_datum_t in = { (unsigned char *)js, (unsigned)strlen(js) }, b64 = { NULL, 0 };
	if (gnutls_base64_encode2(&in, &b64) < 0) {
		json_object_put(o);
		explicit_bzero(secret, sizeof(secret));
		return vs_errf(err, ENOMEM, "join token: base64");
	}
	json_object_put(o);
	explicit_bzero(secret, sizeof(secret));
	r = mgr_cluster_run(c, issue_fn, &a, err);
	if (r == 0) {
		char exp[32];
		iso_of(a.expires_at, exp);
		*out = json_object_new_object();
		json_object_object_add(*out, "server_name", json_object_new_string(name));
		json_object_object_add(
		    *out, "token",
		    json_object_new_string_len((const char *)b64.data, (int)b64.size));
		json_object_object_add(*out, "expires_at", json_object_new_string(exp));
		vs_log(VS_LOG_INFO, "cluster: join token issued for %s (expires %s)", name, exp);
	}
	gnutls_free(b64.data);
	return r;
}

static int list_fn(struct mgr_dq *q, void *arg, struct vs_err *err)
{
	struct json_object *into = arg;
	struct mgr_dq_rows rows = { 0 };
	int r =
	    mgr_dq_query(q,
			 "SELECT name, created_by, created_at, expires_at FROM cluster_join_tokens"
			 " WHERE used_at IS NULL AND revoked_at IS NULL ORDER BY name",
			 NULL, 0, &rows, err);
	if (r < 0)
		return r;
	int64_t now = time(NULL);
	for (size_t i = 0; i < rows.nrows; i++) {
		char created[32], expires[32];
		iso_of(mgr_dq_at(&rows, i, 2)->i, created);
		iso_of(mgr_dq_at(&rows, i, 3)->i, expires);
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "server_name",
				       json_object_new_string(mgr_dq_at(&rows, i, 0)->s));
		json_object_object_add(o, "created_by",
				       json_object_new_string(mgr_dq_at(&rows, i, 1)->s));
		json_object_object_add(o, "created_at", json_object_new_string(created));
		json_object_object_add(o, "expires_at", json_object_new_string(expires));
		json_object_object_add(o, "expired",
				       json_object_new_boolean(mgr_dq_at(&rows, i, 3)->i <= now));
		json_object_array_add(into, o);
	}
	mgr_dq_rows_free(&rows);
	return 0;
}

int mgr_cluster_tokens(struct mgr_cluster *c, struct json_object **out, struct vs_err *err)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		*out = json_object_new_array();
		int r = mgr_cluster_run(c, list_fn, *out, err);
		if (r == 0)
			return 0;
		json_object_put(*out);
		*out = NULL;
		if (r != -EAGAIN)
			return r;
	}
	return -err->code;
}

struct revoke_arg {
	const char *name;
	int64_t now;
};

static int revoke_fn(struct mgr_dq *q, void *arg, struct vs_err *err)
{
	struct revoke_arg *a = arg;
	struct mgr_dq_value v[] = { MGR_DQ_INT(a->now), MGR_DQ_TEXT(a->name) };
	uint64_t changes = 0;
	int r = mgr_dq_exec(q,
			    "UPDATE cluster_join_tokens SET revoked_at = ? WHERE name = ? AND"
			    " used_at IS NULL AND revoked_at IS NULL",
			    v, 2, NULL, &changes, err);
	if (r == 0 && !changes)
		r = vs_errf(err, ENOENT, "no pending join token for %s", a->name);
	return r;
}

int mgr_cluster_token_revoke(struct mgr_cluster *c, const char *name, struct vs_err *err)
{
	struct revoke_arg a = { name, time(NULL) };
	int r = mgr_cluster_run(c, revoke_fn, &a, err);
	if (r == 0)
		vs_log(VS_LOG_INFO, "cluster: join token for %s revoked", name);
	return r;
}

/* ---- redeeming (on a member, for an untrusted caller) ---- */

struct redeem_arg {
	const struct token *t;
	const char *joiner_fp;
	int64_t now;
	struct json_object *members; /* [{"server_name", "address"}] */
};

static int redeem_fn(struct mgr_dq *q, void *arg, struct vs_err *err)
{
	struct redeem_arg *a = arg;
	int r = mgr_dq_exec(q, "BEGIN", NULL, 0, NULL, NULL, err);
	if (r < 0)
		return r;
	struct mgr_dq_rows rows = { 0 };
	struct mgr_dq_value name = MGR_DQ_TEXT(a->t->name);
	r = mgr_dq_query(q,
			 "SELECT id, secret_hash, token_hash, expires_at, used_at IS NOT NULL,"
			 " revoked_at IS NOT NULL FROM cluster_join_tokens WHERE name = ?",
			 &name, 1, &rows, err);
	if (r < 0) {
		if (rows.v)
			mgr_dq_rows_free(&rows);
		return rollback(q, r);
	}
	char secret_hash[65];
	mgr_sha256_buf(a->t->secret, strlen(a->t->secret), secret_hash);
	/* every row compared, each in constant time */
	ssize_t match = -1;
	for (size_t i = 0; i < rows.nrows; i++)
		if (digest_equal(mgr_dq_at(&rows, i, 1)->s, secret_hash))
			match = (ssize_t)i;
	int64_t id = 0, expires_at = 0, used = 0, revoked = 0;
	bool same = false;
	if (match >= 0) {
		id = mgr_dq_at(&rows, match, 0)->i;
		same = digest_equal(mgr_dq_at(&rows, match, 2)->s, a->t->json_hash);
		expires_at = mgr_dq_at(&rows, match, 3)->i;
		used = mgr_dq_at(&rows, match, 4)->i;
		revoked = mgr_dq_at(&rows, match, 5)->i;
	}
	mgr_dq_rows_free(&rows);
	char when[32];
	iso_of(expires_at, when);
	if (match < 0)
		return rollback(q, vs_errf(err, EACCES, "join token refused: not a valid token"));
	if (!same)
		return rollback(
		    q, vs_errf(err, EACCES, "join token refused: altered (not the token issued)"));
	if (revoked)
		return rollback(q, vs_errf(err, EACCES,
					   "join token refused: the token for %s was revoked",
					   a->t->name));
	if (used)
		return rollback(q, vs_errf(err, EACCES,
					   "join token refused: the token for %s was already used",
					   a->t->name));
	if (expires_at <= a->now)
		return rollback(q, vs_errf(err, EACCES,
					   "join token refused: the token for %s expired at %s",
					   a->t->name, when));
	int64_t taken = 0;
	if ((r = count_of(q, "SELECT COUNT(*) FROM cluster_members WHERE name = ?", &name, 1,
			  &taken, err)) < 0)
		return rollback(q, r);
	if (taken)
		return rollback(
		    q, vs_errf(err, EEXIST, "the cluster already has a member %s", a->t->name));
	struct mgr_dq_value use[] = { MGR_DQ_INT(a->now), MGR_DQ_TEXT(a->joiner_fp),
				      MGR_DQ_INT(id) };
	uint64_t changes = 0;
	if ((r = mgr_dq_exec(q,
			     "UPDATE cluster_join_tokens SET used_at = ?, used_by = ? WHERE id = ?"
			     " AND used_at IS NULL AND revoked_at IS NULL",
			     use, 3, NULL, &changes, err)) < 0)
		return rollback(q, r);
	if (changes != 1)
		return rollback(q, vs_errf(err, EACCES,
					   "join token refused: the token for %s was already used",
					   a->t->name));
	if ((r = mgr_dq_query(q, "SELECT name, address FROM cluster_members ORDER BY name", NULL, 0,
			      &rows, err)) < 0) {
		if (rows.v)
			mgr_dq_rows_free(&rows);
		return rollback(q, r);
	}
	json_object_put(a->members);
	a->members = json_object_new_array();
	for (size_t i = 0; i < rows.nrows; i++) {
		struct json_object *m = json_object_new_object();
		json_object_object_add(m, "server_name",
				       json_object_new_string(mgr_dq_at(&rows, i, 0)->s));
		json_object_object_add(m, "address",
				       json_object_new_string(mgr_dq_at(&rows, i, 1)->s));
		json_object_array_add(a->members, m);
	}
	mgr_dq_rows_free(&rows);
	if ((r = mgr_dq_exec(q, "COMMIT", NULL, 0, NULL, NULL, err)) < 0)
		return rollback(q, r);
	return 0;
}

int mgr_cluster_token_redeem(struct mgr_cluster *c, const char *token, const char *cert_pem,
			     const char *peer_fp, struct json_object **out, struct vs_err *err)
{
	*out = NULL;
	/* the input checked first (on any host: the API fuzzer reaches it) */
	struct token t;
	int r = token_decode(token, &t, err);
	if (r < 0)
		return r;
	char fp[MGR_FINGERPRINT_LEN + 1];
	if (!cert_pem || strlen(cert_pem) > 64 * 1024 ||
	    mgr_tls_fingerprint_pem(cert_pem, strlen(cert_pem), fp, err) < 0)
		return vs_errf(err, EINVAL,
			       "certificate: expected the joiner's API certificate (PEM)");
	if (peer_fp && strcmp(peer_fp, fp) != 0)
		return vs_errf(err, EACCES,
			       "certificate: not the client certificate of this TLS connection");
	if (!mgr_cluster_enabled(c))
		return vs_errf(err, ENOENT, "this host is not a cluster member");
	/* what is handed over, read before the token is spent */
	vs_cleanup_free char *crt_path = NULL, *key_path = NULL, *crt = NULL, *key = NULL;
	size_t len;
	if (asprintf(&crt_path, "%s/cluster.crt", mgr_cluster_dir(c)) < 0 ||
	    asprintf(&key_path, "%s/cluster.key", mgr_cluster_dir(c)) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if (vs_read_file(crt_path, &crt, &len, 1u << 20, err) < 0 ||
	    vs_read_file(key_path, &key, &len, 1u << 20, err) < 0)
		return -EIO;
	struct redeem_arg a = { .t = &t, .joiner_fp = fp, .now = time(NULL) };
	r = mgr_cluster_run(c, redeem_fn, &a, err);
	explicit_bzero(&t.secret, sizeof(t.secret));
	if (r < 0) {
		json_object_put(a.members);
		vs_log(VS_LOG_INFO, "cluster: join token for %s refused: %s", t.name, err->msg);
		return r;
	}
	*out = json_object_new_object();
	json_object_object_add(*out, "server_name", json_object_new_string(t.name));
	json_object_object_add(*out, "cluster_certificate", json_object_new_string(crt));
	json_object_object_add(*out, "cluster_key", json_object_new_string(key));
	json_object_object_add(*out, "members", a.members);
	explicit_bzero(key, strlen(key));
	vs_log(VS_LOG_INFO, "cluster: join token for %s redeemed by certificate %s", t.name, fp);
	return 0;
}

/* ---- joining with a token (on the new host) ---- */

struct buf {
	char *data;
	size_t len;
	bool over;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
	struct buf *b = ud;
	size_t n = sz * nm;
	if (b->len + n > RESPONSE_MAX) {
		b->over = true;
		return 0;
	}
	char *nd = realloc(b->data, b->len + n + 1);
	if (!nd)
		return 0;
	memcpy(nd + b->len, p, n);
	b->data = nd;
	b->len += n;
	b->data[b->len] = 0;
	return n;
}

/* "sha256//BASE64" of the public key of a PEM certificate, for
 * CURLOPT_PINNEDPUBLICKEY. */
static int pubkey_pin(const char *pem, char **out, struct vs_err *err)
{
	*out = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t in = { (unsigned char *)pem, (unsigned)strlen(pem) }, der = { NULL, 0 },
		       b64 = { NULL, 0 };
	unsigned char digest[32];
	int r = 0;
	if (gnutls_x509_crt_init(&crt) < 0 || gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM) < 0 ||
	    gnutls_pubkey_import_x509(pub, crt, 0) < 0 ||
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der) < 0 ||
	    gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, digest) < 0) {
		r = vs_errf(err, EIO, "the member's certificate: cannot read its public key");
		goto out;
	}
	gnutls_datum_t d = { digest, sizeof(digest) };
	if (gnutls_base64_encode2(&d, &b64) < 0 ||
	    asprintf(out, "sha256//%.*s", (int)b64.size, (const char *)b64.data) < 0) {
		*out = NULL;
		r = vs_errf(err, ENOMEM, "out of memory");
	}
out:
	gnutls_free(der.data);
	gnutls_free(b64.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	return r;
}

/*
 * POST the token to the member at ADDRESS (its API), pinning the token's
 * fingerprint.  *answered says whether the member answered (its refusal
 * is final; a member that cannot be reached or shows another certificate
 * is not).
 */
static int redeem_at(struct mgr_cluster *c, const char *address, const char *fingerprint,
		     const char *body, struct json_object **md, bool *answered, struct vs_err *err)
{
	*md = NULL;
	*answered = false;
	vs_cleanup_free char *url = NULL, *pem = NULL, *pin = NULL, *crt = NULL, *key = NULL;
	if (asprintf(&url, "https://%s", address) < 0 ||
	    asprintf(&crt, "%s/server.crt", mgr_cluster_state_dir(c)) < 0 ||
	    asprintf(&key, "%s/server.key", mgr_cluster_state_dir(c)) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	int r = mgr_client_fetch_server_cert(url, &pem, err);
	if (r < 0)
		return r;
	char fp[MGR_FINGERPRINT_LEN + 1];
	if ((r = mgr_tls_fingerprint_pem(pem, strlen(pem), fp, err)) < 0)
		return r;
	if (strcmp(fp, fingerprint) != 0)
		return vs_errf(
		    err, EACCES,
		    "member %s shows a certificate with fingerprint %s, not the token's %s",
		    address, fp, fingerprint);
	if ((r = pubkey_pin(pem, &pin, err)) < 0)
		return r;
	vs_cleanup_free char *full = NULL;
	if (asprintf(&full, "%s/1.0/cluster/join", url) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	CURL *h = curl_easy_init();
	if (!h)
		return vs_errf(err, ENOMEM, "out of memory");
	struct buf b = { 0 };
	struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, full);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_SSLCERT, crt);
	curl_easy_setopt(h, CURLOPT_SSLKEY, key);
	/* the pinned key is the trust: no CA, no host name */
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, pin);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, REDEEM_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hl);
	struct json_object *o = cc == CURLE_OK && b.data ? json_tokener_parse(b.data) : NULL;
	free(b.data);
	if (cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
		r = vs_errf(err, EACCES, "member %s: its key is not the pinned one", address);
	else if (cc != CURLE_OK)
		r = vs_errf(err, EIO, "member %s: %s", address,
			    b.over ? "answer too large" : curl_easy_strerror(cc));
	else if (!o || !json_object_is_type(o, json_type_object))
		r = vs_errf(err, EIO, "member %s answered %ld with something that is not JSON",
			    address, status);
	if (r < 0) {
		json_object_put(o);
		return r;
	}
	*answered = true;
	struct json_object *v;
	if (status != 200) {
		const char *msg = field_string(o, "error");
		r = vs_errf(err,
			    status == 404 && !msg ? ENOTSUP : mgr_client_errno_of_status(status),
			    "member %s: %s", address, msg ? msg : "refused");
		json_object_put(o);
		return r;
	}
	if (!json_object_object_get_ex(o, "metadata", &v) ||
	    !json_object_is_type(v, json_type_object)) {
		json_object_put(o);
		return vs_errf(err, EIO, "member %s: no metadata in its answer", address);
	}
	*md = json_object_get(v);
	json_object_put(o);
	return 0;
}

/* Write a private file (0600) atomically. */
static int write_private(const char *path, const char *text, struct vs_err *err)
{
	vs_cleanup_free char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	unlink(tmp);
	vs_cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return vs_syserrf(err, errno, "create %s", tmp);
	int r = vs_write_full(fd, text, strlen(text));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return vs_syserrf(err, -r, "write %s", path);
	}
	return 0;
}

int mgr_cluster_join_token(struct mgr_cluster *c, const char *name, const char *address,
			   const char *token, struct vs_err *err)
{
	struct token t;
	int r = token_decode(token, &t, err);
	if (r < 0)
		return r;
	if (!name || strcmp(name, t.name) != 0)
		return vs_errf(err, EINVAL, "the join token is for member %s, not %s", t.name,
			       name ? name : "(none)");
	char when[32];
	iso_of(t.expires_at, when);
	if (t.expires_at <= time(NULL))
		return vs_errf(err, EACCES, "the join token for %s expired at %s", t.name, when);
	if ((r = mgr_cluster_join_check(c, name, address, err)) < 0)
		return r;
	vs_cleanup_free char *own = NULL, *crt_path = NULL;
	size_t len;
	if (asprintf(&crt_path, "%s/server.crt", mgr_cluster_state_dir(c)) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if (vs_read_file(crt_path, &own, &len, 1u << 20, err) < 0)
		return vs_err_prefix(err, "this host's API certificate");
	struct json_object *b = json_object_new_object();
	json_object_object_add(b, "cluster_token", json_object_new_string(token));
	json_object_object_add(b, "certificate", json_object_new_string(own));
	vs_cleanup_free char *body = strdup(json_object_to_json_string(b));
	json_object_put(b);
	if (!body)
		return vs_errf(err, ENOMEM, "out of memory");
	struct json_object *md = NULL;
	r = -ENOTCONN;
	for (size_t i = 0; i < t.nmembers; i++) {
		struct vs_err e = VS_ERR_INIT;
		bool answered;
		r = redeem_at(c, t.members[i].address, t.members[i].fingerprint, body, &md,
			      &answered, &e);
		*err = e;
		if (r == 0 || answered)
			break;
		vs_log(VS_LOG_INFO, "cluster: join token: %s", e.msg);
	}
	explicit_bzero(body, strlen(body));
	if (r < 0)
		return r;
	/* what the member handed over */
	const char *crt = field_string(md, "cluster_certificate");
	const char *key = field_string(md, "cluster_key");
	struct json_object *members;
	const char *joins[TOKEN_MEMBERS * 4];
	size_t njoins = 0;
	char fp[MGR_FINGERPRINT_LEN + 1];
	struct vs_err e = VS_ERR_INIT;
	if (!crt || !key || mgr_tls_fingerprint_pem(crt, strlen(crt), fp, &e) < 0 ||
	    !strstr(key, "PRIVATE KEY-----") ||
	    !json_object_object_get_ex(md, "members", &members) ||
	    !json_object_is_type(members, json_type_array)) {
		json_object_put(md);
		return vs_errf(err, EPROTO, "the member's answer has no cluster certificate");
	}
	for (size_t i = 0; i < json_object_array_length(members) && njoins < VS_ARRAY_SIZE(joins);
	     i++) {
		const char *a = field_string(json_object_array_get_idx(members, i), "address");
		if (a && strchr(a, ':'))
			joins[njoins++] = a;
	}
	vs_cleanup_free char *dir_crt = NULL, *dir_key = NULL;
	if (asprintf(&dir_crt, "%s/cluster.crt", mgr_cluster_dir(c)) < 0 ||
	    asprintf(&dir_key, "%s/cluster.key", mgr_cluster_dir(c)) < 0) {
		json_object_put(md);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	/* The conflict checks of the join need the cluster certificate, which
	 * only the redeem hands over: a join refused after it (a conflict, a
	 * taken name, ...) removes what is written here, so the host is as
	 * before (the token stays spent).  Files there before are restored. */
	struct stat st;
	bool had_dir = stat(mgr_cluster_dir(c), &st) == 0;
	vs_cleanup_free char *old_crt = NULL, *old_key = NULL;
	if (had_dir && (vs_read_file(dir_crt, &old_crt, &len, 1u << 20, NULL) < 0 ||
			vs_read_file(dir_key, &old_key, &len, 1u << 20, NULL) < 0)) {
		free(old_crt);
		free(old_key);
		old_crt = old_key = NULL;
	}
	if (!njoins)
		r = vs_errf(err, EPROTO, "the member's answer lists no Raft address");
	else if (mkdir(mgr_cluster_dir(c), 0700) < 0 && errno != EEXIST)
		r = vs_syserrf(err, errno, "mkdir %s", mgr_cluster_dir(c));
	else if ((r = write_private(dir_crt, crt, err)) == 0)
		r = write_private(dir_key, key, err);
	if (r == 0) {
		vs_log(VS_LOG_INFO, "cluster: join token accepted: cluster certificate %s written",
		       fp);
		r = mgr_cluster_join_peers(c, name, address, joins, njoins, err);
	}
	json_object_put(md);
	if (r < 0 && !had_dir) {
		mgr_rm_rf(mgr_cluster_dir(c), NULL);
	} else if (r < 0) {
		struct vs_err e2 = VS_ERR_INIT;
		if (!old_crt || !old_key) {
			unlink(dir_crt);
			unlink(dir_key);
		} else if (write_private(dir_crt, old_crt, &e2) < 0 ||
			   write_private(dir_key, old_key, &e2) < 0) {
			vs_log(VS_LOG_WARN, "cluster: join token: restoring %s: %s",
			       mgr_cluster_dir(c), e2.msg);
		}
	}
	if (r < 0)
		vs_log(VS_LOG_INFO, "cluster: join token refused after its redeem: the token is "
				    "spent, the cluster certificate removed here");
	return r;
}
