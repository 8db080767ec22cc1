/* tlbflush.c: TLB invalidation corner cases that the soft TLB, the block
 * chains and the jump cache of vessel's CPU must honour (privileged spec
 * §4.2.1 SFENCE.VMA, §4.1.1 SUM, §4.1.11 satp ASID), and self-modifying
 * code across the translation threshold (Zifencei):
 *  - SFENCE.VMA rs1=va makes a remapped 4 KiB data page visible, in the
 *    plain S set and in the S-with-SUM set, with rs2 = x0 and with an ASID;
 *  - SFENCE.VMA of one 4 KiB piece of a remapped megapage makes the whole
 *    megapage's new mapping visible (every piece was cached before);
 *  - toggling SUM many times with translations cached: U pages are
 *    readable exactly while SUM = 1 (also for M-mode with MPRV, MPP = S);
 *  - a hot code page (called far beyond the JIT threshold, from a chained
 *    loop) remapped and fenced by address runs the new code, and an
 *    SFENCE.VMA of an unrelated page leaves it running correctly;
 *  - satp switches between two roots with different ASIDs;
 *  - with S-mode code mapped global (G, as a kernel maps itself) and one
 *    hot code page mapped non-global to different pages under two ASIDs,
 *    satp switches and SFENCE.VMA x0, asid run the current root's code
 *    (global translations may survive both; this page's may not);
 *  - code patched at several execution counts below and above the
 *    translation threshold runs the patched instruction after fence.i;
 *  - a hot instruction straddling two pages sees its second page remapped
 *    (SFENCE.VMA by address) and its second half rewritten (fence.i);
 *  - the same for a straddling instruction that ends a block of several
 *    (vessel decodes and translates it with them), reached in a hot loop
 *    from a block of the same page (which vessel's JIT may link to
 *    directly), its upper half rewritten, then its page remapped;
 *  - two data pages 1 MiB apart (one index of a 256-entry direct-mapped
 *    TLB) accessed alternately, then one remapped and fenced by address:
 *    loads and stores use the new page (vessel keeps an evicted entry at
 *    a paired index, which the fence must reach too). */
#include "ops.h"

#define VA(n)  (0x40000000UL + (u64)(n)*0x1000)
#define MEGA   0x40200000UL
#define PHYS_A 0x81000000UL /* two 2 MiB physical regions for the megapage */
#define PHYS_B 0x81200000UL
#define RWAD   (PTE_R | PTE_W | PTE_A | PTE_D)

static u8 pages[8][4096] __attribute__((aligned(4096)));
static u8 spages[3][4096] __attribute__((aligned(4096))); /* straddling code */
static u8 ppages[3][4096] __attribute__((aligned(4096))); /* TLB index pair */
static u8 hpages[3][4096] __attribute__((aligned(4096))); /* hot straddling loop */
#define PAIR_A VA(0x20)
#define PAIR_B (VA(0x20) + 0x100000)
static u64 *root_s, *root_b, *root_g1, *root_g2;

static u64 leaf(void *pa, u64 flags)
{
	return (((u64)pa >> 12) << 10) | PTE_V | flags;
}

