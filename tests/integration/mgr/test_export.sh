#!/bin/bash
# test_export.sh - an instance as one file, and between two hosts: two
# vesseld (own state dirs and sockets) in one private network namespace,
# host B with a TLS listener trusted by the client as remote "b".
#   export (with snapshots) on A -> import on B: the files, a whiteout, a
#   hard link and the snapshot come back; the file is tar + zstd with the
#   metadata first and the checksum list last;
#   one byte flipped (several places) and truncated files: refused with one
#   line, B's database, instance and staging directories unchanged;
#   copy c1 b:NEW (source keeps running), move (stop, copy, start; the
#   CRIU note printed), a move whose import fails on B: the source runs
#   again on A with its data and its volume (attached, its file there),
#   nothing on B.
#   Storage volumes (format 2): a container with a volume holding a file
#   and a snapshot of it exported and imported on B (the file's checksum,
#   the snapshot restores); the volume's member altered with the digest
#   list kept, and an import whose volume name is taken on B: refused,
#   nothing created; a move onto B where the volume's name is taken:
#   refused, nothing changed on either side; the move carrying the volume
#   and its snapshot (intact on B; instance, volume and files gone from A).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
for c in curl sqlite3 zstd tar jq python3; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done

private_netns || exit 1
in_netns ip link set lo up || exit 1
export VESSEL_CONFIG_DIR=$T/cfg
start_daemon || exit 1

# host B
STATE2=$T/state2
SOCK2=$T/b.sock
DPID2=
URL=https://127.0.0.1:8443
"${DAEMON_PREFIX[@]}" "$VESSELD" --state-dir "$STATE2" --socket "$SOCK2" --runtime "$RUNTIME" \
	--guest-image none --listen 127.0.0.1:8443 >>"$T/vesseld-b.log" 2>&1 &
DPID2=$!
vb() { VESSEL_SOCKET=$SOCK2 "$VESSEL" "$@"; }
cleanup_b() {
	if [ -n "$DPID2" ] && kill -0 "$DPID2" 2>/dev/null; then
		for n in $(vb list --format csv 2>/dev/null | cut -d, -f1); do
			vb delete --force "$n" >/dev/null 2>&1
		done
		kill "$DPID2" 2>/dev/null
		local deadline=$((SECONDS + 60))
		while kill -0 "$DPID2" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		kill -9 "$DPID2" 2>/dev/null
	fi
	if [ -d "$STATE2/runtime" ]; then
		for id in $(ls "$STATE2/runtime" 2>/dev/null); do
			"$RUNTIME" --root "$STATE2/runtime" delete --force "$id" >/dev/null 2>&1
		done
	fi
	cleanup
}
trap cleanup_b EXIT
deadline=$((SECONDS + 120))
until vb list >/dev/null 2>&1; do
	kill -0 "$DPID2" 2>/dev/null || { echo "vesseld B died"; cat "$T/vesseld-b.log"; exit 1; }
	[ $SECONDS -ge $deadline ] && { echo "vesseld B did not answer"; exit 1; }
	sleep 0.1
done
check "remote add b (B's TLS listener)" in_netns v remote add b "$URL" --accept-certificate
check "B trusts the client's certificate" vb config trust add "$T/cfg/client.crt"

# B's observable state: database, instance directories, staging area
b_state() {
	sqlite3 "$STATE2/vessel.db" "SELECT name, runtime_id FROM instances ORDER BY name; \
		SELECT * FROM instance_snapshots ORDER BY id; SELECT * FROM instance_config ORDER BY 1, 2;"
	ls "$STATE2/containers"
	ls -A "$STATE2/images/tmp"
}

# ---- export -> import ----
check "launch c1 on A" v launch busybox c1 -c limits.memory=64MiB -c user.purpose=export-test
check "write files in c1" v exec c1 -- sh -c 'echo hello >/root/f && ln /root/f /root/hl &&
	mkdir -p /data && dd if=/dev/urandom of=/data/big bs=1k count=300 2>/dev/null && rm /bin/ls'
