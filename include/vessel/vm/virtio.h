/*
 * virtio.h - virtio devices over the MMIO transport (virtio 1.2 §4.2,
 * modern interface, Version 2 only).
 *
 * A device model embeds `struct virtio_mmio` (the transport's register file
 * and its queues) and describes itself with one const `struct virtio_ops`
 * table, kvmtool style.  The transport handles feature negotiation, queue
 * set-up, the status machine and interrupts; the model only processes
 * queues (ops->queue_notify) and exposes its configuration space.
 *
 * Failure model: when a model meets a malformed request from the driver it
 * calls virtio_mmio_fail(): the device sets DEVICE_NEEDS_RESET (status bit
 * 0x40), raises a configuration-change interrupt and processes nothing more
 * until the driver resets it (§2.1.2).  Host memory outside guest RAM is
 * never touched.
 */
#ifndef VESSEL_VM_VIRTIO_H
#define VESSEL_VM_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/vm/backend.h"
#include "vessel/vm/bus.h"
#include "vessel/vm/virtqueue.h"

#define VIRTIO_MMIO_BASE      0x10001000ULL
#define VIRTIO_MMIO_SIZE      0x1000ULL
#define VIRTIO_MMIO_SLOTS     8
#define VIRTIO_MMIO_IRQ_FIRST 1 /* slot i uses PLIC source 1 + i */

#define VIRTIO_MMIO_MAGIC  0x74726976 /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x554d4551 /* "QEMU", as QEMU's virt board */

/* Device status bits (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	 1
#define VIRTIO_STATUS_DRIVER		 2
#define VIRTIO_STATUS_DRIVER_OK		 4
#define VIRTIO_STATUS_FEATURES_OK	 8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED		 0x80

/* Reserved feature bits (§6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

#define VIRTIO_INT_USED	  1
#define VIRTIO_INT_CONFIG 2

/* Device IDs (§5). */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4
#define VIRTIO_ID_BALLOON 5
#define VIRTIO_ID_INPUT	  18

#define VIRTIO_MAX_QUEUES 4

#define VIRTIO_MAX_LOGGED_FAILURES 16

struct virtio_mmio;
struct vm_state;

struct virtio_ops {
	const char *name;
	uint32_t device_id;
	unsigned nqueues;
	/* Device-specific feature bits (the transport adds VERSION_1 etc.). */
	uint64_t (*features)(struct virtio_mmio *vdev);
	/* Configuration space: size bytes at config(); writes go to config_write. */
	uint32_t config_size;
	const void *(*config)(struct virtio_mmio *vdev);
	void (*config_write)(struct virtio_mmio *vdev, uint32_t offset, const void *buf,
			     unsigned len);
	/* The driver made buffers available on queue q (or the device re-polls). */
	void (*queue_notify)(struct virtio_mmio *vdev, unsigned q);
	/* DRIVER_OK was set: the model may start delivering input. */
	void (*driver_ok)(struct virtio_mmio *vdev);
	/* Device reset (status written 0, or the board resets). */
	void (*reset)(struct virtio_mmio *vdev);
	/* The VM is stopping: begin winding down host-side work without
	 * blocking (free follows; lets devices stop in parallel).  Optional. */
	void (*stop)(struct virtio_mmio *vdev);
	/* Release the model and its backend. */
	void (*free)(struct virtio_mmio *vdev);
	/*
	 * Snapshots (optional): the model's state beyond the transport,
	 * including a configuration space the driver writes (a model without
	 * them has a fixed configuration, compared on load).  load applies only
	 * when apply is true; 0 or -EINVAL.
	 */
	void (*save)(const struct virtio_mmio *vdev, struct vm_state *s);
	int (*load)(struct virtio_mmio *vdev, struct vm_state *s, bool apply, struct vs_err *err);
};

/* The transport's register file (plain data; serialisable). */
struct virtio_mmio {
	const struct virtio_ops *ops;
	const struct vm_bus *bus;
	struct vm_irq_line irq;
	uint32_t status;
	uint32_t device_features_sel, driver_features_sel;
	uint64_t driver_features;
	uint32_t queue_sel;
	uint32_t interrupt_status;
	uint32_t config_generation;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	char failure[160];     /* why the device needs a reset (empty if it does not) */
	uint64_t stop_wait_ns; /* stop: wait this long for its thread (0: its own) */
	uint32_t failures;     /* NEEDS_RESET episodes so far (only the first few are logged) */
	/* Work budget of the current run-loop pass (see virtio_mmio_service). */
	uint64_t spent;	  /* cost charged since the last service */
	uint32_t pending; /* queues whose processing was deferred to the next pass */
};

