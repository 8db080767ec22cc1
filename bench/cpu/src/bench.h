/* bench.h: harness for the CPU benchmarks.  Each program defines
 * bench_run() returning a checksum; the harness reads instret around it and
 * prints "instret N checksum X" on the UART, then powers off. */
#ifndef BENCH_H
#define BENCH_H
#include "isa.h"

u64 bench_run(void);

void test_main(void)
{
	u64 i0 = csr_read(instret);
	u64 sum = bench_run();
	u64 i1 = csr_read(instret);
	isa_printf("instret %lu checksum %lx\n", i1 - i0, sum);
}
#endif