sum=$(v exec c1 -- md5sum /data/big | cut -d' ' -f1)
check "snapshot s1 of c1" v snapshot create c1 s1
check "write after the snapshot" v exec c1 -- sh -c 'echo after >/root/g'
check "export c1 --snapshots (running)" v export c1 "$T/c1.vx" --snapshots
check "c1 still running after the export" test "$(status c1)" = Running
zstd -dc "$T/c1.vx" 2>/dev/null | tar tf - 2>/dev/null >"$T/members"
check "the file is tar + zstd, metadata first" test "$(head -1 "$T/members")" = vessel-export.json
check "  ... checksum list last" test "$(tail -1 "$T/members")" = checksums.json
check "  ... the container's layer and the snapshot's" \
	sh -c "grep -qx rootfs/root/g '$T/members' && grep -qx snapshots/s1/rootfs/root/f '$T/members'"
# the copy goes when the server has sent the last chunk, a moment after the client has it
check "no copy left on A after the export" wait_for "the copy removed" sh -c "test -z \"\$(ls -A '$STATE/images/tmp')\""

check "import on B" vb import "$T/c1.vx"
check "  ... c1 on B, stopped" test "$(VESSEL_SOCKET=$SOCK2 status c1)" = Stopped
check "  ... its config" test "$(vb config get c1 user.purpose)" = export-test
check "  ... its snapshot" sh -c "VESSEL_SOCKET=$SOCK2 v snapshot list c1 --format csv | grep -q '^s1,'"
check "start c1 on B" vb start c1
check "  ... files written on A" test "$(vb exec c1 -- cat /root/f /root/g | tr '\n' ' ')" = "hello after "
check "  ... the big file intact" test "$(vb exec c1 -- md5sum /data/big | cut -d' ' -f1)" = "$sum"
check "  ... a deleted image file stays deleted (whiteout)" \
	sh -c "! VESSEL_SOCKET=$SOCK2 v exec c1 -- test -e /bin/ls"
check "  ... the hard link kept" \
	test "$(vb exec c1 -- stat -c %i /root/f)" = "$(vb exec c1 -- stat -c %i /root/hl)"
check "restore s1 on B" vb snapshot restore c1 s1
check "  ... the file written after s1 is gone" sh -c "! VESSEL_SOCKET=$SOCK2 v exec c1 -- test -e /root/g"
check "import again under another name" vb import "$T/c1.vx" c1b
# format version 1 (before storage volumes): still read
to_v1() {
	zstd -dc "$T/c1.vx" >"$T/c1.tar" && python3 "$HERE/export_v1.py" "$T/c1.tar" "$T/c1v1.tar" &&
		zstd -q -f "$T/c1v1.tar" -o "$T/c1v1.vx" && rm -f "$T/c1.tar" "$T/c1v1.tar" &&
		zstd -dc "$T/c1v1.vx" | tar -xOf - vessel-export.json | jq -e '.version == 1 and (has("volumes") | not)'
}
check "the file as version 1 wrote it" to_v1
check "  ... imported on B as c1v1" vb import "$T/c1v1.vx" c1v1
check "  ... its files and snapshot" \
	sh -c "VESSEL_SOCKET=$SOCK2 v start c1v1 && test \"\$(VESSEL_SOCKET=$SOCK2 v exec c1v1 -- cat /root/f /root/g | tr '\n' ' ')\" = 'hello after ' && VESSEL_SOCKET=$SOCK2 v snapshot list c1v1 --format csv | grep -q '^s1,'"
check_fails "import over an existing name" "already exists" vb import "$T/c1.vx" c1

# ---- altered and truncated files ----
before=$(b_state)
size=$(stat -c %s "$T/c1.vx")
flip() { # flip OFFSET: one byte of the file flipped into $T/bad.vx
	cp "$T/c1.vx" "$T/bad.vx"
	local b
	b=$(od -An -tu1 -j"$1" -N1 "$T/bad.vx" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 0x20)))" | dd of="$T/bad.vx" bs=1 seek="$1" conv=notrunc 2>/dev/null
	! cmp -s "$T/c1.vx" "$T/bad.vx"
}
for off in 40 $((size / 3)) $((size / 2)) $((size - 40)); do
	check "flip byte $off of $size" flip $off
	check_fails "  ... the altered file is refused" "nothing created" vb import "$T/bad.vx" c9
