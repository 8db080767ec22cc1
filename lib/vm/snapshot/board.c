/*
 * board.c - save and restore a whole `virt` board (include/vessel/vm/
 * snapshot.h, docs/snapshot-format.md).
 *
 * Save runs at a safe point: every hart stopped at an instruction boundary
 * on the machine thread, no device request in flight (virtio requests
 * complete synchronously).  It first takes an internal snapshot of every
 * writable qcow2 disk under one fresh tag, then writes META, CONFIG,
 * MACHINE, the harts, CLINT, PLIC, UART, RTC, ROM, every virtio slot, DISKS
 * and RAM.
 *
 * Restore validates first and changes nothing on failure: the file (and
 * each parent of a diff) is opened and checked, the board's configuration
 * compared, and every section decoded in a dry run.  Only then are the
 * disks rolled back to the tag, RAM mapped (mmap MAP_PRIVATE|MAP_FIXED of
 * the root full snapshot, diff layers read over it) and the devices loaded:
 * devices first, the PLIC after them (so the edges they drive into a fresh
 * controller are overwritten), the harts last (their pending bits are the
 * saved ones).  Caches (decoded blocks, JIT code, soft TLBs) are dropped
 * and the virtio models restarted.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/disk/image.h"
#include "vessel/disk/manage.h"
#include "vessel/vm/clint.h"
#include "vessel/vm/cpu.h"
#include "vessel/vm/plic.h"
#include "vessel/vm/rtc.h"
#include "vessel/vm/snapshot.h"
#include "vessel/vm/state.h"
#include "vessel/vm/uart.h"
#include "vessel/vm/virtio.h"

#define MAX_CHAIN 16 /* diff snapshots over one full one */

/* ---- sections ----------------------------------------------------------- */

static int put_section(struct vm_snap_writer *w, uint32_t type, uint32_t instance,
		       struct vm_state *s, struct vs_err *err)
{
	if (s->failed) {
		vm_state_free(s);
		return vs_errf(err, ENOMEM, "snapshot: out of memory");
	}
	int r = vm_snap_writer_section(w, type, instance, 1, s->data, s->len, err);
	vm_state_free(s);
	return r;
}

static void config_save(const struct virt_board_parts *p, struct vm_state *s)
{
	const struct virt_config *c = p->cfg;
	vm_state_put_u64(s, VIRT_RAM_BASE);
	vm_state_put_u64(s, c->ram_size);
	vm_state_put_u32(s, c->ncpus);
	vm_state_put_u32(s, c->ndisks);
	for (unsigned i = 0; i < c->ndisks; i++) {
		vm_state_put_str(s, c->disks[i].path);
		vm_state_put_str(s, c->disks[i].format ? c->disks[i].format : "");
		vm_state_put_u8(s, c->disks[i].readonly);
	}
	vm_state_put_str(s, c->nnets ? c->nets[0].tap : "");
	vm_state_put_bytes(s, c->nets[0].mac, 6);
	vm_state_put_u8(s, c->console_hvc);
	vm_state_put_u8(s, c->rng);
	vm_state_put_u8(s, c->balloon);
	vm_state_put_u8(s, c->keyboard);
	vm_state_put_u32(s, p->nvirtio);
	if (c->nnets > 1) { /* NICs after the first: an optional tail (one NIC: as before) */
		vm_state_put_u32(s, c->nnets - 1);
		for (unsigned i = 1; i < c->nnets; i++) {
			vm_state_put_str(s, c->nets[i].tap);
			vm_state_put_bytes(s, c->nets[i].mac, 6);
		}
	}
}

static int config_decode(const struct vm_snap_section *sec, struct virt_snapshot_config *out,
			 unsigned *nvirtio, struct vs_err *err)
{
	struct vm_state s = vm_state_reader(sec->data, sec->len);
	memset(out, 0, sizeof(*out));
	uint64_t base = vm_state_get_u64(&s);
	out->ram_size = vm_state_get_u64(&s);
	out->ncpus = vm_state_get_u32(&s);
	out->ndisks = vm_state_get_u32(&s);
	if (out->ndisks > VIRT_MAX_DISKS)
		return vs_errf(err, EINVAL, "configuration: %u disks", out->ndisks);
	for (unsigned i = 0; i < out->ndisks; i++) {
		vm_state_get_str(&s, out->disk_paths[i], sizeof(out->disk_paths[i]));
		vm_state_get_str(&s, out->disk_formats[i], sizeof(out->disk_formats[i]));
		out->readonly[i] = vm_state_get_bool(&s);
	}
	vm_state_get_str(&s, out->tap[0], sizeof(out->tap[0]));
	vm_state_get_bytes(&s, out->mac[0], 6);
	out->nnets = out->tap[0][0] ? 1 : 0;
	out->console_hvc = vm_state_get_bool(&s);
	out->rng = vm_state_get_bool(&s);
	out->balloon = vm_state_get_bool(&s);
	out->keyboard = vm_state_get_bool(&s);
	*nvirtio = vm_state_get_u32(&s);
	if (!s.failed && s.pos < s.len) { /* more NICs */
		uint32_t more = vm_state_get_u32(&s);
		if (!out->nnets || more == 0 || more > VIRT_MAX_NETS - 1)
			return vs_errf(err, EINVAL, "configuration: %u more NICs", more);
		for (uint32_t i = 1; i <= more; i++) {
			vm_state_get_str(&s, out->tap[i], sizeof(out->tap[i]));
			vm_state_get_bytes(&s, out->mac[i], 6);
			if (!s.failed && !out->tap[i][0])
				return vs_errf(err, EINVAL, "configuration: NIC %u has no TAP", i);
		}
		out->nnets = 1 + more;
	}
	int r = vm_state_check_end(&s, "configuration", err);
	if (r < 0)
		return r;
	if (base != VIRT_RAM_BASE || out->ram_size == 0 || out->ram_size % VM_SNAP_PAGE_SIZE ||
	    out->ncpus == 0 || out->ncpus > VM_MAX_HARTS || *nvirtio > VIRTIO_MMIO_SLOTS)
		return vs_errf(err, EINVAL,
			       "configuration: invalid machine (%u harts, RAM 0x%" PRIx64
			       " at 0x%" PRIx64 ")",
			       out->ncpus, out->ram_size, base);
	for (unsigned i = 0; i < out->ndisks; i++)
		if (!out->disk_paths[i][0])
			return vs_errf(err, EINVAL, "configuration: disk %u has no path", i);
	return 0;
}

