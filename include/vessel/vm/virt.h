/*
 * virt.h - the QEMU-compatible riscv64 `virt` board: memory map, boot
 * protocol and the devices configured for one VM.
 *
 * Memory map (as QEMU's hw/riscv/virt.c):
 *   0x00001000  reset ROM (sets a0 = mhartid, a1 = device tree,
 *               a2 = fw_dynamic_info, jumps to the firmware at RAM start)
 *   0x00100000  SiFive test device (poweroff 0x5555, reboot 0x7777)
 *   0x00101000  goldfish RTC, PLIC source 11
 *   0x02000000  CLINT (msip, mtimecmp, mtime at 10 MHz)
 *   0x0c000000  PLIC, M and S contexts per hart
 *   0x10000000  ns16550a UART, PLIC source 10
 *   0x10001000  virtio-mmio slots, 0x1000 apart, PLIC sources 1..8
 *   0x80000000  RAM: OpenSBI fw_dynamic.bin, the kernel at +2 MiB,
 *               the initramfs after it, the device tree near the top
 */
#ifndef VESSEL_VM_VIRT_H
#define VESSEL_VM_VIRT_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/vm/machine.h"
#include "vessel/vm/virt_map.h"

/* OpenSBI's struct fw_dynamic_info (include/sbi/fw_dynamic.h), version 2. */
#define FW_DYNAMIC_INFO_MAGIC	0x4942534fULL /* "OSBI" */
#define FW_DYNAMIC_INFO_VERSION 2
#define FW_DYNAMIC_NEXT_MODE_S	1
struct fw_dynamic_info {
	uint64_t magic;
	uint64_t version;
	uint64_t next_addr;
	uint64_t next_mode;
	uint64_t options;
	uint64_t boot_hart; /* -1: any hart may boot (lottery) */
};

#define VIRT_MAX_DISKS 6

struct virt_disk_config {
	const char *path;
	const char *format; /* "qcow2", "raw" or NULL to probe */
	bool readonly;
};

enum virt_serial_kind {
	VIRT_SERIAL_STDIO = 0,
	VIRT_SERIAL_UNIX,
	VIRT_SERIAL_NONE,
};

struct virt_config {
	uint64_t ram_size;
	unsigned ncpus;
	double timeout_sec; /* 0: none */
	const char *bios;   /* fw_dynamic.bin or a bare-metal ELF; NULL: none */
	const char *kernel; /* Image, loaded at VIRT_KERNEL_BASE */
	const char *initrd; /* may be NULL */
	const char *append; /* kernel command line, may be NULL */
	struct virt_disk_config disks[VIRT_MAX_DISKS];
	unsigned ndisks;
	const char *tap; /* TAP interface name, NULL: no network */
	uint8_t mac[6];
	enum virt_serial_kind serial;
	const char *serial_path; /* VIRT_SERIAL_UNIX */
	bool console_hvc;	 /* virtio-console on stdio (hvc0) */
	bool rng;		 /* virtio-rng */
	const char *agent_path;	 /* guest agent: a virtio-console on this unix socket */
};

#define VIRT_DEFAULT_BIOS "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"

struct virt_board;

/* Create the machine, its devices and load firmware, kernel, initrd, tree. */
struct virt_board *virt_board_new(const struct virt_config *cfg, struct vs_err *err);
/* Run until the guest powers off, reboots, fails, times out or the user quits. */
int virt_board_run(struct virt_board *board, struct vm_exit *exit, struct vs_err *err);
void virt_board_free(struct virt_board *board);
/* The machine (for signal handlers: vm_machine_request_exit). */
struct vm_machine *virt_board_machine(struct virt_board *board);

/* Build the reset ROM (a few instructions, then the fw_dynamic_info). */
void virt_rom_build(uint8_t *rom, uint64_t start_addr, uint64_t fdt_addr,
		    const struct fw_dynamic_info *info);
/* Offset of fw_dynamic_info inside the ROM. */
#define VIRT_ROM_FW_INFO_OFFSET 0x28

#endif
