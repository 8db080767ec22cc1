/* rand_vm.c: randomised Sv39 (Sv48 with LEVELS=4) permission checks,
 * differential against QEMU (isa-diff-rand-vm, isa-diff-rand-vm48).  Each
 * trial writes one leaf PTE with random flags (V R W X U G A D, including
 * the reserved W-without-R and non-leaf-at-level-0 encodings), at a random
 * level (4 KiB, 2 MiB or 1 GiB, sometimes with a misaligned PPN), then
 * performs a load, store or instruction fetch through it from S- or U-mode
 * with random SUM and MXR.  The trial's outcome (trap cause or loaded
 * value) and the PTE afterwards (hardware A/D updates) are hashed; one line
 * per 25 trials.  AMOs are left to paging.c (QEMU 7.2 reports some AMO
 * faults with the load cause). */
#include "ops.h"

#ifndef TRIALS
#define TRIALS 400
#endif
#ifndef LEVELS
#define LEVELS 3 /* 4 = Sv48 (test rand-vm48) */
#endif
#define VA4K 0x40000000UL  /* 4 KiB leaves: gigapage 1, 2 MiB slot 0 */
#define VA2M 0x40200000UL  /* 2 MiB leaf: gigapage 1, slot 1 */
#define VA1G 0x140000000UL /* 1 GiB leaf: gigapage 5 */
#define RAM  0x80000000UL

static u8 page[4096] __attribute__((aligned(4096)));
static volatile u64 scratch[2];
static u64 *root_s, *root_u;

#ifndef SEED
#define SEED 0x2545f4914f6cdd1dUL
#endif
static u64 rng = SEED;
static u64 rnd(void)
{
	return isa_xorshift(&rng);
}

/* li a0, 42; ret: also reachable through the superpages (image < 2 MiB) */
__attribute__((aligned(8), naked)) static void stub(void)
{
	asm volatile(".option push\n .option norvc\n li a0, 42\n ret\n"
		     ".option pop");
}

/* the PTE slot for va at level (the tables above it already exist) */
static volatile u64 *slot(u64 *root, u64 va, int level)
{
	u64 *tbl = root;
	for (int l = LEVELS - 1; l > level; l--) {
		u64 e = tbl[(va >> (12 + 9 * l)) & 511];
		tbl = (u64 *)((e >> 10) << 12);
	}
	return &tbl[(va >> (12 + 9 * level)) & 511];
}

static volatile u64 g_va, g_val;
enum { LOAD, STORE, EXEC };

static long probe(long kind)
{
	u64 va = g_va, v = 0;
	isa_expect_trap();
	if (kind == LOAD)
		ISA_TRY("ld %0, 0(%1)", : "=&r"(v) : "r"(va) : "t6", "memory");
	else if (kind == STORE)
		ISA_TRY("sd %1, 0(%1)", : "=&r"(v) : "r"(va) : "t6", "memory");
	else
		ISA_TRY("jalr ra, 0(%1)\n mv %0, a0",
			: "=&r"(v)
			: "r"(va)
			: "t6", "ra", "a0", "memory");
	g_val = v;
	if (isa_trap_armed) {
		isa_trap_armed = 0;
		return -1;
	}
	return (long)isa_last_trap.cause;
}

void test_main(void)
{
	root_s = isa_page_alloc();
	root_u = isa_page_alloc();
	isa_map_identity(root_s, LEVELS, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
	isa_map_identity(root_u, LEVELS, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D | PTE_U);
	/* create the level-0 table under VA4K and the slot for VA2M */
	isa_map(root_s, LEVELS, VA4K, (u64)page, 0, PTE_R);
	isa_map(root_u, LEVELS, VA4K, (u64)page, 0, PTE_R);
	((u32 *)page)[0] = 0x02a00513; /* li a0, 42 */
	((u32 *)page)[1] = 0x00008067; /* ret */
	u64 stub_off = (u64)stub - RAM, data_off = (u64)scratch - RAM;
	if (stub_off >= (1 << 21) || data_off >= (1 << 21)) {
		isa_fail("image larger than 2 MiB");
		return;
	}

	u64 h = ISA_FNV_INIT;
	for (int t = 0; t < TRIALS; t++) {
		u64 flags = rnd() & 0xff;
		if (rnd() % 10)
			flags |= PTE_V;
		int level = (int)(rnd() % 3);
		if (!(flags & (PTE_R | PTE_W | PTE_X)))
			level = 0; /* a pointer at level 1/2 would walk junk */
		int misaligned = level && rnd() % 4 == 0;
		long kind = (long)(rnd() % 3);
		int mode = (int)(rnd() % 2) ? MODE_S : MODE_U;
		u64 sum = rnd() & 1 ? MSTATUS_SUM : 0;
		u64 mxr = rnd() & 1 ? MSTATUS_MXR : 0;

		u64 va, pa;
		if (level == 0) {
			pa = (u64)page;
			va = VA4K + (kind == EXEC ? 0 : 8);
		} else {
			pa = RAM + (misaligned ? (level == 1 ? 0x1000 : 0x200000) : 0);
			va = (level == 1 ? VA2M : VA1G) + (kind == EXEC ? stub_off : data_off);
		}
		u64 slot_va = level == 1 ? VA2M : level ? VA1G : VA4K;
		*slot(root_s, slot_va, level) = ((pa >> 12) << 10) | flags;
		*slot(root_u, slot_va, level) = ((pa >> 12) << 10) | flags;
		scratch[0] = 0x5a5a0000 + (u64)t;
		*(volatile u64 *)(page + 8) = 0xa5a50000 + (u64)t;
		u64 *root = mode == MODE_U ? root_u : root_s;
		csr_set(mstatus, sum | mxr);
		csr_write(satp, isa_satp(root, LEVELS));
		isa_sfence();
		g_va = va;
		long c = isa_run_in_mode(mode, probe, kind);
		csr_write(satp, 0);
		isa_sfence();
		csr_clear(mstatus, MSTATUS_SUM | MSTATUS_MXR);

		u64 pte_after = *slot(root, slot_va, level);
		u64 val = c == -1 ? g_val : 0;
		if (c == -1 && kind == STORE)
			val = level ? scratch[0] : *(volatile u64 *)(page + 8);
		h = isa_fnv(isa_fnv(isa_fnv(h, (u64)c), val), pte_after & 0xff);
		if (t % 25 == 24) {
			char name[] = "trials 000";
			name[7] = (char)('0' + (t + 1) / 100);
			name[8] = (char)('0' + (t + 1) / 10 % 10);
			name[9] = (char)('0' + (t + 1) % 10);
			isa_sig(name, h);
		}
	}
}
