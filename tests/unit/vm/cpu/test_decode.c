/*
 * Unit tests for lib/vm/cpu/decode.c: RVC expansion against the encodings
 * GNU as produces for the compressed and the equivalent 32-bit forms, the
 * reserved RVC encodings, and micro-op decoding (operands, x0 sink, illegal
 * encodings).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cpu_internal.h"

struct rvc_pair {
	uint16_t c;
	uint32_t full;
	const char *text;
};

/* Generated with riscv64-linux-gnu-as -march=rv64gc / rv64g and objdump. */
static const struct rvc_pair pairs[] = {
	{ 0x0800, 0x01010413, "c.addi4spn s0, sp, 16" },
	{ 0x2500, 0x00853407, "c.fld fs0, 8(a0)" },
	{ 0x424c, 0x00462583, "c.lw a1, 4(a2)" },
	{ 0x6b14, 0x01073683, "c.ld a3, 16(a4)" },
	{ 0xaf84, 0x0097bc27, "c.fsd fs1, 24(a5)" },
	{ 0xc188, 0x00a5a023, "c.sw a0, 0(a1)" },
	{ 0xfe64, 0x0e963c23, "c.sd s1, 248(a2)" },
	{ 0x0001, 0x00000013, "c.nop" },
	{ 0x1575, 0xffd50513, "c.addi a0, -3" },
	{ 0x25fd, 0x01f5859b, "c.addiw a1, 31" },
	{ 0x5281, 0xfe000293, "c.li t0, -32" },
	{ 0x7139, 0xfc010113, "c.addi16sp sp, -64" },
	{ 0x7785, 0xfffe17b7, "c.lui a5, 0xfffe1" },
	{ 0x907d, 0x03f45413, "c.srli s0, 63" },
	{ 0x8605, 0x40165613, "c.srai a2, 1" },
	{ 0x9afd, 0xfff6f693, "c.andi a3, -1" },
	{ 0x8c05, 0x40940433, "c.sub s0, s1" },
	{ 0x8d2d, 0x00b54533, "c.xor a0, a1" },
	{ 0x8e55, 0x00d66633, "c.or a2, a3" },
	{ 0x8f7d, 0x00f77733, "c.and a4, a5" },
	{ 0x9d1d, 0x40f5053b, "c.subw a0, a5" },
	{ 0x9cb1, 0x00c484bb, "c.addw s1, a2" },
	{ 0xaffd, 0x7fe0006f, "c.j .+2046" },
	{ 0xd101, 0xf00500e3, "c.beqz a0, .-256" },
	{ 0xecfd, 0x0e049f63, "c.bnez s1, .+254" },
	{ 0x0346, 0x01131313, "c.slli t1, 17" },
	{ 0x307e, 0x1f813007, "c.fldsp ft0, 504(sp)" },
	{ 0x50fe, 0x0fc12083, "c.lwsp ra, 252(sp)" },
	{ 0x63a2, 0x00813383, "c.ldsp t2, 8(sp)" },
	{ 0x8082, 0x00008067, "c.jr ra" },
	{ 0x857e, 0x01f00533, "c.mv a0, t6" },
	{ 0x9002, 0x00100073, "c.ebreak" },
	{ 0x9282, 0x000280e7, "c.jalr t0" },
	{ 0x912a, 0x00a10133, "c.add sp, a0" },
	{ 0xa04a, 0x01213027, "c.fsdsp fs2, 0(sp)" },
	{ 0xdff2, 0x0fc12e23, "c.swsp t3, 252(sp)" },
	{ 0xffee, 0x1fb13c23, "c.sdsp s11, 504(sp)" },
};

static void test_rvc_expansion(void **state)
{
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		uint32_t got = rv_expand_compressed(pairs[i].c);
		if (got != pairs[i].full)
			fail_msg("%s: 0x%04x expands to 0x%08x, expected 0x%08x", pairs[i].text,
				 pairs[i].c, got, pairs[i].full);
	}
}

static void test_rvc_reserved(void **state)
{
	static const uint16_t reserved[] = {
		0x0000, /* all zero: illegal */
		0x0004, /* c.addi4spn with nzuimm = 0 */
		0x8000, /* quadrant 0 funct3 100 */
		0x2001, /* c.addiw rd = 0 */
		0x6101, /* c.addi16sp imm = 0 */
		0x6281, /* c.lui t0, 0 */
		0x9c41, /* c.subw-space funct 10: reserved */
		0x9c61, /* funct 11: reserved */
		0x4002, /* c.lwsp rd = 0 */
		0x6002, /* c.ldsp rd = 0 */
		0x8002, /* c.jr x0 */
	};
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (rv_expand_compressed(reserved[i]) != 0)
			fail_msg("0x%04x should be reserved", reserved[i]);
	/* A 32-bit opcode is not RVC. */
	assert_int_equal(rv_expand_compressed(0x0013), 0);
}

