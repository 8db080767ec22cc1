/*
 * tap.c - a Linux TAP interface as the network backend of virtio-net
 * (Documentation/networking/tuntap.rst): /dev/net/tun, TUNSETIFF with
 * IFF_TAP | IFF_NO_PI, so each read/write is exactly one Ethernet frame.
 * The fd is non-blocking: the machine thread never waits on the network.
 * The interface must exist (ip tuntap add) or the caller needs
 * CAP_NET_ADMIN; it is never configured here.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vessel/vm/backend.h"

static int tap_send(struct vm_net_backend *be, const struct iovec *iov, int iovcnt)
{
	for (;;) {
		ssize_t n = writev(be->fd, iov, iovcnt);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

static ssize_t tap_recv(struct vm_net_backend *be, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(be->fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

static void tap_close(struct vm_net_backend *be)
{
	if (be->fd >= 0)
		close(be->fd);
	free(be);
}

static const struct vm_net_backend_ops tap_ops = { tap_send, tap_recv, tap_close };

struct vm_net_backend *vm_net_backend_open_tap(const char *ifname, struct vs_err *err)
{
	struct ifreq ifr;
	if (strlen(ifname) >= sizeof(ifr.ifr_name)) {
		vs_errf(err, ENAMETOOLONG, "tap %s: interface name too long", ifname);
		return NULL;
	}
	struct vm_net_backend *be = calloc(1, sizeof(*be));
	if (!be) {
		vs_errf(err, ENOMEM, "tap %s: out of memory", ifname);
		return NULL;
	}
	be->ops = &tap_ops;
	be->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (be->fd < 0) {
		vs_syserrf(err, errno, "tap %s: open /dev/net/tun", ifname);
		free(be);
		return NULL;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(be->fd, TUNSETIFF, &ifr) < 0) {
		vs_syserrf(err, errno, "tap %s: TUNSETIFF", ifname);
		tap_close(be);
		return NULL;
	}
	return be;
}
