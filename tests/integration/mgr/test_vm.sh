#!/bin/bash
# test_vm.sh - instances of type vm end to end, in a private network
# namespace: the built-in vessel-guest image (and VM image import from a
# directory and a tar, with bad metadata refused), launch with limits and a
# NIC, exec through the guest agent (output, exit status, stdin), live
# memory change through the balloon (the guest's free memory drops; above
# the maximum is refused), the CPU quota on the VMM's cgroup, pause/resume,
# a disk snapshot restored after a change, a VM and a container on one NAT
# network pinging each other by name, a storage volume as a virtio-blk
# disk mounted at its path, a `kill -9` of vesseld (the VM keeps
# running, is adopted again, one VMM, exec works), an orphaned VMM (its row
# gone) killed and removed at the next start, a VMM whose pidfile is lost
# found by its command line and killed, stop and delete, and the
# host's objects (cgroups, processes, TAPs, VM directories) equal before
# and after.  SKIPs (77) without the guest images or /dev/net/tun.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

VMM=${VESSEL_VESSEL_VMM:?run through meson test}
require_guest_images || exit 77
[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }

private_netns || exit 1
vm_objects() {
	host_objects
	in_netns ip -br link | awk '$1 ~ /^vt/ {print "tap", $1}' | sort
	ls "$STATE/vms" 2>/dev/null | sed 's/^/vmdir /'
	pgrep -f -- "[-]-api $STATE/" | sed 's/^/vmm /' | sort
}
start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
vm_objects >"$T/before"

# ---- images ----
check "vessel-guest is a built-in VM image" sh -c "v image list --format csv | grep -E '^vessel-guest,[0-9a-f]+,vm,'"
mkdir -p "$T/img"
cp "$G/Image" "$G/initramfs.cpio.gz" "$G/disk.qcow2" "$T/img/"
cat >"$T/img/metadata.json" <<EOF
{"type": "vm", "architecture": "riscv64", "kernel": "Image", "initrd": "initramfs.cpio.gz",
 "disk": "disk.qcow2", "cmdline": "console=ttyS0", "memory": "128MiB", "cpus": 1}
EOF
check "import a VM image directory" v image import "$T/img" --alias myvm
check "it is a vm image" sh -c "v image list --format csv | grep -E '^myvm,[0-9a-f]+,vm,'"
tar -C "$T/img" -cf "$T/img.tar" .
check "import the same image as a tar: no duplicate" sh -c \
	"v image import $T/img.tar --alias myvm2 && [ \$(v image list --format csv | grep -c ',vm,') = 2 ]"
mkdir -p "$T/bad"
cp "$G/Image" "$T/bad/"
echo '{"type": "vm", "kernel": "Image"}' >"$T/bad/metadata.json"
check_fails "VM image without a disk" '"disk" is required' v image import "$T/bad"
echo '{"type": "vm", "kernel": "../Image", "disk": "d"}' >"$T/bad/metadata.json"
check_fails "VM image file outside the image" 'expected a file name' v image import "$T/bad"
echo '{"type": "vm", "kernel": "Image", "disk": "Image", "colour": "red"}' >"$T/bad/metadata.json"
check_fails "unknown metadata key" 'unknown key "colour"' v image import "$T/bad"
echo '{"type": "vm", "kernel": "Image", "disk": "Image"}' >"$T/bad/metadata.json"
check_fails "a disk that is no qcow2" 'VM image disk' v image import "$T/bad"
check "delete the imported image" v image delete myvm
check_fails "a container image for a VM" 'needs a VM image' v launch busybox bad --vm

# ---- launch, exec ----
check "network create n1 (NAT)" v network create n1
check "launch vessel-guest v1 --vm with limits and a NIC" v launch vessel-guest v1 --vm \
	-c limits.memory=192MiB -c limits.memory.max=256MiB -c limits.cpu=1 --network n1
check "v1 is a running VM" sh -c "v list --format csv | grep -E '^v1,VM,Running,'"
RID=$(runtime_id v1)
check "its directory holds the contract's files" sh -c "cd $STATE/vms/$RID && \
	ls root.qcow2 api.sock agent.sock console.sock console.log vmm.pid"
