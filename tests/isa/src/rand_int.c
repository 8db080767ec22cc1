/* rand_int.c: randomised differential test of every RV64IM ALU instruction.
 * Each instruction runs on the same pseudo-random operand stream (xorshift
 * with a fixed seed, mixed with edge values: 0, ±1, INT_MIN/MAX of 32 and
 * 64 bits, shift counts around 31/32/63/64) and prints an FNV-1a hash of its
 * results.  The expected hashes are not in the test: isa-diff-rand-int
 * compares vessel's output with QEMU's line by line, so a wrong instruction
 * shows up as the one line whose hash differs. */
#include "ops.h"

#define N 400

static u64 rng = 0x9e3779b97f4a7c15UL;
static u64 next(void)
{
	return isa_xorshift(&rng);
}

static const u64 edges[] = {
	0,
	1,
	-1UL,
	2,
	0x7fffffffffffffffUL,
	0x8000000000000000UL,
	0x7fffffff,
	0x80000000UL,
	0xffffffffUL,
	0xffffffff80000000UL,
	0x100000000UL,
	31,
	32,
	63,
	64,
	0x5555555555555555UL,
	0xaaaaaaaaaaaaaaaaUL,
	-2UL,
};
#define NEDGE (sizeof(edges) / sizeof(edges[0]))

static u64 operand(int i)
{
	u64 r = next();
	if (i < (int)(NEDGE * NEDGE))
		return 0; /* replaced by caller */
	switch (r & 7) {
	case 0: return edges[(r >> 8) % NEDGE];
	case 1: return (r >> 3) & 0xff;	    /* small */
	case 2: return (u64)(i32)(r >> 16); /* sign-extended 32-bit */
	case 3: return -(r >> 40);
	default: return next();
	}
}

typedef u64 (*op_fn)(u64, u64);
#define OPR(name, insn)                \
	static u64 name(u64 a, u64 b)  \
	{                              \
		return RR(insn, a, b); \
	}
#define OPI(name, insn, imm)             \
	static u64 name(u64 a, u64 b)    \
	{                                \
		(void)b;                 \
		return RI(insn, a, imm); \
	}
OPR(o_add, "add")
OPR(o_sub, "sub")
OPR(o_sll, "sll")
OPR(o_slt, "slt")
OPR(o_sltu, "sltu")
OPR(o_xor, "xor")
OPR(o_srl, "srl")
OPR(o_sra, "sra")
OPR(o_or, "or")
OPR(o_and, "and")
OPR(o_addw, "addw")
OPR(o_subw, "subw")
OPR(o_sllw, "sllw")
OPR(o_srlw, "srlw")
OPR(o_sraw, "sraw")
OPR(o_mul, "mul")
OPR(o_mulh, "mulh")
OPR(o_mulhsu, "mulhsu")
OPR(o_mulhu, "mulhu")
OPR(o_div, "div")
OPR(o_divu, "divu")
OPR(o_rem, "rem")
OPR(o_remu, "remu")
OPR(o_mulw, "mulw")
OPR(o_divw, "divw")
OPR(o_divuw, "divuw")
OPR(o_remw, "remw")
OPR(o_remuw, "remuw")
OPI(o_addi, "addi", -1234)
OPI(o_addi2, "addi", 2047)
OPI(o_slti, "slti", -7)
OPI(o_sltiu, "sltiu", -7)
OPI(o_xori, "xori", -1)
OPI(o_ori, "ori", 0x555)
OPI(o_andi, "andi", -256)
OPI(o_slli, "slli", 37)
OPI(o_srli, "srli", 5)
OPI(o_srai, "srai", 61)
OPI(o_addiw, "addiw", -2048)
OPI(o_slliw, "slliw", 31)
OPI(o_srliw, "srliw", 17)
OPI(o_sraiw, "sraiw", 3)

static const struct {
	const char *name;
	op_fn fn;
} ops[] = {
#define E(n)              \
	{                 \
#n, o_##n \
	}
	E(add),	  E(sub),  E(sll),   E(slt),   E(sltu),	 E(xor),   E(srl),  E(sra),   E(or),
	E(and),	  E(addw), E(subw),  E(sllw),  E(srlw),	 E(sraw),  E(mul),  E(mulh),  E(mulhsu),
	E(mulhu), E(div),  E(divu),  E(rem),   E(remu),	 E(mulw),  E(divw), E(divuw), E(remw),
	E(remuw), E(addi), E(addi2), E(slti),  E(sltiu), E(xori),  E(ori),  E(andi),  E(slli),
	E(srli),  E(srai), E(addiw), E(slliw), E(srliw), E(sraiw),
};

void test_main(void)
{
	for (unsigned k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		u64 h = ISA_FNV_INIT;
		rng = 0x9e3779b97f4a7c15UL + k;
		for (int i = 0; i < (int)(NEDGE * NEDGE) + N; i++) {
			u64 a, b;
			if (i < (int)(NEDGE * NEDGE)) {
				a = edges[i / NEDGE];
				b = edges[i % NEDGE];
			} else {
				a = operand(i);
				b = operand(i);
			}
			h = isa_fnv(h, ops[k].fn(a, b));
		}
		isa_sig(ops[k].name, h);
	}
}
