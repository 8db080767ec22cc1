/* satp_switch.c: four harts (run with --cpus 4).  A satp write takes effect
 * for the very next instruction fetch (privileged spec, "Supervisor Address
 * Translation and Protection (satp) Register": changing MODE from Bare to
 * another mode and back takes effect immediately), whatever the decoded-code
 * caches remember.  Harts 1-3 switch translation as Linux's
 * relocate_enable_mmu does, many times, in S-mode:
 *   - at their physical pc, with satp Bare, they point stvec at the virtual
 *     address of the code (VOFF above it, mapped global like a kernel) and
 *     write satp with a table that does not map the physical pc: the next
 *     fetch must raise an instruction page fault whose sepc is that pc;
 *   - at the virtual address, they write satp with the same table again (the
 *     instruction after the write runs there, translated), then from the same
 *     site write satp = 0 (Bare): the next fetch, at the virtual pc, must now
 *     raise an instruction access fault (no RAM there), back at the physical
 *     address stvec then names.
 * A fetch served from a stale translation (a jump-cache entry, a chain, a
 * translated block or a TLB entry of the other mode) shows up as a wrong
 * cause or sepc.  Meanwhile hart 0 sends the others IPIs whose M-mode handler
 * runs sfence.vma (as OpenSBI's remote fences do) and stores into the page
 * of their code (decoded code invalidated under them). */
#include "isa.h"

#define NHARTS 4
#define ROUNDS 20000
#define VOFF   0x1000000000UL /* virtual = physical + VOFF (Sv39: below 2^38) */
#define LINE   __attribute__((aligned(64)))

/* per hart: rounds done, failures, the first failure's code, scause, sepc */
volatile u64 sw_rounds[NHARTS * 8] LINE;
volatile u64 sw_fails[NHARTS * 8] LINE;
volatile u64 sw_first[NHARTS * 8 * 3] LINE;
static volatile u64 go LINE;
u64 sw_msave[NHARTS * 8] LINE; /* M handler's register save areas */

void sw_s_entry(void);
void sw_m_vec(void);
extern volatile u64 sw_code_poke;

/*
 * S-mode loop (entered by mret with a0 = hart id, a1 = satp of the table,
 * a2 = rounds).  s0 = hart id * 64 (byte offset of the hart's slots),
 * s1 = table satp, s2 = satp written at vsite, s4 = VOFF, s5 = rounds done,
 * s6 = rounds to do.  Failures: sw_fail with t2 = code.
 */
