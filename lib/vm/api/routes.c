/*
 * routes.c - the route table of the control API and the VM routes
 * (GET /vm, PUT /vm/state, PUT /actions).  docs/api/vessel-vmm.yaml
 * documents every row; tests/integration/vm/guest/test_api.py checks that
 * the two agree.
 *
 * To add a route: write parse (body -> typed fields of struct api_request),
 * optionally check (extra legality rule, 409) and exec_safepoint and/or
 * exec, add one row below, and document it in the YAML.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

/* ---- GET /vm --------------------------------------------------------------- */

static struct json_object *vm_config_json(const struct virt_config *c, bool hart_threads)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "vcpus", json_object_new_int(c->ncpus));
	json_object_object_add(o, "hart_threads", json_object_new_boolean(hart_threads));
	json_object_object_add(o, "mem_bytes", json_object_new_int64((int64_t)c->ram_size));
	json_object_object_add(o, "kernel", c->kernel ? json_object_new_string(c->kernel) : NULL);
	json_object_object_add(o, "initrd", c->initrd ? json_object_new_string(c->initrd) : NULL);
	json_object_object_add(o, "cmdline", c->append ? json_object_new_string(c->append) : NULL);
	struct json_object *disks = json_object_new_array();
	for (unsigned i = 0; i < c->ndisks; i++) {
		struct json_object *d = json_object_new_object();
		json_object_object_add(d, "path", json_object_new_string(c->disks[i].path));
		json_object_object_add(d, "readonly",
				       json_object_new_boolean(c->disks[i].readonly));
		json_object_array_add(disks, d);
	}
	json_object_object_add(o, "disks", disks);
	json_object_object_add(o, "tap", c->nnets ? json_object_new_string(c->nets[0].tap) : NULL);
	struct json_object *taps = json_object_new_array();
	for (unsigned i = 0; i < c->nnets; i++)
		json_object_array_add(taps, json_object_new_string(c->nets[i].tap));
	json_object_object_add(o, "taps", taps);
	json_object_object_add(o, "balloon", json_object_new_boolean(c->balloon));
	return o;
}

static void vm_get_exec(struct vm_api *api, struct api_request *req, struct api_response *resp)
{
	struct vm_machine_stats st;
	vm_machine_stats(api->m, &st);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "state",
			       json_object_new_string(api_vm_state_name(api_vm_state(api))));
	json_object_object_add(
	    o, "config",
	    vm_config_json(virt_board_config(api->board), vm_machine_hart_threads(api->m)));
	json_object_object_add(o, "uptime_s", json_object_new_double(st.uptime_ns / 1e9));
	json_object_object_add(o, "paused_s", json_object_new_double(st.paused_ns / 1e9));
	json_object_object_add(o, "guest_time_s",
			       json_object_new_double((double)st.mtime / VM_TIMEBASE_HZ));
	struct json_object *harts = json_object_new_array();
	for (unsigned k = 0; k < st.nharts; k++) {
		const struct vm_hart_stats *h = &st.harts[k];
		struct json_object *j = json_object_new_object();
		json_object_object_add(j, "id", json_object_new_int((int)k));
		json_object_object_add(j, "busy_s", json_object_new_double(h->busy_ns / 1e9));
		json_object_object_add(j, "idle_s", json_object_new_double(h->idle_ns / 1e9));
		json_object_object_add(j, "exits", json_object_new_int64((int64_t)h->slices));
		json_object_object_add(j, "instret", json_object_new_int64((int64_t)h->instret));
		json_object_array_add(harts, j);
	}
	json_object_object_add(o, "harts", harts);
	api_respond_json(resp, 200, o);
}

/* ---- PUT /vm/state ---------------------------------------------------------------- */

static int vm_state_parse(struct api_request *req, struct vs_err *err)
{
	static const char *const keys[] = { "state", NULL };
	const char *s;
	int r = api_body_only_keys(req->body, keys, err);
	if (r == 0)
		r = api_body_string(req->body, "state", &s, err);
	if (r < 0)
		return r;
	if (strcmp(s, "running") == 0)
		req->u.vm_state.state = API_VM_RUNNING;
	else if (strcmp(s, "paused") == 0)
		req->u.vm_state.state = API_VM_PAUSED;
	else
		return vs_errf(err, EINVAL, "state '%s': expected \"running\" or \"paused\"", s);
	return 0;
}

static int vm_state_check(struct vm_api *api, const struct api_request *req, struct vs_err *err)
{
	enum api_vm_state cur = api_vm_state(api);
	if (cur == req->u.vm_state.state)
		return vs_errf(err, EALREADY, "the VM is already %s", api_vm_state_name(cur));
	return 0;
}

