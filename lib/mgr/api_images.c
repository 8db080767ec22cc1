/*
 * api_images.c - /1.0/images: list, show, delete, aliases, and import as
 * an operation.  An import comes either as the raw bytes of an OCI archive
 * (Content-Type application/octet-stream, aliases in the X-Vessel-Aliases
 * header: what `vessel image import FILE` sends) or as JSON naming a
 * source on the server: {"source":{"type":"oci","path":"/abs/dir-or-file"}}
 * (root callers only: the daemon reads the path with its own rights) or
 * {"source":{"type":"builtin","name":"busybox"}}.  Either way a directory
 * or archive with a metadata.json (and no oci-layout) is a VM image
 * (image_vm.c); "type":"vm" names one explicitly.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_internal.h"
#include "fsutil.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/mgr/cluster.h"
#include "vessel/mgr/image.h"

/* In a cluster: the member's name in each image's "locations". */
static void add_location(struct json_object *img, const char *member)
{
	struct json_object *loc;
	if (!json_object_object_get_ex(img, "locations", &loc)) {
		loc = json_object_new_array();
		json_object_object_add(img, "locations", loc);
	}
	json_object_array_add(loc, json_object_new_string(member));
}

static struct json_object *find_fp(struct json_object *list, const char *fp)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *o = json_object_array_get_idx(list, i), *f;
		if (json_object_object_get_ex(o, "fingerprint", &f) &&
		    strcmp(json_object_get_string(f), fp) == 0)
			return o;
	}
	return NULL;
}

/* Merge the images of the other members (answers of mgr_cluster_fanout to
 * a GET of /1.0/images?recursion=1 or /1.0/images/REF) into list: one
 * object per fingerprint with every member holding it in "locations".
 * Aliases are the union. */
static void merge_remote(struct json_object *list, struct json_object *answers)
{
	for (size_t i = 0; i < json_object_array_length(answers); i++) {
		struct json_object *a = json_object_array_get_idx(answers, i), *md, *mb;
		if (!json_object_object_get_ex(a, "metadata", &md) ||
		    !json_object_object_get_ex(a, "member", &mb))
			continue;
		/* its last report: listed, marked as on a member out of reach */
		bool unreachable = json_object_object_get_ex(a, "unreachable", NULL);
		bool one = json_object_is_type(md, json_type_object);
		size_t n = one ? 1 : json_object_array_length(md);
		for (size_t k = 0; k < n; k++) {
			struct json_object *img = one ? md : json_object_array_get_idx(md, k), *f;
			if (!json_object_object_get_ex(img, "fingerprint", &f))
				continue;
			struct json_object *have = find_fp(list, json_object_get_string(f));
			if (!have) {
				have = json_object_get(img);
				json_object_object_del(have, "locations");
				json_object_array_add(list, have);
			} else {
				struct json_object *al, *hal;
				if (json_object_object_get_ex(img, "aliases", &al) &&
				    json_object_object_get_ex(have, "aliases", &hal))
					for (size_t j = 0; j < json_object_array_length(al); j++) {
						struct json_object *x = json_object_array_get_idx(
								       al, j),
								   *xn;
						bool dup = false;
						if (!json_object_object_get_ex(x, "name", &xn))
							continue;
						for (size_t h = 0;
						     h < json_object_array_length(hal) && !dup;
						     h++) {
							struct json_object
							    *y = json_object_array_get_idx(hal, h),
							    *yn;
							dup =
							    json_object_object_get_ex(y, "name",
										      &yn) &&
							    strcmp(json_object_get_string(xn),
								   json_object_get_string(yn)) == 0;
						}
						if (!dup)
							json_object_array_add(hal,
									      json_object_get(x));
					}
			}
			add_location(have, json_object_get_string(mb));
			if (unreachable) {
				struct json_object *off;
				if (!json_object_object_get_ex(have, "offline_locations", &off)) {
					off = json_object_new_array();
					json_object_object_add(have, "offline_locations", off);
				}
				json_object_array_add(
				    off, json_object_new_string(json_object_get_string(mb)));
			}
		}
	}
}

/* Whether this request is answered for the whole cluster: a member, and
 * not a request another member sent on a caller's behalf. */
