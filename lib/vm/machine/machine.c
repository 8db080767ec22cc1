/*
 * machine.c - one virtual machine: RAM, bus, harts, CLINT and the run loop
 * (the contract is include/vessel/vm/machine.h).
 *
 * Run loop, on the calling thread only:
 *   1. update MTIP from mtime (10 MHz from CLOCK_MONOTONIC), poll watched
 *      fds without blocking (at most once per millisecond; console output
 *      that starts after a quiet interval is forwarded by its device at
 *      its first byte and the end of its line, in the middle of the slice
 *      (vm_machine_note_output), the rest after 100 us, so a line reaches
 *      the host at once and not when a slice - milliseconds of cold code -
 *      ends, while a stream of output is still batched per millisecond);
 *   2. run every hart that is not idle for a slice of VM_SLICE_INSNS
 *      instructions (round-robin), longer by up to MACHINE_FW_EXTRA to let
 *      a hart inside a firmware call finish it (machine_run_slice);
 *   3. run the tick callbacks (HTIF mailbox);
 *   4. when every hart is idle in WFI, trim the CPU caches if the last flush
 *      is long past (rv_core_trim), then sleep in ppoll() until the earliest
 *      mtimecmp, an fd event, or the timeout.
 * Exit requests (devices, signal handlers, other threads) set flags only,
 * make every hart leave its slice at the next block boundary and write the
 * wake eventfd that step 4 also polls, so they are async-signal-safe and
 * end a sleep at once.  No device work blocks the loop: disks have their
 * own I/O threads (lib/vm/backend/block_queue.c) and virtio work on this
 * thread is bounded per pass (virtio_mmio_service), so the deadline of
 * --timeout (counted from machine creation) and exit requests are seen
 * within about a slice.
 *
 * Safe points (vm_machine_run_at_safepoint): another thread (the control
 * API) hands a callback to the loop under sp.lock, sets sp_requested, asks
 * every hart to stop at its next block boundary (an instruction boundary) and
 * writes the wake eventfd, which the loop always polls, so a loop asleep in
 * WFI wakes at once.  The loop runs the callback between slices, when no hart
 * is inside rv_hart_run, then signals the caller.  Before the loop starts
 * and after it returned the caller runs the callback itself under sp.lock
 * (the loop takes sp.lock to start and to finish, so the two never overlap).
 *
 * Hart threads (the default with 2 or more harts and no fewer host CPUs:
 * machine_default_threads; VESSEL_HART_THREADS=0, vessel-vmm
 * --no-hart-threads: the loop below for every hart):
 * machine_run_threaded starts one thread per hart (machine_hart_main) and
 * the calling thread becomes the loop of steps 1 and 3 (timers, host fds,
 * ticks, safe points).  The harts run guest code in parallel, as QEMU's
 * MTTCG does: the CPU is put in parallel mode (rv_core_set_parallel) and
 * takes the big lock, a ticket lock (FIFO), only around what the harts
 * share: decoded-code and JIT caches, slow-path memory accesses and MMIO
 * (so device models and the loop's work stay under the big lock as
 * before).  A hart thread takes the big lock between slices to decide
 * whether to run, counts itself in `inside` and runs its slice without it
 * (a firmware call finished first, as in step 2).  M-mode code (firmware)
 * runs under a second lock, the firmware lock, taken before the big lock,
 * so no firmware hart waiting to be started sees a firmware call half-done
 * (machine_run_hart_slice).
 * A hart that may not run (WFI with nothing pending, paused, safe point or
 * debugger halt) parks on park_cv, reading park_gen before it gives up the
 * big lock; whoever holds the big lock and made a parked hart runnable
 * (an interrupt line: kick_pending) bumps park_gen when it lets the lock go
 * (machine_kick), so no wake-up is lost.  A safe point is served by the
 * loop holding the big lock once `inside` is zero (it lets the lock go
 * while it waits, so harts finishing a slow path can leave): every hart
 * is then stopped at an instruction boundary.  A full flush of the CPU's
 * caches (rv_core_flush_pending: the harts were asked to stop and park) is
 * done the same way by the loop, which the first parking hart wakes.
 * A watched fd's callback or a tick that must see every hart stopped (the
 * GDB stub) calls vm_machine_stop_harts: `holding` keeps the harts from
 * running while the loop waits, under the big lock, for `inside` to reach
 * zero, as for a safe point; the loop's next turn wakes them again.
 *
 * Paused state (vm_machine_pause/resume, at a safe point): no hart runs, no
 * tick runs, no watched fd is polled (so no device callback touches guest
 * memory or raises an interrupt) and mtime stands still: it is measured from
 * start_ns minus the time spent paused.  Only the wake eventfd is polled.
 * Wall-clock devices (the goldfish RTC) keep telling real time.
 */
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

/* The safe-point hand-over between a requesting thread and the loop. */
struct machine_safepoint {
	pthread_mutex_t call_lock; /* one requester at a time */
	pthread_mutex_t lock;	   /* guards the fields below */
	pthread_cond_t done_cond;
	int (*fn)(struct vm_machine *m, void *opaque);
	void *opaque;
	int result;
	bool pending, done;
	bool loop_running;
	pthread_t loop_thread;
};

/*
 * Hart threads: the lock that one thread at a time holds to run guest code
 * or device models, handed out in ticket order so every hart and the loop
 * get their turn.  A waiter spins a little (the holder is usually running
 * on another CPU, inside a short slow path), then sleeps on a futex on
 * `serving`: a mutex and condition variable put every contended hand-over
 * through a sleep and a wake-up, and in a 2-hart boot those took a third
 * of the harts' host CPU.
 */
