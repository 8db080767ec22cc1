/*
 * volume.c - storage volumes (vessel/mgr/volume.h).
 *
 * Order of things, as for instances: the row is written before the file
 * exists and removed after it is gone; a failed create removes both.  The
 * file is made sparse (ftruncate) and formatted with Debian's mkfs.ext4
 * (e2fsprogs); a resize grows the file and runs e2fsck + resize2fs on it
 * (never while a running instance has it mounted).  A qcow2 volume
 * (NAME.qcow2, VMs only: a container would need NBD to mount it) is the
 * same ext4 made in a temporary sparse raw file and converted with the
 * project's qcow2 code (lib/disk); its resize converts it back to a
 * temporary raw file, grows that as above and converts it again, so the
 * filesystem grows with the disk (a copy of the allocated data).  Attachments change
 * only while the instance is stopped (it is marked busy meanwhile), so a
 * running instance always has exactly the volumes it was started with (a
 * container: a bind mount of the loop-mounted file; a VM: a virtio-blk disk
 * that the VM driver mounts in the guest at start).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "mgr_internal.h"
#include "volume_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/disk/image.h"
#include "vessel/disk/manage.h"
#include "vessel/mgr/db.h"
#include "vessel/mgr/instance.h"
#include "vessel/mgr/volume.h"

static pthread_mutex_t volume_mutex = PTHREAD_MUTEX_INITIALIZER;

void mgr_volume_lock(void)
{
	pthread_mutex_lock(&volume_mutex);
}

void mgr_volume_unlock(void)
{
	pthread_mutex_unlock(&volume_mutex);
}

char *mgr_volume_pool_dir(struct mgr *m)
{
	char *p = NULL;
	return asprintf(&p, "%s/storage/default", m->state_dir) < 0 ? NULL : p;
}

char *mgr_volume_file(struct mgr *m, const char *name, const char *format)
{
	char *p = NULL;
	return asprintf(&p, "%s/storage/default/%s.%s", m->state_dir, name,
			format && strcmp(format, "qcow2") == 0 ? "qcow2" : "raw") < 0
		   ? NULL
		   : p;
}

/* A temporary file next to the volume's: STATE/storage/default/.NAME.WHAT */
static char *tmp_file(struct mgr *m, const char *name, const char *what)
{
	char *p = NULL;
	return asprintf(&p, "%s/storage/default/.%s.%s", m->state_dir, name, what) < 0 ? NULL : p;
}

/* Convert src (of format from) into a new file dst of format to (lib/disk:
 * only the allocated data is copied, dst is fsync'ed by the caller's rename). */
static int convert(const char *src, const char *from, const char *dst, const char *to,
		   struct vs_err *err)
{
	struct disk_open_options o = { .flags = DISK_OPEN_RDONLY | DISK_OPEN_NO_BACKING,
				       .format = from };
	struct disk_image *img = disk_image_open(src, &o, err);
	if (!img)
		return -err->code;
	struct disk_convert_options c = { .out_format = to };
	unlink(dst);
	int r = disk_image_convert(img, dst, &c, err);
	disk_image_close(img);
	if (r == 0) {
		int fd = open(dst, O_RDWR | O_CLOEXEC);
		if (fd < 0 || fsync(fd) < 0)
			r = vs_syserrf(err, errno, "sync %s", dst);
		if (fd >= 0)
			close(fd);
	}
	if (r < 0)
		unlink(dst);
	return r;
}

static int check_size(uint64_t size, struct vs_err *err)
{
	if (size < MGR_VOLUME_MIN || size > MGR_VOLUME_MAX)
		return vs_errf(err, ERANGE, "volume size %llu: must be 8 MiB to 1 TiB",
			       (unsigned long long)size);
	if (size % 4096)
		return vs_errf(err, EINVAL, "volume size %llu: not a multiple of 4 KiB",
			       (unsigned long long)size);
	return 0;
}

/* Run a tool; a failure is its stderr's first line. */
static int tool(const char *what, char *const argv[], struct vs_err *err)
{
	struct mgr_run run = { 0 };
	int r = mgr_run(argv, NULL, 0, 4096, &run, err);
	if (r == 0 && run.status != 0) {
		const char *msg = run.err && run.err_len ? run.err : run.out ? run.out : "";
		r = vs_errf(err, EIO, "%s failed (%d): %.*s", what, run.status,
			    (int)strcspn(msg, "\n"), msg);
	}
	mgr_run_free(&run);
	return r;
}

