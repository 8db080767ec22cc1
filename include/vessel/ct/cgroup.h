/*
 * cgroup.h - container cgroups on v1, pure v2 and hybrid hosts.
 *
 * The host layout is detected once (ct_cgroup_detect): pure v2 (cgroup2 at
 * /sys/fs/cgroup), pure v1 (one hierarchy per controller), or hybrid (v1
 * controllers plus a cgroup2 mount at /sys/fs/cgroup/unified, as on Debian
 * hosts booted with systemd's hybrid mode).  On v1/hybrid every controller
 * gets the container's path in its own hierarchy; on hybrid the process is
 * also placed in the unified hierarchy (for systemd/cgroup-namespace users),
 * while limits are applied through v1.
 *
 * Resources come from OCI runtime-spec `linux.resources` (config-linux.md
 * "Control groups"): ct_resources_parse() validates the JSON object, so the
 * same parser serves `create` and `update --resources`.
 *
 * Errors follow include/vessel/core/err.h.  Creation is all-or-nothing: on
 * failure every directory made so far is removed again.
 */
#ifndef VESSEL_CT_CGROUP_H
#define VESSEL_CT_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vessel/core/err.h"

struct json_object;

enum ct_cgroup_layout {
	CT_CGROUP_V1 = 1,
	CT_CGROUP_V2 = 2,
	CT_CGROUP_HYBRID = 3,
};

#define CT_RES_UNSET INT64_MIN /* a limit the config does not set */

struct ct_device_rule {
	bool allow;
	char type;	/* 'a', 'b' or 'c' */
	int64_t major;	/* -1 = any */
	int64_t minor;	/* -1 = any */
	char access[4]; /* subset of "rwm" */
};

struct ct_hugetlb_limit {
	char page_size[16]; /* "2MB", "1GB" */
	uint64_t limit;
};

/* A blockIO per-device entry: weightDevice (weight, leaf_weight) or a
 * throttle*Device (rate). */
struct ct_blkio_device {
	int64_t major, minor;
	int64_t weight, leaf_weight; /* CT_RES_UNSET when absent */
	uint64_t rate;
};

enum ct_blkio_throttle {
	CT_THROTTLE_READ_BPS,
	CT_THROTTLE_WRITE_BPS,
	CT_THROTTLE_READ_IOPS,
	CT_THROTTLE_WRITE_IOPS,
	CT_THROTTLE_COUNT,
};

/* network.priorities[] (net_prio.ifpriomap) */
struct ct_net_priority {
	char name[64];
	uint32_t priority;
};

/* rdma.<device> (rdma.max) */
struct ct_rdma_limit {
	char device[64];
	int64_t hca_handles, hca_objects; /* CT_RES_UNSET when absent */
};

/* linux.resources; every numeric field is CT_RES_UNSET when absent.  Every
 * member of the runtime-spec 1.1 object is parsed: the back ends apply each
 * one or refuse it with the reason, never skip it silently. */
struct ct_resources {
	int64_t memory_limit, memory_reservation, memory_swap, memory_swappiness;
	int64_t memory_kernel, memory_kernel_tcp;
	bool memory_disable_oom_killer;
	int memory_use_hierarchy;	 /* -1 unset, else 0 or 1 */
	bool memory_check_before_update; /* update: refuse a limit below the usage */
	int64_t cpu_shares, cpu_quota, cpu_period, cpu_realtime_runtime, cpu_realtime_period;
	int64_t cpu_idle;
	char cpu_cpus[256], cpu_mems[256]; /* "" when absent */
	int64_t pids_limit;
	int64_t blkio_weight, blkio_leaf_weight;
	struct ct_blkio_device *blkio_weight_devices;
	unsigned nblkio_weight_devices;
	struct ct_blkio_device *blkio_throttle[CT_THROTTLE_COUNT];
	unsigned nblkio_throttle[CT_THROTTLE_COUNT];
	int64_t net_class_id;
	struct ct_net_priority *net_priorities;
	unsigned nnet_priorities;
	struct ct_rdma_limit *rdma;
	unsigned nrdma;
	struct ct_hugetlb_limit *hugetlb;
	unsigned nhugetlb;
	struct ct_device_rule *devices;
	unsigned ndevices;
	/* unified: raw cgroup v2 key/value pairs (v2 hosts only) */
	char (*unified_keys)[64];
	char (*unified_values)[256];
	unsigned nunified;
};