static struct mgr_cluster *cluster_wide(struct api_request *req)
{
	struct mgr_cluster *c = mgr_get_cluster(req->m);
	return mgr_cluster_enabled(c) && !req->forwarded ? c : NULL;
}

/* This host's images and, asked by a caller in a cluster, every other
 * member's (an unreachable one's from its last report), or NULL. */
static struct json_object *images_of(struct api_request *req, struct vs_err *err)
{
	struct mgr_image *list;
	size_t n;
	if (mgr_image_list(mgr_get_images(req->m), &list, &n, err) < 0)
		return NULL;
	struct mgr_cluster *c = mgr_get_cluster(req->m);
	bool member = mgr_cluster_enabled(c);
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = mgr_image_to_json(&list[i]);
		if (member)
			add_location(o, mgr_cluster_self(c));
		json_object_array_add(a, o);
	}
	mgr_image_list_free(list, n);
	struct json_object *answers = NULL;
	struct vs_err e2 = VS_ERR_INIT;
	if ((c = cluster_wide(req)) &&
	    mgr_cluster_fanout_listing(c, "/1.0/images?recursion=1", false, &answers, &e2) == 0) {
		merge_remote(a, answers);
		json_object_put(answers);
	}
	return a;
}

void api_get_images(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	struct json_object *a = images_of(req, &err);
	if (!a) {
		api_error_from(res, &err);
		return;
	}
	api_sync_listing(req, res, a, "/1.0/images/", "fingerprint");
}

/* The fingerprint of the image that alias name names anywhere in the
 * cluster (fp[0] 0 when none). */
static void alias_in_cluster(struct api_request *req, const char *name, char fp[65])
{
	fp[0] = 0;
	struct vs_err err = VS_ERR_INIT;
	struct json_object *list = images_of(req, &err);
	for (size_t i = 0; list && i < json_object_array_length(list) && !fp[0]; i++) {
		struct json_object *o = json_object_array_get_idx(list, i), *al, *f;
		if (!json_object_object_get_ex(o, "aliases", &al) ||
		    !json_object_object_get_ex(o, "fingerprint", &f))
			continue;
		for (size_t k = 0; k < json_object_array_length(al); k++) {
			struct json_object *x;
			if (json_object_object_get_ex(json_object_array_get_idx(al, k), "name",
						      &x) &&
			    strcmp(json_object_get_string(x), name) == 0)
				snprintf(fp, 65, "%s", json_object_get_string(f));
		}
	}
	json_object_put(list);
}

static bool alias_listed(void *arg, const char *name)
{
	char fp[65];
	alias_in_cluster(arg, name, fp);
	return fp[0] != 0;
}

void api_get_image(struct api_request *req, struct api_response *res)
{
	struct mgr_image img;
	struct vs_err err = VS_ERR_INIT;
	struct mgr_cluster *c = mgr_get_cluster(req->m);
	struct json_object *list = json_object_new_array();
	const char *ref = req->params[0];
	if (mgr_image_get(mgr_get_images(req->m), ref, &img, &err) == 0) {
		struct json_object *o = mgr_image_to_json(&img);
		if (mgr_cluster_enabled(c))
			add_location(o, mgr_cluster_self(c));
		json_object_array_add(list, o);
		ref = img.fingerprint; /* the others by fingerprint: their aliases may differ */
	} else if (err.code != ENOENT || !cluster_wide(req)) {
		json_object_put(list);
		api_error_from(res, &err);
		return;
	}
	/* an unreachable member's image from its last report, as listings do */
	struct json_object *answers = NULL;
	struct vs_err e2 = VS_ERR_INIT;
	if (cluster_wide(req) && mgr_cluster_fanout_image(c, ref, &answers, &e2) == 0) {
		merge_remote(list, answers);
		json_object_put(answers);
	}
	if (json_object_array_length(list) > 1) { /* a reference naming several images */
		json_object_put(list);
		api_error(res, 400, "image %.80s is ambiguous in the cluster", req->params[0]);
	} else if (json_object_array_length(list) == 0) {
		json_object_put(list);
		api_error_from(res, &err);
	} else {
		api_sync(res, json_object_get(json_object_array_get_idx(list, 0)));
		json_object_put(list);
	}
	if (img.fingerprint[0] && ref == img.fingerprint)
		mgr_image_free(&img);
}

