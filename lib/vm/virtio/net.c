/*
 * net.c - virtio network device (virtio 1.2 §5.1) over a struct
 * vm_net_backend (lib/vm/backend/tap.c).
 *
 * Queue 0 receives (host -> guest), queue 1 transmits.  Offered features:
 * MAC (the configured address) and STATUS (link always up); no offloads,
 * so every frame carries a 12-byte struct virtio_net_hdr (§5.1.6, with
 * num_buffers since VERSION_1) that is all zeroes on receive and ignored on
 * transmit.
 *
 * Receive flow control: the backend fd is watched only while the guest has
 * posted receive buffers; when they run out the device stops watching and
 * resumes when the driver notifies queue 0, so frames wait in the host's
 * TAP queue instead of being dropped or spinning the run loop.
 *
 * Bounded work: a transmit chain longer than a frame can be (header +
 * NET_MAX_FRAME) is dropped unsent, and every byte moved either way is
 * charged to the device's per-pass budget.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/core/log.h"
#include "vessel/vm/virtio.h"

#define VIRTIO_NET_F_MAC     5
#define VIRTIO_NET_F_STATUS  16
#define VIRTIO_NET_S_LINK_UP 1

#define NET_HDR_LEN   12
#define NET_MAX_FRAME 65536
#define NET_RX_BATCH  64 /* frames per wakeup: bounds the time spent here */

struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

struct virtio_net {
	struct virtio_mmio vdev; /* first: the transport */
	struct vm_net_backend *be;
	struct vm_host_poll poll;
	bool watching;
	struct virtio_net_config config;
	struct virtq_chain chain;
	struct iovec iov[VIRTQ_MAX_SIZE];
	uint8_t frame[NET_MAX_FRAME];
};

static void net_watch(struct virtio_net *net, bool on);

static uint64_t net_features(struct virtio_mmio *vdev)
{
	return 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS;
}

static const void *net_config(struct virtio_mmio *vdev)
{
	return &((struct virtio_net *)vdev)->config;
}

/* Move frames from the backend into posted receive buffers. */
static void net_rx(struct virtio_net *net)
{
	struct virtio_mmio *vdev = &net->vdev;
	bool delivered = false;
	for (unsigned i = 0; i < NET_RX_BATCH; i++) {
		int r = virtio_mmio_pop(vdev, 0, &net->chain);
		if (r <= 0) {
			if (r == 0) /* no buffers: wait for the driver's notify */
				net_watch(net, false);
			break;
		}
		ssize_t n = net->be->ops->recv(net->be, net->frame, sizeof(net->frame));
		if (n < 0) {
			virtq_unpop(&vdev->vq[0]);
			if (n != -EAGAIN)
				vs_log(VS_LOG_WARN, "virtio-net: receive: %s", strerror((int)-n));
			break;
		}
		if (net->chain.in_len < NET_HDR_LEN + (uint64_t)n) {
			virtq_unpop(&vdev->vq[0]); /* too big for the buffer: drop it */
			continue;
		}
		uint8_t hdr[NET_HDR_LEN] = { 0 };
		hdr[10] = 1; /* num_buffers */
		virtq_chain_write(&vdev->vq[0], &net->chain, 0, hdr, sizeof(hdr));
		virtq_chain_write(&vdev->vq[0], &net->chain, NET_HDR_LEN, net->frame, (size_t)n);
		virtio_mmio_charge(vdev, (uint64_t)n);
		virtio_mmio_push(vdev, 0, net->chain.head, NET_HDR_LEN + (uint32_t)n);
		delivered = true;
	}
	if (delivered)
		virtio_mmio_notify(vdev, 0);
}

static void net_backend_ready(void *opaque)
{
	net_rx(opaque);
}

static void net_watch(struct virtio_net *net, bool on)
{
	if (on == net->watching || !net->poll.watch)
		return;
	if (on)
		net->watching =
		    net->poll.watch(net->poll.opaque, net->be->fd, net_backend_ready, net) == 0;
	else {
		net->poll.unwatch(net->poll.opaque, net->be->fd);
		net->watching = false;
	}
}

static void net_tx(struct virtio_net *net)
{
	struct virtio_mmio *vdev = &net->vdev;
	struct virtq_chain *c = &net->chain;
	while (virtio_mmio_pop(vdev, 1, c) > 0) {
		if (c->out_len < NET_HDR_LEN) {
			virtio_mmio_fail(vdev, "transmit chain %u without header", c->head);
			return;
		}
		if (c->out_len > NET_HDR_LEN + NET_MAX_FRAME) { /* no such frame: drop it */
			virtio_mmio_push(vdev, 1, c->head, 0);
			continue;
		}
		virtio_mmio_charge(vdev, c->out_len);
		int n = 0;
		uint64_t skip = NET_HDR_LEN;
		for (unsigned i = 0; i < c->nout; i++) {
			if (skip >= c->seg[i].len) {
				skip -= c->seg[i].len;
				continue;
			}
			net->iov[n++] =
			    (struct iovec){ c->seg[i].host + skip, c->seg[i].len - skip };
			skip = 0;
		}
		if (n > 0) {
			int r = net->be->ops->send(net->be, net->iov, n);
			if (r < 0 && r != -EAGAIN)
				vs_log(VS_LOG_DEBUG, "virtio-net: send: %s", strerror(-r));
		}
		virtio_mmio_push(vdev, 1, c->head, 0);
	}
	virtio_mmio_notify(vdev, 1);
}

static void net_queue_notify(struct virtio_mmio *vdev, unsigned q)
{
	struct virtio_net *net = (struct virtio_net *)vdev;
	if (q == 1) {
		net_tx(net);
	} else if (q == 0) {
		net_watch(net, true);
		net_rx(net);
	}
}

static void net_driver_ok(struct virtio_mmio *vdev)
{
	net_watch((struct virtio_net *)vdev, true);
}

static void net_reset(struct virtio_mmio *vdev)
{
	net_watch((struct virtio_net *)vdev, false);
}

static void net_free(struct virtio_mmio *vdev)
{
	struct virtio_net *net = (struct virtio_net *)vdev;
	net_watch(net, false);
	vm_net_backend_close(net->be);
	free(net);
}

static const struct virtio_ops net_ops = {
	.name = "net",
	.device_id = VIRTIO_ID_NET,
	.nqueues = 2,
	.features = net_features,
	.config_size = sizeof(struct virtio_net_config),
	.config = net_config,
	.queue_notify = net_queue_notify,
	.driver_ok = net_driver_ok,
	.reset = net_reset,
	.free = net_free,
};

struct virtio_mmio *virtio_net_new(const struct vm_bus *bus, struct vm_net_backend *be,
				   const uint8_t mac[6], const struct vm_host_poll *poll,
				   struct vs_err *err)
{
	struct virtio_net *net = calloc(1, sizeof(*net));
	if (!net) {
		vm_net_backend_close(be);
		vs_errf(err, ENOMEM, "virtio-net: out of memory");
		return NULL;
	}
	virtio_mmio_init(&net->vdev, &net_ops, bus);
	net->be = be;
	if (poll)
		net->poll = *poll;
	memcpy(net->config.mac, mac, 6);
	net->config.status = VIRTIO_NET_S_LINK_UP;
	net->config.max_virtqueue_pairs = 1;
	return &net->vdev;
}