void ct_resources_init(struct ct_resources *res);
void ct_resources_free(struct ct_resources *res);
/* Parse and validate an OCI linux.resources object (NULL = no limits). */
int ct_resources_parse(struct json_object *obj, struct ct_resources *res, struct vs_err *err);

int ct_cgroup_detect(enum ct_cgroup_layout *layout, struct vs_err *err);

/* A container's cgroup: plain data, saved in the container's state. */
struct ct_cgroup {
	enum ct_cgroup_layout layout;
	char path[512]; /* relative path, e.g. "/vessel/ID" or OCI cgroupsPath */
};

/*
 * Create the cgroup at `path` (OCI cgroupsPath; relative paths are taken
 * under the runtime's own cgroup root), apply `res`, and move `pid` into it.
 * The default device rules of the runtime-spec always stay in effect: they are
 * applied after the config's rules (as runc and crun do), so that a leading
 * {"allow": false} does not remove /dev/null and friends.
 */
int ct_cgroup_create(struct ct_cgroup *cg, enum ct_cgroup_layout layout, const char *path,
		     const struct ct_resources *res, pid_t pid, struct vs_err *err);

/*
 * Fast join, for the runtime's clone path (additions; optional).  Moving a
 * pid through cgroup.procs takes the kernel's global threadgroup lock, whose
 * first write costs an RCU grace period (7-15 ms on the CI host) -- most of a
 * container start.  Instead: ct_cgroup_create() with pid 0, then
 *  - ct_cgroup_open_unified(): an O_PATH fd of the container's cgroup2
 *    directory (v2 and hybrid) for clone3(CLONE_INTO_CGROUP), so the child is
 *    born there; -ENOENT on pure v1;
 *  - ct_cgroup_enter_self(), called BY the single-threaded child before it
 *    changes its mounts: joins every v1 hierarchy by writing "0" to "tasks"
 *    (a thread moving itself skips that lock); with unified_too it also
 *    joins the cgroup2 directory through cgroup.procs (when clone3 was not
 *    used).  On failure the runtime destroys the cgroup as usual.
 */
int ct_cgroup_open_unified(const struct ct_cgroup *cg, struct vs_err *err);
int ct_cgroup_enter_self(const struct ct_cgroup *cg, bool unified_too, struct vs_err *err);

/* Change limits of an existing cgroup (runtime `update`). */
int ct_cgroup_update(const struct ct_cgroup *cg, const struct ct_resources *res,
		     struct vs_err *err);

/* Move another process (exec) into the cgroup. */
int ct_cgroup_add_pid(const struct ct_cgroup *cg, pid_t pid, struct vs_err *err);

/* Freeze (pause) or thaw (resume) every process; waits until the state holds. */
int ct_cgroup_freeze(const struct ct_cgroup *cg, bool frozen, struct vs_err *err);

/* The pids in the cgroup (malloc'd array), for `ps` and `kill --all`. */
int ct_cgroup_pids(const struct ct_cgroup *cg, pid_t **pids, size_t *npids, struct vs_err *err);

/* Send sig to every process in the cgroup. */
int ct_cgroup_kill(const struct ct_cgroup *cg, int sig, struct vs_err *err);

struct ct_cgroup_stats {
	uint64_t memory_usage, memory_limit, memory_max_usage;
	uint64_t cpu_usage_ns;
	uint64_t pids_current, pids_limit;
	uint64_t oom_kills;
};
int ct_cgroup_stats(const struct ct_cgroup *cg, struct ct_cgroup_stats *st, struct vs_err *err);

/* Remove the cgroup in every hierarchy (kills stragglers first when force). */
int ct_cgroup_destroy(const struct ct_cgroup *cg, bool force, struct vs_err *err);

#endif
