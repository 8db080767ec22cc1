/*
 * volume_snapshot.c - snapshots of storage volumes (vessel/mgr/volume.h):
 * whole-file copies STATE/storage/default/NAME.snapshots/SNAP.raw of the
 * volume's file, rows in `volume_snapshots` (a qcow2 volume's copy is a
 * qcow2 file too, under the same name: restore copies it back as it is).
 *
 * Cheap where the host allows: mgr_file_clone reflinks (btrfs, XFS) and
 * otherwise copies only the data extents of the sparse file.
 *
 * Consistent: a volume attached to a stopped instance (or to none) is
 * copied as it is.  A running container's volume is loop-mounted on the
 * host (containers/ID/volumes/NAME): its ext4 is frozen (FIFREEZE, which
 * flushes it and blocks writers) while it is copied, so the copy is a
 * clean filesystem.  A running VM's guest owns the filesystem (and
 * vessel-vmm's pause does not drain its disk queue), so the guest agent
 * remounts it read-only for the copy: that flushes it through virtio-blk,
 * whose queue completes the flush after every write before it, and holds
 * writers off; a file open for writing makes the remount, and so the
 * snapshot, fail (EBUSY) with the guest's message.  The marker
 * NAME.snapshots/.vm-readonly lives while the guest's mount is read-only,
 * so that a crash's next start makes it writable again.  Restore replaces
 * the volume's file and is refused while an instance that has it attached
 * runs (its filesystem would change under it); the volume takes the
 * snapshot's size.
 *
 * Crash safety (a kill -9 at any point): data goes to a dot-file in the
 * snapshots directory, is fsync'ed, then renamed into place (a restore:
 * over NAME.raw) and the directory fsync'ed; the row comes after the file
 * (create) and goes before it (delete).  So a crash leaves at worst a
 * dot-file or an unrecorded SNAP.raw, which mgr_volume_reconcile removes
 * at the next start (with a qcow2 volume's temporary files in the pool), together with rows whose file is gone (a crash in a
 * volume's delete, which removes the files first) and a freeze left by a
 * crash mid-copy.
 *
 * Every change runs under the volume lock (volume.c) and, when the volume
 * is attached, with its instance marked busy: it cannot start, stop or
 * get the volume attached or detached meanwhile.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "volume_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/mgr/driver.h"
#include "vessel/mgr/events.h"
#include "vessel/mgr/instance.h"
#include "vessel/mgr/volume.h"

#define SNAP_SUFFIX ".snapshots"

static char *snap_dir(struct mgr *m, const char *name)
{
	char *p = NULL;
	return asprintf(&p, "%s/storage/default/%s" SNAP_SUFFIX, m->state_dir, name) < 0 ? NULL : p;
}

/* DIR/SNAP.raw, or DIR/.SNAP.tmp (tmp) */
static char *snap_file(struct mgr *m, const char *name, const char *snap, bool tmp)
{
	char *p = NULL;
	return asprintf(&p, "%s/storage/default/%s" SNAP_SUFFIX "/%s%s%s", m->state_dir, name,
			tmp ? "." : "", snap, tmp ? ".tmp" : ".raw") < 0
		   ? NULL
		   : p;
}

static void emit(struct mgr *m, const char *action, const char *name)
{
	struct json_object *md = json_object_new_object();
	char src[128];
	snprintf(src, sizeof(src), "/1.0/storage-volumes/%s", name);
	json_object_object_add(md, "action", json_object_new_string(action));
	json_object_object_add(md, "source", json_object_new_string(src));
	mgr_events_emit(m->events, "lifecycle", md);
}

