/*
 * campaign.c - a seeded, randomized hostile guest for vessel-vmm (driven by
 * campaign.py; `make check` runs a few seeds, `make fuzz` many).
 *
 * From the seed patched into `campaign_seed` (xorshift64*), for DURATION of
 * mtime or MAX_OPS operations, it picks at random:
 *   - a raw access (1/2/4/8 bytes, read or write, aligned or not) anywhere in
 *     a device window: CLINT, PLIC, UART, RTC, the test finisher (never its
 *     poweroff/fail/reboot codes), the reset ROM, every virtio-mmio slot,
 *     or any address below RAM;
 *   - on a virtio slot found at start-up (blk, net, console, rng, whatever
 *     the VMM was given): a sane or insane initialisation (random features,
 *     queue sizes that are not powers of two, rings outside RAM or
 *     misaligned), a batch of random descriptor chains on a random queue
 *     (loops, NEXT beyond the table, huge lengths, addresses outside RAM,
 *     in MMIO or the ROM, wrapping, nested or looping indirect tables, and
 *     now and then a well-formed virtio-blk request of a random type,
 *     sector and size), available-index jumps, notifies of any queue
 *     number, random register and configuration-space writes, resets in
 *     the middle of all this;
 *   - a pause, so that asynchronous completions and received frames land.
 * Accesses the bus refuses raise access faults: the trap handler skips the
 * instruction (loads then read as 0).  Device-writable buffers only ever
 * point into the scratch area (SCRATCH + FINAL..RAM end) or outside RAM, so
 * the devices cannot overwrite this program, nor the final checks' buffers
 * (a cancelled disk read may still land after a reset).
 *
 * At the end every device is reset and must work again: each blk disk
 * writes and reads back a sector, rng fills a buffer, the console prints a
 * line.  The guest then reports on the UART and powers off with 0x5555
 * (0x3333 on a failed final check).  The VMM must neither crash nor hang;
 * the host side checks the exit status and the images.
 */
#include <stdint.h>

#include "virtio_mmio.h"

#define NSLOTS 8

#define RAM_BASE 0x80000000UL
#define SCRATCH	 0x80400000UL /* devices may write from here to the end of RAM */
#define FINAL	 0x40000UL    /* SCRATCH..+FINAL: the final checks' own buffers */

#define DURATION (3 * MTIME_HZ)
#define MAX_OPS	 20000

/* The host patches the second word (campaign.py finds the first). */
volatile uint64_t campaign_seed[2] = { 0x5eedc0de5eedc0deULL, 1 };

static uint64_t rng_state;
static unsigned traps, ops;
static uint64_t ram_end;

struct slot {
	unsigned long base;
	uint32_t id; /* 0: empty */
	/* The guest's idea of each queue (what it last programmed). */
	struct {
		uint32_t num;
		uint64_t desc, avail, used;
		uint16_t idx;
	} q[4];
};
static struct slot slots[NSLOTS];

/* ---- primitives ----------------------------------------------------------- */

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static uint64_t mtime(void)
{
	return *(volatile uint64_t *)(CLINT + 0xbff8);
}

/* Access faults skip the instruction: mepc += its length. */
__attribute__((interrupt("machine"), aligned(4))) static void trap_handler(void)
{
	uint64_t epc, cause;
	__asm__ volatile("csrr %0, mepc" : "=r"(epc));
	__asm__ volatile("csrr %0, mcause" : "=r"(cause));
	if ((int64_t)cause < 0)
		return; /* no interrupt is enabled; nothing to do */
	uint16_t insn = *(volatile uint16_t *)epc;
	epc += (insn & 3) == 3 ? 4 : 2;
	__asm__ volatile("csrw mepc, %0" ::"r"(epc));
	traps++;
}