void virt_snapshot_apply_config(const struct virt_snapshot_config *sc, struct virt_config *cfg)
{
	cfg->ram_size = sc->ram_size;
	cfg->ncpus = sc->ncpus;
	cfg->ndisks = sc->ndisks;
	for (unsigned i = 0; i < sc->ndisks; i++) {
		cfg->disks[i].path = sc->disk_paths[i];
		cfg->disks[i].format = sc->disk_formats[i][0] ? sc->disk_formats[i] : NULL;
		cfg->disks[i].readonly = sc->readonly[i];
	}
	cfg->nnets = sc->nnets;
	for (unsigned i = 0; i < sc->nnets; i++) {
		cfg->nets[i].tap = sc->tap[i];
		memcpy(cfg->nets[i].mac, sc->mac[i], 6);
	}
	cfg->console_hvc = sc->console_hvc;
	cfg->rng = sc->rng;
	cfg->balloon = sc->balloon;
	cfg->keyboard = sc->keyboard;
	cfg->no_boot = true;
}

/* META: identity, parent, disk tag, times. */
struct snap_meta {
	uint64_t id[2], parent_id[2];
	char parent[1024];
	char tag[40];
	uint64_t date_ns, mtime;
};

static void meta_save(const struct snap_meta *m, struct vm_state *s)
{
	vm_state_put_u64(s, m->id[0]);
	vm_state_put_u64(s, m->id[1]);
	vm_state_put_u64(s, m->parent_id[0]);
	vm_state_put_u64(s, m->parent_id[1]);
	vm_state_put_str(s, m->parent);
	vm_state_put_str(s, m->tag);
	vm_state_put_u64(s, m->date_ns);
	vm_state_put_u64(s, m->mtime);
}

static int meta_decode(const struct vm_snap_reader *r, struct snap_meta *m, struct vs_err *err)
{
	const struct vm_snap_section *sec = vm_snap_find(r, VM_SNAP_SEC_META, 0);
	if (!sec)
		return vs_errf(err, EINVAL, "no META section");
	struct vm_state s = vm_state_reader(sec->data, sec->len);
	m->id[0] = vm_state_get_u64(&s);
	m->id[1] = vm_state_get_u64(&s);
	m->parent_id[0] = vm_state_get_u64(&s);
	m->parent_id[1] = vm_state_get_u64(&s);
	vm_state_get_str(&s, m->parent, sizeof(m->parent));
	vm_state_get_str(&s, m->tag, sizeof(m->tag));
	m->date_ns = vm_state_get_u64(&s);
	m->mtime = vm_state_get_u64(&s);
	return vm_state_check_end(&s, "META", err);
}

/*
 * HOT: the RAM pages the harts used last (their soft TLBs and the page
 * tables behind them, rv_core_recent_pages), which a restored guest touches
 * first.  u32 count, then per page u32 (page index << 1 | written), page
 * indices increasing.  A restore makes them resident in a few madvise
 * calls before the guest runs instead of taking one page fault each while
 * it runs: a fault costs ~12 us on a virtualized host, a page made
 * resident in a batch ~7 us (docs/vessel-vmm.md, "Restore to running").
 */
#define HOT_MAX 8192 /* entries a section may hold (4 harts' TLBs, walks) */

static void hot_save(const struct virt_board_parts *p, struct vm_state *s)
{
	uint64_t *pages = malloc(HOT_MAX * sizeof(*pages));
	unsigned n = pages ? rv_core_recent_pages(vm_machine_core(p->m), pages, HOT_MAX) : 0;
	unsigned kept = 0;
	for (unsigned i = 0; i < n; i++) /* every TLB page is RAM; the walks' too */
		kept += (pages[i] & ~RV_RECENT_WRITTEN) - VIRT_RAM_BASE < p->cfg->ram_size;
	vm_state_put_u32(s, kept);
	for (unsigned i = 0; i < n; i++) {
		uint64_t off = (pages[i] & ~RV_RECENT_WRITTEN) - VIRT_RAM_BASE;
		if (off < p->cfg->ram_size)
			vm_state_put_u32(s, (uint32_t)((off / VM_SNAP_PAGE_SIZE) << 1 |
						       (pages[i] & RV_RECENT_WRITTEN)));
	}
	free(pages);
}

