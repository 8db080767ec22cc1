/*
 * jit.c - a baseline template JIT: hot decoded blocks become x86-64 code.
 *
 * A block (cache.c) counts down rv_block.hot every time the interpreter
 * enters it; at zero rv_jit_translate() turns the block's micro-ops into one
 * host function and points the block's first handler at exec.c's JIT entry,
 * which calls it.  Supported ops: integer ALU, the M extension, loads and
 * stores, FENCE, AMO/LR/SC (a call to rv_amo), the FP loads and stores,
 * FMV.X.D/FMV.D.X, FADD.D/FSUB.D/FMUL.D/FMADD.D (SSE2/FMA3 on the
 * interpreter's fast path; anything off it returns to the interpreter at
 * that op, see emit_fp), and at the end conditional branches, JAL, JALR.
 * A block is translated up to its first unsupported op (other FP ops:
 * calling fpu.c per op is slower than the interpreter; CSR, system) when at
 * least JIT_MIN_PREFIX ops precede it, the interpreter running the rest;
 * otherwise it stays interpreted.  The code lives in one arena
 * recycled together with the block arena (rv_core_flush); a translation dies
 * with its block (an invalidated block is never entered again, but may finish
 * running, exactly as in the interpreter).
 *
 * Generated function: int fn(struct rv_hart *h, uint64_t bpc, struct
 * rv_jit_run *r), bpc being the block's virtual pc (a block is keyed by
 * physical address and may run at several virtual ones).  Register use:
 * rbx = h (h->x[] is at offset 0), r12 = r->tlbr (the read TLB, the write
 * TLB following it), r13 = bpc; r itself and the budget r->left live in the
 * frame (FRAME_*); rax/rcx/rdx are scratch.  a0-a5 live in rsi, rdi, r8-r11 in every translated block (loaded
 * when exec.c calls in, written back when control returns to it and around
 * every call); up to three other guest registers used by the block live in
 * r14, r15 and rbp (loaded on the block's entry, written back when it is
 * left).  Return value:
 *   0 / 1  the block left through chain slot 0 (taken branch, jump) or 1
 *          (fall-through); h->pc holds the target; every instruction retired;
 *   2 + i  micro-op i trapped (h->pc is the trap vector, ops before i
 *          retired), exactly as the interpreter's `trapped` label;
 *   128 + i  ops before i ran (registers written back, none counted as
 *          retired yet): the interpreter goes on at op i, which is the first
 *          unsupported op of a block translated only up to it, or an FP op
 *          whose fast path does not apply (emit_fp, fp_guard; i may be 0).
 * Exits to the block's own page, a jump to its own start included, go
 * through direct links (exit_static): a block whose taken branch or jump
 * targets its own start loops in host code while r->left (the run budget,
 * decremented by the block's length per iteration, in a spare pool register
 * while it loops) stays positive and h->events is clear.  Within a block the
 * JIT tracks which registers hold sign-extended 32-bit values (known_after)
 * and leaves out the sign extensions they make redundant.
 *
 * Loads and stores use the hart's soft TLB in line (same entries and tag rule
 * as exec.c); a miss calls rv_load_slow / rv_store_slow with h->pc set to
 * the instruction, as the trap protocol of exec.c requires.
 *
 * VESSEL_JIT_PERFMAP=1: every translation is appended to /tmp/perf-PID.map
 * (perf's format for JIT code: "START SIZE NAME", hex, one a line), named
 * by the guest virtual and physical address of its block, so `perf report`
 * attributes time in generated code to guest code.  perf keeps one symbol
 * per address, so with the map on the arena is 1 GiB of address space
 * (MAP_NORESERVE) and a flush does not reuse it until it is full.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu_internal.h"
#include "hostmath.h"
#include "jit_x86.h"
#include "vessel/core/log.h"

#if RV_JIT

#define JIT_NREGS	  9
#define JIT_MAXSTUB	  RV_BLOCK_MAX
#define JIT_MARGIN	  (48 << 10)   /* arena space a block may need at most */
#define JIT_PERFMAP_ARENA (1ULL << 30) /* with VESSEL_JIT_PERFMAP (see above) */
/* A block with an unsupported op is translated up to it if at least this many
 * ops come first (the call from exec.c costs about as much as a few ops). */
#define JIT_MIN_PREFIX 3

/*
 * The stack frame of generated code (below the six saved registers; 16-byte
 * aligned for calls): 8 bytes of padding, the run budget (r->left, copied
 * in and out), r itself, and for a branch's annex (emit_annex) its
 * condition and the old values of the registers the annex writes.
 */
#define FRAME_LEFT 8
#define FRAME_RUN  16
#define FRAME_COND 24
#define FRAME_SAVE 32 /* RV_ANNEX_MAX slots */
#define FRAME_SIZE 56
/* r12 = r->tlbr, the read TLB; the write TLB of the same set follows it */
#define TLB_READ  0
#define TLB_WRITE ((int32_t)(RV_TLB_SIZE * sizeof(struct rv_tlb_entry)))
_Static_assert(offsetof(struct rv_hart, tlb[0][RV_ACC_WRITE]) -
		       offsetof(struct rv_hart, tlb[0][RV_ACC_READ]) ==
		   RV_TLB_SIZE * sizeof(struct rv_tlb_entry),
	       "write TLB after the read TLB");

/*
 * a0-a5 (x10-x15), the registers compiled code uses most, live in the same
 * host registers in every translated block, so chaining keeps them there;
 * each block gives its own most used other registers the rest of the pool.
 */
#define JIT_NGLOBAL 6
static const int8_t global_host[JIT_NGLOBAL] = { RSI, RDI, R8, R9, R10, R11 };
#define JIT_GLOBAL_FIRST 10
static const int8_t pool[JIT_NREGS - JIT_NGLOBAL] = { R14, R15, RBP };

static bool is_global(unsigned g)
{
	return g >= JIT_GLOBAL_FIRST && g < JIT_GLOBAL_FIRST + JIT_NGLOBAL;
}

struct stub {
	uint8_t *jne;	 /* rel32 field of the jump to the stub */
	uint8_t *access; /* the load or store, rax = host address */
	uint8_t *resume; /* where the stub returns */
	int32_t tlb_off; /* the TLB pointer in struct rv_jit_run */
	unsigned idx;	 /* micro-op index */
	uint32_t off;	 /* pc offset in the block */
	uint32_t info;
	bool store;
};

/* A jump to where the interpreter takes over at op idx (FP ops off their
 * fast path: see emit_fp). */
struct bail {
	uint8_t *jcc;
	unsigned idx;
};

struct jit {
	struct jit_asm a; /* the code being written */
	struct rv_block *b;
	int8_t map[33];	   /* host register of each guest register, or -1 */
	int8_t left_reg;   /* a self-loop's budget (r->left) in a free pool register, or -1 */
	bool written[33];  /* guest register written somewhere in the block */
	uint8_t known[33]; /* what the code so far guarantees of each register's value (K_*) */
	uint8_t *loop_top; /* after the register loads */
	uint8_t *epilogue_jmps[4 * JIT_MAXSTUB + 8];
	unsigned nepi;
	struct stub stubs[JIT_MAXSTUB];
	unsigned nstubs;
	struct bail bails[2 * JIT_MAXSTUB + 8];
	unsigned nbails;
	/* FP guards already emitted (they hold for the rest of the block) */
	bool fp_on, fp_nx, fp_rne, fp_dirty;
	bool parallel; /* the core's harts run at once: W->R fences are mfence */
	struct rv_core *core;
	struct rv_jit_links *links; /* the block's direct links (rv_block.jit_link) */
};

/*
 * Facts about a guest register's value that the ops already emitted in this
 * pass through the block guarantee (the block's entry, a self-loop's top
 * included, guarantees none): it equals its low 32 bits sign-extended, or it
 * is below 2^31 (and so both).  They spare the sign extension that RV64's
 * W ops and sext.w would otherwise cost: negw of a value below 2^31 is a
 * 64-bit neg, sext.w of a sign-extended value a copy.
 */
enum { K_SEXT = 1, K_SMALL = 3 }; /* 0 <= value < 2^31 (implies K_SEXT) */

static unsigned reads(unsigned opc);

static uint8_t known_after(const struct jit *j, const struct rv_uop *u)
{
	/* rs1 and rs2 name registers only for the ops that read them (others
	 * keep other fields there) */
	unsigned r = reads(u->opc);
	uint8_t k1 = (r & 1) ? j->known[u->rs1] : 0, k2 = (r & 2) ? j->known[u->rs2] : 0;
	switch (u->opc) {
	case RV_OP_LBU:
	case RV_OP_LHU:
	case RV_OP_SLTI:
	case RV_OP_SLTIU:
	case RV_OP_SLT:
	case RV_OP_SLTU: return K_SMALL;
	case RV_OP_ANDI: return u->imm >= 0 ? K_SMALL : k1;
	case RV_OP_ADDI:
	case RV_OP_ORI:
	case RV_OP_XORI:
		if (u->rs1 == 0) /* li */
			return u->imm >= 0 ? K_SMALL : K_SEXT;
		return u->opc != RV_OP_ADDI && u->imm >= 0 ? k1 : 0;
	case RV_OP_AND: return (k1 | k2) == K_SMALL ? K_SMALL : k1 & k2;
	case RV_OP_OR:
	case RV_OP_XOR: return k1 & k2;
	case RV_OP_SRLI: return u->imm >= 33 ? K_SMALL : 0;
	case RV_OP_SRLIW: return u->imm ? K_SMALL : K_SEXT;
	case RV_OP_LUI:
	case RV_OP_LB:
	case RV_OP_LH:
	case RV_OP_LW:
	case RV_OP_ADDIW:
	case RV_OP_SLLIW:
	case RV_OP_SRAIW:
	case RV_OP_ADDW:
	case RV_OP_SUBW:
	case RV_OP_SLLW:
	case RV_OP_SRLW:
	case RV_OP_SRAW:
	case RV_OP_MULW:
	case RV_OP_DIVW:
	case RV_OP_DIVUW:
	case RV_OP_REMW:
	case RV_OP_REMUW: return K_SEXT;
	default: return 0;
	}
}

