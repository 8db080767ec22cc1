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
	api_sync_listing(req, res, list, "/1.0/certificates/", "fingerprint");
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
