/*
 * Unit test of console forwarding with the harts on the loop's thread
 * (lib/vm/machine/uart.c, vm_machine_note_output): output that starts after
 * a quiet interval must reach the host at its first byte, not when the
 * slice it was written in ends (a whole slice of cold code takes
 * milliseconds, e.g. right after a restore).  The guest writes one byte to
 * the UART, whose output goes into a pipe as on the virt board, then runs
 * cold code (FENCE.I after FENCE.I: every instruction is decoded anew).
 * The same for the newline that ends a line written at once.  The pipe's
 * reader (the UART's forward hook and the loop's watch, as the board sets
 * them) counts the guest instructions retired when the byte was read: measured in instructions, not host time, so a loaded host does not
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

#define RAM_BASE      0x80000000ULL
#define RAM_SIZE      (1ULL << 20)
#define INSN_LUI_T0   0x100002b7u /* lui t0, 0x10000 (t0 = VM_UART_BASE) */
#define INSN_LI_T1_A  0x04100313u /* li t1, 'A' */
#define INSN_LI_T1_B  0x04200313u /* li t1, 'B' */
#define INSN_LI_T1_NL 0x00a00313u /* li t1, '\n' */
#define INSN_SB_T1    0x00628023u /* sb t1, 0(t0) */
#define INSN_FENCE_I  0x0000100fu /* fence.i */
#define INSN_J_SELF   0x0000006fu /* j . */
#define COLD_INSNS    60000	  /* fence.i count: three slices' worth */
#define FORWARD_MAX   64	  /* instructions: far below a slice */

struct probe {
	struct vm_machine *m;
	int pipe[2];
	const char *want; /* what the guest writes */
	char got[16];	  /* what was read from the pipe */
	size_t ngot;
	uint64_t instret_read; /* when its last byte was read */
};

static void reader(void *opaque)
{
	struct probe *p = opaque;
	ssize_t n = read(p->pipe[0], p->got + p->ngot, sizeof(p->got) - 1 - p->ngot);
	if (n <= 0)
		return;
	p->ngot += (size_t)n;
	if (p->ngot == strlen(p->want)) {
		p->instret_read = vm_machine_hart(p->m, 0)->instret;
		vm_machine_request_exit(p->m, VM_EXIT_USER, 0);
	}
}

/* The guest writes p->want (up to 3 bytes), then runs cold code. */
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
	unsigned k = 0;
	code[k++] = INSN_LUI_T0;
	for (const char *c = p->want; *c; c++) {
		code[k++] = *c == 'A' ? INSN_LI_T1_A : *c == 'B' ? INSN_LI_T1_B : INSN_LI_T1_NL;
		code[k++] = INSN_SB_T1;
	}
	for (unsigned i = 0; i < COLD_INSNS; i++)
		code[k++] = INSN_FENCE_I;
	code[k] = INSN_J_SELF;
	vm_machine_set_boot(p->m, RAM_BASE, 0, 0);

	struct vm_exit ex;
	assert_int_equal(vm_machine_run(p->m, &ex, &err), 0);
	assert_int_equal(ex.kind, VM_EXIT_USER);
	p->got[p->ngot] = 0;
	assert_string_equal(p->got, p->want);
	vm_uart_free(u);
	vm_machine_free(p->m);
	close(p->pipe[0]);
	close(p->pipe[1]);
}

static void test_first_byte_forwarded_at_once(void **state)
{
	(void)state;
	struct probe p = { .want = "A" };
	run_probe(&p, true);
	assert_in_range(p.instret_read, 0, FORWARD_MAX);
}

/* A line written at once: its first byte goes out at once, and so does
 * the newline that ends it (the bytes between wait for it, as they come
 * within 100 us of the first), not at the end of the slice. */
static void test_line_end_forwarded_at_once(void **state)
{
	(void)state;
	struct probe p = { .want = "AB\n" };
	run_probe(&p, true);
	assert_in_range(p.instret_read, 0, FORWARD_MAX);
}

/* The measure itself: without the UART's forward hook the byte waits for
 * the loop, i.e. for the end of the slice (so the bound above means
 * something). */
static void test_without_forward_the_slice_ends_first(void **state)
{
	(void)state;
	struct probe p = { .want = "A" };
	run_probe(&p, false);
	assert_true(p.instret_read > VM_SLICE_INSNS / 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_byte_forwarded_at_once),
		cmocka_unit_test(test_line_end_forwarded_at_once),
		cmocka_unit_test(test_without_forward_the_slice_ends_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
