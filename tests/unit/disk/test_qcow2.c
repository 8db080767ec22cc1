/* Unit tests for lib/disk's qcow2 pieces: header parsing and validation,
 * refcount entry encoding for every refcount_order, L2 entry decoding
 * (standard, zero, compressed, extended), L1 sizing, compression, the
 * metadata cache (hash lookup, LRU eviction with write-back, discard), and
 * the iovec helpers the formats share (iov.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "disk_internal.h"
#include "qcow2.h"

#define FILE_SIZE (1ULL << 30)

/* A valid v3 header: 64 KiB clusters, 1 GiB, L1 at 3 clusters, reftable at 1. */
static void good_header(uint8_t *b)
{
	memset(b, 0, 4096);
	struct qcow2_header h = {
		.version = 3,
		.cluster_bits = 16,
		.size = 1ULL << 30,
		.l1_size = 2,
		.l1_table_offset = 3 << 16,
		.refcount_table_offset = 1 << 16,
		.refcount_table_clusters = 1,
		.refcount_order = 4,
		.header_length = 112,
	};
	qcow2_header_encode(&h, b);
}

static void test_header_roundtrip(void **state)
{
	uint8_t b[4096];
	good_header(b);
	struct qcow2_header h;
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(qcow2_header_parse(b, sizeof(b), FILE_SIZE, &h, &err), 0);
	assert_int_equal(h.version, 3);
	assert_int_equal(h.cluster_bits, 16);
	assert_int_equal(h.size, 1ULL << 30);
	assert_int_equal(h.l1_size, 2);
	assert_int_equal(h.refcount_order, 4);
	assert_int_equal(h.header_length, 112);
}

/* Patch a big-endian field and expect a failure mentioning `want`. */
static void expect_reject(size_t off, unsigned width, uint64_t value, int code, const char *want)
{
	uint8_t b[4096];
	good_header(b);
	if (width == 8)
		qcow2_put64(b + off, value);
	else
		qcow2_put32(b + off, (uint32_t)value);
	struct qcow2_header h;
	struct vs_err err = VS_ERR_INIT;
	int r = qcow2_header_parse(b, sizeof(b), FILE_SIZE, &h, &err);
	if (r != -code || !strstr(err.msg, want))
		fail_msg("field at %zu = 0x%llx: got %d '%s', want %d '%s'", off,
			 (unsigned long long)value, r, err.msg, -code, want);
}

static void test_header_rejects(void **state)
{
	expect_reject(0, 4, 0x12345678, EINVAL, "bad magic");
	expect_reject(4, 4, 4, ENOTSUP, "version 4");
	expect_reject(20, 4, 8, EINVAL, "cluster_bits");
	expect_reject(20, 4, 22, EINVAL, "cluster_bits");
	expect_reject(32, 4, 1, ENOTSUP, "encrypted");
	expect_reject(72, 8, 1ULL << 2, ENOTSUP, "external data file");
	expect_reject(72, 8, 1ULL << 40, ENOTSUP, "incompatible");
	expect_reject(96, 4, 7, EINVAL, "refcount_order");
	expect_reject(100, 4, 50, EINVAL, "header_length");
	expect_reject(24, 8, 1ULL << 63, EFBIG, "absurd");
	expect_reject(24, 8, 1ULL << 40, EINVAL, "L1 table too small");
	expect_reject(36, 4, 1U << 30, EFBIG, "too large");
	expect_reject(40, 8, (3 << 16) + 512, EINVAL, "not aligned");
	expect_reject(40, 8, FILE_SIZE, EINVAL, "outside the file");
	expect_reject(40, 8, 0, EINVAL, "overlapping");
	expect_reject(40, 8, 1 << 16, EINVAL, "overlapping");
	expect_reject(48, 8, FILE_SIZE + (1 << 16), EINVAL, "outside the file");
	expect_reject(56, 4, 0, EINVAL, "no refcount table");
	expect_reject(56, 4, 1000000, EFBIG, "too large");
	expect_reject(60, 4, 1000000, EFBIG, "too many snapshots");
	expect_reject(8, 8, 70000, EINVAL, "backing file name");
}

