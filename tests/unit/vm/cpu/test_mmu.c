/*
 * Unit tests for lib/vm/cpu/mmu.c: Sv39/Sv48 walks with the privileged
 * spec's permission rules (U/SUM/MXR, W without R, misaligned superpages,
 * non-canonical addresses), hardware A/D updates in guest memory, satp WARL
 * behaviour, soft-TLB invariants for code pages, and LR reservations broken
 * by another hart's store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu_internal.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (4ULL << 20)

#define V (1ULL << 0)
#define R (1ULL << 1)
#define W (1ULL << 2)
#define X (1ULL << 3)
#define U (1ULL << 4)
#define A (1ULL << 6)
#define D (1ULL << 7)

struct fixture {
	struct vm_bus bus;
	uint8_t *ram;
	struct rv_core *core;
	struct rv_hart *h;
	uint64_t next_table;
};

static uint64_t fake_time(void *opaque)
{
	return 0;
}

static uint64_t *pte_at(struct fixture *f, uint64_t pa)
{
	return (uint64_t *)(f->ram + (pa - RAM_BASE));
}

static uint64_t alloc_table(struct fixture *f)
{
	uint64_t t = f->next_table;
	f->next_table += 4096;
	memset(f->ram + (t - RAM_BASE), 0, 4096);
	return t;
}

/* Map va -> pa with a leaf at `level` (0 = 4K) in a `levels`-level table. */
static uint64_t *map(struct fixture *f, unsigned levels, uint64_t va, uint64_t pa, int level,
		     uint64_t perm)
{
	uint64_t table = (f->h->satp & ((1ULL << 44) - 1)) << 12;
	for (int i = (int)levels - 1; i > level; i--) {
		uint64_t *p = pte_at(f, table + ((va >> (12 + 9 * i)) & 0x1ff) * 8);
		if (!(*p & V))
			*p = ((alloc_table(f) >> 12) << 10) | V;
		table = ((*p >> 10) & ((1ULL << 44) - 1)) << 12;
	}
	uint64_t *leaf = pte_at(f, table + ((va >> (12 + 9 * level)) & 0x1ff) * 8);
	*leaf = ((pa >> 12) << 10) | perm;
	return leaf;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vs_err err = VS_ERR_INIT;
	f->ram = calloc(1, RAM_SIZE);
	vm_bus_init(&f->bus);
	assert_int_equal(vm_bus_add_ram(&f->bus, RAM_BASE, RAM_SIZE, f->ram, false, "ram", &err),
			 0);
	f->core = rv_core_new(&f->bus, 2, fake_time, NULL, &err);
	assert_non_null(f->core);
	f->h = rv_core_hart(f->core, 0);
	f->next_table = RAM_BASE + 0x100000;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rv_core_free(f->core);
	free(f->ram);
	free(f);
	return 0;
}

static void use_mode(struct fixture *f, uint64_t mode)
{
	uint64_t root = alloc_table(f);
	assert_int_equal(rv_csr_write(f->h, 0x180, (mode << 60) | (root >> 12)), 0);
	assert_int_equal(f->h->satp >> 60, mode);
}

static int tr(struct fixture *f, uint64_t va, enum rv_access acc, unsigned priv, uint64_t *pa)
{
	return rv_translate(f->h, va, acc, priv, pa);
}

