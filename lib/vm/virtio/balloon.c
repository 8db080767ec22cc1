/*
 * balloon.c - virtio memory balloon (virtio 1.2 §5.5): the host asks the
 * guest to give pages back (inflate) or lets it take them again (deflate),
 * and reads the guest's memory statistics.
 *
 * Queues (compact numbering, as Linux's virtio-mmio driver creates them):
 *   0 inflateq, 1 deflateq: arrays of le32 page frame numbers (4 KiB pages,
 *     PFN = guest physical address >> 12);
 *   2 statsq (VIRTIO_BALLOON_F_STATS_VQ): the driver offers one buffer of
 *     {le16 tag, le64 val} entries; the device keeps it and "uses" it when
 *     it wants fresh numbers, then the driver refills and offers it again.
 * Configuration: le32 num_pages (device: the target balloon size in pages),
 * le32 actual (driver: pages in the balloon now).
 * Features offered: STATS_VQ and DEFLATE_ON_OOM (the guest may take pages
 * back under memory pressure, telling us through deflateq).
 *
 * Host side: an inflated page is dropped with madvise(MADV_DONTNEED) on the
 * guest RAM mapping (PFNs sorted per buffer, one call per contiguous run) (anonymous private memory: the host frees it at once and
 * the page reads as zeros when the guest touches it again), so the host's
 * RSS shrinks; the drop is reported as a write (code caches, dirty pages).
 * Deflated pages need nothing: they fault back in on first touch.  PFNs
 * outside RAM (or in the ROM) are ignored, never touched.
 *
 * Threading: queues run on the machine thread; the statistics (and their
 * generation counter) are also read by the API thread, under stats_lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "vessel/core/util.h"
#include "vessel/vm/state.h"
#include "vessel/vm/virtio.h"

#define BALLOON_F_STATS_VQ	 1
#define BALLOON_F_DEFLATE_ON_OOM 2

#define Q_INFLATE 0
#define Q_DEFLATE 1
#define Q_STATS	  2

#define BALLOON_PAGE  4096ULL
#define BALLOON_BATCH 1024 /* Linux sends 256 PFNs per buffer */

struct balloon_config {
	uint32_t num_pages;
	uint32_t actual;
	uint32_t free_page_hint_cmd_id;
	uint32_t poison_val;
};

struct virtio_balloon {
	struct virtio_mmio vdev; /* first: the transport */
	struct balloon_config config;
	struct virtq_chain chain;
	uint32_t batch[BALLOON_BATCH]; /* PFNs being dropped */
	/* The statistics buffer the driver left with us (valid while held). */
	bool stats_held;
	uint16_t stats_head;
	/* Counters and statistics, shared with the API thread. */
	pthread_mutex_t stats_lock;
	pthread_cond_t stats_cond;
	struct virtio_balloon_stats stats;
	uint64_t inflated_pages_total, deflated_pages_total;
};

static struct virtio_balloon *to_balloon(struct virtio_mmio *vdev)
{
	return (struct virtio_balloon *)vdev;
}

static uint64_t balloon_features(struct virtio_mmio *vdev)
{
	return 1ULL << BALLOON_F_STATS_VQ | 1ULL << BALLOON_F_DEFLATE_ON_OOM;
}

static const void *balloon_config_ptr(struct virtio_mmio *vdev)
{
	return &to_balloon(vdev)->config;
}

static void balloon_config_write(struct virtio_mmio *vdev, uint32_t off, const void *buf,
				 unsigned len)
{
	struct virtio_balloon *b = to_balloon(vdev);
	/* Only `actual` (offset 4) is the driver's to write. */
	if (off == 4 && len == 4)
		memcpy(&b->config.actual, buf, 4);
}

/* Give the pages of a run of PFNs back to the host. */
static void balloon_drop(struct virtio_balloon *b, uint64_t first_pfn, uint64_t npages)
{
	uint64_t gpa = first_pfn * BALLOON_PAGE, len = npages * BALLOON_PAGE;
	if (first_pfn > UINT64_MAX / BALLOON_PAGE || len / BALLOON_PAGE != npages)
		return;
	const struct vm_ram_region *r = vm_bus_find_ram(b->vdev.bus, gpa, len);
	if (!r || r->readonly)
		return; /* not (entirely) RAM: ignore, never touch */
	uint8_t *host = r->host + (gpa - r->base);
	if (madvise(host, len, MADV_DONTNEED) == 0)
		vm_bus_note_write(b->vdev.bus, gpa, len);
}

