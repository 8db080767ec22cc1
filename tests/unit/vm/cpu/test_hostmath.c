/*
 * Unit tests for lib/vm/cpu/hostmath.h, the libm-free helpers of the FPU
 * emulation: each is compared with libm (which this test links) on edge
 * cases and on random operands biased toward the hard ones (subnormals,
 * huge exponents, near-integers, halves, products cancelled by the addend),
 * in every host rounding mode for the operations that round: results bit
 * for bit, and the exception flags of fma and sqrt.
 */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hostmath.h"

#define ROUNDS 200000

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double d_of(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

static uint64_t u_of(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static uint32_t uf_of(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u;
}

static double random_operand(void)
{
	uint64_t u = rnd();
	switch (rnd() % 8) {
	case 0: return d_of(u & 0x800fffffffffffffULL); /* subnormal or zero */
	case 1:						/* 1 .. 2^60, any fraction */
		return d_of((u & 0x800fffffffffffffULL) | (uint64_t)(1023 + rnd() % 60) << 52);
	case 2: /* near-integers and halves */
		return d_of((u & 0x8000000000000000ULL) | (uint64_t)(1023 + rnd() % 60) << 52 |
			    (rnd() % 4) << 50);
	case 3: return (double)((int64_t)(rnd() % 2000) - 1000) / 2;
	default: return d_of(u);
	}
}

static bool same_d(double a, double b)
{
	return u_of(a) == u_of(b) || (isnan(a) && isnan(b));
}

static bool same_f(float a, float b)
{
	return uf_of(a) == uf_of(b) || (isnan(a) && isnan(b));
}

static const int modes[4] = { FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD };

/* fma and sqrt: the result and the flags, in each rounding mode. */
static void test_fma_sqrt(void **state)
{
	(void)state;
	unsigned bad = 0;
	for (unsigned i = 0; i < ROUNDS; i++) {
		double a = random_operand(), b = random_operand(), c = random_operand();
		if (i % 3 == 0) /* the addend cancels the product (nearly) */
			c = -a * b * (1 + (double)(rnd() % 3) * 0x1p-52);
		float fa = (float)a, fb = (float)b, fc = (float)c;
		fesetround(modes[i & 3]);

		feclearexcept(FE_ALL_EXCEPT);
		double r1 = fma(a, b, c);
		int f1 = fetestexcept(FE_ALL_EXCEPT);
		feclearexcept(FE_ALL_EXCEPT);
		double r2 = hm_fma(a, b, c);
		int f2 = fetestexcept(FE_ALL_EXCEPT);
		if (!same_d(r1, r2) || f1 != f2) {
			print_error("fma(%a, %a, %a): libm %a %#x, hostmath %a %#x\n", a, b, c, r1,
				    f1, r2, f2);
			bad++;
		}
		feclearexcept(FE_ALL_EXCEPT);
		float q1 = fmaf(fa, fb, fc);
		f1 = fetestexcept(FE_ALL_EXCEPT);
		feclearexcept(FE_ALL_EXCEPT);
		float q2 = hm_fmaf(fa, fb, fc);
		f2 = fetestexcept(FE_ALL_EXCEPT);
		if (!same_f(q1, q2) || f1 != f2) {
			print_error("fmaf(%a, %a, %a): libm %a %#x, hostmath %a %#x\n", fa, fb, fc,
				    q1, f1, q2, f2);
			bad++;
		}
		feclearexcept(FE_ALL_EXCEPT);
		r1 = sqrt(a);
		f1 = fetestexcept(FE_ALL_EXCEPT);
		feclearexcept(FE_ALL_EXCEPT);
		r2 = hm_sqrt(a);
		f2 = fetestexcept(FE_ALL_EXCEPT);
		if (!same_d(r1, r2) || f1 != f2) {
			print_error("sqrt(%a): libm %a %#x, hostmath %a %#x\n", a, r1, f1, r2, f2);
			bad++;
		}
		feclearexcept(FE_ALL_EXCEPT);
		q1 = sqrtf(fa);
		f1 = fetestexcept(FE_ALL_EXCEPT);
		feclearexcept(FE_ALL_EXCEPT);
		q2 = hm_sqrtf(fa);
		f2 = fetestexcept(FE_ALL_EXCEPT);
		if (!same_f(q1, q2) || f1 != f2) {
			print_error("sqrtf(%a): libm %a %#x, hostmath %a %#x\n", fa, q1, f1, q2,
				    f2);
			bad++;
		}
		if (bad > 10)
			break;
	}
	fesetround(FE_TONEAREST);
	assert_int_equal(bad, 0);
}

static unsigned check_int_and_next(double x, double toward)
{
	unsigned bad = 0;
	float fx = (float)x, ft = (float)toward;
	if (!same_d(hm_nextafter(x, toward), nextafter(x, toward)) ||
	    !same_f(hm_nextafterf(fx, ft), nextafterf(fx, ft))) {
		print_error("nextafter(%a, %a)\n", x, toward);
		bad++;
	}
	if (!same_d(hm_trunc(x), trunc(x)) || !same_d(hm_floor(x), floor(x)) ||
	    !same_d(hm_ceil(x), ceil(x)) || !same_d(hm_round(x), round(x)) ||
	    !same_d(hm_round_even(x), nearbyint(x))) {
		print_error("rounding %a to an integer: trunc %a/%a floor %a/%a ceil %a/%a "
			    "round %a/%a even %a/%a\n",
			    x, hm_trunc(x), trunc(x), hm_floor(x), floor(x), hm_ceil(x), ceil(x),
			    hm_round(x), round(x), hm_round_even(x), nearbyint(x));
		bad++;
	}
	return bad;
}

/* nextafter and the roundings to an integer (nearest-even mode). */
static void test_next_and_integral(void **state)
{
	(void)state;
	static const double edge[] = { 0.0,
				       -0.0,
				       0.5,
				       -0.5,
				       1.5,
				       -1.5,
				       2.5,
				       -2.5,
				       0.49999999999999994,
				       -0.49999999999999994,
				       0x1p52 - 0.5,
				       -(0x1p52 - 0.5),
				       0x1p52,
				       -0x1p52,
				       0x1p53 + 2,
				       0x1p63,
				       0x1p-1074,
				       -0x1p-1074,
				       0x1p-1022,
				       DBL_MAX,
				       -DBL_MAX,
				       INFINITY,
				       -INFINITY,
				       NAN,
				       1.0,
				       -1.0,
				       0.9999999999999999 };
	unsigned bad = 0;
	fesetround(FE_TONEAREST);
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
		for (size_t j = 0; j < sizeof(edge) / sizeof(edge[0]); j++)
			bad += check_int_and_next(edge[i], edge[j]);
	for (unsigned i = 0; i < ROUNDS && bad <= 10; i++) {
		double x = random_operand();
		bad += check_int_and_next(x, (rnd() & 1) ? INFINITY : -INFINITY);
		bad += check_int_and_next(x, random_operand());
	}
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fma_sqrt),
		cmocka_unit_test(test_next_and_integral),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
