/* runtime.c: UART output, checks, exit and trap handling for vessel's
 * bare-metal ISA tests (see isa.h for the conventions).
 *
 * Devices (QEMU virt compatible): ns16550a UART at 0x10000000 (THR at +0,
 * LSR at +5, THRE = bit 5), SiFive test finisher at 0x100000 (0x5555 pass,
 * (code << 16) | 0x3333 fail).  The M-mode handler isa_trap() implements
 * privileged spec §3.1.15-§3.1.16 conventions only as a user: it reads
 * mcause/mtval/mepc as saved by crt0.S and decides where to resume.
 */
#include "isa.h"

volatile struct isa_trap_record isa_last_trap;
volatile struct isa_trap_record isa_last_strap;
volatile int isa_trap_armed;
volatile int isa_strap_armed;
int (*volatile isa_irq_hook)(struct isa_frame *f);
int (*volatile isa_sirq_hook)(struct isa_frame *f);
u64 isa_strap_stack[512] __attribute__((aligned(16)));
u64 isa_strap_stack_top[1];

static int failures;
static int checks;
static volatile int trap_depth;

extern char isa_mode_resume[];

void isa_putc(char c)
{
	volatile uint8_t *uart = (volatile uint8_t *)ISA_UART;
	while (!(uart[5] & 0x20))
		;
	uart[0] = (uint8_t)c;
}

void isa_puts(const char *s)
{
	while (*s)
		isa_putc(*s++);
}

static void put_num(u64 v, int base, int width, char pad, int neg)
{
	char buf[24];
	int n = 0;
	do {
		buf[n++] = "0123456789abcdef"[v % (u64)base];
		v /= (u64)base;
	} while (v);
	if (neg)
		buf[n++] = '-';
	while (n < width--)
		isa_putc(pad);
	while (n)
		isa_putc(buf[--n]);
}

void isa_vprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			isa_putc(*fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, longs = 0;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			longs++;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			isa_puts(s ? s : "(null)");
			break;
		}
		case 'c': isa_putc((char)va_arg(ap, int)); break;
		case 'd':
		case 'i': {
			i64 v = longs ? va_arg(ap, i64) : va_arg(ap, int);
			put_num(v < 0 ? -(u64)v : (u64)v, 10, width, pad, v < 0);
			break;
		}
		case 'u':
			put_num(longs ? va_arg(ap, u64) : va_arg(ap, unsigned), 10, width, pad, 0);
			break;
		case 'x':
			put_num(longs ? va_arg(ap, u64) : va_arg(ap, unsigned), 16, width, pad, 0);
			break;
		case 'p':
			isa_puts("0x");
			put_num((u64)va_arg(ap, void *), 16, 0, ' ', 0);
			break;
		case '%': isa_putc('%'); break;
		default: isa_putc('?');
		}
	}
}

void isa_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	isa_vprintf(fmt, ap);
	va_end(ap);
}

void isa_check(const char *name, u64 got, u64 expected)
{
	checks++;
	if (got == expected) {
		isa_printf("%s %016lx\n", name, got);
	} else {
		failures++;
		isa_printf("FAIL %s got %016lx expected %016lx\n", name, got, expected);
	}
}

void isa_sig(const char *name, u64 value)
{
	checks++;
	isa_printf("%s %016lx\n", name, value);
}

void isa_fail(const char *fmt, ...)
{
	va_list ap;
	failures++;
	isa_puts("FAIL ");
	va_start(ap, fmt);
	isa_vprintf(fmt, ap);
	va_end(ap);
	isa_putc('\n');
}

int isa_failures(void)
{
	return failures;
}

void isa_exit(int code)
{
	volatile u32 *finisher = (volatile u32 *)ISA_FINISHER;
	if (code == 0)
		*finisher = 0x5555;
	else
		*finisher = ((u32)(code > 0xffff ? 0xffff : code) << 16) | 0x3333;
	for (;;)
		asm volatile("wfi");
}

