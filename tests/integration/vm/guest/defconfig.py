"""defconfig.py - find the distribution-sized guest kernel.

guest/build-defconfig.sh builds Linux 6.1 with the stock riscv `defconfig`
into its own cache directory; the vm-boot-defconfig tests and the guest
benchmarks boot it with the recipe's busybox initramfs (vmconsole.guest_dir).
$VESSEL_DEFCONFIG_IMAGE overrides the lookup.
"""
import os
import subprocess

import vmconsole as vc


def image():
    """Path of the defconfig kernel Image, or SKIP when it is not built."""
    path = os.environ.get("VESSEL_DEFCONFIG_IMAGE", "")
    if not path:
        src = os.environ.get("VESSEL_SOURCE_ROOT",
                             os.path.join(os.path.dirname(__file__),
                                          "../../../.."))
        build = os.path.join(src, "guest", "build-defconfig.sh")
        try:
            d = subprocess.run([build, "--print-dir"], capture_output=True,
                               text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            d = ""
        path = os.path.join(d, "Image") if d else ""
    if not path or not os.path.isfile(path):
        vc.skip("defconfig kernel not built (run guest/build-defconfig.sh); "
                "VESSEL_DEFCONFIG_IMAGE=%r" % path)
    return path
