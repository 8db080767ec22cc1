/*
 * import.c - an export file back into an instance (export.h,
 * docs/export-format.md).
 *
 * One pass over the stream, verifying as it goes into a staging directory
 * under images/tmp (the same filesystem as the instances, so the verified
 * tree is renamed into place):
 *   1. the first member must be vessel-export.json, of a known format and
 *      version, naming an instance this host can create (its image is
 *      here, the name is free): checked before anything else is read;
 *   2. every other member must lie under rootfs/ or snapshots/SNAP/rootfs/
 *      of a snapshot the metadata lists, or be a listed storage volume's
 *      file (volumes/NAME.FORMAT, volumes/NAME.snapshots/SNAP.raw; format
 *      version 2), and is unpacked (holes kept) with libarchive's
 *      secure-extraction rules from a per-thread working directory
 *      (unshare(CLONE_FS)), hashed as it is unpacked;
 *   3. checksums.json must come last and list exactly the members read,
 *      in order, with the same digests; nothing may follow it.
 * zstd's frame checksum and libarchive's truncation checks catch what the
 * digests would not (a file cut inside the compressed stream).  Only then
 * is the instance created, its volumes adopted into the pool attached to
 * it (their names were checked free in step 1); any failure removes the staging directory, so
 * a truncated or altered file creates nothing.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export_member.h"
#include "fsutil.h"
#include "mgr_internal.h"
#include "vessel/mgr/cluster.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/disk/image.h"
#include "vessel/disk/manage.h"
#include "vessel/mgr/export.h"
#include "vessel/mgr/volume.h"

struct import {
	struct mgr *m;
	const struct mgr_import_ctl_export *ctl;
	struct archive *a, *w;
	struct json_object *meta;
	struct json_object *sums; /* computed: [{"path","sha256"}] */
	enum mgr_instance_type type;
	bool stateful; /* a VM continued with --loadvm at its next start */
	char **snaps;
	size_t nsnaps;
	struct json_object *vols; /* meta's "volumes" (version 2; NULL: none) */
	uint64_t bytes;
};

#define IMPORT_VM_VOLUMES_MAX 6 /* vessel-vmm's disks (driver_vm.c) */
#define IMPORT_VOLUMES_MAX    64

/* A member's data into buf (JSON members, bounded). */
static int read_small(struct import *im, struct archive_entry *e, char **out, gnutls_hash_hd_t h,
		      struct vs_err *err)
{
	int64_t size = archive_entry_size(e);
	if (archive_entry_filetype(e) != AE_IFREG || size < 0 || size > EXPORT_JSON_MAX)
		return vs_errf(err, EINVAL, "%s: not a JSON file of at most %u bytes",
			       archive_entry_pathname(e), EXPORT_JSON_MAX);
	char *buf = malloc((size_t)size + 1);
	if (!buf)
		return vs_errf(err, ENOMEM, "out of memory");
	la_ssize_t n = archive_read_data(im->a, buf, (size_t)size);
	if (n != size) {
		free(buf);
		return vs_errf(err, EINVAL, "%s: %s", archive_entry_pathname(e),
			       n < 0 ? archive_error_string(im->a) : "truncated");
	}
	buf[size] = 0;
	if (h)
		gnutls_hash(h, buf, (size_t)size);
	*out = buf;
	return 0;
}

static struct json_object *get(struct json_object *o, const char *key, json_type t)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

/*
 * Step 1 for the storage volumes ([{"name", "format", "size", "path",
 * "created_at", "snapshots": [{"name", "size", "created_at"}]}]): each
 * name free on this host, format, size and path as create and attach want
 * them, a qcow2 volume only on a VM, no name or path twice.
 */
