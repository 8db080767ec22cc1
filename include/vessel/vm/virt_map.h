/*
 * virt_map.h - addresses, interrupts and device-tree phandles of the
 * `virt` board (QEMU hw/riscv/virt.c memory map); see virt.h.
 */
#ifndef VESSEL_VM_VIRT_MAP_H
#define VESSEL_VM_VIRT_MAP_H

#define VIRT_ROM_BASE	   0x1000ULL
#define VIRT_ROM_SIZE	   0xf000ULL
#define VIRT_TEST_BASE	   0x100000ULL
#define VIRT_TEST_SIZE	   0x1000ULL
#define VIRT_RTC_BASE	   0x101000ULL
#define VIRT_RTC_SIZE	   0x1000ULL
#define VIRT_RTC_IRQ	   11
#define VIRT_CLINT_BASE	   0x2000000ULL
#define VIRT_CLINT_SIZE	   0x10000ULL
#define VIRT_UART_BASE	   0x10000000ULL
#define VIRT_UART_SIZE	   0x100ULL
#define VIRT_UART_IRQ	   10
#define VIRT_UART_CLOCK	   3686400
#define VIRT_RAM_BASE	   0x80000000ULL
#define VIRT_KERNEL_BASE   0x80200000ULL
#define VIRT_TEST_POWEROFF 0x5555
#define VIRT_TEST_REBOOT   0x7777

#define VIRT_RISCV_ISA "rv64imafdc_zicsr_zifencei"

/* Device-tree phandles. */
#define VIRT_PHANDLE_CPU(h)	 (1 + 2 * (h))
#define VIRT_PHANDLE_INTC(h)	 (2 + 2 * (h))
#define VIRT_PHANDLE_PLIC(ncpus) (1 + 2 * (ncpus))
#define VIRT_PHANDLE_TEST(ncpus) (2 + 2 * (ncpus))

#define VIRT_TIMEBASE_HZ 10000000 /* mtime: 10 MHz */

#endif
