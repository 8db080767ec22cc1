/* fake_guest.c - see fake_guest.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fake_guest.h"

static void fg_irq(void *opaque, unsigned irq, int level)
{
	struct fake_guest *g = opaque;
	if (level && !g->irq_level)
		g->irq_edges++;
	g->irq_level = level;
}

void fg_init(struct fake_guest *g)
{
	struct vs_err err = VS_ERR_INIT;
	memset(g, 0, sizeof(*g));
	/* Page-aligned like real guest RAM (the balloon madvises whole pages). */
	g->ram = aligned_alloc(4096, G_RAM_SIZE);
	assert_non_null(g->ram);
	memset(g->ram, 0, G_RAM_SIZE);
	vm_bus_init(&g->bus);
	assert_int_equal(
	    vm_bus_add_ram(&g->bus, G_RAM_BASE, G_RAM_SIZE, g->ram, false, "ram", &err), 0);
	assert_int_equal(
	    vm_bus_add_ram(&g->bus, G_ROM_BASE, sizeof(g->rom), g->rom, true, "rom", &err), 0);
}

void fg_attach(struct fake_guest *g, struct virtio_mmio *vdev)
{
	struct vs_err err = VS_ERR_INIT;
	assert_non_null(vdev);
	g->vdev = vdev;
	vdev->irq = (struct vm_irq_line){ fg_irq, g, 1 };
	assert_int_equal(vm_bus_add_mmio(&g->bus, VIRTIO_MMIO_BASE, VIRTIO_MMIO_SIZE,
					 &virtio_mmio_ops, vdev, "virtio", &err),
			 0);
}

void fg_fini(struct fake_guest *g)
{
	virtio_mmio_free(g->vdev);
	free(g->ram);
}

uint32_t fg_reg_read(struct fake_guest *g, uint64_t off)
{
	uint64_t v = 0;
	assert_int_equal(vm_bus_read(&g->bus, VIRTIO_MMIO_BASE + off, 4, &v), 0);
	return (uint32_t)v;
}

void fg_reg_write(struct fake_guest *g, uint64_t off, uint32_t v)
{
	assert_int_equal(vm_bus_write(&g->bus, VIRTIO_MMIO_BASE + off, 4, v), 0);
}

void *fg_ptr(struct fake_guest *g, uint64_t gpa)
{
	return vm_bus_ram_ptr(&g->bus, gpa, 1);
}

void fg_negotiate(struct fake_guest *g, uint64_t features, unsigned nqueues)
{
	fg_reg_write(g, 0x70, 0);
	fg_reg_write(g, 0x70, VIRTIO_STATUS_ACKNOWLEDGE);
	fg_reg_write(g, 0x70, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	uint64_t offered = 0;
	for (unsigned sel = 0; sel < 2; sel++) {
		fg_reg_write(g, 0x14, sel);
		offered |= (uint64_t)fg_reg_read(g, 0x10) << (32 * sel);
	}
	uint64_t want = features ? features : offered;
	for (unsigned sel = 0; sel < 2; sel++) {
		fg_reg_write(g, 0x24, sel);
		fg_reg_write(g, 0x20, (uint32_t)(want >> (32 * sel)));
	}
	fg_reg_write(g, 0x70,
		     VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_true(fg_reg_read(g, 0x70) & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < nqueues; q++) {
		memset(fg_ptr(g, G_DESC(q)), 0, 0x3000);
		fg_reg_write(g, 0x30, q);
		assert_int_equal(fg_reg_read(g, 0x34), VIRTQ_MAX_SIZE);
		fg_reg_write(g, 0x38, G_QSIZE);
		fg_reg_write(g, 0x80, (uint32_t)G_DESC(q));
		fg_reg_write(g, 0x84, (uint32_t)(G_DESC(q) >> 32));
		fg_reg_write(g, 0x90, (uint32_t)G_AVAIL(q));
		fg_reg_write(g, 0x94, 0);
		fg_reg_write(g, 0xa0, (uint32_t)G_USED(q));
		fg_reg_write(g, 0xa4, 0);
		fg_reg_write(g, 0x44, 1);
		assert_int_equal(fg_reg_read(g, 0x44), 1);
		g->avail_idx[q] = 0;
	}
	fg_reg_write(g, 0x70,
		     VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			 VIRTIO_STATUS_DRIVER_OK);
}

void fg_desc(struct fake_guest *g, unsigned q, unsigned i, uint64_t addr, uint32_t len,
	     uint16_t flags, uint16_t next)
{
	uint8_t *d = fg_ptr(g, G_DESC(q) + 16ULL * i);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

void fg_publish(struct fake_guest *g, unsigned q, uint16_t head)
{
	uint8_t *avail = fg_ptr(g, G_AVAIL(q));
	memcpy(avail + 4 + 2 * (g->avail_idx[q] % G_QSIZE), &head, 2);
	g->avail_idx[q]++;
	memcpy(avail + 2, &g->avail_idx[q], 2);
}

void fg_kick(struct fake_guest *g, unsigned q, uint16_t head)
{
	virtio_mmio_service(g->vdev); /* a new run-loop pass: budgets refilled */
	fg_publish(g, q, head);
	fg_reg_write(g, 0x50, q);
}

uint16_t fg_used_idx(struct fake_guest *g, unsigned q)
{
	uint16_t v;
	memcpy(&v, (uint8_t *)fg_ptr(g, G_USED(q)) + 2, 2);
	return v;
}

void fg_used_elem(struct fake_guest *g, unsigned q, unsigned i, uint32_t *id, uint32_t *len)
{
	uint8_t *e = (uint8_t *)fg_ptr(g, G_USED(q)) + 4 + 8 * (i % G_QSIZE);
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
}