/* Does instance NAME of member AT still use image fp (asked there; when
 * it cannot answer, assume so)? */
static bool still_uses(struct mgr_cluster *c, const char *at, const char *name, const char *fp)
{
	struct mgr_cluster_member *mb = NULL;
	size_t n = 0;
	struct vs_err err = VS_ERR_INIT;
	bool uses = true;
	char *esc = curl_escape(name, 0);
	vs_cleanup_free char *path = NULL;
	if (!esc || asprintf(&path, "/1.0/instances/%s", esc) < 0)
		path = NULL;
	curl_free(esc);
	if (path && mgr_cluster_members(c, &mb, &n, &err) == 0)
		for (size_t i = 0; i < n; i++) {
			if (strcmp(mb[i].name, at) != 0)
				continue;
			struct json_object *md = NULL, *im;
			int r = mgr_cluster_forward(c, &mb[i], "GET", path, NULL, &md, &err);
			if (r == -ENOENT)
				uses = false;
			else if (r == 0)
				uses = json_object_object_get_ex(md, "image", &im) &&
				       strcmp(json_object_get_string(im), fp) == 0;
			json_object_put(md);
		}
	free(mb);
	return uses;
}

/*
 * DELETE /1.0/images/REF: in a cluster, everywhere it is.  Refused before
 * anything is deleted while a member holding it is offline (its copy would
 * come back in the listing) or an instance here uses it; otherwise
 * deleted here, then on each other holder (one using it there answers
 * 409, named).
 */
void api_delete_image(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	struct mgr_cluster *c = cluster_wide(req);
	struct mgr_image_store *s = mgr_get_images(req->m);
	if (!c) {
		if (mgr_image_delete(s, req->params[0], &err) < 0) {
			api_error_from(res, &err);
			return;
		}
		api_sync(res, json_object_new_object());
		return;
	}
	/* who holds it, by fingerprint */
	char fp[65] = "";
	struct mgr_image img;
	bool local = mgr_image_get(s, req->params[0], &img, &err) == 0;
	if (local) {
		snprintf(fp, sizeof(fp), "%s", img.fingerprint);
		mgr_image_free(&img);
	} else if (err.code != ENOENT) {
		api_error_from(res, &err);
		return;
	}
	struct json_object *answers = NULL;
	vs_cleanup_free char *path = mgr_cluster_image_path(local ? fp : req->params[0], "");
	if (!path || mgr_cluster_fanout(c, "GET", path, NULL, &answers, &err) < 0) {
		api_error(res, 503, "cluster: %s", path ? err.msg : "out of memory");
		return;
	}
	struct json_object *holders = json_object_new_array();
	const char *offline = NULL;
	for (size_t i = 0; i < json_object_array_length(answers); i++) {
		struct json_object *a = json_object_array_get_idx(answers, i), *md, *mb, *f, *off,
				   *code;
		json_object_object_get_ex(a, "member", &mb);
		if (json_object_object_get_ex(a, "metadata", &md)) {
			if (!json_object_object_get_ex(md, "fingerprint", &f))
				continue;
			if (!fp[0])
				snprintf(fp, sizeof(fp), "%s", json_object_get_string(f));
			if (strcmp(fp, json_object_get_string(f)) == 0)
				json_object_array_add(holders, json_object_get(mb));
		} else if (json_object_object_get_ex(a, "offline", &off) &&
			   json_object_get_boolean(off)) {
			offline = json_object_get_string(mb);
		} else if (json_object_object_get_ex(a, "code", &code) &&
			   json_object_get_int(code) != ENOENT) {
			offline = json_object_get_string(mb);
		}
	}
	/* used by an instance of another member (the cluster's copies, each
	 * confirmed by its member: a copy lags its member's changes by up to
	 * a report) */
	struct json_object *remote = json_object_new_array();
	const char *user = NULL, *user_at = NULL;
	if (fp[0] && mgr_cluster_remote_instances(c, remote, &err) == 0)
		for (size_t i = 0; i < json_object_array_length(remote) && !user; i++) {
			struct json_object *o = json_object_array_get_idx(remote, i), *im, *nm, *lc;
			if (json_object_object_get_ex(o, "image", &im) &&
			    strcmp(json_object_get_string(im), fp) == 0 &&
			    json_object_object_get_ex(o, "name", &nm) &&
			    json_object_object_get_ex(o, "location", &lc) &&
			    still_uses(c, json_object_get_string(lc), json_object_get_string(nm),
				       fp)) {
				user = json_object_get_string(nm);
				user_at = json_object_get_string(lc);
			}
		}
	if (!local && !json_object_array_length(holders)) {
		api_error(res, 404, "image %.80s not found in the cluster", req->params[0]);
	} else if (user) {
		api_error(res, 409, "image %.12s is used by instance %s on member %s", fp, user,
			  user_at);
	} else if (offline) {
		api_error(res, 503,
			  "cluster member %s does not answer: it may hold a copy of image %.12s; "
			  "delete it when %s is back",
			  offline, fp[0] ? fp : req->params[0], offline);
	} else if (local && mgr_image_delete(s, fp, &err) < 0) {
		api_error_from(res, &err);
	} else {
		vs_cleanup_free char *dpath = mgr_cluster_image_path(fp, "");
		struct mgr_cluster_member *mb = NULL;
		size_t n = 0;
		int r = mgr_cluster_members(c, &mb, &n, &err);
		for (size_t i = 0; r == 0 && i < n; i++)
			for (size_t h = 0; h < json_object_array_length(holders); h++) {
				const char *hn =
				    json_object_get_string(json_object_array_get_idx(holders, h));
				if (strcmp(mb[i].name, hn) != 0 ||
				    mgr_cluster_forward(c, &mb[i], "DELETE", dpath, NULL, NULL,
							&err) == 0)
					continue;
				vs_err_prefix(&err, "image %.12s%s, but on member %s", fp,
					      local ? " deleted here" : "", mb[i].name);
				r = -err.code;
				break;
			}
		free(mb);
		struct vs_err e3 = VS_ERR_INIT;
		if (r == 0 && mgr_cluster_alias_release(c, NULL, fp, &e3) < 0)
			vs_log(VS_LOG_WARN,
			       "cluster: image %.12s: releasing its aliases' claims: %s", fp,
			       e3.msg);
		if (r < 0)
			api_error_from(res, &err);
		else
			api_sync(res, json_object_new_object());
	}
	json_object_put(remote);
	json_object_put(holders);
	json_object_put(answers);
}

