/*
 * file.c - the snapshot container (docs/snapshot-format.md): header,
 * CRC32C-checked sections, and guest RAM at a page-aligned offset with zero
 * or unchanged pages left as holes.
 *
 * Header (64 bytes, little-endian):
 *   0  magic "VSLSNAP\n"      8  u32 version     12 u32 header size (64)
 *   16 u32 kind (0 full, 1 diff)                  20 u32 number of sections
 *   24 u64 file size          32..59 reserved (0) 60 u32 CRC32C of bytes 0..59
 * Sections follow at offset 64, each 8-byte aligned:
 *   u32 type, u32 instance, u32 version, u32 CRC32C (of the other 20 header
 *   bytes, then the payload), u64 payload length, payload, zero padding to 8.
 * The last section is END (type 0, empty); RAM (type 12) comes just before
 * it and holds { u64 base, u64 size, u64 page size, u64 data offset,
 * u64 stored pages, u64 bitmap[size / 4096 / 64 rounded up] }.
 *
 * Page contents are not checksummed: restore maps them lazily and a
 * checksum would mean reading all of RAM.  Truncation is still caught: the
 * file size must cover the whole RAM extent (the writer extends the file
 * with ftruncate, so trailing zero pages are a hole, not missing data).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/crc32c.h"
#include "vessel/core/util.h"
#include "vessel/vm/snapshot.h"
#include "vessel/vm/state.h"

#define SEC_HEADER 24
#define RAM_FIXED  40
#define WRITE_RUN  (1ULL << 20)	  /* bytes per pwrite of contiguous pages */
#define RAMSUM_LEN 16		  /* u64 stored pages, u32 CRC32C, u32 0 */
#define MAP_STEP   (128ULL << 10) /* the reader maps the file's head in these */

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "snapshot bitmaps are little-endian");

static uint64_t align8(uint64_t v)
{
	return (v + 7) & ~7ULL;
}

static uint32_t get32(const uint8_t *p)
{
	struct vm_state s = vm_state_reader(p, 4);
	return vm_state_get_u32(&s);
}

