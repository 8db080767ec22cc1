/*
 * Unit tests of the I/O device models: virtio-net over a fake network
 * backend (a datagram socketpair: one frame per datagram, like a TAP fd)
 * and virtio-console over a fake character backend, both with a fake run
 * loop that records which fds are watched.  Checks frames and bytes in both
 * directions, the 12-byte net header, the MAC in config space, and the
 * receive flow control (stop watching without buffers, resume on notify).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_guest.h"

/* ---- fake run loop ------------------------------------------------------- */

struct fake_loop {
	int fd;
	void (*cb)(void *);
	void *opaque;
	unsigned watches, unwatches;
};

static int loop_watch(void *opaque, int fd, void (*cb)(void *), void *cb_opaque)
{
	struct fake_loop *l = opaque;
	l->fd = fd;
	l->cb = cb;
	l->opaque = cb_opaque;
	l->watches++;
	return 0;
}

static void loop_unwatch(void *opaque, int fd)
{
	struct fake_loop *l = opaque;
	assert_int_equal(fd, l->fd);
	l->cb = NULL;
	l->unwatches++;
}

static void loop_fire(struct fake_loop *l)
{
	if (l->cb)
		l->cb(l->opaque);
}

/* ---- fake network backend ------------------------------------------------ */

struct fake_net {
	struct vm_net_backend be;
	int peer; /* the "host side" of the wire */
};

static int fnet_send(struct vm_net_backend *be, const struct iovec *iov, int n)
{
	return writev(be->fd, iov, n) < 0 ? -errno : 0;
}

static ssize_t fnet_recv(struct vm_net_backend *be, void *buf, size_t len)
{
	ssize_t n = read(be->fd, buf, len);
	return n < 0 ? -errno : n;
}

static void fnet_close(struct vm_net_backend *be)
{
	struct fake_net *f = (struct fake_net *)be;
	close(be->fd);
	close(f->peer);
	free(f);
}

static const struct vm_net_backend_ops fnet_ops = { fnet_send, fnet_recv, fnet_close };

static struct fake_net *fnet_new(void)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
	struct fake_net *f = calloc(1, sizeof(*f));
	f->be.ops = &fnet_ops;
	f->be.fd = sv[0];
	f->peer = sv[1];
	return f;
}

static void post_rx(struct fake_guest *g, unsigned i)
{
	fg_desc(g, 0, i, G_DATA + 0x1000 * i, 2048, VIRTQ_DESC_F_WRITE, 0);
	fg_kick(g, 0, (uint16_t)i);
}

