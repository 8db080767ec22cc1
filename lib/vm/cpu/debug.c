/*
 * debug.c - the Sdtrig trigger module and the debugger interface (GDB stub).
 *
 * Triggers (RISC-V Debug Specification, chapter "Sdtrig"): RV_NTRIGGERS per
 * hart, selected by tselect; tdata1 holds one of
 *   type 2  mcontrol:  load 0, store 1, execute 2, u 3, s 4, m 6, match 7-10,
 *           chain 11, action 12-15, sizelo 16-17, timing 18, select 19,
 *           hit 20, sizehi 21-22, maskmax 53-58, dmode 59
 *   type 6  mcontrol6 (the layout QEMU 7.2 implements): as above up to
 *           action, then size 16-19, timing 20, select 21, hit 22, vu 23,
 *           vs 24, dmode 59
 *   type 15 disabled (what a write of any other type leaves).
 * Supported values (WARL, anything else reads back as 0): action 0 (raise
 * a breakpoint exception, cause 3), match 0 (equal), 1 (NAPOT), 2 (>=) and
 * 3 (<), sizes any/8/16/32/64 bits, chain 0, dmode 0 (no debug mode), vs/vu 0
 * (no hypervisor).  select=0 compares the address (the pc, or every byte an
 * access touches), select=1 the data (the instruction bits, the value
 * stored, the value loaded).  timing=0 traps before the instruction (pc of
 * the instruction in xepc), timing=1 after it (xepc = the next pc); triggers
 * on loaded data always fire after the load.  xtval is the pc (execute) or
 * the access address.  The m/s/u bits select the privilege modes; in M-mode
 * a trigger also needs tcontrol.mte, which every trap into M-mode saves in
 * mpte and clears (mret restores it), so a trigger cannot re-fire in its own
 * handler.  tinfo reports types 2, 6 and 15 and version 1; tdata3 reads 0.
 * Firing sets the trigger's hit bit.
 *
 * Checking: rv_debug_update() classifies what is armed for the hart.  Execute
 * triggers (address, select=0) and debugger breakpoints become address ranges
 * (rv_hart_ext.exec_lo/hi): rv_hart_run() keeps every block boundary visible
 * (no chaining) and runs a block whose range holds one as single checked
 * instructions (rv_debug_before/after) instead, translated or not.  Load and
 * store triggers, opcode triggers (select=1 execute), watchpoints and single
 * steps make every instruction run checked: interpreted one at a time from a
 * private one-instruction block, never from the block cache or host code.
 */
#include <errno.h>

#include "cpu_internal.h"

#define TD_TYPE_SHIFT 60
#define TD_DMODE      (1ULL << 59)
#define TD_LOAD	      (1ULL << 0)
#define TD_STORE      (1ULL << 1)
#define TD_EXEC	      (1ULL << 2)
#define TD_U	      (1ULL << 3)
#define TD_S	      (1ULL << 4)
#define TD_M	      (1ULL << 6)
#define TD_MATCH      (0xfULL << 7)
#define TD_ACTION     (0xfULL << 12)
#define T2_SIZELO     (3ULL << 16)
#define T2_TIMING     (1ULL << 18)
#define T2_SELECT     (1ULL << 19)
#define T2_HIT	      (1ULL << 20)
#define T2_SIZEHI     (3ULL << 21)
#define T2_MASKMAX    (63ULL << 53) /* NAPOT ranges up to 2^63 bytes */
#define T6_SIZE	      (0xfULL << 16)
#define T6_TIMING     (1ULL << 20)
#define T6_SELECT     (1ULL << 21)
#define T6_HIT	      (1ULL << 22)
#define TCONTROL_MTE  (1ULL << 3)
#define TCONTROL_MPTE (1ULL << 7)

#define TINFO_VALUE ((1ULL << 24) | (1ULL << 15) | (1ULL << 6) | (1ULL << 2))

/* One trigger, decoded from tdata1/tdata2. */
struct trig {
	bool load, store, exec;
	unsigned modes;	      /* bit p: enabled in privilege p */
	unsigned match, size; /* size: bytes, 0 = any */
	bool select, timing;
	uint64_t tdata2, hit;
};