int mgr_volume_row(struct mgr_db *db, const char *name, struct vrow *v, struct vs_err *err)
{
	memset(v, 0, sizeof(*v));
	int r = 0;
	mgr_db_lock(db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    db,
		    "SELECT v.id, v.size, COALESCE(a.instance_id, 0), COALESCE(i.name, ''), "
		    "COALESCE(a.path, ''), v.format FROM storage_volumes v "
		    "LEFT JOIN instance_volumes a ON a.volume_id = v.id "
		    "LEFT JOIN instances i ON i.id = a.instance_id WHERE v.name = ?",
		    err);
		if (!st) {
			r = -EIO;
		} else {
			mgr_stmt_bind_text(st, 1, name);
			int rc = mgr_stmt_step(st);
			if (rc == SQLITE_ROW) {
				v->id = mgr_stmt_column_int64(st, 0);
				v->size = (uint64_t)mgr_stmt_column_int64(st, 1);
				v->instance_id = mgr_stmt_column_int64(st, 2);
				snprintf(v->instance, sizeof(v->instance), "%s",
					 mgr_stmt_column_text(st, 3));
				snprintf(v->path, sizeof(v->path), "%s",
					 mgr_stmt_column_text(st, 4));
				snprintf(v->format, sizeof(v->format), "%s",
					 mgr_stmt_column_text(st, 5));
			} else if (rc == SQLITE_DONE) {
				r = vs_errf(err, ENOENT, "storage volume %s not found", name);
			} else {
				r = mgr_db_err(db, rc, "volume", err);
			}
		}
	}
	mgr_db_unlock(db);
	return r;
}

int mgr_volume_exec(struct mgr_db *db, const char *sql, const char *types, const void *const *vals,
		    struct vs_err *err)
{
	int r = 0;
	mgr_db_lock(db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(db, sql, err);
		if (!st) {
			r = -EIO;
		} else {
			for (int i = 0; types[i]; i++) {
				if (types[i] == 't')
					mgr_stmt_bind_text(st, i + 1, vals[i]);
				else
					mgr_stmt_bind_int64(st, i + 1, *(const int64_t *)vals[i]);
			}
			int rc = mgr_stmt_step(st);
			if (rc != SQLITE_DONE)
				r = mgr_db_err(db, rc, "volume", err);
		}
	}
	mgr_db_unlock(db);
	return r;
}

/* The pool directory made and the volume's row written (the file is the
 * caller's to make). */
static int volume_row_add(struct mgr *m, const char *dir, const char *name, const char *format,
			  uint64_t size, struct vs_err *err)
{
	int r = mgr_mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	char now[32];
	mgr_timestamp(now, sizeof(now));
	int64_t sz = (int64_t)size;
	const void *vals[] = { name, format, &sz, now };
	r = mgr_volume_exec(m->db,
			    "INSERT INTO storage_volumes (name, format, size, created_at) "
			    "VALUES (?, ?, ?, ?)",
			    "ttit", vals, err);
	if (r == -EEXIST)
		return vs_errf(err, EEXIST, "storage volume %s already exists", name);
	return r;
}

