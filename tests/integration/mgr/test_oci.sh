#!/bin/bash
# test_oci.sh - OCI image import: an image made by podman (`podman import`
# of a busybox rootfs into a private store, then `podman save --format
# oci-archive`) is uploaded with `vessel image import FILE`, its config
# honoured (Cmd, Env, WorkingDir); the same archive turned into a layout
# by `skopeo copy` imports from a directory; a hand-made two-layer layout
# checks whiteouts (a deleted file, an opaque directory) and User; a
# corrupted blob is refused and registers nothing; images in use cannot
# be deleted, and a deleted image's layers go.  No network is used.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
command -v podman >/dev/null || { echo "SKIP: podman missing"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }

P() {
	timeout -k 5 120 podman --root "$T/storage" --runroot "$T/run" --tmpdir "$T/tmp" \
		--storage-driver vfs --cgroup-manager cgroupfs --events-backend file "$@"
}
podman_cleanup() {
	P rmi -af >/dev/null 2>&1
	P system reset -f >/dev/null 2>&1
}
trap 'podman_cleanup; cleanup' EXIT

"$HERE/../ct/mkrootfs.sh" "$T/rootfs" >/dev/null || exit $?
mkdir -p "$T/rootfs/srv"
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
IMG=localhost/vessel-mgr-oci-test:latest
check "podman import" P import --change 'CMD ["/bin/sh","-c","trap \"exit 0\" TERM; while :; do sleep 3600 & wait $!; done"]' \
	--change 'ENV GREETING=hello' --change 'WORKDIR /srv' "$T/rootfs.tar" "$IMG"
check "podman save --format oci-archive" P save --format oci-archive -o "$T/podman.tar" "$IMG"

start_daemon --busybox none || exit 1
check "vessel image import (upload)" v image import "$T/podman.tar" --alias ptest
fp=$(v image info ptest --format json | jq -r .fingerprint)
check "launch from the podman image" v launch ptest p1
check "Env honoured" test "$(v exec p1 -- sh -c 'echo $GREETING')" = hello
check "WorkingDir honoured" test "$(v exec p1 -- pwd)" = /srv
check "Cmd honoured (PID 1)" sh -c "v exec p1 -- cat /proc/1/cmdline | tr '\0' ' ' | grep -q 'sleep 3600'"
check "second import: same image" v image import "$T/podman.tar" --alias ptest2
check "no duplicate image" test "$(v image list --format csv | wc -l)" = 1
check "both aliases on it" test "$(v image info ptest2 --format json | jq -r .fingerprint)" = "$fp"

if command -v skopeo >/dev/null; then
	check "skopeo copy to an OCI layout" skopeo copy --quiet "oci-archive:$T/podman.tar" "oci:$T/layout:latest"
	check "import an OCI layout directory" v image import "$T/layout" --alias fromdir
	check "launch from the layout image" v launch fromdir p2
	check "it runs" test "$(v exec p2 -- sh -c 'echo $GREETING')" = hello
	check "delete p2" v delete --force p2
fi

