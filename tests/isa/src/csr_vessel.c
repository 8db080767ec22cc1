/* csr_vessel.c (vessel only): CSR behaviour the privileged spec fixes but
 * QEMU 7.2 does not follow, plus WARL choices vessel makes:
 *  - medeleg[11] (ecall from M) is read-only zero (§3.1.8);
 *  - mepc[0]/sepc[0] always read zero with IALIGN = 16 (§3.1.14);
 *  - mstatus.MPP never holds the reserved value 2 (WARL, §3.1.6.1);
 *  - mtvec/stvec never hold reserved modes >= 2 (WARL, §3.1.7);
 *  - satp ignores a write of Sv57 (mode 10), which vessel does not
 *    implement (§4.1.11: the write has no effect at all);
 *  - all 29 hpm counters and event selectors exist (§3.1.10);
 *  - misaligned fetch (cause 0): only possible when misa.C can be cleared;
 *    if vessel keeps misa read-only this part reports that and checks
 *    that C stays enabled;
 *  - minstret/mcycle writable; minstret counts retired instructions exactly
 *    (a csrr-to-csrr distance of N instructions reads N);
 *  - a CSR instruction that writes minstret or mcycle does not also count
 *    itself in that counter (Zicsr: the write takes the place of the
 *    increment), so the next instruction reads the value written; csrrs/csrrc
 *    with a nonzero mask are writes too; the other counter still counts it.
 *    QEMU 7.2 without -icount cannot count instructions exactly. */
#include "ops.h"

/* Counter writes: each sequence runs 100 times so that the code around the
 * CSR ops also runs translated (the JIT translates a block's prefix). */
static void counter_writes(void)
{
	u64 bad[10] = { 0 };
	for (int i = 0; i < 100; i++) {
		u64 a, b, c;
		asm volatile("csrwi minstret, 0\n csrr %0, minstret" : "=r"(a));
		bad[0] += a != 0;
		asm volatile("csrw minstret, %1\n csrr %0, minstret" : "=r"(a) : "r"(1000UL));
		bad[1] += a != 1000;
		asm volatile("csrwi mcycle, 0\n csrr %0, mcycle" : "=r"(a));
		bad[2] += a != 0;
		/* csrr reads 0x101 and counts itself: csrc sees 0x102, clears bit 1 */
		asm volatile("csrw minstret, %2\n csrs minstret, %3\n csrr %0, minstret\n"
			     "csrc minstret, %4\n csrr %1, minstret"
			     : "=&r"(a), "=&r"(b)
			     : "r"(0x100UL), "r"(1UL), "r"(2UL));
		bad[3] += a != 0x101 || b != 0x100;
		asm volatile("csrwi minstret, 5\n csrr %0, instret\n csrr %1, instret"
			     : "=&r"(a), "=&r"(b));
		bad[4] += a != 5 || b != 6;
		asm volatile("csrwi mcycle, 7\n csrr %0, cycle" : "=r"(a));
		bad[5] += a != 7;
		/* the written counter's neighbour still counts the writing op */
		asm volatile("csrr %0, mcycle\n csrwi minstret, 0\n csrr %1, mcycle"
			     : "=&r"(a), "=&r"(b));
		bad[6] += b - a != 2;
		asm volatile("csrr %0, minstret\n csrwi mcycle, 0\n csrr %1, minstret"
			     : "=&r"(a), "=&r"(b));
		bad[7] += b - a != 2;
		/* csrrs with x0 does not write: it counts itself */
		asm volatile("csrwi minstret, 0\n csrrs %0, minstret, zero\n csrr %1, minstret"
			     : "=&r"(a), "=&r"(b));
		bad[8] += a != 0 || b != 1;
		/* a swap returns the old count and the next read sees the new one */
		asm volatile("csrr %2, minstret\n csrrw %0, minstret, %3\n csrr %1, minstret"
			     : "=&r"(a), "=&r"(b), "=&r"(c)
			     : "r"(42UL));
		bad[9] += a != c + 1 || b != 42;
	}
	isa_check("csrwi minstret, 0; csrr minstret reads 0 (runs wrong)", bad[0], 0);
	isa_check("csrw minstret, 1000; csrr minstret reads 1000 (runs wrong)", bad[1], 0);
	isa_check("csrwi mcycle, 0; csrr mcycle reads 0 (runs wrong)", bad[2], 0);
	isa_check("csrs/csrc minstret with a mask are writes (runs wrong)", bad[3], 0);
	isa_check("instret reads the written minstret (runs wrong)", bad[4], 0);
	isa_check("cycle reads the written mcycle (runs wrong)", bad[5], 0);
	isa_check("mcycle counts a minstret write (runs wrong)", bad[6], 0);
	isa_check("minstret counts an mcycle write (runs wrong)", bad[7], 0);
	isa_check("csrrs minstret, x0 is no write (runs wrong)", bad[8], 0);
	isa_check("csrrw minstret swaps (runs wrong)", bad[9], 0);
}

