/*
 * exec.c - the interpreter: threaded dispatch over decoded blocks.
 *
 * rv_hart_run() finds the block for the current pc (per-hart jump cache,
 * then the shared block cache, see cache.c), and runs its micro-ops with
 * computed gotos: every handler ends by jumping straight to the next
 * micro-op's handler.  Loads and stores go through the soft TLB (mmu.c) in
 * line; a miss, a misaligned access, MMIO or a watched page takes the slow
 * path.  Interrupts, stop requests and WFI are looked at between blocks only:
 * anything that can make an interrupt deliverable (CSR writes, xRET, device
 * lines) sets h->events.
 *
 * A block translated by jit.c has its first handler replaced by op_JIT, which
 * calls the host code and leaves the block the way the interpreter would
 * (chain slot, trap, or the interpreter going on at an untranslated op).
 *
 * Trap protocol: before calling anything that may trap, a handler stores the
 * instruction's pc in h->pc; the callee that raises the exception redirects
 * h->pc to the trap vector and returns nonzero; the handler then jumps to
 * `trapped`, which retires the instructions that completed before it.
 *
 * Semantics: unprivileged spec chapters RV32I/RV64I, M, A (AMOs in mmu.c),
 * Zicsr (csr.c), Zifencei; privileged spec for ECALL/EBREAK/xRET/WFI/
 * SFENCE.VMA (trap.c).
 */
#include <math.h>

#include "cpu_internal.h"
#include "hostmath.h"

const int32_t *rv_exec_hoffs;

static inline uint64_t sext32(uint64_t v)
{
	return (uint64_t)(int64_t)(int32_t)v;
}

static inline uint64_t rv_div(uint64_t a, uint64_t b)
{
	if (b == 0)
		return ~0ULL;
	if ((int64_t)a == INT64_MIN && (int64_t)b == -1)
		return a;
	return (uint64_t)((int64_t)a / (int64_t)b);
}

static inline uint64_t rv_rem(uint64_t a, uint64_t b)
{
	if (b == 0)
		return a;
	if ((int64_t)a == INT64_MIN && (int64_t)b == -1)
		return 0;
	return (uint64_t)((int64_t)a % (int64_t)b);
}

static inline uint64_t rv_divw(uint64_t a, uint64_t b)
{
	int32_t x = (int32_t)a, y = (int32_t)b;
	if (y == 0)
		return ~0ULL;
	if (x == INT32_MIN && y == -1)
		return sext32((uint32_t)x);
	return sext32((uint32_t)(x / y));
}

static inline uint64_t rv_remw(uint64_t a, uint64_t b)
{
	int32_t x = (int32_t)a, y = (int32_t)b;
	if (y == 0)
		return sext32((uint32_t)x);
	if (x == INT32_MIN && y == -1)
		return 0;
	return sext32((uint32_t)(x % y));
}

/* Normal or zero (not subnormal, infinite or NaN). */
static inline bool fp_plain_d(uint64_t b)
{
	unsigned e = (unsigned)(b >> 52) & 0x7ff;
	return (e != 0 && e != 0x7ff) || (b << 1) == 0;
}

static bool fp_enabled(struct rv_hart *h)
{
	return (h->mstatus & MSTATUS_FS) != 0;
}

static void fp_dirty(struct rv_hart *h)
{
	h->mstatus |= MSTATUS_FS | MSTATUS_SD;
}

/* A hot block: translate it (under the core lock in parallel mode). */
static void jit_hot(struct rv_core *core, struct rv_block *b, uint64_t vpc)
{
	rv_lock(core);
	rv_jit_translate(core, b, vpc);
	rv_unlock(core);
}

/* Count an execution of b; true when it is time to translate it.  Harts in
 * parallel mode may count the same block at once: a lost count is harmless
 * and rv_jit_translate translates a block once.  The count stops at 0
 * (translated, or not to be translated): a block's header is shared by
 * the harts running it, and a store to it at every entry bounced its
 * cache line between their CPUs. */
static inline bool block_hot(struct rv_block *b)
{
	uint32_t hot = __atomic_load_n(&b->hot, __ATOMIC_RELAXED);
	if (likely(hot == 0))
		return false;
	__atomic_store_n(&b->hot, hot - 1, __ATOMIC_RELAXED);
	return hot == 1;
}

/* The first handler of a block (its distance from op_JIT): jit.c replaces it
 * while other harts may run the block (parallel mode). */
