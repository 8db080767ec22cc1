/*
 * image_store.c - the image rows and the unpacked layers (image.h).
 *
 * Lookup order for a reference: alias, then fingerprint (full or a unique
 * prefix of at least 6 hex digits, as Incus accepts).  Deleting an image
 * that an instance uses is refused (the instance's root is an overlay on
 * its layers); otherwise the row goes (its layers and aliases with it, by
 * foreign key) and every layer no other image lists is removed.
 *
 * At start, layers/ is swept of layers no image lists: what an import
 * killed between unpacking a layer and registering its image left behind.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/mgr/image.h"

void mgr_image_free(struct mgr_image *img)
{
	free(img->config_json);
	for (size_t i = 0; i < img->nlayers; i++)
		free(img->layers[i]);
	free(img->layers);
	for (size_t i = 0; i < img->naliases; i++)
		free(img->aliases[i]);
	free(img->aliases);
	memset(img, 0, sizeof(*img));
}

void mgr_image_list_free(struct mgr_image *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mgr_image_free(&list[i]);
	free(list);
}

/* Remove SUBDIR/NAME entries for which `query` (one parameter: `prefix`
 * followed by NAME) finds no row: files a crash left behind between writing
 * them and recording them, or between deleting a row and its files.
 * `what` names an entry in the log ("%.12s" of NAME). */
static void sweep_unlisted(struct mgr_image_store *s, const char *subdir, const char *query,
			   const char *prefix, const char *what)
{
	vs_cleanup_free char *dir = NULL;
	if (asprintf(&dir, "%s/%s", s->dir, subdir) < 0)
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	mgr_db_lock(s->db);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		struct vs_err e = VS_ERR_INIT;
		char key[300];
		snprintf(key, sizeof(key), "%s%s", prefix, de->d_name);
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(s->db, query, &e);
		if (!st)
			break;
		mgr_stmt_bind_text(st, 1, key);
		if (mgr_stmt_step(st) != SQLITE_DONE)
			continue;
		vs_cleanup_free char *p = NULL;
		if (asprintf(&p, "%s/%s", dir, de->d_name) < 0)
			break;
		vs_log(VS_LOG_INFO, "removing %s %.12s, which no image lists", what, de->d_name);
		mgr_rm_rf(p, &e);
	}
	mgr_db_unlock(s->db);
	closedir(d);
}

int mgr_image_store_init(struct mgr_image_store *s, const char *state_dir, struct mgr_db *db,
			 struct vs_err *err)
{
	memset(s, 0, sizeof(*s));
	if (asprintf(&s->dir, "%s/images", state_dir) < 0) {
		s->dir = NULL;
		return vs_errf(err, ENOMEM, "out of memory");
	}
	s->db = db;
	const char *subs[] = { "layers", "tmp" };
	for (size_t i = 0; i < 2; i++) {
		vs_cleanup_free char *p = NULL;
		if (asprintf(&p, "%s/%s", s->dir, subs[i]) < 0)
			return vs_errf(err, ENOMEM, "out of memory");
		if (i == 1) {
			int r = mgr_rm_rf(p, err); /* imports of a previous run */
			if (r < 0)
				return r;
		}
		int r = mgr_mkdir_p(p, 0700, err);
		if (r < 0)
			return r;
	}
	/* an import interrupted after unpacking some of its layers */
	sweep_unlisted(s, "layers", "SELECT 1 FROM image_layers WHERE digest = ? LIMIT 1",
		       "sha256:", "layer");
	/* a crash between deleting an image's row and its OCI layout */
	sweep_unlisted(s, "oci", "SELECT 1 FROM images WHERE fingerprint = ?", "",
		       "the layout of image");
	return 0;
}

void mgr_image_store_fini(struct mgr_image_store *s)
{
	free(s->dir);
	s->dir = NULL;
}

char *mgr_image_layer_dir(struct mgr_image_store *s, const char *digest)
{
	const char *hex = strchr(digest, ':');
	char *p = NULL;
	if (asprintf(&p, "%s/layers/%s", s->dir, hex ? hex + 1 : digest) < 0)
		return NULL;
	return p;
}

char *mgr_image_oci_dir(struct mgr_image_store *s, const char *fingerprint)
{
	char *p = NULL;
	if (asprintf(&p, "%s/oci/%s", s->dir, fingerprint) < 0)
		return NULL;
	return p;
}

