/* rv64f.c: RV64F (unprivileged spec ch. 11): every F instruction with the
 * same classes of edge cases as rv64d.c, plus NaN boxing (§12.2): single
 * results are written with the upper 32 bits all ones, and a single operand
 * whose upper 32 bits are not all ones reads as the canonical NaN
 * 0x7fc00000; fmv.x.w sign-extends, flw/fmv.w.x box. */
#include "fp.h"

#define ONE	  BOX(0x3f800000)
#define TWO	  BOX(0x40000000)
#define THREE	  BOX(0x40400000)
#define HALF	  BOX(0x3f000000)
#define MONE	  BOX(0xbf800000)
#define TWO_HALF  BOX(0x40200000)
#define MTWO_HALF BOX(0xc0200000)
#define PZERO	  BOX(0)
#define MZERO	  BOX(0x80000000)
#define PINF	  BOX(0x7f800000)
#define MINF	  BOX(0xff800000)
#define QNAN	  BOX(0x7fc00000)
#define SNAN	  BOX(0x7f800001)
#define NQNAN	  BOX(0xffc00123)
#define FMAX	  BOX(0x7f7fffff)
#define FMIN	  BOX(0x00800000)
#define FSUB	  BOX(0x00000001)
#define MSUB	  BOX(0x80000001)
#define UNBOXED	  0x000000003f800000UL /* 1.0f without the box */
#define HALFBOXED 0xfffffffe3f800000UL /* one upper bit clear */

static u32 mem[2];

__attribute__((unused)) static long u_fp(long arg)
{
	u64 r;
	csr_write(fcsr, 0);
	csr_write(frm, 2);
	asm volatile("fmv.w.x ft0, %1\n fmv.w.x ft1, %2\n fdiv.s ft2, ft0, ft1\n"
		     "csrr %0, fcsr"
		     : "=r"(r)
		     : "r"(0x3f800000UL), "r"(0x40400000UL)
		     : "ft0", "ft1", "ft2");
	return (long)r;
}