static unsigned size_bytes(unsigned code)
{
	static const uint8_t bytes[16] = { 0, 1, 2, 4, 0, 8 };
	return bytes[code & 15];
}

static bool size_ok(unsigned code)
{
	return code == 0 || size_bytes(code) != 0;
}

static bool trig_get(const struct rv_hart *h, unsigned i, struct trig *t)
{
	uint64_t d = h->tdata1[i];
	unsigned type = (unsigned)(d >> TD_TYPE_SHIFT);
	if (type != 2 && type != 6)
		return false;
	t->load = d & TD_LOAD;
	t->store = d & TD_STORE;
	t->exec = d & TD_EXEC;
	t->modes = ((d & TD_U) ? 1u << RV_PRIV_U : 0) | ((d & TD_S) ? 1u << RV_PRIV_S : 0) |
		   ((d & TD_M) ? 1u << RV_PRIV_M : 0);
	t->match = (unsigned)((d & TD_MATCH) >> 7);
	t->tdata2 = h->tdata2[i];
	if (type == 2) {
		t->size = size_bytes((unsigned)(((d & T2_SIZEHI) >> 19) | ((d & T2_SIZELO) >> 16)));
		t->select = d & T2_SELECT;
		t->timing = d & T2_TIMING;
		t->hit = T2_HIT;
	} else {
		t->size = size_bytes((unsigned)((d & T6_SIZE) >> 16));
		t->select = d & T6_SELECT;
		t->timing = d & T6_TIMING;
		t->hit = T6_HIT;
	}
	return t->modes && (t->load || t->store || t->exec);
}

/* Can trigger t fire in the hart's current mode? */
static bool trig_live(const struct rv_hart *h, const struct trig *t)
{
	if (!((t->modes >> h->priv) & 1))
		return false;
	return h->priv != RV_PRIV_M || (h->tcontrol & TCONTROL_MTE);
}

/* Does a compare value in [lo, lo + len) match? */
static bool value_match(const struct trig *t, uint64_t lo, uint64_t len)
{
	uint64_t hi = lo + len - 1, t2 = t->tdata2;
	switch (t->match) {
	case 0: return t2 >= lo && t2 <= hi;
	case 1: {
		if (~t2 == 0)
			return true;
		unsigned k = (unsigned)__builtin_ctzll(~t2);
		uint64_t low = k >= 63 ? ~0ULL : (2ULL << k) - 1;
		uint64_t base = t2 & ~low;
		return base <= hi && lo <= (base | low);
	}
	case 2: return hi >= t2;
	default: return lo < t2;
	}
}

void rv_debug_reset(struct rv_hart *h)
{
	h->tselect = 0;
	h->tcontrol = 0;
	for (unsigned i = 0; i < RV_NTRIGGERS; i++) {
		h->tdata1[i] = (2ULL << TD_TYPE_SHIFT) | T2_MASKMAX;
		h->tdata2[i] = 0;
		h->tdata3[i] = 0;
	}
	rv_debug_update(h);
}

/* ---- CSRs ---- */

static uint64_t tdata1_legal(uint64_t v)
{
	unsigned type = (unsigned)(v >> TD_TYPE_SHIFT);
	uint64_t keep = TD_LOAD | TD_STORE | TD_EXEC | TD_U | TD_S | TD_M;
	unsigned match = (unsigned)((v & TD_MATCH) >> 7);
	uint64_t out = (v & keep) | ((uint64_t)(match <= 3 ? match : 0) << 7);
	/* action: only 0 (breakpoint exception); chain, dmode: 0 */
	if (type == 2) {
		unsigned size = (unsigned)(((v & T2_SIZEHI) >> 19) | ((v & T2_SIZELO) >> 16));
		out |= v & (T2_TIMING | T2_SELECT | T2_HIT);
		if (size_ok(size))
			out |= v & (T2_SIZEHI | T2_SIZELO);
		return (2ULL << TD_TYPE_SHIFT) | T2_MASKMAX | out;
	}
	if (type == 6) {
		out |= v & (T6_TIMING | T6_SELECT | T6_HIT);
		if (size_ok((unsigned)((v & T6_SIZE) >> 16)))
			out |= v & T6_SIZE;
		return (6ULL << TD_TYPE_SHIFT) | out;
	}
	return 15ULL << TD_TYPE_SHIFT;
}

