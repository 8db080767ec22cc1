/*
 * api_usage.c - the usage routes: an instance's usage history, the
 * Prometheus exposition and the right-sizing advice (lib/mgr/usage*.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "vessel/mgr/usage.h"

/* GET /1.0/instances/{name}/usage?window=1h|1d|30d|1y */
void api_get_instance_usage(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	struct json_object *o = NULL;
	if (mgr_usage_json(req->m, req->params[0], api_query(req, "window"), &o, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, o);
}

/* GET /1.0/metrics: text/plain; version=0.0.4 */
void api_get_metrics(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	char *text = NULL;
	size_t len = 0;
	if (mgr_usage_metrics(req->m, &text, &len, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	res->stream = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!res->stream) {
		free(text);
		api_error(res, 500, "out of memory");
		return;
	}
	MHD_add_response_header(res->stream, "Content-Type", "text/plain; version=0.0.4");
}

/* GET /1.0/advice[?instance=NAME] */
void api_get_advice(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	struct json_object *o = NULL;
	if (mgr_advice_json(req->m, api_query(req, "instance"), &o, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, o);
}

/* POST /1.0/instances/{name}/advice/apply: the instance's limit advice, live */
void api_post_instance_advice_apply(struct api_request *req, struct api_response *res)
{
	struct vs_err err = VS_ERR_INIT;
	if (req->body) {
		static const char *const none[] = { NULL };
		if (api_json_keys(req->body, "advice apply", none, &err) < 0) {
			api_error_from(res, &err);
			return;
		}
	}
	struct json_object *applied = NULL;
	if (mgr_advice_apply(req->m, req->params[0], &applied, &err) < 0) {
		api_error_from(res, &err);
		return;
	}
	api_sync(res, applied);
}
