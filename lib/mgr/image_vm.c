/*
 * image_vm.c - VM images in the store (image.h): a kernel, an optional
 * initramfs and a qcow2 root disk, described by a metadata.json.
 *
 * Import format (docs/vesseld.md, "VM images"): a directory, or a tar
 * archive of one (plain or compressed, anything libarchive reads), holding
 * metadata.json and the files it names, all at the top level:
 *
 *   {"type": "vm", "architecture": "riscv64", "kernel": "Image",
 *    "initrd": "initramfs.cpio.gz", "disk": "disk.qcow2",
 *    "cmdline": "console=ttyS0 root=/dev/vda rw init=/init",
 *    "memory": "256MiB", "cpus": 1, "description": "..."}
 *
 * kernel and disk are required; initrd, cmdline (default "console=ttyS0"),
 * memory (the default boot size, default 256MiB), cpus and description are
 * optional.  The disk must open as qcow2 (lib/disk) without a backing file.
 *
 * In the store: STATE/images/vm/FINGERPRINT/{metadata.json, kernel,
 * initrd, disk.qcow2}; the row's type is "vm" and its config is the
 * normalised metadata with every file's sha256 and size ("files").  The
 * fingerprint is the sha256 of that config text, so the same files and
 * metadata always give the same image and a second import is a no-op.
 * Instances never write these files: their root disk is a qcow2 overlay
 * backed by disk.qcow2 (driver_vm.c).
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/disk/image.h"
#include "vessel/disk/manage.h"
#include "vessel/mgr/image.h"
#include "vessel/mgr/instance.h"

#define META_MAX (64u << 10)

/* The store's names of the three files, by metadata key. */
static const char *const file_keys[] = { "kernel", "initrd", "disk" };
static const char *const store_names[] = { "kernel", "initrd", "disk.qcow2" };

char *mgr_image_vm_dir(struct mgr_image_store *s, const char *fingerprint)
{
	char *p = NULL;
	if (asprintf(&p, "%s/vm/%s", s->dir, fingerprint) < 0)
		return NULL;
	return p;
}

char *mgr_image_vm_file(struct mgr_image_store *s, const struct mgr_image *img, const char *file)
{
	if (strcmp(img->type, "vm") != 0)
		return NULL;
	char *p = NULL;
	if (strcmp(file, "initrd") == 0) {
		struct json_object *cfg = json_tokener_parse(img->config_json), *files, *f;
		bool has = cfg && json_object_object_get_ex(cfg, "files", &files) &&
			   json_object_object_get_ex(files, "initrd", &f);
		json_object_put(cfg);
		if (!has)
			return NULL;
	}
	if (asprintf(&p, "%s/vm/%s/%s", s->dir, img->fingerprint, file) < 0)
		return NULL;
	return p;
}

/* A file name inside the image directory: one component, no dot-dot. */
static bool plain_name(const char *n)
{
	return *n && !strchr(n, '/') && strcmp(n, ".") != 0 && strcmp(n, "..") != 0 &&
	       strlen(n) < 256;
}

bool mgr_image_is_vm_source(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return false;
	if (S_ISDIR(st.st_mode)) {
		vs_cleanup_free char *p = NULL;
		return asprintf(&p, "%s/metadata.json", path) >= 0 && access(p, F_OK) == 0;
	}
	/* an archive with metadata.json and no oci-layout */
	struct archive *a = archive_read_new();
	if (!a)
		return false;
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	bool meta = false, oci = false;
	if (archive_read_open_filename(a, path, 65536) == ARCHIVE_OK) {
		struct archive_entry *e;
		while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
			const char *n = archive_entry_pathname(e);
			if (n && strncmp(n, "./", 2) == 0)
				n += 2;
			if (n && strcmp(n, "metadata.json") == 0)
				meta = true;
			if (n && strcmp(n, "oci-layout") == 0)
				oci = true;
		}
	}
	archive_read_free(a);
	return meta && !oci;
}