done
for n in 64 $((size / 2)) $((size - 1)); do
	head -c $n "$T/c1.vx" >"$T/short.vx"
	check_fails "truncated to $n bytes: refused" "nothing created" vb import "$T/short.vx" c9
done
# answered before the body is read, while curl is still sending it: the
# answer arrives every time (a lingering close, not a reset)
bad_name() {
	local i code
	for i in $(seq 20); do
		code=$(curl -s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK2" \
			-H 'Content-Type: application/octet-stream' -H 'X-Vessel-Name: bad_name!' \
			--data-binary @"$T/c1.vx" http://v/1.0/instances)
		[ "$code" = 400 ] || { echo "try $i: $code"; return 1; }
	done
	jq -e '.error | test("invalid name")' "$T/body" >/dev/null
}
check "a bad X-Vessel-Name: 400 before the body is read, all 20 times" bad_name
printf 'not an export' >"$T/junk.vx"
check_fails "not an export file: refused" "nothing created" vb import "$T/junk.vx" c9
check "refusals created nothing on B (database, directories, staging)" test "$before" = "$(b_state)"
check_fails "stateful export of a container: refused, CRIU named" "CRIU" v export c1 "$T/x.vx" --stateful
check "  ... no file left" test ! -e "$T/x.vx" -a ! -e "$T/x.vx.part"
check_fails "export of an unknown instance" "not found" v export nope "$T/x.vx"

# ---- copy and move between hosts ----
check "copy c1 b:c1copy" in_netns v copy c1 b:c1copy
check "  ... c1 still running on A" test "$(status c1)" = Running
check "  ... the copy on B has c1's data" \
	sh -c "VESSEL_SOCKET=$SOCK2 v start c1copy && test \"\$(VESSEL_SOCKET=$SOCK2 v exec c1copy -- cat /root/g)\" = after"
check_fails "copy onto an existing name" "already exists" in_netns v copy c1 b:c1copy

check "launch c2 on A" v launch busybox c2
check "write in c2" v exec c2 -- sh -c 'echo moved >/root/m'
move_c2() { in_netns v move c2 b: >"$T/move.out"; }
check "move c2 b:" move_c2
check "  ... says live container migration is impossible here (CRIU)" grep -q "CRIU" "$T/move.out"
check "  ... c2 gone from A" sh -c "! v info c2"
check "  ... c2 running on B" test "$(VESSEL_SOCKET=$SOCK2 status c2)" = Running
check "  ... with its data" test "$(vb exec c2 -- cat /root/m)" = moved

check "c3 on A with a volume v3 at /v3" \
	sh -c "v init busybox c3 && v storage volume create v3 --size 8MiB && v storage volume attach v3 c3 /v3 && v start c3"
check "write in c3 and on v3" v exec c3 -- sh -c 'echo stays >/root/s && echo kept >/v3/k'
# B cannot stage an upload: its import fails after c3 was stopped
mv "$STATE2/images/tmp" "$STATE2/images/tmp.off" && touch "$STATE2/images/tmp"
check_fails "move c3 b: while B cannot import" "move c3 to b" in_netns v move c3 b:
rm -f "$STATE2/images/tmp" && mv "$STATE2/images/tmp.off" "$STATE2/images/tmp"
check "  ... c3 running on A again" test "$(status c3)" = Running
check "  ... with its data" test "$(v exec c3 -- cat /root/s)" = stays
check "  ... nothing on B" sh -c "! VESSEL_SOCKET=$SOCK2 v info c3 && ! VESSEL_SOCKET=$SOCK2 v storage volume show v3"
check "  ... v3 still attached to c3 on A, its data there" \
	sh -c "v storage volume list --format csv | grep -q '^v3,raw,8 MiB,c3,/v3\$' && test \"\$(v exec c3 -- cat /v3/k)\" = kept"

# ---- storage volumes (format version 2) ----
# B's volumes: rows (with their snapshots and attachments) and pool files
b_vols() {
	sqlite3 "$STATE2/vessel.db" "SELECT v.name, v.format, v.size, COALESCE(a.path, '') FROM storage_volumes v \
		LEFT JOIN instance_volumes a ON a.volume_id = v.id ORDER BY 1; \
		SELECT volume_id, name, size FROM volume_snapshots ORDER BY id;"
	ls -AR "$STATE2/storage" 2>/dev/null
}
check "create volume vd (16MiB) and c4 (stopped) on A" \
	sh -c "'$VESSEL' storage volume create vd --size 16MiB && '$VESSEL' init busybox c4"
check "  ... attach vd to c4 at /vd" v storage volume attach vd c4 /vd
check "start c4, write a file on its volume" sh -c "v start c4 && v exec c4 -- sh -c 'dd if=/dev/urandom of=/vd/blob bs=1k count=200 2>/dev/null && echo before-snap >/vd/note'"
vsum=$(v exec c4 -- md5sum /vd/blob | cut -d' ' -f1)
check "snapshot vs0 of the volume (running)" v storage volume snapshot create vd vs0
check "  ... write after the volume's snapshot" v exec c4 -- sh -c 'echo after-snap >/vd/note'
check "export c4 --snapshots (running, with its volume)" v export c4 "$T/c4.vx" --snapshots
check "  ... c4 still running" test "$(status c4)" = Running
zstd -dc "$T/c4.vx" 2>/dev/null | tar tf - 2>/dev/null >"$T/members4"
check "  ... the volume and its snapshot are members" \
	sh -c "grep -qx volumes/vd.raw '$T/members4' && grep -qx volumes/vd.snapshots/vs0.raw '$T/members4'"
check "  ... each checksummed" \
	sh -c "test -s '$T/c4.vx' && zstd -dc '$T/c4.vx' | tar -xOf - checksums.json | jq -e '[.members[].path] | index(\"volumes/vd.raw\") and index(\"volumes/vd.snapshots/vs0.raw\")' >/dev/null"
check "  ... version 2, the volume in the metadata" \
	sh -c "test -s '$T/c4.vx' && zstd -dc '$T/c4.vx' | tar -xOf - vessel-export.json | jq -e '.version == 2 and .volumes[0].name == \"vd\" and .volumes[0].path == \"/vd\" and .volumes[0].snapshots[0].name == \"vs0\"' >/dev/null"
# the volume's member altered (same length, the list of digests kept): refused, nothing made
alter_volume() {
	zstd -dc "$T/c4.vx" >"$T/c4.tar" || return 1
	python3 - "$T/c4.tar" <<'PY' || return 1
import sys, tarfile
p = sys.argv[1]
with tarfile.open(p) as t:
    off = t.getmember("volumes/vd.raw").offset_data
with open(p, "r+b") as f:
    f.seek(off + 1024 * 1024 + 17)  # inside the filesystem's data
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x5a]))
PY
	zstd -q -f "$T/c4.tar" -o "$T/c4bad.vx" && rm -f "$T/c4.tar"
}
check "alter one byte of volumes/vd.raw (recompressed, digests kept)" alter_volume
before=$(b_state; b_vols)
check_fails "  ... the altered volume is refused" "volumes/vd.raw: checksum mismatch" vb import "$T/c4bad.vx"
check "  ... nothing created on B (instances, volumes, pool, staging)" test "$before" = "$(b_state; b_vols)"
check "import c4 on B" vb import "$T/c4.vx"
check "  ... volume vd on B, attached to c4 at /vd" \
	sh -c "VESSEL_SOCKET=$SOCK2 v storage volume list --format csv | grep -q '^vd,raw,16 MiB,c4,/vd$'"
