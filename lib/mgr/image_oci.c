/*
 * image_oci.c - import of OCI images (image-spec 1.1) into the store.
 *
 * Input: an image layout directory (`oci-layout`, `index.json`,
 * `blobs/sha256/...`, as `skopeo copy ... oci:DIR` writes it) or an archive
 * of one (`podman save --format oci-archive`), which is unpacked into the
 * store's tmp/ first.  The walk: index.json -> the first manifest for this
 * host's platform (nested indexes followed, depth-limited) -> config +
 * layers.  Every blob name must be sha256 with 64 hex digits (no path
 * tricks), and its size and digest must match its descriptor before it is
 * used.
 *
 * Layers are unpacked with libarchive into layers/HEX (HEX: the layer's
 * digest) under the secure-extract rules (no "..", no absolute paths, no
 * extraction through symlinks), working relative to a per-thread current
 * directory (unshare(CLONE_FS)), so other threads never see it change.  OCI
 * whiteouts become overlayfs whiteouts in the same pass: ".wh.NAME" is a
 * 0/0 character device NAME, ".wh..wh..opq" marks its directory opaque
 * with trusted.overlay.opaque=y.  A layer is unpacked into a temporary
 * directory and renamed into place, so a crash never leaves half a layer
 * under its final name.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsutil.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/image.h"
#include "vessel/mgr/instance.h"

#define JSON_MAX (4u << 20)

static const char *host_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#else
	return "unknown";
#endif
}

static void json_putp(struct json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define cleanup_json __attribute__((cleanup(json_putp)))

struct descriptor {
	const char *media_type;
	char hex[65];
	int64_t size;
};

static int parse_descriptor(struct json_object *o, const char *what, struct descriptor *d,
			    struct vs_err *err)
{
	struct json_object *mt, *dg, *sz;
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "digest", &dg) ||
	    !json_object_is_type(dg, json_type_string) ||
	    !json_object_object_get_ex(o, "size", &sz) || !json_object_is_type(sz, json_type_int))
		return vs_errf(err, EINVAL, "%s: a descriptor needs digest and size", what);
	d->media_type = json_object_object_get_ex(o, "mediaType", &mt) &&
				json_object_is_type(mt, json_type_string)
			    ? json_object_get_string(mt)
			    : "";
	const char *digest = json_object_get_string(dg);
	if (strncmp(digest, "sha256:", 7) != 0 || !mgr_is_hex(digest + 7, 64))
		return vs_errf(err, EINVAL, "%s: unsupported digest \"%.80s\" (sha256 only)", what,
			       digest);
	memcpy(d->hex, digest + 7, 65);
	d->size = json_object_get_int64(sz);
	if (d->size < 0)
		return vs_errf(err, EINVAL, "%s: negative size", what);
	return 0;
}

/* Read a small JSON blob, check its size and digest, parse it. */
static struct json_object *read_blob_json(const char *layout, const struct descriptor *d,
					  const char *what, struct vs_err *err)
{
	vs_cleanup_free char *path = NULL;
	if (asprintf(&path, "%s/blobs/sha256/%s", layout, d->hex) < 0) {
		vs_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	vs_cleanup_free char *buf = NULL;
	size_t len;
	if (vs_read_file(path, &buf, &len, JSON_MAX, err) < 0) {
		vs_err_prefix(err, "%s", what);
		return NULL;
	}
	char hex[65];
	mgr_sha256_buf(buf, len, hex);
	if ((int64_t)len != d->size || strcmp(hex, d->hex) != 0) {
		vs_errf(err, EINVAL, "%s: blob sha256:%.12s does not match its descriptor", what,
			d->hex);
		return NULL;
	}
	struct json_object *o = json_tokener_parse(buf);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		vs_errf(err, EINVAL, "%s: not a JSON object", what);
		return NULL;
	}
	return o;
}

static bool is_manifest_type(const char *mt)
{
	return !*mt || strcmp(mt, "application/vnd.oci.image.manifest.v1+json") == 0 ||
	       strcmp(mt, "application/vnd.docker.distribution.manifest.v2+json") == 0;
}

static bool is_index_type(const char *mt)
{
	return strcmp(mt, "application/vnd.oci.image.index.v1+json") == 0 ||
	       strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json") == 0;
}

