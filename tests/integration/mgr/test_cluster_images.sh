#!/bin/bash
# test_cluster_images.sh - images, storage volumes and evacuate across a
# vessel cluster (issue 13), on the three namespaced vesseld of lib.sh's
# cluster_setup:
#  - images: an image imported on m1 only is listed by every member with
#    its location; `launch IMAGE --target m2` through m3 fetches it from
#    m1 to m2 (streamed over the members' TLS API, verified against its
#    fingerprint) and runs it; a VM image too (created with init); a copy
#    altered on the sender is refused and nothing is registered; deleting
#    an image is refused while an instance of another member uses it and
#    otherwise removes it from every member;
#  - volumes: listed by every member with their location; created on
#    another member with --target; attach, snapshot, info, resize and
#    delete through any member forwarded to the volume's; attaching one to
#    an instance of another member refused with both named;
#  - evacuate: a container with a snapshot and a volume with a snapshot
#    moves with both; a VM with a snapshot of its own is refused before
#    anything moves, saying why.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
for c in curl jq sqlite3 ip tar qemu-img sha256sum; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done
cluster_setup || exit 1

check "m1: cluster init" vm 1 cluster init m1 10.77.0.1:9001
for n in 2 3; do
	mkdir -p "$T/s$n/cluster" && install -m 0600 "$T/s1/cluster/cluster.crt" "$T/s1/cluster/cluster.key" "$T/s$n/cluster/" || exit 1
done
check "m2 joins" vm 2 cluster join m2 10.77.0.2:9001 10.77.0.1:9001
check "m3 joins" vm 3 cluster join m3 10.77.0.3:9001 10.77.0.1:9001
for n in 1 2 3; do
	check "m$n sees three members online" wait_for "m$n: 3 online" online $n 3
done
api() { local n=$1; shift; curl -s --max-time 120 --unix-socket "$T/m$n.sock" "$@"; }