char *mgr_image_send_dir(struct mgr_image_store *s, const struct mgr_image *img, struct vs_err *err)
{
	bool vm = strcmp(img->type, "vm") == 0;
	char *dir =
	    vm ? mgr_image_vm_dir(s, img->fingerprint) : mgr_image_oci_dir(s, img->fingerprint);
	if (!dir) {
		vs_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	if (!mgr_path_exists(dir)) {
		free(dir);
		vs_errf(err, ENOENT,
			"image %.12s: this host keeps no copy of it to send (imported before "
			"vessel kept image layouts): import it again",
			img->fingerprint);
		return NULL;
	}
	return dir;
}

/* Add dir/rel (a directory: its entries, depth-limited) to the tar a. */
static int send_entry(struct archive *a, const char *dir, const char *rel, int depth,
		      struct vs_err *err)
{
	vs_cleanup_free char *p = NULL;
	if (asprintf(&p, "%s/%s", dir, rel) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	struct stat st;
	if (lstat(p, &st) < 0)
		return vs_syserrf(err, errno, "%s", p);
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return vs_errf(err, EINVAL, "%s: not a file or directory", p);
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return vs_errf(err, ENOMEM, "out of memory");
	archive_entry_set_pathname(e, rel);
	archive_entry_set_filetype(e, S_ISDIR(st.st_mode) ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, S_ISDIR(st.st_mode) ? 0755 : 0644);
	archive_entry_set_size(e, S_ISDIR(st.st_mode) ? 0 : st.st_size);
	archive_entry_set_mtime(e, st.st_mtime, 0);
	int r = 0;
	if (archive_write_header(a, e) != ARCHIVE_OK)
		r = vs_errf(err, EIO, "tar %s: %s", rel, archive_error_string(a));
	archive_entry_free(e);
	if (r < 0)
		return r;
	if (S_ISREG(st.st_mode)) {
		vs_cleanup_close int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return vs_syserrf(err, errno, "%s", p);
		char buf[1 << 16];
		ssize_t n;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			if (archive_write_data(a, buf, (size_t)n) != n)
				return vs_errf(err, EIO, "tar %s: %s", rel,
					       archive_error_string(a));
		if (n < 0)
			return vs_syserrf(err, errno, "%s", p);
		return 0;
	}
	if (depth >= 3)
		return vs_errf(err, EINVAL, "%s: nested too deep", p);
	DIR *d = opendir(p);
	if (!d)
		return vs_syserrf(err, errno, "%s", p);
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		vs_cleanup_free char *sub = NULL;
		if (asprintf(&sub, "%s/%s", rel, de->d_name) < 0)
			r = vs_errf(err, ENOMEM, "out of memory");
		else
			r = send_entry(a, dir, sub, depth + 1, err);
	}
	closedir(d);
	return r;
}

int mgr_image_send(struct mgr_image_store *s, const struct mgr_image *img, int fd,
		   struct vs_err *err)
{
	vs_cleanup_free char *dir = mgr_image_send_dir(s, img, err);
	if (!dir)
		return -err->code;
	struct archive *a = archive_write_new();
	if (!a)
		return vs_errf(err, ENOMEM, "out of memory");
	int r = 0;
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		r = vs_errf(err, EIO, "tar: %s", archive_error_string(a));
		archive_write_free(a);
		return r;
	}
	DIR *d = opendir(dir);
	if (!d) {
		r = vs_syserrf(err, errno, "%s", dir);
	} else {
		struct dirent *de;
		while (r == 0 && (de = readdir(d)))
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				r = send_entry(a, dir, de->d_name, 1, err);
		closedir(d);
	}
	if (archive_write_close(a) != ARCHIVE_OK && r == 0)
		r = vs_errf(err, EIO, "tar: %s", archive_error_string(a));
	archive_write_free(a);
	return r;
}

char *mgr_image_tmpdir(struct mgr_image_store *s, struct vs_err *err)
{
	char *p = NULL;
	if (asprintf(&p, "%s/tmp/XXXXXX", s->dir) < 0) {
		vs_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	if (!mkdtemp(p)) {
		vs_syserrf(err, errno, "mkdtemp %s", p);
		free(p);
		return NULL;
	}
	return p;
}

static int push_str(char ***v, size_t *n, const char *s, struct vs_err *err)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));
	if (!nv)
		return vs_errf(err, ENOMEM, "out of memory");
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return vs_errf(err, ENOMEM, "out of memory");
	(*n)++;
	return 0;
}