/* The HOT section of r checked against npages RAM pages (none: 0). */
static int hot_check(const struct vm_snap_reader *r, uint64_t npages, struct vs_err *err)
{
	const struct vm_snap_section *sec = vm_snap_find(r, VM_SNAP_SEC_HOT, 0);
	if (!sec)
		return 0;
	struct vm_state s = vm_state_reader(sec->data, sec->len);
	uint32_t n = vm_state_get_u32(&s);
	if (n > HOT_MAX)
		return vs_errf(err, EINVAL, "HOT: %u pages (at most %d)", n, HOT_MAX);
	int64_t last = -1;
	for (uint32_t i = 0; i < n && !s.failed; i++) {
		uint32_t e = vm_state_get_u32(&s);
		if ((int64_t)(e >> 1) <= last || (e >> 1) >= npages)
			return vs_errf(err, EINVAL, "HOT: page %u out of order or beyond RAM",
				       e >> 1);
		last = e >> 1;
	}
	return vm_state_check_end(&s, "HOT", err);
}

/*
 * Make the written HOT pages of r (checked) resident in guest RAM, copied
 * from the file (MADV_POPULATE_WRITE), a run of neighbours in one call.
 * Those are the dear faults: a page the guest reads and then writes costs
 * two (a read fault mapping the file's page, then a copy-on-write fault
 * that also flushes the host TLB).  The pages only read are left to fault
 * in: made resident too (MADV_POPULATE_READ), the whole list cost more
 * than it saved (docs/vessel-vmm.md, "Restore to running").  Advice only: a
 * kernel without it (before 5.14) leaves them to fault in.
 */
static void hot_populate(const struct vm_snap_reader *r, uint8_t *ram)
{
	const struct vm_snap_section *sec = vm_snap_find(r, VM_SNAP_SEC_HOT, 0);
	if (!sec)
		return;
	struct vm_state s = vm_state_reader(sec->data, sec->len);
	uint32_t n = vm_state_get_u32(&s);
	uint32_t first = 0, count = 0;
	for (uint32_t i = 0; i <= n; i++) {
		uint32_t e = i < n ? vm_state_get_u32(&s) : 0;
		if (i < n && !(e & 1))
			continue;
		if (i < n && count && (e >> 1) == first + count) {
			count++;
			continue;
		}
		if (count)
			(void)madvise(ram + first * VM_SNAP_PAGE_SIZE, count * VM_SNAP_PAGE_SIZE,
				      MADV_POPULATE_WRITE);
		first = e >> 1, count = 1;
	}
}

/* ---- per-board context -------------------------------------------------- */

/* What a board remembers between snapshots (the parent of a diff). */
struct snap_ctx {
	bool ram_from_file; /* RAM maps a snapshot (restored): no pagemap shortcut */
	bool have_parent;
	uint64_t parent_id[2];
	char parent[1024];
};

/* No drain: virt_snapshot_ram_anonymous() asks from the migration thread
 * while the harts run (ThreadSanitizer saw the drain race with them). */
static struct snap_ctx *board_ctx(struct virt_board *b)
{
	struct virt_board_parts p;
	virt_board_parts_peek(b, &p);
	if (!*p.snap_ctx)
		*p.snap_ctx = calloc(1, sizeof(struct snap_ctx));
	return *p.snap_ctx;
}

/* ---- save ---------------------------------------------------------------- */

static int disks_snapshot(const struct virt_board_parts *p, const char *tag, bool *taken,
			  unsigned *count, struct vs_err *err)
{
	for (unsigned i = 0; i < p->nvirtio; i++) {
		struct vm_block_backend *be = virtio_blk_backend(p->virtio[i]);
		taken[i] = false;
		if (!be || be->readonly || !be->ops->snapshot_create)
			continue;
		int r = be->ops->snapshot_create(be, tag, err);
		if (r < 0)
			return r;
		taken[i] = true;
		(*count)++;
	}
	return 0;
}

/* Every section and the RAM (pages: NULL = non-zero ones) into w. */
static int board_write(const struct virt_board_parts *p, struct vm_snap_writer *w,
		       const struct snap_meta *meta, const bool *taken, unsigned ndisks,
		       const uint64_t *pages, struct vs_err *err)
{
	struct vm_machine *m = p->m;
	struct vm_state s = { 0 };
	int r;
	meta_save(meta, &s);
	r = put_section(w, VM_SNAP_SEC_META, 0, &s, err);
	config_save(p, &s);
	if (r == 0)
		r = put_section(w, VM_SNAP_SEC_CONFIG, 0, &s, err);
	vm_state_put_u64(&s, meta->mtime);
	if (r == 0)
		r = put_section(w, VM_SNAP_SEC_MACHINE, 0, &s, err);
	for (unsigned k = 0; k < p->cfg->ncpus && r == 0; k++) {
		rv_hart_save(vm_machine_hart(m, k), &s);
		r = put_section(w, VM_SNAP_SEC_HART, k, &s, err);
	}
	vm_clint_save(vm_machine_clint(m), &s);
	if (r == 0)
		r = put_section(w, VM_SNAP_SEC_CLINT, 0, &s, err);
	plic_save(p->plic, &s);
	if (r == 0)
		r = put_section(w, VM_SNAP_SEC_PLIC, 0, &s, err);
	if (p->uart) {
		vm_uart_save(p->uart, &s);
		if (r == 0)
			r = put_section(w, VM_SNAP_SEC_UART, 0, &s, err);
	}
	goldfish_rtc_save(p->rtc, &s);
	if (r == 0)
		r = put_section(w, VM_SNAP_SEC_RTC, 0, &s, err);
	vm_state_put_bytes(&s, p->rom, VIRT_ROM_SIZE);
	if (r == 0)
		r = put_section(w, VM_SNAP_SEC_ROM, 0, &s, err);
	for (unsigned i = 0; i < p->nvirtio && r == 0; i++) {
		virtio_mmio_save(p->virtio[i], &s);
		r = put_section(w, VM_SNAP_SEC_VIRTIO, i, &s, err);
	}
	vm_state_put_str(&s, ndisks ? meta->tag : "");
	vm_state_put_u32(&s, p->nvirtio);
	for (unsigned i = 0; i < p->nvirtio; i++)
		vm_state_put_u8(&s, taken[i]);
	if (r == 0)
		r = put_section(w, VM_SNAP_SEC_DISKS, 0, &s, err);
	hot_save(p, &s);
	if (r == 0)
		r = put_section(w, VM_SNAP_SEC_HOT, 0, &s, err);
	if (r == 0)
		r = vm_snap_writer_ram(w, vm_machine_ram(m), VIRT_RAM_BASE, p->cfg->ram_size, pages,
				       err);
	return r;
}

