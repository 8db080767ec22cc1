/*
 * htif.c - tohost/fromhost mailbox (see include/vessel/vm/htif.h for the
 * protocol).  The mailbox lives in guest RAM, so it is polled from the
 * machine's tick; every guest address is checked against the bus (a hostile
 * payload pointer gets an -EFAULT answer, never a host access).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/core/util.h"
#include "vessel/vm/htif.h"
#include "vessel/vm/machine.h"

#define SYS_WRITE 64

struct vm_htif {
	struct vm_machine *m;
	uint64_t tohost, fromhost;
	int out_fd;
};

static void htif_reply(struct vm_htif *h, uint64_t v)
{
	struct vm_bus *bus = vm_machine_bus(h->m);
	uint64_t zero = 0;
	vm_bus_dma_write(bus, h->tohost, &zero, 8);
	if (h->fromhost)
		vm_bus_dma_write(bus, h->fromhost, &v, 8);
}

static int64_t htif_syscall(struct vm_htif *h, uint64_t addr)
{
	struct vm_bus *bus = vm_machine_bus(h->m);
	uint64_t mm[8];
	if (vm_bus_dma_read(bus, addr, mm, sizeof(mm)))
		return -EFAULT;
	int64_t ret = -ENOSYS;
	if (mm[0] == SYS_WRITE && (mm[1] == 1 || mm[1] == 2)) {
		uint64_t len = mm[3];
		const void *p = vm_bus_ram_ptr(bus, mm[2], len);
		if (!p)
			ret = -EFAULT;
		else if (h->out_fd >= 0 && vs_write_full(h->out_fd, p, len) < 0)
			ret = -EIO;
		else
			ret = (int64_t)len;
	}
	uint64_t r = (uint64_t)ret;
	vm_bus_dma_write(bus, addr, &r, 8);
	return ret;
}

void vm_htif_poll(struct vm_htif *h)
{
	struct vm_bus *bus = vm_machine_bus(h->m);
	uint64_t v;
	if (vm_bus_dma_read(bus, h->tohost, &v, 8) || v == 0)
		return;
	unsigned dev = (unsigned)(v >> 56), cmd = (unsigned)(v >> 48) & 0xff;
	uint64_t payload = v & ((1ULL << 48) - 1);
	if (dev == 0 && cmd == 0) {
		if (payload & 1) {
			uint64_t code = payload >> 1;
			if (code == 0)
				vm_machine_request_exit(h->m, VM_EXIT_POWEROFF, 0);
			else
				vm_machine_request_exit(h->m, VM_EXIT_FAIL, (uint32_t)code);
			return;
		}
		htif_syscall(h, payload);
		htif_reply(h, 1);
		return;
	}
	if (dev == 1 && cmd == 1) {
		uint8_t c = (uint8_t)payload;
		if (h->out_fd >= 0)
			(void)vs_write_full(h->out_fd, &c, 1);
		htif_reply(h, (1ULL << 56) | (1ULL << 48));
		return;
	}
	htif_reply(h, (uint64_t)dev << 56 | (uint64_t)cmd << 48); /* unknown: acknowledge */
}

static void htif_tick(void *opaque)
{
	vm_htif_poll(opaque);
}

struct vm_htif *vm_htif_new(struct vm_machine *m, uint64_t tohost, uint64_t fromhost, int out_fd,
			    struct vs_err *err)
{
	struct vm_bus *bus = vm_machine_bus(m);
	if (!vm_bus_ram_ptr(bus, tohost, 8) || (fromhost && !vm_bus_ram_ptr(bus, fromhost, 8))) {
		vs_errf(err, EINVAL, "htif: tohost 0x%llx / fromhost 0x%llx not in guest RAM",
			(unsigned long long)tohost, (unsigned long long)fromhost);
		return NULL;
	}
	struct vm_htif *h = calloc(1, sizeof(*h));
	if (!h) {
		vs_errf(err, ENOMEM, "htif: out of memory");
		return NULL;
	}
	h->m = m;
	h->tohost = tohost;
	h->fromhost = fromhost;
	h->out_fd = out_fd;
	if (vm_machine_add_tick(m, htif_tick, h) < 0) {
		free(h);
		vs_errf(err, ENOSPC, "htif: too many tick callbacks");
		return NULL;
	}
	return h;
}

void vm_htif_free(struct vm_htif *h)
{
	free(h);
}
