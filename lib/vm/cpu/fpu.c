/*
 * fpu.c - F and D extensions (placeholder until the IEEE 754 code lands).
 */
#include "cpu_internal.h"

int rv_fp_exec(struct rv_hart *h, const struct rv_uop *u)
{
	rv_trap(h, RV_EXC_ILLEGAL, u->raw);
	return -1;
}