asm(".text\n"
    ".align 12\n" /* the loop in one page, the poked word beside it */
    ".globl sw_s_entry\n"
    "sw_s_entry:\n"
    "	slli	s0, a0, 6\n"
    "	mv	s1, a1\n"
    "	li	s4, 0x1000000000\n"
    "	li	s5, 0\n"
    "	mv	s6, a2\n"
    "sw_loop:\n"
    /* physical pc, satp Bare: stvec = virtual sw_vtarget */
    "	la	t0, sw_vtarget\n"
    "	add	t0, t0, s4\n"
    "	csrw	stvec, t0\n"
    "	sfence.vma\n"
    "	csrw	satp, s1\n"
    "sw_phys_after:\n" /* must fault: the table does not map it */
    "	li	t2, 1\n"
    "	j	sw_fail\n"
    ".align 2\n"
    "sw_vtarget:\n" /* virtual pc */
    "	csrr	t0, scause\n"
    "	li	t1, 12\n"
    "	li	t2, 2\n"
    "	bne	t0, t1, sw_fail\n"
    "	csrr	t0, sepc\n"
    "	la	t1, sw_phys_after\n" /* its virtual address ... */
    "	sub	t1, t1, s4\n"	     /* ... and physical one */
    "	li	t2, 3\n"
    "	bne	t0, t1, sw_fail\n"
    "	la	t0, sw_back\n"
    "	sub	t0, t0, s4\n"
    "	csrw	stvec, t0\n" /* physical sw_back */
    "	mv	s2, s1\n"
    "sw_vsite:\n"
    "	csrw	satp, s2\n"
    "sw_vafter:\n" /* first time translated; with satp = 0 it must fault */
    "	li	t2, 4\n"
    "	beqz	s2, sw_fail\n"
    "	li	s2, 0\n"
    "	j	sw_vsite\n"
    ".align 3\n"
    ".globl sw_code_poke\n"
    "sw_code_poke:\n" /* hart 0 stores here: this page's code is dropped */
    "	.dword	0\n"
    ".align 2\n"
    "sw_back:\n" /* physical pc, satp Bare */
    "	csrr	t0, scause\n"
    "	li	t1, 1\n"
    "	li	t2, 5\n"
    "	bne	t0, t1, sw_fail\n"
    "	csrr	t0, sepc\n"
    "	la	t1, sw_vafter\n"
    "	add	t1, t1, s4\n"
    "	li	t2, 6\n"
    "	bne	t0, t1, sw_fail\n"
    "sw_next:\n"
    "	addi	s5, s5, 1\n"
    "	la	t0, sw_rounds\n"
    "	add	t0, t0, s0\n"
    "	sd	s5, 0(t0)\n"
    "	blt	s5, s6, sw_loop\n"
    "1:	wfi\n"
    "	j	1b\n"
    /*
     * A failure, from wherever the stale fetch led: go back to Bare at the
     * physical pc (an access or page fault on the way lands at sw_record,
     * which does the same), record code t2, scause and sepc, go on.
     */
    ".align 2\n"
    "sw_fail:\n"
    "	csrr	t3, scause\n"
    "	csrr	t4, sepc\n"
    "	la	t0, sw_record\n"
    "	bltu	t0, s4, 2f\n"
    "	sub	t0, t0, s4\n"
    "2:	csrw	stvec, t0\n"
    "	csrw	satp, zero\n"
    "	sfence.vma\n"
    "	j	sw_record\n"
    ".align 2\n"
    "sw_record:\n"
    "	csrw	satp, zero\n"
    "	sfence.vma\n"
    "	la	t0, sw_fails\n"
    "	add	t0, t0, s0\n"
    "	ld	t1, 0(t0)\n"
    "	addi	t1, t1, 1\n"
    "	sd	t1, 0(t0)\n"
    "	li	t0, 1\n"
    "	bne	t1, t0, sw_next\n"
    "	la	t0, sw_first\n"
    "	add	t0, t0, s0\n"
    "	add	t0, t0, s0\n"
    "	add	t0, t0, s0\n"
    "	sd	t2, 0(t0)\n"
    "	sd	t3, 8(t0)\n"
    "	sd	t4, 16(t0)\n"
    "	j	sw_next\n"
    /*
     * M-mode trap vector of harts 1-3: an IPI (machine software interrupt)
     * is acknowledged and answered with sfence.vma, as OpenSBI's remote
     * fence does; anything else counts as a failure (code 7) and returns.
     */
    ".align 2\n"
    ".globl sw_m_vec\n"
    "sw_m_vec:\n"
    "	csrrw	t0, mscratch, t0\n"
    "	sd	t1, 0(t0)\n"
    "	sd	t2, 8(t0)\n"
    "	sd	t3, 16(t0)\n"
    "	csrr	t1, mcause\n"
    "	li	t2, -1\n"
    "	srli	t2, t2, 1\n"
    "	and	t3, t1, t2\n" /* code */
    "	li	t2, 3\n"
    "	bne	t3, t2, 3f\n"
    "	bgez	t1, 3f\n"
    "	csrr	t1, mhartid\n"
    "	slli	t1, t1, 2\n"
    "	li	t2, 0x2000000\n"
    "	add	t2, t2, t1\n"
    "	sw	zero, 0(t2)\n"
    "	sfence.vma\n"
    "	ld	t1, 24(t0)\n" /* IPIs served */
    "	addi	t1, t1, 1\n"
    "	sd	t1, 24(t0)\n"
    "	j	4f\n"
    "3:	ld	t1, 32(t0)\n" /* anything else */
    "	addi	t1, t1, 1\n"
    "	sd	t1, 32(t0)\n"
    "	csrr	t1, mcause\n"
    "	sd	t1, 40(t0)\n"
    "	bltz	t1, 4f\n"
    "	csrr	t1, mepc\n"
    "	sd	t1, 48(t0)\n"
    "	addi	t1, t1, 4\n" /* skip an exception's instruction */
    "	csrw	mepc, t1\n"
    "4:	ld	t1, 0(t0)\n"
    "	ld	t2, 8(t0)\n"
    "	ld	t3, 16(t0)\n"
    "	csrrw	t0, mscratch, t0\n"
    "	mret\n");