/* Initialise the transport part of a model. */
void virtio_mmio_init(struct virtio_mmio *vdev, const struct virtio_ops *ops,
		      const struct vm_bus *bus);

/* MMIO callbacks; opaque is the struct virtio_mmio. */
extern const struct vm_mmio_ops virtio_mmio_ops;

/* Negotiated feature? */
bool virtio_mmio_has_feature(const struct virtio_mmio *vdev, unsigned bit);
/* Queues are processed only while DRIVER_OK is set and NEEDS_RESET is not. */
bool virtio_mmio_live(const struct virtio_mmio *vdev);

/*
 * Pop the next chain of queue q: 1 got one, 0 empty/not live, -EINVAL the
 * chain was malformed and the device now needs a reset.
 */
int virtio_mmio_pop(struct virtio_mmio *vdev, unsigned q, struct virtq_chain *chain);
/*
 * Bounded work per pass.  Device work done on the machine thread (inside a
 * hart's MMIO access or an fd callback) is charged to the device: every pop
 * costs VIRTIO_POP_COST, models charge the bytes they move with
 * virtio_mmio_charge().  Once VIRTIO_PASS_BUDGET is spent, virtio_mmio_pop()
 * returns 0 as if the queue were empty and marks the queue pending; further
 * notifies of that queue are ignored until the run loop, between hart
 * slices, calls virtio_mmio_service(): it refills the budget and re-runs
 * queue_notify for the pending queues.  So a guest cannot hold the machine
 * thread for more than about one budget per device per pass, whatever its
 * chains look like.
 */
#define VIRTIO_PASS_BUDGET (1ULL << 20)
#define VIRTIO_POP_COST	   4096
void virtio_mmio_charge(struct virtio_mmio *vdev, uint64_t cost);
/* Start a new pass: refill the budget, run deferred queues.  True while
 * deferred work remains (the loop should not sleep). */
bool virtio_mmio_service(struct virtio_mmio *vdev);

