/*
 * Unit test of the run loop's console forwarding (lib/vm/machine/machine.c,
 * vm_machine_note_output): with the harts on the loop's thread, output that
 * starts after a quiet poll must reach the host about 100 us after its
 * first byte, not when the slice it was written in ends.  The guest writes
 * one byte to a device that puts it into a pipe the loop watches, then runs
 * cold code (FENCE.I after FENCE.I: every instruction is decoded anew), so a
 * whole slice of VM_SLICE_INSNS instructions is slow; the watch callback
 * counts the instructions retired when the byte was forwarded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vessel/core/util.h"
#include "vessel/vm/bus.h"
#include "vessel/vm/cpu.h"
#include "vessel/vm/machine.h"

#define RAM_BASE     0x80000000ULL
#define RAM_SIZE     (1ULL << 20)
#define DEV_BASE     0x10000000ULL
#define INSN_LUI_T0  0x100002b7u /* lui t0, 0x10000 (t0 = DEV_BASE) */
#define INSN_SB_T0   0x00028023u /* sb zero, 0(t0) */
#define INSN_FENCE_I 0x0000100fu /* fence.i */
#define INSN_J_SELF  0x0000006fu /* j . */
#define COLD_INSNS   60000	 /* fence.i count: three slices' worth */

struct probe {
	struct vm_machine *m;
	int pipe[2];
	unsigned writes;
	uint64_t instret_forwarded; /* when the loop read the byte */
	bool forwarded;
};

static int dev_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	*val = 0;
	return 0;
}

/* As the UART does: the byte goes into the pipe, the loop is told. */
static int dev_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct probe *p = opaque;
	uint8_t b = (uint8_t)val;
	assert_int_equal(write(p->pipe[1], &b, 1), 1);
	p->writes++;
	vm_machine_note_output(p->m);
	return 0;
}

static const struct vm_mmio_ops dev_ops = { dev_read, dev_write };

static void forwarded(void *opaque)
{
	struct probe *p = opaque;
	uint8_t buf[16];
	if (read(p->pipe[0], buf, sizeof(buf)) <= 0 || p->forwarded)
		return;
	p->forwarded = true;
	p->instret_forwarded = vm_machine_hart(p->m, 0)->instret;
	vm_machine_request_exit(p->m, VM_EXIT_USER, 0);
}

static void test_first_byte_not_held_for_the_slice(void **state)
{
	(void)state;
	struct vs_err err = VS_ERR_INIT;
	struct vm_machine_config cfg = {
		.ram_base = RAM_BASE, .ram_size = RAM_SIZE, .ncpus = 1, .timeout_sec = 120
	};
	struct probe p = { 0 };
	p.m = vm_machine_new(&cfg, &err);
	assert_non_null(p.m);
	if (vm_machine_hart_threads(p.m)) { /* VESSEL_HART_THREADS=1: not this loop */
		vm_machine_free(p.m);
		skip();
	}
	assert_int_equal(pipe(p.pipe), 0);
	assert_int_equal(
	    vm_bus_add_mmio(vm_machine_bus(p.m), DEV_BASE, 0x100, &dev_ops, &p, "probe", &err), 0);
	assert_int_equal(vm_machine_watch_fd(p.m, p.pipe[0], forwarded, &p), 0);
	uint32_t *code = (uint32_t *)(void *)vm_machine_ram(p.m);
	code[0] = INSN_LUI_T0;
	code[1] = INSN_SB_T0;
	for (unsigned i = 0; i < COLD_INSNS; i++)
		code[2 + i] = INSN_FENCE_I;
	code[2 + COLD_INSNS] = INSN_J_SELF;
	vm_machine_set_boot(p.m, RAM_BASE, 0, 0);

	struct vm_exit ex;
	assert_int_equal(vm_machine_run(p.m, &ex, &err), 0);
	assert_int_equal(ex.kind, VM_EXIT_USER);
	assert_int_equal(p.writes, 1);
	assert_true(p.forwarded);
	/* Forwarded after 100 us of short slices (VM_SLICE_INSNS / 16 each),
	 * long before the end of the slice the byte was written in. */
	assert_in_range(p.instret_forwarded, 3, VM_SLICE_INSNS * 3 / 4);
	vm_machine_free(p.m);
	close(p.pipe[0]);
	close(p.pipe[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_byte_not_held_for_the_slice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