/* Unpack a VM image archive into dir: regular top-level files only. */
static int unpack(const char *archive_path, const char *dir, const struct mgr_import_ctl *ctl,
		  struct vs_err *err)
{
	struct archive *a = archive_read_new();
	if (!a)
		return vs_errf(err, ENOMEM, "out of memory");
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	int r = 0;
	if (archive_read_open_filename(a, archive_path, 65536) != ARCHIVE_OK) {
		r = vs_errf(err, EINVAL, "VM image %s: %s", archive_path, archive_error_string(a));
		goto out;
	}
	struct archive_entry *e;
	int rc;
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		if (ctl && ctl->cancelled && ctl->cancelled(ctl->opaque)) {
			r = vs_errf(err, ECANCELED, "import cancelled");
			goto out;
		}
		const char *n = archive_entry_pathname(e);
		if (n && strncmp(n, "./", 2) == 0)
			n += 2;
		if (!n || !*n || archive_entry_filetype(e) == AE_IFDIR)
			continue;
		if (!plain_name(n) || archive_entry_filetype(e) != AE_IFREG) {
			r = vs_errf(err, EINVAL,
				    "VM image archive: entry \"%.100s\": only regular files at the "
				    "top level",
				    n);
			goto out;
		}
		vs_cleanup_free char *p = NULL;
		if (asprintf(&p, "%s/%s", dir, n) < 0) {
			r = vs_errf(err, ENOMEM, "out of memory");
			goto out;
		}
		vs_cleanup_close int fd =
		    open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			r = vs_syserrf(err, errno, "VM image archive: %s", n);
			goto out;
		}
		if (archive_read_data_into_fd(a, fd) != ARCHIVE_OK) {
			r = vs_errf(err, EIO, "VM image archive: %s: %s", n,
				    archive_error_string(a));
			goto out;
		}
	}
	if (rc != ARCHIVE_EOF)
		r = vs_errf(err, EINVAL, "VM image archive: %s", archive_error_string(a));
out:
	archive_read_free(a);
	return r;
}

static int copy_file(const char *from, const char *to, struct vs_err *err)
{
	char *argv[] = { "/bin/cp", "--reflink=auto", "--", (char *)from, (char *)to, NULL };
	struct mgr_run run;
	int r = mgr_run(argv, NULL, 0, 8192, &run, err);
	if (r == 0 && run.status != 0) {
		const char *msg = run.err ? run.err : "failed";
		r = vs_errf(err, EIO, "copy %s: %.*s", from, (int)strcspn(msg, "\n"), msg);
	}
	mgr_run_free(&run);
	return r;
}

static int check_disk(const char *path, struct vs_err *err)
{
	struct disk_open_options o = { .flags = DISK_OPEN_RDONLY | DISK_OPEN_NO_BACKING,
				       .format = "qcow2" };
	struct disk_image *d = disk_image_open(path, &o, err);
	if (!d)
		return vs_err_prefix(err, "VM image disk");
	struct disk_info info;
	int r = disk_image_info(d, &info, err);
	if (r == 0 && info.backing_file[0])
		r = vs_errf(err, EINVAL, "VM image disk: has a backing file (%.200s): flatten it",
			    info.backing_file);
	disk_image_close(d);
	return r;
}

