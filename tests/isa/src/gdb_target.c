/* gdb_target.c: the program tests/isa/gdb-stub.sh debugs with gdb-multiarch
 * through `vessel-vmm --gdb`.  Hart 0 calls gdb_add() ten times (breakpoints,
 * steps, argument and variable reads), writes gdb_counter (a watchpoint) and
 * waits for the debugger to set gdb_poke (a memory write); hart 1 spins in
 * its own loop (a second thread). */
#include "isa.h"

volatile u64 gdb_counter;
volatile u64 gdb_poke;
volatile u64 gdb_hart1_loops;
volatile int gdb_done;

__attribute__((noinline)) u64 gdb_add(u64 x)
{
	gdb_counter += x;
	return gdb_counter;
}

void smp_main(u64 hartid);
void smp_main(u64 hartid)
{
	while (!gdb_done)
		gdb_hart1_loops++;
	for (;;)
		asm volatile("wfi");
}

void test_main(void)
{
	u64 s = 0;
	for (u64 i = 0; i < 10; i++)
		s = gdb_add(i);
	isa_check("sum", s, 45);
	gdb_counter = 1000; /* watched */
	/* gdb sets gdb_poke = 1 at the watchpoint stop */
	isa_check("poked by the debugger", gdb_poke, 1);
	gdb_done = 1;
}
