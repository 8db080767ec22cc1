#!/bin/bash
# test_volume.sh - storage volumes: create (a sparse raw file with ext4),
# attach to a stopped container, data written inside survives a restart,
# grow while stopped (the container sees the new size), refusals (resize
# or detach while running, delete while attached, shrink, bad paths and
# sizes, a second attachment) that change nothing, detach, delete; the
# volumes' loop devices and mounts are gone after every stop, after a
# `kill -9` of the container, and at the end.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
for c in mkfs.ext4 resize2fs e2fsck losetup sqlite3; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done
start_daemon || exit 1
POOL=$STATE/storage/default
# (refusals are recorded in the audit log, and only there)
dbdump() { sqlite3 "$STATE/vessel.db" .dump | grep -v -e '^INSERT INTO audit_log ' -e '^INSERT INTO instance_usage '; }
# no loop device on a file of this state dir, no mount of a volume
# no mount now; no loop device once the kernel has released it (an
# autoclear loop device goes with its last close, asynchronously)
no_loop_left() { ! losetup -a | grep -q "$POOL/"; }
# (this daemon's mounts only: another test's daemon may hold volumes now)
no_volume_leak() {
	! grep -F "$STATE/" /proc/self/mountinfo | grep -q "/volumes/" && wait_for "the pool's loop devices released" no_loop_left
}
# df size (1K blocks) of /data in c1
data_kb() { v exec c1 -- sh -c 'df -k /data | tail -1' | awk '{print $2}'; }

check "create v1 (32MiB)" v storage volume create v1 --size 32MiB
check "the file is sparse-sized 32 MiB" test "$(stat -c %s "$POOL/v1.raw")" = $((32 << 20))
check "create v2 (bytes)" v storage volume create v2 --size 16777216
check_fails "create v1 again" "already exists" v storage volume create v1 --size 32MiB
check_fails "too small" "8 MiB to 1 TiB" v storage volume create tiny --size 1MiB
check_fails "too large" "8 MiB to 1 TiB" v storage volume create huge --size 2T
check_fails "a bad name" "name" v storage volume create 9bad --size 32MiB
check "no file left by the refused creates" test "$(ls "$POOL")" = "$(printf 'v1.raw\nv2.raw')"
check "init c1" v init busybox c1
check "attach v1 at /data" v storage volume attach v1 c1 /data
before=$(dbdump)
check_fails "attach v1 twice" "already attached" v storage volume attach v1 c1 /other
check_fails "attach v2 at the same path" "already has a volume" v storage volume attach v2 c1 /data
check_fails "attach at a relative path" "absolute" v storage volume attach v2 c1 data
check_fails "attach at a path with .." "\\.\\." v storage volume attach v2 c1 /a/../b
check_fails "attach to a missing instance" "not found" v storage volume attach v2 nope /x
check_fails "delete an attached volume" "detach it first" v storage volume delete v1
check "refusals changed nothing" test "$before" = "$(dbdump)"
check "list shows v1 used by c1 at /data" grep -q '^v1,raw,32 MiB,c1,/data$' <(v storage volume list --format csv)

check "start c1" v start c1
check "a loop device backs v1 while c1 runs" sh -c "losetup -a | grep -q '$POOL/v1.raw'"
check "its mount is under this state dir (what the leak check looks for)" \
	sh -c "grep -F '$STATE/' /proc/self/mountinfo | grep -q '/volumes/v1 '"
check "write to /data in c1" v exec c1 -- sh -c 'echo persistent > /data/f && sync'
kb1=$(data_kb)
check "the filesystem is about 32 MiB ($kb1 KiB)" test "${kb1:-0}" -gt 20000 -a "${kb1:-0}" -lt 33000
check_fails "resize while running" "stop it before resizing" v storage volume resize v1 64MiB
check_fails "detach while running" "stop it before detaching" v storage volume detach v1 c1
check_fails "attach while running" "stop it before attaching" v storage volume attach v2 c1 /more
check "stop c1" v stop --force c1
check "no loop device or mount after the stop" no_volume_leak
check_fails "shrink" "shrinking is not supported" v storage volume resize v1 16MiB
check "grow v1 to 64MiB (stopped)" v storage volume resize v1 64MiB
check "attach v2 at /more (stopped)" v storage volume attach v2 c1 /more
check "start c1 again" v start c1
check "the data survived" test "$(v exec c1 -- cat /data/f)" = persistent
kb2=$(data_kb)
check "the filesystem grew ($kb1 -> $kb2 KiB)" test "${kb2:-0}" -gt 50000
check "v2 is mounted too" v exec c1 -- sh -c 'grep -q " /more " /proc/mounts'

# a container killed while the daemon is down: the next vesseld's
# reconciliation releases its volumes
pid=$(v info c1 --format json | jq -r .pid)
stop_daemon
check "v1 still mounted while c1 runs without the daemon" grep -q "/volumes/v1 " /proc/self/mountinfo
check "kill -9 the container's init ($pid)" kill -9 "$pid"
dead() { [ ! -e /proc/$pid ] || [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = Z ]; }
check "c1's init is dead" wait_for "c1's init dies" dead
start_daemon || exit 1
check "reconciled: c1 Stopped" test "$(status c1)" = Stopped
check "reconciled: no loop device or mount left" no_volume_leak

check "detach v1" v storage volume detach v1 c1
check "detach v2" v storage volume detach v2 c1
check_fails "detach again" "not attached" v storage volume detach v1 c1
check "delete v1" v storage volume delete v1
check "delete v2" v storage volume delete v2
check "the pool is empty" test -z "$(ls "$POOL")"
check_fails "delete a missing volume" "not found" v storage volume delete v1
check "delete c1" v delete --force c1
check "nothing left" no_volume_leak
stop_daemon
finish