check "  ... with its snapshot" sh -c "VESSEL_SOCKET=$SOCK2 v storage volume snapshot list vd --format csv | grep -q '^vs0,'"
check "  ... the file on the volume intact" \
	sh -c "VESSEL_SOCKET=$SOCK2 v start c4 && test \"\$(VESSEL_SOCKET=$SOCK2 v exec c4 -- md5sum /vd/blob | cut -d' ' -f1)\" = $vsum"
check "  ... the note as written last" test "$(vb exec c4 -- cat /vd/note)" = after-snap
check "  ... the snapshot restores the note before it" \
	sh -c "VESSEL_SOCKET=$SOCK2 v stop c4 && VESSEL_SOCKET=$SOCK2 v storage volume snapshot restore vd vs0 && VESSEL_SOCKET=$SOCK2 v start c4 && test \"\$(VESSEL_SOCKET=$SOCK2 v exec c4 -- cat /vd/note)\" = before-snap"
before=$(b_state; b_vols)
check_fails "import again under another name: its volume's name clashes" "storage volume vd already exists" \
	vb import "$T/c4.vx" c4b
check "  ... nothing created on B" test "$before" = "$(b_state; b_vols)"
check "remove c4 and vd on B" sh -c "VESSEL_SOCKET=$SOCK2 v delete --force c4 && VESSEL_SOCKET=$SOCK2 v storage volume delete vd"