static long s_data_remap(long arg)
{
	volatile u64 *p = (volatile u64 *)VA(0);
	volatile u64 *pte = isa_pte(root_s, 3, VA(0));
	u64 bad = 0, sum = 0;
	for (int i = 0; i < 100; i++)
		sum += *p;
	bad += sum != 100 * 0x1111;
	*pte = leaf(pages[1], PTE_R | PTE_A);
	if (arg)
		asm volatile("sfence.vma %0, %1" ::"r"(VA(0)), "r"(arg) : "memory");
	else
		asm volatile("sfence.vma %0, zero" ::"r"(VA(0)) : "memory");
	bad += (*p != 0x2222) << 1;
	*pte = leaf(pages[0], PTE_R | PTE_A);
	asm volatile("sfence.vma %0, zero" ::"r"(VA(0)) : "memory");
	bad += (*p != 0x1111) << 2;
	/* the same through the SUM set: VA(3) is a U page */
	volatile u64 *q = (volatile u64 *)VA(3);
	volatile u64 *qpte = isa_pte(root_s, 3, VA(3));
	csr_set(sstatus, MSTATUS_SUM);
	sum = 0;
	for (int i = 0; i < 100; i++)
		sum += *q;
	bad += (sum != 100 * 0x4444) << 3;
	csr_clear(sstatus, MSTATUS_SUM);
	*qpte = leaf(pages[5], RWAD | PTE_U);
	asm volatile("sfence.vma %0, zero" ::"r"(VA(3)) : "memory");
	csr_set(sstatus, MSTATUS_SUM);
	bad += (*q != 0x6666) << 4;
	*qpte = leaf(pages[3], RWAD | PTE_U);
	asm volatile("sfence.vma %0, zero" ::"r"(VA(3)) : "memory");
	bad += (*q != 0x4444) << 5;
	csr_clear(sstatus, MSTATUS_SUM);
	return (long)bad;
}

static long s_mega_remap(long arg)
{
	volatile u64 *pte = isa_pte(root_s, 3, MEGA);
	u64 bad = 0, sum = 0;
	for (int i = 0; i < 50; i++)
		for (u64 off = 0; off < 0x200000; off += 0x41000)
			sum += *(volatile u64 *)(MEGA + off + 8);
	bad += sum != 50 * 8 * 0xa1;
	*pte = leaf((void *)PHYS_B, RWAD);
	/* fence one piece only: the megapage's leaf PTE covers them all */
	asm volatile("sfence.vma %0, zero" ::"r"(MEGA + 0x100000) : "memory");
	sum = 0;
	for (u64 off = 0; off < 0x200000; off += 0x41000)
		sum += *(volatile u64 *)(MEGA + off + 8);
	bad += (sum != 8 * 0xb1) << 1;
	*pte = leaf((void *)PHYS_A, RWAD);
	asm volatile("sfence.vma %0, zero" ::"r"(MEGA + 0x1ff000) : "memory");
	bad += (*(volatile u64 *)(MEGA + 0x41008) != 0xa1) << 2;
	return (long)bad;
}

static long s_sum_toggle(long arg)
{
	u64 bad = 0;
	for (int i = 0; i < 40; i++) {
		u64 v = 0;
		csr_set(sstatus, MSTATUS_SUM);
		v = *(volatile u64 *)VA(3);
		bad += v != 0x4444;
		csr_clear(sstatus, MSTATUS_SUM);
		/* the S set (SUM = 0) must not have cached the U page */
		isa_expect_trap();
		ISA_TRY("ld %0, 0(%1)", : "=&r"(v) : "r"(VA(3)) : "t6", "memory");
		bad += isa_trap_armed != 0 || isa_last_trap.cause != CAUSE_LOAD_PAGE;
		isa_trap_armed = 0;
		/* and S pages stay readable in both sets */
		bad += *(volatile u64 *)VA(0) != 0x1111;
	}
	return (long)bad;
}

/* PAIR_A and PAIR_B alternate (each evicts the other from a direct-mapped
 * TLB); then PAIR_A is remapped to ppages[2] and fenced by address. */
static long s_tlb_pair(long arg)
{
	volatile u64 *a = (volatile u64 *)PAIR_A, *b = (volatile u64 *)PAIR_B;
	volatile u64 *pte = isa_pte(root_s, 3, PAIR_A);
	u64 bad = 0, sum = 0;
	for (u64 i = 0; i < 200; i++) {
		*a = i;
		*b = 2 * i;
		sum += *a + *b;
	}
	bad += sum != 3 * (199 * 200 / 2);
	*pte = leaf(ppages[2], RWAD);
	asm volatile("sfence.vma %0, zero" ::"r"(PAIR_A) : "memory");
	bad += (*a != 0x3333) << 1;
	bad += (*b != 398) << 2;
	*a = 7;
	bad += (*(volatile u64 *)ppages[2] != 7) << 3;
	bad += (*(volatile u64 *)ppages[0] != 199) << 4;
	*pte = leaf(ppages[0], RWAD);
	asm volatile("sfence.vma %0, zero" ::"r"(PAIR_A) : "memory");
	bad += (*a != 199) << 5;
	return (long)bad;
}