static void test_sv39_permissions(void **state)
{
	struct fixture *f = *state;
	uint64_t pa;
	use_mode(f, 8);
	map(f, 3, 0x1000, RAM_BASE + 0x5000, 0, V | R | W | A | D);	    /* S data */
	map(f, 3, 0x2000, RAM_BASE + 0x6000, 0, V | R | W | X | U | A | D); /* U rwx */
	map(f, 3, 0x3000, RAM_BASE + 0x7000, 0, V | X | A);		    /* execute-only */
	map(f, 3, 0x4000, RAM_BASE + 0x8000, 0, V | R | A);		    /* read-only */
	map(f, 3, 0x5000, RAM_BASE + 0x9000, 0, V | W | A | D);		    /* W without R */

	assert_int_equal(tr(f, 0x1234, RV_ACC_READ, RV_PRIV_S, &pa), 0);
	assert_int_equal(pa, RAM_BASE + 0x5234);
	/* M-mode is never translated. */
	assert_int_equal(tr(f, 0x1234, RV_ACC_READ, RV_PRIV_M, &pa), 0);
	assert_int_equal(pa, 0x1234);
	/* U cannot touch S pages. */
	assert_int_equal(tr(f, 0x1000, RV_ACC_READ, RV_PRIV_U, &pa), RV_EXC_LOAD_PAGE_FAULT);
	/* S touching U pages needs SUM, and can never execute them. */
	assert_int_equal(tr(f, 0x2000, RV_ACC_READ, RV_PRIV_S, &pa), RV_EXC_LOAD_PAGE_FAULT);
	f->h->mstatus |= MSTATUS_SUM;
	assert_int_equal(tr(f, 0x2000, RV_ACC_WRITE, RV_PRIV_S, &pa), 0);
	assert_int_equal(tr(f, 0x2000, RV_ACC_EXEC, RV_PRIV_S, &pa), RV_EXC_INSN_PAGE_FAULT);
	assert_int_equal(tr(f, 0x2000, RV_ACC_EXEC, RV_PRIV_U, &pa), 0);
	/* Execute-only: readable only with MXR. */
	assert_int_equal(tr(f, 0x3000, RV_ACC_READ, RV_PRIV_S, &pa), RV_EXC_LOAD_PAGE_FAULT);
	f->h->mstatus |= MSTATUS_MXR;
	assert_int_equal(tr(f, 0x3000, RV_ACC_READ, RV_PRIV_S, &pa), 0);
	assert_int_equal(tr(f, 0x3000, RV_ACC_EXEC, RV_PRIV_S, &pa), 0);
	/* Read-only page: stores fault with the store cause. */
	assert_int_equal(tr(f, 0x4000, RV_ACC_WRITE, RV_PRIV_S, &pa), RV_EXC_STORE_PAGE_FAULT);
	/* W without R is reserved. */
	assert_int_equal(tr(f, 0x5000, RV_ACC_WRITE, RV_PRIV_S, &pa), RV_EXC_STORE_PAGE_FAULT);
	/* Unmapped. */
	assert_int_equal(tr(f, 0x7000, RV_ACC_EXEC, RV_PRIV_S, &pa), RV_EXC_INSN_PAGE_FAULT);
	/* Non-canonical: bit 38 set but bits 63..39 clear. */
	assert_int_equal(tr(f, 1ULL << 38, RV_ACC_READ, RV_PRIV_S, &pa), RV_EXC_LOAD_PAGE_FAULT);
}

static void test_sv39_ad_bits(void **state)
{
	struct fixture *f = *state;
	uint64_t pa;
	use_mode(f, 8);
	uint64_t *pte = map(f, 3, 0x1000, RAM_BASE + 0x5000, 0, V | R | W);
	assert_int_equal(tr(f, 0x1000, RV_ACC_READ, RV_PRIV_S, &pa), 0);
	assert_true(*pte & A);
	assert_false(*pte & D);
	assert_int_equal(tr(f, 0x1000, RV_ACC_WRITE, RV_PRIV_S, &pa), 0);
	assert_true(*pte & D);
	/* A page whose PTE lies outside RAM gives an access fault. */
	assert_int_equal(rv_csr_write(f->h, 0x180, (8ULL << 60) | (0x1000ULL >> 12)), 0);
	assert_int_equal(tr(f, 0x1000, RV_ACC_READ, RV_PRIV_S, &pa), RV_EXC_LOAD_ACCESS);
}