# move with the volume: a clash on B first (refused, nothing changed), then the move
check "a volume vd on B" vb storage volume create vd --size 8MiB
a_before=$(v list --format csv | cut -d, -f1-3; v storage volume list --format csv; ls -A "$STATE/storage/default")
before=$(b_state; b_vols)
check_fails "move c4 b: with vd on B: refused" "storage volume vd already exists on b: c4 .* nothing was changed" in_netns v move c4 b:
check "  ... c4 still running on A with vd attached, nothing changed" \
	test "$a_before" = "$(v list --format csv | cut -d, -f1-3; v storage volume list --format csv; ls -A "$STATE/storage/default")"
check "  ... nothing changed on B" test "$before" = "$(b_state; b_vols)"
check "delete vd on B" vb storage volume delete vd
check "move c4 b: (carrying vd)" in_netns v move c4 b:
check "  ... c4 running on B" test "$(VESSEL_SOCKET=$SOCK2 status c4)" = Running
check "  ... its volume's file intact on B" test "$(vb exec c4 -- md5sum /vd/blob | cut -d' ' -f1)" = "$vsum"
check "  ... vd attached on B with its snapshot" \
	sh -c "VESSEL_SOCKET=$SOCK2 v storage volume list --format csv | grep -q '^vd,raw,16 MiB,c4,/vd$' && VESSEL_SOCKET=$SOCK2 v storage volume snapshot list vd --format csv | grep -q '^vs0,'"
check "  ... c4 and vd gone from A (rows, file, snapshots)" \
	sh -c "! v info c4 && ! v storage volume show vd && ! ls -A '$STATE/storage/default' | grep -q '^vd\.'"
vb delete --force c4 >/dev/null 2>&1
vb storage volume delete vd >/dev/null 2>&1

# streamed over the API directly
check "GET /1.0/instances/c1/export over the socket: a zstd stream" \
	sh -c "curl -sf --unix-socket '$SOCK' http://v/1.0/instances/c1/export | zstd -t -q"

for n in c1 c2 c3; do v delete --force $n >/dev/null 2>&1; done
v storage volume delete v3 >/dev/null 2>&1
for n in c1 c1b c1v1 c1copy c2; do vb delete --force $n >/dev/null 2>&1; done
check "nothing left on A's staging area" test -z "$(ls -A "$STATE/images/tmp")"
check "nothing left on B's staging area" test -z "$(ls -A "$STATE2/images/tmp")"
CHECKS=$((CHECKS + 1))
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T/vesseld-b.log"; then
	echo "FAIL: sanitizer report from vesseld B"
	grep -A20 -E 'ERROR: |runtime error:' "$T/vesseld-b.log" | head -40 | sed 's/^/    /'
	FAILS=$((FAILS + 1))
fi
stop_daemon
finish
