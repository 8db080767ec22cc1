/*
 * lifecycle.c - the operations on an existing container (runtime-spec 1.1
 * runtime.md "Query State", "Kill", "Delete"; runc's pause, resume, update,
 * ps, events --stats and checkpoint): each locks the state directory, loads
 * the state, checks the live status and acts.
 *
 * Messages follow what containerd's runc shim looks for: kill of an exited
 * container says "No such process" (the shim then reports "already
 * finished"), and delete --force of a container that is already gone
 * succeeds, as with runc.  checkpoint is refused (no CRIU support) without
 * touching the container.
 *
 * delete --force kills a live container (thawing it first when paused, so
 * SIGKILL can be delivered), waits until the process is gone, removes the
 * cgroup, runs the poststop hooks (failures are warnings, as the spec says)
 * and removes the state directory.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "container_cgroup.h"
#include "create_internal.h"
#include "linux_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/ct/container.h"

struct locked_state {
	int dirfd;
	struct ct_state st;
};

static int lock_load(const char *root, const char *id, struct locked_state *ls, struct vs_err *err)
{
	ls->dirfd = -1;
	memset(&ls->st, 0, sizeof(ls->st));
	int r = ct_id_validate(id, err);
	if (r < 0)
		return r;
	if ((r = ct_state_dir_open(root, id, &ls->dirfd, err)) < 0)
		return r;
	if ((r = ct_state_load(ls->dirfd, &ls->st, err)) < 0) {
		close(ls->dirfd);
		ls->dirfd = -1;
	}
	return r;
}

static void unlock_free(struct locked_state *ls)
{
	if (ls->dirfd >= 0)
		close(ls->dirfd);
	ls->dirfd = -1;
	ct_state_free(&ls->st);
}

int ct_container_state(const char *root, const char *id, char **json, struct vs_err *err)
{
	struct locked_state ls;
	int r = lock_load(root, id, &ls, err);
	if (r < 0)
		return r;
	*json = ct_state_to_json(&ls.st, true);
	unlock_free(&ls);
	return *json ? 0 : vs_errf(err, ENOMEM, "out of memory");
}

int ct_container_kill(const char *root, const char *id, int sig, bool all, struct vs_err *err)
{
	struct locked_state ls;
	int r = lock_load(root, id, &ls, err);
	if (r < 0)
		return r;
	/* A process that exited but that its parent (conmon, the shim) has not
	 * reaped yet still holds its pid: signalling it is harmless, and saying
	 * "not running" while the pid file still names a pid that nobody can
	 * reuse would race with every caller that kills right after start. */
	bool exists = ct_state_process_exists(&ls.st);
	if (!exists && !all) {
		/* "No such process": containerd's shim reads it as "already exited" */
		r = vs_syserrf(err, ESRCH, "container %s is not running", id);
	} else if (all && ls.st.has_cgroup) {
		r = ctc_kill_all(&ls.st, sig, err);
	} else if (exists && kill(ls.st.pid, sig) < 0) {
		r = vs_syserrf(err, errno, "kill container %s", id);
	}
	unlock_free(&ls);
	return r;
}

static int wait_stopped(const struct ct_state *st, int timeout_ms)
{
	struct timespec ts = { 0, 1000000 };
	for (int waited = 0; waited < timeout_ms; waited++) {
		if (ct_state_status(st) == CT_STATUS_STOPPED)
			return 0;
		nanosleep(&ts, NULL);
	}
	return ct_state_status(st) == CT_STATUS_STOPPED ? 0 : -ETIMEDOUT;
}

/* poststop hooks from the config saved at create; every hook runs and a
 * failure is a warning (runtime.md "Lifecycle" step 11). */
static void run_poststop(int dirfd, const struct ct_state *st)
{
	struct ct_config cfg;
	struct vs_err err = VS_ERR_INIT;
	if (!(st->hook_mask & (1u << CT_HOOK_POSTSTOP)))
		return; /* do not read the config for nothing */
	if (ct_saved_config_load(dirfd, st->bundle, &cfg, &err) < 0) {
		vs_log(VS_LOG_WARN, "poststop hooks not run: %s", err.msg);
		return;
	}
	if (cfg.nhooks[CT_HOOK_POSTSTOP]) {
		vs_cleanup_free char *sj = ct_state_to_json_as(st, CT_STATUS_STOPPED, false);
		ct_hooks_run_all(cfg.hooks[CT_HOOK_POSTSTOP], cfg.nhooks[CT_HOOK_POSTSTOP],
				 "poststop", sj ? sj : "{}");
	}
	ct_config_free(&cfg);
}

/* A state directory without a readable state.json (a runtime killed in the
 * middle of create): --force removes it, since no process can be found. */
static int delete_broken(const char *root, const char *id, bool force, struct vs_err *err)
{
	vs_cleanup_close int dirfd = -1;
	struct vs_err first = *err;
	if (!force)
		return vs_err_prefix(err, "container %s (use delete --force to remove it)", id);
	if (ct_state_dir_open(root, id, &dirfd, err) < 0)
		return -err->code;
	vs_log(VS_LOG_WARN, "container %s: removing state without a readable state.json (%s)", id,
	       first.msg);
	return ct_state_dir_remove(root, id, dirfd, err);
}

