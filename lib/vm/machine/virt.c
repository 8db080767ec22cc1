/*
 * virt.c - the QEMU-compatible riscv64 `virt` board (memory map in
 * include/vessel/vm/virt_map.h): builds the machine, wires every device to
 * the PLIC, loads the firmware, kernel, initramfs and device tree, and
 * writes the reset ROM that starts them the way QEMU does.
 *
 * Boot protocol (QEMU hw/riscv/boot.c, OpenSBI docs/firmware/fw_dynamic.md):
 * every hart starts at 0x1000 in M mode; the ROM sets a0 = mhartid,
 * a1 = device tree, a2 = &fw_dynamic_info and jumps to the firmware at RAM
 * start.  fw_dynamic_info tells OpenSBI to enter the kernel at 0x80200000 in
 * S mode; any hart may win the boot lottery (boot_hart = -1).
 *
 * RAM layout: firmware at 0x80000000, kernel at 0x80200000, the initramfs
 * at kernel + min(RAM / 2, 128 MiB) as QEMU (right after the kernel when
 * that does not fit), the device tree 2 MiB-aligned below the top of RAM
 * (below 3 GiB) so that OpenSBI can grow it in place.
 *
 * Serial port: the UART talks to pipes; the board forwards them to the
 * configured character backend (stdio with the Ctrl-A x escape, or a unix
 * socket), so escapes and sockets stay out of the UART model.  With
 * --console stdio the keyboard goes to virtio-console (hvc0) and the UART
 * keeps writing to the terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/vm/elf.h"
#include "vessel/vm/fdt.h"
#include "vessel/vm/finisher.h"
#include "vessel/vm/loader.h"
#include "vessel/vm/plic.h"
#include "vessel/vm/rtc.h"
#include "vessel/vm/uart.h"
#include "vessel/vm/virt.h"
#include "vessel/vm/virtio.h"

#define MiB	      (1ULL << 20)
#define FDT_ALIGN     (2 * MiB)
#define FDT_HEADROOM  (64 * 1024) /* OpenSBI adds reserved-memory nodes and more */
#define BIOS_MAX_SIZE (2 * MiB)
#define ELF_MAX_SIZE  (256 * MiB)

struct virt_board {
	struct virt_config cfg;
	struct vm_machine *m;
	uint64_t disk_close_wait_ns; /* virt_board_set_disk_close_wait (0: the default) */
	struct vm_host_poll poll;
	struct plic plic;
	struct goldfish_rtc rtc;
	bool rtc_ready;
	uint8_t *rom; /* VIRT_ROM_SIZE bytes, page-aligned like guest RAM */
	struct vm_uart *uart;
	struct vm_chardev *serial; /* the UART's backend; NULL for none */
	bool serial_is_stdio;
	struct vm_chardev *console_cd; /* stdio for virtio-console until handed over */
	int uart_in[2], uart_out[2];   /* pipes: backend -> UART, UART -> backend */
	struct virtio_mmio *virtio[VIRTIO_MMIO_SLOTS];
	unsigned nvirtio;
	struct virtio_mmio *balloon;  /* also in virtio[]; NULL without --balloon */
	struct virtio_mmio *keyboard; /* also in virtio[]; NULL without one */
	void *snap_ctx;		      /* lib/vm/snapshot (one flat allocation) */
	/* bios, kernel, initrd opened at creation (-1: not given or not
	 * openable, then by path): a reset reloads them under --sandbox too */
	int img_fd[3];
};

/* ---- glue between devices and the machine ------------------------------ */

static int board_watch(void *opaque, int fd, void (*cb)(void *), void *cb_opaque)
{
	return vm_machine_watch_fd(opaque, fd, cb, cb_opaque);
}

static void board_unwatch(void *opaque, int fd)
{
	vm_machine_unwatch_fd(opaque, fd);
}

static void board_hart_irq(void *opaque, unsigned hart, uint64_t bits, int level)
{
	vm_machine_set_hart_irq(opaque, hart, bits, level);
}

