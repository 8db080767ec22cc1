/*
 * operation.c - operations (operation.h): a registry of refcounted
 * operations under one mutex, each run on a detached thread.  The registry
 * holds one reference; a finished operation is dropped from it after
 * KEEP_SECONDS (pruned when new ones start) so that late waiters still find
 * it.  mgr_ops_free cancels what runs and waits for the threads to end.
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "vessel/mgr/events.h"
#include "vessel/mgr/instance.h"
#include "vessel/mgr/operation.h"

#define KEEP_SECONDS 300
#define KEEP_MAX     4096

struct mgr_op {
	struct mgr_ops *ops;
	struct mgr_op *next; /* registry list */
	unsigned refs;
	char id[37];
	char *description;
	enum mgr_op_status status;
	char created_at[32], updated_at[32];
	time_t finished; /* monotonic seconds, 0 while not done */
	struct json_object *resources;
	struct json_object *metadata;
	char err[VS_ERR_MSG_MAX];
	int err_code;
	bool may_cancel, cancel;
	mgr_op_fn fn;
	void *arg;
	void (*free_arg)(void *);
};

struct mgr_ops {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* any operation changed */
	struct mgr_op *list;
	unsigned running;
	struct mgr_events *events;
};

static time_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

const char *mgr_op_status_name(enum mgr_op_status s)
{
	static const char *const names[] = { "Pending", "Running", "Success", "Failure",
					     "Cancelled" };
	return names[s];
}

static int status_code(enum mgr_op_status s)
{
	static const int codes[] = { 105, 103, 200, 400, 401 };
	return codes[s];
}

struct mgr_ops *mgr_ops_new(struct mgr_events *events)
{
	struct mgr_ops *ops = calloc(1, sizeof(*ops));
	if (!ops)
		return NULL;
	pthread_mutex_init(&ops->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ops->cond, &ca);
	pthread_condattr_destroy(&ca);
	ops->events = events;
	return ops;
}

static void op_free(struct mgr_op *op)
{
	free(op->description);
	json_object_put(op->resources);
	json_object_put(op->metadata);
	free(op);
}

/* Holding ops->lock. */
static void put_locked(struct mgr_op *op)
{
	if (--op->refs == 0)
		op_free(op);
}

void mgr_op_put(struct mgr_op *op)
{
	if (!op)
		return;
	struct mgr_ops *ops = op->ops;
	pthread_mutex_lock(&ops->lock);
	put_locked(op);
	pthread_mutex_unlock(&ops->lock);
}

void mgr_ops_free(struct mgr_ops *ops)
{
	if (!ops)
		return;
	pthread_mutex_lock(&ops->lock);
	for (struct mgr_op *op = ops->list; op; op = op->next)
		if (op->may_cancel)
			op->cancel = true;
	while (ops->running)
		pthread_cond_wait(&ops->cond, &ops->lock);
	while (ops->list) {
		struct mgr_op *op = ops->list;
		ops->list = op->next;
		put_locked(op);
	}
	pthread_mutex_unlock(&ops->lock);
	pthread_cond_destroy(&ops->cond);
	pthread_mutex_destroy(&ops->lock);
	free(ops);
}

const char *mgr_op_id(const struct mgr_op *op)
{
	return op->id;
}

/* Holding the lock: the JSON of op. */
static struct json_object *to_json_locked(struct mgr_op *op)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(op->id));
	json_object_object_add(o, "class", json_object_new_string("task"));
	json_object_object_add(o, "description", json_object_new_string(op->description));
	json_object_object_add(o, "created_at", json_object_new_string(op->created_at));
	json_object_object_add(o, "updated_at", json_object_new_string(op->updated_at));
	json_object_object_add(o, "status", json_object_new_string(mgr_op_status_name(op->status)));
	json_object_object_add(o, "status_code", json_object_new_int(status_code(op->status)));
	json_object_object_add(o, "resources", json_object_get(op->resources));
	json_object_object_add(o, "metadata", op->metadata ? json_object_get(op->metadata) : NULL);
	json_object_object_add(o, "may_cancel", json_object_new_boolean(op->may_cancel));
	json_object_object_add(o, "err", json_object_new_string(op->err));
	json_object_object_add(o, "location", json_object_new_string("none"));
	return o;
}

struct json_object *mgr_op_to_json(struct mgr_op *op)
{
	pthread_mutex_lock(&op->ops->lock);
	struct json_object *o = to_json_locked(op);
	pthread_mutex_unlock(&op->ops->lock);
	return o;
}

/* Holding the lock: stamp, wake waiters and emit an operation event. */
static void changed_locked(struct mgr_op *op)
{
	mgr_timestamp(op->updated_at, sizeof(op->updated_at));
	pthread_cond_broadcast(&op->ops->cond);
	mgr_events_emit(op->ops->events, "operation", to_json_locked(op));
}

/* The operation the calling thread works for (mgr_op_progress). */
static __thread struct mgr_op *current_op;

void mgr_op_progress(const char *stage, unsigned percent)
{
	if (!current_op)
		return;
	struct json_object *md = json_object_new_object();
	json_object_object_add(md, "stage", json_object_new_string(stage));
	json_object_object_add(md, "progress",
			       json_object_new_int(percent > 100 ? 100 : (int)percent));
	mgr_op_set_metadata(current_op, md);
}