static u64 table_satp;

void smp_main(u64 hart);
void smp_main(u64 hart)
{
	if (hart >= NHARTS)
		for (;;)
			asm volatile("wfi");
	while (!go)
		;
	asm volatile("fence rw, rw" ::: "memory");
	u64 *save = (u64 *)&sw_msave[hart * 8];
	csr_write(mscratch, (u64)save);
	csr_write(mtvec, (u64)sw_m_vec);
	/* the fetch faults go to S; nothing else is expected */
	csr_write(medeleg, (1UL << CAUSE_FETCH_PAGE) | (1UL << CAUSE_FETCH_ACCESS));
	csr_write(mideleg, 0);
	csr_write(mie, 1UL << 3); /* MSIP: hart 0's IPIs */
	csr_write(satp, 0);
	u64 s = csr_read(mstatus);
	s = (s & ~MSTATUS_MPP) | (1UL << 11) | MSTATUS_MPIE; /* to S */
	csr_write(mstatus, s);
	csr_write(mepc, (u64)sw_s_entry);
	register u64 a0 asm("a0") = hart;
	register u64 a1 asm("a1") = table_satp;
	register u64 a2 asm("a2") = ROUNDS;
	asm volatile("mret" ::"r"(a0), "r"(a1), "r"(a2) : "memory");
	for (;;)
		;
}

extern char _end[];

void test_main(void)
{
	/* the image at VOFF above itself, global and executable, nothing at
	 * its physical address */
	u64 *root = isa_page_alloc();
	for (u64 a = 0x80000000UL; a < (u64)_end; a += 4096)
		isa_map(root, 3, a + VOFF, a, 0, PTE_R | PTE_W | PTE_X | PTE_G | PTE_A | PTE_D);
	table_satp = isa_satp(root, 3);
	asm volatile("fence rw, rw" ::: "memory");
	go = 1;

	/* IPIs and stores into the loop's code page until the harts are done */
	u64 done = 0;
	u64 deadline = *(volatile u64 *)ISA_MTIME + 100 * 10000000UL; /* 100 s */
	for (u64 i = 0; done < NHARTS - 1; i++) {
		if ((i & 31) == 0) {
			u64 h = 1 + (i >> 5) % (NHARTS - 1);
			*(volatile u32 *)ISA_MSIP(h) = 1;
		}
		if ((i & 63) == 16)
			sw_code_poke = i;
		if ((i & 1023) == 0 && *(volatile u64 *)ISA_MTIME > deadline)
			break;
		done = 0;
		for (u64 h = 1; h < NHARTS; h++)
			done += sw_rounds[h * 8] >= ROUNDS;
	}
	for (u64 h = 1; h < NHARTS; h++) {
		isa_printf("hart %lu: %lu rounds, %lu IPIs served\n", h, sw_rounds[h * 8],
			   sw_msave[h * 8 + 3]);
		if (sw_fails[h * 8])
			isa_printf("hart %lu: %lu failures, first: code %lu scause %lx "
				   "sepc %lx\n",
				   h, sw_fails[h * 8], sw_first[h * 24], sw_first[h * 24 + 1],
				   sw_first[h * 24 + 2]);
		isa_check("rounds done", sw_rounds[h * 8] >= ROUNDS, 1);
		isa_check("stale fetches after a satp write", sw_fails[h * 8], 0);
		isa_check("unexpected M traps", sw_msave[h * 8 + 4], 0);
	}
}
