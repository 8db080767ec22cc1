/* rv64i.c: every RV64I instruction (unprivileged spec ch. 2 and 4) with edge
 * cases: sign extension of immediates and W results, shift amounts taken
 * from the low 6 (or 5 for W) bits, x0 writes discarded, signed/unsigned
 * compares, loads sign/zero extending, stores of each width, jumps linking. */
#include "ops.h"

static u64 mem[4] __attribute__((aligned(16)));

static void test_alu(void)
{
	T_RR("add", 1, 2, 3);
	T_RR("add", 0x7fffffffffffffffUL, 1, 0x8000000000000000UL);
	T_RR("add", -1, 1, 0);
	T_RR("sub", 0, 1, -1);
	T_RR("sub", 0x8000000000000000UL, 1, 0x7fffffffffffffffUL);
	T_RR("sll", 1, 63, 0x8000000000000000UL);
	T_RR("sll", 1, 64, 1); /* only low 6 bits */
	T_RR("sll", 3, 65, 6);
	T_RR("srl", 0x8000000000000000UL, 63, 1);
	T_RR("srl", -1, 68, 0x0fffffffffffffffUL);
	T_RR("sra", 0x8000000000000000UL, 63, -1);
	T_RR("sra", 0x8000000000000000UL, 127, -1);
	T_RR("sra", 0x4000000000000000UL, 62, 1);
	T_RR("slt", -1, 0, 1);
	T_RR("slt", 0, -1, 0);
	T_RR("slt", 5, 5, 0);
	T_RR("sltu", -1, 0, 0);
	T_RR("sltu", 0, -1, 1);
	T_RR("xor", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0xf0f0f0f0f0f0f0f0UL);
	T_RR("or", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0xfff0fff0fff0fff0UL);
	T_RR("and", 0xff00ff00ff00ff00UL, 0x0ff00ff00ff00ff0UL, 0x0f000f000f000f00UL);

	T_RI("addi", 0, -2048, -2048);
	T_RI("addi", 0, 2047, 2047);
	T_RI("addi", 0x7fffffffffffffffUL, 1, 0x8000000000000000UL);
	T_RI("slti", -5, -4, 1);
	T_RI("slti", 0, -1, 0);
	T_RI("sltiu", 0, -1, 1); /* imm sign-extended then compared unsigned */
	T_RI("sltiu", -1, -1, 0);
	T_RI("sltiu", 0, 1, 1); /* seqz */
	T_RI("xori", 0x00ff00ff, -1, ~0x00ff00ffUL);
	T_RI("xori", 0x0f0f, 0x7f0, 0x08ff);
	T_RI("ori", 0, -2048, -2048);
	T_RI("andi", -1, 0x7ff, 0x7ff);
	T_RI("andi", 0x123456789abcdefUL, -16, 0x123456789abcde0UL);
	T_RI("slli", 1, 63, 0x8000000000000000UL);
	T_RI("slli", 0xff, 60, 0xf000000000000000UL);
	T_RI("srli", 0x8000000000000000UL, 63, 1);
	T_RI("srli", -1, 0, -1);
	T_RI("srai", 0x8000000000000000UL, 4, 0xf800000000000000UL);
	T_RI("srai", 0x7000000000000000UL, 60, 7);

	/* W operations: 32-bit result sign-extended */
	T_RR("addw", 0x7fffffff, 1, 0xffffffff80000000UL);
	T_RR("addw", 0xffffffff00000001UL, 0x00000000ffffffffUL, 0);
	T_RR("subw", 0x80000000UL, 1, 0x7fffffff);
	T_RR("subw", 0, 1, -1);
	T_RR("sllw", 1, 31, 0xffffffff80000000UL);
	T_RR("sllw", 1, 32, 1); /* only low 5 bits */
	T_RR("sllw", 1, 63, 0xffffffff80000000UL);
	T_RR("srlw", 0xffffffff80000000UL, 31, 1);
	T_RR("srlw", 0xffffffff80000000UL, 0, 0xffffffff80000000UL);
	T_RR("srlw", 0x80000000UL, 33, 0x40000000);
	T_RR("sraw", 0x80000000UL, 31, -1);
	T_RR("sraw", 0x80000000UL, 32 + 4, 0xfffffffff8000000UL);
	T_RR("sraw", 0x123456789UL, 4, 0x2345678);
	T_RI("addiw", 0x7fffffff, 1, 0xffffffff80000000UL);
	T_RI("addiw", 0xffffffffUL, 0, -1); /* sext.w */
	T_RI("addiw", 0x100000000UL, -1, -1);
	T_RI("slliw", 1, 31, 0xffffffff80000000UL);
	T_RI("slliw", 0xffffffff00000003UL, 1, 6);
	T_RI("srliw", 0xffffffff80000000UL, 31, 1);
	T_RI("srliw", 0x80000000UL, 0, 0xffffffff80000000UL);
	T_RI("sraiw", 0x80000000UL, 31, -1);
	T_RI("sraiw", 0xffffffff7fffffffUL, 30, 1);

	u64 r;
	asm volatile("lui %0, 0xfffff" : "=r"(r));
	isa_check("lui 0xfffff", r, 0xfffffffffffff000UL);
	asm volatile("lui %0, 0x80000" : "=r"(r));
	isa_check("lui 0x80000", r, 0xffffffff80000000UL);
	asm volatile("lui %0, 0x7ffff" : "=r"(r));
	isa_check("lui 0x7ffff", r, 0x7ffff000UL);
	u64 a, b;
	asm volatile("1: auipc %0, 0\n la %1, 1b" : "=r"(a), "=r"(b));
	isa_check("auipc 0", a - b, 0);
	asm volatile("1: auipc %0, 0x80000\n la %1, 1b" : "=r"(a), "=r"(b));
	isa_check("auipc 0x80000", a - b, 0xffffffff80000000UL);

	/* writes to x0 are discarded */
	asm volatile("li t0, 5\n addi x0, t0, 1\n add x0, t0, t0\n"
		     "lui x0, 1\n mv %0, x0"
		     : "=r"(r)::"t0");
	isa_check("x0 stays 0", r, 0);
	asm volatile("la t0, %1\n ld x0, 0(t0)\n mv %0, x0" : "=r"(r) : "S"(mem) : "t0");
	isa_check("load to x0", r, 0);
}