/* Guest register g: its host register or h->x[g]. */
static struct opnd G(const struct jit *j, unsigned g) {
	return j->map[g] >= 0 ? R(j->map[g]) : M(RBX, (int32_t)(8 * g));
}

/* ---- block-level pieces ---- */

/* Which registers writeback() and reload() handle (a self-loop's budget
 * register counts as one of the block's own). */
enum { REGS_LOCAL = 1,
       REGS_GLOBAL = 2,
       REGS_ALL = 3 };

/* Store the block's own written registers and/or the global ones. */
static void writeback(struct jit *j, unsigned which)
{
	if ((which & REGS_LOCAL) && j->left_reg >= 0)
		mov_store(&j->a, M(RSP, FRAME_LEFT), j->left_reg);
	for (unsigned g = 1; g < 33; g++)
		if (j->map[g] >= 0 && (is_global(g) ? (which & REGS_GLOBAL)
						    : ((which & REGS_LOCAL) && j->written[g])))
			mov_store(&j->a, M(RBX, (int32_t)(8 * g)), j->map[g]);
}

/* Load the block's own registers and/or the global ones. */
static void reload(struct jit *j, unsigned which)
{
	if ((which & REGS_LOCAL) && j->left_reg >= 0)
		mov_load(&j->a, j->left_reg, M(RSP, FRAME_LEFT));
	for (unsigned g = 1; g < 33; g++)
		if (j->map[g] >= 0 && (which & (is_global(g) ? REGS_GLOBAL : REGS_LOCAL)))
			emit_rm(&j->a, F_W, 0x8b, j->map[g], M(RBX, (int32_t)(8 * g)));
}

static void jmp_epilogue(struct jit *j)
{
	uint8_t *f = jcc_fwd(&j->a, -1);
	if (j->nepi < sizeof(j->epilogue_jmps) / sizeof(j->epilogue_jmps[0]))
		j->epilogue_jmps[j->nepi++] = f;
	else
		j->a.overflow = true;
}

/* rcx = the hart's chain slot k of the block (parallel mode: at chain_off
 * from the block's; in one-thread mode chain_off is 0) */
static void chain_slot_rcx(struct jit *j, unsigned k)
{
	mov_imm64(&j->a, RCX, (uint64_t)(uintptr_t)&j->b->chain[k]);
	if (j->parallel)
		emit_rm(&j->a, F_W, 0x03, RCX,
			M(RBX, (int32_t)offsetof(struct rv_hart, chain_off)));
}

/*
 * Leave through chain slot k towards the pc in rax (the block's own registers
 * written back).
 * When the slot names a translated block under the current chain_key, no
 * event is pending and budget is left, jump straight into that block's inner
 * entry; otherwise return k to exec.c with h->pc = target.  An indirect
 * jump (probe) whose slot names another target looks the target up in the
 * hart's jump cache, under the same conditions, before returning.
 */
static void exit_rax(struct jit *j, unsigned k, bool probe, uint8_t *rel)
{
	struct opnd left = M(RSP, FRAME_LEFT);
	uint8_t *f0 = NULL;
	if (probe) {
		chain_slot_rcx(j, k);
		emit_rm(&j->a, F_W, 0x3b, RAX, M(RCX, (int32_t)offsetof(struct rv_chain, vpc)));
		uint8_t *hit = jcc_fwd(&j->a, CC_E);
		/* rcx = &jcache[(rax >> 1) & (RV_JCACHE_SIZE - 1)] (24-byte entries) */
		mov_load(&j->a, RCX, R(RAX));
		emit_rm(&j->a, F_W, 0xc1, 5, R(RCX)); /* shr rcx, 1 */
		b1(&j->a, 1);
		alu_imm(&j->a, 0, 4, R(RCX), RV_JCACHE_SIZE - 1); /* and ecx, mask */
		_Static_assert(sizeof(struct rv_jcache_entry) == 24, "jcache entry size");
		emit_rm(&j->a, F_W, 0x6b, RCX, R(RCX)); /* imul rcx, rcx, 24 */
		b1(&j->a, 24);
		mov_load(&j->a, RDX, M(RSP, FRAME_RUN));
		emit_rm(&j->a, F_W, 0x03, RCX,
			M(RDX, (int32_t)offsetof(struct rv_jit_run, jcache)));
		_Static_assert(
		    offsetof(struct rv_jcache_entry, vpc) == offsetof(struct rv_chain, vpc) &&
			offsetof(struct rv_jcache_entry, b) == offsetof(struct rv_chain, b) &&
			offsetof(struct rv_jcache_entry, key) == offsetof(struct rv_chain, key),
		    "a jump-cache entry reads as a chain slot");
		emit_rm(&j->a, F_W, 0x3b, RAX, M(RCX, (int32_t)offsetof(struct rv_chain, vpc)));
		f0 = jcc_fwd(&j->a, CC_NE);
		patch(&j->a, hit, j->a.p);
	} else {
		chain_slot_rcx(j, k);
		emit_rm(&j->a, F_W, 0x3b, RAX, M(RCX, (int32_t)offsetof(struct rv_chain, vpc)));
		f0 = jcc_fwd(&j->a, CC_NE);
	}
	uint8_t *f1 = f0;
	mov_load(&j->a, RDX, M(RBX, (int32_t)offsetof(struct rv_hart, chain_key)));
	emit_rm(&j->a, F_W, 0x3b, RDX, M(RCX, (int32_t)offsetof(struct rv_chain, key)));
	uint8_t *f2 = jcc_fwd(&j->a, CC_NE);
	emit_rm(&j->a, 0, 0x83, 7, M(RBX, (int32_t)offsetof(struct rv_hart, events))); /* cmp */
	b1(&j->a, 0);
	uint8_t *f3 = jcc_fwd(&j->a, CC_NE);
	mov_load(&j->a, RCX, M(RCX, (int32_t)offsetof(struct rv_chain, b)));
	mov_load(&j->a, RDX, M(RCX, (int32_t)offsetof(struct rv_block, jit_inner)));
	emit_rm(&j->a, F_W, 0x85, RDX, R(RDX)); /* test rdx, rdx */
	uint8_t *f4 = jcc_fwd(&j->a, CC_E);
	alu_imm(&j->a, F_W, 5, left, (int32_t)j->b->n); /* sub [r->left], n */
	uint8_t *f5 = jcc_fwd(&j->a, CC_LE);
	mov_load(&j->a, R13, R(RAX));
	if (rel) {
		/*
		 * A valid chain inside the page: jump there directly from now on,
		 * unless the target's last instruction straddles into the next
		 * page (rv_block.paddr2), whose translation a jump from this
		 * page cannot vouch for: the chain, checked each time, can.
		 */
		emit_rm(&j->a, F_W, 0x83, 7, M(RCX, (int32_t)offsetof(struct rv_block, paddr2)));
		b1(&j->a, 0); /* cmp qword [rcx + paddr2], 0 */
		uint8_t *straddles = jcc_fwd(&j->a, CC_NE);
		emit_rip(&j->a, F_W, 0x8d, RAX, rel + 4); /* lea rax, [the jump's end] */
		emit_rm(&j->a, F_W, 0xf7, 3, R(RAX));	  /* neg rax */
		emit_rm(&j->a, F_W, 0x03, RAX, R(RDX));	  /* add rax, rdx */
		emit_rip(&j->a, 0, 0x89, RAX, rel);	  /* mov [rel], eax */
		/* lock inc qword [&core->jit_links] (statistics; once per link) */
		mov_imm64(&j->a, RCX, (uint64_t)(uintptr_t)&j->core->jit_links);
		b1(&j->a, 0xf0);
		emit_rm(&j->a, F_W, 0xff, 0, M(RCX, 0));
		patch(&j->a, straddles, j->a.p);
	}
	emit_rm(&j->a, 0, 0xff, 4, R(RDX)); /* jmp rdx */
	patch(&j->a, f5, j->a.p);
	alu_imm(&j->a, F_W, 0, left, (int32_t)j->b->n); /* undo: the C side counts this exit */
	patch(&j->a, f1, j->a.p);
	patch(&j->a, f2, j->a.p);
	patch(&j->a, f3, j->a.p);
	patch(&j->a, f4, j->a.p);
	writeback(j, REGS_GLOBAL); /* back to exec.c: the global registers too */
	mov_store(&j->a, M(RBX, (int32_t)offsetof(struct rv_hart, pc)), RAX);
	emit_rm(&j->a, 0, 0xc7, 0, R(RAX)); /* mov eax, k */
	b4(&j->a, k);
	jmp_epilogue(j);
}

/* Does bpc + off lie in the block's own page (whatever virtual pc it runs at)? */
static bool same_page(const struct jit *j, int64_t off)
{
	int64_t t = (int64_t)(j->b->paddr & ~RV_PAGE_MASK) + off;
	return t >= 0 && t < (int64_t)RV_PAGE_SIZE;
}