static int check_volumes(struct import *im, struct json_object *vols, struct vs_err *err)
{
	size_t n = vols ? json_object_array_length(vols) : 0,
	       max = im->type == MGR_INSTANCE_VM ? IMPORT_VM_VOLUMES_MAX : IMPORT_VOLUMES_MAX;
	if (n > max)
		return vs_errf(err, EINVAL, "more than %zu storage volumes", max);
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(vols, i),
				   *vn = get(o, "name", json_type_string),
				   *vf = get(o, "format", json_type_string),
				   *vs = get(o, "size", json_type_int),
				   *vp = get(o, "path", json_type_string),
				   *sl = get(o, "snapshots", json_type_array);
		if (!vn || !vf || !vs || !vp || !sl)
			return vs_errf(err, EINVAL,
				       "%s: volume %zu: expected {\"name\", \"format\", \"size\", "
				       "\"path\", \"snapshots\"}",
				       EXPORT_META_NAME, i);
		const char *name = json_object_get_string(vn), *fmt = json_object_get_string(vf);
		int64_t size = json_object_get_int64(vs);
		int r = mgr_volume_incoming_check(im->m, name, fmt, size > 0 ? (uint64_t)size : 0,
						  json_object_get_string(vp), err);
		if (r < 0)
			return r;
		if (strcmp(fmt, "qcow2") == 0 && im->type != MGR_INSTANCE_VM)
			return vs_errf(err, EINVAL,
				       "storage volume %s is qcow2: a container cannot have it",
				       name);
		for (size_t k = 0; k < i; k++) {
			struct json_object *p = json_object_array_get_idx(vols, k);
			if (strcmp(json_object_get_string(get(p, "name", json_type_string)),
				   name) == 0 ||
			    strcmp(json_object_get_string(get(p, "path", json_type_string)),
				   json_object_get_string(vp)) == 0)
				return vs_errf(err, EINVAL,
					       "storage volume %s: its name or path given twice",
					       name);
		}
		size_t ns = json_object_array_length(sl);
		if (ns > 4096)
			return vs_errf(err, EINVAL, "storage volume %s: too many snapshots", name);
		for (size_t k = 0; k < ns; k++) {
			struct json_object *s = json_object_array_get_idx(sl, k),
					   *sn = get(s, "name", json_type_string),
					   *ss = get(s, "size", json_type_int);
			if (!sn || !ss)
				return vs_errf(err, EINVAL,
					       "storage volume %s: snapshot %zu: expected "
					       "{\"name\", \"size\"}",
					       name, k);
			if ((r = mgr_name_validate(json_object_get_string(sn), err)) < 0)
				return vs_err_prefix(err, "storage volume %s: snapshot", name);
			for (size_t j = 0; j < k; j++)
				if (strcmp(
					json_object_get_string(get(json_object_array_get_idx(sl, j),
								   "name", json_type_string)),
					json_object_get_string(sn)) == 0)
					return vs_errf(err, EINVAL,
						       "storage volume %s: snapshot %s twice", name,
						       json_object_get_string(sn));
		}
	}
	im->vols = n ? vols : NULL;
	return 0;
}