struct machine_biglock {
	uint32_t next, serving; /* tickets (atomic) */
	uint32_t sleepers;	/* waiters asleep on serving (atomic) */
};

/*
 * Hart threads: the firmware lock (machine_run_hart_slice), held by one of
 * two classes at a time, each any number of harts at once: firmware calls
 * (M-mode code of a hart that has run below M) and the M-mode code of harts
 * that never left M (bare-metal programs, firmware harts waiting to be
 * started: "sharers").  Calls run at once, as on real harts: the firmware is
 * written for that (its own locks), and a call often waits for another
 * hart's call - an SBI remote fence.i or sfence.vma makes its caller spin
 * in M until the target hart has taken the IPI in M - which with calls one
 * at a time waited for the caller's piece to end, every time (each exec in
 * a 2-hart Linux guest did several: its boot took 2.4 s instead of 0.5).
 * A waiting call goes first: new sharers wait for it, and the harts sharing
 * it are asked to stop (rv_hart_request_stop), so the call waits for their
 * current block, not for the rest of their pieces: in a boot the firmware
 * harts waiting to be started spin in M all the time, and every SBI call
 * of the booting hart (a timer, a console write) waited for a piece of
 * theirs, up to VM_SLICE_INSNS instructions.
 */
struct machine_fwlock {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned shared;  /* sharers holding it */
	uint32_t sharers; /* bit k: hart k shares it */
	_Static_assert(VM_MAX_HARTS <= 32, "a bit per hart");
	unsigned calls_waiting; /* calls waiting for it */
	unsigned calls;		/* calls holding it */
};

struct machine_hart_thread {
	struct vm_machine *m;
	unsigned index;
	pthread_t tid;
	bool started;
	bool parked;  /* waiting on park_cv (under the big lock) */
	bool below_m; /* its hart has run below M: its M code is a call */
};