/*
 * Leave through chain slot k towards bpc + off.
 *
 * Target in the block's own page: the
 * target's physical address is the block's page plus an offset, whatever
 * the translation context, since the page's translation is what the
 * block runs through now and cannot change while host code runs (satp,
 * SFENCE.VMA, privilege changes and traps all return to exec.c).  So the
 * exit ends in a jump (rel32) that first goes to its own slow path; once
 * the chain slot has been found valid there, the jump is patched to the
 * target's inner entry, and later exits go straight there checking only
 * events and the budget (a self-loop's jump goes to its loop top from
 * the start, its registers staying in host registers).  A block's jumps are
 * set back to their slow paths when it is invalidated (rv_jit_unlink,
 * cache.c), which kills every block of its page, targets included, at
 * once; a flush recycles them with the code.
 *
 * Parallel mode: the links are shared by the harts (a block is keyed by
 * its physical address, so a link is right for every hart) and patched
 * while other harts may run the block: the rel32 field is 4-byte aligned
 * (nop_align), so a patch or an unlink is one aligned store that
 * instruction fetch on another CPU sees whole, old or new (QEMU links its
 * translated blocks the same way).  Unlinking happens under the core lock
 * when another hart invalidates the page (a store to it); until a hart
 * running the page's blocks sees its events (set by the invalidation's
 * RV_REQ_CHAINS request, looked at before every linked jump) it may go on
 * running the dead blocks, or patch a dead block's jump again, exactly as
 * it may follow a chain slot made under its old chain key: RISC-V asks a
 * hart to see another hart's code writes only after a FENCE.I, and the
 * remote FENCE.I an SBI call sends arrives as an interrupt, an event.
 * Dead blocks are entered again only through chain slots and jump-cache
 * entries of those old keys; their code is reused only by a flush, with
 * every hart stopped.
 */
static void exit_static(struct jit *j, unsigned k, int64_t off)
{
	bool self = k == 0 && off == 0;
	bool direct = same_page(j, off) && !j->links->rel[k];
	if (!(direct && self))
		writeback(j, REGS_LOCAL);
	uint8_t *rel = NULL;
	if (direct) {
		/* the budget: a self-loop's own register while it loops, else
		 * the frame (written back above) */
		struct opnd left = self && j->left_reg >= 0 ? R(j->left_reg) : M(RSP, FRAME_LEFT);
		emit_rm(&j->a, 0, 0x83, 7, M(RBX, (int32_t)offsetof(struct rv_hart, events)));
		b1(&j->a, 0);
		uint8_t *f1 = jcc_fwd(&j->a, CC_NE);
		alu_imm(&j->a, F_W, 5, left, (int32_t)j->b->n); /* sub [r->left], n */
		uint8_t *f3 = jcc_fwd(&j->a, CC_LE);
		if (off)
			lea(&j->a, R13, R13, (int32_t)off);
		if (j->parallel) /* the rel32 field 4-aligned: patched by one store */
			nop_align(&j->a, 1);
		uint8_t *jmp = jcc_fwd(&j->a, -1);
		patch(&j->a, jmp, j->a.p); /* unlinked: on to the slow path */
		if (jmp) {
			j->links->rel[k] = jmp;
			memcpy(&j->links->unlinked[k], jmp, 4);
		}
		if (self) /* linked from the start */
			patch(&j->a, jmp, j->loop_top);
		else /* linked by exit_rax */
			rel = jmp;
		if (off)
			lea(&j->a, R13, R13, (int32_t)-off);
		patch(&j->a, f3, j->a.p);
		alu_imm(&j->a, F_W, 0, left,
			(int32_t)j->b->n); /* undo: the C side counts this exit */
		patch(&j->a, f1, j->a.p);
		if (self)
			writeback(j, REGS_LOCAL);
	}
	if (off >= INT32_MIN && off <= INT32_MAX) {
		lea(&j->a, RAX, R13, (int32_t)off);
	} else {
		mov_imm64(&j->a, RAX, (uint64_t)off);
		emit_rm(&j->a, F_W, 0x03, RAX, R(R13)); /* add rax, r13 */
	}
	exit_rax(j, k, false, rel);
}

/* ---- slow paths called from generated code ---- */

/* info: size | signed << 4 | JIT_INFO_FP | rd << 8 */
#define JIT_INFO_FP 32 /* FLW/FLD, FSW/FSD: rd/rs2 names an FP register */
static int jit_load(struct rv_hart *h, uint64_t va, uint64_t pc, uint32_t info)
{
	unsigned size = info & 15, rd = info >> 8;
	uint64_t v;
	h->pc = pc;
	if (rv_load_slow(h, va, size, &v))
		return 1;
	if (info & JIT_INFO_FP) { /* a single is NaN-boxed, as exec.c's FLW */
		h->f[rd] = size == 4 ? (v | 0xffffffff00000000ULL) : v;
		return 0;
	}
	if (size < 8) {
		unsigned sh = 64 - 8 * size;
		v = (info & 16) ? (uint64_t)((int64_t)(v << sh) >> sh) : (v << sh) >> sh;
	}
	h->x[rd] = v;
	return 0;
}

/* info: size | JIT_INFO_FP | rs2 << 8 */
static int jit_store(struct rv_hart *h, uint64_t va, uint64_t pc, uint32_t info)
{
	h->pc = pc;
	uint64_t v = (info & JIT_INFO_FP) ? h->f[info >> 8] : h->x[info >> 8];
	return rv_store_slow(h, va, info & 15, v) != 0;
}

/* AMO, LR, SC (mmu.c); h->pc is the instruction's, as exec.c sets it. */
static int jit_amo(struct rv_hart *h, const struct rv_uop *u, uint64_t pc, struct rv_jit_run *r)
{
	(void)r;
	h->pc = pc;
	return rv_amo(h, u) != 0;
}

/*
 * An op done by a C helper int fn(h, u, pc, r) (nonzero: it trapped): guest
 * registers are written back before and reloaded after the call.
 */
static void emit_call(struct jit *j, unsigned idx, const struct rv_uop *u,
		      int (*fn)(struct rv_hart *, const struct rv_uop *, uint64_t,
				struct rv_jit_run *))
{
	writeback(j, REGS_ALL);
	mov_load(&j->a, RDI, R(RBX));
	mov_imm64(&j->a, RSI, (uint64_t)(uintptr_t)u);
	lea(&j->a, RDX, R13, (int32_t)u->off);
	mov_load(&j->a, RCX, M(RSP, FRAME_RUN));
	mov_imm64(&j->a, RAX, (uint64_t)(uintptr_t)fn);
	emit_rm(&j->a, 0, 0xff, 2, R(RAX));   /* call rax */
	emit_rm(&j->a, 0, 0x85, RAX, R(RAX)); /* test eax, eax */
	uint8_t *ok = jcc_fwd(&j->a, CC_E);
	emit_rm(&j->a, 0, 0xc7, 0, R(RAX));
	b4(&j->a, 2 + idx);
	jmp_epilogue(j);
	patch(&j->a, ok, j->a.p);
	reload(j, REGS_ALL);
}

static void emit_stubs(struct jit *j)
{
	for (unsigned i = 0; i < j->nstubs; i++) {
		struct stub *s = &j->stubs[i];
		patch(&j->a, s->jne, j->a.p);
		/* the entry at the paired index (mmu.c tlb_alt): rcx = its
		 * offset, rdx = the tag looked for */
		_Static_assert(RV_TLB_PAIR * sizeof(struct rv_tlb_entry) == 0x800, "TLB pair");
		alu_imm(&j->a, 0, 6, R(RCX), 0x800); /* xor ecx, pair offset */
		emit_rm_index(&j->a, F_W, 0x3b, RDX, R12, RCX, s->tlb_off); /* cmp rdx, vtag */
		uint8_t *miss = jcc_fwd(&j->a, CC_NE);
		emit_rm_index(&j->a, F_W, 0x03, RAX, R12, RCX,
			      s->tlb_off + (int32_t)offsetof(struct rv_tlb_entry, addend));
		jmp_to(&j->a, -1, s->access);
		patch(&j->a, miss, j->a.p);
		writeback(j, REGS_ALL);
		mov_load(&j->a, RSI, R(RAX)); /* va */
		mov_load(&j->a, RDI, R(RBX));
		lea(&j->a, RDX, R13, (int32_t)s->off);
		emit_rm(&j->a, 0, 0xc7, 0, R(RCX)); /* mov ecx, info */
		b4(&j->a, s->info);
		mov_imm64(&j->a, RAX, (uint64_t)(uintptr_t)(s->store ? jit_store : jit_load));
		emit_rm(&j->a, 0, 0xff, 2, R(RAX));   /* call rax */
		emit_rm(&j->a, 0, 0x85, RAX, R(RAX)); /* test eax, eax */
		uint8_t *ok = jcc_fwd(&j->a, CC_E);
		emit_rm(&j->a, 0, 0xc7, 0, R(RAX));
		b4(&j->a, 2 + s->idx);
		jmp_epilogue(j);
		patch(&j->a, ok, j->a.p);
		reload(j, REGS_ALL);
		jmp_to(&j->a, -1, s->resume);
	}
}

/* ---- micro-ops ---- */

static bool op_in(unsigned opc, unsigned first, unsigned last)
{
	return opc >= first && opc <= last;
}

/* The RV_INT_OPS order these ranges rely on (cpu_internal.h). */
_Static_assert(RV_OP_LUI == RV_OP_END + 1 && RV_OP_JALR == RV_OP_JAL + 1 &&
		   RV_OP_FENCE == RV_OP_REMUW + 1 && RV_OP_LWU + 1 == RV_OP_SB &&
		   RV_OP_SRAI + 1 == RV_OP_ADD && RV_OP_SRAIW + 1 == RV_OP_ADDW,
	       "micro-op order");

/*
 * Translated: END through FENCE (control transfers, loads, stores, integer
 * ALU and M, in enum order), AMO/LR/SC, the FP loads and stores, FMV.X.D
 * and FMV.D.X, and FADD.D, FSUB.D, FMUL.D, FMADD.D with a static RNE or
 * dynamic rounding mode (emit_fp: the interpreter's in-line fast path in
 * host code; FMADD.D only with the host's FMA3, as hostmath.h).  Other FP
 * ops stay interpreted: calling fpu.c per op costs more than the interpreter.
 */
