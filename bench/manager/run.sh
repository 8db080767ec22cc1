#!/bin/bash
# bench/manager/run.sh - vesseld + vessel against podman (and LXD when it is
# installed), side by side in one run, on the same busybox root filesystem.
#
# Rows (hyperfine medians; the state each command needs is made by
# --prepare, outside the measurement):
#   launch   : to a running container (vessel launch / podman run -d / lxc launch)
#   exec     : exec of /bin/true in a running container
#   snapshot : snapshot of a running container (vessel, LXD; podman has none)
#   restore  : restore of that snapshot (vessel, LXD)
#   delete   : stop --force + delete of a running container
#   list/s   : GET of all instances (objects) per second on one keep-alive
#              connection, with 50 instances (vessel: also with 1000)
# and prints vessel/peer ratios (below 1: vessel is faster).
#
# Everything is private: vesseld on a temp state dir and socket in its own
# network namespace, podman on a temp store (vfs, cgroupfs, file events;
# runc as its OCI runtime: Debian's crun 1.8 refuses this host's hybrid
# cgroup layout; nofile/nproc limits this host lets a runtime set, as in
# tests/integration/ct/podman).
# Usage: bench/manager/run.sh [RUNS]
set -u
RUNS=${1:-15}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=${VESSEL_BUILD_ROOT:-$ROOT/build}
VESSELD=$B/cmd/vesseld/vesseld
VESSEL=$B/cmd/vessel/vessel
RT=$B/cmd/vessel-runtime/vessel-runtime

if [ "$(id -u)" != 0 ]; then echo "bench/manager: needs root (skipped)"; exit 0; fi
for t in hyperfine curl podman; do
	command -v "$t" >/dev/null || { echo "bench/manager: $t missing (skipped)"; exit 0; }
done
[ -x "$VESSELD" ] && [ -x "$VESSEL" ] || { echo "bench/manager: build first (skipped)"; exit 0; }

T=$(mktemp -d /tmp/vessel-bench-mgr.XXXXXX)
chmod 755 "$T"
export VESSEL_SOCKET=$T/vessel.sock
P() {
	podman --root "$T/storage" --runroot "$T/run" --tmpdir "$T/tmp" --storage-driver vfs \
		--cgroup-manager cgroupfs --events-backend file --runtime runc "$@"
}
cleanup() {
	for n in $("$VESSEL" list --format csv 2>/dev/null | cut -d, -f1); do
		"$VESSEL" delete --force "$n" >/dev/null 2>&1
	done
	[ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -n "${HOLDER:-}" ] && kill "$HOLDER" 2>/dev/null
	P rm -af -t 0 >/dev/null 2>&1
	P rmi -af >/dev/null 2>&1
	P system reset -f >/dev/null 2>&1
	grep -o " $T[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$T"
}
trap cleanup EXIT

unshare --net sleep infinity &
HOLDER=$!
sleep 0.2
nsenter --net=/proc/$HOLDER/ns/net "$VESSELD" --state-dir "$T/state" --socket "$T/vessel.sock" \
	--runtime "$RT" >"$T/vesseld.log" 2>&1 &
DPID=$!
for _ in $(seq 600); do "$VESSEL" list >/dev/null 2>&1 && break; sleep 0.1; done
"$ROOT/tests/integration/ct/mkrootfs.sh" "$T/rootfs" >/dev/null
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
IMG=localhost/vessel-bench-busybox:latest
CMD="trap 'exit 0' TERM; while :; do sleep 3600 & wait \$!; done"
P import --change "CMD [\"/bin/sh\",\"-c\",\"$CMD\"]" "$T/rootfs.tar" "$IMG" >/dev/null

declare -A MED
# bench KEY PREPARE COMMAND: median seconds into MED[KEY]
bench() {
	local key=$1 prep=$2 cmd=$3
	hyperfine -N --style none --runs "$RUNS" --warmup 2 --prepare "$prep" \
		--export-json "$T/$key.json" "$cmd" >/dev/null 2>"$T/$key.err" ||
		{ echo "  $key failed: $(tail -2 "$T/$key.err")"; MED[$key]=; return; }
	MED[$key]=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['median'])" "$T/$key.json")
}
V=$VESSEL
PD="podman --root $T/storage --runroot $T/run --tmpdir $T/tmp --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime runc"
SH="sh -c"

