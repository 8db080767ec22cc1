#!/bin/bash
# test_volume_snapshot.sh - storage volume snapshots: data written through
# a running container, a snapshot taken while it runs (its volume frozen
# for the copy, writable again after), the data changed, a restore refused
# while the container runs and done once it is stopped: the old data is
# back (and the old size, after a grow); list, show, automatic names
# (snap0...), delete; API errors (404 unknown volume/snapshot, 409
# duplicate and running, 400 bad name/body) that change nothing; a kill -9
# of vesseld right after a snapshot starts leaves either a complete,
# recorded snapshot or nothing; leftovers of a crash are removed at start;
# deleting the volume removes its snapshot files (the pool ends empty).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
for c in mkfs.ext4 losetup sqlite3 curl jq cmp; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done
start_daemon || exit 1
POOL=$STATE/storage/default
SNAPS=$POOL/v1.snapshots
dbdump() { sqlite3 "$STATE/vessel.db" .dump | grep -v -e '^INSERT INTO audit_log ' -e '^INSERT INTO instance_usage '; }
# req METHOD PATH [JSON]: prints the HTTP status, the body in $T/body
req() {
	local data=()
	[ $# -ge 3 ] && data=(--data-binary "$3" -H 'Content-Type: application/json')
	curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$1" "${data[@]}" \
		"http://vessel$2"
}
# status_is DESCRIPTION WANT METHOD PATH [JSON]
status_is() {
	local desc=$1 want=$2
	shift 2
	local got
	got=$(req "$@")
	CHECKS=$((CHECKS + 1))
	if [ "$got" = "$want" ]; then
		echo "ok: $desc -> $got $(jq -r '.error // empty' "$T/body" 2>/dev/null)"
	else
		echo "FAIL: $desc: got $got, want $want: $(head -c 300 "$T/body")"
		FAILS=$((FAILS + 1))
	fi
}
snap_names() { v storage volume snapshot list v1 --format csv | cut -d, -f1 | paste -sd' '; }

check "create v1 (32MiB)" v storage volume create v1 --size 32MiB
check "init c1" v init busybox c1
check "attach v1 at /data" v storage volume attach v1 c1 /data
check "start c1" v start c1
check "write 'one' to /data/f" v exec c1 -- sh -c 'echo one > /data/f && sync'

# a snapshot of a running container's volume: frozen for the copy, thawed after
check "snapshot create (no name) while c1 runs" sh -c 'v storage volume snapshot create v1 >"$0"' "$T/made"
check "it is called snap0" grep -qx 'Snapshot snap0 created' "$T/made"
check "the volume is writable again" timeout 30 v exec c1 -- sh -c 'echo two > /data/f && echo g > /data/g && sync'
check "snapshot create v1 second" v storage volume snapshot create v1 second
check "a third, unnamed: snap1" sh -c 'v storage volume snapshot create v1 | grep -qx "Snapshot snap1 created"'
check "list: snap0 second snap1, oldest first" test "$(snap_names)" = "snap0 second snap1"
check "show lists the snapshots" sh -c "v storage volume show v1 --format json | jq -e '.snapshots == [\"snap0\",\"second\",\"snap1\"]'"
check "the snapshot files are in place" test -f "$SNAPS/snap0.raw" -a -f "$SNAPS/second.raw" -a -f "$SNAPS/snap1.raw"
alloc=$(($(stat -c '%b*%B' "$SNAPS/snap0.raw")))
check "snap0 is sparse ($alloc bytes allocated of $((32 << 20)))" test "$alloc" -lt $((16 << 20))
check "snap0 is a clean ext4 (frozen while copied)" /sbin/e2fsck -n -f "$SNAPS/snap0.raw"

# errors: nothing changes
before=$(dbdump)
status_is "snapshots of a missing volume: 404" 404 GET /1.0/storage-volumes/nope/snapshots
status_is "snapshot a missing volume: 404" 404 POST /1.0/storage-volumes/nope/snapshots '{"name":"s"}'
status_is "a missing snapshot: 404" 404 GET /1.0/storage-volumes/v1/snapshots/nope
status_is "delete a missing snapshot: 404" 404 DELETE /1.0/storage-volumes/v1/snapshots/nope
status_is "restore a missing snapshot: 404" 404 PUT /1.0/storage-volumes/v1 '{"restore":"nope"}'
status_is "a duplicate name: 409" 409 POST /1.0/storage-volumes/v1/snapshots '{"name":"second"}'
status_is "a bad name: 400" 400 POST /1.0/storage-volumes/v1/snapshots '{"name":"9bad"}'
status_is "a name with a slash: 400" 400 POST /1.0/storage-volumes/v1/snapshots '{"name":"a/b"}'
status_is "an unknown key: 400" 400 POST /1.0/storage-volumes/v1/snapshots '{"name":"x","stateful":true}'
status_is "PUT without restore: 400" 400 PUT /1.0/storage-volumes/v1 '{"size":"64MiB"}'
status_is "restore while c1 runs: 409" 409 PUT /1.0/storage-volumes/v1 '{"restore":"snap0"}'
check "the 409 says why" grep -q 'stop it before restoring' "$T/body"
check_fails "CLI: restore while running" "in use by running instance c1: stop it before restoring" \
	v storage volume snapshot restore v1 snap0
check_fails "CLI: a duplicate" "already exists" v storage volume snapshot create v1 snap0
check_fails "CLI: a missing volume" "not found" v storage volume snapshot list nope
check "refusals changed nothing" test "$before" = "$(dbdump)"
check "GET one snapshot" sh -c "curl -sf --unix-socket $SOCK http://vessel/1.0/storage-volumes/v1/snapshots/second | jq -e '.metadata.name == \"second\" and .metadata.size == $((32 << 20))'"
check "GET the list (URLs)" sh -c "curl -sf --unix-socket $SOCK http://vessel/1.0/storage-volumes/v1/snapshots | jq -e '.metadata[0] == \"/1.0/storage-volumes/v1/snapshots/snap0\"'"

# restore once stopped: the old data is back
check "stop c1" v stop --force c1
check "restore snap0" v storage volume snapshot restore v1 snap0
check "start c1" v start c1
check "the old data is back" test "$(v exec c1 -- cat /data/f)" = one
check "what came after is gone" v exec c1 -- sh -c '! test -e /data/g'
check "restore leaves no temporary file" test -z "$(ls -A "$SNAPS" | grep '^\.')"
check "stop c1 again" v stop --force c1
# a grow after a snapshot: restore brings the old size back
check "grow v1 to 64MiB" v storage volume resize v1 64MiB
check "restore 'second'" v storage volume snapshot restore v1 second
check "v1 is 32 MiB again" grep -q '^v1,raw,32 MiB,c1,/data$' <(v storage volume list --format csv)
check "its file too" test "$(stat -c %s "$POOL/v1.raw")" = $((32 << 20))
check "start c1 (restored 'second')" v start c1
check "'second' has 'two' and g" test "$(v exec c1 -- cat /data/f /data/g | paste -sd' ')" = "two g"
check "delete snapshot snap1" v storage volume snapshot delete v1 snap1
check "its file is gone" test ! -e "$SNAPS/snap1.raw"
check "list: snap0 second" test "$(snap_names)" = "snap0 second"

# crash: a kill -9 right after a snapshot of a 64 MiB volume of random data
# starts; the next vesseld has it complete and recorded, or not at all
check "create v2 (64MiB)" v storage volume create v2 --size 64MiB
check "fill v2 with random data" dd if=/dev/urandom of="$POOL/v2.raw" bs=1M count=64 conv=notrunc status=none
code=$(req POST /1.0/storage-volumes/v2/snapshots '{"name":"crash"}')
check "the snapshot started (202, got $code)" test "$code" = 202
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
# leftovers a crash may leave, which the next start must remove
mkdir -p "$POOL/ghost.snapshots"
echo x >"$POOL/ghost.snapshots/s.raw"
echo x >"$SNAPS/.half.tmp"
echo x >"$SNAPS/unrecorded.raw"
start_daemon || exit 1
if v storage volume snapshot list v2 --format csv | grep -q '^crash,'; then
	check "crash: the recorded snapshot is complete" cmp "$POOL/v2.raw" "$POOL/v2.snapshots/crash.raw"
else
	check "crash: no snapshot, no file left" test -z "$(ls -A "$POOL/v2.snapshots" 2>/dev/null)"
fi
check "crash: no temporary file of v2 left" test -z "$(ls -A "$POOL/v2.snapshots" 2>/dev/null | grep '^\.')"
check "start: the snapshots of no volume are removed" test ! -e "$POOL/ghost.snapshots"
check "start: a temporary file is removed" test ! -e "$SNAPS/.half.tmp"
check "start: an unrecorded snapshot file is removed" test ! -e "$SNAPS/unrecorded.raw"
check "start: the recorded ones stay" test -f "$SNAPS/snap0.raw" -a -f "$SNAPS/second.raw"
check "list after the restart: snap0 second" test "$(snap_names)" = "snap0 second"
check "a snapshot after the restart" v storage volume snapshot create v2 after

# deleting a volume deletes its snapshots
check "c1 is running again" test "$(status c1)" = Running
check "stop c1" v stop --force c1
check "detach v1" v storage volume detach v1 c1
check "delete v1" v storage volume delete v1
check "delete v2" v storage volume delete v2
check "the pool is empty (no snapshot left)" test -z "$(ls -A "$POOL")"
check "no snapshot row left" test "$(sqlite3 "$STATE/vessel.db" 'SELECT COUNT(*) FROM volume_snapshots')" = 0
check_fails "snapshots of the deleted volume" "not found" v storage volume snapshot list v1
check "delete c1" v delete --force c1
check "no loop device or volume mount left" sh -c "! losetup -a | grep -q '$POOL/' && ! grep -q /volumes/ /proc/self/mountinfo"
stop_daemon
finish
