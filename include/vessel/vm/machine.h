/*
 * machine.h - one virtual machine: harts, bus, timers and the run loop.
 *
 * Ownership (so that work on the CPU and on the board can proceed apart):
 *  - lib/vm/cpu/...          the RV64GC harts (include/vessel/vm/cpu.h)
 *  - lib/vm/machine/machine.c this API: creation, RAM, the run loop, polled
 *                              host fds, exit requests, the mtime clock
 *  - lib/vm/machine/clint.c, uart.c, finisher.c, elf.c: devices the bare
 *                              metal mode needs as well
 *  - lib/vm/machine/plic.c, rtc.c, fdt.c, virt.c and lib/vm/virtio/...: the
 *                              QEMU-compatible `virt` board built on top
 *
 * Threading: the whole machine runs on the thread that calls
 * vm_machine_run().  Harts are stepped round-robin in slices; between slices
 * the loop polls registered host fds (console input, TAP, ...) without
 * blocking.  When every hart waits for an interrupt (WFI), the loop sleeps in
 * poll() until the earliest timer deadline or fd activity, so an idle guest
 * costs no host CPU.  Device callbacks therefore never race with the CPU.
 *
 * State that must survive a snapshot lives in plain structs (harts, device
 * register files, RAM); host resources (fds) are re-attached on restore.
 */
#ifndef VESSEL_VM_MACHINE_H
#define VESSEL_VM_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/vm/bus.h"

struct vm_machine;
struct rv_hart;

#define VM_MAX_HARTS 8

/* mtime runs at 10 MHz, derived from the host's monotonic clock. */
#define VM_TIMEBASE_HZ 10000000ULL

/* Why vm_machine_run() returned (the machine's exit status). */
enum vm_exit_kind {
	VM_EXIT_POWEROFF = 0, /* guest powered off (finisher 0x5555, SBI, HTIF pass) */
	VM_EXIT_REBOOT,	      /* guest asked for a reset (finisher 0x7777) */
	VM_EXIT_FAIL,	      /* guest reported failure (finisher 0x3333, HTIF fail) */
	VM_EXIT_TIMEOUT,      /* --timeout elapsed */
	VM_EXIT_USER,	      /* the user quit (console escape, signal) */
	VM_EXIT_ERROR,	      /* host-side error, message in err */
};

struct vm_exit {
	enum vm_exit_kind kind;
	uint32_t code; /* guest-supplied code (finisher upper bits, HTIF test number) */
};

/* vm_exit.code of a VM_EXIT_POWEROFF that the host asked for (the API's
 * poweroff, a finished migration), not the guest. */
#define VM_EXIT_CODE_HOST 1u

struct vm_machine_config {
	uint64_t ram_base;  /* 0x80000000 on virt */
	uint64_t ram_size;  /* bytes */
	unsigned ncpus;	    /* 1..VM_MAX_HARTS */
	double timeout_sec; /* 0 = none; counted from vm_machine_new */
};

struct vm_machine *vm_machine_new(const struct vm_machine_config *cfg, struct vs_err *err);
void vm_machine_free(struct vm_machine *m);

struct vm_bus *vm_machine_bus(struct vm_machine *m);
uint8_t *vm_machine_ram(struct vm_machine *m); /* host pointer of guest RAM */
unsigned vm_machine_ncpus(const struct vm_machine *m);
struct rv_hart *vm_machine_hart(struct vm_machine *m, unsigned index);

/* Current mtime value (10 MHz ticks since the machine started). */
uint64_t vm_machine_mtime(const struct vm_machine *m);

/*
 * Host fd polled by the run loop: cb runs on the machine thread when fd is
 * readable (POLLIN/POLLHUP).  Returns 0 or -ENOSPC.
 */
int vm_machine_watch_fd(struct vm_machine *m, int fd, void (*cb)(void *opaque), void *opaque);
void vm_machine_unwatch_fd(struct vm_machine *m, int fd);

/*
 * Ask the run loop to stop after the current slice with this exit.  Safe
 * from signal handlers and other threads; ends a sleeping poll at once.
 */
void vm_machine_request_exit(struct vm_machine *m, enum vm_exit_kind kind, uint32_t code);

/* Make the run loop's next (or current) poll return at once, e.g. because
 * deferred device work remains.  Async-signal-safe, any thread. */
void vm_machine_wake(struct vm_machine *m);

/*
 * A device wrote output into a pipe the loop watches (the UART), on the
 * thread that runs the hart (an MMIO write).  Returns true when the caller
 * should forward the pipe itself now (run the watch's reader): with the
 * harts on the loop's thread, output that starts after a quiet interval
 * (no output forwarded for 100 us of guest time, and the loop's last poll
 * found none flowing), so its first byte reaches the host at once and not
 * when the slice ends (milliseconds for cold code, e.g. right after a
 * restore); so does the byte that ends a line (line_end) while the output
 * is not flowing, so a whole line is there at once too.  Otherwise the
 * loop forwards it: output after a quiet poll about 100 us later, a stream
 * at the 1 ms polls; with hart threads the loop's poll wakes on the pipe
 * at once.
 */
