/* precise.c: precise exceptions inside straight-line code (privileged spec
 * §1.6, §3.1.14): when the k-th instruction of a sequence traps, every
 * earlier instruction has completed (registers, memory, fflags) and no
 * later one has, and mepc is the trapping instruction.  Aimed at emulators
 * that execute decoded blocks: the sequences run several times so that the
 * second and later runs come from a block cache. */
#include "ops.h"

#define HOLE 0x2000000000UL
/* the hole is unmapped in the -vm variant: a page fault instead */
#define HOLE_CAUSE (ISA_VM ? CAUSE_LOAD_PAGE : CAUSE_LOAD_ACCESS)

static volatile u64 buf[4];

void test_main(void)
{
	for (int round = 0; round < 3; round++) {
		u64 a0, a1, a2, a3, pc;
		buf[0] = buf[1] = 0;
		isa_expect_trap();
		asm volatile("li a2, 77\n li a3, 99\n la t6, 9f\n"
			     "li a0, 1\n li a1, 2\n sd a1, 0(%5)\n"
			     "la %4, 1f\n"
			     "1: ld a2, 0(%6)\n"
			     "li a3, 4\n sd a3, 8(%5)\n"
			     "9: mv %0, a0\n mv %1, a1\n mv %2, a2\n mv %3, a3"
			     : "=r"(a0), "=r"(a1), "=r"(a2), "=r"(a3), "=&r"(pc)
			     : "r"(buf), "r"(HOLE + round * 8)
			     : "a0", "a1", "a2", "a3", "t6", "memory");
		isa_check("load fault: cause", isa_last_trap.cause, HOLE_CAUSE);
		isa_check("load fault: mepc", isa_last_trap.epc, pc);
		isa_check("earlier li done (a0)", a0, 1);
		isa_check("earlier li done (a1)", a1, 2);
		isa_check("faulting load wrote nothing", a2, 77);
		isa_check("later li not done", a3, 99);
		isa_check("earlier store done", buf[0], 2);
		isa_check("later store not done", buf[1], 0);
	}

	for (int round = 0; round < 3; round++) {
		u64 a0, a1, pc, fl;
		csr_write(fflags, 0);
		isa_expect_trap();
		asm volatile("li a1, 5\n la t6, 9f\n"
			     "fmv.d.x ft0, zero\n fdiv.d ft1, ft0, ft0\n"
			     "addi a0, zero, 3\n"
			     "la %2, 1f\n"
			     "1: .word 0x0000007b\n"
			     "li a1, 6\n fsqrt.d ft2, ft1\n"
			     "9: mv %0, a0\n mv %1, a1"
			     : "=r"(a0), "=r"(a1), "=&r"(pc)
			     :
			     : "a0", "a1", "t6", "ft0", "ft1", "ft2", "memory");
		fl = csr_read(fflags);
		isa_check("illegal mid-block: mepc", isa_last_trap.epc, pc);
		isa_check("illegal mid-block: mtval", isa_last_trap.tval, 0x7b);
		isa_check("earlier addi done", a0, 3);
		isa_check("later li not done", a1, 5);
		isa_check("fflags of earlier fdiv only", fl, 0x10);
	}

	/* compressed faulting instruction in the middle */
	for (int round = 0; round < 2; round++) {
		u64 a0, pc;
		isa_expect_trap();
		asm volatile("mv a2, %2\n la t6, 9f\n c.li a0, 1\n la %1, 1f\n"
			     "1: c.ld a1, 0(a2)\n c.li a0, 2\n 9: mv %0, a0"
			     : "=r"(a0), "=&r"(pc)
			     : "r"(HOLE)
			     : "a0", "a1", "a2", "t6", "memory");
		isa_check("c.ld fault: cause", isa_last_trap.cause, HOLE_CAUSE);
		isa_check("c.ld fault: mepc", isa_last_trap.epc, pc);
		isa_check("c.ld fault: a0 from before", a0, 1);
	}
}
