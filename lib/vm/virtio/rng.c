/*
 * rng.c - virtio entropy device (virtio 1.2 §5.4): one request queue whose
 * device-writable buffers are filled from the host's getrandom(2).
 * No features, no configuration space.  At most RNG_MAX_PER_CHAIN bytes go
 * into one chain (the device may fill less than the driver offered), and the
 * bytes are charged to the device's per-pass budget, so a guest posting
 * huge buffers cannot hold the machine thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "vessel/vm/virtio.h"

#define RNG_MAX_PER_CHAIN (64U << 10)

struct virtio_rng {
	struct virtio_mmio vdev; /* first: the transport */
	struct virtq_chain chain;
};

static void rng_queue_notify(struct virtio_mmio *vdev, unsigned q)
{
	struct virtio_rng *rng = (struct virtio_rng *)vdev;
	int r;
	while ((r = virtio_mmio_pop(vdev, 0, &rng->chain)) > 0) {
		uint64_t total = 0;
		for (unsigned i = rng->chain.nout; i < rng->chain.nout + rng->chain.nin; i++) {
			struct virtq_seg *s = &rng->chain.seg[i];
			uint32_t want = s->len < RNG_MAX_PER_CHAIN - total
					    ? s->len
					    : (uint32_t)(RNG_MAX_PER_CHAIN - total);
			ssize_t n = want ? getrandom(s->host, want, GRND_NONBLOCK) : 0;
			if (n <= 0)
				break;
			vm_bus_note_write(vdev->bus, s->gpa, (uint64_t)n);
			total += (uint64_t)n;
			if ((uint32_t)n < s->len)
				break;
		}
		virtio_mmio_charge(vdev, total);
		virtio_mmio_push(vdev, 0, rng->chain.head, (uint32_t)total);
	}
	virtio_mmio_notify(vdev, 0);
}

static void rng_free(struct virtio_mmio *vdev)
{
	free(vdev);
}

static const struct virtio_ops rng_ops = {
	.name = "rng",
	.device_id = VIRTIO_ID_RNG,
	.nqueues = 1,
	.queue_notify = rng_queue_notify,
	.free = rng_free,
};

struct virtio_mmio *virtio_rng_new(const struct vm_bus *bus, struct vs_err *err)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	if (!rng) {
		vs_errf(err, ENOMEM, "virtio-rng: out of memory");
		return NULL;
	}
	virtio_mmio_init(&rng->vdev, &rng_ops, bus);
	return &rng->vdev;
}
