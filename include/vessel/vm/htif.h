/*
 * htif.h - the Berkeley host-target interface used by riscv-tests and
 * bare-metal test environments: two 64-bit mailboxes in guest RAM, `tohost`
 * and `fromhost`, found through the ELF symbols of the same names.
 *
 * tohost = (device << 56) | (command << 48) | payload:
 *  - device 0, command 0, odd payload: exit; payload >> 1 == 0 passes
 *    (VM_EXIT_POWEROFF), otherwise test number payload >> 1 failed
 *    (VM_EXIT_FAIL with that code);
 *  - device 0, command 0, even payload: syscall proxy; payload is the
 *    address of uint64 magic_mem[8] = { which, a0, a1, a2, ... }; only
 *    SYS_write (64) to fd 1 or 2 is served (written to out_fd), the result
 *    goes to magic_mem[0];
 *  - device 1, command 1: console putchar of the payload's low byte.
 * Every served request clears tohost and writes fromhost.
 */
#ifndef VESSEL_VM_HTIF_H
#define VESSEL_VM_HTIF_H

#include <stdint.h>

#include "vessel/core/err.h"

struct vm_machine;
struct vm_htif;

/* fromhost may be 0 (absent).  The mailbox is polled after every slice. */
struct vm_htif *vm_htif_new(struct vm_machine *m, uint64_t tohost, uint64_t fromhost, int out_fd,
			    struct vs_err *err);
void vm_htif_free(struct vm_htif *h);

/* Serve a pending request now (also called from the machine's tick). */
void vm_htif_poll(struct vm_htif *h);

#endif
