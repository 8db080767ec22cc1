/*
 * hostmath.h - the few host floating-point helpers the F/D emulation needs
 * (fpu.c, exec.c's in-line fast path), without libm on x86-64.
 *
 * Every vessel-vmm process pays for what it maps: libm.so is ~900 KiB of
 * text and data for eight functions, part of which is resident in every
 * VMM (bench/lifecycle, "memory overhead").  On x86-64 the helpers are
 * therefore written here:
 *  - sqrt/sqrtf: the SSE2 instructions sqrtsd/sqrtss, correctly rounded in
 *    the MXCSR rounding mode and raising its flags, exactly as libm's;
 *  - fma/fmaf: the FMA3 instructions vfmadd231sd/ss (one rounding, MXCSR
 *    mode and flags) when the CPU has them (Haswell and later, every
 *    x86-64 host vessel is benchmarked on).  On an older CPU, and only
 *    there, libm's software fma is looked up once at start-up with dlopen,
 *    before any sandbox, so semantics never depend on the host;
 *  - nextafter toward +-infinity, and rounding to an integral value
 *    (trunc/floor/ceil/round/nearbyint-in-RNE) with integer arithmetic.
 *    fpu.c calls these only where it computes the guest's flags itself
 *    (after host_end(), or in cvt_to_int()), so they need not raise any.
 * The asm statements are volatile so that they stay between fpu.c's
 * host_begin() and host_end() (the MXCSR writes and reads).
 * Elsewhere the helpers are libm's.
 */
#ifndef VESSEL_VM_CPU_HOSTMATH_H
#define VESSEL_VM_CPU_HOSTMATH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)

/* libm's fma/fmaf when the CPU lacks FMA3, else NULL (hostmath.c). */
extern double (*hostmath_fma_soft)(double, double, double);
extern float (*hostmath_fmaf_soft)(float, float, float);

static inline double hm_sqrt(double x)
{
	double r;
	__asm__ volatile("sqrtsd %1, %0" : "=x"(r) : "x"(x));
	return r;
}

static inline float hm_sqrtf(float x)
{
	float r;
	__asm__ volatile("sqrtss %1, %0" : "=x"(r) : "x"(x));
	return r;
}

static inline double hm_fma(double a, double b, double c)
{
	if (__builtin_expect(hostmath_fma_soft != NULL, 0))
		return hostmath_fma_soft(a, b, c);
	__asm__ volatile("vfmadd231sd %2, %1, %0" : "+x"(c) : "x"(a), "x"(b));
	return c;
}

static inline float hm_fmaf(float a, float b, float c)
{
	if (__builtin_expect(hostmath_fmaf_soft != NULL, 0))
		return hostmath_fmaf_soft(a, b, c);
	__asm__ volatile("vfmadd231ss %2, %1, %0" : "+x"(c) : "x"(a), "x"(b));
	return c;
}

/* The neighbour of x in the direction of y (no flags). */
static inline double hm_nextafter(double x, double y)
{
	if (isnan(x) || isnan(y))
		return x + y;
	if (x == y)
		return y;
	if (x == 0)
		return __builtin_copysign(0x1p-1074, y);
	uint64_t u;
	memcpy(&u, &x, sizeof(u));
	if ((x < y) == (x > 0))
		u++;
	else
		u--;
	memcpy(&x, &u, sizeof(x));
	return x;
}

static inline float hm_nextafterf(float x, float y)
{
	if (isnan(x) || isnan(y))
		return x + y;
	if (x == y)
		return y;
	if (x == 0)
		return __builtin_copysignf(0x1p-149f, y);
	uint32_t u;
	memcpy(&u, &x, sizeof(u));
	if ((x < y) == (x > 0))
		u++;
	else
		u--;
	memcpy(&x, &u, sizeof(x));
	return x;
}

/* Doubles of magnitude 2^52 or more (and infinities, NaNs) are integral. */
static inline bool hm_integral_range(double x)
{
	return !(__builtin_fabs(x) < 0x1p52);
}

static inline double hm_trunc(double x)
{
	if (hm_integral_range(x))
		return x;
	return __builtin_copysign((double)(int64_t)x, x); /* keeps -0 for -1 < x < 0 */
}

static inline double hm_floor(double x)
{
	double t = hm_trunc(x);
	return t > x ? t - 1 : t; /* t > x only for x < 0 */
}

static inline double hm_ceil(double x)
{
	double t = hm_trunc(x);
	return t < x ? t + 1 : t; /* t < x only for x > 0 */
}

/* Ties away from zero. */
static inline double hm_round(double x)
{
	double t = hm_trunc(x);
	if (hm_integral_range(x))
		return x;
	if (__builtin_fabs(x - t) >= 0.5) /* x - t is exact */
		t += __builtin_copysign(1.0, x);
	return t;
}

/* Ties to even (nearbyint with the host in round-to-nearest-even). */
static inline double hm_round_even(double x)
{
	double t = hm_trunc(x);
	if (hm_integral_range(x))
		return x;
	double d = __builtin_fabs(x - t);
	if (d > 0.5 || (d == 0.5 && ((int64_t)t & 1)))
		t += __builtin_copysign(1.0, x);
	return t;
}

#else /* not x86-64: libm */

static inline double hm_sqrt(double x)
{
	return sqrt(x);
}

static inline float hm_sqrtf(float x)
{
	return sqrtf(x);
}

static inline double hm_fma(double a, double b, double c)
{
	return fma(a, b, c);
}

static inline float hm_fmaf(float a, float b, float c)
{
	return fmaf(a, b, c);
}

static inline double hm_nextafter(double x, double y)
{
	return nextafter(x, y);
}

static inline float hm_nextafterf(float x, float y)
{
	return nextafterf(x, y);
}

static inline double hm_trunc(double x)
{
	return trunc(x);
}

static inline double hm_floor(double x)
{
	return floor(x);
}

static inline double hm_ceil(double x)
{
	return ceil(x);
}

static inline double hm_round(double x)
{
	return round(x);
}

static inline double hm_round_even(double x)
{
	return nearbyint(x); /* the host is in round-to-nearest-even here */
}

#endif
#endif