static bool is_layer_type(const char *mt)
{
	static const char *const ok[] = {
		"application/vnd.oci.image.layer.v1.tar",
		"application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
	};
	for (size_t i = 0; i < VS_ARRAY_SIZE(ok); i++)
		if (strcmp(mt, ok[i]) == 0)
			return true;
	return false;
}

/* Pick the manifest for this platform out of an index (recursing). */
static int pick_manifest(const char *layout, struct json_object *index, int depth,
			 struct descriptor *out, struct vs_err *err)
{
	struct json_object *mans;
	if (!json_object_object_get_ex(index, "manifests", &mans) ||
	    !json_object_is_type(mans, json_type_array) || json_object_array_length(mans) == 0)
		return vs_errf(err, EINVAL, "index.json: no manifests");
	for (size_t i = 0; i < json_object_array_length(mans); i++) {
		struct json_object *m = json_object_array_get_idx(mans, i), *plat, *arch;
		struct descriptor d;
		int r = parse_descriptor(m, "index.json: manifests", &d, err);
		if (r < 0)
			return r;
		if (json_object_object_get_ex(m, "platform", &plat) &&
		    json_object_object_get_ex(plat, "architecture", &arch) &&
		    strcmp(json_object_get_string(arch), host_arch()) != 0)
			continue;
		if (is_index_type(d.media_type)) {
			if (depth >= 4)
				return vs_errf(err, ELOOP, "index.json: indexes nested too deep");
			cleanup_json struct json_object *sub =
			    read_blob_json(layout, &d, "nested index", err);
			if (!sub)
				return -err->code;
			return pick_manifest(layout, sub, depth + 1, out, err);
		}
		if (!is_manifest_type(d.media_type))
			continue;
		*out = d;
		return 0;
	}
	return vs_errf(err, ENOENT, "index.json: no image manifest for linux/%s", host_arch());
}

