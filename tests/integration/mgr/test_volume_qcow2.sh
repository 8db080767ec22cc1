#!/bin/bash
# test_volume_qcow2.sh - qcow2 storage volumes: create (ext4 inside, made
# through lib/disk; `qemu-img check` clean), the format in list/show, a bad
# format refused (400) with nothing left, attaching to a container refused
# (a container cannot mount a qcow2 file) with nothing changed, a resize
# that grows the filesystem inside too; then on a VM (virtio-blk,
# format=qcow2): a file written in the guest, a snapshot while it runs (the
# guest remounts read-only) and one while stopped, both qcow2 files that
# check clean, restore, the old data read back after a restart; delete
# leaves nothing.  The VM part SKIPs (77) without the guest images, after
# the rest has run.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
VMM=${VESSEL_VESSEL_VMM:?run through meson test}
for c in mkfs.ext4 e2fsck resize2fs qemu-img sqlite3 curl; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done
G=${VESSEL_GUEST_DIR:-}
have_guest=0
[ -n "$G" ] && [ -f "$G/Image" ] && [ -f "$G/disk.qcow2" ] && have_guest=1
private_netns || exit 1
if [ $have_guest = 1 ]; then
	start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
else
	start_daemon || exit 1
fi
POOL=$STATE/storage/default
dbdump() { sqlite3 "$STATE/vessel.db" .dump | grep -v -e '^INSERT INTO audit_log ' -e '^INSERT INTO instance_usage '; }
# the virtual size of a qcow2 file
vsize() { qemu-img info --output=json "$1" | jq '.["virtual-size"]'; }
# the ext4 inside a qcow2 file, checked read-only through a raw copy
ext4_clean() {
	qemu-img convert -f qcow2 -O raw "$1" "$T/fs.raw" && /sbin/e2fsck -n -f "$T/fs.raw"
	local r=$?
	rm -f "$T/fs.raw"
	return $r
}

check "create q1 (32MiB, qcow2)" v storage volume create q1 --size 32MiB --format qcow2
check "the file is NAME.qcow2, nothing else in the pool" test "$(ls -A "$POOL")" = q1.qcow2
check "qemu-img check is clean" qemu-img check -f qcow2 "$POOL/q1.qcow2"
check "qemu-img sees qcow2 of 32 MiB" test "$(qemu-img info --output=json "$POOL/q1.qcow2" |
	jq -r '.format + " " + (.["virtual-size"] | tostring)')" = "qcow2 $((32 << 20))"