static void test_net_rx_tx(void **state)
{
	struct fake_guest g;
	struct fake_loop loop = { .fd = -1 };
	struct vm_host_poll poll = { loop_watch, loop_unwatch, &loop };
	struct vs_err err = VS_ERR_INIT;
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
	struct fake_net *f = fnet_new();
	int peer = f->peer;
	fg_init(&g);
	fg_attach(&g, virtio_net_new(&g.bus, &f->be, mac, &poll, &err));
	assert_int_equal(fg_reg_read(&g, 0x8), VIRTIO_ID_NET);

	uint64_t v = 0;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(vm_bus_read(&g.bus, VIRTIO_MMIO_BASE + 0x100 + i, 1, &v), 0);
		assert_int_equal(v, mac[i]);
	}
	assert_int_equal(vm_bus_read(&g.bus, VIRTIO_MMIO_BASE + 0x106, 2, &v), 0);
	assert_int_equal(v, 1); /* VIRTIO_NET_S_LINK_UP */

	fg_negotiate(&g, 0, 2);
	/* DRIVER_OK with no receive buffer posted: the TAP is not watched. */
	assert_true(loop.watches >= 1);
	assert_null(loop.cb);

	/* A frame arrives meanwhile: it waits in the backend. */
	const char frame[] = "\xff\xff\xff\xff\xff\xff\x52\x54\x00\x00\x00\x01\x08\x06hello";
	assert_int_equal(write(peer, frame, sizeof(frame)), (ssize_t)sizeof(frame));
	loop_fire(&loop);
	assert_int_equal(fg_used_idx(&g, 0), 0);

	/* Posting a buffer resumes reception and delivers the waiting frame;
	 * the one buffer used up, watching stops again. */
	post_rx(&g, 1);
	assert_null(loop.cb);
	assert_int_equal(fg_used_idx(&g, 0), 1);
	uint32_t id, len;
	fg_used_elem(&g, 0, 0, &id, &len);
	assert_int_equal(id, 1);
	assert_int_equal(len, 12 + sizeof(frame));
	uint8_t *buf = fg_ptr(&g, G_DATA + 0x1000);
	static const uint8_t hdr[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	assert_memory_equal(buf, hdr, 12);
	assert_memory_equal(buf + 12, frame, sizeof(frame));
	assert_int_equal(g.irq_level, 1);

	/* With two buffers posted and one frame delivered, the TAP stays watched. */
	post_rx(&g, 2);
	post_rx(&g, 3);
	assert_non_null(loop.cb);
	assert_int_equal(write(peer, "tiny", 4), 4);
	loop_fire(&loop);
	assert_int_equal(fg_used_idx(&g, 0), 2);
	assert_non_null(loop.cb);
	assert_memory_equal(fg_ptr(&g, G_DATA + 0x2000 + 12), "tiny", 4);

	/* Transmit: header + payload in two descriptors; the wire sees the payload. */
	uint8_t *tx = fg_ptr(&g, G_DATA + 0x8000);
	memset(tx, 0, 12);
	memcpy(tx + 12, "outgoing-frame-data", 19);
	memset(tx, 0, 12);
	fg_desc(&g, 1, 0, G_DATA + 0x8000, 12, VIRTQ_DESC_F_NEXT, 1);
	fg_desc(&g, 1, 1, G_DATA + 0x8000 + 12, 19, 0, 0);
	fg_kick(&g, 1, 0);
	assert_int_equal(fg_used_idx(&g, 1), 1);
	char got[64];
	assert_int_equal(read(peer, got, sizeof(got)), 19);
	assert_memory_equal(got, "outgoing-frame-data", 19);

	/* A transmit chain shorter than the header is a protocol error. */
	fg_desc(&g, 1, 2, G_DATA + 0x8000, 4, 0, 0);
	fg_kick(&g, 1, 2);
	assert_true(fg_reg_read(&g, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);

	/* Reset stops the watching; the frame arriving meanwhile stays queued. */
	fg_reg_write(&g, 0x70, 0);
	assert_null(loop.cb);
	fg_fini(&g);
}

/* ---- fake character backend ---------------------------------------------- */

struct fake_chardev {
	struct vm_chardev cd;
	char in[64];
	size_t in_len, in_pos;
	char out[256];
	size_t out_len;
	bool input_enabled;
	unsigned set_input_calls;
};

static void fcd_write(struct vm_chardev *cd, const void *buf, size_t len)
{
	struct fake_chardev *f = (struct fake_chardev *)cd;
	assert_true(f->out_len + len <= sizeof(f->out));
	memcpy(f->out + f->out_len, buf, len);
	f->out_len += len;
}

static size_t fcd_read(struct vm_chardev *cd, void *buf, size_t len)
{
	struct fake_chardev *f = (struct fake_chardev *)cd;
	size_t n = f->in_len - f->in_pos < len ? f->in_len - f->in_pos : len;
	memcpy(buf, f->in + f->in_pos, n);
	f->in_pos += n;
	return n;
}

static void fcd_set_input(struct vm_chardev *cd, bool enabled)
{
	struct fake_chardev *f = (struct fake_chardev *)cd;
	f->input_enabled = enabled;
	f->set_input_calls++;
}

static bool fcd_closed;

static void fcd_close(struct vm_chardev *cd)
{
	fcd_closed = true;
}

static const struct vm_chardev_ops fcd_ops = { fcd_write, fcd_read, fcd_set_input, fcd_close };

/* Another device's output to the same host fd (the board's UART pipe):
 * what it holds goes out before virtio-console writes. */
static void fcd_before_write(void *opaque)
{
	fcd_write(opaque, "uart> ", 6);
}

static void test_console(void **state)
{
	struct fake_guest g;
	struct fake_loop loop = { .fd = -1 };
	struct vm_host_poll poll = { loop_watch, loop_unwatch, &loop };
	struct vs_err err = VS_ERR_INIT;
	static struct fake_chardev f;
	memset(&f, 0, sizeof(f));
	f.cd.ops = &fcd_ops;
	fcd_closed = false;
	fg_init(&g);
	fg_attach(&g, virtio_console_new(&g.bus, &f.cd, &poll, &err));
	assert_int_equal(fg_reg_read(&g, 0x8), VIRTIO_ID_CONSOLE);
	assert_false(f.input_enabled); /* no buffers yet */
	fg_negotiate(&g, 0, 2);

	/* Output: two segments reach the backend in order, after what the
	 * before_write hook forwards (the UART on the same terminal). */
	f.cd.before_write = fcd_before_write;
	f.cd.before_write_opaque = &f.cd;
	memcpy(fg_ptr(&g, G_DATA + 0x8000), "hello, ", 7);
	memcpy(fg_ptr(&g, G_DATA + 0x9000), "host\n", 5);
	fg_desc(&g, 1, 0, G_DATA + 0x8000, 7, VIRTQ_DESC_F_NEXT, 1);
	fg_desc(&g, 1, 1, G_DATA + 0x9000, 5, 0, 0);
	fg_kick(&g, 1, 0);
	assert_int_equal(f.out_len, 18);
	assert_memory_equal(f.out, "uart> hello, host\n", 18);

	/* Input: a posted buffer enables input; typed bytes land in it. */
	fg_desc(&g, 0, 0, G_DATA, 64, VIRTQ_DESC_F_WRITE, 0);
	fg_kick(&g, 0, 0);
	assert_true(f.input_enabled);
	memcpy(f.in, "ls\n", 3);
	f.in_len = 3;
	f.cd.on_input(f.cd.input_opaque);
	assert_int_equal(fg_used_idx(&g, 0), 1);
	uint32_t id, len;
	fg_used_elem(&g, 0, 0, &id, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(fg_ptr(&g, G_DATA), "ls\n", 3);
	/* With the only buffer used, input is switched off until the next one. */
	memcpy(f.in + 3, "x", 1);
	f.in_len = 4;
	f.cd.on_input(f.cd.input_opaque);
	assert_false(f.input_enabled);
	assert_int_equal(fg_used_idx(&g, 0), 1);
	fg_desc(&g, 0, 1, G_DATA + 0x100, 64, VIRTQ_DESC_F_WRITE, 0);
	fg_kick(&g, 0, 1);
	assert_int_equal(fg_used_idx(&g, 0), 2);
	assert_int_equal(*(char *)fg_ptr(&g, G_DATA + 0x100), 'x');
	fg_fini(&g);
	assert_true(fcd_closed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_rx_tx),
		cmocka_unit_test(test_console),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
