/*
 * Unit tests of the virt board's device tree (lib/vm/machine/fdt.c): the
 * tree is valid for libfdt, lists exactly the configured devices with the
 * QEMU virt addresses and interrupts, and carries the boot information.
 */
#include <errno.h>
#include <libfdt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vessel/vm/fdt.h"
#include "vessel/vm/virt_map.h"

static int count_compatible(const void *fdt, const char *compat)
{
	int n = 0;
	for (int off = fdt_node_offset_by_compatible(fdt, -1, compat); off >= 0;
	     off = fdt_node_offset_by_compatible(fdt, off, compat))
		n++;
	return n;
}

static uint64_t prop_u64(const void *fdt, int node, const char *name)
{
	int len = 0;
	const void *p = fdt_getprop(fdt, node, name, &len);
	assert_non_null(p);
	assert_int_equal(len, 8);
	return fdt64_ld(p); /* properties are only 4-byte aligned */
}

static void test_fdt_full(void **state)
{
	struct virt_fdt_params p = {
		.ram_base = 0x80000000,
		.ram_size = 256 << 20,
		.ncpus = 3,
		.bootargs = "console=ttyS0 root=/dev/vda",
		.initrd_start = 0x88000000,
		.initrd_end = 0x88100000,
		.virtio_slots = 0x07,
		.rtc = true,
		.mmu_type = "riscv,sv48",
	};
	void *fdt = NULL;
	size_t size = 0;
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(virt_fdt_build(&p, &fdt, &size, &err), 0);
	assert_int_equal(fdt_check_header(fdt), 0);
	assert_int_equal(fdt_totalsize(fdt), size);

	assert_int_equal(count_compatible(fdt, "virtio,mmio"), 3);
	assert_int_equal(count_compatible(fdt, "riscv,cpu-intc"), 3);
	assert_int_equal(count_compatible(fdt, "google,goldfish-rtc"), 1);
	assert_int_equal(count_compatible(fdt, "ns16550a"), 1);
	assert_int_equal(count_compatible(fdt, "riscv,clint0"), 1);
	assert_int_equal(count_compatible(fdt, "syscon-poweroff"), 1);

	int chosen = fdt_path_offset(fdt, "/chosen");
	assert_true(chosen >= 0);
	assert_string_equal(fdt_getprop(fdt, chosen, "bootargs", NULL), p.bootargs);
	assert_string_equal(fdt_getprop(fdt, chosen, "stdout-path", NULL), "/soc/serial@10000000");
	assert_int_equal(prop_u64(fdt, chosen, "linux,initrd-start"), 0x88000000);
	assert_int_equal(prop_u64(fdt, chosen, "linux,initrd-end"), 0x88100000);

	int plic = fdt_path_offset(fdt, "/soc/plic@c000000");
	assert_true(plic >= 0);
	int len = 0;
	const fdt32_t *ie = fdt_getprop(fdt, plic, "interrupts-extended", &len);
	assert_non_null(ie);
	assert_int_equal(len, 3 * 4 * 4);
	/* hart 2: M external (11) then S external (9) on its own intc. */
	assert_int_equal(fdt32_to_cpu(ie[8]), VIRT_PHANDLE_INTC(2));
	assert_int_equal(fdt32_to_cpu(ie[9]), 11);
	assert_int_equal(fdt32_to_cpu(ie[11]), 9);
	assert_int_equal(fdt_get_phandle(fdt, plic), VIRT_PHANDLE_PLIC(3));

	int vio = fdt_path_offset(fdt, "/soc/virtio_mmio@10003000");
	assert_true(vio >= 0);
	const fdt32_t *irq = fdt_getprop(fdt, vio, "interrupts", NULL);
	assert_int_equal(fdt32_to_cpu(*irq), 3);
	assert_true(fdt_path_offset(fdt, "/soc/virtio_mmio@10004000") < 0);

	int cpu2 = fdt_path_offset(fdt, "/cpus/cpu@2");
	assert_string_equal(fdt_getprop(fdt, cpu2, "riscv,isa", NULL), VIRT_RISCV_ISA);
	assert_string_equal(fdt_getprop(fdt, cpu2, "mmu-type", NULL), "riscv,sv48");
	const fdt32_t *tb =
	    fdt_getprop(fdt, fdt_path_offset(fdt, "/cpus"), "timebase-frequency", NULL);
	assert_int_equal(fdt32_to_cpu(*tb), 10000000);
	assert_true(fdt_path_offset(fdt, "/cpus/cpu-map/cluster0/core2") >= 0);

	int mem = fdt_path_offset(fdt, "/memory@80000000");
	const fdt32_t *reg = fdt_getprop(fdt, mem, "reg", &len);
	assert_int_equal(len, 16);
	assert_int_equal(fdt32_to_cpu(reg[3]), 256 << 20);
	free(fdt);
}

static void test_fdt_minimal(void **state)
{
	struct virt_fdt_params p = { .ram_base = 0x80000000, .ram_size = 64 << 20, .ncpus = 1 };
	void *fdt = NULL;
	size_t size = 0;
	struct vs_err err = VS_ERR_INIT;
	assert_int_equal(virt_fdt_build(&p, &fdt, &size, &err), 0);
	assert_int_equal(count_compatible(fdt, "virtio,mmio"), 0);
	assert_int_equal(count_compatible(fdt, "google,goldfish-rtc"), 0);
	int chosen = fdt_path_offset(fdt, "/chosen");
	assert_null(fdt_getprop(fdt, chosen, "bootargs", NULL));
	assert_null(fdt_getprop(fdt, chosen, "linux,initrd-start", NULL));
	free(fdt);
	p.ncpus = 0;
	assert_int_equal(virt_fdt_build(&p, &fdt, &size, &err), -EINVAL);
	p.ncpus = 9;
	assert_int_equal(virt_fdt_build(&p, &fdt, &size, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fdt_full),
		cmocka_unit_test(test_fdt_minimal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
