/*
 * fdt.c - the device tree of the `virt` board (Devicetree Specification
 * v0.3; bindings: riscv/cpus.yaml, sifive,plic-1.0.0, riscv,clint0,
 * ns16550a, virtio,mmio, google,goldfish-rtc, syscon-poweroff/reboot), in
 * the shape QEMU's hw/riscv/virt.c produces so that OpenSBI (generic
 * platform) and Linux probe the same drivers.
 *
 * Built with libfdt's sequential-write API: nodes appear in the order
 * written (virtio slots in ascending address order, so the first --disk is
 * vda).  Phandles: hart h's interrupt controller is h + 1, then the PLIC and
 * the test device.  The result is packed; the board leaves room after it in
 * guest RAM for OpenSBI to add its own nodes.
 */
#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/core/cleanup.h"
#include "vessel/vm/fdt.h"
#include "vessel/vm/plic.h"
#include "vessel/vm/virt_map.h"
#include "vessel/vm/virtio.h"

#define FDT_BUF_SIZE (64 * 1024)

#define IRQ_M_SOFT  3
#define IRQ_M_TIMER 7
#define IRQ_S_EXT   9
#define IRQ_M_EXT   11

/* Append a reg-style pair (2 address cells, 2 size cells). */
static int prop_reg(void *fdt, uint64_t addr, uint64_t size)
{
	fdt32_t cells[4] = { cpu_to_fdt32(addr >> 32), cpu_to_fdt32((uint32_t)addr),
			     cpu_to_fdt32(size >> 32), cpu_to_fdt32((uint32_t)size) };
	return fdt_property(fdt, "reg", cells, sizeof(cells));
}

static int prop_cells(void *fdt, const char *name, const uint32_t *v, unsigned n)
{
	fdt32_t cells[4 * PLIC_MAX_HARTS];
	if (n > VS_ARRAY_SIZE(cells))
		return -FDT_ERR_NOSPACE;
	for (unsigned i = 0; i < n; i++)
		cells[i] = cpu_to_fdt32(v[i]);
	return fdt_property(fdt, name, cells, n * sizeof(fdt32_t));
}

/* A "compatible"-style string list: strings separated by '\0'. */
static int prop_strings(void *fdt, const char *name, const char *list, size_t len)
{
	return fdt_property(fdt, name, list, (int)len);
}

#define TRY(expr)                  \
	do {                       \
		int _r = (expr);   \
		if (_r < 0)        \
			return _r; \
	} while (0)

/* Open the node kind@addr. */
static int begin_node_at(void *fdt, const char *kind, uint64_t addr)
{
	char name[48];
	snprintf(name, sizeof(name), "%s@%llx", kind, (unsigned long long)addr);
	return fdt_begin_node(fdt, name);
}

/* Open kind@base for a device with registers at [base, base+size) and one
 * interrupt on the PLIC; the caller adds the rest and ends the node. */
static int begin_plic_device(void *fdt, const struct virt_fdt_params *p, const char *kind,
			     uint64_t base, uint64_t size, unsigned irq)
{
	TRY(begin_node_at(fdt, kind, base));
	TRY(fdt_property_u32(fdt, "interrupts", irq));
	TRY(fdt_property_u32(fdt, "interrupt-parent", VIRT_PHANDLE_PLIC(p->ncpus)));
	return prop_reg(fdt, base, size);
}

/* QEMU's syscon nodes: OpenSBI and Linux power off and reboot through them,
 * writing value to the test device. */
static int syscon_node(void *fdt, const struct virt_fdt_params *p, const char *name, uint32_t value)
{
	char compat[32];
	snprintf(compat, sizeof(compat), "syscon-%s", name);
	TRY(fdt_begin_node(fdt, name));
	TRY(fdt_property_u32(fdt, "value", value));
	TRY(fdt_property_u32(fdt, "offset", 0));
	TRY(fdt_property_u32(fdt, "regmap", VIRT_PHANDLE_TEST(p->ncpus)));
	TRY(fdt_property_string(fdt, "compatible", compat));
	return fdt_end_node(fdt);
}

