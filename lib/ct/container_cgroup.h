/*
 * container_cgroup.h - how the runtime uses the cgroup module
 * (include/vessel/ct/cgroup.h): one place that turns config.json's
 * cgroupsPath and linux.resources into ct_cgroup calls.
 */
#ifndef VESSEL_CT_CONTAINER_CGROUP_H
#define VESSEL_CT_CONTAINER_CGROUP_H

#include <stdbool.h>
#include <sys/types.h>

#include "vessel/ct/config.h"
#include "vessel/ct/state.h"

struct cg_hosts;

/* Create the container's cgroup with its limits and move pid in (pid 0:
 * create only); fills st. */
int ctc_setup(const struct ct_config *cfg, const char *id, pid_t pid, struct ct_state *st,
	      struct vs_err *err);
int ctc_destroy(const struct ct_state *st, bool force, struct vs_err *err);
int ctc_freeze(const struct ct_state *st, bool frozen, struct vs_err *err);
int ctc_kill_all(const struct ct_state *st, int sig, struct vs_err *err);
int ctc_pids(const struct ct_state *st, pid_t **pids, size_t *n, struct vs_err *err);
int ctc_update(const struct ct_state *st, const char *resources_json, struct vs_err *err);
int ctc_add_pid(const struct ct_state *st, pid_t pid, struct vs_err *err);
/* The container's directory in every hierarchy (*hs NULL without a cgroup). */
int ctc_self_dirs(const struct ct_state *st, struct cg_hosts **hs, struct vs_err *err);
/* Move the calling (single-threaded) process into those directories
 * (skip_v2: it was born in the cgroup2 one through CLONE_INTO_CGROUP). */
int ctc_enter_self(const struct cg_hosts *hs, bool skip_v2, struct vs_err *err);
/* An fd of the cgroup2 directory for CLONE_INTO_CGROUP, or -errno. */
int ctc_v2_dir_fd(const struct cg_hosts *hs);

#endif
