/*
 * cluster_image.c - images and storage volumes across a cluster
 * (cluster.h).
 *
 * Each member keeps its own image store and its own volumes: their files
 * are where the engine uses them.  What makes them the cluster's is
 * asking: a listing merges the other online members' answers (each request
 * sent as a forwarded one, which a member answers for itself only, so
 * nothing is asked twice), and an image a member lacks is fetched from one
 * that has it when an instance needs it here.
 *
 * The fetch: GET /1.0/images/REF on the others finds a holder and the
 * image's fingerprint; GET /1.0/images/FP/export there streams the files
 * another host needs to import it again (a container image's OCI layout
 * as imported, a VM image's store directory) as a tar into images/tmp; it
 * is imported here with every check of an import (each OCI blob against
 * its digest; a VM image's metadata against the fingerprint, each file
 * against the metadata) and the resulting fingerprint must be the
 * sender's.  One fetch at a time per host: a second caller for the same
 * image finds it here once the first is done.
 *
 * Aliases: a name names one image in the whole cluster.  Each member's
 * store keeps its own aliases (a fetched copy carries the holder's), so
 * the cluster database's cluster_image_aliases holds one row per name
 * with its image's fingerprint, claimed by the member a caller asks before
 * it makes the alias (its UNIQUE name settles two members racing); the
 * same name for the same image is no conflict.  A row whose alias no
 * member lists any more (its image deleted through one member, say) is
 * taken over once it is ALIAS_STALE_S old; a younger one may be a claim
 * whose alias is being made.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster_internal.h"
#include "fsutil.h"
#include "mgr_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/mgr/cluster.h"
#include "vessel/mgr/image.h"

#define ALIAS_STALE_S 30

static pthread_mutex_t fetch_lock = PTHREAD_MUTEX_INITIALIZER;

int mgr_cluster_fanout(struct mgr_cluster *c, const char *method, const char *path,
		       struct json_object *body, struct json_object **out, struct vs_err *err)
{
	*out = NULL;
	struct mgr_cluster_member *mb;
	size_t n;
	int r = mgr_cluster_members(c, &mb, &n, err);
	if (r < 0)
		return r;
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		if (mb[i].self)
			continue;
		struct json_object *o = json_object_new_object(), *md = NULL;
		json_object_object_add(o, "member", json_object_new_string(mb[i].name));
		struct vs_err e = VS_ERR_INIT;
		int rr = mb[i].online
			     ? mgr_cluster_forward(c, &mb[i], method, path, body, &md, &e)
			     : vs_errf(&e, EAGAIN, "cluster member %s is offline", mb[i].name);
		if (rr < 0) {
			json_object_object_add(o, "code", json_object_new_int(e.code));
			json_object_object_add(o, "error", json_object_new_string(e.msg));
			json_object_object_add(
			    o, "offline",
			    json_object_new_boolean(rr == -EAGAIN || rr == -ECONNREFUSED ||
						    rr == -ETIMEDOUT || rr == -EHOSTUNREACH));
		} else {
			json_object_object_add(o, "metadata", md ? md : json_object_new_object());
		}
		json_object_array_add(a, o);
	}
	free(mb);
	*out = a;
	return 0;
}

bool mgr_cluster_image_is(struct json_object *img, const char *ref)
{
	struct json_object *f, *al;
	if (json_object_object_get_ex(img, "aliases", &al) &&
	    json_object_is_type(al, json_type_array))
		for (size_t i = 0; i < json_object_array_length(al); i++) {
			struct json_object *n;
			if (json_object_object_get_ex(json_object_array_get_idx(al, i), "name",
						      &n) &&
			    strcmp(json_object_get_string(n), ref) == 0)
				return true;
		}
	size_t n = strlen(ref);
	return n >= 6 && n <= 64 && mgr_is_hex(ref, n) &&
	       json_object_object_get_ex(img, "fingerprint", &f) &&
	       strncmp(json_object_get_string(f), ref, n) == 0;
}

/* mgr_cluster_fanout of GET path, an unreachable member's answer replaced
 * by its last report's images or volumes (all of them, or with ref the
 * images that ref names: an array, possibly empty). */
