/*
 * cgroup_internal.h - what cgroup.c (layout, paths, files) shares with the
 * v1 and v2 back ends.  Not installed; only lib/ct/cgroup/ includes it.
 */
#ifndef VESSEL_CT_CGROUP_INTERNAL_H
#define VESSEL_CT_CGROUP_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "vessel/ct/cgroup.h"

#define CG_MAX_HIER 16
#define CG_PATH_MAX 1024 /* mount (short) + ct_cgroup.path (512) */

/* One mounted hierarchy: a v1 controller set, or the cgroup2 tree. */
struct cg_hier {
	char mount[CG_PATH_MAX]; /* e.g. /sys/fs/cgroup/cpu,cpuacct */
	char controllers[128];	 /* "cpu,cpuacct", "name=systemd"; "" = cgroup2 */
	char dir[CG_PATH_MAX];	 /* the container's directory in it */
};

struct cg_hosts {
	struct cg_hier h[CG_MAX_HIER];
	unsigned n;
};

/* The mount root ("/sys/fs/cgroup" unless a test set another). */
const char *cg_root(void);
/* True when a test pointed the library at a fake tree. */
bool cg_fake(void);

/*
 * Find every hierarchy of `layout` and the container's directory in each
 * (cg->path resolved: absolute under the mount, relative under this
 * process's own cgroup of that hierarchy).
 */
int cg_hosts_load(struct cg_hosts *hs, enum ct_cgroup_layout layout, const char *path,
		  struct vs_err *err);
/* The hierarchy holding v1 controller `name`, or the cgroup2 one for "". */
struct cg_hier *cg_hosts_find(struct cg_hosts *hs, const char *name);

/* Write `value` to dir/file; err says which file and what was written. */
int cg_write(const char *dir, const char *file, const char *value, struct vs_err *err);
int cg_writef(const char *dir, const char *file, struct vs_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Read dir/file (trailing newline stripped) into buf. */
int cg_read(const char *dir, const char *file, char *buf, size_t size, struct vs_err *err);
/* Read a number ("max" reads as UINT64_MAX). */
int cg_read_u64(const char *dir, const char *file, uint64_t *out, struct vs_err *err);
/* Find "key value" in a flat-keyed file (memory.stat, cpu.stat, ...). */
int cg_read_keyed(const char *dir, const char *file, const char *key, uint64_t *out);
bool cg_exists(const char *dir, const char *file);

/* mkdir -p, recording created directories so a failure can undo them. */
struct cg_made {
	char dirs[CG_MAX_HIER * 4][CG_PATH_MAX];
	unsigned n;
};
int cg_mkdir_p(const char *dir, struct cg_made *made, struct vs_err *err);
void cg_made_undo(struct cg_made *made);

/* Move pid into dir (cgroup.procs). */
int cg_enter(const char *dir, pid_t pid, struct vs_err *err);
/* The pids listed in dir/cgroup.procs. */
int cg_read_pids(const char *dir, pid_t **pids, size_t *npids, struct vs_err *err);
/* rmdir dir, waiting briefly for the kernel to release exited tasks. */
int cg_rmdir(const char *dir, struct vs_err *err);

/* The runtime-spec default device rules (config-linux.md "Default Devices"). */
extern const struct ct_device_rule cg_default_devices[];
extern const unsigned cg_ndefault_devices;

/* Back ends. */
int cgroup_v1_prepare(struct cg_hosts *hs, struct cg_made *made, struct vs_err *err);
int cgroup_v1_apply(struct cg_hosts *hs, const struct ct_resources *res, bool creating,
		    struct vs_err *err);
int cgroup_v1_freeze(struct cg_hosts *hs, bool frozen, struct vs_err *err);
int cgroup_v1_stats(struct cg_hosts *hs, struct ct_cgroup_stats *st, struct vs_err *err);

int cgroup_v2_prepare(struct cg_hier *h, struct cg_made *made, struct vs_err *err);
/* Enable the controllers the container can use in every ancestor's
 * cgroup.subtree_control (h->dir exists). */
int cgroup_v2_enable_ancestors(struct cg_hier *h, struct vs_err *err);
/* hugepageLimits as hugetlb.<size>.max (v2, or the unified tree of a hybrid
 * host whose hugetlb controller is not bound to v1). */
int cgroup_v2_hugetlb(struct cg_hier *h, const struct ct_resources *res, struct vs_err *err);
int cgroup_v2_apply(struct cg_hier *h, const struct ct_resources *res, bool creating,
		    struct vs_err *err);
int cgroup_v2_freeze(struct cg_hier *h, bool frozen, struct vs_err *err);
int cgroup_v2_stats(struct cg_hier *h, struct ct_cgroup_stats *st, struct vs_err *err);

/* cgroup v2 device rules as a BPF_PROG_TYPE_CGROUP_DEVICE program (cgroup_bpf.c). */
int cgroup_bpf_devices_apply(const char *dir, const struct ct_device_rule *rules, unsigned nrules,
			     struct vs_err *err);

#endif