/* Step 1: the metadata and what this host needs to create it. */
static int check_meta(struct import *im, const char *name, struct vs_err *err)
{
	struct json_object *meta = im->meta, *f = get(meta, "format", json_type_string),
			   *v = get(meta, "version", json_type_int),
			   *inst = get(meta, "instance", json_type_object),
			   *snaps = get(meta, "snapshots", json_type_array);
	if (!f || strcmp(json_object_get_string(f), MGR_EXPORT_FORMAT) != 0)
		return vs_errf(err, EINVAL, "not a vessel export file");
	if (!v || json_object_get_int(v) < 1 || json_object_get_int(v) > MGR_EXPORT_VERSION)
		return vs_errf(err, EINVAL,
			       "export format version %s is not supported (this vesseld reads "
			       "versions 1 to %d)",
			       v ? json_object_get_string(v) : "?", MGR_EXPORT_VERSION);
	struct json_object *vols = NULL;
	if (json_object_object_get_ex(meta, "volumes", &vols) &&
	    (json_object_get_int(v) < 2 || !json_object_is_type(vols, json_type_array)))
		return vs_errf(err, EINVAL, "%s: \"volumes\": expected an array (version 2)",
			       EXPORT_META_NAME);
	struct json_object *type = get(inst, "type", json_type_string),
			   *n = get(inst, "name", json_type_string),
			   *img = get(get(inst, "image", json_type_object), "fingerprint",
				      json_type_string),
			   *cfg = get(inst, "config", json_type_object);
	if (!type || !n || !img || !cfg || !snaps)
		return vs_errf(err, EINVAL, "%s: incomplete instance metadata", EXPORT_META_NAME);
	enum mgr_instance_type t;
	int r = mgr_instance_type_parse(json_object_get_string(type), &t, err);
	if (r < 0)
		return r;
	im->type = t;
	if (!mgr_driver_for(t, NULL))
		return vs_errf(err, ENOTSUP,
			       "the file holds a %s: this vesseld has no driver for that type",
			       json_object_get_string(type));
	struct json_object *st = get(meta, "stateful", json_type_boolean),
			   *lv = get(meta, "loadvm", json_type_string);
	im->stateful = st && json_object_get_boolean(st);
	if (im->stateful && (t != MGR_INSTANCE_VM || !lv ||
			     strcmp(json_object_get_string(lv), MGR_EXPORT_LOADVM_TAG) != 0))
		return vs_errf(err, ENOTSUP,
			       "a stateful export of a %s cannot be restored by this vesseld",
			       json_object_get_string(type));
	if (t == MGR_INSTANCE_VM && json_object_array_length(snaps))
		return vs_errf(err, EINVAL, "a VM's export lists snapshots");
	const char *nm = name ? name : json_object_get_string(n);
	if ((r = mgr_name_validate(nm, err)) < 0)
		return r;
	struct mgr_instance existing;
	if (mgr_instance_db_get(im->m->db, nm, &existing, NULL) == 0) {
		mgr_instance_free(&existing);
		return vs_errf(err, EEXIST, "instance %s already exists", nm);
	}
	struct mgr_image image;
	struct vs_err ie = VS_ERR_INIT; /* in a cluster, fetched from a member that has it */
	if (mgr_cluster_image_ensure(im->m, json_object_get_string(img), &ie) < 0 &&
	    ie.code != ENOENT && ie.code != EAGAIN) /* the file carries its layers */
		return vs_errf(err, ie.code, "%s", ie.msg);
	if (mgr_image_get(&im->m->images, json_object_get_string(img), &image, NULL) < 0) {
		struct json_object *al =
		    get(get(inst, "image", json_type_object), "aliases", json_type_array);
		const char *alias = al && json_object_array_length(al)
					? json_object_get_string(json_object_array_get_idx(al, 0))
					: NULL;
		return vs_errf(err, ENOENT,
			       "image %.12s%s%s%s is not on this host: import it first "
			       "(vessel image import)",
			       json_object_get_string(img), alias ? " (" : "", alias ? alias : "",
			       alias ? ")" : "");
	}
	mgr_image_free(&image);
	json_object_object_foreach(cfg, key, val)
	{
		if (!json_object_is_type(val, json_type_string))
			return vs_errf(err, EINVAL, "config %s: expected a string", key);
		if ((r = mgr_config_validate(t, key, json_object_get_string(val), err)) < 0)
			return r;
	}
	size_t ns = json_object_array_length(snaps);
	if (ns > 4096)
		return vs_errf(err, EINVAL, "too many snapshots");
	if (ns && !(im->snaps = calloc(ns, sizeof(*im->snaps))))
		return vs_errf(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < ns; i++) {
		struct json_object *sn =
		    get(json_object_array_get_idx(snaps, i), "name", json_type_string);
		if (!sn)
			return vs_errf(err, EINVAL, "snapshot %zu: no name", i);
		if ((r = mgr_name_validate(json_object_get_string(sn), err)) < 0)
			return vs_err_prefix(err, "snapshot");
		if (!(im->snaps[im->nsnaps++] = strdup(json_object_get_string(sn))))
			return vs_errf(err, ENOMEM, "out of memory");
	}
	return check_volumes(im, vols, err);
}

/* Step 2: where a member may go: rootfs[/...] or snapshots/SNAP/rootfs[/...]
 * for a listed SNAP; no "." or ".." components, no empty ones. */
/* volumes, volumes/NAME.FORMAT, volumes/NAME.snapshots[/SNAP.raw] of a
 * listed volume and snapshot: 1 a file, 2 a directory, 0 not such a path. */
static int volume_member(const struct import *im, const char *path)
{
	size_t plen = strlen(path);
	while (plen > 1 && path[plen - 1] == '/')
		plen--;
	if (!im->vols || strncmp(path, "volumes", 7) != 0)
		return 0;
	if (plen == 7)
		return 2;
	if (path[7] != '/')
		return 0;
	const char *rest = path + 8;
	size_t rlen = plen - 8;
	for (size_t i = 0; i < json_object_array_length(im->vols); i++) {
		struct json_object *o = json_object_array_get_idx(im->vols, i);
		const char *name = json_object_get_string(get(o, "name", json_type_string)),
			   *fmt = json_object_get_string(get(o, "format", json_type_string));
		size_t nlen = strlen(name);
		if (rlen <= nlen || strncmp(rest, name, nlen) != 0 || rest[nlen] != '.')
			continue;
		const char *t = rest + nlen + 1;
		size_t tlen = rlen - nlen - 1;
		if (tlen == strlen(fmt) && strncmp(t, fmt, tlen) == 0)
			return 1;
		if (tlen == 9 && strncmp(t, "snapshots", 9) == 0)
			return 2;
		if (tlen < 10 || strncmp(t, "snapshots/", 10) != 0)
			continue;
		struct json_object *sl = get(o, "snapshots", json_type_array);
		for (size_t k = 0; k < json_object_array_length(sl); k++) {
			const char *sn = json_object_get_string(
			    get(json_object_array_get_idx(sl, k), "name", json_type_string));
			size_t slen = strlen(sn);
			if (tlen == 10 + slen + 4 && strncmp(t + 10, sn, slen) == 0 &&
			    strncmp(t + 10 + slen, ".raw", 4) == 0)
				return 1;
		}
	}
	return 0;
}

