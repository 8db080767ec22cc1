/*
 * container.h - the OCI runtime operations (runtime-spec 1.1 runtime.md
 * "Operations") behind the vessel-runtime commands.
 *
 * Every operation takes the runtime root (--root) and a container ID, locks
 * the container's state directory for its whole run (state.h), and reports
 * failures through struct vs_err.  create is all-or-nothing: when it fails,
 * the child is killed and the cgroup and state directory are removed again.
 */
#ifndef VESSEL_CT_CONTAINER_H
#define VESSEL_CT_CONTAINER_H

#include <stdbool.h>
#include <sys/types.h>

#include "vessel/core/err.h"
#include "vessel/ct/config.h"
#include "vessel/ct/state.h"

struct ct_create_opts {
	const char *root;
	const char *id;
	const char *bundle;	    /* default "." */
	const char *pid_file;	    /* may be NULL */
	const char *console_socket; /* may be NULL */
	bool no_pivot;
	bool no_new_keyring;
	int preserve_fds; /* extra fds after stdio passed to the process */
};

/* create: set up everything, leave the process waiting for start. */
int ct_container_create(const struct ct_create_opts *o, pid_t *pid, struct vs_err *err);
/* start: let a created container run its process. */
int ct_container_start(const char *root, const char *id, struct vs_err *err);
/*
 * run: create + start.  With detach, returns once started.  Otherwise waits
 * for the process (forwarding signals to it), deletes the container and
 * stores the process's exit status in *exit_status (128+N for signal N).
 */
int ct_container_run(const struct ct_create_opts *o, bool detach, int *exit_status,
		     struct vs_err *err);
/* state: the spec state JSON (malloc'd). */
int ct_container_state(const char *root, const char *id, char **json, struct vs_err *err);
int ct_container_kill(const char *root, const char *id, int sig, bool all, struct vs_err *err);
int ct_container_delete(const char *root, const char *id, bool force, struct vs_err *err);
int ct_container_pause(const char *root, const char *id, bool pause, struct vs_err *err);
/* update: new linux.resources (JSON object text). */
int ct_container_update(const char *root, const char *id, const char *resources_json,
			struct vs_err *err);
/* stats: the cgroup's counters of a live container (runc `events --stats`). */
int ct_container_stats(const char *root, const char *id, struct ct_cgroup_stats *stats,
		       struct vs_err *err);
/*
 * checkpoint: always refused with ENOTSUP and a message naming the container
 * and its (unchanged) status: there is no CRIU support.  Fails first with
 * "does not exist" like every other operation.
 */
int ct_container_checkpoint(const char *root, const char *id, struct vs_err *err);
/* ps: host pids of the container's processes (malloc'd). */
int ct_container_pids(const char *root, const char *id, pid_t **pids, size_t *n,
		      struct vs_err *err);

struct ct_exec_opts {
	const char *root;
	const char *id;
	const char *process_file; /* process.json, or NULL to use the fields below */
	const char *const *args;  /* NULL-terminated */
	const char *const *env;	  /* extra KEY=VALUE, NULL-terminated, may be NULL */
	const char *cwd;	  /* may be NULL */
	const char *user;	  /* "uid[:gid]" or NULL */
	bool tty;
	bool detach;
	const char *pid_file;
	const char *console_socket;
	int preserve_fds;
	bool no_new_privs;
	const char *const *caps; /* extra capabilities to add, NULL-terminated */
};

/* exec: run a new process inside a running container. */
int ct_container_exec(const struct ct_exec_opts *o, int *exit_status, struct vs_err *err);

/* The runtime-spec features document (features.md), JSON text (malloc'd). */
char *ct_features_json(void);
/* A default config.json (runc-compatible `spec`), rootless variant. */
char *ct_default_spec_json(bool rootless);

#endif