static bool supported(const struct rv_uop *u)
{
	unsigned opc = u->opc;
	if (op_in(opc, RV_OP_END, RV_OP_FENCE) || opc == RV_OP_AMO ||
	    op_in(opc, RV_OP_FLW, RV_OP_FSD) || opc == RV_OP_FMV_X_D || opc == RV_OP_FMV_D_X)
		return true;
	if (u->rm != 0 && u->rm != 7)
		return false;
	if (opc == RV_OP_FMADD_D)
		return hostmath_fma_soft == NULL;
	return opc == RV_OP_FADD_D || opc == RV_OP_FSUB_D || opc == RV_OP_FMUL_D;
}

_Static_assert(RV_OP_FLW + 1 == RV_OP_FLD && RV_OP_FLD + 1 == RV_OP_FSW &&
		   RV_OP_FSW + 1 == RV_OP_FSD,
	       "FP load/store order");

/* Which guest integer registers an op reads (bit 0: rs1, bit 1: rs2). */
static unsigned reads(unsigned opc)
{
	if (op_in(opc, RV_OP_FLW, RV_OP_FSD) || opc == RV_OP_FMV_D_X)
		return 1; /* the address, or FMV.D.X's source */
	if (opc > RV_OP_FP_FIRST_)
		return 0; /* FP registers only (FMV.X.D writes rd) */
	if (op_in(opc, RV_OP_END, RV_OP_JAL) || opc == RV_OP_FENCE)
		return 0; /* END, LUI, AUIPC, JAL, FENCE */
	if (opc == RV_OP_JALR || op_in(opc, RV_OP_LB, RV_OP_LWU) ||
	    op_in(opc, RV_OP_ADDI, RV_OP_SRAI) || op_in(opc, RV_OP_ADDIW, RV_OP_SRAIW))
		return 1;
	return 3; /* branches, stores, register-register ops, AMO */
}

/* Does the op write the integer register rd? */
static bool writes_rd(unsigned opc)
{
	if (op_in(opc, RV_OP_FLW, RV_OP_FSD) || opc > RV_OP_FP_FIRST_)
		return opc == RV_OP_FMV_X_D;
	switch (opc) {
	case RV_OP_END:
	case RV_OP_FENCE:
	case RV_OP_BEQ:
	case RV_OP_BNE:
	case RV_OP_BLT:
	case RV_OP_BGE:
	case RV_OP_BLTU:
	case RV_OP_BGEU:
	case RV_OP_SB:
	case RV_OP_SH:
	case RV_OP_SW:
	case RV_OP_SD: return false;
	default: return true;
	}
}

/* rax = rs1 + imm */
static void addr_rax(struct jit *j, const struct rv_uop *u)
{
	struct opnd s = G(j, u->rs1);
	if (s.r >= 0 && u->imm == 0) {
		mov_load(&j->a, RAX, s);
	} else if (s.r >= 0) {
		lea(&j->a, RAX, s.r, u->imm);
	} else {
		mov_load(&j->a, RAX, s);
		if (u->imm)
			alu_imm(&j->a, F_W, 0, R(RAX), u->imm);
	}
}

/* rcx = offset of the TLB entry for va in rax, compare its tag; returns
 * the miss jump.  tlb_off: TLB_READ or TLB_WRITE. */
static uint8_t *tlb_check(struct jit *j, int32_t tlb_off, unsigned size)
{
	/* rcx = ((va >> 12) & 255) * 16, the index bits shifted into place
	 * with one shift; the entry is at r12 + tlb_off + rcx */
	_Static_assert(sizeof(struct rv_tlb_entry) == 16, "TLB entry size");
	emit_rm(&j->a, 0, 0x8b, RCX, R(RAX)); /* mov ecx, eax */
	emit_rm(&j->a, 0, 0xc1, 5, R(RCX));   /* shr ecx, 8 */
	b1(&j->a, RV_PAGE_SHIFT - 4);
	alu_imm(&j->a, 0, 4, R(RCX), (RV_TLB_SIZE - 1) << 4); /* and ecx, 0xff0 */
	mov_load(&j->a, RDX, R(RAX));
	alu_imm(&j->a, F_W, 4, R(RDX), (int32_t)(uint32_t)(RV_PAGE_MASK | (size - 1)));
	emit_rm_index(&j->a, F_W, 0x3b, RDX, R12, RCX, tlb_off); /* cmp rdx, vtag */
	uint8_t *miss = jcc_fwd(&j->a, CC_NE);
	emit_rm_index(&j->a, F_W, 0x03, RAX, R12, RCX,
		      tlb_off + (int32_t)offsetof(struct rv_tlb_entry, addend));
	return miss;
}

static void add_stub(struct jit *j, uint8_t *miss, uint8_t *access, int32_t tlb_off, unsigned idx,
		     const struct rv_uop *u, uint32_t info, bool store)
{
	if (j->nstubs >= JIT_MAXSTUB) {
		j->a.overflow = true;
		return;
	}
	j->stubs[j->nstubs++] = (struct stub){ .jne = miss,
					       .access = access,
					       .resume = j->a.p,
					       .tlb_off = tlb_off,
					       .idx = idx,
					       .off = u->off,
					       .info = info,
					       .store = store };
}

static void emit_load(struct jit *j, unsigned idx, const struct rv_uop *u)
{
	static const struct {
		uint8_t size, sign;
		unsigned flags, op;
	} L[] = {
		[RV_OP_LB] = { 1, 1, F_W | F_0F, 0xbe }, [RV_OP_LH] = { 2, 1, F_W | F_0F, 0xbf },
		[RV_OP_LW] = { 4, 1, F_W, 0x63 },	 [RV_OP_LD] = { 8, 0, F_W, 0x8b },
		[RV_OP_LBU] = { 1, 0, F_0F, 0xb6 },	 [RV_OP_LHU] = { 2, 0, F_0F, 0xb7 },
		[RV_OP_LWU] = { 4, 0, 0, 0x8b },
	};
	unsigned size = L[u->opc].size;
	addr_rax(j, u);
	uint8_t *miss = tlb_check(j, TLB_READ, size);
	uint8_t *access = j->a.p;
	/* straight into rd's host register (a miss's stub reloads it) */
	int dr = j->map[u->rd] >= 0 ? j->map[u->rd] : RAX;
	emit_rm(&j->a, L[u->opc].flags, L[u->opc].op, dr, M(RAX, 0));
	mov_store(&j->a, G(j, u->rd), dr);
	add_stub(j, miss, access, TLB_READ, idx, u,
		 size | (unsigned)L[u->opc].sign << 4 | (unsigned)u->rd << 8, false);
}

static void emit_store(struct jit *j, unsigned idx, const struct rv_uop *u)
{
	unsigned size = u->opc == RV_OP_SB   ? 1
			: u->opc == RV_OP_SH ? 2
			: u->opc == RV_OP_SW ? 4
					     : 8;
	addr_rax(j, u);
	uint8_t *miss = tlb_check(j, TLB_WRITE, size);
	uint8_t *access = j->a.p;
	struct opnd v = G(j, u->rs2);
	int r = v.r;
	if (r < 0) {
		mov_load(&j->a, RDX, v);
		r = RDX;
	}
	if (size == 1)
		emit_rm(&j->a, F_REX, 0x88, r, M(RAX, 0));
	else
		emit_rm(&j->a, size == 2 ? F_66 : size == 8 ? F_W : 0, 0x89, r, M(RAX, 0));
	add_stub(j, miss, access, TLB_WRITE, idx, u, size | (unsigned)u->rs2 << 8, true);
}

/* ---- floating point ---- */

#define F_OFF(r)    ((int32_t)offsetof(struct rv_hart, f[r]))
#define MSTATUS_OFF ((int32_t)offsetof(struct rv_hart, mstatus))

/* A jump (condition cc) to where the interpreter goes on at op idx. */
static void bail_if(struct jit *j, int cc, unsigned idx)
{
	uint8_t *f = jcc_fwd(&j->a, cc);
	if (j->nbails < sizeof(j->bails) / sizeof(j->bails[0]))
		j->bails[j->nbails++] = (struct bail){ f, idx };
	else
		j->a.overflow = true;
}

/*
 * What the interpreter checks before an FP op, emitted once per block at the
 * first op that needs it: nothing in translated code changes mstatus.FS,
 * fflags or frm (the ops here raise no flag: see emit_fp), so a check holds
 * for the rest of the block, and every later op's code runs after it.
 * fs: mstatus.FS on (else the interpreter raises illegal-instruction);
 * nx: fflags.NX already set; rne: frm = RNE (for rm = 7, dynamic).
 */
static void fp_guard(struct jit *j, unsigned idx, bool nx, bool rne)
{
	if (!j->fp_on) {
		emit_rm(&j->a, 0, 0xf7, 0, M(RBX, MSTATUS_OFF)); /* test dword, FS */
		b4(&j->a, (uint32_t)MSTATUS_FS);
		bail_if(j, CC_E, idx);
		j->fp_on = true;
	}
	if (nx && !j->fp_nx) {
		emit_rm(&j->a, 0, 0xf6, 0, M(RBX, (int32_t)offsetof(struct rv_hart, fflags)));
		b1(&j->a, 1); /* test byte, NX */
		bail_if(j, CC_E, idx);
		j->fp_nx = true;
	}
	if (rne && !j->fp_rne) {
		emit_rm(&j->a, 0, 0x83, 7, M(RBX, (int32_t)offsetof(struct rv_hart, frm)));
		b1(&j->a, 0); /* cmp dword, 0 (RNE) */
		bail_if(j, CC_NE, idx);
		j->fp_rne = true;
	}
}

/* mstatus |= FS | SD (exec.c's fp_dirty) after the block's first FP op: the
 * later ones find it set. */
static void fp_dirty(struct jit *j)
{
	if (j->fp_dirty)
		return;
	_Static_assert(MSTATUS_FS == 0x6000 && MSTATUS_SD == 1ULL << 63, "mstatus bits");
	alu_imm(&j->a, 0, 1, M(RBX, MSTATUS_OFF), (int32_t)MSTATUS_FS); /* or dword */
	emit_rm(&j->a, 0, 0x80, 1, M(RBX, MSTATUS_OFF + 7));		/* or byte, SD */
	b1(&j->a, 0x80);
	j->fp_dirty = true;
}