# ---- images ----
check "make an OCI image (marker one)" oci_layout "$T/oci1" one
tar -C "$T/oci1" -cf "$T/oci1.tar" . || exit 1
check "m1 imports it as cimg (an upload)" vm 1 image import "$T/oci1.tar" --alias cimg
fp=$(api 1 http://x/1.0/images/cimg | jq -r .metadata.fingerprint)
check "  ... m1 keeps its layout (manifest $(printf %.12s "$fp"))" test -s "$T/s1/images/oci/$fp/blobs/sha256/$fp"
local_has() { [ "$(sqlite3 "$T/s$1/vessel.db" "SELECT COUNT(*) FROM images WHERE fingerprint = '$2'")" = 1 ]; }
lacks() { local f=$1; shift; for n; do local_has $n "$f" && return 1; done; return 0; }
has() { local f=$1; shift; for n; do local_has $n "$f" || return 1; done; return 0; }
check "m2 and m3 do not have it" lacks "$fp" 2 3
for n in 2 3; do
	check "m$n lists cimg, located on m1 (API)" sh -c \
		"curl -s --unix-socket $T/m$n.sock 'http://x/1.0/images?recursion=1' | jq -e '[.metadata[] | select(.fingerprint == \"$fp\")] | length == 1 and .[0].locations == [\"m1\"] and (.[0].aliases | map(.name) | index(\"cimg\"))'"
	check "m$n: image list shows cimg on m1" sh -c "VESSEL_SOCKET=$T/m$n.sock v image list --format csv | grep -q '^cimg,$(printf %.12s "$fp"),.*,m1\$'"
	check "m$n: image info cimg answers" sh -c "VESSEL_SOCKET=$T/m$n.sock v image info cimg --format json | jq -e '.fingerprint == \"$fp\"'"
done
check "the image's export: a tar of its layout" sh -c \
	"curl -s --unix-socket $T/m1.sock http://x/1.0/images/cimg/export | tar -t | grep -q 'blobs/sha256/$fp'"
check "launch cimg on m2 through m3 (fetched from m1)" vm 3 launch cimg c1 --target m2
check "  ... c1 runs the image (its marker) on m2" test "$(vm 1 exec c1 -- cat /marker)" = one
check "  ... m2 has the image now, with its alias" sh -c \
	"[ \"\$(sqlite3 '$T/s2/vessel.db' \"SELECT a.name FROM images i JOIN image_aliases a ON a.image_id = i.id WHERE i.fingerprint = '$fp'\")\" = cimg ]"
check "  ... fetched from m1 and verified (m2's log)" grep -q "image $(printf %.12s "$fp") fetched from m1 .*verified" "$T/vesseld-m2.log"
check "  ... listed on m1 and m2" sh -c \
	"curl -s --unix-socket $T/m3.sock http://x/1.0/images/cimg | jq -e '(.metadata.locations | sort) == [\"m1\", \"m2\"]'"
alias_on() { [ "$(sqlite3 "$T/s$1/vessel.db" "SELECT COUNT(*) FROM image_aliases WHERE name = '$2'")" = 1 ]; }
no_alias() { ! alias_on "$@"; }
check "alias cimgx for cimg through m3 (which does not hold it: made on a holder)" \
	vm 3 image alias create cimgx "$(printf %.12s "$fp")"
check "  ... m3 resolves it" sh -c "VESSEL_SOCKET=$T/m3.sock v image info cimgx --format json | jq -e '.fingerprint == \"$fp\"'"
check "delete the alias through m3: gone from every member" sh -c \
	"VESSEL_SOCKET=$T/m3.sock v image alias delete cimgx"
no_aliases() { no_alias 1 cimgx && no_alias 2 cimgx && no_alias 3 cimgx; }
check "  ... no member has it" no_aliases
check_fails "  ... deleting it again: not found" "not found" vm 2 image alias delete cimgx
check "a second launch on m2 uses m2's copy" vm 1 launch cimg c2 --target m2
check "  ... fetched once" test "$(grep -c "fetching image $(printf %.12s "$fp")" "$T/vesseld-m2.log")" = 1

# an image whose copy on its only holder was altered: refused by the receiver
check "make a second OCI image (marker two)" oci_layout "$T/oci2" two
tar -C "$T/oci2" -cf "$T/oci2.tar" . || exit 1
check "m1 imports it as cimg2" vm 1 image import "$T/oci2.tar" --alias cimg2
fp2=$(api 1 http://x/1.0/images/cimg2 | jq -r .metadata.fingerprint)
layer=$(jq -r '.layers[0].digest' "$T/manifest-two.json")
layer=${layer#sha256:}
kept=$T/s1/images/oci/$fp2/blobs/sha256/$layer
cp --remove-destination "$kept" "$T/kept.bak" && cp --remove-destination "$kept" "$kept.new" && mv "$kept.new" "$kept"
printf 'X' | dd of="$kept" bs=1 seek=100 conv=notrunc 2>/dev/null
check_fails "launch cimg2 on m3: the altered copy is refused" "does not match its descriptor" \
	vm 3 launch cimg2 c3 --target m3
nothing_on_m3() { lacks "$fp2" 3 && [ "$(sqlite3 "$T/s3/vessel.db" 'SELECT COUNT(*) FROM instances')" = 0 ] &&
	[ ! -e "$T/s3/images/layers/$layer" ] && [ -z "$(ls "$T/s3/images/tmp")" ]; }
check "  ... nothing registered on m3 (image, instance, layer, temporary files)" nothing_on_m3
cp --remove-destination "$T/kept.bak" "$kept"

# a VM image (a kernel file and an empty qcow2: created, never booted)
mkdir -p "$T/vmimg" && head -c 300000 /dev/urandom >"$T/vmimg/Image" &&
	qemu-img create -q -f qcow2 "$T/vmimg/disk.qcow2" 32M &&
	echo '{"type":"vm","architecture":"riscv64","kernel":"Image","disk":"disk.qcow2","memory":"64MiB"}' >"$T/vmimg/metadata.json" &&
	tar -C "$T/vmimg" -cf "$T/vmimg.tar" . || exit 1
check "m1 imports a VM image vimg" vm 1 image import "$T/vmimg.tar" --alias vimg
vfp=$(api 1 http://x/1.0/images/vimg | jq -r .metadata.fingerprint)
check "create a VM from vimg on m3 through m2 (fetched from m1)" vm 2 init vimg v1 --vm --target m3
check "  ... m3 has vimg, its files as m1's" sh -c \
	"cmp '$T/s1/images/vm/$vfp/kernel' '$T/s3/images/vm/$vfp/kernel' && cmp '$T/s1/images/vm/$vfp/metadata.json' '$T/s3/images/vm/$vfp/metadata.json' && [ \"\$(sqlite3 '$T/s3/vessel.db' \"SELECT type FROM images WHERE fingerprint = '$vfp'\")\" = vm ]"
check "delete v1" vm 1 delete --force v1
check "delete vimg everywhere" vm 2 image delete vimg
vgone() { lacks "$vfp" 1 3 && [ ! -e "$T/s1/images/vm/$vfp" ] && [ ! -e "$T/s3/images/vm/$vfp" ]; }
check "  ... gone from m1 and m3 (rows and files)" vgone

check_fails "delete cimg while c1 on m2 uses it (asked on m3)" "used by instance c1 on member m2" \
	vm 3 image delete cimg
check "  ... still on m1 and m2" has "$fp" 1 2
check "delete c1 and c2" vm 3 delete --force c1 c2
check "delete cimg through m3 (which never had it)" vm 3 image delete cimg
gone() { lacks "$fp" 1 2 && [ ! -e "$T/s1/images/oci/$fp" ] && [ ! -e "$T/s2/images/oci/$fp" ]; }
check "  ... gone from m1 and m2 (rows, layouts)" gone
check "  ... no member lists it" sh -c "! curl -s --unix-socket $T/m2.sock 'http://x/1.0/images?recursion=1' | grep -q $fp"
check_fails "delete it again" "not found" vm 1 image delete cimg

# ---- volumes ----
vol_at() { [ "$(sqlite3 "$T/s$1/vessel.db" "SELECT COUNT(*) FROM storage_volumes WHERE name = '$2'")" = 1 ]; }
vol_not_at() { [ "$(sqlite3 "$T/s$1/vessel.db" "SELECT COUNT(*) FROM storage_volumes WHERE name = '$2'")" = 0 ]; }
check "create volume vA on m2 through m1 (--target m2)" vm 1 storage volume create vA --size 16MiB --target m2
only_m2() { vol_at 2 vA && vol_not_at 1 vA && vol_not_at 3 vA; }
check "  ... it lives on m2 only" only_m2
check "create volume vB through m1 (no target: on m1)" vm 1 storage volume create vB --size 16MiB
check "  ... on m1" vol_at 1 vB
for n in 1 3; do
	check "m$n: volume list shows vA on m2 and vB on m1" sh -c \
		"VESSEL_SOCKET=$T/m$n.sock v storage volume list --format csv | grep -qx 'vA,raw,16 MiB,,,m2' && VESSEL_SOCKET=$T/m$n.sock v storage volume list --format csv | grep -qx 'vB,raw,16 MiB,,,m1'"
done
check "m3: the API's listing has both, with their location" sh -c \
	"curl -s --unix-socket $T/m3.sock 'http://x/1.0/storage-volumes?recursion=1' | jq -e '(.metadata | map({(.name): .location}) | add) == {\"vA\": \"m2\", \"vB\": \"m1\"}'"
check_fails "create vA again through m3: the name is the cluster's" "already exists on member m2" \
	vm 3 storage volume create vA --size 16MiB
check_fails "create with --target an unknown member" "no cluster member nope" \
	vm 3 storage volume create vC --size 16MiB --target nope
check "info vA through m3 (forwarded to m2)" sh -c \
	"VESSEL_SOCKET=$T/m3.sock v storage volume info vA --format json | jq -e '.location == \"m2\" and .name == \"vA\"'"
check "resize vA through m1" vm 1 storage volume resize vA 32MiB
check "  ... m2's file is 32 MiB" test "$(stat -c %s "$T/s2/storage/default/vA.raw" 2>/dev/null || sqlite3 "$T/s2/vessel.db" "SELECT size FROM storage_volumes WHERE name = 'vA'")" = 33554432
check "launch c5 on m2, stopped" sh -c "VESSEL_SOCKET=$T/m1.sock v launch busybox c5 --target m2 && VESSEL_SOCKET=$T/m1.sock v stop --force c5"
check "attach vA to c5 through m3" vm 3 storage volume attach vA c5 /data
check_fails "attach vB (on m1) to c5 (on m2): refused, both named" \
	"storage volume vB is on member m1, instance c5 on member m2" vm 3 storage volume attach vB c5 /data2
check "start c5, a file in vA" sh -c "VESSEL_SOCKET=$T/m1.sock v start c5 && VESSEL_SOCKET=$T/m1.sock v exec c5 -- sh -c 'echo in-volume > /data/f && sync'"
check "snapshot vA through m1 (forwarded, an operation there)" vm 1 storage volume snapshot create vA vs1
check "  ... the snapshot is on m2" test "$(sqlite3 "$T/s2/vessel.db" "SELECT s.name FROM volume_snapshots s JOIN storage_volumes v ON v.id = s.volume_id WHERE v.name = 'vA'")" = vs1
check "snapshot list vA through m3" test "$(vm 3 storage volume snapshot list vA --format csv | cut -d, -f1)" = vs1
check "delete vB through m3 (forwarded to m1)" vm 3 storage volume delete vB
check "  ... gone from m1" vol_not_at 1 vB
check_fails "info vB: not found anywhere" "not found" vm 2 storage volume info vB

# ---- evacuate: snapshots go with the instance and its volumes ----
check "snapshot c5 (snapC)" vm 3 snapshot create c5 snapC
check "m1 imports vimg again; a VM v2 on m2 with a snapshot of its own" sh -c \
	"VESSEL_SOCKET=$T/m1.sock v image import '$T/vmimg.tar' --alias vimg && VESSEL_SOCKET=$T/m1.sock v init vimg v2 --vm --target m2 && VESSEL_SOCKET=$T/m1.sock v snapshot create v2 vs"
check_fails "evacuate m2: refused, v2's snapshots live in its disk" "VM v2 has 1 snapshot.s., which live inside its disk" \
	vm 1 cluster evacuate m2
loc() { [ "$(vm 1 list --format json | jq -r --arg i "$1" '.[] | select(.name == $i) | "\(.location) \(.status)"')" = "$2" ]; }
unmoved() { loc c5 'm2 Running' && loc v2 'm2 Stopped'; }
check "  ... nothing moved: c5 on m2, Running; v2 on m2" unmoved
check "delete v2; a VM v3 from vimg on m2 (stopped, no snapshots)" sh -c \
	"VESSEL_SOCKET=$T/m1.sock v delete --force v2 && VESSEL_SOCKET=$T/m1.sock v init vimg v3 --vm --target m2"
check "evacuate m2" vm 1 cluster evacuate m2
v3_moved() { local l; l=$(vm 1 list --format json | jq -r '.[] | select(.name == "v3") | .location');
	[ -n "$l" ] && [ "$l" != m2 ] && local_has "${l#m}" "$vfp2"; }
vfp2=$(api 1 http://x/1.0/images/vimg | jq -r .metadata.fingerprint)
check "v3 moved off m2, its image on its new member" wait_for "v3 moved" v3_moved
check "c5 moved off m2, Running" wait_for "c5 moved" sh -c \
	"VESSEL_SOCKET=$T/m1.sock v list --format json | jq -e '.[] | select(.name == \"c5\") | .location != \"m2\" and .status == \"Running\"'"
at=$(vm 1 list --format json | jq -r '.[] | select(.name == "c5") | .location')
echo "    (c5 is on $at now)"
check "  ... with its snapshot snapC" test "$(vm 1 snapshot list c5 --format csv | cut -d, -f1)" = snapC
check "  ... its volume vA on $at with the file" test "$(vm 1 exec c5 -- cat /data/f)" = in-volume
check "  ... and vA's snapshot vs1, listed through m3" test "$(vm 3 storage volume snapshot list vA --format csv | cut -d, -f1)" = vs1
check "  ... vA listed on $at" sh -c "VESSEL_SOCKET=$T/m3.sock v storage volume list --format csv | grep -q '^vA,.*,c5,/data,$at\$'"
check "m2 has no instance, no volume, no volume file left" sh -c \
	"[ \"\$(sqlite3 '$T/s2/vessel.db' 'SELECT COUNT(*) FROM instances')/\$(sqlite3 '$T/s2/vessel.db' 'SELECT COUNT(*) FROM storage_volumes')\" = 0/0 ] && ! ls '$T/s2/storage/default' 2>/dev/null | grep -q vA"
check "overwrite the file, then restore vA's snapshot through m2 (c5 stopped)" sh -c \
	"VESSEL_SOCKET=$T/m2.sock; export VESSEL_SOCKET; v exec c5 -- sh -c 'echo changed > /data/f && sync' && v stop --force c5 && v storage volume snapshot restore vA vs1 && v start c5"
check "  ... the file as it was at vs1" test "$(vm 1 exec c5 -- cat /data/f)" = in-volume
check "delete c5, v3 and vA through m2" sh -c "VESSEL_SOCKET=$T/m2.sock v delete --force c5 v3 && VESSEL_SOCKET=$T/m2.sock v storage volume delete vA"
check "delete vimg" vm 3 image delete vimg

for n in 1 2 3; do
	kill "${DPIDS[$n]}" 2>/dev/null
	deadline=$((SECONDS + 60))
	while kill -0 "${DPIDS[$n]}" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
	check "vesseld m$n stops on SIGTERM" wait "${DPIDS[$n]}"
	DPIDS[$n]=
done
finish_cluster
