/* rv64m.c: RV64M (unprivileged spec ch. 13): every multiply/divide with
 * the spec's edge cases: division by zero (quotient all ones, remainder =
 * dividend), signed overflow INT_MIN / -1 (quotient INT_MIN, remainder 0),
 * high products of mixed signs, and W forms sign-extending 32-bit results. */
#include "ops.h"

#define MIN64 0x8000000000000000UL
#define MIN32 0xffffffff80000000UL

void test_main(void)
{
	T_RR("mul", 3, 7, 21);
	T_RR("mul", -3, 7, -21);
	T_RR("mul", 0x100000000UL, 0x100000000UL, 0);
	T_RR("mul", MIN64, -1, MIN64);
	T_RR("mulh", -1, -1, 0);
	T_RR("mulh", MIN64, MIN64, 0x4000000000000000UL);
	T_RR("mulh", MIN64, 1, -1);
	T_RR("mulh", 0x7fffffffffffffffUL, 0x7fffffffffffffffUL, 0x3fffffffffffffffUL);
	T_RR("mulhu", -1, -1, 0xfffffffffffffffeUL);
	T_RR("mulhu", MIN64, 2, 1);
	T_RR("mulhu", 0x100000000UL, 0x100000000UL, 1);
	T_RR("mulhsu", -1, -1, -1); /* -1 * (2^64-1) = -(2^64) + 1 */
	T_RR("mulhsu", 1, -1, 0);
	T_RR("mulhsu", MIN64, -1, 0x8000000000000000UL);
	T_RR("mulhsu", -2, 0x8000000000000000UL, -1);
	T_RR("mulw", 0x7fffffff, 2, -2);
	T_RR("mulw", 0x10000, 0x10000, 0);
	T_RR("mulw", 0xffffffff00000003UL, 0x1234567800000005UL, 15);
	T_RR("mulw", 0x8000, 0x10000, MIN32);

	T_RR("div", 20, 6, 3);
	T_RR("div", -20, 6, -3); /* rounds toward zero */
	T_RR("div", 20, -6, -3);
	T_RR("div", -20, -6, 3);
	T_RR("div", 5, 0, -1);
	T_RR("div", MIN64, -1, MIN64);
	T_RR("divu", 20, 6, 3);
	T_RR("divu", -1, 2, 0x7fffffffffffffffUL);
	T_RR("divu", 5, 0, -1);
	T_RR("divu", MIN64, -1, 0);
	T_RR("rem", 20, 6, 2);
	T_RR("rem", -20, 6, -2); /* sign of dividend */
	T_RR("rem", 20, -6, 2);
	T_RR("rem", 5, 0, 5);
	T_RR("rem", -5, 0, -5);
	T_RR("rem", MIN64, -1, 0);
	T_RR("remu", 20, 6, 2);
	T_RR("remu", -1, 0x10, 15);
	T_RR("remu", 5, 0, 5);
	T_RR("remu", -5, 0, -5);

	T_RR("divw", 20, 6, 3);
	T_RR("divw", -20, 6, -3);
	T_RR("divw", 0x1ffffffecUL, 6, -3); /* upper bits ignored */
	T_RR("divw", 5, 0, -1);
	T_RR("divw", 5, 0x100000000UL, -1); /* divisor low 32 bits are 0 */
	T_RR("divw", 0x80000000UL, -1, MIN32);
	T_RR("divuw", 0xffffffffUL, 1, -1); /* result sign-extended */
	T_RR("divuw", -20, 6, 0x2aaaaaa7);
	T_RR("divuw", 5, 0, -1);
	T_RR("divuw", 0x80000000UL, 1, MIN32);
	T_RR("remw", -20, 6, -2);
	T_RR("remw", 5, 0, 5);
	T_RR("remw", 0xfffffffbUL, 0, -5);
	T_RR("remw", 0x80000000UL, -1, 0);
	T_RR("remw", 0x123456789UL, 0x100000000UL, 0x23456789);
	T_RR("remuw", -20, 6, 2);
	T_RR("remuw", 0xfffffffbUL, 0, -5);
	T_RR("remuw", 0x80000005UL, 0x80000000UL, 5);
	T_RR("remuw", 0xffffffffUL, 0xfffffffeUL, 1);

	/* x0 destination */
	u64 r;
	asm volatile("li t0, 7\n mul x0, t0, t0\n div x0, t0, t0\n mv %0, x0" : "=r"(r)::"t0");
	isa_check("muldiv x0", r, 0);
}