/* The metadata of dir, checked and normalised (with files' digests). */
static int read_metadata(const char *dir, struct json_object **out, struct vs_err *err)
{
	vs_cleanup_free char *mpath = NULL, *text = NULL;
	size_t len;
	if (asprintf(&mpath, "%s/metadata.json", dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	int r = vs_read_file(mpath, &text, &len, META_MAX, err);
	if (r < 0)
		return vs_err_prefix(err, "VM image metadata.json");
	struct json_object *in = json_tokener_parse(text);
	if (!in || !json_object_is_type(in, json_type_object)) {
		json_object_put(in);
		return vs_errf(err, EINVAL, "VM image metadata.json: not a JSON object");
	}
	static const char *const known[] = { "type",   "architecture", "kernel",
					     "initrd", "disk",	       "cmdline",
					     "memory", "cpus",	       "description" };
	json_object_object_foreach(in, key, val)
	{
		bool ok = false;
		for (size_t i = 0; i < VS_ARRAY_SIZE(known); i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok) {
			r = vs_errf(err, EINVAL, "VM image metadata.json: unknown key \"%.60s\"",
				    key);
			goto fail;
		}
		if (strcmp(key, "cpus") == 0 ? !json_object_is_type(val, json_type_int)
					     : !json_object_is_type(val, json_type_string)) {
			r = vs_errf(err, EINVAL,
				    "VM image metadata.json: \"%s\" has the wrong type", key);
			goto fail;
		}
	}
	struct json_object *v;
	if (json_object_object_get_ex(in, "type", &v) &&
	    strcmp(json_object_get_string(v), "vm") != 0) {
		r = vs_errf(err, EINVAL, "VM image metadata.json: type must be \"vm\"");
		goto fail;
	}
	struct json_object *o = json_object_new_object(), *files = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("vm"));
	json_object_object_add(
	    o, "architecture",
	    json_object_new_string(json_object_object_get_ex(in, "architecture", &v)
				       ? json_object_get_string(v)
				       : "riscv64"));
	json_object_object_add(o, "cmdline",
			       json_object_new_string(json_object_object_get_ex(in, "cmdline", &v)
							  ? json_object_get_string(v)
							  : "console=ttyS0"));
	uint64_t mem = 256u << 20;
	if (json_object_object_get_ex(in, "memory", &v)) {
		struct vs_err e = VS_ERR_INIT;
		if (vs_parse_size(json_object_get_string(v), &mem, &e) < 0 || mem < (16u << 20)) {
			r = vs_errf(err, EINVAL, "VM image metadata.json: memory \"%.40s\": %s",
				    json_object_get_string(v), e.code ? e.msg : "at least 16MiB");
			json_object_put(o);
			json_object_put(files);
			goto fail;
		}
	}
	json_object_object_add(o, "memory", json_object_new_int64((int64_t)mem));
	int cpus = json_object_object_get_ex(in, "cpus", &v) ? json_object_get_int(v) : 1;
	if (cpus < 1 || cpus > 64) {
		r = vs_errf(err, EINVAL, "VM image metadata.json: cpus must be 1..64");
		json_object_put(o);
		json_object_put(files);
		goto fail;
	}
	json_object_object_add(o, "cpus", json_object_new_int(cpus));
	if (json_object_object_get_ex(in, "description", &v))
		json_object_object_add(o, "description", json_object_get(v));
	for (size_t i = 0; i < VS_ARRAY_SIZE(file_keys) && r == 0; i++) {
		if (!json_object_object_get_ex(in, file_keys[i], &v)) {
			if (i != 1)
				r = vs_errf(err, EINVAL,
					    "VM image metadata.json: \"%s\" is required",
					    file_keys[i]);
			continue;
		}
		const char *n = json_object_get_string(v);
		vs_cleanup_free char *p = NULL;
		if (!plain_name(n)) {
			r = vs_errf(err, EINVAL,
				    "VM image metadata.json: %s \"%.100s\": expected a file name "
				    "in the image",
				    file_keys[i], n);
			break;
		}
		if (asprintf(&p, "%s/%s", dir, n) < 0) {
			r = vs_errf(err, ENOMEM, "out of memory");
			break;
		}
		struct stat st;
		if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
			r = vs_errf(err, ENOENT,
				    "VM image: %s file \"%.100s\" missing (or not a file)",
				    file_keys[i], n);
			break;
		}
		if (i == 2 && (r = check_disk(p, err)) < 0)
			break;
		char hex[65];
		uint64_t size;
		if ((r = mgr_sha256_file(p, hex, &size, err)) < 0)
			break;
		struct json_object *f = json_object_new_object();
		json_object_object_add(f, "source", json_object_new_string(n));
		json_object_object_add(f, "sha256", json_object_new_string(hex));
		json_object_object_add(f, "size", json_object_new_int64((int64_t)size));
		json_object_object_add(files, file_keys[i], f);
	}
	json_object_object_add(o, "files", files);
	json_object_put(in);
	if (r < 0) {
		json_object_put(o);
		return r;
	}
	*out = o;
	return 0;
fail:
	json_object_put(in);
	return r;
}

/* The images row of a VM image whose files are in place (metadata.json's
 * text as its config); its caller removes the files when this fails. */