void test_main(void)
{
	T_F5("fdiv.s ft2, ft0, ft1", FRES, ONE, THREE, 0, BOX(0x3eaaaaab), BOX(0x3eaaaaaa),
	     BOX(0x3eaaaaaa), BOX(0x3eaaaaab), BOX(0x3eaaaaab), NX);
	T_F5("fdiv.s ft2, ft0, ft1", FRES, MONE, THREE, 0, BOX(0xbeaaaaab), BOX(0xbeaaaaaa),
	     BOX(0xbeaaaaab), BOX(0xbeaaaaaa), BOX(0xbeaaaaab), NX);
	T_F5("fsqrt.s ft2, ft0", FRES, TWO, 0, 0, BOX(0x3fb504f3), BOX(0x3fb504f3), BOX(0x3fb504f3),
	     BOX(0x3fb504f4), BOX(0x3fb504f3), NX);
	T_F("fadd.s ft2, ft0, ft1", FRES, ONE, TWO, 0, THREE, 0);
	T_F("fsub.s ft2, ft0, ft1", FRES, ONE, ONE, 0, PZERO, 0);
	T_F("fsub.s ft2, ft0, ft1, rdn", FRES, ONE, ONE, 0, MZERO, 0);
	T_F("fmul.s ft2, ft0, ft1", FRES, TWO_HALF, MONE, 0, MTWO_HALF, 0);
	T_F("fmul.s ft2, ft0, ft1", FRES, FMAX, TWO, 0, PINF, OF | NX);
	T_F("fmul.s ft2, ft0, ft1, rtz", FRES, FMAX, TWO, 0, FMAX, OF | NX);
	T_F("fmul.s ft2, ft0, ft1, rdn", FRES, FMAX, BOX(0xc0000000), 0, MINF, OF | NX);
	T_F("fmul.s ft2, ft0, ft1", FRES, FMIN, HALF, 0, BOX(0x00400000), 0);
	T_F("fmul.s ft2, ft0, ft1", FRES, FSUB, HALF, 0, PZERO, UF | NX);
	T_F("fmul.s ft2, ft0, ft1, rup", FRES, FSUB, HALF, 0, FSUB, UF | NX);
	/* tininess after rounding: (1 - 2^-23)(2^-126 (1 + 2^-23)) -> FMIN */
	T_F("fmul.s ft2, ft0, ft1", FRES, BOX(0x3f7ffffe), BOX(0x00800001), 0, FMIN, NX);
	/* ties in the subnormal range: -5 * 2^-149 / 2 = -2.5 ulp */
	T_F5("fdiv.s ft2, ft0, ft1", FRES, BOX(0x80000005), TWO, 0, BOX(0x80000002),
	     BOX(0x80000002), BOX(0x80000003), BOX(0x80000002), BOX(0x80000003), UF | NX);
	T_F5("fmul.s ft2, ft0, ft1", FRES, BOX(0x00000005), HALF, 0, BOX(0x00000002),
	     BOX(0x00000002), BOX(0x00000002), BOX(0x00000003), BOX(0x00000003), UF | NX);
	/* found by rand-fp: an exact RMM tie of a subnormal quotient */
	T_F("fdiv.s ft2, ft0, ft1, rmm", FRES, BOX(0x9f9f523d), BOX(0x5f000000), 0, BOX(0x804fa91f),
	    UF | NX);
	T_F("fdiv.s ft2, ft0, ft1", FRES, ONE, MZERO, 0, MINF, DZ);
	T_F("fdiv.s ft2, ft0, ft1", FRES, PZERO, PZERO, 0, QNAN, NV);
	T_F("fdiv.s ft2, ft0, ft1", FRES, PINF, PINF, 0, QNAN, NV);
	T_F("fsqrt.s ft2, ft0", FRES, MONE, 0, 0, QNAN, NV);
	T_F("fsqrt.s ft2, ft0", FRES, PINF, 0, 0, PINF, 0);
	T_F("fadd.s ft2, ft0, ft1", FRES, NQNAN, ONE, 0, QNAN, 0);
	T_F("fadd.s ft2, ft0, ft1", FRES, SNAN, ONE, 0, QNAN, NV);
	T_F("fadd.s ft2, ft0, ft1", FRES, PINF, MINF, 0, QNAN, NV);

	/* FMA single rounding: (1+2^-23)(1-2^-24) - 1 = 2^-24 - 2^-47 */
	T_F("fmadd.s ft2, ft0, ft1, ft3", FRES, BOX(0x3f800001), BOX(0x3f7fffff), MONE,
	    BOX(0x337ffffe), 0);
	T_F("fmsub.s ft2, ft0, ft1, ft3", FRES, TWO, THREE, ONE, BOX(0x40a00000), 0);
	T_F("fnmsub.s ft2, ft0, ft1, ft3", FRES, TWO, THREE, ONE, BOX(0xc0a00000), 0);
	T_F("fnmadd.s ft2, ft0, ft1, ft3", FRES, TWO, THREE, ONE, BOX(0xc0e00000), 0);
	T_F("fmadd.s ft2, ft0, ft1, ft3", FRES, PINF, PZERO, QNAN, QNAN, NV);
	T_F("fmadd.s ft2, ft0, ft1, ft3", FRES, FMAX, TWO, MINF, MINF, 0);

	/* NaN boxing of inputs */
	T_F("fadd.s ft2, ft0, ft1", FRES, UNBOXED, ONE, 0, QNAN, 0);
	T_F("fadd.s ft2, ft0, ft1", FRES, HALFBOXED, ONE, 0, QNAN, 0);
	T_F("fsgnj.s ft2, ft0, ft1", FRES, UNBOXED, MONE, 0, BOX(0xffc00000), 0);
	T_F("fsgnj.s ft2, ft0, ft1", FRES, ONE, UNBOXED, 0, ONE, 0);
	T_F("fmv.x.w t0, ft0", IRES, UNBOXED, 0, 0, 0x3f800000, 0);
	T_F("fmv.x.w t0, ft0", IRES, MONE, 0, 0, 0xffffffffbf800000UL, 0);
	T_F("fclass.s t0, ft0", IRES, UNBOXED, 0, 0, 1 << 9, 0);
	T_F("feq.s t0, ft0, ft1", IRES, UNBOXED, UNBOXED, 0, 0, 0);
	T_F("fcvt.w.s t0, ft0", IRES, UNBOXED, 0, 0, 0x7fffffff, NV);
	T_F("fmin.s ft2, ft0, ft1", FRES, UNBOXED, TWO, 0, TWO, 0);

	/* sign injection */
	T_F("fsgnj.s ft2, ft0, ft1", FRES, ONE, MZERO, 0, MONE, 0);
	T_F("fsgnjn.s ft2, ft0, ft1", FRES, ONE, MZERO, 0, ONE, 0);
	T_F("fsgnjx.s ft2, ft0, ft1", FRES, MONE, MZERO, 0, ONE, 0);
	T_F("fsgnj.s ft2, ft0, ft1", FRES, SNAN, MONE, 0, BOX(0xff800001), 0);

	/* min/max */
	T_F("fmin.s ft2, ft0, ft1", FRES, PZERO, MZERO, 0, MZERO, 0);
	T_F("fmax.s ft2, ft0, ft1", FRES, MZERO, PZERO, 0, PZERO, 0);
	T_F("fmin.s ft2, ft0, ft1", FRES, QNAN, MONE, 0, MONE, 0);
	T_F("fmax.s ft2, ft0, ft1", FRES, SNAN, ONE, 0, ONE, NV);
	T_F("fmax.s ft2, ft0, ft1", FRES, NQNAN, QNAN, 0, QNAN, 0);

	/* compares */
	T_F("feq.s t0, ft0, ft1", IRES, MZERO, PZERO, 0, 1, 0);
	T_F("feq.s t0, ft0, ft1", IRES, QNAN, ONE, 0, 0, 0);
	T_F("feq.s t0, ft0, ft1", IRES, ONE, SNAN, 0, 0, NV);
	T_F("flt.s t0, ft0, ft1", IRES, MONE, ONE, 0, 1, 0);
	T_F("flt.s t0, ft0, ft1", IRES, QNAN, ONE, 0, 0, NV);
	T_F("fle.s t0, ft0, ft1", IRES, ONE, ONE, 0, 1, 0);
	T_F("fle.s t0, ft0, ft1", IRES, SNAN, ONE, 0, 0, NV);

	/* fclass */
	T_F("fclass.s t0, ft0", IRES, MINF, 0, 0, 1 << 0, 0);
	T_F("fclass.s t0, ft0", IRES, MONE, 0, 0, 1 << 1, 0);
	T_F("fclass.s t0, ft0", IRES, MSUB, 0, 0, 1 << 2, 0);
	T_F("fclass.s t0, ft0", IRES, MZERO, 0, 0, 1 << 3, 0);
	T_F("fclass.s t0, ft0", IRES, PZERO, 0, 0, 1 << 4, 0);
	T_F("fclass.s t0, ft0", IRES, FSUB, 0, 0, 1 << 5, 0);
	T_F("fclass.s t0, ft0", IRES, FMAX, 0, 0, 1 << 6, 0);
	T_F("fclass.s t0, ft0", IRES, PINF, 0, 0, 1 << 7, 0);
	T_F("fclass.s t0, ft0", IRES, SNAN, 0, 0, 1 << 8, 0);
	T_F("fclass.s t0, ft0", IRES, QNAN, 0, 0, 1 << 9, 0);

	/* to integer */
	T_F5("fcvt.w.s t0, ft0", IRES, TWO_HALF, 0, 0, 2, 2, 2, 3, 3, NX);
	T_F5("fcvt.w.s t0, ft0", IRES, MTWO_HALF, 0, 0, -2, -2, -3, -2, -3, NX);
	T_F5("fcvt.lu.s t0, ft0", IRES, HALF, 0, 0, 0, 0, 0, 1, 1, NX);
	T_F("fcvt.w.s t0, ft0", IRES, PINF, 0, 0, 0x7fffffff, NV);
	T_F("fcvt.w.s t0, ft0", IRES, MINF, 0, 0, 0xffffffff80000000UL, NV);
	T_F("fcvt.w.s t0, ft0", IRES, BOX(0x4f000000), 0, 0, 0x7fffffff, NV);
	T_F("fcvt.wu.s t0, ft0", IRES, BOX(0x4f000000), 0, 0, 0xffffffff80000000UL, 0);
	T_F("fcvt.wu.s t0, ft0", IRES, MONE, 0, 0, 0, NV);
	T_F("fcvt.wu.s t0, ft0", IRES, QNAN, 0, 0, -1, NV);
	T_F("fcvt.l.s t0, ft0", IRES, BOX(0x5f000000), 0, 0, 0x7fffffffffffffffUL, NV);
	T_F("fcvt.l.s t0, ft0", IRES, BOX(0xdf000000), 0, 0, 0x8000000000000000UL, 0);
	T_F("fcvt.l.s t0, ft0", IRES, QNAN, 0, 0, 0x7fffffffffffffffUL, NV);
	T_F("fcvt.lu.s t0, ft0", IRES, BOX(0x5f800000), 0, 0, -1, NV);
	T_F("fcvt.lu.s t0, ft0", IRES, MINF, 0, 0, 0, NV);

	/* from integer */
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
	/* 2^24 + 3 = 16777219 is a tie: RNE to even, RMM away */
	T_ICVT("fcvt.s.w", "", 16777219, BOX(0x4b800002), NX);
	T_ICVT("fcvt.s.w", ", rtz", 16777219, BOX(0x4b800001), NX);
	T_ICVT("fcvt.s.w", ", rmm", 16777219, BOX(0x4b800002), NX);
	T_ICVT("fcvt.s.w", ", rdn", 16777219, BOX(0x4b800001), NX);
	T_ICVT("fcvt.s.w", "", 0xffffffff, MONE, 0);
	T_ICVT("fcvt.s.wu", "", 0xffffffff, BOX(0x4f800000), NX);
	T_ICVT("fcvt.s.l", "", 0x8000000000000000UL, BOX(0xdf000000), 0);
	T_ICVT("fcvt.s.lu", "", -1, BOX(0x5f800000), NX);
	T_ICVT("fcvt.s.lu", ", rtz", -1, BOX(0x5f7fffff), NX);
	T_ICVT("fmv.w.x", "", 0x12345678bf800000UL, MONE, 0);

	/* loads/stores: flw boxes, fsw stores the low 32 bits as they are */
	mem[0] = 0x7f800001;
	asm volatile("flw ft4, 0(%1)\n fsw ft4, 4(%1)\n fmv.x.d %0, ft4"
		     : "=r"(v)
		     : "r"(mem)
		     : "ft4", "memory");
	isa_check("flw boxes", v, BOX(0x7f800001));
	isa_check("fsw sNaN bits", mem[1], 0x7f800001);
	asm volatile("fmv.d.x ft4, %1\n fsw ft4, 4(%0)" ::"r"(mem), "r"(UNBOXED) : "ft4", "memory");
	isa_check("fsw of unboxed value stores low bits", mem[1], 0x3f800000);

	/* dynamic rounding */
	csr_write(fcsr, 0);
	csr_write(frm, 2);
	T_F("fdiv.s ft2, ft0, ft1, dyn", FRES, MONE, THREE, 0, BOX(0xbeaaaaab), NX);
	csr_write(frm, 4);
	T_F("fcvt.w.s t0, ft0", IRES, MTWO_HALF, 0, 0, -3, NX);
	csr_write(fcsr, 0);

#if !ISA_VM /* isa_run_in_mode needs M-mode */
	/* U-mode may use fcsr/frm/fflags and FP instructions */
	isa_check("U-mode FP and fcsr", isa_run_in_mode(MODE_U, u_fp, 0), (2 << 5) | NX);
	csr_write(fcsr, 0);
#endif

	/* FP disabled (mstatus.FS = Off) makes F instructions illegal */
#if !ISA_VM
	csr_clear(mstatus, MSTATUS_FS);
	isa_expect_trap();
	ISA_TRY("fadd.s ft2, ft0, ft1", ::: "t6", "ft2");
	isa_check("fadd.s with FS=Off: illegal", isa_last_trap.cause, CAUSE_ILLEGAL);
	isa_expect_trap();
	ISA_TRY("csrr t0, fcsr", ::: "t6", "t0");
	isa_check("fcsr with FS=Off: illegal", isa_last_trap.cause, CAUSE_ILLEGAL);
	csr_set(mstatus, 1UL << 13);
	/* writing an F register makes FS Dirty and SD set */
	asm volatile("fmv.w.x ft2, zero" ::: "ft2");
	isa_check("FS dirty after FP write", (csr_read(mstatus) >> 13) & 3, 3);
	isa_check("SD set when FS dirty", csr_read(mstatus) >> 63, 1);
	isa_check("sstatus.SD set when FS dirty", csr_read(sstatus) >> 63, 1);
	isa_check("sstatus.FS visible", (csr_read(sstatus) >> 13) & 3, 3);
	/* FP loads/stores and moves are illegal with FS = Off too */
	csr_clear(mstatus, MSTATUS_FS);
	isa_expect_trap();
	ISA_TRY("flw ft3, 0(%0)", ::"r"(mem) : "t6", "ft3");
	isa_check("flw with FS=Off: illegal", isa_last_trap.cause, CAUSE_ILLEGAL);
	isa_expect_trap();
	ISA_TRY("fsd ft3, 0(%0)", ::"r"(mem) : "t6", "memory");
	isa_check("fsd with FS=Off: illegal", isa_last_trap.cause, CAUSE_ILLEGAL);
	isa_expect_trap();
	ISA_TRY("fmv.x.w t0, ft3", ::: "t6", "t0");
	isa_check("fmv.x.w with FS=Off: illegal", isa_last_trap.cause, CAUSE_ILLEGAL);
	isa_check("sstatus.SD clear with FS=Off", csr_read(sstatus) >> 63, 0);
	/* writing fcsr makes FS dirty */
	csr_set(mstatus, 1UL << 13);
	csr_write(fcsr, 0);
	isa_check("fcsr write makes FS dirty", (csr_read(mstatus) >> 13) & 3, 3);
#endif
}
