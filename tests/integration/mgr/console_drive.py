#!/usr/bin/env python3
"""console_drive.py - drive `vessel console NAME` on a pseudo-terminal.

Usage: console_drive.py SCRIPT VESSEL [ARGS...]
SCRIPT is a list of steps, one per argument-separated line in a file:
  expect TEXT      wait (up to 60 s) until TEXT appears in the output
  send TEXT        type TEXT (\\r, \\n, \\x01 escapes understood)
  run SHELL        run a shell command (e.g. a `vessel exec` that writes
                   to the container's console)
  exit N           wait (up to 60 s) for the CLI to exit with status N
  resize ROWS COLS set the terminal's window size (the CLI gets SIGWINCH)
$DRIVE_COLS sets the terminal's width.
On success the whole output is printed.
"""
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time


def main():
    steps = open(sys.argv[1]).read().splitlines()
    argv = sys.argv[2:]
    pid, fd = pty.fork()
    if pid == 0:
        if os.environ.get("DRIVE_COLS"):  # the terminal's width, for table tests
            fcntl.ioctl(0, termios.TIOCSWINSZ,
                        struct.pack("HHHH", 24, int(os.environ["DRIVE_COLS"]), 0, 0))
        os.execvp(argv[0], argv)
    out = b""
    status = None

    def pump(deadline):
        nonlocal out
        r, _, _ = select.select([fd], [], [], max(0.0, min(0.2, deadline - time.time())))
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            out += data
            return bool(data)
        return True

    for step in steps:
        if not step.strip():
            continue
        verb, _, arg = step.partition(" ")
        text = arg.encode().decode("unicode_escape").encode("latin-1")
        deadline = time.time() + 60
        if verb == "expect":
            while text not in out:
                if time.time() > deadline or not pump(deadline):
                    print("console_drive: did not see %r; output:\n%r" % (text, out))
                    return 1
        elif verb == "send":
            os.write(fd, text)
        elif verb == "resize":
            rows, cols = (int(v) for v in arg.split())
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        elif verb == "run":
            subprocess.run(arg, shell=True, check=True, stdout=subprocess.DEVNULL)
        elif verb == "exit":
            while status is None:
                p, st = os.waitpid(pid, os.WNOHANG)
                if p:
                    status = os.waitstatus_to_exitcode(st)
                    break
                if time.time() > deadline:
                    print("console_drive: the CLI did not exit; output:\n%r" % out)
                    return 1
                pump(deadline)
            try:
                while pump(time.time() + 0.2) and select.select([fd], [], [], 0)[0]:
                    pass
            except OSError:
                pass
            if status != int(arg):
                print("console_drive: exit status %s, wanted %s; output:\n%r" % (status, arg, out))
                return 1
    if status is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    sys.stdout.write(out.decode("utf-8", "replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
