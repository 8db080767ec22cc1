/* rand_fp.c: randomised differential test of the F and D instructions.
 * Every arithmetic, conversion, compare and sign operation runs in each
 * static rounding mode that applies (rne, rtz, rdn, rup, rmm) on a fixed
 * pseudo-random operand stream mixing special values (±0, ±inf, qNaN, sNaN,
 * subnormals, max/min normal, values near 1 and ties) with random bit
 * patterns; the line per (instruction, mode) is an FNV-1a hash of result
 * bits and fflags.  isa-diff-rand-fp compares the lines with QEMU's. */
#include "fp.h"

#ifndef N
#define N 1000
#endif

#ifndef SEED
#define SEED 0x2545f4914f6cdd1dUL
#endif
static u64 rng;
static u64 next(void)
{
	return isa_xorshift(&rng);
}

static const u64 dspecial[] = {
	0,
	0x8000000000000000UL,
	0x7ff0000000000000UL,
	0xfff0000000000000UL,
	0x7ff8000000000000UL,
	0x7ff0000000000001UL,
	0xfff8000000000001UL,
	0x0000000000000001UL,
	0x800fffffffffffffUL,
	0x7fefffffffffffffUL,
	0x0010000000000000UL,
	0x3ff0000000000000UL,
	0xbff0000000000000UL,
	0x3fe0000000000000UL,
	0x4004000000000000UL,
	0x43e0000000000000UL,
	0x41e0000000000000UL,
	0xc1e0000000000000UL,
	0x3ff0000000000001UL,
	0x4340000000000001UL,
};
static const u32 sspecial[] = {
	0,	    0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc00001,
	0x00000001, 0x807fffff, 0x7f7fffff, 0x00800000, 0x3f800000, 0xbf800000, 0x3f000000,
	0x40200000, 0x5f000000, 0x4f000000, 0xcf000000, 0x3f800001, 0x4b800001,
};
#define NDS (sizeof(dspecial) / sizeof(dspecial[0]))
#define NSS (sizeof(sspecial) / sizeof(sspecial[0]))

static u64 dval(void)
{
	u64 r = next();
	switch (r & 7) {
	case 0:
	case 1: return dspecial[(r >> 8) % NDS];
	case 2: return next(); /* any bits */
	case 3: /* tiny: subnormal results likely */ return (next() & 0x801fffffffffffffUL);
	default: { /* exponent near 0 so results interact */
		u64 e = 1023 - 40 + ((r >> 8) % 80);
		return (r & 0x8000000000000000UL) | (e << 52) | (next() & 0xfffffffffffffUL);
	}
	}
}

static u64 sval(void)
{
	u64 r = next();
	switch (r & 7) {
	case 0:
	case 1: return BOX(sspecial[(r >> 8) % NSS]);
	case 2: return BOX(next());
	case 3: return BOX(next() & 0x80ffffff);
	case 4: return (r & 1) ? next() : (next() & 0xffffffffUL); /* unboxed */
	default: {
		u64 e = 127 - 20 + ((r >> 8) % 40);
		return BOX((r & 0x80000000UL) | (e << 23) | (next() & 0x7fffff));
	}
	}
}

static u64 ival(void)
{
	u64 r = next();
	switch (r & 3) {
	case 0: return (u64)(i32)next();
	case 1: return next() >> ((r >> 4) & 63);
	case 2: return -(next() >> ((r >> 4) & 63));
	default: return next();
	}
}

enum kind { DD, SS, II_D, II_S };
typedef u64 (*fp_fn)(u64, u64, u64, u64 *);

#define FOP(name, insn, res)                                 \
	static u64 name(u64 a, u64 b, u64 c, u64 *fl)        \
	{                                                    \
		u64 f_, r_ = FP_RUN(insn, res, a, b, c, f_); \
		*fl = f_;                                    \
		return r_;                                   \
	}
