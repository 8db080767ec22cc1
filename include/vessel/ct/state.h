/*
 * state.h - a container's saved state under the runtime root
 * (runtime-spec 1.1 runtime.md "State").
 *
 * Layout: ROOT/ID/ is the state directory, holding state.json and the start
 * socket.  Every command that touches a container holds an exclusive flock()
 * on the state directory for its whole run, so concurrent commands on the
 * same ID serialise; a command that acquires the lock after `delete`
 * removed the directory sees it unlinked and reports "does not exist".
 *
 * The saved status is only what the runtime last did (created, running,
 * paused); ct_state_status() checks the process (pid + start time, so a
 * recycled pid is not mistaken for the container) and reports `stopped`
 * honestly when it died.
 */
#ifndef VESSEL_CT_STATE_H
#define VESSEL_CT_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vessel/core/err.h"
#include "vessel/ct/cgroup.h"

#define CT_ID_MAX 1024

enum ct_status {
	CT_STATUS_CREATING,
	CT_STATUS_CREATED,
	CT_STATUS_RUNNING,
	CT_STATUS_PAUSED,
	CT_STATUS_STOPPED,
};

struct ct_state {
	char id[CT_ID_MAX + 1];
	pid_t pid;
	uint64_t start_time; /* /proc/PID/stat field 22, guards against pid reuse */
	enum ct_status saved_status;
	char bundle[PATH_MAX];
	char rootfs[PATH_MAX];
	char created[40]; /* RFC 3339 */
	bool has_cgroup;
	struct ct_cgroup cgroup;
	bool userns;		/* container has its own user namespace */
	bool shared_mntns;	/* no mount namespace: its mounts are in the runtime's */
	unsigned hook_mask;	/* 1 << enum ct_hook_kind for each kind configured */
	char *annotations_json; /* malloc'd JSON object text or NULL */
};

/* IDs: 1..1024 chars of [A-Za-z0-9_+.-], not "." or "..". */
int ct_id_validate(const char *id, struct vs_err *err);

/* Create ROOT/ID (fails with EEXIST "already exists") and lock it. */
int ct_state_dir_create(const char *root, const char *id, int *dirfd, struct vs_err *err);
/* Open and lock ROOT/ID (ENOENT "does not exist"). */
int ct_state_dir_open(const char *root, const char *id, int *dirfd, struct vs_err *err);
/* Remove ROOT/ID and everything in it (the lock dies with the fd). */
int ct_state_dir_remove(const char *root, const char *id, int dirfd, struct vs_err *err);

int ct_state_save(int dirfd, const struct ct_state *st, struct vs_err *err);
int ct_state_load(int dirfd, struct ct_state *st, struct vs_err *err);
void ct_state_free(struct ct_state *st);

/* The live status (reads /proc). */
enum ct_status ct_state_status(const struct ct_state *st);
const char *ct_status_name(enum ct_status s);
/* Spec state JSON (malloc'd text). */
char *ct_state_to_json(const struct ct_state *st, bool pretty);
/* The same with a given status (for hooks run where /proc cannot tell). */
char *ct_state_to_json_as(const struct ct_state *st, enum ct_status status, bool pretty);

/* Start time of a live pid (0 if it does not exist or is a zombie). */
uint64_t ct_proc_start_time(pid_t pid);
/* The container's process still exists, alive or exited but not yet reaped
 * by its parent (a zombie: the pid cannot be reused, signals are harmless). */
bool ct_state_process_exists(const struct ct_state *st);

/* Call fn for every container ID under root (sorted by readdir order). */
int ct_state_list(const char *root, int (*fn)(const char *id, void *opaque), void *opaque,
		  struct vs_err *err);

#endif
