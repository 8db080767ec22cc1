/* isa.h: the C interface of vessel's bare-metal ISA test runtime.
 *
 * A test defines `void test_main(void)`; crt0.S/runtime.c call it on hart 0
 * in M-mode (or, in the -vm variant built with ISA_VM=1, in S-mode under an
 * Sv39 identity mapping with 4 KiB pages).  Results are printed on the
 * ns16550a UART as one line per check ("name value" or "FAIL name ...") so
 * that the output of vessel-vmm and QEMU can be diffed; the test ends through
 * the SiFive test finisher (pass, or fail with the number of failed checks).
 *
 * Expected traps: call isa_expect_trap(), then execute the faulting code with
 * t6 (x31) holding the address to resume at (ISA_TRY does this).  The M-mode
 * handler (or S-mode handler for delegated traps) records cause/tval/epc in
 * isa_last_trap / isa_last_strap and resumes at t6.  Any other trap prints
 * its cause and fails the test.
 */
#ifndef ISA_H
#define ISA_H

#ifndef ISA_VM
#define ISA_VM 0
#endif

#include <stdarg.h>
#include <stdint.h>

typedef uint64_t u64;
typedef int64_t i64;
typedef uint32_t u32;
typedef int32_t i32;
typedef uint8_t u8;
typedef uint16_t u16;

#define ISA_ECALL_RETURN 0x7e57
#define ISA_UART	 0x10000000UL
#define ISA_FINISHER	 0x100000UL
#define ISA_CLINT	 0x2000000UL
#define ISA_MSIP(h)	 (ISA_CLINT + 4 * (h))
#define ISA_MTIMECMP(h)	 (ISA_CLINT + 0x4000 + 8 * (h))
#define ISA_MTIME	 (ISA_CLINT + 0xbff8)

#define MODE_U 0
#define MODE_S 1
#define MODE_M 3

#define MSTATUS_SIE  (1UL << 1)
#define MSTATUS_MIE  (1UL << 3)
#define MSTATUS_SPIE (1UL << 5)
#define MSTATUS_MPIE (1UL << 7)
#define MSTATUS_SPP  (1UL << 8)
#define MSTATUS_MPP  (3UL << 11)
#define MSTATUS_FS   (3UL << 13)
#define MSTATUS_MPRV (1UL << 17)
#define MSTATUS_SUM  (1UL << 18)
#define MSTATUS_MXR  (1UL << 19)
#define MSTATUS_TVM  (1UL << 20)
#define MSTATUS_TW   (1UL << 21)
#define MSTATUS_TSR  (1UL << 22)

#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS     1
#define CAUSE_ILLEGAL	       2
#define CAUSE_BREAKPOINT       3
#define CAUSE_MISALIGNED_LOAD  4
#define CAUSE_LOAD_ACCESS      5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS     7
#define CAUSE_ECALL_U	       8
#define CAUSE_ECALL_S	       9
#define CAUSE_ECALL_M	       11
#define CAUSE_FETCH_PAGE       12
#define CAUSE_LOAD_PAGE	       13
#define CAUSE_STORE_PAGE       15
#define CAUSE_INTR	       (1UL << 63)

#define csr_read(csr)                                                \
	({                                                           \
		u64 v_;                                              \
		asm volatile("csrr %0, " #csr : "=r"(v_)::"memory"); \
		v_;                                                  \
	})
#define csr_write(csr, v) asm volatile("csrw " #csr ", %0" ::"r"((u64)(v)) : "memory")
#define csr_set(csr, v)	  asm volatile("csrs " #csr ", %0" ::"r"((u64)(v)) : "memory")
#define csr_clear(csr, v) asm volatile("csrc " #csr ", %0" ::"r"((u64)(v)) : "memory")
#define csr_swap(csr, v)                                                                      \
	({                                                                                    \
		u64 v_;                                                                       \
		asm volatile("csrrw %0, " #csr ", %1" : "=r"(v_) : "r"((u64)(v)) : "memory"); \
		v_;                                                                           \
	})

struct isa_frame {
	u64 x[32]; /* x[2] is the interrupted sp */
	u64 epc, status, cause, tval;
};

struct isa_trap_record {
	u64 count; /* traps recorded since start */
	u64 cause, tval, epc;
	u64 status; /* xstatus at trap time (xPP, xPIE) */
};

extern volatile struct isa_trap_record isa_last_trap;  /* M-mode handler */
extern volatile struct isa_trap_record isa_last_strap; /* S-mode handler */
extern volatile int isa_trap_armed;
extern volatile int isa_strap_armed;
/* Optional interrupt hooks; return nonzero if handled. */
extern int (*volatile isa_irq_hook)(struct isa_frame *f);
extern int (*volatile isa_sirq_hook)(struct isa_frame *f);
extern char strap_entry[], trap_entry[];
extern u64 isa_strap_stack_top[];

void test_main(void);
void isa_putc(char c);
void isa_puts(const char *s);
void isa_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void isa_vprintf(const char *fmt, va_list ap);
/* Compares and prints "name value" (or a FAIL line). */
void isa_check(const char *name, u64 got, u64 expected);
/* Prints "name value" only: a signature line for the differential test. */
void isa_sig(const char *name, u64 value);
void isa_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int isa_failures(void);
__attribute__((noreturn)) void isa_exit(int code);

void isa_expect_trap(void);
void isa_expect_strap(void);
/* Runs fn(arg) in MODE_U or MODE_S, returns its value. */
long isa_run_in_mode(int mode, long (*fn)(long), long arg);
u64 isa_hartid(void);

/* Execute `insn` (a string of asm) with t6 = resume label.  Operands may
 * be passed as for asm; the caller arms first. */
#define ISA_TRY(insn, ...) asm volatile("la t6, 9f\n" insn "\n9:\n" __VA_ARGS__)

/* Paging helpers (vm.c). levels: 3 = Sv39, 4 = Sv48. */
#define PTE_V	  (1UL << 0)
#define PTE_R	  (1UL << 1)
#define PTE_W	  (1UL << 2)
#define PTE_X	  (1UL << 3)
#define PTE_U	  (1UL << 4)
#define PTE_G	  (1UL << 5)
#define PTE_A	  (1UL << 6)
#define PTE_D	  (1UL << 7)
#define SATP_SV39 (8UL << 60)
#define SATP_SV48 (9UL << 60)

u64 *isa_page_alloc(void);
/* Maps va -> pa with a leaf at `level` (0 = 4 KiB, 1 = 2 MiB/megapage, ...). */
void isa_map(u64 *root, int levels, u64 va, u64 pa, int level, u64 flags);
/* Returns the leaf PTE for va (or NULL). */
volatile u64 *isa_pte(u64 *root, int levels, u64 va);
/* Identity-maps MMIO (gigapage at 0) and the test image (4 KiB pages). */
void isa_map_identity(u64 *root, int levels, u64 ram_flags);
u64 isa_satp(u64 *root, int levels);
static inline void isa_sfence(void)
{
	asm volatile("sfence.vma" ::: "memory");
}

/* xorshift64 (Marsaglia 2003): the random tests' generator; advances *state
 * and returns it. */
static inline u64 isa_xorshift(u64 *state)
{
	u64 x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

static inline u64 isa_fnv(u64 h, u64 v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	return h;
}
#define ISA_FNV_INIT 0xcbf29ce484222325ULL

#endif