int rv_trig_csr_read(struct rv_hart *h, unsigned csr, uint64_t *val)
{
	switch (csr) {
	case 0x7a0: *val = h->tselect; return 0;
	case 0x7a1: *val = h->tdata1[h->tselect]; return 0;
	case 0x7a2: *val = h->tdata2[h->tselect]; return 0;
	case 0x7a3: *val = h->tdata3[h->tselect]; return 0;
	case 0x7a4: *val = TINFO_VALUE; return 0;
	case 0x7a5: *val = h->tcontrol; return 0;
	default: return -1;
	}
}

int rv_trig_csr_write(struct rv_hart *h, unsigned csr, uint64_t v)
{
	switch (csr) {
	case 0x7a0:
		if (v < RV_NTRIGGERS) /* WARL: other values keep the current trigger */
			h->tselect = v;
		return 0;
	case 0x7a1: h->tdata1[h->tselect] = tdata1_legal(v); break;
	case 0x7a2: h->tdata2[h->tselect] = v; break;
	case 0x7a3: return 0; /* textra: no context matching, reads 0 */
	case 0x7a4: return 0; /* tinfo: read-only WARL */
	case 0x7a5: h->tcontrol = v & (TCONTROL_MTE | TCONTROL_MPTE); break;
	default: return -1;
	}
	rv_debug_update(h);
	return 0;
}

/* ---- classification ---- */

static void add_range(struct rv_hart_ext *e, uint64_t lo, uint64_t hi)
{
	if (e->nexec < RV_DBG_MAXR) {
		e->exec_lo[e->nexec] = lo;
		e->exec_hi[e->nexec] = hi;
		e->nexec++;
	} else {
		e->dbg |= RV_DBG_INSNS;
	}
}

void rv_debug_update(struct rv_hart *h)
{
	struct rv_hart_ext *e = rv_ext(h);
	const struct rv_core *core = h->core;
	e->dbg = 0;
	e->nexec = 0;
	if (e->step)
		e->dbg |= RV_DBG_INSNS;
	for (unsigned i = 0; i < RV_NTRIGGERS; i++) {
		struct trig t;
		if (!trig_get(h, i, &t))
			continue;
		if (t.load || t.store || (t.exec && t.select)) {
			e->dbg |= RV_DBG_INSNS;
			continue;
		}
		uint64_t t2 = t.tdata2;
		switch (t.match) {
		case 0: add_range(e, t2, t2); break;
		case 1: {
			uint64_t low = ~t2 == 0 ? ~0ULL
				       : __builtin_ctzll(~t2) >= 63
					   ? ~0ULL
					   : (2ULL << __builtin_ctzll(~t2)) - 1;
			add_range(e, t2 & ~low, (t2 & ~low) | low);
			break;
		}
		case 2: add_range(e, t2, ~0ULL); break;
		default:
			if (t2)
				add_range(e, 0, t2 - 1);
			break;
		}
	}
	for (unsigned i = 0; i < core->nbps; i++) {
		const struct rv_debug_bp *bp = &core->bps[i];
		if (bp->kind <= RV_DEBUG_HW_BREAK)
			add_range(e, bp->addr, bp->addr + bp->len - 1);
		else
			e->dbg |= RV_DBG_INSNS;
	}
	if (e->nexec)
		e->dbg |= RV_DBG_BLOCKS;
	__atomic_store_n(&h->events, 1, __ATOMIC_RELAXED);
}

bool rv_debug_exec_range(struct rv_hart *h, uint64_t pc, uint64_t bytes)
{
	struct rv_hart_ext *e = rv_ext(h);
	uint64_t last = pc + (bytes ? bytes : 1) - 1;
	for (unsigned i = 0; i < e->nexec; i++)
		if (e->exec_lo[i] <= last && pc <= e->exec_hi[i])
			return true;
	e->skip = false; /* the resume pc runs unchecked: its breakpoint may hit next time */
	return false;
}

/* ---- checked instructions ---- */

