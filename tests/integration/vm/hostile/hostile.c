/*
 * hostile.c - a bare-metal RISC-V guest that attacks the virtio devices of
 * vessel-vmm (run with --bios hostile.elf --disk DISK): it drives the
 * virtio-mmio registers itself (virtio 1.2 §4.2) and feeds virtio-blk and
 * virtio-rng malformed descriptor chains — loops, addresses outside RAM or
 * in MMIO/ROM, lengths of 4 GiB, nested indirect tables, impossible ring
 * indexes — and checks that each one ends in DEVICE_NEEDS_RESET with a
 * configuration-change interrupt, that the device works again after a
 * reset, and that nothing was written.  One legitimate write of sector 2
 * (the host test checks it is the only change to the disk) and a read back
 * prove the device still serves I/O (disk requests complete asynchronously:
 * the guest waits for the used ring, as a driver does).  Ends with the SiFive test finisher:
 * 0x5555 when every check passed, else 0x3333 | failures << 16.
 */
#include <stdint.h>

#include "virtio_mmio.h"

#define ROM 0x1000UL
#define BLK SLOT(0)
#define RNG SLOT(1)

#define QSIZE 8

struct avail {
	uint16_t flags, idx, ring[QSIZE], used_event;
};

struct used {
	uint16_t flags, idx;
	struct {
		uint32_t id, len;
	} ring[QSIZE];
	uint16_t avail_event;
};

static struct desc descs[QSIZE] __attribute__((aligned(16)));
static struct desc table[4] __attribute__((aligned(16)));
static struct desc big[67] __attribute__((aligned(16)));
static struct avail avail __attribute__((aligned(4)));
static volatile struct used used __attribute__((aligned(4)));
static uint8_t hdr[16], data[1024], status;

static unsigned failures, checks;

static void putc_uart(char c)
{
	while (!(*(volatile uint8_t *)(UART + 5) & 0x20))
		;
	*(volatile uint8_t *)UART = (uint8_t)c;
}

static void puts_uart(const char *s)
{
	while (*s)
		putc_uart(*s++);
}

static void put_hex(uint64_t v)
{
	puts_uart("0x");
	for (int i = 60; i >= 0; i -= 4)
		putc_uart("0123456789abcdef"[(v >> i) & 15]);
}

static void check(int ok, const char *what)
{
	checks++;
	puts_uart(ok ? "ok   " : "FAIL ");
	puts_uart(what);
	puts_uart("\n");
	if (!ok)
		failures++;
}

static void *memset_(void *p, int c, unsigned long n)
{
	uint8_t *b = p;
	while (n--)
		*b++ = (uint8_t)c;
	return p;
}

