/*
 * fpu.c - the F and D extensions (unprivileged spec chapters "F" and "D",
 * IEEE 754-2008 arithmetic).
 *
 * Arithmetic runs on the host FPU with the guest's rounding mode programmed
 * into it and the host's exception flags read back, which is bit-exact for
 * add, sub, mul, div, sqrt, fused multiply-add (hostmath.h: FMA3, a single
 * rounding) and conversions, because x86 SSE, like RISC-V, detects tininess
 * after rounding.  What the host does differently is done here explicitly:
 *  - every NaN result is replaced by the canonical NaN (0x7fc00000 /
 *    0x7ff8000000000000);
 *  - single-precision operands that are not NaN-boxed read as canonical NaN;
 *  - fmin/fmax (-0 < +0, one NaN operand returns the other, sNaN raises NV),
 *    comparisons (FEQ quiet, FLT/FLE signalling), fclass, sign injection;
 *  - float-to-integer conversions saturate (NaN and +large give the maximum,
 *    -large the minimum) and raise NV instead of NX;
 *  - RMM (round to nearest, ties to max magnitude), which the host lacks:
 *    computed in round-to-nearest-even, then ties are detected exactly
 *    (error-free transformations for add/sub/mul, integer arithmetic for
 *    conversions, scaled exact checks for subnormal quotients; square roots
 *    are never ties) and moved
 *    away from zero.  Fused multiply-add builds the exact error as a floating-point
 *    expansion.
 * The host rounding mode is restored to nearest-even before rv_fp_exec()
 * returns, so the rest of the process is unaffected.
 */
#include <fenv.h>
#include <math.h>
#include <string.h>

#include "cpu_internal.h"
#include "hostmath.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#define BARRIER(v) __asm__ volatile("" : "+x"(v))
#else
#define BARRIER(v) __asm__ volatile("" : "+m"(v))
#endif

#define FFLAG_NX 1
#define FFLAG_UF 2
#define FFLAG_OF 4
#define FFLAG_DZ 8
#define FFLAG_NV 16

enum { RM_RNE = 0, RM_RTZ = 1, RM_RDN = 2, RM_RUP = 3, RM_RMM = 4 };

#define CANON_S 0x7fc00000u
#define CANON_D 0x7ff8000000000000ULL

/* ---- host FPU control ---- */

#if defined(__x86_64__)
static inline void host_begin(unsigned rm)
{
	static const unsigned rc[5] = { 0, 3, 1, 2, 0 }; /* MXCSR.RC for RNE RTZ RDN RUP RMM */
	unsigned csr = _mm_getcsr();
	csr &= ~(0x3fu | (3u << 13));
	csr |= rc[rm] << 13;
	_mm_setcsr(csr);
}

static inline unsigned host_end(void)
{
	unsigned csr = _mm_getcsr();
	unsigned f = 0;
	if (csr & 0x01)
		f |= FFLAG_NV;
	if (csr & 0x04)
		f |= FFLAG_DZ;
	if (csr & 0x08)
		f |= FFLAG_OF;
	if (csr & 0x10)
		f |= FFLAG_UF;
	if (csr & 0x20)
		f |= FFLAG_NX;
	_mm_setcsr(csr & ~(0x3fu | (3u << 13)));
	return f;
}
#else
static inline void host_begin(unsigned rm)
{
	static const int modes[5] = { FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD,
				      FE_TONEAREST };
	fesetround(modes[rm]);
	feclearexcept(FE_ALL_EXCEPT);
}

static inline unsigned host_end(void)
{
	int e = fetestexcept(FE_ALL_EXCEPT);
	unsigned f = 0;
	if (e & FE_INVALID)
		f |= FFLAG_NV;
	if (e & FE_DIVBYZERO)
		f |= FFLAG_DZ;
	if (e & FE_OVERFLOW)
		f |= FFLAG_OF;
	if (e & FE_UNDERFLOW)
		f |= FFLAG_UF;
	if (e & FE_INEXACT)
		f |= FFLAG_NX;
	fesetround(FE_TONEAREST);
	return f;
}
#endif

/* ---- bit helpers ---- */

static inline uint32_t unbox_bits(uint64_t v)
{
	return (v >> 32) == 0xffffffffu ? (uint32_t)v : CANON_S;
}

static inline float rd_s(const struct rv_hart *h, unsigned r)
{
	return fp_u2f(unbox_bits(h->f[r]));
}

