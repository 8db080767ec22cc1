/*
 * api_certificates.c - /1.0/certificates: the trust store of the TLS
 * listener.  Listing and removing are open to every served caller (a
 * trusted TLS client may drop a certificate, as in Incus); adding is
 * only for root (or the daemon's user) on the unix socket, so a remote
 * caller can never widen the trust it came in with.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api_internal.h"
#include "vessel/mgr/trust.h"

void api_get_certificates(struct api_request *req, struct api_response *res)
{
	struct json_object *list;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_trust_list(mgr_get_db(req->m), &list, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	const char *rec = api_query(req, "recursion");
	if (rec && strcmp(rec, "0") != 0) {
		api_sync(res, list);
		return;
	}
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		char url[128];
		snprintf(url, sizeof(url), "/1.0/certificates/%s",
			 json_object_get_string(json_object_object_get(
			     json_object_array_get_idx(list, i), "fingerprint")));
		json_object_array_add(a, json_object_new_string(url));
	}
	json_object_put(list);
	api_sync(res, a);
}

void api_post_certificates(struct api_request *req, struct api_response *res)
{
	static const char *const keys[] = { "certificate", "name", "type", NULL };
	struct vs_err err = VS_ERR_INIT;
	const char *pem = NULL, *name = NULL, *type = NULL;
	if (api_json_keys(req->body, "request", keys, &err) < 0 ||
	    api_json_string(req->body, "certificate", &pem, &err) < 0 ||
	    api_json_string(req->body, "name", &name, &err) < 0 ||
	    api_json_string(req->body, "type", &type, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	if (req->tls || (req->uid != 0 && req->uid != geteuid())) {
		api_error(res, 403, "certificates are added by root on the unix socket only");
		return;
	}
	if (!pem) {
		api_error(res, 400, "\"certificate\" (PEM) is required");
		return;
	}
	if (type && strcmp(type, "client") != 0) {
		api_error(res, 400, "\"type\": only \"client\" certificates are supported");
		return;
	}
	char fp[MGR_FINGERPRINT_LEN + 1];
	if (mgr_trust_add(mgr_get_db(req->m), pem, name ? name : "client", fp, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	struct json_object *o;
	if (mgr_trust_get(mgr_get_db(req->m), fp, &o, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, o);
}

void api_get_certificate(struct api_request *req, struct api_response *res)
{
	struct json_object *o;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_trust_get(mgr_get_db(req->m), req->params[0], &o, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, o);
}

void api_delete_certificate(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	if (mgr_trust_remove(mgr_get_db(req->m), req->params[0], &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, json_object_new_object());
}
