/* fp.h: helpers for the F/D tests.  An operation runs with its inputs moved
 * bit-exactly into ft0/ft1/ft3 (fmv.d.x, so single inputs must be passed
 * NaN-boxed, see BOX) and fflags cleared; the result comes back as raw bits
 * (fmv.x.d of ft2 for FP results, so NaN boxing of single results is
 * checked too, or t0 for integer results) together with the fflags raised. */
#ifndef ISA_FP_H
#define ISA_FP_H
#include "isa.h"

#define BOX(x) (0xffffffff00000000UL | (u32)(x))
#define NV     0x10
#define DZ     0x08
#define OF     0x04
#define UF     0x02
#define NX     0x01

/* op writes ft2 (FRES) or t0 (IRES) */
#define FRES "\n fmv.x.d %0, ft2"
#define IRES "\n mv %0, t0"

#define FP_RUN(op, res, a, b, c, flags_out)                                                    \
	({                                                                                     \
		u64 r_;                                                                        \
		asm volatile("csrw fflags, zero\n fmv.d.x ft0, %2\n"                           \
			     "fmv.d.x ft1, %3\n fmv.d.x ft3, %4\n" op res "\n csrr %1, fflags" \
			     : "=r"(r_), "=r"(flags_out)                                       \
			     : "r"((u64)(a)), "r"((u64)(b)), "r"((u64)(c))                     \
			     : "ft0", "ft1", "ft2", "ft3", "t0");                              \
		r_;                                                                            \
	})

void fp_check(const char *name, u64 got, u64 flags, u64 exp, u64 exp_flags);

#define T_F(op, res, a, b, c, exp, fl)                              \
	do {                                                        \
		u64 f_;                                             \
		u64 r_ = FP_RUN(op, res, a, b, c, f_);              \
		fp_check(op " " #a "," #b "," #c, r_, f_, exp, fl); \
	} while (0)

/* the same op in all five static rounding modes */
#define T_F5(op, res, a, b, c, rne, rtz, rdn, rup, rmm, fl) \
	do {                                                \
		T_F(op ", rne", res, a, b, c, rne, fl);     \
		T_F(op ", rtz", res, a, b, c, rtz, fl);     \
		T_F(op ", rdn", res, a, b, c, rdn, fl);     \
		T_F(op ", rup", res, a, b, c, rup, fl);     \
		T_F(op ", rmm", res, a, b, c, rmm, fl);     \
	} while (0)

#endif