struct send_job {
	struct mgr *m;
	struct mgr_image img;
};

static int send_write(void *ctx, int fd, struct vs_err *err)
{
	struct send_job *t = ctx;
	return mgr_image_send(mgr_get_images(t->m), &t->img, fd, err);
}

static void send_done(void *ctx)
{
	struct send_job *t = ctx;
	mgr_image_free(&t->img);
	free(t);
}

/* GET /1.0/images/REF/export: what another host needs to import the image
 * again with the same fingerprint, as a tar (mgr_image_send), streamed
 * (chunked; a failure while streaming ends it without its last chunk). */
void api_get_image_export(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	struct send_job *t = calloc(1, sizeof(*t));
	if (!t) {
		api_error(res, 500, "out of memory");
		return;
	}
	t->m = req->m;
	if (mgr_image_get(mgr_get_images(req->m), req->params[0], &t->img, &err) < 0) {
		free(t);
		/* in a cluster, an image only an offline member holds: 503 naming it */
		char off[64];
		struct mgr_cluster *c = cluster_wide(req);
		if (err.code == ENOENT && c)
			(void)mgr_cluster_image_offline(c, req->params[0], off, &err);
		api_error_from(res, &err);
		return;
	}
	char *dir = mgr_image_send_dir(mgr_get_images(req->m), &t->img, &err);
	if (!dir) {
		api_error(res, err.code == ENOENT ? 409 : 500, "%s", err.msg);
		send_done(t);
		return;
	}
	free(dir);
	char what[96];
	snprintf(what, sizeof(what), "image %.12s: sending it", t->img.fingerprint);
	api_pipe_response(res, "application/x-tar", send_write, send_done, t, what);
}

