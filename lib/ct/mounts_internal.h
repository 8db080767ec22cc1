/*
 * mounts_internal.h - mount option parsing and single-mount application,
 * shared by rootfs.c and the unit tests.
 */
#ifndef VESSEL_CT_MOUNTS_INTERNAL_H
#define VESSEL_CT_MOUNTS_INTERNAL_H

#include <stdbool.h>

#include "vessel/ct/config.h"

struct ct_mount_opts {
	unsigned long flags;	   /* MS_* */
	unsigned long propagation; /* MS_SHARED/SLAVE/PRIVATE/UNBINDABLE [| MS_REC] */
	char data[1024];	   /* filesystem-specific options */
};

int ct_mount_options_parse(const struct ct_mount *m, struct ct_mount_opts *o, struct vs_err *err);
/* cgroupns: the container has its own cgroup namespace (affects type cgroup). */
int ct_mount_one(int rootfd, const struct ct_mount *m, const char *bundle, bool cgroupns,
		 struct vs_err *err);
int ct_mount_bind_remount(const char *target, unsigned long flags, struct vs_err *err);

#endif