static void board_quit(void *opaque)
{
	vm_machine_request_exit(opaque, VM_EXIT_USER, 0);
}

/* ---- reset ROM ---------------------------------------------------------- */

void virt_rom_build(uint8_t *rom, uint64_t start_addr, uint64_t fdt_addr,
		    const struct fw_dynamic_info *info)
{
	/* As QEMU's riscv_setup_rom_reset_vec() for RV64. */
	static const uint32_t code[] = {
		0x00000297, /* 1: auipc t0, %pcrel_hi(fw_dyn) */
		0x02828613, /*    addi  a2, t0, %pcrel_lo(1b) (0x28) */
		0xf1402573, /*    csrr  a0, mhartid */
		0x0202b583, /*    ld    a1, 32(t0) */
		0x0182b283, /*    ld    t0, 24(t0) */
		0x00028067, /*    jr    t0 */
	};
	memset(rom, 0, 0x28 + sizeof(*info));
	memcpy(rom, code, sizeof(code));
	memcpy(rom + 0x18, &start_addr, 8);
	memcpy(rom + 0x20, &fdt_addr, 8);
	memcpy(rom + VIRT_ROM_FW_INFO_OFFSET, info, sizeof(*info));
}

/* ---- serial port -------------------------------------------------------- */

/* Forward what the UART wrote into its pipe: the run loop's watch of the
 * pipe, the UART itself when output starts after a quiet interval
 * (vm_uart_set_forward), and virtio-console on the same terminal before it
 * writes (before_write: the host sees both in the guest's order). */
static void serial_from_uart(void *opaque)
{
	struct virt_board *b = opaque;
	uint8_t buf[4096];
	ssize_t n;
	do {
		n = read(b->uart_out[0], buf, sizeof(buf));
		if (n > 0 && b->serial)
			b->serial->ops->write(b->serial, buf, (size_t)n);
	} while (n == (ssize_t)sizeof(buf));
}

static void serial_to_uart(void *opaque)
{
	struct virt_board *b = opaque;
	uint8_t buf[256];
	size_t n = b->serial->ops->read(b->serial, buf, sizeof(buf));
	if (n > 0 && write(b->uart_in[1], buf, n) < 0)
		vs_log(VS_LOG_DEBUG, "serial: input dropped (UART pipe full)");
}

static int pipe_nonblock(int fds[2], struct vs_err *err)
{
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return vs_syserrf(err, errno, "serial: pipe");
	return 0;
}

static int board_add_serial(struct virt_board *b, struct vm_chardev *shared_stdio,
			    struct vs_err *err)
{
	int r;
	if (b->cfg.serial == VIRT_SERIAL_STDIO) {
		b->serial = shared_stdio;
		b->serial_is_stdio = true;
	} else if (b->cfg.serial == VIRT_SERIAL_UNIX) {
		b->serial = vm_chardev_open_unix(b->cfg.serial_path, err);
		if (!b->serial)
			return -err->code;
		if (b->cfg.serial_log &&
		    (r = vm_chardev_unix_set_log(b->serial, b->cfg.serial_log, err)) < 0)
			return r;
	}
	if ((r = pipe_nonblock(b->uart_in, err)) < 0 || (r = pipe_nonblock(b->uart_out, err)) < 0)
		return r;
	b->uart = vm_uart_new(b->m, VIRT_UART_BASE, b->uart_in[0], b->uart_out[1], err);
	if (!b->uart)
		return -err->code;
	struct vm_irq_line line = plic_irq_line(&b->plic, VIRT_UART_IRQ);
	vm_uart_set_irq(b->uart, &line);
	vm_uart_set_forward(b->uart, serial_from_uart, b);
	r = vm_machine_watch_fd(b->m, b->uart_out[0], serial_from_uart, b);
	if (r < 0)
		return vs_errf(err, -r, "serial: too many watched fds");
	/* Keyboard input goes to hvc0 instead when the console is on stdio. */
	if (b->serial && !(b->serial_is_stdio && b->cfg.console_hvc))
		vm_chardev_attach(b->serial, &b->poll, serial_to_uart, b);
	return 0;
}