static int fanout_reports(struct mgr_cluster *c, const char *path, bool volumes, const char *ref,
			  struct json_object **out, struct vs_err *err)
{
	int r = mgr_cluster_fanout(c, "GET", path, NULL, out, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(*out); i++) {
		struct json_object *a = json_object_array_get_idx(*out, i), *off, *mb, *list;
		if (!json_object_object_get_ex(a, "offline", &off) ||
		    !json_object_get_boolean(off) || !json_object_object_get_ex(a, "member", &mb))
			continue;
		struct vs_err e = VS_ERR_INIT;
		if (mgr_cluster_member_objects(c, json_object_get_string(mb), volumes, &list, &e) <
		    0) {
			vs_log(VS_LOG_WARN, "cluster: the %s of unreachable member %s: %s",
			       volumes ? "volumes" : "images", json_object_get_string(mb), e.msg);
			continue;
		}
		if (ref) {
			struct json_object *some = json_object_new_array();
			for (size_t k = 0; k < json_object_array_length(list); k++) {
				struct json_object *o = json_object_array_get_idx(list, k);
				if (mgr_cluster_image_is(o, ref))
					json_object_array_add(some, json_object_get(o));
			}
			json_object_put(list);
			list = some;
		}
		json_object_object_add(a, "metadata", list);
		json_object_object_add(a, "unreachable", json_object_new_boolean(true));
	}
	return 0;
}

int mgr_cluster_fanout_listing(struct mgr_cluster *c, const char *path, bool volumes,
			       struct json_object **out, struct vs_err *err)
{
	return fanout_reports(c, path, volumes, NULL, out, err);
}

char *mgr_cluster_image_path(const char *ref, const char *sub)
{
	char *esc = curl_escape(ref, 0), *p = NULL;
	if (esc && asprintf(&p, "/1.0/images/%s%s", esc, sub) < 0)
		p = NULL;
	curl_free(esc);
	return p;
}

int mgr_cluster_fanout_image(struct mgr_cluster *c, const char *ref, struct json_object **out,
			     struct vs_err *err)
{
	vs_cleanup_free char *path = mgr_cluster_image_path(ref, "");
	if (!path)
		return vs_errf(err, ENOMEM, "out of memory");
	return fanout_reports(c, path, false, ref, out, err);
}

int mgr_cluster_image_offline(struct mgr_cluster *c, const char *ref, char member[64],
			      struct vs_err *err)
{
	member[0] = 0;
	struct mgr_cluster_member *mb;
	size_t n;
	int r = mgr_cluster_members(c, &mb, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && !member[0]; i++) {
		struct json_object *list;
		struct vs_err e = VS_ERR_INIT;
		if (mb[i].self || mb[i].online ||
		    mgr_cluster_member_objects(c, mb[i].name, false, &list, &e) < 0)
			continue;
		for (size_t k = 0; k < json_object_array_length(list) && !member[0]; k++)
			if (mgr_cluster_image_is(json_object_array_get_idx(list, k), ref))
				snprintf(member, 64, "%s", mb[i].name);
		json_object_put(list);
	}
	free(mb);
	if (!member[0])
		return vs_errf(err, ENOENT, "image %.80s not found", ref);
	return vs_errf(err, EAGAIN,
		       "image %.80s is only on cluster member %s, which is offline: try again "
		       "once it is back",
		       ref, member);
}

/* The first other member answering GET /1.0/images/REF: *from and *img
 * (its image object) filled.  ENOENT when none has it. */
static int find_holder(struct mgr_cluster *c, const char *ref, struct mgr_cluster_member *from,
		       struct json_object **img, struct vs_err *err)
{
	vs_cleanup_free char *path = mgr_cluster_image_path(ref, "");
	if (!path)
		return vs_errf(err, ENOMEM, "out of memory");
	struct mgr_cluster_member *mb;
	size_t n;
	int r = mgr_cluster_members(c, &mb, &n, err);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < n && r < 0; i++) {
		if (mb[i].self || !mb[i].online)
			continue;
		struct vs_err e = VS_ERR_INIT;
		struct json_object *md = NULL;
		if (mgr_cluster_forward(c, &mb[i], "GET", path, NULL, &md, &e) < 0) {
			if (e.code != ENOENT)
				vs_log(VS_LOG_WARN, "cluster: image %s on %s: %s", ref, mb[i].name,
				       e.msg);
			continue;
		}
		*from = mb[i];
		*img = md;
		r = 0;
	}
	free(mb);
	return r;
}

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;
	return o && json_object_object_get_ex(o, key, &v) &&
		       json_object_is_type(v, json_type_string)
		   ? json_object_get_string(v)
		   : NULL;
}

