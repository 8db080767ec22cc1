/*
 * finisher.h - the SiFive test device ("sifive,test0", QEMU virt 0x100000):
 * a 32-bit write of 0x5555 powers off, 0x3333 | code << 16 reports failure
 * with code, 0x7777 asks for a reboot.  Other values are ignored.
 */
#ifndef VESSEL_VM_FINISHER_H
#define VESSEL_VM_FINISHER_H

#include <stdint.h>

#include "vessel/core/err.h"

struct vm_machine;

#define VM_FINISHER_BASE 0x100000ULL
#define VM_FINISHER_SIZE 0x1000ULL

/* Registers the device on the machine's bus; it lives as long as the machine. */
int vm_finisher_add(struct vm_machine *m, uint64_t base, struct vs_err *err);

#endif
