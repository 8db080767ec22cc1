/*
 * csr.c - control and status registers (Zicsr instructions, privileged spec
 * chapters "Control and Status Registers", "Machine-Level CSRs",
 * "Supervisor-Level CSRs", Zicntr/Zihpm).
 *
 * Access rules: a CSR whose address bits [9:8] exceed the current privilege,
 * a write to a read-only CSR (address bits [11:10] == 3), an unknown CSR, a
 * counter hidden by mcounteren/scounteren, satp under TVM, and the FP CSRs
 * while mstatus.FS is Off all raise illegal-instruction with the instruction
 * bits in xtval.  WARL fields keep only legal values: satp ignores writes of
 * unsupported modes (only Bare, Sv39 and Sv48 exist), mtvec/stvec ignore
 * reserved modes, misa is read-only, hpm counters and events read zero.
 * PMP registers are stored and read back (pmpcfg odd numbers do not exist on
 * RV64) but not enforced.  The trigger CSRs (tselect .. tcontrol, 0x7a0-0x7a5)
 * live in debug.c.
 */
#include "cpu_internal.h"

#define MISA_VALUE                                                                           \
	((2ULL << 62) | (1 << ('A' - 'A')) | (1 << ('C' - 'A')) | (1 << ('D' - 'A')) |       \
	 (1 << ('F' - 'A')) | (1 << ('I' - 'A')) | (1 << ('M' - 'A')) | (1 << ('S' - 'A')) | \
	 (1 << ('U' - 'A')))

#define MSTATUS_WMASK                                                                          \
	(MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | MSTATUS_MPP | \
	 MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW |    \
	 MSTATUS_TSR)
#define SSTATUS_MASK                                                                        \
	(MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_XS | MSTATUS_SUM | \
	 MSTATUS_MXR | MSTATUS_UXL | MSTATUS_SD)
#define SSTATUS_WMASK \
	(MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | MSTATUS_MXR)

#define S_INTS	      (MIP_SSIP | MIP_STIP | MIP_SEIP)
#define M_INTS	      (MIP_MSIP | MIP_MTIP | MIP_MEIP)
#define MEDELEG_WMASK 0xb3ffULL

static uint64_t mstatus_read(const struct rv_hart *h)
{
	uint64_t s = h->mstatus & ~(MSTATUS_SD | MSTATUS_UXL | MSTATUS_SXL);
	s |= (2ULL << 32) | (2ULL << 34);
	if ((s & MSTATUS_FS) == MSTATUS_FS || (s & MSTATUS_XS) == MSTATUS_XS)
		s |= MSTATUS_SD;
	return s;
}

static void mstatus_write(struct rv_hart *h, uint64_t val, uint64_t mask)
{
	uint64_t old = h->mstatus;
	uint64_t s = (old & ~mask) | (val & mask);
	if (((s & MSTATUS_MPP) >> 11) == 2) /* reserved: keep the old MPP */
		s = (s & ~MSTATUS_MPP) | (old & MSTATUS_MPP);
	h->mstatus = s;
	/* SUM selects a data TLB set (rv_update_dpriv); MXR changes are rare */
	if ((old ^ s) & MSTATUS_MXR)
		rv_tlb_flush(h);
	rv_update_dpriv(h);
}

static bool counter_allowed(const struct rv_hart *h, unsigned idx)
{
	if (h->priv == RV_PRIV_M)
		return true;
	if (!((h->mcounteren >> idx) & 1))
		return false;
	if (h->priv == RV_PRIV_U && !((h->scounteren >> idx) & 1))
		return false;
	return true;
}

static bool fp_csr_ok(struct rv_hart *h)
{
	return (h->mstatus & MSTATUS_FS) != 0;
}