static void halt(struct rv_hart *h, const struct rv_stop *why)
{
	struct rv_hart_ext *e = rv_ext(h);
	e->halted = true;
	e->step = false;
	rv_debug_update(h);
	__atomic_store_n(&h->stop, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&h->events, 1, __ATOMIC_RELAXED);
	if (h->core->on_stop)
		h->core->on_stop(h->core->stop_opaque, h, why);
}

/* What memory an op accesses: 0 none, else bit 0 load, bit 1 store. */
static unsigned mem_access(const struct rv_hart *h, const struct rv_uop *u, uint64_t *addr,
			   unsigned *size, uint64_t *sdata)
{
	static const uint8_t load_size[] = { 1, 2, 4, 8, 1, 2, 4 }; /* LB .. LWU */
	unsigned opc = u->opc;
	if (opc >= RV_OP_LB && opc <= RV_OP_LWU) {
		*addr = h->x[u->rs1] + (uint64_t)(int64_t)u->imm;
		*size = load_size[opc - RV_OP_LB];
		return 1;
	}
	if (opc >= RV_OP_SB && opc <= RV_OP_SD) {
		*addr = h->x[u->rs1] + (uint64_t)(int64_t)u->imm;
		*size = 1u << (opc - RV_OP_SB);
		*sdata = h->x[u->rs2];
		return 2;
	}
	if (opc == RV_OP_FLW || opc == RV_OP_FLD) {
		*addr = h->x[u->rs1] + (uint64_t)(int64_t)u->imm;
		*size = opc == RV_OP_FLW ? 4 : 8;
		return 1;
	}
	if (opc == RV_OP_FSW || opc == RV_OP_FSD) {
		*addr = h->x[u->rs1] + (uint64_t)(int64_t)u->imm;
		*size = opc == RV_OP_FSW ? 4 : 8;
		*sdata = h->f[u->rs2];
		return 2;
	}
	if (opc == RV_OP_AMO) {
		*addr = h->x[u->rs1];
		*size = u->rs3 == 2 ? 4 : 8;
		*sdata = h->x[u->rs2];
		return u->rm == 2 ? 1 : u->rm == 3 ? 2 : 3; /* LR, SC, AMO */
	}
	return 0;
}

static uint64_t trunc_size(uint64_t v, unsigned size)
{
	return size >= 8 ? v : v & ((1ULL << (8 * size)) - 1);
}

/* A trigger fires before the instruction at pc: trap. */
static void fire_before(struct rv_hart *h, uint64_t pc, uint64_t tval)
{
	h->pc = pc;
	rv_trap(h, RV_EXC_BREAKPOINT, tval);
}

struct rv_block *rv_debug_before(struct rv_hart *h)
{
	struct rv_hart_ext *e = rv_ext(h);
	struct rv_core *core = h->core;
	uint64_t pc = h->pc;
	e->after_fire = false;
	e->load_trigs = 0;
	e->watch_hit = false;

	/* debugger breakpoints: not where the hart was resumed */
	bool skip = e->skip && e->skip_pc == pc;
	e->skip = false;
	for (unsigned i = 0; i < core->nbps && !skip; i++) {
		const struct rv_debug_bp *bp = &core->bps[i];
		if (bp->kind <= RV_DEBUG_HW_BREAK && pc >= bp->addr && pc - bp->addr < bp->len) {
			struct rv_stop why = { .reason = RV_STOP_BREAK, .kind = bp->kind };
			halt(h, &why);
			return NULL;
		}
	}

	/* execute address triggers without a size: before the fetch */
	struct trig t[RV_NTRIGGERS];
	bool live[RV_NTRIGGERS];
	for (unsigned i = 0; i < RV_NTRIGGERS; i++)
		live[i] = trig_get(h, i, &t[i]) && trig_live(h, &t[i]);
	for (unsigned i = 0; i < RV_NTRIGGERS; i++)
		if (live[i] && t[i].exec && !t[i].select && !t[i].size && !t[i].timing &&
		    value_match(&t[i], pc, 1)) {
			h->tdata1[i] |= t[i].hit;
			fire_before(h, pc, pc);
			return NULL;
		}