static inline double rd_d(const struct rv_hart *h, unsigned r)
{
	return fp_u2d(h->f[r]);
}

static inline uint64_t box_s(float f)
{
	return 0xffffffff00000000ULL | (isnan(f) ? CANON_S : fp_f2u(f));
}

static inline uint64_t box_d(double d)
{
	return isnan(d) ? CANON_D : fp_d2u(d);
}

static inline bool is_snan_s(uint32_t b)
{
	return (b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu) && !(b & 0x400000u);
}

static inline bool is_snan_d(uint64_t b)
{
	return (b & 0x7ff0000000000000ULL) == 0x7ff0000000000000ULL && (b & 0xfffffffffffffULL) &&
	       !(b & 0x8000000000000ULL);
}

/* ---- RMM tie fix-ups (see the file comment) ---- */

/* r = RNE(exact), err = exact - r (exact).  Returns RMM(exact). */
static double rmm_fix_d(double r, double err)
{
	if (err == 0 || isinf(r) || isnan(r))
		return r;
	double next = hm_nextafter(r, err > 0 ? INFINITY : -INFINITY);
	if (next - r != 2 * err)
		return r; /* not a tie */
	/* Tie: choose the neighbour with the larger magnitude. */
	return fabs(next) > fabs(r) ? next : r;
}

static float rmm_fix_s(float r, double err)
{
	if (err == 0 || isinf(r) || isnan(r))
		return r;
	float next = hm_nextafterf(r, err > 0 ? INFINITY : -INFINITY);
	if ((double)next - (double)r != 2 * err)
		return r;
	return fabsf(next) > fabsf(r) ? next : r;
}

/*
 * RMM for a product: the error fma(a, b, -r) is exact unless it underflows,
 * so near the subnormal range the smaller operand is scaled by 2^200 first.
 */
static double rmm_fix_mul_d(double a, double b, double r)
{
	if (fabs(r) >= 0x1p-900)
		return rmm_fix_d(r, hm_fma(a, b, -r));
	if (fabs(a) < fabs(b))
		a *= 0x1p200;
	else
		b *= 0x1p200;
	double err = hm_fma(a, b, -r * 0x1p200);
	if (err == 0)
		return r;
	double next = hm_nextafter(r, err > 0 ? INFINITY : -INFINITY);
	if ((next - r) * 0x1p200 != 2 * err)
		return r;
	return fabs(next) > fabs(r) ? next : r;
}

/*
 * Exact sums as nonoverlapping expansions (Shewchuk, "Adaptive Precision
 * Floating-Point Arithmetic", Grow-Expansion with zero elimination): the
 * components are in increasing magnitude, the last one carries the sign, and
 * the sum is zero iff there are no components.  Exact barring overflow.
 */
static int expansion_grow(double *e, int n, double b)
{
	double q = b;
	int m = 0;
	for (int i = 0; i < n; i++) {
		double s = q + e[i], bv = s - q, h = (q - (s - bv)) + (e[i] - bv);
		q = s;
		if (h != 0)
			e[m++] = h;
	}
	if (q != 0)
		e[m++] = q;
	return m;
}

/*
 * RMM for a fused multiply-add: r = RN(a*b + c).  The exact error
 * a*b + c - r is built as an expansion from TwoProduct(a, b), c and -r; it is
 * a tie iff adding minus half the gap to the neighbour gives zero.  When the
 * product is so small that its rounding error would underflow, everything is
 * scaled by 2^600 first (exact).
 */
static double rmm_fix_fma_d(double a, double b, double c, double r)
{
	double scale = 1;
	double u1 = a * b;
	if (fabs(u1) < 0x1p-900 || fabs(r) < 0x1p-900) {
		if (a == 0 || b == 0)
			return r; /* exact product: the sum is exact or not a tie */
		if (fabs(c) >= 0x1p300 || fabs(u1) >= 0x1p300)
			return r; /* cannot scale safely; such ties need huge cancellation */
		if (fabs(a) < fabs(b))
			a *= 0x1p600;
		else
			b *= 0x1p600;
		c *= 0x1p600;
		scale = 0x1p600;
		u1 = a * b;
	}
	double e[8];
	int n = 0;
	n = expansion_grow(e, n, hm_fma(a, b, -u1));
	n = expansion_grow(e, n, u1);
	n = expansion_grow(e, n, c);
	n = expansion_grow(e, n, -r * scale);
	if (n == 0)
		return r; /* exact */
	double next = hm_nextafter(r, e[n - 1] > 0 ? INFINITY : -INFINITY);
	n = expansion_grow(e, n, -(next - r) * scale * 0.5);
	if (n != 0)
		return r;
	return fabs(next) > fabs(r) ? next : r;
}

