/*
 * fake_guest.h - a pretend guest for virtio unit tests: 1 MiB of guest RAM
 * on a real struct vm_bus, a device mapped at VIRTIO_MMIO_BASE, and a tiny
 * driver that programs the transport registers and builds rings by hand.
 */
#ifndef VESSEL_TESTS_FAKE_GUEST_H
#define VESSEL_TESTS_FAKE_GUEST_H

#include <stdint.h>
#include <string.h>

#include "vessel/vm/virtio.h"

#define G_RAM_BASE 0x80000000ULL
#define G_RAM_SIZE (1ULL << 20)
#define G_ROM_BASE 0x1000ULL
#define G_QSIZE	   16
/* Ring placement for queue q. */
#define G_DESC(q)  (G_RAM_BASE + 0x10000 * (q))
#define G_AVAIL(q) (G_DESC(q) + 0x1000)
#define G_USED(q)  (G_DESC(q) + 0x2000)
#define G_DATA	   (G_RAM_BASE + 0x80000) /* buffers from here */

struct fake_guest {
	struct vm_bus bus;
	uint8_t *ram;
	uint8_t rom[4096];
	struct virtio_mmio *vdev;
	int irq_level;
	unsigned irq_edges;
	uint16_t avail_idx[VIRTIO_MAX_QUEUES];
	uint16_t next_desc[VIRTIO_MAX_QUEUES];
};

void fg_init(struct fake_guest *g);
void fg_attach(struct fake_guest *g, struct virtio_mmio *vdev);
void fg_fini(struct fake_guest *g);

uint32_t fg_reg_read(struct fake_guest *g, uint64_t off);
void fg_reg_write(struct fake_guest *g, uint64_t off, uint32_t v);
/* ACKNOWLEDGE..DRIVER_OK with all offered features (or those in features). */
void fg_negotiate(struct fake_guest *g, uint64_t features, unsigned nqueues);
void *fg_ptr(struct fake_guest *g, uint64_t gpa);

/* Write descriptor i of queue q. */
void fg_desc(struct fake_guest *g, unsigned q, unsigned i, uint64_t addr, uint32_t len,
	     uint16_t flags, uint16_t next);
/* Publish head in the available ring and notify. */
void fg_kick(struct fake_guest *g, unsigned q, uint16_t head);
/* Publish head without notifying. */
void fg_publish(struct fake_guest *g, unsigned q, uint16_t head);
uint16_t fg_used_idx(struct fake_guest *g, unsigned q);
/* Used element i: id and len. */
void fg_used_elem(struct fake_guest *g, unsigned q, unsigned i, uint32_t *id, uint32_t *len);

#endif
