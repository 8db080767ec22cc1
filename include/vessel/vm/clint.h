/*
 * clint.h - the SiFive CLINT (core-local interruptor) as on QEMU's virt
 * board: msip (software interrupt) and mtimecmp per hart, and mtime.
 *
 * Layout from the base: msip[h] at 4*h, mtimecmp[h] at 0x4000 + 8*h,
 * mtime at 0xbff8.  mtime is the machine's 10 MHz clock and is read-only
 * here (writes are ignored).  The machine creates its CLINT itself.
 */
#ifndef VESSEL_VM_CLINT_H
#define VESSEL_VM_CLINT_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/core/err.h"

struct vm_machine;
struct vm_clint;

#define VM_CLINT_BASE 0x2000000ULL
#define VM_CLINT_SIZE 0x10000ULL

struct vm_clint *vm_clint_new(struct vm_machine *m, uint64_t base, struct vs_err *err);
void vm_clint_free(struct vm_clint *c);

/* Power-on state: no timer armed, no software interrupt. */
void vm_clint_reset(struct vm_clint *c);

/* Raise/lower MTIP of every hart for the current mtime. */
void vm_clint_update(struct vm_clint *c, uint64_t mtime);

/* Earliest mtimecmp over all harts (UINT64_MAX when none is armed). */
uint64_t vm_clint_next_deadline(const struct vm_clint *c);

/*
 * Snapshot section CLINT (docs/snapshot-format.md): msip and mtimecmp of
 * every hart.  Load checks the hart count and applies only when apply is
 * true; MTIP/MSIP are then re-driven from the loaded values.
 */
struct vm_state;
void vm_clint_save(const struct vm_clint *c, struct vm_state *s);
int vm_clint_load(struct vm_clint *c, struct vm_state *s, bool apply, struct vs_err *err);

#endif
