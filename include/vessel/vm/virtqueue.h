/*
 * virtqueue.h - split virtqueues (virtio 1.2 §2.7) as seen by a device.
 *
 * Everything the guest wrote is untrusted.  virtq_pop() walks one descriptor
 * chain and turns it into host segments, checking every index, length and
 * address through the bus; a malformed chain (index out of range, a loop or
 * a chain longer than the queue, memory outside guest RAM, a device-readable
 * segment after a device-writable one, nested or malformed indirect tables)
 * makes it fail with a message, and the transport then puts the device in
 * DEVICE_NEEDS_RESET.  The queue never touches host memory outside RAM.
 */
#ifndef VESSEL_VM_VIRTQUEUE_H
#define VESSEL_VM_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/vm/bus.h"

#define VIRTQ_MAX_SIZE 256 /* QueueNumMax offered by every device */

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

/* Guest-programmed state of one queue (plain data: serialisable). */
struct virtq {
	uint32_t num; /* queue size: a power of two, 1..VIRTQ_MAX_SIZE */
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail; /* next available-ring entry to consume */
	uint16_t used_idx;   /* our copy of used->idx */
	bool indirect;	     /* VIRTIO_F_INDIRECT_DESC negotiated */
	bool event_idx;	     /* VIRTIO_F_EVENT_IDX negotiated */
	uint16_t signalled_used;
	bool signalled_valid;
	bool unsignalled; /* buffers used since the last virtq_should_notify */
	uint32_t resets;  /* virtq_reset() count: tells stale completions apart */
	const struct vm_bus *bus;
};

/* One guest buffer segment; host points into guest RAM. */
struct virtq_seg {
	uint8_t *host;
	uint64_t gpa;
	uint32_t len;
};

/* A popped chain: nout device-readable segments, then nin device-writable. */
struct virtq_chain {
	uint16_t head;
	unsigned nout, nin;
	uint64_t out_len, in_len;
	struct virtq_seg seg[VIRTQ_MAX_SIZE];
};

/*
 * Check the rings of a queue the driver marked ready: size a power of two
 * within VIRTQ_MAX_SIZE, rings aligned and entirely inside RAM.
 */
int virtq_validate(const struct virtq *vq, struct vs_err *err);

/* Reset to the state after device reset (keeps bus, counts the reset). */
void virtq_reset(struct virtq *vq);

/*
 * Take the next available chain.  Returns 1 with *chain filled, 0 when the
 * ring is empty, or -EINVAL with err describing the malformation.
 */
int virtq_pop(struct virtq *vq, struct virtq_chain *chain, struct vs_err *err);

/* Are chains waiting (without taking one)?  False when not ready. */
bool virtq_has_avail(const struct virtq *vq);

/* Give back the chain taken by the last virtq_pop (it will pop again). */
void virtq_unpop(struct virtq *vq);

/* Return a chain to the driver with written bytes; 0 or -EFAULT. */
int virtq_push(struct virtq *vq, uint16_t head, uint32_t written);

/* Should the driver be interrupted for the buffers pushed since last time? */
bool virtq_should_notify(struct virtq *vq);

/* Copy from the readable part of a chain starting at offset; bytes copied. */
size_t virtq_chain_read(const struct virtq_chain *chain, size_t offset, void *buf, size_t len);

/* Copy into the writable part starting at offset (notes the DMA); bytes copied. */
size_t virtq_chain_write(const struct virtq *vq, const struct virtq_chain *chain, size_t offset,
			 const void *buf, size_t len);

/* Report a device write of the whole writable part to the bus (code caches). */
void virtq_chain_note_written(const struct virtq *vq, const struct virtq_chain *chain,
			      size_t offset, size_t len);

#endif