/* FLW, FLD, FSW, FSD: as the integer loads and stores, on h->f[]. */
static void emit_fp_mem(struct jit *j, unsigned idx, const struct rv_uop *u)
{
	bool store = u->opc == RV_OP_FSW || u->opc == RV_OP_FSD;
	unsigned size = u->opc == RV_OP_FLW || u->opc == RV_OP_FSW ? 4 : 8;
	fp_guard(j, idx, false, false);
	addr_rax(j, u);
	int32_t tlb = store ? TLB_WRITE : TLB_READ;
	uint8_t *miss = tlb_check(j, tlb, size);
	uint8_t *access = j->a.p;
	if (store) {
		mov_load(&j->a, RDX, M(RBX, F_OFF(u->rs2)));
		emit_rm(&j->a, size == 8 ? F_W : 0, 0x89, RDX, M(RAX, 0));
	} else {
		emit_rm(&j->a, size == 8 ? F_W : 0, 0x8b, RAX, M(RAX, 0));
		if (size == 4) { /* NaN-boxed */
			mov_imm64(&j->a, RDX, 0xffffffff00000000ULL);
			emit_rm(&j->a, F_W, 0x0b, RAX, R(RDX)); /* or rax, rdx */
		}
		mov_store(&j->a, M(RBX, F_OFF(u->rd)), RAX);
	}
	add_stub(j, miss, access, tlb, idx, u,
		 size | JIT_INFO_FP | (unsigned)(store ? u->rs2 : u->rd) << 8, store);
	if (!store) /* the interpreter's FSW/FSD leave FS as it is */
		fp_dirty(j);
}

/*
 * FADD.D, FSUB.D, FMUL.D, FMADD.D: exec.c's in-line fast path in host code.
 * With RNE and NX already accrued, a result that is normal (or the exact
 * zero of a sum) raises no flag that is not already set, so it is the
 * answer; anything else (NaN, infinity, subnormal or a zero that may have
 * underflowed) goes to the interpreter at this op, which computes it again
 * from the untouched operands.  Unlike exec.c the operands are not checked:
 * a normal result implies finite operands (NaN and infinity propagate), and
 * subnormal operands give the same correctly rounded result and no flag, so
 * the outcome is the one rv_fp_exec would produce.
 */
static void emit_fp(struct jit *j, unsigned idx, const struct rv_uop *u)
{
	fp_guard(j, idx, true, u->rm == 7);
	unsigned opc = u->opc;
	if (opc == RV_OP_FMADD_D) {
		emit_rm(&j->a, F_F2 | F_0F, 0x10, 0, M(RBX, F_OFF(u->rs3))); /* movsd xmm0 */
		emit_rm(&j->a, F_F2 | F_0F, 0x10, 1, M(RBX, F_OFF(u->rs1))); /* movsd xmm1 */
		vfmadd231sd(&j->a, 0, 1, RBX, F_OFF(u->rs2)); /* xmm0 += xmm1 * rs2 */
	} else {
		unsigned op = opc == RV_OP_FADD_D ? 0x58 : opc == RV_OP_FSUB_D ? 0x5c : 0x59;
		emit_rm(&j->a, F_F2 | F_0F, 0x10, 0, M(RBX, F_OFF(u->rs1))); /* movsd xmm0 */
		emit_rm(&j->a, F_F2 | F_0F, op, 0, M(RBX, F_OFF(u->rs2)));   /* op xmm0, rs2 */
	}
	emit_rm(&j->a, F_66 | F_W | F_0F, 0x7e, 0, R(RAX)); /* movq rax, xmm0 */
	/* rdx = the bits without the sign; exponent 1..0x7fe: normal */
	mov_load(&j->a, RDX, R(RAX));
	emit_rm(&j->a, F_W, 0x03, RDX, R(RDX)); /* add rdx, rdx */
	uint8_t *zero = NULL;
	if (opc == RV_OP_FADD_D || opc == RV_OP_FSUB_D)
		zero = jcc_fwd(&j->a, CC_E);  /* an exact zero sum */
	emit_rm(&j->a, F_W, 0xc1, 5, R(RDX)); /* shr rdx, 53 */
	b1(&j->a, 53);
	alu_imm(&j->a, 0, 5, R(RDX), 1);     /* sub edx, 1 */
	alu_imm(&j->a, 0, 7, R(RDX), 0x7fe); /* cmp edx, 0x7fe */
	bail_if(j, CC_AE, idx);
	patch(&j->a, zero, j->a.p);
	mov_store(&j->a, M(RBX, F_OFF(u->rd)), RAX);
	fp_dirty(j);
}

/* FMV.D.X, FMV.X.D: bits copied, no flag. */
static void emit_fmv(struct jit *j, unsigned idx, const struct rv_uop *u)
{
	fp_guard(j, idx, false, false);
	if (u->opc == RV_OP_FMV_D_X) {
		struct opnd s = G(j, u->rs1);
		int r = s.r >= 0 ? s.r : RAX;
		mov_load(&j->a, r, s);
		mov_store(&j->a, M(RBX, F_OFF(u->rd)), r);
	} else {
		struct opnd d = G(j, u->rd);
		int r = d.r >= 0 ? d.r : RAX;
		mov_load(&j->a, r, M(RBX, F_OFF(u->rs1)));
		mov_store(&j->a, d, r);
	}
	fp_dirty(j);
}

/* The interpreter takes over at the op of each bail: registers written back. */
static void emit_bails(struct jit *j)
{
	for (unsigned i = 0; i < j->nbails; i++) {
		patch(&j->a, j->bails[i].jcc, j->a.p);
		writeback(j, REGS_ALL);
		emit_rm(&j->a, 0, 0xc7, 0, R(RAX)); /* mov eax, RV_JIT_INTERPRET + idx */
		b4(&j->a, RV_JIT_INTERPRET + j->bails[i].idx);
		jmp_epilogue(j);
	}
}

/* rd = rs1 OP rs2 (ALU opcode of the r64, r/m64 form), 64 or 32 bits. */
static void alu_rr(struct jit *j, const struct rv_uop *u, unsigned op, bool w32)
{
	bool x0_neutral = op == 0x03 || op == 0x0b || op == 0x33; /* add, or, xor */
	if (!w32 && (u->rs1 == 0 || u->rs2 == 0) && (x0_neutral || (op == 0x2b && u->rs2 == 0))) {
		/* mv (add rd, x0, rs) and friends: a copy */
		struct opnd d = G(j, u->rd), s = G(j, u->rs1 == 0 ? u->rs2 : u->rs1);
		if (d.r >= 0) {
			mov_load(&j->a, d.r, s);
		} else {
			mov_load(&j->a, RAX, s);
			mov_store(&j->a, d, RAX);
		}
		return;
	}
	struct opnd d = G(j, u->rd), a = G(j, u->rs1), b = G(j, u->rs2);
	if (op == 0x2b && u->rs1 == 0) { /* neg(w) */
		int r = d.r >= 0 ? d.r : RAX;
		if (w32 && j->known[u->rs2] == K_SMALL)
			w32 = false; /* the 64-bit result is the sign-extended 32-bit one */
		mov_load(&j->a, r, b);
		emit_rm(&j->a, w32 ? 0 : F_W, 0xf7, 3, R(r));
		if (w32)
			emit_rm(&j->a, F_W, 0x63, r, R(r)); /* movsxd r, r32 */
		mov_store(&j->a, d, r);
		return;
	}
	bool commutes = op != 0x2b;
	int r = RAX; /* the register computed in: rd's own when it has one */
	if (d.r >= 0 && d.r == b.r && d.r != a.r && commutes) {
		r = d.r;
		struct opnd t = a;
		a = b;
		b = t;
	} else if (d.r >= 0 && d.r != b.r) {
		r = d.r;
	}
	mov_load(&j->a, r, a);
	emit_rm(&j->a, w32 ? 0 : F_W, op, r, b);
	if (w32)
		emit_rm(&j->a, F_W, 0x63, r, R(r)); /* movsxd r, r32 */
	mov_store(&j->a, d, r);
}

/* rd = rs1 OP imm (group-1 ext: 0 add, 1 or, 4 and, 6 xor), 64 or 32 bits. */
static void alu_ri(struct jit *j, const struct rv_uop *u, unsigned ext, bool w32)
{
	struct opnd d = G(j, u->rd), s = G(j, u->rs1);
	int r = d.r >= 0 ? d.r : RAX;
	if (u->rs1 == 0) {			 /* li: x0 OP imm, sign-extended from 12 bits */
		emit_rm(&j->a, F_W, 0xc7, 0, d); /* mov r/m64, imm32 */
		b4(&j->a, ext == 4 ? 0 : (uint32_t)u->imm);
		return;
	}
	if (w32 && ext == 0 && u->imm == 0) { /* sext.w: a copy when nothing to extend */
		if (j->known[u->rs1] & K_SEXT)
			mov_load(&j->a, r, s);
		else
			emit_rm(&j->a, F_W, 0x63, r, s); /* movsxd r, r/m32 */
		mov_store(&j->a, d, r);
		return;
	}
	if (ext == 0 && d.r >= 0 && s.r >= 0) { /* lea d(32), [s + imm] */
		emit_rm(&j->a, w32 ? 0 : F_W, 0x8d, d.r, M(s.r, u->imm));
		if (w32)
			emit_rm(&j->a, F_W, 0x63, d.r, R(d.r));
		return;
	}
	mov_load(&j->a, r, s);
	if (u->imm || ext == 4)
		alu_imm(&j->a, w32 ? 0 : F_W, ext, R(r), u->imm);
	if (w32)
		emit_rm(&j->a, F_W, 0x63, r, R(r));
	mov_store(&j->a, d, r);
}