static void test_header_truncated(void **state)
{
	uint8_t b[4096];
	good_header(b);
	struct qcow2_header h;
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(qcow2_header_parse(b, 50, FILE_SIZE, &h, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "truncated"));
	assert_int_equal(qcow2_header_parse(b, 90, FILE_SIZE, &h, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "truncated"));
}

static void test_header_v2(void **state)
{
	uint8_t b[4096];
	good_header(b);
	qcow2_put32(b + 4, 2);
	qcow2_put64(b + 72, 0xffffffffffffffffULL); /* v2: ignored */
	struct qcow2_header h;
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(qcow2_header_parse(b, 72, FILE_SIZE, &h, &err), 0);
	assert_int_equal(h.refcount_order, 4);
	assert_int_equal(h.header_length, 72);
	assert_int_equal(h.incompatible_features, 0);
}

static void test_refcount_orders(void **state)
{
	uint8_t block[512];
	for (unsigned order = 0; order <= 6; order++) {
		unsigned bits = 1U << order;
		uint64_t max = bits == 64 ? UINT64_MAX : (1ULL << bits) - 1;
		uint64_t n = sizeof(block) * 8 / bits;
		memset(block, 0, sizeof(block));
		for (uint64_t i = 0; i < n; i++)
			qcow2_refcount_encode(block, i, order, (i * 7 + 3) & max);
		for (uint64_t i = 0; i < n; i++)
			assert_int_equal(qcow2_refcount_decode(block, i, order), (i * 7 + 3) & max);
		/* neighbours untouched by a write */
		qcow2_refcount_encode(block, 5, order, max);
		assert_int_equal(qcow2_refcount_decode(block, 4, order), (4 * 7 + 3) & max);
		assert_int_equal(qcow2_refcount_decode(block, 6, order), (6 * 7 + 3) & max);
	}
	/* bit layout of order 0 as QEMU stores it: LSB first */
	memset(block, 0, sizeof(block));
	qcow2_refcount_encode(block, 1, 0, 1);
	assert_int_equal(block[0], 0x02);
	/* order 4 is big-endian 16-bit */
	qcow2_refcount_encode(block, 1, 4, 0x0102);
	assert_int_equal(block[2], 0x01);
	assert_int_equal(block[3], 0x02);
}

static void test_l2_entry_types(void **state)
{
	assert_int_equal(qcow2_l2_entry_type(0, false, 0), QCOW2_CLUSTER_UNALLOCATED);
	assert_int_equal(qcow2_l2_entry_type(1, false, 0), QCOW2_CLUSTER_ZERO_PLAIN);
	assert_int_equal(qcow2_l2_entry_type(0x50000 | 1, false, 0), QCOW2_CLUSTER_ZERO_ALLOC);
	assert_int_equal(qcow2_l2_entry_type(QCOW2_OFLAG_COPIED | 0x50000, false, 0),
			 QCOW2_CLUSTER_NORMAL);
	assert_int_equal(qcow2_l2_entry_type(QCOW2_OFLAG_COMPRESSED | 0x1234, false, 0),
			 QCOW2_CLUSTER_COMPRESSED);
	/* extended L2: bit 0 is not a zero flag; the bitmap decides */
	assert_int_equal(qcow2_l2_entry_type(0, true, 0xffffffffULL << 32),
			 QCOW2_CLUSTER_UNALLOCATED);
	assert_int_equal(qcow2_l2_entry_type(0x50000, true, 1), QCOW2_CLUSTER_NORMAL);
}

static void test_compressed_descriptor(void **state)
{
	struct qcow2 q;
	memset(&q, 0, sizeof(q));
	q.h.cluster_bits = 16;
	qcow2_setup_geometry(&q);
	assert_int_equal(q.csize_shift, 54);
	/* host offset 0x12345 (not sector aligned), 3 additional sectors */
	uint64_t e = QCOW2_OFLAG_COMPRESSED | (3ULL << 54) | 0x12345;
	uint64_t host, nbytes;
	qcow2_compressed_decode(&q, e, &host, &nbytes);
	assert_int_equal(host, 0x12345);
	assert_int_equal(nbytes, 4 * 512 - 0x145);
	q.h.cluster_bits = 21;
	qcow2_setup_geometry(&q);
	assert_int_equal(q.csize_shift, 49);
}

