/* trigger.c: Sdtrig address-match triggers, the behaviour QEMU 7.2 shares
 * (diffed): tselect/tdata1/tdata2 access, tinfo listing types 2 (mcontrol)
 * and 6 (mcontrol6), execute, load and store triggers of both types raising
 * a breakpoint exception (cause 3) before the instruction (mepc = its pc,
 * no register or memory written), the u/s/m bits selecting the privilege
 * modes, the load/store/execute bits selecting the access, two triggers at
 * once.  The triggers here never enable M-mode (QEMU 7.2 has no tcontrol):
 * the code runs in S or U mode.  trigger_vessel.c covers the rest.  The code
 * runs hot first, so the triggers are armed over translated blocks. */
#include "isa.h"

#define CSR_TSELECT 0x7a0
#define CSR_TDATA1  0x7a1
#define CSR_TDATA2  0x7a2
#define CSR_TINFO   0x7a4

#define T_LOAD	(1UL << 0)
#define T_STORE (1UL << 1)
#define T_EXEC	(1UL << 2)
#define T_U	(1UL << 3)
#define T_S	(1UL << 4)
#define TYPE2	(2UL << 60)
#define TYPE6	(6UL << 60)

/* Straight-line code in the middle of a block, so an execute trigger on
 * trig_mid is not at a block start. */
asm(".text\n .globl trig_code, trig_mid, trig_load, trig_store\n"
    "trig_code:\n"
    " addi a0, a0, 1\n addi a0, a0, 1\n"
    "trig_mid:\n"
    " addi a0, a0, 100\n"
    "trig_load:\n"
    " ld a1, 0(a2)\n"
    "trig_store:\n"
    " sd a0, 8(a2)\n"
    " add a0, a0, a1\n"
    " ret\n");
extern char trig_code[], trig_mid[], trig_load[], trig_store[];

static volatile u64 data[2] = { 1000, 0 };

static void set_trigger(u64 index, u64 tdata1, u64 tdata2)
{
	asm volatile(
	    "csrw 0x7a0, %0\n csrw 0x7a1, zero\n csrw 0x7a2, %2\n csrw 0x7a1, %1" ::"r"(index),
	    "r"(tdata1), "r"(tdata2)
	    : "memory");
}

static void clear_triggers(void)
{
	set_trigger(1, TYPE2, 0);
	set_trigger(0, TYPE2, 0);
}

/* Run trig_code with a0 = 0, a2 = data; a trap resumes after the call with
 * a0 = ~0. */
static long run_code(long expect_trap)
{
	if (expect_trap) /* before the register variables: a call clobbers them */
		isa_expect_trap();
	register u64 a0 asm("a0") = 0;
	register u64 a1 asm("a1") = 0;
	register u64 a2 asm("a2") = (u64)data;
	asm volatile("la t6, 1f\n jalr ra, 0(%3)\n j 2f\n"
		     "1: li a0, -1\n 2:"
		     : "+r"(a0), "+r"(a1), "+r"(a2)
		     : "r"(trig_code)
		     : "t6", "ra", "memory");
	return (long)a0;
}

/* Runs trig_code in mode and prints what happened. */
static void case_run(const char *name, int mode, int expect_trap)
{
	data[0] = 1000;
	data[1] = 0;
	long r = isa_run_in_mode(mode, run_code, expect_trap);
	isa_printf("%s: a0 %ld data[1] %ld\n", name, r, (long)data[1]);
	if (expect_trap) {
		isa_check("  cause", isa_last_trap.cause, CAUSE_BREAKPOINT);
		isa_printf("  mepc trig_code+%ld MPP %ld\n",
			   (long)(isa_last_trap.epc - (u64)trig_code),
			   (long)((isa_last_trap.status >> 11) & 3));
	}
}

