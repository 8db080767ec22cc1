/* rv64d.c: RV64D (unprivileged spec ch. 12 and 11.2-11.3 for the shared
 * rules): every D instruction; rounding in all five static modes and the
 * dynamic mode through frm; the accrued flags NV/DZ/OF/UF/NX; canonical
 * NaN (0x7ff8000000000000) for NaN results; fmin/fmax on -0/+0 and sNaN;
 * fcvt saturation with NV; fused multiply-add rounding once; fclass;
 * reserved rounding modes (static 5/6, dynamic with frm 5..7) illegal. */
#include "fp.h"

#define ONE	  0x3ff0000000000000UL
#define TWO	  0x4000000000000000UL
#define THREE	  0x4008000000000000UL
#define HALF	  0x3fe0000000000000UL
#define MONE	  0xbff0000000000000UL
#define TWO_HALF  0x4004000000000000UL /* 2.5 */
#define MTWO_HALF 0xc004000000000000UL /* -2.5 */
#define PZERO	  0UL
#define MZERO	  0x8000000000000000UL
#define PINF	  0x7ff0000000000000UL
#define MINF	  0xfff0000000000000UL
#define QNAN	  0x7ff8000000000000UL
#define SNAN	  0x7ff0000000000001UL
#define NQNAN	  0xfff8000000000123UL /* negative qNaN with payload */
#define DMAX	  0x7fefffffffffffffUL
#define DMIN	  0x0010000000000000UL /* smallest normal */
#define DSUB	  0x0000000000000001UL /* smallest subnormal */
#define MSUB	  0x8000000000000001UL
#define BIG	  0x41e0000000000000UL /* 2^31 */
#define BIG64	  0x43e0000000000000UL /* 2^63 */
#define E3	  0x41e65a0bc0000000UL /* 3e9 */

static u64 mem[2];