/* ---- virtio slots --------------------------------------------------------- */

/* After every pass of the run loop: refill the virtio devices' work budgets
 * and finish deferred queue work; keep the loop awake while some remains. */
static void board_service_virtio(void *opaque)
{
	struct virt_board *b = opaque;
	bool busy = false;
	for (unsigned i = 0; i < b->nvirtio; i++)
		busy |= virtio_mmio_service(b->virtio[i]);
	if (busy)
		vm_machine_wake(b->m);
}

static int board_add_virtio(struct virt_board *b, struct virtio_mmio *vdev, struct vs_err *err)
{
	if (!vdev)
		return -err->code;
	if (b->nvirtio >= VIRTIO_MMIO_SLOTS) {
		virtio_mmio_free(vdev);
		return vs_errf(err, ENOSPC, "too many virtio devices (%u slots)",
			       VIRTIO_MMIO_SLOTS);
	}
	unsigned slot = b->nvirtio;
	vdev->irq = plic_irq_line(&b->plic, VIRTIO_MMIO_IRQ_FIRST + slot);
	b->virtio[b->nvirtio++] = vdev;
	return vm_bus_add_mmio(vm_machine_bus(b->m), VIRTIO_MMIO_BASE + slot * VIRTIO_MMIO_SIZE,
			       VIRTIO_MMIO_SIZE, &virtio_mmio_ops, vdev, vdev->ops->name, err);
}

