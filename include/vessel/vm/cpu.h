/*
 * cpu.h - the RV64GC software CPU: harts and the core they share.
 *
 * A `struct rv_core` holds what the harts of one machine share: the bus, the
 * decoded-block cache (keyed by guest physical address, so every hart reuses
 * the same decoded code) and per-page flags used to catch stores into code
 * pages and into LR reservation sets.  A `struct rv_hart` is one hardware
 * thread: its architectural state (integer and FP registers, pc, privilege
 * level, every CSR) lives in plain fields that can be serialised; the soft
 * TLB and the block-chaining hints are caches rebuilt on demand.
 *
 * Implemented: RV64IMAFDC, Zicsr, Zifencei, Zicntr, Zihpm (hpm counters read
 * zero), M/S/U privilege modes, Sv39/Sv48, PMP CSRs (stored, not enforced),
 * Sdtrig address/data match triggers (mcontrol and mcontrol6, debug.c), and
 * a debugger interface (breakpoints, watchpoints, single-step, halting) for
 * the GDB stub.
 * Misaligned loads and stores are performed (never trap); misaligned AMOs and
 * LR/SC raise address-misaligned.
 *
 * Nothing here is thread-safe by default: one thread at a time runs the
 * harts of a core.  Only rv_hart_request_stop may be called from any thread.
 * In parallel mode (rv_core_set_parallel, used by the hart threads of
 * lib/vm/machine/machine.c) each hart runs on its own thread at once with
 * the others: see rv_core_set_parallel for the contract.
 */
#ifndef VESSEL_VM_CPU_H
#define VESSEL_VM_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/vm/bus.h"

/* Privilege levels. */
#define RV_PRIV_U 0
#define RV_PRIV_S 1
#define RV_PRIV_M 3

/* mip / mie bits. */
#define MIP_SSIP (1ULL << 1)
#define MIP_MSIP (1ULL << 3)
#define MIP_STIP (1ULL << 5)
#define MIP_MTIP (1ULL << 7)
#define MIP_SEIP (1ULL << 9)
#define MIP_MEIP (1ULL << 11)

/* mstatus bits. */
#define MSTATUS_SIE  (1ULL << 1)
#define MSTATUS_MIE  (1ULL << 3)
#define MSTATUS_SPIE (1ULL << 5)
#define MSTATUS_UBE  (1ULL << 6)
#define MSTATUS_MPIE (1ULL << 7)
#define MSTATUS_SPP  (1ULL << 8)
#define MSTATUS_VS   (3ULL << 9)
#define MSTATUS_MPP  (3ULL << 11)
#define MSTATUS_FS   (3ULL << 13)
#define MSTATUS_XS   (3ULL << 15)
#define MSTATUS_MPRV (1ULL << 17)
#define MSTATUS_SUM  (1ULL << 18)
#define MSTATUS_MXR  (1ULL << 19)
#define MSTATUS_TVM  (1ULL << 20)
#define MSTATUS_TW   (1ULL << 21)
#define MSTATUS_TSR  (1ULL << 22)
#define MSTATUS_UXL  (3ULL << 32)
#define MSTATUS_SXL  (3ULL << 34)
#define MSTATUS_SD   (1ULL << 63)

/* Exception causes (privileged spec, table "mcause values"). */
enum rv_exception {
	RV_EXC_INSN_MISALIGNED = 0,
	RV_EXC_INSN_ACCESS = 1,
	RV_EXC_ILLEGAL = 2,
	RV_EXC_BREAKPOINT = 3,
	RV_EXC_LOAD_MISALIGNED = 4,
	RV_EXC_LOAD_ACCESS = 5,
	RV_EXC_STORE_MISALIGNED = 6,
	RV_EXC_STORE_ACCESS = 7,
	RV_EXC_ECALL_U = 8,
	RV_EXC_ECALL_S = 9,
	RV_EXC_ECALL_M = 11,
	RV_EXC_INSN_PAGE_FAULT = 12,
	RV_EXC_LOAD_PAGE_FAULT = 13,
	RV_EXC_STORE_PAGE_FAULT = 15,
};

#define RV_MAX_HARTS 8

