/*
 * machine.c - one virtual machine: RAM, bus, harts, CLINT and the run loop
 * (the contract is include/vessel/vm/machine.h).
 *
 * Run loop, on the calling thread only:
 *   1. update MTIP from mtime (10 MHz from CLOCK_MONOTONIC), poll watched
 *      fds without blocking (at most once per millisecond);
 *   2. run every hart that is not idle for a slice of VM_SLICE_INSNS
 *      instructions (round-robin);
 *   3. run the tick callbacks (HTIF mailbox);
 *   4. when every hart is idle in WFI, sleep in ppoll() until the earliest
 *      mtimecmp, an fd event, or the timeout.
 * Exit requests (devices, signal handlers) set flags only and make every hart
 * leave its slice at the next block boundary, so they are async-signal-safe.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "vessel/core/util.h"
#include "vessel/vm/clint.h"
#include "vessel/vm/cpu.h"
#include "vessel/vm/machine.h"

#define MAX_WATCH 16
#define MAX_TICK  8

struct machine_watch {
	int fd;
	void (*cb)(void *opaque);
	void *opaque;
};

struct machine_tick {
	void (*cb)(void *opaque);
	void *opaque;
};

struct vm_machine {
	struct vm_machine_config cfg;
	struct vm_bus bus;
	uint8_t *ram;
	struct rv_core *core;
	struct vm_clint *clint;
	uint64_t start_ns;
	struct machine_watch watch[MAX_WATCH];
	unsigned nwatch;
	struct machine_tick tick[MAX_TICK];
	unsigned ntick;
	volatile int exit_requested;
	volatile enum vm_exit_kind exit_kind;
	volatile uint32_t exit_code;
};

static uint64_t machine_time(void *opaque)
{
	return vm_machine_mtime(opaque);
}

struct vm_machine *vm_machine_new(const struct vm_machine_config *cfg, struct vs_err *err)
{
	if (cfg->ncpus == 0 || cfg->ncpus > VM_MAX_HARTS) {
		vs_errf(err, EINVAL, "machine: %u CPUs requested (1..%d supported)", cfg->ncpus,
			VM_MAX_HARTS);
		return NULL;
	}
	if (cfg->ram_size < 4096 || (cfg->ram_size & 4095) || cfg->ram_base & 4095 ||
	    cfg->ram_base + cfg->ram_size < cfg->ram_base) {
		vs_errf(err, EINVAL, "machine: bad RAM size 0x%llx at 0x%llx",
			(unsigned long long)cfg->ram_size, (unsigned long long)cfg->ram_base);
		return NULL;
	}
	struct vm_machine *m = calloc(1, sizeof(*m));
	if (!m) {
		vs_errf(err, ENOMEM, "machine: out of memory");
		return NULL;
	}
	m->cfg = *cfg;
	vm_bus_init(&m->bus);
	m->ram = mmap(NULL, cfg->ram_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->ram == MAP_FAILED) {
		m->ram = NULL;
		vs_syserrf(err, errno, "machine: cannot allocate %llu bytes of guest RAM",
			   (unsigned long long)cfg->ram_size);
		vm_machine_free(m);
		return NULL;
	}
	if (vm_bus_add_ram(&m->bus, cfg->ram_base, cfg->ram_size, m->ram, false, "ram", err) < 0) {
		vm_machine_free(m);
		return NULL;
	}
	m->core = rv_core_new(&m->bus, cfg->ncpus, machine_time, m, err);
	if (!m->core) {
		vm_machine_free(m);
		return NULL;
	}
	m->start_ns = vs_now_ns();
	m->clint = vm_clint_new(m, VM_CLINT_BASE, err);
	if (!m->clint) {
		vm_machine_free(m);
		return NULL;
	}
	return m;
}

void vm_machine_free(struct vm_machine *m)
{
	if (!m)
		return;
	vm_clint_free(m->clint);
	rv_core_free(m->core);
	if (m->ram)
		munmap(m->ram, m->cfg.ram_size);
	free(m);
}

struct vm_bus *vm_machine_bus(struct vm_machine *m)
{
	return &m->bus;
}

uint8_t *vm_machine_ram(struct vm_machine *m)
{
	return m->ram;
}

unsigned vm_machine_ncpus(const struct vm_machine *m)
{
	return m->cfg.ncpus;
}

struct rv_hart *vm_machine_hart(struct vm_machine *m, unsigned index)
{
	return rv_core_hart(m->core, index);
}

struct rv_core *vm_machine_core(struct vm_machine *m)
{
	return m->core;
}

uint64_t vm_machine_mtime(const struct vm_machine *m)
{
	return (vs_now_ns() - m->start_ns) / (1000000000ULL / VM_TIMEBASE_HZ);
}

int vm_machine_watch_fd(struct vm_machine *m, int fd, void (*cb)(void *opaque), void *opaque)
{
	for (unsigned i = 0; i < m->nwatch; i++)
		if (m->watch[i].fd == fd) {
			m->watch[i].cb = cb;
			m->watch[i].opaque = opaque;
			return 0;
		}
	if (m->nwatch >= MAX_WATCH)
		return -ENOSPC;
	m->watch[m->nwatch++] = (struct machine_watch){ fd, cb, opaque };
	return 0;
}

void vm_machine_unwatch_fd(struct vm_machine *m, int fd)
{
	for (unsigned i = 0; i < m->nwatch; i++)
		if (m->watch[i].fd == fd) {
			m->watch[i] = m->watch[--m->nwatch];
			return;
		}
}

int vm_machine_add_tick(struct vm_machine *m, void (*cb)(void *opaque), void *opaque)
{
	if (m->ntick >= MAX_TICK)
		return -ENOSPC;
	m->tick[m->ntick++] = (struct machine_tick){ cb, opaque };
	return 0;
}

void vm_machine_request_exit(struct vm_machine *m, enum vm_exit_kind kind, uint32_t code)
{
	if (!m->exit_requested) {
		m->exit_kind = kind;
		m->exit_code = code;
		m->exit_requested = 1;
	}
	for (unsigned k = 0; k < m->cfg.ncpus; k++)
		rv_hart_request_stop(rv_core_hart(m->core, k));
}

void vm_machine_set_hart_irq(struct vm_machine *m, unsigned hart, uint64_t mip_bits, int level)
{
	struct rv_hart *h = rv_core_hart(m->core, hart);
	if (h)
		rv_hart_set_irq(h, mip_bits, level);
}

void vm_machine_set_boot(struct vm_machine *m, uint64_t pc, uint64_t a1, uint64_t a2)
{
	for (unsigned k = 0; k < m->cfg.ncpus; k++) {
		struct rv_hart *h = rv_core_hart(m->core, k);
		rv_hart_reset(h, pc);
		h->x[10] = k;
		h->x[11] = a1;
		h->x[12] = a2;
	}
	rv_core_flush(m->core);
}

/* Poll watched fds; timeout_ns < 0 blocks, 0 does not wait. */
static void machine_poll(struct vm_machine *m, int64_t timeout_ns)
{
	struct pollfd pfd[MAX_WATCH];
	struct machine_watch w[MAX_WATCH];
	unsigned n = m->nwatch;
	if (n == 0 && timeout_ns == 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		w[i] = m->watch[i];
		pfd[i] = (struct pollfd){ .fd = w[i].fd, .events = POLLIN };
	}
	struct timespec ts, *tsp = NULL;
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	int r = ppoll(pfd, n, tsp, NULL);
	if (r <= 0)
		return;
	for (unsigned i = 0; i < n; i++)
		if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			w[i].cb(w[i].opaque);
}

