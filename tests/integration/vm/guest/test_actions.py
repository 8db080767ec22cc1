#!/usr/bin/env python3
"""vm-api-actions: PUT /actions reset, shutdown and poweroff.

reset: the guest boots anew in the same process (its banner appears a
second time, a file written in tmpfs before is gone) -- also from the paused state, which the reset keeps
(the VM stays paused until resumed).  shutdown: a Ctrl-Alt-Del on the
virtio-input keyboard makes the guest's init power off cleanly (exit
status 0).  poweroff: vessel-vmm stops at once with status 0, also while
paused.  The API socket is removed when vessel-vmm exits.
"""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmapi  # noqa: E402
import vmconsole as vc  # noqa: E402


def action(api, name, status=200):
    s, body = api.request("PUT", "/actions", {"action": name})
    if s != status:
        vc.fail("action %s answered %d %r" % (name, s, body))
    return body


def test(work):
    gdir = vc.guest_dir()
    m = vc.Machine(gdir, cpus=2, mem="128M")
    sock = os.path.join(work, "api.sock")
    argv = m.argv("vessel", vc.vmm_program("vessel")) + ["--api", sock]
    with vc.Console(argv, os.path.join(work, "console.log")) as con:
        con.wait_banner()
        api = vmapi.VmApi(sock, timeout=30)
        api.wait_ready(30)
        con.run("echo before-reset >/tmp/marker")
        action(api, "reset")
        con.expect(vc.BANNER, 120, "the banner after the reset")
        con.run("dmesg -n 1")
        st, _ = con.run("test -e /tmp/marker", check=False)
        if st == 0:
            vc.fail("/tmp/marker survived the reset: RAM was not cleared")
        # reset while paused: stays paused, boots once resumed
        api.request("PUT", "/vm/state", {"state": "paused"})
        action(api, "reset")
        s, body = api.request("GET", "/vm")
        if body["state"] != "paused":
            vc.fail("state after a reset while paused: %r" % body["state"])
        api.request("PUT", "/vm/state", {"state": "running"})
        con.expect(vc.BANNER, 120, "the banner after the second reset")
        con.run("dmesg -n 1")
        action(api, "shutdown")
        con.expect(r"powering off \(ctrl-alt-del\)", 60, "the guest's clean shutdown")
        status = con.wait_exit(60)
        if status != 0:
            vc.fail("exit status %d after the shutdown request" % status)
    if "--sandbox" in os.environ.get("VESSEL_VMM_EXTRA_ARGS", ""):
        # confined, it cannot remove the socket (no path resolves; it runs as
        # nobody): the socket is dead and whoever started the VMM removes it
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            vc.fail("API socket still accepts connections after exit")
        except OSError:
            pass
        finally:
            s.close()
        os.unlink(sock)
    elif os.path.exists(sock):
        vc.fail("API socket left behind after exit")

    with vc.Console(argv, os.path.join(work, "console2.log")) as con:
        con.wait_banner()
        api = vmapi.VmApi(sock, timeout=30)
        api.wait_ready(30)
        api.request("PUT", "/vm/state", {"state": "paused"})
        action(api, "poweroff")
        status = con.wait_exit(60)
        if status != 0:
            vc.fail("exit status %d after poweroff while paused" % status)


if __name__ == "__main__":
    vc.main(test)
