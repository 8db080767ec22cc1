/*
 * stall.c - a bare-metal guest that puts vessel-vmm's virtio-blk (slot 0)
 * into the slowest work we can build, for the responsiveness test
 * (test_respond.py): write-zeroes over the whole disk (2 GiB per range, as
 * many ranges as the disk has), then NWRITES writes of 256 MiB each (64
 * segments over the same 4 MiB of RAM, the largest request virtio-blk
 * takes) and a flush queued behind them.  On a qcow2 with 512-byte clusters
 * whose first 64 MiB hold data, that is minutes of work.  The guest says so on the UART
 * ("stall: requests in flight") and then waits for the answers: busy,
 * polling the used ring, or (built with -DIDLE) in WFI with no interrupt
 * enabled, so that the VMM's harts are idle and its loop sleeps.  Either
 * way it never finishes on its own: the VMM has to stop it (--timeout,
 * SIGTERM, Ctrl-A x) and must do so at once.
 *
 * Built with -DHAMMER it leaves the disk alone and floods the devices whose
 * work runs on the VMM's loop thread: virtio-rng and virtio-console (run
 * with --console stdio) get full rings of queue-long chains of 16 MiB
 * buffers, refilled and notified again and again, forever.
 */
#include <stdint.h>

#include "virtio_mmio.h"

#define BLK SLOT(0)

#define QSIZE 16

#define T_OUT	       1
#define T_FLUSH	       4
#define T_WRITE_ZEROES 13

#define SEG_BYTES (4UL << 20)
#define NSEG	  64
#define NWRITES	  8
#define NREQ	  (NWRITES + 2)

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

struct range {
	uint64_t sector;
	uint32_t num_sectors, flags;
};

#ifndef HAMMER
static struct desc descs[QSIZE] __attribute__((aligned(16)));
static struct desc table[NSEG] __attribute__((aligned(16)));
static struct desc tables[NWRITES][NSEG + 2] __attribute__((aligned(16)));
static struct avail avail __attribute__((aligned(4)));
static volatile struct used used __attribute__((aligned(4)));
static uint8_t hdr[NREQ][16], status[NREQ];
static struct range ranges[16];
static uint8_t data[SEG_BYTES] __attribute__((aligned(4096)));

#endif

static void puts_uart(const char *s)
{
	for (; *s; s++) {
		while (!(*(volatile uint8_t *)(UART + 5) & 0x20))
			;
		*(volatile uint8_t *)UART = (uint8_t)*s;
	}
}

static void fail(const char *why)
{
	puts_uart("stall: FAIL ");
	puts_uart(why);
	puts_uart("\n");
	mmio_w32(0x100000UL, 0x3333);
	for (;;)
		;
}

