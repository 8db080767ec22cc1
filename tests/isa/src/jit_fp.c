/* jit_fp.c: the FP ops vessel's baseline JIT (lib/vm/cpu/jit.c) translates:
 * FLW/FLD/FSW/FSD, FMV.X.D/FMV.D.X, and FADD.D/FSUB.D/FMUL.D/FMADD.D, whose
 * host code takes the interpreter's fast path (RNE, NX already set, a normal
 * result) and hands anything else back to the interpreter at that op.
 * Unprivileged spec chapters 11-12 (F, D: NaN-boxing, rounding modes,
 * fflags); privileged spec §3.1.6.6 (mstatus.FS: off traps, writes dirty).
 *  - every pair (and triple) of a table of special and ordinary doubles
 *    through the four ops in a hot loop, in each dynamic rounding mode and
 *    with a static RNE op, fflags read and reset (NX set or clear,
 *    alternately) every iteration: results and flags folded into one
 *    signature per mode (isa-diff compares them with QEMU);
 *  - FLW NaN-boxes, FSW stores the low word, FMV moves raw bits;
 *  - a hot FP block run with mstatus.FS off raises illegal-instruction at
 *    its first op; run with FS Initial it leaves FS Dirty and SD set;
 *  - a hot FLD that faults: mepc, mtval, the FP register untouched. */
#include "ops.h"

#define HOLE 0x2000000000UL /* no device, no RAM: access fault */

static const u64 vals[] = {
	0x3ff0000000000000UL, /* 1 */
	0xbff8000000000000UL, /* -1.5 */
	0x3fb999999999999aUL, /* 0.1 */
	0x400921fb54442d18UL, /* pi */
	0x0000000000000000UL, /* +0 */
	0x8000000000000000UL, /* -0 */
	0x0000000000000001UL, /* smallest subnormal */
	0x800fffffffffffffUL, /* largest subnormal, negative */
	0x0010000000000000UL, /* smallest normal */
	0x0018000000000000UL, /* 1.5 * smallest normal */
	0x7fefffffffffffffUL, /* largest finite */
	0x7ff0000000000000UL, /* +inf */
	0xfff0000000000000UL, /* -inf */
	0x7ff8000000000000UL, /* canonical qNaN */
	0x7ff4000000000000UL, /* sNaN */
	0x5fe0000000000000UL, /* 2^511: squares overflow */
	0x2000000000000000UL, /* 2^-511: squares underflow */
	0xc0c3880000000000UL, /* -10000 */
};
#define NV (sizeof(vals) / sizeof(vals[0]))

static u64 out[5];

/* One pass over every (a, b, c = vals[(i + j) % NV]) in rounding mode frm. */
static u64 arith_pass(unsigned frm)
{
	u64 h = 0xcbf29ce484222325UL;
	csr_write(frm, frm);
	csr_write(fflags, 0);
	for (unsigned rep = 0; rep < 3; rep++)
		for (unsigned i = 0; i < NV; i++)
			for (unsigned j = 0; j < NV; j++) {
				const u64 *a = &vals[i], *b = &vals[j], *c = &vals[(i + j) % NV];
				u64 fl, set = (i + j + rep) & 1; /* NX set or clear next */
				asm volatile("fld ft0, 0(%1)\n fld ft1, 0(%2)\n fld ft2, 0(%3)\n"
					     "fadd.d ft3, ft0, ft1\n fsub.d ft4, ft0, ft1\n"
					     "fmul.d ft5, ft0, ft1\n fmadd.d ft6, ft0, ft1, ft2\n"
					     "fadd.d ft7, ft2, ft1, rne\n"
					     "fsd ft3, 0(%4)\n fsd ft4, 8(%4)\n fsd ft5, 16(%4)\n"
					     "fsd ft6, 24(%4)\n fsd ft7, 32(%4)\n"
					     "csrrw %0, fflags, %5\n"
					     : "=&r"(fl)
					     : "r"(a), "r"(b), "r"(c), "r"(out), "r"(set)
					     : "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6",
					       "ft7", "memory");
				for (unsigned k = 0; k < 5; k++)
					h = isa_fnv(h, out[k]);
				h = isa_fnv(h, fl);
			}
	csr_write(frm, 0);
	return h;
}

static void arith_cases(void)
{
	static const char *const names[] = { "fp ops through the jit: rne", "... rtz", "... rdn",
					     "... rup", "... rmm" };
	for (unsigned m = 0; m < 5; m++)
		isa_sig(names[m], arith_pass(m));
}

static u32 singles[4] = { 0x3f800000u, 0xc0490fdbu, 0x7fc00000u, 0x00000001u };
static u64 words[4];

