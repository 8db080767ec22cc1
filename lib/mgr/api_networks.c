/*
 * api_networks.c - /1.0/networks: list, create ({"name", "subnet",
 * "nat", "isolated"}, strictly parsed), show, delete.  Network changes
 * are quick (a bridge, a dnsmasq, a few rules) and answered synchronously.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "vessel/mgr/network.h"

static struct json_object *network_json(const struct mgr_network *n)
{
	struct json_object *o = json_object_new_object();
	char gw[16];
	mgr_ip_format(n->net + 1, gw);
	json_object_object_add(o, "name", json_object_new_string(n->name));
	json_object_object_add(o, "type", json_object_new_string("bridge"));
	json_object_object_add(o, "bridge", json_object_new_string(n->bridge));
	json_object_object_add(o, "subnet", json_object_new_string(n->subnet));
	json_object_object_add(o, "gateway", json_object_new_string(gw));
	json_object_object_add(o, "nat", json_object_new_boolean(n->nat));
	json_object_object_add(o, "isolated", json_object_new_boolean(n->isolated));
	json_object_object_add(o, "created_at", json_object_new_string(n->created_at));
	return o;
}

void api_get_networks(struct api_request *req, struct api_response *res)
{
	struct mgr_network *list;
	size_t n;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_network_list(mgr_get_db(req->m), &list, &n, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	bool full = api_recursion(req);
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		if (full) {
			json_object_array_add(a, network_json(&list[i]));
		} else {
			char url[128];
			snprintf(url, sizeof(url), "/1.0/networks/%s", list[i].name);
			json_object_array_add(a, json_object_new_string(url));
		}
	}
	free(list);
	api_sync(res, a);
}

void api_post_networks(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = {
		"name", "subnet", "nat", "isolated", "description", NULL
	};
	struct vs_err err = VS_ERR_INIT;
	const char *name = NULL, *subnet = NULL, *desc = NULL;
	bool nat = true, isolated = false;
	if (api_json_keys(req->body, "request", keys, &err) < 0 ||
	    api_json_string(req->body, "name", &name, &err) < 0 ||
	    api_json_string(req->body, "subnet", &subnet, &err) < 0 ||
	    api_json_string(req->body, "description", &desc, &err) < 0 ||
	    api_json_bool(req->body, "nat", &nat, &err) < 0 ||
	    api_json_bool(req->body, "isolated", &isolated, &err) < 0)
		goto bad;
	if (!name) {
		vs_errf(&err, EINVAL, "\"name\" is required");
		goto bad;
	}
	if (isolated && nat && json_object_object_get_ex(req->body, "nat", NULL)) {
		vs_errf(&err, EINVAL, "a network cannot be both isolated and NATed");
		goto bad;
	}
	if (subnet) {
		uint32_t net;
		unsigned prefix;
		if (mgr_network_subnet_parse(subnet, &net, &prefix, &err) < 0)
			goto bad;
	}
	struct mgr_network existing;
	if (mgr_network_get(mgr_get_db(req->m), name, &existing, NULL) == 0) {
		vs_errf(&err, EEXIST, "network %s already exists", name);
		goto bad;
	}
	if (mgr_network_create(req->m, name, subnet, nat, isolated, &err) < 0)
		goto bad;
	struct mgr_network n;
	if (mgr_network_get(mgr_get_db(req->m), name, &n, &err) < 0)
		goto bad;
	api_sync(res, network_json(&n));
	return;
bad:
	api_error_from(res, &err);
}

void api_get_network(struct api_request *req, struct api_response *res)
{
	struct mgr_network n;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_network_get(mgr_get_db(req->m), req->params[0], &n, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, network_json(&n));
}

void api_delete_network(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	if (mgr_network_delete(req->m, req->params[0], &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, json_object_new_object());
}
