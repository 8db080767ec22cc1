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

/* Where the container's cgroup goes (cgroupsPath or /vessel/ID) and the
 * host's layout; creates nothing. */
int ctc_plan(const struct ct_config *cfg, const char *id, struct ct_cgroup *cg, struct vs_err *err);
/* Create the planned cgroup with its limits and move pid in (pid 0: create
 * only); fills st. */
int ctc_setup(const struct ct_config *cfg, const struct ct_cgroup *plan, pid_t pid,
	      struct ct_state *st, struct vs_err *err);
int ctc_destroy(const struct ct_state *st, bool force, struct vs_err *err);
int ctc_freeze(const struct ct_state *st, bool frozen, struct vs_err *err);
int ctc_kill_all(const struct ct_state *st, int sig, struct vs_err *err);
int ctc_pids(const struct ct_state *st, pid_t **pids, size_t *n, struct vs_err *err);
int ctc_stats(const struct ct_state *st, struct ct_cgroup_stats *stats, struct vs_err *err);
int ctc_update(const struct ct_state *st, const char *resources_json, struct vs_err *err);
int ctc_add_pid(const struct ct_state *st, pid_t pid, struct vs_err *err);
/* O_PATH fd of the container's cgroup2 directory for CLONE_INTO_CGROUP,
 * or -errno (no cgroup, pure v1). */
int ctc_unified_fd(const struct ct_state *st);
/* Called by the single-threaded container child: join the cgroup itself
 * (born_in_unified: clone3 already placed it in the cgroup2 directory). */
int ctc_enter_self(const struct ct_cgroup *cg, bool born_in_unified, struct vs_err *err);

#endif