static int insert_vm_image(struct mgr_image_store *s, const char *fp, struct json_object *meta,
			   uint64_t total, const char *text, struct vs_err *err)
{
	char now[32];
	struct json_object *arch;
	json_object_object_get_ex(meta, "architecture", &arch);
	mgr_timestamp(now, sizeof(now));
	int r = 0;
	mgr_db_lock(s->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st =
		    mgr_db_prepare(s->db,
				   "INSERT INTO images (fingerprint, type, architecture, size, "
				   "config, created_at) VALUES (?, 'vm', ?, ?, ?, ?)",
				   err);
		if (!st) {
			r = -err->code;
		} else {
			mgr_stmt_bind_text(st, 1, fp);
			mgr_stmt_bind_text(st, 2, json_object_get_string(arch));
			mgr_stmt_bind_int64(st, 3, (int64_t)total);
			mgr_stmt_bind_text(st, 4, text);
			mgr_stmt_bind_text(st, 5, now);
			int rc = mgr_stmt_step(st);
			if (rc != SQLITE_DONE)
				r = mgr_db_err(s->db, rc, "insert image", err);
		}
	}
	mgr_db_unlock(s->db);
	return r;
}

/* Import the image directory dir (already checked to hold metadata.json). */
static int import_dir(struct mgr_image_store *s, const char *dir, const char *alias,
		      const struct mgr_import_ctl *ctl, char *fingerprint, struct vs_err *err)
{
	struct json_object *meta = NULL;
	if (ctl && ctl->progress)
		ctl->progress(ctl->opaque, "checking", 10);
	int r = read_metadata(dir, &meta, err);
	if (r < 0)
		return r;
	const char *text = json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN);
	char fp[65];
	mgr_sha256_buf(text, strlen(text), fp);
	vs_cleanup_free char *final = mgr_image_vm_dir(s, fp);
	vs_cleanup_free char *tmp = mgr_image_tmpdir(s, err);
	struct mgr_image existing;
	if (!final || !tmp) {
		r = final ? -err->code : vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	if (mgr_image_get(s, fp, &existing, NULL) == 0) {
		mgr_image_free(&existing); /* already here: only the alias */
		goto alias;
	}
	/* copy the files beside, then move the directory into place */
	struct json_object *files, *f, *src;
	json_object_object_get_ex(meta, "files", &files);
	uint64_t total = 0;
	for (size_t i = 0; i < VS_ARRAY_SIZE(file_keys) && r == 0; i++) {
		if (!json_object_object_get_ex(files, file_keys[i], &f))
			continue;
		if (ctl && ctl->cancelled && ctl->cancelled(ctl->opaque)) {
			r = vs_errf(err, ECANCELED, "import cancelled");
			break;
		}
		if (ctl && ctl->progress)
			ctl->progress(ctl->opaque, "copying", 30 + 20 * (unsigned)i);
		json_object_object_get_ex(f, "source", &src);
		struct json_object *sz;
		json_object_object_get_ex(f, "size", &sz);
		total += (uint64_t)json_object_get_int64(sz);
		vs_cleanup_free char *from = NULL, *to = NULL;
		if (asprintf(&from, "%s/%s", dir, json_object_get_string(src)) < 0 ||
		    asprintf(&to, "%s/%s", tmp, store_names[i]) < 0)
			r = vs_errf(err, ENOMEM, "out of memory");
		else
			r = copy_file(from, to, err);
		if (r == 0 && to)
			chmod(to, i == 2 ? 0400 : 0444); /* instances only read them */
	}
	if (r == 0) {
		vs_cleanup_free char *mp = NULL;
		if (asprintf(&mp, "%s/metadata.json", tmp) < 0)
			r = vs_errf(err, ENOMEM, "out of memory");
		else
			r = vs_write_file_atomic(mp, text, strlen(text), err);
	}
	if (r < 0)
		goto out;
	{
		vs_cleanup_free char *parent = NULL;
		if (asprintf(&parent, "%s/vm", s->dir) < 0) {
			r = vs_errf(err, ENOMEM, "out of memory");
			goto out;
		}
		if ((r = mgr_mkdir_p(parent, 0711, err)) < 0)
			goto out;
		struct vs_err e = VS_ERR_INIT;
		mgr_rm_rf(final, &e); /* a copy of a crashed import, unrecorded */
		if (chmod(tmp, 0711) < 0 || rename(tmp, final) < 0) {
			r = vs_syserrf(err, errno, "store VM image %.12s", fp);
			goto out;
		}
	}
	if (ctl && ctl->progress)
		ctl->progress(ctl->opaque, "recording", 95);
	{
		r = insert_vm_image(s, fp, meta, total, text, err);
		if (r < 0) {
			struct vs_err e = VS_ERR_INIT;
			mgr_rm_rf(final, &e);
			goto out;
		}
	}
alias:
	if (alias) {
		struct vs_err e = VS_ERR_INIT;
		mgr_image_alias_delete(s, alias, &e); /* the alias moves to this image */
		if ((r = mgr_image_alias_add(s, alias, fp, err)) < 0)
			goto out;
	}
	snprintf(fingerprint, 65, "%s", fp);
out:
	if (tmp) {
		struct vs_err e = VS_ERR_INIT;
		mgr_rm_rf(tmp, &e);
	}
	json_object_put(meta);
	return r;
}

