/* blocks.c: cases aimed at a decoded-block cache and a software TLB
 * (unprivileged spec §2.8 FENCE.I, privileged spec §4.2 SFENCE.VMA, §3.1.16
 * mtval for fetch faults):
 *  - a store that rewrites the next instruction of the running block,
 *    followed by fence.i, takes effect;
 *  - overlapping decodes: jumping into the upper half of a 32-bit
 *    instruction executes the 16-bit instruction found there;
 *  - code reached through a virtual mapping that is changed (sfence.vma)
 *    runs the new page; code written through one virtual alias and run
 *    through another after fence.i runs the new code;
 *  - a 32-bit instruction straddling two virtual pages mapped to
 *    non-adjacent physical pages executes correctly, and one whose second
 *    half is unmapped raises a fetch page fault with mepc = the instruction
 *    and mtval = the address of the unmapped page;
 *  - a timer interrupt is taken while the hart spins in a one-instruction
 *    loop (interrupts checked even in chained blocks). */
#include "ops.h"

#define VA(n) (0x40000000UL + (u64)(n)*0x1000)
static u8 code[8][4096] __attribute__((aligned(4096)));

/* J-type immediate field for jal */
static u32 jal_imm(u32 off)
{
	return ((off >> 20) & 1) << 31 | ((off >> 1) & 0x3ff) << 21 | ((off >> 11) & 1) << 20 |
	       ((off >> 12) & 0xff) << 12;
}

static long call_va(long va)
{
	long r;
	asm volatile("jalr ra, 0(%1)\n mv %0, a0" : "=r"(r) : "r"(va) : "ra", "a0", "memory");
	return r;
}

static long s_remap_code(long arg)
{
	long first = call_va((long)VA(0));
	u64 *root = (u64 *)arg;
	volatile u64 *pte = isa_pte(root, 3, VA(0));
	*pte = (((u64)code[1] >> 12) << 10) | PTE_V | PTE_X | PTE_R | PTE_A;
	asm volatile("sfence.vma" ::: "memory");
	long second = call_va((long)VA(0));
	return first * 10 + second;
}

static long s_alias_write(long arg)
{
	/* VA(2) (writable alias) and VA(3) (executable alias) -> code[2] */
	volatile u32 *w = (volatile u32 *)VA(2);
	long a = call_va((long)VA(3));
	w[0] = 0x00700513; /* li a0, 7 */
	asm volatile("fence.i" ::: "memory");
	long b = call_va((long)VA(3));
	return a * 10 + b;
}

static long s_straddle(long arg)
{
	isa_expect_trap();
	long r = 0;
	ISA_TRY("li a0, 0x5a\n jalr ra, 0(%1)\n mv %0, a0",
		: "=&r"(r)
		: "r"(arg)
		: "t6", "ra", "a0", "memory");
	if (isa_trap_armed) {
		isa_trap_armed = 0;
		return r;
	}
	return -(long)isa_last_trap.cause;
}

/* VA(20) holds "jal x0, +4096" into VA(21): a direct jump between pages,
 * which a block cache chains.  VA(21) is remapped from code[4] (li a0, 4)
 * to code[5] (li a0, 5); then the root is switched to one where VA(21)
 * maps code[6] (li a0, 6). */
static long s_chain(long arg)
{
	u64 **roots = (u64 **)arg;
	long a = 0;
	for (int i = 0; i < 3; i++)
		a += call_va((long)VA(20)); /* 3 * 4: chained by now */
	volatile u64 *pte = isa_pte(roots[0], 3, VA(21));
	*pte = (((u64)code[5] >> 12) << 10) | PTE_V | PTE_X | PTE_R | PTE_A;
	asm volatile("sfence.vma" ::: "memory");
	long b = call_va((long)VA(20));
	b += call_va((long)VA(20));
	asm volatile("csrw satp, %0\n sfence.vma" ::"r"(isa_satp(roots[1], 3)) : "memory");
	long c = call_va((long)VA(20));
	asm volatile("csrw satp, %0\n sfence.vma" ::"r"(isa_satp(roots[0], 3)) : "memory");
	return a * 10000 + b * 100 + c;
}

/* a direct jump inside one page to code that is rewritten + fence.i */
static u32 chain_buf[16] __attribute__((aligned(64)));