/* Complete a chain (call virtio_mmio_notify after a batch). */
void virtio_mmio_push(struct virtio_mmio *vdev, unsigned q, uint16_t head, uint32_t written);
/* Interrupt the driver after a batch of virtq_push (no-op if suppressed). */
void virtio_mmio_notify(struct virtio_mmio *vdev, unsigned q);
/* Configuration changed: bump the generation, raise a config interrupt. */
void virtio_mmio_config_changed(struct virtio_mmio *vdev);
/* The driver broke the protocol: DEVICE_NEEDS_RESET (printf-like reason). */
void virtio_mmio_fail(struct virtio_mmio *vdev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Full device reset (also done by a status write of 0). */
void virtio_mmio_reset(struct virtio_mmio *vdev);

/*
 * Device models.  Each returns a transport to map with virtio_mmio_ops (set
 * its irq first) and to release with virtio_mmio_free(); the model takes
 * ownership of the backend, also on failure.
 */
/*
 * virtio-blk (§5.2); serial: up to 20 bytes for GET_ID, may be NULL.  Requests
 * run on the disk's I/O thread (vm_block_queue) and complete through an fd
 * watched with poll; without poll (tests, fuzzing) every request completes
 * before the notify that submitted it returns.
 */
struct virtio_mmio *virtio_blk_new(const struct vm_bus *bus, struct vm_block_backend *be,
				   const char *serial, const struct vm_host_poll *poll,
				   struct vs_err *err);
/* virtio-rng (§5.4) fed by getrandom(2). */
/*
 * The backend of a virtio-blk device (NULL for another device type).  The
 * disk's I/O thread owns it while requests are in flight: call
 * virtio_blk_drain first (on the machine thread, at a safe point).
 */
struct vm_block_backend *virtio_blk_backend(struct virtio_mmio *vdev);
/*
 * Wait until every request handed to the disk's I/O thread has completed and
 * its answer is in the used ring (no-op for another device type), so that
 * device state can be saved and the image touched from this thread.
 */
void virtio_blk_drain(struct virtio_mmio *vdev);
struct virtio_mmio *virtio_rng_new(const struct vm_bus *bus, struct vs_err *err);
/* virtio-net (§5.1) with a fixed MAC address. */
struct virtio_mmio *virtio_net_new(const struct vm_bus *bus, struct vm_net_backend *be,
				   const uint8_t mac[6], const struct vm_host_poll *poll,
				   struct vs_err *err);
/* virtio-console (§5.3), one port: the guest's hvc0. */
struct virtio_mmio *virtio_console_new(const struct vm_bus *bus, struct vm_chardev *cd,
				       const struct vm_host_poll *poll, struct vs_err *err);
/* Call ops->stop (if any); virtio_mmio_free also stops. */
void virtio_mmio_stop(struct virtio_mmio *vdev);
void virtio_mmio_free(struct virtio_mmio *vdev);

/*
 * Snapshot section VIRTIO (docs/snapshot-format.md): the transport's
 * register file, every queue's guest addresses and indices (last_avail,
 * used_idx, notification suppression state) and a copy of the device's
 * configuration space.  Requests complete synchronously on the machine
 * thread, so no request is ever in flight at a safe point: the indices are
 * the whole queue state.  Load refuses another device type or a different
 * configuration (a disk of another size), checks every ready queue's rings
 * against guest RAM, and applies only when apply is true; then
 * virtio_mmio_after_load() restarts the model (input watching, buffers
 * posted before the snapshot) as a DRIVER_OK transition does.
 */
struct vm_state;
void virtio_mmio_save(const struct virtio_mmio *vdev, struct vm_state *s);
int virtio_mmio_load(struct virtio_mmio *vdev, struct vm_state *s, bool apply, struct vs_err *err);
void virtio_mmio_after_load(struct virtio_mmio *vdev);

/*
 * virtio-balloon (§5.5), lib/vm/virtio/balloon.c: inflated pages are given
 * back to the host (madvise MADV_DONTNEED); statistics on request.
 * The target, info and request functions run on the machine thread (at a
 * safe point); get/wait_stats may be called from any thread.
 */
enum virtio_balloon_stat_tag {
	VIRTIO_BALLOON_S_SWAP_IN = 0,
	VIRTIO_BALLOON_S_SWAP_OUT = 1,
	VIRTIO_BALLOON_S_MAJFLT = 2,
	VIRTIO_BALLOON_S_MINFLT = 3,
	VIRTIO_BALLOON_S_MEMFREE = 4,
	VIRTIO_BALLOON_S_MEMTOT = 5,
	VIRTIO_BALLOON_S_AVAIL = 6,
	VIRTIO_BALLOON_S_CACHES = 7,
	VIRTIO_BALLOON_S_HTLB_PGALLOC = 8,
	VIRTIO_BALLOON_S_HTLB_PGFAIL = 9,
	VIRTIO_BALLOON_S_NR = 10,
};

struct virtio_balloon_stats {
	uint64_t val[VIRTIO_BALLOON_S_NR];
	uint32_t have;	     /* bit per tag the guest reported */
	uint64_t generation; /* bumped on every report (0: none yet) */
	uint64_t updated_ns; /* host monotonic time of the last report */
};

struct virtio_balloon_info {
	uint32_t target_pages, actual_pages; /* 4 KiB pages in the balloon */
	bool driver_ok, stats_vq, deflate_on_oom;
	uint64_t inflated_pages_total, deflated_pages_total;
};

/*
 * virtio-input (§5.8), lib/vm/virtio/input.c: a keyboard with Ctrl, Alt
 * and Delete only.  send_ctrl_alt_del (machine thread): 0, -EAGAIN (no
 * driver yet) or -EBUSY (events still waiting).
 */
struct virtio_mmio *virtio_input_keyboard_new(const struct vm_bus *bus, struct vs_err *err);
int virtio_input_send_ctrl_alt_del(struct virtio_mmio *vdev);

struct virtio_mmio *virtio_balloon_new(const struct vm_bus *bus, struct vs_err *err);
/* Ask the guest for a balloon of this many 4 KiB pages (config change). */
void virtio_balloon_set_target(struct virtio_mmio *vdev, uint32_t pages);
void virtio_balloon_info(struct virtio_mmio *vdev, struct virtio_balloon_info *info);
/* Hand the statistics buffer back so the guest refills it: 0, -ENODEV, -EAGAIN. */
int virtio_balloon_request_stats(struct virtio_mmio *vdev);
void virtio_balloon_get_stats(struct virtio_mmio *vdev, struct virtio_balloon_stats *st);
/* Wait until the generation exceeds after_generation: 0 or -ETIMEDOUT. */
int virtio_balloon_wait_stats(struct virtio_mmio *vdev, uint64_t after_generation,
			      unsigned timeout_ms, struct virtio_balloon_stats *st);

#endif
