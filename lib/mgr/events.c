/*
 * events.c - broadcast of events to /1.0/events listeners (events.h).
 * Each listener owns a ring of at most QUEUE_MAX event lines; emit copies
 * the line into every matching ring under one mutex and wakes waiters.
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vessel/mgr/events.h"
#include "vessel/mgr/instance.h"

#define QUEUE_MAX 1024

struct mgr_listener {
	struct mgr_listener *next;
	char types[128]; /* ",lifecycle,operation," or "" for all */
	char *queue[QUEUE_MAX];
	unsigned head, count;
	unsigned long dropped;
};

struct mgr_events {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct mgr_listener *listeners;
	bool shutdown;
};

struct mgr_events *mgr_events_new(void)
{
	struct mgr_events *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	pthread_mutex_init(&ev->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->cond, &ca);
	pthread_condattr_destroy(&ca);
	return ev;
}

static void listener_free(struct mgr_listener *l)
{
	for (unsigned i = 0; i < l->count; i++)
		free(l->queue[(l->head + i) % QUEUE_MAX]);
	free(l);
}

void mgr_events_free(struct mgr_events *ev)
{
	if (!ev)
		return;
	while (ev->listeners) {
		struct mgr_listener *l = ev->listeners;
		ev->listeners = l->next;
		listener_free(l);
	}
	pthread_cond_destroy(&ev->cond);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

void mgr_events_shutdown(struct mgr_events *ev)
{
	pthread_mutex_lock(&ev->lock);
	ev->shutdown = true;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
}

static bool wants(const struct mgr_listener *l, const char *type)
{
	if (!l->types[0])
		return true;
	char key[64];
	snprintf(key, sizeof(key), ",%s,", type);
	return strstr(l->types, key) != NULL;
}

void mgr_events_emit(struct mgr_events *ev, const char *type, struct json_object *metadata)
{
	if (!ev) {
		json_object_put(metadata);
		return;
	}
	char ts[32];
	mgr_timestamp(ts, sizeof(ts));
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "timestamp", json_object_new_string(ts));
	json_object_object_add(o, "metadata", metadata ? metadata : json_object_new_object());
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	pthread_mutex_lock(&ev->lock);
	for (struct mgr_listener *l = ev->listeners; l; l = l->next) {
		if (!wants(l, type))
			continue;
		char *line = malloc(strlen(text) + 2);
		if (!line)
			continue;
		strcpy(line, text);
		strcat(line, "\n");
		if (l->count == QUEUE_MAX) {
			free(l->queue[l->head]);
			l->head = (l->head + 1) % QUEUE_MAX;
			l->count--;
			l->dropped++;
		}
		l->queue[(l->head + l->count++) % QUEUE_MAX] = line;
	}
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	json_object_put(o);
}

struct mgr_listener *mgr_events_listen(struct mgr_events *ev, const char *types)
{
	struct mgr_listener *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	if (types && *types)
		snprintf(l->types, sizeof(l->types), ",%s,", types);
	pthread_mutex_lock(&ev->lock);
	l->next = ev->listeners;
	ev->listeners = l;
	pthread_mutex_unlock(&ev->lock);
	return l;
}

void mgr_events_unlisten(struct mgr_events *ev, struct mgr_listener *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&ev->lock);
	for (struct mgr_listener **p = &ev->listeners; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	pthread_mutex_unlock(&ev->lock);
	listener_free(l);
}

char *mgr_listener_next(struct mgr_events *ev, struct mgr_listener *l, int timeout_ms, bool *closed)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	char *line = NULL;
	*closed = false;
	pthread_mutex_lock(&ev->lock);
	while (!l->count && !ev->shutdown)
		if (pthread_cond_timedwait(&ev->cond, &ev->lock, &dl) == ETIMEDOUT)
			break;
	if (l->count) {
		line = l->queue[l->head];
		l->head = (l->head + 1) % QUEUE_MAX;
		l->count--;
	} else if (ev->shutdown) {
		*closed = true;
	}
	pthread_mutex_unlock(&ev->lock);
	return line;
}