static void test_decode_fields(void **state)
{
	struct rv_uop u;
	rv_decode(0xfe010113, 4, &u); /* addi sp, sp, -32 */
	assert_int_equal(u.opc, RV_OP_ADDI);
	assert_int_equal(u.rd, 2);
	assert_int_equal(u.rs1, 2);
	assert_int_equal(u.imm, -32);
	rv_decode(0x00000013, 4, &u); /* nop: addi x0, x0, 0 writes the sink */
	assert_int_equal(u.opc, RV_OP_ADDI);
	assert_int_equal(u.rd, 32);
	rv_decode(0xfe113c23, 4, &u); /* sd ra, -8(sp) */
	assert_int_equal(u.opc, RV_OP_SD);
	assert_int_equal(u.rs2, 1);
	assert_int_equal(u.imm, -8);
	rv_decode(0xfe0008e3, 4, &u); /* beq zero, zero, .-16 */
	assert_int_equal(u.opc, RV_OP_BEQ);
	assert_int_equal(u.imm, -16);
	rv_decode(0xffdff0ef, 4, &u); /* jal ra, .-4 */
	assert_int_equal(u.opc, RV_OP_JAL);
	assert_int_equal(u.imm, -4);
	assert_int_equal(u.rd, 1);
	rv_decode(0x800002b7, 4, &u); /* lui t0, 0x80000 */
	assert_int_equal(u.opc, RV_OP_LUI);
	assert_int_equal((int64_t)u.imm, (int64_t)(int32_t)0x80000000u);
	rv_decode(0x03f51513, 4, &u); /* slli a0, a0, 63 */
	assert_int_equal(u.opc, RV_OP_SLLI);
	assert_int_equal(u.imm, 63);
	rv_decode(0x4015551b, 4, &u); /* sraiw a0, a0, 1 */
	assert_int_equal(u.opc, RV_OP_SRAIW);
	rv_decode(0x30529073, 4, &u); /* csrw mtvec, t0 */
	assert_int_equal(u.opc, RV_OP_CSR);
	assert_int_equal(u.imm, 0x305);
	assert_true(rv_op_ends_block(u.opc));
	rv_decode(0x02a5b52f, 4, &u); /* amoadd.d a0, a0, (a1)... funct5 0 width 3 */
	assert_int_equal(u.opc, RV_OP_AMO);
	assert_int_equal(u.rs3, 3);
	rv_decode(0xe2058953, 4, &u); /* fmv.x.d s2, fa1: x destination */
	assert_int_equal(u.opc, RV_OP_FMV_X_D);
	assert_int_equal(u.rd, 18);
	rv_decode(0x00b57543, 4, &u); /* fmadd.s fa0, fa0, fa1, ft0 (rm=7) */
	assert_int_equal(u.opc, RV_OP_FMADD_S);
	assert_int_equal(u.rm, 7);
	rv_decode(0x00b57053, 4, &u); /* fadd.s f0, fa0, fa1: f0 is a real register */
	assert_int_equal(u.opc, RV_OP_FADD_S);
	assert_int_equal(u.rd, 0);
}

static void test_decode_illegal(void **state)
{
	static const uint32_t bad[] = {
		0x00000000, /* not a 32-bit encoding */
		0xffffffff, /* reserved */
		0x0000700b, /* custom-0 */
		0x04051513, /* slli with funct6 != 0 */
		0x8200d013, /* srli/srai funct6 0x20 */
		0x0200051b, /* addiw is fine ... but slliw with bit 25 set below */
		0x0205151b, /* slliw with shamt[5] set */
		0x00003003, /* ld is fine; 0x7003 below is not */
		0x00007003, /* load funct3 7 */
		0x00004023, /* store funct3 4 */
		0x00002063, /* branch funct3 2 */
		0x00001067, /* jalr funct3 1 */
		0x10100073, /* unknown system (0x101) */
		0x00004073, /* system funct3 4 */
		0x1800302f, /* sc with funct5 0x03 ok, 0x1f below not */
		0xf800302f, /* AMO funct5 0x1f */
		0x1015202f, /* lr.w with rs2 != 0 */
		0x0000102f, /* AMO funct3 1 */
		0x04000053, /* fadd.q (fmt 3) */
		0x06000043, /* fmadd fmt 3 */
		0x58100053, /* fsqrt.s with rs2 != 0 */
		0x40000053, /* fcvt.s.s: rs2 0 for fmt S */
		0xe0003053, /* fmv.x.w funct3 3 */
	};
	static const bool legal[] = { false, false, false, false, false, true,	false, true,
				      false, false, false, false, false, false, true,  false,
				      false, false, false, false, false, false, false };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rv_uop u;
		rv_decode(bad[i], 4, &u);
		if ((u.opc != RV_OP_ILLEGAL) != legal[i])
			fail_msg("0x%08x decoded as %u", bad[i], u.opc);
		if (!legal[i])
			assert_int_equal(u.raw, bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rvc_expansion),
		cmocka_unit_test(test_rvc_reserved),
		cmocka_unit_test(test_decode_fields),
		cmocka_unit_test(test_decode_illegal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
