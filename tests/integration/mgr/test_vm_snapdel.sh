#!/bin/bash
# test_vm_snapdel.sh - deleting a running VM's snapshots: the VMM holds
# root.qcow2 open, so vesseld has it delete the internal snapshot (PUT
# /snapshot/delete) instead of writing the qcow2 itself.  A plain and a
# stateful snapshot of a running VM are deleted while it runs; the guest
# keeps running and writing; after a stop the disk has only the snapshot
# that was kept, `qemu-img check` finds no error, and the kept snapshot
# still restores.  SKIPs (77) without the guest images.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

VMM=${VESSEL_VESSEL_VMM:?run through meson test}
require_guest_images || exit 77
command -v qemu-img >/dev/null || { echo "SKIP: qemu-img missing"; exit 77; }

start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
check "launch vessel-guest v1 --vm" v launch vessel-guest v1 --vm
RID=$(runtime_id v1)
ROOT=$STATE/vms/$RID/root.qcow2
snaps() { qemu-img snapshot -U -l "$ROOT" | awk 'NR > 2 {print $2}' | sort | tr '\n' ' '; }

check "write a file" v exec v1 -- sh -c 'echo one >/root/f && sync'
check "snapshot keep (running)" v snapshot create v1 keep
check "snapshot s1 (running)" v snapshot create v1 s1
check "snapshot s2 --stateful (running)" v snapshot create v1 s2 --stateful
check "the disk has the three" test "$(snaps)" = "keep s1 s2 "
check "the stateful marker exists" test -f "$STATE/vms/$RID/snapshots/s2.state"

check "delete s1 while running" v snapshot delete v1 s1
check "delete s2 (stateful) while running" v snapshot delete v1 s2
check "v1 still running" test "$(status v1)" = Running
check "the snapshot list has only keep" sh -c "[ \"\$(v snapshot list v1 --format csv | cut -d, -f1 | tr '\n' ' ')\" = 'keep ' ]"
check "the disk has only keep" test "$(snaps)" = "keep "
check "the stateful marker is gone" test ! -e "$STATE/vms/$RID/snapshots/s2.state"
check_fails "delete s1 again: not found" "not found" v snapshot delete v1 s1
check "the guest writes on" v exec v1 -- sh -c 'echo two >/root/f && dd if=/dev/zero of=/root/z bs=64k count=32 2>/dev/null && sync'

check "stop" v stop --force v1
check "qemu-img check: no errors, no leaks" qemu-img check "$ROOT"
check "restore keep" v snapshot restore v1 keep
check "start" v start v1
check "the file is as in keep" sh -c "[ \"\$(v exec v1 -- cat /root/f)\" = one ]"
check "delete v1" v delete --force v1
finish