static uint64_t get64(const uint8_t *p)
{
	struct vm_state s = vm_state_reader(p, 8);
	return vm_state_get_u64(&s);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* CRC32C of a section: its header but the CRC field, then the payload. */
static uint32_t section_crc(const uint8_t *sh, const void *data, uint64_t len)
{
	uint32_t c = vs_crc32c(0, sh, 12);
	c = vs_crc32c(c, sh + 16, 8);
	return vs_crc32c(c, data, len);
}

/* ---- writer --------------------------------------------------------------- */

int vm_snap_writer_open(struct vm_snap_writer *w, const char *path, enum vm_snap_kind kind,
			struct vs_err *err)
{
	*w = (struct vm_snap_writer){ .fd = -1, .kind = kind, .off = VM_SNAP_HEADER_SIZE };
	w->path = strdup(path);
	if (!w->path || asprintf(&w->tmp_path, "%s.tmp-%d", path, (int)getpid()) < 0) {
		w->tmp_path = NULL;
		vm_snap_writer_abort(w);
		return vs_errf(err, ENOMEM, "snapshot: out of memory");
	}
	w->fd = open(w->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		int e = errno;
		vs_syserrf(err, e, "snapshot: create %s", w->tmp_path);
		free(w->tmp_path);
		w->tmp_path = NULL;
		vm_snap_writer_abort(w);
		return -e;
	}
	return 0;
}

int vm_snap_writer_section(struct vm_snap_writer *w, uint32_t type, uint32_t instance,
			   uint32_t version, const void *data, size_t len, struct vs_err *err)
{
	if (w->nsections >= VM_SNAP_MAX_SECTIONS || len > VM_SNAP_MAX_SECTION)
		return vs_errf(err, EFBIG, "snapshot: too many or too large sections");
	uint64_t total = SEC_HEADER + align8(len);
	vs_cleanup_free uint8_t *buf = calloc(1, total);
	if (!buf)
		return vs_errf(err, ENOMEM, "snapshot: out of memory");
	put32(buf, type);
	put32(buf + 4, instance);
	put32(buf + 8, version);
	put64(buf + 16, len);
	put32(buf + 12, section_crc(buf, data, len));
	if (len)
		memcpy(buf + SEC_HEADER, data, len);
	int r = vs_pwrite_full(w->fd, buf, total, (off_t)w->off);
	if (r < 0)
		return vs_syserrf(err, -r, "snapshot: write %s", w->tmp_path);
	w->off += total;
	w->nsections++;
	return 0;
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;
	for (unsigned i = 0; i < VM_SNAP_PAGE_SIZE / 8; i += 4)
		if (q[i] | q[i + 1] | q[i + 2] | q[i + 3])
			return false;
	return true;
}

int vm_snap_writer_ram(struct vm_snap_writer *w, const uint8_t *ram, uint64_t base, uint64_t size,
		       const uint64_t *dirty, struct vs_err *err)
{
	uint64_t npages = size / VM_SNAP_PAGE_SIZE, words = (npages + 63) / 64;
	vs_cleanup_free uint64_t *bitmap = calloc(words ? words : 1, 8);
	if (!bitmap)
		return vs_errf(err, ENOMEM, "snapshot: out of memory");
	uint64_t stored = 0;
	for (uint64_t p = 0; p < npages; p++) {
		bool want = dirty ? (dirty[p / 64] >> (p % 64)) & 1
				  : (!w->touched || w->touched[p]) &&
					!page_is_zero(ram + p * VM_SNAP_PAGE_SIZE);
		if (want) {
			bitmap[p / 64] |= 1ULL << (p % 64);
			stored++;
		}
	}
	if (w->ram_sum && !w->ram_elsewhere) {
		uint32_t crc = 0;
		for (uint64_t p = 0; p < npages; p++)
			if ((bitmap[p / 64] >> (p % 64)) & 1)
				crc =
				    vs_crc32c(crc, ram + p * VM_SNAP_PAGE_SIZE, VM_SNAP_PAGE_SIZE);
		uint8_t sum[RAMSUM_LEN] = { 0 };
		put64(sum, stored);
		put32(sum + 8, crc);
		int r = vm_snap_writer_section(w, VM_SNAP_SEC_RAMSUM, 0, 1, sum, sizeof(sum), err);
		if (r < 0)
			return r;
	}
	/* RAM section, END, then the pages from the next page boundary. */
	uint64_t sec_len = RAM_FIXED + words * 8;
	uint64_t data_off = w->off + SEC_HEADER + align8(sec_len) + SEC_HEADER;
	data_off = (data_off + VM_SNAP_PAGE_SIZE - 1) & ~(VM_SNAP_PAGE_SIZE - 1);
	if (w->fixed_data_offset) {
		if (data_off > w->fixed_data_offset)
			return vs_errf(err, EFBIG,
				       "snapshot: state of %" PRIu64 " bytes exceeds %" PRIu64,
				       data_off, w->fixed_data_offset);
		data_off = w->fixed_data_offset;
	}
	vs_cleanup_free uint8_t *sec = malloc(sec_len);
	if (!sec)
		return vs_errf(err, ENOMEM, "snapshot: out of memory");
	put64(sec, base);
	put64(sec + 8, size);
	put64(sec + 16, VM_SNAP_PAGE_SIZE);
	put64(sec + 24, data_off);
	put64(sec + 32, stored);
	memcpy(sec + RAM_FIXED, bitmap, words * 8);
	int r = vm_snap_writer_section(w, VM_SNAP_SEC_RAM, 0, 1, sec, sec_len, err);
	if (r == 0)
		r = vm_snap_writer_section(w, VM_SNAP_SEC_END, 0, 1, NULL, 0, err);
	if (r < 0)
		return r;
	/* Contiguous stored pages go out in one pwrite. */
	for (uint64_t p = 0; p < npages && !w->ram_elsewhere;) {
		if (!((bitmap[p / 64] >> (p % 64)) & 1)) {
			p++;
			continue;
		}
		uint64_t q = p;
		while (q < npages && (bitmap[q / 64] >> (q % 64)) & 1 &&
		       (q - p) * VM_SNAP_PAGE_SIZE < WRITE_RUN)
			q++;
		uint64_t len = (q - p) * VM_SNAP_PAGE_SIZE;
		r = vs_pwrite_full(w->fd, ram + p * VM_SNAP_PAGE_SIZE, len,
				   (off_t)(data_off + p * VM_SNAP_PAGE_SIZE));
		if (r < 0)
			return vs_syserrf(err, -r, "snapshot: write RAM to %s", w->tmp_path);
		w->ram_bytes += len;
		p = q;
	}
	w->file_size = data_off + size;
	if (w->ram_elsewhere)
		return 0;
	if (ftruncate(w->fd, (off_t)w->file_size) < 0)
		return vs_syserrf(err, errno, "snapshot: extend %s", w->tmp_path);
	return 0;
}

int vm_snap_writer_commit(struct vm_snap_writer *w, struct vs_err *err)
{
	if (!w->file_size)
		return vs_errf(err, EINVAL, "snapshot: RAM not written");
	uint8_t h[VM_SNAP_HEADER_SIZE] = { 0 };
	memcpy(h, VM_SNAP_MAGIC, 8);
	put32(h + 8, VM_SNAP_VERSION);
	put32(h + 12, VM_SNAP_HEADER_SIZE);
	put32(h + 16, w->kind);
	put32(h + 20, w->nsections);
	put64(h + 24, w->file_size);
	put32(h + 60, vs_crc32c(0, h, 60));
	int r = vs_pwrite_full(w->fd, h, sizeof(h), 0);
	if (r < 0)
		return vs_syserrf(err, -r, "snapshot: write %s", w->tmp_path);
	if (w->no_rename)
		return 0;
	if (rename(w->tmp_path, w->path) < 0)
		return vs_syserrf(err, errno, "snapshot: rename %s to %s", w->tmp_path, w->path);
	free(w->tmp_path);
	w->tmp_path = NULL;
	vm_snap_writer_abort(w);
	return 0;
}

void vm_snap_writer_abort(struct vm_snap_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (w->tmp_path)
		unlink(w->tmp_path);
	free(w->tmp_path);
	free(w->path);
	w->tmp_path = w->path = NULL;
}

/* ---- reader --------------------------------------------------------------- */

static int reader_fail(struct vm_snap_reader *r, struct vs_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reader_fail(struct vm_snap_reader *r, struct vs_err *err, const char *fmt, ...)
{
	char msg[VS_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vs_errf(err, EINVAL, "snapshot %s: %s", r->path ? r->path : "?", msg);
	vm_snap_reader_close(r);
	return -EINVAL;
}

static int reader_ram(struct vm_snap_reader *r, const struct vm_snap_section *s, struct vs_err *err)
{
	if (s->len < RAM_FIXED)
		return reader_fail(r, err, "RAM section too short");
	struct vm_snap_ram *m = &r->ram;
	m->base = get64(s->data);
	m->size = get64(s->data + 8);
	uint64_t page = get64(s->data + 16);
	m->data_offset = get64(s->data + 24);
	m->stored_pages = get64(s->data + 32);
	if (page != VM_SNAP_PAGE_SIZE || m->size % page || m->size == 0 || m->base % page)
		return reader_fail(r, err, "RAM section: bad page size or RAM size");
	uint64_t words = (m->size / page + 63) / 64;
	if (s->len != RAM_FIXED + words * 8)
		return reader_fail(r, err,
				   "RAM section: bitmap of %" PRIu64 " bytes, expected %" PRIu64,
				   s->len - RAM_FIXED, words * 8);
	if (m->data_offset % page || m->data_offset > r->file_size ||
	    m->size > r->file_size - m->data_offset)
		return reader_fail(r, err,
				   "truncated: RAM needs %" PRIu64 " bytes from offset %" PRIu64
				   ", the file has %" PRIu64,
				   m->size, m->data_offset, r->file_size);
	uint64_t count = 0;
	/* 8-byte aligned: the payload starts 24 bytes into an 8-aligned section */
	const uint64_t *bm = (const uint64_t *)(const void *)(s->data + RAM_FIXED);
	for (uint64_t i = 0; i < words; i++)
		count += (uint64_t)__builtin_popcountll(bm[i]);
	m->bitmap = bm;
	r->has_ram = true;
	if (count != m->stored_pages)
		return reader_fail(r, err, "RAM section: bitmap disagrees with the page count");
	return 0;
}

/* Map (read-only) at least the first `len` bytes of the file, in whole
 * 64 KiB steps; the mapping may move.  -1 with errno on failure. */
static int reader_map(struct vm_snap_reader *r, uint64_t len)
{
	if (len <= r->map_len)
		return 0;
	uint64_t want = (len + MAP_STEP - 1) & ~(MAP_STEP - 1);
	if (want > r->file_size)
		want = r->file_size; /* the callers checked len against it */
	void *m = mmap(NULL, want, PROT_READ, MAP_PRIVATE, r->fd, 0);
	if (m == MAP_FAILED)
		return -1;
	if (r->map)
		munmap((void *)r->map, r->map_len);
	r->map = m;
	r->map_len = want;
	return 0;
}

int vm_snap_reader_open(struct vm_snap_reader *r, const char *path, struct vs_err *err)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return vs_syserrf(err, errno, "snapshot %s", path);
	r->path = strdup(path);
	struct stat st;
	if (fstat(r->fd, &st) < 0) {
		int e = errno;
		vm_snap_reader_close(r);
		return vs_syserrf(err, e, "snapshot %s: stat", path);
	}
	r->file_size = (uint64_t)st.st_size;
	uint8_t h[VM_SNAP_HEADER_SIZE];
	if (r->file_size < sizeof(h) || vs_pread_full(r->fd, h, sizeof(h), 0) < 0)
		return reader_fail(r, err, "truncated: no complete header (%" PRIu64 " bytes)",
				   r->file_size);
	if (memcmp(h, VM_SNAP_MAGIC, 8) != 0)
		return reader_fail(r, err, "not a vessel snapshot (bad magic)");
	uint32_t version = get32(h + 8);
	if (version < VM_SNAP_VERSION_MIN || version > VM_SNAP_VERSION)
		return reader_fail(r, err,
				   "format version %u, this vessel-vmm reads versions %d to %d",
				   version, VM_SNAP_VERSION_MIN, VM_SNAP_VERSION);
	if (get32(h + 60) != vs_crc32c(0, h, 60))
		return reader_fail(r, err, "header checksum mismatch (corrupt file)");
	if (get32(h + 12) != VM_SNAP_HEADER_SIZE)
		return reader_fail(r, err, "header size %u unsupported", get32(h + 12));
	r->kind = get32(h + 16);
	uint32_t nsec = get32(h + 20);
	uint64_t want_size = get64(h + 24);
	if (r->kind != VM_SNAP_FULL && r->kind != VM_SNAP_DIFF)
		return reader_fail(r, err, "unknown snapshot kind %u", r->kind);
	if (nsec < 2 || nsec > VM_SNAP_MAX_SECTIONS)
		return reader_fail(r, err, "%u sections (2..%d allowed)", nsec,
				   VM_SNAP_MAX_SECTIONS);
	if (want_size != r->file_size)
		return reader_fail(
		    r, err, "truncated or extended: %" PRIu64 " bytes, the header says %" PRIu64,
		    r->file_size, want_size);

	/* Pass 1: section headers, read through a mapping of the file's head
	 * that grows as sections are found (usually one: the sections of a
	 * board take ~70 KiB); the payloads are then used in place, from the
	 * page cache, instead of being copied into fresh heap pages. */
	uint64_t off = VM_SNAP_HEADER_SIZE;
	uint64_t offs[VM_SNAP_MAX_SECTIONS];
	for (uint32_t i = 0; i < nsec; i++) {
		if (off + SEC_HEADER > r->file_size)
			return reader_fail(r, err, "truncated in the header of section %u", i);
		if (reader_map(r, off + SEC_HEADER) < 0)
			return reader_fail(r, err, "cannot map the sections: %s", strerror(errno));
		const uint8_t *sh = r->map + off;
		struct vm_snap_section *s = &r->sec[i];
		s->type = get32(sh);
		s->instance = get32(sh + 4);
		s->version = get32(sh + 8);
		s->len = get64(sh + 16);
		if (s->len > VM_SNAP_MAX_SECTION || s->len > r->file_size - off - SEC_HEADER)
			return reader_fail(r, err,
					   "section %u (type %u) of %" PRIu64
					   " bytes runs past the end of the file",
					   i, s->type, s->len);
		offs[i] = off;
		off += SEC_HEADER + align8(s->len);
		if (s->type == VM_SNAP_SEC_END && i != nsec - 1)
			return reader_fail(r, err, "END section before the last one");
	}
	if (r->sec[nsec - 1].type != VM_SNAP_SEC_END)
		return reader_fail(r, err, "no END section");
	/* the last payload's padding may lie past the end of a broken file */
	uint64_t end = offs[nsec - 1] + SEC_HEADER + r->sec[nsec - 1].len;
	if (reader_map(r, end) < 0)
		return reader_fail(r, err, "cannot map the sections: %s", strerror(errno));

	/* Pass 2: checksums. */
	for (uint32_t i = 0; i < nsec; i++) {
		struct vm_snap_section *s = &r->sec[i];
		const uint8_t *sh = r->map + offs[i];
		s->data = sh + SEC_HEADER;
		if (get32(sh + 12) != section_crc(sh, s->data, s->len))
			return reader_fail(r, err,
					   "section %u (type %u, instance %u): CRC32C mismatch "
					   "(corrupt file)",
					   i, s->type, s->instance);
		if (s->type >= VM_SNAP_SEC_TYPES)
			return reader_fail(r, err, "section %u: unknown type %u", i, s->type);
		if (s->version != 1)
			return reader_fail(r, err, "section %u (type %u): version %u unsupported",
					   i, s->type, s->version);
		for (uint32_t k = 0; k < i; k++)
			if (r->sec[k].type == s->type && r->sec[k].instance == s->instance)
				return reader_fail(r, err, "section type %u instance %u twice",
						   s->type, s->instance);
	}
	r->nsections = nsec;
	const struct vm_snap_section *ram = vm_snap_find(r, VM_SNAP_SEC_RAM, 0);
	if (!ram)
		return reader_fail(r, err, "no RAM section");
	int rc = reader_ram(r, ram, err);
	if (rc < 0)
		return rc;
	if (r->ram.data_offset < off)
		return reader_fail(r, err, "RAM data overlaps the sections");
	return 0;
}

void vm_snap_reader_close(struct vm_snap_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->map)
		munmap((void *)r->map, r->map_len);
	free(r->path);
	r->map = NULL;
	r->map_len = 0;
	r->ram.bitmap = NULL;
	r->path = NULL;
	r->nsections = 0;
	r->has_ram = false;
}

int vm_snap_reader_check_ram(const struct vm_snap_reader *r, struct vs_err *err)
{
	const struct vm_snap_section *s = vm_snap_find(r, VM_SNAP_SEC_RAMSUM, 0);
	if (!s)
		return 0;
	if (s->len != RAMSUM_LEN || get32(s->data + 12) != 0)
		return vs_errf(err, EINVAL, "snapshot %s: RAMSUM section of %" PRIu64 " bytes",
			       r->path, s->len);
	if (!r->has_ram || get64(s->data) != r->ram.stored_pages)
		return vs_errf(err, EINVAL,
			       "snapshot %s: RAMSUM counts %" PRIu64 " pages, RAM stores %" PRIu64,
			       r->path, get64(s->data), r->has_ram ? r->ram.stored_pages : 0);
	vs_cleanup_free uint8_t *buf = malloc(WRITE_RUN);
	if (!buf)
		return vs_errf(err, ENOMEM, "snapshot: out of memory");
	uint64_t npages = r->ram.size / VM_SNAP_PAGE_SIZE;
	uint32_t crc = 0;
	for (uint64_t p = 0; p < npages;) {
		if (!((r->ram.bitmap[p / 64] >> (p % 64)) & 1)) {
			p++;
			continue;
		}
		uint64_t q = p;
		while (q < npages && (r->ram.bitmap[q / 64] >> (q % 64)) & 1 &&
		       (q - p) * VM_SNAP_PAGE_SIZE < WRITE_RUN)
			q++;
		size_t len = (size_t)(q - p) * VM_SNAP_PAGE_SIZE;
		int rc = vs_pread_full(r->fd, buf, len,
				       (off_t)(r->ram.data_offset + p * VM_SNAP_PAGE_SIZE));
		if (rc < 0)
			return vs_syserrf(err, -rc, "snapshot %s: read RAM", r->path);
		crc = vs_crc32c(crc, buf, len);
		p = q;
	}
	if (crc != get32(s->data + 8))
		return vs_errf(err, EINVAL,
			       "snapshot %s: RAM pages do not match their CRC32C (corrupt state)",
			       r->path);
	return 0;
}

const struct vm_snap_section *vm_snap_find(const struct vm_snap_reader *r, uint32_t type,
					   uint32_t instance)
{
	for (unsigned i = 0; i < r->nsections; i++)
		if (r->sec[i].type == type && r->sec[i].instance == instance)
			return &r->sec[i];
	return NULL;
}

/* /proc/self/pagemap once vm_snap_pagemap_keep() opened it, else -1. */
static int kept_pagemap = -1;

void vm_snap_pagemap_keep(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&lock);
	if (__atomic_load_n(&kept_pagemap, __ATOMIC_ACQUIRE) < 0)
		__atomic_store_n(&kept_pagemap, open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC),
				 __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lock);
}