/* Loads that read 0 when they fault. */
static uint64_t rd(uint64_t a, unsigned size)
{
	uint64_t v;
	switch (size) {
	case 1: __asm__ volatile("li %0, 0\n\tlbu %0, 0(%1)" : "=&r"(v) : "r"(a) : "memory"); break;
	case 2: __asm__ volatile("li %0, 0\n\tlhu %0, 0(%1)" : "=&r"(v) : "r"(a) : "memory"); break;
	case 4: __asm__ volatile("li %0, 0\n\tlwu %0, 0(%1)" : "=&r"(v) : "r"(a) : "memory"); break;
	default: __asm__ volatile("li %0, 0\n\tld %0, 0(%1)" : "=&r"(v) : "r"(a) : "memory"); break;
	}
	return v;
}

static void wr(uint64_t a, unsigned size, uint64_t v)
{
	switch (size) {
	case 1: __asm__ volatile("sb %0, 0(%1)" ::"r"(v), "r"(a) : "memory"); break;
	case 2: __asm__ volatile("sh %0, 0(%1)" ::"r"(v), "r"(a) : "memory"); break;
	case 4: __asm__ volatile("sw %0, 0(%1)" ::"r"(v), "r"(a) : "memory"); break;
	default: __asm__ volatile("sd %0, 0(%1)" ::"r"(v), "r"(a) : "memory"); break;
	}
}

static uint32_t r32(unsigned long a)
{
	return (uint32_t)rd(a, 4);
}

static void w32(unsigned long a, uint32_t v)
{
	wr(a, 4, v);
}

static void uart_reset(void)
{
	wr(UART + 3, 1, 0x03); /* 8N1, DLAB off */
	wr(UART + 1, 1, 0x00); /* no interrupts */
	wr(UART + 2, 1, 0x07); /* FIFOs on and cleared */
	wr(UART + 4, 1, 0x00); /* no loopback */
}

