/*
 * volume_internal.h - what volume.c shares with volume_snapshot.c: the
 * volume's row, its file, the statement helper and the lock that orders
 * every change of a volume's files (create excepted: a new name).
 */
#ifndef VESSEL_MGR_VOLUME_INTERNAL_H
#define VESSEL_MGR_VOLUME_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "mgr_internal.h"
#include "vessel/core/err.h"
#include "vessel/mgr/db.h"

struct vrow {
	int64_t id;
	uint64_t size;
	char format[8];	     /* "raw" or "qcow2" */
	int64_t instance_id; /* 0: not attached */
	char instance[MGR_NAME_MAX + 1];
	char path[4096];
};

/* STATE/storage/default, and the volume's file in it, NAME.raw or
 * NAME.qcow2 by its format (malloc'd, NULL: ENOMEM). */
char *mgr_volume_pool_dir(struct mgr *m);
char *mgr_volume_file(struct mgr *m, const char *name, const char *format);
/* The volume's row (ENOENT: "storage volume NAME not found"). */
int mgr_volume_row(struct mgr_db *db, const char *name, struct vrow *v, struct vs_err *err);
/* The row with its instance marked busy when attached (*busy_id gets the
 * mark, 0 when none; *running whether that instance runs). */
int mgr_volume_row_quiet(struct mgr *m, const char *name, struct vrow *v, int64_t *busy_id,
			 bool *running, struct vs_err *err);
/* One statement with text/int parameters ("t" / "i" per parameter). */
int mgr_volume_exec(struct mgr_db *db, const char *sql, const char *types, const void *const *vals,
		    struct vs_err *err);
/* Held around every change of a volume's or its snapshots' files. */
void mgr_volume_lock(void);
void mgr_volume_unlock(void);
/* Remove the volume's snapshot files (its delete; the rows cascade). */
int mgr_volume_snapshots_remove_files(struct mgr *m, const char *name, struct vs_err *err);

#endif
