/*
 * hostmath_static.c - lib/vm/cpu/hostmath.c for the static vessel-vmm.
 *
 * A static program cannot dlopen libm.so (it would map a second libc), so
 * on an x86-64 CPU without FMA3 the software fma comes from libm.a, linked
 * in.  Defining both pointers here keeps the linker from taking
 * hostmath.c's dlopen lookup out of libvessel.a.
 */
#include "../../lib/vm/cpu/hostmath.h"

#if defined(__x86_64__)
#include <math.h>

double (*hostmath_fma_soft)(double, double, double);
float (*hostmath_fmaf_soft)(float, float, float);

__attribute__((constructor)) static void hostmath_static_init(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("fma")) /* also means the OS saves AVX state */
		return;
	hostmath_fma_soft = fma;
	hostmath_fmaf_soft = fmaf;
}
#endif