struct vm_machine {
	struct vm_machine_config cfg;
	bool hart_threads; /* one host thread per hart (VESSEL_HART_THREADS) */
	struct machine_biglock big;
	struct machine_fwlock fw; /* firmware lock: M-mode code runs under it */
	pthread_mutex_t park_mu;
	pthread_cond_t park_cv;
	uint64_t park_gen;   /* bumped (under park_mu) to wake parked harts */
	unsigned inside;     /* hart threads inside a slice (under the big lock) */
	uint64_t inside_gen; /* bumped (under park_mu) when one leaves */
	pthread_cond_t inside_cv;
	bool kick_pending; /* an interrupt line changed: wake parked harts (atomic) */
	bool holding;	   /* vm_machine_stop_harts: no hart may run (under the big lock) */
	struct machine_hart_thread ht[VM_MAX_HARTS];
	struct vm_bus bus;
	uint8_t *ram;
	struct rv_core *core;
	struct vm_clint *clint;
	uint64_t start_ns;	   /* mtime 0, shifted by vm_machine_set_mtime */
	uint64_t created_ns;	   /* wall time of creation (uptime) */
	uint64_t paused_ns;	   /* total time spent paused (mtime excludes it) */
	uint64_t pause_start_ns;   /* when the current pause began */
	bool paused;		   /* loop thread only (changed at safe points) */
	int wake_fd;		   /* eventfd: safe-point requests, exit requests */
	volatile int sp_requested; /* a safe-point callback waits (atomic) */
	struct machine_safepoint sp;
	struct vm_hart_stats hart_stats[VM_MAX_HARTS];
	uint64_t safepoints;
	struct machine_watch watch[MAX_WATCH];
	unsigned nwatch;
	int output_pending;  /* a device wrote to a watched pipe (atomic) */
	bool output_flowing; /* loop thread: the last poll forwarded output */
	/* one thread: mtime + 1 when the device last forwarded output itself
	 * (vm_machine_note_output); 0: never */
	uint64_t output_forwarded;
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

static void machine_wake(struct vm_machine *m)
{
	uint64_t one = 1;
	if (m->wake_fd >= 0 && write(m->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already nonzero, the loop will wake anyway */
	}
}

static void machine_drain_wake(struct vm_machine *m)
{
	uint64_t v;
	if (read(m->wake_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing pending */
	}
}

/*
 * Guest RAM is one anonymous mapping of exactly its size between two
 * PROT_NONE guard pages: a host access that runs off either end of RAM
 * faults instead of reaching a neighbouring mapping, and the kernel never
 * merges the RAM with an adjacent anonymous mapping of the same protection
 * (a malloc arena, the JIT's), so /proc/PID/smaps shows the RAM as a
 * mapping of exactly ram_size and the VMM's own memory beside it can be
 * counted apart (bench/lifecycle's "memory overhead").  A snapshot restore
 * maps its file over the RAM part only (MAP_FIXED), leaving the guards.
 */
#define RAM_GUARD 4096

static uint8_t *machine_ram_map(uint64_t size)
{
	uint8_t *base = mmap(NULL, size + 2 * RAM_GUARD, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	uint8_t *ram = mmap(base + RAM_GUARD, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (ram == MAP_FAILED) {
		int e = errno;
		munmap(base, size + 2 * RAM_GUARD);
		errno = e;
		return NULL;
	}
	return ram;
}

/*
 * Hart threads unless asked otherwise (VESSEL_HART_THREADS): with 2 or more
 * harts, as long as the host CPUs this process may run on are at least as
 * many.  More hart threads than CPUs spin away each other's time: a hart
 * waiting on a lock whose holder's thread is not running burns its CPU
 * until the host's scheduler switches (4 harts on a 2-CPU host booted in
 * about twice the time of one thread taking turns).
 */
static bool machine_default_threads(unsigned ncpus)
{
	cpu_set_t set;
	if (ncpus < 2 || sched_getaffinity(0, sizeof(set), &set) < 0)
		return false;
	return (unsigned)CPU_COUNT(&set) >= ncpus;
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
	m->wake_fd = -1;
	const char *ht = getenv("VESSEL_HART_THREADS");
	m->hart_threads = ht && *ht ? strcmp(ht, "1") == 0 : machine_default_threads(cfg->ncpus);
	pthread_mutex_init(&m->fw.mu, NULL);
	pthread_cond_init(&m->fw.cv, NULL);
	pthread_mutex_init(&m->park_mu, NULL);
	pthread_cond_init(&m->park_cv, NULL);
	pthread_cond_init(&m->inside_cv, NULL);
	pthread_mutex_init(&m->sp.call_lock, NULL);
	pthread_mutex_init(&m->sp.lock, NULL);
	pthread_cond_init(&m->sp.done_cond, NULL);
	vm_bus_init(&m->bus);
	m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->wake_fd < 0) {
		vs_syserrf(err, errno, "machine: eventfd");
		vm_machine_free(m);
		return NULL;
	}
	m->ram = machine_ram_map(cfg->ram_size);
	if (!m->ram) {
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
	m->start_ns = m->created_ns = vs_now_ns();
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
		munmap(m->ram - RAM_GUARD, m->cfg.ram_size + 2 * RAM_GUARD);
	if (m->wake_fd >= 0)
		close(m->wake_fd);
	pthread_cond_destroy(&m->park_cv);
	pthread_cond_destroy(&m->inside_cv);
	pthread_mutex_destroy(&m->park_mu);
	pthread_cond_destroy(&m->fw.cv);
	pthread_mutex_destroy(&m->fw.mu);
	pthread_cond_destroy(&m->sp.done_cond);
	pthread_mutex_destroy(&m->sp.lock);
	pthread_mutex_destroy(&m->sp.call_lock);
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

/* Nanoseconds of running (not paused) time since mtime 0. */
static uint64_t machine_run_ns(const struct vm_machine *m)
{
	uint64_t now = m->paused ? m->pause_start_ns : vs_now_ns();
	return now - m->start_ns - m->paused_ns;
}

uint64_t vm_machine_mtime(const struct vm_machine *m)
{
	return machine_run_ns(m) / (1000000000ULL / VM_TIMEBASE_HZ);
}

void vm_machine_set_mtime(struct vm_machine *m, uint64_t mtime)
{
	uint64_t now = m->paused ? m->pause_start_ns : vs_now_ns();
	m->start_ns = now - m->paused_ns - mtime * (1000000000ULL / VM_TIMEBASE_HZ);
}

bool vm_machine_paused(const struct vm_machine *m)
{
	return m->paused;
}

void vm_machine_pause(struct vm_machine *m)
{
	if (m->paused)
		return;
	m->pause_start_ns = vs_now_ns();
	m->paused = true;
}

void vm_machine_resume(struct vm_machine *m)
{
	if (!m->paused)
		return;
	m->paused_ns += vs_now_ns() - m->pause_start_ns;
	m->paused = false;
	/* Timer deadlines are re-evaluated against the frozen-then-resumed mtime. */
	vm_clint_update(m->clint, vm_machine_mtime(m));
	machine_wake(m);
}

void vm_machine_stats(const struct vm_machine *m, struct vm_machine_stats *st)
{
	uint64_t now = vs_now_ns();
	memset(st, 0, sizeof(*st));
	st->uptime_ns = now - m->created_ns;
	st->paused_ns = m->paused_ns + (m->paused ? now - m->pause_start_ns : 0);
	st->mtime = vm_machine_mtime(m);
	st->safepoints = m->safepoints;
	st->paused = m->paused;
	st->nharts = m->cfg.ncpus;
	for (unsigned k = 0; k < m->cfg.ncpus; k++) {
		st->harts[k] = m->hart_stats[k];
		st->harts[k].instret = rv_core_hart(m->core, k)->instret;
	}
}

uint64_t vm_machine_ram_size(const struct vm_machine *m)
{
	return m->cfg.ram_size;
}

int vm_machine_reset(struct vm_machine *m, struct vs_err *err)
{
	/* Anonymous private memory reads as zeros again after MADV_DONTNEED. */
	if (madvise(m->ram, m->cfg.ram_size, MADV_DONTNEED) < 0)
		return vs_syserrf(err, errno, "reset: cannot clear guest RAM");
	vm_clint_reset(m->clint);
	for (unsigned k = 0; k < m->cfg.ncpus; k++)
		rv_hart_reset(rv_core_hart(m->core, k), 0);
	rv_core_flush(m->core);
	return 0;
}

/* The machine whose big lock this thread holds (hart-thread mode), and how
 * many times the CPU took it again on top (machine_core_lock). */
static __thread struct vm_machine *big_held;
static __thread unsigned big_depth;
/* The machine whose loop this thread runs in hart-thread mode. */
static __thread struct vm_machine *loop_of;

#define TICKET_SPINS 1000 /* about 20-50 us of pause before sleeping */

static void ticket_lock(struct machine_biglock *l)
{
	uint32_t t = __atomic_fetch_add(&l->next, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < TICKET_SPINS; i++) {
		if (__atomic_load_n(&l->serving, __ATOMIC_SEQ_CST) == t)
			return;
		__builtin_ia32_pause();
	}
	__atomic_fetch_add(&l->sleepers, 1, __ATOMIC_SEQ_CST);
	uint32_t s;
	while ((s = __atomic_load_n(&l->serving, __ATOMIC_SEQ_CST)) != t)
		syscall(SYS_futex, &l->serving, FUTEX_WAIT_PRIVATE, s, NULL, NULL, 0);
	__atomic_fetch_sub(&l->sleepers, 1, __ATOMIC_SEQ_CST);
}

/* The next ticket's waiter may be asleep, or any of them: wake them all
 * (each looks at serving and sleeps again unless its turn came). */
static void ticket_unlock(struct machine_biglock *l)
{
	__atomic_fetch_add(&l->serving, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&l->sleepers, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &l->serving, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static void fw_lock(struct vm_machine *m, unsigned k, bool call)
{
	struct machine_fwlock *l = &m->fw;
	pthread_mutex_lock(&l->mu);
	if (call) {
		l->calls_waiting++;
		for (unsigned i = 0; i < m->cfg.ncpus; i++)
			if (l->sharers & (1u << i))
				rv_hart_request_stop(rv_core_hart(m->core, i));
		while (l->shared)
			pthread_cond_wait(&l->cv, &l->mu);
		l->calls_waiting--;
		l->calls++;
	} else {
		while (l->calls || l->calls_waiting)
			pthread_cond_wait(&l->cv, &l->mu);
		l->shared++;
		l->sharers |= 1u << k;
	}
	pthread_mutex_unlock(&l->mu);
}

static void fw_unlock(struct vm_machine *m, unsigned k, bool call)
{
	struct machine_fwlock *l = &m->fw;
	pthread_mutex_lock(&l->mu);
	if (call) {
		l->calls--;
	} else {
		l->shared--;
		l->sharers &= ~(1u << k);
	}
	if (call ? !l->calls : !l->shared)
		pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static void big_lock(struct vm_machine *m)
{
	ticket_lock(&m->big);
	big_held = m;
}

static void big_unlock(struct vm_machine *m)
{
	big_held = NULL;
	ticket_unlock(&m->big);
}

static bool machine_exiting(const struct vm_machine *m)
{
	return __atomic_load_n(&m->exit_requested, __ATOMIC_SEQ_CST) != 0;
}

/* May hart k run guest code now?  (under the big lock, by hart k's thread
 * or for a parked hart, whose state does not change) */
static bool hart_may_run(struct vm_machine *m, unsigned k)
{
	return !machine_exiting(m) && !m->paused && !m->holding &&
	       !__atomic_load_n(&m->sp_requested, __ATOMIC_SEQ_CST) &&
	       !rv_core_flush_pending(m->core) && !rv_hart_idle(rv_core_hart(m->core, k));
}

/* Wake the parked harts (all of them when force, else only if one of them
 * may run now).  Under the big lock, or after the hart threads were told
 * to exit. */
static void machine_kick(struct vm_machine *m, bool force)
{
	bool any = force;
	for (unsigned k = 0; k < m->cfg.ncpus && !any; k++)
		any = m->ht[k].parked && hart_may_run(m, k);
	if (!any)
		return;
	pthread_mutex_lock(&m->park_mu);
	m->park_gen++;
	pthread_cond_broadcast(&m->park_cv);
	pthread_mutex_unlock(&m->park_mu);
}

/* Let the big lock go, first waking parked harts an interrupt made runnable. */
static void big_release(struct vm_machine *m)
{
	if (__atomic_exchange_n(&m->kick_pending, false, __ATOMIC_SEQ_CST))
		machine_kick(m, false);
	big_unlock(m);
}

/* The CPU's lock in parallel mode (rv_core_set_parallel): the big lock,
 * recursive for the thread holding it. */
static void machine_core_lock(void *opaque)
{
	struct vm_machine *m = opaque;
	if (big_held == m) {
		big_depth++;
		return;
	}
	big_lock(m);
}

static void machine_core_unlock(void *opaque)
{
	struct vm_machine *m = opaque;
	if (big_depth) {
		big_depth--;
		return;
	}
	big_release(m);
}

/* Loop thread holding the big lock: wait until no hart is inside a slice
 * (they were asked to stop); the lock is let go meanwhile. */
static void machine_wait_harts_out(struct vm_machine *m)
{
	while (m->inside > 0) {
		pthread_mutex_lock(&m->park_mu);
		uint64_t gen = m->inside_gen;
		pthread_mutex_unlock(&m->park_mu);
		big_release(m);
		pthread_mutex_lock(&m->park_mu);
		while (m->inside_gen == gen)
			pthread_cond_wait(&m->inside_cv, &m->park_mu);
		pthread_mutex_unlock(&m->park_mu);
		big_lock(m);
	}
}

bool vm_machine_hart_threads(const struct vm_machine *m)
{
	return m->hart_threads;
}

void vm_machine_stop_harts(struct vm_machine *m)
{
	if (!m->hart_threads || loop_of != m || big_held != m)
		return;
	/* while the loop lets the big lock go in machine_wait_harts_out, a hart
	 * leaving its slice parks (hart_may_run); the loop's next turn wakes
	 * the ones that may run (machine_kick) */
	m->holding = true;
	for (unsigned k = 0; k < m->cfg.ncpus; k++)
		rv_hart_request_stop(rv_core_hart(m->core, k));
	machine_wait_harts_out(m);
	m->holding = false;
}

/* Run the pending safe-point callback, if any, and wake its requester
 * (sp.lock held, no hart inside a slice). */
static void machine_serve_locked(struct vm_machine *m)
{
	__atomic_store_n(&m->sp_requested, 0, __ATOMIC_SEQ_CST);
	if (m->sp.pending) {
		m->sp.result = m->sp.fn(m, m->sp.opaque);
		m->sp.pending = false;
		m->sp.done = true;
		m->safepoints++;
		pthread_cond_broadcast(&m->sp.done_cond);
	}
}

/* Serve a pending safe-point request (loop thread, no hart inside a slice). */
static void machine_serve_safepoint(struct vm_machine *m)
{
	if (!__atomic_load_n(&m->sp_requested, __ATOMIC_SEQ_CST))
		return;
	if (big_held == m)
		machine_wait_harts_out(m);
	pthread_mutex_lock(&m->sp.lock);
	machine_serve_locked(m);
	pthread_mutex_unlock(&m->sp.lock);
}

int vm_machine_run_at_safepoint(struct vm_machine *m, int (*fn)(struct vm_machine *m, void *opaque),
				void *opaque)
{
	int r;
	if (big_held == m) /* a hart thread or the loop holding the big lock */
		return fn(m, opaque);
	pthread_mutex_lock(&m->sp.lock);
	if (m->sp.loop_running && pthread_equal(m->sp.loop_thread, pthread_self())) {
		/* Called from a device callback or a safe-point callback: already safe. */
		pthread_mutex_unlock(&m->sp.lock);
		return fn(m, opaque);
	}
	pthread_mutex_unlock(&m->sp.lock);

	pthread_mutex_lock(&m->sp.call_lock);
	pthread_mutex_lock(&m->sp.lock);
	if (!m->sp.loop_running) {
		r = fn(m, opaque); /* the loop cannot start while we hold sp.lock */
		m->safepoints++;
	} else {
		m->sp.fn = fn;
		m->sp.opaque = opaque;
		m->sp.pending = true;
		m->sp.done = false;
		__atomic_store_n(&m->sp_requested, 1, __ATOMIC_SEQ_CST);
		for (unsigned k = 0; k < m->cfg.ncpus; k++)
			rv_hart_request_stop(rv_core_hart(m->core, k));
		machine_wake(m);
		while (!m->sp.done)
			pthread_cond_wait(&m->sp.done_cond, &m->sp.lock);
		r = m->sp.result;
	}
	pthread_mutex_unlock(&m->sp.lock);
	pthread_mutex_unlock(&m->sp.call_lock);
	return r;
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
	if (!machine_exiting(m)) {
		m->exit_kind = kind;
		m->exit_code = code;
		__atomic_store_n(&m->exit_requested, 1, __ATOMIC_SEQ_CST);
	}
	for (unsigned k = 0; k < m->cfg.ncpus; k++)
		rv_hart_request_stop(rv_core_hart(m->core, k));
	vm_machine_wake(m); /* write(2) is async-signal-safe */
}

bool vm_machine_note_output(struct vm_machine *m, bool line_end)
{
	if (!m->hart_threads && !m->output_flowing) {
		/* One thread, the device runs on the loop's thread: output starts
		 * after a quiet interval.  The device forwards it now, at most once
		 * per 100 us of guest time, and at the end of a line (a stream is
		 * batched by the polls: they mark it flowing). */
		uint64_t now = vm_machine_mtime(m) + 1;
		if (line_end || !m->output_forwarded ||
		    now - m->output_forwarded >= VM_TIMEBASE_HZ / 10000) {
			m->output_forwarded = now;
			return true;
		}
	}
	__atomic_store_n(&m->output_pending, 1, __ATOMIC_RELAXED);
	return false;
}

void vm_machine_wake(struct vm_machine *m)
{
	machine_wake(m);
}

void vm_machine_set_hart_irq(struct vm_machine *m, unsigned hart, uint64_t mip_bits, int level)
{
	struct rv_hart *h = rv_core_hart(m->core, hart);
	if (h) {
		rv_hart_set_irq(h, mip_bits, level);
		if (level) /* a parked hart may run now (big_release) */
			__atomic_store_n(&m->kick_pending, true, __ATOMIC_SEQ_CST);
	}
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

/*
 * Poll the wake eventfd and (unless paused) the watched fds; timeout_ns < 0
 * blocks, 0 does not wait.
 */
static void machine_poll(struct vm_machine *m, int64_t timeout_ns)
{
	struct pollfd pfd[MAX_WATCH + 1];
	struct machine_watch w[MAX_WATCH];
	unsigned n = m->paused ? 0 : m->nwatch;
	for (unsigned i = 0; i < n; i++) {
		w[i] = m->watch[i];
		pfd[i] = (struct pollfd){ .fd = w[i].fd, .events = POLLIN };
	}
	pfd[n] = (struct pollfd){ .fd = m->wake_fd, .events = POLLIN };
	struct timespec ts, *tsp = NULL;
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	int r = ppoll(pfd, n + 1, tsp, NULL);
	if (r <= 0)
		return;
	if (pfd[n].revents & POLLIN)
		machine_drain_wake(m);
	for (unsigned i = 0; i < n; i++)
		if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			w[i].cb(w[i].opaque);
}

static void machine_loop_enter(struct vm_machine *m)
{
	pthread_mutex_lock(&m->sp.lock);
	m->sp.loop_running = true;
	m->sp.loop_thread = pthread_self();
	pthread_mutex_unlock(&m->sp.lock);
}

/* The loop has ended (every hart out of its slice, hart threads joined).
 * A requester that found the loop running just before this took sp.lock is
 * waiting for it: serve it here, under the lock that also ends loop_running,
 * so that no request falls between the loop's last look and the end (later
 * requesters run their callback themselves). */
static void machine_loop_leave(struct vm_machine *m)
{
	pthread_mutex_lock(&m->sp.lock);
	m->sp.loop_running = false;
	machine_serve_locked(m);
	pthread_mutex_unlock(&m->sp.lock);
}

/*
 * Run hart h for a slice of VM_SLICE_INSNS instructions, and then on, by
 * steps of MACHINE_FW_STEP, while it is inside a firmware call (M-mode
 * entered by a trap from S or U: rv_hart_in_firmware_call), at most
 * MACHINE_FW_EXTRA instructions more, so a hostile guest cannot keep the
 * host thread.  Firmware publishes shared state in steps another hart must
 * not see half-done: OpenSBI 1.1's sbi_hsm_hart_start sets the target's
 * state to START_PENDING before it writes the start address, and a target
 * whose WFI in the HSM wait loop returns early checks the state; a slice
 * ending in between would let the target run a whole slice and start from
 * a stale address.  A stop request, WFI or a debugger halt ends it at once.
 */
#define MACHINE_FW_STEP	 64
#define MACHINE_FW_EXTRA 4096

static uint64_t machine_run_slice(struct rv_hart *h, uint64_t budget, bool threaded)
{
	/* hart threads: rv_hart_run stops where the hart enters or leaves M;
	 * only a piece that ran M-mode code (under the firmware lock) goes on */
	bool in_m = h->priv == RV_PRIV_M;
	uint64_t n = rv_hart_run(h, budget), extra = 0;
	while (extra < MACHINE_FW_EXTRA && rv_hart_in_firmware_call(h) && (in_m || !threaded) &&
	       !__atomic_load_n(&h->stop, __ATOMIC_SEQ_CST) && !rv_hart_idle(h)) {
		uint64_t k = rv_hart_run(h, MACHINE_FW_STEP);
		if (k == 0)
			break;
		extra += k;
	}
	return n + extra;
}

/* Run every hart that is not idle for one slice; account busy/idle time. */
static void machine_run_harts(struct vm_machine *m, bool idle_at_start[])
{
	uint64_t t0 = vs_now_ns();
	for (unsigned k = 0; k < m->cfg.ncpus && !machine_exiting(m); k++) {
		struct rv_hart *h = rv_core_hart(m->core, k);
		/* Both sequentially consistent: the stop reset is ordered before the
		 * check, so a request after it stops the hart. */
		__atomic_store_n(&h->stop, 0, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&m->sp_requested, __ATOMIC_SEQ_CST))
			break;
		idle_at_start[k] = rv_hart_idle(h);
		if (idle_at_start[k])
			continue;
		machine_run_slice(h, VM_SLICE_INSNS, false);
		uint64_t t1 = vs_now_ns();
		m->hart_stats[k].busy_ns += t1 - t0;
		m->hart_stats[k].slices++;
		t0 = t1;
	}
}

/*
 * Hart-thread mode: one slice of hart h on its thread (not holding the big
 * lock), its M-mode code under the firmware lock.  Firmware publishes shared
 * state in steps another hart must not see half-done (see machine_run_slice:
 * OpenSBI 1.1's sbi_hsm_hart_start), and with hart threads the harts really
 * run at once: a secondary hart spinning in OpenSBI's HSM wait loop (its WFI
 * returns at once, MSIP pending since the cold boot) saw START_PENDING while
 * the starting hart's thread was held up (host preemption, the big lock)
 * before it wrote the start address, and entered the kernel at the boot
 * entry a second time (a second boot over the running kernel: the
 * defconfig-4 hang).  M-mode code therefore runs under the firmware lock:
 * a firmware call (M code of a hart that has run below M, e.g. the S-mode
 * kernel's SBI call, from its trap to its return: at most MACHINE_FW_EXTRA
 * instructions beyond the slice, as on the round-robin loop) holds it with
 * other calls; M code of a hart that never left M (a firmware hart waiting
 * to be started, a bare-metal program) holds it with other such code, so
 * bare-metal harts - the litmus and atomics tests - still run truly at
 * once, while none of them runs during a call.  rv_hart_run stops where the hart enters or
 * leaves M, so no M-mode instruction runs without the lock.  The lock is
 * taken without the big lock held (the hart takes the big lock inside it:
 * one order).
 *
 * A slice of S and U code is MACHINE_THREAD_SLICE instructions (about a
 * millisecond): everything that must reach a running hart sooner
 * (interrupts, stop requests for safe points, flushes, pauses and exits)
 * reaches it inside rv_hart_run, so the slice only bounds how long the
 * thread goes without a look at the big lock's state and a yield.  M-mode
 * pieces keep VM_SLICE_INSNS: a hart waiting for a firmware call of its own
 * waits for the shared holders' pieces to end.  Returns whether the slice
 * was busy: its last piece ran its whole budget (a hart spinning in M, e.g.
 * a firmware hart waiting to be started, is busy after every piece).
 */
#define MACHINE_THREAD_SLICE (50 * VM_SLICE_INSNS)

static bool machine_run_hart_slice(struct vm_machine *m, struct machine_hart_thread *ht,
				   struct rv_hart *h)
{
	uint64_t done = 0;
	bool busy = false;
	for (unsigned piece = 0; piece < 16 && done < MACHINE_THREAD_SLICE; piece++) {
		bool fw = h->priv == RV_PRIV_M;
		bool call = ht->below_m;
		uint64_t budget = MACHINE_THREAD_SLICE - done;
		if (!fw)
			ht->below_m = true;
		if (fw) {
			fw_lock(m, ht->index, call);
			if (budget > VM_SLICE_INSNS)
				budget = VM_SLICE_INSNS;
		}
		uint64_t ran = machine_run_slice(h, budget, true);
		done += ran;
		busy = ran >= budget;
		if (fw)
			fw_unlock(m, ht->index, call);
		if ((h->priv == RV_PRIV_M) == fw || __atomic_load_n(&h->stop, __ATOMIC_SEQ_CST) ||
		    rv_hart_idle(h) || machine_exiting(m))
			break;
	}
	return busy;
}

/*
 * Hart-thread mode: the thread of hart k.  Between slices it holds the big
 * lock; it runs each slice without it (the CPU takes it for what the harts
 * share), and parks on park_cv (no host CPU) while its hart waits in WFI,
 * the machine is paused or a safe point is pending.  Signals stay with the
 * loop thread.
 */
static void *machine_hart_main(void *arg)
{
	struct machine_hart_thread *ht = arg;
	struct vm_machine *m = ht->m;
	struct rv_hart *h = rv_core_hart(m->core, ht->index);
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	char name[16]; /* for top -H, ps -L and /proc/PID/task/TID/comm */
	snprintf(name, sizeof(name), "vessel-hart%u", ht->index);
	pthread_setname_np(pthread_self(), name);

	big_lock(m);
	while (!machine_exiting(m)) {
		__atomic_store_n(&h->stop, 0, __ATOMIC_SEQ_CST);
		if (!hart_may_run(m, ht->index)) {
			if (rv_core_flush_pending(m->core))
				machine_wake(m); /* the loop flushes once every hart is out */
			/* park: the generation is read before the big lock is given
			 * up, and kicks happen under the big lock, so none is lost */
			pthread_mutex_lock(&m->park_mu);
			uint64_t gen = m->park_gen;
			pthread_mutex_unlock(&m->park_mu);
			ht->parked = true;
			uint64_t t0 = vs_now_ns();
			big_release(m);
			pthread_mutex_lock(&m->park_mu);
			while (m->park_gen == gen)
				pthread_cond_wait(&m->park_cv, &m->park_mu);
			pthread_mutex_unlock(&m->park_mu);
			big_lock(m);
			ht->parked = false;
			m->hart_stats[ht->index].idle_ns += vs_now_ns() - t0;
			continue;
		}
		m->inside++;
		big_release(m);
		uint64_t t0 = vs_now_ns();
		bool busy_slice = machine_run_hart_slice(m, ht, h);
		uint64_t busy = vs_now_ns() - t0;
		/*
		 * After a whole busy slice, let another thread on this host CPU
		 * run: with more harts (or other work) than host CPUs, a hart
		 * spinning on a flag would otherwise keep the CPU for a whole
		 * scheduler slice while the hart that sets the flag waits to be
		 * scheduled.  Not after every short slice: a yield that finds
		 * other work switches to it, and at every slice of
		 * VM_SLICE_INSNS that cost a busy 2-hart guest a fifth of its
		 * host CPU.
		 */
		if (busy_slice)
			sched_yield();
		big_lock(m);
		m->hart_stats[ht->index].busy_ns += busy;
		m->hart_stats[ht->index].slices++;
		m->inside--;
		pthread_mutex_lock(&m->park_mu);
		m->inside_gen++;
		pthread_cond_broadcast(&m->inside_cv);
		pthread_mutex_unlock(&m->park_mu);
	}
	big_release(m);
	return NULL;
}

/* The loop of hart-thread mode: timers, host fds, ticks and safe points,
 * each under the big lock; the harts run on their own threads. */
static int machine_run_threaded(struct vm_machine *m, uint64_t deadline, struct vs_err *err)
{
	unsigned n = m->cfg.ncpus;
	int r = 0;
	rv_core_set_parallel(m->core, machine_core_lock, machine_core_unlock, m);
	loop_of = m;
	big_lock(m); /* the harts start once the loop is set up */
	for (unsigned k = 0; k < n; k++) {
		m->ht[k] = (struct machine_hart_thread){ .m = m, .index = k };
		int e = pthread_create(&m->ht[k].tid, NULL, machine_hart_main, &m->ht[k]);
		if (e) {
			vs_syserrf(err, e, "machine: cannot start the thread of hart %u", k);
			vm_machine_request_exit(m, VM_EXIT_ERROR, 0);
			r = -1;
			break;
		}
		m->ht[k].started = true;
	}
	struct pollfd pfd[MAX_WATCH + 1];
	struct machine_watch w[MAX_WATCH];
	unsigned nw = 0;
	int ready = 0;
	while (!machine_exiting(m)) {
		/* holding the big lock: harts may be running guest code, not
		 * inside a slow path or MMIO */
		for (unsigned i = 0; ready > 0 && i < nw && !m->paused; i++)
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				w[i].cb(w[i].opaque);
		ready = 0;
		machine_serve_safepoint(m);
		if (rv_core_flush_pending(m->core)) {
			machine_wait_harts_out(m);
			rv_core_flush(m->core);
		}
		if (machine_exiting(m))
			break;
		uint64_t wall = vs_now_ns();
		if (deadline && wall >= deadline) {
			vm_machine_request_exit(m, VM_EXIT_TIMEOUT, 0);
			break;
		}
		int64_t sleep_ns = 100000000; /* re-check at least every 100 ms */
		if (!m->paused) {
			uint64_t now = vm_machine_mtime(m);
			vm_clint_update(m->clint, now);
			for (unsigned i = 0; i < m->ntick && !machine_exiting(m); i++)
				m->tick[i].cb(m->tick[i].opaque);
			/* a hart that is not parked may be running: not idle */
			bool idle = true, halted = true;
			for (unsigned k = 0; k < n; k++) {
				struct rv_hart *h = rv_core_hart(m->core, k);
				idle = idle && m->ht[k].parked && rv_hart_idle(h);
				halted = halted && m->ht[k].parked && rv_hart_debug_halted(h);
			}
			uint64_t next = halted ? UINT64_MAX : vm_clint_next_deadline(m->clint);
			if (!idle) {
				sleep_ns = 1000000; /* host fds and timers: every 1 ms */
			} else if (next != UINT64_MAX) {
				uint64_t d = next > now
						 ? (next - now) * (1000000000ULL / VM_TIMEBASE_HZ)
						 : 0;
				if ((int64_t)d < sleep_ns)
					sleep_ns = (int64_t)d;
			}
		}
		if (deadline) {
			int64_t left = (int64_t)(deadline - vs_now_ns());
			if (left < sleep_ns)
				sleep_ns = left > 0 ? left : 0;
		}
		machine_kick(m, false);
		nw = m->paused ? 0 : m->nwatch;
		for (unsigned i = 0; i < nw; i++) {
			w[i] = m->watch[i];
			pfd[i] = (struct pollfd){ .fd = w[i].fd, .events = POLLIN };
		}
		pfd[nw] = (struct pollfd){ .fd = m->wake_fd, .events = POLLIN };
		big_release(m);
		struct timespec ts = { .tv_sec = sleep_ns / 1000000000,
				       .tv_nsec = sleep_ns % 1000000000 };
		ready = ppoll(pfd, nw + 1, &ts, NULL);
		if (ready > 0 && (pfd[nw].revents & POLLIN))
			machine_drain_wake(m);
		big_lock(m);
	}
	/* the harts see the exit request at their next turn or kick */
	for (unsigned k = 0; k < n; k++)
		rv_hart_request_stop(rv_core_hart(m->core, k));
	big_unlock(m);
	machine_kick(m, true);
	for (unsigned k = 0; k < n; k++)
		if (m->ht[k].started) {
			pthread_join(m->ht[k].tid, NULL);
			m->ht[k].started = false;
		}
	loop_of = NULL;
	return r;
}

int vm_machine_run(struct vm_machine *m, struct vm_exit *exit, struct vs_err *err)
{
	uint64_t deadline = 0;
	if (m->cfg.timeout_sec > 0)
		deadline = m->created_ns + (uint64_t)(m->cfg.timeout_sec * 1e9);
	unsigned n = m->cfg.ncpus;
	bool idle_at_start[VM_MAX_HARTS];

	machine_loop_enter(m);
	if (m->hart_threads) {
		int r = machine_run_threaded(m, deadline, err);
		machine_loop_leave(m);
		exit->kind = m->exit_kind;
		exit->code = m->exit_code;
		return r;
	}
	uint64_t last_poll = 0;
	while (!machine_exiting(m)) {
		machine_serve_safepoint(m);
		if (machine_exiting(m))
			break;
		uint64_t wall = vs_now_ns();
		if (deadline && wall >= deadline) {
			vm_machine_request_exit(m, VM_EXIT_TIMEOUT, 0);
			break;
		}
		if (m->paused) {
			/* Nothing runs: wait for a safe-point or exit request (or the deadline). */
			int64_t left = deadline ? (int64_t)(deadline - wall) : -1;
			machine_poll(m, left);
			continue;
		}
		uint64_t it_start = wall;
		uint64_t now = vm_machine_mtime(m);
		vm_clint_update(m->clint, now);
		/* host fds: at most every 1 ms; output that starts after a quiet
		 * poll (vm_machine_note_output) is forwarded after 100 us, while
		 * output that keeps flowing is batched at the 1 ms polls */
		bool out = __atomic_load_n(&m->output_pending, __ATOMIC_RELAXED);
		if (now - last_poll >= VM_TIMEBASE_HZ / 1000 ||
		    (out && !m->output_flowing && now - last_poll >= VM_TIMEBASE_HZ / 10000)) {
			m->output_flowing = out;
			__atomic_store_n(&m->output_pending, 0, __ATOMIC_RELAXED);
			machine_poll(m, 0);
			last_poll = now;
		}
		for (unsigned k = 0; k < n; k++)
			idle_at_start[k] = false;
		machine_run_harts(m, idle_at_start);
		if (__atomic_load_n(&m->sp_requested, __ATOMIC_SEQ_CST))
			continue; /* serve it before anything else runs */
		for (unsigned i = 0; i < m->ntick && !machine_exiting(m); i++)
			m->tick[i].cb(m->tick[i].opaque);
		if (machine_exiting(m))
			break;
		bool idle = true;
		for (unsigned k = 0; k < n && idle; k++)
			idle = rv_hart_idle(rv_core_hart(m->core, k));
		if (idle) {
			/* Every hart waits for an interrupt: sleep until something happens.
			 * Long idle: give the boot's decoded code back (rv_core_trim). */
			rv_core_trim(m->core, vs_now_ns());
			int64_t sleep_ns = 100000000; /* re-check at least every 100 ms */
			uint64_t next = vm_clint_next_deadline(m->clint);
			bool halted = true; /* by a debugger: timers wake no one, only fds do */
			for (unsigned k = 0; k < n && halted; k++)
				halted = rv_hart_debug_halted(rv_core_hart(m->core, k));
			if (halted)
				next = UINT64_MAX;
			now = vm_machine_mtime(m);
			if (next != UINT64_MAX) {
				uint64_t d = next > now
						 ? (next - now) * (1000000000ULL / VM_TIMEBASE_HZ)
						 : 0;
				if ((int64_t)d < sleep_ns)
					sleep_ns = (int64_t)d;
			}
			if (deadline) {
				int64_t left = (int64_t)(deadline - vs_now_ns());
				if (left < sleep_ns)
					sleep_ns = left > 0 ? left : 0;
			}
			machine_poll(m, sleep_ns);
		}
		uint64_t elapsed = vs_now_ns() - it_start;
		for (unsigned k = 0; k < n; k++)
			if (idle_at_start[k])
				m->hart_stats[k].idle_ns += elapsed;
	}
	machine_loop_leave(m);
	(void)err;
	exit->kind = m->exit_kind;
	exit->code = m->exit_code;
	return 0;
}

struct vm_clint *vm_machine_clint(struct vm_machine *m)
{
	return m->clint;
}
