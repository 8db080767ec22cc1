/* vm.c: page-table construction helpers for the ISA tests (RISC-V
 * privileged spec §4.3-§4.5: Sv32 is not used; Sv39 = 3 levels, Sv48 = 4,
 * 9 VPN bits per level, 44-bit PPN, leaf at any level).  Pages come from a
 * static pool in .bss; they are never freed. */
#include "isa.h"

#define POOL_PAGES 48
static u64 pool[POOL_PAGES][512] __attribute__((aligned(4096)));
static int pool_used;

extern char _end[];

u64 *isa_page_alloc(void)
{
	if (pool_used == POOL_PAGES) {
		isa_fail("page pool exhausted");
		isa_exit(1);
	}
	u64 *p = pool[pool_used++];
	for (int i = 0; i < 512; i++)
		p[i] = 0;
	return p;
}

static int vpn(u64 va, int level)
{
	return (int)((va >> (12 + 9 * level)) & 511);
}

void isa_map(u64 *root, int levels, u64 va, u64 pa, int level, u64 flags)
{
	u64 *table = root;
	for (int l = levels - 1; l > level; l--) {
		u64 *pte = &table[vpn(va, l)];
		if (!(*pte & PTE_V))
			*pte = (((u64)isa_page_alloc() >> 12) << 10) | PTE_V;
		table = (u64 *)((*pte >> 10) << 12);
	}
	table[vpn(va, level)] = ((pa >> 12) << 10) | flags | PTE_V;
}

volatile u64 *isa_pte(u64 *root, int levels, u64 va)
{
	u64 *table = root;
	for (int l = levels - 1; l >= 0; l--) {
		u64 *pte = &table[vpn(va, l)];
		if (!(*pte & PTE_V))
			return 0;
		if (*pte & (PTE_R | PTE_W | PTE_X))
			return pte;
		table = (u64 *)((*pte >> 10) << 12);
	}
	return 0;
}

void isa_map_identity(u64 *root, int levels, u64 ram_flags)
{
	/* MMIO: one gigapage covering finisher, CLINT and UART */
	isa_map(root, levels, 0, 0, 2, PTE_R | PTE_W | PTE_A | PTE_D);
	u64 end = ((u64)_end + 0x3fffff) & ~0x3fffffUL;
	for (u64 a = 0x80000000UL; a < end; a += 4096)
		isa_map(root, levels, a, a, 0, ram_flags);
}

u64 isa_satp(u64 *root, int levels)
{
	return (levels == 4 ? SATP_SV48 : SATP_SV39) | ((u64)root >> 12);
}
