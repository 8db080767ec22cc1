/* fsm: a switch-driven state machine (a jump table: JALR to computed
 * targets) scanning text for numbers, as CoreMark's core_state does. */
#include "bench.h"

#ifndef SCALE
#define SCALE 1
#endif
static u8 text[4096];

static int digit(u8 c)
{
	return c >= '0' && c <= '9';
}

u64 bench_run(void)
{
	static const char alphabet[] = "0123456789+-.eE ,";
	u32 x = 7;
	for (unsigned i = 0; i < sizeof(text); i++) {
		x = x * 1103515245u + 12345u;
		text[i] = (u8)alphabet[(x >> 16) % (sizeof(alphabet) - 1)];
	}
	u64 counts[8] = { 0 };
	for (int rep = 0; rep < 60000 * SCALE; rep++) {
		int st = 0;
		for (unsigned i = 0; i < sizeof(text); i++) {
			u8 c = text[i];
			switch (st) {
			case 0:
				st = digit(c) ? 1 : c == '+' || c == '-' ? 2 : c == '.' ? 3 : 7;
				break;
			case 1:
				st = digit(c)		    ? 1
				     : c == '.'		    ? 3
				     : c == 'e' || c == 'E' ? 4
				     : c == ','		    ? 0
							    : 7;
				break;
			case 2: st = digit(c) ? 1 : c == '.' ? 3 : 7; break;
			case 3: st = digit(c) ? 5 : 7; break;
			case 4: st = digit(c) || c == '+' || c == '-' ? 6 : 7; break;
			case 5:
				st = digit(c) ? 5 : c == 'e' || c == 'E' ? 4 : c == ',' ? 0 : 7;
				break;
			case 6: st = digit(c) ? 6 : c == ',' ? 0 : 7; break;
			default: st = c == ',' ? 0 : 7; break;
			}
			counts[st]++;
		}
	}
	u64 sum = 0;
	for (int i = 0; i < 8; i++)
		sum = sum * 31 + counts[i];
	return sum;
}