uint8_t *vm_snap_ram_touched(const uint8_t *ram, uint64_t size)
{
	uint64_t npages = size / VM_SNAP_PAGE_SIZE;
	/* the kept descriptor (its reads need no new permission check), else
	 * one of our own */
	int kept = __atomic_load_n(&kept_pagemap, __ATOMIC_ACQUIRE);
	vs_cleanup_close int own =
	    kept >= 0 ? -1 : open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int fd = kept >= 0 ? kept : own;
	uint8_t *out = malloc(npages ? npages : 1);
	uint64_t *buf = malloc(4096 * 8);
	if (fd < 0 || !out || !buf) {
		free(out);
		free(buf);
		return NULL;
	}
	uint64_t first = (uint64_t)(uintptr_t)ram / VM_SNAP_PAGE_SIZE;
	for (uint64_t p = 0; p < npages; p += 4096) {
		uint64_t n = npages - p < 4096 ? npages - p : 4096;
		if (vs_pread_full(fd, buf, n * 8, (off_t)((first + p) * 8)) < 0) {
			free(out);
			free(buf);
			return NULL;
		}
		for (uint64_t i = 0; i < n; i++) /* bit 63 present, bit 62 swapped */
			out[p + i] = (buf[i] >> 62) != 0;
	}
	free(buf);
	return out;
}
