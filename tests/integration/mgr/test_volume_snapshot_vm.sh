#!/bin/bash
# test_volume_snapshot_vm.sh - snapshots of a volume attached to a running
# VM: the guest agent remounts it read-only for the copy (a clean ext4) and
# writable after; a file open for writing in the guest makes the snapshot
# fail with the guest's reason and leaves the mount writable; restore is
# refused while the VM runs and brings the old data back once it is
# stopped; a vesseld killed while the guest's mount was read-only (its
# marker left) makes it writable again at the next start.  SKIPs (77)
# without the guest images.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
VMM=${VESSEL_VESSEL_VMM:?run through meson test}
require_guest_images || exit 77
for c in mkfs.ext4 e2fsck; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done
private_netns || exit 1
start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
POOL=$STATE/storage/default
SNAPS=$POOL/vol1.snapshots
# the mount options of /data in the guest: rw or ro
data_mode() { v exec vm1 -- sh -c "awk '\$2 == \"/data\" {split(\$4, o, \",\"); print o[1]}' /proc/mounts"; }

check "create vol1 (32MiB)" v storage volume create vol1 --size 32MiB
check "init vm1 (a VM)" v init vessel-guest vm1 --vm
check "attach vol1 at /data" v storage volume attach vol1 vm1 /data
check "start vm1" v start vm1
check "write 'one' to /data/f" v exec vm1 -- sh -c 'echo one >/data/f && sync'
check "snapshot while vm1 runs" v storage volume snapshot create vol1 s1
check "/data is writable again" test "$(data_mode)" = rw
check "write 'two' after the snapshot" v exec vm1 -- sh -c 'echo two >/data/f && sync'
check "s1 is a clean ext4 (read-only while copied)" /sbin/e2fsck -n -f "$SNAPS/s1.raw"
check "no marker left" test ! -e "$SNAPS/.vm-readonly"

# a writer in the guest: the remount, and so the snapshot, is refused
check "a guest process keeps /data/busy open for writing" v exec vm1 -- sh -c \
	'exec 3>>/data/busy; sleep 120 </dev/null >/dev/null 2>&1 & echo $! >/tmp/busy.pid'
check_fails "snapshot with a writer in the guest" "open for writing" \
	v storage volume snapshot create vol1 s2
check "no s2 listed" sh -c "! v storage volume snapshot list vol1 --format csv | grep -q '^s2,'"
check "no s2 file, no marker" test ! -e "$SNAPS/s2.raw" -a ! -e "$SNAPS/.vm-readonly"
check "/data is still writable" test "$(data_mode)" = rw
check "the writer ends" v exec vm1 -- sh -c 'kill $(cat /tmp/busy.pid)'

check_fails "restore while vm1 runs" "stop it before restoring" \
	v storage volume snapshot restore vol1 s1

# a crash while the guest's mount was read-only: the next start fixes it
check "make /data read-only as a snapshot does" v exec vm1 -- mount -o remount,ro /data
: >"$SNAPS/.vm-readonly"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
check "after the restart /data is writable again" test "$(data_mode)" = rw
check "the marker is gone" test ! -e "$SNAPS/.vm-readonly"

check "stop vm1" v stop --force vm1
check "restore s1" v storage volume snapshot restore vol1 s1
check "start vm1 again" v start vm1
check "the old data is back" test "$(v exec vm1 -- cat /data/f)" = one
check "delete vm1" v delete --force vm1
check "delete vol1" v storage volume delete vol1
check "the pool is empty" test -z "$(ls -A "$POOL")"
stop_daemon
finish
