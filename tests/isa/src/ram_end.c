/* ram_end.c (vessel only, run with --mem 16M): RAM ends where --mem says.
 * The last doubleword of RAM is readable and writable; the first byte past
 * it is a hole: load, store and fetch raise access faults (causes 5, 7, 1)
 * with mtval = the address.  An access that straddles the end faults too
 * (or takes the misaligned trap). */
#include "isa.h"

#define RAM_END (0x80000000UL + (16UL << 20))

void test_main(void)
{
	volatile u64 *last = (volatile u64 *)(RAM_END - 8);
	*last = 0x1122334455667788UL;
	isa_check("last doubleword of RAM", *last, 0x1122334455667788UL);
	u64 v = 0;
	isa_expect_trap();
	ISA_TRY("ld %0, 0(%1)", : "=r"(v) : "r"(RAM_END) : "t6", "memory");
	isa_check("load past RAM: access fault", isa_last_trap.cause, CAUSE_LOAD_ACCESS);
	isa_check("load past RAM: mtval", isa_last_trap.tval, RAM_END);
	isa_expect_trap();
	ISA_TRY("sw zero, 4(%0)", ::"r"(RAM_END) : "t6", "memory");
	isa_check("store past RAM: access fault", isa_last_trap.cause, CAUSE_STORE_ACCESS);
	isa_check("store past RAM: mtval", isa_last_trap.tval, RAM_END + 4);
	isa_expect_trap();
	ISA_TRY("jalr ra, 0(%0)", ::"r"(RAM_END + 0x100) : "t6", "ra");
	isa_check("fetch past RAM: access fault", isa_last_trap.cause, CAUSE_FETCH_ACCESS);
	isa_check("fetch past RAM: mtval", isa_last_trap.tval, RAM_END + 0x100);
	isa_expect_trap();
	ISA_TRY("ld %0, 0(%1)", : "=r"(v) : "r"(RAM_END - 4) : "t6", "memory");
	isa_check("straddling the end traps", isa_trap_armed, 0);
	isa_trap_armed = 0;
	u64 c = isa_last_trap.cause;
	isa_check("straddling the end: access fault or misaligned",
		  c == CAUSE_LOAD_ACCESS || c == CAUSE_MISALIGNED_LOAD, 1);
	(void)v;
}
