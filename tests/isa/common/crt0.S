/* crt0.S: start-up code and M-mode trap entry for vessel's bare-metal tests.
 *
 * Every hart enters _start in M-mode (vessel-vmm: at the ELF entry with
 * a0 = hart id; QEMU virt -bios none: from the reset ROM with a0 = mhartid).
 * We use mhartid, not a0, so both agree.  Each hart gets a 16 KiB stack and a
 * 4 KiB trap stack (mscratch holds the trap stack top while running outside
 * the handler).  Hart 0 clears .bss, sets boot_done and calls isa_main();
 * other harts wait for boot_done, then call smp_main(hartid) if the test
 * defines it (weak symbol), else park in WFI forever.
 *
 * PMP entry 0 is programmed to NAPOT over the whole address space with RWX,
 * as firmware does, so S and U modes can reach memory (privileged spec
 * §3.7.1: with PMP implemented, S/U accesses matching no entry fail).
 *
 * trap_entry saves all 31 registers plus mepc/mstatus/mcause/mtval into a
 * struct isa_frame on the trap stack and calls isa_trap(frame); it restores
 * mepc, mstatus and all registers from the (possibly edited) frame and
 * returns with mret.
 */
#define FRAME_SIZE (36 * 8)

	.section .text.init, "ax"
	.globl _start
_start:
	.option push
	.option norelax
	/* no gp: the tests never define __global_pointer$ */
	.option pop
	csrr	s0, mhartid
	la	t0, trap_entry
	csrw	mtvec, t0
	slli	t1, s0, 14		/* 16 KiB per hart */
	la	sp, _stack_top
	sub	sp, sp, t1
	slli	t1, s0, 12		/* 4 KiB trap stack per hart */
	la	t0, _trap_stack_top
	sub	t0, t0, t1
	csrw	mscratch, t0
	li	t0, -1
	csrw	pmpaddr0, t0
	li	t0, 0x1f		/* NAPOT | X | W | R */
	csrw	pmpcfg0, t0
	li	t0, (1 << 13)		/* mstatus.FS = Initial */
	csrs	mstatus, t0
	csrwi	fcsr, 0
	bnez	s0, secondary

	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	1b
2:	fence	rw, rw
	la	t0, boot_done
	li	t1, 1
	sw	t1, 0(t0)
	fence	rw, rw
	call	isa_main		/* never returns */
3:	j	3b

secondary:
	la	t0, boot_done
1:	lw	t1, 0(t0)
	beqz	t1, 1b
	fence	rw, rw
	la	t0, smp_main
	beqz	t0, park
	mv	a0, s0
	jalr	t0
park:
	wfi
	j	park

	.weak	smp_main

	.data
	.align	3
	.globl	boot_done
boot_done:
	.word	0

/* ---------------------------------------------------------------------- */
/* TRAP_ENTRY m|s: save everything into a struct isa_frame on the trap stack
 * (found in xscratch), call handler(frame), restore from the frame, xret. */
.macro TRAP_ENTRY p, handler
	csrrw	sp, \p\()scratch, sp
	addi	sp, sp, -FRAME_SIZE
	.irp	r, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	sd	x\r, \r*8(sp)
	.endr
	csrr	t0, \p\()scratch
	sd	t0, 2*8(sp)
	csrr	t0, \p\()epc
	sd	t0, 32*8(sp)
	csrr	t0, \p\()status
	sd	t0, 33*8(sp)
	csrr	t0, \p\()cause
	sd	t0, 34*8(sp)
	csrr	t0, \p\()tval
	sd	t0, 35*8(sp)
	mv	a0, sp
	call	\handler
	ld	t0, 32*8(sp)
	csrw	\p\()epc, t0
	ld	t0, 33*8(sp)
	csrw	\p\()status, t0
	addi	t0, sp, FRAME_SIZE
	csrw	\p\()scratch, t0
	.irp	r, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld	x\r, \r*8(sp)
	.endr
	ld	x2, 2*8(sp)
	\p\()ret
.endm

	.text
	.align	6
	.globl	trap_entry
trap_entry:
	TRAP_ENTRY m, isa_trap

/* S-mode entry for delegated traps; tests install it in stvec and point
 * sscratch at an S trap stack (isa_strap_stack_top). */
	.align	6
	.globl	strap_entry
strap_entry:
	TRAP_ENTRY s, isa_strap

/* ---------------------------------------------------------------------- */
/* long isa_run_in_mode(int mode, long (*fn)(long), long arg)
 * Runs fn(arg) in U (0) or S (1) mode with the current satp, using the
 * current stack; fn returns to lower_return, whose ecall (a7 = ISA_ECALL_RETURN)
 * the trap handler turns into a jump to isa_mode_resume in M-mode. */
	.globl	isa_run_in_mode
isa_run_in_mode:
	addi	sp, sp, -112
	sd	ra, 0(sp)
	sd	s0, 8(sp)
	sd	s1, 16(sp)
	sd	s2, 24(sp)
	sd	s3, 32(sp)
	sd	s4, 40(sp)
	sd	s5, 48(sp)
	sd	s6, 56(sp)
	sd	s7, 64(sp)
	sd	s8, 72(sp)
	sd	s9, 80(sp)
	sd	s10, 88(sp)
	sd	s11, 96(sp)
	la	t0, isa_saved_m_sp
	sd	sp, 0(t0)
	csrw	mepc, a1
	li	t0, (3 << 11)
	csrc	mstatus, t0
	andi	a0, a0, 3
	slli	t1, a0, 11
	csrs	mstatus, t1
	mv	a0, a2
	la	ra, isa_lower_return
	mret
	.globl	isa_lower_return
isa_lower_return:
	li	a7, 0x7e57
	ecall
1:	j	1b
	.globl	isa_mode_resume
isa_mode_resume:
	ld	sp, isa_saved_m_sp
	ld	ra, 0(sp)
	ld	s0, 8(sp)
	ld	s1, 16(sp)
	ld	s2, 24(sp)
	ld	s3, 32(sp)
	ld	s4, 40(sp)
	ld	s5, 48(sp)
	ld	s6, 56(sp)
	ld	s7, 64(sp)
	ld	s8, 72(sp)
	ld	s9, 80(sp)
	ld	s10, 88(sp)
	ld	s11, 96(sp)
	addi	sp, sp, 112
	ret

	.bss
	.align	3
	.globl	isa_saved_m_sp
isa_saved_m_sp:
	.dword	0
