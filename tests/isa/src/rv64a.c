/* rv64a.c: RV64A (unprivileged spec ch. 8): LR/SC success and failure
 * (SC without reservation, SC to another address, reservation cleared by a
 * trap-free intervening SC), and every AMO in .w and .d with old-value
 * return, 32-bit sign extension and signed/unsigned min/max; aq/rl forms.
 * Misaligned AMOs are in misaligned.c (vessel only: QEMU 7.2 reports them
 * with the load cause). */
#include "ops.h"

static volatile u64 cell[4] __attribute__((aligned(16)));

#define AMO(op, addr, v)                                                                           \
	({                                                                                         \
		u64 r_;                                                                            \
		asm volatile(op " %0, %2, (%1)" : "=r"(r_) : "r"(addr), "r"((u64)(v)) : "memory"); \
		r_;                                                                                \
	})

static void amo_d(const char *name, const char *dummy, u64 init, u64 v, u64 old, u64 after,
		  u64 got_old)
{
	(void)dummy;
	(void)v;
	(void)init;
	char buf[64];
	int i = 0;
	for (const char *s = name; *s && i < 50; s++)
		buf[i++] = *s;
	buf[i] = 0;
	isa_check(buf, got_old, old);
	buf[i] = '+';
	buf[i + 1] = 'm';
	buf[i + 2] = 0;
	isa_check(buf, cell[0], after);
}

#define T_AMO(op, init, v, after)                                        \
	do {                                                             \
		cell[0] = (init);                                        \
		u64 o_ = AMO(op, &cell[0], v);                           \
		amo_d(op " " #init "," #v, 0, init, v, init, after, o_); \
	} while (0)
/* .w: memory word is the low half; old value sign-extended */
#define T_AMOW(op, init, v, after, old)                                 \
	do {                                                            \
		cell[0] = (init);                                       \
		u64 o_ = AMO(op, &cell[0], v);                          \
		amo_d(op " " #init "," #v, 0, init, v, old, after, o_); \
	} while (0)

void test_main(void)
{
	T_AMO("amoswap.d", 5, 7, 7);
	T_AMO("amoadd.d", -1, 2, 1);
	T_AMO("amoxor.d", 0xff00, 0x0ff0, 0xf0f0);
	T_AMO("amoand.d", 0xff00, 0x0ff0, 0x0f00);
	T_AMO("amoor.d", 0xff00, 0x0ff0, 0xfff0);
	T_AMO("amomin.d", -5, 3, -5);
	T_AMO("amomin.d", 3, -5, -5);
	T_AMO("amomax.d", -5, 3, 3);
	T_AMO("amominu.d", -5, 3, 3);
	T_AMO("amomaxu.d", -5, 3, -5);
	T_AMO("amoadd.d.aq", 1, 1, 2);
	T_AMO("amoadd.d.rl", 1, 1, 2);
	T_AMO("amoadd.d.aqrl", 1, 1, 2);

	/* upper word of the cell must be untouched by .w */
	T_AMOW("amoswap.w", 0x1111111122222222UL, 0x80000000UL, 0x1111111180000000UL, 0x22222222);
	T_AMOW("amoadd.w", 0x111111117fffffffUL, 1, 0x1111111180000000UL, 0x7fffffff);
	T_AMOW("amoadd.w", 0x11111111ffffffffUL, 1, 0x1111111100000000UL, -1);
	T_AMOW("amoxor.w", 0xaaaaaaaa0000ffffUL, 0xffff0000UL, 0xaaaaaaaaffffffffUL, 0xffff);
	T_AMOW("amoand.w", 0xaaaaaaaaf0f0f0f0UL, 0xff00ff00UL, 0xaaaaaaaaf000f000UL,
	       0xfffffffff0f0f0f0UL);
	T_AMOW("amoor.w", 0xaaaaaaaa00000001UL, 0x80000000UL, 0xaaaaaaaa80000001UL, 1);
	T_AMOW("amomin.w", 0x0000000080000000UL, 1, 0x80000000UL, 0xffffffff80000000UL);
	T_AMOW("amomin.w", 0x0000000000000001UL, 0xffffffffUL, 0xffffffffUL, 1);
	T_AMOW("amomax.w", 0x0000000080000000UL, 1, 1, 0xffffffff80000000UL);
	T_AMOW("amominu.w", 0x0000000080000000UL, 1, 1, 0xffffffff80000000UL);
	T_AMOW("amomaxu.w", 0x0000000080000000UL, 1, 0x80000000UL, 0xffffffff80000000UL);
	/* only the low 32 bits of rs2 count for .w min/max */
	T_AMOW("amomin.w", 0x5UL, 0x100000003UL, 3, 5);
	T_AMOW("amomaxu.w", 0x5UL, 0xffffffff00000003UL, 5, 5);

	/* LR/SC */
	u64 v, sc;
	cell[1] = 42;
	asm volatile("lr.d %0, (%2)\n addi %0, %0, 1\n sc.d %1, %0, (%2)"
		     : "=&r"(v), "=&r"(sc)
		     : "r"(&cell[1])
		     : "memory");
	isa_check("sc.d success", sc, 0);
	isa_check("sc.d stored", cell[1], 43);
	asm volatile("sc.d %0, %1, (%2)" : "=&r"(sc) : "r"(99UL), "r"(&cell[1]) : "memory");
	isa_check("sc.d without reservation fails", sc != 0, 1);
	isa_check("sc.d failed store left memory", cell[1], 43);
	/* an SC (even failing) clears the reservation; a second SC fails */
	asm volatile("lr.d %0, (%2)\n sc.d %1, %0, (%2)\n sc.d %1, %0, (%2)"
		     : "=&r"(v), "=&r"(sc)
		     : "r"(&cell[1])
		     : "memory");
	isa_check("second sc.d fails", sc != 0, 1);
	cell[2] = 0xffffffff80000000UL;
	asm volatile("lr.w %0, (%1)" : "=r"(v) : "r"(&cell[2]) : "memory");
	isa_check("lr.w sign-extends", v, 0xffffffff80000000UL);
	asm volatile("sc.w %0, %1, (%2)"
		     : "=&r"(sc)
		     : "r"(0x1234567876543210UL), "r"(&cell[2])
		     : "memory");
	isa_check("sc.w success", sc, 0);
	isa_check("sc.w stores low word", cell[2], 0xffffffff76543210UL);
	asm volatile("lr.w.aq %0, (%2)\n sc.w.rl %1, %0, (%2)"
		     : "=&r"(v), "=&r"(sc)
		     : "r"(&cell[2])
		     : "memory");
	isa_check("lr.w.aq/sc.w.rl", sc, 0);
}
