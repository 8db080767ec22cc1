/* start.S - entry of the hostile-guest program: hart 0 gets a stack and
 * calls main(); other harts park in wfi. */
	.section .text.start
	.globl _start
_start:
	csrr	t0, mhartid
	bnez	t0, park
	la	sp, stack_top
	call	main
park:
	wfi
	j	park

	.globl	stack_top
	.bss
	.align	12
	.space	16384
stack_top:
