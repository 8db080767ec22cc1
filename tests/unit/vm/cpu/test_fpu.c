/*
 * Unit tests for lib/vm/cpu/fpu.c edge cases: canonical NaNs, NaN boxing,
 * fmin/fmax with signed zeros and signalling NaNs, saturating conversions,
 * accrued flags, static vs dynamic rounding modes (incl. RMM ties), FMA
 * single rounding, fclass, and illegal cases (FS off, reserved rm).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cpu_internal.h"

#define NX 1
#define UF 2
#define OF 4
#define DZ 8
#define NV 16

static uint8_t ram[4096];
static struct vm_bus bus;
static struct rv_core *core;
static struct rv_hart *h;

static uint64_t fake_time(void *opaque)
{
	return 0;
}

static uint64_t d(double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	return u;
}

static uint64_t s(float v)
{
	uint32_t u;
	memcpy(&u, &v, 4);
	return 0xffffffff00000000ULL | u;
}

/* Run one FP op: operands in f1,f2,f3 (or x11 for int sources); result in f10 or x10. */
static uint64_t run(unsigned opc, unsigned rm, uint64_t a, uint64_t b, uint64_t c, bool int_dest)
{
	struct rv_uop u = { .opc = (uint16_t)opc,
			    .rd = 10,
			    .rs1 = 1,
			    .rs2 = 2,
			    .rs3 = 3,
			    .rm = (uint8_t)rm,
			    .raw = 0x12345 };
	h->f[1] = a;
	h->f[2] = b;
	h->f[3] = c;
	h->x[1] = a;
	h->fflags = 0;
	assert_int_equal(rv_fp_exec(h, &u), 0);
	return int_dest ? h->x[10] : h->f[10];
}

static int setup(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	vm_bus_init(&bus);
	assert_int_equal(vm_bus_add_ram(&bus, 0x80000000, sizeof(ram), ram, false, "ram", &err), 0);
	core = rv_core_new(&bus, 1, fake_time, NULL, &err);
	assert_non_null(core);
	h = rv_core_hart(core, 0);
	h->mstatus |= 1ULL << 13; /* FS = Initial */
	return 0;
}

static int teardown(void **state)
{
	rv_core_free(core);
	return 0;
}

static void test_nan_rules(void **state)
{
	/* 0 * inf: invalid, canonical NaN. */
	assert_int_equal(run(RV_OP_FMUL_D, 0, d(0.0), d(INFINITY), 0, false),
			 0x7ff8000000000000ULL);
	assert_int_equal(h->fflags, NV);
	/* A quiet NaN input propagates as the canonical NaN, no flags. */
	assert_int_equal(run(RV_OP_FADD_D, 0, 0xfff0000000000123ULL | (1ULL << 51), d(1), 0, false),
			 0x7ff8000000000000ULL);
	assert_int_equal(h->fflags, 0);
	/* A signalling NaN raises NV. */
	run(RV_OP_FADD_S, 0, 0xffffffff7f800001ULL, s(1), 0, false);
	assert_int_equal(h->fflags, NV);
	/* An improperly boxed single reads as the canonical NaN. */
	assert_int_equal(run(RV_OP_FADD_S, 0, 0x000000003f800000ULL, s(1), 0, false),
			 0xffffffff7fc00000ULL);
	/* fmv.x.w does not check boxing; it sign-extends the low word. */
	assert_int_equal(run(RV_OP_FMV_X_W, 0, 0x12345678bf800000ULL, 0, 0, true),
			 0xffffffffbf800000ULL);
}

