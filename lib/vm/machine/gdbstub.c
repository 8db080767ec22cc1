/*
 * gdbstub.c - GDB remote serial protocol server (include/vessel/vm/gdbstub.h).
 *
 * Protocol (GDB manual, appendix "Remote Protocol"): packets `$data#cs`
 * acknowledged with +/- until QStartNoAckMode; 0x03 outside a packet
 * interrupts.  Implemented: qSupported, QStartNoAckMode, qXfer:features:read
 * (target.xml: riscv:rv64 with the org.gnu.gdb.riscv cpu, fpu, csr and
 * virtual features, register numbers as QEMU's stub and gdb's riscv port use
 * them: x0-x31 0-31, pc 32, f0-f31 33-64, CSR n at 65 + n, priv 4161),
 * g/G (x0-x31 and pc; gdb reads the rest with p), p/P, m/M/X (virtual
 * addresses through the selected hart's satp, as a supervisor access,
 * falling back to physical when the walk fails; RAM only), Z0-Z4/z0-z4 (the
 * CPU's hart-level breakpoints and watchpoints: guest code is never
 * patched), c/s/C/S, vCont (c, C, s, S per thread), ?, H, T, qfThreadInfo /
 * qsThreadInfo, qC, qAttached, qThreadExtraInfo, D, k; anything else gets the
 * empty reply (unsupported).
 *
 * State: `running` is true while gdb waits for a stop reply.  A hart that
 * stops (cpu.h rv_stop_fn) halts every other hart and the stop reply goes
 * out at once; a halted machine sleeps in the run loop's poll (halted harts
 * count as idle).  Detaching, or the connection closing, removes every
 * breakpoint and resumes the harts.
 *
 * Hart threads (vm_machine_hart_threads): the harts run guest code on their
 * own threads while the stub runs on the loop thread, so the stub touches
 * hart state only with every hart thread out of its slice
 * (vm_machine_stop_harts, at the start of each callback that may).  A hart
 * that stops calls on_stop on its own thread: it has halted itself, and
 * only records the stop (`pend`, under pend_mu) and wakes the loop, whose
 * tick (gdb_tick) halts the other harts and sends the stop reply.  Harts
 * that stop at about the same time each leave a pending stop; the first is
 * reported, the others when gdb resumes their hart (the hart stays halted,
 * the stop reply goes out at once, as if it had stopped again), except a
 * breakpoint stop whose breakpoint gdb removed meanwhile, which is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/vm/cpu.h"
#include "vessel/vm/gdbstub.h"

#define GDB_BUF	    0x4000 /* PacketSize we announce (hex digits of 8 KiB) */
#define GDB_REG_PC  32
#define GDB_REG_F0  33
#define GDB_REG_CSR 65
#define GDB_PRIV    (GDB_REG_CSR + 4096)

struct vm_gdb {
	struct vm_machine *m;
	struct rv_core *core;
	int lfd, fd;
	char *unix_path;
	bool ack;		 /* acknowledge packets (until QStartNoAckMode) */
	bool running;		 /* gdb waits for a stop reply */
	unsigned g_hart, c_hart; /* Hg / Hc selections */
	unsigned stop_hart;
	char stop[96]; /* the last stop reply (for '?') */
	/* hart threads: stops not reported yet (bit k: hart k, why in pend_why) */
	bool threaded;
	pthread_mutex_t pend_mu;
	uint64_t pend;
	struct rv_stop pend_why[VM_MAX_HARTS];
	/* the breakpoints gdb inserted (Z0/Z1), to drop stale pending stops */
	uint64_t bp_addr[64];
	uint8_t bp_kind[64];
	unsigned nbp;
	char in[GDB_BUF + 64];
	size_t nin;
	char out[2 * GDB_BUF + 64];
};

/* ---- target description ---- */

struct gdb_csr {
	const char *name;
	unsigned num;
};

static const struct gdb_csr gdb_csrs[] = {
	{ "sstatus", 0x100 },	 { "sie", 0x104 },	     { "stvec", 0x105 },
	{ "scounteren", 0x106 }, { "senvcfg", 0x10a },	     { "sscratch", 0x140 },
	{ "sepc", 0x141 },	 { "scause", 0x142 },	     { "stval", 0x143 },
	{ "sip", 0x144 },	 { "satp", 0x180 },	     { "mstatus", 0x300 },
	{ "misa", 0x301 },	 { "medeleg", 0x302 },	     { "mideleg", 0x303 },
	{ "mie", 0x304 },	 { "mtvec", 0x305 },	     { "mcounteren", 0x306 },
	{ "menvcfg", 0x30a },	 { "mcountinhibit", 0x320 }, { "mscratch", 0x340 },
	{ "mepc", 0x341 },	 { "mcause", 0x342 },	     { "mtval", 0x343 },
	{ "mip", 0x344 },	 { "pmpcfg0", 0x3a0 },	     { "pmpaddr0", 0x3b0 },
	{ "tselect", 0x7a0 },	 { "tdata1", 0x7a1 },	     { "tdata2", 0x7a2 },
	{ "tdata3", 0x7a3 },	 { "tinfo", 0x7a4 },	     { "tcontrol", 0x7a5 },
	{ "mcycle", 0xb00 },	 { "minstret", 0xb02 },	     { "cycle", 0xc00 },
	{ "time", 0xc01 },	 { "instret", 0xc02 },	     { "mvendorid", 0xf11 },
	{ "marchid", 0xf12 },	 { "mimpid", 0xf13 },	     { "mhartid", 0xf14 },
};