static void putc_uart(char c)
{
	for (unsigned i = 0; i < 1000000 && !(rd(UART + 5, 1) & 0x20); i++)
		;
	wr(UART, 1, (uint8_t)c);
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

static void zero(void *p, unsigned long n)
{
	volatile uint8_t *b = p;
	while (n--)
		*b++ = 0;
}

/* ---- random guest addresses ----------------------------------------------- */

static uint64_t pick_any(uint32_t len);

/* Somewhere the device may write: scratch RAM, or nowhere useful; never
 * this program or the final checks' buffers. */
static uint64_t pick_addr(uint32_t len)
{
	uint64_t a = pick_any(len);
	if (a >= RAM_BASE && a < SCRATCH + FINAL)
		a = ram_end + (a & 0xfff);
	return a;
}

static uint64_t pick_any(uint32_t len)
{
	switch (below(16)) {
	case 0: return ram_end + below(1 << 20); /* beyond RAM */
	case 1: return ram_end - below(4096);	 /* straddling the end */
	case 2: return 0x1000 + below(0x1000);	 /* reset ROM */
	case 3: return UART + below(0x100);	 /* MMIO */
	case 4: return SLOT(below(NSLOTS));	 /* a virtio window */
	case 5: return ~0ULL - below(4096);	 /* wraps */
	case 6: return below(1ULL << 40) << 12;	 /* anywhere */
	default: {
		uint64_t room = ram_end - SCRATCH - FINAL;
		uint64_t a = SCRATCH + FINAL + below(room);
		if (len < room && a + len > ram_end && below(4))
			a = ram_end - len;
		return a & ~(uint64_t)(below(2) ? 0 : 15);
	}
	}
}

static uint32_t pick_len(void)
{
	switch (below(12)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return 16;
	case 3: return 512;
	case 4: return 4096;
	case 5: return (uint32_t)below(65536);
	case 6: return (uint32_t)below(4 << 20);
	case 7: return 0xffffffffU;
	case 8: return (uint32_t)(ram_end - RAM_BASE);
	case 9: return (uint32_t)(512 * (1 + below(64)));
	default: return (uint32_t)below(2048);
	}
}

/* A scratch buffer for the guest's own structures (never device-written
 * while the guest reads it for control: only as payload). */
static uint64_t scratch(uint64_t size, uint64_t align)
{
	uint64_t room = ram_end - SCRATCH - FINAL - size;
	return (SCRATCH + FINAL + below(room) + align - 1) & ~(align - 1);
}

/* ---- virtio ------------------------------------------------------------------ */

static void desc_write(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		       uint16_t next)
{
	uint64_t d = table + 16ULL * i;
	wr(d, 8, addr);
	wr(d + 8, 4, len);
	wr(d + 12, 2, flags);
	wr(d + 14, 2, next);
}

static void virtio_setup(struct slot *s, int sane)
{
	unsigned long b = s->base;
	w32(b + R_STATUS, 0);
	w32(b + R_STATUS, 3);
	uint64_t offered = 0;
	for (unsigned sel = 0; sel < 2; sel++) {
		w32(b + R_DEV_SEL, sel);
		offered |= (uint64_t)r32(b + R_DEV_FEAT) << (32 * sel);
	}
	uint64_t want = sane ? offered & rnd() : rnd();
	if (sane)
		want |= 1ULL << 32; /* VERSION_1 */
	for (unsigned sel = 0; sel < 2; sel++) {
		w32(b + R_DRV_SEL, sel);
		w32(b + R_DRV_FEAT, (uint32_t)(want >> (32 * sel)));
	}
	w32(b + R_STATUS, sane ? 11 : (uint32_t)rnd());
	unsigned nq = 1 + (unsigned)below(4);
	for (unsigned q = 0; q < nq; q++) {
		unsigned sel = below(8) ? q : (unsigned)below(16);
		w32(b + R_QSEL, sel);
		uint32_t num = sane || below(3) ? 1U << below(9) : (uint32_t)rnd();
		uint64_t desc = sane || below(3) ? scratch(16ULL * 256, 16) : pick_addr(4096);
		uint64_t avail = sane || below(3) ? scratch(6 + 2 * 256, 2) : pick_addr(4096);
		uint64_t used = sane || below(3) ? scratch(6 + 8 * 256, 4) : pick_addr(4096);
		w32(b + R_QNUM, num);
		w32(b + R_DESC, (uint32_t)desc);
		w32(b + R_DESC + 4, (uint32_t)(desc >> 32));
		w32(b + R_DRIVER, (uint32_t)avail);
		w32(b + R_DRIVER + 4, (uint32_t)(avail >> 32));
		w32(b + R_DEVICE, (uint32_t)used);
		w32(b + R_DEVICE + 4, (uint32_t)(used >> 32));
		if (sel < 4) {
			s->q[sel].num = num;
			s->q[sel].desc = desc;
			s->q[sel].avail = avail;
			s->q[sel].used = used;
			s->q[sel].idx = 0;
			if (avail >= SCRATCH && avail < ram_end - 6)
				wr(avail + 2, 2, 0);
		}
		w32(b + R_QREADY, sane || below(4) ? 1 : (uint32_t)rnd());
	}
	w32(b + R_STATUS, sane || below(3) ? 15 : (uint32_t)rnd());
}

/* A well-formed chain for queue qi of a net, console or rng device: the
 * buffers in the direction the queue wants, sometimes as long as the queue
 * and with buffers of many MiB (the device must bound its work). */
static unsigned build_good_chain(struct slot *s, unsigned qi, uint64_t table, uint32_t tsize,
				 unsigned head)
{
	int writable = s->id == 4 || qi == 0;
	unsigned n = below(8) ? 1 + (unsigned)below(4) : 1 + (unsigned)below(tsize);
	for (unsigned i = 0; i < n; i++) {
		uint64_t len =
		    below(4) ? 1 + below(4096) : 1 + below(ram_end - SCRATCH - 2 * FINAL);
		if (s->id == 1 && qi == 1 && i == 0 && len < 12)
			len = 12; /* the virtio-net header */
		desc_write(table, (head + i) % tsize, scratch(len, 1), (uint32_t)len,
			   (uint16_t)((i + 1 < n ? F_NEXT : 0) | (writable ? F_WRITE : 0)),
			   (uint16_t)((head + i + 1) % tsize));
	}
	return n;
}

/* A header + data + status virtio-blk request, a well-formed chain for the
 * other devices, or random descriptors. */
static unsigned build_chain(struct slot *s, unsigned qi, uint64_t table, uint32_t tsize,
			    unsigned head)
{
	unsigned n = 1 + (unsigned)below(6);
	if (s->id != 2 && below(2))
		return build_good_chain(s, qi, table, tsize, head);
	if (s->id == 2 && below(2)) { /* a (mostly) well-formed blk request */
		static const uint32_t types[] = { 0, 1, 4, 8, 11, 13, 0, 1, 99 };
		uint64_t hdr = scratch(16, 16), data = scratch(1 << 20, 512);
		uint64_t status = scratch(1, 1);
		uint32_t type = types[below(sizeof(types) / sizeof(types[0]))];
		uint64_t sector = below(4) ? below(1 << 20) : rnd();
		wr(hdr, 4, type);
		wr(hdr + 4, 4, 0);
		wr(hdr + 8, 8, sector);
		uint32_t len = (uint32_t)(512 * below(2048));
		if (type == 11 || type == 13) {
			unsigned nr = 1 + (unsigned)below(3);
			for (unsigned r = 0; r < nr; r++) {
				wr(data + 16 * r, 8, below(4) ? below(1 << 19) : rnd());
				wr(data + 16 * r + 8, 4,
				   (uint32_t)(below(4) ? below(1 << 16) : rnd()));
				wr(data + 16 * r + 12, 4, (uint32_t)below(3));
			}
			len = 16 * nr;
		}
		int in = type == 0 || type == 8;
		desc_write(table, head % tsize, hdr, 16, F_NEXT, (uint16_t)((head + 1) % tsize));
		desc_write(table, (head + 1) % tsize, data, len, F_NEXT | (in ? F_WRITE : 0),
			   (uint16_t)((head + 2) % tsize));
		desc_write(table, (head + 2) % tsize, status, 1, F_WRITE, 0);
		return 3;
	}
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = pick_len();
		uint16_t flags = (uint16_t)(below(4) ? (i + 1 < n ? F_NEXT : 0) : below(8));
		if (below(3))
			flags |= F_WRITE;
		uint64_t addr = pick_addr(len);
		if (flags & F_INDIRECT && below(2)) { /* a table of random entries */
			unsigned m = 1 + (unsigned)below(8);
			addr = scratch(16 * 8, 16);
			len = below(4) ? 16 * m : (uint32_t)rnd();
			for (unsigned k = 0; k < m; k++) {
				uint32_t l = pick_len();
				desc_write(addr, k, pick_addr(l), l,
					   (uint16_t)((below(3) ? F_NEXT : 0) |
						      (below(2) ? F_WRITE : 0) |
						      (below(8) ? 0 : F_INDIRECT)),
					   (uint16_t)(below(4) ? k + 1 : below(16)));
			}
		}
		uint16_t next = (uint16_t)(below(4) ? (head + i + 1) % tsize : rnd());
		desc_write(table, (head + i) % tsize, addr, len, flags, next);
	}
	return n;
}

