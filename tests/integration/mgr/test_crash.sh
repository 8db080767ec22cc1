#!/bin/bash
# test_crash.sh - `kill -9` of vesseld: instances keep running, and the
# next vesseld reconciles the database with the host.  While the daemon is
# dead, one container dies, and a container of no instance appears (what a
# crash between the runtime's create and the database commit would leave);
# another kill lands in the middle of a launch.  After the restart: every
# instance is listed once, the survivor runs with the same pid, the dead
# one is Stopped with its leftovers removed, the orphan is gone, everything
# still works, and after deleting all, the host's objects are as before.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 missing"; exit 77; }

before=$(host_objects)
start_daemon || exit 1
check "launch r1" v launch busybox r1
check "launch r2" v launch busybox r2
check "init s1" v init busybox s1
pid1=$(v info r1 --format json | jq .pid)
pid2=$(v info r2 --format json | jq .pid)
id2=$(runtime_id r2)

kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
check "r1 survives kill -9 of vesseld" kill -0 "$pid1"
check "r2 survives kill -9 of vesseld" kill -0 "$pid2"
check_fails "CLI: daemon not running" "cannot reach vesseld" v list

# while vesseld is down: r2's container dies; an orphan container appears
kill -9 "$pid2"
ghost=vessel-00000000000000aa
mkdir -p "$STATE/containers/$ghost"
jq --arg cg "/$ghost" '.linux.cgroupsPath = $cg' "$STATE/containers/$(runtime_id r1)/config.json" \
	>"$STATE/containers/$ghost/config.json"
check "orphan container created behind vesseld's back" sh -c \
	"'$RUNTIME' --root '$STATE/runtime' create --bundle '$STATE/containers/$ghost' $ghost </dev/null >/dev/null 2>&1 && '$RUNTIME' --root '$STATE/runtime' start $ghost"

start_daemon || exit 1
check "three instances, each listed once" test "$(v list --format csv | cut -d, -f1 | sort | tr '\n' ' ')" = "r1 r2 s1 "
check "r1 still Running with the same pid" test "$(v info r1 --format json | jq .pid)" = "$pid1"
check "r2 reconciled to Stopped" test "$(status r2)" = Stopped
check "r2's runtime state removed" test ! -e "$STATE/runtime/$id2"
check "r2's root unmounted" sh -c "! grep -q '$id2' /proc/self/mountinfo"
check "r2's cgroup removed" test -z "$(find /sys/fs/cgroup -maxdepth 2 -name "$id2")"
check "orphan container removed" test ! -e "$STATE/runtime/$ghost"
check "orphan directory removed" test ! -e "$STATE/containers/$ghost"
check "orphan cgroup removed" test -z "$(find /sys/fs/cgroup -maxdepth 2 -name "$ghost")"
check "exec in r1 after the restart" test "$(v exec r1 -- echo alive)" = alive
check "r2 starts again" v start r2
check "s1 starts" v start s1

# kill -9 in the middle of a launch: whatever the outcome, one r3 at most,
# and it can be used or deleted
v launch busybox r3 >/dev/null 2>&1 &
LPID=$!
wait_for "r3 row" sh -c "[ -n \"\$(sqlite3 '$STATE/vessel.db' \"SELECT id FROM instances WHERE name = 'r3'\")\" ]"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
wait "$LPID" 2>/dev/null
start_daemon || exit 1
check "r3 listed once after a kill mid-launch" test "$(v list --format csv | grep -c '^r3,')" = 1
st=$(status r3)
if [ "$st" = Stopped ]; then
	check "r3 starts after the interrupted launch" v start r3
fi
check "r3 runs" test "$(v exec r3 -- echo ok)" = ok

# kill -9 in the middle of a start: one r4, Running or Stopped, usable
check "init r4" v init busybox r4
v start r4 >/dev/null 2>&1 &
LPID=$!
wait_for "r4's runtime state" sh -c "[ -e '$STATE/runtime/$(runtime_id r4)' ] || [ \"\$(v list --format csv 2>/dev/null | awk -F, '\$1 == \"r4\" {print \$3}')\" = Running ]"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
wait "$LPID" 2>/dev/null
start_daemon || exit 1
check "r4 listed once after a kill mid-start" test "$(v list --format csv | grep -c '^r4,')" = 1
[ "$(status r4)" = Stopped ] && check "r4 starts after the interrupted start" v start r4
check "r4 runs" test "$(v exec r4 -- echo ok)" = ok

