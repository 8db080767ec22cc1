/*
 * jit_x86.h - x86-64 instruction encoding for the baseline JIT (jit.c).
 *
 * Only what jit.c emits: register/memory operands ([base + disp32], no
 * index), REX, operand-size and F2 (SSE2 scalar double) prefixes, one- and
 * two-byte opcodes, one VEX instruction (vfmadd231sd), rel32 jumps patched
 * once their target is known.  Writing past the end of the
 * buffer sets `overflow` instead (the translation is then dropped).
 * Reference: Intel SDM vol. 2, chapter 2 "Instruction Format".
 */
#ifndef VESSEL_LIB_VM_CPU_JIT_X86_H
#define VESSEL_LIB_VM_CPU_JIT_X86_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum { RAX = 0, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
enum { CC_B = 2, CC_AE = 3, CC_E = 4, CC_NE = 5, CC_L = 12, CC_GE = 13, CC_LE = 14 };

struct jit_asm {
	uint8_t *p, *end;
	bool overflow;
};

/* An operand: a host register (r >= 0) or the memory at [base + disp]. */
struct opnd {
	int8_t r, base;
	int32_t disp;
};

static inline void b1(struct jit_asm *j, unsigned v)
{
	if (j->p < j->end)
		*j->p++ = (uint8_t)v;
	else
		j->overflow = true;
}

static inline void b4(struct jit_asm *j, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b1(j, (v >> (8 * i)) & 0xff);
}

static inline struct opnd R(int r) {
	return (struct opnd){ .r = (int8_t)r, .base = -1, .disp = 0 };
}

static inline struct opnd
M(int base, int32_t disp) {
	return (struct opnd){ .r = -1, .base = (int8_t)base, .disp = disp };
}

#define F_W   0x100  /* REX.W */
#define F_66  0x200  /* operand-size prefix */
#define F_REX 0x400  /* force a REX prefix (byte registers sil, dil, bpl) */
#define F_0F  0x800  /* two-byte opcode 0F xx */
#define F_F2  0x1000 /* SSE scalar-double prefix (movsd, addsd, ...) */

