/*
 * starttrace.h - where a VMM's start-up goes, for measurements.
 */
#ifndef VESSEL_VM_STARTTRACE_H
#define VESSEL_VM_STARTTRACE_H

/*
 * With VESSEL_START_TRACE=FILE in the environment, vessel-vmm notes the
 * time, its CPU time and its page faults at each mark, and appends them to
 * FILE at the last one, the guest's first console byte on --serial stdio
 * (docs/vessel-vmm.md, "Where the ms go").  Without it a mark costs one
 * branch.  Marks are taken one at a time: those before the run by the main
 * thread, the last by the thread that writes the console (device output is
 * serialized).  what must be a string literal.
 */
void vm_start_mark(const char *what);
/* The last mark: writes FILE, later marks do nothing. */
void vm_start_mark_last(const char *what);

#endif