static const char *const xnames[32] = { "zero", "ra", "sp",  "gp",  "tp", "t0", "t1", "t2",
					"fp",	"s1", "a0",  "a1",  "a2", "a3", "a4", "a5",
					"a6",	"a7", "s2",  "s3",  "s4", "s5", "s6", "s7",
					"s8",	"s9", "s10", "s11", "t3", "t4", "t5", "t6" };
static const char *const fnames[32] = {
	"ft0", "ft1", "ft2", "ft3", "ft4",  "ft5",  "ft6", "ft7", "fs0",  "fs1", "fa0",
	"fa1", "fa2", "fa3", "fa4", "fa5",  "fa6",  "fa7", "fs2", "fs3",  "fs4", "fs5",
	"fs6", "fs7", "fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11"
};

/* Appends to a malloc'ed string; NULL stays NULL (out of memory). */
static char *xml_add(char *s, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static char *xml_add(char *s, size_t *len, const char *fmt, ...)
{
	if (!s)
		return NULL;
	va_list ap;
	va_start(ap, fmt);
	char *piece = NULL;
	int n = vasprintf(&piece, fmt, ap);
	va_end(ap);
	if (n < 0) {
		free(s);
		return NULL;
	}
	char *t = realloc(s, *len + (size_t)n + 1);
	if (!t) {
		free(s);
		free(piece);
		return NULL;
	}
	memcpy(t + *len, piece, (size_t)n + 1);
	*len += (size_t)n;
	free(piece);
	return t;
}

static char *target_xml(size_t *len)
{
	*len = 0;
	char *s = calloc(1, 1);
	s = xml_add(s, len,
		    "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
		    "<target version=\"1.0\">\n<architecture>riscv:rv64</architecture>\n"
		    "<feature name=\"org.gnu.gdb.riscv.cpu\">\n");
	for (unsigned i = 0; i < 32; i++)
		s = xml_add(s, len, "<reg name=\"%s\" bitsize=\"64\" regnum=\"%u\" type=\"%s\"/>\n",
			    xnames[i], i,
			    i == 1		 ? "code_ptr"
			    : (i == 2 || i == 8) ? "data_ptr"
						 : "int");
	s = xml_add(
	    s, len,
	    "<reg name=\"pc\" bitsize=\"64\" regnum=\"32\" type=\"code_ptr\"/>\n</feature>\n"
	    "<feature name=\"org.gnu.gdb.riscv.fpu\">\n"
	    "<union id=\"riscv_double\"><field name=\"float\" type=\"ieee_single\"/>"
	    "<field name=\"double\" type=\"ieee_double\"/></union>\n");
	for (unsigned i = 0; i < 32; i++)
		s = xml_add(
		    s, len,
		    "<reg name=\"%s\" bitsize=\"64\" regnum=\"%u\" type=\"riscv_double\"/>\n",
		    fnames[i], GDB_REG_F0 + i);
	s = xml_add(s, len,
		    "<reg name=\"fflags\" bitsize=\"32\" regnum=\"66\" type=\"int\"/>\n"
		    "<reg name=\"frm\" bitsize=\"32\" regnum=\"67\" type=\"int\"/>\n"
		    "<reg name=\"fcsr\" bitsize=\"32\" regnum=\"68\" type=\"int\"/>\n</feature>\n"
		    "<feature name=\"org.gnu.gdb.riscv.csr\">\n");
	for (size_t i = 0; i < VS_ARRAY_SIZE(gdb_csrs); i++)
		s = xml_add(s, len,
			    "<reg name=\"%s\" bitsize=\"64\" regnum=\"%u\" type=\"int\"/>\n",
			    gdb_csrs[i].name, GDB_REG_CSR + gdb_csrs[i].num);
	s = xml_add(s, len,
		    "</feature>\n<feature name=\"org.gnu.gdb.riscv.virtual\">\n"
		    "<reg name=\"priv\" bitsize=\"64\" regnum=\"%u\" type=\"int\"/>\n"
		    "</feature>\n</target>\n",
		    GDB_PRIV);
	return s;
}

/* ---- packets ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void gdb_write(struct vm_gdb *g, const void *buf, size_t len)
{
	const char *p = buf;
	while (g->fd >= 0 && len) {
		ssize_t n = send(g->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = g->fd, .events = POLLOUT };
			poll(&pfd, 1, 1000);
			continue;
		}
		if (n <= 0)
			return; /* the reader notices the closed connection */
		p += n;
		len -= (size_t)n;
	}
}

