/*
 * gdbstub.h - a GDB remote-protocol server for a machine's harts
 * (`vessel-vmm --gdb unix:PATH|tcp:PORT [--gdb-wait]`).
 *
 * The stub lives on the machine's thread: its listening socket and the
 * connection are fds the run loop polls (vm_machine_watch_fd), and harts
 * report breakpoints, watchpoints and finished steps through the CPU's
 * debugger interface (include/vessel/vm/cpu.h).  All-stop mode: when one hart
 * stops, every hart is halted until gdb resumes them.  One gdb thread per
 * hart (thread id = hart index + 1).  One connection at a time; tcp listens on
 * 127.0.0.1 only.
 */
#ifndef VESSEL_VM_GDBSTUB_H
#define VESSEL_VM_GDBSTUB_H

#include <stdbool.h>

#include "vessel/core/err.h"
#include "vessel/vm/machine.h"

struct vm_gdb;

/*
 * Listen on addr ("unix:PATH" or "tcp:PORT").  wait: halt every hart until
 * gdb connects and continues.  NULL with err set on a bad address or a
 * socket error.
 */
struct vm_gdb *vm_gdb_new(struct vm_machine *m, const char *addr, bool wait, struct vs_err *err);

/* The machine stopped running: tell a connected gdb the exit status (W). */
void vm_gdb_report_exit(struct vm_gdb *g, const struct vm_exit *exit);

/* Close the connection and the listening socket (a unix socket is removed). */
void vm_gdb_free(struct vm_gdb *g);

#endif
