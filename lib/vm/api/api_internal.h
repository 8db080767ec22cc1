/*
 * api_internal.h - what the parts of lib/vm/api share: typed requests, the
 * route table, responses, and the VM-state rules.
 *
 * A request goes through these steps (server.c):
 *   1. route lookup by (method, path) in vm_api_routes[]: unknown path 404,
 *      known path with another method 405;
 *   2. body: at most max_body bytes (else 413), JSON object if present (else
 *      400); route->parse turns it into the typed fields of struct
 *      api_request (unknown or mistyped fields: 400);
 *   3. at a safe point: the VM state must be in route->states and
 *      route->check (if any) must accept the request, else 409 with the
 *      reason (Firecracker answers 400 here; 409 tells a client that the
 *      request was well-formed but illegal now); then route->exec_safepoint
 *      runs, with every hart stopped;
 *   4. then route->exec (if any) runs on the API thread (for work that must
 *      not stop the guest, or that waits for the guest).
 * Responses are JSON objects, errors {"error": "..."}; /metrics is text.
 */
#ifndef VESSEL_VM_API_INTERNAL_H
#define VESSEL_VM_API_INTERNAL_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vessel/core/err.h"
#include "vessel/vm/api.h"
#include "vessel/vm/machine.h"
#include "vessel/vm/virt.h"

/* VM states as the API sees them (bit mask for route->states). */
enum api_vm_state {
	API_VM_RUNNING = 1 << 0,
	API_VM_PAUSED = 1 << 1,
	API_VM_EMPTY = 1 << 2, /* started without a VM (vm_api_wait_load) */
};
#define API_VM_ANY (API_VM_RUNNING | API_VM_PAUSED)

enum api_action { API_ACTION_POWEROFF, API_ACTION_RESET, API_ACTION_SHUTDOWN };

/* A parsed request: the route plus its typed arguments. */
struct api_request {
	const struct api_route *route;
	struct json_object *body; /* parsed body or NULL (owned by the server) */
	union {
		struct {
			enum api_vm_state state;
		} vm_state;
		struct {
			enum api_action action;
		} action;
		struct {
			uint64_t memory_bytes; /* PATCH: guest memory wanted */
			uint64_t generation;   /* statistics: generation before the request */
			bool refresh;	       /* statistics: the guest was asked for new ones */
		} balloon;
		struct {
			const char *path; /* inside body */
			int kind;	  /* enum vm_snap_kind */
			bool no_disks;
			bool savevm;	 /* path is the tag */
			bool copy_disks; /* migrate: "disks":"copy" */
		} snapshot;
	} u;
};

struct api_response {
	unsigned status;
	struct json_object *json; /* body for JSON responses (owned) */
	char *text;		  /* body for text responses (malloc'd) */
	const char *content_type; /* with text */
};

struct vm_api;

struct api_route {
	const char *method;
	const char *path;
	unsigned states; /* API_VM_* in which the request is legal */
	bool body;	 /* a JSON body is required (else none is accepted) */
	/* Body -> typed fields; 0 or -EINVAL with err (-> 400). */
	int (*parse)(struct api_request *req, struct vs_err *err);
	/* Extra legality rule at the safe point; 0 or <0 with err (-> 409). */
	int (*check)(struct vm_api *api, const struct api_request *req, struct vs_err *err);
	/* At the safe point (every hart stopped).  Fills resp. */
	void (*exec_safepoint)(struct vm_api *api, struct api_request *req,
			       struct api_response *resp);
	/* Afterwards on the API thread.  Fills resp (may overwrite). */
	void (*exec)(struct vm_api *api, struct api_request *req, struct api_response *resp);
};

extern const struct api_route vm_api_routes[];
extern const unsigned vm_api_nroutes;

#define API_MAX_STATUS 600