/* Shift group-2 ext: 4 shl, 5 shr, 7 sar; by immediate or by rs2. */
static void shift(struct jit *j, const struct rv_uop *u, unsigned ext, bool w32, bool by_reg)
{
	struct opnd d = G(j, u->rd);
	int r = d.r >= 0 ? d.r : RAX; /* never RCX (not in the register pool) */
	if (by_reg)
		mov_load(&j->a, RCX, G(j, u->rs2));
	mov_load(&j->a, r, G(j, u->rs1));
	if (by_reg) {
		emit_rm(&j->a, w32 ? 0 : F_W, 0xd3, (int)ext, R(r));
	} else {
		emit_rm(&j->a, w32 ? 0 : F_W, 0xc1, (int)ext, R(r));
		b1(&j->a, (uint8_t)u->imm);
	}
	/* a 32-bit shift right by 1-31 clears bit 31: sign and zero extension
	 * (x86 zero-extends 32-bit results) agree */
	if (w32 && !(ext == 5 && !by_reg && u->imm != 0))
		emit_rm(&j->a, F_W, 0x63, r, R(r));
	mov_store(&j->a, d, r);
}

/* rd = (rs1 cmp rs2/imm) ? 1 : 0 */
static void set_cc(struct jit *j, const struct rv_uop *u, int cc, bool imm)
{
	mov_load(&j->a, RAX, G(j, u->rs1));
	if (imm)
		alu_imm(&j->a, F_W, 7, R(RAX), u->imm);
	else
		emit_rm(&j->a, F_W, 0x3b, RAX, G(j, u->rs2));
	emit_rm(&j->a, F_0F, 0x90 + (unsigned)cc, 0, R(RAX)); /* setcc al */
	emit_rm(&j->a, F_0F, 0xb6, RAX, R(RAX));	      /* movzx eax, al */
	mov_store(&j->a, G(j, u->rd), RAX);
}

/*
 * M-extension division (unprivileged spec, "Division Operations"): by zero
 * gives all ones (quotient) or the dividend (remainder); the signed overflow
 * INT_MIN / -1 gives INT_MIN and remainder 0.  x86 div/idiv would fault on
 * both, so they are handled before it.
 */
static void emit_div(struct jit *j, const struct rv_uop *u)
{
	unsigned opc = u->opc;
	bool w32 =
	    opc == RV_OP_DIVW || opc == RV_OP_DIVUW || opc == RV_OP_REMW || opc == RV_OP_REMUW;
	bool sign = opc == RV_OP_DIV || opc == RV_OP_REM || opc == RV_OP_DIVW || opc == RV_OP_REMW;
	bool rem = opc == RV_OP_REM || opc == RV_OP_REMU || opc == RV_OP_REMW || opc == RV_OP_REMUW;
	unsigned fw = w32 ? 0 : F_W;
	emit_rm(&j->a, fw, 0x8b, RCX, G(j, u->rs2)); /* mov (e)cx, rs2 */
	emit_rm(&j->a, fw, 0x8b, RAX, G(j, u->rs1)); /* mov (e)ax, rs1 */
	emit_rm(&j->a, fw, 0x85, RCX, R(RCX));	     /* test */
	uint8_t *by_zero = jcc_fwd(&j->a, CC_E);
	uint8_t *minus1 = NULL;
	if (sign) {
		alu_imm(&j->a, fw, 7, R(RCX), -1); /* cmp (e)cx, -1 */
		minus1 = jcc_fwd(&j->a, CC_E);
		b1(&j->a, w32 ? 0x99 : 0x48); /* cdq / cqo */
		if (!w32)
			b1(&j->a, 0x99);
	} else {
		emit_rm(&j->a, 0, 0x33, RDX, R(RDX)); /* xor edx, edx */
	}
	emit_rm(&j->a, fw, 0xf7, sign ? 7 : 6, R(RCX)); /* (i)div (e)cx */
	if (rem)
		mov_load(&j->a, RAX, R(RDX));
	uint8_t *done1 = jcc_fwd(&j->a, -1);
	uint8_t *done2 = NULL;
	if (sign) {
		patch(&j->a, minus1, j->a.p);
		if (rem)
			emit_rm(&j->a, 0, 0x33, RAX, R(RAX)); /* remainder 0 */
		else
			emit_rm(&j->a, fw, 0xf7, 3, R(RAX)); /* neg: INT_MIN stays INT_MIN */
		done2 = jcc_fwd(&j->a, -1);
	}
	patch(&j->a, by_zero, j->a.p);
	if (!rem) { /* quotient all ones; the remainder is the dividend, in (e)ax */
		emit_rm(&j->a, F_W, 0x83, 1, R(RAX)); /* or rax, -1 */
		b1(&j->a, 0xff);
	}
	patch(&j->a, done1, j->a.p);
	patch(&j->a, done2, j->a.p);
	if (w32)
		emit_rm(&j->a, F_W, 0x63, RAX, R(RAX)); /* movsxd */
	mov_store(&j->a, G(j, u->rd), RAX);
}

static bool emit_op(struct jit *j, unsigned idx, const struct rv_uop *u);

/*
 * A branch over its block's annex (rv_block.annex: at most RV_ANNEX_MAX
 * integer ALU instructions, then the branch target): without a host branch,
 * which an unpredictable guest branch would mispredict half the time.  The
 * annex runs whatever the condition, on the registers it writes saved in the
 * frame; when the branch is taken they get their old values back (cmov).
 * The budget counts the annex's instructions only when it ran (they
 * retired), and the block leaves for the target through slot 0, the taken
 * branch's, either way.
 */
static void emit_annex(struct jit *j, const struct rv_uop *u, int cc)
{
	const struct rv_uop *an = &j->b->u[j->b->n + 1];
	unsigned n = j->b->annex, saved[RV_ANNEX_MAX], nsaved = 0;
	emit_rm(&j->a, F_0F, 0x90 + (unsigned)(cc ^ 1), 0, M(RSP, FRAME_COND)); /* setcc: runs */
	for (unsigned i = 0; i < n; i++) {
		bool seen = an[i].rd == 32; /* x0: nothing to keep */
		for (unsigned k = 0; k < nsaved; k++)
			seen |= saved[k] == an[i].rd;
		if (seen)
			continue;
		struct opnd r = G(j, an[i].rd);
		if (r.r < 0) {
			mov_load(&j->a, RAX, r);
			r = R(RAX);
		}
		mov_store(&j->a, M(RSP, FRAME_SAVE + 8 * (int32_t)nsaved), r.r);
		saved[nsaved++] = an[i].rd;
	}
	for (unsigned i = 0; i < n; i++) {
		uint8_t k = known_after(j, &an[i]);
		emit_op(j, j->b->n + 1 + i, &an[i]);
		j->known[an[i].rd] = k;
	}
	emit_rm(&j->a, 0, 0x80, 7, M(RSP, FRAME_COND)); /* cmp byte, 0 */
	b1(&j->a, 0);
	for (unsigned k = 0; k < nsaved; k++) { /* taken: the old values */
		struct opnd r = G(j, saved[k]), old = M(RSP, FRAME_SAVE + 8 * (int32_t)k);
		if (r.r >= 0) {
			emit_rm(&j->a, F_W | F_0F, 0x44, r.r, old); /* cmove */
		} else {
			mov_load(&j->a, RAX, r);
			emit_rm(&j->a, F_W | F_0F, 0x44, RAX, old);
			mov_store(&j->a, r, RAX);
		}
	}
	/* the annex's instructions retired when it ran: left -= runs * n */
	emit_rm(&j->a, F_0F, 0xb6, RAX, M(RSP, FRAME_COND)); /* movzx eax, byte */
	emit_rm(&j->a, 0, 0x6b, RAX, R(RAX));		     /* imul eax, eax, n */
	b1(&j->a, (uint8_t)n);
	emit_rm(&j->a, F_W, 0x29, RAX, M(RSP, FRAME_LEFT)); /* sub [left], rax */
	exit_static(j, 0, (int64_t)u->off + u->imm);
}

static void emit_branch(struct jit *j, const struct rv_uop *u)
{
	int cc;
	switch (u->opc) {
	case RV_OP_BEQ: cc = CC_E; break;
	case RV_OP_BNE: cc = CC_NE; break;
	case RV_OP_BLT: cc = CC_L; break;
	case RV_OP_BGE: cc = CC_GE; break;
	case RV_OP_BLTU: cc = CC_B; break;
	default: cc = CC_AE; break;
	}
	struct opnd a = G(j, u->rs1), b = G(j, u->rs2);
	if (a.r < 0) {
		mov_load(&j->a, RAX, a);
		a = R(RAX);
	}
	if (u->rs2 == 0)
		emit_rm(&j->a, F_W, 0x85, a.r, a); /* test a, a: compare with x0 */
	else
		emit_rm(&j->a, F_W, 0x3b, a.r, b);
	if (j->b->annex && u == &j->b->u[j->b->n - 1]) {
		emit_annex(j, u, cc);
		return;
	}
	uint8_t *fall = jcc_fwd(&j->a, cc ^ 1); /* inverse condition */
	exit_static(j, 0, (int64_t)u->off + u->imm);
	patch(&j->a, fall, j->a.p);
	exit_static(j, 1, (int64_t)u->off + u->len);
}

