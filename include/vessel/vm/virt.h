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
#define VIRT_MAX_NETS  4

struct virt_net_config {
	const char *tap; /* TAP interface name */
	uint8_t mac[6];
};

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
	struct virt_net_config nets[VIRT_MAX_NETS]; /* virtio-net devices, in this order */
	unsigned nnets;
	enum virt_serial_kind serial;
	const char *serial_path; /* VIRT_SERIAL_UNIX */
	const char *serial_log;	 /* VIRT_SERIAL_UNIX: also append the output here; may be NULL */
	bool console_hvc;	 /* virtio-console on stdio (hvc0) */
	bool rng;		 /* virtio-rng */
	bool no_boot;		 /* restore: build the devices, load no images */
	bool balloon;		 /* virtio-balloon (live memory resize, statistics) */
	bool keyboard;		 /* virtio-input keyboard (Ctrl-Alt-Del shutdown requests) */
	const char *agent_path;	 /* guest agent: a virtio-console on this unix socket */
};

#define VIRT_DEFAULT_BIOS "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"

struct virt_board;

/* Create the machine, its devices and load firmware, kernel, initrd, tree. */
struct virt_board *virt_board_new(const struct virt_config *cfg, struct vs_err *err);
/* Run until the guest powers off, reboots, fails, times out or the user quits. */
int virt_board_run(struct virt_board *board, struct vm_exit *exit, struct vs_err *err);
void virt_board_free(struct virt_board *board);

/*
 * How long virt_board_free waits for each disk's I/O thread to end and close
 * (flush) its image before it exits without it, leaving the image as a crash
 * would (leaked clusters at worst).  By default a short wait (virtio-blk's
 * BLK_STOP_WAIT_NS, 30 ms), so that a forced exit - a signal, --timeout, the
 * API's poweroff - ends the VMM at once whatever the guest does; after the
 * guest's own shutdown (its filesystems synced) main asks for a long one, so
 * a host slowed by load still gets a clean image.
 */
void virt_board_set_disk_close_wait(struct virt_board *board, uint64_t ns);
/* The machine (for signal handlers: vm_machine_request_exit). */
struct vm_machine *virt_board_machine(struct virt_board *board);

/*
 * The parts of a board that snapshots serialise (lib/vm/snapshot/virt.c);
 * pointers stay owned by the board.
 */
struct plic;
struct goldfish_rtc;
struct vm_uart;
struct virtio_mmio;
struct virt_board_parts {
	struct vm_machine *m;
	const struct virt_config *cfg;
	struct plic *plic;
	struct goldfish_rtc *rtc;
	struct vm_uart *uart;
	uint8_t *rom; /* VIRT_ROM_SIZE bytes */
	struct virtio_mmio *const *virtio;
	unsigned nvirtio;
	void **snap_ctx; /* lib/vm/snapshot's memory of the board (freed with it) */
};
/* Also drains the disks (virtio_blk_drain): call it at a safe point. */
void virt_board_parts(struct virt_board *board, struct virt_board_parts *out);
/* The parts only, touching no device: safe from any thread (e.g. the
 * migration thread between safe points) for the fields that never change. */
void virt_board_parts_peek(struct virt_board *board, struct virt_board_parts *out);
/* The configuration the board was built from. */
const struct virt_config *virt_board_config(const struct virt_board *board);

/*
 * Hard reset at a safe point (PUT /actions "reset"): every device and hart
 * back to power-on state, RAM cleared, firmware/kernel/initrd/device tree
 * loaded again; the guest boots anew.  Host backends (disks, TAP) stay open.
 */
int virt_board_reset(struct virt_board *board, struct vs_err *err);

/*
 * Ask the guest to shut down (PUT /actions "shutdown"): types Ctrl-Alt-Del
 * on the virtio-input keyboard.  The guest's kernel passes it to init (with
 * kernel.ctrl-alt-del = 0, as the vessel guest's /init sets it), which powers
 * off cleanly.  -ENODEV without a keyboard, -EAGAIN before its driver is up.
 * Call at a safe point.
 */
int virt_board_request_shutdown(struct virt_board *board, struct vs_err *err);

/* The virtio-balloon transport (include/vessel/vm/virtio.h), or NULL. */
struct virtio_mmio;
struct virtio_mmio *virt_board_balloon(struct virt_board *board);

/* Build the reset ROM (a few instructions, then the fw_dynamic_info). */
void virt_rom_build(uint8_t *rom, uint64_t start_addr, uint64_t fdt_addr,
		    const struct fw_dynamic_info *info);
/* Offset of fw_dynamic_info inside the ROM. */
#define VIRT_ROM_FW_INFO_OFFSET 0x28

#endif
