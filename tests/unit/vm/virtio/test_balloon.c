/*
 * Unit tests of virtio-balloon and the virtio-input keyboard
 * (lib/vm/virtio/balloon.c, input.c) against the fake guest: inflated
 * pages are dropped (read back as zeros) while hostile PFNs (ROM, beyond
 * RAM, huge) are ignored; the driver cannot write the target; statistics
 * are parsed from the stats buffer, unknown tags ignored, and handed back
 * on request; the keyboard answers its configuration queries and delivers
 * a whole Ctrl-Alt-Del sequence even when the driver offers few buffers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fake_guest.h"

#define PAGE   4096ULL
#define PAGE_A (G_RAM_BASE + 0xa0000) /* page-aligned, in RAM, away from rings */
#define BUF    (G_DATA)

static uint32_t cfg32(struct fake_guest *g, unsigned off)
{
	uint64_t v = 0;
	assert_int_equal(vm_bus_read(&g->bus, VIRTIO_MMIO_BASE + 0x100 + off, 4, &v), 0);
	return (uint32_t)v;
}

static void test_balloon_inflate(void **state)
{
	struct fake_guest g;
	struct vs_err err = VS_ERR_INIT;
	fg_init(&g);
	fg_attach(&g, virtio_balloon_new(&g.bus, &err));
	assert_int_equal(fg_reg_read(&g, 0x8), VIRTIO_ID_BALLOON);
	fg_negotiate(&g, 0, 3);

	/* The target is the device's: a driver write is ignored. */
	virtio_balloon_set_target(g.vdev, 3);
	assert_int_equal(cfg32(&g, 0), 3);
	assert_true(fg_reg_read(&g, 0x60) & VIRTIO_INT_CONFIG);
	assert_int_equal(vm_bus_write(&g.bus, VIRTIO_MMIO_BASE + 0x100, 4, 99), 0);
	assert_int_equal(cfg32(&g, 0), 3);
	assert_int_equal(vm_bus_write(&g.bus, VIRTIO_MMIO_BASE + 0x104, 4, 2), 0);
	struct virtio_balloon_info bi;
	virtio_balloon_info(g.vdev, &bi);
	assert_int_equal(bi.target_pages, 3);
	assert_int_equal(bi.actual_pages, 2);
	assert_true(bi.deflate_on_oom && bi.stats_vq && bi.driver_ok);

	memset(fg_ptr(&g, PAGE_A), 0xaa, 3 * PAGE);
	memset(g.rom, 0x55, sizeof(g.rom));
	uint32_t pfns[] = {
		(uint32_t)(PAGE_A / PAGE),
		(uint32_t)(PAGE_A / PAGE + 1),
		(uint32_t)(G_ROM_BASE / PAGE),		      /* ROM: never dropped */
		0xffffffffu,				      /* beyond RAM */
		(uint32_t)((G_RAM_BASE + G_RAM_SIZE) / PAGE), /* just past RAM */
	};
	memcpy(fg_ptr(&g, BUF), pfns, sizeof(pfns));
	fg_desc(&g, 0, 0, BUF, sizeof(pfns) + 2, 0, 0); /* + a stray half entry */
	fg_kick(&g, 0, 0);
	assert_int_equal(fg_used_idx(&g, 0), 1);
	uint8_t *a = fg_ptr(&g, PAGE_A);
	for (size_t i = 0; i < 2 * PAGE; i++)
		if (a[i] != 0)
			fail_msg("inflated page byte %zu is 0x%02x, not 0", i, a[i]);
	assert_int_equal(a[2 * PAGE], 0xaa); /* the next page is untouched */
	assert_int_equal(g.rom[0], 0x55);
	virtio_balloon_info(g.vdev, &bi);
	assert_int_equal(bi.inflated_pages_total, 5);

	/* Deflate only counts (the pages fault back in on use). */
	fg_desc(&g, 1, 0, BUF, 8, 0, 0);
	fg_kick(&g, 1, 0);
	assert_int_equal(fg_used_idx(&g, 1), 1);
	virtio_balloon_info(g.vdev, &bi);
	assert_int_equal(bi.deflated_pages_total, 2);
	assert_int_equal(a[2 * PAGE], 0xaa);
	fg_fini(&g);
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
	memcpy(p, &tag, 2);
	memcpy(p + 2, &val, 8);
}