static float rmm_fix_fma_s(float a, float b, float c, float r)
{
	double e[8];
	int n = 0;
	n = expansion_grow(e, n, (double)a * (double)b); /* exact in double */
	n = expansion_grow(e, n, c);
	n = expansion_grow(e, n, -(double)r);
	if (n == 0)
		return r;
	float next = hm_nextafterf(r, e[n - 1] > 0 ? INFINITY : -INFINITY);
	n = expansion_grow(e, n, -((double)next - (double)r) * 0.5);
	if (n != 0)
		return r;
	return fabsf(next) > fabsf(r) ? next : r;
}

/*
 * RMM for a quotient: a normal quotient is never a tie, but a subnormal one
 * (fewer significant bits) can be.  r = RNE(a / b) is a tie iff
 * a == (r +- half gap) * b exactly, checked with a and r scaled by 2^600 so
 * that nothing underflows (a <= 4 when the quotient is subnormal).
 */
static double rmm_fix_div_d(double a, double b, double r)
{
	if (!(fabs(r) < 0x1p-1022) || b == 0 || isinf(b) || a == 0)
		return r;
	double A = a * 0x1p600;
	for (int dir = 0; dir < 2; dir++) {
		double next = hm_nextafter(r, dir ? -INFINITY : INFINITY);
		double m = r * 0x1p600 + (next - r) * 0x1p599;
		if (hm_fma(m, b, -A) == 0)
			return fabs(next) > fabs(r) ? next : r;
	}
	return r;
}

static float rmm_fix_div_s(float a, float b, float r)
{
	if (!(fabsf(r) < 0x1p-126f) || b == 0 || isinf(b) || a == 0)
		return r;
	for (int dir = 0; dir < 2; dir++) {
		float next = hm_nextafterf(r, dir ? -INFINITY : INFINITY);
		double m = (double)r + ((double)next - (double)r) * 0.5;
		if (m * (double)b == (double)a) /* 25 x 24 bits: exact in double */
			return fabsf(next) > fabsf(r) ? next : r;
	}
	return r;
}

/* Exact error of a + b = s (TwoSum, valid in round-to-nearest). */
static double two_sum_err(double a, double b, double s)
{
	double bb = s - a;
	return (a - (s - bb)) + (b - bb);
}

static double two_sum_err_s(float a, float b, float s)
{
	float bb = s - a;
	return (double)((a - (s - bb)) + (b - bb));
}

/* ---- float -> integer ---- */

static double round_int(double x, unsigned rm)
{
	switch (rm) {
	case RM_RTZ: return hm_trunc(x);
	case RM_RDN: return hm_floor(x);
	case RM_RUP: return hm_ceil(x);
	case RM_RMM: return hm_round(x);
	default: return hm_round_even(x);
	}
}

/* Convert to a signed/unsigned integer of `bits` (32/64) bits with RISC-V saturation. */
static uint64_t cvt_to_int(double x, unsigned rm, bool is_signed, unsigned bits, unsigned *fl)
{
	if (isnan(x)) {
		*fl |= FFLAG_NV;
		if (is_signed)
			return bits == 32 ? (uint64_t)INT32_MAX : (uint64_t)INT64_MAX;
		return bits == 32 ? UINT32_MAX : UINT64_MAX;
	}
	double r = round_int(x, rm);
	uint64_t res;
	if (is_signed) {
		double lo = bits == 32 ? -2147483648.0 : -9223372036854775808.0;
		double hi = bits == 32 ? 2147483648.0 : 9223372036854775808.0; /* exclusive */
		if (r < lo) {
			*fl |= FFLAG_NV;
			return bits == 32 ? (uint64_t)(int64_t)INT32_MIN : (uint64_t)INT64_MIN;
		}
		if (r >= hi) {
			*fl |= FFLAG_NV;
			return bits == 32 ? (uint64_t)INT32_MAX : (uint64_t)INT64_MAX;
		}
		res = (uint64_t)(int64_t)r;
	} else {
		double hi = bits == 32 ? 4294967296.0 : 18446744073709551616.0;
		if (r < 0) {
			*fl |= FFLAG_NV;
			return 0;
		}
		if (r >= hi) {
			*fl |= FFLAG_NV;
			return bits == 32 ? UINT32_MAX : UINT64_MAX;
		}
		res = r <= 0 ? 0 : (uint64_t)r;
	}
	if (r != x)
		*fl |= FFLAG_NX;
	return res;
}

