/*
 * container_cgroup.c - the runtime's use of the cgroup module
 * (config-linux.md "Control groups"): the cgroup path defaults to
 * /vessel/<id>; systemd-style "slice:prefix:name" paths are refused
 * because the runtime does not talk to systemd.
 *
 * Start-up cost: moving another process into a cgroup (writing its pid to
 * cgroup.procs) takes the kernel's global threadgroup lock for writing,
 * which waits for an RCU grace period - milliseconds per container.  So
 * create makes the cgroup with no process in it, and the container child
 * moves itself ("0" = the writer) before it does anything else
 * (ctc_enter_self: v1 "tasks", which skips that lock), or is born in the
 * cgroup2 directory through clone3(CLONE_INTO_CGROUP) (ctc_unified_fd).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container_cgroup.h"
#include "vessel/ct/cgroup.h"

int ctc_plan(const struct ct_config *cfg, const char *id, struct ct_cgroup *cg, struct vs_err *err)
{
	memset(cg, 0, sizeof(*cg));
	if (cfg->cgroups_path && *cfg->cgroups_path) {
		if (strchr(cfg->cgroups_path, ':'))
			return vs_errf(err, ENOTSUP,
				       "linux.cgroupsPath \"%s\" is a systemd path: vessel-runtime "
				       "does not support --systemd-cgroup",
				       cfg->cgroups_path);
		if (snprintf(cg->path, sizeof(cg->path), "%s", cfg->cgroups_path) >=
		    (int)sizeof(cg->path))
			return vs_errf(err, ENAMETOOLONG, "linux.cgroupsPath: too long");
	} else if (snprintf(cg->path, sizeof(cg->path), "/vessel/%s", id) >=
		   (int)sizeof(cg->path)) {
		return vs_errf(err, ENAMETOOLONG, "cgroup path too long");
	}
	if (strstr(cg->path, ".."))
		return vs_errf(err, EINVAL, "linux.cgroupsPath: \"%s\" must not contain ..",
			       cg->path);
	return ct_cgroup_detect(&cg->layout, err);
}

int ctc_setup(const struct ct_config *cfg, const struct ct_cgroup *plan, pid_t pid,
	      struct ct_state *st, struct vs_err *err)
{
	struct ct_resources res;
	ct_resources_init(&res);
	int r = ct_resources_parse(cfg->resources, &res, err);
	if (r == 0) /* pid 0: nobody */
		r = ct_cgroup_create(&st->cgroup, plan->layout, plan->path, &res, pid, err);
	ct_resources_free(&res);
	if (r < 0)
		return r;
	st->has_cgroup = true;
	return 0;
}

int ctc_destroy(const struct ct_state *st, bool force, struct vs_err *err)
{
	return st->has_cgroup ? ct_cgroup_destroy(&st->cgroup, force, err) : 0;
}

int ctc_freeze(const struct ct_state *st, bool frozen, struct vs_err *err)
{
	if (!st->has_cgroup)
		return vs_errf(err, ENOTSUP, "container %s has no cgroup", st->id);
	return ct_cgroup_freeze(&st->cgroup, frozen, err);
}

int ctc_kill_all(const struct ct_state *st, int sig, struct vs_err *err)
{
	if (!st->has_cgroup)
		return vs_errf(err, ENOTSUP, "container %s has no cgroup", st->id);
	return ct_cgroup_kill(&st->cgroup, sig, err);
}

int ctc_pids(const struct ct_state *st, pid_t **pids, size_t *n, struct vs_err *err)
{
	if (!st->has_cgroup)
		return vs_errf(err, ENOTSUP, "container %s has no cgroup", st->id);
	return ct_cgroup_pids(&st->cgroup, pids, n, err);
}

int ctc_stats(const struct ct_state *st, struct ct_cgroup_stats *stats, struct vs_err *err)
{
	if (!st->has_cgroup)
		return vs_errf(err, ENOTSUP, "container %s has no cgroup", st->id);
	return ct_cgroup_stats(&st->cgroup, stats, err);
}

int ctc_update(const struct ct_state *st, const char *resources_json, struct vs_err *err)
{
	if (!st->has_cgroup)
		return vs_errf(err, ENOTSUP, "container %s has no cgroup", st->id);
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		return vs_errf(err, ENOMEM, "out of memory");
	struct json_object *obj =
	    json_tokener_parse_ex(tok, resources_json, (int)strlen(resources_json));
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (!obj || jerr != json_tokener_success) {
		json_object_put(obj);
		return vs_errf(err, EINVAL, "resources: invalid JSON: %s",
			       json_tokener_error_desc(jerr));
	}
	struct ct_resources res;
	ct_resources_init(&res);
	int r = ct_resources_parse(obj, &res, err);
	if (r == 0)
		r = ct_cgroup_update(&st->cgroup, &res, err);
	ct_resources_free(&res);
	json_object_put(obj);
	return r;
}

int ctc_add_pid(const struct ct_state *st, pid_t pid, struct vs_err *err)
{
	return st->has_cgroup ? ct_cgroup_add_pid(&st->cgroup, pid, err) : 0;
}

int ctc_unified_fd(const struct ct_state *st)
{
	if (!st->has_cgroup)
		return -ENOENT;
	return ct_cgroup_open_unified(&st->cgroup, NULL);
}

int ctc_enter_self(const struct ct_cgroup *cg, bool born_in_unified, struct vs_err *err)
{
	bool unified_too = !born_in_unified && cg->layout != CT_CGROUP_V1;
	return ct_cgroup_enter_self(cg, unified_too, err);
}