typedef long (*fn_t)(void);

static long s_straddle(long arg)
{
	/* li a0, imm at VA(10) + 0xffe: low half 0x0513, high half imm << 4 */
	fn_t f = (fn_t)(VA(10) + 0xffe);
	volatile u64 *pte = isa_pte(root_s, 3, VA(11));
	u64 bad = 0, sum = 0;
	for (int i = 0; i < 100; i++)
		sum += (u64)f();
	bad += sum != 100;
	*pte = leaf(spages[2], PTE_X | PTE_A);
	asm volatile("sfence.vma %0, zero" ::"r"(VA(11)) : "memory");
	sum = 0;
	for (int i = 0; i < 100; i++)
		sum += (u64)f();
	bad += (sum != 200) << 1;
	*(volatile u16 *)spages[2] = 3 << 4;
	asm volatile("fence.i" ::: "memory");
	sum = 0;
	for (int i = 0; i < 100; i++)
		sum += (u64)f();
	bad += (sum != 300) << 2;
	*(volatile u16 *)spages[2] = 2 << 4;
	*pte = leaf(spages[1], PTE_X | PTE_A);
	asm volatile("sfence.vma %0, zero" ::"r"(VA(11)) : "memory");
	asm volatile("fence.i" ::: "memory");
	return (long)bad;
}

/*
 * The hot loop at VA(16) + 0xfd4 (write_hot_loop): n - 1 iterations of
 * a0 += 1 + imm, imm being the one of the straddling addi whose upper half
 * is in the page mapped at VA(17).
 */
typedef long (*fn1_t)(long);
#define HOT_LOOP(n) (((fn1_t)(VA(16) + 0xfd4))(n))

/* the straddling `addi a0, a0, imm`'s upper half, then `j VA(16) + 0xfe0` */
static void write_hot_upper(u8 *page, u32 imm)
{
	int off = -0x22; /* from VA(17) + 2 */
	u32 o = (u32)off;
	u32 jal = ((o >> 20) & 1) << 31 | ((o >> 1) & 0x3ff) << 21 | ((o >> 11) & 1) << 20 |
		  ((o >> 12) & 0xff) << 12 | 0x6f;
	*(u16 *)page = (u16)(imm << 4 | 5);
	*(u16 *)(page + 2) = (u16)jal;
	*(u16 *)(page + 4) = (u16)(jal >> 16);
}

static void write_hot_loop(void)
{
	u8 *a = hpages[0];
	*(u32 *)(a + 0xfd0) = 0x00008067;				      /* ret */
	*(u32 *)(a + 0xfd4) = (10 << 15) | (11 << 7) | 0x13;		      /* mv a1, a0 */
	*(u32 *)(a + 0xfd8) = (10 << 7) | 0x13;				      /* li a0, 0 */
	*(u32 *)(a + 0xfdc) = 0x13;					      /* nop */
	*(u32 *)(a + 0xfe0) = (0xfffU << 20) | (11 << 15) | (11 << 7) | 0x13; /* addi a1, a1, -1 */
	/* beqz a1, VA(16) + 0xfd0 (offset -0x14) */
	u32 o = (u32)-0x14;
	*(u32 *)(a + 0xfe4) = ((o >> 12) & 1) << 31 | ((o >> 5) & 0x3f) << 25 | 11 << 15 |
			      ((o >> 1) & 0xf) << 8 | ((o >> 11) & 1) << 7 | 0x63;
	*(u32 *)(a + 0xfe8) = (1 << 20) | (10 << 15) | (10 << 7) | 0x13; /* addi a0, a0, 1 */
	for (unsigned k = 0xfec; k < 0xffc; k += 4)
		*(u32 *)(a + k) = 0x13;
	*(u16 *)(a + 0xffc) = 0x0001; /* c.nop */
	*(u16 *)(a + 0xffe) = 0x0513; /* addi a0, a0, imm: lower half */
	write_hot_upper(hpages[1], 1);
	write_hot_upper(hpages[2], 2);
}