static int board_add_devices(struct virt_board *b, struct vs_err *err)
{
	const struct virt_config *c = &b->cfg;
	struct vm_bus *bus = vm_machine_bus(b->m);
	struct vm_chardev *stdio = NULL;
	int r;

	r = plic_init(&b->plic, c->ncpus, board_hart_irq, b->m, err);
	if (r < 0)
		return r;
	r = vm_bus_add_mmio(bus, PLIC_BASE, PLIC_SIZE(c->ncpus), &plic_mmio_ops, &b->plic, "plic",
			    err);
	if (r < 0)
		return r;
	r = vm_finisher_add(b->m, VIRT_TEST_BASE, err);
	if (r < 0)
		return r;
	r = goldfish_rtc_init(&b->rtc, plic_irq_line(&b->plic, VIRT_RTC_IRQ), &b->poll, err);
	if (r < 0)
		return r;
	b->rtc_ready = true;
	r = vm_bus_add_mmio(bus, VIRT_RTC_BASE, VIRT_RTC_SIZE, &goldfish_rtc_mmio_ops, &b->rtc,
			    "rtc", err);
	if (r < 0)
		return r;

	if (c->serial == VIRT_SERIAL_STDIO) {
		stdio = vm_chardev_open_stdio(err);
		if (!stdio)
			return -err->code;
		stdio->on_quit = board_quit;
		stdio->quit_opaque = b->m;
	}
	r = board_add_serial(b, stdio, err);
	if (r < 0) {
		if (!b->serial_is_stdio)
			vm_chardev_close(stdio);
		return r;
	}
	if (c->console_hvc) {
		/* Opened before the disks so that every error path restores the tty. */
		b->console_cd = vm_chardev_open_stdio(err);
		if (!b->console_cd)
			return -err->code;
		b->console_cd->on_quit = board_quit;
		b->console_cd->quit_opaque = b->m;
		if (b->serial_is_stdio) { /* the UART writes to the same terminal */
			b->console_cd->before_write = serial_from_uart;
			b->console_cd->before_write_opaque = b;
		}
	}

	for (unsigned i = 0; i < c->ndisks; i++) {
		char serial[24];
		struct vm_block_backend *be = vm_block_backend_open_image(
		    c->disks[i].path, c->disks[i].format, c->disks[i].readonly, err);
		if (!be)
			return -err->code;
		snprintf(serial, sizeof(serial), "vessel-disk%u", i);
		r = board_add_virtio(b, virtio_blk_new(bus, be, serial, &b->poll, err), err);
		if (r < 0)
			return r;
	}
	for (unsigned i = 0; i < c->nnets; i++) {
		struct vm_net_backend *be = vm_net_backend_open_tap(c->nets[i].tap, err);
		if (!be)
			return -err->code;
		r = board_add_virtio(b, virtio_net_new(bus, be, c->nets[i].mac, &b->poll, err),
				     err);
		if (r < 0)
			return r;
	}
	if (c->console_hvc) {
		struct vm_chardev *cd = b->console_cd;
		b->console_cd = NULL; /* owned by the device from here on, even on failure */
		r = board_add_virtio(b, virtio_console_new(bus, cd, &b->poll, err), err);
		if (r < 0)
			return r;
	}
	if (c->agent_path) {
		/* After the user's console, so that the guest sees it as hvc1. */
		mode_t umask_was = umask(0177); /* born 0600: no window for other users */
		struct vm_chardev *cd = vm_chardev_open_unix(c->agent_path, err);
		umask(umask_was);
		if (!cd)
			return vs_err_prefix(err, "--agent");
		if (chmod(c->agent_path, 0600) < 0) {
			r = vs_syserrf(err, errno, "--agent: chmod %s", c->agent_path);
			vm_chardev_close(cd);
			return r;
		}
		r = board_add_virtio(b, virtio_console_new(bus, cd, &b->poll, err), err);
		if (r < 0)
			return r;
	}
	if (c->rng) {
		r = board_add_virtio(b, virtio_rng_new(bus, err), err);
		if (r < 0)
			return r;
	}
	if (c->balloon) {
		r = board_add_virtio(b, virtio_balloon_new(bus, err), err);
		if (r < 0)
			return r;
		b->balloon = b->virtio[b->nvirtio - 1];
	}
	if (c->keyboard) {
		r = board_add_virtio(b, virtio_input_keyboard_new(bus, err), err);
		if (r < 0)
			return r;
		b->keyboard = b->virtio[b->nvirtio - 1];
	}
	r = vm_machine_add_tick(b->m, board_service_virtio, b);
	if (r < 0)
		return vs_errf(err, -r, "virtio: no room for the service tick");
	return 0;
}

/* ---- images ---------------------------------------------------------------- */

static int load_elf(struct virt_board *b, int fd, const char *path, uint64_t *entry,
		    struct vs_err *err)
{
	vs_cleanup_free char *image = NULL;
	size_t size = 0;
	struct vm_elf_info info;
	int r;
	if (fd < 0) {
		r = vs_read_file(path, &image, &size, ELF_MAX_SIZE, err);
	} else {
		struct stat st;
		if (fstat(fd, &st) < 0)
			return vs_syserrf(err, errno, "stat %s", path);
		if ((uint64_t)st.st_size > ELF_MAX_SIZE)
			return vs_errf(err, EFBIG, "read %s: larger than %zu bytes", path,
				       (size_t)ELF_MAX_SIZE);
		size = (size_t)st.st_size;
		image = malloc(size ? size : 1);
		if (!image)
			return vs_errf(err, ENOMEM, "read %s: out of memory", path);
		r = vs_pread_full(fd, image, size, 0);
		if (r < 0)
			return vs_syserrf(err, -r, "read %s", path);
	}
	if (r < 0)
		return r;
	r = vm_elf_load(vm_machine_bus(b->m), image, size, &info, err);
	if (r < 0)
		return vs_err_prefix(err, "%s", path);
	*entry = info.entry;
	return 0;
}