static volatile int ticks;
static volatile u64 tick_epc;
static int timer_hook(struct isa_frame *f)
{
	if (f->cause != (CAUSE_INTR | 7))
		return 0;
	*(volatile u64 *)ISA_MTIMECMP(0) = ~0UL;
	ticks++;
	tick_epc = f->epc;
	f->epc = f->x[31]; /* leave the spin loop */
	return 1;
}

static u32 smc[8] __attribute__((aligned(64)));

void test_main(void)
{
	/* rewrite the next instruction of the running block */
	long r;
	asm volatile(".option push\n .option norvc\n"
		     "la t0, 1f\n li t1, 0x00500513\n" /* li a0, 5 */
		     "li a0, 0\n sw t1, 0(t0)\n fence.i\n"
		     "1: li a0, 1\n mv %0, a0\n .option pop"
		     : "=r"(r)
		     : /* the li at 1: is rewritten */
		     : "t0", "t1", "a0", "memory");
	isa_check("store + fence.i to the next instruction", r, 5);
	/* the same code again: the rewritten instruction stays */
	smc[0] = 0x00100513; /* li a0, 1 */
	smc[1] = 0x00008067; /* ret */
	asm volatile("fence.i" ::: "memory");
	isa_check("smc buffer run 1", call_va((long)smc), 1);
	for (int i = 2; i < 6; i++) {
		smc[0] = 0x00000513 | ((u32)i << 20);
		asm volatile("fence.i" ::: "memory");
		isa_check("smc buffer rewritten", call_va((long)smc), i);
	}

	/* overlapping decode: 0x45150013 is addi x0, a0, 0x451 and its upper
	 * half 0x4515 is c.li a0, 5 */
	u64 a, b;
	asm volatile(".option push\n .option norvc\n"
		     "li a0, 0\n la t0, 1f\n jalr zero, 0(t0)\n"
		     "1: .word 0x45150013\n mv %0, a0\n .option pop"
		     : "=&r"(a)::"t0", "a0");
	isa_check("32-bit decode", a, 0);
	asm volatile(".option push\n .option norvc\n"
		     "li a0, 0\n la t0, 1f + 2\n jalr zero, 0(t0)\n"
		     "1: .word 0x45150013\n mv %0, a0\n .option pop"
		     : "=&r"(b)::"t0", "a0");
	isa_check("16-bit decode of the upper half", b, 5);

	/* paging cases: S-mode with identity map plus code aliases */
	u64 *root = isa_page_alloc();
	isa_map_identity(root, 3, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
	u32 *c0 = (u32 *)code[0], *c1 = (u32 *)code[1], *c2 = (u32 *)code[2];
	c0[0] = 0x00100513; /* li a0, 1 */
	c0[1] = 0x00008067;
	c1[0] = 0x00200513; /* li a0, 2 */
	c1[1] = 0x00008067;
	c2[0] = 0x00300513; /* li a0, 3 */
	c2[1] = 0x00008067;
	asm volatile("fence.i" ::: "memory");
	isa_map(root, 3, VA(0), (u64)code[0], 0, PTE_X | PTE_R | PTE_A);
	isa_map(root, 3, VA(2), (u64)code[2], 0, PTE_R | PTE_W | PTE_A | PTE_D);
	isa_map(root, 3, VA(3), (u64)code[2], 0, PTE_X | PTE_R | PTE_A);
	/* straddle: VA(5) -> code[3], VA(6) -> code[1] (not adjacent);
	 * instruction at VA(5) + 4094 = lui a0, 0x12345 (0x12345537) */
	u8 *tail = code[3] + 4094;
	tail[0] = 0x37;
	tail[1] = 0x55;
	code[1][0] = 0x34; /* overwrites li a0, 2's low half: rebuild */
	code[1][1] = 0x12;
	/* code[1] now starts with 0x1234 then ...: put 'ret' after it */
	code[1][2] = 0x82;
	code[1][3] = 0x80; /* c.jr ra = 0x8082 */
	isa_map(root, 3, VA(5), (u64)code[3], 0, PTE_X | PTE_R | PTE_A);
	isa_map(root, 3, VA(6), (u64)code[1], 0, PTE_X | PTE_R | PTE_A);
	/* VA(8) -> code[3] again but VA(9) unmapped */
	isa_map(root, 3, VA(8), (u64)code[3], 0, PTE_X | PTE_R | PTE_A);
	/* VA(12) -> code[2] ending in c.jr ra; VA(13) unmapped */
	code[2][4094] = 0x82;
	code[2][4095] = 0x80;
	isa_map(root, 3, VA(12), (u64)code[2], 0, PTE_X | PTE_R | PTE_A);
	asm volatile("fence.i" ::: "memory");
	csr_write(satp, isa_satp(root, 3));
	isa_sfence();
	isa_check("straddling instruction, split pages",
		  isa_run_in_mode(MODE_S, s_straddle, (long)(VA(5) + 4094)), 0x12345000);
	isa_check("straddling instruction, 2nd page unmapped",
		  isa_run_in_mode(MODE_S, s_straddle, (long)(VA(8) + 4094)), -CAUSE_FETCH_PAGE);
	isa_check("straddle fault: mepc", isa_last_trap.epc, VA(8) + 4094);
	isa_check("straddle fault: mtval", isa_last_trap.tval, VA(9));
	/* a 16-bit instruction in the last halfword of a page whose
	 * successor is unmapped runs without any fault */
	isa_check("c.jr in the last halfword before an unmapped page",
		  isa_run_in_mode(MODE_S, s_straddle, (long)(VA(12) + 4094)), 0x5a);
	/* restore code[1] = li a0, 2; ret */
	c1[0] = 0x00200513;
	c1[1] = 0x00008067;
	asm volatile("fence.i" ::: "memory");
	isa_check("remapped code page runs new code",
		  isa_run_in_mode(MODE_S, s_remap_code, (long)root), 12);
	isa_check("code written through an alias", isa_run_in_mode(MODE_S, s_alias_write, 0), 37);
	csr_write(satp, 0);
	isa_sfence();

	/* chained direct jumps: target remapped, or a different root.
	 * VA(20)+0: jal x0, +4096 -> VA(21)+0: li a0, N; ret */
	{
		u64 *r2 = isa_page_alloc();
		isa_map_identity(r2, 3, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
		isa_map(root, 3, VA(20), (u64)code[7], 0, PTE_X | PTE_R | PTE_A);
		isa_map(root, 3, VA(21), (u64)code[4], 0, PTE_X | PTE_R | PTE_A);
		isa_map(r2, 3, VA(20), (u64)code[7], 0, PTE_X | PTE_R | PTE_A);
		isa_map(r2, 3, VA(21), (u64)code[6], 0, PTE_X | PTE_R | PTE_A);
		((u32 *)code[7])[0] = jal_imm(0x1000) | 0x6f;
		for (int n = 4; n <= 6; n++) {
			((u32 *)code[n])[0] = 0x00000513 | (u32)n << 20;
			((u32 *)code[n])[1] = 0x00008067;
		}
		asm volatile("fence.i" ::: "memory");
		u64 *roots[2] = { root, r2 };
		csr_write(satp, isa_satp(root, 3));
		isa_sfence();
		isa_check("chained jump: 3 x old, 2 x remapped, other root",
			  isa_run_in_mode(MODE_S, s_chain, (long)roots), 12 * 10000 + 10 * 100 + 6);
		csr_write(satp, 0);
		isa_sfence();
	}
	/* chained direct jump within a page, target rewritten + fence.i */
	{
		chain_buf[0] = jal_imm(8) | 0x6f; /* j +8 */
		chain_buf[1] = 0x00000013;
		chain_buf[2] = 0x00100513; /* li a0, 1 */
		chain_buf[3] = 0x00008067;
		asm volatile("fence.i" ::: "memory");
		long a = call_va((long)chain_buf) + call_va((long)chain_buf);
		chain_buf[2] = 0x00700513; /* li a0, 7 */
		asm volatile("fence.i" ::: "memory");
		long b = call_va((long)chain_buf);
		isa_check("chained jump to rewritten code", a * 10 + b, 27);
	}

	/* timer interrupt while spinning in a one-instruction loop */
	isa_irq_hook = timer_hook;
	csr_write(mie, 1 << 7);
	*(volatile u64 *)ISA_MTIMECMP(0) = *(volatile u64 *)ISA_MTIME + 1000;
	/* t6 is set before MIE, so the hook always has a valid target */
	u64 loop;
	asm volatile("la t6, 2f\n la %0, 1f\n csrsi mstatus, 8\n 1: j 1b\n 2:"
		     : "=&r"(loop)::"t6", "memory");
	csr_clear(mstatus, MSTATUS_MIE);
	csr_write(mie, 0);
	isa_irq_hook = 0;
	isa_check("timer taken in a tight loop", ticks, 1);
	isa_check("timer in a tight loop: mepc = the loop", tick_epc, loop);
}
