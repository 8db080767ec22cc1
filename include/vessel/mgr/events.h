/*
 * events.h - the event stream behind /1.0/events: every lifecycle change
 * and operation update is one JSON object {"type","timestamp","metadata"}
 * broadcast to every listener.  A listener has a bounded queue; one that
 * falls too far behind loses its oldest events (and is told how many),
 * so a slow client never blocks the daemon.
 */
#ifndef VESSEL_MGR_EVENTS_H
#define VESSEL_MGR_EVENTS_H

#include <json-c/json.h>
#include <stdbool.h>

struct mgr_events;
struct mgr_listener;

struct mgr_events *mgr_events_new(void);
void mgr_events_free(struct mgr_events *ev);
/* Stop every listener's wait (at shutdown). */
void mgr_events_shutdown(struct mgr_events *ev);

/* Broadcast {"type":type,"timestamp":...,"metadata":metadata} (taken over). */
void mgr_events_emit(struct mgr_events *ev, const char *type, struct json_object *metadata);

/* types: comma-separated filter ("lifecycle,operation") or NULL for all. */
struct mgr_listener *mgr_events_listen(struct mgr_events *ev, const char *types);
void mgr_events_unlisten(struct mgr_events *ev, struct mgr_listener *l);
/*
 * Next event as one line of JSON text ending in "\n" (malloc'd) or NULL
 * after timeout_ms / at shutdown (*closed then true).
 */
char *mgr_listener_next(struct mgr_events *ev, struct mgr_listener *l, int timeout_ms,
			bool *closed);

#endif
