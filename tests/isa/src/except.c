/* except.c: every synchronous exception cause reachable on RV64GC without
 * paging (privileged spec §3.1.15 table 3.6, §3.3): illegal instruction
 * with mtval = the faulting instruction bits (16-bit and 32-bit encodings),
 * breakpoint (ebreak, c.ebreak) with mepc = its address, ecall from U, S and
 * M, load/store/fetch access faults (AMO: misaligned.c, QEMU 7.2 reports
 * the load cause) on unmapped physical addresses with
 * mtval = the address, privileged instructions from lower modes (mret in S
 * and U, sret in U, sfence.vma in U), TW/TSR/TVM.  Also checks mepc, the
 * xPP/xPIE bookkeeping of a trap, and that medeleg routes U/S exceptions to
 * the S-mode handler with scause/stval/sepc.  (Misaligned accesses:
 * misaligned.c; page faults: paging.c.) */
#include "ops.h"

#define HOLE 0x2000000000UL /* no device, no RAM: access fault */

static u64 ecall_site;

static long do_ecall(long arg)
{
	isa_expect_trap();
	asm volatile("la t6, 1f\n la t0, 2f\n sd t0, 0(%0)\n 2: ecall\n 1:" ::"r"(&ecall_site)
		     : "t0", "t6", "memory");
	return (long)isa_last_trap.cause;
}

static long try_insn(long which)
{
	isa_expect_trap();
	switch (which) {
	case 0: ISA_TRY("mret", ::: "t6"); break;
	case 1: ISA_TRY("sret", ::: "t6"); break;
	case 2: ISA_TRY("sfence.vma", ::: "t6"); break;
	case 3: ISA_TRY("wfi", ::: "t6"); break;
	case 4: ISA_TRY("csrr t0, satp", ::: "t6", "t0"); break;
	}
	if (isa_trap_armed) {
		isa_trap_armed = 0;
		return -1; /* no trap */
	}
	return (long)isa_last_trap.cause;
}

static long s_trap_delegated(long which)
{
	isa_expect_strap();
	if (which == 0)
		ISA_TRY(".word 0x0000007b", ::: "t6");
	else
		ISA_TRY("ld t0, 0(%0)", ::"r"(HOLE + 8) : "t6", "t0");
	return (long)isa_last_strap.cause;
}

static long u_ecall_delegated(long arg)
{
	isa_expect_strap();
	ISA_TRY("ecall", ::: "t6");
	return (long)isa_last_strap.cause;
}