static int fdt_cpus(void *fdt, const struct virt_fdt_params *p)
{
	char name[32];
	TRY(fdt_begin_node(fdt, "cpus"));
	TRY(fdt_property_u32(fdt, "#address-cells", 1));
	TRY(fdt_property_u32(fdt, "#size-cells", 0));
	TRY(fdt_property_u32(fdt, "timebase-frequency", (uint32_t)VIRT_TIMEBASE_HZ));
	for (unsigned h = 0; h < p->ncpus; h++) {
		snprintf(name, sizeof(name), "cpu@%u", h);
		TRY(fdt_begin_node(fdt, name));
		TRY(fdt_property_u32(fdt, "phandle", VIRT_PHANDLE_CPU(h)));
		TRY(fdt_property_string(fdt, "device_type", "cpu"));
		TRY(fdt_property_u32(fdt, "reg", h));
		TRY(fdt_property_string(fdt, "status", "okay"));
		TRY(fdt_property_string(fdt, "compatible", "riscv"));
		TRY(fdt_property_string(fdt, "riscv,isa", VIRT_RISCV_ISA));
		TRY(fdt_property_string(fdt, "mmu-type", p->mmu_type ? p->mmu_type : "riscv,sv39"));
		TRY(fdt_begin_node(fdt, "interrupt-controller"));
		TRY(fdt_property_u32(fdt, "#interrupt-cells", 1));
		TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
		TRY(fdt_property_string(fdt, "compatible", "riscv,cpu-intc"));
		TRY(fdt_property_u32(fdt, "phandle", VIRT_PHANDLE_INTC(h)));
		TRY(fdt_end_node(fdt));
		TRY(fdt_end_node(fdt));
	}
	TRY(fdt_begin_node(fdt, "cpu-map"));
	TRY(fdt_begin_node(fdt, "cluster0"));
	for (unsigned h = 0; h < p->ncpus; h++) {
		snprintf(name, sizeof(name), "core%u", h);
		TRY(fdt_begin_node(fdt, name));
		TRY(fdt_property_u32(fdt, "cpu", VIRT_PHANDLE_CPU(h)));
		TRY(fdt_end_node(fdt));
	}
	TRY(fdt_end_node(fdt));
	TRY(fdt_end_node(fdt));
	return fdt_end_node(fdt);
}

static int fdt_soc(void *fdt, const struct virt_fdt_params *p)
{
	static const char plic_compat[] = "sifive,plic-1.0.0\0riscv,plic0";
	static const char clint_compat[] = "sifive,clint0\0riscv,clint0";
	static const char test_compat[] = "sifive,test1\0sifive,test0\0syscon";
	uint32_t cells[4 * PLIC_MAX_HARTS];

	TRY(fdt_begin_node(fdt, "soc"));
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));
	TRY(fdt_property_string(fdt, "compatible", "simple-bus"));
	TRY(fdt_property(fdt, "ranges", NULL, 0));

	if (p->rtc) {
		TRY(begin_plic_device(fdt, p, "rtc", VIRT_RTC_BASE, VIRT_RTC_SIZE, VIRT_RTC_IRQ));
		TRY(fdt_property_string(fdt, "compatible", "google,goldfish-rtc"));
		TRY(fdt_end_node(fdt));
	}

	TRY(begin_plic_device(fdt, p, "serial", VIRT_UART_BASE, VIRT_UART_SIZE, VIRT_UART_IRQ));
	TRY(fdt_property_u32(fdt, "clock-frequency", VIRT_UART_CLOCK));
	TRY(fdt_property_string(fdt, "compatible", "ns16550a"));
	TRY(fdt_end_node(fdt));

	TRY(begin_node_at(fdt, "test", VIRT_TEST_BASE));
	TRY(fdt_property_u32(fdt, "phandle", VIRT_PHANDLE_TEST(p->ncpus)));
	TRY(prop_reg(fdt, VIRT_TEST_BASE, VIRT_TEST_SIZE));
	TRY(prop_strings(fdt, "compatible", test_compat, sizeof(test_compat)));
	TRY(fdt_end_node(fdt));

	for (unsigned i = 0; i < VIRTIO_MMIO_SLOTS; i++) {
		if (!(p->virtio_slots & (1U << i)))
			continue;
		uint64_t base = VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE;
		TRY(begin_plic_device(fdt, p, "virtio_mmio", base, VIRTIO_MMIO_SIZE,
				      VIRTIO_MMIO_IRQ_FIRST + i));
		TRY(fdt_property_string(fdt, "compatible", "virtio,mmio"));
		TRY(fdt_end_node(fdt));
	}

	TRY(begin_node_at(fdt, "plic", PLIC_BASE));
	TRY(fdt_property_u32(fdt, "phandle", VIRT_PHANDLE_PLIC(p->ncpus)));
	TRY(fdt_property_u32(fdt, "riscv,ndev", PLIC_NUM_SOURCES - 1));
	TRY(prop_reg(fdt, PLIC_BASE, PLIC_SIZE(p->ncpus)));
	for (unsigned h = 0; h < p->ncpus; h++) {
		cells[4 * h + 0] = VIRT_PHANDLE_INTC(h);
		cells[4 * h + 1] = IRQ_M_EXT;
		cells[4 * h + 2] = VIRT_PHANDLE_INTC(h);
		cells[4 * h + 3] = IRQ_S_EXT;
	}
	TRY(prop_cells(fdt, "interrupts-extended", cells, 4 * p->ncpus));
	TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
	TRY(prop_strings(fdt, "compatible", plic_compat, sizeof(plic_compat)));
	TRY(fdt_property_u32(fdt, "#address-cells", 0));
	TRY(fdt_property_u32(fdt, "#interrupt-cells", 1));
	TRY(fdt_end_node(fdt));

	TRY(begin_node_at(fdt, "clint", VIRT_CLINT_BASE));
	for (unsigned h = 0; h < p->ncpus; h++) {
		cells[4 * h + 0] = VIRT_PHANDLE_INTC(h);
		cells[4 * h + 1] = IRQ_M_SOFT;
		cells[4 * h + 2] = VIRT_PHANDLE_INTC(h);
		cells[4 * h + 3] = IRQ_M_TIMER;
	}
	TRY(prop_cells(fdt, "interrupts-extended", cells, 4 * p->ncpus));
	TRY(prop_reg(fdt, VIRT_CLINT_BASE, VIRT_CLINT_SIZE));
	TRY(prop_strings(fdt, "compatible", clint_compat, sizeof(clint_compat)));
	TRY(fdt_end_node(fdt));

	return fdt_end_node(fdt);
}

