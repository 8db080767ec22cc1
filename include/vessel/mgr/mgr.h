/*
 * mgr.h - the manager: what vesseld is, as a library.  It owns the
 * database, the image store, the operations and the event stream, and
 * performs instance actions through the driver of each instance's type.
 *
 * Invariants:
 * - the database row is created before any host object of an instance and
 *   removed after the last one is gone, so a crash at any point leaves
 *   either a row whose host side the next start-up repairs, or host
 *   objects without a row that reconciliation removes;
 * - actions on one instance are serialised (a per-instance busy mark);
 *   actions on different instances run in parallel;
 * - a request that fails validation changes nothing.
 */
#ifndef VESSEL_MGR_MGR_H
#define VESSEL_MGR_MGR_H

#include <json-c/json.h>
#include <stdbool.h>

#include "vessel/core/err.h"
#include "vessel/mgr/driver.h"
#include "vessel/mgr/events.h"
#include "vessel/mgr/image.h"
#include "vessel/mgr/instance.h"
#include "vessel/mgr/operation.h"

struct mgr_opts {
	const char *state_dir;	  /* default /var/lib/vessel */
	const char *runtime_path; /* the vessel-runtime binary */
	const char *busybox_path; /* static busybox for the built-in image; NULL: none */
	/* The Debian 12 image (images/debian: its cache directory or OCI
	 * layout), imported as alias "debian" on first use; NULL: none */
	const char *debian_path;
	const char *vmm_path;  /* the vessel-vmm binary; NULL: no VMs */
	const char *guest_dir; /* guest/ recipe output: imported as vessel-guest; NULL: none */
};

struct mgr;

int mgr_open(const struct mgr_opts *opts, struct mgr **out, struct vs_err *err);
/* Cancels and waits for operations; leaves instances running. */
void mgr_close(struct mgr *m);

struct mgr_db *mgr_get_db(struct mgr *m);
struct mgr_ops *mgr_get_ops(struct mgr *m);
struct mgr_events *mgr_get_events(struct mgr *m);
/* The cluster side (vessel/mgr/cluster.h), NULL when not opened. */
struct mgr_cluster *mgr_get_cluster(struct mgr *m);
struct mgr_image_store *mgr_get_images(struct mgr *m);
const char *mgr_state_dir(const struct mgr *m);
const char *mgr_runtime_path(const struct mgr *m);
const char *mgr_runtime_root(const struct mgr *m);

/* Compare the database with the host: fix recorded states, remove orphans. */
int mgr_reconcile(struct mgr *m, struct vs_err *err);

struct mgr_create_req {
	const char *name;
	enum mgr_instance_type type;
	const char *image; /* alias or fingerprint */
	struct mgr_config_entry *config;
	size_t nconfig;
	const char *network; /* a NIC eth0 on this network, or NULL */
	const char *expires; /* "7d", RFC 3339 or "never"; NULL: the policy's (policy.h) */
	const char *const *more_networks; /* NICs eth1, eth2, ... (needs network) */
	size_t nmore_networks;		  /* at most MGR_MORE_NICS_MAX */
};
#define MGR_MORE_NICS_MAX 3
#define MGR_VM_NICS_MAX	  3 /* a VM: NICs and storage volumes together (virtio slots) */

/* Validate without changing anything (used before an operation starts). */
int mgr_instance_create_check(struct mgr *m, const struct mgr_create_req *req, struct vs_err *err);
int mgr_instance_create(struct mgr *m, const struct mgr_create_req *req, struct vs_err *err);

enum mgr_action {
	MGR_ACTION_START,
	MGR_ACTION_STOP,
	MGR_ACTION_RESTART,
	MGR_ACTION_FREEZE,
	MGR_ACTION_UNFREEZE,
};
int mgr_action_parse(const char *s, enum mgr_action *a, struct vs_err *err);
const char *mgr_action_name(enum mgr_action a);

/* Check that the action makes sense in the current state (EINVAL/ENOENT). */
int mgr_instance_action_check(struct mgr *m, const char *name, enum mgr_action a,
			      struct vs_err *err);