int ct_container_delete(const char *root, const char *id, bool force, struct vs_err *err)
{
	struct locked_state ls;
	struct vs_err local = VS_ERR_INIT;
	if (!err)
		err = &local;
	int r = lock_load(root, id, &ls, err);
	if (r < 0 && r != -ENOENT && ct_id_validate(id, NULL) == 0)
		return delete_broken(root, id, force, err);
	if (r == -ENOENT && force && ct_id_validate(id, NULL) == 0) {
		vs_err_clear(err); /* as runc: --force of a container already gone */
		return 0;
	}
	if (r < 0)
		return r;
	enum ct_status s = ct_state_status(&ls.st);
	if (s != CT_STATUS_STOPPED) {
		if (!force && s != CT_STATUS_CREATED) {
			r = vs_errf(err, EBUSY,
				    "container %s is %s: stop it first or use delete --force", id,
				    ct_status_name(s));
			goto out;
		}
		struct vs_err ignored = VS_ERR_INIT;
		if (s == CT_STATUS_PAUSED)
			ctc_freeze(&ls.st, false, &ignored);
		kill(ls.st.pid, SIGKILL);
		if (ls.st.has_cgroup)
			ctc_kill_all(&ls.st, SIGKILL, &ignored);
		if (wait_stopped(&ls.st, 10000) < 0) {
			r = vs_errf(err, ETIMEDOUT, "container %s: process %d did not die", id,
				    (int)ls.st.pid);
			goto out;
		}
	}
	ct_debug_mark("delete: process gone");
	if ((r = ctc_destroy(&ls.st, true, err)) < 0)
		goto out;
	ct_debug_mark("delete: cgroup destroyed");
	/* no mount namespace: the container's mounts are ours, under its rootfs */
	if (ls.st.shared_mntns)
		ct_rootfs_detach_shared(ls.st.rootfs);
	run_poststop(ls.dirfd, &ls.st);
	r = ct_state_dir_remove(root, id, ls.dirfd, err);
out:
	unlock_free(&ls);
	return r;
}

int ct_container_pause(const char *root, const char *id, bool pause, struct vs_err *err)
{
	struct locked_state ls;
	int r = lock_load(root, id, &ls, err);
	if (r < 0)
		return r;
	enum ct_status s = ct_state_status(&ls.st);
	enum ct_status want_from = pause ? CT_STATUS_RUNNING : CT_STATUS_PAUSED;
	if (s != want_from && !(pause && s == CT_STATUS_CREATED)) {
		r = vs_errf(err, EINVAL, "container %s is %s, cannot %s", id, ct_status_name(s),
			    pause ? "pause" : "resume");
	} else if ((r = ctc_freeze(&ls.st, pause, err)) == 0) {
		ls.st.saved_status = pause ? CT_STATUS_PAUSED : CT_STATUS_RUNNING;
		r = ct_state_save(ls.dirfd, &ls.st, err);
	}
	unlock_free(&ls);
	return r;
}

int ct_container_update(const char *root, const char *id, const char *resources_json,
			struct vs_err *err)
{
	struct locked_state ls;
	int r = lock_load(root, id, &ls, err);
	if (r < 0)
		return r;
	if (ct_state_status(&ls.st) == CT_STATUS_STOPPED)
		r = vs_errf(err, ESRCH, "container %s is not running", id);
	else
		r = ctc_update(&ls.st, resources_json, err);
	unlock_free(&ls);
	return r;
}

int ct_container_pids(const char *root, const char *id, pid_t **pids, size_t *n, struct vs_err *err)
{
	struct locked_state ls;
	int r = lock_load(root, id, &ls, err);
	if (r < 0)
		return r;
	*pids = NULL;
	*n = 0;
	if (ls.st.has_cgroup) {
		r = ctc_pids(&ls.st, pids, n, err);
	} else if (ct_state_status(&ls.st) != CT_STATUS_STOPPED) {
		*pids = malloc(sizeof(pid_t));
		if (!*pids) {
			r = vs_errf(err, ENOMEM, "out of memory");
		} else {
			(*pids)[0] = ls.st.pid;
			*n = 1;
		}
	}
	unlock_free(&ls);
	return r;
}

int ct_container_stats(const char *root, const char *id, struct ct_cgroup_stats *stats,
		       struct vs_err *err)
{
	struct locked_state ls;
	int r = lock_load(root, id, &ls, err);
	if (r < 0)
		return r;
	if (ct_state_status(&ls.st) == CT_STATUS_STOPPED)
		r = vs_syserrf(err, ESRCH, "container %s is not running", id);
	else
		r = ctc_stats(&ls.st, stats, err);
	unlock_free(&ls);
	return r;
}

int ct_container_checkpoint(const char *root, const char *id, struct vs_err *err)
{
	struct locked_state ls;
	int r = lock_load(root, id, &ls, err);
	if (r < 0)
		return r;
	r = vs_errf(err, ENOTSUP,
		    "checkpoint of container %s refused: vessel-runtime does not implement "
		    "checkpoint/restore (it has no CRIU support); the container is left %s, "
		    "untouched",
		    id, ct_status_name(ct_state_status(&ls.st)));
	unlock_free(&ls);
	return r;
}