static void virtio_post(struct slot *s)
{
	unsigned qi = (unsigned)below(4);
	if (!s->q[qi].num || s->q[qi].num > 256 || (s->q[qi].num & (s->q[qi].num - 1)))
		qi = 0;
	uint32_t num = s->q[qi].num;
	uint64_t desc = s->q[qi].desc, avail = s->q[qi].avail;
	if (!num || num > 256 || desc < SCRATCH || avail < SCRATCH || desc + 16 * num > ram_end ||
	    avail + 6 + 2 * num > ram_end)
		return; /* this queue was set up insane: poke it raw below */
	unsigned chains = 1 + (unsigned)below(8);
	unsigned head = (unsigned)below(num);
	for (unsigned c = 0; c < chains; c++) {
		unsigned used = build_chain(s, qi, desc, num, head);
		uint16_t h = (uint16_t)(below(16) ? head % num : rnd());
		wr(avail + 4 + 2 * (s->q[qi].idx % num), 2, h);
		s->q[qi].idx++;
		head += used;
	}
	if (!below(16))
		s->q[qi].idx = (uint16_t)(s->q[qi].idx + below(1 << 16)); /* jump */
	wr(avail + 2, 2, s->q[qi].idx);
	if (!below(8))
		wr(avail, 2, (uint16_t)below(2)); /* NO_INTERRUPT on and off */
	w32(s->base + R_NOTIFY, below(8) ? qi : (uint32_t)rnd());
}

