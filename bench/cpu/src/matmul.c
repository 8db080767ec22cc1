/* matmul: double-precision matrix multiply (fmadd) of 96x96 matrices. */
#include "bench.h"

#ifndef SCALE
#define SCALE 1
#endif
#define N 96
static double a[N][N], b[N][N], c[N][N];

u64 bench_run(void)
{
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			a[i][j] = (double)(i + j) / N;
			b[i][j] = (double)(i - j) / N;
		}
	for (int rep = 0; rep < 180 * SCALE; rep++)
		for (int i = 0; i < N; i++)
			for (int j = 0; j < N; j++) {
				double s = 0;
				for (int k = 0; k < N; k++)
					s += a[i][k] * b[k][j];
				c[i][j] = s + rep;
			}
	union {
		double d;
		u64 u;
	} r = { c[N / 2][N / 3] };
	return r.u;
}
