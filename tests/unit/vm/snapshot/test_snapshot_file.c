/*
 * test_snapshot_file.c - the snapshot container (lib/vm/snapshot/file.c),
 * its field encoding (state.c) and CRC32C (lib/core/crc32c.c):
 * known-answer CRC, encode/decode round trips and their bounds, a file
 * written and read back (sections, RAM page bitmap, holes for zero pages,
 * RAM at the recorded offset), and a few hundred corrupted or truncated
 * copies that the reader must refuse (or, for bytes no checksum covers,
 * accept) without ever reading out of bounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vessel/core/crc32c.h"
#include "vessel/core/util.h"
#include "vessel/vm/snapshot.h"
#include "vessel/vm/state.h"

#define RAM_SIZE (256 * 4096ULL)

static void test_crc32c(void **state)
{
	(void)state;
	assert_int_equal(vs_crc32c(0, "123456789", 9), 0xE3069283U);
	assert_int_equal(vs_crc32c(0, "", 0), 0);
	uint8_t buf[1000];
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	uint32_t whole = vs_crc32c(0, buf, sizeof(buf));
	for (unsigned cut = 0; cut <= sizeof(buf); cut += 37)
		assert_int_equal(vs_crc32c(vs_crc32c(0, buf, cut), buf + cut, sizeof(buf) - cut),
				 whole);
}

static void test_state_roundtrip(void **state)
{
	(void)state;
	struct vm_state w = { 0 };
	vm_state_put_u8(&w, 0xab);
	vm_state_put_u16(&w, 0x1234);
	vm_state_put_u32(&w, 0xdeadbeef);
	vm_state_put_u64(&w, 0x0102030405060708ULL);
	vm_state_put_str(&w, "hello");
	assert_false(w.failed);
	assert_int_equal(w.len, 1 + 2 + 4 + 8 + 4 + 5);
	assert_int_equal(w.data[3], 0xef); /* little-endian on the wire */

	struct vm_state r = vm_state_reader(w.data, w.len);
	char s[8];
	assert_int_equal(vm_state_get_u8(&r), 0xab);
	assert_int_equal(vm_state_get_u16(&r), 0x1234);
	assert_int_equal(vm_state_get_u32(&r), 0xdeadbeef);
	assert_true(vm_state_get_u64(&r) == 0x0102030405060708ULL);
	vm_state_get_str(&r, s, sizeof(s));
	assert_string_equal(s, "hello");
	assert_int_equal(vm_state_check_end(&r, "t", NULL), 0);

	/* past the end: zeros and an error, never a read outside */
	struct vm_state shortr = vm_state_reader(w.data, 3);
	assert_int_equal(vm_state_get_u32(&shortr), 0);
	assert_true(shortr.failed);
	assert_int_equal(vm_state_get_u64(&shortr), 0);
	assert_int_equal(vm_state_check_end(&shortr, "t", NULL), -EINVAL);
	/* trailing bytes are an error too */
	struct vm_state trail = vm_state_reader(w.data, w.len);
	vm_state_get_u8(&trail);
	assert_int_equal(vm_state_check_end(&trail, "t", NULL), -EINVAL);
	/* a string longer than the buffer */
	struct vm_state longs = vm_state_reader(w.data + 15, w.len - 15);
	char tiny[4];
	vm_state_get_str(&longs, tiny, sizeof(tiny));
	assert_true(longs.failed);
	assert_string_equal(tiny, "");
	vm_state_free(&w);
}

static char dir[64], path[128];

static void write_sample(uint8_t *ram)
{
	struct vs_err err = VS_ERR_INIT;
	memset(ram, 0, RAM_SIZE);
	memset(ram + 5 * 4096, 0x11, 4096);
	memset(ram + 6 * 4096 + 100, 0x22, 10);
	ram[RAM_SIZE - 1] = 0x33;
	struct vm_snap_writer w;
	assert_int_equal(vm_snap_writer_open(&w, path, VM_SNAP_FULL, &err), 0);
	assert_int_equal(vm_snap_writer_section(&w, VM_SNAP_SEC_META, 0, 1, "meta!", 5, &err), 0);
	assert_int_equal(vm_snap_writer_section(&w, VM_SNAP_SEC_HART, 3, 1, "hart3", 5, &err), 0);
	assert_int_equal(vm_snap_writer_ram(&w, ram, 0x80000000ULL, RAM_SIZE, NULL, &err), 0);
	assert_int_equal(vm_snap_writer_commit(&w, &err), 0);
}