/* Holding nothing: open (creating) dir/path's parent components safely. */
static int open_parent(int rootfd, char *path, const char **base, struct vs_err *err)
{
	int fd = dup(rootfd);
	if (fd < 0)
		return vs_syserrf(err, errno, "dup");
	char *p = path, *slash;
	while ((slash = strchr(p, '/'))) {
		*slash = 0;
		if (*p && strcmp(p, ".") != 0) {
			if (mkdirat(fd, p, 0755) < 0 && errno != EEXIST) {
				int e = errno;
				close(fd);
				return vs_syserrf(err, e, "whiteout: mkdir %s", p);
			}
			int nfd = openat(fd, p, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int e = errno;
			close(fd);
			if (nfd < 0)
				return vs_syserrf(err, e, "whiteout: open %s", p);
			fd = nfd;
		}
		p = slash + 1;
	}
	*base = p;
	return fd;
}

/* Handle ".wh." entries; 1 when the entry was a whiteout. */
static int apply_whiteout(int rootfd, const char *name, struct vs_err *err)
{
	const char *slash = strrchr(name, '/');
	const char *b = slash ? slash + 1 : name;
	if (strncmp(b, ".wh.", 4) != 0)
		return 0;
	vs_cleanup_free char *path = strdup(name);
	if (!path)
		return vs_errf(err, ENOMEM, "out of memory");
	const char *base = "";
	vs_cleanup_close int dfd = open_parent(rootfd, path, &base, err);
	if (dfd < 0)
		return dfd;
	if (strcmp(base, ".wh..wh..opq") == 0) {
		if (fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
			return vs_syserrf(err, errno, "layer: opaque directory %s", name);
		return 1;
	}
	const char *target = base + 4;
	if (!*target || strcmp(target, ".") == 0 || strcmp(target, "..") == 0)
		return vs_errf(err, EINVAL, "layer: bad whiteout %.200s", name);
	unlinkat(dfd, target, 0);
	if (mknodat(dfd, target, S_IFCHR | 0000, makedev(0, 0)) < 0)
		return vs_syserrf(err, errno, "layer: whiteout %s", name);
	return 1;
}

/* Entry names: relative, no "..", "./" and leading "/" removed. */
static int clean_name(const char *in, char *out, size_t len, struct vs_err *err)
{
	while (*in == '/' || (in[0] == '.' && in[1] == '/'))
		in += in[0] == '/' ? 1 : 2;
	if (snprintf(out, len, "%s", in) >= (int)len)
		return vs_errf(err, ENAMETOOLONG, "layer: entry name too long");
	for (const char *p = out; *p;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return vs_errf(err, EINVAL, "layer: entry %.200s leaves the root", in);
		p += n;
		if (*p)
			p++;
	}
	return 0;
}

/* Unpack one layer blob into dest (an empty directory). */
static int unpack_layer(const char *blob, const char *dest, const struct mgr_import_ctl *ctl,
			struct vs_err *err)
{
	if (unshare(CLONE_FS) < 0)
		return vs_syserrf(err, errno, "unshare(CLONE_FS)");
	vs_cleanup_close int oldcwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	vs_cleanup_close int rootfd = open(dest, O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || oldcwd < 0 || fchdir(rootfd) < 0)
		return vs_syserrf(err, errno, "open %s", dest);
	struct archive *a = archive_read_new();
	struct archive *w = archive_write_disk_new();
	int r = 0;
	if (!a || !w) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_write_disk_set_options(
	    w, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
		   ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_UNLINK |
		   ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
		   ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
	archive_write_disk_set_standard_lookup(w);
	if (archive_read_open_filename(a, blob, 1 << 16) != ARCHIVE_OK) {
		r = vs_errf(err, EINVAL, "layer: %s", archive_error_string(a));
		goto out;
	}
	struct archive_entry *e;
	unsigned n = 0;
	int rc;
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		if (ctl && ctl->cancelled && (++n & 255) == 0 && ctl->cancelled(ctl->opaque)) {
			r = vs_errf(err, ECANCELED, "import cancelled");
			goto out;
		}
		char name[4096];
		if ((r = clean_name(archive_entry_pathname(e), name, sizeof(name), err)) < 0)
			goto out;
		if (!*name)
			continue; /* the root itself */
		if ((r = apply_whiteout(rootfd, name, err)) != 0) {
			if (r > 0)
				r = 0;
			if (r < 0)
				goto out;
			continue;
		}
		archive_entry_set_pathname(e, name);
		const char *hl = archive_entry_hardlink(e);
		if (hl) {
			char hname[4096];
			if ((r = clean_name(hl, hname, sizeof(hname), err)) < 0)
				goto out;
			archive_entry_set_hardlink(e, hname);
		}
		rc = archive_write_header(w, e);
		if (rc < ARCHIVE_WARN) {
			r = vs_errf(err, EINVAL, "layer: %s: %s", name, archive_error_string(w));
			goto out;
		}
		if (archive_entry_size(e) > 0) {
			const void *buf;
			size_t size;
			la_int64_t off;
			while ((rc = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
				if (archive_write_data_block(w, buf, size, off) < ARCHIVE_WARN) {
					r = vs_errf(err, EIO, "layer: %s: %s", name,
						    archive_error_string(w));
					goto out;
				}
			if (rc != ARCHIVE_EOF) {
				r = vs_errf(err, EINVAL, "layer: %s: %s", name,
					    archive_error_string(a));
				goto out;
			}
		}
		if (archive_write_finish_entry(w) < ARCHIVE_WARN) {
			r = vs_errf(err, EIO, "layer: %s: %s", name, archive_error_string(w));
			goto out;
		}
	}
	if (rc != ARCHIVE_EOF)
		r = vs_errf(err, EINVAL, "layer: %s", archive_error_string(a));
out:
	if (w) {
		archive_write_close(w);
		archive_write_free(w);
	}
	if (a)
		archive_read_free(a);
	if (fchdir(oldcwd) < 0)
		r = r ? r : vs_syserrf(err, errno, "fchdir");
	return r;
}

/* Unpack an archive of a layout (oci-archive) into dest. */
static int unpack_archive(const char *path, const char *dest, struct vs_err *err)
{
	if (unshare(CLONE_FS) < 0)
		return vs_syserrf(err, errno, "unshare(CLONE_FS)");
	vs_cleanup_close int oldcwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (oldcwd < 0 || chdir(dest) < 0)
		return vs_syserrf(err, errno, "chdir %s", dest);
	struct archive *a = archive_read_new();
	struct archive *w = archive_write_disk_new();
	int r = 0, rc;
	if (!a || !w) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_write_disk_set_options(w, ARCHIVE_EXTRACT_SECURE_SYMLINKS |
					      ARCHIVE_EXTRACT_SECURE_NODOTDOT |
					      ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
		r = vs_errf(err, EINVAL, "%s: %s", path, archive_error_string(a));
		goto out;
	}
	struct archive_entry *e;
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		mode_t t = archive_entry_filetype(e);
		if (t != AE_IFREG && t != AE_IFDIR)
			continue; /* a layout holds only files and directories */
		archive_entry_set_perm(e, t == AE_IFDIR ? 0700 : 0600);
		if (archive_read_extract2(a, e, w) < ARCHIVE_WARN) {
			r = vs_errf(err, EINVAL, "%s: %s: %s", path, archive_entry_pathname(e),
				    archive_error_string(a));
			goto out;
		}
	}
	if (rc != ARCHIVE_EOF)
		r = vs_errf(err, EINVAL, "%s: %s", path, archive_error_string(a));
out:
	if (w)
		archive_write_free(w);
	if (a)
		archive_read_free(a);
	if (fchdir(oldcwd) < 0)
		r = r ? r : vs_syserrf(err, errno, "fchdir");
	return r;
}

static void progress(const struct mgr_import_ctl *ctl, const char *stage, unsigned pct)
{
	if (ctl && ctl->progress)
		ctl->progress(ctl->opaque, stage, pct);
}

static bool cancelled(const struct mgr_import_ctl *ctl)
{
	return ctl && ctl->cancelled && ctl->cancelled(ctl->opaque);
}

/* Make sure layers/HEX exists (unpacked from the verified blob); *made
 * tells whether this call unpacked it. */
static int ensure_layer(struct mgr_image_store *s, const char *layout, const struct descriptor *d,
			const struct mgr_import_ctl *ctl, bool *made, struct vs_err *err)
{
	*made = false;
	char digest[80];
	snprintf(digest, sizeof(digest), "sha256:%s", d->hex);
	vs_cleanup_free char *final = mgr_image_layer_dir(s, digest);
	vs_cleanup_free char *blob = NULL;
	if (!final || asprintf(&blob, "%s/blobs/sha256/%s", layout, d->hex) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if (mgr_path_exists(final))
		return 0;
	char hex[65];
	uint64_t size;
	int r = mgr_sha256_file(blob, hex, &size, err);
	if (r < 0)
		return vs_err_prefix(err, "layer sha256:%.12s", d->hex);
	if ((int64_t)size != d->size || strcmp(hex, d->hex) != 0)
		return vs_errf(err, EINVAL, "layer sha256:%.12s does not match its descriptor",
			       d->hex);
	vs_cleanup_free char *tmp = mgr_image_tmpdir(s, err);
	if (!tmp)
		return -err->code;
	chmod(tmp, 0755);
	r = unpack_layer(blob, tmp, ctl, err);
	if (r == 0 && rename(tmp, final) < 0 && errno != EEXIST && errno != ENOTEMPTY)
		r = vs_syserrf(err, errno, "rename %s", final);
	else if (r == 0)
		*made = true;
	struct vs_err e2 = VS_ERR_INIT;
	mgr_rm_rf(tmp, &e2);
	return r;
}

/* The OCI config's "config" object (Env, Cmd, ...) as text. */
static int image_config_text(struct json_object *cfg, char **out, const char **arch,
			     struct vs_err *err)
{
	struct json_object *c, *a;
	*arch = json_object_object_get_ex(cfg, "architecture", &a) &&
			json_object_is_type(a, json_type_string)
		    ? json_object_get_string(a)
		    : host_arch();
	if (strcmp(*arch, host_arch()) != 0)
		return vs_errf(err, EINVAL, "image architecture %s does not match the host (%s)",
			       *arch, host_arch());
	const char *text = "{}";
	if (json_object_object_get_ex(cfg, "config", &c) &&
	    json_object_is_type(c, json_type_object))
		text = json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!(*out = strdup(text)))
		return vs_errf(err, ENOMEM, "out of memory");
	return 0;
}

/* Record the image (or find it) and point the alias at it, in one transaction. */
static int register_image(struct mgr_image_store *s, const char *fp, const char *config,
			  const char *arch, uint64_t size, char **layers, size_t nlayers,
			  const char *alias, struct vs_err *err)
{
	struct mgr_db *db = s->db;
	char now[32];
	mgr_timestamp(now, sizeof(now));
	mgr_db_lock(db);
	int r = mgr_db_begin(db, err);
	if (r < 0) {
		mgr_db_unlock(db);
		return r;
	}
	int64_t id = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db, "SELECT id FROM images WHERE fingerprint = ?", err);
		if (!st) {
			r = -err->code;
			goto out;
		}
		mgr_stmt_bind_text(st, 1, fp);
		if (mgr_stmt_step(st) == SQLITE_ROW)
			id = mgr_stmt_column_int64(st, 0);
	}
	if (!id) {
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(db,
				   "INSERT INTO images (fingerprint, type, architecture, size, "
				   "config, created_at) "
				   "VALUES (?, 'container', ?, ?, ?, ?)",
				   err);
		if (!st) {
			r = -err->code;
			goto out;
		}
		mgr_stmt_bind_text(st, 1, fp);
		mgr_stmt_bind_text(st, 2, arch);
		mgr_stmt_bind_int64(st, 3, (int64_t)size);
		mgr_stmt_bind_text(st, 4, config);
		mgr_stmt_bind_text(st, 5, now);
		int rc = mgr_stmt_step(st);
		if (rc != SQLITE_DONE) {
			r = mgr_db_err(db, rc, "insert image", err);
			goto out;
		}
		id = mgr_db_last_insert_id(db);
		mgr_cleanup_stmt struct mgr_stmt *ls = mgr_db_prepare(
		    db, "INSERT INTO image_layers (image_id, position, digest) VALUES (?, ?, ?)",
		    err);
		if (!ls) {
			r = -err->code;
			goto out;
		}
		for (size_t i = 0; i < nlayers; i++) {
			mgr_stmt_reset(ls);
			mgr_stmt_bind_int64(ls, 1, id);
			mgr_stmt_bind_int(ls, 2, (int)i);
			mgr_stmt_bind_text(ls, 3, layers[i]);
			if ((rc = mgr_stmt_step(ls)) != SQLITE_DONE) {
				r = mgr_db_err(db, rc, "insert image layer", err);
				goto out;
			}
		}
	}
	if (alias) {
		mgr_cleanup_stmt struct mgr_stmt *del =
		    mgr_db_prepare(db, "DELETE FROM image_aliases WHERE name = ?", err);
		mgr_cleanup_stmt struct mgr_stmt *ins = mgr_db_prepare(
		    db, "INSERT INTO image_aliases (name, image_id) VALUES (?, ?)", err);
		if (!del || !ins) {
			r = -err->code;
			goto out;
		}
		mgr_stmt_bind_text(del, 1, alias);
		mgr_stmt_bind_text(ins, 1, alias);
		mgr_stmt_bind_int64(ins, 2, id);
		int rc = mgr_stmt_step(del);
		if (rc == SQLITE_DONE)
			rc = mgr_stmt_step(ins);
		if (rc != SQLITE_DONE) {
			r = mgr_db_err(db, rc, "set alias", err);
			goto out;
		}
	}
	r = mgr_db_commit(db, err);
out:
	if (r < 0)
		mgr_db_rollback(db);
	mgr_db_unlock(db);
	return r;
}

static bool layer_referenced(struct mgr_image_store *s, const char *digest)
{
	bool used = true; /* when in doubt, keep it */
	struct vs_err e = VS_ERR_INIT;
	mgr_db_lock(s->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    s->db, "SELECT 1 FROM image_layers WHERE digest = ? LIMIT 1", &e);
		if (st) {
			mgr_stmt_bind_text(st, 1, digest);
			used = mgr_stmt_step(st) == SQLITE_ROW;
		}
	}
	mgr_db_unlock(s->db);
	return used;
}

