/* interp: a bytecode interpreter (switch dispatch through a jump table,
 * indirect jumps, data-dependent branches) running a small register
 * program: acc = ((acc * 3) ^ n) + (n & 7 ? 1 : 2) for n = N..1. */
#include "bench.h"

#ifndef SCALE
#define SCALE 1
#endif
enum { LOADI, MULI, XOR, ANDI, JZ, ADDI, ADD, DEC, JNZ, JMP, HALT };
struct insn {
	u8 op, a, b;
	i32 imm;
};

static const struct insn prog[] = {
	/* 0 */ { LOADI, 0, 0, 1 },
	/* 1 */ { MULI, 0, 0, 3 },
	/* 2 */ { XOR, 0, 1, 0 },
	/* 3 */ { ANDI, 2, 1, 7 },
	/* 4 */ { JZ, 2, 0, 7 },
	/* 5 */ { ADDI, 0, 0, 1 },
	/* 6 */ { JMP, 0, 0, 8 },
	/* 7 */ { ADDI, 0, 0, 2 },
	/* 8 */ { DEC, 1, 0, 0 },
	/* 9 */ { JNZ, 1, 0, 1 },
	/* 10 */ { HALT, 0, 0, 0 },
};

static u64 run(u64 n)
{
	u64 r[4] = { 0, n, 0, 0 };
	const struct insn *pc = prog;
	for (;;) {
		const struct insn *i = pc++;
		switch (i->op) {
		case LOADI: r[i->a] = (u64)(i64)i->imm; break;
		case MULI: r[i->a] = r[i->b] * (u64)(i64)i->imm; break;
		case XOR: r[i->a] ^= r[i->b]; break;
		case ANDI: r[i->a] = r[i->b] & (u64)(i64)i->imm; break;
		case ADDI: r[i->a] = r[i->b] + (u64)(i64)i->imm; break;
		case ADD: r[i->a] += r[i->b]; break;
		case DEC: r[i->a]--; break;
		case JZ:
			if (!r[i->a])
				pc = prog + i->imm;
			break;
		case JNZ:
			if (r[i->a])
				pc = prog + i->imm;
			break;
		case JMP: pc = prog + i->imm; break;
		default: return r[0];
		}
	}
}

u64 bench_run(void)
{
	return run(6000000UL * SCALE);
}