static int fdt_write(void *fdt, const struct virt_fdt_params *p)
{
	char name[48];
	TRY(fdt_create(fdt, FDT_BUF_SIZE));
	TRY(fdt_add_reservemap_entry(fdt, 0, 0));
	TRY(fdt_finish_reservemap(fdt));
	TRY(fdt_begin_node(fdt, ""));
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));
	TRY(fdt_property_string(fdt, "compatible", "riscv-virtio"));
	TRY(fdt_property_string(fdt, "model", "riscv-virtio,qemu"));

	TRY(syscon_node(fdt, p, "poweroff", VIRT_TEST_POWEROFF));
	TRY(syscon_node(fdt, p, "reboot", VIRT_TEST_REBOOT));

	TRY(fdt_begin_node(fdt, "chosen"));
	snprintf(name, sizeof(name), "/soc/serial@%llx", (unsigned long long)VIRT_UART_BASE);
	TRY(fdt_property_string(fdt, "stdout-path", name));
	if (p->bootargs)
		TRY(fdt_property_string(fdt, "bootargs", p->bootargs));
	if (p->initrd_end > p->initrd_start) {
		TRY(fdt_property_u64(fdt, "linux,initrd-start", p->initrd_start));
		TRY(fdt_property_u64(fdt, "linux,initrd-end", p->initrd_end));
	}
	if (p->rng_seed && p->rng_seed_len)
		TRY(fdt_property(fdt, "rng-seed", p->rng_seed, (int)p->rng_seed_len));
	TRY(fdt_end_node(fdt));

	TRY(begin_node_at(fdt, "memory", p->ram_base));
	TRY(fdt_property_string(fdt, "device_type", "memory"));
	TRY(prop_reg(fdt, p->ram_base, p->ram_size));
	TRY(fdt_end_node(fdt));

	TRY(fdt_cpus(fdt, p));
	TRY(fdt_soc(fdt, p));
	TRY(fdt_end_node(fdt));
	TRY(fdt_finish(fdt));
	return fdt_pack(fdt);
}

int virt_fdt_build(const struct virt_fdt_params *p, void **blob, size_t *size, struct vs_err *err)
{
	if (p->ncpus == 0 || p->ncpus > PLIC_MAX_HARTS)
		return vs_errf(err, EINVAL, "device tree: %u harts (1..%u)", p->ncpus,
			       PLIC_MAX_HARTS);
	void *fdt = calloc(1, FDT_BUF_SIZE);
	if (!fdt)
		return vs_errf(err, ENOMEM, "device tree: out of memory");
	int r = fdt_write(fdt, p);
	if (r < 0) {
		free(fdt);
		return vs_errf(err, EINVAL, "device tree: %s", fdt_strerror(r));
	}
	*blob = fdt;
	*size = fdt_totalsize(fdt);
	return 0;
}