/* Emit one op; returns false at the op that ends the block. */
static bool emit_op(struct jit *j, unsigned idx, const struct rv_uop *u)
{
	switch (u->opc) {
	case RV_OP_END: exit_static(j, 1, u->off); return false;
	case RV_OP_FENCE:
		if (j->parallel && rv_fence_wr(u->raw)) { /* mfence */
			b1(&j->a, 0x0f);
			b1(&j->a, 0xae);
			b1(&j->a, 0xf0);
		}
		return true;
	case RV_OP_LUI:
		emit_rm(&j->a, F_W, 0xc7, 0, G(j, u->rd));
		b4(&j->a, (uint32_t)u->imm);
		return true;
	case RV_OP_AUIPC:
		if (j->map[u->rd] >= 0) {
			lea(&j->a, j->map[u->rd], R13, (int32_t)((int64_t)u->off + u->imm));
		} else {
			lea(&j->a, RAX, R13, (int32_t)((int64_t)u->off + u->imm));
			mov_store(&j->a, G(j, u->rd), RAX);
		}
		return true;
	case RV_OP_JAL:
		lea(&j->a, RAX, R13, (int32_t)(u->off + u->len));
		mov_store(&j->a, G(j, u->rd), RAX);
		exit_static(j, 0, (int64_t)u->off + u->imm);
		return false;
	case RV_OP_JALR:
		addr_rax(j, u);
		alu_imm(&j->a, F_W, 4, R(RAX), -2);
		lea(&j->a, RCX, R13, (int32_t)(u->off + u->len));
		mov_store(&j->a, G(j, u->rd), RCX);
		writeback(j, REGS_LOCAL);
		exit_rax(j, 0, true, NULL);
		return false;
	case RV_OP_BEQ:
	case RV_OP_BNE:
	case RV_OP_BLT:
	case RV_OP_BGE:
	case RV_OP_BLTU:
	case RV_OP_BGEU: emit_branch(j, u); return false;
	case RV_OP_LB:
	case RV_OP_LH:
	case RV_OP_LW:
	case RV_OP_LD:
	case RV_OP_LBU:
	case RV_OP_LHU:
	case RV_OP_LWU: emit_load(j, idx, u); return true;
	case RV_OP_SB:
	case RV_OP_SH:
	case RV_OP_SW:
	case RV_OP_SD: emit_store(j, idx, u); return true;
	case RV_OP_ADDI: alu_ri(j, u, 0, false); return true;
	case RV_OP_XORI: alu_ri(j, u, 6, false); return true;
	case RV_OP_ORI: alu_ri(j, u, 1, false); return true;
	case RV_OP_ANDI: alu_ri(j, u, 4, false); return true;
	case RV_OP_ADDIW: alu_ri(j, u, 0, true); return true;
	case RV_OP_SLTI: set_cc(j, u, CC_L, true); return true;
	case RV_OP_SLTIU: set_cc(j, u, CC_B, true); return true;
	case RV_OP_SLT: set_cc(j, u, CC_L, false); return true;
	case RV_OP_SLTU: set_cc(j, u, CC_B, false); return true;
	case RV_OP_SLLI: shift(j, u, 4, false, false); return true;
	case RV_OP_SRLI: shift(j, u, 5, false, false); return true;
	case RV_OP_SRAI: shift(j, u, 7, false, false); return true;
	case RV_OP_SLLIW: shift(j, u, 4, true, false); return true;
	case RV_OP_SRLIW: shift(j, u, 5, true, false); return true;
	case RV_OP_SRAIW: shift(j, u, 7, true, false); return true;
	case RV_OP_SLL: shift(j, u, 4, false, true); return true;
	case RV_OP_SRL: shift(j, u, 5, false, true); return true;
	case RV_OP_SRA: shift(j, u, 7, false, true); return true;
	case RV_OP_SLLW: shift(j, u, 4, true, true); return true;
	case RV_OP_SRLW: shift(j, u, 5, true, true); return true;
	case RV_OP_SRAW: shift(j, u, 7, true, true); return true;
	case RV_OP_ADD: alu_rr(j, u, 0x03, false); return true;
	case RV_OP_SUB: alu_rr(j, u, 0x2b, false); return true;
	case RV_OP_XOR: alu_rr(j, u, 0x33, false); return true;
	case RV_OP_OR: alu_rr(j, u, 0x0b, false); return true;
	case RV_OP_AND: alu_rr(j, u, 0x23, false); return true;
	case RV_OP_ADDW: alu_rr(j, u, 0x03, true); return true;
	case RV_OP_SUBW: alu_rr(j, u, 0x2b, true); return true;
	case RV_OP_MUL:
	case RV_OP_MULW: {
		bool w32 = u->opc == RV_OP_MULW;
		struct opnd d = G(j, u->rd), a = G(j, u->rs1), b = G(j, u->rs2);
		int r = RAX;
		if (d.r >= 0 && d.r == b.r) { /* imul commutes */
			r = d.r;
			b = a;
		} else if (d.r >= 0) {
			r = d.r;
			mov_load(&j->a, r, a);
		} else {
			mov_load(&j->a, r, a);
		}
		emit_rm(&j->a, (w32 ? 0 : F_W) | F_0F, 0xaf, r, b); /* imul */
		if (w32)
			emit_rm(&j->a, F_W, 0x63, r, R(r));
		mov_store(&j->a, d, r);
		return true;
	}
	case RV_OP_DIV:
	case RV_OP_DIVU:
	case RV_OP_REM:
	case RV_OP_REMU:
	case RV_OP_DIVW:
	case RV_OP_DIVUW:
	case RV_OP_REMW:
	case RV_OP_REMUW: emit_div(j, u); return true;
	case RV_OP_MULH:
	case RV_OP_MULHU:
	case RV_OP_MULHSU:
		mov_load(&j->a, RAX, G(j, u->rs1));
		emit_rm(&j->a, F_W, 0xf7, u->opc == RV_OP_MULH ? 5 : 4, G(j, u->rs2)); /* rdx:rax */
		if (u->opc == RV_OP_MULHSU) { /* signed rs1: hi -= rs1 < 0 ? rs2 : 0 */
			mov_load(&j->a, RAX, G(j, u->rs1));
			emit_rm(&j->a, F_W, 0xc1, 7, R(RAX)); /* sar rax, 63 */
			b1(&j->a, 63);
			emit_rm(&j->a, F_W, 0x23, RAX, G(j, u->rs2));
			emit_rm(&j->a, F_W, 0x2b, RDX, R(RAX));
		}
		mov_store(&j->a, G(j, u->rd), RDX);
		return true;
	case RV_OP_AMO: emit_call(j, idx, u, jit_amo); return true;
	case RV_OP_FLW:
	case RV_OP_FLD:
	case RV_OP_FSW:
	case RV_OP_FSD: emit_fp_mem(j, idx, u); return true;
	case RV_OP_FADD_D:
	case RV_OP_FSUB_D:
	case RV_OP_FMUL_D:
	case RV_OP_FMADD_D: emit_fp(j, idx, u); return true;
	case RV_OP_FMV_D_X:
	case RV_OP_FMV_X_D: emit_fmv(j, idx, u); return true;
	default: j->a.overflow = true; return false;
	}
}

/*
 * Give the most used guest registers of the block a host register.  Outside
 * self-loops a register used once is left in memory: loading it on entry and
 * storing it on exit would cost more than the memory operand.
 */
static void count_uses(struct jit *j, unsigned count[33], const struct rv_uop *u)
{
	unsigned r = reads(u->opc);
	if (r & 1)
		count[u->rs1]++;
	if (r & 2)
		count[u->rs2]++;
	if (writes_rd(u->opc)) {
		count[u->rd]++;
		j->written[u->rd] = true;
	}
}

static void allocate(struct jit *j, const struct rv_block *b, unsigned nops, bool self_loop)
{
	unsigned count[33] = { 0 };
	memset(j->map, -1, sizeof(j->map));
	memset(j->written, 0, sizeof(j->written));
	for (unsigned i = 0; i < nops; i++)
		count_uses(j, count, &b->u[i]);
	if (nops == b->n) /* translated up to its last branch: the annex after END too */
		for (unsigned i = 0; i < b->annex; i++)
			count_uses(j, count, &b->u[b->n + 1 + i]);
	count[0] = count[32] = 0; /* x0 reads [rbx] (always 0); x32 is a sink */
	for (unsigned k = 0; k < JIT_NGLOBAL; k++)
		j->map[JIT_GLOBAL_FIRST + k] = global_host[k];
	unsigned k = 0;
	for (; k < JIT_NREGS - JIT_NGLOBAL; k++) {
		unsigned best = 0;
		for (unsigned g = 1; g < 32; g++)
			if (j->map[g] < 0 && count[g] > count[best])
				best = g;
		if (!best || count[best] < (self_loop ? 1u : 2u))
			break;
		j->map[best] = pool[k];
	}
	/* a self-loop counts its budget down in a register left over, not in
	 * the frame: a memory read-modify-write each iteration chains the
	 * iterations through store-to-load forwarding on hosts without memory
	 * renaming (on the AMD EPYC development host, which has it, the two cost
	 * the same: about a cycle) */
	j->left_reg = self_loop && k < JIT_NREGS - JIT_NGLOBAL ? pool[k] : -1;
}

static const int saved[] = { RBP, RBX, R12, R13, R14, R15 };

/* The perf map of this process (VESSEL_JIT_PERFMAP): one file per PID, shared
 * by every core of the process. */
static pthread_mutex_t perfmap_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *perfmap;
static bool perfmap_failed;
static bool perfmap_on; /* some core of the process asked for it */