static void virtio_poke(struct slot *s)
{
	static const uint16_t regs[] = { R_DEV_SEL, R_DRV_FEAT, R_DRV_SEL,     R_QSEL,	 R_QNUM,
					 R_QREADY,  R_NOTIFY,	R_ACK,	       R_STATUS, R_DESC,
					 R_DRIVER,  R_DEVICE,	R_QUEUE_RESET, R_ISR,	 0x0ac };
	unsigned long off =
	    below(4) ? regs[below(sizeof(regs) / sizeof(regs[0]))] : R_CONFIG + below(0x40);
	unsigned size = off >= R_CONFIG ? 1U << below(4) : (below(8) ? 4 : 1U << below(4));
	if (below(2))
		wr(s->base + off, size, below(2) ? rnd() : below(8));
	else
		(void)rd(s->base + off, size);
}

/* ---- raw windows ------------------------------------------------------------ */

static const struct {
	uint64_t base, size;
} windows[] = {
	{ 0x1000, 0xf000 },	      /* reset ROM */
	{ FINISHER, 0x1000 },	      /* test device */
	{ 0x101000, 0x1000 },	      /* goldfish RTC */
	{ CLINT, 0x10000 },	      /* CLINT */
	{ 0xc000000, 0x202000 },      /* PLIC */
	{ UART, 0x100 },	      /* 16550 */
	{ SLOT(0), 0x1000 * NSLOTS }, /* virtio-mmio */
	{ 0, RAM_BASE },	      /* anything below RAM */
};

static void raw_access(void)
{
	unsigned w = (unsigned)below(sizeof(windows) / sizeof(windows[0]));
	uint64_t a = windows[w].base + below(windows[w].size);
	unsigned size = 1U << below(4);
	if (below(4))
		a &= ~(uint64_t)(size - 1);
	if (below(2)) {
		(void)rd(a, size);
		return;
	}
	uint64_t v = below(2) ? rnd() : below(256);
	if (a >= FINISHER && a < FINISHER + 0x1000) {
		uint16_t low = (uint16_t)v;
		if (low == 0x5555 || low == 0x3333 || low == 0x7777)
			v ^= 1; /* never power off, fail or reboot */
	}
	wr(a, size, v);
}

/* ---- final checks ------------------------------------------------------------ */

static unsigned failures;

static void check(int ok, const char *what, unsigned long base)
{
	puts_uart(ok ? "campaign: ok   " : "campaign: FAIL ");
	puts_uart(what);
	puts_uart(" at ");
	put_hex(base);
	puts_uart("\n");
	if (!ok)
		failures++;
}

/* Post one chain on queue q of a freshly set-up slot and wait for it. */
static int final_request(struct slot *s, unsigned q, uint64_t desc, unsigned ndesc)
{
	uint64_t avail = s->q[q].avail, used = s->q[q].used;
	uint16_t before = (uint16_t)rd(used + 2, 2);
	wr(avail + 4 + 2 * (s->q[q].idx % s->q[q].num), 2, 0);
	s->q[q].idx++;
	wr(avail + 2, 2, s->q[q].idx);
	w32(s->base + R_NOTIFY, q);
	(void)desc;
	(void)ndesc;
	uint64_t end = mtime() + 30 * MTIME_HZ;
	while ((uint16_t)rd(used + 2, 2) == before)
		if (mtime() > end)
			return 0;
	return 1;
}