int mgr_image_import_vm(struct mgr_image_store *s, const char *path, const char *alias,
			const struct mgr_import_ctl *ctl, char *fingerprint, struct vs_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return vs_syserrf(err, errno, "%s", path);
	if (S_ISDIR(st.st_mode))
		return import_dir(s, path, alias, ctl, fingerprint, err);
	vs_cleanup_free char *tmp = mgr_image_tmpdir(s, err);
	if (!tmp)
		return -err->code;
	if (ctl && ctl->progress)
		ctl->progress(ctl->opaque, "unpacking", 0);
	int r = unpack(path, tmp, ctl, err);
	if (r == 0)
		r = import_dir(s, tmp, alias, ctl, fingerprint, err);
	struct vs_err e = VS_ERR_INIT;
	mgr_rm_rf(tmp, &e);
	return r;
}

int mgr_image_import_guest(struct mgr_image_store *s, const char *guest_dir, const char *alias,
			   char *fingerprint, struct vs_err *err)
{
	vs_cleanup_free char *tmp = mgr_image_tmpdir(s, err);
	if (!tmp)
		return -err->code;
	/* the recipe's files, linked (or copied) beside a metadata.json */
	static const char *const names[] = { "Image", "disk.qcow2" };
	int r = 0;
	for (size_t i = 0; i < VS_ARRAY_SIZE(names) && r == 0; i++) {
		vs_cleanup_free char *from = NULL, *to = NULL;
		if (asprintf(&from, "%s/%s", guest_dir, names[i]) < 0 ||
		    asprintf(&to, "%s/%s", tmp, names[i]) < 0)
			r = vs_errf(err, ENOMEM, "out of memory");
		else if (access(from, R_OK) < 0)
			r = vs_syserrf(err, errno, "guest image %s", from);
		else if (symlink(from, to) < 0)
			r = vs_syserrf(err, errno, "symlink %s", to);
	}
	/* booted from its disk (the same tree as the initramfs, writable, so
	 * that snapshots and restores of the root disk mean something) */
	static const char meta[] =
	    "{\"type\":\"vm\",\"architecture\":\"riscv64\",\"kernel\":\"Image\","
	    "\"disk\":\"disk.qcow2\",\"cmdline\":\"console=ttyS0 root=/dev/vda rw init=/init\","
	    "\"memory\":\"256MiB\",\"cpus\":1,"
	    "\"description\":\"vessel guest (guest/ recipe): Linux, busybox, vessel-agent\"}\n";
	vs_cleanup_free char *mp = NULL;
	if (r == 0 && asprintf(&mp, "%s/metadata.json", tmp) < 0)
		r = vs_errf(err, ENOMEM, "out of memory");
	if (r == 0)
		r = vs_write_file_atomic(mp, meta, sizeof(meta) - 1, err);
	if (r == 0)
		r = import_dir(s, tmp, alias, NULL, fingerprint, err);
	struct vs_err e = VS_ERR_INIT;
	mgr_rm_rf(tmp, &e);
	return r;
}

/* The received directory dir against fingerprint: metadata.json's digest,
 * then every file it lists; *meta gets the parsed metadata, *total the
 * files' size. */
