/*
 * driver.h - what the manager asks of an instance type.  One vtable per
 * type (`mgr_drivers[]` in driver.c): the container driver (lib/ct's
 * runtime, overlayfs roots) and the VM driver (vessel-vmm through its
 * control API and guest agent, driver_vm.c).
 *
 * Every host object a driver makes for an instance (mounts, cgroups, the
 * runtime's state, directories) is made by exactly one of these entries and
 * undone by stop or destroy; reconcile removes what belongs to no instance
 * (left behind by a crash between the host step and the database commit).
 * Entries are idempotent: a repeated call after a crash finishes the job.
 */
#ifndef VESSEL_MGR_DRIVER_H
#define VESSEL_MGR_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vessel/core/err.h"
#include "vessel/mgr/image.h"
#include "vessel/mgr/instance.h"

struct mgr;
struct mgr_usage_sample;

struct mgr_exec_req {
	char **argv; /* NULL-terminated */
	char **env;  /* extra KEY=VALUE, NULL-terminated, may be NULL */
	const char *cwd;
	const char *user; /* "uid[:gid]" or NULL */
	const char *stdin_data;
	size_t stdin_len;
};

struct mgr_exec_result {
	int exit_code;
	char *out; /* captured stdout / stderr (malloc'd, capped) */
	size_t out_len;
	char *errout;
	size_t err_len;
};

struct mgr_driver {
	enum mgr_instance_type type;
	/* Host storage of a new instance (the container's upper dir). */
	int (*create)(struct mgr *m, const struct mgr_instance *inst, const struct mgr_image *img,
		      struct vs_err *err);
	int (*start)(struct mgr *m, const struct mgr_instance *inst, const struct mgr_image *img,
		     struct vs_err *err);
	/* Clean stop, forced after timeout_s (or at once with force); releases
	 * the runtime's host objects. */
	int (*stop)(struct mgr *m, const struct mgr_instance *inst, bool force, int timeout_s,
		    struct vs_err *err);
	int (*freeze)(struct mgr *m, const struct mgr_instance *inst, bool freeze,
		      struct vs_err *err);
	/* The live state; pid 0 when not running. */
	int (*state)(struct mgr *m, const struct mgr_instance *inst, enum mgr_power *power,
		     pid_t *pid, struct vs_err *err);
	/* The live state of every instance of this type in list[0..n) at once
	 * (a listing): power[i] and pid[i] as state() gives them; entries of
	 * other types are left alone.  One look at the host for all of them
	 * instead of n.  NULL: the caller asks state() for each. */
	int (*state_many)(struct mgr *m, const struct mgr_instance *list, size_t n,
			  enum mgr_power *power, pid_t *pid, struct vs_err *err);
	/* Apply the limits in inst->config to the running instance. */
	int (*update_limits)(struct mgr *m, const struct mgr_instance *inst, struct vs_err *err);
	int (*exec)(struct mgr *m, const struct mgr_instance *inst, const struct mgr_exec_req *req,
		    struct mgr_exec_result *res, struct vs_err *err);
	/* Remove everything of a stopped instance from the host. */
	int (*destroy)(struct mgr *m, const struct mgr_instance *inst, struct vs_err *err);
	/* Remove host objects of this type that belong to none of the instances. */
	int (*reconcile)(struct mgr *m, const struct mgr_instance *list, size_t n,
			 struct vs_err *err);
	/* Snapshots of the instance's own storage (a container: its upper
	 * directory; the instance is frozen or stopped while it is copied). */
	int (*snapshot_create)(struct mgr *m, const struct mgr_instance *inst, const char *snap,
			       struct vs_err *err);
	/* Replace the storage with the snapshot's (the instance is stopped). */
	int (*snapshot_restore)(struct mgr *m, const struct mgr_instance *inst, const char *snap,
				struct vs_err *err);
	int (*snapshot_delete)(struct mgr *m, const struct mgr_instance *inst, const char *snap,
			       struct vs_err *err);
	/* Mark SNAP, just made by snapshot_create of the running instance, as
	 * stateful: restoring it continues the saved running state.  NULL when
	 * the type has no stateful snapshots. */
	int (*snapshot_stateful)(struct mgr *m, const struct mgr_instance *inst, const char *snap,
				 struct vs_err *err);
	/* A bidirectional stream to the instance's console (VM: its serial port;
	 * container: its terminal/stdio). Caller closes *fd. */
	int (*console)(struct mgr *m, const struct mgr_instance *inst, int *fd, struct vs_err *err);
	/* Write src_fd's bytes (to its end) to PATH in the instance (created or
	 * truncated, then given mode, uid, gid); read PATH into dst_fd.  PATH is
	 * absolute and resolved inside the instance's root; running or stopped
	 * (the caller holds the instance's busy mark). */
	int (*file_push)(struct mgr *m, const struct mgr_instance *inst, const char *path,
			 int src_fd, mode_t mode, uid_t uid, gid_t gid, struct vs_err *err);
	int (*file_pull)(struct mgr *m, const struct mgr_instance *inst, const char *path,
			 int dst_fd, struct vs_err *err);
	/* One usage sample (struct mgr_usage_sample in include/vessel/mgr/usage.h, owned by usage). */
	int (*usage)(struct mgr *m, const struct mgr_instance *inst, struct mgr_usage_sample *s,
		     struct vs_err *err);
	/* Set the console's window size (a running instance's terminal); NULL
	 * when the console has none (a VM's serial port). */
	int (*console_resize)(struct mgr *m, const struct mgr_instance *inst, unsigned width,
			      unsigned height, struct vs_err *err);
};

/* The driver of a type, or NULL (with err) when the type has none yet. */
const struct mgr_driver *mgr_driver_for(enum mgr_instance_type t, struct vs_err *err);

extern const struct mgr_driver mgr_driver_container;
extern const struct mgr_driver mgr_driver_vm;

void mgr_exec_result_free(struct mgr_exec_result *res);

#endif