/* Holding the lock: the image with this id, its layers and aliases. */
static int load_locked(struct mgr_image_store *s, int64_t id, struct mgr_image *img,
		       struct vs_err *err)
{
	memset(img, 0, sizeof(*img));
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(s->db,
				   "SELECT id, fingerprint, type, architecture, size, config, "
				   "created_at FROM images WHERE id = ?",
				   err);
		if (!st)
			return -err->code;
		mgr_stmt_bind_int64(st, 1, id);
		int rc = mgr_stmt_step(st);
		if (rc == SQLITE_DONE)
			return vs_errf(err, ENOENT, "image not found");
		if (rc != SQLITE_ROW)
			return mgr_db_err(s->db, rc, "read image", err);
		img->id = mgr_stmt_column_int64(st, 0);
		snprintf(img->fingerprint, sizeof(img->fingerprint), "%s",
			 mgr_stmt_column_text(st, 1));
		snprintf(img->type, sizeof(img->type), "%s", mgr_stmt_column_text(st, 2));
		snprintf(img->architecture, sizeof(img->architecture), "%s",
			 mgr_stmt_column_text(st, 3));
		img->size = (uint64_t)mgr_stmt_column_int64(st, 4);
		img->config_json = strdup(mgr_stmt_column_text(st, 5));
		snprintf(img->created_at, sizeof(img->created_at), "%s",
			 mgr_stmt_column_text(st, 6));
		if (!img->config_json)
			return vs_errf(err, ENOMEM, "out of memory");
	}
	static const char *const q[] = {
		"SELECT digest FROM image_layers WHERE image_id = ? ORDER BY position",
		"SELECT name FROM image_aliases WHERE image_id = ? ORDER BY name",
	};
	for (int k = 0; k < 2; k++) {
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(s->db, q[k], err);
		if (!st)
			return -err->code;
		mgr_stmt_bind_int64(st, 1, id);
		int rc;
		while ((rc = mgr_stmt_step(st)) == SQLITE_ROW) {
			const char *v = mgr_stmt_column_text(st, 0);
			int r = k == 0 ? push_str(&img->layers, &img->nlayers, v, err)
				       : push_str(&img->aliases, &img->naliases, v, err);
			if (r < 0)
				return r;
		}
		if (rc != SQLITE_DONE)
			return mgr_db_err(s->db, rc, "read image", err);
	}
	return 0;
}

/* Holding the lock: resolve a reference to an image id. */
static int resolve_locked(struct mgr_image_store *s, const char *ref, int64_t *id,
			  struct vs_err *err)
{
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(s->db, "SELECT image_id FROM image_aliases WHERE name = ?", err);
		if (!st)
			return -err->code;
		mgr_stmt_bind_text(st, 1, ref);
		if (mgr_stmt_step(st) == SQLITE_ROW) {
			*id = mgr_stmt_column_int64(st, 0);
			return 0;
		}
	}
	size_t n = strlen(ref);
	if (n >= 6 && n <= 64 && mgr_is_hex(ref, n)) {
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    s->db, "SELECT id FROM images WHERE substr(fingerprint, 1, ?) = ? LIMIT 2",
		    err);
		if (!st)
			return -err->code;
		mgr_stmt_bind_int(st, 1, (int)n);
		mgr_stmt_bind_text(st, 2, ref);
		if (mgr_stmt_step(st) == SQLITE_ROW) {
			*id = mgr_stmt_column_int64(st, 0);
			if (mgr_stmt_step(st) == SQLITE_ROW)
				return vs_errf(err, EINVAL, "image %s is ambiguous", ref);
			return 0;
		}
	}
	return vs_errf(err, ENOENT, "image %.80s not found", ref);
}

int mgr_image_get(struct mgr_image_store *s, const char *ref, struct mgr_image *img,
		  struct vs_err *err)
{
	memset(img, 0, sizeof(*img));
	mgr_db_lock(s->db);
	int64_t id;
	int r = resolve_locked(s, ref, &id, err);
	if (r == 0)
		r = load_locked(s, id, img, err);
	mgr_db_unlock(s->db);
	if (r < 0)
		mgr_image_free(img);
	return r;
}

int mgr_image_get_by_id(struct mgr_image_store *s, int64_t id, struct mgr_image *img,
			struct vs_err *err)
{
	mgr_db_lock(s->db);
	int r = load_locked(s, id, img, err);
	mgr_db_unlock(s->db);
	if (r < 0)
		mgr_image_free(img);
	return r;
}

int mgr_image_list(struct mgr_image_store *s, struct mgr_image **list, size_t *n,
		   struct vs_err *err)
{
	*list = NULL;
	*n = 0;
	mgr_db_lock(s->db);
	int64_t *ids = NULL;
	size_t cnt = 0;
	int r = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(s->db, "SELECT id FROM images ORDER BY created_at, id", err);
		if (!st) {
			r = -err->code;
			goto out;
		}
		while (mgr_stmt_step(st) == SQLITE_ROW) {
			int64_t *ni = realloc(ids, (cnt + 1) * sizeof(*ids));
			if (!ni) {
				r = vs_errf(err, ENOMEM, "out of memory");
				goto out;
			}
			ids = ni;
			ids[cnt++] = mgr_stmt_column_int64(st, 0);
		}
	}
	struct mgr_image *v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cnt && r == 0; i++)
		r = load_locked(s, ids[i], &v[i], err);
	if (r < 0)
		mgr_image_list_free(v, cnt);
	else {
		*list = v;
		*n = cnt;
	}