static void move_cases(void)
{
	u64 h = 0, boxed = ~0UL, low = 0;
	for (int i = 0; i < 200; i++) {
		u64 r1, r2, d = (u64)i * 0x9e3779b97f4a7c15UL;
		asm volatile("flw ft0, 0(%2)\n fmv.x.d %0, ft0\n fsw ft0, 0(%3)\n"
			     "fmv.d.x ft1, %4\n fsd ft1, 8(%3)\n fld ft2, 8(%3)\n"
			     "fmv.x.d %1, ft2\n"
			     : "=&r"(r1), "=&r"(r2)
			     : "r"(&singles[i & 3]), "r"(&words[i & 1]), "r"(d)
			     : "ft0", "ft1", "ft2", "memory");
		boxed &= r1;
		low |= (u32)words[i & 1] ^ singles[i & 3];
		h = isa_fnv(isa_fnv(h, r1), r2 ^ d);
	}
	isa_check("flw through the jit: NaN-boxed", boxed >> 32, 0xffffffffUL);
	isa_check("fsw through the jit: the low word", low, 0);
	isa_check("fmv.d.x/fsd/fld/fmv.x.d through the jit: raw bits", h != 0, 1);
	isa_sig("fp moves through the jit", h);
}

static u64 cells[2] = { 0x3ff0000000000000UL, 0 };

/* n passes of a block of translated FP ops only, which starts with its FLD
 * (the jump makes it a block of its own); returns the passes left */
static __attribute__((noinline)) u64 fs_loop(u64 n, u64 *site)
{
	u64 st;
	asm volatile("la t6, 2f\n la %1, 1f\n j 1f\n"
		     "1: fld ft0, 0(%2)\n fsd ft0, 8(%2)\n"
		     "addi %0, %0, -1\n bnez %0, 1b\n"
		     "2:\n"
		     : "+r"(n), "=&r"(st)
		     : "r"(cells)
		     : "t6", "ft0", "memory");
	*site = st;
	return n;
}

static void fs_cases(void)
{
	u64 site;
	fs_loop(300, &site); /* hot, translated */
	isa_expect_trap();
	csr_clear(mstatus, 0x6000);
	u64 left = fs_loop(5, &site);
	csr_set(mstatus, 0x6000);
	isa_trap_armed = 0;
	isa_check("hot fp block with FS off: cause", isa_last_trap.cause, CAUSE_ILLEGAL);
	isa_check("hot fp block with FS off: mepc at its first op", isa_last_trap.epc == site, 1);
	isa_check("hot fp block with FS off: nothing ran", left, 5);
	/* FS Initial: the translated block makes it Dirty (and SD) */
	csr_clear(mstatus, 0x6000);
	csr_set(mstatus, 0x2000);
	u64 st0 = csr_read(mstatus);
	fs_loop(3, &site);
	u64 st = csr_read(mstatus);
	isa_check("hot fp block with FS initial: FS initial before", (st0 >> 13) & 3, 1);
	isa_check("hot fp block with FS initial: FS dirty", (st >> 13) & 3, 3);
	isa_check("hot fp block with FS initial: SD", st >> 63, 1);
	isa_check("hot fp block with FS initial: stored", cells[1], 0x3ff0000000000000UL);
}

static u64 dsrc[300];
static u64 dptr[300];

static void fault_case(void)
{
	for (int i = 0; i < 300; i++) {
		dsrc[i] = 0x3ff0000000000000UL + (u64)i;
		dptr[i] = i == 250 ? HOLE : (u64)&dsrc[i];
	}
	u64 n = 300, p = (u64)dptr, site = 0, last = 0;
	isa_expect_trap();
	asm volatile("la t6, 2f\n la %2, 3f\n"
		     "1: ld t0, 0(%1)\n"
		     "3: fld ft0, 0(t0)\n"
		     "fsd ft0, 0(t0)\n"
		     "addi %1, %1, 8\n"
		     "addi %0, %0, -1\n"
		     "bnez %0, 1b\n"
		     "2: fmv.x.d %3, ft0\n"
		     : "+r"(n), "+r"(p), "=&r"(site), "=&r"(last)
		     :
		     : "t0", "t6", "ft0", "memory");
	isa_trap_armed = 0;
	isa_check("hot fld fault: cause", isa_last_trap.cause, CAUSE_LOAD_ACCESS);
	isa_check("hot fld fault: mtval", isa_last_trap.tval, HOLE);
	isa_check("hot fld fault: mepc", isa_last_trap.epc == site, 1);
	isa_check("hot fld fault: counter", n, 50);
	isa_check("hot fld fault: ft0 as loaded before", last, 0x3ff0000000000000UL + 249);
}

void test_main(void)
{
	arith_cases();
	move_cases();
	fs_cases();
	fault_case();
}
