/* rand_fprog.c: randomly generated floating-point programs, differential
 * against QEMU (isa-diff-rand-fprog).  Where rand-fp checks one operation
 * at a time with fflags cleared, this runs sequences: random F and D
 * arithmetic (static rounding modes and dyn with a random frm), FMA, sign
 * injection, min/max, conversions between formats and to/from integers,
 * compares, fclass and moves, on random f registers holding special values,
 * random bits and unboxed singles.  Results feed later instructions, and
 * fflags accumulate over the whole program; the f registers, the integer
 * registers written and fflags are hashed, one line per program. */
#include "isa.h"

#ifndef PROGRAMS
#define PROGRAMS 200
#endif
#ifndef SEED
#define SEED 0x6a09e667f3bcc909UL
#endif
#define LEN 80

long rand_prog_call(void *code, u64 *regs);

static u32 code[LEN + 128] __attribute__((aligned(64)));
static u64 regs[64]; /* x regs at [r], f regs at [32 + r] */
static u32 *pc;

static u64 rng = SEED;
static u64 rnd(void)
{
	return isa_xorshift(&rng);
}
static u32 pick(u32 n)
{
	return (u32)(rnd() % n);
}

static const u64 specials[] = {
	0,
	0x8000000000000000UL,
	0x7ff0000000000000UL,
	0xfff0000000000000UL,
	0x7ff8000000000000UL,
	0x7ff0000000000001UL,
	0x0000000000000001UL,
	0x000fffffffffffffUL,
	0x7fefffffffffffffUL,
	0x3ff0000000000000UL,
	0xbff8000000000000UL,
	0x4340000000000001UL,
	0xffffffff7fc00000UL,
	0xffffffff7f800001UL,
	0xffffffff00000001UL,
	0xffffffff3f800000UL,
	0xffffffffbf000000UL,
	0xffffffff7f7fffffUL,
	0x000000003f800000UL,
};

static u64 fvalue(void)
{
	u64 r = rnd();
	switch (r & 3) {
	case 0: return specials[pick(sizeof(specials) / sizeof(specials[0]))];
	case 1: /* single near 1, boxed */
		return 0xffffffff00000000UL | ((u64)(127 - 10 + pick(20)) << 23) |
		       (rnd() & 0x7fffff) | (r & 0x80000000UL);
	case 2: /* double near 1 */
		return ((u64)(1023 - 30 + pick(60)) << 52) | (rnd() & 0xfffffffffffffUL) |
		       (r & (1UL << 63));
	default: return rnd();
	}
}

static u32 freg(void)
{
	return pick(32);
}
static u32 xreg(void)
{
	return 5 + pick(25);
}
static u32 rm(void)
{
	static const u32 rms[] = { 0, 1, 2, 3, 4, 7, 7 };
	return rms[pick(7)];
}

static void op_fp(u32 f7, u32 rs2, u32 rs1, u32 f3, u32 rd)
{
	*pc++ = f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | 0x53;
}

static void gen(void)
{
	u32 fmt = pick(2); /* 0 = S, 1 = D */
	u32 rd = freg(), a = freg(), b = freg(), c = freg();
	switch (pick(12)) {
	case 0:
	case 1:
	case 2: /* fadd fsub fmul fdiv */ op_fp((pick(4) << 2) | fmt, b, a, rm(), rd); break;
	case 3: /* fsqrt */ op_fp(0x2c | fmt, 0, a, rm(), rd); break;
	case 4:
	case 5: { /* fmadd fmsub fnmsub fnmadd */
		static const u32 ops[] = { 0x43, 0x47, 0x4b, 0x4f };
		*pc++ =
		    c << 27 | fmt << 25 | b << 20 | a << 15 | rm() << 12 | rd << 7 | ops[pick(4)];
		break;
	}
	case 6: /* fsgnj/n/x, fmin/fmax */
		if (pick(2))
			op_fp(0x10 | fmt, b, a, pick(3), rd);
		else
			op_fp(0x14 | fmt, b, a, pick(2), rd);
		break;
	case 7: /* fcvt.s.d / fcvt.d.s */
		if (fmt)
			op_fp(0x20, 1, a, rm(), rd);
		else
			op_fp(0x21, 0, a, rm() == 7 ? 7 : 0, rd);
		break;
	case 8: /* compares, fclass, fmv.x: integer destination */
		switch (pick(3)) {
		case 0: op_fp(0x50 | fmt, b, a, pick(3), xreg()); break;
		case 1: op_fp(0x70 | fmt, 0, a, 1, xreg()); break;
		default: op_fp(0x70 | fmt, 0, a, 0, xreg());
		}
		break;
	case 9: /* fcvt.{w,wu,l,lu}.fmt */ op_fp(0x60 | fmt, pick(4), a, rm(), xreg()); break;
	case 10: /* fcvt.fmt.{w,wu,l,lu} */ op_fp(0x68 | fmt, pick(4), xreg(), rm(), rd); break;
	default: /* fmv.w.x / fmv.d.x */ op_fp(0x78 | fmt, 0, xreg(), 0, rd);
	}
}

static void generate(void)
{
	pc = code;
	for (u32 r = 5; r <= 30; r++) /* ld xr, 8r(x31) */
		*pc++ = (r * 8) << 20 | 31 << 15 | 3 << 12 | r << 7 | 0x03;
	for (u32 r = 0; r < 32; r++) /* fld fr, 8(32+r)(x31) */
		*pc++ = ((32 + r) * 8) << 20 | 31 << 15 | 3 << 12 | r << 7 | 0x07;
	for (int i = 0; i < LEN; i++)
		gen();
	for (u32 r = 5; r <= 30; r++) { /* sd xr, 8r(x31) */
		u32 off = r * 8;
		*pc++ = (off >> 5) << 25 | r << 20 | 31 << 15 | 3 << 12 | (off & 31) << 7 | 0x23;
	}
	for (u32 r = 0; r < 32; r++) { /* fsd fr */
		u32 off = (32 + r) * 8;
		*pc++ = (off >> 5) << 25 | r << 20 | 31 << 15 | 3 << 12 | (off & 31) << 7 | 0x27;
	}
	*pc++ = 0x00008067;
	asm volatile("fence.i" ::: "memory");
}

void test_main(void)
{
	for (int p = 0; p < PROGRAMS; p++) {
		generate();
		for (int r = 0; r < 32; r++) {
			regs[r] = pick(2) ? rnd() : (u64)(i64)(i32)pick(1000) - 500;
			regs[32 + r] = fvalue();
		}
		csr_write(fcsr, 0);
		csr_write(frm, pick(5));
		rand_prog_call(code, regs);
		u64 h = ISA_FNV_INIT;
		for (int r = 5; r <= 30; r++)
			h = isa_fnv(h, regs[r]);
		for (int r = 0; r < 32; r++)
			h = isa_fnv(h, regs[32 + r]);
		h = isa_fnv(h, csr_read(fcsr));
		char name[] = "fprog 000";
		name[6] = (char)('0' + p / 100);
		name[7] = (char)('0' + p / 10 % 10);
		name[8] = (char)('0' + p % 10);
		isa_sig(name, h);
	}
	csr_write(fcsr, 0);
}
