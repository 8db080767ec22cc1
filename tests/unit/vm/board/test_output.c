/*
 * Unit test of console forwarding with the harts on the loop's thread
 * (lib/vm/machine/uart.c, vm_machine_note_output): output that starts after
 * a quiet interval must reach the host at its first byte, not when the
 * slice it was written in ends (a whole slice of cold code takes
 * milliseconds, e.g. right after a restore).  The guest writes one byte to
 * the UART, whose output goes into a pipe as on the virt board, then runs
 * cold code (FENCE.I after FENCE.I: every instruction is decoded anew).
 * The pipe's reader (the UART's forward hook and the loop's watch, as the
 * board sets them) counts the guest instructions retired when the byte was
 * read: measured in instructions, not host time, so a loaded host does not
 * change the outcome.  Without the forward the loop reads the byte after the
 * slice: VM_SLICE_INSNS (20000) instructions.
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
#include "vessel/vm/uart.h"

#define RAM_BASE     0x80000000ULL
#define RAM_SIZE     (1ULL << 20)
#define INSN_LUI_T0  0x100002b7u /* lui t0, 0x10000 (t0 = VM_UART_BASE) */
#define INSN_LI_T1   0x04100313u /* li t1, 'A' */
#define INSN_SB_T1   0x00628023u /* sb t1, 0(t0) */
#define INSN_FENCE_I 0x0000100fu /* fence.i */
#define INSN_J_SELF  0x0000006fu /* j . */
#define COLD_INSNS   60000	 /* fence.i count: three slices' worth */
#define FORWARD_MAX  64		 /* instructions: far below a slice */

struct probe {
	struct vm_machine *m;
	int pipe[2];
	uint64_t instret_read; /* when the byte was read from the pipe */
	bool read;
	uint8_t byte;
};

static void reader(void *opaque)
{
	struct probe *p = opaque;
	uint8_t buf[16];
	ssize_t n = read(p->pipe[0], buf, sizeof(buf));
	if (n <= 0 || p->read)
		return;
	p->read = true;
	p->byte = buf[0];
	p->instret_read = vm_machine_hart(p->m, 0)->instret;
	vm_machine_request_exit(p->m, VM_EXIT_USER, 0);
}

static void run_probe(struct probe *p, bool forward)
{
	struct vs_err err = VS_ERR_INIT;
	struct vm_machine_config cfg = {
		.ram_base = RAM_BASE, .ram_size = RAM_SIZE, .ncpus = 1, .timeout_sec = 120
	};
	p->m = vm_machine_new(&cfg, &err);
	assert_non_null(p->m);
	if (vm_machine_hart_threads(p->m)) { /* VESSEL_HART_THREADS=1: not this loop */
		vm_machine_free(p->m);
		skip();
	}
	assert_int_equal(pipe(p->pipe), 0);
	struct vm_uart *u = vm_uart_new(p->m, VM_UART_BASE, -1, p->pipe[1], &err);
	assert_non_null(u);
	if (forward)
		vm_uart_set_forward(u, reader, p);
	assert_int_equal(vm_machine_watch_fd(p->m, p->pipe[0], reader, p), 0);
	uint32_t *code = (uint32_t *)(void *)vm_machine_ram(p->m);
	code[0] = INSN_LUI_T0;
	code[1] = INSN_LI_T1;
	code[2] = INSN_SB_T1;
	for (unsigned i = 0; i < COLD_INSNS; i++)
		code[3 + i] = INSN_FENCE_I;
	code[3 + COLD_INSNS] = INSN_J_SELF;
	vm_machine_set_boot(p->m, RAM_BASE, 0, 0);

	struct vm_exit ex;
	assert_int_equal(vm_machine_run(p->m, &ex, &err), 0);
	assert_int_equal(ex.kind, VM_EXIT_USER);
	assert_true(p->read);
	assert_int_equal(p->byte, 'A');
	vm_uart_free(u);
	vm_machine_free(p->m);
	close(p->pipe[0]);
	close(p->pipe[1]);
}

static void test_first_byte_forwarded_at_once(void **state)
{
	(void)state;
	struct probe p = { 0 };
	run_probe(&p, true);
	assert_in_range(p.instret_read, 0, FORWARD_MAX);
}

/* The measure itself: without the UART's forward hook the byte waits for
 * the loop, i.e. for the end of the slice (so the bound above means
 * something). */
static void test_without_forward_the_slice_ends_first(void **state)
{
	(void)state;
	struct probe p = { 0 };
	run_probe(&p, false);
	assert_true(p.instret_read > VM_SLICE_INSNS / 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_byte_forwarded_at_once),
		cmocka_unit_test(test_without_forward_the_slice_ends_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
