/*
 * baremetal.c - the bare-metal machine of `vessel-vmm --bios` (see
 * include/vessel/vm/baremetal.h).  Same addresses as QEMU's virt board for
 * RAM, CLINT, UART and finisher, so one test binary runs on both.
 */
#include <errno.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/util.h"
#include "vessel/vm/baremetal.h"
#include "vessel/vm/elf.h"
#include "vessel/vm/finisher.h"
#include "vessel/vm/gdbstub.h"
#include "vessel/vm/htif.h"
#include "vessel/vm/uart.h"

#define BAREMETAL_RAM_BASE 0x80000000ULL
#define ELF_MAX_SIZE	   (512ULL << 20)

int vm_baremetal_run(const struct vm_baremetal_config *cfg, struct vm_machine *volatile *m_out,
		     struct vm_exit *exit, struct vs_err *err)
{
	vs_cleanup_free char *image = NULL;
	size_t size = 0;
	int r = vs_read_file(cfg->elf_path, &image, &size, ELF_MAX_SIZE, err);
	if (r < 0)
		return r;

	struct vm_machine_config mc = {
		.ram_base = BAREMETAL_RAM_BASE,
		.ram_size = cfg->ram_size,
		.ncpus = cfg->ncpus,
		.timeout_sec = cfg->timeout_sec,
	};
	struct vm_machine *m = vm_machine_new(&mc, err);
	if (!m)
		return -err->code;
	struct vm_uart *uart = NULL;
	struct vm_htif *htif = NULL;
	struct vm_gdb *gdb = NULL;
	struct vm_elf_info info;

	uart = vm_uart_new(m, VM_UART_BASE, cfg->in_fd, cfg->out_fd, err);
	if (!uart) {
		r = -err->code;
		goto out;
	}
	r = vm_finisher_add(m, VM_FINISHER_BASE, err);
	if (r < 0)
		goto out;
	r = vm_elf_load(vm_machine_bus(m), image, size, &info, err);
	if (r < 0) {
		vs_err_prefix(err, "%s", cfg->elf_path);
		goto out;
	}
	uint64_t tohost = 0, fromhost = 0;
	r = vm_elf_symbol(image, size, "tohost", &tohost, err);
	if (r == -EINVAL) {
		vs_err_prefix(err, "%s", cfg->elf_path);
		goto out;
	}
	if (r == 0) {
		if (vm_elf_symbol(image, size, "fromhost", &fromhost, err) == -EINVAL) {
			r = -EINVAL;
			vs_err_prefix(err, "%s", cfg->elf_path);
			goto out;
		}
		htif = vm_htif_new(m, tohost, fromhost, cfg->out_fd, err);
		if (!htif) {
			r = -err->code;
			vs_err_prefix(err, "%s", cfg->elf_path);
			goto out;
		}
	}
	vm_machine_set_boot(m, info.entry, 0, 0);
	if (cfg->gdb) {
		gdb = vm_gdb_new(m, cfg->gdb, cfg->gdb_wait, err);
		if (!gdb) {
			r = -err->code;
			goto out;
		}
	}
	if (m_out)
		*m_out = m;
	r = vm_machine_run(m, exit, err);
	if (m_out)
		*m_out = NULL;
	if (r == 0)
		vm_gdb_report_exit(gdb, exit);
out:
	vm_gdb_free(gdb);
	vm_uart_free(uart);
	vm_htif_free(htif);
	vm_machine_free(m);
	return r;
}
