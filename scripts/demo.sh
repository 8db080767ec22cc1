#!/bin/bash
# The demo: what vessel does today, end to end, with the programs a user runs.
#   1. a thin qcow2 disk: create, write, snapshot, info (checked by qemu-img)
#   2. a container: a busybox rootfs run by vessel-runtime
#   2b. the manager: vesseld + vessel: a network, two containers that ping each
#       other by name, a live memory change, a snapshot and its restore; a VM
#       (the guest/ recipe's image, vessel-guest) on the same network: exec
#       in it, VM and container ping each other by name, its memory changed
#       live through the balloon
#   3. a virtual machine: OpenSBI + Linux booted by vessel-vmm to a shell
# With a terminal on stdin, step 3 leaves you at the guest's shell prompt
# (`poweroff` or Ctrl-A x to leave); without one it runs a few commands.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${VESSEL_BUILD:-build}
IMG=$B/cmd/vessel-img/vessel-img
RT=$B/cmd/vessel-runtime/vessel-runtime
VMM=$B/cmd/vessel-vmm/vessel-vmm
VESSELD=$B/cmd/vesseld/vesseld
VESSEL=$B/cmd/vessel/vessel
work=$(mktemp -d /tmp/vessel-demo.XXXXXX)
ctid=vessel-demo-$$
dpid=
holder=
cleanup() {
	"$RT" --root "$work/run" delete --force "$ctid" >/dev/null 2>&1 || true
	if [ -n "$dpid" ]; then
		VESSEL_SOCKET=$work/vessel.sock "$VESSEL" delete --force demo1 demo2 demovm >/dev/null 2>&1 || true
		VESSEL_SOCKET=$work/vessel.sock "$VESSEL" network delete demonet >/dev/null 2>&1 || true
		kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null || true
	fi
	[ -n "$holder" ] && kill "$holder" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
	printf '$ %s\n' "$*"
	"$@"
}

step "1. Disk images: thin-provisioned qcow2"
run "$IMG" create -f qcow2 "$work/disk.qcow2" 1G
run "$IMG" io -c 'write -P 0xab 0 1M' -c 'write -P 0xcd 512M 64k' "$work/disk.qcow2"
run "$IMG" snapshot -c before-change "$work/disk.qcow2"
run "$IMG" io -c 'write -P 0x11 0 64k' "$work/disk.qcow2"
run "$IMG" snapshot -l "$work/disk.qcow2"
run "$IMG" info "$work/disk.qcow2"
run "$IMG" check "$work/disk.qcow2"
echo "file size on the host: $(du -h "$work/disk.qcow2" | cut -f1) for a 1 GiB disk"
if command -v qemu-img >/dev/null; then
	run qemu-img check "$work/disk.qcow2"
fi

step "2. Containers: vessel-runtime runs a busybox rootfs"
mkdir -p "$work/bundle"
tests/integration/ct/mkrootfs.sh "$work/bundle/rootfs" >/dev/null
(cd "$work/bundle" && "$OLDPWD/$RT" spec >/dev/null)
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sh", "-c",
    "echo hello from a vessel container; echo pid=$$ hostname=$(hostname); "
    "echo mounts: $(wc -l < /proc/mounts)"]
c["hostname"] = "vessel-demo"
json.dump(c, open(p, "w"), indent=2)
PY
run "$RT" --root "$work/run" run --bundle "$work/bundle" "$ctid"

step "2b. The manager: vesseld and vessel (private state dir, socket and network namespace)"
unshare --net sleep infinity &
holder=$!
sleep 0.2
nsenter --net=/proc/$holder/ns/net "$VESSELD" --state-dir "$work/state" --socket "$work/vessel.sock" \
	--runtime "$PWD/$RT" --vmm "$PWD/$VMM" --guest-image "$(guest/build.sh --print-dir)" \
	>"$work/vesseld.log" 2>&1 &
dpid=$!
export VESSEL_SOCKET=$work/vessel.sock
for _ in $(seq 300); do "$VESSEL" list >/dev/null 2>&1 && break; sleep 0.1; done
run "$VESSEL" image list
run "$VESSEL" network create demonet
run "$VESSEL" launch busybox demo1 --network demonet -c limits.memory=64MiB
run "$VESSEL" launch busybox demo2 --network demonet
run "$VESSEL" list
run "$VESSEL" exec demo1 -- ping -c 1 demo2
run "$VESSEL" config set demo1 limits.memory=128MiB
rid=$(sqlite3 "$work/state/vessel.db" "SELECT runtime_id FROM instances WHERE name = 'demo1'" 2>/dev/null || true)
[ -n "$rid" ] && [ -e "/sys/fs/cgroup/memory/$rid/memory.limit_in_bytes" ] &&
	echo "memory.limit_in_bytes now: $(cat "/sys/fs/cgroup/memory/$rid/memory.limit_in_bytes")"
run "$VESSEL" snapshot create demo1 clean
run "$VESSEL" exec demo1 -- rm /etc/passwd
run "$VESSEL" snapshot restore demo1 clean
run "$VESSEL" exec demo1 -- head -1 /etc/passwd
run "$VESSEL" launch vessel-guest demovm --vm --network demonet -c limits.memory=192MiB \
	-c limits.memory.max=256MiB -c limits.cpu=1
run "$VESSEL" list
run "$VESSEL" exec demovm -- uname -a
run "$VESSEL" exec demovm -- ping -c 1 demo2
run "$VESSEL" exec demo2 -- ping -c 1 demovm
memfree() { "$VESSEL" exec demovm -- awk '/^MemFree:/ {print $2}' /proc/meminfo; }
free0=$(memfree)
echo "guest MemFree: $free0 kB"
run "$VESSEL" config set demovm limits.memory=128MiB
# the guest's balloon driver takes the 64 MiB back in the background
for _ in $(seq 600); do [ "$(memfree)" -lt $((free0 - 40 * 1024)) ] && break; sleep 0.1; done
echo "guest MemFree: $(memfree) kB (64 MiB ballooned out)"
run "$VESSEL" delete --force demo1 demo2 demovm
run "$VESSEL" network delete demonet
kill "$dpid" && wait "$dpid" || true
kill "$holder" 2>/dev/null || true
dpid=
unset VESSEL_SOCKET

step "3. Virtual machines: vessel-vmm boots OpenSBI + Linux (RISC-V, emulated)"
G=$(guest/build.sh --print-dir)
args=(--kernel "$G/Image" --initrd "$G/initramfs.cpio.gz" --append "console=ttyS0"
	--mem 256M --cpus 2)
if [ -t 0 ]; then
	echo "(guest shell follows: type 'poweroff' or Ctrl-A x to leave)"
	run "$VMM" "${args[@]}"
else
	VESSEL_VESSEL_VMM=$PWD/$VMM guest/demo.py --vmm=vessel
fi
echo
echo "demo finished"
