/*
 * blk.c - virtio block device (virtio 1.2 §5.2) over a struct
 * vm_block_backend (lib/vm/backend/block.c wraps lib/disk images).
 *
 * A request is one chain: a 16-byte device-readable header
 * { le32 type; le32 reserved; le64 sector; }, the data (readable for OUT,
 * DISCARD and WRITE_ZEROES; writable for IN and GET_ID), then one writable
 * status byte (the last byte of the writable part).
 *
 * Failure model: a chain without a complete header or without a status byte
 * cannot be answered and puts the device in NEEDS_RESET; a well-formed
 * request for something impossible (sectors beyond the end, a write to a
 * read-only disk, an unknown type) is answered with IOERR/UNSUPP, and so is a
 * read or write of more than BLK_MAX_DATA bytes (a guest cannot make one
 * request arbitrarily long; Linux never sends more than a few MiB).
 *
 * Threading: the machine thread pops and checks chains and answers the
 * requests that need no disk access (errors, GET_ID) at once; the rest go
 * to the disk's I/O thread (lib/vm/backend/block_queue.c), which runs them
 * in order and in bounded pieces, and come back through its eventfd, which
 * the run loop watches: the status byte is written and the chain pushed on
 * the machine thread.  In-order execution gives FLUSH its meaning (it
 * completes after every request popped before it).  At most
 * BLK_MAX_INFLIGHT requests are in flight; more chains wait in the ring.
 * A device or queue reset cancels the requests in flight (they stop at a
 * piece boundary) and drops their answers (vq->resets changed).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/vm/virtio.h"

#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define SECTOR_SIZE	   512ULL
#define BLK_ID_BYTES	   20
#define BLK_MAX_RANGE_SECT (1U << 22) /* 2 GiB per discard/write-zeroes range */
#define BLK_MAX_RANGES	   VM_BLOCK_MAX_RANGES
#define BLK_MAX_DATA	   (256ULL << 20) /* per read or write: larger ones get IOERR */
#define BLK_MAX_INFLIGHT   VIRTQ_MAX_SIZE
#define BLK_STOP_WAIT_NS   30000000ULL /* exit waits this long for the I/O thread */
#define BLK_S_QUEUED	   0xff	       /* internal: handed to the I/O thread */

/* Configuration layout (§5.2.4), little-endian, packed as in the spec. */
struct virtio_blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	struct {
		uint16_t cylinders;
		uint8_t heads;
		uint8_t sectors;
	} geometry;
	uint32_t blk_size;
	struct {
		uint8_t physical_block_exp;
		uint8_t alignment_offset;
		uint16_t min_io_size;
		uint32_t opt_io_size;
	} topology;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

_Static_assert(sizeof(struct virtio_blk_config) == 60, "virtio_blk_config layout");