static void final_setup(struct slot *s, unsigned nq)
{
	unsigned long b = s->base;
	w32(b + R_STATUS, 0);
	w32(b + R_STATUS, 3);
	w32(b + R_DRV_SEL, 0);
	w32(b + R_DRV_FEAT, s->id == 2 ? 1U << 9 : 0); /* blk: FLUSH */
	w32(b + R_DRV_SEL, 1);
	w32(b + R_DRV_FEAT, 1);
	w32(b + R_STATUS, 11);
	for (unsigned q = 0; q < nq; q++) {
		uint64_t area = SCRATCH + 0x10000 * q;
		zero((void *)area, 0x4000);
		s->q[q] = (typeof(s->q[q])){ 16, area, area + 0x1000, area + 0x2000, 0 };
		w32(b + R_QSEL, q);
		w32(b + R_QNUM, 16);
		w32(b + R_DESC, (uint32_t)area);
		w32(b + R_DESC + 4, 0);
		w32(b + R_DRIVER, (uint32_t)(area + 0x1000));
		w32(b + R_DRIVER + 4, 0);
		w32(b + R_DEVICE, (uint32_t)(area + 0x2000));
		w32(b + R_DEVICE + 4, 0);
		w32(b + R_QREADY, 1);
	}
	w32(b + R_STATUS, 15);
}

static void final_blk(struct slot *s)
{
	final_setup(s, 1);
	uint64_t d = SCRATCH, hdr = SCRATCH + 0x8000, buf = SCRATCH + 0x9000, st = SCRATCH + 0x8800;
	uint64_t sector = 8 + below(64);
	for (unsigned pass = 0; pass < 2; pass++) {
		wr(hdr, 4, pass == 0 ? 1 : 0);
		wr(hdr + 4, 4, 0);
		wr(hdr + 8, 8, sector);
		for (unsigned i = 0; i < 512; i += 8)
			wr(buf + i, 8,
			   pass == 0 ? campaign_seed[1] * 0x9e3779b97f4a7c15ULL + i : 0);
		wr(st, 1, 0xee);
		desc_write(d, 0, hdr, 16, F_NEXT, 1);
		desc_write(d, 1, buf, 512, F_NEXT | (pass ? F_WRITE : 0), 2);
		desc_write(d, 2, st, 1, F_WRITE, 0);
		if (!final_request(s, 0, d, 3) || rd(st, 1) != 0) {
			check(0,
			      pass ? "blk reads back after the campaign"
				   : "blk writes after the campaign",
			      s->base);
			return;
		}
	}
	int same = 1;
	for (unsigned i = 0; i < 512; i += 8)
		same &= rd(buf + i, 8) == campaign_seed[1] * 0x9e3779b97f4a7c15ULL + i;
	check(same, "blk writes and reads back a sector after the campaign", s->base);
}

static void final_rng(struct slot *s)
{
	final_setup(s, 1);
	uint64_t d = SCRATCH, buf = SCRATCH + 0x9000;
	zero((void *)buf, 64);
	desc_write(d, 0, buf, 64, F_WRITE, 0);
	int ok = final_request(s, 0, d, 1);
	unsigned nonzero = 0;
	for (unsigned i = 0; i < 64; i++)
		nonzero += rd(buf + i, 1) != 0;
	check(ok && nonzero > 32, "rng fills a buffer after the campaign", s->base);
}

static void final_console(struct slot *s)
{
	static const char line[] = "campaign: console alive\n";
	final_setup(s, 2);
	uint64_t d = SCRATCH + 0x10000, buf = SCRATCH + 0x9000;
	for (unsigned i = 0; i < sizeof(line) - 1; i++)
		wr(buf + i, 1, (uint8_t)line[i]);
	desc_write(d, 0, buf, sizeof(line) - 1, 0, 0);
	check(final_request(s, 1, d, 1), "console writes after the campaign", s->base);
}