static int pfn_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Drop a batch of PFNs: sorted, so that runs (in any order) need one madvise. */
static void balloon_drop_batch(struct virtio_balloon *b, uint32_t *pfn, size_t n)
{
	qsort(pfn, n, sizeof(*pfn), pfn_cmp);
	uint64_t run_start = 0, run_len = 0;
	for (size_t i = 0; i < n; i++) {
		if (run_len && pfn[i] == run_start + run_len - 1)
			continue; /* a duplicate */
		if (run_len && pfn[i] == run_start + run_len) {
			run_len++;
			continue;
		}
		if (run_len)
			balloon_drop(b, run_start, run_len);
		run_start = pfn[i];
		run_len = 1;
	}
	if (run_len)
		balloon_drop(b, run_start, run_len);
}

/* Inflate or deflate: read the PFN array in batches. */
static void balloon_pfns(struct virtio_balloon *b, unsigned q)
{
	int r;
	while ((r = virtio_mmio_pop(&b->vdev, q, &b->chain)) > 0) {
		uint64_t count = 0;
		size_t n = 0;
		for (size_t off = 0; off + 4 <= b->chain.out_len; off += 4) {
			virtq_chain_read(&b->chain, off, &b->batch[n], 4);
			count++;
			if (q == Q_INFLATE && ++n == BALLOON_BATCH) {
				balloon_drop_batch(b, b->batch, n);
				n = 0;
			}
		}
		if (q == Q_INFLATE && n)
			balloon_drop_batch(b, b->batch, n);
		virtio_mmio_push(&b->vdev, q, b->chain.head, 0);
		pthread_mutex_lock(&b->stats_lock);
		if (q == Q_INFLATE)
			b->inflated_pages_total += count;
		else
			b->deflated_pages_total += count;
		pthread_mutex_unlock(&b->stats_lock);
	}
	virtio_mmio_notify(&b->vdev, q);
}

/* The driver offered (refilled) its statistics buffer: read it and keep it. */
static void balloon_stats(struct virtio_balloon *b)
{
	int r;
	while ((r = virtio_mmio_pop(&b->vdev, Q_STATS, &b->chain)) > 0) {
		if (b->stats_held) {
			/* A second buffer: give the older one back unread. */
			virtio_mmio_push(&b->vdev, Q_STATS, b->stats_head, 0);
			virtio_mmio_notify(&b->vdev, Q_STATS);
		}
		struct virtio_balloon_stats st;
		pthread_mutex_lock(&b->stats_lock);
		st = b->stats;
		pthread_mutex_unlock(&b->stats_lock);
		st.have = 0;
		for (size_t off = 0; off + 10 <= b->chain.out_len; off += 10) {
			uint8_t e[10];
			uint16_t tag;
			uint64_t val;
			virtq_chain_read(&b->chain, off, e, sizeof(e));
			memcpy(&tag, e, 2);
			memcpy(&val, e + 2, 8);
			if (tag < VIRTIO_BALLOON_S_NR) {
				st.val[tag] = val;
				st.have |= 1U << tag;
			}
		}
		st.generation++;
		st.updated_ns = vs_now_ns();
		pthread_mutex_lock(&b->stats_lock);
		b->stats = st;
		pthread_cond_broadcast(&b->stats_cond);
		pthread_mutex_unlock(&b->stats_lock);
		b->stats_held = true;
		b->stats_head = b->chain.head;
	}
}

static void balloon_queue_notify(struct virtio_mmio *vdev, unsigned q)
{
	struct virtio_balloon *b = to_balloon(vdev);
	if (q == Q_INFLATE || q == Q_DEFLATE)
		balloon_pfns(b, q);
	else if (q == Q_STATS)
		balloon_stats(b);
}

static void balloon_reset(struct virtio_mmio *vdev)
{
	struct virtio_balloon *b = to_balloon(vdev);
	b->stats_held = false;
	b->config.actual = 0; /* a new driver starts with an empty balloon */
}

static void balloon_free(struct virtio_mmio *vdev)
{
	struct virtio_balloon *b = to_balloon(vdev);
	pthread_cond_destroy(&b->stats_cond);
	pthread_mutex_destroy(&b->stats_lock);
	free(b);
}

/* Snapshots: the configuration (target, actual) and the held stats buffer. */
static void balloon_save(const struct virtio_mmio *vdev, struct vm_state *s)
{
	const struct virtio_balloon *b = (const struct virtio_balloon *)vdev;
	vm_state_put_u32(s, b->config.num_pages);
	vm_state_put_u32(s, b->config.actual);
	vm_state_put_u32(s, b->config.free_page_hint_cmd_id);
	vm_state_put_u32(s, b->config.poison_val);
	vm_state_put_u8(s, b->stats_held);
	vm_state_put_u16(s, b->stats_head);
}

