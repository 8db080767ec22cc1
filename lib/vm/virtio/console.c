/*
 * console.c - virtio console device (virtio 1.2 §5.3), a single port
 * without MULTIPORT: queue 0 carries input to the guest, queue 1 its
 * output; Linux shows it as /dev/hvc0.  The host side is a struct
 * vm_chardev (stdio, unix socket).
 *
 * Input flow control: the chardev is asked for input only while the guest
 * has receive buffers posted (set_input), as net.c does with its TAP.
 *
 * Output is bounded: at most CONSOLE_TX_MAX bytes of one chain are written
 * (the rest is dropped; Linux's hvc writes at most a page per buffer) and
 * the bytes are charged to the device's per-pass budget.  Before it writes,
 * the chardev's before_write hook forwards the output of a device that
 * shares the host fd (the board's UART on stdio), so the host sees the
 * two in the guest's order.
 */
#include <errno.h>
#include <stdlib.h>

#include "vessel/vm/virtio.h"

#define CONSOLE_TX_MAX (64U << 10)

struct virtio_console_config {
	uint16_t cols;
	uint16_t rows;
	uint32_t max_nr_ports;
	uint32_t emerg_wr;
} __attribute__((packed));

struct virtio_console {
	struct virtio_mmio vdev; /* first: the transport */
	struct vm_chardev *cd;
	bool input_on;
	struct virtio_console_config config;
	struct virtq_chain chain;
	uint8_t buf[4096];
};

static const void *console_config(struct virtio_mmio *vdev)
{
	return &((struct virtio_console *)vdev)->config;
}

static void console_set_input(struct virtio_console *con, bool on)
{
	if (on != con->input_on) {
		con->input_on = on;
		con->cd->ops->set_input(con->cd, on);
	}
}

static void console_rx(struct virtio_console *con)
{
	struct virtio_mmio *vdev = &con->vdev;
	bool delivered = false;
	for (;;) {
		int r = virtio_mmio_pop(vdev, 0, &con->chain);
		if (r <= 0) {
			if (r == 0)
				console_set_input(con, false);
			break;
		}
		size_t want =
		    con->chain.in_len < sizeof(con->buf) ? con->chain.in_len : sizeof(con->buf);
		size_t n = con->cd->ops->read(con->cd, con->buf, want);
		if (n == 0) {
			virtq_unpop(&vdev->vq[0]);
			break;
		}
		virtq_chain_write(&vdev->vq[0], &con->chain, 0, con->buf, n);
		virtio_mmio_charge(vdev, n);
		virtio_mmio_push(vdev, 0, con->chain.head, (uint32_t)n);
		delivered = true;
	}
	if (delivered)
		virtio_mmio_notify(vdev, 0);
}

static void console_input_ready(void *opaque)
{
	struct virtio_console *con = opaque;
	if (virtio_mmio_live(&con->vdev))
		console_rx(con);
	else
		console_set_input(con, false);
}

static void console_tx(struct virtio_console *con)
{
	struct virtio_mmio *vdev = &con->vdev;
	struct virtq_chain *c = &con->chain;
	if (con->cd->before_write)
		con->cd->before_write(con->cd->before_write_opaque);
	while (virtio_mmio_pop(vdev, 1, c) > 0) {
		uint32_t left = CONSOLE_TX_MAX;
		for (unsigned i = 0; i < c->nout && left > 0; i++) {
			uint32_t n = c->seg[i].len < left ? c->seg[i].len : left;
			con->cd->ops->write(con->cd, c->seg[i].host, n);
			left -= n;
		}
		virtio_mmio_charge(vdev, CONSOLE_TX_MAX - left);
		virtio_mmio_push(vdev, 1, c->head, 0);
	}
	virtio_mmio_notify(vdev, 1);
}

static void console_queue_notify(struct virtio_mmio *vdev, unsigned q)
{
	struct virtio_console *con = (struct virtio_console *)vdev;
	if (q == 1) {
		console_tx(con);
	} else if (q == 0) {
		console_set_input(con, true);
		console_rx(con);
	}
}

static void console_driver_ok(struct virtio_mmio *vdev)
{
	console_set_input((struct virtio_console *)vdev, true);
}

static void console_reset(struct virtio_mmio *vdev)
{
	console_set_input((struct virtio_console *)vdev, false);
}

static void console_free(struct virtio_mmio *vdev)
{
	struct virtio_console *con = (struct virtio_console *)vdev;
	vm_chardev_close(con->cd);
	free(con);
}

static const struct virtio_ops console_ops = {
	.name = "console",
	.device_id = VIRTIO_ID_CONSOLE,
	.nqueues = 2,
	.config_size = sizeof(struct virtio_console_config),
	.config = console_config,
	.queue_notify = console_queue_notify,
	.driver_ok = console_driver_ok,
	.reset = console_reset,
	.free = console_free,
};

struct virtio_mmio *virtio_console_new(const struct vm_bus *bus, struct vm_chardev *cd,
				       const struct vm_host_poll *poll, struct vs_err *err)
{
	struct virtio_console *con = calloc(1, sizeof(*con));
	if (!con) {
		vm_chardev_close(cd);
		vs_errf(err, ENOMEM, "virtio-console: out of memory");
		return NULL;
	}
	virtio_mmio_init(&con->vdev, &console_ops, bus);
	con->cd = cd;
	con->config.cols = 80;
	con->config.rows = 25;
	con->config.max_nr_ports = 1;
	vm_chardev_attach(cd, poll, console_input_ready, con);
	con->input_on = true;
	console_set_input(con, false); /* until the driver posts buffers */
	return &con->vdev;
}