/* The snapshot's id and size (0: none; -1 with err on a database error). */
static int64_t snapshot_row(struct mgr *m, int64_t volume_id, const char *snap, uint64_t *size,
			    struct vs_err *err)
{
	int64_t id = 0;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db, "SELECT id, size FROM volume_snapshots WHERE volume_id = ? AND name = ?",
		    err);
		if (!st) {
			id = -1;
		} else {
			mgr_stmt_bind_int64(st, 1, volume_id);
			mgr_stmt_bind_text(st, 2, snap);
			int rc = mgr_stmt_step(st);
			if (rc == SQLITE_ROW) {
				id = mgr_stmt_column_int64(st, 0);
				if (size)
					*size = (uint64_t)mgr_stmt_column_int64(st, 1);
			} else if (rc != SQLITE_DONE) {
				mgr_db_err(m->db, rc, "volume snapshot", err);
				id = -1;
			}
		}
	}
	mgr_db_unlock(m->db);
	return id;
}

/* The first free snapN, as Incus names them. */
static int free_name(struct mgr *m, int64_t volume_id, char *out, size_t len, struct vs_err *err)
{
	for (unsigned i = 0; i < 100000; i++) {
		snprintf(out, len, "snap%u", i);
		int64_t id = snapshot_row(m, volume_id, out, NULL, err);
		if (id < 0)
			return -EIO;
		if (id == 0)
			return 0;
	}
	return vs_errf(err, ENOSPC, "no free snapshot name");
}

/* The live power of the instance the volume is attached to (STOPPED when
 * none), with its type and runtime id. */
static int attached_state(struct mgr *m, const struct vrow *v, enum mgr_power *p,
			  enum mgr_instance_type *type, char rid[40], struct vs_err *err)
{
	*p = MGR_POWER_STOPPED;
	if (!v->instance_id)
		return 0;
	struct mgr_instance inst;
	int r = mgr_instance_db_get(m->db, v->instance, &inst, err);
	if (r < 0)
		return r;
	pid_t pid;
	r = mgr_instance_live(m, &inst, p, &pid, err);
	*type = inst.type;
	snprintf(rid, 40, "%s", inst.runtime_id);
	mgr_instance_free(&inst);
	return r;
}

static int refuse_running(const char *name, const struct vrow *v, enum mgr_power p,
			  enum mgr_instance_type type, bool restore, struct vs_err *err)
{
	if (p == MGR_POWER_STOPPED)
		return 0;
	if (restore)
		return vs_errf(err, EBUSY,
			       "storage volume %s is in use by running instance %s: stop it before "
			       "restoring a snapshot (its filesystem would change under it)",
			       name, v->instance);
	(void)type; /* a running container's volume is frozen, a VM's read-only */
	return 0;
}

int mgr_volume_snapshot_check(struct mgr *m, const char *name, const char *snap,
			      enum mgr_volume_snapshot_action what, struct vs_err *err)
{
	int r;
	if (snap && (r = mgr_name_validate(snap, err)) < 0)
		return vs_err_prefix(err, "snapshot");
	struct vrow v;
	if ((r = mgr_volume_row(m->db, name, &v, err)) < 0)
		return r;
	if (snap) {
		int64_t id = snapshot_row(m, v.id, snap, NULL, err);
		if (id < 0)
			return -EIO;
		if (what == MGR_VOLUME_SNAPSHOT_CREATE && id)
			return vs_errf(err, EEXIST,
				       "snapshot %s of storage volume %s already exists", snap,
				       name);
		if (what != MGR_VOLUME_SNAPSHOT_CREATE && !id)
			return vs_errf(err, ENOENT, "snapshot %s of storage volume %s not found",
				       snap, name);
	}
	if (what == MGR_VOLUME_SNAPSHOT_DELETE)
		return 0;
	enum mgr_power p;
	enum mgr_instance_type type = MGR_INSTANCE_CONTAINER;
	char rid[40];
	if ((r = attached_state(m, &v, &p, &type, rid, err)) < 0)
		return r;
	return refuse_running(name, &v, p, type, what == MGR_VOLUME_SNAPSHOT_RESTORE, err);
}