static void test_minmax_compare(void **state)
{
	assert_int_equal(run(RV_OP_FMIN_D, 0, d(0.0), d(-0.0), 0, false), d(-0.0));
	assert_int_equal(run(RV_OP_FMAX_D, 0, d(-0.0), d(0.0), 0, false), d(0.0));
	/* One NaN: the other operand; sNaN raises NV. */
	assert_int_equal(run(RV_OP_FMIN_S, 0, 0xffffffff7f800001ULL, s(2), 0, false), s(2));
	assert_int_equal(h->fflags, NV);
	assert_int_equal(run(RV_OP_FMAX_S, 0, s(NAN), s(NAN), 0, false), 0xffffffff7fc00000ULL);
	/* FEQ is quiet on qNaN, FLT/FLE signal. */
	assert_int_equal(run(RV_OP_FEQ_D, 0, d(NAN), d(1), 0, true), 0);
	assert_int_equal(h->fflags, 0);
	assert_int_equal(run(RV_OP_FLT_D, 0, d(NAN), d(1), 0, true), 0);
	assert_int_equal(h->fflags, NV);
	assert_int_equal(run(RV_OP_FLE_S, 0, s(-0.0f), s(0.0f), 0, true), 1);
	/* fclass */
	assert_int_equal(run(RV_OP_FCLASS_D, 0, d(-INFINITY), 0, 0, true), 1 << 0);
	assert_int_equal(run(RV_OP_FCLASS_D, 0, d(-0.0), 0, 0, true), 1 << 3);
	assert_int_equal(run(RV_OP_FCLASS_D, 0, 1, 0, 0, true), 1 << 5); /* +subnormal */
	assert_int_equal(run(RV_OP_FCLASS_S, 0, 0xffffffff7f800001ULL, 0, 0, true), 1 << 8);
	assert_int_equal(run(RV_OP_FCLASS_S, 0, 0xffffffff7fc00000ULL, 0, 0, true), 1 << 9);
}

static void test_conversions(void **state)
{
	/* Saturation and NV. */
	assert_int_equal(run(RV_OP_FCVT_W_D, 1, d(3e10), 0, 0, true), 0x7fffffff);
	assert_int_equal(h->fflags, NV);
	assert_int_equal(run(RV_OP_FCVT_W_D, 1, d(-3e10), 0, 0, true), 0xffffffff80000000ULL);
	assert_int_equal(run(RV_OP_FCVT_L_S, 1, s(NAN), 0, 0, true), 0x7fffffffffffffffULL);
	assert_int_equal(run(RV_OP_FCVT_LU_D, 1, d(-1.0), 0, 0, true), 0);
	assert_int_equal(h->fflags, NV);
	/* -0.5 to unsigned rounds to 0: inexact, not invalid. */
	assert_int_equal(run(RV_OP_FCVT_WU_D, 0, d(-0.5), 0, 0, true), 0);
	assert_int_equal(h->fflags, NX);
	/* fcvt.wu results are sign-extended from 32 bits. */
	assert_int_equal(run(RV_OP_FCVT_WU_D, 1, d(3e9), 0, 0, true), 0xffffffffb2d05e00ULL);
	/* Rounding modes: 2.5 -> 2 (RNE), 3 (RMM), 2 (RTZ), 2 (RDN), 3 (RUP). */
	static const uint64_t want[5] = { 2, 2, 2, 3, 3 };
	for (unsigned rm = 0; rm < 5; rm++)
		assert_int_equal(run(RV_OP_FCVT_L_D, rm, d(2.5), 0, 0, true), want[rm]);
	/* Dynamic rounding uses frm. */
	h->frm = 3;
	assert_int_equal(run(RV_OP_FCVT_L_D, 7, d(2.1), 0, 0, true), 3);
	h->frm = 0;
	/* Integer to float: 2^53 + 1 is a tie between 2^53 and 2^53 + 2. */
	assert_int_equal(run(RV_OP_FCVT_D_L, 0, (1ULL << 53) + 1, 0, 0, false),
			 d(9007199254740992.0));
	assert_int_equal(h->fflags, NX);
	assert_int_equal(run(RV_OP_FCVT_D_L, 4, (1ULL << 53) + 1, 0, 0, false),
			 d(9007199254740994.0));
	assert_int_equal(run(RV_OP_FCVT_S_LU, 0, ~0ULL, 0, 0, false), s(18446744073709551616.0f));
	/* Narrowing overflow. */
	assert_int_equal(run(RV_OP_FCVT_S_D, 0, d(1e300), 0, 0, false), s(INFINITY));
	assert_int_equal(h->fflags, OF | NX);
	assert_int_equal(run(RV_OP_FCVT_S_D, 1, d(1e300), 0, 0, false), s(3.40282347e38f));
}

