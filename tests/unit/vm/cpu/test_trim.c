/*
 * Unit tests for rv_core_trim (lib/vm/cpu/cache.c): an idle core whose
 * last flush is long past gives its decoded blocks and JIT code back to the
 * kernel (the arena pages are no longer resident), a recently flushed or
 * nearly empty one is left alone, and a guest loop keeps running correctly
 * across a trim (its blocks are decoded again).  The arena's pages are made
 * resident ahead of the blocks decoded into them (no page fault per page),
 * and a trim gives those back too; after a snapshot load the jump caches
 * are resident at once (not faulted in twice a page by the first lookups).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "cpu_internal.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1ULL << 20)
#define FILL	 (1U << 20) /* bytes of arena made resident by hand */

struct fixture {
	struct vm_bus bus;
	uint8_t *ram;
	struct rv_core *core;
	struct rv_hart *h;
};

static uint64_t fake_time(void *opaque)
{
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vs_err err = VS_ERR_INIT;
	f->ram = calloc(1, RAM_SIZE);
	vm_bus_init(&f->bus);
	assert_int_equal(vm_bus_add_ram(&f->bus, RAM_BASE, RAM_SIZE, f->ram, false, "ram", &err),
			 0);
	f->core = rv_core_new(&f->bus, 1, fake_time, NULL, &err);
	assert_non_null(f->core);
	f->h = rv_core_hart(f->core, 0);
	/* addi x1, x1, 1 ; jal x0, -4 : an endless counting loop */
	const uint32_t prog[] = { 0x00108093, 0xffdff06f };
	memcpy(f->ram, prog, sizeof(prog));
	rv_hart_reset(f->h, RAM_BASE);
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

/* Resident pages of [p, p+len). */
static size_t resident(const void *p, size_t len)
{
	size_t n = (len + 4095) / 4096, count = 0;
	unsigned char *vec = malloc(n);
	assert_non_null(vec);
	assert_int_equal(mincore((void *)p, len, vec), 0);
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	free(vec);
	return count;
}

/* Run the loop (long enough to get hot and translated); its counter. */
static uint64_t run(struct fixture *f)
{
	rv_hart_run(f->h, 100000);
	return f->h->x[1];
}

/* Pretend the guest decoded FILL bytes of blocks since the last flush. */
static void fill_arena(struct rv_core *core)
{
	size_t at = (core->arena_used + 4095) & ~(size_t)4095;
	memset(core->arena + at, 0xa5, FILL);
	core->arena_used = at + FILL;
}

static void test_trim_releases(void **state)
{
	struct fixture *f = *state;
	struct rv_core *core = f->core;
	uint64_t c1 = run(f);
	assert_true(c1 > 0);
	assert_true(core->arena_used > 0);
	fill_arena(core);
	assert_true(resident(core->arena, core->arena_used) >= FILL / 4096);
	uint64_t flushes = core->flushes;
	uint64_t now = core->last_flush_ns + RV_TRIM_AFTER_NS;
	assert_true(rv_core_trim(core, now));
	assert_int_equal(rv_core_trims(core), 1);
	assert_int_equal(core->flushes, flushes + 1);
	assert_int_equal(core->arena_used, 0);
	assert_int_equal(core->jit_used, 0);
	assert_int_equal(resident(core->arena, FILL + 4096), 0);
	if (core->jit_code)
		assert_int_equal(resident(core->jit_code, 65536), 0);
	/* The loop goes on from where it was, decoding its block again. */
	uint64_t c2 = run(f);
	assert_true(c2 > c1);
	assert_true(core->arena_used > 0);
	assert_int_equal(f->h->pc & ~7ULL, RAM_BASE);
	/* the next trim waits twice as long (up to RV_TRIM_MAX_NS) */
	fill_arena(core);
	assert_false(rv_core_trim(core, now + 2 * RV_TRIM_AFTER_NS - 1));
	assert_true(rv_core_trim(core, now + 2 * RV_TRIM_AFTER_NS));
	for (unsigned i = 0; i < 10; i++) {
		fill_arena(core);
		now = core->last_flush_ns + RV_TRIM_MAX_NS;
		assert_true(rv_core_trim(core, now));
	}
	fill_arena(core);
	assert_false(rv_core_trim(core, now + RV_TRIM_MAX_NS - 1));
	assert_int_equal(rv_core_trims(core), 12);
}

static void test_trim_declines(void **state)
{
	struct fixture *f = *state;
	struct rv_core *core = f->core;
	run(f);
	/* little cached: nothing worth giving back */
	assert_false(rv_core_trim(core, core->last_flush_ns + 10 * RV_TRIM_AFTER_NS));
	fill_arena(core);
	/* flushed too recently: a busy guest is not trimmed */
	assert_false(rv_core_trim(core, core->last_flush_ns + RV_TRIM_AFTER_NS - 1));
	assert_int_equal(rv_core_trims(core), 0);
	assert_true(resident(core->arena, core->arena_used) >= FILL / 4096);
	uint64_t c1 = f->h->x[1];
	assert_true(run(f) > c1);
}

static void test_arena_populated_ahead(void **state)
{
	struct fixture *f = *state;
	struct rv_core *core = f->core;
	assert_true(run(f) > 0);
	assert_true(core->arena_used > 0 && core->arena_used < 4096);
	if (core->arena_populate_off)
		skip(); /* a kernel without MADV_POPULATE_WRITE (Linux < 5.14) */
	/* one block decoded, yet the arena's first 64 KiB are resident */
	assert_true(core->arena_populated >= 64 << 10);
	assert_int_equal(resident(core->arena, 64 << 10), 16);
	/* handed back with the rest; decoding again populates again */
	size_t populated = core->arena_populated;
	rv_core_flush_release(core);
	assert_int_equal(core->arena_populated, 0);
	assert_int_equal(resident(core->arena, populated), 0);
	assert_true(run(f) > 0);
	assert_int_equal(resident(core->arena, 64 << 10), 16);
}

static void test_after_load_jcache_resident(void **state)
{
	struct fixture *f = *state;
	struct rv_core *core = f->core;
	assert_true(run(f) > 0);
	rv_core_after_load(core);
	uintptr_t a = (uintptr_t)core->ext[0].jcache;
	uintptr_t lo = (a + 4095) & ~(uintptr_t)4095;
	uintptr_t hi = (a + sizeof(core->ext[0].jcache)) & ~(uintptr_t)4095;
	/* the entries were dropped (the blocks are gone), the pages stay */
	assert_int_equal(core->ext[0].jcache[0].b, NULL);
	void *probe = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(probe != MAP_FAILED);
	bool can = madvise(probe, 4096, MADV_POPULATE_WRITE) == 0;
	munmap(probe, 4096);
	if (!can)
		skip(); /* a kernel without MADV_POPULATE_WRITE (Linux < 5.14) */
	assert_int_equal(resident((void *)lo, hi - lo), (hi - lo) / 4096);
	uint64_t c1 = f->h->x[1];
	assert_true(run(f) > c1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_trim_releases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim_declines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arena_populated_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_after_load_jcache_resident, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