static void test_superpages(void **state)
{
	struct fixture *f = *state;
	uint64_t pa;
	use_mode(f, 8);
	/* 2 MiB megapage, correctly aligned. */
	map(f, 3, 0x40000000, RAM_BASE + 0x200000, 1, V | R | W | A | D);
	assert_int_equal(tr(f, 0x40012345, RV_ACC_READ, RV_PRIV_S, &pa), 0);
	assert_int_equal(pa, RAM_BASE + 0x212345);
	/* Misaligned megapage (ppn[0] != 0) faults. */
	map(f, 3, 0x40200000, RAM_BASE + 0x201000, 1, V | R | A);
	assert_int_equal(tr(f, 0x40200000, RV_ACC_READ, RV_PRIV_S, &pa), RV_EXC_LOAD_PAGE_FAULT);
	/* 1 GiB gigapage. */
	map(f, 3, 0x80000000, RAM_BASE, 2, V | R | X | A);
	assert_int_equal(tr(f, 0x80123456, RV_ACC_EXEC, RV_PRIV_S, &pa), 0);
	assert_int_equal(pa, RAM_BASE + 0x123456);
}

static void test_sv48_and_satp(void **state)
{
	struct fixture *f = *state;
	uint64_t pa;
	use_mode(f, 9);
	map(f, 4, 0x7f0000001000ULL, RAM_BASE + 0x3000, 0, V | R | A);
	assert_int_equal(tr(f, 0x7f0000001008ULL, RV_ACC_READ, RV_PRIV_S, &pa), 0);
	assert_int_equal(pa, RAM_BASE + 0x3008);
	/* Sv48 canonical check uses bit 47. */
	assert_int_equal(tr(f, 1ULL << 48, RV_ACC_READ, RV_PRIV_S, &pa), RV_EXC_LOAD_PAGE_FAULT);
	/* Unsupported modes (Sv57 = 10, reserved = 5) leave satp unchanged. */
	uint64_t before = f->h->satp;
	assert_int_equal(rv_csr_write(f->h, 0x180, 10ULL << 60), 0);
	assert_int_equal(f->h->satp, before);
	assert_int_equal(rv_csr_write(f->h, 0x180, 5ULL << 60), 0);
	assert_int_equal(f->h->satp, before);
	/* TVM makes satp illegal from S-mode. */
	f->h->mstatus |= MSTATUS_TVM;
	rv_set_priv(f->h, RV_PRIV_S);
	uint64_t v;
	assert_int_equal(rv_csr_read(f->h, 0x180, &v), -1);
	rv_set_priv(f->h, RV_PRIV_M);
	assert_int_equal(rv_csr_read(f->h, 0x180, &v), 0);
}

static void test_tlb_code_pages(void **state)
{
	struct fixture *f = *state;
	struct rv_hart *h = f->h;
	uint64_t v;
	/* M-mode store fills the write TLB for a plain RAM page. */
	assert_int_equal(rv_store_slow(h, RAM_BASE + 0x10000, 8, 0x1122334455667788ULL), 0);
	struct rv_tlb_entry *e = &h->tlb[RV_PRIV_M][RV_ACC_WRITE][(RAM_BASE + 0x10000) >> 12 & 255];
	assert_int_equal(e->vtag, RAM_BASE + 0x10000);
	/* Once the page holds decoded code, it leaves every write TLB. */
	rv_core_mark_page(f->core, RAM_BASE + 0x10000, RV_PAGE_CODE);
	assert_int_not_equal(e->vtag, RAM_BASE + 0x10000);
	/* Misaligned loads crossing a page are assembled byte by byte. */
	uint8_t *p = f->ram + 0x10ffe;
	memcpy(p, "\x01\x02\x03\x04", 4);
	assert_int_equal(rv_load_slow(h, RAM_BASE + 0x10ffe, 4, &v), 0);
	assert_int_equal(v, 0x04030201);
	/* MMIO-less hole: access fault with mtval = address. */
	h->mtvec = RAM_BASE;
	assert_int_equal(rv_load_slow(h, 0x1000, 4, &v), -1);
	assert_int_equal(h->mcause, RV_EXC_LOAD_ACCESS);
	assert_int_equal(h->mtval, 0x1000);
}

