/*
 * Unit tests of the PLIC (lib/vm/machine/plic.c): priorities, thresholds,
 * claim/complete of level-triggered sources, per-context outputs to the
 * harts' MEIP/SEIP, and bad register accesses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vessel/vm/plic.h"

#define MEIP (1ULL << 11)
#define SEIP (1ULL << 9)

static uint64_t hart_mip[4];

static void set_hart_irq(void *opaque, unsigned hart, uint64_t bits, int level)
{
	assert_true(hart < 4);
	if (level)
		hart_mip[hart] |= bits;
	else
		hart_mip[hart] &= ~bits;
}

static uint32_t rd(struct plic *p, uint64_t off)
{
	uint64_t v = 0;
	assert_int_equal(plic_mmio_ops.read(p, off, 4, &v), 0);
	return (uint32_t)v;
}

static void wr(struct plic *p, uint64_t off, uint32_t v)
{
	assert_int_equal(plic_mmio_ops.write(p, off, 4, v), 0);
}

#define CTX_ENABLE(ctx)	   (0x2000 + 0x80 * (ctx))
#define CTX_THRESHOLD(ctx) (0x200000 + 0x1000 * (ctx))
#define CTX_CLAIM(ctx)	   (0x200004 + 0x1000 * (ctx))

static void test_plic_claim_complete(void **state)
{
	struct plic p;
	memset(hart_mip, 0, sizeof(hart_mip));
	assert_int_equal(plic_init(&p, 2, set_hart_irq, NULL, NULL), 0);
	struct vm_irq_line uart = plic_irq_line(&p, 10), disk = plic_irq_line(&p, 1);

	wr(&p, 4 * 10, 1);
	wr(&p, 4 * 1, 3);
	wr(&p, CTX_ENABLE(3), 1U << 10 | 1U << 1); /* hart 1, S mode */
	vm_irq_set(&uart, 1);
	assert_int_equal(rd(&p, 0x1000), 1U << 10);
	assert_int_equal(hart_mip[1], SEIP);
	assert_int_equal(hart_mip[0], 0);

	vm_irq_set(&disk, 1); /* higher priority wins the claim */
	assert_int_equal(rd(&p, CTX_CLAIM(3)), 1);
	assert_int_equal(rd(&p, CTX_CLAIM(3)), 10);
	assert_int_equal(rd(&p, CTX_CLAIM(3)), 0);
	assert_int_equal(hart_mip[1], 0);

	/* Completing a source whose line is still high re-raises it. */
	wr(&p, CTX_CLAIM(3), 10);
	assert_int_equal(hart_mip[1], SEIP);
	vm_irq_set(&uart, 0);
	assert_int_equal(hart_mip[1], 0);
	vm_irq_set(&disk, 0);
	wr(&p, CTX_CLAIM(3), 1);
	assert_int_equal(hart_mip[1], 0);

	/* Threshold masks priorities at or below it. */
	wr(&p, CTX_THRESHOLD(3), 3);
	vm_irq_set(&disk, 1);
	assert_int_equal(hart_mip[1], 0);
	wr(&p, CTX_THRESHOLD(3), 2);
	assert_int_equal(hart_mip[1], SEIP);

	/* M context of hart 0 drives MEIP. */
	wr(&p, CTX_ENABLE(0), 1U << 1);
	assert_int_equal(hart_mip[0], MEIP);
	wr(&p, 4 * 1, 0); /* priority 0 never interrupts */
	assert_int_equal(hart_mip[0], 0);
	assert_int_equal(hart_mip[1], 0);
}

static void test_plic_bad_accesses(void **state)
{
	struct plic p;
	uint64_t v;
	assert_int_equal(plic_init(&p, 9, set_hart_irq, NULL, NULL), -EINVAL);
	assert_int_equal(plic_init(&p, 1, set_hart_irq, NULL, NULL), 0);
	assert_int_equal(plic_mmio_ops.read(&p, 2, 4, &v), -1);
	assert_int_equal(plic_mmio_ops.read(&p, 0, 8, &v), -1);
	/* Contexts of absent harts and source 0 are inert. */
	wr(&p, CTX_ENABLE(5), 0xffffffff);
	assert_int_equal(rd(&p, CTX_ENABLE(5)), 0);
	wr(&p, CTX_ENABLE(1), 0xffffffff);
	assert_int_equal(rd(&p, CTX_ENABLE(1)), 0xfffffffe);
	wr(&p, 0, 7);
	assert_int_equal(rd(&p, 0), 0);
	plic_set_irq(&p, 0, 1);
	plic_set_irq(&p, 5000, 1);
	assert_int_equal(rd(&p, 0x1000), 0);
	/* Completing something never claimed changes nothing. */
	wr(&p, CTX_CLAIM(1), 77);
	wr(&p, CTX_CLAIM(1), 4);
	assert_int_equal(rd(&p, CTX_CLAIM(1)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plic_claim_complete),
		cmocka_unit_test(test_plic_bad_accesses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
