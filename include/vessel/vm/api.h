/*
 * api.h - the control API of one VM: HTTP/1.1 + JSON on a unix socket
 * (docs/api/vessel-vmm.yaml is the contract; docs/vessel-vmm.md the guide).
 *
 * The server runs on its own thread (libmicrohttpd's internal polling
 * thread).  Every request is parsed into a typed request, checked against
 * the VM's state, then executed; anything that reads or changes the machine
 * does so inside vm_machine_run_at_safepoint(), with every hart stopped.
 *
 * Lifetime: start the server after the board exists (or empty, see
 * vm_api_wait_load) and stop it before the board is freed.  The socket is created 0600 (an existing socket file at
 * PATH is replaced; any other file is refused) and unlinked by stop.
 */
#ifndef VESSEL_VM_API_H
#define VESSEL_VM_API_H

#include <stdbool.h>
#include <stddef.h>

#include "vessel/core/err.h"

struct virt_board;
struct vm_api;
struct vm_broker;

struct vm_api_config {
	const char *socket_path;
	struct virt_board *board;
	size_t max_body; /* request bodies above this get 413; 0: 64 KiB */
	/*
	 * Under --sandbox: snapshot paths and unix: migration sockets must be
	 * relative (to --snapshot-dir, the sandbox's root; no '..'), tcp:
	 * migration goes through the connect broker when there is one
	 * (--sandbox-connect; the destination must be in its allow-list) and
	 * is refused otherwise (empty network namespace): 400, not SIGSYS.
	 * confined_dir: false when no --snapshot-dir was given (then every
	 * snapshot/migration request gets a 400 saying so).
	 */
	bool confined;
	bool confined_dir;
	struct vm_broker *broker; /* must outlive the API; NULL: none */
};

struct vm_api *vm_api_start(const struct vm_api_config *cfg, struct vs_err *err);

/*
 * Started empty (cfg.board NULL, vessel-vmm --api alone): GET /vm answers
 * {"state": "empty"}, PUT /snapshot/load hands its path to this call, every
 * other route answers 409.  Blocks the calling thread until a load succeeds:
 * load(opaque, path, err) runs on it and returns the board built from the
 * snapshot and loaded (not yet running), or NULL with err (then the request
 * gets 400 with err's message, 500 for -ENOMEM, and the API is empty
 * again: load must have undone everything).  Returns that board, which the
 * API serves from then on.
 */
typedef struct virt_board *(*vm_api_load_fn)(void *opaque, const char *path, struct vs_err *err);
struct virt_board *vm_api_wait_load(struct vm_api *api, vm_api_load_fn load, void *opaque);
/* Stop serving (waits for the request in progress), unlink the socket. */
void vm_api_stop(struct vm_api *api);

#endif
