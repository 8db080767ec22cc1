#!/usr/bin/env python3
"""vm-agent-host: the guest agent built for the host (this build's flags,
so ASan/UBSan in the sanitizer build) behind a pty, with a small bridge
that plays the VMM's part: a unix socket, one client at a time, agent
output dropped while nobody is connected.  The same checks as
vm-boot-agent (tests/integration/vm/guest/test_agent.py) run against it in
seconds, without a guest; the agent must still be running at the end.

usage: test_agent_host.py AGENT_BINARY
"""
import os
import pty
import select
import socket
import subprocess
import sys
import tempfile
import threading
import tty

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "guest"))
import vmconsole as vc  # noqa: E402
import test_agent  # noqa: E402


class Bridge(threading.Thread):
    """pty master <-> one unix-socket client, as lib/vm/backend/chardev.c."""

    def __init__(self, master, path):
        super().__init__(daemon=True)
        self.master = master
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.client = None
        self.stop = False

    def run(self):
        while not self.stop:
            fds = [self.master, self.listener] + ([self.client] if self.client else [])
            r, _, _ = select.select(fds, [], [], 0.2)
            if self.listener in r:
                c, _ = self.listener.accept()
                if self.client:
                    c.close()
                else:
                    self.client = c
            if self.master in r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    return
                if self.client:
                    try:
                        self.client.sendall(data)
                    except OSError:
                        self.client.close()
                        self.client = None
            if self.client and self.client in r:
                try:
                    data = self.client.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self.client.close()
                    self.client = None
                else:
                    os.write(self.master, data)


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        vc.skip("usage: test_agent_host.py AGENT_BINARY")
    work = tempfile.mkdtemp(prefix="vessel-agent-host-")
    master, slave = pty.openpty()
    tty.setraw(master)
    log = open(os.path.join(work, "agent.log"), "w")
    agent = subprocess.Popen([sys.argv[1], os.ttyname(slave)], stdin=subprocess.DEVNULL,
                             stdout=log, stderr=log, start_new_session=True)
    bridge = Bridge(master, os.path.join(work, "agent.sock"))
    bridge.start()
    status = 0
    try:
        test_agent.exercise(os.path.join(work, "agent.sock"), work,
                            vc.timeout_scale(), lambda: agent.poll() is None,
                            guest=False, rdir=work)
        print("PASS")
    except vc.TestFailure as e:
        print("FAIL: %s" % e)
        status = 1
    finally:
        if agent.poll() is None:
            agent.kill()
        agent.wait()
        bridge.stop = True
        bridge.join(5)
        log.close()
        with open(os.path.join(work, "agent.log"), errors="replace") as f:
            text = f.read()
        if text:
            print("--- agent stderr ---\n" + text[-4000:])
            if "Sanitizer" in text or "runtime error" in text:
                status = 1
        os.close(slave)
        os.close(master)
        subprocess.run(["rm", "-rf", work])
    sys.exit(status)


if __name__ == "__main__":
    main()