/* Freeze (or thaw) the ext4 of a running container's volume. */
static int freeze_mount(struct mgr *m, const char *rid, const char *name, bool freeze,
			struct vs_err *err)
{
	vs_cleanup_free char *mnt = NULL;
	if (asprintf(&mnt, "%s/%s/volumes/%s", m->ct_dir, rid, name) < 0)
		return vs_errf(err, ENOMEM, "out of memory");
	if (!mgr_is_mountpoint(mnt))
		return vs_errf(err, EIO, "storage volume %s: not mounted at %s", name, mnt);
	vs_cleanup_close int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "open %s", mnt);
	if (ioctl(fd, freeze ? FIFREEZE : FITHAW, 0) < 0)
		return vs_syserrf(err, errno, "%s %s", freeze ? "freeze" : "thaw", mnt);
	return 0;
}

#define VM_MARKER ".vm-readonly"

/* A running VM's volume at path: remounted read-only in the guest for the
 * copy (sync first: the remount then only waits for the journal), or
 * writable again.  The path goes as $0, never through the shell's parser. */
static int vm_remount(struct mgr *m, const char *instance, const char *path, bool ro,
		      struct vs_err *err)
{
	struct mgr_instance inst;
	int r = mgr_instance_db_get(m->db, instance, &inst, err);
	if (r < 0)
		return r;
	const struct mgr_driver *d = mgr_driver_for(inst.type, err);
	char *argv[] = { "/bin/sh", "-c",
			 ro ? "sync && exec mount -o remount,ro \"$0\""
			    : "exec mount -o remount,rw \"$0\"",
			 (char *)path, NULL };
	struct mgr_exec_req req = { .argv = argv };
	struct mgr_exec_result res = { 0 };
	r = d ? d->exec(m, &inst, &req, &res, err) : -EIO;
	if (r == 0 && res.exit_code != 0) {
		const char *msg = res.errout && res.err_len ? res.errout : "failed";
		r = vs_errf(err, EBUSY, "VM %s: cannot make %s %s for the snapshot%s: %.*s",
			    inst.name, path, ro ? "read-only" : "writable again",
			    ro ? " (a file open for writing there?)" : "", (int)strcspn(msg, "\n"),
			    msg);
	}
	mgr_exec_result_free(&res);
	mgr_instance_free(&inst);
	return r;
}