#define RV_NTRIGGERS 4 /* Sdtrig address/data match triggers per hart */

#define RV_TLB_SIZE 256 /* entries per (privilege, access type), direct mapped */

enum rv_access { RV_ACC_READ = 0, RV_ACC_WRITE = 1, RV_ACC_EXEC = 2 };

/* One soft-TLB entry: guest virtual page -> host address (cache only). */
struct rv_tlb_entry {
	uint64_t vtag;	  /* virtual page address, or ~0 when empty */
	uintptr_t addend; /* host address = guest virtual address + addend */
};

struct rv_core;
struct rv_block;

struct rv_hart {
	/* ---- architectural state (serialisable) ---- */
	uint64_t x[33]; /* x[0] stays 0; x[32] is the sink for writes to x0 */
	uint64_t f[32]; /* NaN-boxed FP registers */
	uint64_t pc;
	unsigned priv;
	unsigned hartid;
	uint32_t fflags, frm;
	bool wfi; /* waiting for an interrupt */

	uint64_t mstatus, misa, medeleg, mideleg, mie, mip, mtvec, mscratch, mepc, mcause, mtval;
	uint64_t mcounteren, scounteren, menvcfg, senvcfg, mcountinhibit;
	uint64_t stvec, sscratch, sepc, scause, stval, satp;
	uint64_t mip_ext; /* pending bits driven by devices (MEIP, SEIP, MTIP, MSIP) */
	uint64_t cycle, instret;
	uint64_t pmpcfg[16];
	uint64_t pmpaddr[64];

	/* Sdtrig trigger module (debug.c): tselect, tcontrol and each trigger's
	 * tdata1-3 (tdata3 is read-only zero). */
	uint64_t tselect, tcontrol;
	uint64_t tdata1[RV_NTRIGGERS], tdata2[RV_NTRIGGERS], tdata3[RV_NTRIGGERS];

	/* LR/SC reservation: physical address, valid flag. */
	uint64_t resv_addr;
	bool resv_valid;

	/* ---- caches and run-loop plumbing (not serialised) ---- */
	struct rv_core *core;
	volatile int events; /* nonzero: check interrupts / stop at next block boundary */
	volatile int stop;   /* leave rv_hart_run as soon as possible */
	uint64_t chain_key;  /* translation context of block chains (cache.c) */
	intptr_t chain_off;  /* this hart's chain slots: rv_block.chain + chain_off */
	uint64_t resv_val;   /* parallel mode: the value LR read (SC compares it) */
	struct rv_tlb_entry tlb[4][3][RV_TLB_SIZE]; /* [priv][access][index] */
	uint64_t tlb_ppage[4][3][RV_TLB_SIZE];	    /* guest physical page of each entry */
};

/*
 * Create the CPU of a machine with nharts harts on bus (the bus must outlive
 * the core).  get_time returns mtime (the `time` CSR).  Sets bus->on_dma_write.
 */
struct rv_core *rv_core_new(struct vm_bus *bus, unsigned nharts, uint64_t (*get_time)(void *opaque),
			    void *time_opaque, struct vs_err *err);
void rv_core_free(struct rv_core *core);
struct rv_hart *rv_core_hart(struct rv_core *core, unsigned index);
unsigned rv_core_nharts(const struct rv_core *core);

/* Drop every decoded block and TLB entry (after loading new code). */
void rv_core_flush(struct rv_core *core);
/* The same, and the caches' pages go back to the kernel (MADV_DONTNEED)
 * instead of being cleared: for a restore, which starts cold anyway. */
void rv_core_flush_release(struct rv_core *core);
/*
 * Parallel mode (cache.c, before any hart runs; flushes the caches): every
 * hart may run on its own thread at the same time as the others.  The CPU
 * then calls lock(opaque) / unlock(opaque) around everything the harts
 * share (the decoded-block and JIT caches, page flags, slow-path memory
 * accesses and MMIO, CSR operations) and runs the rest without it: the
 * interpreter's and the JIT's fast paths, per-hart TLBs, jump caches and
 * chain slots.  AMOs are host atomics, SC a compare-and-swap on the value
 * LR read (a store of the same value in between is not seen: the ABA
 * weakness QEMU's MTTCG shares).  Another hart's caches are changed only
 * through requests it serves at its next block boundary.  The lock must be
 * recursive for the thread holding it.  A full cache flush must happen with
 * every hart stopped: when rv_core_flush_pending() turns true (the arena is
 * nearly full; the harts were asked to stop), call rv_core_flush at a point
 * where no hart runs.
 */