void api_post_image_aliases(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "name", "target", "description", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *name = NULL, *target = NULL, *desc = NULL;
	struct mgr_cluster *cw = cluster_wide(req);
	char fp[65] = "", other[65];
	bool claimed = false;
	if (api_json_keys(req->body, "request", keys, &err) < 0 ||
	    api_json_string(req->body, "name", &name, &err) < 0 ||
	    api_json_string(req->body, "target", &target, &err) < 0 ||
	    api_json_string(req->body, "description", &desc, &err) < 0)
		goto bad;
	if (!name || !target) {
		vs_errf(&err, EINVAL, "\"name\" and \"target\" are required");
		goto bad;
	}
	/* in a cluster, the name must name no other image on any member:
	 * the image's fingerprint, then the members' aliases, then the claim */
	if (cw) {
		struct mgr_image img;
		if (mgr_image_get(mgr_get_images(req->m), target, &img, NULL) == 0) {
			snprintf(fp, sizeof(fp), "%s", img.fingerprint);
			mgr_image_free(&img);
		} else {
			vs_cleanup_free char *p = mgr_cluster_image_path(target, "");
			struct json_object *answers = NULL, *md, *f;
			struct vs_err e = VS_ERR_INIT;
			if (p && mgr_cluster_fanout(cw, "GET", p, NULL, &answers, &e) == 0)
				for (size_t i = 0; i < json_object_array_length(answers) && !fp[0];
				     i++)
					if (json_object_object_get_ex(
						json_object_array_get_idx(answers, i), "metadata",
						&md) &&
					    json_object_object_get_ex(md, "fingerprint", &f))
						snprintf(fp, sizeof(fp), "%s",
							 json_object_get_string(f));
			json_object_put(answers);
		}
		if (fp[0]) {
			alias_in_cluster(req, name, other);
			if (other[0] && strcmp(other, fp) != 0) {
				api_error(res, 409,
					  "image alias %s already names image %.12s in the cluster",
					  name, other);
				return;
			}
			if (mgr_cluster_alias_claim(cw, name, fp, alias_listed, req, &claimed,
						    &err) < 0)
				goto bad;
		}
	}
	if (mgr_image_alias_add(mgr_get_images(req->m), name, target, &err) < 0) {
		/* in a cluster, an image of another member: made there */
		struct mgr_cluster *c = cw;
		vs_cleanup_free char *path = mgr_cluster_image_path(target, "");
		struct json_object *answers = NULL;
		struct vs_err e2 = VS_ERR_INIT;
		if (err.code != ENOENT || !c || !path ||
		    mgr_cluster_fanout(c, "GET", path, NULL, &answers, &e2) < 0)
			goto bad;
		const char *holder = NULL;
		for (size_t i = 0; i < json_object_array_length(answers) && !holder; i++) {
			struct json_object *a = json_object_array_get_idx(answers, i), *mb;
			if (json_object_object_get_ex(a, "metadata", NULL) &&
			    json_object_object_get_ex(a, "member", &mb))
				holder = json_object_get_string(mb);
		}
		struct mgr_cluster_member *mbs = NULL;
		size_t n = 0;
		int r = holder ? mgr_cluster_members(c, &mbs, &n, &e2) : -1;
		for (size_t i = 0; r == 0 && i < n; i++)
			if (strcmp(mbs[i].name, holder) == 0)
				r = mgr_cluster_forward(c, &mbs[i], "POST", "/1.0/images/aliases",
							req->body, NULL, &e2) < 0
					? -1
					: 1;
		free(mbs);
		json_object_put(answers);
		if (r != 1) {
			if (holder)
				err = e2;
			goto bad;
		}
	}
	api_sync(res, json_object_new_object());
	return;
bad:
	if (claimed) {
		struct vs_err e = VS_ERR_INIT;
		if (mgr_cluster_alias_release(cw, name, fp, &e) < 0)
			vs_log(VS_LOG_WARN, "cluster: image alias %s: releasing its claim: %s",
			       name, e.msg);
	}
	api_error_from(res, &err);
}

/* DELETE /1.0/images/aliases/NAME: in a cluster, on every member that has
 * it (fetched copies carry their aliases). */
