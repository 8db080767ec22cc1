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
 * read-only disk, an unknown type) is answered with IOERR/UNSUPP.  Requests
 * run synchronously on the machine thread: a request completes before the
 * next is popped, so flush needs no ordering beyond that.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/core/log.h"
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
#define BLK_MAX_RANGES	   16

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

struct virtio_blk {
	struct virtio_mmio vdev; /* first: the transport */
	struct vm_block_backend *be;
	struct virtio_blk_config config;
	char serial[BLK_ID_BYTES];
	struct virtq_chain chain;
	struct iovec iov[VIRTQ_MAX_SIZE];
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
static int blk_iov(struct virtio_blk *blk, bool writable, uint64_t offset, uint64_t len)
{
	const struct virtq_chain *c = &blk->chain;
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
		blk->iov[n++] = (struct iovec){ s->host + offset, (size_t)take };
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

static uint8_t blk_ranges(struct virtio_blk *blk, uint32_t type)
{
	struct vs_err err = VS_ERR_INIT;
	uint64_t payload = blk->chain.out_len - sizeof(struct blk_req_header);
	if (blk->be->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (payload == 0 || payload % sizeof(struct blk_range) ||
	    payload / sizeof(struct blk_range) > BLK_MAX_RANGES)
		return VIRTIO_BLK_S_UNSUPP;
	for (uint64_t off = 0; off < payload; off += sizeof(struct blk_range)) {
		struct blk_range range;
		virtq_chain_read(&blk->chain, sizeof(struct blk_req_header) + off, &range,
				 sizeof(range));
		/* Flags other than UNMAP (bit 0, write-zeroes only) are reserved. */
		if (range.flags & ~(type == VIRTIO_BLK_T_WRITE_ZEROES ? 1U : 0U))
			return VIRTIO_BLK_S_UNSUPP;
		if (range.num_sectors > BLK_MAX_RANGE_SECT ||
		    !blk_range_ok(blk, range.sector, range.num_sectors * SECTOR_SIZE))
			return VIRTIO_BLK_S_IOERR;
		uint64_t pos = range.sector * SECTOR_SIZE, len = range.num_sectors * SECTOR_SIZE;
		int r = type == VIRTIO_BLK_T_DISCARD
			    ? blk->be->ops->discard(blk->be, pos, len, &err)
			    : blk->be->ops->write_zeroes(blk->be, pos, len, &err);
		if (r < 0) {
			vs_log(VS_LOG_WARN, "virtio-blk: %s", err.msg);
			return VIRTIO_BLK_S_IOERR;
		}
	}
	return VIRTIO_BLK_S_OK;
}

/* Execute one well-framed request; returns the status and bytes written. */
static uint8_t blk_execute(struct virtio_blk *blk, const struct blk_req_header *h,
			   uint32_t *written)
{
	struct vs_err err = VS_ERR_INIT;
	const struct virtq_chain *c = &blk->chain;
	uint64_t in_data = c->in_len - 1, out_data = c->out_len - sizeof(*h);
	uint64_t pos = h->sector * SECTOR_SIZE;
	int r, n;

	switch (h->type) {
	case VIRTIO_BLK_T_IN:
		if (in_data % SECTOR_SIZE || !blk_range_ok(blk, h->sector, in_data))
			return VIRTIO_BLK_S_IOERR;
		n = blk_iov(blk, true, 0, in_data);
		r = n ? blk->be->ops->preadv(blk->be, blk->iov, n, pos, &err) : 0;
		if (r < 0)
			break;
		virtq_chain_note_written(&blk->vdev.vq[0], c, 0, in_data);
		*written = (uint32_t)in_data;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT:
		if (blk->be->readonly || out_data % SECTOR_SIZE ||
		    !blk_range_ok(blk, h->sector, out_data))
			return VIRTIO_BLK_S_IOERR;
		n = blk_iov(blk, false, sizeof(*h), out_data);
		r = n ? blk->be->ops->pwritev(blk->be, blk->iov, n, pos, &err) : 0;
		if (r < 0)
			break;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		if (blk->be->ops->flush(blk->be, &err) < 0)
			break;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		*written =
		    (uint32_t)virtq_chain_write(&blk->vdev.vq[0], c, 0, blk->serial,
						in_data < BLK_ID_BYTES ? in_data : BLK_ID_BYTES);
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (!virtio_mmio_has_feature(&blk->vdev, h->type == VIRTIO_BLK_T_DISCARD
							     ? VIRTIO_BLK_F_DISCARD
							     : VIRTIO_BLK_F_WRITE_ZEROES))
			return VIRTIO_BLK_S_UNSUPP;
		return blk_ranges(blk, h->type);
	default: return VIRTIO_BLK_S_UNSUPP;
	}
	vs_log(VS_LOG_WARN, "virtio-blk: %s", err.msg);
	return VIRTIO_BLK_S_IOERR;
}

static void blk_queue_notify(struct virtio_mmio *vdev, unsigned q)
{
	struct virtio_blk *blk = (struct virtio_blk *)vdev;
	struct virtq_chain *c = &blk->chain;
	while (virtio_mmio_pop(vdev, 0, c) > 0) {
		struct blk_req_header h;
		if (c->out_len < sizeof(h) || c->in_len < 1) {
			virtio_mmio_fail(vdev, "request %u without header or status byte", c->head);
			return;
		}
		virtq_chain_read(c, 0, &h, sizeof(h));
		uint32_t written = 0;
		uint8_t status = blk_execute(blk, &h, &written);
		virtq_chain_write(&vdev->vq[0], c, c->in_len - 1, &status, 1);
		virtio_mmio_push(vdev, 0, c->head, written + 1);
	}
	virtio_mmio_notify(vdev, 0);
}

static void blk_free(struct virtio_mmio *vdev)
{
	struct virtio_blk *blk = (struct virtio_blk *)vdev;
	vm_block_backend_close(blk->be);
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
	.free = blk_free,
};

struct virtio_mmio *virtio_blk_new(const struct vm_bus *bus, struct vm_block_backend *be,
				   const char *serial, struct vs_err *err)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	if (!blk) {
		vm_block_backend_close(be);
		vs_errf(err, ENOMEM, "virtio-blk: out of memory");
		return NULL;
	}
	virtio_mmio_init(&blk->vdev, &blk_ops, bus);
	blk->be = be;
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

struct vm_block_backend *virtio_blk_backend(struct virtio_mmio *vdev)
{
	return vdev->ops == &blk_ops ? ((struct virtio_blk *)vdev)->be : NULL;
}