# kill -9 in the middle of an image import: a two-layer OCI layout, the
# second layer large (96 MiB of random data, uncompressed tar)
L=$T/big
mkdir -p "$L/blobs/sha256" "$T/bl1" "$T/bl2"
"$HERE/../ct/mkrootfs.sh" "$T/bl1" >/dev/null || exit 1
head -c $((96 << 20)) /dev/urandom >"$T/bl2/payload"
tar -C "$T/bl1" -cf "$T/bl1.tar" .
tar -C "$T/bl2" -cf "$T/bl2.tar" .
blob() { # blob FILE -> "HEX SIZE", stored under blobs/
	local h
	h=$(sha256sum "$1" | cut -d' ' -f1)
	cp "$1" "$L/blobs/sha256/$h"
	echo "$h $(stat -c %s "$1")"
}
read -r h1 s1 < <(blob "$T/bl1.tar")
read -r h2 s2 < <(blob "$T/bl2.tar")
jq -n --arg a "sha256:$h1" --arg b "sha256:$h2" '{architecture:"amd64", os:"linux",
	config:{Cmd:["/bin/sh","-c","trap \"exit 0\" TERM; while :; do sleep 3600 & wait $!; done"]},
	rootfs:{type:"layers", diff_ids:[$a, $b]}}' >"$T/bigcfg.json"
read -r hc sc < <(blob "$T/bigcfg.json")
jq -n --arg hc "$hc" --argjson sc "$sc" --arg h1 "$h1" --argjson s1 "$s1" --arg h2 "$h2" --argjson s2 "$s2" \
	'{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
	  config:{mediaType:"application/vnd.oci.image.config.v1+json", digest:("sha256:"+$hc), size:$sc},
	  layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar", digest:("sha256:"+$h1), size:$s1},
	          {mediaType:"application/vnd.oci.image.layer.v1.tar", digest:("sha256:"+$h2), size:$s2}]}' >"$T/bigman.json"
read -r hm sm < <(blob "$T/bigman.json")
jq -n --arg hm "$hm" --argjson sm "$sm" \
	'{schemaVersion:2, manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json", digest:("sha256:"+$hm), size:$sm}]}' >"$L/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"
images_before=$(v image list --format csv | wc -l)
v image import "$L" --alias big >/dev/null 2>&1 &
LPID=$!
wait_for "the first layer unpacked" test -d "$STATE/images/layers/$h1"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
wait "$LPID" 2>/dev/null
start_daemon || exit 1
n_big=$(v image list --format csv | grep -c . || true)
check "no half image after a kill mid-import ($n_big images)" \
	sh -c "[ $n_big = $images_before ] || [ $n_big = $((images_before + 1)) ]"
check "no import left in the store's tmp/" test -z "$(ls -A "$STATE/images/tmp")"
# layers/ holds exactly the layers the images list
layers_listed() { sqlite3 "$STATE/vessel.db" 'SELECT DISTINCT digest FROM image_layers' | sed 's/^sha256://' | sort; }
layers_on_disk() { ls "$STATE/images/layers" | sort; }
check "no layer left that no image lists" test "$(layers_on_disk)" = "$(layers_listed)"
check "the import can be redone" v image import "$L" --alias big2
check "one image of it, not two" test "$(v image list --format csv | wc -l)" = $((images_before + 1))
check "launch from it" v launch big2 r5
check "r5 runs with the large layer" test "$(v exec r5 -- stat -c %s /payload)" = $((96 << 20))
check "delete r5 and the image" sh -c "v delete --force r5 && v image delete big2"
check "its layers are gone" sh -c "test ! -e '$STATE/images/layers/$h1' && test ! -e '$STATE/images/layers/$h2'"

check "delete everything" v delete --force r1 r2 r3 r4 s1
check "list empty" test -z "$(v list --format csv)"
stop_daemon
after=$(host_objects)
check "no host object left (mounts, cgroups, processes)" test "$after" = "$before"
[ "$after" = "$before" ] || diff <(echo "$before") <(echo "$after") | head -20 | sed 's/^/    /'

check "no container state left" test -z "$(find "$STATE/runtime" "$STATE/containers" -mindepth 1)"
finish
