/*
 * mgr_internal.h - the manager's struct, shared by manager.c and the
 * drivers (which need its directories and runtime).
 */
#ifndef VESSEL_MGR_INTERNAL_H
#define VESSEL_MGR_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "vessel/mgr/mgr.h"

struct json_object;
struct mgr_image;

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
	char *debian_path; /* the built-in Debian image's OCI layout, or NULL */
	pthread_mutex_t builtin_lock;
	struct mgr_cluster *cluster; /* cluster.c; NULL until mgr_cluster_open */
	struct mgr_usage *usage;     /* the usage sampler (usage.c), or NULL */
};

/* Load NAME and mark it busy (actions on one instance are serialised);
 * mgr_busy_release(m, inst->id) when done. */
int mgr_get_busy(struct mgr *m, const char *name, struct mgr_instance *inst, struct vs_err *err);
void mgr_busy_release(struct mgr *m, int64_t id);

/*
 * A container's console supervisor (ct_console.c), files under DIR (the
 * container's directory): spawn one before the runtime's create (which is
 * given setup_path as --console-socket), stop it (idempotent), or connect
 * to it (*fd: the terminal's byte stream).
 */
int mgr_ct_console_spawn(const char *dir, char *setup_path, size_t setup_len, struct vs_err *err);
void mgr_ct_console_stop(const char *dir);
int mgr_ct_console_connect(const char *dir, const char *name, int *fd, struct vs_err *err);
/* Set the terminal's window size (columns x rows) through DIR/console-ctl.sock. */
int mgr_ct_console_resize(const char *dir, const char *name, unsigned width, unsigned height,
			  struct vs_err *err);

/* A request to a running VM's vessel-vmm control API (driver_vm.c). */
int mgr_vm_api_call(struct mgr *m, const struct mgr_instance *inst, const char *method,
		    const char *path, const char *body, struct vs_err *err);
/* Live migration between hosts (migrate.c; driver_vm.c). */
char *mgr_vm_path(struct mgr *m, const char *id, const char *sub);
int mgr_vm_api_reply(struct mgr *m, const struct mgr_instance *inst, const char *method,
		     const char *path, const char *body, struct json_object **reply,
		     struct vs_err *err);
bool mgr_vm_running(struct mgr *m, const struct mgr_instance *inst);
bool mgr_vm_wait_gone(struct mgr *m, const struct mgr_instance *inst, int timeout_ms);
/* vessel-vmm --incoming unix:SOCK for inst (its disk copied to root.qcow2,
 * which must not exist); returns once it listens. */
int mgr_vm_start_incoming(struct mgr *m, const struct mgr_instance *inst,
			  const struct mgr_image *img, const char *sock, struct vs_err *err);
/* The incoming VMM runs the guest (0) or died (the error). */
int mgr_vm_incoming_wait(struct mgr *m, const struct mgr_instance *inst, int timeout_s,
			 struct vs_err *err);
/* Emit a lifecycle event ("instance-started", ...) for an instance. */
void mgr_emit_lifecycle(struct mgr *m, const char *action, const char *name);

#endif