check "an ext4 labelled q1 inside" sh -c "qemu-img convert -f qcow2 -O raw '$POOL/q1.qcow2' '$T/l.raw' &&
	[ \"\$(/sbin/e2label '$T/l.raw')\" = q1 ]; r=\$?; rm -f '$T/l.raw'; exit \$r"
check "list shows the format" grep -q '^q1,qcow2,32 MiB,,$' <(v storage volume list --format csv)
check "show shows the format" sh -c "v storage volume show q1 --format json | jq -e '.format == \"qcow2\"'"
check "create r1 (raw by default)" v storage volume create r1 --size 16MiB
check "r1 is raw" grep -q '^r1,raw,16 MiB,,$' <(v storage volume list --format csv)

before=$(dbdump)
check_fails "a bad format" "raw or qcow2" v storage volume create q2 --size 32MiB --format vmdk
got=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -X POST \
	-d '{"name":"q3","size":"32MiB","format":"qcow3"}' http://vessel/1.0/storage-volumes)
check "the API answers a bad format with 400" test "$got" = 400
check "nothing left by the refused creates" test "$(ls -A "$POOL" | tr '\n' ' ')" = "q1.qcow2 r1.raw "

check "init c1 (a container)" v init busybox c1
before=$(dbdump)
check_fails "attaching q1 to a container is refused" "qcow2.*VMs only" \
	v storage volume attach q1 c1 /data
got=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -X POST \
	-d '{"instance":"c1","path":"/data"}' http://vessel/1.0/storage-volumes/q1/attach)
check "the API answers it with 400" test "$got" = 400
check "the refusals changed nothing" test "$(dbdump)" = "$before"
check "r1 still attaches to c1" v storage volume attach r1 c1 /data
check "delete c1" v delete --force c1
check "delete r1" v storage volume delete r1

check "grow q1 to 48MiB" v storage volume resize q1 48MiB
check "qemu-img check is clean after the resize" qemu-img check -f qcow2 "$POOL/q1.qcow2"
check "the virtual size is 48 MiB" test "$(vsize "$POOL/q1.qcow2")" = $((48 << 20))
check "the ext4 inside grew and is clean" sh -c "qemu-img convert -f qcow2 -O raw '$POOL/q1.qcow2' '$T/g.raw' &&
	/sbin/e2fsck -n -f '$T/g.raw' >/dev/null &&
	[ \$(/sbin/dumpe2fs -h '$T/g.raw' 2>/dev/null | awk -F: '/^Block count/ {c=\$2} /^Block size/ {s=\$2} END {print c*s}') = $((48 << 20)) ]
	r=\$?; rm -f '$T/g.raw'; exit \$r"
check "no temporary file left" test "$(ls -A "$POOL")" = q1.qcow2
alloc=$(stat -c '%b %B' "$POOL/q1.qcow2" | awk '{print $1 * $2}')
check "the qcow2 file holds only what ext4 wrote (< 4 MiB of 48)" test "$alloc" -lt $((4 << 20))
check "sprawl costs q1 its file's allocated size" sh -c \
	"v --format json sprawl | jq -e '.[] | select(.kind == \"volume\" and .name == \"q1\") | .cost.disk == $alloc'"

if [ $have_guest = 1 ]; then
	SNAPS=$POOL/q1.snapshots
	check "init vm1 (a VM)" v init vessel-guest vm1 --vm
	check "attach q1 to vm1 at /data" v storage volume attach q1 vm1 /data
	check "start vm1" v start vm1
	check "the guest sees a 48 MiB-ish ext4 at /data" sh -c \
		"[ \$(v exec vm1 -- sh -c 'df -k /data | tail -1' | awk '{print \$2}') -gt 40000 ]"
	check "write 'one' to /data/f" v exec vm1 -- sh -c 'echo one >/data/f && sync'
	check "snapshot while vm1 runs" v storage volume snapshot create q1 s1
	check "s1 is a clean qcow2" qemu-img check -f qcow2 "$SNAPS/s1.raw"
	check "s1's ext4 is clean" ext4_clean "$SNAPS/s1.raw"
	check "write 'two' after s1" v exec vm1 -- sh -c 'echo two >/data/f && sync'
	check "stop vm1" v stop --force vm1
	check "the volume checks clean after the VM" qemu-img check -f qcow2 "$POOL/q1.qcow2"
	check "snapshot while stopped" v storage volume snapshot create q1 s2
	check "s2 is a clean qcow2" qemu-img check -f qcow2 "$SNAPS/s2.raw"
	check "restore s1" v storage volume snapshot restore q1 s1
	check "restored q1 checks clean" qemu-img check -f qcow2 "$POOL/q1.qcow2"
	check "start vm1 again" v start vm1
	check "the data of s1 is back" test "$(v exec vm1 -- cat /data/f)" = one
	check "stop vm1 again" v stop --force vm1
	check "restore s2" v storage volume snapshot restore q1 s2
	check "detach q1" v storage volume detach q1 vm1
	check "reattach q1" v storage volume attach q1 vm1 /data
	check "start vm1 a third time" v start vm1
	check "the data of s2 is back" test "$(v exec vm1 -- cat /data/f)" = two
	check "delete vm1" v delete --force vm1
	check "delete snapshot s1" v storage volume snapshot delete q1 s1
	check "s1's file is gone" test ! -e "$SNAPS/s1.raw"
fi
# a crash in a qcow2 create or resize leaves temporary files: the next
# start removes them
stop_daemon
: >"$POOL/.q1.resize.raw"
: >"$POOL/.q9.create.qcow2"
if [ $have_guest = 1 ]; then
	start_daemon --vmm "$VMM" --guest-image "$G" || exit 1
else
	start_daemon || exit 1
fi
check "the restart removed the temporary files" test "$(ls -A "$POOL" | grep -c '^\.')" = 0
check "q1 survives the restart" qemu-img check -f qcow2 "$POOL/q1.qcow2"
check "delete q1" v storage volume delete q1
check "the pool is empty" test -z "$(ls -A "$POOL")"
check "no volume rows left" test "$(sqlite3 "$STATE/vessel.db" \
	'SELECT COUNT(*) FROM storage_volumes') $(sqlite3 "$STATE/vessel.db" 'SELECT COUNT(*) FROM volume_snapshots')" = "0 0"
stop_daemon
finish || exit 1
if [ $have_guest = 0 ]; then
	echo "SKIP: the VM part (no guest images: set VESSEL_GUEST_DIR, see guest/build.sh)"
	exit 77
fi