int mgr_volume_create(struct mgr *m, const char *name, uint64_t size, const char *format,
		      struct vs_err *err)
{
	if (!format)
		format = "raw";
	if (strcmp(format, "raw") != 0 && strcmp(format, "qcow2") != 0)
		return vs_errf(err, EINVAL, "volume format %.32s: expected raw or qcow2", format);
	bool qcow2 = strcmp(format, "qcow2") == 0;
	int r = mgr_name_validate(name, err);
	if (r < 0 || (r = check_size(size, err)) < 0)
		return r;
	vs_cleanup_free char *dir = mgr_volume_pool_dir(m),
			     *file = mgr_volume_file(m, name, format);
	vs_cleanup_free char *raw = qcow2 ? tmp_file(m, name, "create.raw") : NULL;
	vs_cleanup_free char *tmp = qcow2 ? tmp_file(m, name, "create.qcow2") : NULL;
	if (!dir || !file || (qcow2 && (!raw || !tmp)))
		return vs_errf(err, ENOMEM, "out of memory");
	const char *mkfs_file = qcow2 ? raw : file;
	if ((r = volume_row_add(m, dir, name, format, size, err)) < 0)
		return r;
	unlink(file); /* left by a crash between the row's removal and ours */
	unlink(mkfs_file);
	int fd = open(mkfs_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = vs_syserrf(err, errno, "create %s", mkfs_file);
	} else {
		if (ftruncate(fd, (off_t)size) < 0)
			r = vs_syserrf(err, errno, "size %s", mkfs_file);
		close(fd);
	}
	if (r == 0) {
		char *const argv[] = { "/sbin/mkfs.ext4", "-q", "-F", "-L", (char *)name,
				       (char *)mkfs_file, NULL };
		r = tool("mkfs.ext4", argv, err);
	}
	if (r == 0 && qcow2 && (r = convert(raw, "raw", tmp, "qcow2", err)) == 0 &&
	    rename(tmp, file) < 0)
		r = vs_syserrf(err, errno, "rename %s", tmp);
	if (qcow2) {
		unlink(raw);
		unlink(tmp);
	}
	if (r < 0) {
		struct vs_err e2 = VS_ERR_INIT;
		unlink(file);
		const void *v2[] = { name };
		mgr_volume_exec(m->db, "DELETE FROM storage_volumes WHERE name = ?", "t", v2, &e2);
	}
	return r;
}

/* The instance cannot start or stop meanwhile. */
int mgr_volume_row_quiet(struct mgr *m, const char *name, struct vrow *v, int64_t *busy_id,
			 bool *running, struct vs_err *err)
{
	*busy_id = 0;
	*running = false;
	int r = mgr_volume_row(m->db, name, v, err);
	if (r < 0 || !v->instance_id)
		return r;
	struct mgr_instance inst;
	char iname[MGR_NAME_MAX + 1];
	snprintf(iname, sizeof(iname), "%s", v->instance);
	if ((r = mgr_get_busy(m, iname, &inst, err)) < 0)
		return r;
	*busy_id = inst.id;
	enum mgr_power p;
	pid_t pid;
	r = mgr_instance_live(m, &inst, &p, &pid, err);
	if (r == 0)
		*running = p != MGR_POWER_STOPPED;
	mgr_instance_free(&inst);
	if (r == 0)
		r = mgr_volume_row(m->db, name, v, err); /* re-read under the mark */
	return r;
}

int mgr_volume_resize(struct mgr *m, const char *name, uint64_t size, struct vs_err *err)
{
	int r = check_size(size, err);
	if (r < 0)
		return r;
	struct vrow v;
	int64_t busy;
	bool running;
	vs_cleanup_free char *file = NULL, *raw = tmp_file(m, name, "resize.raw");
	vs_cleanup_free char *tmp = tmp_file(m, name, "resize.qcow2");
	if (!raw || !tmp)
		return vs_errf(err, ENOMEM, "out of memory");
	mgr_volume_lock();
	if ((r = mgr_volume_row_quiet(m, name, &v, &busy, &running, err)) < 0)
		goto out;
	bool qcow2 = strcmp(v.format, "qcow2") == 0;
	if (!(file = mgr_volume_file(m, name, v.format))) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	if (running) {
		r = vs_errf(err, EBUSY,
			    "storage volume %s is in use by running instance %s: stop it "
			    "before resizing",
			    name, v.instance);
		goto out;
	}
	if (size < v.size) {
		r = vs_errf(err, EINVAL,
			    "storage volume %s: shrinking is not supported (%llu < %llu)", name,
			    (unsigned long long)size, (unsigned long long)v.size);
		goto out;
	}
	if (size == v.size)
		goto out;
	/* a qcow2 volume: grown as a temporary raw copy, converted back */
	const char *grown = qcow2 ? raw : file;
	if (qcow2 && (r = convert(file, "qcow2", raw, "raw", err)) < 0)
		goto out;
	if (truncate(grown, (off_t)size) < 0) {
		r = vs_syserrf(err, errno, "grow %s", grown);
		goto out;
	}
	char *const fsck[] = { "/sbin/e2fsck", "-f", "-p", (char *)grown, NULL };
	char *const grow[] = { "/sbin/resize2fs", "-f", (char *)grown, NULL };
	if ((r = tool("e2fsck", fsck, err)) < 0 || (r = tool("resize2fs", grow, err)) < 0)
		goto out;
	if (qcow2 && (r = convert(raw, "raw", tmp, "qcow2", err)) == 0 && rename(tmp, file) < 0)
		r = vs_syserrf(err, errno, "rename %s", tmp);
	if (r < 0)
		goto out;
	int64_t sz = (int64_t)size;
	const void *vals[] = { &sz, name };
	r = mgr_volume_exec(m->db, "UPDATE storage_volumes SET size = ? WHERE name = ?", "it", vals,
			    err);
out:
	unlink(raw);
	unlink(tmp);
	if (busy)
		mgr_busy_release(m, busy);
	mgr_volume_unlock();
	return r;
}

