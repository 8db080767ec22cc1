/*
 * finisher.c - SiFive test device (QEMU hw/misc/sifive_test semantics): the
 * low 16 bits of a write to offset 0 select the action, the high 16 bits are
 * the failure code.  Reads return 0.  No state: the opaque is the machine.
 */
#include "vessel/vm/finisher.h"
#include "vessel/vm/machine.h"

static int finisher_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	*val = 0;
	return 0;
}

static int finisher_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct vm_machine *m = opaque;
	if (off != 0)
		return 0;
	switch (val & 0xffff) {
	case 0x5555: vm_machine_request_exit(m, VM_EXIT_POWEROFF, 0); break;
	case 0x3333:
		vm_machine_request_exit(m, VM_EXIT_FAIL, (uint32_t)(val >> 16) & 0xffff);
		break;
	case 0x7777: vm_machine_request_exit(m, VM_EXIT_REBOOT, 0); break;
	default: break;
	}
	return 0;
}

static const struct vm_mmio_ops finisher_ops = { finisher_read, finisher_write };

int vm_finisher_add(struct vm_machine *m, uint64_t base, struct vs_err *err)
{
	return vm_bus_add_mmio(vm_machine_bus(m), base, VM_FINISHER_SIZE, &finisher_ops, m,
			       "finisher", err);
}