/* Reset, negotiate VERSION_1 + INDIRECT_DESC, set up queue 0, DRIVER_OK. */
static int dev_init(unsigned long base)
{
	memset_(descs, 0, sizeof(descs));
	memset_(&avail, 0, sizeof(avail));
	memset_((void *)&used, 0, sizeof(used));
	mmio_w32(base + R_STATUS, 0);
	mmio_w32(base + R_STATUS, S_ACK | S_DRIVER);
	mmio_w32(base + R_DRV_SEL, 0);
	mmio_w32(base + R_DRV_FEAT, 1U << 28);
	mmio_w32(base + R_DRV_SEL, 1);
	mmio_w32(base + R_DRV_FEAT, 1);
	mmio_w32(base + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(mmio_r32(base + R_STATUS) & S_FEATURES_OK))
		return -1;
	mmio_w32(base + R_QSEL, 0);
	if (mmio_r32(base + R_QNUM_MAX) < QSIZE)
		return -1;
	mmio_w32(base + R_QNUM, QSIZE);
	mmio_w32(base + R_DESC, (uint32_t)(uintptr_t)descs);
	mmio_w32(base + R_DESC + 4, (uint32_t)((uintptr_t)descs >> 32));
	mmio_w32(base + R_DRIVER, (uint32_t)(uintptr_t)&avail);
	mmio_w32(base + R_DRIVER + 4, 0);
	mmio_w32(base + R_DEVICE, (uint32_t)(uintptr_t)&used);
	mmio_w32(base + R_DEVICE + 4, 0);
	mmio_w32(base + R_QREADY, 1);
	mmio_w32(base + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return mmio_r32(base + R_QREADY) == 1 ? 0 : -1;
}

static void set_desc(struct desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static void kick(unsigned long base, uint16_t head)
{
	avail.ring[avail.idx % QSIZE] = head;
	__sync_synchronize();
	avail.idx++;
	__sync_synchronize();
	mmio_w32(base + R_NOTIFY, 0);
}

static void blk_header(uint32_t type, uint64_t sector)
{
	memset_(hdr, 0, sizeof(hdr));
	*(uint32_t *)hdr = type;
	*(uint64_t *)(hdr + 8) = sector;
	status = 0xee;
}

/* A malformed request must end in NEEDS_RESET + config interrupt, unanswered. */
static void expect_reset(unsigned long base, const char *what)
{
	uint32_t st = mmio_r32(base + R_STATUS), isr = mmio_r32(base + R_ISR);
	int ok = (st & S_NEEDS_RESET) && (isr & 2) && used.idx == 0 && status == 0xee;
	if (!ok) {
		puts_uart("  status ");
		put_hex(st);
		puts_uart(" isr ");
		put_hex(isr);
		puts_uart(" used ");
		put_hex(used.idx);
		puts_uart("\n");
	}
	check(ok, what);
	mmio_w32(base + R_ACK, isr);
	check(dev_init(base) == 0 && !(mmio_r32(base + R_STATUS) & S_NEEDS_RESET),
	      "  ... and the device comes back after a reset");
}

static uint64_t mtime(void)
{
	return *(volatile uint64_t *)(CLINT + 0xbff8);
}

/* Wait (up to 10 s of mtime) until the device has used `idx` chains. */
static int wait_used(uint16_t idx)
{
	uint64_t end = mtime() + 10 * MTIME_HZ;
	while (used.idx != idx)
		if (mtime() > end)
			return 0;
	return 1;
}

/* header + data + status request on the blk queue; returns the status byte. */
static int blk_legit(uint32_t type, uint64_t sector, int write)
{
	blk_header(type, sector);
	uint16_t before = used.idx;
	set_desc(&descs[0], (uintptr_t)hdr, 16, F_NEXT, 1);
	set_desc(&descs[1], (uintptr_t)data, 512, F_NEXT | (write ? 0 : F_WRITE), 2);
	set_desc(&descs[2], (uintptr_t)&status, 1, F_WRITE, 0);
	kick(BLK, 0);
	/* Disk requests complete asynchronously (the disk's I/O thread). */
	if (!wait_used((uint16_t)(before + 1)))
		return -1;
	mmio_w32(BLK + R_ACK, mmio_r32(BLK + R_ISR));
	return status;
}

static const char pattern[] = "vessel hostile-guest test: the only legitimate write";

int main(void)
{
	puts_uart("hostile: start\n");
	check(mmio_r32(BLK + R_MAGIC) == 0x74726976 && mmio_r32(BLK + R_DEVICE_ID) == 2,
	      "slot 0 is virtio-blk");
	check(mmio_r32(RNG + R_DEVICE_ID) == 4, "slot 1 is virtio-rng");
	uint32_t rom_before = *(volatile uint32_t *)ROM;

	/* A legitimate write of sector 2, read back. */
	check(dev_init(BLK) == 0, "blk initialised");
	for (unsigned i = 0; i < 512; i++)
		data[i] = (uint8_t)pattern[i % (sizeof(pattern) - 1)];
	check(blk_legit(1, 2, 1) == 0, "legitimate write of sector 2");
	memset_(data, 0, sizeof(data));
	check(blk_legit(0, 2, 0) == 0 && data[0] == 'v' && data[511] == (uint8_t)pattern[511 % 52],
	      "read back sector 2");

	/* 0. A write of 65 x 4 MiB, more than one request may carry (256 MiB):
	 * answered with IOERR, nothing written. */
	blk_header(1, 4);
	set_desc(&big[0], (uintptr_t)hdr, 16, F_NEXT, 1);
	for (unsigned i = 1; i <= 65; i++)
		set_desc(&big[i], 0x80000000UL, 4U << 20, F_NEXT, (uint16_t)(i + 1));
	set_desc(&big[66], (uintptr_t)&status, 1, F_WRITE, 0);
	set_desc(&descs[0], (uintptr_t)big, sizeof(big), F_INDIRECT, 0);
	uint16_t before = used.idx;
	kick(BLK, 0);
	check(wait_used((uint16_t)(before + 1)) && status == 1, "272 MiB write -> IOERR");

	/* 1. A descriptor loop (2 -> 1 -> 2 ...). */
	check(dev_init(BLK) == 0, "blk re-initialised");
	blk_header(0, 0);
	set_desc(&descs[0], (uintptr_t)hdr, 16, F_NEXT, 1);
	set_desc(&descs[1], (uintptr_t)data, 512, F_NEXT | F_WRITE, 2);
	set_desc(&descs[2], (uintptr_t)&status, 1, F_NEXT | F_WRITE, 1);
	kick(BLK, 0);
	expect_reset(BLK, "descriptor loop -> NEEDS_RESET");

	/* 2. A write whose data lies beyond the end of RAM. */
	blk_header(1, 0);
	set_desc(&descs[0], (uintptr_t)hdr, 16, F_NEXT, 1);
	set_desc(&descs[1], 0x80000000UL + (64UL << 20) - 256, 512, F_NEXT, 2);
	set_desc(&descs[2], (uintptr_t)&status, 1, F_WRITE, 0);
	kick(BLK, 0);
	expect_reset(BLK, "data straddling the end of RAM -> NEEDS_RESET");

	/* 3. A 4 GiB - 1 length from the start of RAM (host would read past). */
	blk_header(1, 0);
	set_desc(&descs[0], (uintptr_t)hdr, 16, F_NEXT, 1);
	set_desc(&descs[1], 0x80000000UL, 0xffffffffU, F_NEXT, 2);
	set_desc(&descs[2], (uintptr_t)&status, 1, F_WRITE, 0);
	kick(BLK, 0);
	expect_reset(BLK, "huge length -> NEEDS_RESET");

	/* 4. Data "in" the UART's MMIO window. */
	blk_header(1, 0);
	set_desc(&descs[0], (uintptr_t)hdr, 16, F_NEXT, 1);
	set_desc(&descs[1], UART, 512, F_NEXT, 2);
	set_desc(&descs[2], (uintptr_t)&status, 1, F_WRITE, 0);
	kick(BLK, 0);
	expect_reset(BLK, "buffer in MMIO space -> NEEDS_RESET");

	/* 5. An address that wraps around 2^64. */
	blk_header(1, 0);
	set_desc(&descs[0], (uintptr_t)hdr, 16, F_NEXT, 1);
	set_desc(&descs[1], 0xfffffffffffffe00UL, 1024, F_NEXT, 2);
	set_desc(&descs[2], (uintptr_t)&status, 1, F_WRITE, 0);
	kick(BLK, 0);
	expect_reset(BLK, "wrapping address -> NEEDS_RESET");

	/* 6. Nested indirect table. */
	set_desc(&table[0], (uintptr_t)table, sizeof(table), F_INDIRECT, 0);
	set_desc(&descs[0], (uintptr_t)table, sizeof(table), F_INDIRECT, 0);
	kick(BLK, 0);
	expect_reset(BLK, "nested indirect descriptors -> NEEDS_RESET");

	/* 7. next index far outside the queue. */
	blk_header(0, 0);
	set_desc(&descs[0], (uintptr_t)hdr, 16, F_NEXT, 0xffff);
	kick(BLK, 0);
	expect_reset(BLK, "next index out of range -> NEEDS_RESET");

	/* 8. Available index jumping by far more than the queue size. */
	avail.idx = 0x8000;
	mmio_w32(BLK + R_NOTIFY, 0);
	expect_reset(BLK, "available index jump -> NEEDS_RESET");

	/* 9. rng asked to write into the reset ROM. */
	check(dev_init(RNG) == 0, "rng initialised");
	set_desc(&descs[0], ROM, 64, F_WRITE, 0);
	kick(RNG, 0);
	expect_reset(RNG, "rng buffer in ROM -> NEEDS_RESET");
	check(*(volatile uint32_t *)ROM == rom_before, "ROM unchanged");

	/* 10. rng still works: a legitimate buffer gets filled. */
	memset_(data, 0, 64);
	set_desc(&descs[0], (uintptr_t)data, 64, F_WRITE, 0);
	kick(RNG, 0);
	unsigned nonzero = 0;
	for (unsigned i = 0; i < 64; i++)
		nonzero += data[i] != 0;
	check(used.idx == 1 && used.ring[0].len == 64 && nonzero > 32, "rng fills a sane buffer");

	/* The disk still answers after all this. */
	check(dev_init(BLK) == 0, "blk re-initialised at the end");
	memset_(data, 0, sizeof(data));
	check(blk_legit(0, 2, 0) == 0 && data[0] == 'v', "sector 2 still reads back");

	if (failures) {
		puts_uart("hostile: FAILED checks: ");
		put_hex(failures);
		puts_uart("\n");
		mmio_w32(FINISHER, 0x3333 | failures << 16);
	} else {
		puts_uart("hostile: all checks passed, VMM alive\n");
		mmio_w32(FINISHER, 0x5555);
	}
	for (;;)
		;
}