static void test_l1_entries(void **state)
{
	/* 64 KiB clusters: one L2 table maps 512 MiB */
	assert_int_equal(qcow2_l1_entries_for(16, 13, 0), 0);
	assert_int_equal(qcow2_l1_entries_for(16, 13, 1), 1);
	assert_int_equal(qcow2_l1_entries_for(16, 13, 512ULL << 20), 1);
	assert_int_equal(qcow2_l1_entries_for(16, 13, (512ULL << 20) + 1), 2);
	/* extended L2: 16-byte entries, 256 MiB per table */
	assert_int_equal(qcow2_l1_entries_for(16, 12, 1ULL << 30), 4);
}

static void test_compress_roundtrip(void **state)
{
	static uint8_t in[65536], out[65536], back[65536];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i / 100);
	for (int type = 0; type <= 1; type++) {
		long n = qcow2_compress(type, in, sizeof(in), out, sizeof(out) - 512);
		assert_true(n > 0 && n < 65536);
		/* trailing garbage after the stream is allowed */
		memset(out + n, 0xaa, 100);
		assert_int_equal(qcow2_decompress(type, out, (size_t)n + 100, back, sizeof(back)),
				 0);
		assert_memory_equal(in, back, sizeof(in));
		/* a truncated stream must fail, not return short data */
		assert_int_not_equal(qcow2_decompress(type, out, (size_t)n / 2, back, sizeof(back)),
				     0);
	}
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 2654435761u >> 13);
	assert_int_equal(qcow2_compress(0, in, sizeof(in), out, 1024), -ENOSPC);
}

/* Segments of 3, 5 and 4 bytes over one 12-byte array; the range [2, 10)
 * starts in the first segment and ends in the last. */