#define FOP5(name, insn, res)              \
	FOP(name##_rne, insn ", rne", res) \
	FOP(name##_rtz, insn ", rtz", res) \
	FOP(name##_rdn, insn ", rdn", res) \
	FOP(name##_rup, insn ", rup", res) \
	FOP(name##_rmm, insn ", rmm", res)
/* integer source: operand a goes to t0 */
#define IOP(name, insn)                                              \
	static u64 name(u64 a, u64 b, u64 c, u64 *fl)                \
	{                                                            \
		u64 r_, f_;                                          \
		asm volatile("csrw fflags, zero\n mv t0, %2\n " insn \
			     "\n fmv.x.d %0, ft2\n csrr %1, fflags"  \
			     : "=r"(r_), "=r"(f_)                    \
			     : "r"(a)                                \
			     : "t0", "ft2");                         \
		*fl = f_;                                            \
		return r_;                                           \
	}
#define IOP5(name, insn)              \
	IOP(name##_rne, insn ", rne") \
	IOP(name##_rtz, insn ", rtz") \
	IOP(name##_rdn, insn ", rdn") \
	IOP(name##_rup, insn ", rup") \
	IOP(name##_rmm, insn ", rmm")

#define ARITH(p, s)                                             \
	FOP5(p##add, "fadd." s " ft2, ft0, ft1", FRES)          \
	FOP5(p##sub, "fsub." s " ft2, ft0, ft1", FRES)          \
	FOP5(p##mul, "fmul." s " ft2, ft0, ft1", FRES)          \
	FOP5(p##div, "fdiv." s " ft2, ft0, ft1", FRES)          \
	FOP5(p##sqrt, "fsqrt." s " ft2, ft0", FRES)             \
	FOP5(p##madd, "fmadd." s " ft2, ft0, ft1, ft3", FRES)   \
	FOP5(p##msub, "fmsub." s " ft2, ft0, ft1, ft3", FRES)   \
	FOP5(p##nmadd, "fnmadd." s " ft2, ft0, ft1, ft3", FRES) \
	FOP5(p##nmsub, "fnmsub." s " ft2, ft0, ft1, ft3", FRES) \
	FOP5(p##cvt_w, "fcvt.w." s " t0, ft0", IRES)            \
	FOP5(p##cvt_wu, "fcvt.wu." s " t0, ft0", IRES)          \
	FOP5(p##cvt_l, "fcvt.l." s " t0, ft0", IRES)            \
	FOP5(p##cvt_lu, "fcvt.lu." s " t0, ft0", IRES)          \
	IOP5(p##cvt_from_l, "fcvt." s ".l ft2, t0")             \
	IOP5(p##cvt_from_lu, "fcvt." s ".lu ft2, t0")           \
	FOP(p##sgnj, "fsgnj." s " ft2, ft0, ft1", FRES)         \
	FOP(p##sgnjn, "fsgnjn." s " ft2, ft0, ft1", FRES)       \
	FOP(p##sgnjx, "fsgnjx." s " ft2, ft0, ft1", FRES)       \
	FOP(p##min, "fmin." s " ft2, ft0, ft1", FRES)           \
	FOP(p##max, "fmax." s " ft2, ft0, ft1", FRES)           \
	FOP(p##eq, "feq." s " t0, ft0, ft1", IRES)              \
	FOP(p##lt, "flt." s " t0, ft0, ft1", IRES)              \
	FOP(p##le, "fle." s " t0, ft0, ft1", IRES)              \
	FOP(p##class, "fclass." s " t0, ft0", IRES)

ARITH(d_, "d")
ARITH(s_, "s")
IOP5(s_cvt_from_w, "fcvt.s.w ft2, t0")
IOP5(s_cvt_from_wu, "fcvt.s.wu ft2, t0")
IOP(d_cvt_from_w, "fcvt.d.w ft2, t0") /* exact: no rounding mode */
IOP(d_cvt_from_wu, "fcvt.d.wu ft2, t0")
FOP5(d_cvt_s, "fcvt.s.d ft2, ft0", FRES)
FOP(s_cvt_d, "fcvt.d.s ft2, ft0", FRES)
FOP(s_mvxw, "fmv.x.w t0, ft0", IRES)
IOP(s_mvwx, "fmv.w.x ft2, t0")

static const struct {
	const char *name;
	fp_fn fn;
	enum kind kind;
} ops[] = {
#define R5(n, k)                                                                         \
	{ #n ".rne", n##_rne, k }, { #n ".rtz", n##_rtz, k }, { #n ".rdn", n##_rdn, k }, \
	    { #n ".rup", n##_rup, k },                                                   \
	{                                                                                \
#n ".rmm", n##_rmm, k                                                    \
	}
#define ALL(p, k, ik)                                                                          \
	R5(p##add, k), R5(p##sub, k), R5(p##mul, k), R5(p##div, k), R5(p##sqrt, k),            \
	    R5(p##madd, k), R5(p##msub, k), R5(p##nmadd, k), R5(p##nmsub, k), R5(p##cvt_w, k), \
	    R5(p##cvt_wu, k), R5(p##cvt_l, k), R5(p##cvt_lu, k), R5(p##cvt_from_l, ik),        \
	    R5(p##cvt_from_lu, ik), { #p "sgnj", p##sgnj, k }, { #p "sgnjn", p##sgnjn, k },    \
	    { #p "sgnjx", p##sgnjx, k }, { #p "min", p##min, k }, { #p "max", p##max, k },     \
	    { #p "eq", p##eq, k }, { #p "lt", p##lt, k }, { #p "le", p##le, k },               \
	{                                                                                      \
#p "class", p##class, k                                                        \
	}
	ALL(d_, DD, II_D),
	ALL(s_, SS, II_S),
	R5(d_cvt_s, DD),
	R5(s_cvt_from_w, II_S),
	R5(s_cvt_from_wu, II_S),
	{ "d_cvt_from_w", d_cvt_from_w, II_D },
	{ "d_cvt_from_wu", d_cvt_from_wu, II_D },
	{ "s_cvt_d", s_cvt_d, SS },
	{ "s_mvxw", s_mvxw, SS },
	{ "s_mvwx", s_mvwx, II_S },
};

void test_main(void)
{
	for (unsigned k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		u64 h = ISA_FNV_INIT;
		rng = SEED + k / 5; /* same operands per mode */
		for (int i = 0; i < N; i++) {
			u64 a, b, c, fl;
			switch (ops[k].kind) {
			case DD: a = dval(), b = dval(), c = dval(); break;
			case SS: a = sval(), b = sval(), c = sval(); break;
			default: a = ival(), b = c = 0;
			}
			u64 r = ops[k].fn(a, b, c, &fl);
#ifdef DUMP_OP /* debugging aid: every sample of one operation */
			if (k == DUMP_OP)
				isa_printf("%s %016lx %016lx %016lx -> %016lx "
					   "fl %lx\n",
					   ops[k].name, a, b, c, r, fl);
#endif
			h = isa_fnv(isa_fnv(h, r), fl);
		}
		isa_sig(ops[k].name, h);
	}
	csr_write(fcsr, 0);
}
