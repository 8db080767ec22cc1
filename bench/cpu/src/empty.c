/* empty: start-up cost only (subtracted from every other program). */
#include "bench.h"

u64 bench_run(void)
{
	return 0;
}