static void vm_state_exec(struct vm_api *api, struct api_request *req, struct api_response *resp)
{
	if (req->u.vm_state.state == API_VM_PAUSED)
		vm_machine_pause(api->m);
	else
		vm_machine_resume(api->m);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "state",
			       json_object_new_string(api_vm_state_name(api_vm_state(api))));
	api_respond_json(resp, 200, o);
}

/* ---- PUT /actions ---------------------------------------------------------------------- */

static int actions_parse(struct api_request *req, struct vs_err *err)
{
	static const char *const keys[] = { "action", NULL };
	const char *s;
	int r = api_body_only_keys(req->body, keys, err);
	if (r == 0)
		r = api_body_string(req->body, "action", &s, err);
	if (r < 0)
		return r;
	if (strcmp(s, "poweroff") == 0)
		req->u.action.action = API_ACTION_POWEROFF;
	else if (strcmp(s, "reset") == 0)
		req->u.action.action = API_ACTION_RESET;
	else if (strcmp(s, "shutdown") == 0)
		req->u.action.action = API_ACTION_SHUTDOWN;
	else
		return vs_errf(err, EINVAL,
			       "action '%s': expected \"poweroff\", \"reset\" or \"shutdown\"", s);
	return 0;
}

static int actions_check(struct vm_api *api, const struct api_request *req, struct vs_err *err)
{
	/* The guest must run to act on a shutdown request. */
	if (req->u.action.action == API_ACTION_SHUTDOWN && api_vm_state(api) == API_VM_PAUSED)
		return vs_errf(err, EAGAIN,
			       "a shutdown request needs a running guest (the VM is paused)");
	return 0;
}

static void actions_exec(struct vm_api *api, struct api_request *req, struct api_response *resp)
{
	struct vs_err err = VS_ERR_INIT;
	const char *done = NULL;
	switch (req->u.action.action) {
	case API_ACTION_POWEROFF:
		vm_machine_request_exit(api->m, VM_EXIT_POWEROFF, VM_EXIT_CODE_HOST);
		done = "powering off";
		break;
	case API_ACTION_RESET:
		if (virt_board_reset(api->board, &err) < 0) {
			api_respond_error(resp, 500, "reset: %s", err.msg);
			return;
		}
		done = "reset";
		break;
	case API_ACTION_SHUTDOWN:
		if (virt_board_request_shutdown(api->board, &err) < 0) {
			api_respond_error(resp, 409, "%s", err.msg);
			return;
		}
		done = "shutdown requested (Ctrl-Alt-Del sent to the guest)";
		break;
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "result", json_object_new_string(done));
	api_respond_json(resp, 200, o);
}

/* ---- the table ---------------------------------------------------------------------------- */

const struct api_route vm_api_routes[] = {
	{ "GET", "/vm", API_VM_ANY, false, NULL, NULL, vm_get_exec, NULL },
	{ "PUT", "/vm/state", API_VM_ANY, true, vm_state_parse, vm_state_check, vm_state_exec,
	  NULL },
	{ "PUT", "/actions", API_VM_ANY, true, actions_parse, actions_check, actions_exec, NULL },
	{ "GET", "/balloon", API_VM_ANY, false, NULL, NULL, api_balloon_get, NULL },
	{ "PATCH", "/balloon", API_VM_ANY, true, api_balloon_patch_parse, NULL, api_balloon_patch,
	  NULL },
	{ "GET", "/balloon/statistics", API_VM_ANY, false, NULL, NULL, api_balloon_stats_request,
	  api_balloon_stats_reply },
	{ "GET", "/metrics", API_VM_ANY, false, NULL, NULL, api_metrics_exec, NULL },
	/* snapshots and migration (snapshot.c, migrate.c) */
	{ "PUT", "/snapshot/create", API_VM_ANY, true, api_snapshot_create_parse, NULL,
	  api_snapshot_create_exec, NULL },
	{ "PUT", "/snapshot/load", API_VM_ANY, true, api_snapshot_load_parse, NULL,
	  api_snapshot_load_exec, NULL },
	{ "PUT", "/snapshot/delete", API_VM_ANY, true, api_snapshot_delete_parse, NULL,
	  api_snapshot_delete_exec, NULL },
	{ "PUT", "/migrate", API_VM_RUNNING, true, api_migrate_parse, NULL, NULL,
	  api_migrate_start },
	{ "GET", "/migrate", API_VM_ANY, false, NULL, NULL, NULL, api_migrate_get },
};

const unsigned vm_api_nroutes = sizeof(vm_api_routes) / sizeof(vm_api_routes[0]);
