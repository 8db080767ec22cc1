/* jit_ext.c: RV64's 32-bit results in vessel's JIT (lib/vm/cpu/jit.c).
 *
 * The JIT remembers, within a block, which registers already hold a
 * sign-extended 32-bit value or one below 2^31, and then leaves out sign
 * extensions: negw of a value below 2^31 becomes a 64-bit neg, sext.w of a
 * sign-extended value a copy.  A wrong rule gives a wrong register only for
 * some inputs, so every op whose result the JIT reasons about produces a
 * value from edge inputs (around 2^31, 2^32 and 2^63, all ones, random),
 * and negw, sext.w and neg of it follow in the same block.  Each loop runs
 * hot enough to be translated (at the default threshold and at 1).
 *
 * Unprivileged spec §4.2 (RV64I: "W" instructions operate on 32-bit values
 * and sign-extend their results), §13 (M: MULW, DIVW, REMW and unsigned
 * forms).  Every result is checked against a reference computed in a
 * function of its own (a block that knows nothing of its argument) and
 * printed, so isa-diff compares it with QEMU too. */
#include "isa.h"

static const u64 edge[] = {
	0,
	1,
	2,
	5,
	0x7ff,
	0x8000,
	0x7fffffff,
	0x80000000,
	0x80000001,
	0xffffffff,
	0x100000000,
	0x100000001,
	0x17fffffff,
	0x180000000,
	0x7fffffffffffffff,
	0x8000000000000000,
	0xffffffff7fffffff,
	0xffffffff80000000,
	0xfffffffffffffffe,
	0xffffffffffffffff,
};
#define NEDGE (sizeof(edge) / sizeof(edge[0]))
#define NVAL  (NEDGE + 12)
static u64 val[NVAL];

__attribute__((noinline)) static u64 ref_negw(u64 t)
{
	return (u64)(i64)(i32)(0u - (u32)t);
}

__attribute__((noinline)) static u64 ref_sext(u64 t)
{
	return (u64)(i64)(i32)t;
}

/* t = the producer's result (it may use x, y, and the slot p holding x),
 * then negw, sext.w and neg of t in the same block. */