static void test_iov_helpers(void **state)
{
	(void)state;
	uint8_t mem[12], buf[8];
	for (int i = 0; i < 12; i++)
		mem[i] = (uint8_t)i;
	struct iovec iov[3] = { { mem, 3 }, { mem + 3, 5 }, { mem + 8, 4 } };

	disk_iov_to_buf(iov, 3, 2, buf, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(buf[i], i + 2);

	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(0xa0 + i);
	disk_iov_from_buf(iov, 3, 2, buf, 8);
	assert_int_equal(mem[1], 1);
	for (int i = 0; i < 8; i++)
		assert_int_equal(mem[2 + i], 0xa0 + i);
	assert_int_equal(mem[10], 10);

	disk_iov_memset(iov, 3, 4, 0x55, 5);
	assert_int_equal(mem[3], 0xa1);
	for (int i = 4; i < 9; i++)
		assert_int_equal(mem[i], 0x55);
	assert_int_equal(mem[9], 0xa7);

	struct iovec out[3];
	assert_int_equal(disk_iov_slice(iov, 3, 2, 8, out, 3), 3);
	assert_ptr_equal(out[0].iov_base, mem + 2);
	assert_int_equal(out[0].iov_len, 1);
	assert_ptr_equal(out[1].iov_base, mem + 3);
	assert_int_equal(out[1].iov_len, 5);
	assert_ptr_equal(out[2].iov_base, mem + 8);
	assert_int_equal(out[2].iov_len, 2);
	assert_int_equal(disk_iov_slice(iov, 3, 2, 8, out, 2), -1); /* more segments than room */
}

#define CT 512 /* cache test table size */

static uint8_t *cache_get(struct qcow2 *q, uint64_t off)
{
	uint8_t *t;
	assert_int_equal(qcow2_cache_get(q, &q->rb_cache, off, false, &t, NULL), 0);
	return t;
}

static void test_cache(void **state)
{
	(void)state;
	FILE *f = tmpfile();
	assert_non_null(f);
	uint8_t buf[CT];
	for (unsigned k = 0; k < 2048; k++) { /* cluster k holds byte k & 0xff */
		memset(buf, (int)(k & 0xff), CT);
		assert_int_equal(pwrite(fileno(f), buf, CT, (off_t)k * CT), CT);
	}
	struct disk_image img = { .fd = fileno(f), .path = (char *)"cache-test" };
	struct qcow2 q = { .img = &img, .fd = fileno(f), .file_size = 2048 * CT };
	assert_int_equal(qcow2_cache_init(&q.rb_cache, 4, CT), 0);

	/* four tables fill the cache; each reads its cluster */
	uint8_t *t[5];
	for (unsigned k = 1; k <= 4; k++) {
		t[k] = cache_get(&q, k * CT);
		assert_int_equal(t[k][0], k);
		t[k][1] = 0xee; /* a mark the file does not hold: lost on a re-read */
	}
	for (unsigned k = 1; k <= 4; k++)
		for (unsigned j = k + 1; j <= 4; j++)
			assert_ptr_not_equal(t[k], t[j]);
	/* table 2 dirty; 1 used again: LRU order is now 1 4 3 2 */
	t[2][7] = 0x77;
	qcow2_cache_mark_dirty(&q.rb_cache, t[2]);
	assert_int_equal(q.rb_cache.ndirty, 1);
	assert_int_equal(cache_get(&q, 1 * CT)[1], 0xee);
	/* a fifth table evicts 2, the least recently used, writing it back */
	uint8_t *t5 = cache_get(&q, 5 * CT);
	assert_int_equal(t5[0], 5);
	assert_int_equal(q.rb_cache.ndirty, 0);
	assert_int_equal(pread(fileno(f), buf, CT, 2 * CT), CT);
	assert_int_equal(buf[7], 0x77);
	assert_int_equal(buf[1], 0xee); /* the whole table went back */
	/* 1, 3 and 4 stayed (their marks survive), 2 is read again */
	assert_int_equal(cache_get(&q, 1 * CT)[1], 0xee);
	assert_int_equal(cache_get(&q, 3 * CT)[1], 0xee);
	assert_int_equal(cache_get(&q, 4 * CT)[1], 0xee);
	/* LRU order now 4 3 1 5; a discarded slot is reused before any other:
	 * discard 3 (dirty, never written), then load 6 and 2 */
	uint8_t *t3 = cache_get(&q, 3 * CT);
	t3[9] = 0x99;
	qcow2_cache_mark_dirty(&q.rb_cache, t3);
	assert_int_equal(q.rb_cache.ndirty, 1);
	qcow2_cache_discard(&q.rb_cache, 3 * CT);
	qcow2_cache_discard(&q.rb_cache, 7 * CT); /* not cached: no-op */
	qcow2_cache_discard(&q.rb_cache, 0);
	assert_int_equal(q.rb_cache.ndirty, 0);
	assert_ptr_equal(cache_get(&q, 6 * CT), t3); /* took the discarded slot */
	assert_int_equal(t3[0], 6);
	assert_int_equal(pread(fileno(f), buf, CT, 3 * CT), CT);
	assert_int_equal(buf[9], 3); /* the discarded table was not written */
	assert_int_equal(cache_get(&q, 4 * CT)[1], 0xee);
	/* LRU order 4 6 1 5: loading 2 evicts 5 */
	uint8_t *t2 = cache_get(&q, 2 * CT);
	assert_ptr_equal(t2, t5);
	assert_int_equal(t2[0], 2);
	assert_int_equal(cache_get(&q, 1 * CT)[1], 0xee);

	/* many tables through a small cache: hash chains stay consistent,
	 * the last four loaded are the ones cached */
	for (unsigned k = 8; k < 2048; k++) {
		uint8_t *x = cache_get(&q, (uint64_t)k * CT);
		assert_int_equal(x[0], k & 0xff);
		x[1] = 0xee;
		if (k % 3 == 0 && k < 2044)
			qcow2_cache_discard(&q.rb_cache, (uint64_t)(k - 1) * CT);
	}
	for (unsigned k = 2047; k >= 2044; k--)
		assert_int_equal(cache_get(&q, (uint64_t)k * CT)[1], 0xee);
	assert_int_equal(cache_get(&q, 2043 * CT)[1], 2043 & 0xff); /* read again */

	qcow2_cache_destroy(&q.rb_cache);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_roundtrip),
		cmocka_unit_test(test_header_rejects),
		cmocka_unit_test(test_header_truncated),
		cmocka_unit_test(test_header_v2),
		cmocka_unit_test(test_refcount_orders),
		cmocka_unit_test(test_l2_entry_types),
		cmocka_unit_test(test_compressed_descriptor),
		cmocka_unit_test(test_l1_entries),
		cmocka_unit_test(test_compress_roundtrip),
		cmocka_unit_test(test_iov_helpers),
		cmocka_unit_test(test_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