static int create_locked(struct mgr *m, const char *name, const char *snap, char *out,
			 size_t outlen, struct vs_err *err)
{
	struct vrow v;
	int64_t busy = 0;
	bool running;
	int r = mgr_volume_row_quiet(m, name, &v, &busy, &running, err);
	enum mgr_power p = MGR_POWER_STOPPED;
	enum mgr_instance_type type = MGR_INSTANCE_CONTAINER;
	char rid[40] = "";
	vs_cleanup_free char *file = mgr_volume_file(m, name, v.format), *dir = snap_dir(m, name);
	vs_cleanup_free char *tmp = NULL, *dst = NULL, *marker = NULL;
	if (r < 0)
		goto out;
	if (!file || !dir) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	if (snap && *snap) {
		snprintf(out, outlen, "%s", snap);
		int64_t id = snapshot_row(m, v.id, snap, NULL, err);
		if (id < 0)
			r = -EIO;
		else if (id)
			r = vs_errf(err, EEXIST, "snapshot %s of storage volume %s already exists",
				    snap, name);
	} else {
		r = free_name(m, v.id, out, outlen, err);
	}
	if (r == 0 && (r = attached_state(m, &v, &p, &type, rid, err)) == 0)
		r = refuse_running(name, &v, p, type, false, err);
	if (r < 0)
		goto out;
	tmp = snap_file(m, name, out, true);
	dst = snap_file(m, name, out, false);
	if (!tmp || !dst) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	if ((r = mgr_mkdir_p(dir, 0700, err)) < 0)
		goto out;
	unlink(tmp); /* left by a crash */
	bool frozen = false, readonly = false;
	if (p != MGR_POWER_STOPPED && type == MGR_INSTANCE_VM) {
		if (asprintf(&marker, "%s/" VM_MARKER, dir) < 0) {
			r = vs_errf(err, ENOMEM, "out of memory");
			goto out;
		}
		if ((r = vs_write_file_atomic(marker, "", 0, err)) < 0)
			goto out;
		if ((r = vm_remount(m, v.instance, v.path, true, err)) < 0) {
			struct vs_err e2 = VS_ERR_INIT;
			vm_remount(m, v.instance, v.path, false, &e2); /* as it was */
			unlink(marker);
			rmdir(dir);
			goto out;
		}
		readonly = true;
	} else if (p != MGR_POWER_STOPPED) { /* a running container */
		if ((r = freeze_mount(m, rid, name, true, err)) < 0)
			goto out;
		frozen = true;
	}
	r = mgr_file_clone(file, tmp, err);
	if (frozen) {
		struct vs_err e2 = VS_ERR_INIT;
		if (freeze_mount(m, rid, name, false, r < 0 ? &e2 : err) < 0 && r == 0)
			r = -EIO;
	}
	if (readonly) {
		struct vs_err e2 = VS_ERR_INIT;
		if (vm_remount(m, v.instance, v.path, false, r < 0 ? &e2 : err) < 0) {
			if (r == 0)
				r = -EBUSY;
		} else {
			unlink(marker);
		}
	}
	if (r == 0 && rename(tmp, dst) < 0)
		r = vs_syserrf(err, errno, "rename %s", tmp);
	if (r == 0)
		r = mgr_fsync_dir(dir, err);
	if (r == 0) {
		char now[32];
		mgr_timestamp(now, sizeof(now));
		int64_t size = (int64_t)v.size;
		const void *vals[] = { &v.id, out, &size, now };
		r = mgr_volume_exec(
		    m->db,
		    "INSERT INTO volume_snapshots (volume_id, name, size, created_at) "
		    "VALUES (?, ?, ?, ?)",
		    "itit", vals, err);
	}
	if (r < 0) {
		struct vs_err e2 = VS_ERR_INIT;
		unlink(tmp);
		if (snapshot_row(m, v.id, out, NULL, &e2) == 0)
			unlink(dst);
		rmdir(dir); /* when it was the first */
	}
out:
	if (busy)
		mgr_busy_release(m, busy);
	return r;
}

int mgr_volume_snapshot_create(struct mgr *m, const char *name, const char *snap, char *out,
			       size_t outlen, struct vs_err *err)
{
	int r;
	if (snap && *snap && (r = mgr_name_validate(snap, err)) < 0)
		return vs_err_prefix(err, "snapshot");
	mgr_volume_lock();
	r = create_locked(m, name, snap, out, outlen, err);
	mgr_volume_unlock();
	if (r == 0)
		emit(m, "storage-volume-snapshot-created", name);
	return r;
}

