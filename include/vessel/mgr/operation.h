/*
 * operation.h - long work as operations (Incus's model): each runs on its
 * own thread, has a UUID, a status (Pending, Running, Success, Failure,
 * Cancelled), the resources it touches, metadata (progress, results) and
 * an error.  Clients wait on one (with a timeout) or cancel it; the work
 * function polls mgr_op_cancelled() at its safe points.
 *
 * Operations live in memory only: a vesseld restart forgets them, and the
 * reconciliation at start-up (manager.c) repairs any half-done instance
 * work.  Finished operations are kept for a while so that a client that
 * asks after the end still gets the result, then dropped.
 */
#ifndef VESSEL_MGR_OPERATION_H
#define VESSEL_MGR_OPERATION_H

#include <json-c/json.h>
#include <stdbool.h>

#include "vessel/core/err.h"

struct mgr_events;
struct mgr_ops;
struct mgr_op;

enum mgr_op_status {
	MGR_OP_PENDING,
	MGR_OP_RUNNING,
	MGR_OP_SUCCESS,
	MGR_OP_FAILURE,
	MGR_OP_CANCELLED,
};

/* The work: returns 0 or a negative errno with err filled. */
typedef int (*mgr_op_fn)(struct mgr_op *op, void *arg, struct vs_err *err);

struct mgr_ops *mgr_ops_new(struct mgr_events *events);
/* Waits for running operations to end (after cancelling them). */
void mgr_ops_free(struct mgr_ops *ops);

/*
 * Start work on a new thread.  resources: a JSON object such as
 * {"instances":["/1.0/instances/c1"]} (taken over).  free_arg releases arg
 * after fn returns.  Returns a reference (mgr_op_put it) or NULL.
 */
struct mgr_op *mgr_op_start(struct mgr_ops *ops, const char *description,
			    struct json_object *resources, bool may_cancel, mgr_op_fn fn, void *arg,
			    void (*free_arg)(void *), struct vs_err *err);
/* A new reference by ID (NULL if unknown). */
struct mgr_op *mgr_ops_get(struct mgr_ops *ops, const char *id);
void mgr_op_put(struct mgr_op *op);
const char *mgr_op_id(const struct mgr_op *op);

/* Wait until done or timeout_ms passed (-1: forever); true when done. */
bool mgr_op_wait(struct mgr_op *op, int timeout_ms);
/* Ask the work to stop: EPERM when it cannot be cancelled, EALREADY when done. */
int mgr_op_cancel(struct mgr_op *op, struct vs_err *err);
bool mgr_op_cancelled(struct mgr_op *op);
/* Replace the metadata object (taken over); emits an operation event. */
void mgr_op_set_metadata(struct mgr_op *op, struct json_object *metadata);
/*
 * Progress of the operation the calling thread is running (its metadata
 * becomes {"stage": stage, "progress": percent}); a no-op on any other
 * thread, so deep code (a driver's copy) can report without an op handle.
 */
void mgr_op_progress(const char *stage, unsigned percent);
/* Incus operation JSON (new object). */
struct json_object *mgr_op_to_json(struct mgr_op *op);
/* All operations as JSON objects (an array). */
struct json_object *mgr_ops_list_json(struct mgr_ops *ops);

const char *mgr_op_status_name(enum mgr_op_status s);

#endif