static int check_path(const struct import *im, const char *path, struct vs_err *err)
{
	const char *rest = NULL;
	if (volume_member(im, path))
		return 0;
	if (im->type == MGR_INSTANCE_VM) {
		/* a VM: its disk and nothing else */
		if (strcmp(path, "vm") == 0 || strcmp(path, "vm/") == 0 ||
		    strcmp(path, "vm/disk.qcow2") == 0)
			return 0;
		return vs_errf(err, EINVAL, "unexpected member %.200s", path);
	}
	if (strncmp(path, "rootfs", 6) == 0 && (!path[6] || path[6] == '/')) {
		rest = path + 6;
	} else if (strncmp(path, "snapshots/", 10) == 0) {
		const char *s = path + 10, *slash = strchr(s, '/');
		bool known = false;
		for (size_t i = 0; slash && i < im->nsnaps && !known; i++)
			known = strlen(im->snaps[i]) == (size_t)(slash - s) &&
				strncmp(im->snaps[i], s, (size_t)(slash - s)) == 0;
		if (known && strncmp(slash, "/rootfs", 7) == 0 && (!slash[7] || slash[7] == '/'))
			rest = slash + 7;
	}
	if (!rest)
		return vs_errf(err, EINVAL, "unexpected member %.200s", path);
	while (*rest == '/') {
		rest++;
		if (!*rest)
			break; /* a directory's trailing slash */
		size_t n = strcspn(rest, "/");
		if (n == 0 || (n == 1 && rest[0] == '.') ||
		    (n == 2 && rest[0] == '.' && rest[1] == '.'))
			return vs_errf(err, EINVAL, "member %.200s: bad path", path);
		rest += n;
	}
	return 0;
}

static int unpack_member(struct import *im, struct archive_entry *e, struct vs_err *err)
{
	const char *path = archive_entry_pathname(e);
	int r = check_path(im, path, err);
	const char *hl = archive_entry_hardlink(e);
	if (r == 0 && hl)
		r = check_path(im, hl, err);
	if (r < 0)
		return r;
	mode_t t = archive_entry_filetype(e);
	int vm = volume_member(im, path);
	if (vm && (hl || (vm == 1 ? t != AE_IFREG : t != AE_IFDIR)))
		return vs_errf(err, EINVAL, "member %.200s: expected a %s", path,
			       vm == 1 ? "regular file" : "directory");
	if (hl && volume_member(im, hl))
		return vs_errf(err, EINVAL, "member %.200s: a link to a volume", path);
	if (!hl && t != AE_IFREG && t != AE_IFDIR && t != AE_IFLNK && t != AE_IFCHR &&
	    t != AE_IFBLK && t != AE_IFIFO && t != AE_IFSOCK)
		return vs_errf(err, EINVAL, "member %.200s: unknown type", path);
	gnutls_hash_hd_t h;
	if ((r = export_member_begin(&h, e, err)) < 0)
		return r;
	if (archive_write_header(im->w, e) < ARCHIVE_WARN) {
		r = vs_errf(err, EIO, "%s: %s", path, archive_error_string(im->w));
	} else if (archive_entry_size(e) > 0) {
		const void *buf;
		size_t size;
		la_int64_t off;
		int rc;
		while ((rc = archive_read_data_block(im->a, &buf, &size, &off)) == ARCHIVE_OK) {
			gnutls_hash(h, buf, size);
			if (archive_write_data_block(im->w, buf, size, off) < ARCHIVE_WARN) {
				r = vs_errf(err, EIO, "%s: %s", path, archive_error_string(im->w));
				break;
			}
			im->bytes += size;
		}
		if (r == 0 && rc != ARCHIVE_EOF)
			r = vs_errf(err, EINVAL, "%s: %s", path, archive_error_string(im->a));
	}
	if (r == 0 && archive_write_finish_entry(im->w) < ARCHIVE_WARN)
		r = vs_errf(err, EIO, "%s: %s", path, archive_error_string(im->w));
	char hex[65];
	export_member_end(h, hex);
	if (r == 0) {
		struct json_object *o = json_object_new_object();
		size_t plen = strlen(path);
		while (plen > 1 && path[plen - 1] == '/')
			plen--;
		json_object_object_add(o, "path", json_object_new_string_len(path, (int)plen));
		json_object_object_add(o, "sha256", json_object_new_string(hex));
		json_object_array_add(im->sums, o);
	}
	return r;
}