static void *op_thread(void *p)
{
	struct mgr_op *op = p;
	struct mgr_ops *ops = op->ops;
	pthread_mutex_lock(&ops->lock);
	op->status = MGR_OP_RUNNING;
	changed_locked(op);
	pthread_mutex_unlock(&ops->lock);

	struct vs_err err = VS_ERR_INIT;
	current_op = op;
	int r = op->fn(op, op->arg, &err);
	current_op = NULL;
	if (op->free_arg)
		op->free_arg(op->arg);

	pthread_mutex_lock(&ops->lock);
	if (r == 0) {
		op->status = MGR_OP_SUCCESS;
	} else if (r == -ECANCELED) {
		op->status = MGR_OP_CANCELLED;
		snprintf(op->err, sizeof(op->err), "%s", err.msg[0] ? err.msg : "cancelled");
	} else {
		op->status = MGR_OP_FAILURE;
		op->err_code = -r;
		snprintf(op->err, sizeof(op->err), "%s", err.msg[0] ? err.msg : "failed");
	}
	op->finished = mono_s();
	changed_locked(op);
	ops->running--;
	put_locked(op);
	pthread_cond_broadcast(&ops->cond);
	pthread_mutex_unlock(&ops->lock);
	return NULL;
}

static void make_uuid(char out[37])
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)out;
		for (int i = 0; i < 16; i++)
			b[i] = (unsigned char)(t >> (i % 8 * 8)) ^ (unsigned char)rand();
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

/* Holding the lock: drop finished operations past their keep time. */
static void prune_locked(struct mgr_ops *ops)
{
	time_t now = mono_s();
	unsigned n = 0;
	for (struct mgr_op **p = &ops->list; *p;) {
		struct mgr_op *op = *p;
		n++;
		if (op->finished && (now - op->finished > KEEP_SECONDS || n > KEEP_MAX)) {
			*p = op->next;
			put_locked(op);
		} else {
			p = &op->next;
		}
	}
}

struct mgr_op *mgr_op_start(struct mgr_ops *ops, const char *description,
			    struct json_object *resources, bool may_cancel, mgr_op_fn fn, void *arg,
			    void (*free_arg)(void *), struct vs_err *err)
{
	struct mgr_op *op = calloc(1, sizeof(*op));
	if (!op || !(op->description = strdup(description))) {
		free(op);
		json_object_put(resources);
		if (free_arg)
			free_arg(arg);
		vs_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	op->ops = ops;
	op->refs = 3; /* registry, thread, caller */
	make_uuid(op->id);
	mgr_timestamp(op->created_at, sizeof(op->created_at));
	snprintf(op->updated_at, sizeof(op->updated_at), "%s", op->created_at);
	op->resources = resources ? resources : json_object_new_object();
	op->may_cancel = may_cancel;
	op->fn = fn;
	op->arg = arg;
	op->free_arg = free_arg;

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&ops->lock);
	prune_locked(ops);
	op->next = ops->list;
	ops->list = op;
	ops->running++;
	mgr_events_emit(ops->events, "operation", to_json_locked(op));
	pthread_t t;
	int rc = pthread_create(&t, &attr, op_thread, op);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		ops->running--;
		ops->list = op->next;
		op->refs = 1;
		pthread_mutex_unlock(&ops->lock);
		if (free_arg)
			free_arg(arg);
		mgr_op_put(op);
		vs_errf(err, rc, "start operation thread: %s", strerror(rc));
		return NULL;
	}
	pthread_mutex_unlock(&ops->lock);
	return op;
}

struct mgr_op *mgr_ops_get(struct mgr_ops *ops, const char *id)
{
	pthread_mutex_lock(&ops->lock);
	struct mgr_op *op = ops->list;
	while (op && strcmp(op->id, id) != 0)
		op = op->next;
	if (op)
		op->refs++;
	pthread_mutex_unlock(&ops->lock);
	return op;
}

bool mgr_op_wait(struct mgr_op *op, int timeout_ms)
{
	struct mgr_ops *ops = op->ops;
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	if (timeout_ms >= 0) {
		dl.tv_sec += timeout_ms / 1000;
		dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&ops->lock);
	while (!op->finished) {
		if (timeout_ms < 0)
			pthread_cond_wait(&ops->cond, &ops->lock);
		else if (pthread_cond_timedwait(&ops->cond, &ops->lock, &dl) == ETIMEDOUT)
			break;
	}
	bool done = op->finished != 0;
	pthread_mutex_unlock(&ops->lock);
	return done;
}

int mgr_op_cancel(struct mgr_op *op, struct vs_err *err)
{
	int r = 0;
	pthread_mutex_lock(&op->ops->lock);
	if (op->finished)
		r = vs_errf(err, EALREADY, "operation %s has already finished", op->id);
	else if (!op->may_cancel)
		r = vs_errf(err, EPERM, "operation %s cannot be cancelled", op->id);
	else
		op->cancel = true;
	pthread_mutex_unlock(&op->ops->lock);
	return r;
}

bool mgr_op_cancelled(struct mgr_op *op)
{
	pthread_mutex_lock(&op->ops->lock);
	bool c = op->cancel;
	pthread_mutex_unlock(&op->ops->lock);
	return c;
}

void mgr_op_set_metadata(struct mgr_op *op, struct json_object *metadata)
{
	pthread_mutex_lock(&op->ops->lock);
	json_object_put(op->metadata);
	op->metadata = metadata;
	changed_locked(op);
	pthread_mutex_unlock(&op->ops->lock);
}

struct json_object *mgr_ops_list_json(struct mgr_ops *ops)
{
	struct json_object *a = json_object_new_array();
	pthread_mutex_lock(&ops->lock);
	prune_locked(ops);
	for (struct mgr_op *op = ops->list; op; op = op->next)
		json_object_array_add(a, to_json_locked(op));
	pthread_mutex_unlock(&ops->lock);
	return a;
}