struct vm_api {
	struct vm_api_config cfg;
	struct virt_board *board;
	struct vm_machine *m;
	char *path;
	int listen_fd;
	int statm_fd; /* /proc/self/statm, opened at start; -1 if not */
	struct MHD_Daemon *daemon;
	/*
	 * Empty (board NULL) until vm_api_wait_load() installs the board: a
	 * PUT /snapshot/load hands load_path to that thread and waits for
	 * load_done.  board and m are written once, under lock.
	 */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool loading; /* a load request is being served */
	const char *load_path;
	bool load_done;
	int load_r;
	char load_msg[VS_ERR_MSG_MAX];
	/* Counters (atomics; read by GET /metrics). */
	uint64_t requests[API_MAX_STATUS];
	uint64_t request_ns_total;
	unsigned in_flight; /* requests between first call and completion */
};

/*
 * Under --sandbox (cfg.confined): a snapshot file or migration socket path
 * must be relative to --snapshot-dir, without '..'.  False with resp
 * filled (400) otherwise.
 */
bool api_path_allowed(struct vm_api *api, const char *path, struct api_response *resp);

/* Response helpers. */
void api_respond_json(struct api_response *resp, unsigned status, struct json_object *json);
void api_respond_error(struct api_response *resp, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void api_respond_text(struct api_response *resp, unsigned status, char *text,
		      const char *content_type);

/*
 * Steps 2 of the pipeline for one route: body (len bytes, may be 0) ->
 * req (typed fields; req->body owned by the caller, NULL on failure).
 * 0, or <0 with resp filled (400/413/500).  No VM access: fuzzed by
 * tests/fuzz/vm/fuzz_api.c.
 */
int api_request_parse(const struct api_route *rt, const char *body, size_t len,
		      struct api_request *req, struct api_response *resp);

/* Current API state of the VM (at a safe point). */
enum api_vm_state api_vm_state(struct vm_api *api);
const char *api_vm_state_name(enum api_vm_state s);

/* Body helpers for parse callbacks: only the listed keys may appear. */
int api_body_only_keys(struct json_object *body, const char *const *keys, struct vs_err *err);
/* Required string member; 0 or -EINVAL. */
int api_body_string(struct json_object *body, const char *key, const char **out,
		    struct vs_err *err);

/* Route handlers defined in the other files of lib/vm/api. */
void api_metrics_exec(struct vm_api *api, struct api_request *req, struct api_response *resp);
/* PUT /migrate, GET /migrate (migrate.c); cleanup joins a running one. */
int api_migrate_parse(struct api_request *req, struct vs_err *err);
void api_migrate_start(struct vm_api *api, struct api_request *req, struct api_response *resp);
void api_migrate_get(struct vm_api *api, struct api_request *req, struct api_response *resp);
void api_migrate_cleanup(void);
/* PUT /snapshot/create and /snapshot/load (snapshot.c). */
int api_snapshot_create_parse(struct api_request *req, struct vs_err *err);
void api_snapshot_create_exec(struct vm_api *api, struct api_request *req,
			      struct api_response *resp);
int api_snapshot_load_parse(struct api_request *req, struct vs_err *err);
void api_snapshot_load_exec(struct vm_api *api, struct api_request *req, struct api_response *resp);
int api_snapshot_delete_parse(struct api_request *req, struct vs_err *err);
void api_snapshot_delete_exec(struct vm_api *api, struct api_request *req,
			      struct api_response *resp);
/* The balloon's lines of /metrics (balloon.c); at a safe point. */
void api_metrics_balloon(struct vm_api *api, FILE *f);
int api_balloon_patch_parse(struct api_request *req, struct vs_err *err);
void api_balloon_get(struct vm_api *api, struct api_request *req, struct api_response *resp);
void api_balloon_patch(struct vm_api *api, struct api_request *req, struct api_response *resp);
void api_balloon_stats_request(struct vm_api *api, struct api_request *req,
			       struct api_response *resp);
void api_balloon_stats_reply(struct vm_api *api, struct api_request *req,
			     struct api_response *resp);

#endif