static int receive_check(const char *dir, const char *fingerprint, char **text,
			 struct json_object **meta, uint64_t *total, struct vs_err *err)
{
	vs_cleanup_free char *mp = NULL;
	size_t len;
	if (asprintf(&mp, "%s/metadata.json", dir) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if (vs_read_file(mp, text, &len, META_MAX, err) < 0)
		return vs_err_prefix(err, "VM image %.12s", fingerprint);
	char hex[65];
	mgr_sha256_buf(*text, len, hex);
	if (strcmp(hex, fingerprint) != 0)
		return vs_errf(err, EINVAL,
			       "VM image %.12s: its metadata (sha256 %.12s) does not match the "
			       "fingerprint",
			       fingerprint, hex);
	struct json_object *files, *arch;
	*meta = json_tokener_parse(*text);
	if (!*meta || !json_object_object_get_ex(*meta, "files", &files) ||
	    !json_object_is_type(files, json_type_object) ||
	    !json_object_object_get_ex(*meta, "architecture", &arch) ||
	    !json_object_is_type(arch, json_type_string))
		return vs_errf(err, EINVAL, "VM image %.12s: metadata without files", fingerprint);
	*total = 0;
	for (size_t i = 0; i < VS_ARRAY_SIZE(file_keys); i++) {
		struct json_object *f, *sha, *sz;
		vs_cleanup_free char *p = NULL;
		if (!json_object_object_get_ex(files, file_keys[i], &f)) {
			if (i != 1)
				return vs_errf(err, EINVAL, "VM image %.12s: no %s", fingerprint,
					       file_keys[i]);
			continue;
		}
		if (!json_object_object_get_ex(f, "sha256", &sha) ||
		    !json_object_object_get_ex(f, "size", &sz) ||
		    asprintf(&p, "%s/%s", dir, store_names[i]) < 0)
			return vs_errf(err, EINVAL, "VM image %.12s: %s without sha256 and size",
				       fingerprint, file_keys[i]);
		uint64_t size;
		int r = mgr_sha256_file(p, hex, &size, err);
		if (r < 0)
			return vs_err_prefix(err, "VM image %.12s", fingerprint);
		if (size != (uint64_t)json_object_get_int64(sz) ||
		    strcmp(hex, json_object_get_string(sha)) != 0)
			return vs_errf(err, EINVAL,
				       "VM image %.12s: its %s does not match the metadata "
				       "(sha256 %.12s, %llu bytes)",
				       fingerprint, file_keys[i], hex, (unsigned long long)size);
		if (i == 2 && (r = check_disk(p, err)) < 0)
			return r;
		chmod(p, i == 2 ? 0400 : 0444);
		*total += size;
	}
	return 0;
}

int mgr_image_receive_vm(struct mgr_image_store *s, const char *archive, const char *fingerprint,
			 struct vs_err *err)
{
	struct mgr_image existing;
	if (mgr_image_get(s, fingerprint, &existing, NULL) == 0) {
		mgr_image_free(&existing);
		return 0;
	}
	vs_cleanup_free char *tmp = mgr_image_tmpdir(s, err);
	vs_cleanup_free char *final = mgr_image_vm_dir(s, fingerprint);
	vs_cleanup_free char *parent = NULL, *text = NULL;
	struct json_object *meta = NULL;
	uint64_t total = 0;
	if (!tmp)
		return -err->code;
	int r = 0;
	if (!final || asprintf(&parent, "%s/vm", s->dir) < 0)
		r = vs_errf(err, ENOMEM, "out of memory");
	if (r == 0)
		r = unpack(archive, tmp, NULL, err);
	if (r == 0)
		r = receive_check(tmp, fingerprint, &text, &meta, &total, err);
	if (r == 0)
		r = mgr_mkdir_p(parent, 0711, err);
	if (r == 0) {
		struct vs_err e = VS_ERR_INIT;
		mgr_rm_rf(final, &e); /* a copy of a crashed receive, unrecorded */
		if (chmod(tmp, 0711) < 0 || rename(tmp, final) < 0)
			r = vs_syserrf(err, errno, "store VM image %.12s", fingerprint);
	}
	if (r == 0) {
		r = insert_vm_image(s, fingerprint, meta, total, text, err);
		if (r < 0) {
			struct vs_err e = VS_ERR_INIT;
			mgr_rm_rf(final, &e);
		}
	}
	json_object_put(meta);
	struct vs_err e = VS_ERR_INIT;
	mgr_rm_rf(tmp, &e);
	return r;
}