/* Load image i (0 bios, 1 kernel, 2 initrd) from its descriptor or path. */
static int load_image(struct virt_board *b, int i, const char *path, uint64_t gpa, uint64_t limit,
		      uint64_t *size, struct vs_err *err)
{
	struct vm_bus *bus = vm_machine_bus(b->m);
	return b->img_fd[i] >= 0 ? vm_load_fd(bus, b->img_fd[i], path, gpa, limit, size, err)
				 : vm_load_file(bus, path, gpa, limit, size, err);
}

static int board_load(struct virt_board *b, struct vs_err *err)
{
	const struct virt_config *c = &b->cfg;
	struct vm_bus *bus = vm_machine_bus(b->m);
	uint64_t ram_end = VIRT_RAM_BASE + c->ram_size;
	uint64_t entry = VIRT_RAM_BASE, kernel_addr = VIRT_KERNEL_BASE, size;
	uint64_t kernel_end = VIRT_RAM_BASE, initrd_start = 0, initrd_end = 0;
	int r;

	/* Device tree address first: everything else must stay below it. */
	uint64_t top = ram_end < 0xc0000000ULL ? ram_end : 0xc0000000ULL;
	if (top - VIRT_RAM_BASE < 2 * FDT_ALIGN)
		return vs_errf(err, EINVAL, "--mem: at least 4M of RAM needed");
	uint64_t fdt_addr = (top - FDT_HEADROOM) & ~(FDT_ALIGN - 1);

	if (c->bios) {
		r = b->img_fd[0] >= 0 ? vm_fd_is_elf(b->img_fd[0], c->bios, err)
				      : vm_file_is_elf(c->bios, err);
		if (r < 0)
			return r;
		if (r)
			r = load_elf(b, b->img_fd[0], c->bios, &entry, err);
		else
			r = load_image(b, 0, c->bios, VIRT_RAM_BASE,
				       c->kernel ? VIRT_KERNEL_BASE : fdt_addr, &size, err);
		if (r < 0)
			return r;
	} else {
		kernel_addr = VIRT_RAM_BASE; /* no firmware: the kernel runs in M mode */
	}
	if (c->kernel) {
		r = load_image(b, 1, c->kernel, kernel_addr, fdt_addr, &size, err);
		if (r < 0)
			return r;
		kernel_end = kernel_addr + vm_linux_image_size(bus, kernel_addr, size);
		if (!c->bios)
			entry = kernel_addr;
	}
	if (c->initrd) {
		if (!c->kernel)
			return vs_errf(err, EINVAL, "--initrd needs --kernel");
		uint64_t half = c->ram_size / 2 < 128 * MiB ? c->ram_size / 2 : 128 * MiB;
		uint64_t after = (kernel_end + FDT_ALIGN - 1) & ~(FDT_ALIGN - 1);
		initrd_start = kernel_addr + half > after ? kernel_addr + half : after;
		r = load_image(b, 2, c->initrd, initrd_start, fdt_addr, &size, err);
		if (r == -EFBIG && initrd_start != after) {
			initrd_start = after;
			r = load_image(b, 2, c->initrd, initrd_start, fdt_addr, &size, err);
		}
		if (r < 0)
			return r;
		initrd_end = initrd_start + size;
	}

	uint8_t seed[32];
	struct virt_fdt_params fp = {
		.ram_base = VIRT_RAM_BASE,
		.ram_size = c->ram_size,
		.ncpus = c->ncpus,
		.bootargs = c->append,
		.initrd_start = initrd_start,
		.initrd_end = initrd_end,
		.virtio_slots = (uint8_t)((1U << b->nvirtio) - 1),
		.rtc = true,
		.mmu_type = "riscv,sv48",
	};
	if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed)) {
		fp.rng_seed = seed;
		fp.rng_seed_len = sizeof(seed);
	}
	void *fdt = NULL;
	size_t fdt_size = 0;
	r = virt_fdt_build(&fp, &fdt, &fdt_size, err);
	if (r < 0)
		return r;
	if (fdt_size > top - fdt_addr)
		r = vs_errf(err, EFBIG, "device tree of %zu bytes does not fit", fdt_size);
	else if (vm_bus_dma_write(bus, fdt_addr, fdt, fdt_size) < 0)
		r = vs_errf(err, EFAULT, "device tree: 0x%llx is not RAM",
			    (unsigned long long)fdt_addr);
	free(fdt);
	if (r < 0)
		return r;

	struct fw_dynamic_info info = {
		.magic = FW_DYNAMIC_INFO_MAGIC,
		.version = FW_DYNAMIC_INFO_VERSION,
		.next_addr = c->kernel ? kernel_addr : 0,
		.next_mode = FW_DYNAMIC_NEXT_MODE_S,
		.options = 0,
		.boot_hart = UINT64_MAX,
	};
	virt_rom_build(b->rom, entry, fdt_addr, &info);
	vm_machine_set_boot(b->m, VIRT_ROM_BASE, fdt_addr, VIRT_ROM_BASE + VIRT_ROM_FW_INFO_OFFSET);
	return 0;
}