void test_main(void)
{
	/* arithmetic, rounding modes (inexact results) */
	T_F5("fdiv.d ft2, ft0, ft1", FRES, ONE, THREE, 0, 0x3fd5555555555555UL,
	     0x3fd5555555555555UL, 0x3fd5555555555555UL, 0x3fd5555555555556UL, 0x3fd5555555555555UL,
	     NX);
	T_F5("fdiv.d ft2, ft0, ft1", FRES, MONE, THREE, 0, 0xbfd5555555555555UL,
	     0xbfd5555555555555UL, 0xbfd5555555555556UL, 0xbfd5555555555555UL, 0xbfd5555555555555UL,
	     NX);
	T_F5("fsqrt.d ft2, ft0", FRES, TWO, 0, 0, 0x3ff6a09e667f3bcdUL, 0x3ff6a09e667f3bccUL,
	     0x3ff6a09e667f3bccUL, 0x3ff6a09e667f3bcdUL, 0x3ff6a09e667f3bcdUL, NX);
	/* 1 + 3*2^-54: a tie-ish case separating RNE/RMM from RTZ/RDN */
	T_F5("fadd.d ft2, ft0, ft1", FRES, ONE, 0x3ca8000000000000UL, 0, 0x3ff0000000000001UL, ONE,
	     ONE, 0x3ff0000000000001UL, 0x3ff0000000000001UL, NX);
	T_F("fadd.d ft2, ft0, ft1", FRES, ONE, TWO, 0, THREE, 0);
	T_F("fsub.d ft2, ft0, ft1", FRES, ONE, ONE, 0, PZERO, 0);
	T_F("fsub.d ft2, ft0, ft1, rdn", FRES, ONE, ONE, 0, MZERO, 0);
	T_F("fadd.d ft2, ft0, ft1", FRES, MZERO, MZERO, 0, MZERO, 0);
	T_F("fmul.d ft2, ft0, ft1", FRES, TWO_HALF, MONE, 0, MTWO_HALF, 0);
	T_F("fmul.d ft2, ft0, ft1", FRES, DMAX, TWO, 0, PINF, OF | NX);
	T_F("fmul.d ft2, ft0, ft1, rtz", FRES, DMAX, TWO, 0, DMAX, OF | NX);
	T_F("fmul.d ft2, ft0, ft1", FRES, DMIN, HALF, 0, 0x0008000000000000UL, 0);
	T_F("fmul.d ft2, ft0, ft1", FRES, DSUB, HALF, 0, PZERO, UF | NX);
	T_F("fmul.d ft2, ft0, ft1, rup", FRES, DSUB, HALF, 0, DSUB, UF | NX);
	/* tininess is detected after rounding (spec 11.2 / IEEE 754 option):
	 * (1 - 2^-52)(2^-1022 (1 + 2^-52)) = 2^-1022 (1 - 2^-104) rounds to
	 * the smallest normal, so only NX (a before-rounding FPU adds UF) */
	T_F("fmul.d ft2, ft0, ft1", FRES, 0x3feffffffffffffeUL, 0x0010000000000001UL, 0, DMIN, NX);
	T_F("fmul.d ft2, ft0, ft1, rtz", FRES, 0x3feffffffffffffeUL, 0x0010000000000001UL, 0,
	    0x000fffffffffffffUL, UF | NX);
	/* exact subnormal result: no UF, no NX */
	T_F("fmul.d ft2, ft0, ft1", FRES, DMIN, 0x3fd0000000000000UL, 0, 0x0004000000000000UL, 0);
	/* ties in the subnormal range: -5 * 2^-1074 / 2 = -2.5 ulp */
	T_F5("fdiv.d ft2, ft0, ft1", FRES, 0x8000000000000005UL, TWO, 0, 0x8000000000000002UL,
	     0x8000000000000002UL, 0x8000000000000003UL, 0x8000000000000002UL, 0x8000000000000003UL,
	     UF | NX);
	T_F5("fmul.d ft2, ft0, ft1", FRES, 0x0000000000000005UL, HALF, 0, 0x0000000000000002UL,
	     0x0000000000000002UL, 0x0000000000000002UL, 0x0000000000000003UL, 0x0000000000000003UL,
	     UF | NX);
	T_F("fdiv.d ft2, ft0, ft1", FRES, ONE, PZERO, 0, PINF, DZ);
	T_F("fdiv.d ft2, ft0, ft1", FRES, MONE, PZERO, 0, MINF, DZ);
	T_F("fdiv.d ft2, ft0, ft1", FRES, PZERO, PZERO, 0, QNAN, NV);
	T_F("fsqrt.d ft2, ft0", FRES, MONE, 0, 0, QNAN, NV);
	T_F("fsqrt.d ft2, ft0", FRES, MZERO, 0, 0, MZERO, 0);
	T_F("fsub.d ft2, ft0, ft1", FRES, PINF, PINF, 0, QNAN, NV);
	T_F("fmul.d ft2, ft0, ft1", FRES, PINF, PZERO, 0, QNAN, NV);
	/* NaN propagation: always the canonical NaN; NV only for sNaN */
	T_F("fadd.d ft2, ft0, ft1", FRES, NQNAN, ONE, 0, QNAN, 0);
	T_F("fadd.d ft2, ft0, ft1", FRES, SNAN, ONE, 0, QNAN, NV);
	T_F("fmul.d ft2, ft0, ft1", FRES, ONE, SNAN, 0, QNAN, NV);
	T_F("fdiv.d ft2, ft0, ft1", FRES, QNAN, QNAN, 0, QNAN, 0);
	T_F("fsqrt.d ft2, ft0", FRES, SNAN, 0, 0, QNAN, NV);

	/* fused multiply-add: one rounding.  (1+2^-52)(1-2^-53) - 1 is
	 * 2^-53 - 2^-105 exactly; a separate multiply would give 0. */
	T_F("fmadd.d ft2, ft0, ft1, ft3", FRES, 0x3ff0000000000001UL, 0x3fefffffffffffffUL, MONE,
	    0x3c9ffffffffffffeUL, 0);
	T_F("fmsub.d ft2, ft0, ft1, ft3", FRES, 0x3ff0000000000001UL, 0x3fefffffffffffffUL, ONE,
	    0x3c9ffffffffffffeUL, 0);
	T_F("fnmsub.d ft2, ft0, ft1, ft3", FRES, 0x3ff0000000000001UL, 0x3fefffffffffffffUL, ONE,
	    0xbc9ffffffffffffeUL, 0);
	T_F("fnmadd.d ft2, ft0, ft1, ft3", FRES, 0x3ff0000000000001UL, 0x3fefffffffffffffUL, MONE,
	    0xbc9ffffffffffffeUL, 0);
	T_F("fmadd.d ft2, ft0, ft1, ft3", FRES, TWO, THREE, ONE, 0x401c000000000000UL, 0);  /* 7 */
	T_F("fnmadd.d ft2, ft0, ft1, ft3", FRES, TWO, THREE, ONE, 0xc01c000000000000UL, 0); /* -7 */
	T_F("fmsub.d ft2, ft0, ft1, ft3", FRES, TWO, THREE, ONE, 0x4014000000000000UL, 0);  /* 5 */
	T_F("fnmsub.d ft2, ft0, ft1, ft3", FRES, TWO, THREE, ONE, 0xc014000000000000UL, 0); /* -5 */
	/* inf * 0 + qNaN: NV is raised (spec 11.6) */
	T_F("fmadd.d ft2, ft0, ft1, ft3", FRES, PINF, PZERO, QNAN, QNAN, NV);
	T_F("fmadd.d ft2, ft0, ft1, ft3", FRES, ONE, ONE, SNAN, QNAN, NV);
	T_F("fmadd.d ft2, ft0, ft1, ft3", FRES, PINF, ONE, MINF, QNAN, NV);
	T_F("fmadd.d ft2, ft0, ft1, ft3, rdn", FRES, ONE, MONE, ONE, MZERO, 0);

	/* sign injection: raw bits, no canonicalisation */
	T_F("fsgnj.d ft2, ft0, ft1", FRES, ONE, MZERO, 0, MONE, 0);
	T_F("fsgnjn.d ft2, ft0, ft1", FRES, ONE, MZERO, 0, ONE, 0);
	T_F("fsgnjx.d ft2, ft0, ft1", FRES, MONE, MZERO, 0, ONE, 0);
	T_F("fsgnj.d ft2, ft0, ft1", FRES, SNAN, MONE, 0, 0xfff0000000000001UL, 0);
	T_F("fsgnjn.d ft2, ft0, ft0", FRES, NQNAN, 0, 0, 0x7ff8000000000123UL, 0);

	/* min/max */
	T_F("fmin.d ft2, ft0, ft1", FRES, PZERO, MZERO, 0, MZERO, 0);
	T_F("fmin.d ft2, ft0, ft1", FRES, MZERO, PZERO, 0, MZERO, 0);
	T_F("fmax.d ft2, ft0, ft1", FRES, MZERO, PZERO, 0, PZERO, 0);
	T_F("fmax.d ft2, ft0, ft1", FRES, PZERO, MZERO, 0, PZERO, 0);
	T_F("fmin.d ft2, ft0, ft1", FRES, QNAN, MONE, 0, MONE, 0);
	T_F("fmax.d ft2, ft0, ft1", FRES, TWO, NQNAN, 0, TWO, 0);
	T_F("fmin.d ft2, ft0, ft1", FRES, SNAN, ONE, 0, ONE, NV);
	T_F("fmax.d ft2, ft0, ft1", FRES, QNAN, NQNAN, 0, QNAN, 0);
	T_F("fmin.d ft2, ft0, ft1", FRES, SNAN, SNAN, 0, QNAN, NV);
	T_F("fmax.d ft2, ft0, ft1", FRES, SNAN, QNAN, 0, QNAN, NV);
	T_F("fmax.d ft2, ft0, ft1", FRES, NQNAN, SNAN, 0, QNAN, NV);
	T_F("fmax.d ft2, ft0, ft1", FRES, MINF, DMAX, 0, DMAX, 0);

	/* compares: feq quiet, flt/fle signaling */
	T_F("feq.d t0, ft0, ft1", IRES, MZERO, PZERO, 0, 1, 0);
	T_F("feq.d t0, ft0, ft1", IRES, QNAN, QNAN, 0, 0, 0);
	T_F("feq.d t0, ft0, ft1", IRES, SNAN, ONE, 0, 0, NV);
	T_F("flt.d t0, ft0, ft1", IRES, MONE, ONE, 0, 1, 0);
	T_F("flt.d t0, ft0, ft1", IRES, MZERO, PZERO, 0, 0, 0);
	T_F("flt.d t0, ft0, ft1", IRES, QNAN, ONE, 0, 0, NV);
	T_F("fle.d t0, ft0, ft1", IRES, MZERO, PZERO, 0, 1, 0);
	T_F("fle.d t0, ft0, ft1", IRES, ONE, QNAN, 0, 0, NV);
	T_F("fle.d t0, ft0, ft1", IRES, MINF, MINF, 0, 1, 0);

	/* fclass: one bit per class */
	T_F("fclass.d t0, ft0", IRES, MINF, 0, 0, 1 << 0, 0);
	T_F("fclass.d t0, ft0", IRES, MONE, 0, 0, 1 << 1, 0);
	T_F("fclass.d t0, ft0", IRES, MSUB, 0, 0, 1 << 2, 0);
	T_F("fclass.d t0, ft0", IRES, MZERO, 0, 0, 1 << 3, 0);
	T_F("fclass.d t0, ft0", IRES, PZERO, 0, 0, 1 << 4, 0);
	T_F("fclass.d t0, ft0", IRES, DSUB, 0, 0, 1 << 5, 0);
	T_F("fclass.d t0, ft0", IRES, DMAX, 0, 0, 1 << 6, 0);
	T_F("fclass.d t0, ft0", IRES, PINF, 0, 0, 1 << 7, 0);
	T_F("fclass.d t0, ft0", IRES, SNAN, 0, 0, 1 << 8, 0);
	T_F("fclass.d t0, ft0", IRES, NQNAN, 0, 0, 1 << 9, 0);

	/* conversions to integer: rounding and saturation */
	T_F5("fcvt.w.d t0, ft0", IRES, TWO_HALF, 0, 0, 2, 2, 2, 3, 3, NX);
	T_F5("fcvt.w.d t0, ft0", IRES, MTWO_HALF, 0, 0, -2, -2, -3, -2, -3, NX);
	T_F5("fcvt.l.d t0, ft0", IRES, HALF, 0, 0, 0, 0, 0, 1, 1, NX);
	T_F("fcvt.w.d t0, ft0", IRES, THREE, 0, 0, 3, 0);
	T_F("fcvt.w.d t0, ft0", IRES, PINF, 0, 0, 0x7fffffff, NV);
	T_F("fcvt.w.d t0, ft0", IRES, MINF, 0, 0, 0xffffffff80000000UL, NV);
	T_F("fcvt.w.d t0, ft0", IRES, QNAN, 0, 0, 0x7fffffff, NV);
	T_F("fcvt.w.d t0, ft0", IRES, E3, 0, 0, 0x7fffffff, NV);
	T_F("fcvt.w.d t0, ft0", IRES, BIG, 0, 0, 0x7fffffff, NV);
	T_F("fcvt.w.d t0, ft0", IRES, 0xc1e0000000000000UL, 0, 0, 0xffffffff80000000UL,
	    0); /* -2^31 exact */
	T_F("fcvt.wu.d t0, ft0", IRES, E3, 0, 0, 0xffffffffb2d05e00UL, 0);
	T_F("fcvt.wu.d t0, ft0", IRES, MONE, 0, 0, 0, NV);
	T_F("fcvt.wu.d t0, ft0, rtz", IRES, 0xbfe0000000000000UL, 0, 0, 0, NX);
	T_F("fcvt.wu.d t0, ft0", IRES, QNAN, 0, 0, -1, NV);
	T_F("fcvt.wu.d t0, ft0", IRES, PINF, 0, 0, -1, NV);
	T_F("fcvt.l.d t0, ft0", IRES, BIG64, 0, 0, 0x7fffffffffffffffUL, NV);
	T_F("fcvt.l.d t0, ft0", IRES, 0xc3e0000000000000UL, 0, 0, 0x8000000000000000UL, 0);
	T_F("fcvt.l.d t0, ft0", IRES, SNAN, 0, 0, 0x7fffffffffffffffUL, NV);
	T_F("fcvt.l.d t0, ft0", IRES, MINF, 0, 0, 0x8000000000000000UL, NV);
	T_F("fcvt.lu.d t0, ft0", IRES, BIG64, 0, 0, 0x8000000000000000UL, 0);
	T_F("fcvt.lu.d t0, ft0", IRES, PINF, 0, 0, -1, NV);
	T_F("fcvt.lu.d t0, ft0", IRES, MINF, 0, 0, 0, NV);
	T_F("fcvt.lu.d t0, ft0", IRES, MTWO_HALF, 0, 0, 0, NV);
	T_F("fcvt.w.d t0, ft0", IRES, MZERO, 0, 0, 0, 0);
	/* 4294967295.5: RNE rounds to 2^32, out of range (NV); RTZ fits */
	T_F("fcvt.wu.d t0, ft0", IRES, 0x41effffffff00000UL, 0, 0, 0xffffffffffffffffUL, NV);
	T_F("fcvt.wu.d t0, ft0, rtz", IRES, 0x41effffffff00000UL, 0, 0, 0xffffffffffffffffUL, NX);
	/* integer destination x0: result dropped, flags still raised */
	T_F("fcvt.w.d x0, ft0\n mv t0, x0", IRES, PINF, 0, 0, 0, NV);
	T_F("feq.d x0, ft0, ft1\n mv t0, x0", IRES, SNAN, ONE, 0, 0, NV);

	/* conversions from integer */
	u64 v, fl;
#define T_ICVT(op, rm, x, exp, eflags)                                    \
	do {                                                              \
		asm volatile("csrw fflags, zero\n " op " ft2, %2" rm "\n" \
			     "fmv.x.d %0, ft2\n csrr %1, fflags"          \
			     : "=r"(v), "=r"(fl)                          \
			     : "r"((u64)(x))                              \
			     : "ft2");                                    \
		fp_check(op rm " " #x, v, fl, exp, eflags);               \
	} while (0)
	T_ICVT("fcvt.d.w", "", 0xffffffff, MONE, 0); /* low 32 bits, signed */
	T_ICVT("fcvt.d.w", "", 0x100000003UL, THREE, 0);
	T_ICVT("fcvt.d.wu", "", 0xffffffffffffffffUL, 0x41efffffffe00000UL, 0);
	T_ICVT("fcvt.d.l", "", 0x8000000000000000UL, 0xc3e0000000000000UL, 0);
	T_ICVT("fcvt.d.l", "", (1UL << 53) + 1, 0x4340000000000000UL, NX);
	T_ICVT("fcvt.d.l", ", rup", (1UL << 53) + 1, 0x4340000000000001UL, NX);
	T_ICVT("fcvt.d.lu", "", -1, 0x43f0000000000000UL, NX);
	T_ICVT("fcvt.d.lu", ", rtz", -1, 0x43efffffffffffffUL, NX);
	T_ICVT("fcvt.d.l", "", 0, 0, 0);

	/* D <-> S conversions */
	T_F("fcvt.s.d ft2, ft0", FRES, ONE, 0, 0, BOX(0x3f800000), 0);
	T_F("fcvt.s.d ft2, ft0", FRES, 0x3fd5555555555555UL, 0, 0, BOX(0x3eaaaaab), NX);
	T_F("fcvt.s.d ft2, ft0, rtz", FRES, 0x3fd5555555555555UL, 0, 0, BOX(0x3eaaaaaa), NX);
	T_F("fcvt.s.d ft2, ft0", FRES, DMAX, 0, 0, BOX(0x7f800000), OF | NX);
	T_F("fcvt.s.d ft2, ft0", FRES, SNAN, 0, 0, BOX(0x7fc00000), NV);
	T_F("fcvt.s.d ft2, ft0", FRES, NQNAN, 0, 0, BOX(0x7fc00000), 0);
	T_F("fcvt.d.s ft2, ft0", FRES, BOX(0x3eaaaaab), 0, 0, 0x3fd5555560000000UL, 0);
	T_F("fcvt.d.s ft2, ft0", FRES, BOX(0x7f800001), 0, 0, QNAN, NV);
	T_F("fcvt.d.s ft2, ft0", FRES, BOX(0x80000000), 0, 0, MZERO, 0);
	/* a single that is not NaN-boxed reads as the canonical NaN */
	T_F("fcvt.d.s ft2, ft0", FRES, 0x000000003f800000UL, 0, 0, QNAN, 0);

	/* moves, loads, stores: bit-exact, NaNs untouched */
	T_F("fmv.d ft2, ft0", FRES, SNAN, 0, 0, SNAN, 0);
	T_F("fneg.d ft2, ft0", FRES, QNAN, 0, 0, 0xfff8000000000000UL, 0);
	T_F("fabs.d ft2, ft0", FRES, NQNAN, 0, 0, 0x7ff8000000000123UL, 0);
	mem[0] = SNAN;
	asm volatile("fld ft4, 0(%1)\n fsd ft4, 8(%1)\n fmv.x.d %0, ft4"
		     : "=r"(v)
		     : "r"(mem)
		     : "ft4", "memory");
	isa_check("fld/fsd sNaN bits", mem[1], SNAN);
	isa_check("fmv.x.d", v, SNAN);

	/* dynamic rounding through frm, fcsr/fflags/frm aliasing */
	csr_write(fcsr, 0);
	csr_write(frm, 3); /* RUP */
	T_F("fdiv.d ft2, ft0, ft1, dyn", FRES, ONE, THREE, 0, 0x3fd5555555555556UL, NX);
	T_F("fcvt.w.d t0, ft0", IRES, TWO_HALF, 0, 0, 3, NX); /* default dyn */
	csr_write(frm, 2);				      /* RDN */
	T_F("fcvt.w.d t0, ft0, dyn", IRES, MTWO_HALF, 0, 0, -3, NX);
	csr_write(frm, 4); /* RMM */
	T_F("fcvt.l.d t0, ft0", IRES, HALF, 0, 0, 1, NX);
	csr_write(frm, 1); /* RTZ */
	T_F("fsqrt.d ft2, ft0", FRES, TWO, 0, 0, 0x3ff6a09e667f3bccUL, NX);
	isa_check("fcsr = frm<<5 | fflags", csr_read(fcsr), (1 << 5) | NX);
	/* accrued: flags OR together across instructions */
	csr_write(fcsr, 0);
	asm volatile("fmv.d.x ft0, %0\n fmv.d.x ft1, %1\n fdiv.d ft2, ft0, ft1\n"
		     "fmv.d.x ft0, %2\n fsqrt.d ft2, ft0" ::"r"(ONE),
		     "r"(PZERO), "r"(MONE)
		     : "ft0", "ft1", "ft2");
	isa_check("accrued fflags", csr_read(fflags), DZ | NV);
	csr_write(fcsr, 0xff);
	isa_check("fcsr write 0xff: frm", csr_read(frm), 7);
	isa_check("fcsr write 0xff: fflags", csr_read(fflags), 0x1f);
	csr_write(fflags, 0x3f); /* bit 5 is not part of fflags */
	isa_check("fflags write masks to 5 bits", csr_read(fcsr), 0xff);
	csr_write(frm, 0xa);
	isa_check("frm write masks to 3 bits", csr_read(fcsr), 0x5f);

	/* reserved rounding modes are illegal: dynamic with frm = 5..7 */
	for (u64 rm = 5; rm <= 7; rm++) {
		csr_write(frm, rm);
		isa_expect_trap();
		ISA_TRY("fadd.d ft2, ft0, ft1, dyn", ::: "t6", "ft2");
		isa_check("fadd.d dyn with reserved frm: illegal", isa_last_trap.cause,
			  CAUSE_ILLEGAL);
	}
	csr_write(frm, 0);
	/* static rm 5 and 6 are reserved encodings */
	isa_expect_trap();
	ISA_TRY(".insn r 0x53, 5, 1, ft2, ft0, ft1", ::: "t6", "ft2");
	isa_check("fadd.d rm=5: illegal", isa_last_trap.cause, CAUSE_ILLEGAL);
	isa_expect_trap();
	ISA_TRY(".insn r 0x53, 6, 1, ft2, ft0, ft1", ::: "t6", "ft2");
	isa_check("fadd.d rm=6: illegal", isa_last_trap.cause, CAUSE_ILLEGAL);
	csr_write(fcsr, 0);
}