check "root.qcow2 is an overlay on the image's disk" sh -c \
	"qemu-img info $STATE/vms/$RID/root.qcow2 | grep -q 'backing file: $STATE/images/vm/'"
check "exec: output" sh -c "[ \"\$(v exec v1 -- echo hello)\" = hello ]"
v exec v1 -- sh -c 'exit 7' >/dev/null 2>&1
check "exec: exit status" test $? = 7
check "exec: stdin and stderr" sh -c "[ \"\$(echo abc | v exec -i v1 -- sh -c 'cat; echo e >&2' 2>&1)\" = \"abc
e\" ]"
check "two execs at once (the agent takes one client: the second waits)" sh -c \
	"v exec v1 -- sh -c 'sleep 1; echo a' >$T/exec-a & v exec v1 -- echo b >$T/exec-b; wait \$!; \
	 [ \"\$(cat $T/exec-a)\" = a ] && [ \"\$(cat $T/exec-b)\" = b ]"
check "the guest has 1 hart" sh -c "[ \"\$(v exec v1 -- grep -c ^processor /proc/cpuinfo)\" = 1 ]"
check "the console log has the boot" grep -q "vessel-guest: userspace up" "$STATE/vms/$RID/console.log"

# ---- limits ----
memfree() { v exec v1 -- awk '/^MemFree:/ {print $2}' /proc/meminfo; }
free0=$(memfree)
check "limits.memory=128MiB live" v config set v1 limits.memory=128MiB
# the balloon grows by 64 MiB: the guest's free memory drops (>= 40 MiB)
check "the guest's free memory drops" wait_for "balloon inflates" \
	sh -c "[ \$(v exec v1 -- awk '/^MemFree:/ {print \$2}' /proc/meminfo) -lt $((free0 - 40 * 1024)) ]"
check_fails "above the VM's maximum" 'above the maximum of the running VM' \
	v config set v1 limits.memory=512MiB
check "limits.memory back to 256MiB live" v config set v1 limits.memory=256MiB
CG=/sys/fs/cgroup/cpu/vessel-vm-$RID
[ -d /sys/fs/cgroup/cpu ] || CG=/sys/fs/cgroup/vessel-vm-$RID
check "the VMM is in its cgroup" grep -qx "$(cat "$STATE/vms/$RID/vmm.pid")" "$CG/cgroup.procs"
check "limits.cpu=1: a CPU quota on the VMM's cgroup" sh -c \
	"grep -qE '^(100000|100000 100000)$' $CG/cpu.cfs_quota_us $CG/cpu.max 2>/dev/null"
# what cannot change live says so: the hart count follows at the next start
check "limits.cpu=2 live: the CLI says the harts change at the next start" sh -c \
	'v config set v1 limits.cpu=2 2>"$0/cpu.err" && grep -q "hart count follows at its next start" "$0/cpu.err"' "$T"
check "  ... a 2-CPU quota now" sh -c \
	"grep -qE '^(200000|200000 100000)$' $CG/cpu.cfs_quota_us $CG/cpu.max 2>/dev/null"
check "limits.cpu back to 1" v config set v1 limits.cpu=1

# ---- pause, resume ----
check "pause" v pause v1
check "status Frozen" test "$(status v1)" = Frozen
check_fails "no exec while frozen" 'cannot exec' v exec v1 -- true
check "resume" v resume v1
check "exec after resume" v exec v1 -- true

# ---- a VM and a container on one network ----
check "launch busybox c1 on n1" v launch busybox c1 --network n1
CID=$(runtime_id c1)
check "the VM pings the container by name" v exec v1 -- ping -c 1 -W 10 c1
check "the container pings the VM by name" v exec c1 -- ping -c 1 -W 10 v1