static void final_net(struct slot *s)
{
	/* Transmit one broadcast frame (header + 60 bytes); it must be used. */
	final_setup(s, 2);
	uint64_t d = SCRATCH + 0x10000, buf = SCRATCH + 0x9000;
	zero((void *)buf, 12 + 60);
	for (unsigned i = 0; i < 6; i++)
		wr(buf + 12 + i, 1, 0xff);
	wr(buf + 12 + 6, 1, 0x52);
	wr(buf + 12 + 12, 2, 0xb588); /* local experimental ethertype 0x88b5 */
	desc_write(d, 0, buf, 12 + 60, 0, 0);
	check(final_request(s, 1, d, 1), "net transmits after the campaign", s->base);
}

/* ---- main ---------------------------------------------------------------------- */

int main(void)
{
	extern char stack_top[];
	__asm__ volatile("csrw mtvec, %0" ::"r"((uintptr_t)trap_handler));
	__asm__ volatile("csrw mie, zero");
	rng_state = campaign_seed[1] * 0x9e3779b97f4a7c15ULL + 1;
	uart_reset();
	puts_uart("campaign: seed ");
	put_hex(campaign_seed[1]);
	puts_uart("\n");
	if ((uintptr_t)stack_top >= SCRATCH) {
		puts_uart("campaign: FAIL program overlaps the scratch area\n");
		w32(FINISHER, 0x3333);
	}
	/* RAM size: the first 1 MiB step that faults (loads then read 0). */
	ram_end = SCRATCH;
	for (uint64_t a = SCRATCH; a < RAM_BASE + (1ULL << 30); a += 1 << 20) {
		unsigned before = traps;
		(void)rd(a, 1);
		if (traps != before)
			break;
		ram_end = a + (1 << 20);
	}
	for (unsigned i = 0; i < NSLOTS; i++) {
		slots[i].base = SLOT(i);
		if (r32(SLOT(i) + R_MAGIC) == 0x74726976)
			slots[i].id = r32(SLOT(i) + R_DEVICE_ID);
		puts_uart("campaign: slot ");
		put_hex(i);
		puts_uart(" device ");
		put_hex(slots[i].id);
		puts_uart("\n");
	}

	uint64_t end = mtime() + DURATION;
	for (ops = 0; ops < MAX_OPS && mtime() < end; ops++) {
		struct slot *s = &slots[below(NSLOTS)];
		unsigned what = (unsigned)below(100);
		if (!s->id || what < 15) {
			raw_access();
		} else if (what < 25) {
			virtio_setup(s, below(3) != 0);
		} else if (what < 70) {
			virtio_post(s);
		} else if (what < 85) {
			virtio_poke(s);
		} else if (what < 90) {
			w32(s->base + R_STATUS, 0); /* reset, whatever is in flight */
		} else {
			uint64_t until = mtime() + below(MTIME_HZ / 100);
			while (mtime() < until)
				;
		}
	}

	/* Reset everything, then give cancelled disk pieces time to end. */
	for (unsigned i = 0; i < NSLOTS; i++)
		w32(slots[i].base + R_STATUS, 0);
	for (uint64_t until = mtime() + MTIME_HZ / 10; mtime() < until;)
		;
	uart_reset();
	puts_uart("campaign: ops ");
	put_hex(ops);
	puts_uart(" traps ");
	put_hex(traps);
	puts_uart("\n");
	for (unsigned i = 0; i < NSLOTS; i++) {
		switch (slots[i].id) {
		case 1: final_net(&slots[i]); break;
		case 2: final_blk(&slots[i]); break;
		case 3: final_console(&slots[i]); break;
		case 4: final_rng(&slots[i]); break;
		default: break;
		}
		w32(slots[i].base + R_STATUS, 0);
	}
	uart_reset();
	if (failures) {
		puts_uart("campaign: FAILED final checks\n");
		w32(FINISHER, 0x3333 | failures << 16);
	} else {
		puts_uart("campaign: done, every device answered\n");
		w32(FINISHER, 0x5555);
	}
	for (;;)
		;
}
