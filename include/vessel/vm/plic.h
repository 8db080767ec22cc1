/*
 * plic.h - the RISC-V Platform-Level Interrupt Controller of the `virt`
 * board (SiFive PLIC register layout, as QEMU's sifive_plic).
 *
 * Two contexts per hart: context 2h is hart h's M mode (drives MEIP),
 * context 2h+1 its S mode (drives SEIP).  Sources are level-triggered: a
 * device holds its line high until serviced; the PLIC latches a pending bit,
 * clears it on claim and re-latches on complete when the line is still high.
 */
#ifndef VESSEL_VM_PLIC_H
#define VESSEL_VM_PLIC_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/vm/bus.h"

#define PLIC_BASE	   0x0c000000ULL
#define PLIC_NUM_SOURCES   96 /* source 0 is "no interrupt"; riscv,ndev = 95 */
#define PLIC_MAX_HARTS	   8
#define PLIC_MAX_CONTEXTS  (2 * PLIC_MAX_HARTS)
#define PLIC_PRIORITY_MASK 7
#define PLIC_CONTEXT_BASE  0x200000
#define PLIC_CONTEXT_SIZE  0x1000
#define PLIC_ENABLE_BASE   0x2000
#define PLIC_ENABLE_STRIDE 0x80
#define PLIC_PENDING_BASE  0x1000
/* Size of the MMIO window for nharts harts. */
#define PLIC_SIZE(nharts) (PLIC_CONTEXT_BASE + 2 * (nharts)*PLIC_CONTEXT_SIZE)

#define PLIC_WORDS ((PLIC_NUM_SOURCES + 31) / 32)

/* Raises or lowers mip bits of one hart (vm_machine_set_hart_irq). */
typedef void (*plic_hart_irq_fn)(void *opaque, unsigned hart, uint64_t mip_bits, int level);

/* Plain register file: serialisable as is (the callback is re-attached). */
struct plic {
	unsigned nharts;
	uint32_t priority[PLIC_NUM_SOURCES];
	uint32_t level[PLIC_WORDS];   /* current line levels */
	uint32_t pending[PLIC_WORDS]; /* latched, not yet claimed */
	uint32_t claimed[PLIC_WORDS]; /* claimed, not yet completed */
	uint32_t enable[PLIC_MAX_CONTEXTS][PLIC_WORDS];
	uint32_t threshold[PLIC_MAX_CONTEXTS];
	uint8_t output[PLIC_MAX_CONTEXTS]; /* last level driven to each context */
	plic_hart_irq_fn set_hart_irq;
	void *opaque;
};

/* nharts 1..PLIC_MAX_HARTS; 0 or -EINVAL. */
int plic_init(struct plic *plic, unsigned nharts, plic_hart_irq_fn set_hart_irq, void *opaque,
	      struct vs_err *err);

/* Drive source irq (1..PLIC_NUM_SOURCES-1) to level; others are ignored. */
/* Back to the power-on register state (board reset); line levels are kept. */
void plic_reset(struct plic *plic);

void plic_set_irq(struct plic *plic, unsigned irq, int level);

/* An interrupt line of a device wired to source irq of this PLIC. */
struct vm_irq_line plic_irq_line(struct plic *plic, unsigned irq);

extern const struct vm_mmio_ops plic_mmio_ops;

/*
 * Snapshot section PLIC (docs/snapshot-format.md): the register file.  Load
 * checks the hart count and applies only when apply is true, then
 * re-evaluates the outputs (load the harts first: their MEIP/SEIP bits
 * already match the saved outputs).
 */
struct vm_state;
void plic_save(const struct plic *plic, struct vm_state *s);
int plic_load(struct plic *plic, struct vm_state *s, bool apply, struct vs_err *err);

#endif