int virt_snapshot_save(struct virt_board *b, const struct vm_snapshot_options *opts,
		       struct vm_snapshot_result *res, struct vs_err *err)
{
	uint64_t t0 = vs_now_ns();
	struct virt_board_parts p;
	virt_board_parts(b, &p);
	struct snap_ctx *ctx = board_ctx(b);
	if (!ctx)
		return vs_errf(err, ENOMEM, "snapshot: out of memory");
	memset(res, 0, sizeof(*res));
	struct vm_machine *m = p.m;
	struct rv_core *core = vm_machine_core(m);
	const uint64_t *dirty = NULL;
	if (opts->kind == VM_SNAP_DIFF) {
		if (!ctx->have_parent)
			return vs_errf(err, EINVAL,
				       "snapshot: a diff snapshot needs a parent (take a full "
				       "snapshot or restore one first)");
		dirty = rv_core_dirty_bitmap(core);
		if (!dirty)
			return vs_errf(err, EINVAL, "snapshot: dirty page tracking is not on");
	}

	struct snap_meta meta = { 0 };
	if (getrandom(meta.id, sizeof(meta.id), 0) != (ssize_t)sizeof(meta.id))
		return vs_syserrf(err, errno, "snapshot: getrandom");
	snprintf(meta.tag, sizeof(meta.tag), "vessel-%016" PRIx64, meta.id[0]);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	meta.date_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	meta.mtime = vm_machine_mtime(m);
	if (dirty) {
		memcpy(meta.parent_id, ctx->parent_id, sizeof(meta.parent_id));
		snprintf(meta.parent, sizeof(meta.parent), "%s", ctx->parent);
	}

	bool taken[VIRTIO_MMIO_SLOTS] = { false };
	int r = 0;
	if (!opts->no_disks)
		r = disks_snapshot(&p, meta.tag, taken, &res->disks, err);
	if (r < 0)
		return r;

	struct vm_snap_writer w;
	r = vm_snap_writer_open(&w, opts->path, opts->kind, err);
	if (r < 0)
		return r;
	vs_cleanup_free uint8_t *touched =
	    ctx->ram_from_file ? NULL : vm_snap_ram_touched(vm_machine_ram(m), p.cfg->ram_size);
	w.touched = touched;
	r = board_write(&p, &w, &meta, taken, res->disks, dirty, err);
	uint64_t ram_bytes = w.ram_bytes;
	if (r == 0)
		r = vm_snap_writer_commit(&w, err);
	else
		vm_snap_writer_abort(&w);
	if (r < 0)
		return r;
	/* The next diff holds what is written from now on. */
	if (rv_core_dirty_track(core, true, err) < 0)
		return vs_err_prefix(err, "snapshot %s saved, but diffs cannot follow", opts->path);
	rv_core_dirty_clear(core);
	ctx->have_parent = true;
	memcpy(ctx->parent_id, meta.id, sizeof(meta.id));
	if (opts->path[0] == '/' || !getcwd(ctx->parent, sizeof(ctx->parent) - 1))
		snprintf(ctx->parent, sizeof(ctx->parent), "%s", opts->path);
	else {
		size_t n = strlen(ctx->parent);
		snprintf(ctx->parent + n, sizeof(ctx->parent) - n, "/%s", opts->path);
	}
	res->ram_pages = ram_bytes / VM_SNAP_PAGE_SIZE;
	struct stat st;
	if (stat(opts->path, &st) == 0)
		res->file_bytes = (uint64_t)st.st_blocks * 512;
	snprintf(res->tag, sizeof(res->tag), "%s", res->disks ? meta.tag : "");
	res->elapsed_ns = vs_now_ns() - t0;
	return 0;
}

/* ---- restore ------------------------------------------------------------- */

struct chain {
	struct vm_snap_reader r[MAX_CHAIN];
	struct snap_meta meta[MAX_CHAIN];
	unsigned n; /* r[0] is the file asked for, r[n-1] the full root */
};

static void chain_close(struct chain *c)
{
	for (unsigned i = 0; i < c->n; i++)
		vm_snap_reader_close(&c->r[i]);
	c->n = 0;
}

static int chain_open(struct chain *c, const char *path, struct vs_err *err)
{
	c->n = 0;
	const char *next = path;
	for (;;) {
		if (c->n == MAX_CHAIN)
			return vs_errf(err, EINVAL, "snapshot %s: more than %d diff layers", path,
				       MAX_CHAIN);
		struct vm_snap_reader *r = &c->r[c->n];
		int rc = vm_snap_reader_open(r, next, err);
		if (rc < 0)
			return rc;
		c->n++;
		struct snap_meta *m = &c->meta[c->n - 1];
		if ((rc = meta_decode(r, m, err)) < 0)
			return vs_err_prefix(err, "snapshot %s", r->path);
		if (c->n > 1) {
			const struct snap_meta *child = &c->meta[c->n - 2];
			if (memcmp(child->parent_id, m->id, sizeof(m->id)) != 0)
				return vs_errf(err, EINVAL,
					       "snapshot %s: its parent %s is another snapshot "
					       "(replaced since?)",
					       c->r[c->n - 2].path, r->path);
			if (r->ram.size != c->r[0].ram.size)
				return vs_errf(err, EINVAL, "snapshot %s: RAM size differs from %s",
					       r->path, path);
		}
		if (r->kind == VM_SNAP_FULL)
			return 0;
		if (!m->parent[0])
			return vs_errf(err, EINVAL, "snapshot %s: diff without a parent", r->path);
		next = m->parent;
	}
}

static bool rom_page_is_zero(const uint8_t *p)
{
	uint64_t acc = 0;
	for (unsigned i = 0; i < VM_SNAP_PAGE_SIZE; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		acc |= v;
	}
	return acc == 0;
}

/* The reset ROM (page-aligned, whole pages): its non-zero pages copied,
 * the others zeroed by dropping them, so that a fresh board's ROM pages
 * are not touched for the zeros that fill all but its first page; one
 * madvise for each run of zero pages (a system call costs here). */
static void rom_load(uint8_t *rom, const uint8_t *data)
{
	for (uint64_t off = 0; off < VIRT_ROM_SIZE;) {
		if (!rom_page_is_zero(data + off)) {
			memcpy(rom + off, data + off, VM_SNAP_PAGE_SIZE);
			off += VM_SNAP_PAGE_SIZE;
			continue;
		}
		uint64_t end = off + VM_SNAP_PAGE_SIZE;
		while (end < VIRT_ROM_SIZE && rom_page_is_zero(data + end))
			end += VM_SNAP_PAGE_SIZE;
		if (madvise(rom + off, end - off, MADV_DONTNEED) < 0)
			memset(rom + off, 0, end - off);
		off = end;
	}
}

/* Every device section of r, decoded and checked (apply: and loaded). */
static int load_devices(const struct virt_board_parts *p, const struct vm_snap_reader *r,
			bool apply, struct vs_err *err)
{
	struct vm_machine *m = p->m;
	const struct vm_snap_section *sec;
	struct vm_state s;
	int rc;
#define SECTION(type, inst, what)                                           \
	do {                                                                \
		sec = vm_snap_find(r, type, inst);                          \
		if (!sec)                                                   \
			return vs_errf(err, EINVAL, "no %s section", what); \
		s = vm_state_reader(sec->data, sec->len);                   \
	} while (0)

	SECTION(VM_SNAP_SEC_MACHINE, 0, "MACHINE");
	uint64_t mtime = vm_state_get_u64(&s);
	if ((rc = vm_state_check_end(&s, "machine", err)) < 0)
		return rc;
	SECTION(VM_SNAP_SEC_ROM, 0, "ROM");
	if (sec->len != VIRT_ROM_SIZE)
		return vs_errf(err, EINVAL, "ROM section of %" PRIu64 " bytes", sec->len);
	if (apply)
		rom_load(p->rom, sec->data);
	SECTION(VM_SNAP_SEC_CLINT, 0, "CLINT");
	if ((rc = vm_clint_load(vm_machine_clint(m), &s, apply, err)) < 0)
		return rc;
	if (p->uart) {
		SECTION(VM_SNAP_SEC_UART, 0, "UART");
		if ((rc = vm_uart_load(p->uart, &s, apply, err)) < 0)
			return rc;
	}
	SECTION(VM_SNAP_SEC_RTC, 0, "RTC");
	if ((rc = goldfish_rtc_load(p->rtc, &s, apply, err)) < 0)
		return rc;
	for (unsigned i = 0; i < p->nvirtio; i++) {
		SECTION(VM_SNAP_SEC_VIRTIO, i, "VIRTIO");
		if ((rc = virtio_mmio_load(p->virtio[i], &s, apply, err)) < 0)
			return vs_err_prefix(err, "virtio slot %u", i);
	}
	if (vm_snap_find(r, VM_SNAP_SEC_VIRTIO, p->nvirtio))
		return vs_errf(err, EINVAL, "more virtio devices than this machine has");
	SECTION(VM_SNAP_SEC_PLIC, 0, "PLIC");
	if ((rc = plic_load(p->plic, &s, apply, err)) < 0)
		return rc;
	for (unsigned k = 0; k < p->cfg->ncpus; k++) {
		SECTION(VM_SNAP_SEC_HART, k, "HART");
		if ((rc = rv_hart_load(vm_machine_hart(m, k), &s, apply, err)) < 0)
			return rc;
	}
	if (vm_snap_find(r, VM_SNAP_SEC_HART, p->cfg->ncpus))
		return vs_errf(err, EINVAL, "more harts than this machine has");
	if (apply)
		vm_machine_set_mtime(m, mtime);
#undef SECTION
	return 0;
}

