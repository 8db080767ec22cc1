/* irq_vec.S: vector tables for the vectored-mode tests in irq.c.
 * Slot i of a table is at base + 4*i (privileged spec §3.1.7).  Exceptions
 * (slot 0) go to the normal entries; the stubs for the interrupts under
 * test count their hits in vec_hits[i] and clear the source, touching only
 * the registers they save on the trap stack. */
	.text
	.option	push
	.option	norvc		/* each slot must be one 4-byte jump */
	.align	8
	.globl	svec_table
svec_table:
	j	strap_entry	/* 0: exceptions */
	j	svec_ssi	/* 1: supervisor software */
	j	strap_entry
	j	strap_entry
	j	strap_entry
	j	svec_sti	/* 5: supervisor timer */
	j	strap_entry
	j	strap_entry
	j	strap_entry
	j	strap_entry

	.align	8
	.globl	mvec_table
mvec_table:
	j	trap_entry	/* 0: exceptions */
	j	trap_entry
	j	trap_entry
	j	mvec_msi	/* 3: machine software */
	j	trap_entry
	j	mvec_sti	/* 5: supervisor timer, not delegated */
	j	trap_entry
	j	mvec_mti	/* 7: machine timer */
	j	trap_entry
	j	trap_entry
	j	trap_entry
	j	trap_entry
	.option	pop

.macro HIT p, slot
	csrrw	sp, \p\()scratch, sp
	addi	sp, sp, -16
	sd	t0, 0(sp)
	sd	t1, 8(sp)
	la	t0, vec_hits + 8 * \slot
	ld	t1, 0(t0)
	addi	t1, t1, 1
	sd	t1, 0(t0)
.endm
.macro DONE p
	ld	t0, 0(sp)
	ld	t1, 8(sp)
	addi	sp, sp, 16
	csrrw	sp, \p\()scratch, sp
	\p\()ret
.endm

svec_ssi:
	HIT	s, 1
	csrci	sip, 2
	DONE	s
svec_sti:
	HIT	s, 5
	li	t0, 32
	csrc	sie, t0		/* STIP is not writable from S: mask it */
	DONE	s
mvec_msi:
	HIT	m, 3
	li	t0, 0x2000000	/* CLINT msip[0] */
	sw	zero, 0(t0)
	DONE	m
mvec_sti:
	HIT	m, 5
	li	t0, 32
	csrc	mip, t0
	DONE	m
mvec_mti:
	HIT	m, 7
	li	t0, 0x2004000	/* CLINT mtimecmp[0] = max */
	li	t1, -1
	sd	t1, 0(t0)
	DONE	m

	.bss
	.align	3
	.globl	vec_hits
vec_hits:
	.zero	8 * 16
