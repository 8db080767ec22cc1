/* rand_prog.c: randomly generated straight-line programs with forward
 * branches, differential against QEMU (isa-diff-rand-prog).  The generator
 * encodes RV64IM ALU instructions (R, I, shift, W, lui/auipc), loads and
 * stores of every width on a scratch buffer, conditional branches skipping
 * a few instructions, and the compressed ALU and branch forms (c.addi,
 * c.addiw, c.li, c.lui, c.slli/srli/srai, c.andi, c.mv, c.add, CA ops,
 * c.beqz/c.bnez) with random registers and immediates, so the decoder's
 * register fields and immediate bit scrambles are exercised on operands no
 * compiler would produce.  Registers x5..x29 hold random values; x30 points
 * at the scratch buffer, x31 at the register array.  Each program's
 * register file and buffer are hashed into one output line. */
#include "isa.h"

#ifndef PROGRAMS
#define PROGRAMS 300
#endif
#define LEN 96

long rand_prog_call(void *code, u64 *regs);

static u32 code[LEN * 8 + 64] __attribute__((aligned(64)));
static u64 regs[32];
static u64 scratch[32] __attribute__((aligned(64)));
static u8 *pc8;

#ifndef SEED
#define SEED 0x853c49e6748fea9bUL
#endif
static u64 rng = SEED;
static u64 rnd(void)
{
	return isa_xorshift(&rng);
}
static u32 pick(u32 n)
{
	return (u32)(rnd() % n);
}

static void emit32(u32 w)
{
	for (int i = 0; i < 4; i++)
		*pc8++ = (u8)(w >> (8 * i));
}
static void emit16(u32 h)
{
	*pc8++ = (u8)h;
	*pc8++ = (u8)(h >> 8);
}

static u32 r_type(u32 f7, u32 rs2, u32 rs1, u32 f3, u32 rd, u32 op)
{
	return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static u32 i_type(u32 imm, u32 rs1, u32 f3, u32 rd, u32 op)
{
	return (imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static u32 s_type(u32 imm, u32 rs2, u32 rs1, u32 f3)
{
	return ((imm >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (imm & 0x1f) << 7 |
	       0x23;
}
static u32 b_type(u32 off, u32 rs2, u32 rs1, u32 f3)
{
	return ((off >> 12) & 1) << 31 | ((off >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 |
	       f3 << 12 | ((off >> 1) & 0xf) << 8 | ((off >> 11) & 1) << 7 | 0x63;
}

/* destination/source registers: x5..x29 (x30/x31 are bases) */
static u32 reg(void)
{
	return 5 + pick(25);
}
/* compressed 3-bit registers x8..x15 */
static u32 creg(void)
{
	return pick(8);
}

static void gen_alu(void)
{
	static const u32 rops[][2] = {
		/* funct7, funct3 for OP (0x33) */
		{ 0x00, 0 }, { 0x20, 0 }, { 0x00, 1 }, { 0x00, 2 }, { 0x00, 3 }, { 0x00, 4 },
		{ 0x00, 5 }, { 0x20, 5 }, { 0x00, 6 }, { 0x00, 7 }, { 0x01, 0 }, { 0x01, 1 },
		{ 0x01, 2 }, { 0x01, 3 }, { 0x01, 4 }, { 0x01, 5 }, { 0x01, 6 }, { 0x01, 7 },
	};
	static const u32 wops[][2] = {
		/* OP-32 (0x3b) */
		{ 0x00, 0 }, { 0x20, 0 }, { 0x00, 1 }, { 0x00, 5 }, { 0x20, 5 },
		{ 0x01, 0 }, { 0x01, 4 }, { 0x01, 5 }, { 0x01, 6 }, { 0x01, 7 },
	};
	u32 rd = reg(), rs1 = reg(), rs2 = reg(), k;
	switch (pick(8)) {
	case 0:
	case 1:
		k = pick(sizeof(rops) / sizeof(rops[0]));
		emit32(r_type(rops[k][0], rs2, rs1, rops[k][1], rd, 0x33));
		break;
	case 2:
		k = pick(sizeof(wops) / sizeof(wops[0]));
		emit32(r_type(wops[k][0], rs2, rs1, wops[k][1], rd, 0x3b));
		break;
	case 3: { /* OP-IMM: addi slti sltiu xori ori andi */
		static const u32 f3s[] = { 0, 2, 3, 4, 6, 7 };
		emit32(i_type((u32)rnd(), rs1, f3s[pick(6)], rd, 0x13));
		break;
	}
	case 4: { /* shifts by immediate, 64 and 32 bit */
		u32 which = pick(6), sh = pick(64);
		if (which < 3) {
			u32 f3 = which == 0 ? 1 : 5;
			u32 hi = which == 2 ? 0x400 : 0;
			emit32(i_type(hi | sh, rs1, f3, rd, 0x13));
		} else {
			u32 f3 = which == 3 ? 1 : 5;
			u32 hi = which == 5 ? 0x400 : 0;
			emit32(i_type(hi | (sh & 31), rs1, f3, rd, 0x1b));
		}
		break;
	}
	case 5: /* addiw, lui, auipc */
		k = pick(3);
		if (k == 0)
			emit32(i_type((u32)rnd(), rs1, 0, rd, 0x1b));
		else
			emit32(((u32)rnd() & 0xfffff000) | rd << 7 | (k == 1 ? 0x37 : 0x17));
		break;
	default: { /* loads and stores on the scratch buffer (x30) */
		static const u32 lf3[] = { 0, 1, 2, 3, 4, 5, 6 };
		u32 f3 = lf3[pick(7)], size = 1u << (f3 & 3);
		u32 off = pick(256 / size) * size;
		if (pick(2))
			emit32(i_type(off, 30, f3, rd, 0x03));
		else
			emit32(s_type(off, rs2, 30, f3 & 3));
	}
	}
}

static void gen_compressed(void)
{
	u32 rd = reg(), rs2 = reg(), imm = (u32)rnd() & 0x3f, k;
	u32 crd = creg(), crs = creg();
	switch (pick(10)) {
	case 0: /* c.addi */
		emit16(0x0001 | ((imm >> 5) & 1) << 12 | rd << 7 | (imm & 31) << 2);
		break;
	case 1: /* c.addiw */
		emit16(0x2001 | ((imm >> 5) & 1) << 12 | rd << 7 | (imm & 31) << 2);
		break;
	case 2: /* c.li */
		emit16(0x4001 | ((imm >> 5) & 1) << 12 | rd << 7 | (imm & 31) << 2);
		break;
	case 3: /* c.lui, nonzero immediate */
		if (!imm)
			imm = 1;
		emit16(0x6001 | ((imm >> 5) & 1) << 12 | rd << 7 | (imm & 31) << 2);
		break;
	case 4: /* c.slli, shamt 1..63 */
		if (!imm)
			imm = 32;
		emit16(0x0002 | ((imm >> 5) & 1) << 12 | rd << 7 | (imm & 31) << 2);
		break;
	case 5: /* c.srli / c.srai / c.andi */
		k = pick(3);
		if (k < 2 && !imm)
			imm = 63;
		emit16(0x8001 | ((imm >> 5) & 1) << 12 | k << 10 | crd << 7 | (imm & 31) << 2);
		break;
	case 6: /* c.sub c.xor c.or c.and */
		emit16(0x8c01 | crd << 7 | pick(4) << 5 | crs << 2);
		break;
	case 7: /* c.subw c.addw */ emit16(0x9c01 | crd << 7 | pick(2) << 5 | crs << 2); break;
	case 8: /* c.mv */ emit16(0x8002 | rd << 7 | rs2 << 2); break;
	default: /* c.add */ emit16(0x9002 | rd << 7 | rs2 << 2);
	}
}

/* a branch over the next 1..3 generated instructions */
static void gen_branch(void)
{
	u8 *site = pc8;
	int compressed = pick(3) == 0;
	pc8 += compressed ? 2 : 4;
	int n = 1 + (int)pick(3);
	for (int i = 0; i < n; i++)
		pick(2) ? gen_alu() : gen_compressed();
	u32 off = (u32)(pc8 - site);
	u8 *end = pc8;
	pc8 = site;
	if (compressed) {
		u32 o = off;
		emit16((pick(2) ? 0xc001 : 0xe001) | ((o >> 8) & 1) << 12 | ((o >> 3) & 3) << 10 |
		       creg() << 7 | ((o >> 6) & 3) << 5 | ((o >> 1) & 3) << 3 |
		       ((o >> 5) & 1) << 2);
	} else {
		static const u32 f3s[] = { 0, 1, 4, 5, 6, 7 };
		emit32(b_type(off, reg(), reg(), f3s[pick(6)]));
	}
	pc8 = end;
}

static void generate(void)
{
	pc8 = (u8 *)code;
	for (u32 r = 5; r <= 30; r++)
		emit32(i_type(r * 8, 31, 3, r, 0x03)); /* ld xr, 8r(x31) */
	for (int i = 0; i < LEN; i++) {
		u32 k = pick(10);
		if (k < 5)
			gen_alu();
		else if (k < 8)
			gen_compressed();
		else
			gen_branch();
	}
	for (u32 r = 5; r <= 29; r++)
		emit32(s_type(r * 8, r, 31, 3)); /* sd xr, 8r(x31) */
	emit32(0x00008067);			 /* ret */
	asm volatile("fence.i" ::: "memory");
}

void test_main(void)
{
	for (int p = 0; p < PROGRAMS; p++) {
		generate();
		for (int r = 0; r < 32; r++)
			regs[r] = pick(4) ? rnd() : (u64)(i64)(i32)pick(64) - 32;
		for (int i = 0; i < 32; i++)
			scratch[i] = rnd();
		regs[30] = (u64)scratch;
		rand_prog_call(code, regs);
		u64 h = ISA_FNV_INIT;
		for (int r = 5; r <= 29; r++)
			h = isa_fnv(h, regs[r]);
		for (int i = 0; i < 32; i++)
			h = isa_fnv(h, scratch[i]);
		char name[16] = "prog ";
		name[5] = (char)('0' + p / 100);
		name[6] = (char)('0' + p / 10 % 10);
		name[7] = (char)('0' + p % 10);
		name[8] = 0;
		isa_sig(name, h);
	}
}