# a two-layer layout with whiteouts, made by hand (image-spec layer.md)
L=$T/wh
mkdir -p "$L/blobs/sha256" "$T/l1/etc" "$T/l1/opt/dir" "$T/l2/etc" "$T/l2/opt/dir"
cp -a "$T/rootfs/." "$T/l1/"
echo old >"$T/l1/etc/old"
echo a >"$T/l1/opt/dir/a"
echo b >"$T/l1/opt/dir/b"
: >"$T/l2/etc/.wh.old"
: >"$T/l2/opt/dir/.wh..wh..opq"
echo c >"$T/l2/opt/dir/c"
blob() { # blob FILE -> "sha256:HEX SIZE", stored under blobs/
	local h s
	h=$(sha256sum "$1" | cut -d' ' -f1)
	s=$(stat -c %s "$1")
	cp "$1" "$L/blobs/sha256/$h"
	echo "sha256:$h $s"
}
tar -C "$T/l1" -czf "$T/l1.tgz" .
tar -C "$T/l2" -czf "$T/l2.tgz" .
read -r d1 s1 < <(blob "$T/l1.tgz")
read -r d2 s2 < <(blob "$T/l2.tgz")
jq -n '{architecture:"amd64", os:"linux", config:{User:"65534", Cmd:["/bin/sh","-c","trap \"exit 0\" TERM; while :; do sleep 3600 & wait $!; done"]}, rootfs:{type:"layers", diff_ids:[]}}' >"$T/config.json"
read -r dc sc < <(blob "$T/config.json")
jq -n --arg dc "$dc" --argjson sc "$sc" --arg d1 "$d1" --argjson s1 "$s1" --arg d2 "$d2" --argjson s2 "$s2" \
	'{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
	  config:{mediaType:"application/vnd.oci.image.config.v1+json", digest:$dc, size:$sc},
	  layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar+gzip", digest:$d1, size:$s1},
	          {mediaType:"application/vnd.oci.image.layer.v1.tar+gzip", digest:$d2, size:$s2}]}' >"$T/manifest.json"
read -r dm sm < <(blob "$T/manifest.json")
jq -n --arg dm "$dm" --argjson sm "$sm" \
	'{schemaVersion:2, manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json", digest:$dm, size:$sm}]}' >"$L/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"
# corrupted blobs: refused, nothing registered, no layer left unpacked
cp -a "$L" "$T/bad"
printf 'X' | dd of="$T/bad/blobs/sha256/${d2#sha256:}" bs=1 seek=20 conv=notrunc 2>/dev/null
n_before=$(v image list --format csv | wc -l)
check_fails "corrupted layer refused" "does not match its descriptor" v image import "$T/bad" --alias bad
check "nothing registered" test "$(v image list --format csv | wc -l)" = "$n_before"
check "no layer of the failed import left" test ! -e "$STATE/images/layers/${d1#sha256:}"
cp -a "$L" "$T/bad2"
printf 'X' | dd of="$T/bad2/blobs/sha256/${dc#sha256:}" bs=1 seek=5 conv=notrunc 2>/dev/null
check_fails "corrupted config refused" "does not match its descriptor" v image import "$T/bad2"
check "import the two-layer layout" v image import "$L" --alias wh
fpwh=$(v image info wh --format json | jq -r .fingerprint)
check "its layout is kept for cluster members, each blob a copy, not a link to the imported directory's" \
	sh -c "for b in $fpwh ${d1#sha256:} ${d2#sha256:} ${dc#sha256:}; do cmp -s '$STATE/images/oci/$fpwh/blobs/sha256/'\$b '$L/blobs/sha256/'\$b && [ \"\$(stat -c %h '$STATE/images/oci/$fpwh/blobs/sha256/'\$b)\" = 1 ] || exit 1; done"
check "launch it" v launch wh w1
check "whiteout: /etc/old is gone" v exec w1 -- sh -c '! test -e /etc/old'
check "opaque dir: only the upper layer's file" test "$(v exec w1 -- ls /opt/dir | tr '\n' ' ')" = "c "
check "User honoured (PID 1 runs as 65534)" sh -c "v exec w1 -- grep '^Uid:' /proc/1/status | grep -q 65534"
check "layers shared: the base layer is unpacked once" test -d "$STATE/images/layers/${d1#sha256:}"

check_fails "image in use cannot be deleted" "is used by instance" v image delete wh
check "delete instances" v delete --force p1 w1
check "delete the whiteout image" v image delete wh
check "its own layer is removed" test ! -e "$STATE/images/layers/${d2#sha256:}"
check "  ... and its kept layout" test ! -e "$STATE/images/oci/$fpwh"
check "alias create/delete" sh -c "v image alias create extra ptest && v image alias delete extra"
check "delete the podman image" v image delete "$fp"
stop_daemon
finish
