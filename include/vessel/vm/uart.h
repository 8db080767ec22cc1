/*
 * uart.h - NS16550A serial port (the console of QEMU's virt board at
 * 0x10000000, PLIC irq 10).
 *
 * Byte-wide registers at offsets 0..7 (reg-shift 0).  Transmitted bytes are
 * written to out_fd; bytes read from in_fd (watched by the machine's run
 * loop) fill a 16-byte receive FIFO.  Interrupts (received data available,
 * transmitter holding register empty) go out through a vm_irq_line that the
 * board connects to its interrupt controller; unconnected by default.
 */
#ifndef VESSEL_VM_UART_H
#define VESSEL_VM_UART_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/vm/bus.h"

struct vm_machine;
struct vm_uart;

#define VM_UART_BASE 0x10000000ULL
#define VM_UART_SIZE 0x100ULL
#define VM_UART_IRQ  10

/* in_fd may be -1 (no input).  The fds stay owned by the caller. */
struct vm_uart *vm_uart_new(struct vm_machine *m, uint64_t base, int in_fd, int out_fd,
			    struct vs_err *err);
void vm_uart_free(struct vm_uart *u);

/* Connect the interrupt output (copied). */
/* Back to the power-on register state (board reset). */
void vm_uart_reset(struct vm_uart *u);

void vm_uart_set_irq(struct vm_uart *u, const struct vm_irq_line *line);

/*
 * The reader of out_fd (the board's, which forwards the bytes to the host):
 * called right after a byte was written to out_fd when the machine says the
 * output starts after a quiet interval or a line of it ends
 * (vm_machine_note_output), so neither waits for the run loop's next poll.  Without it the
 * loop's poll forwards everything.
 */
void vm_uart_set_forward(struct vm_uart *u, void (*forward)(void *opaque), void *opaque);

/* Queue bytes as if received on in_fd (tests, console multiplexers). */
void vm_uart_receive(struct vm_uart *u, const uint8_t *buf, unsigned len);

/*
 * Snapshot section UART (docs/snapshot-format.md): registers, the receive
 * FIFO and the pending THRE interrupt.  Applies only when apply is true;
 * the interrupt line is then re-driven.
 */
struct vm_state;
void vm_uart_save(const struct vm_uart *u, struct vm_state *s);
int vm_uart_load(struct vm_uart *u, struct vm_state *s, bool apply, struct vs_err *err);

#endif