/* Copy layout's blob HEX into dir/blobs/sha256/: a hard link when the
 * layout is the store's own (an upload or an archive unpacked under tmp/,
 * removed after the import), else a clone (a file of the caller's could
 * change under a link). */
static int keep_blob(const char *layout, bool own, const char *dir, const char *hex,
		     struct vs_err *err)
{
	vs_cleanup_free char *from = NULL, *to = NULL;
	if (asprintf(&from, "%s/blobs/sha256/%s", layout, hex) < 0 ||
	    asprintf(&to, "%s/blobs/sha256/%s", dir, hex) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if (mgr_path_exists(to))
		return 0;
	if (own && link(from, to) == 0)
		return 0;
	return mgr_file_clone(from, to, err);
}

/*
 * Keep the verified layout of a new image as STATE/images/oci/FINGERPRINT
 * (oci-layout, an index.json naming its manifest, the manifest, config and
 * compressed layer blobs): what another cluster member fetches
 * (GET /1.0/images/FP/export) and imports with the same checks, so the
 * copy there is verified against the fingerprint (the manifest's digest).
 * Blobs are hard links to the import's files when those are the store's
 * own (an upload), else clones (reflinks where the file system shares
 * extents, else copies).  A failure costs only that: logged.
 */
static void keep_layout(struct mgr_image_store *s, const char *layout, const struct descriptor *md,
			const struct descriptor *cfgd, char **layers, size_t nl)
{
	vs_cleanup_free char *final = mgr_image_oci_dir(s, md->hex);
	if (!final || mgr_path_exists(final))
		return;
	struct vs_err err = VS_ERR_INIT;
	vs_cleanup_free char *tmp = mgr_image_tmpdir(s, &err);
	vs_cleanup_free char *blobs = NULL, *index = NULL, *parent = NULL;
	int r = tmp ? 0 : -err.code;
	if (r == 0 &&
	    (asprintf(&blobs, "%s/blobs/sha256", tmp) < 0 ||
	     asprintf(&index, "%s/index.json", tmp) < 0 || asprintf(&parent, "%s/oci", s->dir) < 0))
		r = vs_errf(&err, ENOMEM, "out of memory");
	vs_cleanup_free char *store_tmp = NULL;
	bool own = asprintf(&store_tmp, "%s/tmp/", s->dir) >= 0 &&
		   strncmp(layout, store_tmp, strlen(store_tmp)) == 0;
	if (r == 0)
		r = mgr_mkdir_p(blobs, 0755, &err);
	if (r == 0)
		r = keep_blob(layout, own, tmp, md->hex, &err);
	if (r == 0)
		r = keep_blob(layout, own, tmp, cfgd->hex, &err);
	for (size_t i = 0; r == 0 && i < nl; i++)
		r = keep_blob(layout, own, tmp, layers[i] + 7, &err);
	if (r == 0) {
		vs_cleanup_free char *text = NULL, *ol = NULL;
		static const char layout_text[] = "{\"imageLayoutVersion\":\"1.0.0\"}\n";
		if (asprintf(&text,
			     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\","
			     "\"digest\":\"sha256:%s\",\"size\":%lld}]}\n",
			     *md->media_type ? md->media_type
					     : "application/vnd.oci.image.manifest.v1+json",
			     md->hex, (long long)md->size) < 0 ||
		    asprintf(&ol, "%s/oci-layout", tmp) < 0)
			r = vs_errf(&err, ENOMEM, "out of memory");
		if (r == 0)
			r = vs_write_file_atomic(index, text, strlen(text), &err);
		if (r == 0)
			r = vs_write_file_atomic(ol, layout_text, sizeof(layout_text) - 1, &err);
	}
	if (r == 0)
		r = mgr_mkdir_p(parent, 0700, &err);
	if (r == 0 && rename(tmp, final) < 0 && errno != EEXIST && errno != ENOTEMPTY)
		r = vs_syserrf(&err, errno, "rename %s", final);
	if (r < 0)
		vs_log(VS_LOG_WARN,
		       "image %.12s: its layout is not kept (other cluster members cannot fetch "
		       "it from here): %s",
		       md->hex, err.msg);
	if (tmp) {
		struct vs_err e2 = VS_ERR_INIT;
		mgr_rm_rf(tmp, &e2);
	}
}

static int import_layout(struct mgr_image_store *s, const char *layout, const char *alias,
			 const struct mgr_import_ctl *ctl, char *fingerprint, struct vs_err *err)
{
	vs_cleanup_free char *path = NULL;
	vs_cleanup_free char *buf = NULL;
	size_t len;
	if (asprintf(&path, "%s/oci-layout", layout) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if (vs_read_file(path, &buf, &len, JSON_MAX, err) < 0)
		return vs_err_prefix(err, "not an OCI image layout");
	{
		cleanup_json struct json_object *ol = json_tokener_parse(buf);
		struct json_object *v;
		if (!ol || !json_object_object_get_ex(ol, "imageLayoutVersion", &v))
			return vs_errf(err, EINVAL, "oci-layout: no imageLayoutVersion");
	}
	free(path);
	free(buf);
	path = buf = NULL;
	if (asprintf(&path, "%s/index.json", layout) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if (vs_read_file(path, &buf, &len, JSON_MAX, err) < 0)
		return -err->code;
	cleanup_json struct json_object *index = json_tokener_parse(buf);
	if (!index || !json_object_is_type(index, json_type_object))
		return vs_errf(err, EINVAL, "index.json: not a JSON object");
	struct descriptor md;
	int r = pick_manifest(layout, index, 0, &md, err);
	if (r < 0)
		return r;
	cleanup_json struct json_object *manifest = read_blob_json(layout, &md, "manifest", err);
	if (!manifest)
		return -err->code;
	struct json_object *cd, *layers;
	struct descriptor cfgd;
	if (!json_object_object_get_ex(manifest, "config", &cd) ||
	    (r = parse_descriptor(cd, "manifest: config", &cfgd, err)) < 0)
		return r < 0 ? r : vs_errf(err, EINVAL, "manifest: no config");
	if (!json_object_object_get_ex(manifest, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array))
		return vs_errf(err, EINVAL, "manifest: no layers array");
	size_t nl = json_object_array_length(layers);
	if (nl > 120)
		return vs_errf(err, E2BIG, "manifest: %zu layers (at most 120)", nl);
	cleanup_json struct json_object *cfg = read_blob_json(layout, &cfgd, "image config", err);
	if (!cfg)
		return -err->code;
	vs_cleanup_free char *config = NULL;
	const char *arch;
	if ((r = image_config_text(cfg, &config, &arch, err)) < 0)
		return r;
	char **digests = calloc(nl ? nl : 1, sizeof(*digests));
	vs_cleanup_free bool *made = calloc(nl ? nl : 1, sizeof(*made));
	if (!digests || !made) {
		free(digests);
		return vs_errf(err, ENOMEM, "out of memory");
	}
	uint64_t size = 0;
	for (size_t i = 0; i < nl && r == 0; i++) {
		struct descriptor ld;
		char what[48];
		snprintf(what, sizeof(what), "manifest: layers[%zu]", i);
		if ((r = parse_descriptor(json_object_array_get_idx(layers, i), what, &ld, err)) <
		    0)
			break;
		if (!is_layer_type(ld.media_type)) {
			r = vs_errf(err, ENOTSUP, "%s: unsupported media type \"%.100s\"", what,
				    ld.media_type);
			break;
		}
		if (cancelled(ctl)) {
			r = vs_errf(err, ECANCELED, "import cancelled");
			break;
		}
		progress(ctl, "unpack", (unsigned)(i * 100 / nl));
		if ((r = ensure_layer(s, layout, &ld, ctl, &made[i], err)) < 0)
			break;
		size += (uint64_t)ld.size;
		if (asprintf(&digests[i], "sha256:%s", ld.hex) < 0) {
			digests[i] = NULL;
			r = vs_errf(err, ENOMEM, "out of memory");
		}
	}
	if (r == 0)
		r = register_image(s, md.hex, config, arch, size, digests, nl, alias, err);
	if (r == 0)
		keep_layout(s, layout, &md, &cfgd, digests, nl);
	/* a failed import leaves no layer it unpacked itself behind */
	for (size_t i = 0; r < 0 && i < nl; i++)
		if (made[i] && digests[i] && !layer_referenced(s, digests[i])) {
			vs_cleanup_free char *dir = mgr_image_layer_dir(s, digests[i]);
			struct vs_err e2 = VS_ERR_INIT;
			if (dir)
				mgr_rm_rf(dir, &e2);
		}
	if (r == 0)
		memcpy(fingerprint, md.hex, 65);
	for (size_t i = 0; i < nl; i++)
		free(digests[i]);
	free(digests);
	progress(ctl, "done", 100);
	return r;
}

int mgr_image_import_oci(struct mgr_image_store *s, const char *path, const char *alias,
			 const struct mgr_import_ctl *ctl, char *fingerprint, struct vs_err *err)
{
	if (alias) {
		int r = mgr_image_alias_validate(alias, err);
		if (r < 0)
			return r;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return vs_syserrf(err, errno, "%s", path);
	if (S_ISDIR(st.st_mode))
		return import_layout(s, path, alias, ctl, fingerprint, err);
	if (!S_ISREG(st.st_mode))
		return vs_errf(err, EINVAL, "%s: not a file or directory", path);
	vs_cleanup_free char *tmp = mgr_image_tmpdir(s, err);
	if (!tmp)
		return -err->code;
	progress(ctl, "extract", 0);
	int r = unpack_archive(path, tmp, err);
	if (r == 0)
		r = import_layout(s, tmp, alias, ctl, fingerprint, err);
	struct vs_err e2 = VS_ERR_INIT;
	mgr_rm_rf(tmp, &e2);
	return r;
}