/* The DISKS section: tag and which slots hold an internal snapshot. */
static int disks_decode(const struct virt_board_parts *p, const struct vm_snap_reader *r, char *tag,
			size_t tag_len, bool *taken, struct vs_err *err)
{
	const struct vm_snap_section *sec = vm_snap_find(r, VM_SNAP_SEC_DISKS, 0);
	if (!sec)
		return vs_errf(err, EINVAL, "no DISKS section");
	struct vm_state s = vm_state_reader(sec->data, sec->len);
	vm_state_get_str(&s, tag, tag_len);
	uint32_t n = vm_state_get_u32(&s);
	if (n != p->nvirtio)
		return vs_errf(err, EINVAL, "DISKS section for %u devices, machine has %u", n,
			       p->nvirtio);
	for (unsigned i = 0; i < n; i++) {
		taken[i] = vm_state_get_bool(&s);
		struct vm_block_backend *be = virtio_blk_backend(p->virtio[i]);
		if (taken[i] && (!be || !be->ops->snapshot_apply))
			return vs_errf(err, EINVAL,
				       "virtio slot %u: the snapshot rolls back a qcow2 disk here, "
				       "the machine has no qcow2 disk in that slot",
				       i);
	}
	return vm_state_check_end(&s, "DISKS", err);
}

static int config_check(const struct virt_board_parts *p, const struct vm_snap_reader *r,
			struct vs_err *err)
{
	const struct vm_snap_section *sec = vm_snap_find(r, VM_SNAP_SEC_CONFIG, 0);
	if (!sec)
		return vs_errf(err, EINVAL, "no configuration section");
	struct virt_snapshot_config sc;
	unsigned nvirtio;
	int rc = config_decode(sec, &sc, &nvirtio, err);
	if (rc < 0)
		return rc;
	if (sc.ram_size != p->cfg->ram_size || sc.ncpus != p->cfg->ncpus || nvirtio != p->nvirtio ||
	    sc.ndisks != p->cfg->ndisks)
		return vs_errf(err, EINVAL,
			       "the snapshot's machine (%u harts, %" PRIu64 " MiB, %u devices) is "
			       "not this one (%u harts, %" PRIu64 " MiB, %u devices)",
			       sc.ncpus, sc.ram_size >> 20, nvirtio, p->cfg->ncpus,
			       p->cfg->ram_size >> 20, p->nvirtio);
	if (!r->has_ram || r->ram.size != p->cfg->ram_size || r->ram.base != VIRT_RAM_BASE)
		return vs_errf(err, EINVAL, "RAM section does not match the machine");
	return 0;
}

/* Map the root, read the diff layers over it (oldest first). */
static int load_ram(const struct virt_board_parts *p, const struct chain *c, struct vs_err *err)
{
	uint8_t *ram = vm_machine_ram(p->m);
	const struct vm_snap_reader *root = &c->r[c->n - 1];
	void *a =
	    mmap(ram, root->ram.size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, root->fd, (off_t)root->ram.data_offset);
	if (a == MAP_FAILED)
		return vs_syserrf(err, errno, "snapshot %s: map RAM", root->path);
	for (unsigned i = c->n - 1; i-- > 0;) {
		const struct vm_snap_reader *r = &c->r[i];
		uint64_t npages = r->ram.size / VM_SNAP_PAGE_SIZE;
		for (uint64_t pg = 0; pg < npages; pg++) {
			if (!((r->ram.bitmap[pg / 64] >> (pg % 64)) & 1))
				continue;
			uint64_t q = pg;
			while (q < npages && (r->ram.bitmap[q / 64] >> (q % 64)) & 1)
				q++;
			int rc = vs_pread_full(
			    r->fd, ram + pg * VM_SNAP_PAGE_SIZE, (q - pg) * VM_SNAP_PAGE_SIZE,
			    (off_t)(r->ram.data_offset + pg * VM_SNAP_PAGE_SIZE));
			if (rc < 0)
				return vs_syserrf(err, -rc, "snapshot %s: read RAM", r->path);
			pg = q;
		}
	}
	hot_populate(&c->r[0], ram);
	return 0;
}

struct virt_snapshot {
	struct chain c;
	char *path;
};

struct virt_snapshot *virt_snapshot_open(const char *path, struct vs_err *err)
{
	struct virt_snapshot *snap = calloc(1, sizeof(*snap));
	if (!snap || !(snap->path = strdup(path))) {
		free(snap);
		vs_errf(err, ENOMEM, "snapshot: out of memory");
		return NULL;
	}
	if (chain_open(&snap->c, path, err) < 0) {
		virt_snapshot_close(snap);
		return NULL;
	}
	return snap;
}

void virt_snapshot_close(struct virt_snapshot *snap)
{
	if (!snap)
		return;
	chain_close(&snap->c);
	free(snap->path);
	free(snap);
}

int virt_snapshot_config(const struct virt_snapshot *snap, struct virt_snapshot_config *out,
			 struct vs_err *err)
{
	const struct vm_snap_section *sec = vm_snap_find(&snap->c.r[0], VM_SNAP_SEC_CONFIG, 0);
	unsigned nvirtio;
	int rc = sec ? config_decode(sec, out, &nvirtio, err)
		     : vs_errf(err, EINVAL, "no configuration section");
	return rc < 0 ? vs_err_prefix(err, "snapshot %s", snap->path) : 0;
}

