/* strops: byte loads and short data-dependent loops, strcmp and strlen over
 * 64 strings of 8-27 characters. */
#include "bench.h"

#ifndef SCALE
#define SCALE 1
#endif
static char str[64][32];

__attribute__((noinline)) static int compare(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (u8)*a - (u8)*b;
}

__attribute__((noinline)) static unsigned length(const char *a)
{
	unsigned n = 0;
	while (a[n])
		n++;
	return n;
}

u64 bench_run(void)
{
	u32 x = 5;
	for (int i = 0; i < 64; i++) {
		int n = 8 + i % 20;
		for (int k = 0; k < n; k++) {
			x = x * 1103515245u + 12345u;
			str[i][k] = (char)('a' + (x >> 16) % 3);
		}
		str[i][n] = 0;
	}
	u64 acc = 0;
	for (int rep = 0; rep < 6000 * SCALE; rep++)
		for (int i = 0; i < 64; i++)
			for (int j = 0; j < 64; j += 3)
				acc += (u64)(compare(str[i], str[j]) + 300) *
				       length(str[(i + j) & 63]);
	return acc;
}
