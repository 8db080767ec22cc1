/*
 * uart.c - NS16550A UART (register set of the National PC16550D data sheet:
 * RBR/THR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR, and DLL/DLM when LCR.DLAB
 * is set).
 *
 * Model: transmission is instantaneous (THR is always empty; LSR.THRE and
 * TEMT stay set), so the "THR empty" interrupt is raised after every THR
 * write and when ETBEI gets enabled, and is cleared by reading IIR while it
 * is the reported source, or by the next THR write.  Received bytes sit in a
 * 16-byte FIFO; the "data available" interrupt is level: pending while the
 * FIFO is non-empty and ERBFI is set.  When the FIFO is full the input fd is
 * unwatched (so the run loop does not spin) and watched again once the guest
 * reads.  MCR loopback sends THR bytes to the receive FIFO and reflects the
 * modem control outputs in MSR.  Output that starts after a quiet
 * interval, and the end of its line, is forwarded at once
 * (vm_machine_note_output, vm_uart_set_forward): the reader of out_fd runs
 * right after the byte was written, instead of when the run loop next
 * polls (at the end of a slice).  Invariant: the irq line level always
 * equals uart_irq_level() after every register access.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/core/util.h"
#include "vessel/vm/machine.h"
#include "vessel/vm/state.h"
#include "vessel/vm/uart.h"

#define FIFO_SIZE 16

#define IER_ERBFI 0x01
#define IER_ETBEI 0x02
#define LSR_DR	  0x01
#define LSR_OE	  0x02
#define LSR_THRE  0x20
#define LSR_TEMT  0x40
#define LCR_DLAB  0x80
#define MCR_LOOP  0x10

struct vm_uart {
	struct vm_machine *m;
	int in_fd, out_fd;
	bool watching;
	void (*forward)(void *opaque); /* vm_uart_set_forward */
	void *forward_opaque;
	struct vm_irq_line irq;
	int irq_level;
	uint8_t ier, lcr, mcr, lsr_oe, scr, dll, dlm, fcr;
	bool thre_ip;
	uint8_t fifo[FIFO_SIZE];
	unsigned head, count;
};

static int uart_irq_level(const struct vm_uart *u)
{
	return ((u->ier & IER_ERBFI) && u->count) || ((u->ier & IER_ETBEI) && u->thre_ip);
}

static void uart_update_irq(struct vm_uart *u)
{
	int level = uart_irq_level(u);
	if (level != u->irq_level) {
		u->irq_level = level;
		vm_irq_set(&u->irq, level);
	}
}

static void uart_fifo_push(struct vm_uart *u, uint8_t c)
{
	if (u->count == FIFO_SIZE) {
		u->lsr_oe = LSR_OE;
		return;
	}
	u->fifo[(u->head + u->count) % FIFO_SIZE] = c;
	u->count++;
}

static void uart_input(void *opaque);

static void uart_set_watch(struct vm_uart *u, bool on)
{
	if (u->in_fd < 0 || on == u->watching)
		return;
	if (on) {
		if (vm_machine_watch_fd(u->m, u->in_fd, uart_input, u) == 0)
			u->watching = true;
	} else {
		vm_machine_unwatch_fd(u->m, u->in_fd);
		u->watching = false;
	}
}

static void uart_input(void *opaque)
{
	struct vm_uart *u = opaque;
	uint8_t buf[FIFO_SIZE];
	unsigned space = FIFO_SIZE - u->count;
	if (space == 0) {
		uart_set_watch(u, false);
		return;
	}
	ssize_t n = read(u->in_fd, buf, space);
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			uart_set_watch(u, false); /* EOF or error: no more input */
			u->in_fd = -1;
		}
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		uart_fifo_push(u, buf[i]);
	if (u->count == FIFO_SIZE)
		uart_set_watch(u, false);
	uart_update_irq(u);
}

void vm_uart_receive(struct vm_uart *u, const uint8_t *buf, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		uart_fifo_push(u, buf[i]);
	uart_update_irq(u);
}

static uint8_t uart_iir(struct vm_uart *u)
{
	uint8_t fifo_bits = (u->fcr & 1) ? 0xc0 : 0;
	if ((u->ier & IER_ERBFI) && u->count)
		return fifo_bits | 0x04;
	if ((u->ier & IER_ETBEI) && u->thre_ip) {
		u->thre_ip = false; /* reading IIR clears a THRE interrupt */
		return fifo_bits | 0x02;
	}
	return fifo_bits | 0x01;
}

static uint8_t uart_msr(const struct vm_uart *u)
{
	if (u->mcr & MCR_LOOP) {
		uint8_t m = u->mcr;
		return (uint8_t)(((m & 1) << 5) | ((m & 2) << 3) | ((m & 4) << 4) | ((m & 8) << 4));
	}
	return 0xb0; /* DCD, DSR, CTS */
}