/* ---- lifecycle ---------------------------------------------------------------- */

struct virt_board *virt_board_new(const struct virt_config *cfg, struct vs_err *err)
{
	if (!cfg->bios && !cfg->kernel && !cfg->no_boot) {
		vs_errf(err, EINVAL, "nothing to boot: give --kernel and/or --bios");
		return NULL;
	}
	struct virt_board *b = calloc(1, sizeof(*b));
	if (!b) {
		vs_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	b->cfg = *cfg;
	b->uart_in[0] = b->uart_in[1] = b->uart_out[0] = b->uart_out[1] = -1;
	const char *images[3] = { cfg->bios, cfg->kernel, cfg->initrd };
	for (int i = 0; i < 3; i++) /* errors: reported by the load, by path */
		b->img_fd[i] = images[i] ? open(images[i], O_RDONLY | O_CLOEXEC) : -1;
	struct vm_machine_config mc = {
		.ram_base = VIRT_RAM_BASE,
		.ram_size = cfg->ram_size,
		.ncpus = cfg->ncpus,
		.timeout_sec = cfg->timeout_sec,
	};
	b->m = vm_machine_new(&mc, err);
	if (!b->m) {
		free(b);
		return NULL;
	}
	b->poll = (struct vm_host_poll){ board_watch, board_unwatch, b->m };
	/* zero pages of its own, touched only where written (a restore copies
	 * the snapshot's few non-zero bytes; the rest stays untouched) */
	b->rom =
	    mmap(NULL, VIRT_ROM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->rom == MAP_FAILED) {
		b->rom = NULL;
		vs_errf(err, ENOMEM, "out of memory");
		virt_board_free(b);
		return NULL;
	}
	int r = vm_bus_add_ram(vm_machine_bus(b->m), VIRT_ROM_BASE, VIRT_ROM_SIZE, b->rom, true,
			       "mrom", err);
	if (r == 0)
		r = board_add_devices(b, err);
	if (r == 0 && !cfg->no_boot)
		r = board_load(b, err);
	if (r < 0) {
		virt_board_free(b);
		return NULL;
	}
	return b;
}

int virt_board_run(struct virt_board *b, struct vm_exit *exit, struct vs_err *err)
{
	int r = vm_machine_run(b->m, exit, err);
	/* The guest may have written its last words in the final slice. */
	if (b->uart_out[0] >= 0) {
		uint8_t buf[4096];
		ssize_t n;
		while ((n = read(b->uart_out[0], buf, sizeof(buf))) > 0)
			if (b->serial)
				b->serial->ops->write(b->serial, buf, (size_t)n);
	}
	return r;
}

struct vm_machine *virt_board_machine(struct virt_board *b)
{
	return b->m;
}

const struct virt_config *virt_board_config(const struct virt_board *b)
{
	return &b->cfg;
}

int virt_board_reset(struct virt_board *b, struct vs_err *err)
{
	int r = vm_machine_reset(b->m, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < b->nvirtio; i++)
		virtio_mmio_reset(b->virtio[i]);
	vm_uart_reset(b->uart);
	plic_reset(&b->plic);
	memset(b->rom, 0, VIRT_ROM_SIZE);
	r = board_load(b, err);
	if (r < 0)
		vm_machine_request_exit(b->m, VM_EXIT_ERROR, 0); /* no half-loaded guest */
	return r;
}

int virt_board_request_shutdown(struct virt_board *b, struct vs_err *err)
{
	if (!b->keyboard)
		return vs_errf(err, ENODEV, "no keyboard to send Ctrl-Alt-Del to");
	int r = virtio_input_send_ctrl_alt_del(b->keyboard);
	if (r == -EAGAIN)
		return vs_errf(err, EAGAIN,
			       "the guest has no keyboard driver (yet): cannot send Ctrl-Alt-Del");
	if (r < 0)
		return vs_errf(err, -r, "a Ctrl-Alt-Del is still being delivered");
	return 0;
}

struct virtio_mmio *virt_board_balloon(struct virt_board *b)
{
	return b->balloon;
}

/* What virt_board_free keeps when a disk thread was abandoned (volatile:
 * the stores must happen, so that the memory stays reachable). */
static struct vm_machine *volatile kept_machine;
static uint8_t *volatile kept_rom;

void virt_board_set_disk_close_wait(struct virt_board *b, uint64_t ns)
{
	b->disk_close_wait_ns = ns;
}

void virt_board_free(struct virt_board *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < b->nvirtio; i++) { /* disks wind down in parallel */
		if (b->disk_close_wait_ns)
			b->virtio[i]->stop_wait_ns = b->disk_close_wait_ns;
		virtio_mmio_stop(b->virtio[i]);
	}
	for (unsigned i = 0; i < b->nvirtio; i++)
		virtio_mmio_free(b->virtio[i]);
	if (b->rtc_ready)
		goldfish_rtc_fini(&b->rtc);
	if (b->uart_out[0] >= 0)
		vm_machine_unwatch_fd(b->m, b->uart_out[0]);
	vm_uart_free(b->uart);
	vm_chardev_close(b->serial);
	vm_chardev_close(b->console_cd);
	for (unsigned i = 0; i < 3; i++)
		if (b->img_fd[i] >= 0)
			close(b->img_fd[i]);
	for (unsigned i = 0; i < 2; i++) {
		if (b->uart_in[i] >= 0)
			close(b->uart_in[i]);
		if (b->uart_out[i] >= 0)
			close(b->uart_out[i]);
	}
	if (vm_block_queue_any_abandoned()) {
		/* A disk thread abandoned at exit may still copy to or from guest
		 * RAM or the ROM until the process ends: keep both (reachable). */
		kept_machine = b->m;
		kept_rom = b->rom;
	} else {
		vm_machine_free(b->m);
		if (b->rom)
			munmap(b->rom, VIRT_ROM_SIZE);
	}
	free(b->snap_ctx);
	free(b);
}

void virt_board_parts(struct virt_board *b, struct virt_board_parts *out)
{
	/* Snapshots and migration save device state and touch the images: no
	 * disk request may still be in an I/O thread (block_queue.c). */
	for (unsigned i = 0; i < b->nvirtio; i++)
		virtio_blk_drain(b->virtio[i]);
	virt_board_parts_peek(b, out);
}

void virt_board_parts_peek(struct virt_board *b, struct virt_board_parts *out)
{
	*out = (struct virt_board_parts){
		.m = b->m,
		.cfg = &b->cfg,
		.plic = &b->plic,
		.rtc = &b->rtc,
		.uart = b->uart,
		.rom = b->rom,
		.virtio = b->virtio,
		.nvirtio = b->nvirtio,
		.snap_ctx = &b->snap_ctx,
	};
}