void test_main(void)
{
	/* illegal instructions: mtval holds the instruction bits */
	u64 pc;
	isa_expect_trap();
	ISA_TRY(".word 0x0000007b", ::: "t6");
	isa_check("custom-3 opcode: cause", isa_last_trap.cause, CAUSE_ILLEGAL);
	isa_check("custom-3 opcode: mtval", isa_last_trap.tval, 0x7b);
	isa_expect_trap();
	ISA_TRY(".word 0xfe000033", ::: "t6");
	isa_check("bad funct7 on OP: cause", isa_last_trap.cause, CAUSE_ILLEGAL);
	isa_check("bad funct7 on OP: mtval", isa_last_trap.tval, 0xfe000033);
	isa_expect_trap();
	ISA_TRY(".half 0x0000", ::: "t6");
	isa_check("c 0x0000: cause", isa_last_trap.cause, CAUSE_ILLEGAL);
	isa_check("c 0x0000: mtval", isa_last_trap.tval, 0);
	isa_expect_trap();
	ISA_TRY(".half 0x6001", ::: "t6"); /* c.lui x0... rd=0 nzimm=0 reserved */
	isa_check("c.lui imm 0: cause", isa_last_trap.cause, CAUSE_ILLEGAL);
	isa_check("c.lui imm 0: mtval", isa_last_trap.tval, 0x6001);
	isa_expect_trap();
	ISA_TRY(".half 0x4002", ::: "t6"); /* c.lwsp rd=0 reserved */
	isa_check("c.lwsp x0: cause", isa_last_trap.cause, CAUSE_ILLEGAL);
	/* reserved compressed encodings */
	static const u32 c_reserved[] = {
		0x6101, /* c.addi16sp sp, 0 */
		0x8002, /* c.jr x0 */
		0x6002, /* c.ldsp x0 */
		0x2001, /* c.addiw x0 */
	};
	for (unsigned i = 0; i < 4; i++) {
		isa_expect_trap();
		u64 word = c_reserved[i];
		/* execute the halfword from a small RAM buffer */
		static u16 buf[4] __attribute__((aligned(8)));
		buf[0] = (u16)word;
		buf[1] = 0x8082; /* c.jr ra, in case it does not trap */
		asm volatile("fence.i" ::: "memory");
		ISA_TRY("jalr ra, 0(%0)", ::"r"(buf) : "t6", "ra", "memory");
		isa_check("reserved compressed encoding: illegal", isa_last_trap.cause,
			  CAUSE_ILLEGAL);
		isa_check("reserved compressed encoding: mtval", isa_last_trap.tval, word);
	}
	isa_expect_trap();
	ISA_TRY(".word 0xf800202f", ::: "t6"); /* AMO funct5 = 11111 */
	isa_check("AMO funct5 11111: cause", isa_last_trap.cause, CAUSE_ILLEGAL);
	isa_expect_trap();
	ISA_TRY(".word 0x00007003", ::: "t6"); /* LOAD funct3 = 7 */
	isa_check("load funct3 7: cause", isa_last_trap.cause, CAUSE_ILLEGAL);
	isa_check("load funct3 7: mtval", isa_last_trap.tval, 0x7003);
	isa_expect_trap();
	ISA_TRY(".word 0x0200101b", ::: "t6"); /* slliw with shamt[5] = 1 */
	isa_check("slliw shamt 32: cause", isa_last_trap.cause, CAUSE_ILLEGAL);
	isa_expect_trap();
	ISA_TRY(".word 0x30200073 | (1 << 20)", ::: "t6"); /* bad SYSTEM */
	isa_check("bad SYSTEM funct12: cause", isa_last_trap.cause, CAUSE_ILLEGAL);

	/* breakpoints: mepc = address of the ebreak; mtval 0 or the pc */
	isa_expect_trap();
	asm volatile("la t6, 2f\n la %0, 1f\n 1: ebreak\n 2:" : "=&r"(pc)::"t6");
	isa_check("ebreak: cause", isa_last_trap.cause, CAUSE_BREAKPOINT);
	isa_check("ebreak: mepc", isa_last_trap.epc, pc);
	isa_expect_trap();
	asm volatile("la t6, 2f\n la %0, 1f\n 1: c.ebreak\n 2:" : "=&r"(pc)::"t6");
	isa_check("c.ebreak: cause", isa_last_trap.cause, CAUSE_BREAKPOINT);
	isa_check("c.ebreak: mepc", isa_last_trap.epc, pc);
	isa_check("c.ebreak: mtval is 0 or pc", isa_last_trap.tval == 0 || isa_last_trap.tval == pc,
		  1);

	/* ecall from each mode; mepc = ecall address; MPP = source mode */
	isa_check("ecall from M", do_ecall(0), CAUSE_ECALL_M);
	isa_check("ecall from M: mepc", isa_last_trap.epc, ecall_site);
	isa_check("ecall from M: MPP", (isa_last_trap.status >> 11) & 3, 3);
	isa_check("ecall from M: mtval", isa_last_trap.tval, 0);
	isa_check("ecall from S", isa_run_in_mode(MODE_S, do_ecall, 0), CAUSE_ECALL_S);
	isa_check("ecall from S: MPP", (isa_last_trap.status >> 11) & 3, 1);
	isa_check("ecall from S: mepc", isa_last_trap.epc, ecall_site);
	isa_check("ecall from U", isa_run_in_mode(MODE_U, do_ecall, 0), CAUSE_ECALL_U);
	isa_check("ecall from U: MPP", (isa_last_trap.status >> 11) & 3, 0);

	/* access faults */
	u64 v = 0;
	isa_expect_trap();
	ISA_TRY("ld %0, 0(%1)", : "=r"(v) : "r"(HOLE) : "t6");
	isa_check("load access fault: cause", isa_last_trap.cause, CAUSE_LOAD_ACCESS);
	isa_check("load access fault: mtval", isa_last_trap.tval, HOLE);
	isa_expect_trap();
	ISA_TRY("sw zero, 12(%0)", ::"r"(HOLE) : "t6", "memory");
	isa_check("store access fault: cause", isa_last_trap.cause, CAUSE_STORE_ACCESS);
	isa_check("store access fault: mtval", isa_last_trap.tval, HOLE + 12);
	isa_expect_trap();
	ISA_TRY("jalr ra, 0(%0)", ::"r"(HOLE + 0x40) : "t6", "ra");
	isa_check("fetch access fault: cause", isa_last_trap.cause, CAUSE_FETCH_ACCESS);
	isa_check("fetch access fault: mtval", isa_last_trap.tval, HOLE + 0x40);
	isa_check("fetch access fault: mepc", isa_last_trap.epc, HOLE + 0x40);

	/* privileged instructions from lower modes */
	isa_check("mret in S: illegal", isa_run_in_mode(MODE_S, try_insn, 0), CAUSE_ILLEGAL);
	isa_check("mret in U: illegal", isa_run_in_mode(MODE_U, try_insn, 0), CAUSE_ILLEGAL);
	isa_check("sret in U: illegal", isa_run_in_mode(MODE_U, try_insn, 1), CAUSE_ILLEGAL);
	isa_check("sfence.vma in U: illegal", isa_run_in_mode(MODE_U, try_insn, 2), CAUSE_ILLEGAL);
	isa_check("csrr satp in U: illegal", isa_run_in_mode(MODE_U, try_insn, 4), CAUSE_ILLEGAL);
	/* TW: wfi in S traps; TSR: sret in S traps; TVM: satp/sfence trap */
	csr_set(mstatus, MSTATUS_TW);
	isa_check("wfi in S with TW: illegal", isa_run_in_mode(MODE_S, try_insn, 3), CAUSE_ILLEGAL);
	csr_clear(mstatus, MSTATUS_TW);
	csr_set(mstatus, MSTATUS_TSR);
	isa_check("sret in S with TSR: illegal", isa_run_in_mode(MODE_S, try_insn, 1),
		  CAUSE_ILLEGAL);
	csr_clear(mstatus, MSTATUS_TSR);
	csr_set(mstatus, MSTATUS_TVM);
	isa_check("csrr satp in S with TVM: illegal", isa_run_in_mode(MODE_S, try_insn, 4),
		  CAUSE_ILLEGAL);
	isa_check("sfence.vma in S with TVM: illegal", isa_run_in_mode(MODE_S, try_insn, 2),
		  CAUSE_ILLEGAL);
	csr_clear(mstatus, MSTATUS_TVM);
	isa_check("csrr satp in S without TVM: ok", isa_run_in_mode(MODE_S, try_insn, 4), -1);
	isa_check("sfence.vma in S without TVM: ok", isa_run_in_mode(MODE_S, try_insn, 2), -1);

	/* delegation: medeleg sends U/S exceptions to stvec */
	csr_write(stvec, (u64)strap_entry);
	csr_write(sscratch, isa_strap_stack_top[0]);
	csr_write(medeleg, (1 << CAUSE_ILLEGAL) | (1 << CAUSE_LOAD_ACCESS) | (1 << CAUSE_ECALL_U));
	isa_check("delegated illegal in S", isa_run_in_mode(MODE_S, s_trap_delegated, 0),
		  CAUSE_ILLEGAL);
	isa_check("delegated illegal: stval", isa_last_strap.tval, 0x7b);
	isa_check("delegated illegal: SPP = S", (isa_last_strap.status >> 8) & 1, 1);
	isa_check("delegated load fault in S", isa_run_in_mode(MODE_S, s_trap_delegated, 1),
		  CAUSE_LOAD_ACCESS);
	isa_check("delegated load fault: stval", isa_last_strap.tval, HOLE + 8);
	isa_check("delegated ecall from U", isa_run_in_mode(MODE_U, u_ecall_delegated, 0),
		  CAUSE_ECALL_U);
	isa_check("delegated ecall: SPP = U", (isa_last_strap.status >> 8) & 1, 0);
	/* M-mode exceptions are never delegated */
	isa_expect_trap();
	ISA_TRY(".word 0x0000007b", ::: "t6");
	isa_check("illegal in M stays in M", isa_last_trap.cause, CAUSE_ILLEGAL);
	csr_write(medeleg, 0);
	(void)v;
}
