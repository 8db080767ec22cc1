/*
 * decode.c - RV64GC instruction decoding into micro-ops.
 *
 * Compressed instructions (unprivileged spec, "C" Standard Extension, RV64
 * column of the RVC tables) are first expanded to their 32-bit equivalents by
 * rv_expand_compressed(), then decoded like any other instruction; reserved
 * and illegal RVC encodings expand to 0, which decodes as ILLEGAL.  Every
 * encoding not listed in the RV64GC opcode map (unprivileged spec chapter
 * "RV32/64G Instruction Set Listings" plus the privileged instructions)
 * decodes as ILLEGAL, which raises illegal-instruction with the instruction
 * bits in mtval.
 *
 * Invariant: integer destination registers of 0 are rewritten to 32 (the
 * write sink), FP destinations are left alone (f0 is a real register).
 */
#include <stdbool.h>

#include "cpu_internal.h"

/* ---- RVC expansion ---- */

static uint32_t enc_i(int32_t imm, unsigned rs1, unsigned f3, unsigned rd, unsigned op)
{
	return ((uint32_t)(imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
}

static uint32_t enc_s(int32_t imm, unsigned rs2, unsigned rs1, unsigned f3, unsigned op)
{
	return ((uint32_t)((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) |
	       ((uint32_t)(imm & 0x1f) << 7) | op;
}

static uint32_t enc_b(int32_t imm, unsigned rs2, unsigned rs1, unsigned f3)
{
	return ((uint32_t)((imm >> 12) & 1) << 31) | ((uint32_t)((imm >> 5) & 0x3f) << 25) |
	       (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((uint32_t)((imm >> 1) & 0xf) << 8) |
	       ((uint32_t)((imm >> 11) & 1) << 7) | 0x63;
}

static uint32_t enc_j(int32_t imm, unsigned rd)
{
	return ((uint32_t)((imm >> 20) & 1) << 31) | ((uint32_t)((imm >> 1) & 0x3ff) << 21) |
	       ((uint32_t)((imm >> 11) & 1) << 20) | ((uint32_t)((imm >> 12) & 0xff) << 12) |
	       (rd << 7) | 0x6f;
}

static uint32_t enc_r(unsigned f7, unsigned rs2, unsigned rs1, unsigned f3, unsigned rd,
		      unsigned op)
{
	return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
}

static inline unsigned bit(uint32_t v, unsigned n)
{
	return (v >> n) & 1;
}

static inline unsigned bits(uint32_t v, unsigned hi, unsigned lo)
{
	return (v >> lo) & ((1u << (hi - lo + 1)) - 1);
}

static int32_t sext(uint32_t v, unsigned width)
{
	return (int32_t)(v << (32 - width)) >> (32 - width);
}

static uint32_t expand_q0(uint32_t c)
{
	unsigned rdp = bits(c, 4, 2) + 8, rs1p = bits(c, 9, 7) + 8;
	unsigned uimm_d = (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6);
	unsigned uimm_w = (bits(c, 12, 10) << 3) | (bit(c, 6) << 2) | (bit(c, 5) << 6);
	switch (bits(c, 15, 13)) {
	case 0: { /* C.ADDI4SPN */
		unsigned imm = (bits(c, 12, 11) << 4) | (bits(c, 10, 7) << 6) | (bit(c, 6) << 2) |
			       (bit(c, 5) << 3);
		if (imm == 0)
			return 0;
		return enc_i((int32_t)imm, 2, 0, rdp, 0x13);
	}
	case 1: return enc_i((int32_t)uimm_d, rs1p, 3, rdp, 0x07); /* C.FLD */
	case 2: return enc_i((int32_t)uimm_w, rs1p, 2, rdp, 0x03); /* C.LW */
	case 3: return enc_i((int32_t)uimm_d, rs1p, 3, rdp, 0x03); /* C.LD */
	case 5: return enc_s((int32_t)uimm_d, rdp, rs1p, 3, 0x27); /* C.FSD */
	case 6: return enc_s((int32_t)uimm_w, rdp, rs1p, 2, 0x23); /* C.SW */
	case 7: return enc_s((int32_t)uimm_d, rdp, rs1p, 3, 0x23); /* C.SD */
	default: return 0;
	}
}

static uint32_t expand_q1(uint32_t c)
{
	unsigned rd = bits(c, 11, 7);
	unsigned rdp = bits(c, 9, 7) + 8, rs2p = bits(c, 4, 2) + 8;
	int32_t imm6 = sext((bit(c, 12) << 5) | bits(c, 6, 2), 6);
	switch (bits(c, 15, 13)) {
	case 0: return enc_i(imm6, rd, 0, rd, 0x13); /* C.ADDI / C.NOP */
	case 1:					     /* C.ADDIW */
		if (rd == 0)
			return 0;
		return enc_i(imm6, rd, 0, rd, 0x1b);
	case 2: return enc_i(imm6, 0, 0, rd, 0x13); /* C.LI */
	case 3:
		if (rd == 2) { /* C.ADDI16SP */
			int32_t imm = sext((bit(c, 12) << 9) | (bit(c, 6) << 4) | (bit(c, 5) << 6) |
					       (bits(c, 4, 3) << 7) | (bit(c, 2) << 5),
					   10);
			if (imm == 0)
				return 0;
			return enc_i(imm, 2, 0, 2, 0x13);
		} else { /* C.LUI */
			int32_t imm = sext((bit(c, 12) << 17) | (bits(c, 6, 2) << 12), 18);
			if (imm == 0)
				return 0;
			return ((uint32_t)imm & 0xfffff000u) | (rd << 7) | 0x37;
		}
	case 4: {
		unsigned shamt = (bit(c, 12) << 5) | bits(c, 6, 2);
		switch (bits(c, 11, 10)) {
		case 0: return enc_i((int32_t)shamt, rdp, 5, rdp, 0x13);	   /* C.SRLI */
		case 1: return enc_i((int32_t)(shamt | 0x400), rdp, 5, rdp, 0x13); /* C.SRAI */
		case 2: return enc_i(imm6, rdp, 7, rdp, 0x13);			   /* C.ANDI */
		default: {
			unsigned f = bits(c, 6, 5);
			if (!bit(c, 12)) {
				static const unsigned f3[4] = { 0, 4, 6, 7 };
				return enc_r(f == 0 ? 0x20 : 0, rs2p, rdp, f3[f], rdp, 0x33);
			}
			if (f == 0)
				return enc_r(0x20, rs2p, rdp, 0, rdp, 0x3b); /* C.SUBW */
			if (f == 1)
				return enc_r(0, rs2p, rdp, 0, rdp, 0x3b); /* C.ADDW */
			return 0;
		}
		}
	}
	case 5: { /* C.J */
		int32_t off = sext((bit(c, 12) << 11) | (bit(c, 11) << 4) | (bits(c, 10, 9) << 8) |
				       (bit(c, 8) << 10) | (bit(c, 7) << 6) | (bit(c, 6) << 7) |
				       (bits(c, 5, 3) << 1) | (bit(c, 2) << 5),
				   12);
		return enc_j(off, 0);
	}
	default: { /* C.BEQZ, C.BNEZ */
		int32_t off =
		    sext((bit(c, 12) << 8) | (bits(c, 11, 10) << 3) | (bits(c, 6, 5) << 6) |
			     (bits(c, 4, 3) << 1) | (bit(c, 2) << 5),
			 9);
		return enc_b(off, 0, rdp, bits(c, 15, 13) == 6 ? 0 : 1);
	}
	}
}

static uint32_t expand_q2(uint32_t c)
{
	unsigned rd = bits(c, 11, 7), rs2 = bits(c, 6, 2);
	unsigned uimm_ldsp = (bit(c, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6);
	unsigned uimm_lwsp = (bit(c, 12) << 5) | (bits(c, 6, 4) << 2) | (bits(c, 3, 2) << 6);
	unsigned uimm_sdsp = (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6);
	unsigned uimm_swsp = (bits(c, 12, 9) << 2) | (bits(c, 8, 7) << 6);
	switch (bits(c, 15, 13)) {
	case 0: /* C.SLLI */ return enc_i((int32_t)((bit(c, 12) << 5) | rs2), rd, 1, rd, 0x13);
	case 1: return enc_i((int32_t)uimm_ldsp, 2, 3, rd, 0x07); /* C.FLDSP */
	case 2:							  /* C.LWSP */
		if (rd == 0)
			return 0;
		return enc_i((int32_t)uimm_lwsp, 2, 2, rd, 0x03);
	case 3: /* C.LDSP */
		if (rd == 0)
			return 0;
		return enc_i((int32_t)uimm_ldsp, 2, 3, rd, 0x03);
	case 4:
		if (!bit(c, 12)) {
			if (rs2 == 0) { /* C.JR */
				if (rd == 0)
					return 0;
				return enc_i(0, rd, 0, 0, 0x67);
			}
			return enc_r(0, rs2, 0, 0, rd, 0x33); /* C.MV */
		}
		if (rs2 == 0) {
			if (rd == 0)
				return 0x00100073;	 /* C.EBREAK */
			return enc_i(0, rd, 0, 1, 0x67); /* C.JALR */
		}
		return enc_r(0, rs2, rd, 0, rd, 0x33);		    /* C.ADD */
	case 5: return enc_s((int32_t)uimm_sdsp, rs2, 2, 3, 0x27);  /* C.FSDSP */
	case 6: return enc_s((int32_t)uimm_swsp, rs2, 2, 2, 0x23);  /* C.SWSP */
	default: return enc_s((int32_t)uimm_sdsp, rs2, 2, 3, 0x23); /* C.SDSP */
	}
}

uint32_t rv_expand_compressed(uint16_t insn)
{
	uint32_t c = insn;
	switch (c & 3) {
	case 0: return expand_q0(c);
	case 1: return expand_q1(c);
	case 2: return expand_q2(c);
	default: return 0;
	}
}

/* ---- 32-bit decoding ---- */

static int32_t imm_i(uint32_t i)
{
	return (int32_t)i >> 20;
}

static int32_t imm_s(uint32_t i)
{
	return sext(((i >> 25) << 5) | bits(i, 11, 7), 12);
}

static int32_t imm_b(uint32_t i)
{
	return sext((bit(i, 31) << 12) | (bit(i, 7) << 11) | (bits(i, 30, 25) << 5) |
			(bits(i, 11, 8) << 1),
		    13);
}

static int32_t imm_j(uint32_t i)
{
	return sext((bit(i, 31) << 20) | (bits(i, 19, 12) << 12) | (bit(i, 20) << 11) |
			(bits(i, 30, 21) << 1),
		    21);
}

static unsigned int_rd(unsigned rd)
{
	return rd ? rd : 32;
}

static unsigned decode_op_imm(uint32_t i, struct rv_uop *u)
{
	unsigned f3 = bits(i, 14, 12), f6 = bits(i, 31, 26);
	switch (f3) {
	case 0: return RV_OP_ADDI;
	case 2: return RV_OP_SLTI;
	case 3: return RV_OP_SLTIU;
	case 4: return RV_OP_XORI;
	case 6: return RV_OP_ORI;
	case 7: return RV_OP_ANDI;
	case 1: u->imm &= 63; return f6 == 0 ? RV_OP_SLLI : RV_OP_ILLEGAL;
	default:
		u->imm &= 63;
		return f6 == 0 ? RV_OP_SRLI : f6 == 0x10 ? RV_OP_SRAI : RV_OP_ILLEGAL;
	}
}

static unsigned decode_op_imm32(uint32_t i, struct rv_uop *u)
{
	unsigned f3 = bits(i, 14, 12), f7 = bits(i, 31, 25);
	switch (f3) {
	case 0: return RV_OP_ADDIW;
	case 1: u->imm &= 31; return f7 == 0 ? RV_OP_SLLIW : RV_OP_ILLEGAL;
	case 5:
		u->imm &= 31;
		return f7 == 0 ? RV_OP_SRLIW : f7 == 0x20 ? RV_OP_SRAIW : RV_OP_ILLEGAL;
	default: return RV_OP_ILLEGAL;
	}
}

static unsigned decode_op(uint32_t i)
{
	unsigned f3 = bits(i, 14, 12), f7 = bits(i, 31, 25);
	static const unsigned base[8] = { RV_OP_ADD, RV_OP_SLL, RV_OP_SLT, RV_OP_SLTU,
					  RV_OP_XOR, RV_OP_SRL, RV_OP_OR,  RV_OP_AND };
	static const unsigned mul[8] = { RV_OP_MUL, RV_OP_MULH, RV_OP_MULHSU, RV_OP_MULHU,
					 RV_OP_DIV, RV_OP_DIVU, RV_OP_REM,    RV_OP_REMU };
	if (f7 == 0)
		return base[f3];
	if (f7 == 1)
		return mul[f3];
	if (f7 == 0x20 && f3 == 0)
		return RV_OP_SUB;
	if (f7 == 0x20 && f3 == 5)
		return RV_OP_SRA;
	return RV_OP_ILLEGAL;
}

static unsigned decode_op32(uint32_t i)
{
	unsigned f3 = bits(i, 14, 12), f7 = bits(i, 31, 25);
	if (f7 == 0) {
		if (f3 == 0)
			return RV_OP_ADDW;
		if (f3 == 1)
			return RV_OP_SLLW;
		if (f3 == 5)
			return RV_OP_SRLW;
	} else if (f7 == 0x20) {
		if (f3 == 0)
			return RV_OP_SUBW;
		if (f3 == 5)
			return RV_OP_SRAW;
	} else if (f7 == 1) {
		switch (f3) {
		case 0: return RV_OP_MULW;
		case 4: return RV_OP_DIVW;
		case 5: return RV_OP_DIVUW;
		case 6: return RV_OP_REMW;
		case 7: return RV_OP_REMUW;
		}
	}
	return RV_OP_ILLEGAL;
}

static unsigned decode_system(uint32_t i, struct rv_uop *u)
{
	unsigned f3 = bits(i, 14, 12);
	if (f3 == 0) {
		switch (i) {
		case 0x00000073: return RV_OP_ECALL;
		case 0x00100073: return RV_OP_EBREAK;
		case 0x10200073: return RV_OP_SRET;
		case 0x30200073: return RV_OP_MRET;
		case 0x10500073: return RV_OP_WFI;
		}
		if (bits(i, 31, 25) == 0x09 && bits(i, 11, 7) == 0)
			return RV_OP_SFENCE_VMA;
		return RV_OP_ILLEGAL;
	}
	if (f3 == 4)
		return RV_OP_ILLEGAL;
	u->rm = (uint8_t)f3;
	u->imm = (int32_t)bits(i, 31, 20);
	return RV_OP_CSR;
}

static unsigned decode_amo(uint32_t i, struct rv_uop *u)
{
	unsigned f3 = bits(i, 14, 12), f5 = bits(i, 31, 27);
	if (f3 != 2 && f3 != 3)
		return RV_OP_ILLEGAL;
	switch (f5) {
	case 2:
		if (bits(i, 24, 20) != 0)
			return RV_OP_ILLEGAL;
		break;
	case 0:
	case 1:
	case 3:
	case 4:
	case 8:
	case 12:
	case 16:
	case 20:
	case 24:
	case 28: break;
	default: return RV_OP_ILLEGAL;
	}
	u->rm = (uint8_t)f5;
	u->rs3 = (uint8_t)f3; /* width: 2 = W, 3 = D */
	return RV_OP_AMO;
}

/* OP-FP: returns the opcode and whether the destination is an x register. */
static unsigned decode_op_fp(uint32_t i, bool *int_dest)
{
	unsigned f7 = bits(i, 31, 25), f3 = bits(i, 14, 12), rs2 = bits(i, 24, 20);
	bool d = f7 & 1;
	*int_dest = false;
	switch (f7 >> 1) {
	case 0x00: return d ? RV_OP_FADD_D : RV_OP_FADD_S;
	case 0x02: return d ? RV_OP_FSUB_D : RV_OP_FSUB_S;
	case 0x04: return d ? RV_OP_FMUL_D : RV_OP_FMUL_S;
	case 0x06: return d ? RV_OP_FDIV_D : RV_OP_FDIV_S;
	case 0x16:
		if (rs2 != 0)
			return RV_OP_ILLEGAL;
		return d ? RV_OP_FSQRT_D : RV_OP_FSQRT_S;
	case 0x08:
		if (f3 > 2)
			return RV_OP_ILLEGAL;
		return (d ? RV_OP_FSGNJ_D : RV_OP_FSGNJ_S) + f3;
	case 0x0a:
		if (f3 > 1)
			return RV_OP_ILLEGAL;
		return (d ? RV_OP_FMIN_D : RV_OP_FMIN_S) + f3;
	case 0x10:
		if (!d && rs2 == 1)
			return RV_OP_FCVT_S_D;
		if (d && rs2 == 0)
			return RV_OP_FCVT_D_S;
		return RV_OP_ILLEGAL;
	case 0x28:
		*int_dest = true;
		if (f3 == 2)
			return d ? RV_OP_FEQ_D : RV_OP_FEQ_S;
		if (f3 == 1)
			return d ? RV_OP_FLT_D : RV_OP_FLT_S;
		if (f3 == 0)
			return d ? RV_OP_FLE_D : RV_OP_FLE_S;
		return RV_OP_ILLEGAL;
	case 0x30:
		*int_dest = true;
		if (rs2 > 3)
			return RV_OP_ILLEGAL;
		return (d ? RV_OP_FCVT_W_D : RV_OP_FCVT_W_S) + rs2;
	case 0x34:
		if (rs2 > 3)
			return RV_OP_ILLEGAL;
		return (d ? RV_OP_FCVT_D_W : RV_OP_FCVT_S_W) + rs2;
	case 0x38:
		*int_dest = true;
		if (rs2 != 0)
			return RV_OP_ILLEGAL;
		if (f3 == 0)
			return d ? RV_OP_FMV_X_D : RV_OP_FMV_X_W;
		if (f3 == 1)
			return d ? RV_OP_FCLASS_D : RV_OP_FCLASS_S;
		return RV_OP_ILLEGAL;
	case 0x3c:
		if (rs2 != 0 || f3 != 0)
			return RV_OP_ILLEGAL;
		return d ? RV_OP_FMV_D_X : RV_OP_FMV_W_X;
	default: return RV_OP_ILLEGAL;
	}
}

void rv_decode(uint32_t i, unsigned len, struct rv_uop *u)
{
	unsigned rd = bits(i, 11, 7), f3 = bits(i, 14, 12);
	unsigned opc = RV_OP_ILLEGAL;
	bool int_dest = true;

	u->len = (uint8_t)len;
	u->raw = i;
	u->rd = (uint8_t)rd;
	u->rs1 = (uint8_t)bits(i, 19, 15);
	u->rs2 = (uint8_t)bits(i, 24, 20);
	u->rs3 = (uint8_t)bits(i, 31, 27);
	u->rm = (uint8_t)f3;
	u->imm = imm_i(i);

	if ((i & 3) != 3) {
		u->opc = RV_OP_ILLEGAL;
		return;
	}
	switch (bits(i, 6, 0)) {
	case 0x37:
		opc = RV_OP_LUI;
		u->imm = (int32_t)(i & 0xfffff000u);
		break;
	case 0x17:
		opc = RV_OP_AUIPC;
		u->imm = (int32_t)(i & 0xfffff000u);
		break;
	case 0x6f:
		opc = RV_OP_JAL;
		u->imm = imm_j(i);
		break;
	case 0x67:
		if (f3 == 0)
			opc = RV_OP_JALR;
		break;
	case 0x63: {
		static const unsigned br[8] = { RV_OP_BEQ, RV_OP_BNE, RV_OP_ILLEGAL, RV_OP_ILLEGAL,
						RV_OP_BLT, RV_OP_BGE, RV_OP_BLTU,    RV_OP_BGEU };
		opc = br[f3];
		u->imm = imm_b(i);
		int_dest = false;
		break;
	}
	case 0x03: {
		static const unsigned ld[8] = { RV_OP_LB,  RV_OP_LH,  RV_OP_LW,	 RV_OP_LD,
						RV_OP_LBU, RV_OP_LHU, RV_OP_LWU, RV_OP_ILLEGAL };
		opc = ld[f3];
		break;
	}
	case 0x23:
		if (f3 < 4)
			opc = RV_OP_SB + f3;
		u->imm = imm_s(i);
		int_dest = false;
		break;
	case 0x13: opc = decode_op_imm(i, u); break;
	case 0x1b: opc = decode_op_imm32(i, u); break;
	case 0x33: opc = decode_op(i); break;
	case 0x3b: opc = decode_op32(i); break;
	case 0x0f:
		if (f3 == 0)
			opc = RV_OP_FENCE;
		else if (f3 == 1)
			opc = RV_OP_FENCE_I;
		int_dest = false;
		break;
	case 0x73: opc = decode_system(i, u); break;
	case 0x2f: opc = decode_amo(i, u); break;
	case 0x07:
		if (f3 == 2)
			opc = RV_OP_FLW;
		else if (f3 == 3)
			opc = RV_OP_FLD;
		int_dest = false;
		break;
	case 0x27:
		if (f3 == 2)
			opc = RV_OP_FSW;
		else if (f3 == 3)
			opc = RV_OP_FSD;
		u->imm = imm_s(i);
		int_dest = false;
		break;
	case 0x43:
	case 0x47:
	case 0x4b:
	case 0x4f: {
		unsigned fmt = bits(i, 26, 25), k = (bits(i, 6, 0) - 0x43) >> 2;
		int_dest = false;
		if (fmt == 0)
			opc = RV_OP_FMADD_S + k;
		else if (fmt == 1)
			opc = RV_OP_FMADD_D + k;
		break;
	}
	case 0x53: opc = decode_op_fp(i, &int_dest); break;
	default: break;
	}
	if (int_dest)
		u->rd = (uint8_t)int_rd(rd);
	u->opc = (uint16_t)opc;
}

bool rv_op_ends_block(unsigned opc)
{
	switch (opc) {
	case RV_OP_ILLEGAL:
	case RV_OP_JAL:
	case RV_OP_JALR:
	case RV_OP_BEQ:
	case RV_OP_BNE:
	case RV_OP_BLT:
	case RV_OP_BGE:
	case RV_OP_BLTU:
	case RV_OP_BGEU:
	case RV_OP_FENCE_I:
	case RV_OP_ECALL:
	case RV_OP_EBREAK:
	case RV_OP_MRET:
	case RV_OP_SRET:
	case RV_OP_WFI:
	case RV_OP_SFENCE_VMA:
	case RV_OP_CSR: return true;
	default: return false;
	}
}
