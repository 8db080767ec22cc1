/*
 * fuzz_virtq.c - fuzz target for the device side of split virtqueues and the
 * chain parsers of virtio-blk and virtio-rng (the guest-facing parsers of
 * lib/vm/virtio).  libFuzzer entry point; replay_main.c replays a corpus.
 *
 * Input: byte 0 selects the device (below 0xf0: even blk, odd rng; 0xf0-0xf7:
 * virtio-balloon, queue (byte 0 & 3) % 3 (inflate, deflate, stats);
 * 0xf8-0xff: virtio-input, queue byte 0 & 1 (events, status)), byte 1 the queue
 * size (1 << (b % 9)), byte 2 the features (bit 0 indirect, bit 1 event
 * index), bytes 3-4 the available index; the rest is the first 64 KiB of
 * guest RAM, where the descriptor table sits at 0, the available ring at
 * 0x1000 and the used ring at 0x2000.  Guest RAM is exactly the malloc'd
 * buffer, so ASan flags any host access outside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/vm/virtio.h"

#define RAM_BASE  0x80000000ULL
#define RAM_SIZE  0x10000ULL
#define DISK_SIZE 0x8000ULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_disk {
	struct vm_block_backend be;
	uint8_t data[DISK_SIZE];
};

static int disk_io(struct vm_block_backend *be, const struct iovec *iov, int n, uint64_t off,
		   bool write)
{
	struct fuzz_disk *d = (struct fuzz_disk *)be;
	for (int i = 0; i < n; i++) {
		if (off > DISK_SIZE || iov[i].iov_len > DISK_SIZE - off)
			abort(); /* the device let a request past the end through */
		if (write)
			memcpy(d->data + off, iov[i].iov_base, iov[i].iov_len);
		else
			memcpy(iov[i].iov_base, d->data + off, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return 0;
}

static int disk_preadv(struct vm_block_backend *be, const struct iovec *iov, int n, uint64_t off,
		       struct vs_err *err)
{
	return disk_io(be, iov, n, off, false);
}

static int disk_pwritev(struct vm_block_backend *be, const struct iovec *iov, int n, uint64_t off,
			struct vs_err *err)
{
	return disk_io(be, iov, n, off, true);
}

static int disk_flush(struct vm_block_backend *be, struct vs_err *err)
{
	return 0;
}

static int disk_range(struct vm_block_backend *be, uint64_t off, uint64_t len, struct vs_err *err)
{
	if (off > DISK_SIZE || len > DISK_SIZE - off)
		abort();
	memset(((struct fuzz_disk *)be)->data + off, 0, len);
	return 0;
}

static void disk_close(struct vm_block_backend *be)
{
	free(be);
}

static const struct vm_block_backend_ops disk_ops = {
	.preadv = disk_preadv,
	.pwritev = disk_pwritev,
	.flush = disk_flush,
	.discard = disk_range,
	.write_zeroes = disk_range,
	.close = disk_close,
};

static void reg(struct vm_bus *bus, uint64_t off, uint32_t v)
{
	vm_bus_write(bus, VIRTIO_MMIO_BASE + off, 4, v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vs_err err = VS_ERR_INIT;
	struct vm_bus bus;
	if (size < 5)
		return 0;
	uint8_t *ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 0;
	memcpy(ram, data + 5, size - 5 < RAM_SIZE ? size - 5 : RAM_SIZE);
	vm_bus_init(&bus);
	vm_bus_add_ram(&bus, RAM_BASE, RAM_SIZE, ram, false, "ram", &err);

	struct virtio_mmio *vdev;
	unsigned q = 0;
	bool balloon = data[0] >= 0xf0 && data[0] < 0xf8, input = data[0] >= 0xf8;
	if (balloon) {
		vdev = virtio_balloon_new(&bus, &err);
		q = (data[0] & 3) % 3;
	} else if (input) {
		vdev = virtio_input_keyboard_new(&bus, &err);
		q = data[0] & 1;
	} else if (data[0] & 1) {
		vdev = virtio_rng_new(&bus, &err);
	} else {
		struct fuzz_disk *d = calloc(1, sizeof(*d));
		if (!d) {
			free(ram);
			return 0;
		}
		d->be = (struct vm_block_backend){ .ops = &disk_ops,
						   .size = DISK_SIZE,
						   .readonly = (data[0] & 2) != 0 };
		vdev = virtio_blk_new(&bus, &d->be, "fuzz", NULL, &err);
	}
	if (!vdev) {
		free(ram);
		return 0;
	}
	vm_bus_add_mmio(&bus, VIRTIO_MMIO_BASE, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, vdev, "virtio",
			&err);

	uint32_t features_hi = 1; /* VERSION_1 */
	uint32_t features_lo = (data[2] & 1 ? 1U << VIRTIO_F_INDIRECT_DESC : 0) |
			       (data[2] & 2 ? 1U << VIRTIO_F_EVENT_IDX : 0) |
			       (data[2] & 4 ? 1U << 13 | 1U << 14 | 1U << 9 : 0);
	reg(&bus, 0x70, 3);
	reg(&bus, 0x24, 0);
	reg(&bus, 0x20, features_lo);
	reg(&bus, 0x24, 1);
	reg(&bus, 0x20, features_hi);
	reg(&bus, 0x70, 11);
	reg(&bus, 0x30, q);
	reg(&bus, 0x38, 1U << (data[1] % 9));
	reg(&bus, 0x80, (uint32_t)RAM_BASE);
	reg(&bus, 0x90, (uint32_t)RAM_BASE + 0x1000);
	reg(&bus, 0xa0, (uint32_t)RAM_BASE + 0x2000);
	reg(&bus, 0x44, 1);
	uint16_t avail_idx = (uint16_t)(data[3] | data[4] << 8);
	memcpy(ram + 0x1000 + 2, &avail_idx, 2);
	reg(&bus, 0x70, 15);
	reg(&bus, 0x50, q);
	if (balloon) {
		virtio_balloon_set_target(vdev, data[1]);
		virtio_balloon_request_stats(vdev);
	} else if (input) {
		virtio_input_send_ctrl_alt_del(vdev);
	}
	/* A second kick after the guest "added" more: replays the same ring. */
	avail_idx = (uint16_t)(avail_idx + data[1]);
	memcpy(ram + 0x1000 + 2, &avail_idx, 2);
	reg(&bus, 0x50, q);
	reg(&bus, 0x70, 0);

	virtio_mmio_free(vdev);
	free(ram);
	return 0;
}