struct blk_req_header {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_range {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

/* One request between pop and completion (the chain's buffers stay in
 * guest RAM, which outlives the device). */
struct blk_req {
	struct vm_block_req io;	     /* first: reaped requests are cast back */
	struct blk_req *prev, *next; /* the in-flight list */
	uint32_t resets;	     /* vq->resets at pop: a reset makes the completion stale */
	uint32_t written;	     /* bytes of the writable part filled on success */
	struct virtq_chain chain;
	struct iovec iov[VIRTQ_MAX_SIZE];
};

struct virtio_blk {
	struct virtio_mmio vdev; /* first: the transport */
	struct vm_block_backend *be;
	struct vm_block_queue *io; /* the disk's I/O thread; owns be */
	struct vm_host_poll poll;  /* none: wait for each request inline */
	struct virtio_blk_config config;
	char serial[BLK_ID_BYTES];
	struct blk_req *inflight; /* submitted, not completed */
	unsigned ninflight;
	struct blk_req *spare;	/* popped into next */
	uint64_t stop_deadline; /* set by blk_stop */
};

static uint64_t blk_features(struct virtio_mmio *vdev)
{
	struct virtio_blk *blk = (struct virtio_blk *)vdev;
	uint64_t f = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
		     1ULL << VIRTIO_BLK_F_FLUSH;
	if (blk->be->readonly)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	else
		f |= 1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	return f;
}

static const void *blk_config(struct virtio_mmio *vdev)
{
	return &((struct virtio_blk *)vdev)->config;
}

/*
 * iovecs for bytes [offset, offset+len) of the readable (writable=false) or
 * writable part of the chain.  Returns the count; the caller checked len.
 */
static int blk_iov(struct blk_req *req, bool writable, uint64_t offset, uint64_t len)
{
	const struct virtq_chain *c = &req->chain;
	unsigned first = writable ? c->nout : 0, end = writable ? c->nout + c->nin : c->nout;
	int n = 0;
	for (unsigned i = first; i < end && len > 0; i++) {
		const struct virtq_seg *s = &c->seg[i];
		if (offset >= s->len) {
			offset -= s->len;
			continue;
		}
		uint64_t take = s->len - offset;
		if (take > len)
			take = len;
		req->iov[n++] = (struct iovec){ s->host + offset, (size_t)take };
		len -= take;
		offset = 0;
	}
	return n;
}

/* Is [sector, sector + bytes/512) inside the disk? */
static bool blk_range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t bytes)
{
	uint64_t size = blk->be->size;
	return sector <= size / SECTOR_SIZE && bytes <= size - sector * SECTOR_SIZE;
}

/* Parse the discard/write-zeroes ranges of req into its I/O request. */
static uint8_t blk_ranges(struct virtio_blk *blk, struct blk_req *req, uint32_t type)
{
	uint64_t payload = req->chain.out_len - sizeof(struct blk_req_header);
	if (blk->be->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (payload == 0 || payload % sizeof(struct blk_range) ||
	    payload / sizeof(struct blk_range) > BLK_MAX_RANGES)
		return VIRTIO_BLK_S_UNSUPP;
	req->io.op = type == VIRTIO_BLK_T_DISCARD ? VM_BLOCK_DISCARD : VM_BLOCK_WRITE_ZEROES;
	req->io.nranges = 0;
	for (uint64_t off = 0; off < payload; off += sizeof(struct blk_range)) {
		struct blk_range range;
		virtq_chain_read(&req->chain, sizeof(struct blk_req_header) + off, &range,
				 sizeof(range));
		/* Flags other than UNMAP (bit 0, write-zeroes only) are reserved. */
		if (range.flags & ~(type == VIRTIO_BLK_T_WRITE_ZEROES ? 1U : 0U))
			return VIRTIO_BLK_S_UNSUPP;
		if (range.num_sectors > BLK_MAX_RANGE_SECT ||
		    !blk_range_ok(blk, range.sector, range.num_sectors * SECTOR_SIZE))
			return VIRTIO_BLK_S_IOERR;
		if (range.num_sectors == 0)
			continue;
		req->io.range[req->io.nranges].offset = range.sector * SECTOR_SIZE;
		req->io.range[req->io.nranges].len = range.num_sectors * SECTOR_SIZE;
		req->io.nranges++;
	}
	return req->io.nranges ? BLK_S_QUEUED : VIRTIO_BLK_S_OK;
}

/*
 * Check one well-framed request and turn it into an I/O request: returns
 * BLK_S_QUEUED when req->io is ready for the I/O thread, else the final
 * status (with req->written set).
 */
static uint8_t blk_prepare(struct virtio_blk *blk, struct blk_req *req,
			   const struct blk_req_header *h)
{
	const struct virtq_chain *c = &req->chain;
	uint64_t in_data = c->in_len - 1, out_data = c->out_len - sizeof(*h);

	req->written = 0;
	req->io.offset = h->sector * SECTOR_SIZE;
	req->io.iov = req->iov;
	switch (h->type) {
	case VIRTIO_BLK_T_IN:
		if (in_data % SECTOR_SIZE || in_data > BLK_MAX_DATA ||
		    !blk_range_ok(blk, h->sector, in_data))
			return VIRTIO_BLK_S_IOERR;
		if (in_data == 0)
			return VIRTIO_BLK_S_OK;
		req->io.op = VM_BLOCK_READ;
		req->io.len = in_data;
		req->io.iovcnt = blk_iov(req, true, 0, in_data);
		req->written = (uint32_t)in_data;
		return BLK_S_QUEUED;
	case VIRTIO_BLK_T_OUT:
		if (blk->be->readonly || out_data % SECTOR_SIZE || out_data > BLK_MAX_DATA ||
		    !blk_range_ok(blk, h->sector, out_data))
			return VIRTIO_BLK_S_IOERR;
		if (out_data == 0)
			return VIRTIO_BLK_S_OK;
		req->io.op = VM_BLOCK_WRITE;
		req->io.len = out_data;
		req->io.iovcnt = blk_iov(req, false, sizeof(*h), out_data);
		return BLK_S_QUEUED;
	case VIRTIO_BLK_T_FLUSH: req->io.op = VM_BLOCK_FLUSH; return BLK_S_QUEUED;
	case VIRTIO_BLK_T_GET_ID:
		req->written =
		    (uint32_t)virtq_chain_write(&blk->vdev.vq[0], c, 0, blk->serial,
						in_data < BLK_ID_BYTES ? in_data : BLK_ID_BYTES);
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (!virtio_mmio_has_feature(&blk->vdev, h->type == VIRTIO_BLK_T_DISCARD
							     ? VIRTIO_BLK_F_DISCARD
							     : VIRTIO_BLK_F_WRITE_ZEROES))
			return VIRTIO_BLK_S_UNSUPP;
		return blk_ranges(blk, req, h->type);
	default: return VIRTIO_BLK_S_UNSUPP;
	}
}

/* Write the status byte and return the chain to the driver. */
static void blk_answer(struct virtio_blk *blk, struct blk_req *req, uint8_t status)
{
	struct virtio_mmio *vdev = &blk->vdev;
	const struct virtq_chain *c = &req->chain;
	uint32_t written = status == VIRTIO_BLK_S_OK ? req->written : 0;
	virtq_chain_write(&vdev->vq[0], c, c->in_len - 1, &status, 1);
	virtio_mmio_push(vdev, 0, c->head, written + 1);
}

static void blk_inflight_add(struct virtio_blk *blk, struct blk_req *req)
{
	req->prev = NULL;
	req->next = blk->inflight;
	if (blk->inflight)
		blk->inflight->prev = req;
	blk->inflight = req;
	blk->ninflight++;
}

static void blk_inflight_remove(struct virtio_blk *blk, struct blk_req *req)
{
	if (req->prev)
		req->prev->next = req->next;
	else
		blk->inflight = req->next;
	if (req->next)
		req->next->prev = req->prev;
	blk->ninflight--;
}

/* Answer the requests the I/O thread completed (machine thread). */
static void blk_complete(struct virtio_blk *blk)
{
	struct virtio_mmio *vdev = &blk->vdev;
	bool answered = false;
	struct vm_block_req *io = vm_block_queue_reap(blk->io);
	while (io) {
		struct blk_req *req = (struct blk_req *)io;
		io = io->next;
		blk_inflight_remove(blk, req);
		/* The I/O thread wrote guest RAM (maybe partly, maybe after a
		 * reset): tell the bus, whatever the outcome (code caches). */
		if (req->io.op == VM_BLOCK_READ)
			virtq_chain_note_written(&vdev->vq[0], &req->chain, 0, req->io.len);
		/* A reset since the pop (device or queue) makes the answer stale. */
		if (req->resets == vdev->vq[0].resets && vdev->vq[0].ready &&
		    virtio_mmio_live(vdev)) {
			if (req->io.result < 0)
				vs_log(VS_LOG_WARN, "virtio-blk: %s", req->io.err.msg);
			blk_answer(blk, req,
				   req->io.result < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
			answered = true;
		}
		free(req);
	}
	if (answered)
		virtio_mmio_notify(vdev, 0);
}

static void blk_process(struct virtio_blk *blk);

static void blk_io_ready(void *opaque)
{
	struct virtio_blk *blk = opaque;
	blk_complete(blk);
	blk_process(blk); /* chains may wait for in-flight room */
}

/* Without a run loop: wait until every submitted request has completed. */
static void blk_wait_inline(struct virtio_blk *blk)
{
	while (blk->ninflight > 0) {
		struct pollfd pfd = { .fd = vm_block_queue_fd(blk->io), .events = POLLIN };
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return;
		blk_complete(blk);
	}
}

/* Pop chains and hand them to the I/O thread, up to BLK_MAX_INFLIGHT. */
static void blk_process(struct virtio_blk *blk)
{
	struct virtio_mmio *vdev = &blk->vdev;
	bool answered = false;
	while (blk->ninflight < BLK_MAX_INFLIGHT) {
		struct blk_req *req = blk->spare ? blk->spare : malloc(sizeof(*req));
		blk->spare = NULL;
		if (!req) {
			vs_log(VS_LOG_WARN, "virtio-blk: out of memory; requests wait");
			break;
		}
		if (virtio_mmio_pop(vdev, 0, &req->chain) <= 0) {
			blk->spare = req;
			break;
		}
		struct virtq_chain *c = &req->chain;
		struct blk_req_header h;
		if (c->out_len < sizeof(h) || c->in_len < 1) {
			blk->spare = req;
			virtio_mmio_fail(vdev, "request %u without header or status byte", c->head);
			return;
		}
		virtq_chain_read(c, 0, &h, sizeof(h));
		uint8_t status = blk_prepare(blk, req, &h);
		if (status != BLK_S_QUEUED) {
			blk_answer(blk, req, status);
			answered = true;
			blk->spare = req;
			continue;
		}
		req->resets = vdev->vq[0].resets;
		blk_inflight_add(blk, req);
		vm_block_queue_submit(blk->io, &req->io);
		if (!blk->poll.watch)
			blk_wait_inline(blk);
	}
	if (answered)
		virtio_mmio_notify(vdev, 0);
}

static void blk_queue_notify(struct virtio_mmio *vdev, unsigned q)
{
	blk_process((struct virtio_blk *)vdev);
}

/* Device reset: requests in flight stop at their next piece boundary, and
 * their completions are dropped (their queue was reset). */
static void blk_reset(struct virtio_mmio *vdev)
{
	struct virtio_blk *blk = (struct virtio_blk *)vdev;
	for (struct blk_req *req = blk->inflight; req; req = req->next)
		vm_block_queue_cancel(&req->io);
}

static void blk_drop(struct vm_block_req *io)
{
	free(io);
}

/* The VM stops: cancel the I/O thread's work and let it close the image. */
static void blk_stop(struct virtio_mmio *vdev)
{
	struct virtio_blk *blk = (struct virtio_blk *)vdev;
	if (blk->stop_deadline)
		return;
	blk->stop_deadline =
	    vs_now_ns() + (vdev->stop_wait_ns ? vdev->stop_wait_ns : BLK_STOP_WAIT_NS);
	vm_block_queue_stop(blk->io);
}

static void blk_free(struct virtio_mmio *vdev)
{
	struct virtio_blk *blk = (struct virtio_blk *)vdev;
	blk_stop(vdev);
	if (blk->poll.unwatch)
		blk->poll.unwatch(blk->poll.opaque, vm_block_queue_fd(blk->io));
	/* Past the deadline the I/O thread is abandoned (it frees itself). */
	vm_block_queue_close(blk->io, blk->stop_deadline, blk_drop);
	free(blk->spare);
	free(blk);
}

static const struct virtio_ops blk_ops = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.nqueues = 1,
	.features = blk_features,
	.config_size = sizeof(struct virtio_blk_config),
	.config = blk_config,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
	.stop = blk_stop,
	.free = blk_free,
};

struct virtio_mmio *virtio_blk_new(const struct vm_bus *bus, struct vm_block_backend *be,
				   const char *serial, const struct vm_host_poll *poll,
				   struct vs_err *err)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	if (!blk) {
		vm_block_backend_close(be);
		vs_errf(err, ENOMEM, "virtio-blk: out of memory");
		return NULL;
	}
	virtio_mmio_init(&blk->vdev, &blk_ops, bus);
	blk->be = be;
	blk->io = vm_block_queue_new(be, err);
	if (!blk->io) {
		free(blk);
		return NULL;
	}
	if (poll && poll->watch) {
		int r = poll->watch(poll->opaque, vm_block_queue_fd(blk->io), blk_io_ready, blk);
		if (r < 0) {
			vm_block_queue_close(blk->io, vs_now_ns() + BLK_STOP_WAIT_NS, NULL);
			free(blk);
			vs_errf(err, -r, "virtio-blk: cannot watch the I/O thread's completions");
			return NULL;
		}
		blk->poll = *poll;
	}
	if (serial) /* NUL-padded unless exactly 20 bytes long, as GET_ID wants */
		memcpy(blk->serial, serial, strnlen(serial, sizeof(blk->serial)));
	struct virtio_blk_config *cfg = &blk->config;
	cfg->capacity = be->size / SECTOR_SIZE;
	cfg->seg_max = VIRTQ_MAX_SIZE - 2;
	cfg->blk_size = SECTOR_SIZE;
	cfg->num_queues = 1;
	cfg->max_discard_sectors = BLK_MAX_RANGE_SECT;
	cfg->max_discard_seg = BLK_MAX_RANGES;
	cfg->discard_sector_alignment = 4096 / SECTOR_SIZE;
	cfg->max_write_zeroes_sectors = BLK_MAX_RANGE_SECT;
	cfg->max_write_zeroes_seg = BLK_MAX_RANGES;
	cfg->write_zeroes_may_unmap = 1;
	return &blk->vdev;
}

void virtio_blk_drain(struct virtio_mmio *vdev)
{
	if (vdev->ops == &blk_ops)
		blk_wait_inline((struct virtio_blk *)vdev);
}

struct vm_block_backend *virtio_blk_backend(struct virtio_mmio *vdev)
{
	return vdev->ops == &blk_ops ? ((struct virtio_blk *)vdev)->be : NULL;
}