int rv_csr_read(struct rv_hart *h, unsigned csr, uint64_t *val)
{
	switch (csr) {
	case 0x001:
		if (!fp_csr_ok(h))
			return -1;
		*val = h->fflags;
		return 0;
	case 0x002:
		if (!fp_csr_ok(h))
			return -1;
		*val = h->frm;
		return 0;
	case 0x003:
		if (!fp_csr_ok(h))
			return -1;
		*val = (h->frm << 5) | h->fflags;
		return 0;
	case 0x100: *val = mstatus_read(h) & SSTATUS_MASK; return 0;
	case 0x104: *val = h->mie & h->mideleg & S_INTS; return 0;
	case 0x105: *val = h->stvec; return 0;
	case 0x106: *val = h->scounteren; return 0;
	case 0x10a: *val = h->senvcfg; return 0;
	case 0x140: *val = h->sscratch; return 0;
	case 0x141: *val = h->sepc; return 0;
	case 0x142: *val = h->scause; return 0;
	case 0x143: *val = h->stval; return 0;
	case 0x144:
		*val =
		    (h->mip | __atomic_load_n(&h->mip_ext, __ATOMIC_RELAXED)) & h->mideleg & S_INTS;
		return 0;
	case 0x180:
		if (h->priv == RV_PRIV_S && (h->mstatus & MSTATUS_TVM))
			return -1;
		*val = h->satp;
		return 0;
	case 0x300: *val = mstatus_read(h); return 0;
	case 0x301: *val = MISA_VALUE; return 0;
	case 0x302: *val = h->medeleg; return 0;
	case 0x303: *val = h->mideleg; return 0;
	case 0x304: *val = h->mie; return 0;
	case 0x305: *val = h->mtvec; return 0;
	case 0x306: *val = h->mcounteren; return 0;
	case 0x30a: *val = h->menvcfg; return 0;
	case 0x320: *val = h->mcountinhibit; return 0;
	case 0x340: *val = h->mscratch; return 0;
	case 0x341: *val = h->mepc; return 0;
	case 0x342: *val = h->mcause; return 0;
	case 0x343: *val = h->mtval; return 0;
	case 0x344: *val = h->mip | __atomic_load_n(&h->mip_ext, __ATOMIC_RELAXED); return 0;
	case 0xb00: *val = h->instret + h->cycle; return 0;
	case 0xb02: *val = h->instret; return 0;
	case 0xf11:
	case 0xf12:
	case 0xf13:
	case 0xf15: *val = 0; return 0;
	case 0xf14: *val = h->hartid; return 0;
	case 0xc00:
		if (!counter_allowed(h, 0))
			return -1;
		*val = h->instret + h->cycle;
		return 0;
	case 0xc01:
		if (!counter_allowed(h, 1))
			return -1;
		*val = h->core->get_time(h->core->time_opaque);
		return 0;
	case 0xc02:
		if (!counter_allowed(h, 2))
			return -1;
		*val = h->instret;
		return 0;
	default: break;
	}
	if (csr >= 0xc03 && csr <= 0xc1f) {
		if (!counter_allowed(h, csr - 0xc00))
			return -1;
		*val = 0;
		return 0;
	}
	if ((csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0x323 && csr <= 0x33f)) {
		*val = 0;
		return 0;
	}
	if (csr >= 0x3a0 && csr <= 0x3af) {
		if (csr & 1)
			return -1;
		*val = h->pmpcfg[csr - 0x3a0];
		return 0;
	}
	if (csr >= 0x3b0 && csr <= 0x3ef) {
		*val = h->pmpaddr[csr - 0x3b0];
		return 0;
	}
	return rv_trig_csr_read(h, csr, val);
}

static bool tvec_ok(uint64_t v)
{
	return (v & 3) < 2;
}

static void satp_write(struct rv_hart *h, uint64_t v)
{
	uint64_t mode = v >> 60;
	if (mode != 0 && mode != 8 && mode != 9)
		return; /* unsupported mode: the write is ignored */
	uint64_t old = h->satp;
	/* 16 ASID bits, 44 PPN bits. */
	h->satp = v & ((0xfULL << 60) | (0xffffULL << 44) | ((1ULL << 44) - 1));
	/*
	 * Global translations are the same in every address space of one
	 * mode only: a change of MODE (Bare <-> Sv39/Sv48, Sv39 <-> Sv48)
	 * takes effect at the next fetch (privileged spec, satp), so the S
	 * chains made through global translations go too.
	 */
	if ((old ^ h->satp) >> 60)
		rv_tlb_flush(h);
	else
		rv_tlb_flush_asid(h); /* global translations may stay (Sv39: G bit) */
}