static long s_straddle_hot(long arg)
{
	(void)arg;
	volatile u64 *pte = isa_pte(root_s, 3, VA(17));
	u64 bad = 0;
	for (int i = 0; i < 8; i++) /* far beyond the translation threshold */
		bad |= HOT_LOOP(1000) != 999 * 2;
	/* the upper half rewritten under the hot, translated block */
	*(volatile u16 *)hpages[1] = 3 << 4 | 5;
	asm volatile("fence.i" ::: "memory");
	for (int i = 0; i < 4; i++)
		bad |= (u64)(HOT_LOOP(1000) != 999 * 4) << 4;
	/* its page remapped: the next page's translation changes */
	*pte = leaf(hpages[2], PTE_X | PTE_A);
	asm volatile("sfence.vma %0, zero" ::"r"(VA(17)) : "memory");
	for (int i = 0; i < 4; i++)
		bad |= (u64)(HOT_LOOP(1000) != 999 * 3) << 8;
	/* and back to the rewritten page */
	*pte = leaf(hpages[1], PTE_X | PTE_A);
	asm volatile("sfence.vma %0, zero" ::"r"(VA(17)) : "memory");
	for (int i = 0; i < 4; i++)
		bad |= (u64)(HOT_LOOP(1000) != 999 * 4) << 12;
	/* rewritten once more, without a fence.i: a store to decoded code is
	 * seen by the next fetch (as QEMU does too) */
	*(volatile u16 *)hpages[1] = 6 << 4 | 5;
	bad |= (u64)(HOT_LOOP(1000) != 999 * 7) << 16;
	return (long)bad;
}

static long s_code_remap(long arg)
{
	fn_t f = (fn_t)VA(2);
	volatile u64 *pte = isa_pte(root_s, 3, VA(2));
	u64 bad = 0, sum = 0;
	for (int i = 0; i < 300; i++) /* far beyond the translation threshold */
		sum += (u64)f();
	bad += sum != 300;
	/* an unrelated page fenced: the code keeps running as before */
	asm volatile("sfence.vma %0, zero" ::"r"(VA(0)) : "memory");
	sum = 0;
	for (int i = 0; i < 100; i++)
		sum += (u64)f();
	bad += (sum != 100) << 1;
	*pte = leaf(pages[6], PTE_X | PTE_A);
	asm volatile("sfence.vma %0, zero" ::"r"(VA(2)) : "memory");
	sum = 0;
	for (int i = 0; i < 100; i++)
		sum += (u64)f();
	bad += (sum != 200) << 2;
	*pte = leaf(pages[2], PTE_X | PTE_A);
	asm volatile("sfence.vma %0, %1" ::"r"(VA(2)), "r"(arg) : "memory");
	bad += (f() != 1) << 3;
	return (long)bad;
}

static long s_asid_switch(long arg)
{
	u64 bad = 0;
	u64 sa = isa_satp(root_s, 3) | (1UL << 44), sb = isa_satp(root_b, 3) | (2UL << 44);
	for (int i = 0; i < 20; i++) {
		csr_write(satp, sb);
		u64 vb = *(volatile u64 *)VA(0);
		csr_write(satp, sa);
		u64 va = *(volatile u64 *)VA(0);
		bad += (vb != 0x2222) + (va != 0x1111);
	}
	return (long)bad;
}

