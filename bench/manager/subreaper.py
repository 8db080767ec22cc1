#!/usr/bin/env python3
"""subreaper.py PIDFILE CMD [ARGS...]: run CMD under a process that is a
child subreaper (prctl PR_SET_CHILD_SUBREAPER) and reaps every orphan, as
an init would.  Peer daemons of the benchmark (libvirtd, virtlogd, lxd,
lxcfs) run under it on these hosts without systemd: QEMU processes that
libvirtd daemonizes, and LXD's container monitors, are reaped at once
instead of lingering as zombies (libvirt notices QEMU's exit late
otherwise).  Exits with CMD's status once CMD and every orphan are gone;
SIGTERM is passed on to CMD.  PIDFILE receives CMD's pid."""
import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: subreaper.py PIDFILE CMD [ARGS...]\n")
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.stderr.write("subreaper: prctl: %s\n" % os.strerror(ctypes.get_errno()))
        return 1
    pid = os.fork()
    if pid == 0:
        os.execvp(sys.argv[2], sys.argv[2:])
    with open(sys.argv[1], "w") as f:
        f.write("%d\n" % pid)

    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    while True:
        try:
            p, st = os.wait()
        except ChildProcessError:
            return status
        except InterruptedError:
            continue
        if p == pid:
            status = os.waitstatus_to_exitcode(st)
            if status < 0:
                status = 128 - status


if __name__ == "__main__":
    sys.exit(main())
