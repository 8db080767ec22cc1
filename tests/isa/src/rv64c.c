/* rv64c.c: every RV64C instruction (unprivileged spec ch. 16), written
 * with explicit c.* mnemonics so the assembler must emit the 16-bit form:
 * immediate sign extension (c.li, c.addi, c.lui, c.addi16sp), scaled
 * offsets of the load/store forms, W ops sign-extending, shifts by 32..63,
 * compressed jumps/branches and their link values (pc + 2). */
#include "ops.h"

/* run `insn` with a0 = a, a1 = b, return a0 */
#define C2(insn, a, b)                                                     \
	({                                                                 \
		u64 r_;                                                    \
		asm volatile("mv a0, %1\n mv a1, %2\n" insn "\n mv %0, a0" \
			     : "=r"(r_)                                    \
			     : "r"((u64)(a)), "r"((u64)(b))                \
			     : "a0", "a1");                                \
		r_;                                                        \
	})
#define T_C(insn, a, b, exp) isa_check(insn " " #a "," #b, C2(insn, a, b), exp)

static u64 mem[40] __attribute__((aligned(16)));

void test_main(void)
{
	T_C("c.addi a0, -32", 0, 0, -32);
	T_C("c.addi a0, 31", 1, 0, 32);
	T_C("c.addiw a0, 1", 0x7fffffff, 0, 0xffffffff80000000UL);
	T_C("c.addiw a0, 0", 0x1ffffffffUL, 0, -1);
	T_C("c.li a0, -1", 5, 0, -1);
	T_C("c.li a0, 31", 5, 0, 31);
	T_C("c.lui a0, 0xfffe0", 0, 0, 0xfffffffffffe0000UL);
	T_C("c.lui a0, 1", 0, 0, 0x1000);
	T_C("c.lui a0, 0x1f", 0, 0, 0x1f000);
	T_C("c.srli a0, 63", 0x8000000000000000UL, 0, 1);
	T_C("c.srli a0, 32", 0xffffffff00000000UL, 0, 0xffffffffUL);
	T_C("c.srai a0, 63", 0x8000000000000000UL, 0, -1);
	T_C("c.srai a0, 1", 0x8000000000000000UL, 0, 0xc000000000000000UL);
	T_C("c.andi a0, -32", 0x1234, 0, 0x1220);
	T_C("c.andi a0, 31", -1, 0, 31);
	T_C("c.slli a0, 63", 1, 0, 0x8000000000000000UL);
	T_C("c.slli a0, 32", 0x80000001UL, 0, 0x8000000100000000UL);
	T_C("c.sub a0, a1", 1, 2, -1);
	T_C("c.xor a0, a1", 0xf0f0, 0xff00, 0x0ff0);
	T_C("c.or a0, a1", 0xf0f0, 0xff00, 0xfff0);
	T_C("c.and a0, a1", 0xf0f0, 0xff00, 0xf000);
	T_C("c.subw a0, a1", 0x80000000UL, 1, 0x7fffffff);
	T_C("c.subw a0, a1", 0, 1, -1);
	T_C("c.addw a0, a1", 0x7fffffff, 1, 0xffffffff80000000UL);
	T_C("c.mv a0, a1", 1, 0x123456789UL, 0x123456789UL);
	T_C("c.add a0, a1", 0x7fffffffffffffffUL, 1, 0x8000000000000000UL);
	T_C("c.nop", 7, 0, 7);

	/* c.addi16sp / c.addi4spn relative to sp */
	u64 d1, d2;
	asm volatile("mv t0, sp\n c.addi16sp sp, -64\n sub %0, sp, t0\n"
		     "c.addi4spn a0, sp, 1020\n sub %1, a0, sp\n"
		     "c.addi16sp sp, 64"
		     : "=r"(d1), "=r"(d2)::"t0", "a0");
	isa_check("c.addi16sp -64", d1, -64);
	isa_check("c.addi4spn 1020", d2, 1020);
	asm volatile("mv t0, sp\n c.addi16sp sp, 496\n sub %0, sp, t0\n"
		     "c.addi16sp sp, -512\n sub %1, sp, t0\n c.addi16sp sp, 16"
		     : "=r"(d1), "=r"(d2)::"t0");
	isa_check("c.addi16sp 496", d1, 496);
	isa_check("c.addi16sp -512", d2, -16);

	/* loads/stores with scaled offsets */
	volatile u64 *m = mem;
	m[0] = 0xfedcba9876543210UL;
	m[1] = 0x80000000aaaaaaaaUL;
	u64 r1, r2, r3;
	asm volatile("mv a1, %3\n c.lw a0, 4(a1)\n mv %0, a0\n"
		     "c.ld a0, 8(a1)\n mv %1, a0\n c.lw a0, 8(a1)\n mv %2, a0"
		     : "=r"(r1), "=r"(r2), "=r"(r3)
		     : "r"(m)
		     : "a0", "a1", "memory");
	isa_check("c.lw sign-extends", r1, 0xfffffffffedcba98UL);
	isa_check("c.ld", r2, 0x80000000aaaaaaaaUL);
	isa_check("c.lw 8", r3, 0xffffffffaaaaaaaaUL);
	asm volatile("mv a1, %0\n li a0, -1\n c.sw a0, 124(a1)\n"
		     "li a0, 0x5a\n c.sd a0, 248(a1)" ::"r"((u64)m - 120)
		     : "a0", "a1", "memory");
	isa_check("c.sw 124", m[0], 0xffffffff76543210UL);
	isa_check("c.sd 248", m[16], 0x5a);
	/* sp-relative forms */
	asm volatile("c.addi16sp sp, -32\n li a0, 0x77\n c.sdsp a0, 8(sp)\n"
		     "li a0, -2\n c.swsp a0, 16(sp)\n c.ldsp a1, 8(sp)\n"
		     "c.lwsp a0, 16(sp)\n mv %0, a1\n mv %1, a0\n"
		     "c.addi16sp sp, 32"
		     : "=r"(r1), "=r"(r2)::"a0", "a1", "memory");
	isa_check("c.sdsp/c.ldsp", r1, 0x77);
	isa_check("c.swsp/c.lwsp", r2, -2);
	/* FP compressed loads and stores */
	m[2] = 0x400921fb54442d18UL; /* pi */
	asm volatile("mv a1, %1\n c.fld fa0, 16(a1)\n c.fsd fa0, 24(a1)\n"
		     "c.addi16sp sp, -16\n c.fsdsp fa0, 0(sp)\n"
		     "c.fldsp fa1, 0(sp)\n c.addi16sp sp, 16\n fmv.x.d %0, fa1"
		     : "=r"(r1)
		     : "r"(m)
		     : "a1", "fa0", "fa1", "memory");
	isa_check("c.fld/c.fsd", m[3], 0x400921fb54442d18UL);
	isa_check("c.fsdsp/c.fldsp", r1, 0x400921fb54442d18UL);

	/* control transfer */
	u64 t;
	asm volatile("li %0, 0\n c.j 1f\n li %0, 2\n 1: addi %0, %0, 1" : "=&r"(t));
	isa_check("c.j", t, 1);
	asm volatile("li a0, 0\n li %0, 0\n c.beqz a0, 1f\n li %0, 2\n"
		     "1: addi %0, %0, 1"
		     : "=&r"(t)::"a0");
	isa_check("c.beqz taken", t, 1);
	asm volatile("li a0, 1\n li %0, 0\n c.beqz a0, 1f\n li %0, 2\n"
		     "1: addi %0, %0, 1"
		     : "=&r"(t)::"a0");
	isa_check("c.beqz not taken", t, 3);
	asm volatile("li a0, -1\n li %0, 0\n c.bnez a0, 1f\n li %0, 2\n"
		     "1: addi %0, %0, 1"
		     : "=&r"(t)::"a0");
	isa_check("c.bnez taken", t, 1);
	u64 link, exp;
	asm volatile("la t0, 1f\n c.jalr t0\n 2: j 3f\n 1: mv %0, ra\n"
		     "la %1, 2b\n la t0, 2b\n c.jr t0\n 3:"
		     : "=&r"(link), "=&r"(exp)::"t0", "ra");
	isa_check("c.jalr links pc+2", link - exp, 0);
}