#define CASE(name, prod, ref)                                                                  \
	static void case_##name(void)                                                          \
	{                                                                                      \
		u64 h = 0, bad = 0;                                                            \
		for (int rep = 0; rep < 40; rep++)                                             \
			for (unsigned i = 0; i < NVAL; i++) {                                  \
				u64 x = val[i], y = val[(i * 7 + 3) % NVAL], slot = x;         \
				u64 t, n, s, m;                                                \
				asm volatile(prod "\n negw %1, %0\n sext.w %2, %0\n"           \
						  " neg %3, %0"                                \
					     : "=&r"(t), "=&r"(n), "=&r"(s), "=&r"(m)          \
					     : "r"(x), "r"(y), "r"(&slot)                      \
					     : "t1", "memory");                                \
				if (t != (u64)(ref) || n != ref_negw(t) || s != ref_sext(t) || \
				    m != 0 - t)                                                \
					bad++;                                                 \
				if (rep == 0)                                                  \
					h = isa_fnv(isa_fnv(isa_fnv(h, t), n), s);             \
			}                                                                      \
		isa_check(#name " results", bad, 0);                                           \
		isa_sig(#name, h);                                                             \
	}

#define S32(v) ((u64)(i64)(i32)(u32)(v))
/* loads from the slot holding x */
CASE(lbu, "lbu %0, 0(%6)", (u8)x)
CASE(lhu, "lhu %0, 0(%6)", (u16)x)
CASE(lb, "lb %0, 0(%6)", (u64)(i64)(int8_t)x)
CASE(lh, "lh %0, 0(%6)", (u64)(i64)(int16_t)x)
CASE(lw, "lw %0, 0(%6)", S32(x))
CASE(lwu, "lwu %0, 0(%6)", (u32)x)
CASE(ld, "ld %0, 0(%6)", x)
/* comparisons: 0 or 1 */
CASE(slti, "slti %0, %4, 5", (i64)x < 5)
CASE(sltiu, "sltiu %0, %4, 5", x < 5)
CASE(slt, "slt %0, %4, %5", (i64)x < (i64)y)
CASE(sltu, "sltu %0, %4, %5", x < y)
/* andi: a non-negative mask makes the value small; a negative one keeps
 * what was known */
CASE(andi_pos, "andi %0, %4, 0x7ff", x & 0x7ff)
CASE(andi_neg, "andi %0, %4, -16", x & ~15UL)
CASE(andi_small_neg, "andi %0, %4, 0x7ff\n andi %0, %0, -16", x & 0x7f0)
CASE(andi_sext_neg, "addiw %0, %4, 0\n andi %0, %0, -3", S32(x) & ~2UL)
/* li, addi, ori, xori */
CASE(li_pos, "li %0, 100", 100)
CASE(li_neg, "li %0, -100", (u64)-100)
CASE(li_and, "andi %0, zero, -1", 0)
CASE(addi, "addi %0, %4, 1", x + 1)
CASE(addi_sext, "addiw %0, %4, 0\n addi %0, %0, 1", S32(x) + 1)
CASE(addi_small, "srliw %0, %4, 1\n addi %0, %0, 1", (u64)((u32)x >> 1) + 1)
CASE(ori_sext, "addiw %0, %4, 0\n ori %0, %0, 0x55", S32(x) | 0x55)
CASE(ori_any, "ori %0, %4, 0x55", x | 0x55)
CASE(xori_small, "andi %0, %4, 0x7f\n xori %0, %0, 0x7ff", (x & 0x7f) ^ 0x7ff)
CASE(xori_neg, "addiw %0, %4, 0\n xori %0, %0, -1", ~S32(x))
CASE(xori_big, "xori %0, %4, 0x400", x ^ 0x400)
/* and, or, xor of what is known of both sides */
CASE(and_small_any, "andi %0, %4, 0xff\n and %0, %0, %5", x & 0xff & y)
CASE(and_any_small, "andi t1, %5, 0x7ff\n and %0, %4, t1", x &y & 0x7ff)
CASE(and_sext_sext, "addiw %0, %4, 0\n addiw t1, %5, 0\n and %0, %0, t1", S32(x) & S32(y))
CASE(and_sext_any, "addiw %0, %4, 0\n and %0, %0, %5", S32(x) & y)
CASE(or_small_small, "andi %0, %4, 0xff\n andi t1, %5, 0x7ff\n or %0, %0, t1",
     (x & 0xff) | (y & 0x7ff))
CASE(or_sext_small, "addiw %0, %4, 0\n andi t1, %5, 0x7ff\n or %0, %0, t1", S32(x) | (y & 0x7ff))
CASE(or_sext_any, "addiw %0, %4, 0\n or %0, %0, %5", S32(x) | y)
CASE(xor_small_small, "andi %0, %4, 0x7ff\n andi t1, %5, 0x7ff\n xor %0, %0, t1", (x ^ y) & 0x7ff)
CASE(xor_sext_sext, "addiw %0, %4, 0\n addiw t1, %5, 0\n xor %0, %0, t1", S32(x) ^ S32(y))
CASE(xor_sext_any, "addiw %0, %4, 0\n xor %0, %0, %5", S32(x) ^ y)
/* shifts */
CASE(srli_33, "srli %0, %4, 33", x >> 33)
CASE(srli_32, "srli %0, %4, 32", x >> 32)
CASE(srli_1, "srli %0, %4, 1", x >> 1)
CASE(srliw_0, "srliw %0, %4, 0", S32(x))
CASE(srliw_1, "srliw %0, %4, 1", (u64)((u32)x >> 1))
CASE(srliw_31, "srliw %0, %4, 31", (u64)((u32)x >> 31))
CASE(sraiw_0, "sraiw %0, %4, 0", S32(x))
CASE(sraiw_4, "sraiw %0, %4, 4", (u64)((i64)(i32)x >> 4))
CASE(slliw_31, "slliw %0, %4, 31", S32((u32)x << 31))
CASE(srlw, "srlw %0, %4, %5", S32((u32)x >> (y & 31)))
CASE(sraw, "sraw %0, %4, %5", (u64)((i64)(i32)x >> (y & 31)))
CASE(sllw, "sllw %0, %4, %5", S32((u32)x << (y & 31)))
/* lui and the W arithmetic */
CASE(lui_neg, "lui %0, 0x80000", 0xffffffff80000000UL)
CASE(lui_pos, "lui %0, 0x7ffff", 0x7ffff000)
CASE(addiw_1, "addiw %0, %4, 1", S32(x + 1))
CASE(addiw_m1, "addiw %0, %4, -1", S32(x - 1))
CASE(addiw_big, "addiw %0, %4, 2047", S32(x + 2047))
CASE(addw, "addw %0, %4, %5", S32(x + y))
CASE(subw, "subw %0, %4, %5", S32(x - y))
CASE(mulw, "mulw %0, %4, %5", S32((u32)x *(u32)y))
CASE(negw, "negw %0, %4", S32(0u - (u32)x))
CASE(neg, "neg %0, %4", 0 - x)
CASE(negw_small, "andi %0, %4, 1\n negw %0, %0", S32(0u - (u32)(x & 1)))
CASE(sub_small, "andi %0, %4, 0x7ff\n sub %0, zero, %0", 0 - (x & 0x7ff))
CASE(sextw_twice, "sext.w %0, %4\n sext.w %0, %0", S32(x))

__attribute__((noinline)) static u64 ref_div(u64 x, u64 y, int kind)
{
	i32 a = (i32)x, b = (i32)y;
	u32 ua = (u32)x, ub = (u32)y;
	switch (kind) {
	case 0: return b == 0 ? ~0UL : (a == (i32)0x80000000 && b == -1) ? S32(a) : S32(a / b);
	case 1: return ub == 0 ? ~0UL : S32(ua / ub);
	case 2: return b == 0 ? S32(a) : b == -1 ? 0 : S32(a % b);
	default: return ub == 0 ? S32(ua) : S32(ua % ub);
	}
}
CASE(divw, "divw %0, %4, %5", ref_div(x, y, 0))
CASE(divuw, "divuw %0, %4, %5", ref_div(x, y, 1))
CASE(remw, "remw %0, %4, %5", ref_div(x, y, 2))
CASE(remuw, "remuw %0, %4, %5", ref_div(x, y, 3))

/* The crc32 inner loop (bench/cpu): andi, negw, srliw, and, xor, addiw,
 * sext.w, bnez: one self-looping block. */
static void crc_loop(void)
{
	u64 h = 0;
	for (unsigned i = 0; i < NVAL; i++) {
		u64 crc = val[i], poly = val[(i * 5 + 1) % NVAL], k = 64, a, b;
		u64 want = S32(crc), p = poly;
		for (int j = 0; j < 64; j++) /* the reference */
			want = S32((((u32)want >> 1) ^ (u32)(p & (0 - (want & 1)))));
		asm volatile("sext.w %0, %0\n"
			     "1: andi %3, %0, 1\n"
			     " negw %3, %3\n"
			     " srliw %0, %0, 1\n"
			     " and %3, %3, %2\n"
			     " xor %4, %3, %0\n"
			     " addiw %1, %1, -1\n"
			     " sext.w %0, %4\n"
			     " bnez %1, 1b"
			     : "+r"(crc), "+r"(k), "+r"(poly), "=&r"(a), "=&r"(b));
		isa_check("crc loop", crc, want);
		h = isa_fnv(h, crc);
	}
	isa_sig("crc loop", h);
}

void test_main(void)
{
	u64 x = 0x9e3779b97f4a7c15UL;
	for (unsigned i = 0; i < NVAL; i++) {
		if (i < NEDGE) {
			val[i] = edge[i];
		} else {
			x = x * 6364136223846793005UL + 1442695040888963407UL;
			val[i] = x ^ (x >> 29);
		}
	}
	case_lbu();
	case_lhu();
	case_lb();
	case_lh();
	case_lw();
	case_lwu();
	case_ld();
	case_slti();
	case_sltiu();
	case_slt();
	case_sltu();
	case_andi_pos();
	case_andi_neg();
	case_andi_small_neg();
	case_andi_sext_neg();
	case_li_pos();
	case_li_neg();
	case_li_and();
	case_addi();
	case_addi_sext();
	case_addi_small();
	case_ori_sext();
	case_ori_any();
	case_xori_small();
	case_xori_neg();
	case_xori_big();
	case_and_small_any();
	case_and_any_small();
	case_and_sext_sext();
	case_and_sext_any();
	case_or_small_small();
	case_or_sext_small();
	case_or_sext_any();
	case_xor_small_small();
	case_xor_sext_sext();
	case_xor_sext_any();
	case_srli_33();
	case_srli_32();
	case_srli_1();
	case_srliw_0();
	case_srliw_1();
	case_srliw_31();
	case_sraiw_0();
	case_sraiw_4();
	case_slliw_31();
	case_srlw();
	case_sraw();
	case_sllw();
	case_lui_neg();
	case_lui_pos();
	case_addiw_1();
	case_addiw_m1();
	case_addiw_big();
	case_addw();
	case_subw();
	case_mulw();
	case_negw();
	case_neg();
	case_negw_small();
	case_sub_small();
	case_sextw_twice();
	case_divw();
	case_divuw();
	case_remw();
	case_remuw();
	crc_loop();
}