/* ---- integer -> float, with RMM ---- */

static double cvt_i2d(int64_t v, bool is_signed, unsigned rm, unsigned *fl)
{
	double r = is_signed ? (double)v : (double)(uint64_t)v;
	BARRIER(r);
	*fl = host_end();
	if (rm == RM_RMM) {
		__int128 exact = is_signed ? (__int128)v : (__int128)(uint64_t)v;
		__int128 ri = (__int128)r; /* r is integral and <= 2^64 */
		__int128 err = exact - ri;
		if (err != 0) {
			double next = hm_nextafter(r, err > 0 ? INFINITY : -INFINITY);
			__int128 ni = (__int128)next;
			if (ni - ri == 2 * err && fabs(next) > fabs(r))
				r = next;
		}
	}
	return r;
}

static float cvt_i2s(int64_t v, bool is_signed, unsigned rm, unsigned *fl)
{
	float r = is_signed ? (float)v : (float)(uint64_t)v;
	BARRIER(r);
	*fl = host_end();
	if (rm == RM_RMM) {
		__int128 exact = is_signed ? (__int128)v : (__int128)(uint64_t)v;
		__int128 ri = (__int128)r;
		__int128 err = exact - ri;
		if (err != 0) {
			float next = hm_nextafterf(r, err > 0 ? INFINITY : -INFINITY);
			__int128 ni = (__int128)next;
			if (ni - ri == 2 * err && fabsf(next) > fabsf(r))
				r = next;
		}
	}
	return r;
}

/* ---- fmin/fmax, compare, classify ---- */

static uint64_t fminmax_d(uint64_t a, uint64_t b, bool max, unsigned *fl)
{
	double x = fp_u2d(a), y = fp_u2d(b);
	if (is_snan_d(a) || is_snan_d(b))
		*fl |= FFLAG_NV;
	if (isnan(x) && isnan(y))
		return CANON_D;
	if (isnan(x))
		return b;
	if (isnan(y))
		return a;
	if (x == y) { /* +0 / -0 */
		bool an = a >> 63;
		return max ? (an ? b : a) : (an ? a : b);
	}
	return (max ? x > y : x < y) ? a : b;
}

static uint32_t fminmax_s(uint32_t a, uint32_t b, bool max, unsigned *fl)
{
	float x = fp_u2f(a), y = fp_u2f(b);
	if (is_snan_s(a) || is_snan_s(b))
		*fl |= FFLAG_NV;
	if (isnan(x) && isnan(y))
		return CANON_S;
	if (isnan(x))
		return b;
	if (isnan(y))
		return a;
	if (x == y) {
		bool an = a >> 31;
		return max ? (an ? b : a) : (an ? a : b);
	}
	return (max ? x > y : x < y) ? a : b;
}

static uint64_t fclass_bits(bool neg, bool inf, bool nan, bool snan, bool zero, bool sub)
{
	if (nan)
		return snan ? 1u << 8 : 1u << 9;
	if (inf)
		return neg ? 1u << 0 : 1u << 7;
	if (zero)
		return neg ? 1u << 3 : 1u << 4;
	if (sub)
		return neg ? 1u << 2 : 1u << 5;
	return neg ? 1u << 1 : 1u << 6;
}

static uint64_t fclass_d(uint64_t b)
{
	uint64_t e = (b >> 52) & 0x7ff, m = b & 0xfffffffffffffULL;
	return fclass_bits(b >> 63, e == 0x7ff && !m, e == 0x7ff && m, is_snan_d(b), !e && !m,
			   !e && m);
}

static uint64_t fclass_s(uint32_t b)
{
	uint32_t e = (b >> 23) & 0xff, m = b & 0x7fffff;
	return fclass_bits(b >> 31, e == 0xff && !m, e == 0xff && m, is_snan_s(b), !e && !m,
			   !e && m);
}

static uint64_t sext32(uint64_t v)
{
	return (uint64_t)(int64_t)(int32_t)v;
}

/* ---- the dispatcher ---- */