/* Files first (snapshots, then the volume), the row last: its snapshots'
 * rows go with it (ON DELETE CASCADE). */
static int volume_delete_locked(struct mgr *m, const char *name, struct vs_err *err)
{
	struct vrow v;
	int r = mgr_volume_row(m->db, name, &v, err);
	if (r < 0)
		return r;
	if (v.instance_id)
		return vs_errf(err, EBUSY, "storage volume %s is attached to %s: detach it first",
			       name, v.instance);
	vs_cleanup_free char *file = mgr_volume_file(m, name, v.format);
	if (!file)
		return vs_errf(err, ENOMEM, "out of memory");
	if ((r = mgr_volume_snapshots_remove_files(m, name, err)) < 0)
		return r;
	if (unlink(file) < 0 && errno != ENOENT)
		return vs_syserrf(err, errno, "remove %s", file);
	const void *vals[] = { name };
	r = mgr_volume_exec(m->db, "DELETE FROM storage_volumes WHERE name = ?", "t", vals, err);
	if (r == -EEXIST)
		r = vs_errf(err, EBUSY, "storage volume %s was attached meanwhile", name);
	return r;
}

int mgr_volume_delete(struct mgr *m, const char *name, struct vs_err *err)
{
	mgr_volume_lock();
	int r = volume_delete_locked(m, name, err);
	mgr_volume_unlock();
	return r;
}

int mgr_volume_delete_moved(struct mgr *m, const char *instance,
			    const struct mgr_volume_mount *vols, size_t n, struct vs_err *err)
{
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		struct vs_err e2 = VS_ERR_INIT;
		if (mgr_volume_delete(m, vols[i].name, &e2) == 0)
			continue;
		vs_log(VS_LOG_WARN, "%s moved, but its volume %s was not removed here: %s",
		       instance, vols[i].name, e2.msg);
		if (r == 0)
			r = vs_errf(err, e2.code ? e2.code : EIO,
				    "its storage volume %s was not removed here: %s", vols[i].name,
				    e2.msg);
	}
	return r;
}