static void test_file_roundtrip(void **state)
{
	(void)state;
	struct vs_err err = VS_ERR_INIT;
	uint8_t *ram = aligned_alloc(4096, RAM_SIZE);
	assert_non_null(ram);
	write_sample(ram);

	struct vm_snap_reader r;
	assert_int_equal(vm_snap_reader_open(&r, path, &err), 0);
	const struct vm_snap_section *s = vm_snap_find(&r, VM_SNAP_SEC_HART, 3);
	assert_non_null(s);
	assert_int_equal(s->len, 5);
	assert_memory_equal(s->data, "hart3", 5);
	assert_null(vm_snap_find(&r, VM_SNAP_SEC_HART, 0));
	assert_true(r.has_ram);
	assert_int_equal(r.ram.size, RAM_SIZE);
	assert_int_equal(r.ram.stored_pages, 3);
	assert_int_equal(r.ram.data_offset % 4096, 0);
	assert_true((r.ram.bitmap[0] >> 5) & 1);
	assert_false((r.ram.bitmap[0] >> 4) & 1);
	uint8_t *back = malloc(RAM_SIZE);
	assert_int_equal(vs_pread_full(r.fd, back, RAM_SIZE, (off_t)r.ram.data_offset), 0);
	assert_memory_equal(back, ram, RAM_SIZE);
	struct stat st;
	assert_int_equal(fstat(r.fd, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 < RAM_SIZE / 2); /* zero pages are holes */
	vm_snap_reader_close(&r);
	vm_snap_reader_close(&r); /* twice is fine */
	free(back);
	free(ram);
}

static void test_file_corrupt(void **state)
{
	(void)state;
	struct vs_err err = VS_ERR_INIT;
	uint8_t *ram = aligned_alloc(4096, RAM_SIZE);
	assert_non_null(ram);
	write_sample(ram);
	char *orig = NULL;
	size_t len = 0;
	assert_int_equal(vs_read_file(path, &orig, &len, 64 << 20, &err), 0);
	struct vm_snap_reader r;
	assert_int_equal(vm_snap_reader_open(&r, path, &err), 0);
	/* header 64, META 24+8, HART 24+8, RAM 24+40+32, END 24: the bytes the
	 * checksums and length checks cover (but 6 bytes of section padding) */
	uint64_t head = 64 + 32 + 32 + 96 + 24;
	assert_true(head <= r.ram.data_offset);
	vm_snap_reader_close(&r);
	char bad[160];
	snprintf(bad, sizeof(bad), "%s/bad", dir);
	unsigned seed = 12345, refused = 0;
	for (unsigned i = 0; i < 400; i++) {
		seed = seed * 1103515245 + 12345;
		int fd = open(bad, O_RDWR | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(vs_pwrite_full(fd, orig, len, 0), 0);
		if (i % 4 == 3) { /* truncated */
			assert_int_equal(ftruncate(fd, (off_t)((seed >> 8) % len)), 0);
		} else { /* one byte of the head changed */
			uint64_t off = (seed >> 8) % head;
			uint8_t b = (uint8_t)orig[off] ^ (uint8_t)(1u << (seed % 8));
			assert_int_equal(vs_pwrite_full(fd, &b, 1, (off_t)off), 0);
		}
		close(fd);
		struct vs_err e = VS_ERR_INIT;
		int rc = vm_snap_reader_open(&r, bad, &e);
		if (rc < 0) {
			refused++;
			assert_true(strstr(e.msg, "snapshot") != NULL);
		} else {
			vm_snap_reader_close(&r);
		}
	}
	/* only the padding inside sections is not covered */
	assert_true(refused > 370);
	unlink(bad);
	free(orig);
	free(ram);
}

/* RAMSUM: every stored page is covered; a changed page byte is caught by
 * vm_snap_reader_check_ram (not by open, which never reads RAM); a file
 * without RAMSUM passes (older files). */
static void test_file_ram_sum(void **state)
{
	(void)state;
	struct vs_err err = VS_ERR_INIT;
	uint8_t *ram = aligned_alloc(4096, RAM_SIZE);
	assert_non_null(ram);
	write_sample(ram); /* no RAMSUM */
	struct vm_snap_reader r;
	assert_int_equal(vm_snap_reader_open(&r, path, &err), 0);
	assert_null(vm_snap_find(&r, VM_SNAP_SEC_RAMSUM, 0));
	assert_int_equal(vm_snap_reader_check_ram(&r, &err), 0);
	vm_snap_reader_close(&r);

	struct vm_snap_writer w;
	assert_int_equal(vm_snap_writer_open(&w, path, VM_SNAP_FULL, &err), 0);
	w.ram_sum = true;
	assert_int_equal(vm_snap_writer_section(&w, VM_SNAP_SEC_META, 0, 1, "meta!", 5, &err), 0);
	assert_int_equal(vm_snap_writer_ram(&w, ram, 0x80000000ULL, RAM_SIZE, NULL, &err), 0);
	assert_int_equal(vm_snap_writer_commit(&w, &err), 0);
	assert_int_equal(vm_snap_reader_open(&r, path, &err), 0);
	assert_non_null(vm_snap_find(&r, VM_SNAP_SEC_RAMSUM, 0));
	assert_int_equal(vm_snap_reader_check_ram(&r, &err), 0);
	uint64_t data = r.ram.data_offset;
	vm_snap_reader_close(&r);
	/* one byte of each stored page, in turn */
	const uint64_t where[] = { 5 * 4096 + 17, 6 * 4096 + 105, RAM_SIZE - 1 };
	for (unsigned i = 0; i < 3; i++) {
		int fd = open(path, O_RDWR);
		assert_true(fd >= 0);
		uint8_t b;
		assert_int_equal(vs_pread_full(fd, &b, 1, (off_t)(data + where[i])), 0);
		b ^= 0x40;
		assert_int_equal(vs_pwrite_full(fd, &b, 1, (off_t)(data + where[i])), 0);
		assert_int_equal(vm_snap_reader_open(&r, path, &err), 0);
		struct vs_err e = VS_ERR_INIT;
		assert_int_equal(vm_snap_reader_check_ram(&r, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "do not match their CRC32C"));
		vm_snap_reader_close(&r);
		b ^= 0x40;
		assert_int_equal(vs_pwrite_full(fd, &b, 1, (off_t)(data + where[i])), 0);
		close(fd);
		assert_int_equal(vm_snap_reader_open(&r, path, &err), 0);
		assert_int_equal(vm_snap_reader_check_ram(&r, &err), 0);
		vm_snap_reader_close(&r);
	}
	free(ram);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vessel-snapfile-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/s.snap", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),	       cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_file_roundtrip), cmocka_unit_test(test_file_corrupt),
		cmocka_unit_test(test_file_ram_sum),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
