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

/* two physical pages in reverse order behind two adjacent virtual ones */
static u8 pg[2][4096] __attribute__((aligned(4096)));
static volatile u64 split_val, split_cause;

static long s_split(long va)
{
	u64 v = 0;
	isa_expect_trap();
	ISA_TRY("ld %0, 0(%1)", : "=&r"(v) : "r"(va) : "t6", "memory");
	split_val = v;
	if (isa_trap_armed) {
		isa_trap_armed = 0;
		split_cause = ~0UL;
	} else {
		split_cause = isa_last_trap.cause;
	}
	if (split_cause == ~0UL) /* sd across the pages, one inside */
		asm volatile("sd %1, 0(%0)\n sd %0, 8(%0)" ::"r"(va), "r"(0x1122334455667788UL)
			     : "memory");
	return 0;
}

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
		/* every width at every offset against byte-wise loads */
		static volatile u8 bytes[32] __attribute__((aligned(16)));
		for (int k = 0; k < 32; k++)
			bytes[k] = (u8)(0x91 * k + 7);
		int bad = 0;
		for (int off = 0; off < 16; off++) {
			u64 b8 = 0;
			for (int k = 7; k >= 0; k--)
				b8 = b8 << 8 | bytes[off + k];
			u64 p = (u64)&bytes[off], d, w, wu, h, hu;
			asm volatile("ld %0, 0(%5)\n lw %1, 0(%5)\n"
				     "lwu %2, 0(%5)\n lh %3, 0(%5)\n"
				     "lhu %4, 0(%5)"
				     : "=&r"(d), "=&r"(w), "=&r"(wu), "=&r"(h), "=&r"(hu)
				     : "r"(p)
				     : "memory");
			bad += d != b8;
			bad += w != (u64)(i64)(i32)(u32)b8;
			bad += wu != (u32)b8;
			bad += h != (u64)(i64)(int16_t)(u16)b8;
			bad += hu != (u16)b8;
		}
		isa_check("misaligned loads at offsets 0..15", bad, 0);
		bad = 0;
		for (int off = 0; off < 16; off++) {
			for (int k = 0; k < 32; k++)
				bytes[k] = 0;
			u64 p = (u64)&bytes[off];
			asm volatile("sd %1, 0(%0)" ::"r"(p), "r"(0x8877665544332211UL) : "memory");
			for (int k = 0; k < 32; k++)
				bad += bytes[k] !=
				       (k >= off && k < off + 8 ? (u8)(0x11 * (k - off + 1)) : 0);
			asm volatile("sw %1, 0(%0)\n sh %1, 4(%0)" ::"r"(p), "r"(0xa1b2c3d4UL)
				     : "memory");
			bad += bytes[off] != 0xd4 || bytes[off + 3] != 0xa1 ||
			       bytes[off + 4] != 0xd4 || bytes[off + 5] != 0xc3 ||
			       bytes[off + 6] != 0x77;
		}
		isa_check("misaligned stores at offsets 0..15", bad, 0);
	}

#if !ISA_VM
	/* a misaligned ld/sd across two virtual pages whose physical pages
	 * are not adjacent (VA 0x40001000 -> pg[1], 0x40002000 -> pg[0]) */
	if (!traps) {
		u64 *root = isa_page_alloc();
		isa_map_identity(root, 3, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
		isa_map(root, 3, 0x40001000UL, (u64)pg[1], 0, PTE_R | PTE_W | PTE_A | PTE_D);
		isa_map(root, 3, 0x40002000UL, (u64)pg[0], 0, PTE_R | PTE_W | PTE_A | PTE_D);
		for (int k = 0; k < 4096; k++)
			pg[0][k] = 0xa0, pg[1][k] = 0xb0;
		pg[1][4092] = 1, pg[1][4093] = 2, pg[1][4094] = 3;
		pg[1][4095] = 4, pg[0][0] = 5, pg[0][1] = 6, pg[0][2] = 7;
		pg[0][3] = 8;
		csr_write(satp, isa_satp(root, 3));
		isa_sfence();
		isa_run_in_mode(MODE_S, s_split, 0x40001ffcL);
		csr_write(satp, 0);
		isa_sfence();
		if (split_cause == ~0UL) {
			isa_check("ld across split pages", split_val, 0x0807060504030201UL);
			/* the sd at va + 8 wrote 0x40001ffc to 0x40002004 */
			u64 got = 0;
			for (int k = 7; k >= 0; k--)
				got = got << 8 | pg[0][4 + k];
			isa_check("sd inside the second page", got, 0x40001ffcUL);
			isa_check("sd across split pages (first part)",
				  pg[1][4092] | pg[1][4095] << 8, 0x5588);
			isa_check("sd across split pages (second part)", pg[0][0] | pg[0][3] << 8,
				  0x1144);
		} else {
			isa_check("ld across split pages: misaligned trap", split_cause,
				  CAUSE_MISALIGNED_LOAD);
		}
	}
#endif
#if ISA_VM
	/* a misaligned load straddling into an unmapped page: either the
	 * misaligned trap, or a page fault whose mtval is the address of the
	 * part that faulted (priv spec §3.1.16) */
	{
		extern char _end[];
		u64 end = ((u64)_end + 0x3fffff) & ~0x3fffffUL; /* see vm.c */
		isa_expect_trap();
		ISA_TRY("ld t0, 0(%0)", ::"r"(end - 4) : "t6", "t0", "memory");
		u64 c = isa_last_trap.cause, tv = isa_last_trap.tval;
		isa_check("straddling ld: misaligned or page fault",
			  (c == CAUSE_MISALIGNED_LOAD && tv == end - 4) ||
			      (c == CAUSE_LOAD_PAGE && tv == end),
			  1);
	}
#endif
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