void test_main(void)
{
	u64 r;
	asm volatile("csrr %0, mhpmcounter31\n csrr %0, mhpmevent31\n"
		     "csrr %0, hpmcounter31\n csrr %0, mhpmcounter19"
		     : "=r"(r));
	isa_check("mhpmcounter31/mhpmevent31/hpmcounter31 readable", 1, 1);
	u64 misa = csr_read(misa);
	asm volatile(".option push\n .option norvc\n .align 2\n"
		     "csrc misa, %0\n nop\n .option pop" ::"r"(1UL << 2)
		     : "memory");
	if (csr_read(misa) & (1 << 2)) {
		isa_printf("misa.C is read-only: no misaligned fetch possible\n");
		isa_check("misa unchanged", csr_read(misa), misa);
	} else {
		u64 target;
		isa_expect_trap();
		asm volatile(".option push\n .option norvc\n"
			     "la t6, 2f\n la %0, 1f + 2\n jalr ra, 0(%0)\n"
			     "1: nop\n nop\n 2: .option pop"
			     : "=&r"(target)::"t6", "ra", "memory");
		isa_check("misaligned fetch: cause", isa_last_trap.cause, CAUSE_MISALIGNED_FETCH);
		isa_check("misaligned fetch: mtval", isa_last_trap.tval, target);
		csr_set(misa, 1 << 2);
		isa_check("misa.C back", (csr_read(misa) >> 2) & 1, 1);
	}
	csr_write(medeleg, ~0UL);
	isa_check("medeleg[11] read-only zero", (csr_read(medeleg) >> 11) & 1, 0);
	csr_write(medeleg, 0);
	csr_write(mepc, 0x80001235UL);
	isa_check("mepc bit 0 reads zero", csr_read(mepc), 0x80001234UL);
	csr_write(sepc, 0x80001237UL);
	isa_check("sepc bit 0 reads zero", csr_read(sepc), 0x80001236UL);

	csr_clear(mstatus, MSTATUS_MPP);
	csr_set(mstatus, 2UL << 11);
	isa_check("MPP = 2 is not kept", ((csr_read(mstatus) >> 11) & 3) != 2, 1);
	csr_set(mstatus, MSTATUS_MPP);

	u64 saved = csr_read(mtvec);
	csr_write(mtvec, (u64)trap_entry | 2);
	isa_check("mtvec mode 2 not kept", (csr_read(mtvec) & 3) < 2, 1);
	csr_write(mtvec, (u64)trap_entry | 3);
	isa_check("mtvec mode 3 not kept", (csr_read(mtvec) & 3) < 2, 1);
	csr_write(mtvec, saved);
	csr_write(stvec, (u64)strap_entry | 3);
	isa_check("stvec mode 3 not kept", (csr_read(stvec) & 3) < 2, 1);

	csr_write(satp, 0);
	csr_write(satp, (10UL << 60) | 0x80000);
	isa_check("satp Sv57 ignored", csr_read(satp), 0);
	csr_write(satp, (8UL << 60) | 0x80000);
	isa_check("satp Sv39 accepted", csr_read(satp), (8UL << 60) | 0x80000);
	csr_write(satp, (9UL << 60) | 0x80000);
	isa_check("satp Sv48 accepted", csr_read(satp), (9UL << 60) | 0x80000);
	csr_write(satp, (11UL << 60) | 0x80000);
	isa_check("satp Sv64 ignored", csr_read(satp), (9UL << 60) | 0x80000);
	csr_write(satp, 0);

	/* exact instret: the first csrr and 9 nops retire between the reads */
	u64 a, b;
	asm volatile("csrr %0, instret\n"
		     "nop\n nop\n nop\n nop\n nop\n nop\n nop\n nop\n nop\n"
		     "csrr %1, instret"
		     : "=r"(a), "=r"(b));
	isa_check("instret counts exactly", b - a, 10);
	asm volatile("csrr %0, minstret\n add zero, zero, zero\n"
		     "csrr %1, minstret"
		     : "=r"(a), "=r"(b));
	isa_check("minstret counts exactly", b - a, 2);
	/* instret stays exact across traps: two identical paths through
	 * an ecall and its handler, differing only by 20 nops */
	u64 d5, d25;
	isa_expect_trap();
	asm volatile("csrr %0, instret\n la t6, 1f\n ecall\n 1:"
		     " nop\n nop\n nop\n nop\n nop\n csrr %1, instret"
		     : "=&r"(a), "=&r"(b)::"t6", "memory");
	d5 = b - a;
	isa_expect_trap();
	asm volatile("csrr %0, instret\n la t6, 1f\n ecall\n 1:"
		     " .rept 25\n nop\n .endr\n csrr %1, instret"
		     : "=&r"(a), "=&r"(b)::"t6", "memory");
	d25 = b - a;
	isa_check("instret across a trap counts the nops", d25 - d5, 20);
	csr_write(minstret, 1000);
	a = csr_read(minstret);
	isa_check("minstret write", a >= 1000 && a < 1010, 1);
	csr_write(mcycle, 0);
	isa_check("mcycle write", csr_read(mcycle) < 1000000, 1);
	counter_writes();
}
