/*
 * volume.h - storage volumes: raw files with an ext4 filesystem in the
 * pool directory STATE/storage/default/NAME.raw (sparse), rows in
 * `storage_volumes` (schema 5).  A volume is attached to at most one
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

#include "vessel/core/err.h"
#include "vessel/mgr/mgr.h"

#define MGR_VOLUME_MIN (8ull << 20) /* ext4 wants a few MiB */
#define MGR_VOLUME_MAX (1ull << 40)

struct mgr_volume_mount {
	char name[64];
	char file[4096]; /* the volume's file */
	char path[4096]; /* where it appears in the container */
};

int mgr_volume_create(struct mgr *m, const char *name, uint64_t size, struct vs_err *err);
/* Grow (never shrink) a volume that is not in use by a running instance. */
int mgr_volume_resize(struct mgr *m, const char *name, uint64_t size, struct vs_err *err);
/* Delete a volume attached to nothing (EBUSY otherwise). */
int mgr_volume_delete(struct mgr *m, const char *name, struct vs_err *err);
/* Attach to / detach from a stopped instance. */
int mgr_volume_attach(struct mgr *m, const char *name, const char *instance, const char *path,
		      struct vs_err *err);
int mgr_volume_detach(struct mgr *m, const char *name, const char *instance, struct vs_err *err);
/* {"name","format","size","created_at","used_by","path"} of one / all. */
int mgr_volume_get(struct mgr *m, const char *name, struct json_object **out, struct vs_err *err);
int mgr_volume_list(struct mgr *m, struct json_object **out, struct vs_err *err);
/* The volumes attached to an instance (the driver mounts them at start). */
int mgr_volume_mounts(struct mgr *m, int64_t instance_id, struct mgr_volume_mount **out, size_t *n,
		      struct vs_err *err);

#endif