static void set_desc(struct desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

#ifndef HAMMER
static void set_hdr(unsigned i, uint32_t type, uint64_t sector)
{
	*(uint32_t *)hdr[i] = type;
	*(uint64_t *)(hdr[i] + 8) = sector;
	status[i] = 0xee;
}
#endif

#ifdef HAMMER
#define HQ 256
struct hring {
	struct desc d[HQ];
	struct {
		uint16_t flags, idx, ring[HQ], used_event;
	} avail;
	uint8_t pad[4096];
	struct {
		uint16_t flags, idx;
		struct {
			uint32_t id, len;
		} ring[HQ];
		uint16_t avail_event;
	} used;
};
static struct hring hrings[2] __attribute__((aligned(4096)));

static unsigned long find_slot(uint32_t id)
{
	for (unsigned i = 0; i < 8; i++)
		if (mmio_r32(0x10001000UL + 0x1000UL * i + R_DEVICE_ID) == id)
			return 0x10001000UL + 0x1000UL * i;
	fail("device missing");
	return 0;
}

static void hammer_setup(unsigned long base, unsigned q, struct hring *r, int writable)
{
	/* Queue-long chains (4 buffers of 16 MiB each, over the same RAM). */
	for (unsigned i = 0; i < HQ; i++)
		set_desc(&r->d[i], 0x80800000UL + (i % 3) * (16UL << 20), 16U << 20,
			 (uint16_t)((i % 4 == 3 ? 0 : F_NEXT) | (writable ? F_WRITE : 0)),
			 (uint16_t)(i + 1));
	mmio_w32(base + R_QSEL, q);
	mmio_w32(base + R_QNUM, HQ);
	mmio_w32(base + R_DESC, (uint32_t)(uintptr_t)r->d);
	mmio_w32(base + R_DRIVER, (uint32_t)(uintptr_t)&r->avail);
	mmio_w32(base + R_DEVICE, (uint32_t)(uintptr_t)&r->used);
	mmio_w32(base + R_QREADY, 1);
}

static void hammer_init(unsigned long base)
{
	mmio_w32(base + R_STATUS, 0);
	mmio_w32(base + R_STATUS, 3);
	mmio_w32(base + R_DRV_SEL, 1);
	mmio_w32(base + R_DRV_FEAT, 1);
	mmio_w32(base + R_STATUS, 3 | 8);
}

int main(void)
{
	unsigned long rng = find_slot(4), con = find_slot(3);
	hammer_init(rng);
	hammer_setup(rng, 0, &hrings[0], 1);
	mmio_w32(rng + R_STATUS, 3 | 8 | 4);
	hammer_init(con);
	hammer_setup(con, 1, &hrings[1], 0);
	mmio_w32(con + R_STATUS, 3 | 8 | 4);
	puts_uart("stall: requests in flight (hammering rng and console)\n");
	for (;;) {
		for (unsigned k = 0; k < 2; k++) {
			struct hring *r = &hrings[k];
			/* Refill every free entry with a chain head (0, 4, 8, ...). */
			while ((uint16_t)(r->avail.idx - *(volatile uint16_t *)&r->used.idx) <
			       HQ / 4) {
				r->avail.ring[r->avail.idx % HQ] =
				    (uint16_t)(4 * (r->avail.idx % (HQ / 4)));
				__sync_synchronize();
				r->avail.idx++;
			}
		}
		mmio_w32(rng + R_NOTIFY, 0);
		mmio_w32(con + R_NOTIFY, 1);
	}
}
#else
int main(void)
{
	if (mmio_r32(BLK + R_MAGIC) != 0x74726976 || mmio_r32(BLK + R_DEVICE_ID) != 2)
		fail("slot 0 is not virtio-blk");
	/* Negotiate VERSION_1, INDIRECT_DESC, FLUSH and WRITE_ZEROES. */
	mmio_w32(BLK + R_STATUS, 0);
	mmio_w32(BLK + R_STATUS, 3);
	mmio_w32(BLK + R_DRV_SEL, 0);
	mmio_w32(BLK + R_DRV_FEAT, 1U << 28 | 1U << 14 | 1U << 9);
	mmio_w32(BLK + R_DRV_SEL, 1);
	mmio_w32(BLK + R_DRV_FEAT, 1);
	mmio_w32(BLK + R_STATUS, 3 | 8);
	if (!(mmio_r32(BLK + R_STATUS) & 8))
		fail("features refused");
	mmio_w32(BLK + R_QSEL, 0);
	mmio_w32(BLK + R_QNUM, QSIZE);
	mmio_w32(BLK + R_DESC, (uint32_t)(uintptr_t)descs);
	mmio_w32(BLK + R_DRIVER, (uint32_t)(uintptr_t)&avail);
	mmio_w32(BLK + R_DEVICE, (uint32_t)(uintptr_t)&used);
	mmio_w32(BLK + R_QREADY, 1);
	mmio_w32(BLK + R_STATUS, 3 | 8 | 4);

	/* 1. write-zeroes of the whole disk in 2 GiB ranges (without UNMAP). */
	uint64_t sectors = *(volatile uint64_t *)(BLK + R_CONFIG);
	unsigned n = 0;
	for (uint64_t s = 0; s < sectors && n < 16; s += 1ULL << 22, n++) {
		ranges[n].sector = s;
		ranges[n].num_sectors =
		    (uint32_t)(sectors - s < (1ULL << 22) ? sectors - s : (1ULL << 22));
		ranges[n].flags = 0;
	}
	set_hdr(0, T_WRITE_ZEROES, 0);
	set_desc(&descs[0], (uintptr_t)hdr[0], 16, F_NEXT, 1);
	set_desc(&descs[1], (uintptr_t)ranges, 16 * n, F_NEXT, 2);
	set_desc(&descs[2], (uintptr_t)&status[0], 1, F_WRITE, 0);
	avail.ring[0] = 0;
	/* 2. 256 MiB writes through one indirect table of 64 x 4 MiB each:
	 * request i uses descriptor 2 + i, its own header and status. */
	for (unsigned i = 0; i < NSEG; i++)
		set_desc(&table[i], (uintptr_t)data, SEG_BYTES, F_NEXT, (uint16_t)(i + 1));
	for (unsigned w = 1; w <= NWRITES; w++) {
		struct desc *t = &tables[w - 1][0];
		set_hdr(w, T_OUT, (uint64_t)w * ((256ULL << 20) / 512) % sectors);
		set_desc(&t[0], (uintptr_t)hdr[w], 16, F_NEXT, 1);
		for (unsigned i = 0; i < NSEG; i++) {
			t[1 + i] = table[i];
			t[1 + i].next = (uint16_t)(i + 2);
		}
		set_desc(&t[NSEG + 1], (uintptr_t)&status[w], 1, F_WRITE, 0);
		set_desc(&descs[2 + w], (uintptr_t)t, sizeof(tables[0]), 4 /* INDIRECT */, 0);
		avail.ring[w] = (uint16_t)(2 + w);
	}
	/* 3. a flush behind all of them. */
	set_hdr(NREQ - 1, T_FLUSH, 0);
	set_desc(&descs[12], (uintptr_t)hdr[NREQ - 1], 16, F_NEXT, 13);
	set_desc(&descs[13], (uintptr_t)&status[NREQ - 1], 1, F_WRITE, 0);
	avail.ring[NREQ - 1] = 12;
	__sync_synchronize();
	avail.idx = NREQ;
	__sync_synchronize();
	mmio_w32(BLK + R_NOTIFY, 0);
	puts_uart("stall: requests in flight\n");

	uint16_t seen = 0;
	for (;;) {
#ifdef IDLE
		__asm__ volatile("wfi");
#endif
		while (used.idx != seen) {
			uint32_t id = used.ring[seen % QSIZE].id;
			unsigned k = id == 0 ? 0 : id == 12 ? NREQ - 1 : id - 2;
			char msg[] = "stall: request ? completed with status ?\n";
			msg[15] = (char)('0' + k);
			msg[39] = (char)('0' + (status[k] < 10 ? status[k] : 9));
			puts_uart(msg);
			seen++;
		}
	}
}
#endif