/* Send data (len bytes) as one packet, escaping #, $, } and *. */
static void gdb_send_bin(struct vm_gdb *g, const char *data, size_t len)
{
	char *o = g->out;
	size_t n = 0;
	unsigned cs = 0;
	o[n++] = '$';
	for (size_t i = 0; i < len && n < sizeof(g->out) - 8; i++) {
		char c = data[i];
		if (c == '#' || c == '$' || c == '}' || c == '*') {
			o[n++] = '}';
			cs += '}';
			c ^= 0x20;
		}
		o[n++] = c;
		cs += (unsigned char)c;
	}
	n += (size_t)snprintf(o + n, 4, "#%02x", cs & 0xff);
	gdb_write(g, o, n);
}

static void gdb_send(struct vm_gdb *g, const char *s)
{
	gdb_send_bin(g, s, strlen(s));
}

/* ---- registers ---- */

static struct rv_hart *hart_of(struct vm_gdb *g, unsigned idx)
{
	return rv_core_hart(g->core, idx);
}

/* Register n of h into *v (*bytes = its size); -1 when there is none. */
static int reg_read(struct rv_hart *h, unsigned n, uint64_t *v, unsigned *bytes)
{
	*bytes = 8;
	if (n < 32) {
		*v = h->x[n];
		return 0;
	}
	if (n == GDB_REG_PC) {
		*v = h->pc;
		return 0;
	}
	if (n >= GDB_REG_F0 && n < GDB_REG_F0 + 32) {
		*v = h->f[n - GDB_REG_F0];
		return 0;
	}
	if (n == GDB_PRIV) {
		*v = h->priv;
		return 0;
	}
	if (n >= GDB_REG_CSR && n < GDB_REG_CSR + 4096) {
		unsigned csr = n - GDB_REG_CSR;
		if (csr >= 1 && csr <= 3)
			*bytes = 4;
		return rv_hart_debug_csr(h, csr, v, NULL) ? -1 : 0;
	}
	return -1;
}

static int reg_write(struct rv_hart *h, unsigned n, uint64_t v)
{
	if (n < 32) {
		if (n)
			h->x[n] = v;
		return 0;
	}
	if (n == GDB_REG_PC) {
		h->pc = v;
		return 0;
	}
	if (n >= GDB_REG_F0 && n < GDB_REG_F0 + 32) {
		h->f[n - GDB_REG_F0] = v;
		return 0;
	}
	if (n == GDB_PRIV)
		return -1; /* the privilege level changes through xRET only */
	if (n >= GDB_REG_CSR && n < GDB_REG_CSR + 4096)
		return rv_hart_debug_csr(h, n - GDB_REG_CSR, NULL, &v) ? -1 : 0;
	return -1;
}

static size_t put_le(char *o, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		sprintf(o + 2 * i, "%02x", (unsigned)((v >> (8 * i)) & 0xff));
	return 2 * bytes;
}

/* Little-endian hex of up to 8 bytes; -1 on a bad digit. */
static int get_le(const char *s, size_t digits, uint64_t *v)
{
	*v = 0;
	if (digits % 2 || digits > 16)
		return -1;
	for (size_t i = 0; i < digits; i += 2) {
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		*v |= (uint64_t)(hi << 4 | lo) << (4 * i);
	}
	return 0;
}

/* ---- memory ---- */

/* Guest physical address of va as the selected hart sees it. */
static uint64_t mem_pa(struct vm_gdb *g, uint64_t va)
{
	uint64_t pa;
	if (rv_hart_debug_translate(hart_of(g, g->g_hart), va, &pa) == 0 &&
	    vm_bus_ram_ptr(vm_machine_bus(g->m), pa, 1))
		return pa;
	return va; /* not mapped: physical */
}

/* Copy len bytes at guest virtual va (page by page); 0 or -1. */
static int mem_rw(struct vm_gdb *g, uint64_t va, uint8_t *buf, size_t len, bool write)
{
	struct vm_bus *bus = vm_machine_bus(g->m);
	while (len) {
		size_t chunk = 4096 - (va & 4095);
		if (chunk > len)
			chunk = len;
		uint64_t pa = mem_pa(g, va);
		if (write ? vm_bus_dma_write(bus, pa, buf, chunk)
			  : vm_bus_dma_read(bus, pa, buf, chunk))
			return -1;
		va += chunk;
		buf += chunk;
		len -= chunk;
	}
	return 0;
}

/* ---- stops ---- */

static void halt_all(struct vm_gdb *g)
{
	for (unsigned k = 0; k < rv_core_nharts(g->core); k++)
		rv_hart_debug_halt(hart_of(g, k));
}