int vm_machine_run(struct vm_machine *m, struct vm_exit *exit, struct vs_err *err)
{
	uint64_t deadline = 0;
	if (m->cfg.timeout_sec > 0)
		deadline = vs_now_ns() + (uint64_t)(m->cfg.timeout_sec * 1e9);
	unsigned n = m->cfg.ncpus;

	uint64_t last_poll = 0;
	while (!m->exit_requested) {
		uint64_t now = vm_machine_mtime(m);
		vm_clint_update(m->clint, now);
		if (now - last_poll >= VM_TIMEBASE_HZ / 1000) { /* host fds: at most every 1 ms */
			machine_poll(m, 0);
			last_poll = now;
		}
		for (unsigned k = 0; k < n && !m->exit_requested; k++) {
			struct rv_hart *h = rv_core_hart(m->core, k);
			h->stop = 0;
			if (!rv_hart_idle(h))
				rv_hart_run(h, VM_SLICE_INSNS);
		}
		for (unsigned i = 0; i < m->ntick && !m->exit_requested; i++)
			m->tick[i].cb(m->tick[i].opaque);
		if (m->exit_requested)
			break;
		uint64_t wall = vs_now_ns();
		if (deadline && wall >= deadline) {
			vm_machine_request_exit(m, VM_EXIT_TIMEOUT, 0);
			break;
		}
		bool idle = true;
		for (unsigned k = 0; k < n && idle; k++)
			idle = rv_hart_idle(rv_core_hart(m->core, k));
		if (!idle)
			continue;
		/* Every hart waits for an interrupt: sleep until something happens. */
		int64_t sleep_ns = 100000000; /* re-check at least every 100 ms */
		uint64_t next = vm_clint_next_deadline(m->clint);
		now = vm_machine_mtime(m);
		if (next != UINT64_MAX) {
			uint64_t d =
			    next > now ? (next - now) * (1000000000ULL / VM_TIMEBASE_HZ) : 0;
			if ((int64_t)d < sleep_ns)
				sleep_ns = (int64_t)d;
		}
		if (deadline) {
			int64_t left = (int64_t)(deadline - wall);
			if (left < sleep_ns)
				sleep_ns = left > 0 ? left : 0;
		}
		machine_poll(m, sleep_ns);
	}
	(void)err;
	exit->kind = m->exit_kind;
	exit->code = m->exit_code;
	return 0;
}

struct vm_clint *vm_machine_clint(struct vm_machine *m)
{
	return m->clint;
}

void vm_machine_set_mtime(struct vm_machine *m, uint64_t mtime)
{
	m->start_ns = vs_now_ns() - mtime * (1000000000ULL / VM_TIMEBASE_HZ);
}