/* Step 3: the list in the file against what was read. */
static int check_sums(struct import *im, const char *text, struct vs_err *err)
{
	struct json_object *c = json_tokener_parse(text);
	struct json_object *members = get(c, "members", json_type_array),
			   *f = get(c, "format", json_type_string);
	int r = 0;
	size_t n = json_object_array_length(im->sums);
	if (!members || !f || strcmp(json_object_get_string(f), MGR_EXPORT_FORMAT) != 0) {
		r = vs_errf(err, EINVAL, "%s: not a checksum list", EXPORT_CHECKSUMS_NAME);
	} else if (json_object_array_length(members) != n) {
		r = vs_errf(err, EINVAL, "the file holds %zu members, its checksum list %zu", n,
			    json_object_array_length(members));
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct json_object *want = json_object_array_get_idx(members, i),
				   *got = json_object_array_get_idx(im->sums, i);
		struct json_object *wp = get(want, "path", json_type_string),
				   *ws = get(want, "sha256", json_type_string),
				   *gp = get(got, "path", json_type_string),
				   *gs = get(got, "sha256", json_type_string);
		if (!wp || !ws || strcmp(json_object_get_string(wp), json_object_get_string(gp)))
			r = vs_errf(err, EINVAL, "member %zu (%.200s) is not the one listed", i,
				    json_object_get_string(gp));
		else if (strcmp(json_object_get_string(ws), json_object_get_string(gs)))
			r = vs_errf(err, EINVAL, "member %.200s: checksum mismatch (altered file)",
				    json_object_get_string(gp));
	}
	json_object_put(c);
	return r;
}

static void progress(struct import *im, const char *member)
{
	if (im->ctl && im->ctl->progress)
		im->ctl->progress(im->ctl->opaque, (uint64_t)archive_filter_bytes(im->a, -1),
				  member);
}

/* Read and verify the whole file into staging (the working directory). */
static int verify(struct import *im, int fd, const char *name, struct vs_err *err)
{
	archive_read_support_filter_zstd(im->a);
	archive_read_support_format_tar(im->a);
	archive_write_disk_set_options(
	    im->w, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
		       ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SPARSE |
		       ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
		       ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
	if (archive_read_open_fd(im->a, fd, 1 << 16) != ARCHIVE_OK)
		return vs_errf(err, EINVAL, "not a vessel export file: %s",
			       archive_error_string(im->a));
	struct archive_entry *e;
	int rc = archive_read_next_header(im->a, &e);
	if (rc != ARCHIVE_OK || strcmp(archive_entry_pathname(e), EXPORT_META_NAME) != 0)
		return vs_errf(err, EINVAL, "not a vessel export file (no %s first)%s%s",
			       EXPORT_META_NAME, rc != ARCHIVE_OK ? ": " : "",
			       rc != ARCHIVE_OK ? archive_error_string(im->a) : "");
	gnutls_hash_hd_t h;
	int r = export_member_begin(&h, e, err);
	if (r < 0)
		return r;
	vs_cleanup_free char *text = NULL;
	r = read_small(im, e, &text, h, err);
	char hex[65];
	export_member_end(h, hex);
	if (r < 0)
		return r;
	if (!(im->meta = json_tokener_parse(text)) ||
	    !json_object_is_type(im->meta, json_type_object))
		return vs_errf(err, EINVAL, "%s: not a JSON object", EXPORT_META_NAME);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "path", json_object_new_string(EXPORT_META_NAME));
	json_object_object_add(o, "sha256", json_object_new_string(hex));
	json_object_array_add(im->sums, o);
	if ((r = check_meta(im, name, err)) < 0)
		return r;
	unsigned n = 0;
	while ((rc = archive_read_next_header(im->a, &e)) == ARCHIVE_OK) {
		if (im->ctl && im->ctl->cancelled && im->ctl->cancelled(im->ctl->opaque))
			return vs_errf(err, ECANCELED, "import cancelled");
		const char *path = archive_entry_pathname(e);
		if (strcmp(path, EXPORT_CHECKSUMS_NAME) == 0) {
			vs_cleanup_free char *sums = NULL;
			if ((r = read_small(im, e, &sums, NULL, err)) < 0 ||
			    (r = check_sums(im, sums, err)) < 0)
				return r;
			rc = archive_read_next_header(im->a, &e);
			if (rc == ARCHIVE_OK)
				return vs_errf(err, EINVAL, "data after %s", EXPORT_CHECKSUMS_NAME);
			if (rc != ARCHIVE_EOF)
				return vs_errf(err, EINVAL, "after %s: %s", EXPORT_CHECKSUMS_NAME,
					       archive_error_string(im->a));
			progress(im, EXPORT_CHECKSUMS_NAME);
			return 0;
		}
		if ((r = unpack_member(im, e, err)) < 0)
			return r;
		if ((++n & 63) == 0)
			progress(im, path);
	}
	if (rc == ARCHIVE_EOF)
		return vs_errf(err, EINVAL, "truncated file: no %s at its end",
			       EXPORT_CHECKSUMS_NAME);
	return vs_errf(err, EINVAL, "damaged file: %s", archive_error_string(im->a));
}