static void set_stop(struct vm_gdb *g, unsigned hart, int sig, const struct rv_stop *why)
{
	const char *extra = "";
	char watch[48] = "";
	if (why && why->reason == RV_STOP_BREAK)
		extra = why->kind == RV_DEBUG_SW_BREAK ? "swbreak:;" : "hwbreak:;";
	if (why && why->reason == RV_STOP_WATCH) {
		const char *w = why->kind == RV_DEBUG_WATCH_WRITE  ? "watch"
				: why->kind == RV_DEBUG_WATCH_READ ? "rwatch"
								   : "awatch";
		snprintf(watch, sizeof(watch), "%s:%llx;", w, (unsigned long long)why->addr);
		extra = watch;
	}
	snprintf(g->stop, sizeof(g->stop), "T%02xthread:%x;%s", sig, hart + 1, extra);
	g->stop_hart = hart;
	g->g_hart = g->c_hart = hart;
}

static void on_stop(void *opaque, struct rv_hart *h, const struct rv_stop *why)
{
	struct vm_gdb *g = opaque;
	if (g->threaded) { /* on hart h's thread, which has halted itself */
		pthread_mutex_lock(&g->pend_mu);
		g->pend |= 1ULL << h->hartid;
		g->pend_why[h->hartid] = *why;
		pthread_mutex_unlock(&g->pend_mu);
		vm_machine_wake(g->m); /* gdb_tick reports it */
		return;
	}
	halt_all(g);
	set_stop(g, h->hartid, 5, why);
	if (g->running && g->fd >= 0) {
		g->running = false;
		gdb_send(g, g->stop);
	}
}

/* Resume hart k with action 'c' or 's'. */
static void resume(struct vm_gdb *g, unsigned k, char action)
{
	rv_hart_debug_resume(hart_of(g, k), action == 's');
}

/* Z0/Z1 inserted (or z0/z1 removed) a breakpoint at addr. */
static void note_bp(struct vm_gdb *g, bool insert, uint8_t kind, uint64_t addr)
{
	for (unsigned i = 0; i < g->nbp; i++)
		if (g->bp_kind[i] == kind && g->bp_addr[i] == addr) {
			if (!insert) {
				g->nbp--;
				g->bp_addr[i] = g->bp_addr[g->nbp];
				g->bp_kind[i] = g->bp_kind[g->nbp];
			}
			return;
		}
	if (insert && g->nbp < sizeof(g->bp_addr) / sizeof(g->bp_addr[0])) {
		g->bp_addr[g->nbp] = addr;
		g->bp_kind[g->nbp++] = kind;
	}
}

static bool bp_at(const struct vm_gdb *g, uint64_t pc)
{
	for (unsigned i = 0; i < g->nbp; i++)
		if (g->bp_addr[i] == pc)
			return true;
	return false;
}

/* Hart threads, harts stopped: take a pending stop of a hart that is not
 * halted (any = false: one gdb just resumed), or of any hart; false if none. */
static bool take_pending(struct vm_gdb *g, bool any, unsigned *hart, struct rv_stop *why)
{
	bool found = false;
	pthread_mutex_lock(&g->pend_mu);
	for (unsigned k = 0; k < rv_core_nharts(g->core) && !found; k++) {
		if (!(g->pend & (1ULL << k)) || (!any && rv_hart_debug_halted(hart_of(g, k))))
			continue;
		g->pend &= ~(1ULL << k);
		if (g->pend_why[k].reason == RV_STOP_BREAK && !bp_at(g, hart_of(g, k)->pc))
			continue; /* gdb removed that breakpoint: nothing to report */
		*hart = k;
		*why = g->pend_why[k];
		found = true;
	}
	pthread_mutex_unlock(&g->pend_mu);
	return found;
}

static void report_stop(struct vm_gdb *g, unsigned hart, const struct rv_stop *why)
{
	halt_all(g);
	set_stop(g, hart, 5, why);
	if (g->running && g->fd >= 0) {
		g->running = false;
		gdb_send(g, g->stop);
	}
}

static void start_running(struct vm_gdb *g)
{
	g->running = true;
	unsigned k;
	struct rv_stop why;
	if (g->threaded && take_pending(g, false, &k, &why))
		report_stop(g, k, &why); /* a resumed hart had stopped already */
}

/* Hart threads: report a stop that a hart recorded (loop thread, a tick). */
static void gdb_tick(void *opaque)
{
	struct vm_gdb *g = opaque;
	if (!__atomic_load_n(&g->pend, __ATOMIC_RELAXED))
		return;
	vm_machine_stop_harts(g->m);
	unsigned k;
	struct rv_stop why;
	if ((g->running || g->fd < 0) && take_pending(g, true, &k, &why))
		report_stop(g, k, &why);
}