static void perfmap_open(void)
{
	pthread_mutex_lock(&perfmap_lock);
	if (!perfmap && !perfmap_failed) {
		char path[64];
		snprintf(path, sizeof(path), "/tmp/perf-%ld.map", (long)getpid());
		perfmap = fopen(path, "a");
		if (!perfmap) {
			perfmap_failed = true;
			vs_log(VS_LOG_WARN, "cpu: jit: cannot write %s: %s", path, strerror(errno));
		}
		__atomic_store_n(&perfmap_on, perfmap != NULL, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&perfmap_lock);
}

static void perfmap_add(const void *code, size_t size, const struct rv_block *b, uint64_t vpc)
{
	pthread_mutex_lock(&perfmap_lock);
	if (perfmap) {
		/* flushed per entry: perf may read the file while the VMM runs,
		 * and a killed VMM leaves a complete file */
		fprintf(perfmap, "%llx %zx rv:%llx pa:%llx n:%u\n",
			(unsigned long long)(uintptr_t)code, size, (unsigned long long)vpc,
			(unsigned long long)b->paddr, b->n);
		fflush(perfmap);
	}
	pthread_mutex_unlock(&perfmap_lock);
}

void *rv_jit_translate(struct rv_core *core, struct rv_block *b, uint64_t vpc)
{
	/* no second attempt (the count stops at 0, exec.c) */
	__atomic_store_n(&b->hot, 0, __ATOMIC_RELAXED);
	if (!core->jit_code || b->paddr >= RV_DEAD_PADDR || b->n == 0 || b->jit)
		return NULL;
	unsigned nops = 0;
	bool partial = false; /* ops from nops on are left to the interpreter */
	while (nops <= b->n) {
		unsigned opc = b->u[nops].opc;
		if (!supported(&b->u[nops])) {
			core->jit_rejected[opc]++;
			if (nops < JIT_MIN_PREFIX)
				return NULL;
			partial = true;
			break;
		}
		nops++;
		if (opc == RV_OP_END || rv_op_ends_block(opc))
			break;
	}
	if (core->jit_used + JIT_MARGIN > core->jit_size) {
		/* flush everything at the next lookup (read without the lock, cache.c) */
		__atomic_store_n(&core->jit_full, true, __ATOMIC_RELAXED);
		__atomic_store_n(&b->hot, 64, __ATOMIC_RELAXED);
		return NULL;
	}
	struct jit *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	/* a cache line of data (the direct links), then the code */
	_Static_assert(sizeof(struct rv_jit_links) <= 64, "links in a cache line");
	uint8_t *data = core->jit_code + ((core->jit_used + 63) & ~(size_t)63);
	memset(data, 0, 64);
	uint8_t *start = data + 64;
	j->links = (struct rv_jit_links *)data;
	j->a.p = start;
	j->a.end = core->jit_code + core->jit_size;
	j->b = b;
	j->parallel = core->parallel;
	j->core = core;
	const struct rv_uop *last = &b->u[nops - 1];
	bool self_loop = !partial && rv_op_ends_block(last->opc) && last->opc != RV_OP_JALR &&
			 last->off + last->imm == 0;
	allocate(j, b, nops, self_loop);

	for (unsigned i = 0; i < 6; i++)
		push(&j->a, saved[i]);
	alu_imm(&j->a, F_W, 5, R(RSP), FRAME_SIZE);
	mov_load(&j->a, RBX, R(RDI));
	mov_load(&j->a, R13, R(RSI));
	mov_store(&j->a, M(RSP, FRAME_RUN), RDX);
	mov_load(&j->a, RAX, M(RDX, (int32_t)offsetof(struct rv_jit_run, left)));
	mov_store(&j->a, M(RSP, FRAME_LEFT), RAX);
	mov_load(&j->a, R12, M(RDX, (int32_t)offsetof(struct rv_jit_run, tlbr)));
	reload(j, REGS_GLOBAL); /* the block's own registers follow */
	/* Inner entry (chained from another block): rbx, r12, frame set, r13 = bpc. */
	uint8_t *inner = j->a.p;
	reload(j, REGS_LOCAL);
	j->loop_top = j->a.p;
	memset(j->known, 0, sizeof(j->known));
	j->known[0] = K_SMALL;
	for (unsigned i = 0; i < nops; i++) {
		const struct rv_uop *u = &b->u[i];
		uint8_t k = known_after(j, u);
		if (!emit_op(j, i, u))
			break;
		if (writes_rd(u->opc) && u->rd != 0)
			j->known[u->rd] = k;
	}
	if (partial) { /* the interpreter goes on at op nops */
		writeback(j, REGS_ALL);
		emit_rm(&j->a, 0, 0xc7, 0, R(RAX));
		b4(&j->a, RV_JIT_INTERPRET + nops);
		jmp_epilogue(j);
	}
	emit_stubs(j);
	emit_bails(j);
	uint8_t *epi = j->a.p;
	for (unsigned i = 0; i < j->nepi; i++)
		patch(&j->a, j->epilogue_jmps[i], epi);
	/* tell exec.c the budget left and which block returned (chains may
	 * have moved on); eax holds the result */
	mov_load(&j->a, RDX, M(RSP, FRAME_RUN));
	mov_load(&j->a, RCX, M(RSP, FRAME_LEFT));
	mov_store(&j->a, M(RDX, (int32_t)offsetof(struct rv_jit_run, left)), RCX);
	mov_imm64(&j->a, RCX, (uint64_t)(uintptr_t)b);
	mov_store(&j->a, M(RDX, (int32_t)offsetof(struct rv_jit_run, b)), RCX);
	mov_store(&j->a, M(RDX, (int32_t)offsetof(struct rv_jit_run, bpc)), R13);
	alu_imm(&j->a, F_W, 0, R(RSP), FRAME_SIZE);
	for (int i = 5; i >= 0; i--)
		pop(&j->a, saved[i]);
	b1(&j->a, 0xc3);
	bool ok = !j->a.overflow;
	size_t used = (size_t)(j->a.p - start);
	free(j);
	if (!ok)
		return NULL;
	core->jit_used = (size_t)(start - core->jit_code) + ((used + 15) & ~(size_t)15);
	core->jit_blocks++;
	core->jit_bytes += used;
	if (__atomic_load_n(&perfmap_on, __ATOMIC_RELAXED))
		perfmap_add(start, used, b, vpc);
	memcpy(&b->jit, &start, sizeof(b->jit)); /* data to function pointer */
	b->jit_inner = inner;
	b->jit_link = (struct rv_jit_links *)data;
	/* published last: other harts may be entering the block (parallel mode) */
	__atomic_store_n(&b->u[0].hoff, 0, __ATOMIC_RELEASE); /* op_JIT */
	return start;
}

#define RV_NAME(n) [RV_OP_##n] = #n,
static const char *const op_names[RV_OP_COUNT] = { RV_INT_OPS(RV_NAME) RV_FP_OPS(RV_NAME) };
#undef RV_NAME

static bool env_on(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

int rv_jit_init(struct rv_core *core)
{
	core->jit_stats = env_on("VESSEL_JIT_STATS");
	const char *off = getenv("VESSEL_NO_JIT");
	if (off && *off && strcmp(off, "0") != 0)
		return 0;
	const char *t = getenv("VESSEL_JIT_THRESHOLD");
	long thr = t && *t ? strtol(t, NULL, 10) : RV_JIT_THRESHOLD;
	core->jit_threshold = thr >= 1 && thr <= 1000000 ? (uint32_t)thr : RV_JIT_THRESHOLD;
	/* a small arena (tests): full flushes come often */
	const char *kb = getenv("VESSEL_JIT_ARENA_KB");
	long ak = kb && *kb ? strtol(kb, NULL, 10) : 0;
	size_t size = ak >= 256 && (unsigned long long)ak * 1024 <= RV_JIT_ARENA ? (size_t)ak * 1024
										 : RV_JIT_ARENA;
	bool map = env_on("VESSEL_JIT_PERFMAP");
	if (map && !(ak >= 256))
		size = JIT_PERFMAP_ARENA;
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return 0; /* no executable memory: interpret */
	core->jit_code = m;
	core->jit_size = size;
	if (map)
		perfmap_open();
	return 0;
}

uint64_t rv_core_jit_blocks(const struct rv_core *core)
{
	return core->jit_blocks;
}

void rv_jit_unlink(struct rv_block *b)
{
	for (unsigned k = 0; k < 2; k++)
		if (b->jit_link->rel[k])
			memcpy(b->jit_link->rel[k], &b->jit_link->unlinked[k], 4);
}

void rv_jit_flush(struct rv_core *core)
{
	/* with the perf map on, addresses are not reused while room is left */
	if (!__atomic_load_n(&perfmap_on, __ATOMIC_RELAXED) ||
	    core->jit_used + JIT_MARGIN > core->jit_size)
		core->jit_used = 0;
	__atomic_store_n(&core->jit_full, false, __ATOMIC_RELAXED);
}

void rv_jit_free(struct rv_core *core)
{
	if (core->jit_stats)
		vs_log(
		    VS_LOG_INFO,
		    "cpu: jit %s: %llu blocks translated, %llu bytes of host code, %llu flushes, "
		    "%llu direct links",
		    core->jit_code ? "on" : "off", (unsigned long long)core->jit_blocks,
		    (unsigned long long)core->jit_bytes, (unsigned long long)core->flushes,
		    (unsigned long long)__atomic_load_n(&core->jit_links, __ATOMIC_RELAXED));
	if (core->jit_stats)
		for (unsigned op = 0; op < RV_OP_COUNT; op++)
			if (core->jit_rejected[op])
				vs_log(VS_LOG_INFO,
				       "cpu: jit: %llu hot blocks interpreted from op %s on",
				       (unsigned long long)core->jit_rejected[op], op_names[op]);
	if (core->jit_code)
		munmap(core->jit_code, core->jit_size);
	core->jit_code = NULL;
}

#else /* !RV_JIT */

uint64_t rv_core_jit_blocks(const struct rv_core *core)
{
	return core->jit_blocks;
}

void *rv_jit_translate(struct rv_core *core, struct rv_block *b, uint64_t vpc)
{
	(void)core;
	(void)vpc;
	b->hot = 0;
	return NULL;
}

int rv_jit_init(struct rv_core *core)
{
	(void)core;
	return 0;
}

void rv_jit_unlink(struct rv_block *b)
{
	(void)b;
}

void rv_jit_flush(struct rv_core *core)
{
	core->jit_used = 0;
	__atomic_store_n(&core->jit_full, false, __ATOMIC_RELAXED);
}

void rv_jit_free(struct rv_core *core)
{
	if (getenv("VESSEL_JIT_STATS"))
		vs_log(VS_LOG_INFO, "cpu: jit off: 0 blocks translated, 0 bytes of host code");
}

#endif