/* The files of image fp (of this type) from `from`, verified, imported. */
static int fetch_files(struct mgr *m, const struct mgr_cluster_member *from, const char *fp,
		       const char *type, struct vs_err *err)
{
	struct mgr_cluster *c = mgr_get_cluster(m);
	struct mgr_image_store *s = mgr_get_images(m);
	int r = 0;
	vs_cleanup_free char *tmp = mgr_image_tmpdir(s, err), *file = NULL, *path = NULL;
	if (!tmp)
		return -err->code;
	if (asprintf(&file, "%s/image.tar", tmp) < 0 ||
	    asprintf(&path, "/1.0/images/%s/export", fp) < 0) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	vs_log(VS_LOG_INFO, "cluster: fetching image %.12s from %s", fp, from->name);
	if ((r = mgr_cluster_download(c, from, path, file, err)) < 0) {
		vs_err_prefix(err, "image %.12s from cluster member %s", fp, from->name);
		goto out;
	}
	struct stat st;
	long long bytes = stat(file, &st) == 0 ? (long long)st.st_size : -1;
	if (strcmp(type, "vm") == 0) {
		r = mgr_image_receive_vm(s, file, fp, err);
	} else {
		char got[65];
		r = mgr_image_import_oci(s, file, NULL, NULL, got, err);
		if (r == 0 && strcmp(got, fp) != 0) {
			struct vs_err e = VS_ERR_INIT;
			mgr_image_delete(s, got, &e);
			r = vs_errf(err, EINVAL,
				    "the image %s sent as %.12s has the fingerprint %.12s: refused",
				    from->name, fp, got);
		}
	}
	if (r < 0) {
		vs_err_prefix(err, "image %.12s from cluster member %s", fp, from->name);
		goto out;
	}
	vs_log(VS_LOG_INFO, "cluster: image %.12s fetched from %s (%lld bytes), verified", fp,
	       from->name, bytes);
out:
	if (tmp) {
		struct vs_err e = VS_ERR_INIT;
		mgr_rm_rf(tmp, &e);
	}
	return r;
}

/* Fetch the image `img` (the holder's object) from `from` into this store. */
static int fetch(struct mgr *m, const struct mgr_cluster_member *from, struct json_object *img,
		 struct vs_err *err)
{
	struct mgr_image_store *s = mgr_get_images(m);
	const char *fp = str_of(img, "fingerprint"), *type = str_of(img, "type");
	if (!fp || strlen(fp) != 64 || !mgr_is_hex(fp, 64) || !type)
		return vs_errf(err, EIO, "cluster member %s: an image without a fingerprint",
			       from->name);
	struct mgr_image have;
	int r = 0;
	if (mgr_image_get(s, fp, &have, NULL) == 0) /* here without the alias */
		mgr_image_free(&have);
	else if ((r = fetch_files(m, from, fp, type, err)) < 0)
		return r;
	struct json_object *al;
	if (json_object_object_get_ex(img, "aliases", &al) &&
	    json_object_is_type(al, json_type_array))
		for (size_t i = 0; i < json_object_array_length(al); i++) {
			const char *name = str_of(json_object_array_get_idx(al, i), "name");
			struct vs_err e = VS_ERR_INIT;
			if (name && mgr_image_alias_add(s, name, fp, &e) < 0 && e.code != EEXIST)
				vs_log(VS_LOG_WARN, "cluster: image %.12s: alias %s: %s", fp, name,
				       e.msg);
		}
	return 0;
}

int mgr_cluster_image_ensure(struct mgr *m, const char *ref, struct vs_err *err)
{
	struct mgr_image img;
	struct vs_err local = VS_ERR_INIT;
	if (mgr_image_get(mgr_get_images(m), ref, &img, &local) == 0) {
		mgr_image_free(&img);
		return 0;
	}
	struct mgr_cluster *c = mgr_get_cluster(m);
	if (local.code != ENOENT || !mgr_cluster_enabled(c)) {
		*err = local;
		return -local.code;
	}
	pthread_mutex_lock(&fetch_lock);
	int r;
	if (mgr_image_get(mgr_get_images(m), ref, &img, NULL) == 0) { /* fetched meanwhile */
		mgr_image_free(&img);
		r = 0;
	} else {
		struct mgr_cluster_member from;
		struct json_object *holder = NULL;
		r = find_holder(c, ref, &from, &holder, err);
		if (r == -ENOENT) { /* or only on a member out of reach: EAGAIN */
			vs_err_clear(err);
			char off[64];
			r = mgr_cluster_image_offline(c, ref, off, err);
			if (r == -ENOENT) {
				vs_err_clear(err);
				r = vs_errf(err, ENOENT, "%s (on no member of the cluster)",
					    local.msg);
			}
		} else if (r == 0) {
			r = fetch(m, &from, holder, err);
		}
		json_object_put(holder);
	}
	pthread_mutex_unlock(&fetch_lock);
	return r;
}

/* ---- aliases ---- */

