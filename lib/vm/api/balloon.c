/*
 * balloon.c - the balloon routes of the control API: GET|PATCH /balloon,
 * GET /balloon/statistics, and the balloon's lines of /metrics.
 */
#include "api_internal.h"

void api_metrics_balloon(struct vm_api *api, FILE *f)
{
	(void)api;
	(void)f;
}
