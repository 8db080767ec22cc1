/*
 * export.h - an instance as one portable file (docs/export-format.md):
 * a zstd-compressed pax tar holding vessel-export.json (format version,
 * the instance's metadata and config), the instance's storage (a
 * container's own layer under rootfs/, its snapshots under
 * snapshots/SNAP/rootfs/) and, last, checksums.json: the SHA-256 of every
 * member (its header fields and its data), in order.
 *
 * Export takes a point-in-time copy (the container frozen while its layer
 * is copied with reflinks where the filesystem can) and streams the file
 * from it.  Import reads the stream once, verifying as it goes into a
 * staging directory, and creates the instance only when every member and
 * the checksum list matched: a truncated or altered file creates nothing.
 */
#ifndef VESSEL_MGR_EXPORT_H
#define VESSEL_MGR_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/core/err.h"

struct mgr;

#define MGR_EXPORT_FORMAT  "vessel-export"
#define MGR_EXPORT_VERSION 2 /* 2: storage volumes; 1 is read too */
/* the savevm tag a stateful VM export holds its running state under */
#define MGR_EXPORT_LOADVM_TAG "vessel-export"

struct mgr_export_opts {
	bool snapshots; /* include the instance's snapshots */
	bool stateful;	/* include the running state (VMs; refused for containers) */
};

struct mgr_export;

/* Check the request and take the point-in-time copy of NAME. */
int mgr_export_begin(struct mgr *m, const char *name, const struct mgr_export_opts *opts,
		     struct mgr_export **out, struct vs_err *err);
/* Write the file to fd (a pipe or a file); may be called once. */
int mgr_export_write(struct mgr_export *x, int fd, struct vs_err *err);
/* Remove the copy. */
void mgr_export_free(struct mgr_export *x);

struct mgr_import_ctl_export {
	bool (*cancelled)(void *opaque);
	/* bytes of the file read so far, and the member being read */
	void (*progress)(void *opaque, uint64_t bytes, const char *member);
	void *opaque;
};

/*
 * Import the file read from fd as a new instance named name (NULL: the name
 * in the file).  The name of the new instance goes to out_name (64 bytes).
 */
int mgr_instance_import(struct mgr *m, int fd, const char *name,
			const struct mgr_import_ctl_export *ctl, char *out_name,
			struct vs_err *err);

#endif