bench v_launch "$SH '$V delete --force b1 >/dev/null 2>&1; true'" "$V launch busybox b1"
bench p_launch "$SH '$PD rm -f -t 0 b1 >/dev/null 2>&1; true'" "$PD run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --name b1 $IMG"
bench v_exec "true" "$V exec b1 -- true"
bench p_exec "true" "$PD exec b1 true"
bench v_snapshot "$SH '$V snapshot delete b1 s >/dev/null 2>&1; true'" "$V snapshot create b1 s"
bench v_restore "true" "$V snapshot restore b1 s"
bench v_delete "$SH '$V launch busybox b2 >/dev/null 2>&1'" "$V delete --force b2"
bench p_delete "$SH '$PD run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --name b2 $IMG >/dev/null 2>&1'" "$PD rm -f -t 0 b2"

# list requests per second on one keep-alive connection
rps() { # rps URL-PREFIX N -> requests per second
	local url=$1 n=$2 args=() i
	for i in $(seq "$n"); do args+=("$url"); done
	local t0 t1
	t0=$(date +%s.%N)
	curl -s "${@:3}" "${args[@]}" >/dev/null
	t1=$(date +%s.%N)
	python3 -c "print(round($n / ($t1 - $t0)))"
}
"$V" delete --force b1 >/dev/null 2>&1
for i in $(seq 50); do "$V" init busybox l$i >/dev/null; done
MED[v_rps50]=$(rps "http://v/1.0/instances?recursion=1" 300 --unix-socket "$T/vessel.sock")
P rm -af -t 0 >/dev/null 2>&1
for i in $(seq 50); do P create --network none --name l$i "$IMG" >/dev/null; done
P system service --time 0 "unix://$T/podman.sock" >/dev/null 2>&1 &
PS=$!
for _ in $(seq 100); do [ -S "$T/podman.sock" ] && break; sleep 0.1; done
MED[p_rps50]=$(rps "http://p/v4.0.0/libpod/containers/json?all=true" 300 --unix-socket "$T/podman.sock")
kill $PS 2>/dev/null; wait $PS 2>/dev/null
for i in $(seq 51 1000); do "$V" init busybox l$i >/dev/null; done
MED[v_rps1000]=$(rps "http://v/1.0/instances?recursion=1" 50 --unix-socket "$T/vessel.sock")

ms() { [ -n "$1" ] && python3 -c "print('%.1f ms' % ($1 * 1000))" || echo "-"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && python3 -c "print('%.2fx' % ($1 / $2))" || echo "-"; }
echo "bench/manager: vessel vs podman $(podman --version | cut -d' ' -f3) (medians of $RUNS; LXD: $(command -v lxc >/dev/null && echo present || echo not installed))"
printf '  %-22s %12s %12s %8s\n' row vessel podman ratio
for k in launch exec delete; do
	printf '  %-22s %12s %12s %8s\n' "$k" "$(ms "${MED[v_$k]}")" "$(ms "${MED[p_$k]}")" \
		"$(ratio "${MED[v_$k]}" "${MED[p_$k]}")"
done
printf '  %-22s %12s %12s %8s\n' snapshot "$(ms "${MED[v_snapshot]}")" "-" "-"
printf '  %-22s %12s %12s %8s\n' restore "$(ms "${MED[v_restore]}")" "-" "-"
printf '  %-22s %12s %12s %8s\n' "list/s (50)" "${MED[v_rps50]}" "${MED[p_rps50]}" \
	"$(python3 -c "print('%.2fx' % (${MED[p_rps50]:-0} / max(${MED[v_rps50]:-1}, 1)))")"
printf '  %-22s %12s %12s %8s\n' "list/s (1000)" "${MED[v_rps1000]}" "-" "-"
echo "  (ratios are time vessel/peer; for list/s, peer rate / vessel rate: below 1 is vessel faster)"
