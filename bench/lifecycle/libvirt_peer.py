"""bench/lifecycle's libvirt 9 peer: the same guest (OpenSBI, kernel,
initramfs, 256 MiB, 1 hart, virtio-balloon on virtio-mmio) as a transient
libvirt domain, driven the way a libvirt user drives it: `virsh suspend`,
`resume`, `setmem --live`, `save`, `restore`.  Every latency includes the
virsh process, as the issue's quoted figures do.  The serial port is a pty
(`virsh ttyconsole`) the bench talks to, so it can tell whether a restored
guest still answers (a unix-socket serial stalled after its first bytes
here).

libvirtd and virtlogd must be running (bench/lifecycle/run.sh starts them
through bench/manager/peers.sh when this host has none)."""
import os
import re
import select
import subprocess
import time
import tty

OPENSBI_FW = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"


def virsh(uri, *args, check=True, timeout=300):
    r = subprocess.run(["virsh", "-q", "-c", uri] + list(args), capture_output=True,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise OSError("virsh %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def available(uri):
    try:
        return virsh(uri, "uri", check=False, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class LibvirtVM:
    def __init__(self, uri, gdir, work, name, mem_mib=256):
        self.uri = uri
        self.name = name
        self.mem_kib = mem_mib * 1024
        self.fd = None
        self.buf = b""
        self.seq = 0
        xml = os.path.join(work, name + ".xml")
        with open(xml, "w") as f:
            f.write("""<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='riscv64' machine='virt'>hvm</type>
    <loader type='rom'>%s</loader>
    <kernel>%s</kernel>
    <initrd>%s</initrd>
    <cmdline>console=ttyS0</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-riscv64</emulator>
    <serial type='pty'><target port='0'/></serial>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend><address type='virtio-mmio'/></rng>
    <memballoon model='virtio'><address type='virtio-mmio'/></memballoon>
  </devices>
</domain>
""" % (name, mem_mib, OPENSBI_FW, os.path.join(gdir, "Image"),
                os.path.join(gdir, "initramfs.cpio.gz")))
        virsh(uri, "create", xml)
        if not self.attach(600):
            raise OSError("libvirt guest %s: its shell did not answer in 600 s" % name)

    # -- the serial console (a pty: `virsh ttyconsole`) --------------------
    def attach(self, timeout):
        """Open the domain's serial pty and wait until the shell answers;
        False when it does not within timeout (a hung guest)."""
        deadline = time.monotonic() + timeout
        # the banner may have gone out before we opened it: poke the shell
        while time.monotonic() < deadline:
            try:
                if self.fd is None:
                    pty = virsh(self.uri, "ttyconsole", self.name).stdout.strip()
                    self.fd = os.open(pty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
                    tty.setraw(self.fd)
                    self.buf = b""
                self.seq += 1
                # no quotes in the probe (characters typed while the guest
                # boots can be lost, and a lost quote would leave the shell
                # waiting for its mate; no ^C either: the guest's init powers
                # off when its shell dies), and its output is not its own
                # text ($((...)) expands)
                os.write(self.fd, ('\necho RDY$((1000+%d))\n' % self.seq).encode())
            except OSError:
                # the pty is not (or no longer) QEMU's: open it anew
                self.detach()
                time.sleep(0.2)
                continue
            if self.expect(b"RDY%d" % (1000 + self.seq),
                           min(5, max(0.1, deadline - time.monotonic()))):
                return True
        return False

    def detach(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def expect(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            if rx.search(self.buf):
                self.buf = b""
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if not select.select([self.fd], [], [], left)[0]:
                return False
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                return False
            if not data:
                return False
            self.buf += data

    def run(self, cmd, timeout=120):
        self.seq += 1
        os.write(self.fd, ('%s; echo "EN""D%d"\n' % (cmd, self.seq)).encode())
        if not self.expect(b"END%d" % self.seq, timeout):
            raise OSError("libvirt guest did not finish `%s`" % cmd)

    # -- lifecycle ---------------------------------------------------------
    @property
    def pid(self):
        with open("/run/libvirt/qemu/%s.pid" % self.name) as f:
            return int(f.read().strip())

    def pause(self):
        virsh(self.uri, "suspend", self.name)

    def resume(self):
        virsh(self.uri, "resume", self.name)

    def balloon(self, memory_mib):
        self.target = memory_mib * 1024
        virsh(self.uri, "setmem", self.name, str(self.target), "--live")

    def balloon_done(self):
        out = virsh(self.uri, "dommemstat", self.name).stdout
        m = re.search(r"^actual (\d+)", out, re.M)
        return m is not None and int(m.group(1)) == self.target

    def save(self, path):
        """ms of `virsh save` (the domain stops); the file's size in MiB."""
        t0 = time.perf_counter()
        virsh(self.uri, "save", self.name, path)
        ms = (time.perf_counter() - t0) * 1000
        return ms, os.stat(path).st_blocks * 512 / (1 << 20)

    def restore(self, path, answer_timeout=20):
        """ms of `virsh restore` (returns with the domain running); and
        whether the restored guest's shell answers within answer_timeout."""
        t0 = time.perf_counter()
        virsh(self.uri, "restore", path)
        ms = (time.perf_counter() - t0) * 1000
        self.detach()  # the saved domain's QEMU and its pty are gone
        return ms, self.attach(answer_timeout)

    def close(self):
        self.detach()
        virsh(self.uri, "destroy", self.name, check=False)