/* Emit opcode with ModRM: reg field `reg` (register or /digit), r/m `rm`. */
static inline void
emit_rm(struct jit_asm *j, unsigned flags, unsigned op, int reg, struct opnd rm)
{
	int rmreg = rm.r >= 0 ? rm.r : rm.base;
	unsigned rex = 0x40 | ((flags & F_W) ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((rmreg & 8) ? 1 : 0);
	if (flags & F_66)
		b1(j, 0x66);
	if (flags & F_F2)
		b1(j, 0xf2);
	if (rex != 0x40 || (flags & F_REX))
		b1(j, rex);
	if (flags & F_0F)
		b1(j, 0x0f);
	b1(j, op);
	if (rm.r >= 0) {
		b1(j, 0xc0 | ((reg & 7) << 3) | (rm.r & 7));
		return;
	}
	bool d8 = rm.disp >= -128 && rm.disp <= 127;
	b1(j, (d8 ? 0x40 : 0x80) | ((reg & 7) << 3) | (rm.base & 7));
	if ((rm.base & 7) == RSP)
		b1(j, 0x24); /* SIB: base only */
	if (d8)
		b1(j, (uint8_t)rm.disp);
	else
		b4(j, (uint32_t)rm.disp);
}

/* Emit opcode with ModRM and SIB: memory operand [base + index + disp32]. */
static inline void emit_rm_index(struct jit_asm *j, unsigned flags, unsigned op, int reg, int base,
				 int index, int32_t disp)
{
	b1(j, 0x40 | ((flags & F_W) ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((index & 8) ? 2 : 0) |
		  ((base & 8) ? 1 : 0));
	b1(j, op);
	b1(j, 0x84 | ((reg & 7) << 3)); /* mod 10 (disp32), r/m 100 (SIB) */
	b1(j, ((index & 7) << 3) | (base & 7));
	b4(j, (uint32_t)disp);
}

/*
 * vfmadd231sd xmm(dst), xmm(src1), m64 [base + disp] (FMA3: dst += src1 * m64,
 * rounded once): VEX.LIG.66.0F38.W1 B9 /r.  xmm0-7 and a base register
 * below r8 other than rsp only, which is all jit.c uses.
 */
static inline void vfmadd231sd(struct jit_asm *j, int dst, int src1, int base, int32_t disp)
{
	if (dst > 7 || src1 > 7 || base > 7 || base == RSP) {
		j->overflow = true;
		return;
	}
	b1(j, 0xc4);
	b1(j, 0xe0 | 0x02);			  /* R X B inverted, map 0F38 */
	b1(j, 0x80 | ((~src1 & 15) << 3) | 0x01); /* W1, vvvv = ~src1, L0, pp 66 */
	b1(j, 0xb9);
	b1(j, 0x80 | ((dst & 7) << 3) | (base & 7)); /* mod 10: disp32 */
	b4(j, (uint32_t)disp);
}

static inline void mov_load(struct jit_asm *j, int r, struct opnd src) /* mov r64, r/m64 */
{
	if (src.r == r)
		return;
	emit_rm(j, F_W, 0x8b, r, src);
}

static inline void mov_store(struct jit_asm *j, struct opnd dst, int r) /* mov r/m64, r64 */
{
	if (dst.r == r)
		return;
	emit_rm(j, F_W, 0x89, r, dst);
}

/* Group-1 ALU op with immediate: ext 0 add, 1 or, 4 and, 5 sub, 6 xor, 7 cmp. */
static inline void alu_imm(struct jit_asm *j, unsigned flags, unsigned ext, struct opnd dst,
			   int32_t imm)
{
	if (imm >= -128 && imm <= 127) {
		emit_rm(j, flags, 0x83, (int)ext, dst);
		b1(j, (uint8_t)imm);
	} else {
		emit_rm(j, flags, 0x81, (int)ext, dst);
		b4(j, (uint32_t)imm);
	}
}

/* lea r, [base + disp] */
static inline void lea(struct jit_asm *j, int r, int base, int32_t disp)
{
	emit_rm(j, F_W, 0x8d, r, M(base, disp));
}

/* op with a RIP-relative memory operand [target] (no immediate follows). */
static inline void emit_rip(struct jit_asm *j, unsigned flags, unsigned op, int reg,
			    const uint8_t *target)
{
	unsigned rex = 0x40 | ((flags & F_W) ? 8 : 0) | ((reg & 8) ? 4 : 0);
	if (rex != 0x40)
		b1(j, rex);
	b1(j, op);
	b1(j, 0x05 | ((reg & 7) << 3));
	b4(j, (uint32_t)(int32_t)(target - (j->p + 4)));
}

static inline void mov_imm64(struct jit_asm *j, int r, uint64_t v)
{
	b1(j, 0x48 | ((r & 8) ? 1 : 0));
	b1(j, 0xb8 + (r & 7));
	b4(j, (uint32_t)v);
	b4(j, (uint32_t)(v >> 32));
}

static inline void push(struct jit_asm *j, int r)
{
	if (r & 8)
		b1(j, 0x41);
	b1(j, 0x50 + (r & 7));
}

static inline void pop(struct jit_asm *j, int r)
{
	if (r & 8)
		b1(j, 0x41);
	b1(j, 0x58 + (r & 7));
}

/* jcc/jmp rel32 to a later address: returns the field to patch. */
static inline uint8_t *jcc_fwd(struct jit_asm *j, int cc)
{
	if (cc < 0) {
		b1(j, 0xe9);
	} else {
		b1(j, 0x0f);
		b1(j, 0x80 + (unsigned)cc);
	}
	uint8_t *at = j->p;
	b4(j, 0);
	return j->overflow ? NULL : at;
}

static inline void patch(struct jit_asm *j, uint8_t *field, const uint8_t *target)
{
	if (!field || j->overflow)
		return;
	int32_t rel = (int32_t)(target - (field + 4));
	memcpy(field, &rel, 4);
}

/* One NOP (of 0-3 bytes) so that j->p + skew is 4-byte aligned: a jump's
 * rel32 field that another thread may be executing is then patched by one
 * aligned store, which instruction fetch sees whole. */
static inline void nop_align(struct jit_asm *j, unsigned skew)
{
	static const uint8_t nops[4][3] = { { 0 }, { 0x90 }, { 0x66, 0x90 }, { 0x0f, 0x1f, 0x00 } };
	unsigned n = (4 - (unsigned)(((uintptr_t)j->p + skew) & 3)) & 3;
	for (unsigned i = 0; i < n; i++)
		b1(j, nops[n][i]);
}

static inline void jmp_to(struct jit_asm *j, int cc, const uint8_t *target)
{
	patch(j, jcc_fwd(j, cc), target);
}

#endif