bool vm_machine_note_output(struct vm_machine *m, bool line_end);

/*
 * Raise or lower interrupt-pending bits (MIP_MEIP, MIP_SEIP, ...) of one
 * hart from a device (the PLIC, the CLINT).  Wakes the hart from WFI.
 */
void vm_machine_set_hart_irq(struct vm_machine *m, unsigned hart, uint64_t mip_bits, int level);

/* Run until an exit is requested.  Returns 0 and fills *exit, or -errno. */
int vm_machine_run(struct vm_machine *m, struct vm_exit *exit, struct vs_err *err);

/* Set every hart's pc and a0..a2 before vm_machine_run (boot protocol). */
void vm_machine_set_boot(struct vm_machine *m, uint64_t pc, uint64_t a1, uint64_t a2);

/*
 * Safe points and the paused state (control API, snapshots, migration).
 *
 * vm_machine_run_at_safepoint() runs fn(m, opaque) on the machine thread
 * while every hart is stopped at an instruction boundary (between slices:
 * no hart is inside rv_hart_run, no device callback is running) and returns
 * fn's result.  Synchronous: the caller blocks until fn has run; the loop is
 * woken through an eventfd, so it answers within one slice even when the
 * harts sleep in WFI.  Callable from any thread, one request at a time
 * (concurrent callers queue); from the machine thread itself (a device
 * callback, or inside fn) it simply calls fn.  Before vm_machine_run started
 * and after it returned, fn runs on the caller's thread (the machine is
 * quiescent then).  fn must not block for long: the guest is stopped.
 */
int vm_machine_run_at_safepoint(struct vm_machine *m, int (*fn)(struct vm_machine *m, void *opaque),
				void *opaque);

/*
 * Hart threads (--hart-threads): true when every hart runs on its own host
 * thread.  vm_machine_stop_harts(), called by the loop thread inside a
 * watched fd's callback or a tick (which hold the machine's big lock while
 * the harts may still run guest code), returns once every hart thread left
 * its slice; none enters one again before the callback returns, so the
 * callback may read and change any hart's state (the GDB stub).  Elsewhere,
 * and without hart threads (callbacks already run between slices), it does
 * nothing.
 */
bool vm_machine_hart_threads(const struct vm_machine *m);
void vm_machine_stop_harts(struct vm_machine *m);

/*
 * Pause / resume, only at a safe point (inside a safe-point callback) or
 * before the loop runs.  While paused no hart runs, no watched fd is polled
 * (devices deliver nothing and raise no interrupt) and mtime is frozen:
 * after resume the guest sees no time jump (the RTC still tells wall time).
 * Idempotent.
 */
void vm_machine_pause(struct vm_machine *m);
void vm_machine_resume(struct vm_machine *m);
bool vm_machine_paused(const struct vm_machine *m);

/* Set mtime to this value now (restore, migration); keeps counting from it. */
void vm_machine_set_mtime(struct vm_machine *m, uint64_t mtime);

/*
 * Machine part of a hard reset, at a safe point: RAM reads as zeros, the
 * CLINT and every hart are in their power-on state, code caches are empty.
 * The board then resets its devices and loads its images again.
 */
int vm_machine_reset(struct vm_machine *m, struct vs_err *err);

/* Guest RAM size in bytes. */
uint64_t vm_machine_ram_size(const struct vm_machine *m);

/* Per-hart accounting of the run loop (read at a safe point). */
struct vm_hart_stats {
	uint64_t busy_ns; /* host time spent executing this hart */
	uint64_t idle_ns; /* time the hart sat in WFI while the VM ran */
	uint64_t slices;  /* times the hart returned to the run loop ("exits") */
	uint64_t instret; /* instructions retired */
};

struct vm_machine_stats {
	uint64_t uptime_ns; /* since the machine was created */
	uint64_t paused_ns; /* total time paused (mtime excludes it) */
	uint64_t mtime;
	uint64_t safepoints; /* safe-point callbacks run */
	bool paused;
	unsigned nharts;
	struct vm_hart_stats harts[VM_MAX_HARTS];
};

/* Snapshot of the counters; call at a safe point. */
void vm_machine_stats(const struct vm_machine *m, struct vm_machine_stats *st);

/*
 * Additions (cpu helper):
 */

/* The CPU core of the machine (include/vessel/vm/cpu.h). */
struct rv_core *vm_machine_core(struct vm_machine *m);

/*
 * Callback run on the machine thread after every slice (about every
 * VM_SLICE_INSNS instructions per hart), e.g. to poll a mailbox in RAM
 * (HTIF).  Returns 0 or -ENOSPC.
 */
int vm_machine_add_tick(struct vm_machine *m, void (*cb)(void *opaque), void *opaque);

#define VM_SLICE_INSNS 20000

/* Additions (snapshots, lib/vm/snapshot): the machine's CLINT. */
struct vm_clint;
struct vm_clint *vm_machine_clint(struct vm_machine *m);

#endif