static int restore_locked(struct mgr *m, const char *name, const char *snap, struct vs_err *err)
{
	struct vrow v;
	int64_t busy = 0;
	bool running;
	uint64_t size = 0;
	int r = mgr_volume_row_quiet(m, name, &v, &busy, &running, err);
	vs_cleanup_free char *file = mgr_volume_file(m, name, v.format), *dir = snap_dir(m, name);
	vs_cleanup_free char *src = snap_file(m, name, snap, false);
	vs_cleanup_free char *tmp = snap_file(m, name, "restore", true);
	vs_cleanup_free char *pool = mgr_volume_pool_dir(m);
	if (r < 0)
		goto out;
	if (!file || !dir || !src || !tmp || !pool) {
		r = vs_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	int64_t id = snapshot_row(m, v.id, snap, &size, err);
	if (id < 0)
		r = -EIO;
	else if (!id)
		r = vs_errf(err, ENOENT, "snapshot %s of storage volume %s not found", snap, name);
	else if (running)
		r = vs_errf(err, EBUSY,
			    "storage volume %s is in use by running instance %s: stop it before "
			    "restoring a snapshot (its filesystem would change under it)",
			    name, v.instance);
	if (r < 0)
		goto out;
	unlink(tmp); /* left by a crash */
	if ((r = mgr_file_clone(src, tmp, err)) < 0)
		goto out;
	if (rename(tmp, file) < 0) {
		r = vs_syserrf(err, errno, "rename %s to %s", tmp, file);
		unlink(tmp);
		goto out;
	}
	r = mgr_fsync_dir(pool, err);
	if (r == 0 && size != v.size) {
		int64_t sz = (int64_t)size;
		const void *vals[] = { &sz, &v.id };
		r = mgr_volume_exec(m->db, "UPDATE storage_volumes SET size = ? WHERE id = ?", "ii",
				    vals, err);
	}
out:
	if (busy)
		mgr_busy_release(m, busy);
	return r;
}

int mgr_volume_snapshot_restore(struct mgr *m, const char *name, const char *snap,
				struct vs_err *err)
{
	int r = mgr_name_validate(snap, err);
	if (r < 0)
		return vs_err_prefix(err, "snapshot");
	mgr_volume_lock();
	r = restore_locked(m, name, snap, err);
	mgr_volume_unlock();
	if (r == 0)
		emit(m, "storage-volume-restored", name);
	return r;
}

static int delete_locked(struct mgr *m, const char *name, const char *snap, struct vs_err *err)
{
	struct vrow v;
	int r = mgr_volume_row(m->db, name, &v, err);
	if (r < 0)
		return r;
	int64_t id = snapshot_row(m, v.id, snap, NULL, err);
	if (id < 0)
		return -EIO;
	if (!id)
		return vs_errf(err, ENOENT, "snapshot %s of storage volume %s not found", snap,
			       name);
	vs_cleanup_free char *file = snap_file(m, name, snap, false), *dir = snap_dir(m, name);
	if (!file || !dir)
		return vs_errf(err, ENOMEM, "out of memory");
	const void *vals[] = { &id };
	if ((r = mgr_volume_exec(m->db, "DELETE FROM volume_snapshots WHERE id = ?", "i", vals,
				 err)) < 0)
		return r;
	if (unlink(file) < 0 && errno != ENOENT)
		return vs_syserrf(err, errno, "remove %s", file);
	rmdir(dir); /* when it was the last */
	return 0;
}

int mgr_volume_snapshot_delete(struct mgr *m, const char *name, const char *snap,
			       struct vs_err *err)
{
	int r = mgr_name_validate(snap, err);
	if (r < 0)
		return vs_err_prefix(err, "snapshot");
	mgr_volume_lock();
	r = delete_locked(m, name, snap, err);
	mgr_volume_unlock();
	if (r == 0)
		emit(m, "storage-volume-snapshot-deleted", name);
	return r;
}

int mgr_volume_snapshot_list(struct mgr *m, const char *name, struct json_object **out,
			     struct vs_err *err)
{
	*out = NULL;
	struct vrow v;
	int r = mgr_volume_row(m->db, name, &v, err);
	if (r < 0)
		return r;
	struct json_object *a = json_object_new_array();
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "SELECT name, size, created_at FROM volume_snapshots WHERE volume_id = ? "
		    "ORDER BY id",
		    err);
		if (!st) {
			r = -EIO;
		} else {
			mgr_stmt_bind_int64(st, 1, v.id);
			int rc;
			while ((rc = mgr_stmt_step(st)) == SQLITE_ROW) {
				struct json_object *o = json_object_new_object();
				json_object_object_add(
				    o, "name", json_object_new_string(mgr_stmt_column_text(st, 0)));
				json_object_object_add(
				    o, "size", json_object_new_int64(mgr_stmt_column_int64(st, 1)));
				json_object_object_add(
				    o, "created_at",
				    json_object_new_string(mgr_stmt_column_text(st, 2)));
				json_object_array_add(a, o);
			}
			if (rc != SQLITE_DONE)
				r = mgr_db_err(m->db, rc, "volume snapshots", err);
		}
	}
	mgr_db_unlock(m->db);
	if (r < 0) {
		json_object_put(a);
		return r;
	}
	*out = a;
	return 0;
}