static long s_global_switch(long arg)
{
	(void)arg;
	fn_t f = (fn_t)VA(2);
	u64 s1 = isa_satp(root_g1, 3) | (3UL << 44), s2 = isa_satp(root_g2, 3) | (4UL << 44);
	u64 bad = 0, sum;
	for (int i = 0; i < 8; i++) { /* hot and chained under both roots */
		sum = 0;
		csr_write(satp, s2);
		for (int k = 0; k < 100; k++)
			sum += (u64)f();
		csr_write(satp, s1);
		for (int k = 0; k < 100; k++)
			sum += (u64)f();
		bad += sum != 300;
	}
	/* the non-global code page of ASID 3 remapped, that ASID fenced */
	volatile u64 *pte = isa_pte(root_g1, 3, VA(2));
	*pte = leaf(pages[6], PTE_X | PTE_A);
	asm volatile("sfence.vma zero, %0" ::"r"(3UL) : "memory");
	sum = 0;
	for (int k = 0; k < 100; k++)
		sum += (u64)f();
	bad += (u64)(sum != 200) << 8;
	*pte = leaf(pages[2], PTE_X | PTE_A);
	asm volatile("sfence.vma zero, %0" ::"r"(3UL) : "memory");
	bad += (u64)(f() != 1) << 9;
	return (long)bad;
}

/* li a0, imm (imm < 2048); ret */
static u32 li_a0(u32 imm)
{
	return (imm << 20) | (10 << 7) | 0x13;
}

static void smc_threshold(void)
{
	u32 *code = (u32 *)pages[7];
	fn_t f = (fn_t)code;
	u64 bad = 0, k = 0;
	code[0] = li_a0(0);
	code[1] = 0x00008067;
	asm volatile("fence.i" ::: "memory");
	for (u64 i = 0; i < 400; i++) {
		/* patch after 1, 2, 5, 31, 32, 33, 64 ... runs of the same code */
		if (i == 1 || i == 3 || i == 8 || i == 39 || i == 71 || i == 104 || i == 168 ||
		    i == 300) {
			k = i;
			code[0] = li_a0((u32)k);
			asm volatile("fence.i" ::: "memory");
		}
		bad += (u64)f() != k;
	}
	isa_check("SMC across the translation threshold: wrong results", bad, 0);
}