static void test_balloon_stats(void **state)
{
	struct fake_guest g;
	struct vs_err err = VS_ERR_INIT;
	fg_init(&g);
	fg_attach(&g, virtio_balloon_new(&g.bus, &err));
	fg_negotiate(&g, 0, 3);
	struct virtio_balloon_stats st;
	assert_int_equal(virtio_balloon_request_stats(g.vdev), -EAGAIN); /* no buffer yet */
	assert_int_equal(virtio_balloon_wait_stats(g.vdev, 0, 1, &st), -ETIMEDOUT);

	uint8_t *b = fg_ptr(&g, BUF);
	put_stat(b, VIRTIO_BALLOON_S_MEMFREE, 123 << 20);
	put_stat(b + 10, VIRTIO_BALLOON_S_MEMTOT, 456 << 20);
	put_stat(b + 20, 77, 1);	      /* unknown tag: ignored */
	fg_desc(&g, 2, 0, BUF, 30 + 5, 0, 0); /* + a partial entry */
	fg_kick(&g, 2, 0);
	assert_int_equal(fg_used_idx(&g, 2), 0); /* the device keeps the buffer */
	assert_int_equal(virtio_balloon_wait_stats(g.vdev, 0, 1000, &st), 0);
	assert_int_equal(st.generation, 1);
	assert_int_equal(st.have,
			 (1u << VIRTIO_BALLOON_S_MEMFREE) | (1u << VIRTIO_BALLOON_S_MEMTOT));
	assert_int_equal(st.val[VIRTIO_BALLOON_S_MEMFREE], 123 << 20);
	assert_int_equal(st.val[VIRTIO_BALLOON_S_MEMTOT], 456 << 20);

	/* A request hands the buffer back with an interrupt, once. */
	fg_reg_write(&g, 0x64, fg_reg_read(&g, 0x60));
	assert_int_equal(virtio_balloon_request_stats(g.vdev), 0);
	assert_int_equal(fg_used_idx(&g, 2), 1);
	assert_true(fg_reg_read(&g, 0x60) & VIRTIO_INT_USED);
	assert_int_equal(virtio_balloon_request_stats(g.vdev), -EAGAIN);
	/* The refill bumps the generation. */
	put_stat(b, VIRTIO_BALLOON_S_MEMFREE, 100 << 20);
	fg_kick(&g, 2, 0);
	assert_int_equal(virtio_balloon_wait_stats(g.vdev, 1, 1000, &st), 0);
	assert_int_equal(st.val[VIRTIO_BALLOON_S_MEMFREE], 100 << 20);
	/* After a device reset the held buffer is forgotten. */
	fg_reg_write(&g, 0x70, 0);
	assert_int_equal(virtio_balloon_request_stats(g.vdev), -ENODEV);
	fg_fini(&g);
}

static void input_select(struct fake_guest *g, uint8_t select, uint8_t subsel)
{
	assert_int_equal(vm_bus_write(&g->bus, VIRTIO_MMIO_BASE + 0x100, 1, select), 0);
	assert_int_equal(vm_bus_write(&g->bus, VIRTIO_MMIO_BASE + 0x101, 1, subsel), 0);
}

static uint8_t input_cfg8(struct fake_guest *g, unsigned off)
{
	uint64_t v = 0;
	assert_int_equal(vm_bus_read(&g->bus, VIRTIO_MMIO_BASE + 0x100 + off, 1, &v), 0);
	return (uint8_t)v;
}

static void test_input_keyboard(void **state)
{
	struct fake_guest g;
	struct vs_err err = VS_ERR_INIT;
	fg_init(&g);
	fg_attach(&g, virtio_input_keyboard_new(&g.bus, &err));
	assert_int_equal(fg_reg_read(&g, 0x8), VIRTIO_ID_INPUT);
	assert_int_equal(virtio_input_send_ctrl_alt_del(g.vdev), -EAGAIN); /* no driver */

	input_select(&g, 0x01, 0); /* ID_NAME */
	assert_true(input_cfg8(&g, 2) > 0);
	assert_int_equal(input_cfg8(&g, 8), 'v');
	input_select(&g, 0x11, 1); /* EV_BITS, EV_KEY */
	uint8_t size = input_cfg8(&g, 2);
	assert_true(size >= 14);
	assert_true(input_cfg8(&g, 8 + 29 / 8) & (1 << (29 % 8)));
	assert_true(input_cfg8(&g, 8 + 56 / 8) & (1 << (56 % 8)));
	assert_true(input_cfg8(&g, 8 + 111 / 8) & (1 << (111 % 8)));
	input_select(&g, 0x11, 2); /* EV_REL: none */
	assert_int_equal(input_cfg8(&g, 2), 0);
	input_select(&g, 0x12, 0); /* ABS_INFO: none */
	assert_int_equal(input_cfg8(&g, 2), 0);

	fg_negotiate(&g, 0, 2);
	/* Two buffers now, the other ten events wait for more. */
	for (unsigned i = 0; i < 2; i++) {
		fg_desc(&g, 0, i, BUF + 8 * i, 8, VIRTQ_DESC_F_WRITE, 0);
		fg_publish(&g, 0, (uint16_t)i);
	}
	assert_int_equal(virtio_input_send_ctrl_alt_del(g.vdev), 0);
	assert_int_equal(fg_used_idx(&g, 0), 2);
	for (unsigned i = 2; i < 12; i++) {
		fg_desc(&g, 0, i, BUF + 8 * i, 8, VIRTQ_DESC_F_WRITE, 0);
		fg_publish(&g, 0, (uint16_t)i);
	}
	fg_reg_write(&g, 0x50, 0);
	assert_int_equal(fg_used_idx(&g, 0), 12);
	uint16_t ev[12][4];
	memcpy(ev, fg_ptr(&g, BUF), sizeof(ev));
	static const uint16_t want[12][2] = { { 1, 29 },  { 0, 0 }, { 1, 56 },	{ 0, 0 },
					      { 1, 111 }, { 0, 0 }, { 1, 111 }, { 0, 0 },
					      { 1, 56 },  { 0, 0 }, { 1, 29 },	{ 0, 0 } };
	for (unsigned i = 0; i < 12; i++) {
		assert_int_equal(ev[i][0], want[i][0]);
		assert_int_equal(ev[i][1], want[i][1]);
		assert_int_equal(ev[i][2], (want[i][0] == 1 && i < 6) ? 1 : 0); /* press, release */
	}
	fg_fini(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_balloon_inflate),
		cmocka_unit_test(test_balloon_stats),
		cmocka_unit_test(test_input_keyboard),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