static void test_branches(void)
{
	T_BR("beq", 1, 1, 1);
	T_BR("beq", 1, 2, 0);
	T_BR("bne", 1, 2, 1);
	T_BR("bne", -1, -1, 0);
	T_BR("blt", -1, 0, 1);
	T_BR("blt", 0, -1, 0);
	T_BR("blt", 3, 3, 0);
	T_BR("bge", 3, 3, 1);
	T_BR("bge", -1, 0, 0);
	T_BR("bge", 0x7fffffffffffffffUL, 0x8000000000000000UL, 1);
	T_BR("bltu", 0, -1, 1);
	T_BR("bltu", -1, 0, 0);
	T_BR("bgeu", -1, 0, 1);
	T_BR("bgeu", 0, -1, 0);
	T_BR("bgeu", 7, 7, 1);

	u64 link, target;
	asm volatile("jal %0, 1f\n 2: nop\n 1: la %1, 2b" : "=r"(link), "=r"(target));
	isa_check("jal link", link - target, 0);
	asm volatile("la t0, 1f\n jalr %0, 0(t0)\n 2: j 3f\n 1: la %1, 2b\n 3:"
		     : "=r"(link), "=r"(target)::"t0");
	isa_check("jalr link", link - target, 0);
	/* jalr clears bit 0 of the target and may use rd == rs1 */
	u64 ok;
	asm volatile("la t0, 1f + 1\n li %0, 0\n jalr t0, 0(t0)\n j 2f\n"
		     "1: li %0, 1\n 2:"
		     : "=&r"(ok)::"t0");
	isa_check("jalr lsb cleared", ok, 1);
	asm volatile("la t0, 1f - 8\n li %0, 0\n jalr x0, 8(t0)\n j 2f\n"
		     "1: li %0, 1\n 2:"
		     : "=&r"(ok)::"t0");
	isa_check("jalr offset", ok, 1);
}

static void test_memory(void)
{
	volatile u64 *m = mem;
	m[0] = 0x8081828384858687UL;
	m[1] = 0x0102030405060708UL;
	u64 r;
#define LD(op, off)                                                                 \
	({                                                                          \
		asm volatile(op " %0, " #off "(%1)" : "=r"(r) : "r"(m) : "memory"); \
		r;                                                                  \
	})
	isa_check("lb 0", LD("lb", 0), 0xffffffffffffff87UL);
	isa_check("lb 8", LD("lb", 8), 0x08);
	isa_check("lbu 7", LD("lbu", 7), 0x80);
	isa_check("lh 6", LD("lh", 6), 0xffffffffffff8081UL);
	isa_check("lhu 6", LD("lhu", 6), 0x8081);
	isa_check("lh 14", LD("lh", 14), 0x0102);
	isa_check("lw 4", LD("lw", 4), 0xffffffff80818283UL);
	isa_check("lwu 4", LD("lwu", 4), 0x80818283UL);
	isa_check("lw 12", LD("lw", 12), 0x01020304);
	isa_check("ld 0", LD("ld", 0), 0x8081828384858687UL);
	isa_check("ld 8", LD("ld", 8), 0x0102030405060708UL);
	u64 *p = (u64 *)&m[2];
	asm volatile("addi t0, %0, 8\n ld %0, -8(t0)" : "=r"(r) : "0"(p - 1) : "t0");
	isa_check("ld negative offset", r, 0x0102030405060708UL);

	m[2] = 0;
	asm volatile("sb %1, 0(%0)\n sh %1, 2(%0)\n sw %1, 4(%0)" ::"r"(&m[2]),
		     "r"(0x1122334455667788UL)
		     : "memory");
	isa_check("sb/sh/sw", m[2], 0x5566778877880088UL);
	asm volatile("sd %1, 0(%0)" ::"r"(&m[3]), "r"(0xdeadbeefcafef00dUL) : "memory");
	isa_check("sd", m[3], 0xdeadbeefcafef00dUL);
	asm volatile("sb %1, -1(%0)" ::"r"(&m[3]), "r"(0xaaUL) : "memory");
	isa_check("sb negative offset", m[2], 0xaa66778877880088UL);

	/* fence and fence.i execute */
	asm volatile("fence\n fence rw, rw\n fence.i\n fence r, w" ::: "memory");
	isa_check("fence", 1, 1);
}

/* self-modifying code: fence.i makes a store to code visible to fetch */
static u32 smc_buf[4] __attribute__((aligned(16)));
static void test_fence_i(void)
{
	u64 (*fn)(void) = (u64(*)(void))(void *)smc_buf;
	smc_buf[0] = 0x00100513; /* li a0, 1 */
	smc_buf[1] = 0x00008067; /* ret */
	asm volatile("fence.i" ::: "memory");
	isa_check("fence.i first", fn(), 1);
	smc_buf[0] = 0x00200513; /* li a0, 2 */
	asm volatile("fence.i" ::: "memory");
	isa_check("fence.i rewritten", fn(), 2);
}

void test_main(void)
{
	test_alu();
	test_branches();
	test_memory();
	test_fence_i();
}
