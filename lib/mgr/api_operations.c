/*
 * api_operations.c - /1.0/operations (list, show, wait, cancel) and the
 * /1.0/events stream: newline-delimited JSON objects, one per event,
 * written as they happen on a response of unknown length (chunked), with
 * an empty line every 15 s of silence so a dead client is noticed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

void api_get_operations(struct api_request *req, struct api_response *res)
{
	api_sync_listing(req, res, mgr_ops_list_json(mgr_get_ops(req->m)), "/1.0/operations/",
			 "id");
}

static struct mgr_op *find(struct api_request *req, struct api_response *res)
{
	struct mgr_op *op = mgr_ops_get(mgr_get_ops(req->m), req->params[0]);
	if (!op)
		api_error(res, 404, "operation %.64s not found", req->params[0]);
	return op;
}

void api_get_operation(struct api_request *req, struct api_response *res)
{
	struct mgr_op *op = find(req, res);
	if (!op)
		return;
	api_sync(res, mgr_op_to_json(op));
	mgr_op_put(op);
}

void api_get_operation_wait(struct api_request *req, struct api_response *res)
{
	const char *t = api_query(req, "timeout");
	long timeout = -1;
	if (t) {
		char *end;
		timeout = strtol(t, &end, 10);
		if (*end || !*t || timeout < -1 || timeout > 86400) {
			api_error(res, 400, "timeout: expected -1 to 86400 seconds");
			return;
		}
	}
	struct mgr_op *op = find(req, res);
	if (!op)
		return;
	mgr_op_wait(op, timeout < 0 ? -1 : (int)(timeout * 1000));
	api_sync(res, mgr_op_to_json(op));
	mgr_op_put(op);
}

void api_delete_operation(struct api_request *req, struct api_response *res)
{
	struct mgr_op *op = find(req, res);
	if (!op)
		return;
	struct vs_err err = VS_ERR_INIT;
	if (mgr_op_cancel(op, &err) < 0)
		api_error_from(res, &err);
	else
		api_sync(res, json_object_new_object());
	mgr_op_put(op);
}

struct stream {
	struct mgr_events *ev;
	struct mgr_listener *l;
	char *pending;
	size_t off, len;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	while (!s->pending) {
		bool closed;
		s->pending = mgr_listener_next(s->ev, s->l, 15000, &closed);
		if (closed)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (!s->pending)
			s->pending = strdup("\n");
		if (!s->pending)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		s->off = 0;
		s->len = strlen(s->pending);
	}
	size_t n = s->len - s->off < max ? s->len - s->off : max;
	memcpy(buf, s->pending + s->off, n);
	s->off += n;
	if (s->off == s->len) {
		free(s->pending);
		s->pending = NULL;
	}
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;
	mgr_events_unlisten(s->ev, s->l);
	free(s->pending);
	free(s);
}

void api_get_events(struct api_request *req, struct api_response *res)
{
	const char *types = api_query(req, "type");
	if (types) {
		for (const char *p = types; *p; p++)
			if (!strchr("abcdefghijklmnopqrstuvwxyz-,", *p)) {
				api_error(res, 400, "type: a comma-separated list of event types");
				return;
			}
		if (strlen(types) > 100) {
			api_error(res, 400, "type: too long");
			return;
		}
	}
	struct stream *s = calloc(1, sizeof(*s));
	if (!s) {
		api_error(res, 500, "out of memory");
		return;
	}
	s->ev = mgr_get_events(req->m);
	s->l = mgr_events_listen(s->ev, types);
	if (!s->l) {
		free(s);
		api_error(res, 500, "out of memory");
		return;
	}
	res->stream =
	    MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
	if (!res->stream) {
		stream_free(s);
		api_error(res, 500, "cannot stream events");
		return;
	}
	MHD_add_response_header(res->stream, "Content-Type", "application/json-seq");
}