static int insert_snapshot(struct mgr *m, int64_t instance_id, const char *snap,
			   const char *created, struct vs_err *err)
{
	int r = 0;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "INSERT INTO instance_snapshots (instance_id, name, created_at) VALUES (?, ?, "
		    "?)",
		    err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_int64(st, 1, instance_id);
			mgr_stmt_bind_text(st, 2, snap);
			mgr_stmt_bind_text(st, 3, created);
			int rc = mgr_stmt_step(st);
			if (rc != SQLITE_DONE)
				r = mgr_db_err(m->db, rc, "insert snapshot", err);
		}
	}
	mgr_db_unlock(m->db);
	return r;
}

/*
 * A stateful VM's disk is an overlay on the exporting host's copy of the
 * image's disk: point it at this host's copy (the same image, by
 * fingerprint: the data is the same, so only the name changes).
 */
static int stateful_disk(struct import *im, const struct mgr_instance *in, const char *path,
			 struct vs_err *err)
{
	struct mgr_image img;
	int r = mgr_image_get_by_id(&im->m->images, in->image_id, &img, err);
	if (r < 0)
		return r;
	vs_cleanup_free char *base = mgr_image_vm_file(&im->m->images, &img, "disk.qcow2");
	mgr_image_free(&img);
	if (!base)
		return vs_errf(err, ENOENT, "the VM image has no disk");
	struct disk_open_options o = { .flags = DISK_OPEN_NO_BACKING };
	struct disk_image *d = disk_image_open(path, &o, err);
	if (!d)
		return vs_err_prefix(err, "the imported disk");
	r = disk_image_rebase(d, base, "qcow2", true, err);
	disk_image_close(d);
	return r;
}

