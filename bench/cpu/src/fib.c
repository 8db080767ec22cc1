/* fib: calls and returns (JAL/JALR through the return address), naive
 * recursive Fibonacci. */
#include "bench.h"

#ifndef SCALE
#define SCALE 1
#endif

__attribute__((noinline)) static u64 fib(u64 n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

u64 bench_run(void)
{
	u64 sum = 0;
	for (int rep = 0; rep < 6 * SCALE; rep++)
		sum += fib(31 + (rep & 1));
	return sum;
}