# ---- snapshot ----
check "write a file" v exec v1 -- sh -c 'echo one >/root/f && sync'
check "snapshot create (running)" v snapshot create v1 s1
check "change it" v exec v1 -- sh -c 'echo two >/root/f && sync'
check "stop (clean)" v stop v1
check "the guest powered off cleanly" grep -q "powering off (ctrl-alt-del)" "$STATE/vms/$RID/console.log"
check "snapshot restore" v snapshot restore v1 s1
check "snapshot delete (stopped)" v snapshot delete v1 s1
check "a storage volume" v storage volume create vol1 --size 32MiB
check "attached to the stopped VM at /data" v storage volume attach vol1 v1 /data
check "start" v start v1
check "the file is as in the snapshot" sh -c "[ \"\$(v exec v1 -- cat /root/f)\" = one ]"
check "the volume is a virtio-blk disk mounted at /data" sh -c \
	"v exec v1 -- grep -q '^/dev/vdb /data ext4' /proc/mounts"
check "the volume is writable" v exec v1 -- sh -c 'echo vol >/data/x && sync && cat /data/x'

# ---- a stateful snapshot: the guest's RAM (its /tmp is a tmpfs) comes back ----
check "a file in the guest's RAM" v exec v1 -- sh -c 'echo A >/tmp/ram'
check "snapshot create --stateful" v snapshot create v1 s2 --stateful
check "change it" v exec v1 -- sh -c 'echo B >/tmp/ram'
check "snapshot restore (stateful)" v snapshot restore v1 s2
check "the VM runs again" test "$(status v1)" = Running
check "the RAM file is as in the snapshot (not a boot)" \
	sh -c "[ \"\$(v exec v1 -- cat /tmp/ram)\" = A ]"
check "exec and the volume after it" v exec v1 -- cat /data/x
check_fails "no stateful snapshot of a container" 'not supported' \
	v snapshot create c1 s9 --stateful

# ---- kill -9 of vesseld, adoption ----
pid1=$(cat "$STATE/vms/$RID/vmm.pid")
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
check "the VMM survives vesseld's kill -9" kill -0 "$pid1"
start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
check "v1 still running, same VMM" sh -c "v list --format csv | grep -E '^v1,VM,Running,[0-9a-f]+,$pid1,'"
check "one VMM for v1" test "$(pgrep -cf -- "[-]-api $STATE/vms/$RID/")" = 1
check "exec after the restart" v exec v1 -- true

# ---- an orphaned VMM ----
check "launch v2" v launch vessel-guest v2 --vm
RID2=$(runtime_id v2)
pid2=$(cat "$STATE/vms/$RID2/vmm.pid")
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
sqlite3 "$STATE/vessel.db" "PRAGMA foreign_keys = ON; DELETE FROM instances WHERE name = 'v2'"
start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
check "the orphan's VMM is killed" wait_for "orphan gone" sh -c "! kill -0 $pid2"
check "the orphan's directory is removed" test ! -e "$STATE/vms/$RID2"
check "v1 untouched" sh -c "v list --format csv | grep -E '^v1,VM,Running,[0-9a-f]+,$pid1,'"

# ---- a VMM whose pidfile is lost (vesseld killed while starting it) ----
check "launch v3" v launch vessel-guest v3 --vm
RID3=$(runtime_id v3)
pid3=$(cat "$STATE/vms/$RID3/vmm.pid")
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
rm -f "$STATE/vms/$RID3/vmm.pid"
start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
check "the VMM without a pidfile is found and killed" wait_for "v3's VMM gone" sh -c "! kill -0 $pid3"
check "v3 is Stopped" test "$(status v3)" = Stopped
check "delete v3" v delete v3

# ---- stop, delete, leaks ----
check "snapshot delete s2 (stopped)" sh -c "v stop --force v1 && v snapshot delete v1 s2 && v start v1"
check_fails "no stateful snapshot of a stopped VM" 'needs it running' \
	sh -c "v stop --force v1 && v snapshot create v1 s3 --stateful"
check "status Stopped" test "$(status v1)" = Stopped
check "delete v1 and c1" v delete --force v1 c1
check "network delete n1" v network delete n1
check "volume delete vol1" v storage volume delete vol1
vm_objects >"$T/after"
# the host-wide lists also show other tests' objects: compare ours
mine() { grep -E "$RID|$RID2|$RID3|$CID|^(tap|vmdir|vmm) " "$1"; }
check "host objects equal before and after" diff <(mine "$T/before") <(mine "$T/after")
check "nothing of ours is left" test -z "$(mine "$T/after")"
finish