/* An absolute path without "." or ".." components, not "/", no "//". */
static int check_path(const char *path, struct vs_err *err)
{
	size_t n = strlen(path);
	if (path[0] != '/' || n < 2 || n > 1024)
		return vs_errf(err, EINVAL, "volume path %.80s: expected an absolute path (not /)",
			       path);
	for (const char *p = path; *p;) {
		p++;
		size_t l = strcspn(p, "/");
		if (l == 0 || (l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
			return vs_errf(err, EINVAL, "volume path %.80s: empty, . or .. component",
				       path);
		p += l;
	}
	if (strpbrk(path, "\n,"))
		return vs_errf(err, EINVAL, "volume path %.80s: bad character", path);
	return 0;
}

/* Mark the instance busy and check it is stopped. */
static int stopped_busy(struct mgr *m, const char *instance, struct mgr_instance *inst,
			const char *why, struct vs_err *err)
{
	int r = mgr_get_busy(m, instance, inst, err);
	if (r < 0)
		return r;
	enum mgr_power p;
	pid_t pid;
	r = mgr_instance_live(m, inst, &p, &pid, err);
	if (r == 0 && p != MGR_POWER_STOPPED)
		r = vs_errf(err, EBUSY, "instance %s is %s: stop it before %s volumes", inst->name,
			    mgr_power_status(p), why);
	if (r < 0) {
		mgr_busy_release(m, inst->id);
		mgr_instance_free(inst);
	}
	return r;
}

static int volume_attach_locked(struct mgr *m, const char *name, const char *instance,
				const char *path, struct vs_err *err)
{
	int r = check_path(path, err);
	if (r < 0)
		return r;
	struct vrow v;
	if ((r = mgr_volume_row(m->db, name, &v, err)) < 0)
		return r;
	struct mgr_instance inst;
	if ((r = stopped_busy(m, instance, &inst, "attaching", err)) < 0)
		return r;
	if (strcmp(v.format, "qcow2") == 0 && inst.type != MGR_INSTANCE_VM) {
		r = vs_errf(
		    err, EINVAL,
		    "storage volume %s is qcow2: it can be attached to VMs only (a "
		    "container mounts a raw volume's filesystem; create a raw volume for %s)",
		    name, inst.name);
		mgr_busy_release(m, inst.id);
		mgr_instance_free(&inst);
		return r;
	}
	if ((r = mgr_volume_row(m->db, name, &v, err)) == 0 && v.instance_id)
		r = vs_errf(err, EEXIST, "storage volume %s is already attached to %s", name,
			    v.instance);
	if (r == 0) {
		const void *vals[] = { &v.id, &inst.id, path };
		r = mgr_volume_exec(m->db,
				    "INSERT INTO instance_volumes (volume_id, instance_id, path) "
				    "VALUES (?, ?, ?)",
				    "iit", vals, err);
		if (r == -EEXIST)
			r = vs_errf(err, EEXIST, "instance %s already has a volume at %s",
				    inst.name, path);
	}
	mgr_busy_release(m, inst.id);
	mgr_instance_free(&inst);
	return r;
}

int mgr_volume_attach(struct mgr *m, const char *name, const char *instance, const char *path,
		      struct vs_err *err)
{
	mgr_volume_lock();
	int r = volume_attach_locked(m, name, instance, path, err);
	mgr_volume_unlock();
	return r;
}

static int volume_detach_locked(struct mgr *m, const char *name, const char *instance,
				struct vs_err *err)
{
	struct vrow v;
	int r = mgr_volume_row(m->db, name, &v, err);
	if (r < 0)
		return r;
	struct mgr_instance inst;
	if ((r = stopped_busy(m, instance, &inst, "detaching", err)) < 0)
		return r;
	if ((r = mgr_volume_row(m->db, name, &v, err)) == 0 && v.instance_id != inst.id)
		r = vs_errf(err, ENOENT, "storage volume %s is not attached to %s", name,
			    inst.name);
	if (r == 0) {
		const void *vals[] = { &v.id };
		r = mgr_volume_exec(m->db, "DELETE FROM instance_volumes WHERE volume_id = ?", "i",
				    vals, err);
	}
	mgr_busy_release(m, inst.id);
	mgr_instance_free(&inst);
	return r;
}

int mgr_volume_detach(struct mgr *m, const char *name, const char *instance, struct vs_err *err)
{
	mgr_volume_lock();
	int r = volume_detach_locked(m, name, instance, err);
	mgr_volume_unlock();
	return r;
}

/* Holding the database: each volume's "snapshots", oldest first. */
static int add_snapshot_names(struct mgr *m, const char *name, struct json_object *a,
			      struct vs_err *err)
{
	mgr_cleanup_stmt struct mgr_stmt *st =
	    mgr_db_prepare(m->db,
			   "SELECT v.name, s.name FROM volume_snapshots s JOIN storage_volumes v "
			   "ON v.id = s.volume_id WHERE ? IS NULL OR v.name = ? ORDER BY s.id",
			   err);
	if (!st)
		return -EIO;
	mgr_stmt_bind_text(st, 1, name);
	mgr_stmt_bind_text(st, 2, name);
	int rc;
	while ((rc = mgr_stmt_step(st)) == SQLITE_ROW) {
		const char *vn = mgr_stmt_column_text(st, 0);
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			struct json_object *o = json_object_array_get_idx(a, i), *n, *l;
			if (json_object_object_get_ex(o, "name", &n) &&
			    strcmp(json_object_get_string(n), vn) == 0 &&
			    json_object_object_get_ex(o, "snapshots", &l))
				json_object_array_add(
				    l, json_object_new_string(mgr_stmt_column_text(st, 1)));
		}
	}
	return rc == SQLITE_DONE ? 0 : mgr_db_err(m->db, rc, "volume snapshots", err);
}

static int query_json(struct mgr *m, const char *name, struct json_object **out, struct vs_err *err)
{
	struct json_object *a = json_object_new_array();
	int r = 0;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "SELECT v.name, v.format, v.size, v.created_at, COALESCE(i.name, ''), "
		    "COALESCE(a.path, '') FROM storage_volumes v "
		    "LEFT JOIN instance_volumes a ON a.volume_id = v.id "
		    "LEFT JOIN instances i ON i.id = a.instance_id "
		    "WHERE ? IS NULL OR v.name = ? ORDER BY v.name",
		    err);
		int rc = SQLITE_DONE;
		if (!st) {
			r = -EIO;
		} else {
			mgr_stmt_bind_text(st, 1, name);
			mgr_stmt_bind_text(st, 2, name);
			while ((rc = mgr_stmt_step(st)) == SQLITE_ROW) {
				struct json_object *o = json_object_new_object();
				static const char *const k[] = { "name",       "format",  NULL,
								 "created_at", "used_by", "path" };
				for (int i = 0; i < 6; i++)
					json_object_object_add(
					    o, i == 2 ? "size" : k[i],
					    i == 2 ? json_object_new_int64(
							 mgr_stmt_column_int64(st, i))
						   : json_object_new_string(
							 mgr_stmt_column_text(st, i)));
				json_object_object_add(o, "snapshots", json_object_new_array());
				json_object_array_add(a, o);
			}
			if (rc != SQLITE_DONE)
				r = mgr_db_err(m->db, rc, "volumes", err);
		}
	}
	if (r == 0)
		r = add_snapshot_names(m, name, a, err);
	mgr_db_unlock(m->db);
	if (r < 0) {
		json_object_put(a);
		return r;
	}
	*out = a;
	return 0;
}

