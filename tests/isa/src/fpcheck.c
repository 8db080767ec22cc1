/* fpcheck.c: result + fflags comparison shared by the F and D tests. */
#include "fp.h"

void fp_check(const char *name, u64 got, u64 flags, u64 exp, u64 exp_flags)
{
	char buf[160];
	int i = 0;
	for (const char *s = name; *s && i < 140; s++)
		buf[i++] = *s;
	buf[i] = 0;
	isa_check(buf, got, exp);
	buf[i++] = ' ';
	buf[i++] = 'f';
	buf[i++] = 'l';
	buf[i] = 0;
	isa_check(buf, flags, exp_flags);
}