int mgr_instance_action(struct mgr *m, const char *name, enum mgr_action a, bool force,
			int timeout_s, struct vs_err *err);
/* Delete (a running instance only with force, stopped first). */
int mgr_instance_delete(struct mgr *m, const char *name, bool force, struct vs_err *err);
int mgr_instance_rename(struct mgr *m, const char *name, const char *new_name, struct vs_err *err);
/*
 * Change config: set[] entries with value NULL remove a key; with replace,
 * the config becomes exactly set[].  Validated as a whole first; live keys
 * are applied to a running instance before the database changes, and the
 * change is refused if that fails.
 */
int mgr_instance_update_config(struct mgr *m, const char *name, const struct mgr_config_entry *set,
			       size_t n, bool replace, struct vs_err *err);
/*
 * Snapshots (Incus's model): create (a running instance is frozen while
 * its storage is copied), restore (a running instance is stopped, restored
 * and started again), delete, list (JSON array of {"name","created_at"}).
 */
int mgr_snapshot_create(struct mgr *m, const char *name, const char *snap, struct vs_err *err);
/* The same, stateful when asked: with the running state (VMs only, running;
 * ENOTSUP for containers).  Restoring it continues that state. */
int mgr_snapshot_create_stateful(struct mgr *m, const char *name, const char *snap, bool stateful,
				 struct vs_err *err);
int mgr_snapshot_restore(struct mgr *m, const char *name, const char *snap, struct vs_err *err);
int mgr_snapshot_delete(struct mgr *m, const char *name, const char *snap, struct vs_err *err);
int mgr_snapshot_list(struct mgr *m, const char *name, struct json_object **list,
		      struct vs_err *err);
/* Check that a snapshot exists (ENOENT) or not (EEXIST) without changing anything. */
int mgr_snapshot_check(struct mgr *m, const char *name, const char *snap, bool want_exists,
		       struct vs_err *err);

int mgr_instance_exec(struct mgr *m, const char *name, const struct mgr_exec_req *req,
		      struct mgr_exec_result *res, struct vs_err *err);
/* The console of a running instance: *fd a byte stream to its terminal
 * (VM: serial port), closed by the caller; its log so far (malloc'd). */
int mgr_instance_console(struct mgr *m, const char *name, int *fd, struct vs_err *err);
/* The console's window size in columns and rows (ENOTSUP: a VM's serial port has none). */
int mgr_instance_console_resize(struct mgr *m, const char *name, unsigned width, unsigned height,
				struct vs_err *err);
int mgr_instance_console_log(struct mgr *m, const char *name, char **text, size_t *len,
			     struct vs_err *err);
/* Copy a file into (created or truncated; mode, uid, gid set) or out of an
 * instance, running or stopped; path absolute, resolved inside its root. */
int mgr_instance_file_push(struct mgr *m, const char *name, const char *path, int src_fd,
			   mode_t mode, uid_t uid, gid_t gid, struct vs_err *err);
int mgr_instance_file_pull(struct mgr *m, const char *name, const char *path, int dst_fd,
			   struct vs_err *err);
/* The live state of an instance (power and pid). */
int mgr_instance_live(struct mgr *m, const struct mgr_instance *inst, enum mgr_power *p, pid_t *pid,
		      struct vs_err *err);

/* The live state of every instance of list[0..n) (power[i], pid[i]; the
 * recorded power where it cannot be read), one look at the host per type
 * where the driver can (a listing). */
void mgr_instances_live(struct mgr *m, const struct mgr_instance *list, size_t n,
			enum mgr_power *power, pid_t *pid);

/* Incus-like JSON of an instance (with live status). */
struct json_object *mgr_instance_to_json(struct mgr *m, const struct mgr_instance *inst);
/* All instances as a JSON array of objects (config and NICs read in one
 * query each, not one per instance). */
int mgr_instances_json(struct mgr *m, struct json_object **out, struct vs_err *err);
struct json_object *mgr_image_to_json(const struct mgr_image *img);

#endif