int mgr_volume_list(struct mgr *m, struct json_object **out, struct vs_err *err)
{
	return query_json(m, NULL, out, err);
}

int mgr_volume_get(struct mgr *m, const char *name, struct json_object **out, struct vs_err *err)
{
	struct json_object *a;
	int r = query_json(m, name, &a, err);
	if (r < 0)
		return r;
	if (json_object_array_length(a) != 1) {
		json_object_put(a);
		return vs_errf(err, ENOENT, "storage volume %s not found", name);
	}
	*out = json_object_get(json_object_array_get_idx(a, 0));
	json_object_put(a);
	return 0;
}

int mgr_volume_incoming_check(struct mgr *m, const char *name, const char *format, uint64_t size,
			      const char *path, struct vs_err *err)
{
	int r = mgr_name_validate(name, err);
	if (r < 0 || (r = check_size(size, err)) < 0 || (r = check_path(path, err)) < 0)
		return vs_err_prefix(err, "storage volume %s", name);
	if (!format || (strcmp(format, "raw") != 0 && strcmp(format, "qcow2") != 0))
		return vs_errf(err, EINVAL,
			       "storage volume %s: format %.32s: expected raw or qcow2", name,
			       format ? format : "(none)");
	struct vrow v;
	if ((r = mgr_volume_row(m->db, name, &v, NULL)) == 0)
		return vs_errf(err, EEXIST,
			       "storage volume %s already exists on this host (pool default)",
			       name);
	return r == -ENOENT ? 0 : vs_errf(err, EIO, "storage volume %s: cannot read it", name);
}

int mgr_volume_incoming_add(struct mgr *m, const char *name, const char *format, uint64_t size,
			    int64_t instance_id, const char *path, struct vs_err *err)
{
	int r = mgr_volume_incoming_check(m, name, format, size, path, err);
	if (r < 0)
		return r;
	vs_cleanup_free char *dir = mgr_volume_pool_dir(m),
			     *file = mgr_volume_file(m, name, format);
	if (!dir || !file)
		return vs_errf(err, ENOMEM, "out of memory");
	if ((r = volume_row_add(m, dir, name, format, size, err)) < 0)
		return r;
	unlink(file); /* left by a crash between the row's removal and ours: the VMM creates it */
	struct vrow v;
	if ((r = mgr_volume_row(m->db, name, &v, err)) == 0) {
		const void *av[] = { &v.id, &instance_id, path };
		r = mgr_volume_exec(m->db,
				    "INSERT INTO instance_volumes (volume_id, instance_id, path) "
				    "VALUES (?, ?, ?)",
				    "iit", av, err);
	}
	if (r < 0) {
		struct vs_err e2 = VS_ERR_INIT;
		const void *v2[] = { name };
		mgr_volume_exec(m->db, "DELETE FROM storage_volumes WHERE name = ?", "t", v2, &e2);
	}
	return r;
}