/* vCont;ACTION[:TID];... (actions c, C sig, s, S sig) */
static void do_vcont(struct vm_gdb *g, const char *p)
{
	unsigned n = rv_core_nharts(g->core);
	char act[VM_MAX_HARTS] = { 0 };
	while (*p == ';') {
		p++;
		char a = *p++;
		if (a == 'C' || a == 'S') {
			while (hexval(*p) >= 0)
				p++; /* the signal is not delivered: there are no signals */
			a = (char)(a == 'C' ? 'c' : 's');
		}
		if (a != 'c' && a != 's') {
			gdb_send(g, "E01");
			return;
		}
		if (*p == ':') {
			p++;
			long tid = strtol(p, (char **)&p, 16);
			if (tid == -1) {
				for (unsigned k = 0; k < n; k++)
					if (!act[k])
						act[k] = a;
			} else if (tid >= 1 && (unsigned long)tid <= n && !act[tid - 1]) {
				act[tid - 1] = a;
			}
		} else {
			for (unsigned k = 0; k < n; k++)
				if (!act[k])
					act[k] = a;
		}
	}
	for (unsigned k = 0; k < n; k++)
		if (act[k])
			resume(g, k, act[k]);
	start_running(g);
}

/* ---- the packet dispatcher ---- */

static int parse_hex(const char **p, uint64_t *v)
{
	const char *s = *p;
	*v = 0;
	if (hexval(*s) < 0)
		return -1;
	while (hexval(*s) >= 0)
		*v = (*v << 4) | (uint64_t)hexval(*s++);
	*p = s;
	return 0;
}

static void drop_breakpoints(struct vm_gdb *g)
{
	rv_core_debug_clear(g->core);
	g->nbp = 0;
	pthread_mutex_lock(&g->pend_mu);
	g->pend = 0; /* the harts resume: their stops are not reported */
	pthread_mutex_unlock(&g->pend_mu);
}