out:
	mgr_db_unlock(s->db);
	free(ids);
	return r;
}

int mgr_image_delete(struct mgr_image_store *s, const char *ref, struct vs_err *err)
{
	struct mgr_image img;
	int r = mgr_image_get(s, ref, &img, err);
	if (r < 0)
		return r;
	mgr_db_lock(s->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    s->db, "SELECT name FROM instances WHERE image_id = ? LIMIT 1", err);
		if (!st) {
			r = -err->code;
			goto out;
		}
		mgr_stmt_bind_int64(st, 1, img.id);
		if (mgr_stmt_step(st) == SQLITE_ROW) {
			r = vs_errf(err, EBUSY, "image %.12s is used by instance %s",
				    img.fingerprint, mgr_stmt_column_text(st, 0));
			goto out;
		}
	}
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(s->db, "DELETE FROM images WHERE id = ?", err);
		if (!st) {
			r = -err->code;
			goto out;
		}
		mgr_stmt_bind_int64(st, 1, img.id);
		int rc = mgr_stmt_step(st);
		if (rc != SQLITE_DONE) {
			r = mgr_db_err(s->db, rc, "delete image", err);
			goto out;
		}
	}
	{ /* its files (instances hold none open) */
		vs_cleanup_free char *dir = strcmp(img.type, "vm") == 0
						? mgr_image_vm_dir(s, img.fingerprint)
						: mgr_image_oci_dir(s, img.fingerprint);
		struct vs_err e = VS_ERR_INIT;
		if (dir)
			mgr_rm_rf(dir, &e);
	}
	/* layers no other image lists */
	for (size_t i = 0; i < img.nlayers; i++) {
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    s->db, "SELECT 1 FROM image_layers WHERE digest = ? LIMIT 1", err);
		if (!st)
			continue;
		mgr_stmt_bind_text(st, 1, img.layers[i]);
		if (mgr_stmt_step(st) == SQLITE_ROW)
			continue;
		vs_cleanup_free char *dir = mgr_image_layer_dir(s, img.layers[i]);
		struct vs_err e = VS_ERR_INIT;
		if (dir)
			mgr_rm_rf(dir, &e);
	}
out:
	mgr_db_unlock(s->db);
	mgr_image_free(&img);
	return r;
}

int mgr_image_alias_validate(const char *alias, struct vs_err *err)
{
	size_t n = strlen(alias);
	if (n == 0 || n > 128)
		return vs_errf(err, EINVAL, "invalid alias: 1 to 128 characters");
	for (size_t i = 0; i < n; i++) {
		char c = alias[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._:-", c)))
			return vs_errf(err, EINVAL,
				       "invalid alias \"%.128s\": only letters, digits and ._:-",
				       alias);
	}
	if (n >= 6 && mgr_is_hex(alias, n))
		return vs_errf(err, EINVAL, "invalid alias \"%s\": looks like a fingerprint",
			       alias);
	return 0;
}

int mgr_image_alias_add(struct mgr_image_store *s, const char *alias, const char *ref,
			struct vs_err *err)
{
	int r = mgr_image_alias_validate(alias, err);
	if (r < 0)
		return r;
	mgr_db_lock(s->db);
	int64_t id;
	r = resolve_locked(s, ref, &id, err);
	if (r == 0) {
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    s->db, "INSERT INTO image_aliases (name, image_id) VALUES (?, ?)", err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_text(st, 1, alias);
			mgr_stmt_bind_int64(st, 2, id);
			int rc = mgr_stmt_step(st);
			if ((rc & 0xff) == SQLITE_CONSTRAINT)
				r = vs_errf(err, EEXIST, "alias %s already exists", alias);
			else if (rc != SQLITE_DONE)
				r = mgr_db_err(s->db, rc, "add alias", err);
		}
	}
	mgr_db_unlock(s->db);
	return r;
}

int mgr_image_alias_delete(struct mgr_image_store *s, const char *alias, struct vs_err *err)
{
	mgr_db_lock(s->db);
	int r = 0;
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(s->db, "DELETE FROM image_aliases WHERE name = ?", err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_text(st, 1, alias);
			int rc = mgr_stmt_step(st);
			if (rc != SQLITE_DONE)
				r = mgr_db_err(s->db, rc, "delete alias", err);
			else if (mgr_db_changes(s->db) == 0)
				r = vs_errf(err, ENOENT, "alias %.128s not found", alias);
		}
	}
	mgr_db_unlock(s->db);
	return r;
}