int rv_csr_write(struct rv_hart *h, unsigned csr, uint64_t v)
{
	switch (csr) {
	case 0x001:
		h->fflags = v & 0x1f;
		h->mstatus |= MSTATUS_FS;
		return 0;
	case 0x002:
		h->frm = v & 7;
		h->mstatus |= MSTATUS_FS;
		return 0;
	case 0x003:
		h->fflags = v & 0x1f;
		h->frm = (v >> 5) & 7;
		h->mstatus |= MSTATUS_FS;
		return 0;
	case 0x100: mstatus_write(h, v, SSTATUS_WMASK); return 0;
	case 0x104: {
		uint64_t m = h->mideleg & S_INTS;
		h->mie = (h->mie & ~m) | (v & m);
		return 0;
	}
	case 0x105:
		if (tvec_ok(v))
			h->stvec = v;
		return 0;
	case 0x106: h->scounteren = v & 0xffffffffULL; return 0;
	case 0x10a: h->senvcfg = v & 1; return 0;
	case 0x140: h->sscratch = v; return 0;
	case 0x141: h->sepc = v & ~1ULL; return 0;
	case 0x142: h->scause = v; return 0;
	case 0x143: h->stval = v; return 0;
	case 0x144: {
		uint64_t m = h->mideleg & MIP_SSIP;
		h->mip = (h->mip & ~m) | (v & m);
		return 0;
	}
	case 0x180:
		if (h->priv == RV_PRIV_S && (h->mstatus & MSTATUS_TVM))
			return -1;
		satp_write(h, v);
		return 0;
	case 0x300: mstatus_write(h, v, MSTATUS_WMASK); return 0;
	case 0x301: return 0; /* misa: read-only WARL */
	case 0x302: h->medeleg = v & MEDELEG_WMASK; return 0;
	case 0x303: h->mideleg = v & S_INTS; return 0;
	case 0x304: h->mie = v & (S_INTS | M_INTS); return 0;
	case 0x305:
		if (tvec_ok(v))
			h->mtvec = v;
		return 0;
	case 0x306: h->mcounteren = v & 0xffffffffULL; return 0;
	case 0x30a: h->menvcfg = v & 1; return 0;
	case 0x320: h->mcountinhibit = v & 0xfffffffdULL; return 0;
	case 0x340: h->mscratch = v; return 0;
	case 0x341: h->mepc = v & ~1ULL; return 0;
	case 0x342: h->mcause = v; return 0;
	case 0x343: h->mtval = v; return 0;
	case 0x344: h->mip = (h->mip & ~S_INTS) | (v & S_INTS); return 0;
	case 0xb00: h->cycle = v - h->instret; return 0;
	case 0xb02: /* mcycle = instret + cycle keeps its value */
		h->cycle += h->instret - v;
		h->instret = v;
		return 0;
	default: break;
	}
	if ((csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0x323 && csr <= 0x33f))
		return 0;
	if (csr >= 0x3a0 && csr <= 0x3af) {
		unsigned i = csr - 0x3a0;
		/* Locked entries (L bit) ignore writes; W without R is reserved. */
		uint64_t old = h->pmpcfg[i], nv = 0;
		for (unsigned b = 0; b < 8; b++) {
			uint8_t o = (uint8_t)(old >> (8 * b)), n = (uint8_t)(v >> (8 * b));
			if (o & 0x80)
				n = o;
			else if ((n & 3) == 2)
				n = (uint8_t)(n & ~3);
			nv |= (uint64_t)(n & 0x9f) << (8 * b);
		}
		h->pmpcfg[i] = nv;
		return 0;
	}
	if (csr >= 0x3b0 && csr <= 0x3ef) {
		unsigned i = csr - 0x3b0;
		uint8_t cfg = (uint8_t)(h->pmpcfg[(i / 8) * 2] >> (8 * (i % 8)));
		if (!(cfg & 0x80))
			h->pmpaddr[i] = v & ((1ULL << 54) - 1);
		return 0;
	}
	return rv_trig_csr_write(h, csr, v);
}

/* h->instret counts the instructions before this one on entry and, on
 * success, this one too (see the end). */
int rv_csr_op(struct rv_hart *h, const struct rv_uop *u)
{
	unsigned csr = (unsigned)u->imm & 0xfff;
	unsigned f3 = u->rm;
	uint64_t src = (f3 & 4) ? u->rs1 : h->x[u->rs1];
	bool write = (f3 & 3) == 1 || u->rs1 != 0;
	uint64_t old;

	if (((csr >> 8) & 3) > h->priv)
		goto illegal;
	if (write && (csr >> 10) == 3)
		goto illegal;
	if (rv_csr_read(h, csr, &old))
		goto illegal;
	if (write) {
		/*
		 * CSRRS/CSRRC on mip/sip modify the software-writable bits only: the
		 * SEIP (and MEIP/MTIP/MSIP) a device drives must not be latched into
		 * the software bits (privileged spec, "Machine Interrupt Registers").
		 */
		uint64_t base = old, nv;
		if (csr == 0x344)
			base = (old & ~S_INTS) | (h->mip & S_INTS);
		else if (csr == 0x144)
			base = h->mip & h->mideleg & S_INTS;
		switch (f3 & 3) {
		case 1: nv = src; break;
		case 2: nv = base | src; break;
		default: nv = base & ~src; break;
		}
		if (rv_csr_write(h, csr, nv))
			goto illegal;
	}
	h->x[u->rd] = old;
	/*
	 * The instruction retires: count it, except in a counter it wrote.  The
	 * write takes the place of the increment (Zicsr, "CSR Instructions"), so
	 * the next instruction reads exactly the value written; the other counter
	 * still counts this instruction (mcycle = instret + cycle).
	 */
	if (write && csr == 0xb02)
		h->cycle++;
	else if (write && csr == 0xb00)
		h->instret++, h->cycle--;
	else
		h->instret++;
	return 0;
illegal:
	rv_trap(h, RV_EXC_ILLEGAL, u->raw);
	return -1;
}
