/*
 * baremetal.h - `vessel-vmm --bios FILE.elf` without a kernel: a machine with
 * RAM at 0x80000000, the CLINT, an NS16550A UART at 0x10000000, the SiFive
 * test finisher at 0x100000 and, when the ELF defines `tohost`, the HTIF
 * mailbox.  Every hart starts at the ELF entry in M-mode with a0 = hart id,
 * a1 = 0.
 */
#ifndef VESSEL_VM_BAREMETAL_H
#define VESSEL_VM_BAREMETAL_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/vm/machine.h"

struct vm_baremetal_config {
	const char *elf_path;
	uint64_t ram_size;  /* bytes */
	unsigned ncpus;	    /* 1..VM_MAX_HARTS */
	double timeout_sec; /* 0 = none */
	int in_fd;	    /* UART input, -1 for none */
	int out_fd;	    /* UART and HTIF console output */
	const char *gdb;    /* GDB stub address (unix:PATH, tcp:PORT) or NULL */
	bool gdb_wait;	    /* halt until gdb continues */
};

/*
 * Build, load and run the machine.  Returns 0 with *exit filled (how the
 * guest ended), or -errno for a host-side problem (bad ELF, no memory).
 * *m_out, when not NULL, receives the running machine for signal handlers
 * (valid only while this call runs; may be NULL).
 */
int vm_baremetal_run(const struct vm_baremetal_config *cfg, struct vm_machine *volatile *m_out,
		     struct vm_exit *exit, struct vs_err *err);

#endif