void test_main(void)
{
	/* tselect / tinfo / reset state */
	csr_write(0x7a0, 1);
	isa_check("tselect 1", csr_read(0x7a0), 1);
	csr_write(0x7a0, 0);
	isa_check("tselect 0", csr_read(0x7a0), 0);
	csr_write(0x7a0, 1000);
	isa_check("tselect 1000 ignored", csr_read(0x7a0), 0);
	isa_check("tinfo lists types 2 and 6", csr_read(0x7a4) & 0x44, 0x44);
	isa_check("tdata1 type 2 at reset", csr_read(0x7a1) >> 60, 2);
	isa_check("tdata2 0 at reset", csr_read(0x7a2), 0);
	set_trigger(0, TYPE2 | T_EXEC | T_S | T_U, 0x80001234UL);
	isa_check("tdata1 kept bits", csr_read(0x7a1) & 0x7f, T_EXEC | T_S | T_U);
	isa_check("tdata2 kept", csr_read(0x7a2), 0x80001234UL);
	set_trigger(1, TYPE6 | T_LOAD | T_U, 0x80004321UL);
	isa_check("trigger 1 type 6", csr_read(0x7a1) >> 60, 6);
	isa_check("trigger 1 kept bits", csr_read(0x7a1) & 0x7f, T_LOAD | T_U);
	csr_write(0x7a0, 0);
	isa_check("trigger 0 unchanged", csr_read(0x7a2), 0x80001234UL);
	clear_triggers();

	for (int i = 0; i < 200; i++) { /* hot: translated by vessel's JIT */
		isa_run_in_mode(MODE_S, run_code, 0);
		isa_run_in_mode(MODE_U, run_code, 0);
	}
	case_run("no trigger, S", MODE_S, 0);

	/* execute */
	for (int t = 0; t < 2; t++) {
		u64 type = t ? TYPE6 : TYPE2;
		isa_printf("type %d\n", t ? 6 : 2);
		set_trigger(0, type | T_EXEC | T_S | T_U, (u64)trig_mid);
		case_run("exec S", MODE_S, 1);
		case_run("exec U", MODE_U, 1);
		set_trigger(0, type | T_EXEC | T_U, (u64)trig_mid);
		case_run("exec U-only, in S", MODE_S, 0);
		case_run("exec U-only, in U", MODE_U, 1);
		set_trigger(0, type | T_EXEC | T_S, (u64)trig_code);
		case_run("exec S-only at the first insn, in S", MODE_S, 1);
		case_run("exec S-only, in U", MODE_U, 0);
		set_trigger(0, type | T_LOAD | T_STORE | T_S | T_U, (u64)trig_mid);
		case_run("load/store trigger on code address", MODE_S, 0);
		set_trigger(0, type | T_S | T_U, (u64)trig_mid);
		case_run("no access bit: disabled", MODE_S, 0);
		set_trigger(0, type | T_EXEC, (u64)trig_mid);
		case_run("no mode bit: disabled", MODE_S, 0);

		/* load and store */
		set_trigger(0, type | T_LOAD | T_S | T_U, (u64)&data[0]);
		case_run("load S", MODE_S, 1);
		case_run("load U", MODE_U, 1);
		set_trigger(0, type | T_STORE | T_S | T_U, (u64)&data[0]);
		case_run("store trigger on loaded address", MODE_S, 0);
		set_trigger(0, type | T_STORE | T_S | T_U, (u64)&data[1]);
		case_run("store S", MODE_S, 1);
		case_run("store U", MODE_U, 1);
		set_trigger(0, type | T_LOAD | T_U, (u64)&data[1]);
		case_run("load trigger on stored address", MODE_U, 0);
		set_trigger(0, type | T_STORE | T_U, (u64)&data[1]);
		case_run("store U-only, in S", MODE_S, 0);

		/* two triggers: the earlier instruction's fires */
		set_trigger(0, type | T_STORE | T_S | T_U, (u64)&data[1]);
		set_trigger(1, type | T_EXEC | T_S | T_U, (u64)trig_load);
		case_run("exec (trigger 1) before store (trigger 0)", MODE_S, 1);
		set_trigger(1, TYPE2, 0);
		case_run("trigger 1 off", MODE_S, 1);
		clear_triggers();
		case_run("all off", MODE_U, 0);
	}

	/* a trigger left armed for M only does not fire in S or U */
	set_trigger(0, TYPE2 | T_EXEC | T_LOAD | T_STORE | (1UL << 6), (u64)trig_mid);
	case_run("M-only trigger, in S", MODE_S, 0);
	case_run("M-only trigger, in U", MODE_U, 0);
	clear_triggers();
}