int mgr_volume_snapshotted(struct mgr *m, int64_t instance_id, char *name, size_t len,
			   struct vs_err *err)
{
	int r = 0;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "SELECT v.name FROM instance_volumes a JOIN storage_volumes v ON v.id = "
		    "a.volume_id JOIN volume_snapshots s ON s.volume_id = v.id "
		    "WHERE a.instance_id = ? ORDER BY v.name LIMIT 1",
		    err);
		if (!st) {
			r = -EIO;
		} else {
			mgr_stmt_bind_int64(st, 1, instance_id);
			int rc = mgr_stmt_step(st);
			if (rc == SQLITE_ROW) {
				snprintf(name, len, "%s",
					 (const char *)mgr_stmt_column_text(st, 0));
				r = 1;
			} else if (rc != SQLITE_DONE) {
				r = mgr_db_err(m->db, rc, "volume snapshots", err);
			}
		}
	}
	mgr_db_unlock(m->db);
	return r;
}

int mgr_volume_mounts(struct mgr *m, int64_t instance_id, struct mgr_volume_mount **out, size_t *n,
		      struct vs_err *err)
{
	*out = NULL;
	*n = 0;
	int r = 0;
	size_t cap = 0;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "SELECT v.name, a.path, v.format FROM instance_volumes a JOIN "
		    "storage_volumes v ON v.id = a.volume_id WHERE a.instance_id = ? "
		    "ORDER BY a.path",
		    err);
		int rc = SQLITE_DONE;
		if (!st) {
			r = -EIO;
		} else {
			mgr_stmt_bind_int64(st, 1, instance_id);
			while (r == 0 && (rc = mgr_stmt_step(st)) == SQLITE_ROW) {
				if (*n == cap) {
					cap = cap ? cap * 2 : 4;
					struct mgr_volume_mount *nv =
					    realloc(*out, cap * sizeof(**out));
					if (!nv) {
						r = vs_errf(err, ENOMEM, "out of memory");
						break;
					}
					*out = nv;
				}
				struct mgr_volume_mount *vm = &(*out)[(*n)++];
				snprintf(vm->name, sizeof(vm->name), "%s",
					 mgr_stmt_column_text(st, 0));
				snprintf(vm->path, sizeof(vm->path), "%s",
					 mgr_stmt_column_text(st, 1));
				snprintf(vm->file, sizeof(vm->file), "%s/storage/default/%s.%s",
					 m->state_dir, vm->name,
					 strcmp(mgr_stmt_column_text(st, 2), "qcow2") == 0 ? "qcow2"
											   : "raw");
			}
			if (r == 0 && rc != SQLITE_DONE)
				r = mgr_db_err(m->db, rc, "volumes", err);
		}
	}
	mgr_db_unlock(m->db);
	if (r < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return r;
}

int mgr_volume_adopt(struct mgr *m, const char *name, const char *format, uint64_t size,
		     int64_t instance_id, const char *path, const char *src, struct vs_err *err)
{
	vs_cleanup_free char *dir = mgr_volume_pool_dir(m),
			     *file = mgr_volume_file(m, name, format);
	if (!dir || !file)
		return vs_errf(err, ENOMEM, "out of memory");
	mgr_volume_lock();
	/* the rows first (the name taken), then the file: as a create */
	int r = mgr_volume_incoming_add(m, name, format, size, instance_id, path, err);
	bool added = r == 0; /* a failure of the add removed what it made */
	if (r == 0 && rename(src, file) < 0)
		r = vs_syserrf(err, errno, "move the imported volume %s to %s", name, file);
	if (r == 0)
		r = mgr_fsync_dir(dir, err);
	if (r < 0 && added) {
		struct vs_err e2 = VS_ERR_INIT;
		struct vrow v;
		if (mgr_volume_row(m->db, name, &v, &e2) == 0) {
			const void *v1[] = { &v.id };
			mgr_volume_exec(m->db, "DELETE FROM instance_volumes WHERE volume_id = ?",
					"i", v1, &e2);
			unlink(file);
			const void *v2[] = { name };
			mgr_volume_exec(m->db, "DELETE FROM storage_volumes WHERE name = ?", "t",
					v2, &e2);
		}
	}
	mgr_volume_unlock();
	return r;
}