static void test_rounding_and_fma(void **state)
{
	/* 1 + 2^-53 is a tie: RNE keeps 1, RMM goes to 1 + 2^-52, RUP too. */
	double tiny = 0x1p-53;
	assert_int_equal(run(RV_OP_FADD_D, 0, d(1.0), d(tiny), 0, false), d(1.0));
	assert_int_equal(h->fflags, NX);
	assert_int_equal(run(RV_OP_FADD_D, 4, d(1.0), d(tiny), 0, false), d(1.0 + 0x1p-52));
	assert_int_equal(run(RV_OP_FADD_D, 3, d(1.0), d(tiny), 0, false), d(1.0 + 0x1p-52));
	assert_int_equal(run(RV_OP_FSUB_D, 2, d(-1.0), d(tiny), 0, false), d(-1.0 - 0x1p-52));
	/* Single precision tie under RMM: 1 + 2^-24. */
	assert_int_equal(run(RV_OP_FADD_S, 4, s(1.0f), s(0x1p-24f), 0, false), s(1.0f + 0x1p-23f));
	/* Subnormal quotients can be ties: -2.5 ulp goes to -3 ulp under RMM. */
	assert_int_equal(run(RV_OP_FDIV_D, 4, 0x8000000000000005ULL, d(2.0), 0, false),
			 0x8000000000000003ULL);
	assert_int_equal(h->fflags, UF | NX);
	assert_int_equal(run(RV_OP_FDIV_D, 0, 0x8000000000000005ULL, d(2.0), 0, false),
			 0x8000000000000002ULL);
	assert_int_equal(run(RV_OP_FDIV_S, 4, 0xffffffff80000005ULL, s(2.0f), 0, false),
			 0xffffffff80000003ULL);
	/* FMA rounds once: (1 + 2^-30)^2 - 1 keeps the 2^-60 term. */
	double a = 1.0 + 0x1p-30;
	assert_int_equal(run(RV_OP_FMADD_D, 0, d(a), d(a), d(-1.0), false), d(0x1p-29 + 0x1p-60));
	/* fnmadd: -(a*b) - c */
	assert_int_equal(run(RV_OP_FNMADD_D, 0, d(2.0), d(3.0), d(1.0), false), d(-7.0));
	/* inf * 0 + qNaN raises NV. */
	run(RV_OP_FMADD_D, 0, d(INFINITY), d(0.0), d(NAN), false);
	assert_true(h->fflags & NV);
	/* Division by zero and underflow. */
	assert_int_equal(run(RV_OP_FDIV_D, 0, d(1.0), d(0.0), 0, false), d(INFINITY));
	assert_int_equal(h->fflags, DZ);
	run(RV_OP_FMUL_D, 0, d(0x1.0000000000001p-1000), d(0x1p-60), 0, false);
	assert_int_equal(h->fflags, UF | NX);
	/* sqrt(-1): NV and canonical NaN. */
	assert_int_equal(run(RV_OP_FSQRT_D, 0, d(-1.0), 0, 0, false), 0x7ff8000000000000ULL);
	assert_int_equal(h->fflags, NV);
	/* Sign injection keeps NaN payloads (no canonicalisation). */
	assert_int_equal(run(RV_OP_FSGNJN_D, 0, 0x7ff0000000000001ULL, d(1.0), 0, false),
			 0xfff0000000000001ULL);
}

static void test_illegal(void **state)
{
	struct rv_uop u = {
		.opc = RV_OP_FADD_D, .rd = 1, .rs1 = 1, .rs2 = 1, .rm = 5, .raw = 0xabcd
	};
	h->mtvec = 0x80000000;
	assert_int_equal(rv_fp_exec(h, &u), -1); /* reserved static rm */
	assert_int_equal(h->mcause, RV_EXC_ILLEGAL);
	assert_int_equal(h->mtval, 0xabcd);
	u.rm = 7;
	h->frm = 6; /* reserved dynamic rm */
	assert_int_equal(rv_fp_exec(h, &u), -1);
	h->frm = 0;
	h->mstatus &= ~MSTATUS_FS; /* FP off */
	u.rm = 0;
	assert_int_equal(rv_fp_exec(h, &u), -1);
	h->mstatus |= 1ULL << 13;
	/* A completed FP op marks FS dirty (and SD). */
	assert_int_equal(rv_fp_exec(h, &u), 0);
	assert_int_equal(h->mstatus & MSTATUS_FS, MSTATUS_FS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nan_rules),   cmocka_unit_test(test_minmax_compare),
		cmocka_unit_test(test_conversions), cmocka_unit_test(test_rounding_and_fma),
		cmocka_unit_test(test_illegal),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