int virt_snapshot_read_config(const char *path, struct virt_snapshot_config *out,
			      struct vs_err *err)
{
	struct virt_snapshot *snap = virt_snapshot_open(path, err);
	if (!snap)
		return -err->code;
	int rc = virt_snapshot_config(snap, out, err);
	virt_snapshot_close(snap);
	return rc;
}

int virt_snapshot_load(struct virt_board *b, const struct virt_snapshot *snap, struct vs_err *err)
{
	struct virt_board_parts p;
	virt_board_parts(b, &p);
	struct snap_ctx *ctx = board_ctx(b);
	if (!ctx)
		return vs_errf(err, ENOMEM, "snapshot: out of memory");
	const struct chain *c = &snap->c;
	const char *path = snap->path;
	char tag[40];
	bool taken[VIRTIO_MMIO_SLOTS] = { false };
	int rc = 0;
	/* Validation: nothing changes before all of it passed. */
	if ((rc = config_check(&p, &c->r[0], err)) < 0)
		vs_err_prefix(err, "snapshot %s", path);
	if (rc == 0 && (rc = disks_decode(&p, &c->r[0], tag, sizeof(tag), taken, err)) < 0)
		vs_err_prefix(err, "snapshot %s", path);
	if (rc == 0 && (rc = load_devices(&p, &c->r[0], false, err)) < 0)
		vs_err_prefix(err, "snapshot %s", path);
	if (rc == 0 && (rc = hot_check(&c->r[0], p.cfg->ram_size / VM_SNAP_PAGE_SIZE, err)) < 0)
		vs_err_prefix(err, "snapshot %s", path);
	if (rc < 0)
		return rc;
	/* Apply: from here a failure leaves the machine unusable. */
	for (unsigned i = 0; i < p.nvirtio && rc == 0; i++) {
		if (!taken[i])
			continue;
		struct vm_block_backend *be = virtio_blk_backend(p.virtio[i]);
		rc = be->ops->snapshot_apply(be, tag, err);
	}
	if (rc == 0)
		rc = load_ram(&p, c, err);
	if (rc == 0)
		rc = load_devices(&p, &c->r[0], true, err);
	if (rc == 0) {
		struct rv_core *core = vm_machine_core(p.m);
		rv_core_after_load(core);
		if (rv_core_dirty_track(core, true, err) == 0) /* diffs over this one */
			rv_core_dirty_clear(core);
		for (unsigned i = 0; i < p.nvirtio; i++)
			virtio_mmio_after_load(p.virtio[i]);
		ctx->have_parent = true;
		ctx->ram_from_file = true;
		memcpy(ctx->parent_id, c->meta[0].id, sizeof(ctx->parent_id));
		if (path[0] == '/' || !realpath(path, ctx->parent))
			snprintf(ctx->parent, sizeof(ctx->parent), "%s", path);
	} else {
		rc = vs_err_prefix(err, "restore failed after validation; the machine is unusable");
		if (rc != -EIO)
			err->code = EIO, rc = -EIO;
	}
	return rc;
}

int virt_snapshot_restore(struct virt_board *b, const char *path, struct vs_err *err)
{
	struct virt_snapshot *snap = virt_snapshot_open(path, err);
	if (!snap)
		return -err->code;
	int rc = virt_snapshot_load(b, snap, err);
	virt_snapshot_close(snap);
	return rc;
}

int virt_snapshot_track_dirty(struct virt_board *b, bool on, struct vs_err *err)
{
	struct virt_board_parts p;
	virt_board_parts(b, &p);
	return rv_core_dirty_track(vm_machine_core(p.m), on, err);
}

int virt_snapshot_write_state(struct virt_board *b, int fd, uint64_t data_offset,
			      const uint64_t *pages, uint64_t *state_len, struct vs_err *err)
{
	struct virt_board_parts p;
	virt_board_parts(b, &p);
	struct snap_meta meta = { 0 };
	meta.mtime = vm_machine_mtime(p.m);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	meta.date_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	if (getrandom(meta.id, sizeof(meta.id), 0) != (ssize_t)sizeof(meta.id))
		return vs_syserrf(err, errno, "migration: getrandom");
	bool taken[VIRTIO_MMIO_SLOTS] = { false };
	struct vm_snap_writer w = { .fd = fd,
				    .kind = VM_SNAP_FULL,
				    .off = VM_SNAP_HEADER_SIZE,
				    .fixed_data_offset = data_offset,
				    .ram_elsewhere = true,
				    .no_rename = true };
	w.tmp_path = (char *)"migration state";
	int r = board_write(&p, &w, &meta, taken, 0, pages, err);
	if (r == 0)
		r = vm_snap_writer_commit(&w, err);
	*state_len = w.off;
	return r;
}

/* ---- savevm / loadvm ------------------------------------------------------- */