void rv_core_set_parallel(struct rv_core *core, void (*lock)(void *), void (*unlock)(void *),
			  void *opaque);
bool rv_core_flush_pending(const struct rv_core *core);

/*
 * Call when every hart idles in WFI: if the last trim is long past
 * (RV_TRIM_AFTER_NS) and the caches hold more than a little, flush them and
 * give their memory back to the kernel (lib/vm/cpu/cache.c).  Returns
 * whether it trimmed; rv_core_trims counts the trims.
 */
bool rv_core_trim(struct rv_core *core, uint64_t now_ns);
uint64_t rv_core_trims(const struct rv_core *core);

/* Guest RAM [gpa, gpa+len) was written behind the CPU's back (DMA, loader). */
void rv_core_note_write(struct rv_core *core, uint64_t gpa, uint64_t len);

/*
 * Baseline JIT (x86-64 hosts): hot decoded blocks are translated to host
 * code.  Environment read by rv_core_new(): VESSEL_NO_JIT=1 interprets only,
 * VESSEL_JIT_THRESHOLD=N translates a block after N executions (default 256),
 * VESSEL_JIT_STATS=1 logs (info level) how many blocks were translated (and
 * how many full flushes happened) when the core is freed,
 * VESSEL_JIT_ARENA_KB=N (256 or more) shrinks the host code arena so that it
 * fills and everything is flushed often (tests of the flush paths).  Returns the number of blocks translated so far.
 */
uint64_t rv_core_jit_blocks(const struct rv_core *core);
/* Reset a hart to its power-on state, starting in M-mode at pc. */
void rv_hart_reset(struct rv_hart *h, uint64_t pc);

/*
 * Execute up to about `budget` instructions (stops early at WFI, on a stop
 * request).  Returns the number of instructions retired.  In parallel mode
 * it also stops at the first block boundary where the hart has entered or
 * left M-mode (a trap into M, an xRET below it), before running code of
 * the new privilege, so the caller can run M-mode code under a lock of its
 * own (the firmware lock of lib/vm/machine/machine.c).
 */
uint64_t rv_hart_run(struct rv_hart *h, uint64_t budget);

/* Set or clear device-driven interrupt-pending bits; wakes the hart from WFI. */
void rv_hart_set_irq(struct rv_hart *h, uint64_t mip_bits, int level);

/* True when the hart is in WFI and no enabled-in-mie interrupt is pending. */
bool rv_hart_idle(const struct rv_hart *h);

/*
 * True while the hart runs M-mode code it entered by a trap from S or U
 * mode (an SBI call into the firmware, an interrupt it handles) and has not
 * yet returned below M: the run loop lets such a hart finish the call before
 * its slice ends (lib/vm/cpu/trap.c).
 */
bool rv_hart_in_firmware_call(const struct rv_hart *h);

/* Ask the hart to leave rv_hart_run at the next block boundary. */
void rv_hart_request_stop(struct rv_hart *h);

/*
 * Debugger interface (lib/vm/cpu/debug.c), used by the GDB stub.  Breakpoints
 * and watchpoints are per core (every hart), on virtual addresses; a hart
 * that hits one, or ends a single step, halts and the stop function runs (on
 * the thread running the hart).  A halted hart counts as idle and
 * rv_hart_run() returns at once.  None of this patches guest code: while
 * anything is armed, the harts check each block (breakpoints) or each
 * instruction (watchpoints, steps) before running it.
 */
enum rv_debug_kind {
	RV_DEBUG_SW_BREAK = 0, /* gdb Z0 .. Z4 */
	RV_DEBUG_HW_BREAK,
	RV_DEBUG_WATCH_WRITE,
	RV_DEBUG_WATCH_READ,
	RV_DEBUG_WATCH_ACCESS,
};