	struct rv_block *b = rv_block_single(h, pc, e->dbg_block);
	if (!b)
		return NULL;
	const struct rv_uop *u = &b->u[0];
	uint64_t addr = 0, sdata = 0;
	unsigned size = 0;
	unsigned acc = mem_access(h, u, &addr, &size, &sdata);
	uint64_t raw = u->raw;

	for (unsigned i = 0; i < RV_NTRIGGERS; i++) {
		if (!live[i])
			continue;
		const struct trig *ti = &t[i];
		bool hit = false;
		uint64_t tval = pc;
		if (ti->exec && (!ti->size || ti->size == b->bytes))
			hit = ti->select ? value_match(ti, raw, 1) : value_match(ti, pc, 1);
		if (!hit && acc && (!ti->size || ti->size == size)) {
			tval = addr;
			if (!ti->select)
				hit = (((acc & 1) && ti->load) || ((acc & 2) && ti->store)) &&
				      value_match(ti, addr, size);
			else if ((acc & 2) && ti->store)
				hit = value_match(ti, trunc_size(sdata, size), 1);
			if (!hit && ti->select && (acc & 1) && ti->load) {
				e->load_trigs |= 1u << i; /* compared with the loaded value */
				e->load_addr = addr;
				e->load_size = size;
				e->load_rd = u->rd;
				e->load_fp = u->opc == RV_OP_FLW || u->opc == RV_OP_FLD;
			}
		}
		if (!hit)
			continue;
		h->tdata1[i] |= ti->hit;
		if (!ti->timing) {
			fire_before(h, pc, tval);
			return NULL;
		}
		e->after_fire = true;
		e->after_tval = tval;
	}

	/* debugger watchpoints: reported after the access */
	for (unsigned i = 0; i < core->nbps && acc; i++) {
		const struct rv_debug_bp *bp = &core->bps[i];
		bool kind_ok = bp->kind == RV_DEBUG_WATCH_ACCESS ||
			       (bp->kind == RV_DEBUG_WATCH_WRITE && (acc & 2)) ||
			       (bp->kind == RV_DEBUG_WATCH_READ && (acc & 1));
		if (bp->kind > RV_DEBUG_HW_BREAK && kind_ok && addr < bp->addr + bp->len &&
		    bp->addr < addr + size) {
			e->watch_hit = true;
			e->watch = (struct rv_stop){ .reason = RV_STOP_WATCH,
						     .kind = bp->kind,
						     .addr = addr > bp->addr ? addr : bp->addr };
			break;
		}
	}
	return b;
}

void rv_debug_after(struct rv_hart *h, bool retired)
{
	struct rv_hart_ext *e = rv_ext(h);
	if (retired && e->load_trigs) {
		uint64_t v = e->load_fp ? h->f[e->load_rd] : h->x[e->load_rd];
		v = trunc_size(v, e->load_size);
		for (unsigned i = 0; i < RV_NTRIGGERS; i++) {
			struct trig t;
			if (((e->load_trigs >> i) & 1) && trig_get(h, i, &t) &&
			    value_match(&t, v, 1)) {
				h->tdata1[i] |= t.hit;
				e->after_fire = true;
				e->after_tval = e->load_addr;
			}
		}
	}
	e->load_trigs = 0;
	if (retired && e->after_fire)
		rv_trap(h, RV_EXC_BREAKPOINT, e->after_tval); /* xepc: the next instruction */
	e->after_fire = false;
	if (retired && e->watch_hit) {
		e->watch_hit = false;
		halt(h, &e->watch);
		return;
	}
	e->watch_hit = false;
	if (e->step) {
		struct rv_stop why = { .reason = RV_STOP_STEP };
		halt(h, &why);
	}
}

/* ---- debugger interface ---- */

void rv_core_set_debugger(struct rv_core *core, rv_stop_fn fn, void *opaque)
{
	core->on_stop = fn;
	core->stop_opaque = opaque;
}

static void update_all(struct rv_core *core)
{
	for (unsigned k = 0; k < core->nharts; k++)
		rv_debug_update(core->harts[k]);
}