static uint64_t arith_d(unsigned opc, double a, double b, double c, unsigned rm, unsigned *fl)
{
	double r;
	BARRIER(a);
	BARRIER(b);
	BARRIER(c);
	switch (opc) {
	case RV_OP_FADD_D: r = a + b; break;
	case RV_OP_FSUB_D: r = a - b; break;
	case RV_OP_FMUL_D: r = a * b; break;
	case RV_OP_FDIV_D: r = a / b; break;
	case RV_OP_FSQRT_D: r = hm_sqrt(a); break;
	case RV_OP_FMADD_D: r = hm_fma(a, b, c); break;
	case RV_OP_FMSUB_D: r = hm_fma(a, b, -c); break;
	case RV_OP_FNMSUB_D: r = hm_fma(-a, b, c); break;
	default: r = hm_fma(-a, b, -c); break;
	}
	BARRIER(r);
	*fl = host_end(); /* before the RMM fix-up, whose helpers touch the flags */
	if (rm == RM_RMM && !isnan(r)) {
		if (opc == RV_OP_FADD_D)
			r = rmm_fix_d(r, two_sum_err(a, b, r));
		else if (opc == RV_OP_FSUB_D)
			r = rmm_fix_d(r, two_sum_err(a, -b, r));
		else if (opc == RV_OP_FDIV_D)
			r = rmm_fix_div_d(a, b, r);
		else if (opc == RV_OP_FMUL_D && isfinite(r))
			r = rmm_fix_mul_d(a, b, r);
		else if (opc >= RV_OP_FMADD_D && isfinite(r)) {
			double sa = opc >= RV_OP_FNMSUB_D ? -a : a;
			double sc = (opc == RV_OP_FMSUB_D || opc == RV_OP_FNMADD_D) ? -c : c;
			r = rmm_fix_fma_d(sa, b, sc, r);
		}
	}
	return box_d(r);
}

static uint64_t arith_s(unsigned opc, float a, float b, float c, unsigned rm, unsigned *fl)
{
	float r;
	BARRIER(a);
	BARRIER(b);
	BARRIER(c);
	switch (opc) {
	case RV_OP_FADD_S: r = a + b; break;
	case RV_OP_FSUB_S: r = a - b; break;
	case RV_OP_FMUL_S: r = a * b; break;
	case RV_OP_FDIV_S: r = a / b; break;
	case RV_OP_FSQRT_S: r = hm_sqrtf(a); break;
	case RV_OP_FMADD_S: r = hm_fmaf(a, b, c); break;
	case RV_OP_FMSUB_S: r = hm_fmaf(a, b, -c); break;
	case RV_OP_FNMSUB_S: r = hm_fmaf(-a, b, c); break;
	default: r = hm_fmaf(-a, b, -c); break;
	}
	BARRIER(r);
	*fl = host_end(); /* before the RMM fix-up, whose helpers touch the flags */
	if (rm == RM_RMM && !isnan(r)) {
		/* TwoSum in single precision is exact; products are exact in double. */
		if (opc == RV_OP_FADD_S)
			r = rmm_fix_s(r, two_sum_err_s(a, b, r));
		else if (opc == RV_OP_FSUB_S)
			r = rmm_fix_s(r, two_sum_err_s(a, -b, r));
		else if (opc == RV_OP_FDIV_S)
			r = rmm_fix_div_s(a, b, r);
		else if (opc == RV_OP_FMUL_S)
			r = rmm_fix_s(r, ((double)a * (double)b) - (double)r);
		else if (opc >= RV_OP_FMADD_S && isfinite(r)) {
			float sa = opc >= RV_OP_FNMSUB_S ? -a : a;
			float sc = (opc == RV_OP_FMSUB_S || opc == RV_OP_FNMADD_S) ? -c : c;
			r = rmm_fix_fma_s(sa, b, sc, r);
		}
	}
	return box_s(r);
}

/*
 * Fast path (the idea of QEMU's "hardfloat"): in round-to-nearest-even with
 * NX already accrued, an add/sub/mul/div/sqrt/fma of normal-or-zero operands
 * whose result is normal (or an exact zero of a sum) can raise no flag but NX,
 * so the host computes it without touching its control/status register.
 * Anything else returns false and takes the full path.
 */