static void test_reservation_broken_by_other_hart(void **state)
{
	struct fixture *f = *state;
	struct rv_hart *h0 = rv_core_hart(f->core, 0), *h1 = rv_core_hart(f->core, 1);
	struct rv_uop lr = { .opc = RV_OP_AMO, .rd = 5, .rs1 = 6, .rm = 2, .rs3 = 3 };
	struct rv_uop sc = { .opc = RV_OP_AMO, .rd = 7, .rs1 = 6, .rs2 = 8, .rm = 3, .rs3 = 3 };
	h1->x[6] = RAM_BASE + 0x20000;
	h1->x[8] = 42;
	assert_int_equal(rv_amo(h1, &lr), 0);
	assert_true(h1->resv_valid);
	/* A store by hart 0 to the reserved doubleword breaks the reservation. */
	assert_int_equal(rv_store_slow(h0, RAM_BASE + 0x20004, 4, 1), 0);
	assert_false(h1->resv_valid);
	assert_int_equal(rv_amo(h1, &sc), 0);
	assert_int_equal(h1->x[7], 1); /* SC failed */
	/* Without interference the SC succeeds and stores. */
	assert_int_equal(rv_amo(h1, &lr), 0);
	assert_int_equal(rv_store_slow(h0, RAM_BASE + 0x20010, 8, 1), 0); /* other granule */
	assert_int_equal(rv_amo(h1, &sc), 0);
	assert_int_equal(h1->x[7], 0);
	uint64_t v;
	memcpy(&v, f->ram + 0x20000, 8);
	assert_int_equal(v, 42);
	/* A DMA write breaks it too. */
	assert_int_equal(rv_amo(h1, &lr), 0);
	uint32_t z = 0;
	assert_int_equal(vm_bus_dma_write(&f->bus, RAM_BASE + 0x20000, &z, 4), 0);
	assert_false(h1->resv_valid);
	/* Misaligned LR raises load-address-misaligned. */
	h1->x[6] = RAM_BASE + 0x20004;
	assert_int_equal(rv_amo(h1, &lr), -1);
	assert_int_equal(h1->mcause, RV_EXC_LOAD_MISALIGNED);
}

/* csrrs/csrrc on mip must not latch the device-driven SEIP into software. */
static void test_mip_rmw_keeps_external_bits_out(void **state)
{
	struct fixture *f = *state;
	struct rv_hart *h = f->h;
	h->mtvec = RAM_BASE;
	h->mideleg = MIP_SSIP | MIP_STIP | MIP_SEIP;
	rv_hart_set_irq(h, MIP_SEIP | MIP_MTIP, 1);
	/* csrrs t0, mip, t1 with t1 = STIP */
	struct rv_uop set = { .opc = RV_OP_CSR, .rd = 5, .rs1 = 6, .rm = 2, .imm = 0x344 };
	h->x[6] = MIP_STIP;
	assert_int_equal(rv_csr_op(h, &set), 0);
	assert_int_equal(h->x[5] & (MIP_SEIP | MIP_MTIP), MIP_SEIP | MIP_MTIP); /* read sees them */
	assert_int_equal(h->mip, MIP_STIP);					/* not latched */
	/* csrrc t0, mip, t1 */
	struct rv_uop clr = set;
	clr.rm = 3;
	assert_int_equal(rv_csr_op(h, &clr), 0);
	assert_int_equal(h->mip, 0);
	/* The device lowers its line: nothing remains pending. */
	rv_hart_set_irq(h, MIP_SEIP | MIP_MTIP, 0);
	uint64_t v;
	assert_int_equal(rv_csr_read(h, 0x344, &v), 0);
	assert_int_equal(v, 0);
	/* Same through sip: csrrs sip with SSIP keeps SEIP out of the software bits. */
	rv_hart_set_irq(h, MIP_SEIP, 1);
	struct rv_uop sset = { .opc = RV_OP_CSR, .rd = 5, .rs1 = 6, .rm = 2, .imm = 0x144 };
	h->x[6] = MIP_SSIP;
	assert_int_equal(rv_csr_op(h, &sset), 0);
	assert_int_equal(h->mip, MIP_SSIP);
	/* Software may still set SEIP itself with a plain write. */
	assert_int_equal(rv_csr_write(h, 0x344, MIP_SEIP), 0);
	assert_int_equal(h->mip, MIP_SEIP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sv39_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sv39_ad_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_superpages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sv48_and_satp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tlb_code_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reservation_broken_by_other_hart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mip_rmw_keeps_external_bits_out, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
