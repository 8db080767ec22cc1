/* sieve: integer + byte stores, sieve of Eratosthenes up to 2 million. */
#include "bench.h"

#ifndef SCALE
#define SCALE 1
#endif
#define N 2000000
static u8 composite[N];

u64 bench_run(void)
{
	u64 count = 0;
	for (int rep = 0; rep < 40 * SCALE; rep++) {
		for (int i = 0; i < N; i++)
			composite[i] = 0;
		count = 0;
		for (u64 i = 2; i < N; i++) {
			if (composite[i])
				continue;
			count++;
			for (u64 j = i * i; j < N; j += i)
				composite[j] = 1;
		}
	}
	return count;
}
