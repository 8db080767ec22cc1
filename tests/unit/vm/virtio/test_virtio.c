/*
 * Unit tests of the virtio-mmio transport, split virtqueues, virtio-rng and
 * virtio-blk against a fake guest (fake_guest.c) and an in-memory block
 * backend; the hostile cases check that malformed chains end in
 * DEVICE_NEEDS_RESET with a config interrupt and never touch memory outside
 * guest RAM (ASan watches the host side).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fake_guest.h"
#include "vessel/core/log.h"

/* ---- an in-memory block backend ------------------------------------- */

struct mem_backend {
	struct vm_block_backend be;
	uint8_t *data;
	unsigned flushes, discards, zeroes;
};

static int mem_preadv(struct vm_block_backend *be, const struct iovec *iov, int n, uint64_t off,
		      struct vs_err *err)
{
	struct mem_backend *m = (struct mem_backend *)be;
	for (int i = 0; i < n; i++) {
		assert_true(off + iov[i].iov_len <= be->size);
		memcpy(iov[i].iov_base, m->data + off, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return 0;
}

static int mem_pwritev(struct vm_block_backend *be, const struct iovec *iov, int n, uint64_t off,
		       struct vs_err *err)
{
	struct mem_backend *m = (struct mem_backend *)be;
	assert_false(be->readonly);
	for (int i = 0; i < n; i++) {
		assert_true(off + iov[i].iov_len <= be->size);
		memcpy(m->data + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return 0;
}

static int mem_flush(struct vm_block_backend *be, struct vs_err *err)
{
	((struct mem_backend *)be)->flushes++;
	return 0;
}

static int mem_discard(struct vm_block_backend *be, uint64_t off, uint64_t len, struct vs_err *err)
{
	struct mem_backend *m = (struct mem_backend *)be;
	assert_true(off + len <= be->size);
	memset(m->data + off, 0, len);
	m->discards++;
	return 0;
}

static int mem_zeroes(struct vm_block_backend *be, uint64_t off, uint64_t len, struct vs_err *err)
{
	struct mem_backend *m = (struct mem_backend *)be;
	assert_true(off + len <= be->size);
	memset(m->data + off, 0, len);
	m->zeroes++;
	return 0;
}

static void mem_close(struct vm_block_backend *be)
{
	struct mem_backend *m = (struct mem_backend *)be;
	free(m->data);
	free(m);
}

static const struct vm_block_backend_ops mem_ops = {
	.preadv = mem_preadv,
	.pwritev = mem_pwritev,
	.flush = mem_flush,
	.discard = mem_discard,
	.write_zeroes = mem_zeroes,
	.close = mem_close,
};

static struct mem_backend *mem_new(uint64_t size, bool ro)
{
	struct mem_backend *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	m->data = calloc(1, size);
	for (uint64_t i = 0; i < size; i++)
		m->data[i] = (uint8_t)(i * 7 + i / 512);
	m->be = (struct vm_block_backend){ .ops = &mem_ops, .size = size, .readonly = ro };
	return m;
}

/* ---- transport --------------------------------------------------------- */

static void test_transport_registers(void **state)
{
	struct fake_guest g;
	struct vs_err err = VS_ERR_INIT;
	fg_init(&g);
	fg_attach(&g, virtio_rng_new(&g.bus, &err));
	assert_int_equal(fg_reg_read(&g, 0x0), 0x74726976);
	assert_int_equal(fg_reg_read(&g, 0x4), 2);
	assert_int_equal(fg_reg_read(&g, 0x8), VIRTIO_ID_RNG);
	fg_reg_write(&g, 0x14, 1);
	assert_true(fg_reg_read(&g, 0x10) & 1); /* VERSION_1 */
	/* A driver that does not accept VERSION_1 is refused (§4.2.2.2 legacy). */
	fg_reg_write(&g, 0x70, 3);
	fg_reg_write(&g, 0x24, 1);
	fg_reg_write(&g, 0x20, 0);
	fg_reg_write(&g, 0x70, 3 | VIRTIO_STATUS_FEATURES_OK);
	assert_false(fg_reg_read(&g, 0x70) & VIRTIO_STATUS_FEATURES_OK);
	/* Queue 1 does not exist: QueueNumMax 0. */
	fg_reg_write(&g, 0x30, 1);
	assert_int_equal(fg_reg_read(&g, 0x34), 0);
	/* Sub-word register access faults; config space beyond size reads 0. */
	uint64_t v = 1;
	assert_int_equal(vm_bus_read(&g.bus, VIRTIO_MMIO_BASE + 2, 2, &v), -1);
	assert_int_equal(vm_bus_read(&g.bus, VIRTIO_MMIO_BASE + 0x100, 4, &v), 0);
	assert_int_equal(v, 0);
	fg_fini(&g);
}

/* ---- rng --------------------------------------------------------------- */

static void test_rng_fills_buffers(void **state)
{
	struct fake_guest g;
	struct vs_err err = VS_ERR_INIT;
	fg_init(&g);
	fg_attach(&g, virtio_rng_new(&g.bus, &err));
	fg_negotiate(&g, 0, 1);
	uint8_t *buf = fg_ptr(&g, G_DATA);
	memset(buf, 0, 64);
	fg_desc(&g, 0, 3, G_DATA, 64, VIRTQ_DESC_F_WRITE, 0);
	fg_kick(&g, 0, 3);
	assert_int_equal(fg_used_idx(&g, 0), 1);
	uint32_t id, len;
	fg_used_elem(&g, 0, 0, &id, &len);
	assert_int_equal(id, 3);
	assert_int_equal(len, 64);
	unsigned nonzero = 0;
	for (int i = 0; i < 64; i++)
		nonzero += buf[i] != 0;
	assert_true(nonzero > 32);
	assert_int_equal(g.irq_level, 1);
	assert_int_equal(fg_reg_read(&g, 0x60), VIRTIO_INT_USED);
	fg_reg_write(&g, 0x64, VIRTIO_INT_USED);
	assert_int_equal(g.irq_level, 0);
	fg_fini(&g);
}

/* ---- blk --------------------------------------------------------------- */

#define HDR    (G_DATA)
#define BUF    (G_DATA + 0x1000)
#define STATUS (G_DATA + 0x800)

static void put_hdr(struct fake_guest *g, uint32_t type, uint64_t sector)
{
	uint8_t *h = fg_ptr(g, HDR);
	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	*(uint8_t *)fg_ptr(g, STATUS) = 0xee;
}

/* header, data (direction by type), status as three descriptors 0,1,2 */
static uint8_t blk_request(struct fake_guest *g, uint32_t type, uint64_t sector, uint32_t len,
			   bool data_writable)
{
	put_hdr(g, type, sector);
	uint16_t before = fg_used_idx(g, 0);
	fg_desc(g, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	if (len) {
		fg_desc(g, 0, 1, BUF, len,
			VIRTQ_DESC_F_NEXT | (data_writable ? VIRTQ_DESC_F_WRITE : 0), 2);
		fg_desc(g, 0, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	} else {
		fg_desc(g, 0, 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	}
	fg_kick(g, 0, 0);
	assert_int_equal(fg_used_idx(g, 0), (uint16_t)(before + 1));
	return *(uint8_t *)fg_ptr(g, STATUS);
}

static void test_blk_read_write(void **state)
{
	struct fake_guest g;
	struct vs_err err = VS_ERR_INIT;
	struct mem_backend *m = mem_new(64 * 1024, false);
	fg_init(&g);
	fg_attach(&g, virtio_blk_new(&g.bus, &m->be, "vessel-disk0", NULL, &err));
	fg_negotiate(&g, 0, 1);
	uint64_t capacity = 0;
	assert_int_equal(vm_bus_read(&g.bus, VIRTIO_MMIO_BASE + 0x100, 8, &capacity), 0);
	assert_int_equal(capacity, 128);

	/* Read sectors 2-3. */
	assert_int_equal(blk_request(&g, 0, 2, 1024, true), 0);
	assert_memory_equal(fg_ptr(&g, BUF), m->data + 1024, 1024);
	uint32_t id, len;
	fg_used_elem(&g, 0, 0, &id, &len);
	assert_int_equal(len, 1025);

	/* Write sector 5. */
	memset(fg_ptr(&g, BUF), 0xab, 512);
	assert_int_equal(blk_request(&g, 1, 5, 512, false), 0);
	assert_int_equal(m->data[5 * 512], 0xab);
	assert_int_equal(m->data[6 * 512 - 1], 0xab);
	assert_int_not_equal(m->data[6 * 512], 0xab);

	/* Beyond the end, partial sectors: IOERR, nothing transferred. */
	assert_int_equal(blk_request(&g, 0, 127, 1024, true), 1);
	assert_int_equal(blk_request(&g, 1, UINT64_MAX / 256, 512, false), 1);
	assert_int_equal(blk_request(&g, 0, 0, 100, true), 1);

	/* Flush, GET_ID, unknown type. */
	assert_int_equal(blk_request(&g, 4, 0, 0, false), 0);
	assert_int_equal(m->flushes, 1);
	assert_int_equal(blk_request(&g, 8, 0, 20, true), 0);
	assert_memory_equal(fg_ptr(&g, BUF), "vessel-disk0\0\0\0\0\0\0\0", 20);
	assert_int_equal(blk_request(&g, 99, 0, 0, false), 2);

	/* Write zeroes over sectors 5-6. */
	uint8_t *r = fg_ptr(&g, BUF);
	uint64_t sector = 5;
	uint32_t num = 2, flags = 0;
	memcpy(r, &sector, 8);
	memcpy(r + 8, &num, 4);
	memcpy(r + 12, &flags, 4);
	assert_int_equal(blk_request(&g, 13, 0, 16, false), 0);
	assert_int_equal(m->zeroes, 1);
	assert_int_equal(m->data[5 * 512], 0);
	/* Discard beyond the end. */
	sector = 127;
	memcpy(r, &sector, 8);
	assert_int_equal(blk_request(&g, 11, 0, 16, false), 1);
	assert_int_equal(m->discards, 0);
	assert_int_equal(fg_reg_read(&g, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	fg_fini(&g);
}

static void test_blk_readonly(void **state)
{
	struct fake_guest g;
	struct vs_err err = VS_ERR_INIT;
	struct mem_backend *m = mem_new(8192, true);
	fg_init(&g);
	fg_attach(&g, virtio_blk_new(&g.bus, &m->be, NULL, NULL, &err));
	fg_reg_write(&g, 0x14, 0);
	assert_true(fg_reg_read(&g, 0x10) & (1 << 5)); /* VIRTIO_BLK_F_RO */
	fg_negotiate(&g, 0, 1);
	uint8_t before = m->data[0];
	assert_int_equal(blk_request(&g, 1, 0, 512, false), 1);
	assert_int_equal(m->data[0], before);
	assert_int_equal(blk_request(&g, 0, 0, 512, true), 0);
	fg_fini(&g);
}

/* A request through an indirect table that is only 8-byte aligned, as
 * Linux's kmalloc'd tables often are (no alignment rule in §2.7.5.3). */
static void test_blk_indirect_unaligned_table(void **state)
{
	struct fake_guest g;
	struct vs_err err = VS_ERR_INIT;
	struct mem_backend *m = mem_new(8192, false);
	fg_init(&g);
	fg_attach(&g, virtio_blk_new(&g.bus, &m->be, NULL, NULL, &err));
	fg_negotiate(&g, 0, 1);
	put_hdr(&g, 0, 3);
	uint64_t table = G_DATA + 0x4008;
	uint8_t *t = fg_ptr(&g, table);
	const struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
	} d[3] = { { HDR, 16, VIRTQ_DESC_F_NEXT, 1 },
		   { BUF, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2 },
		   { STATUS, 1, VIRTQ_DESC_F_WRITE, 0 } };
	memcpy(t, d, sizeof(d));
	fg_desc(&g, 0, 5, table, 48, VIRTQ_DESC_F_INDIRECT, 0);
	fg_kick(&g, 0, 5);
	assert_int_equal(fg_reg_read(&g, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	assert_int_equal(fg_used_idx(&g, 0), 1);
	assert_int_equal(*(uint8_t *)fg_ptr(&g, STATUS), 0);
	assert_memory_equal(fg_ptr(&g, BUF), m->data + 3 * 512, 512);
	fg_fini(&g);
}

/* ---- hostile chains ---------------------------------------------------- */

static struct fake_guest *hostile_setup(void)
{
	struct fake_guest *g = calloc(1, sizeof(*g));
	struct vs_err err = VS_ERR_INIT;
	fg_init(g);
	fg_attach(g, virtio_blk_new(&g->bus, &mem_new(8192, false)->be, NULL, NULL, &err));
	fg_negotiate(g, 0, 1);
	put_hdr(g, 0, 0);
	return g;
}

static void expect_needs_reset(struct fake_guest *g, const char *what)
{
	uint32_t status = fg_reg_read(g, 0x70);
	if (!(status & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
		fail_msg("%s: device did not ask for a reset (status 0x%x)", what, status);
	assert_true(fg_reg_read(g, 0x60) & VIRTIO_INT_CONFIG);
	assert_int_equal(g->irq_level, 1);
	assert_int_equal(fg_used_idx(g, 0), 0);
	/* Further notifications are ignored until reset. */
	fg_reg_write(g, 0x50, 0);
	assert_int_equal(fg_used_idx(g, 0), 0);
	/* After a reset the device works again. */
	fg_negotiate(g, 0, 1);
	assert_int_equal(fg_reg_read(g, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	assert_int_equal(g->irq_level, 0);
	assert_int_equal(blk_request(g, 0, 0, 512, true), 0);
	fg_fini(g);
	free(g);
}

static void test_hostile_loop(void **state)
{
	struct fake_guest *g = hostile_setup();
	fg_desc(g, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	fg_desc(g, 0, 1, BUF, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	fg_desc(g, 0, 2, STATUS, 1, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	fg_kick(g, 0, 0);
	expect_needs_reset(g, "loop");
}

static void test_hostile_out_of_ram(void **state)
{
	struct fake_guest *g = hostile_setup();
	fg_desc(g, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	fg_desc(g, 0, 1, G_RAM_BASE + G_RAM_SIZE - 256, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
		2);
	fg_desc(g, 0, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	fg_kick(g, 0, 0);
	expect_needs_reset(g, "straddles the end of RAM");
}

static void test_hostile_huge_length(void **state)
{
	struct fake_guest *g = hostile_setup();
	fg_desc(g, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	fg_desc(g, 0, 1, BUF, 0xfffffff0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	fg_desc(g, 0, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	fg_kick(g, 0, 0);
	expect_needs_reset(g, "huge length");
}

static void test_hostile_wrapping_address(void **state)
{
	struct fake_guest *g = hostile_setup();
	fg_desc(g, 0, 0, UINT64_MAX - 7, 16, VIRTQ_DESC_F_NEXT, 1);
	fg_desc(g, 0, 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	fg_kick(g, 0, 0);
	expect_needs_reset(g, "address wraps");
}

static void test_hostile_write_to_rom(void **state)
{
	struct fake_guest *g = hostile_setup();
	fg_desc(g, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	fg_desc(g, 0, 1, G_ROM_BASE, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	fg_desc(g, 0, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	fg_kick(g, 0, 0);
	for (unsigned i = 0; i < sizeof(g->rom); i++)
		assert_int_equal(g->rom[i], 0);
	expect_needs_reset(g, "device write into ROM");
}

static void test_hostile_bad_index(void **state)
{
	struct fake_guest *g = hostile_setup();
	fg_desc(g, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 200);
	fg_kick(g, 0, 0);
	expect_needs_reset(g, "next out of range");
}

static void test_hostile_bad_head(void **state)
{
	struct fake_guest *g = hostile_setup();
	fg_kick(g, 0, 999);
	expect_needs_reset(g, "head out of range");
}

static void test_hostile_avail_jump(void **state)
{
	struct fake_guest *g = hostile_setup();
	uint16_t idx = 1000;
	memcpy((uint8_t *)fg_ptr(g, G_AVAIL(0)) + 2, &idx, 2);
	fg_reg_write(g, 0x50, 0);
	expect_needs_reset(g, "available index jump");
}

static void test_hostile_nested_indirect(void **state)
{
	struct fake_guest *g = hostile_setup();
	uint64_t table = G_DATA + 0x4000;
	/* Indirect table whose first entry is itself indirect. */
	uint8_t *t = fg_ptr(g, table);
	uint64_t addr = table;
	uint32_t len = 32;
	uint16_t flags = VIRTQ_DESC_F_INDIRECT, next = 0;
	memcpy(t, &addr, 8);
	memcpy(t + 8, &len, 4);
	memcpy(t + 12, &flags, 2);
	memcpy(t + 14, &next, 2);
	fg_desc(g, 0, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	fg_kick(g, 0, 0);
	expect_needs_reset(g, "nested indirect");
}

static void test_hostile_indirect_loop(void **state)
{
	struct fake_guest *g = hostile_setup();
	uint64_t table = G_DATA + 0x4000;
	uint8_t *t = fg_ptr(g, table);
	for (unsigned i = 0; i < 4; i++) {
		uint64_t addr = HDR;
		uint32_t len = 16;
		uint16_t flags = VIRTQ_DESC_F_NEXT, next = (uint16_t)((i + 1) % 4);
		memcpy(t + 16 * i, &addr, 8);
		memcpy(t + 16 * i + 8, &len, 4);
		memcpy(t + 16 * i + 12, &flags, 2);
		memcpy(t + 16 * i + 14, &next, 2);
	}
	fg_desc(g, 0, 0, table, 64, VIRTQ_DESC_F_INDIRECT, 0);
	fg_kick(g, 0, 0);
	expect_needs_reset(g, "indirect loop");
}

static void test_hostile_missing_status(void **state)
{
	struct fake_guest *g = hostile_setup();
	fg_desc(g, 0, 0, HDR, 16, 0, 0);
	fg_kick(g, 0, 0);
	expect_needs_reset(g, "no status byte");
}

static void test_hostile_ring_outside_ram(void **state)
{
	struct fake_guest g;
	struct vs_err err = VS_ERR_INIT;
	fg_init(&g);
	fg_attach(&g, virtio_rng_new(&g.bus, &err));
	fg_reg_write(&g, 0x70, 3);
	fg_reg_write(&g, 0x24, 1);
	fg_reg_write(&g, 0x20, 1);
	fg_reg_write(&g, 0x70, 3 | VIRTIO_STATUS_FEATURES_OK);
	fg_reg_write(&g, 0x30, 0);
	fg_reg_write(&g, 0x38, 256);
	fg_reg_write(&g, 0x80, (uint32_t)(G_RAM_BASE + G_RAM_SIZE - 16));
	fg_reg_write(&g, 0x84, 0);
	fg_reg_write(&g, 0x90, (uint32_t)G_AVAIL(0));
	fg_reg_write(&g, 0xa0, (uint32_t)G_USED(0));
	fg_reg_write(&g, 0x44, 1);
	assert_int_equal(fg_reg_read(&g, 0x44), 0);
	assert_true(fg_reg_read(&g, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	fg_fini(&g);
}

static unsigned warnings;

static void count_log(enum vs_log_level level, const char *msg, void *opaque)
{
	if (level == VS_LOG_WARN)
		warnings++;
}

/* A guest cycling through reset + malformed chain cannot flood the log. */
static void test_hostile_log_flood(void **state)
{
	struct fake_guest *g = hostile_setup();
	vs_log_set_handler(count_log, NULL);
	warnings = 0;
	for (unsigned i = 0; i < 100; i++) {
		fg_negotiate(g, 0, 1);
		fg_kick(g, 0, 999);
		assert_true(fg_reg_read(g, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	}
	vs_log_set_handler(NULL, NULL);
	assert_int_equal(warnings, VIRTIO_MAX_LOGGED_FAILURES);
	fg_fini(g);
	free(g);
}

/* ---- notification suppression ------------------------------------------ */

static void test_event_idx(void **state)
{
	struct fake_guest g;
	struct vs_err err = VS_ERR_INIT;
	fg_init(&g);
	fg_attach(&g, virtio_rng_new(&g.bus, &err));
	fg_negotiate(&g, 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_EVENT_IDX, 1);
	uint8_t *avail = fg_ptr(&g, G_AVAIL(0));
	uint16_t used_event = 1; /* interrupt only once used idx passes 1 */
	memcpy(avail + 4 + 2 * G_QSIZE, &used_event, 2);
	fg_desc(&g, 0, 0, G_DATA, 8, VIRTQ_DESC_F_WRITE, 0);
	fg_kick(&g, 0, 0); /* first notification always interrupts */
	assert_int_equal(g.irq_edges, 1);
	fg_reg_write(&g, 0x64, 1);
	fg_kick(&g, 0, 0); /* used idx 2 passes used_event 1: interrupt */
	assert_int_equal(g.irq_edges, 2);
	fg_reg_write(&g, 0x64, 1);
	fg_kick(&g, 0, 0); /* used idx 3: used_event not crossed, no interrupt */
	assert_int_equal(g.irq_edges, 2);
	assert_int_equal(fg_used_idx(&g, 0), 3);
	/* avail_event published by the device: last_avail. */
	uint16_t avail_event;
	memcpy(&avail_event, (uint8_t *)fg_ptr(&g, G_USED(0)) + 4 + 8 * G_QSIZE, 2);
	assert_int_equal(avail_event, 3);
	fg_fini(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transport_registers),
		cmocka_unit_test(test_rng_fills_buffers),
		cmocka_unit_test(test_blk_read_write),
		cmocka_unit_test(test_blk_readonly),
		cmocka_unit_test(test_blk_indirect_unaligned_table),
		cmocka_unit_test(test_hostile_loop),
		cmocka_unit_test(test_hostile_out_of_ram),
		cmocka_unit_test(test_hostile_huge_length),
		cmocka_unit_test(test_hostile_wrapping_address),
		cmocka_unit_test(test_hostile_write_to_rom),
		cmocka_unit_test(test_hostile_bad_index),
		cmocka_unit_test(test_hostile_bad_head),
		cmocka_unit_test(test_hostile_avail_jump),
		cmocka_unit_test(test_hostile_nested_indirect),
		cmocka_unit_test(test_hostile_indirect_loop),
		cmocka_unit_test(test_hostile_missing_status),
		cmocka_unit_test(test_hostile_ring_outside_ram),
		cmocka_unit_test(test_hostile_log_flood),
		cmocka_unit_test(test_event_idx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
