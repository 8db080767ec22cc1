/*
 * mgr_internal.h - the manager's struct, shared by manager.c and the
 * drivers (which need its directories and runtime).
 */
#ifndef VESSEL_MGR_INTERNAL_H
#define VESSEL_MGR_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "vessel/mgr/mgr.h"

struct mgr {
	char *state_dir;
	char *runtime;	    /* vessel-runtime binary */
	char *runtime_root; /* STATE/runtime: the runtime's --root */
	char *ct_dir;	    /* STATE/containers: one directory per container */
	char *vm_dir;	    /* STATE/vms: one directory per VM */
	char *vmm;	    /* the vessel-vmm binary, or NULL */
	char host_id[5];    /* 4 hex digits of this state dir: names its bridges */
	int lock_fd;	    /* STATE/vesseld.lock, flock'd while open */
	struct mgr_db *db;
	struct mgr_image_store images;
	struct mgr_events *events;
	struct mgr_ops *ops;
	pthread_mutex_t busy_lock;
	pthread_cond_t busy_cond;
	int64_t *busy; /* ids of instances with an action in progress */
	size_t nbusy, busy_cap;
};

/* Load NAME and mark it busy (actions on one instance are serialised);
 * mgr_busy_release(m, inst->id) when done. */
int mgr_get_busy(struct mgr *m, const char *name, struct mgr_instance *inst, struct vs_err *err);
void mgr_busy_release(struct mgr *m, int64_t id);

/* A request to a running VM's vessel-vmm control API (driver_vm.c). */
int mgr_vm_api_call(struct mgr *m, const struct mgr_instance *inst, const char *method,
		    const char *path, const char *body, struct vs_err *err);
/* Emit a lifecycle event ("instance-started", ...) for an instance. */
void mgr_emit_lifecycle(struct mgr *m, const char *action, const char *name);

#endif
