/*
 * hostmath.c - picks hostmath.h's fused multiply-add once, at start-up: the
 * FMA3 instructions, or on an x86-64 CPU without them libm's software fma,
 * looked up with dlopen before main() (so before any sandbox), which maps
 * libm only on such hosts.  Without either the emulation cannot be exact,
 * which is a broken invariant: abort.
 */
#include "hostmath.h"

#if defined(__x86_64__)
#include <dlfcn.h>
#include <stdlib.h>

double (*hostmath_fma_soft)(double, double, double);
float (*hostmath_fmaf_soft)(float, float, float);

__attribute__((constructor)) static void hostmath_init(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("fma")) /* also means the OS saves AVX state */
		return;
	void *libm = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
	if (!libm)
		abort();
	hostmath_fma_soft = (double (*)(double, double, double))dlsym(libm, "fma");
	hostmath_fmaf_soft = (float (*)(float, float, float))dlsym(libm, "fmaf");
	if (!hostmath_fma_soft || !hostmath_fmaf_soft)
		abort();
}
#endif