/* The next start continues the saved VM (driver_vm.c reads this once). */
static int loadvm_marker(struct mgr *m, const struct mgr_instance *in, struct vs_err *err)
{
	vs_cleanup_free char *p = NULL;
	if (asprintf(&p, "%s/vms/%s/loadvm", m->state_dir, in->runtime_id) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	return vs_write_file_atomic(p, MGR_EXPORT_LOADVM_TAG "\n",
				    strlen(MGR_EXPORT_LOADVM_TAG) + 1, err);
}

/* One verified volume of the file into the pool, attached to the new
 * instance, with its snapshots; *made: the volume exists here (a failure
 * after that leaves it to the caller, which removes it with the instance). */
static int create_volume(struct import *im, struct json_object *o, int64_t instance_id,
			 const char *staging, bool *made, struct vs_err *err)
{
	*made = false;
	struct mgr *m = im->m;
	const char *name = json_object_get_string(get(o, "name", json_type_string)),
		   *fmt = json_object_get_string(get(o, "format", json_type_string)),
		   *path = json_object_get_string(get(o, "path", json_type_string));
	uint64_t size = (uint64_t)json_object_get_int64(get(o, "size", json_type_int));
	struct json_object *sl = get(o, "snapshots", json_type_array);
	vs_cleanup_free char *src = NULL;
	if (asprintf(&src, "%s/volumes/%s.%s", staging, name, fmt) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	struct stat st;
	if (lstat(src, &st) < 0 || !S_ISREG(st.st_mode))
		return vs_errf(err, EINVAL, "storage volume %s: no data in the file", name);
	if (strcmp(fmt, "raw") == 0 && (uint64_t)st.st_size != size)
		return vs_errf(err, EINVAL,
			       "storage volume %s: %lld bytes in the file, %llu listed", name,
			       (long long)st.st_size, (unsigned long long)size);
	int r = mgr_volume_adopt(m, name, fmt, size, instance_id, path, src, err);
	*made = r == 0;
	for (size_t k = 0; r == 0 && k < json_object_array_length(sl); k++) {
		struct json_object *s = json_object_array_get_idx(sl, k);
		const char *sn = json_object_get_string(get(s, "name", json_type_string));
		struct json_object *ca = get(s, "created_at", json_type_string);
		char now[32];
		mgr_timestamp(now, sizeof(now));
		vs_cleanup_free char *from = NULL;
		if (asprintf(&from, "%s/volumes/%s.snapshots/%s.raw", staging, name, sn) < 0)
			r = vs_errf(err, ENOMEM, "out of memory");
		else if (!mgr_path_exists(from))
			r = vs_errf(err, EINVAL,
				    "storage volume %s: snapshot %s: no data in the file", name,
				    sn);
		else
			r = mgr_volume_snapshot_adopt(
			    m, name, sn,
			    (uint64_t)json_object_get_int64(get(s, "size", json_type_int)),
			    ca ? json_object_get_string(ca) : now, from, err);
	}
	return r;
}

/* The verified tree becomes the instance: create it (empty layer), then
 * swap the staged layer and snapshots in while it is busy. */
static int create(struct import *im, const char *staging, const char *name, char *out_name,
		  struct vs_err *err)
{
	struct mgr *m = im->m;
	struct json_object *inst = get(im->meta, "instance", json_type_object);
	struct json_object *cfg = get(inst, "config", json_type_object);
	const char *nm = name ? name : json_object_get_string(get(inst, "name", json_type_string));
	size_t ncfg = (size_t)json_object_object_length(cfg), k = 0;
	vs_cleanup_free struct mgr_config_entry *ce = calloc(ncfg + 1, sizeof(*ce));
	if (!ce)
		return vs_errf(err, ENOMEM, "out of memory");
	json_object_object_foreach(cfg, key, val)
	{
		ce[k].key = key;
		ce[k].value = (char *)json_object_get_string(val);
		k++;
	}
	struct mgr_create_req req = {
		.name = nm,
		.type = im->type,
		.image = json_object_get_string(
		    get(get(inst, "image", json_type_object), "fingerprint", json_type_string)),
		.config = ce,
		.nconfig = ncfg,
	};
	int r = mgr_instance_create(m, &req, err);
	if (r < 0)
		return r;
	struct mgr_instance in;
	if ((r = mgr_get_busy(m, nm, &in, err)) < 0)
		return r;
	vs_cleanup_free char *upper = NULL, *src = NULL;
	if (im->type == MGR_INSTANCE_VM) {
		/* the VM's disk replaces the overlay its creation made */
		if (asprintf(&upper, "%s/vms/%s/root.qcow2", m->state_dir, in.runtime_id) < 0 ||
		    asprintf(&src, "%s/vm/disk.qcow2", staging) < 0)
			r = vs_errf(err, ENOMEM, "out of memory");
		else if (!mgr_path_exists(src))
			r = vs_errf(err, EINVAL, "the file holds no VM disk");
		else if (im->stateful)
			r = stateful_disk(im, &in, src, err);
		if (r == 0 && rename(src, upper) < 0)
			r = vs_syserrf(err, errno, "move the imported disk to %s", upper);
		if (r == 0 && im->stateful)
			r = loadvm_marker(m, &in, err);
	} else if (asprintf(&upper, "%s/%s/upper", m->ct_dir, in.runtime_id) < 0 ||
		   asprintf(&src, "%s/rootfs", staging) < 0) {
		r = vs_errf(err, ENOMEM, "out of memory");
	} else if (!mgr_path_exists(src)) {
		r = vs_errf(err, EINVAL, "the file holds no rootfs");
	} else if (rmdir(upper) < 0 || rename(src, upper) < 0) {
		r = vs_syserrf(err, errno, "move the imported layer to %s", upper);
	}
	struct json_object *snaps = get(im->meta, "snapshots", json_type_array);
	for (size_t i = 0; r == 0 && i < im->nsnaps; i++) {
		vs_cleanup_free char *sd = NULL, *to = NULL, *from = NULL;
		if (asprintf(&sd, "%s/%s/snapshots/%s", m->ct_dir, in.runtime_id, im->snaps[i]) <
			0 ||
		    asprintf(&to, "%s/upper", sd) < 0 ||
		    asprintf(&from, "%s/snapshots/%s/rootfs", staging, im->snaps[i]) < 0) {
			r = vs_errf(err, ENOMEM, "out of memory");
			break;
		}
		if (!mgr_path_exists(from))
			r = vs_errf(err, EINVAL, "snapshot %s: no data in the file", im->snaps[i]);
		else if ((r = mgr_mkdir_p(sd, 0700, err)) == 0 && rename(from, to) < 0)
			r = vs_syserrf(err, errno, "move snapshot %s", im->snaps[i]);
		struct json_object *ca =
		    get(json_object_array_get_idx(snaps, i), "created_at", json_type_string);
		char now[32];
		mgr_timestamp(now, sizeof(now));
		if (r == 0)
			r = insert_snapshot(m, in.id, im->snaps[i],
					    ca ? json_object_get_string(ca) : now, err);
	}
	size_t nvols = im->vols ? json_object_array_length(im->vols) : 0, made = 0;
	for (bool ok = true; r == 0 && made < nvols && ok; made += ok)
		r = create_volume(im, json_object_array_get_idx(im->vols, made), in.id, staging,
				  &ok, err);
	int64_t id = in.id;
	snprintf(out_name, MGR_NAME_MAX + 1, "%s", in.name);
	mgr_instance_free(&in);
	mgr_busy_release(m, id);
	if (r < 0) {
		/* the instance (its delete detaches the volumes), then the volumes
		 * made for it: the one that failed removed what it made */
		struct vs_err e2 = VS_ERR_INIT;
		if (mgr_instance_delete(m, nm, true, &e2) < 0)
			vs_log(VS_LOG_WARN, "import: remove %s after a failure: %s", nm, e2.msg);
		for (size_t i = 0; i < made; i++) {
			const char *vn = json_object_get_string(
			    get(json_object_array_get_idx(im->vols, i), "name", json_type_string));
			vs_err_clear(&e2);
			if (mgr_volume_delete(m, vn, &e2) < 0)
				vs_log(VS_LOG_WARN, "import: remove volume %s after a failure: %s",
				       vn, e2.msg);
		}
	} else {
		mgr_emit_lifecycle(m, "instance-imported", nm);
	}
	return r;
}

int mgr_instance_import(struct mgr *m, int fd, const char *name,
			const struct mgr_import_ctl_export *ctl, char *out_name, struct vs_err *err)
{
	out_name[0] = 0;
	struct import im = { .m = m, .ctl = ctl };
	vs_cleanup_free char *staging = mgr_image_tmpdir(&m->images, err);
	if (!staging)
		return -err->code;
	/* this thread's own working directory: members are unpacked relative to it */
	if (unshare(CLONE_FS) < 0) {
		int r = vs_syserrf(err, errno, "unshare(CLONE_FS)");
		struct vs_err e2 = VS_ERR_INIT;
		mgr_rm_rf(staging, &e2);
		return r;
	}
	vs_cleanup_close int oldcwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int r = 0;
	im.a = archive_read_new();
	im.w = archive_write_disk_new();
	im.sums = json_object_new_array();
	if (!im.a || !im.w || !im.sums)
		r = vs_errf(err, ENOMEM, "out of memory");
	else if (chdir(staging) < 0)
		r = vs_syserrf(err, errno, "chdir %s", staging);
	if (r == 0)
		r = verify(&im, fd, name, err);
	/* directories' modes and times are set at close, relative to the cwd */
	if (im.w) {
		if (archive_write_close(im.w) < ARCHIVE_WARN && r == 0)
			r = vs_errf(err, EIO, "%s", archive_error_string(im.w));
		archive_write_free(im.w);
	}
	if (oldcwd >= 0 && fchdir(oldcwd) < 0)
		vs_log(VS_LOG_WARN, "import: cannot return to the old working directory");
	if (im.a)
		archive_read_free(im.a);
	if (r < 0)
		vs_err_prefix(err, "import refused, nothing created");
	else
		r = create(&im, staging, name, out_name, err);
	struct vs_err e2 = VS_ERR_INIT;
	mgr_rm_rf(staging, &e2);
	json_object_put(im.meta);
	json_object_put(im.sums);
	for (size_t i = 0; i < im.nsnaps; i++)
		free(im.snaps[i]);
	free(im.snaps);
	return r;
}