static void handle_query(struct vm_gdb *g, const char *p)
{
	char buf[256];
	if (strncmp(p, "qSupported", 10) == 0) {
		snprintf(buf, sizeof(buf),
			 "PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;vContSupported+;"
			 "swbreak+;hwbreak+",
			 GDB_BUF);
		gdb_send(g, buf);
	} else if (strncmp(p, "qXfer:features:read:target.xml:", 31) == 0) {
		const char *q = p + 31;
		uint64_t off, len;
		if (parse_hex(&q, &off) || *q++ != ',' || parse_hex(&q, &len)) {
			gdb_send(g, "E01");
			return;
		}
		size_t xlen;
		char *xml = target_xml(&xlen);
		if (!xml) {
			gdb_send(g, "E0c");
			return;
		}
		if (len > GDB_BUF - 16)
			len = GDB_BUF - 16;
		if (off >= xlen) {
			gdb_send(g, "l");
		} else {
			size_t n = xlen - off < len ? xlen - off : len;
			char *r = malloc(n + 1);
			if (r) {
				r[0] = off + n >= xlen ? 'l' : 'm';
				memcpy(r + 1, xml + off, n);
				gdb_send_bin(g, r, n + 1);
				free(r);
			} else {
				gdb_send(g, "E0c");
			}
		}
		free(xml);
	} else if (strncmp(p, "qXfer:", 6) == 0) {
		gdb_send(g, "E00");
	} else if (strcmp(p, "qfThreadInfo") == 0) {
		size_t n = 0;
		buf[n++] = 'm';
		for (unsigned k = 0; k < rv_core_nharts(g->core); k++)
			n +=
			    (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%x", k ? "," : "", k + 1);
		gdb_send(g, buf);
	} else if (strcmp(p, "qsThreadInfo") == 0) {
		gdb_send(g, "l");
	} else if (strcmp(p, "qC") == 0) {
		snprintf(buf, sizeof(buf), "QC%x", g->g_hart + 1);
		gdb_send(g, buf);
	} else if (strncmp(p, "qAttached", 9) == 0) {
		gdb_send(g, "1");
	} else if (strncmp(p, "qThreadExtraInfo,", 17) == 0) {
		unsigned long tid = strtoul(p + 17, NULL, 16);
		char text[64], hex[160];
		if (tid < 1 || tid > rv_core_nharts(g->core)) {
			gdb_send(g, "E01");
			return;
		}
		struct rv_hart *h = hart_of(g, (unsigned)tid - 1);
		snprintf(text, sizeof(text), "hart %lu, %s-mode", tid - 1,
			 h->priv == 3	? "M"
			 : h->priv == 1 ? "S"
					: "U");
		size_t n = 0;
		for (const char *c = text; *c; c++)
			n += (size_t)snprintf(hex + n, sizeof(hex) - n, "%02x", (unsigned char)*c);
		gdb_send(g, hex);
	} else if (strncmp(p, "QStartNoAckMode", 15) == 0) {
		gdb_send(g, "OK");
		g->ack = false;
	} else {
		gdb_send(g, "");
	}
}

static void handle_packet(struct vm_gdb *g, char *p, size_t len)
{
	char *buf = g->out + sizeof(g->out) / 2; /* reply text (sent from g->out) */
	size_t cap = sizeof(g->out) / 2 - 8;
	struct rv_hart *h = hart_of(g, g->g_hart);
	uint64_t a, l, v;
	const char *q = p + 1;
	(void)len;
	switch (p[0]) {
	case '?': gdb_send(g, g->stop); return;
	case 'q':
	case 'Q': handle_query(g, p); return;
	case 'g': {
		size_t n = 0;
		for (unsigned r = 0; r <= GDB_REG_PC; r++)
			n += put_le(buf + n, r < 32 ? h->x[r] : h->pc, 8);
		buf[n] = 0;
		gdb_send(g, buf);
		return;
	}
	case 'G':
		for (unsigned r = 0; r <= GDB_REG_PC; r++) {
			if (strlen(q) < 16 || get_le(q, 16, &v)) {
				gdb_send(g, "E01");
				return;
			}
			reg_write(h, r, v);
			q += 16;
		}
		gdb_send(g, "OK");
		return;
	case 'p': {
		unsigned bytes;
		if (parse_hex(&q, &a) || a > UINT32_MAX || reg_read(h, (unsigned)a, &v, &bytes)) {
			gdb_send(g, "E01");
			return;
		}
		buf[put_le(buf, v, bytes)] = 0;
		gdb_send(g, buf);
		return;
	}
	case 'P':
		if (parse_hex(&q, &a) || *q++ != '=' || get_le(q, strlen(q), &v) ||
		    a > UINT32_MAX || reg_write(h, (unsigned)a, v)) {
			gdb_send(g, "E01");
			return;
		}
		gdb_send(g, "OK");
		return;
	case 'm': {
		if (parse_hex(&q, &a) || *q++ != ',' || parse_hex(&q, &l)) {
			gdb_send(g, "E01");
			return;
		}
		if (l > cap / 2)
			l = cap / 2;
		uint8_t *data = malloc(l ? l : 1);
		if (!data || mem_rw(g, a, data, l, false)) {
			free(data);
			gdb_send(g, "E14"); /* EFAULT */
			return;
		}
		for (uint64_t i = 0; i < l; i++)
			sprintf(buf + 2 * i, "%02x", data[i]);
		buf[2 * l] = 0;
		free(data);
		gdb_send(g, buf);
		return;
	}
	case 'M':
	case 'X': {
		if (parse_hex(&q, &a) || *q++ != ',' || parse_hex(&q, &l) || *q++ != ':' ||
		    l > GDB_BUF) {
			gdb_send(g, "E01");
			return;
		}
		uint8_t *data = malloc(l ? l : 1);
		if (!data) {
			gdb_send(g, "E0c");
			return;
		}
		size_t avail = len - (size_t)(q - p);
		bool ok = true;
		for (uint64_t i = 0; i < l && ok; i++) {
			if (p[0] == 'X') {
				ok = i < avail;
				if (ok)
					data[i] = (uint8_t)q[i];
			} else {
				int hi = hexval(q[2 * i]), lo = hi < 0 ? -1 : hexval(q[2 * i + 1]);
				ok = 2 * i + 1 < avail && hi >= 0 && lo >= 0;
				if (ok)
					data[i] = (uint8_t)(hi << 4 | lo);
			}
		}
		if (!ok || mem_rw(g, a, data, l, true))
			gdb_send(g, ok ? "E14" : "E01");
		else
			gdb_send(g, "OK");
		free(data);
		return;
	}
	case 'Z':
	case 'z': {
		int kind = p[1] - '0';
		q = p + 2;
		if (kind < 0 || kind > 4 || *q++ != ',' || parse_hex(&q, &a) || *q++ != ',' ||
		    parse_hex(&q, &l)) {
			gdb_send(g, "E01");
			return;
		}
		if (kind <= 1)
			l = 1; /* a breakpoint matches the pc; the length is the insn's */
		int r = p[0] == 'Z' ? rv_core_debug_insert(g->core, (enum rv_debug_kind)kind, a, l)
				    : rv_core_debug_remove(g->core, (enum rv_debug_kind)kind, a, l);
		if (r == 0 && kind <= 1)
			note_bp(g, p[0] == 'Z', (uint8_t)kind, a);
		gdb_send(g, r == 0 ? "OK" : r == -ENOSPC ? "E1c" : "E16");
		return;
	}
	case 'c':
	case 's':
	case 'C':
	case 'S': {
		char act = (char)(p[0] == 'C' ? 'c' : p[0] == 'S' ? 's' : p[0]);
		if (p[0] == 'C' || p[0] == 'S') { /* Csig[;addr] */
			while (hexval(*q) >= 0)
				q++;
			if (*q == ';')
				q++;
		}
		if (parse_hex(&q, &a) == 0)
			hart_of(g, g->c_hart)->pc = a;
		if (act == 's') {
			resume(g, g->c_hart, 's');
		} else {
			for (unsigned k = 0; k < rv_core_nharts(g->core); k++)
				resume(g, k, 'c');
		}
		start_running(g);
		return;
	}
	case 'v':
		if (strncmp(p, "vCont?", 6) == 0)
			gdb_send(g, "vCont;c;C;s;S");
		else if (strncmp(p, "vCont;", 6) == 0)
			do_vcont(g, p + 5);
		else
			gdb_send(g, "");
		return;
	case 'H': {
		char *end;
		long tid = strtol(p + 2, &end, 16);
		unsigned n = rv_core_nharts(g->core);
		if (p[1] == 0 || end == p + 2 || *end || tid > (long)n || tid < -1) {
			gdb_send(g, "E01");
			return;
		}
		unsigned k = tid <= 0 ? (p[1] == 'g' ? g->g_hart : g->c_hart) : (unsigned)tid - 1;
		if (p[1] == 'g')
			g->g_hart = k;
		else
			g->c_hart = k;
		gdb_send(g, "OK");
		return;
	}
	case 'T': {
		char *end;
		long tid = strtol(p + 1, &end, 16);
		gdb_send(g,
			 end != p + 1 && !*end && tid >= 1 && tid <= (long)rv_core_nharts(g->core)
			     ? "OK"
			     : "E01");
		return;
	}
	case 'D':
		gdb_send(g, "OK");
		drop_breakpoints(g);
		for (unsigned k = 0; k < rv_core_nharts(g->core); k++)
			resume(g, k, 'c');
		g->running = false;
		vm_machine_unwatch_fd(g->m, g->fd);
		close(g->fd);
		g->fd = -1;
		return;
	case 'k':
		drop_breakpoints(g);
		vm_machine_request_exit(g->m, VM_EXIT_USER, 9);
		for (unsigned k = 0; k < rv_core_nharts(g->core); k++)
			resume(g, k, 'c');
		g->running = false;
		return;
	default: gdb_send(g, ""); return;
	}
}

static void close_client(struct vm_gdb *g)
{
	if (g->fd < 0)
		return;
	vm_machine_unwatch_fd(g->m, g->fd);
	close(g->fd);
	g->fd = -1;
	g->running = false;
	drop_breakpoints(g);
	for (unsigned k = 0; k < rv_core_nharts(g->core); k++)
		resume(g, k, 'c');
}

/* Parse what arrived: acks, 0x03, packets. */
static void process_input(struct vm_gdb *g)
{
	size_t i = 0;
	while (i < g->nin && g->fd >= 0) {
		char c = g->in[i];
		if (c == '+' || c == '-') {
			i++;
			continue;
		}
		if (c == 0x03) {
			i++;
			if (g->running) {
				halt_all(g);
				set_stop(g, g->stop_hart, 2, NULL);
				g->running = false;
				gdb_send(g, g->stop);
			}
			continue;
		}
		if (c != '$') {
			i++; /* noise between packets */
			continue;
		}
		char *end = memchr(g->in + i, '#', g->nin - i);
		if (!end || (size_t)(end - g->in) + 3 > g->nin)
			break; /* incomplete */
		size_t start = i + 1, plen = (size_t)(end - g->in) - start;
		unsigned cs = 0;
		for (size_t k = start; k < start + plen; k++)
			cs += (unsigned char)g->in[k];
		int hi = hexval(end[1]), lo = hexval(end[2]);
		i = (size_t)(end - g->in) + 3;
		if (hi < 0 || lo < 0 || (unsigned)(hi << 4 | lo) != (cs & 0xff)) {
			if (g->ack)
				gdb_write(g, "-", 1);
			continue;
		}
		if (g->ack)
			gdb_write(g, "+", 1);
		/* unescape in place (binary X data) */
		char *pk = g->in + start;
		size_t n = 0;
		for (size_t k = 0; k < plen; k++) {
			if (pk[k] == '}' && k + 1 < plen)
				pk[n++] = (char)(pk[++k] ^ 0x20);
			else
				pk[n++] = pk[k];
		}
		char saved = pk[n];
		pk[n] = 0;
		if (n && !g->running)
			handle_packet(g, pk, n);
		else if (n && g->running && pk[0] != 'v') /* only vCtrlC-style while running */
			gdb_send(g, "");
		pk[n] = saved;
	}
	if (g->fd < 0) {
		g->nin = 0;
		return;
	}
	memmove(g->in, g->in + i, g->nin - i);
	g->nin -= i;
}

static void on_client(void *opaque)
{
	struct vm_gdb *g = opaque;
	vm_machine_stop_harts(g->m); /* hart threads: the packets read hart state */
	if (g->nin >= sizeof(g->in)) {
		vs_log(VS_LOG_WARN, "gdb: packet too long, connection closed");
		close_client(g);
		return;
	}
	ssize_t n = recv(g->fd, g->in + g->nin, sizeof(g->in) - g->nin, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close_client(g);
		return;
	}
	g->nin += (size_t)n;
	process_input(g);
}

static void on_listen(void *opaque)
{
	struct vm_gdb *g = opaque;
	int fd = accept4(g->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (g->fd >= 0) { /* one debugger at a time */
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails on unix: fine */
	if (vm_machine_watch_fd(g->m, fd, on_client, g) < 0) {
		close(fd);
		return;
	}
	g->fd = fd;
	g->ack = true;
	g->nin = 0;
	g->running = false;
	/* gdb attaches to a stopped machine */
	vm_machine_stop_harts(g->m);
	halt_all(g);
	set_stop(g, g->stop_hart, 5, NULL);
}

/* ---- setup ---- */

static int listen_on(struct vm_gdb *g, const char *addr, struct vs_err *err)
{
	int fd;
	if (strncmp(addr, "tcp:", 4) == 0) {
		char *end;
		errno = 0;
		unsigned long port = strtoul(addr + 4, &end, 10);
		if (errno || end == addr + 4 || *end || port == 0 || port > 65535)
			return vs_errf(err, EINVAL, "--gdb %s: expected tcp:PORT (1-65535)", addr);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return vs_syserrf(err, errno, "gdb: socket");
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_port = htons((uint16_t)port),
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
			int e = errno;
			close(fd);
			return vs_syserrf(err, e, "gdb: cannot listen on 127.0.0.1:%lu", port);
		}
	} else if (strncmp(addr, "unix:", 5) == 0 && addr[5]) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		if (strlen(addr + 5) >= sizeof(sun.sun_path))
			return vs_errf(err, ENAMETOOLONG, "--gdb %s: socket path too long", addr);
		strcpy(sun.sun_path, addr + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return vs_syserrf(err, errno, "gdb: socket");
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			int e = errno;
			close(fd);
			return vs_syserrf(err, e, "gdb: cannot listen on %s", addr + 5);
		}
		g->unix_path = strdup(addr + 5);
		if (!g->unix_path) {
			unlink(addr + 5);
			close(fd);
			return vs_errf(err, ENOMEM, "gdb: out of memory");
		}
	} else {
		return vs_errf(err, EINVAL, "--gdb %s: expected unix:PATH or tcp:PORT", addr);
	}
	if (listen(fd, 1) < 0) {
		int e = errno;
		close(fd);
		return vs_syserrf(err, e, "gdb: listen");
	}
	g->lfd = fd;
	return 0;
}

struct vm_gdb *vm_gdb_new(struct vm_machine *m, const char *addr, bool wait, struct vs_err *err)
{
	struct vm_gdb *g = calloc(1, sizeof(*g));
	if (!g) {
		vs_errf(err, ENOMEM, "gdb: out of memory");
		return NULL;
	}
	g->m = m;
	g->core = vm_machine_core(m);
	g->fd = g->lfd = -1;
	g->threaded = vm_machine_hart_threads(m);
	pthread_mutex_init(&g->pend_mu, NULL);
	snprintf(g->stop, sizeof(g->stop), "T05thread:1;");
	if (listen_on(g, addr, err) < 0) {
		vm_gdb_free(g);
		return NULL;
	}
	if (vm_machine_watch_fd(m, g->lfd, on_listen, g) < 0) {
		vs_errf(err, ENOSPC, "gdb: too many watched fds");
		vm_gdb_free(g);
		return NULL;
	}
	if (g->threaded && vm_machine_add_tick(m, gdb_tick, g) < 0) {
		vs_errf(err, ENOSPC, "gdb: too many tick callbacks");
		vm_gdb_free(g);
		return NULL;
	}
	rv_core_set_debugger(g->core, on_stop, g);
	if (wait)
		halt_all(g);
	return g;
}

void vm_gdb_report_exit(struct vm_gdb *g, const struct vm_exit *exit)
{
	if (!g || g->fd < 0)
		return;
	char buf[8];
	snprintf(buf, sizeof(buf), "W%02x", exit->kind == VM_EXIT_POWEROFF ? 0 : 1);
	gdb_send(g, buf);
	g->running = false;
}

void vm_gdb_free(struct vm_gdb *g)
{
	if (!g)
		return;
	if (g->fd >= 0) {
		vm_machine_unwatch_fd(g->m, g->fd);
		close(g->fd);
	}
	if (g->lfd >= 0) {
		vm_machine_unwatch_fd(g->m, g->lfd);
		close(g->lfd);
	}
	if (g->unix_path) {
		unlink(g->unix_path);
		free(g->unix_path);
	}
	if (g->core) {
		rv_core_set_debugger(g->core, NULL, NULL);
		rv_core_debug_clear(g->core);
		for (unsigned k = 0; k < rv_core_nharts(g->core); k++)
			rv_hart_debug_resume(hart_of(g, k), false);
	}
	pthread_mutex_destroy(&g->pend_mu);
	free(g);
}