#define DEFINE_FP_FAST(name, T, RD, BOX, FMA, SQRT, MINNORM, ADD, SUB, MUL, DIV, SQ, MADD, MSUB, \
		       NMSUB, NMADD)                                                             \
	static bool name(struct rv_hart *h, const struct rv_uop *u)                              \
	{                                                                                        \
		unsigned opc = u->opc;                                                           \
		T a = RD(h, u->rs1), b = RD(h, u->rs2), c = RD(h, u->rs3), r;                    \
		int ca = fpclassify(a), cb = fpclassify(b);                                      \
		if ((ca != FP_NORMAL && ca != FP_ZERO) || (cb != FP_NORMAL && cb != FP_ZERO))    \
			return false;                                                            \
		switch (opc) {                                                                   \
		case ADD: r = a + b; break;                                                      \
		case SUB: r = a - b; break;                                                      \
		case MUL: r = a * b; break;                                                      \
		case DIV:                                                                        \
			if (cb == FP_ZERO)                                                       \
				return false;                                                    \
			r = a / b;                                                               \
			break;                                                                   \
		case SQ:                                                                         \
			if (a < 0)                                                               \
				return false;                                                    \
			r = SQRT(a);                                                             \
			break;                                                                   \
		default: {                                                                       \
			int cc = fpclassify(c);                                                  \
			if (cc != FP_NORMAL && cc != FP_ZERO)                                    \
				return false;                                                    \
			switch (opc) {                                                           \
			case MADD: r = FMA(a, b, c); break;                                      \
			case MSUB: r = FMA(a, b, -c); break;                                     \
			case NMSUB: r = FMA(-a, b, c); break;                                    \
			case NMADD: r = FMA(-a, b, -c); break;                                   \
			default: return false;                                                   \
			}                                                                        \
		}                                                                                \
		}                                                                                \
		if (!(fabs((double)r) >= MINNORM) || isinf(r)) {                                 \
			if (!(r == 0 && (opc == ADD || opc == SUB)))                             \
				return false;                                                    \
		}                                                                                \
		h->f[u->rd] = BOX(r);                                                            \
		h->mstatus |= MSTATUS_FS | MSTATUS_SD;                                           \
		return true;                                                                     \
	}

static inline uint64_t box_s_raw(float f)
{
	return 0xffffffff00000000ULL | fp_f2u(f);
}

DEFINE_FP_FAST(fp_fast_d, double, rd_d, fp_d2u, hm_fma, hm_sqrt, 0x1p-1022, RV_OP_FADD_D,
	       RV_OP_FSUB_D, RV_OP_FMUL_D, RV_OP_FDIV_D, RV_OP_FSQRT_D, RV_OP_FMADD_D,
	       RV_OP_FMSUB_D, RV_OP_FNMSUB_D, RV_OP_FNMADD_D)
DEFINE_FP_FAST(fp_fast_s, float, rd_s, box_s_raw, hm_fmaf, hm_sqrtf, 0x1p-126, RV_OP_FADD_S,
	       RV_OP_FSUB_S, RV_OP_FMUL_S, RV_OP_FDIV_S, RV_OP_FSQRT_S, RV_OP_FMADD_S,
	       RV_OP_FMSUB_S, RV_OP_FNMSUB_S, RV_OP_FNMADD_S)

static bool fp_fast(struct rv_hart *h, const struct rv_uop *u)
{
	if (u->opc >= RV_OP_FADD_S && u->opc <= RV_OP_FSQRT_S)
		return fp_fast_s(h, u);
	if (u->opc >= RV_OP_FMADD_S && u->opc <= RV_OP_FNMADD_S)
		return fp_fast_s(h, u);
	if (u->opc >= RV_OP_FADD_D && u->opc <= RV_OP_FSQRT_D)
		return fp_fast_d(h, u);
	if (u->opc >= RV_OP_FMADD_D && u->opc <= RV_OP_FNMADD_D)
		return fp_fast_d(h, u);
	return false;
}

static bool op_has_rm(unsigned opc)
{
	switch (opc) {
	case RV_OP_FSGNJ_S:
	case RV_OP_FSGNJN_S:
	case RV_OP_FSGNJX_S:
	case RV_OP_FMIN_S:
	case RV_OP_FMAX_S:
	case RV_OP_FMV_X_W:
	case RV_OP_FEQ_S:
	case RV_OP_FLT_S:
	case RV_OP_FLE_S:
	case RV_OP_FCLASS_S:
	case RV_OP_FMV_W_X:
	case RV_OP_FSGNJ_D:
	case RV_OP_FSGNJN_D:
	case RV_OP_FSGNJX_D:
	case RV_OP_FMIN_D:
	case RV_OP_FMAX_D:
	case RV_OP_FMV_X_D:
	case RV_OP_FEQ_D:
	case RV_OP_FLT_D:
	case RV_OP_FLE_D:
	case RV_OP_FCLASS_D:
	case RV_OP_FMV_D_X: return false;
	default: return true;
	}
}