void api_delete_image_alias(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	bool found = mgr_image_alias_delete(mgr_get_images(req->m), req->params[0], &err) == 0;
	if (!found && err.code != ENOENT) {
		api_error_from(res, &err);
		return;
	}
	struct mgr_cluster *c = cluster_wide(req);
	char *esc = c ? curl_escape(req->params[0], 0) : NULL;
	vs_cleanup_free char *path = NULL;
	struct json_object *answers = NULL;
	if (esc && asprintf(&path, "/1.0/images/aliases/%s", esc) < 0)
		path = NULL;
	curl_free(esc);
	struct vs_err e2 = VS_ERR_INIT;
	if (path && mgr_cluster_fanout(c, "DELETE", path, NULL, &answers, &e2) == 0) {
		for (size_t i = 0; i < json_object_array_length(answers); i++)
			if (json_object_object_get_ex(json_object_array_get_idx(answers, i),
						      "metadata", NULL))
				found = true;
		json_object_put(answers);
	}
	if (!found) {
		api_error_from(res, &err);
		return;
	}
	struct vs_err e3 = VS_ERR_INIT;
	if (c && mgr_cluster_alias_release(c, req->params[0], NULL, &e3) < 0)
		vs_log(VS_LOG_WARN, "cluster: image alias %s: releasing its claim: %s",
		       req->params[0], e3.msg);
	api_sync(res, json_object_new_object());
}

struct import_job {
	struct mgr *m;
	char *path;    /* file or directory to import */
	char *own_dir; /* removed afterwards (uploads), or NULL */
	char *alias;
	bool builtin;
	struct mgr_cluster *cluster; /* a caller's import in a cluster: the alias claimed */
	struct mgr_op *op;
};

static void import_job_free(void *p)
{
	struct import_job *j = p;
	if (j->own_dir) {
		struct vs_err e = VS_ERR_INIT;
		mgr_rm_rf(j->own_dir, &e);
	}
	free(j->own_dir);
	free(j->path);
	free(j->alias);
	free(j);
}

static bool import_cancelled(void *opaque)
{
	return mgr_op_cancelled(((struct import_job *)opaque)->op);
}

static void import_progress(void *opaque, const char *stage, unsigned pct)
{
	struct import_job *j = opaque;
	struct json_object *md = json_object_new_object();
	json_object_object_add(md, "stage", json_object_new_string(stage));
	json_object_object_add(md, "progress", json_object_new_int((int)pct));
	mgr_op_set_metadata(j->op, md);
}

/* An import does not take over another image's claim of its alias (that
 * needs a listing of the whole cluster: `vessel image alias create` does). */
static bool import_alias_listed(void *arg, const char *name)
{
	(void)arg;
	(void)name;
	return true;
}

static int import_run(struct mgr_op *op, void *arg, struct vs_err *err)
{
	struct import_job *j = arg;
	j->op = op;
	char fp[65];
	struct mgr_import_ctl ctl = { import_cancelled, import_progress, j };
	int r = j->builtin
		    ? mgr_image_import_busybox(mgr_get_images(j->m), j->path, j->alias, fp, err)
		: mgr_image_is_vm_source(j->path)
		    ? mgr_image_import_vm(mgr_get_images(j->m), j->path, j->alias, &ctl, fp, err)
		    : mgr_image_import_oci(mgr_get_images(j->m), j->path, j->alias, &ctl, fp, err);
	if (r < 0)
		return r;
	/* the alias must name no other image in the cluster: claimed once the
	 * fingerprint is known, taken off again when another image has it */
	bool inserted;
	if (j->alias && j->cluster &&
	    mgr_cluster_alias_claim(j->cluster, j->alias, fp, import_alias_listed, NULL, &inserted,
				    err) < 0) {
		struct vs_err e = VS_ERR_INIT;
		if (err->code == EEXIST)
			mgr_image_alias_delete(mgr_get_images(j->m), j->alias, &e);
		return vs_err_prefix(err, "image imported as %.12s, without its alias", fp);
	}
	struct json_object *md = json_object_new_object();
	json_object_object_add(md, "fingerprint", json_object_new_string(fp));
	mgr_op_set_metadata(op, md);
	return 0;
}

