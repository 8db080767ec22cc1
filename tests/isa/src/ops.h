/* ops.h: inline-asm helpers to run one instruction on given operands. */
#ifndef ISA_OPS_H
#define ISA_OPS_H
#include "isa.h"

#define RR(op, a, b)                                                                      \
	({                                                                                \
		u64 r_;                                                                   \
		asm volatile(op " %0, %1, %2" : "=r"(r_) : "r"((u64)(a)), "r"((u64)(b))); \
		r_;                                                                       \
	})
#define RI(op, a, imm)                                                               \
	({                                                                           \
		u64 r_;                                                              \
		asm volatile(op " %0, %1, %2" : "=r"(r_) : "r"((u64)(a)), "i"(imm)); \
		r_;                                                                  \
	})
#define T_RR(op, a, b, exp)   isa_check(op " " #a "," #b, RR(op, a, b), (u64)(exp))
#define T_RI(op, a, imm, exp) isa_check(op " " #a "," #imm, RI(op, a, imm), (u64)(exp))

/* branch taken? */
#define BR(op, a, b)                                          \
	({                                                    \
		u64 t_ = 1;                                   \
		asm volatile(op " %1, %2, 1f\n li %0, 0\n1:"  \
			     : "+r"(t_)                       \
			     : "r"((u64)(a)), "r"((u64)(b))); \
		t_;                                           \
	})
#define T_BR(op, a, b, exp) isa_check(op " " #a "," #b, BR(op, a, b), exp)
#endif