void isa_expect_trap(void)
{
	isa_last_trap.cause = ~0UL;
	isa_last_trap.tval = ~0UL;
	isa_last_trap.epc = ~0UL;
	isa_trap_armed = 1;
}

void isa_expect_strap(void)
{
	isa_last_strap.cause = ~0UL;
	isa_last_strap.tval = ~0UL;
	isa_last_strap.epc = ~0UL;
	isa_strap_armed = 1;
}

u64 isa_hartid(void)
{
	return csr_read(mhartid);
}

static void record(volatile struct isa_trap_record *r, struct isa_frame *f)
{
	r->count++;
	r->cause = f->cause;
	r->tval = f->tval;
	r->epc = f->epc;
	r->status = f->status;
}

__attribute__((noreturn)) static void unexpected(const char *who, struct isa_frame *f)
{
	isa_printf("FAIL unexpected %s trap: cause %lx epc %lx tval %lx "
		   "status %lx\n",
		   who, f->cause, f->epc, f->tval, f->status);
	isa_exit(failures + 1);
}

void isa_trap(struct isa_frame *f);
void isa_trap(struct isa_frame *f)
{
	if (trap_depth++)
		unexpected("nested M", f);
	if (f->cause & CAUSE_INTR) {
		if (!isa_irq_hook || !isa_irq_hook(f))
			unexpected("M interrupt", f);
	} else if ((f->cause == CAUSE_ECALL_U || f->cause == CAUSE_ECALL_S) &&
		   f->x[17] == ISA_ECALL_RETURN) {
		/* a lower-mode function returned: back to isa_run_in_mode */
		f->epc = (u64)isa_mode_resume;
		f->status = (f->status & ~(MSTATUS_MPRV | MSTATUS_MPIE)) |
			    MSTATUS_MPP; /* back in M with MIE = 0 */
	} else if (isa_trap_armed) {
		isa_trap_armed = 0;
		record(&isa_last_trap, f);
		f->epc = f->x[31];
	} else {
		unexpected("M", f);
	}
	trap_depth--;
}

void isa_strap(struct isa_frame *f);
void isa_strap(struct isa_frame *f)
{
	if (f->cause & CAUSE_INTR) {
		if (!isa_sirq_hook || !isa_sirq_hook(f))
			unexpected("S interrupt", f);
	} else if (f->cause == CAUSE_ECALL_U && f->x[17] == ISA_ECALL_RETURN) {
		/* delegated return-ecall: forward to M from S-mode */
		register u64 a7 asm("a7") = ISA_ECALL_RETURN;
		register u64 a0 asm("a0") = f->x[10];
		asm volatile("ecall" ::"r"(a7), "r"(a0));
	} else if (isa_strap_armed) {
		isa_strap_armed = 0;
		record(&isa_last_strap, f);
		f->epc = f->x[31];
	} else {
		unexpected("S", f);
	}
}

static long run_test(long arg)
{
	(void)arg;
	test_main();
	return 0;
}

void isa_main(void);
void isa_main(void)
{
	isa_strap_stack_top[0] = (u64)&isa_strap_stack[512];
#if ISA_VM
	/* -vm variant: the test body runs in S-mode under Sv39 with 4 KiB
	 * identity pages, so every fetch, load and store is translated. */
	u64 *root = isa_page_alloc();
	isa_map_identity(root, 3, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
	csr_write(mcounteren, ~0UL);
	csr_write(satp, isa_satp(root, 3));
	isa_sfence();
	isa_run_in_mode(MODE_S, run_test, 0);
	csr_write(satp, 0);
#else
	run_test(0);
#endif
	isa_printf("checks %d failures %d\n", checks, failures);
	isa_exit(failures);
}

/* The compiler may emit calls to these even with -ffreestanding. */
void *memset(void *d, int c, unsigned long n);
void *memset(void *d, int c, unsigned long n)
{
	volatile unsigned char *p = d;
	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n)
{
	volatile unsigned char *p = d;
	const unsigned char *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}