enum rv_stop_reason { RV_STOP_BREAK = 1, RV_STOP_STEP, RV_STOP_WATCH };

struct rv_stop {
	enum rv_stop_reason reason;
	enum rv_debug_kind kind; /* RV_STOP_WATCH: the watchpoint's kind */
	uint64_t addr;		 /* RV_STOP_WATCH: the watched address */
};

typedef void (*rv_stop_fn)(void *opaque, struct rv_hart *h, const struct rv_stop *why);
void rv_core_set_debugger(struct rv_core *core, rv_stop_fn fn, void *opaque);
/* 0, -ENOSPC (too many) or -EINVAL (len 0 or wrapping); remove: 0 or -ENOENT. */
int rv_core_debug_insert(struct rv_core *core, enum rv_debug_kind kind, uint64_t addr,
			 uint64_t len);
int rv_core_debug_remove(struct rv_core *core, enum rv_debug_kind kind, uint64_t addr,
			 uint64_t len);
void rv_core_debug_clear(struct rv_core *core); /* remove every one */
void rv_hart_debug_halt(struct rv_hart *h);
/* Run again; step: halt after one instruction (interrupts stay masked). */
void rv_hart_debug_resume(struct rv_hart *h, bool step);
bool rv_hart_debug_halted(const struct rv_hart *h);
/* Read (write == NULL) or write a CSR with M-mode rights; 0 or -EINVAL. */
int rv_hart_debug_csr(struct rv_hart *h, unsigned csr, uint64_t *val, const uint64_t *write);
/*
 * Virtual to physical through the hart's current satp, as a supervisor access
 * would see it (no permission checks, no A/D updates), also while the hart
 * runs in M-mode; Bare maps 1:1.  0 or -EFAULT.
 */
int rv_hart_debug_translate(struct rv_hart *h, uint64_t va, uint64_t *pa);

/*
 * Snapshots (lib/vm/cpu/state.c, docs/snapshot-format.md): a hart's
 * architectural state as a HART section.  rv_hart_load decodes and checks
 * the section and changes the hart only when apply is true and it is valid
 * (0 or -EINVAL).  After loading every hart and guest RAM, call
 * rv_core_after_load: it drops decoded blocks, JIT code, soft TLBs and
 * chains, and re-arms the LR/SC reservations.
 */
struct vm_state;
void rv_hart_save(const struct rv_hart *h, struct vm_state *s);
int rv_hart_load(struct rv_hart *h, struct vm_state *s, bool apply, struct vs_err *err);
void rv_core_after_load(struct rv_core *core);

/*
 * The RAM pages the harts used lately, for a snapshot's list of pages that
 * a restore makes resident before the guest runs (docs/snapshot-format.md,
 * HOT): the pages in their soft TLBs and the page-table pages that
 * translate them.  Guest physical page addresses, sorted, each once, with
 * RV_RECENT_WRITTEN set when a write TLB held the page; at most max.
 * Harts stopped (a safe point).
 */
#define RV_RECENT_WRITTEN 1ULL
unsigned rv_core_recent_pages(struct rv_core *core, uint64_t *out, unsigned max);

/*
 * Dirty page tracking of the first RAM region (guest RAM) for diff
 * snapshots and migration (lib/vm/cpu/dirty.c).  Every write path sets the
 * page's bit: interpreter and JIT stores (a tracked page gets no write TLB
 * entry until its first store went through the slow path), page-table A/D
 * updates and device DMA (vm_bus_note_write).  The bitmap has one bit per
 * 4 KiB page; NULL while tracking is off.  Clear restarts the round.
 */
int rv_core_dirty_track(struct rv_core *core, bool on, struct vs_err *err);
const uint64_t *rv_core_dirty_bitmap(const struct rv_core *core);
void rv_core_dirty_clear(struct rv_core *core);

/*
 * Compressed-instruction expansion (RVC, unprivileged spec chapter "C"):
 * returns the equivalent 32-bit instruction, or 0 if illegal/reserved.
 */
uint32_t rv_expand_compressed(uint16_t insn);

#endif
