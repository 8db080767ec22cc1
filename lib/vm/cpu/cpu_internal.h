/*
 * cpu_internal.h - what the files of lib/vm/cpu share: the micro-op and
 * decoded-block formats, the shared core, and the slow paths.
 *
 * Decoded code: a block is the decoded form of straight-line guest code that
 * starts at one guest physical address, stays in its 4 KiB page, and ends
 * at the first control transfer, system instruction, CSR access or after
 * RV_BLOCK_MAX instructions; a 32-bit instruction whose upper half lies on
 * the next virtual page may end it (cache.c, rv_block.paddr2), the block
 * then depending on two physical pages.  It is an array of micro-ops, each
 * carrying its handler (a computed-goto label in exec.c, struct rv_uop) and
 * its operands already extracted, so a future JIT can translate the same
 * array.  The last micro-op of every block is an END op that falls through
 * to the next pc.
 *
 * Writes to x0 go to x[32] (the decoder rewrites rd=0), so handlers never test
 * for x0.
 */
#ifndef VESSEL_LIB_VM_CPU_INTERNAL_H
#define VESSEL_LIB_VM_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vessel/vm/cpu.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Bit casts between FP registers' raw bits and host floats (exec.c's FP fast
 * path and fpu.c). */
static inline uint32_t fp_f2u(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static inline float fp_u2f(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static inline uint64_t fp_d2u(double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	return u;
}

static inline double fp_u2d(uint64_t u)
{
	double d;
	memcpy(&d, &u, 8);
	return d;
}

#define RV_PAGE_SHIFT 12
#define RV_PAGE_SIZE  4096ULL
#define RV_PAGE_MASK  (~(RV_PAGE_SIZE - 1))

#define RV_BLOCK_MAX 64
#define RV_ANNEX_MAX 3 /* rv_block.annex */

/* The baseline JIT (jit.c) exists on x86-64 hosts only. */
#if defined(__x86_64__)
#define RV_JIT 1
#else
#define RV_JIT 0
#endif
/*
 * Block executions before translation (tiering: interpret first, translate
 * what is hot).  Freshly exec'd guest code mostly runs a few dozen times:
 * 256 instead of 32 took 100 fork+exec of /bin/true from 1.21/1.06 to
 * 0.97/1.01 host CPU seconds with gzip and a shell loop unchanged.
 */
#define RV_JIT_THRESHOLD 256
#define RV_JIT_ARENA	 (32ULL << 20) /* bytes of host code */

/* Ops that own a handler label in exec.c. */
// clang-format off
#define RV_INT_OPS(X) \
	X(ILLEGAL) X(END) X(LUI) X(AUIPC) X(JAL) X(JALR) X(BEQ) X(BNE) X(BLT) X(BGE) \
	X(BLTU) X(BGEU) X(LB) X(LH) X(LW) X(LD) X(LBU) X(LHU) X(LWU) X(SB) X(SH) X(SW) \
	X(SD) X(ADDI) X(SLTI) X(SLTIU) X(XORI) X(ORI) X(ANDI) X(SLLI) X(SRLI) X(SRAI) \
	X(ADD) X(SUB) X(SLL) X(SLT) X(SLTU) X(XOR) X(SRL) X(SRA) X(OR) X(AND) X(ADDIW) \
	X(SLLIW) X(SRLIW) X(SRAIW) X(ADDW) X(SUBW) X(SLLW) X(SRLW) X(SRAW) X(MUL) X(MULH) \
	X(MULHSU) X(MULHU) X(DIV) X(DIVU) X(REM) X(REMU) X(MULW) X(DIVW) X(DIVUW) X(REMW) \
	X(REMUW) X(FENCE) X(FENCE_I) X(ECALL) X(EBREAK) X(MRET) X(SRET) X(WFI) \
	X(SFENCE_VMA) X(CSR) X(AMO) X(FLW) X(FLD) X(FSW) X(FSD) X(FP)

/* FP ops: all share the FP label, which calls rv_fp_exec(). */
#define RV_FP_OPS(X) \
	X(FADD_S) X(FSUB_S) X(FMUL_S) X(FDIV_S) X(FSQRT_S) X(FSGNJ_S) X(FSGNJN_S) \
	X(FSGNJX_S) X(FMIN_S) X(FMAX_S) X(FCVT_W_S) X(FCVT_WU_S) X(FCVT_L_S) X(FCVT_LU_S) \
	X(FMV_X_W) X(FEQ_S) X(FLT_S) X(FLE_S) X(FCLASS_S) X(FCVT_S_W) X(FCVT_S_WU) \
	X(FCVT_S_L) X(FCVT_S_LU) X(FMV_W_X) X(FMADD_S) X(FMSUB_S) X(FNMSUB_S) X(FNMADD_S) \
	X(FADD_D) X(FSUB_D) X(FMUL_D) X(FDIV_D) X(FSQRT_D) X(FSGNJ_D) X(FSGNJN_D) \
	X(FSGNJX_D) X(FMIN_D) X(FMAX_D) X(FCVT_W_D) X(FCVT_WU_D) X(FCVT_L_D) X(FCVT_LU_D) \
	X(FMV_X_D) X(FEQ_D) X(FLT_D) X(FLE_D) X(FCLASS_D) X(FCVT_D_W) X(FCVT_D_WU) \
	X(FCVT_D_L) X(FCVT_D_LU) X(FMV_D_X) X(FMADD_D) X(FMSUB_D) X(FNMSUB_D) X(FNMADD_D) \
	X(FCVT_S_D) X(FCVT_D_S)
// clang-format on

#define RV_ENUM(n) RV_OP_##n,
enum rv_opcode { RV_INT_OPS(RV_ENUM) RV_OP_FP_FIRST_, RV_FP_OPS(RV_ENUM) RV_OP_COUNT };
#undef RV_ENUM

/*
 * One decoded instruction, 24 bytes.  Its handler is a label in exec.c's
 * rv_hart_run, kept as the label's distance from op_JIT's (hoff; GCC's
 * `&&label - &&base` idiom) rather than as an 8-byte address: decoded
 * blocks are most of what a VMM holds beyond guest RAM, and a uop of 24
 * bytes instead of 32 takes a sixth off a typical block.  op_JIT's own
 * distance is 0, which is how jit.c marks a translated block.
 */
struct rv_uop {
	int32_t hoff; /* handler label - op_JIT label (set when the block is published) */
	uint16_t opc; /* enum rv_opcode */
	uint8_t rd, rs1, rs2, rs3;
	uint8_t rm;   /* FP rounding mode field; AMO: funct5 */
	uint8_t len;  /* 2 or 4 */
	uint16_t off; /* byte offset of the instruction inside its block */
	uint32_t raw; /* instruction bits (32-bit form for RVC: original 16 bits) */
	int32_t imm;
};
_Static_assert(sizeof(struct rv_uop) == 24, "rv_uop size");

/* A remembered successor: valid while the hart's chain_key equals key. */
struct rv_chain {
	struct rv_block *b;
	uint64_t vpc, key;
};

struct rv_hart;
struct rv_jit_run;
/*
 * A translated block (jit.c): returns 0/1 = left through chain slot 0/1,
 * 2+i = op i trapped, RV_JIT_INTERPRET+i = interpret on from op i.
 */
#define RV_JIT_INTERPRET 128
typedef int (*rv_jit_fn)(struct rv_hart *h, uint64_t bpc, struct rv_jit_run *r);

/* What generated code reads besides the hart (exec.c fills it per call). */
struct rv_jit_run {
	struct rv_tlb_entry *tlbr, *tlbw; /* data TLBs of the effective privilege */
	int64_t left;			/* budget left; blocks completed in host code subtract n */
	struct rv_block *b;		/* out: block that returned (chains move on) */
	uint64_t bpc;			/* out: its virtual pc */
	struct rv_jcache_entry *jcache; /* the hart's jump cache (indirect jumps) */
};

/*
 * The direct links of a translated block (jit.c), in the
 * cache line before its code: for chain slot k, the rel32 field of the
 * jump its exit takes once linked (NULL: the exit has none) and the value
 * that sends the jump to the exit's slow path (unlinked).
 */
struct rv_jit_links {
	uint8_t *rel[2];
	int32_t unlinked[2];
};

struct rv_block {
	uint64_t paddr;			 /* guest physical address of the first instruction */
	struct rv_chain chain[2];	 /* [0]: taken branch / jump, [1]: fall-through */
	struct rv_block *hnext, **hprev; /* hash chain (doubly linked for unlinking) */
	struct rv_block *pnext;		 /* next block decoded from the same page */
	uint32_t n;			 /* guest instructions (uops before END) */
	uint32_t bytes;			 /* bytes of guest code covered */
	uint32_t hot;			 /* executions left before translation (jit.c); 0: none */
	/*
	 * Micro-ops after END (u[n + 1 ...]): the instructions a last
	 * conditional branch skips forward over, when it skips at most
	 * RV_ANNEX_MAX integer ALU instructions of its page and lands right
	 * after them (cache.c).  The interpreter never runs them (the branch
	 * ends the block); jit.c runs them under the branch's condition and
	 * goes on at the target.  bytes covers them.
	 */
	uint32_t annex;
	rv_jit_fn jit;	 /* host code, or NULL while interpreted */
	void *jit_inner; /* entry from other translated blocks */
	/* direct links of a translated block (jit.c): the jumps its exits
	 * through slot 0 and 1 patch to go straight to a target in its page;
	 * undone (rv_jit_unlink) when the block is invalidated */
	struct rv_jit_links *jit_link;
	/*
	 * A block whose last instruction straddles into the next virtual page
	 * (cache.c): the physical address of that page, where the
	 * instruction's upper half lies, or 0.  The block is then also on that
	 * page's straddlers list (snext), so a store there drops it; it is
	 * found (hash, jump cache) only while the next virtual page still
	 * translates there, and never the target of a direct link (jit.c).
	 */
	uint64_t paddr2;
	struct rv_block *snext;
	struct rv_uop u[];
};

/* What the CPU tracks per 4 KiB page of RAM (allocated per RAM region). */
#define RV_PAGE_CODE 1 /* decoded blocks exist for this page */

struct rv_page {
	uint64_t code_mask;	 /* 64-byte chunks covered by decoded blocks */
	struct rv_block *blocks; /* blocks decoded from this page, via pnext */
	/* live blocks of other pages whose last instruction ends in this
	 * one (rv_block.paddr2), via snext */
	struct rv_block *straddlers;
	uint8_t flags;
};

/* The block hash (cache.c) starts at RV_HASH_MIN_BITS after every flush
 * and doubles while it holds more than two blocks a bucket, up to
 * RV_HASH_BITS: an idle guest's few blocks keep 8 KiB of it resident, not
 * the 512 KiB its random buckets would touch at full size. */
#define RV_HASH_BITS	 16
#define RV_HASH_MIN_BITS 10
#define RV_DEAD_PADDR	 (~1ULL) /* rv_block.paddr of an invalidated block */
#define RV_STRADDLE_N	 8
/* rv_core_trim: idle this long after the last flush (doubling after each
 * trim, up to RV_TRIM_MAX_NS), with this much cached */
#define RV_TRIM_AFTER_NS  (1000000000ULL)
#define RV_TRIM_MAX_NS	  (32ULL * 1000000000ULL)
#define RV_TRIM_MIN_BYTES (256U << 10)
/* Jump-cache entries per hart (24 bytes each, a power of two): 4096 (96 KiB
 * resident at most) instead of 16384 (384 KiB) took ~0.5 MiB off the memory
 * overhead of an idle 1-hart VM, with no loss beyond the noise in bench/cpu
 * (interp, qsort, list, nbody, sieve) or bench/boot (boot, CPU workload),
 * interleaved runs; figures in docs/vessel-vmm.md. */
#define RV_JCACHE_SIZE 4096
/* Decoded-block budget after a trim (cache.c: arena_cap) and the size of
 * the filter of the blocks the last flush dropped */
#define RV_ARENA_MIN  (1024U << 10)
#define RV_GHOST_BITS 32768

/* Valid while key equals the hart's chain_key (same privilege, no flush since). */
struct rv_jcache_entry { /* laid out as struct rv_chain (jit.c reads both alike) */
	struct rv_block *b;
	uint64_t vpc, key;
};

/*
 * Data TLB sets (rv_hart.tlb[i]): U, S and M use their privilege's index; S
 * with mstatus.SUM set uses index 2 (unused by privileges: H is not
 * implemented), so toggling SUM, as Linux does around every user copy,
 * switches sets instead of flushing.
 */
#define RV_TLB_SUM 2
/* A data TLB entry evicted from index i moves to i ^ RV_TLB_PAIR (mmu.c). */
#define RV_TLB_PAIR (RV_TLB_SIZE / 2)
/* Bit 0 of an execute-TLB entry's tlb_ppage: the translation is not global. */
#define RV_TLB_LOCAL 1ULL

/* How rv_hart_run() must check (rv_hart_ext.dbg, debug.c). */
#define RV_DBG_BLOCKS 1 /* look at each block's range before running it */
#define RV_DBG_INSNS  2 /* run one checked instruction at a time */
#define RV_DBG_MAXR   (RV_NTRIGGERS + RV_DBG_MAXBP)
#define RV_DBG_MAXBP  64 /* debugger breakpoints + watchpoints per core */

/* Requests another thread leaves a hart in parallel mode (rv_hart_ext.req,
 * served by the hart itself at its next block boundary, rv_serve_requests). */
#define RV_REQ_CHAINS 1 /* decoded code was invalidated: new chain keys */
#define RV_REQ_WSCAN  2 /* a page became code: drop write-TLB entries to flagged pages */

struct rv_hart_ext {
	struct rv_jcache_entry jcache[RV_JCACHE_SIZE];
	uint32_t req;		  /* RV_REQ_* (atomic) */
	struct rv_block *scratch; /* parallel mode, arena full: one uncached instruction */
	unsigned dpriv;		  /* effective privilege for data accesses (MPRV) */
	unsigned dtlb;		  /* data TLB set: dpriv, or RV_TLB_SUM */
	/*
	 * Chain keys per privilege (rv_hart.chain_key is prkey[priv]): a trap or
	 * xRET switches keys, so chains and jump-cache entries made in a mode
	 * survive trips to another; a flush gives every mode a fresh key.
	 */
	uint64_t prkey[4];
	/*
	 * Per translated privilege (U, S): bloom filter of the virtual pages
	 * (bits 12-21) and range of the addresses block lookups went through
	 * under the privilege's current key: SFENCE.VMA of a page outside
	 * either leaves that privilege's chains and jump-cache entries alone.
	 */
	uint64_t xbloom[2][16];
	uint64_t xlo[2], xhi[2];
	/*
	 * An S-mode block lookup under the current S key went through a
	 * translation that is not global (PTE G bit, privileged spec "Sv32":
	 * global mappings exist in all address spaces): a satp write or
	 * SFENCE.VMA x0, asid then renews the S key too.  Kernel code is
	 * global, so its chains survive context switches.
	 */
	bool s_local;
	bool walk_global; /* out of rv_translate: the last walk met a G bit */
	bool fw_call;	  /* in M-mode, entered by a trap from S or U (trap.c) */
	/* Virtual range covered by superpage translations since the last full
	 * TLB flush (empty: sp_lo > sp_hi); SFENCE.VMA of an address inside it
	 * flushes everything (TLB entries are per 4 KiB page). */
	uint64_t sp_lo, sp_hi;

	/* debug.c: triggers and the debugger */
	uint8_t dbg; /* RV_DBG_* */
	bool halted; /* stopped by the debugger */
	bool step;   /* debugger single step: halt after one instruction */
	bool skip;   /* resuming at skip_pc: no debugger breakpoint there */
	uint64_t skip_pc;
	unsigned nexec; /* execute ranges that force RV_DBG_BLOCKS checks */
	uint64_t exec_lo[RV_DBG_MAXR], exec_hi[RV_DBG_MAXR];
	struct rv_block *dbg_block; /* the one instruction of a checked step */
	/* decoded instructions that straddle two pages, keyed by their bits
	 * (cache.c; RV_STRADDLE_N blocks of one op + END) */
	uint8_t *straddle;
	uint32_t straddle_raw[RV_STRADDLE_N];
	/* set by rv_debug_before() for rv_debug_after() */
	bool after_fire; /* a timing=1 trigger fires after the instruction */
	uint64_t after_tval;
	unsigned load_trigs; /* load-data triggers to compare with the result */
	uint64_t load_addr;
	unsigned load_size, load_rd;
	bool load_fp;
	bool watch_hit; /* a debugger watchpoint matched */
	struct rv_stop watch;
};

/* A debugger breakpoint or watchpoint (rv_core.bps). */
struct rv_debug_bp {
	uint8_t kind; /* enum rv_debug_kind */
	uint64_t addr, len;
};

struct rv_core {
	struct vm_bus *bus;
	unsigned nharts;
	struct rv_hart *harts[RV_MAX_HARTS];
	struct rv_hart_ext ext[RV_MAX_HARTS];
	uint64_t (*get_time)(void *opaque);
	void *time_opaque;
	struct rv_page *pages[VM_BUS_MAX_RAM];
	uint64_t npages[VM_BUS_MAX_RAM];

	struct rv_block **hash; /* 1 << RV_HASH_BITS reserved, 1 << hash_bits used */
	unsigned hash_bits;
	size_t hash_blocks; /* blocks inserted since the last flush */
	uint8_t *arena;
	size_t arena_size, arena_used;
	uint64_t flushes;	   /* number of full flushes (arena recycled) */
	uint64_t last_flush_ns;	   /* vs_now_ns() of the last trim (or creation) */
	uint64_t trims;		   /* idle trims (rv_core_trim) */
	uint64_t trim_interval_ns; /* from the last flush to the next trim */
	uint64_t key_counter;	   /* source of fresh rv_hart.chain_key values */

	/* Decoded-block budget (cache.c): the arena is recycled when it holds
	 * arena_cap bytes, unless the blocks decoded since the last decision
	 * were largely ones the last flush dropped (ghost): then the budget
	 * doubles (up to arena_size).  A trim sets it back to arena_min. */
	size_t arena_cap, arena_min;
	/* most of the arenas used since the last trim (resident, to give back) */
	size_t arena_hw, jit_hw;
	/* the arena's start made resident ahead of its writes (arena_populate);
	 * arena_populate_off: the kernel cannot (then pages fault in one by one) */
	size_t arena_populated;
	bool arena_populate_off;
	uint32_t decoded, redecoded; /* blocks since the last flush or growth */
	uint64_t key_floor;	     /* jump-cache entries with key <= this predate a flush */
	uint64_t ghost[RV_GHOST_BITS / 64]; /* paddr hashes of the blocks last flushed */

	/* JIT (jit.c): code arena recycled with the block arena; NULL = off. */
	uint8_t *jit_code;
	size_t jit_size, jit_used;
	bool jit_full;		/* arena full: flush at the next block lookup */
	uint32_t jit_threshold; /* initial rv_block.hot */
	uint64_t jit_blocks;	/* blocks translated so far (statistics) */
	uint64_t jit_bytes;	/* host code generated so far */
	uint64_t jit_links;	/* direct jumps patched so far (generated code, atomic) */
	uint64_t jit_rejected[RV_OP_COUNT]; /* hot blocks not translated, by first unsupported op */
	bool jit_stats;			    /* log the statistics when the core is freed */

	/* debugger (debug.c) */
	struct rv_debug_bp bps[RV_DBG_MAXBP];
	unsigned nbps;
	rv_stop_fn on_stop;
	void *stop_opaque;

	/* Dirty page tracking of RAM region 0 (dirty.c); NULL = off. */
	uint64_t *dirty;

	/* One-thread mode: the hart that ran last (rv_hart_run), or NULL. */
	struct rv_hart *last_ran;

	/* Parallel mode (rv_core_set_parallel): harts on their own threads. */
	bool parallel;
	void (*lock)(void *opaque);
	void (*unlock)(void *opaque);
	void *lock_opaque;
	bool flush_pending; /* a full flush waits for every hart to stop (atomic) */
	size_t chain_pre;   /* bytes before each block: the harts' chain slots */
	size_t block_align; /* arena blocks (chain slots included) are multiples of it */
};

/* dirty.c: while tracking, is the guest-physical `page` a page of RAM
 * region 0 that no store has reached since tracking started or was last
 * cleared?  Such a page gets no write entry in a soft TLB, so its first
 * store takes the slow path, which notes it (rv_phys_note_store). */
static inline bool rv_dirty_clean(const struct rv_core *core, uint64_t page)
{
	if (!core->dirty)
		return false;
	const struct vm_ram_region *r = &core->bus->ram[0];
	if (page < r->base || page - r->base >= r->size)
		return false;
	uint64_t i = (page - r->base) >> RV_PAGE_SHIFT;
	return !((core->dirty[i / 64] >> (i % 64)) & 1);
}

/* The shared state of the core (parallel mode only; no-ops otherwise). */
static inline void rv_lock(struct rv_core *core)
{
	if (unlikely(core->parallel))
		core->lock(core->lock_opaque);
}

static inline void rv_unlock(struct rv_core *core)
{
	if (unlikely(core->parallel))
		core->unlock(core->lock_opaque);
}

/* Chain slot k of block b for the hart whose chain_off is off (in
 * parallel mode each hart has its own, in a cache line of its own below
 * the block: hart i's at -RV_CHAIN_STRIDE * (i + 1); one-thread mode: the
 * block's own, off 0). */
#define RV_CHAIN_STRIDE 64
static inline struct rv_chain *rv_chain_slot(struct rv_block *b, intptr_t off, unsigned k)
{
	return (struct rv_chain *)((char *)&b->chain[k] + off);
}

/* Handler labels by opcode, as struct rv_uop.hoff: each label's distance
 * from op_JIT, the entry of translated blocks ([RV_OP_COUNT], 0). */
extern const int32_t *rv_exec_hoffs;

static inline int32_t rv_exec_hoff(unsigned opc)
{
	return rv_exec_hoffs[opc];
}

static inline struct rv_hart_ext *rv_ext(struct rv_hart *h)
{
	return &h->core->ext[h->hartid];
}

/*
 * Does this FENCE order earlier stores before later loads (pred has W or O,
 * succ has R or I, not FENCE.TSO)?  That is the one ordering an x86-TSO
 * host does not keep by itself (store buffering): in parallel mode such a
 * fence is a host full barrier (mfence); every other fence is free.
 */
static inline bool rv_fence_wr(uint32_t raw)
{
	return (raw >> 28) != 8 && (raw & (5U << 24)) && (raw & (5U << 21));
}

/* Forget the chains and jump-cache entries the hart made in privilege p. */
static inline void rv_new_priv_key(struct rv_hart *h, unsigned p)
{
	struct rv_hart_ext *ext = rv_ext(h);
	ext->prkey[p & 3] = __atomic_add_fetch(&h->core->key_counter, 1, __ATOMIC_RELAXED);
	if (p <= RV_PRIV_S) {
		memset(ext->xbloom[p], 0, sizeof(ext->xbloom[p]));
		ext->xlo[p] = ~0ULL;
		ext->xhi[p] = 0;
		if (p == RV_PRIV_S)
			ext->s_local = false;
	}
	h->chain_key = ext->prkey[h->priv & 3];
}

/* The hart's translation context changed: forget every chain and jump-cache
 * entry it made, in every privilege. */
static inline void rv_new_chain_key(struct rv_hart *h)
{
	for (unsigned p = 0; p < 4; p++)
		rv_new_priv_key(h, p);
}

/*
 * A block lookup at pc in the current privilege went through the execute
 * TLB entry whose physical page field is ppage_field (bit 0: the
 * translation is not global): remember what a later SFENCE.VMA or satp
 * write must renew.
 */
static inline void rv_note_fetch(struct rv_hart *h, uint64_t pc, uint64_t ppage_field)
{
	unsigned p = h->priv;
	if (p > RV_PRIV_S)
		return;
	struct rv_hart_ext *ext = rv_ext(h);
	uint64_t vpn = pc >> 12;
	ext->xbloom[p][(vpn >> 6) & 15] |= 1ULL << (vpn & 63);
	if (pc < ext->xlo[p])
		ext->xlo[p] = pc;
	if (pc > ext->xhi[p])
		ext->xhi[p] = pc;
	if (p == RV_PRIV_S && (ppage_field & RV_TLB_LOCAL))
		ext->s_local = true;
}

/* trap.c */
void rv_trap(struct rv_hart *h, uint64_t cause, uint64_t tval);
bool rv_check_interrupts(struct rv_hart *h);
void rv_update_dpriv(struct rv_hart *h);
void rv_set_priv(struct rv_hart *h, unsigned priv);
void rv_do_mret(struct rv_hart *h);
void rv_do_sret(struct rv_hart *h);
uint64_t rv_pending_irqs(const struct rv_hart *h);

/* csr.c: returns 0, or -1 after raising illegal-instruction. */
int rv_csr_op(struct rv_hart *h, const struct rv_uop *u);
int rv_csr_read(struct rv_hart *h, unsigned csr, uint64_t *val);
int rv_csr_write(struct rv_hart *h, unsigned csr, uint64_t val);

/* mmu.c */
int rv_translate(struct rv_hart *h, uint64_t va, enum rv_access acc, unsigned priv, uint64_t *pa);
void rv_tlb_flush(struct rv_hart *h);
/* A satp write or SFENCE.VMA x0, asid: every TLB entry, the chains of U and
 * those of S unless S code only ran through global translations. */
void rv_tlb_flush_asid(struct rv_hart *h);
/* SFENCE.VMA with an address: drop what translates the page of va. */
void rv_tlb_flush_page(struct rv_hart *h, uint64_t va);
int rv_load_slow(struct rv_hart *h, uint64_t va, unsigned size, uint64_t *val);
int rv_store_slow(struct rv_hart *h, uint64_t va, unsigned size, uint64_t val);
int rv_amo(struct rv_hart *h, const struct rv_uop *u);
void rv_phys_note_store(struct rv_core *core, struct rv_hart *by, uint64_t pa, uint64_t len);
void rv_core_mark_page(struct rv_core *core, uint64_t pa, uint8_t flag);
/* The harts' jump caches made resident at once (after a snapshot load). */
void rv_core_populate_jcache(struct rv_core *core);
struct rv_page *rv_core_page(struct rv_core *core, uint64_t pa);

/* dirty.c: the first store to a tracked page sets its bit. */
void rv_dirty_note(struct rv_core *core, uint64_t page);

/* cache.c */
struct rv_block *rv_block_lookup(struct rv_hart *h, uint64_t pc);
/* Parallel mode: serve the requests other threads left in rv_hart_ext.req. */
void rv_serve_requests(struct rv_hart *h);
/* Parallel mode: ask every hart but self (NULL: all) to serve req. */
void rv_request_all(struct rv_core *core, struct rv_hart *self, uint32_t req);
void rv_cache_invalidate_page(struct rv_core *core, struct rv_page *pg);

/* decode.c */
void rv_decode(uint32_t insn, unsigned len, struct rv_uop *u);
bool rv_op_ends_block(unsigned opc);

/* jit.c */
int rv_jit_init(struct rv_core *core);
void rv_jit_free(struct rv_core *core);
/* Every block was dropped (cache.c): the JIT arena may be reused. */
void rv_jit_flush(struct rv_core *core);
/*
 * Translate b (all of it, or the ops before its first unsupported one); NULL
 * when it is not translated (b stays interpreted).  vpc: a virtual pc the
 * block runs at (names it in the perf map, VESSEL_JIT_PERFMAP).
 */
void *rv_jit_translate(struct rv_core *core, struct rv_block *b, uint64_t vpc);
/* b was invalidated: its exits no longer jump straight to other blocks. */
void rv_jit_unlink(struct rv_block *b);

/* debug.c */
void rv_debug_reset(struct rv_hart *h);
/* Recompute rv_hart_ext.dbg and the execute ranges (sets h->events). */
void rv_debug_update(struct rv_hart *h);
int rv_trig_csr_read(struct rv_hart *h, unsigned csr, uint64_t *val);
int rv_trig_csr_write(struct rv_hart *h, unsigned csr, uint64_t val);
/* Does [pc, pc + bytes) hold an execute trigger or breakpoint? */
bool rv_debug_exec_range(struct rv_hart *h, uint64_t pc, uint64_t bytes);
/*
 * Checks before one instruction at h->pc: debugger breakpoints (halt), then
 * triggers that fire before it (trap).  Returns the one-instruction block to
 * run, or NULL when the hart halted or trapped (fetch fault, trigger).
 */
struct rv_block *rv_debug_before(struct rv_hart *h);
/* After it (retired: it completed): timing=1 and load-data triggers,
 * watchpoints and single steps. */
void rv_debug_after(struct rv_hart *h, bool retired);

/* cache.c: decode the instruction at pc into blk (one op + END); NULL after
 * a fetch fault (raised). */
struct rv_block *rv_block_single(struct rv_hart *h, uint64_t pc, struct rv_block *blk);

/* fpu.c: returns 0, or -1 after raising an exception. */
int rv_fp_exec(struct rv_hart *h, const struct rv_uop *u);

#endif