static inline int32_t first_hoff(const struct rv_block *b)
{
	return __atomic_load_n(&b->u[0].hoff, __ATOMIC_ACQUIRE);
}

/*
 * Guest memory accesses in here and in translated code are the guest's own
 * races in parallel mode (ordered by the guest's fences, which the x86-TSO
 * host honours): ThreadSanitizer is told not to look at this function.
 */
__attribute__((no_sanitize("thread"))) uint64_t rv_hart_run(struct rv_hart *h, uint64_t budget)
{
#define RV_LABEL(n)    [RV_OP_##n] = (int32_t)(&&op_##n - &&op_JIT),
#define RV_FP_LABEL(n) [RV_OP_##n] = (int32_t)(&&op_FP - &&op_JIT),
	static const int32_t hoffs[RV_OP_COUNT + 1] = { RV_INT_OPS(RV_LABEL) RV_FP_OPS(
							    RV_FP_LABEL)[RV_OP_COUNT] = 0 };
#undef RV_LABEL
#undef RV_FP_LABEL
	if (!h) {
		rv_exec_hoffs = hoffs;
		return 0;
	}
	/* a uop's handler: its hoff from here */
	const char *const hbase = (const char *)&&op_JIT;
#define HANDLER(hoff) ((const void *)(hbase + (hoff)))

	uint64_t *const x = h->x;
	struct rv_hart_ext *const ext = rv_ext(h);
	const intptr_t coff = h->chain_off; /* this hart's chain slots */
	uint64_t retired = 0;
	/* h->instret is brought up to date lazily: it is instret0 + retired. */
	uint64_t instret0 = h->instret;

	if (ext->halted)
		return 0;
	if (h->wfi) {
		if (!(rv_pending_irqs(h)))
			return 0;
		h->wfi = false;
	}
	/* one-thread mode: another hart ran since this one did, and its stores
	 * through the fast path may have hit this hart's reservation (mmu.c) */
	if (!h->core->parallel && h->core->last_ran != h) {
		if (h->core->last_ran)
			__atomic_store_n(&h->resv_valid, false, __ATOMIC_RELAXED);
		h->core->last_ran = h;
	}

	/* parallel mode: the slice runs M-mode code or none (rv_hart_run's
	 * contract); a trap or an xRET sets events, so the check below sees
	 * every change of privilege before a block of the new one runs */
	const bool split_m = h->core->parallel;
	const bool in_m = h->priv == RV_PRIV_M;
	struct rv_chain *pending = NULL; /* exit of the previous block, to be chained */
	bool dbg_ran = false;		 /* a checked instruction ran (debug.c) */
	uint64_t dbg_mark = 0;		 /* retired before it */
	while (retired < budget) {
		if (unlikely(dbg_ran)) {
			dbg_ran = false;
			rv_debug_after(h, retired != dbg_mark);
			if (ext->halted)
				break;
		}
		if (unlikely(__atomic_load_n(&h->events, __ATOMIC_RELAXED))) {
			pending = NULL;
			/* other threads set stop then events: clear events first, so a
			 * request that lands in between is seen now or at the next block */
			__atomic_store_n(&h->events, ext->dbg != 0, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&ext->req, __ATOMIC_RELAXED))
				rv_serve_requests(h);
			if (__atomic_load_n(&h->stop, __ATOMIC_SEQ_CST)) {
				__atomic_store_n(&h->events, 1, __ATOMIC_RELAXED);
				break;
			}
			/* debug checks keep every block boundary visible (no chaining) */
			if (!ext->step) /* a debugger step runs with interrupts masked */
				rv_check_interrupts(h);
			if (split_m && (h->priv == RV_PRIV_M) != in_m) {
				__atomic_store_n(&h->events, 1, __ATOMIC_RELAXED);
				break;
			}
		}
		uint64_t bpc = h->pc;
		struct rv_jcache_entry *je = &ext->jcache[(bpc >> 1) & (RV_JCACHE_SIZE - 1)];
		struct rv_block *b;
		if (unlikely(ext->dbg & RV_DBG_INSNS)) {
		checked:
			/* one instruction with trigger and debugger checks (debug.c) */
			pending = NULL;
			dbg_mark = retired;
			dbg_ran = true;
			b = rv_debug_before(h);
			if (!b) {
				if (ext->halted) {
					dbg_ran = false;
					break;
				}
				budget--; /* trapped: a trigger, or a fetch fault */
				continue;
			}
		} else if (likely(je->vpc == bpc && je->key == h->chain_key)) {
			b = je->b;
			if (unlikely(ext->dbg) && rv_debug_exec_range(h, bpc, b->bytes))
				goto checked;
		} else {
			uint64_t flushes = h->core->flushes;
			b = rv_block_lookup(h, bpc);
			if (flushes != h->core->flushes)
				pending = NULL; /* the arena was recycled under it */
			if (!b) {
				pending = NULL;
				budget--; /* fetch fault: h->pc is the trap vector */
				continue;
			}
			if (unlikely(ext->dbg) && rv_debug_exec_range(h, bpc, b->bytes))
				goto checked;
		}
		if (pending) {
			/* not a straddling, checked or uncached one */
			if (__atomic_load_n(&b->paddr, __ATOMIC_RELAXED) != ~0ULL) {
				pending->b = b;
				pending->vpc = bpc;
				pending->key = h->chain_key;
			}
			pending = NULL;
		}
		struct rv_tlb_entry *const tlbr = h->tlb[ext->dtlb][RV_ACC_READ];
		struct rv_tlb_entry *const tlbw = h->tlb[ext->dtlb][RV_ACC_WRITE];
		if (unlikely(block_hot(b)))
			jit_hot(h->core, b, bpc);
		const struct rv_uop *u = b->u;

#define PC     (bpc + u->off)
#define NEXT() goto *HANDLER((++u)->hoff)
#define JUMP(v)                  \
	do {                     \
		h->pc = (v);     \
		goto block_done; \
	} while (0)
/*
 * Leave the block towards v through chain slot k: when the slot remembers the
 * block that v led to under the same translation context (chain_key), jump
 * straight into it (interrupts and the budget are still honoured).
 */
#define CHAIN(k, v)                                                                               \
	do {                                                                                      \
		uint64_t t_ = (v);                                                                \
		struct rv_chain *c_ = rv_chain_slot(b, coff, k);                                  \
		retired += b->n;                                                                  \
		if (likely(c_->vpc == t_ && c_->key == h->chain_key &&                            \
			   !__atomic_load_n(&h->events, __ATOMIC_RELAXED) && retired < budget)) { \
			b = c_->b;                                                                \
			bpc = t_;                                                                 \
			if (unlikely(block_hot(b)))                                               \
				jit_hot(h->core, b, t_);                                          \
			u = b->u;                                                                 \
			goto *HANDLER(first_hoff(b));                                             \
		}                                                                                 \
		h->pc = t_;                                                                       \
		pending = c_;                                                                     \
		goto next_block;                                                                  \
	} while (0)
#define RS1 x[u->rs1]
#define RS2 x[u->rs2]
#define RD  x[u->rd]
#define IMM ((uint64_t)(int64_t)u->imm)
#define TRAP(c, v)                    \
	do {                          \
		h->pc = PC;           \
		rv_trap(h, (c), (v)); \
		goto trapped;         \
	} while (0)

#define LOAD(name, type, size)                                                  \
	op_##name:                                                              \
	{                                                                       \
		uint64_t va = RS1 + IMM;                                        \
		struct rv_tlb_entry *e = &tlbr[(va >> 12) & (RV_TLB_SIZE - 1)]; \
		if (likely(e->vtag == (va & (RV_PAGE_MASK | ((size)-1))))) {    \
			RD = (uint64_t) * (const type *)(e->addend + va);       \
		} else {                                                        \
			uint64_t v;                                             \
			h->pc = PC;                                             \
			if (rv_load_slow(h, va, (size), &v))                    \
				goto trapped;                                   \
			RD = (uint64_t)(type)v;                                 \
		}                                                               \
		NEXT();                                                         \
	}

#define STORE(name, type, size)                                                 \
	op_##name:                                                              \
	{                                                                       \
		uint64_t va = RS1 + IMM;                                        \
		struct rv_tlb_entry *e = &tlbw[(va >> 12) & (RV_TLB_SIZE - 1)]; \
		if (likely(e->vtag == (va & (RV_PAGE_MASK | ((size)-1))))) {    \
			*(type *)(e->addend + va) = (type)RS2;                  \
		} else {                                                        \
			h->pc = PC;                                             \
			if (rv_store_slow(h, va, (size), RS2))                  \
				goto trapped;                                   \
		}                                                               \
		NEXT();                                                         \
	}

#define ALU(name, expr)      \
	op_##name:           \
	{                    \
		RD = (expr); \
		NEXT();      \
	}

/* A branch always ends its block: both ways are chained. */
#define BRANCH(name, cond)                  \
	op_##name:                          \
	{                                   \
		if (cond)                   \
			CHAIN(0, PC + IMM); \
		CHAIN(1, PC + u->len);      \
	}

		goto *HANDLER(first_hoff(b));

	op_JIT : {
		/* A translated block (jit.c): same exits as the interpreter's. */
		struct rv_jit_run jr = { tlbr, tlbw, (int64_t)(budget - retired),
					 b,    bpc,  ext->jcache };
		int k = b->jit(h, bpc, &jr);
		retired = budget - (uint64_t)jr.left; /* blocks completed in host code */
		b = jr.b;
		bpc = jr.bpc;
		if (k >= RV_JIT_INTERPRET) { /* interpret on from op k - RV_JIT_INTERPRET */
			u = b->u + (k - RV_JIT_INTERPRET);
			/* by opcode: op 0's own slot names op_JIT (an FP op may
			 * hand its block's first op back, jit.c emit_fp) */
			goto *HANDLER(hoffs[u->opc]);
		}
		if (k >= 2) {
			u = b->u + (k - 2);
			goto trapped;
		}
		if (k == 0)
			CHAIN(0, h->pc);
		CHAIN(1, h->pc);
	}
	op_ILLEGAL:
		TRAP(RV_EXC_ILLEGAL, u->raw);
	op_END:
		CHAIN(1, PC);
	op_LUI:
		RD = IMM;
		NEXT();
	op_AUIPC:
		RD = PC + IMM;
		NEXT();
	op_JAL:
		RD = PC + u->len;
		CHAIN(0, PC + IMM);
	op_JALR : {
		uint64_t t = (RS1 + IMM) & ~1ULL;
		RD = PC + u->len;
		CHAIN(0, t);
	}
		BRANCH(BEQ, RS1 == RS2)
		BRANCH(BNE, RS1 != RS2)
		BRANCH(BLT, (int64_t)RS1 < (int64_t)RS2)
		BRANCH(BGE, (int64_t)RS1 >= (int64_t)RS2)
		BRANCH(BLTU, RS1 < RS2)
		BRANCH(BGEU, RS1 >= RS2)
		LOAD(LB, int8_t, 1)
		LOAD(LH, int16_t, 2)
		LOAD(LW, int32_t, 4)
		LOAD(LD, uint64_t, 8)
		LOAD(LBU, uint8_t, 1)
		LOAD(LHU, uint16_t, 2)
		LOAD(LWU, uint32_t, 4)
		STORE(SB, uint8_t, 1)
		STORE(SH, uint16_t, 2)
		STORE(SW, uint32_t, 4)
		STORE(SD, uint64_t, 8)
		ALU(ADDI, RS1 + IMM)
		ALU(SLTI, (int64_t)RS1 < (int64_t)IMM)
		ALU(SLTIU, RS1 < IMM)
		ALU(XORI, RS1 ^ IMM)
		ALU(ORI, RS1 | IMM)
		ALU(ANDI, RS1 & IMM)
		ALU(SLLI, RS1 << u->imm)
		ALU(SRLI, RS1 >> u->imm)
		ALU(SRAI, (uint64_t)((int64_t)RS1 >> u->imm))
		ALU(ADD, RS1 + RS2)
		ALU(SUB, RS1 - RS2)
		ALU(SLL, RS1 << (RS2 & 63))
		ALU(SLT, (int64_t)RS1 < (int64_t)RS2)
		ALU(SLTU, RS1 < RS2)
		ALU(XOR, RS1 ^ RS2)
		ALU(SRL, RS1 >> (RS2 & 63))
		ALU(SRA, (uint64_t)((int64_t)RS1 >> (RS2 & 63)))
		ALU(OR, RS1 | RS2)
		ALU(AND, RS1 & RS2)
		ALU(ADDIW, sext32(RS1 + IMM))
		ALU(SLLIW, sext32((uint32_t)RS1 << u->imm))
		ALU(SRLIW, sext32((uint32_t)RS1 >> u->imm))
		ALU(SRAIW, (uint64_t)(int64_t)((int32_t)RS1 >> u->imm))
		ALU(ADDW, sext32(RS1 + RS2))
		ALU(SUBW, sext32(RS1 - RS2))
		ALU(SLLW, sext32((uint32_t)RS1 << (RS2 & 31)))
		ALU(SRLW, sext32((uint32_t)RS1 >> (RS2 & 31)))
		ALU(SRAW, (uint64_t)(int64_t)((int32_t)RS1 >> (RS2 & 31)))
		ALU(MUL, RS1 * RS2)
		ALU(MULH, (uint64_t)(((__int128)(int64_t)RS1 * (__int128)(int64_t)RS2) >> 64))
		ALU(MULHSU,
		    (uint64_t)(((__int128)(int64_t)RS1 * (__int128)(unsigned __int128)RS2) >> 64))
		ALU(MULHU, (uint64_t)(((unsigned __int128)RS1 * (unsigned __int128)RS2) >> 64))
		ALU(DIV, rv_div(RS1, RS2))
		ALU(DIVU, RS2 ? RS1 / RS2 : ~0ULL)
		ALU(REM, rv_rem(RS1, RS2))
		ALU(REMU, RS2 ? RS1 % RS2 : RS1)
		ALU(MULW, sext32(RS1 * RS2))
		ALU(DIVW, rv_divw(RS1, RS2))
		ALU(DIVUW, (uint32_t)RS2 ? sext32((uint32_t)RS1 / (uint32_t)RS2) : ~0ULL)
		ALU(REMW, rv_remw(RS1, RS2))
		ALU(REMUW,
		    (uint32_t)RS2 ? sext32((uint32_t)RS1 % (uint32_t)RS2) : sext32((uint32_t)RS1))
	op_FENCE:
		if (unlikely(rv_fence_wr(u->raw)) && h->core->parallel)
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
		NEXT();
	op_FENCE_I:
		/* Stores already invalidate decoded code; just end the block. */
		JUMP(PC + u->len);
	op_ECALL:
		TRAP(h->priv == RV_PRIV_M   ? RV_EXC_ECALL_M
		     : h->priv == RV_PRIV_S ? RV_EXC_ECALL_S
					    : RV_EXC_ECALL_U,
		     0);
	op_EBREAK:
		TRAP(RV_EXC_BREAKPOINT, PC);
	op_MRET:
		if (h->priv != RV_PRIV_M)
			TRAP(RV_EXC_ILLEGAL, u->raw);
		rv_do_mret(h);
		__atomic_store_n(&h->events, 1, __ATOMIC_RELAXED);
		goto block_done;
	op_SRET:
		if (h->priv == RV_PRIV_U || (h->priv == RV_PRIV_S && (h->mstatus & MSTATUS_TSR)))
			TRAP(RV_EXC_ILLEGAL, u->raw);
		rv_do_sret(h);
		__atomic_store_n(&h->events, 1, __ATOMIC_RELAXED);
		goto block_done;
	op_WFI:
		if (h->priv == RV_PRIV_U || (h->priv == RV_PRIV_S && (h->mstatus & MSTATUS_TW)))
			TRAP(RV_EXC_ILLEGAL, u->raw);
		h->pc = PC + u->len;
		if (!rv_pending_irqs(h)) {
			h->wfi = true;
			retired += b->n;
			break;
		}
		goto block_done;
	op_SFENCE_VMA:
		if (h->priv == RV_PRIV_U || (h->priv == RV_PRIV_S && (h->mstatus & MSTATUS_TVM)))
			TRAP(RV_EXC_ILLEGAL, u->raw);
		if (u->rs1)
			rv_tlb_flush_page(h, x[u->rs1]);
		else if (u->rs2)
			rv_tlb_flush_asid(h); /* one ASID: global translations stay */
		else
			rv_tlb_flush(h);
		JUMP(PC + u->len);
	op_CSR : {
		/* Always the last op of its block: retire the ones before it. */
		uint64_t before = (uint64_t)(u - b->u);
		retired += before;
		h->instret = instret0 + retired; /* counters must be exact here */
		h->pc = PC;
		if (rv_csr_op(h, u)) { /* per-hart state only: no lock in parallel mode */
			budget--;
			continue;
		}
		h->pc = PC + u->len;
		retired++;
		/* rv_csr_op counted the op (or wrote minstret instead of counting it) */
		instret0 = h->instret - retired;
		__atomic_store_n(&h->events, 1, __ATOMIC_RELAXED);
		continue;
	}
	op_AMO:
		h->pc = PC;
		if (rv_amo(h, u))
			goto trapped;
		NEXT();
	op_FLW:
	op_FLD : {
		if (unlikely(!fp_enabled(h)))
			TRAP(RV_EXC_ILLEGAL, u->raw);
		uint64_t va = RS1 + IMM, v;
		unsigned size = u->opc == RV_OP_FLW ? 4 : 8;
		struct rv_tlb_entry *e = &tlbr[(va >> 12) & (RV_TLB_SIZE - 1)];
		if (likely(e->vtag == (va & (RV_PAGE_MASK | (size - 1))))) {
			v = size == 4 ? *(const uint32_t *)(e->addend + va)
				      : *(const uint64_t *)(e->addend + va);
		} else {
			h->pc = PC;
			if (rv_load_slow(h, va, size, &v))
				goto trapped;
		}
		h->f[u->rd] = size == 4 ? (v | 0xffffffff00000000ULL) : v;
		fp_dirty(h);
		NEXT();
	}
	op_FSW:
	op_FSD : {
		if (unlikely(!fp_enabled(h)))
			TRAP(RV_EXC_ILLEGAL, u->raw);
		uint64_t va = RS1 + IMM, v = h->f[u->rs2];
		unsigned size = u->opc == RV_OP_FSW ? 4 : 8;
		struct rv_tlb_entry *e = &tlbw[(va >> 12) & (RV_TLB_SIZE - 1)];
		if (likely(e->vtag == (va & (RV_PAGE_MASK | (size - 1))))) {
			if (size == 4)
				*(uint32_t *)(e->addend + va) = (uint32_t)v;
			else
				*(uint64_t *)(e->addend + va) = v;
		} else {
			h->pc = PC;
			if (rv_store_slow(h, va, size, v))
				goto trapped;
		}
		NEXT();
	}
	op_FP : {
		/*
		 * In-line fast path for the hottest double-precision ops, same rule
		 * as fpu.c's: RNE, NX already accrued, normal/zero operands and a
		 * normal result (or an exact zero sum) can raise no other flag.
		 */
		unsigned opc = u->opc;
		if ((opc == RV_OP_FMADD_D || opc == RV_OP_FMUL_D || opc == RV_OP_FADD_D ||
		     opc == RV_OP_FSUB_D) &&
		    (h->fflags & 1) && (u->rm == 0 || (u->rm == 7 && h->frm == 0)) &&
		    (h->mstatus & MSTATUS_FS)) {
			uint64_t ab = h->f[u->rs1], bb = h->f[u->rs2], cb = h->f[u->rs3];
			if (fp_plain_d(ab) && fp_plain_d(bb) &&
			    (opc != RV_OP_FMADD_D || fp_plain_d(cb))) {
				double a = fp_u2d(ab), bv = fp_u2d(bb), r;
				if (opc == RV_OP_FMADD_D)
					r = hm_fma(a, bv, fp_u2d(cb));
				else if (opc == RV_OP_FMUL_D)
					r = a * bv;
				else if (opc == RV_OP_FADD_D)
					r = a + bv;
				else
					r = a - bv;
				uint64_t rb = fp_d2u(r);
				unsigned e = (unsigned)(rb >> 52) & 0x7ff;
				if ((e != 0 && e != 0x7ff) ||
				    ((rb << 1) == 0 &&
				     (opc == RV_OP_FADD_D || opc == RV_OP_FSUB_D))) {
					h->f[u->rd] = rb;
					fp_dirty(h);
					NEXT();
				}
			}
		}
		h->pc = PC;
		if (rv_fp_exec(h, u))
			goto trapped;
		NEXT();
	}

	trapped : {
		/* A trap costs budget even when nothing retired (trap loops end). */
		uint64_t done = (uint64_t)(u - b->u);
		retired += done;
		budget--;
		continue;
	}
	block_done:
		retired += b->n;
	next_block:;
	}
	if (dbg_ran)
		rv_debug_after(h, retired != dbg_mark);
	x[32] = 0;
	h->instret = instret0 + retired;
	return retired;
#undef PC
#undef NEXT
#undef HANDLER
#undef JUMP
#undef CHAIN
#undef RS1
#undef RS2
#undef RD
#undef IMM
#undef TRAP
#undef LOAD
#undef STORE
#undef ALU
#undef BRANCH
}
