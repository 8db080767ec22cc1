/*
 * api_policy.c - the lifecycle routes (policy.h): project policies,
 * sprawl and prune, and the audit log with its verification.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "vessel/core/cleanup.h"
#include "vessel/mgr/policy.h"

/* ---- /1.0/projects/NAME/policy ---- */

void api_get_project_policy(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	struct json_object *o;
	if (mgr_policy_get_json(req->m, req->params[0], &o, &err) < 0)
		api_error_from(res, &err);
	else
		api_sync(res, o);
}

void api_put_project_policy(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "config", NULL };
	struct vs_err err = VS_ERR_INIT;
	struct json_object *cfg = NULL;
	vs_cleanup_free struct mgr_config_entry *v = NULL;
	size_t n = 0, i = 0;
	if (api_json_keys(req->body, "request", keys, &err) < 0)
		goto bad;
	if (!json_object_object_get_ex(req->body, "config", &cfg) ||
	    !json_object_is_type(cfg, json_type_object)) {
		vs_errf(&err, EINVAL, "\"config\": expected an object of policy keys");
		goto bad;
	}
	n = (size_t)json_object_object_length(cfg);
	if (n > 64) {
		vs_errf(&err, EINVAL, "\"config\": more than 64 keys");
		goto bad;
	}
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		vs_errf(&err, ENOMEM, "out of memory");
		goto bad;
	}
	json_object_object_foreach(cfg, key, val)
	{
		if (!val || !json_object_is_type(val, json_type_string)) {
			vs_errf(&err, EINVAL, "policy %.64s: expected a string value", key);
			goto bad;
		}
		v[i].key = key;
		v[i].value = (char *)json_object_get_string(val);
		i++;
	}
	if (mgr_policy_put(req->m, req->params[0], v, n, &err) < 0)
		goto bad;
	struct json_object *o;
	if (mgr_policy_get_json(req->m, req->params[0], &o, &err) < 0)
		goto bad;
	api_sync(res, o);
	return;
bad:
	api_error_from(res, &err);
}

/* ---- /1.0/sprawl, /1.0/prune ---- */

void api_get_sprawl(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	struct json_object *o;
	if (mgr_sprawl(req->m, &o, &err) < 0)
		api_error_from(res, &err);
	else
		api_sync(res, o);
}

void api_post_prune(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "dry_run", NULL };
	struct vs_err err = VS_ERR_INIT;
	bool dry = false;
	struct json_object *o;
	if ((req->body && api_json_keys(req->body, "request", keys, &err) < 0) ||
	    api_json_bool(req->body, "dry_run", &dry, &err) < 0 ||
	    mgr_prune(req->m, dry, &o, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, o);
}

/* ---- /1.0/audit ---- */

void api_get_audit(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	struct json_object *o;
	if (mgr_audit_list(req->m, api_query(req, "since"), api_query(req, "instance"), &o, &err) <
	    0)
		api_error_from(res, &err);
	else
		api_sync(res, o);
}

void api_get_audit_verify(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	struct json_object *o;
	if (mgr_audit_verify(req->m, &o, &err) < 0)
		api_error_from(res, &err);
	else
		api_sync(res, o);
}