int virt_savevm(struct virt_board *b, const char *tag, struct vm_snapshot_result *res,
		struct vs_err *err)
{
	uint64_t t0 = vs_now_ns();
	struct virt_board_parts p;
	virt_board_parts(b, &p);
	memset(res, 0, sizeof(*res));
	if (!tag[0] || strlen(tag) >= sizeof(res->tag))
		return vs_errf(err, EINVAL, "savevm: tag must be 1..%zu characters",
			       sizeof(res->tag) - 1);
	int vm_slot = -1;
	for (unsigned i = 0; i < p.nvirtio && vm_slot < 0; i++) {
		struct vm_block_backend *be = virtio_blk_backend(p.virtio[i]);
		if (be && !be->readonly && be->ops->vmstate_save)
			vm_slot = (int)i;
	}
	if (vm_slot < 0)
		return vs_errf(err, EINVAL, "savevm: the VM has no writable qcow2 disk");
	struct snap_meta meta = { 0 };
	if (getrandom(meta.id, sizeof(meta.id), 0) != (ssize_t)sizeof(meta.id))
		return vs_syserrf(err, errno, "savevm: getrandom");
	snprintf(meta.tag, sizeof(meta.tag), "%s", tag);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	meta.date_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	meta.mtime = vm_machine_mtime(p.m);
	/* The other qcow2 disks: internal snapshots with the same tag. */
	bool taken[VIRTIO_MMIO_SLOTS] = { false };
	int r = 0;
	for (unsigned i = 0; i < p.nvirtio && r == 0; i++) {
		struct vm_block_backend *be = virtio_blk_backend(p.virtio[i]);
		if (!be || be->readonly || !be->ops->snapshot_create)
			continue;
		if ((int)i != vm_slot)
			r = be->ops->snapshot_create(be, tag, err);
		taken[i] = r == 0;
		res->disks += r == 0;
	}
	if (r < 0)
		return r;
	vs_cleanup_close int fd = memfd_create("vessel-savevm", MFD_CLOEXEC);
	if (fd < 0)
		return vs_syserrf(err, errno, "savevm: memfd_create");
	struct vm_snap_writer w = {
		.fd = fd,
		.kind = VM_SNAP_FULL,
		.off = VM_SNAP_HEADER_SIZE,
		.no_rename = true,
		.ram_sum = true, /* --loadvm checks everything before the disk rolls back */
	};
	w.tmp_path = (char *)"savevm state";
	r = board_write(&p, &w, &meta, taken, res->disks, NULL, err);
	if (r == 0)
		r = vm_snap_writer_commit(&w, err);
	if (r < 0)
		return r;
	struct vm_block_backend *be = virtio_blk_backend(p.virtio[vm_slot]);
	r = be->ops->vmstate_save(be, tag, fd, w.file_size,
				  meta.mtime * (1000000000ULL / VM_TIMEBASE_HZ), err);
	if (r < 0)
		return r;
	res->ram_pages = w.ram_bytes / VM_SNAP_PAGE_SIZE;
	res->file_bytes = w.file_size;
	snprintf(res->tag, sizeof(res->tag), "%s", tag);
	res->elapsed_ns = vs_now_ns() - t0;
	return 0;
}

int virt_snapshot_delete_tag(struct virt_board *b, const char *tag, unsigned *ndeleted,
			     struct vs_err *err)
{
	struct virt_board_parts p;
	virt_board_parts(b, &p); /* drains the disks */
	*ndeleted = 0;
	for (unsigned i = 0; i < p.nvirtio; i++) {
		struct vm_block_backend *be = virtio_blk_backend(p.virtio[i]);
		if (!be || be->readonly || !be->ops->snapshot_delete)
			continue;
		struct vs_err e = VS_ERR_INIT;
		int r = be->ops->snapshot_delete(be, tag, &e);
		if (r == 0)
			(*ndeleted)++;
		else if (r != -ENOENT) {
			if (err)
				*err = e;
			return r;
		}
	}
	if (!*ndeleted)
		return vs_errf(err, ENOENT, "no disk has a snapshot %s", tag);
	return 0;
}

int virt_loadvm_extract(const struct virt_disk_config *disks, unsigned ndisks, const char *tag,
			int *fd_out, struct vs_err *err)
{
	*fd_out = -1;
	for (unsigned i = 0; i < ndisks; i++) {
		if (disks[i].readonly)
			continue;
		/* read-only: nothing changes before the restore validated it all */
		struct disk_open_options o = { .format = disks[i].format,
					       .flags = DISK_OPEN_RDONLY };
		struct disk_image *img = disk_image_open(disks[i].path, &o, err);
		if (!img)
			return -err->code;
		if (strcmp(disk_image_format(img), "qcow2") != 0) {
			disk_image_close(img);
			continue;
		}
		int fd = memfd_create("vessel-loadvm", MFD_CLOEXEC);
		uint64_t len = 0;
		int r = fd < 0 ? vs_syserrf(err, errno, "loadvm: memfd_create")
			       : disk_snapshot_load_vmstate(img, tag, fd, &len, err);
		disk_image_close(img);
		if (r == 0) {
			/* The whole state, RAM included, before any disk rolls back
			 * (the sections are checked again by the restore). */
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			struct vm_snap_reader rd = { .fd = -1 };
			r = vm_snap_reader_open(&rd, path, err);
			if (r == 0)
				r = vm_snap_reader_check_ram(&rd, err);
			vm_snap_reader_close(&rd);
			if (r < 0)
				r = vs_err_prefix(err,
						  "--loadvm %s: the VM state in %s is refused, "
						  "no disk was changed",
						  tag, disks[i].path);
		}
		if (r < 0) {
			if (fd >= 0)
				close(fd);
			return r;
		}
		*fd_out = fd;
		return 0;
	}
	return vs_errf(err, EINVAL, "--loadvm %s: no writable qcow2 --disk holds VM states", tag);
}

bool virt_snapshot_ram_anonymous(struct virt_board *b)
{
	struct snap_ctx *ctx = board_ctx(b);
	return ctx && !ctx->ram_from_file;
}