void test_main(void)
{
	root_s = isa_page_alloc();
	isa_map_identity(root_s, 3, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
	isa_map(root_s, 3, VA(0), (u64)pages[0], 0, PTE_R | PTE_A);
	isa_map(root_s, 3, VA(2), (u64)pages[2], 0, PTE_X | PTE_A);
	isa_map(root_s, 3, VA(3), (u64)pages[3], 0, RWAD | PTE_U);
	isa_map(root_s, 3, MEGA, PHYS_A, 1, RWAD);
	isa_map(root_s, 3, VA(10), (u64)spages[0], 0, PTE_X | PTE_A);
	isa_map(root_s, 3, VA(11), (u64)spages[1], 0, PTE_X | PTE_A);
	isa_map(root_s, 3, VA(16), (u64)hpages[0], 0, PTE_X | PTE_A);
	isa_map(root_s, 3, VA(17), (u64)hpages[1], 0, PTE_X | PTE_A);
	isa_map(root_s, 3, PAIR_A, (u64)ppages[0], 0, RWAD);
	isa_map(root_s, 3, PAIR_B, (u64)ppages[1], 0, RWAD);
	root_b = isa_page_alloc();
	isa_map_identity(root_b, 3, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
	isa_map(root_b, 3, VA(0), (u64)pages[1], 0, PTE_R | PTE_A);
	root_g1 = isa_page_alloc();
	isa_map_identity(root_g1, 3, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D | PTE_G);
	isa_map(root_g1, 3, VA(2), (u64)pages[2], 0, PTE_X | PTE_A);
	root_g2 = isa_page_alloc();
	isa_map_identity(root_g2, 3, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D | PTE_G);
	isa_map(root_g2, 3, VA(2), (u64)pages[6], 0, PTE_X | PTE_A);

	*(u64 *)pages[0] = 0x1111;
	*(u64 *)pages[1] = 0x2222;
	*(u64 *)pages[3] = 0x4444;
	*(u64 *)pages[5] = 0x6666;
	*(u64 *)ppages[2] = 0x3333;
	for (u64 off = 0; off < 0x200000; off += 0x41000) {
		*(volatile u64 *)(PHYS_A + off + 8) = 0xa1;
		*(volatile u64 *)(PHYS_B + off + 8) = 0xb1;
	}
	((u32 *)pages[2])[0] = li_a0(1);
	((u32 *)pages[2])[1] = 0x00008067;
	((u32 *)pages[6])[0] = li_a0(2);
	((u32 *)pages[6])[1] = 0x00008067;
	*(u16 *)(spages[0] + 0xffe) = 0x0513;
	for (int k = 1; k <= 2; k++) {
		*(u16 *)spages[k] = (u16)(k << 4);
		*(u16 *)(spages[k] + 2) = 0x8067; /* ret (jalr zero, 0(ra)) */
		*(u16 *)(spages[k] + 4) = 0x0000;
	}
	write_hot_loop();
	asm volatile("fence.i" ::: "memory");

	csr_write(satp, isa_satp(root_s, 3));
	isa_sfence();
	isa_check("sfence.vma va: data page remap (bad bits)",
		  isa_run_in_mode(MODE_S, s_data_remap, 0), 0);
	isa_check("sfence.vma va, asid: data page remap (bad bits)",
		  isa_run_in_mode(MODE_S, s_data_remap, 5), 0);
	isa_check("sfence.vma va: one of two pages of a TLB index remapped (bad bits)",
		  isa_run_in_mode(MODE_S, s_tlb_pair, 0), 0);
	isa_check("sfence.vma of one megapage piece (bad bits)",
		  isa_run_in_mode(MODE_S, s_mega_remap, 0), 0);
	isa_check("SUM toggles with cached translations (bad)",
		  isa_run_in_mode(MODE_S, s_sum_toggle, 0), 0);
	isa_check("sfence.vma va: hot code page remap (bad bits)",
		  isa_run_in_mode(MODE_S, s_code_remap, 0), 0);
	isa_check("sfence.vma va, asid: hot code page remap (bad bits)",
		  isa_run_in_mode(MODE_S, s_code_remap, 7), 0);
	isa_check("straddling instruction: page remap and rewrite (bad bits)",
		  isa_run_in_mode(MODE_S, s_straddle, 0), 0);
	isa_check("hot straddling instruction ending a block: rewrite and remap (bad bits)",
		  isa_run_in_mode(MODE_S, s_straddle_hot, 0), 0);
	isa_check("satp switches between ASIDs (bad)", isa_run_in_mode(MODE_S, s_asid_switch, 0),
		  0);
	csr_write(satp, isa_satp(root_g1, 3) | (3UL << 44));
	isa_sfence();
	isa_check("global kernel, non-global code page: satp switches, sfence.vma x0, asid (bad)",
		  isa_run_in_mode(MODE_S, s_global_switch, 0), 0);
	csr_write(satp, isa_satp(root_s, 3));
	isa_sfence();

	/* MPRV with MPP = S: SUM toggled with translations cached */
	u64 bad = 0;
	for (int i = 0; i < 20; i++) {
		u64 v = 0, sum = MSTATUS_MPRV | MSTATUS_SUM, mprv = MSTATUS_MPRV;
		csr_clear(mstatus, MSTATUS_MPP);
		csr_set(mstatus, 1UL << 11);
		asm volatile("csrs mstatus, %2\n ld %0, 0(%1)\n csrc mstatus, %2"
			     : "=&r"(v)
			     : "r"(VA(3)), "r"(sum)
			     : "memory");
		bad += v != 0x4444;
		isa_expect_trap();
		asm volatile("la t6, 1f\n csrs mstatus, %2\n ld %0, 0(%1)\n"
			     "1: csrc mstatus, %2"
			     : "=&r"(v)
			     : "r"(VA(3)), "r"(mprv)
			     : "t6", "memory");
		bad += isa_trap_armed != 0 || isa_last_trap.cause != CAUSE_LOAD_PAGE;
		isa_trap_armed = 0;
	}
	csr_set(mstatus, MSTATUS_MPP);
	isa_check("MPRV MPP=S: SUM toggles with cached translations (bad)", bad, 0);
	csr_write(satp, 0);
	isa_sfence();

	smc_threshold();
}