int mgr_volume_snapshots_remove_files(struct mgr *m, const char *name, struct vs_err *err)
{
	vs_cleanup_free char *dir = snap_dir(m, name);
	if (!dir)
		return vs_errf(err, ENOMEM, "out of memory");
	if (!mgr_path_exists(dir))
		return 0;
	return mgr_rm_rf(dir, err);
}

/* ---- export and import (export.c, import.c) ---- */

char *mgr_volume_snapshot_file(struct mgr *m, const char *name, const char *snap)
{
	return snap_file(m, name, snap, false);
}

int mgr_volume_copy_out(struct mgr *m, const char *name, const char *dst, struct vs_err *err)
{
	struct vrow v;
	enum mgr_power p = MGR_POWER_STOPPED;
	enum mgr_instance_type type = MGR_INSTANCE_CONTAINER;
	char rid[40] = "";
	mgr_volume_lock();
	int r = mgr_volume_row(m->db, name, &v, err);
	vs_cleanup_free char *file = r == 0 ? mgr_volume_file(m, name, v.format) : NULL;
	if (r == 0 && !file)
		r = vs_errf(err, ENOMEM, "out of memory");
	if (r == 0)
		r = attached_state(m, &v, &p, &type, rid, err);
	if (r == 0 && p != MGR_POWER_STOPPED && type == MGR_INSTANCE_VM)
		r = vs_errf(err, EBUSY, "storage volume %s: VM %s runs: stop it first", name,
			    v.instance);
	bool frozen = false;
	if (r == 0 && p != MGR_POWER_STOPPED) /* a running container's: a clean filesystem */
		frozen = (r = freeze_mount(m, rid, name, true, err)) == 0;
	if (r == 0)
		r = mgr_file_clone(file, dst, err);
	if (frozen) {
		struct vs_err e2 = VS_ERR_INIT;
		if (freeze_mount(m, rid, name, false, r < 0 ? &e2 : err) < 0 && r == 0)
			r = -EIO;
	}
	mgr_volume_unlock();
	return r;
}

int mgr_volume_snapshot_adopt(struct mgr *m, const char *name, const char *snap, uint64_t size,
			      const char *created_at, const char *src, struct vs_err *err)
{
	struct vrow v;
	int r = mgr_name_validate(snap, err);
	if (r < 0)
		return vs_err_prefix(err, "snapshot of storage volume %s", name);
	vs_cleanup_free char *dir = snap_dir(m, name), *dst = snap_file(m, name, snap, false);
	if (!dir || !dst)
		return vs_errf(err, ENOMEM, "out of memory");
	mgr_volume_lock();
	if ((r = mgr_volume_row(m->db, name, &v, err)) == 0) {
		int64_t id = snapshot_row(m, v.id, snap, NULL, err);
		if (id < 0)
			r = -EIO;
		else if (id)
			r = vs_errf(err, EEXIST, "snapshot %s of storage volume %s already exists",
				    snap, name);
	}
	if (r == 0)
		r = mgr_mkdir_p(dir, 0700, err);
	if (r == 0 && rename(src, dst) < 0)
		r = vs_syserrf(err, errno, "move snapshot %s of storage volume %s", snap, name);
	if (r == 0)
		r = mgr_fsync_dir(dir, err);
	if (r == 0) {
		int64_t sz = (int64_t)size;
		const void *vals[] = { &v.id, snap, &sz, created_at };
		r = mgr_volume_exec(
		    m->db,
		    "INSERT INTO volume_snapshots (volume_id, name, size, created_at) "
		    "VALUES (?, ?, ?, ?)",
		    "itit", vals, err);
		if (r < 0)
			unlink(dst);
	}
	mgr_volume_unlock();
	return r;
}

/* ---- reconciliation at start ---- */