static int uart_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct vm_uart *u = opaque;
	uint8_t v = 0;
	switch (off) {
	case 0:
		if (u->lcr & LCR_DLAB) {
			v = u->dll;
		} else if (u->count) {
			v = u->fifo[u->head];
			u->head = (u->head + 1) % FIFO_SIZE;
			u->count--;
			if (u->in_fd >= 0)
				uart_set_watch(u, true);
		}
		break;
	case 1: v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier; break;
	case 2: v = uart_iir(u); break;
	case 3: v = u->lcr; break;
	case 4: v = u->mcr; break;
	case 5:
		v = (uint8_t)(LSR_THRE | LSR_TEMT | (u->count ? LSR_DR : 0) | u->lsr_oe);
		u->lsr_oe = 0;
		break;
	case 6: v = uart_msr(u); break;
	case 7: v = u->scr; break;
	default: break;
	}
	*val = v;
	uart_update_irq(u);
	return 0;
}

static int uart_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct vm_uart *u = opaque;
	uint8_t v = (uint8_t)val;
	switch (off) {
	case 0:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
			break;
		}
		if (u->mcr & MCR_LOOP)
			uart_fifo_push(u, v);
		else if (u->out_fd >= 0) {
			(void)vs_write_full(u->out_fd, &v, 1);
			if (u->m && vm_machine_note_output(u->m, v == '\n') && u->forward)
				u->forward(u->forward_opaque);
		}
		u->thre_ip = true;
		break;
	case 1:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
			break;
		}
		if ((v & IER_ETBEI) && !(u->ier & IER_ETBEI))
			u->thre_ip = true;
		u->ier = v & 0x0f;
		break;
	case 2:
		u->fcr = v & 0xc9;
		if (v & 2) {
			u->count = 0;
			u->head = 0;
			if (u->in_fd >= 0)
				uart_set_watch(u, true);
		}
		break;
	case 3: u->lcr = v; break;
	case 4: u->mcr = v & 0x1f; break;
	case 7: u->scr = v; break;
	default: break;
	}
	uart_update_irq(u);
	return 0;
}

static const struct vm_mmio_ops uart_ops = { uart_read, uart_write };

struct vm_uart *vm_uart_new(struct vm_machine *m, uint64_t base, int in_fd, int out_fd,
			    struct vs_err *err)
{
	struct vm_uart *u = calloc(1, sizeof(*u));
	if (!u) {
		vs_errf(err, ENOMEM, "uart: out of memory");
		return NULL;
	}
	u->m = m;
	u->in_fd = in_fd;
	u->out_fd = out_fd;
	if (vm_bus_add_mmio(vm_machine_bus(m), base, VM_UART_SIZE, &uart_ops, u, "uart", err) < 0) {
		free(u);
		return NULL;
	}
	uart_set_watch(u, true);
	return u;
}

void vm_uart_free(struct vm_uart *u)
{
	if (!u)
		return;
	uart_set_watch(u, false);
	free(u);
}

void vm_uart_set_forward(struct vm_uart *u, void (*forward)(void *opaque), void *opaque)
{
	u->forward = forward;
	u->forward_opaque = opaque;
}

void vm_uart_reset(struct vm_uart *u)
{
	u->ier = u->lcr = u->mcr = u->lsr_oe = u->scr = u->dll = u->dlm = u->fcr = 0;
	u->thre_ip = false;
	u->head = u->count = 0;
	uart_set_watch(u, true);
	uart_update_irq(u);
}

void vm_uart_set_irq(struct vm_uart *u, const struct vm_irq_line *line)
{
	u->irq = *line;
	u->irq_level = 0;
	uart_update_irq(u);
}

void vm_uart_save(const struct vm_uart *u, struct vm_state *s)
{
	const uint8_t regs[] = {
		u->ier, u->lcr, u->mcr, u->lsr_oe, u->scr, u->dll, u->dlm, u->fcr
	};
	vm_state_put_bytes(s, regs, sizeof(regs));
	vm_state_put_u8(s, u->thre_ip);
	vm_state_put_u8(s, (uint8_t)u->count);
	for (unsigned i = 0; i < u->count; i++)
		vm_state_put_u8(s, u->fifo[(u->head + i) % FIFO_SIZE]);
}

int vm_uart_load(struct vm_uart *u, struct vm_state *s, bool apply, struct vs_err *err)
{
	uint8_t regs[8], fifo[FIFO_SIZE];
	vm_state_get_bytes(s, regs, sizeof(regs));
	bool thre = vm_state_get_bool(s);
	unsigned count = vm_state_get_u8(s);
	if (count > FIFO_SIZE)
		return vs_errf(err, EINVAL, "uart: %u bytes in a %d-byte FIFO", count, FIFO_SIZE);
	vm_state_get_bytes(s, fifo, count);
	int r = vm_state_check_end(s, "uart", err);
	if (r < 0 || !apply)
		return r;
	u->ier = regs[0] & 0x0f;
	u->lcr = regs[1];
	u->mcr = regs[2] & 0x1f;
	u->lsr_oe = regs[3] & LSR_OE;
	u->scr = regs[4];
	u->dll = regs[5];
	u->dlm = regs[6];
	u->fcr = regs[7] & 0xc9;
	u->thre_ip = thre;
	memcpy(u->fifo, fifo, count);
	u->head = 0;
	u->count = count;
	uart_set_watch(u, u->in_fd >= 0 && count < FIFO_SIZE);
	uart_update_irq(u);
	return 0;
}
