/*
 * volume.h - storage volumes: raw files with an ext4 filesystem in the
 * pool directory STATE/storage/default/NAME.raw (sparse), or qcow2 files
 * NAME.qcow2 holding one (VMs only), rows in `storage_volumes` (schema 5).  A volume is attached to at most one
 * container, at a path inside it (`instance_volumes`); attaching and
 * detaching are done while the container is stopped and take effect at
 * its start: the file is loop-mounted (mount -o loop, so the loop device
 * is released by the unmount) under the container's directory and bound
 * into the container; the container's stop unmounts it.
 */
#ifndef VESSEL_MGR_VOLUME_H
#define VESSEL_MGR_VOLUME_H

#include <json-c/json.h>
#include <stdint.h>
#include <stddef.h>

#include "vessel/core/err.h"
#include "vessel/mgr/mgr.h"

#define MGR_VOLUME_MIN (8ull << 20) /* ext4 wants a few MiB */
#define MGR_VOLUME_MAX (1ull << 40)

struct mgr_volume_mount {
	char name[64];
	char file[4096]; /* the volume's file */
	char path[4096]; /* where it appears in the container */
};

/* format: "raw" (NULL too) or "qcow2" (ext4 inside either). */
int mgr_volume_create(struct mgr *m, const char *name, uint64_t size, const char *format,
		      struct vs_err *err);
/* Grow (never shrink) a volume that is not in use by a running instance. */
int mgr_volume_resize(struct mgr *m, const char *name, uint64_t size, struct vs_err *err);
/* Delete a volume attached to nothing (EBUSY otherwise). */
int mgr_volume_delete(struct mgr *m, const char *name, struct vs_err *err);
/* After its instance moved to another host (the instance deleted here,
 * so they are detached): delete the volumes that went with it.  Every one
 * is tried; each failure is logged, the first one is in err. */
int mgr_volume_delete_moved(struct mgr *m, const char *instance,
			    const struct mgr_volume_mount *vols, size_t n, struct vs_err *err);
/* Attach to / detach from a stopped instance. */
int mgr_volume_attach(struct mgr *m, const char *name, const char *instance, const char *path,
		      struct vs_err *err);
int mgr_volume_detach(struct mgr *m, const char *name, const char *instance, struct vs_err *err);
/* {"name","format","size","created_at","used_by","path","snapshots"} of
 * one / all ("snapshots": their names, oldest first). */
int mgr_volume_get(struct mgr *m, const char *name, struct json_object **out, struct vs_err *err);
int mgr_volume_list(struct mgr *m, struct json_object **out, struct vs_err *err);
/* The volumes attached to an instance (the driver mounts them at start). */
int mgr_volume_mounts(struct mgr *m, int64_t instance_id, struct mgr_volume_mount **out, size_t *n,
		      struct vs_err *err);

/* A live move's incoming volume (migrate.c): the checks (a free name, a
 * format, size and path as create and attach want them), then its rows,
 * attached to instance_id at path, without its file: the incoming VMM
 * creates that file as the data arrives (a file left by a crash is
 * removed first).  mgr_volume_delete removes both once detached. */
int mgr_volume_incoming_check(struct mgr *m, const char *name, const char *format, uint64_t size,
			      const char *path, struct vs_err *err);
int mgr_volume_incoming_add(struct mgr *m, const char *name, const char *format, uint64_t size,
			    int64_t instance_id, const char *path, struct vs_err *err);
/* An import's volume (import.c): the checks of mgr_volume_incoming_check,
 * its rows (attached to instance_id at path) and the verified file src
 * renamed into the pool (src must lie on the state directory's file
 * system).  A failure leaves neither.  mgr_volume_delete removes it once
 * detached. */
int mgr_volume_adopt(struct mgr *m, const char *name, const char *format, uint64_t size,
		     int64_t instance_id, const char *path, const char *src, struct vs_err *err);
/* An export's copy (export.c) of the volume's file at dst, a reflink where
 * the file system allows: the caller holds the busy mark of the instance
 * it is attached to; a running container's volume is frozen (FIFREEZE)
 * while it is copied, a running VM's refused (EBUSY). */
int mgr_volume_copy_out(struct mgr *m, const char *name, const char *dst, struct vs_err *err);
/* The file of the volume's snapshot SNAP (malloc'd; NULL: ENOMEM). */
char *mgr_volume_snapshot_file(struct mgr *m, const char *name, const char *snap);
/* An import's volume snapshot: the verified file src renamed into place
 * and its row (size, created_at as exported).  A failure leaves neither. */
int mgr_volume_snapshot_adopt(struct mgr *m, const char *name, const char *snap, uint64_t size,
			      const char *created_at, const char *src, struct vs_err *err);
/* 1 (the volume's name in name) when a volume attached to the instance
 * has snapshots, 0 when none has. */
int mgr_volume_snapshotted(struct mgr *m, int64_t instance_id, char *name, size_t len,
			   struct vs_err *err);

/*
 * Snapshots (volume_snapshot.c): copies STATE/storage/default/NAME.snapshots/
 * SNAP.raw (a reflink where the file system allows, else the data extents),
 * rows in `volume_snapshots`.  A running container's volume is frozen
 * (FIFREEZE) while it is copied, a running VM's remounted read-only by the
 * guest agent (EBUSY when a file is open for writing there); a restore is
 * refused (EBUSY) while the instance that has the volume runs.  Deleting a
 * volume deletes its snapshots.
 */
enum mgr_volume_snapshot_action {
	MGR_VOLUME_SNAPSHOT_CREATE,
	MGR_VOLUME_SNAPSHOT_RESTORE,
	MGR_VOLUME_SNAPSHOT_DELETE,
};
/* What the action would refuse, without doing it (the API's answer before
 * an operation starts): a bad name (EINVAL), a missing volume or snapshot
 * (ENOENT), a duplicate (EEXIST), an instance in the way (EBUSY).  snap
 * may be NULL for CREATE (a name is picked then). */
int mgr_volume_snapshot_check(struct mgr *m, const char *name, const char *snap,
			      enum mgr_volume_snapshot_action what, struct vs_err *err);
/* snap NULL or "": the first free snap0, snap1...; out gets the name. */
int mgr_volume_snapshot_create(struct mgr *m, const char *name, const char *snap, char *out,
			       size_t outlen, struct vs_err *err);
/* Replace the volume's data (and size) with the snapshot's. */
int mgr_volume_snapshot_restore(struct mgr *m, const char *name, const char *snap,
				struct vs_err *err);
int mgr_volume_snapshot_delete(struct mgr *m, const char *name, const char *snap,
			       struct vs_err *err);
/* [{"name","size","created_at"}], oldest first. */
int mgr_volume_snapshot_list(struct mgr *m, const char *name, struct json_object **out,
			     struct vs_err *err);
/* At start: remove what a crash left (temporary and unrecorded snapshot
 * files, rows without a file) and thaw a volume left frozen. */
int mgr_volume_reconcile(struct mgr *m, struct vs_err *err);

#endif