void api_post_images(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "source", "aliases", NULL };
	static const char *const src_keys[] = { "type", "path", "name", NULL };
	struct vs_err err = VS_ERR_INIT;
	struct import_job *j = calloc(1, sizeof(*j));
	if (!j) {
		api_error(res, 500, "out of memory");
		return;
	}
	j->m = req->m;
	const char *alias = NULL;
	if (req->upload_path) {
		alias = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Vessel-Aliases");
		/* the upload belongs to the request: move it to the operation */
		j->own_dir = mgr_image_tmpdir(mgr_get_images(req->m), &err);
		if (!j->own_dir || asprintf(&j->path, "%s/image", j->own_dir) < 0) {
			j->path = NULL;
			goto bad;
		}
		if (rename(req->upload_path, j->path) < 0) {
			vs_syserrf(&err, errno, "keep the upload");
			goto bad;
		}
	} else {
		struct json_object *src = NULL, *aliases = NULL;
		const char *type = NULL, *path = NULL, *name = NULL;
		if (api_json_keys(req->body, "request", keys, &err) < 0)
			goto bad;
		if (!json_object_object_get_ex(req->body, "source", &src) ||
		    api_json_keys(src, "source", src_keys, &err) < 0 ||
		    api_json_string(src, "type", &type, &err) < 0 ||
		    api_json_string(src, "path", &path, &err) < 0 ||
		    api_json_string(src, "name", &name, &err) < 0) {
			if (!err.code)
				vs_errf(&err, EINVAL, "\"source\" is required");
			goto bad;
		}
		if (json_object_object_get_ex(req->body, "aliases", &aliases)) {
			struct json_object *a0, *n0;
			if (!json_object_is_type(aliases, json_type_array) ||
			    json_object_array_length(aliases) > 1) {
				vs_errf(&err, EINVAL, "\"aliases\": expected at most one alias");
				goto bad;
			}
			if (json_object_array_length(aliases) == 1) {
				a0 = json_object_array_get_idx(aliases, 0);
				static const char *const akeys[] = { "name", "description", NULL };
				if (api_json_keys(a0, "aliases[0]", akeys, &err) < 0)
					goto bad;
				if (!json_object_object_get_ex(a0, "name", &n0) ||
				    !json_object_is_type(n0, json_type_string)) {
					vs_errf(&err, EINVAL, "aliases[0].name: expected a string");
					goto bad;
				}
				alias = json_object_get_string(n0);
			}
		}
		if (type && (strcmp(type, "oci") == 0 || strcmp(type, "vm") == 0)) {
			if (req->uid != 0) {
				vs_errf(&err, EPERM,
					"importing a server path needs root; upload "
					"the archive instead");
				goto bad;
			}
			if (!path || path[0] != '/') {
				vs_errf(&err, EINVAL, "source.path: expected an absolute path");
				goto bad;
			}
			if (access(path, R_OK) < 0) {
				vs_syserrf(&err, errno, "%s", path);
				goto bad;
			}
			j->path = strdup(path);
		} else if (type && strcmp(type, "builtin") == 0) {
			if (!name || strcmp(name, "busybox") != 0) {
				vs_errf(&err, EINVAL, "source.name: the built-in image is busybox");
				goto bad;
			}
			j->builtin = true;
			j->path = strdup("/bin/busybox");
			if (!alias)
				alias = "busybox";
		} else {
			vs_errf(&err, EINVAL, "source.type: expected oci, vm or builtin");
			goto bad;
		}
		if (!j->path) {
			vs_errf(&err, ENOMEM, "out of memory");
			goto bad;
		}
	}
	if (alias && (mgr_image_alias_validate(alias, &err) < 0 || !(j->alias = strdup(alias)))) {
		if (!err.code)
			vs_errf(&err, ENOMEM, "out of memory");
		goto bad;
	}
	j->cluster = cluster_wide(req);
	struct mgr_op *op = mgr_op_start(mgr_get_ops(req->m), "Importing image", NULL, true,
					 import_run, j, import_job_free, &err);
	if (!op) {
		api_error_from(res, &err);
		return;
	}
	api_async(res, op);
	mgr_op_put(op);
	return;
bad:
	import_job_free(j);
	api_error_from(res, &err);
}
