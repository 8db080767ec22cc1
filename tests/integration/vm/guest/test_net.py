#!/usr/bin/env python3
"""vm-boot-net (guest side, run by net.sh inside its network namespace).

Boots the guest with a virtio-net device on the TAP interface net.sh made
(VESSEL_NET_TAP), guest address from the kernel command line (vessel.ip=),
then checks: eth0 carries the MAC given to the VMM, the guest pings the
host, the host pings the guest (small and 1400-byte packets, no loss
allowed beyond one packet), and the guest powers off cleanly.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmconsole as vc  # noqa: E402

MAC = "52:54:00:76:73:01"


def received(out):
    m = re.search(r"(\d+) packets transmitted, (\d+) (packets )?received", out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def test(work):
    gdir = vc.guest_dir()
    tap = os.environ["VESSEL_NET_TAP"]
    host_ip = os.environ["VESSEL_NET_HOST_IP"]
    guest_ip = os.environ["VESSEL_NET_GUEST_IP"]
    m = vc.Machine(gdir, cpus=1, mem="256M", tap=tap, mac=MAC,
                   append="vessel.ip=%s/24" % guest_ip)
    with vc.start(m, os.path.join(work, "console.log")) as con:
        con.wait_banner()
        _, out = con.run("cat /sys/class/net/eth0/address")
        if out.strip() != MAC:
            vc.fail("guest eth0 MAC %r, VMM was given %s" % (out.strip(), MAC))
        _, out = con.run("ip -4 addr show eth0")
        if guest_ip not in out:
            vc.fail("guest eth0 lacks %s:\n%s" % (guest_ip, out))
        st, out = con.run("ping -c 3 -W 10 %s" % host_ip, timeout=90,
                          check=False)
        sent, got = received(out)
        if st != 0 or sent != 3 or got < 2:
            vc.fail("guest -> host ping: status %d, %d/%d replies:\n%s"
                    % (st, got, sent, out))
        for size in (56, 1400):
            r = subprocess.run(["ping", "-c", "3", "-W", "10", "-s", str(size),
                                guest_ip], capture_output=True, text=True,
                               timeout=120 * con.scale)
            sent, got = received(r.stdout)
            if r.returncode != 0 or sent != 3 or got < 2:
                vc.fail("host -> guest ping (-s %d): status %d, %d/%d:\n%s%s"
                        % (size, r.returncode, got, sent, r.stdout, r.stderr))
        status = con.poweroff()
        if status != 0:
            vc.fail("VMM exit status %d after poweroff" % status)


if __name__ == "__main__":
    vc.main(test)
