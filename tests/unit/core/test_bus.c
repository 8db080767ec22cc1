/* Unit tests for lib/vm/bus.c: region bounds are checked for hostile input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vessel/vm/bus.h"

static uint64_t last_write;

static int dev_read(void *opaque, uint64_t off, unsigned size, uint64_t *v)
{
	*v = off + size;
	return 0;
}

static int dev_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
	last_write = v;
	return 0;
}

static const struct vm_mmio_ops dev_ops = { dev_read, dev_write };

static void test_bus_bounds(void **state)
{
	static uint8_t ram[4096];
	struct vm_bus bus;
	struct vs_err err = VS_ERR_INIT;
	vm_bus_init(&bus);
	assert_int_equal(vm_bus_add_ram(&bus, 0x80000000, sizeof(ram), ram, false, "ram", &err), 0);
	assert_int_equal(vm_bus_add_mmio(&bus, 0x10000000, 0x100, &dev_ops, NULL, "dev", &err), 0);
	assert_int_equal(vm_bus_add_mmio(&bus, 0x80000800, 0x100, &dev_ops, NULL, "x", &err),
			 -EINVAL);
	assert_non_null(vm_bus_ram_ptr(&bus, 0x80000000, 4096));
	assert_null(vm_bus_ram_ptr(&bus, 0x80000000, 4097));
	assert_null(vm_bus_ram_ptr(&bus, 0x80000fff, 2));
	assert_null(vm_bus_ram_ptr(&bus, UINT64_MAX, 2));
	assert_null(vm_bus_ram_ptr(&bus, 0x80001000, 0));
	uint8_t buf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	assert_int_equal(vm_bus_dma_write(&bus, 0x80000ff8, buf, 8), 0);
	assert_int_equal(vm_bus_dma_write(&bus, 0x80000ff9, buf, 8), -EFAULT);
	assert_int_equal(vm_bus_dma_read(&bus, 0x7fffffff, buf, 2), -EFAULT);
	uint64_t v = 0;
	assert_int_equal(vm_bus_read(&bus, 0x80000ff8, 8, &v), 0);
	assert_int_equal(v, 0x0807060504030201ULL);
	assert_int_equal(vm_bus_read(&bus, 0x10000010, 4, &v), 0);
	assert_int_equal(v, 0x14);
	assert_int_equal(vm_bus_write(&bus, 0x10000004, 4, 77), 0);
	assert_int_equal(last_write, 77);
	assert_int_equal(vm_bus_read(&bus, 0x100000fe, 4, &v), -1);
	assert_int_equal(vm_bus_read(&bus, 0x20000000, 4, &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bus_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
