/*
 * fuzz_api.c - fuzz target for the control API's request parsing
 * (lib/vm/api: api_request_parse, i.e. the JSON body and every route's
 * typed-request parser).  libFuzzer entry point; replay_main.c replays the
 * corpus with mutations.
 *
 * Input: byte 0 selects the route (index modulo the route table), the rest
 * is the request body.  Checks: a parse either succeeds with a JSON object
 * body or fails with a 4xx/5xx JSON error; never crashes or leaks.
 */
#include <stdint.h>
#include <stdlib.h>

#include "api_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const struct api_route *rt = &vm_api_routes[data[0] % vm_api_nroutes];
	struct api_request req;
	struct api_response resp = { 0 };
	int r = api_request_parse(rt, (const char *)data + 1, size - 1, &req, &resp);
	if (r == 0) {
		if (size > 1 && !json_object_is_type(req.body, json_type_object))
			abort();
		if (resp.status != 0)
			abort();
	} else {
		if (resp.status < 400 || !resp.json || req.body)
			abort();
	}
	json_object_put(req.body);
	json_object_put(resp.json);
	free(resp.text);
	return 0;
}