/* Whether the volume has a row (-1: database error). */
static int volume_known(struct mgr *m, const char *name, int64_t *id)
{
	struct vrow v;
	struct vs_err e = VS_ERR_INIT;
	int r = mgr_volume_row(m->db, name, &v, &e);
	*id = v.id;
	return r == 0 ? 1 : r == -ENOENT ? 0 : -1;
}

/* The VM that has the volume attached gets its mount writable again. */
static int vm_writable_again(struct mgr *m, const char *vol)
{
	struct vrow v;
	struct vs_err e = VS_ERR_INIT;
	if (mgr_volume_row(m->db, vol, &v, &e) < 0 || !v.instance_id)
		return 0; /* detached since: nothing is mounted */
	enum mgr_power p;
	enum mgr_instance_type type = MGR_INSTANCE_CONTAINER;
	char rid[40];
	if (attached_state(m, &v, &p, &type, rid, &e) < 0 || p == MGR_POWER_STOPPED ||
	    type != MGR_INSTANCE_VM)
		return 0; /* its next start mounts it read-write */
	if (vm_remount(m, v.instance, v.path, false, &e) < 0) {
		vs_log(VS_LOG_WARN, "reconcile: volume %s stays read-only in %s: %s", vol,
		       v.instance, e.msg);
		return -EIO;
	}
	vs_log(VS_LOG_WARN, "reconcile: volume %s was left read-only in VM %s: writable again", vol,
	       v.instance);
	return 0;
}

/* One NAME.snapshots directory: dot-files and unrecorded files go. */
static void reconcile_dir(struct mgr *m, const char *pool, const char *entry)
{
	char vol[MGR_NAME_MAX + 1];
	size_t n = strlen(entry) - strlen(SNAP_SUFFIX);
	if (n == 0 || n > MGR_NAME_MAX)
		return;
	snprintf(vol, sizeof(vol), "%.*s", (int)n, entry);
	vs_cleanup_free char *dir = NULL;
	if (asprintf(&dir, "%s/%s", pool, entry) < 0)
		return;
	int64_t vid = 0;
	int known = volume_known(m, vol, &vid);
	if (known < 0)
		return;
	struct vs_err e = VS_ERR_INIT;
	if (!known) {
		vs_log(VS_LOG_INFO, "reconcile: removing snapshots of no volume: %s", dir);
		if (mgr_rm_rf(dir, &e) < 0)
			vs_log(VS_LOG_WARN, "reconcile: %s", e.msg);
		return;
	}
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *f = de->d_name;
		if (strcmp(f, ".") == 0 || strcmp(f, "..") == 0)
			continue;
		size_t l = strlen(f);
		bool keep = false;
		if (strcmp(f, VM_MARKER) == 0) /* a crash while a VM's mount was read-only */
			keep = vm_writable_again(m, vol) < 0;
		if (f[0] != '.' && l > 4 && l - 4 <= MGR_NAME_MAX &&
		    strcmp(f + l - 4, ".raw") == 0) {
			char snap[MGR_NAME_MAX + 1];
			snprintf(snap, sizeof(snap), "%.*s", (int)(l - 4), f);
			keep = snapshot_row(m, vid, snap, NULL, &e) != 0;
		}
		if (!keep) {
			vs_log(VS_LOG_INFO, "reconcile: removing %s/%s (no snapshot row)", dir, f);
			if (unlinkat(dirfd(d), f, 0) < 0)
				vs_log(VS_LOG_WARN, "reconcile: remove %s/%s: %s", dir, f,
				       strerror(errno));
		}
	}
	closedir(d);
	rmdir(dir); /* when empty */
}

/* Rows whose file is gone (a crash in a volume's delete); freezes left by
 * a crash in the copy of a running container's volume. */