struct alias_arg {
	const char *name, *fp;
	const char *takeover; /* the fingerprint of a stale row to replace, or NULL */
	int64_t now;
	bool inserted;
	char other[65]; /* the fingerprint the name names in the cluster */
	int64_t other_at;
};

static int alias_claim_fn(struct mgr_dq *q, void *arg, struct vs_err *err)
{
	struct alias_arg *a = arg;
	uint64_t changes = 0;
	int r;
	if (a->takeover) {
		struct mgr_dq_value v[] = { MGR_DQ_TEXT(a->fp), MGR_DQ_INT(a->now),
					    MGR_DQ_TEXT(a->name), MGR_DQ_TEXT(a->takeover) };
		r = mgr_dq_exec(q,
				"UPDATE cluster_image_aliases SET fingerprint = ?, created_at = ?"
				" WHERE name = ? AND fingerprint = ?",
				v, 4, NULL, &changes, err);
	} else {
		struct mgr_dq_value v[] = { MGR_DQ_TEXT(a->name), MGR_DQ_TEXT(a->fp),
					    MGR_DQ_INT(a->now) };
		r = mgr_dq_exec(q,
				"INSERT INTO cluster_image_aliases (name, fingerprint, created_at)"
				" VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
				v, 3, NULL, &changes, err);
	}
	if (r < 0)
		return r;
	a->inserted = changes == 1;
	struct mgr_dq_rows rows;
	struct mgr_dq_value n = MGR_DQ_TEXT(a->name);
	r = mgr_dq_query(q,
			 "SELECT fingerprint, created_at FROM cluster_image_aliases WHERE name = ?",
			 &n, 1, &rows, err);
	if (r < 0)
		return r;
	a->other[0] = 0;
	if (rows.nrows && mgr_dq_at(&rows, 0, 0)->s) {
		snprintf(a->other, sizeof(a->other), "%s", mgr_dq_at(&rows, 0, 0)->s);
		a->other_at = mgr_dq_at(&rows, 0, 1)->i;
	}
	mgr_dq_rows_free(&rows);
	if (!a->other[0]) /* released meanwhile */
		return vs_errf(err, EBUSY, "image alias %s: changed meanwhile", a->name);
	return 0;
}

int mgr_cluster_alias_claim(struct mgr_cluster *c, const char *name, const char *fp,
			    bool (*listed)(void *arg, const char *name), void *arg, bool *inserted,
			    struct vs_err *err)
{
	*inserted = false;
	struct alias_arg a = { .name = name, .fp = fp, .now = time(NULL) };
	int r = mgr_cluster_run(c, alias_claim_fn, &a, err);
	if (r < 0)
		return r;
	if (strcmp(a.other, fp) != 0 && a.now - a.other_at >= ALIAS_STALE_S && !listed(arg, name)) {
		char stale[65];
		snprintf(stale, sizeof(stale), "%s", a.other);
		vs_log(VS_LOG_INFO,
		       "cluster: image alias %s: the claim for %.12s is stale (no "
		       "member lists it): taken for %.12s",
		       name, stale, fp);
		a.takeover = stale;
		a.now = time(NULL);
		if ((r = mgr_cluster_run(c, alias_claim_fn, &a, err)) < 0)
			return r;
	}
	if (strcmp(a.other, fp) != 0)
		return vs_errf(err, EEXIST,
			       "image alias %s already names image %.12s in the cluster", name,
			       a.other);
	*inserted = a.inserted;
	return 0;
}

struct release_arg {
	const char *name, *fp;
};

static int alias_release_fn(struct mgr_dq *q, void *arg, struct vs_err *err)
{
	struct release_arg *a = arg;
	if (a->name && a->fp) {
		struct mgr_dq_value v[] = { MGR_DQ_TEXT(a->name), MGR_DQ_TEXT(a->fp) };
		return mgr_dq_exec(
		    q, "DELETE FROM cluster_image_aliases WHERE name = ? AND fingerprint = ?", v, 2,
		    NULL, NULL, err);
	}
	struct mgr_dq_value v = MGR_DQ_TEXT(a->name ? a->name : a->fp);
	return mgr_dq_exec(q,
			   a->name ? "DELETE FROM cluster_image_aliases WHERE name = ?"
				   : "DELETE FROM cluster_image_aliases WHERE fingerprint = ?",
			   &v, 1, NULL, NULL, err);
}

int mgr_cluster_alias_release(struct mgr_cluster *c, const char *name, const char *fp,
			      struct vs_err *err)
{
	struct release_arg a = { name, fp };
	return mgr_cluster_run(c, alias_release_fn, &a, err);
}