int rv_core_debug_insert(struct rv_core *core, enum rv_debug_kind kind, uint64_t addr, uint64_t len)
{
	if (len == 0 || addr + len - 1 < addr || kind > RV_DEBUG_WATCH_ACCESS)
		return -EINVAL;
	for (unsigned i = 0; i < core->nbps; i++)
		if (core->bps[i].kind == kind && core->bps[i].addr == addr &&
		    core->bps[i].len == len)
			return 0;
	if (core->nbps >= RV_DBG_MAXBP)
		return -ENOSPC;
	core->bps[core->nbps++] = (struct rv_debug_bp){ (uint8_t)kind, addr, len };
	update_all(core);
	return 0;
}

int rv_core_debug_remove(struct rv_core *core, enum rv_debug_kind kind, uint64_t addr, uint64_t len)
{
	for (unsigned i = 0; i < core->nbps; i++)
		if (core->bps[i].kind == kind && core->bps[i].addr == addr &&
		    core->bps[i].len == len) {
			core->bps[i] = core->bps[--core->nbps];
			update_all(core);
			return 0;
		}
	return -ENOENT;
}

void rv_core_debug_clear(struct rv_core *core)
{
	core->nbps = 0;
	update_all(core);
}

void rv_hart_debug_halt(struct rv_hart *h)
{
	struct rv_hart_ext *e = rv_ext(h);
	e->halted = true;
	e->step = false;
	rv_debug_update(h);
	rv_hart_request_stop(h);
}

void rv_hart_debug_resume(struct rv_hart *h, bool step)
{
	struct rv_hart_ext *e = rv_ext(h);
	e->halted = false;
	e->step = step;
	e->skip = true; /* a breakpoint at the resume pc was already reported */
	e->skip_pc = h->pc;
	if (step)
		h->wfi = false; /* a step leaves WFI like an interrupt would */
	rv_debug_update(h);
}

bool rv_hart_debug_halted(const struct rv_hart *h)
{
	return h->core->ext[h->hartid].halted;
}

int rv_hart_debug_csr(struct rv_hart *h, unsigned csr, uint64_t *val, const uint64_t *write)
{
	if (csr > 0xfff)
		return -EINVAL;
	unsigned priv = h->priv;
	uint64_t fs = h->mstatus & MSTATUS_FS;
	bool fp = csr >= 1 && csr <= 3;
	h->priv = RV_PRIV_M; /* M-mode rights; the FP CSRs even with FS = Off */
	if (fp)
		h->mstatus |= MSTATUS_FS;
	int r = write ? rv_csr_write(h, csr, *write) : rv_csr_read(h, csr, val);
	h->priv = priv;
	if (fp && !write) /* a write makes FS dirty, as the guest's own would */
		h->mstatus = (h->mstatus & ~MSTATUS_FS) | fs;
	rv_update_dpriv(h);
	__atomic_store_n(&h->events, 1, __ATOMIC_RELAXED);
	return r ? -EINVAL : 0;
}

int rv_hart_debug_translate(struct rv_hart *h, uint64_t va, uint64_t *pa)
{
	uint64_t mode = h->satp >> 60;
	if (mode == 0) { /* satp counts even in M-mode: the debugger's view is the kernel's */
		*pa = va;
		return 0;
	}
	unsigned levels = mode == 8 ? 3 : 4;
	unsigned va_bits = 12 + 9 * levels;
	if ((uint64_t)(((int64_t)(va << (64 - va_bits))) >> (64 - va_bits)) != va)
		return -EFAULT;
	uint64_t a = (h->satp & ((1ULL << 44) - 1)) << 12;
	for (int i = (int)levels - 1; i >= 0; i--) {
		const uint64_t *p =
		    vm_bus_ram_ptr(h->core->bus, a + ((va >> (12 + 9 * i)) & 0x1ff) * 8, 8);
		if (!p)
			return -EFAULT;
		uint64_t pte = __atomic_load_n(p, __ATOMIC_RELAXED);
		if (!(pte & 1) || ((pte & 6) == 4))
			return -EFAULT;
		uint64_t ppn = (pte >> 10) & ((1ULL << 44) - 1);
		if (pte & 0xa) { /* R or X: leaf */
			uint64_t off_mask = (1ULL << (12 + 9 * i)) - 1;
			*pa = ((ppn << 12) & ~off_mask) | (va & off_mask);
			return 0;
		}
		a = ppn << 12;
	}
	return -EFAULT;
}