static void reconcile_rows(struct mgr *m)
{
	struct vs_err e = VS_ERR_INIT;
	int64_t *gone = NULL;
	size_t ngone = 0;
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "SELECT s.id, v.name, s.name FROM volume_snapshots s JOIN storage_volumes v "
		    "ON v.id = s.volume_id",
		    &e);
		while (st && mgr_stmt_step(st) == SQLITE_ROW) {
			vs_cleanup_free char *f = snap_file(m, mgr_stmt_column_text(st, 1),
							    mgr_stmt_column_text(st, 2), false);
			if (!f || mgr_path_exists(f))
				continue;
			int64_t *ng = realloc(gone, (ngone + 1) * sizeof(*gone));
			if (!ng)
				break;
			gone = ng;
			gone[ngone++] = mgr_stmt_column_int64(st, 0);
			vs_log(VS_LOG_WARN,
			       "reconcile: snapshot %s of volume %s has no file: dropped",
			       mgr_stmt_column_text(st, 2), mgr_stmt_column_text(st, 1));
		}
	}
	mgr_db_unlock(m->db);
	for (size_t i = 0; i < ngone; i++) {
		const void *vals[] = { &gone[i] };
		mgr_volume_exec(m->db, "DELETE FROM volume_snapshots WHERE id = ?", "i", vals, &e);
	}
	free(gone);

	/* thaw what a crash may have left frozen (EINVAL: was not frozen) */
	mgr_db_lock(m->db);
	{
		mgr_cleanup_stmt struct mgr_stmt *st = mgr_db_prepare(
		    m->db,
		    "SELECT i.runtime_id, v.name FROM instance_volumes a "
		    "JOIN storage_volumes v ON v.id = a.volume_id "
		    "JOIN instances i ON i.id = a.instance_id WHERE i.type = 'container'",
		    &e);
		while (st && mgr_stmt_step(st) == SQLITE_ROW) {
			struct vs_err e2 = VS_ERR_INIT;
			const char *rid = mgr_stmt_column_text(st, 0);
			const char *vn = mgr_stmt_column_text(st, 1);
			vs_cleanup_free char *mnt = NULL;
			if (asprintf(&mnt, "%s/%s/volumes/%s", m->ct_dir, rid, vn) < 0 ||
			    !mgr_is_mountpoint(mnt))
				continue;
			if (freeze_mount(m, rid, vn, false, &e2) == 0)
				vs_log(VS_LOG_WARN, "reconcile: volume %s was left frozen: thawed",
				       vn);
		}
	}
	mgr_db_unlock(m->db);
}

/* .NAME.create.raw|qcow2, .NAME.resize.raw|qcow2: a qcow2 volume's
 * temporary files (volume.c) */
static bool is_volume_tmp(const char *f)
{
	static const char *const ends[] = { ".create.raw", ".create.qcow2", ".resize.raw",
					    ".resize.qcow2" };
	size_t l = strlen(f);
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		size_t e = strlen(ends[i]);
		if (l > e + 1 && strcmp(f + l - e, ends[i]) == 0)
			return true;
	}
	return false;
}

int mgr_volume_reconcile(struct mgr *m, struct vs_err *err)
{
	vs_cleanup_free char *pool = mgr_volume_pool_dir(m);
	if (!pool)
		return vs_errf(err, ENOMEM, "out of memory");
	mgr_volume_lock();
	DIR *d = opendir(pool);
	if (d) {
		struct dirent *de;
		size_t sl = strlen(SNAP_SUFFIX);
		while ((de = readdir(d))) {
			size_t l = strlen(de->d_name);
			if (de->d_name[0] != '.' && l > sl &&
			    strcmp(de->d_name + l - sl, SNAP_SUFFIX) == 0)
				reconcile_dir(m, pool, de->d_name);
			if (de->d_name[0] == '.' && is_volume_tmp(de->d_name)) {
				vs_log(VS_LOG_INFO, "reconcile: removing %s/%s (left by a crash)",
				       pool, de->d_name);
				unlinkat(dirfd(d), de->d_name, 0);
			}
		}
		closedir(d);
	}
	reconcile_rows(m);
	mgr_volume_unlock();
	return 0;
}
