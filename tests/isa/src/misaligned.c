/* misaligned.c (vessel only): misaligned accesses.  The unprivileged spec
 * (§2.6) lets an EEI either perform misaligned loads/stores or trap; vessel
 * must be consistent: whatever it does for ld/sd it does for every width.
 * AMOs and LR/SC must never be performed misaligned (§8.4 without Zam): they
 * raise an address-misaligned or an access-fault exception (store/AMO
 * causes 6 or 7; LR: load causes 4 or 5) with mtval = the address.  An AMO to a hole in the physical address space is a
 * store/AMO access fault (cause 7).  (QEMU 7.2 reports the load causes for
 * AMOs, so this test is not diffed.) */
#include "ops.h"

static volatile u64 buf[4] __attribute__((aligned(16)));

void test_main(void)
{
	buf[0] = 0x0706050403020100UL;
	buf[1] = 0x0f0e0d0c0b0a0908UL;
	u64 base = (u64)&buf[0];

	/* plain loads: either all work or all trap with cause 4 */
	isa_expect_trap();
	u64 v = 0;
	ISA_TRY("ld %0, 0(%1)", : "=r"(v) : "r"(base + 3) : "t6", "memory");
	int traps = isa_trap_armed == 0;
	if (traps) {
		isa_check("misaligned ld cause"
			  " 4|5",
			  isa_last_trap.cause == CAUSE_MISALIGNED_LOAD ||
			      isa_last_trap.cause == CAUSE_LOAD_ACCESS,
			  1);
		isa_check("misaligned ld tval", isa_last_trap.tval, base + 3);
	} else {
		isa_trap_armed = 0;
		isa_check("misaligned ld value", v, 0x0a09080706050403UL);
		u64 w, h, hu, wu;
		asm volatile("lw %0, 0(%4)\n lh %1, 3(%4)\n lhu %2, 7(%4)\n"
			     "lwu %3, 5(%4)"
			     : "=&r"(w), "=&r"(h), "=&r"(hu), "=&r"(wu)
			     : "r"(base + 1)
			     : "memory");
		isa_check("misaligned lw", w, 0x04030201);
		isa_check("misaligned lh", h, 0x0504);
		isa_check("misaligned lhu", hu, 0x0908);
		isa_check("misaligned lwu", wu, 0x09080706);
		asm volatile("sd %1, 0(%0)\n sw %2, 9(%0)\n sh %2, 14(%0)" ::"r"(base + 1),
			     "r"(0x1122334455667788UL), "r"(0xaabbccddUL)
			     : "memory");
		isa_check("misaligned sd/sw/sh word0", buf[0], 0x2233445566778800UL);
		isa_check("misaligned sd/sw/sh word1", buf[1], 0xdd0eaabbccdd0911UL);
	}

	isa_expect_trap();
	ISA_TRY("amoadd.d %0, %1, (%0)", ::"r"(base + 4), "r"(1UL) : "t6", "memory");
	isa_check("misaligned amoadd.d cause"
		  " 6|7",
		  isa_last_trap.cause == CAUSE_MISALIGNED_STORE ||
		      isa_last_trap.cause == CAUSE_STORE_ACCESS,
		  1);
	isa_check("misaligned amoadd.d tval", isa_last_trap.tval, base + 4);
	isa_expect_trap();
	ISA_TRY("amoswap.w %0, %1, (%0)", ::"r"(base + 2), "r"(1UL) : "t6", "memory");
	isa_check("misaligned amoswap.w cause"
		  " 6|7",
		  isa_last_trap.cause == CAUSE_MISALIGNED_STORE ||
		      isa_last_trap.cause == CAUSE_STORE_ACCESS,
		  1);
	isa_expect_trap();
	ISA_TRY("sc.d t0, %1, (%0)", ::"r"(base + 4), "r"(1UL) : "t6", "t0", "memory");
	isa_check("misaligned sc.d cause"
		  " 6|7",
		  isa_last_trap.cause == CAUSE_MISALIGNED_STORE ||
		      isa_last_trap.cause == CAUSE_STORE_ACCESS,
		  1);
	isa_expect_trap();
	ISA_TRY("lr.w t0, (%0)", ::"r"(base + 6) : "t6", "t0", "memory");
	isa_check("misaligned lr.w cause"
		  " 4|5",
		  isa_last_trap.cause == CAUSE_MISALIGNED_LOAD ||
		      isa_last_trap.cause == CAUSE_LOAD_ACCESS,
		  1);
	isa_check("misaligned lr.w tval", isa_last_trap.tval, base + 6);

	isa_expect_trap();
	ISA_TRY("amoadd.d zero, zero, (%0)", ::"r"(0x2000000000UL) : "t6", "memory");
	/* the -vm variant does not map the hole: store/AMO page fault */
	isa_check("AMO fault: cause", isa_last_trap.cause,
		  ISA_VM ? CAUSE_STORE_PAGE : CAUSE_STORE_ACCESS);
	isa_check("AMO access fault: mtval", isa_last_trap.tval, 0x2000000000UL);
}