static int balloon_load(struct virtio_mmio *vdev, struct vm_state *s, bool apply,
			struct vs_err *err)
{
	struct virtio_balloon *b = to_balloon(vdev);
	struct balloon_config c;
	c.num_pages = vm_state_get_u32(s);
	c.actual = vm_state_get_u32(s);
	c.free_page_hint_cmd_id = vm_state_get_u32(s);
	c.poison_val = vm_state_get_u32(s);
	bool held = vm_state_get_bool(s);
	uint16_t head = vm_state_get_u16(s);
	if (held && head >= VIRTQ_MAX_SIZE)
		return vs_errf(err, EINVAL, "virtio-balloon: held statistics buffer %u", head);
	if (!apply)
		return 0;
	b->config = c;
	b->stats_held = held;
	b->stats_head = head;
	return 0;
}

static const struct virtio_ops balloon_ops = {
	.name = "balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.nqueues = 3,
	.features = balloon_features,
	.config_size = sizeof(struct balloon_config),
	.config = balloon_config_ptr,
	.config_write = balloon_config_write,
	.queue_notify = balloon_queue_notify,
	.reset = balloon_reset,
	.free = balloon_free,
	.save = balloon_save,
	.load = balloon_load,
};

struct virtio_mmio *virtio_balloon_new(const struct vm_bus *bus, struct vs_err *err)
{
	struct virtio_balloon *b = calloc(1, sizeof(*b));
	if (!b) {
		vs_errf(err, ENOMEM, "virtio-balloon: out of memory");
		return NULL;
	}
	virtio_mmio_init(&b->vdev, &balloon_ops, bus);
	pthread_mutex_init(&b->stats_lock, NULL);
	pthread_cond_init(&b->stats_cond, NULL);
	return &b->vdev;
}

void virtio_balloon_set_target(struct virtio_mmio *vdev, uint32_t pages)
{
	struct virtio_balloon *b = to_balloon(vdev);
	if (b->config.num_pages == pages)
		return;
	b->config.num_pages = pages;
	virtio_mmio_config_changed(vdev);
}

void virtio_balloon_info(struct virtio_mmio *vdev, struct virtio_balloon_info *info)
{
	struct virtio_balloon *b = to_balloon(vdev);
	info->target_pages = b->config.num_pages;
	info->actual_pages = b->config.actual;
	info->driver_ok = virtio_mmio_live(vdev);
	info->stats_vq = virtio_mmio_has_feature(vdev, BALLOON_F_STATS_VQ);
	info->deflate_on_oom = virtio_mmio_has_feature(vdev, BALLOON_F_DEFLATE_ON_OOM);
	pthread_mutex_lock(&b->stats_lock);
	info->inflated_pages_total = b->inflated_pages_total;
	info->deflated_pages_total = b->deflated_pages_total;
	pthread_mutex_unlock(&b->stats_lock);
}

int virtio_balloon_request_stats(struct virtio_mmio *vdev)
{
	struct virtio_balloon *b = to_balloon(vdev);
	if (!virtio_mmio_live(vdev) || !virtio_mmio_has_feature(vdev, BALLOON_F_STATS_VQ))
		return -ENODEV;
	if (!b->stats_held)
		return -EAGAIN; /* the driver has not offered its buffer (yet) */
	b->stats_held = false;
	virtio_mmio_push(vdev, Q_STATS, b->stats_head, 0);
	/* Always interrupt: the driver waits for this buffer to come back. */
	vdev->interrupt_status |= VIRTIO_INT_USED;
	vm_irq_set(&vdev->irq, 1);
	return 0;
}

void virtio_balloon_get_stats(struct virtio_mmio *vdev, struct virtio_balloon_stats *st)
{
	struct virtio_balloon *b = to_balloon(vdev);
	pthread_mutex_lock(&b->stats_lock);
	*st = b->stats;
	pthread_mutex_unlock(&b->stats_lock);
}

int virtio_balloon_wait_stats(struct virtio_mmio *vdev, uint64_t after_generation,
			      unsigned timeout_ms, struct virtio_balloon_stats *st)
{
	struct virtio_balloon *b = to_balloon(vdev);
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	int r = 0;
	pthread_mutex_lock(&b->stats_lock);
	while (b->stats.generation <= after_generation && r == 0)
		r = pthread_cond_timedwait(&b->stats_cond, &b->stats_lock, &deadline);
	*st = b->stats;
	pthread_mutex_unlock(&b->stats_lock);
	return st->generation > after_generation ? 0 : -ETIMEDOUT;
}