int rv_fp_exec(struct rv_hart *h, const struct rv_uop *u)
{
	unsigned opc = u->opc, rm = 0, fl = 0;
	uint64_t *x = h->x, *f = h->f;
	const unsigned rd = u->rd, r1 = u->rs1, r2 = u->rs2, r3 = u->rs3;

	if (!(h->mstatus & MSTATUS_FS))
		goto illegal;
	if (op_has_rm(opc)) {
		rm = u->rm == 7 ? h->frm : u->rm;
		if (rm > RM_RMM)
			goto illegal;
	}
	if (rm == RM_RNE && (h->fflags & FFLAG_NX) && fp_fast(h, u))
		return 0;

	switch (opc) {
	case RV_OP_FADD_S:
	case RV_OP_FSUB_S:
	case RV_OP_FMUL_S:
	case RV_OP_FDIV_S:
	case RV_OP_FSQRT_S:
	case RV_OP_FMADD_S:
	case RV_OP_FMSUB_S:
	case RV_OP_FNMSUB_S:
	case RV_OP_FNMADD_S: {
		float a = rd_s(h, r1), b = rd_s(h, r2), c = rd_s(h, r3);
		bool fma_op = opc >= RV_OP_FMADD_S;
		host_begin(rm);
		uint64_t res = arith_s(opc, a, b, fma_op ? c : 0.0f, rm, &fl);
		if (fma_op && ((isinf(a) && b == 0) || (a == 0 && isinf(b))))
			fl |= FFLAG_NV;
		f[rd] = res;
		break;
	}
	case RV_OP_FADD_D:
	case RV_OP_FSUB_D:
	case RV_OP_FMUL_D:
	case RV_OP_FDIV_D:
	case RV_OP_FSQRT_D:
	case RV_OP_FMADD_D:
	case RV_OP_FMSUB_D:
	case RV_OP_FNMSUB_D:
	case RV_OP_FNMADD_D: {
		double a = rd_d(h, r1), b = rd_d(h, r2), c = rd_d(h, r3);
		bool fma_op = opc >= RV_OP_FMADD_D;
		host_begin(rm);
		uint64_t res = arith_d(opc, a, b, fma_op ? c : 0.0, rm, &fl);
		if (fma_op && ((isinf(a) && b == 0) || (a == 0 && isinf(b))))
			fl |= FFLAG_NV;
		f[rd] = res;
		break;
	}
	case RV_OP_FSGNJ_S:
	case RV_OP_FSGNJN_S:
	case RV_OP_FSGNJX_S: {
		uint32_t a = unbox_bits(f[r1]), b = unbox_bits(f[r2]), s;
		if (opc == RV_OP_FSGNJ_S)
			s = b & 0x80000000u;
		else if (opc == RV_OP_FSGNJN_S)
			s = ~b & 0x80000000u;
		else
			s = (a ^ b) & 0x80000000u;
		f[rd] = 0xffffffff00000000ULL | (a & 0x7fffffffu) | s;
		break;
	}
	case RV_OP_FSGNJ_D:
	case RV_OP_FSGNJN_D:
	case RV_OP_FSGNJX_D: {
		uint64_t a = f[r1], b = f[r2], s, sb = 1ULL << 63;
		if (opc == RV_OP_FSGNJ_D)
			s = b & sb;
		else if (opc == RV_OP_FSGNJN_D)
			s = ~b & sb;
		else
			s = (a ^ b) & sb;
		f[rd] = (a & ~sb) | s;
		break;
	}
	case RV_OP_FMIN_S:
	case RV_OP_FMAX_S:
		f[rd] = 0xffffffff00000000ULL |
			fminmax_s(unbox_bits(f[r1]), unbox_bits(f[r2]), opc == RV_OP_FMAX_S, &fl);
		break;
	case RV_OP_FMIN_D:
	case RV_OP_FMAX_D: f[rd] = fminmax_d(f[r1], f[r2], opc == RV_OP_FMAX_D, &fl); break;
	case RV_OP_FCVT_W_S:
	case RV_OP_FCVT_WU_S:
	case RV_OP_FCVT_L_S:
	case RV_OP_FCVT_LU_S:
	case RV_OP_FCVT_W_D:
	case RV_OP_FCVT_WU_D:
	case RV_OP_FCVT_L_D:
	case RV_OP_FCVT_LU_D: {
		bool dbl = opc >= RV_OP_FCVT_W_D;
		unsigned k = opc - (dbl ? RV_OP_FCVT_W_D : RV_OP_FCVT_W_S);
		double v = dbl ? rd_d(h, r1) : (double)rd_s(h, r1);
		uint64_t res = cvt_to_int(v, rm, !(k & 1), k < 2 ? 32 : 64, &fl);
		x[rd] = k < 2 ? sext32(res) : res;
		break;
	}
	case RV_OP_FCVT_S_W:
	case RV_OP_FCVT_S_WU:
	case RV_OP_FCVT_S_L:
	case RV_OP_FCVT_S_LU: {
		unsigned k = opc - RV_OP_FCVT_S_W;
		uint64_t v = x[r1];
		int64_t iv = k == 0   ? (int64_t)(int32_t)v
			     : k == 1 ? (int64_t)(uint32_t)v
				      : (int64_t)v;
		host_begin(rm);
		float r = cvt_i2s(iv, k != 3, rm, &fl);
		f[rd] = box_s(r);
		break;
	}
	case RV_OP_FCVT_D_W:
	case RV_OP_FCVT_D_WU:
	case RV_OP_FCVT_D_L:
	case RV_OP_FCVT_D_LU: {
		unsigned k = opc - RV_OP_FCVT_D_W;
		uint64_t v = x[r1];
		int64_t iv = k == 0   ? (int64_t)(int32_t)v
			     : k == 1 ? (int64_t)(uint32_t)v
				      : (int64_t)v;
		host_begin(rm);
		double r = cvt_i2d(iv, k != 3, rm, &fl);
		f[rd] = box_d(r);
		break;
	}
	case RV_OP_FCVT_S_D: {
		double a = rd_d(h, r1);
		host_begin(rm);
		BARRIER(a);
		float r = (float)a;
		BARRIER(r);
		fl = host_end();
		if (rm == RM_RMM && !isnan(r))
			r = rmm_fix_s(r, a - (double)r);
		f[rd] = box_s(r);
		break;
	}
	case RV_OP_FCVT_D_S: {
		float a = rd_s(h, r1);
		host_begin(rm);
		BARRIER(a);
		double r = (double)a;
		BARRIER(r);
		fl = host_end();
		f[rd] = box_d(r);
		break;
	}
	case RV_OP_FMV_X_W: x[rd] = sext32(f[r1]); break;
	case RV_OP_FMV_W_X: f[rd] = 0xffffffff00000000ULL | (uint32_t)x[r1]; break;
	case RV_OP_FMV_X_D: x[rd] = f[r1]; break;
	case RV_OP_FMV_D_X: f[rd] = x[r1]; break;
	case RV_OP_FEQ_S:
	case RV_OP_FLT_S:
	case RV_OP_FLE_S: {
		uint32_t ab = unbox_bits(f[r1]), bb = unbox_bits(f[r2]);
		float a = fp_u2f(ab), b = fp_u2f(bb);
		uint64_t res = 0;
		if (isnan(a) || isnan(b)) {
			if (opc != RV_OP_FEQ_S || is_snan_s(ab) || is_snan_s(bb))
				fl |= FFLAG_NV;
		} else {
			res = opc == RV_OP_FEQ_S ? a == b : opc == RV_OP_FLT_S ? a < b : a <= b;
		}
		x[rd] = res;
		break;
	}
	case RV_OP_FEQ_D:
	case RV_OP_FLT_D:
	case RV_OP_FLE_D: {
		uint64_t ab = f[r1], bb = f[r2];
		double a = fp_u2d(ab), b = fp_u2d(bb);
		uint64_t res = 0;
		if (isnan(a) || isnan(b)) {
			if (opc != RV_OP_FEQ_D || is_snan_d(ab) || is_snan_d(bb))
				fl |= FFLAG_NV;
		} else {
			res = opc == RV_OP_FEQ_D ? a == b : opc == RV_OP_FLT_D ? a < b : a <= b;
		}
		x[rd] = res;
		break;
	}
	case RV_OP_FCLASS_S: x[rd] = fclass_s(unbox_bits(f[r1])); break;
	case RV_OP_FCLASS_D: x[rd] = fclass_d(f[r1]); break;
	default: goto illegal;
	}
	h->fflags |= fl;
	h->mstatus |= MSTATUS_FS | MSTATUS_SD;
	return 0;
illegal:
	rv_trap(h, RV_EXC_ILLEGAL, u->raw);
	return -1;
}
