#!/bin/bash
# bench/scale/run.sh - an instance leaving its host, vessel against LXD 5.0
# in the same run (issue 13):
#   export : `vessel export` / `lxc export` of the same busybox container
#            holding DATA_MB of data (half random, half text): time and
#            file size, against the raw size of the data (du of the
#            container's own layer / LXD's rootfs)
#   import : `vessel import` / `lxc import` of that file
#   move   : `vessel move c REMOTE:` of a running container between two
#            vesseld (each its own state dir; the remote over TLS), time
#            from the command to the container running there (containers
#            stop, copy and start: this is their downtime); LXD's `lxc move`
#            between two LXD daemons is not set up here (one LXD per host)
#   vmmove : `vessel move v1 REMOTE:` of a running VM (live, through both
#            vesseld; back and forth between the two hosts): time, the
#            VMM's downtime and the guest's own (guest_gap.py: the longest
#            pause between console ticks printed every ~10 ms: a shell builtin read with a 10 ms timeout, no fork)
#   vm     : vessel-vmm live migration with "disks": "copy" (no shared
#            storage) of the recipe guest with a disk writer running:
#            downtime and total time from GET /migrate
# LXD is set up as bench/manager does (peers.sh: its own network/mount
# namespace, subreaper, dir pool, the same busybox root) when installed.
# Usage: bench/scale/run.sh [RUNS]  (medians; default 5)
set -u
RUNS=${1:-5}
DATA_MB=${BENCH_SCALE_DATA_MB:-32}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=${VESSEL_BUILD_ROOT:-$ROOT/build}
VESSELD=$B/cmd/vesseld/vesseld
VESSEL=$B/cmd/vessel/vessel
RT=$B/cmd/vessel-runtime/vessel-runtime
VMM=$B/cmd/vessel-vmm/vessel-vmm
REAPER=$ROOT/bench/manager/subreaper.py

if [ "$(id -u)" != 0 ]; then echo "bench/scale: needs root (skipped)"; exit 0; fi
[ -x "$VESSELD" ] && [ -x "$VESSEL" ] || { echo "bench/scale: build first (skipped)"; exit 0; }
for t in python3 curl zstd; do
	command -v "$t" >/dev/null || { echo "bench/scale: $t missing (skipped)"; exit 0; }
done

T=$(mktemp -d /tmp/vessel-bench-scale.XXXXXX)
chmod 755 "$T"
export LXD_DIR=$T/lxd LXD_CONF=$T/lxdconf VESSEL_CONFIG_DIR=$T/cfg
. "$ROOT/bench/manager/peers.sh"
LXCFS_REAPER=
LXD_REAPER=
HOLDER=
DPID=
DPID2=
NSENTER() { echo nsenter --net=/proc/$NS_PID/ns/net --mount=/proc/$NS_PID/ns/mnt; }
A() { VESSEL_SOCKET=$T/a.sock "$VESSEL" "$@"; }
Bv() { VESSEL_SOCKET=$T/b.sock "$VESSEL" "$@"; }
inns() { nsenter --net=/proc/$HOLDER/ns/net "$@"; }

cleanup() {
	for s in a b; do
		for n in $(VESSEL_SOCKET=$T/$s.sock "$VESSEL" list --format csv 2>/dev/null | cut -d, -f1); do
			VESSEL_SOCKET=$T/$s.sock "$VESSEL" delete --force "$n" >/dev/null 2>&1
		done
	done
	for p in $DPID $DPID2; do
		kill "$p" 2>/dev/null || continue
		for i in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null
	if [ -n "$LXD_REAPER" ]; then
		if lxc info >/dev/null 2>&1; then
			for n in $(lxc list --format csv -c n 2>/dev/null); do lxc delete -f "$n" >/dev/null 2>&1; done
			for f in $(lxc image list --format csv -c f 2>/dev/null); do lxc image delete "$f" >/dev/null 2>&1; done
			lxd shutdown --timeout 60 >/dev/null 2>&1
		fi
		stop_reaper "$LXD_REAPER"
	fi
	stop_reaper "$LXCFS_REAPER"
	peer_ns_stop
	grep -o " $T[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$T"
}
trap cleanup EXIT

now() { date +%s.%N; }
median() { python3 -c "import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(statistics.median(v) if v else '')" "$@"; }
ms() { [ -n "$1" ] && python3 -c "print('%.1f ms' % ($1 * 1000))" || echo "-"; }
mib() { [ -n "$1" ] && python3 -c "print('%.2f MiB' % ($1 / 1048576))" || echo "-"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && python3 -c "print('%.2fx' % ($1 / $2))" || echo "-"; }
declare -A R

# the data: DATA_MB/2 random, DATA_MB/2 of text (compressible); run in the
# container (vessel) or on the host into the rootfs (LXD: no start needed)
fill() { # fill ROOT-PREFIX
	echo "mkdir -p $1/data && dd if=/dev/urandom of=$1/data/random bs=1048576 count=$((DATA_MB / 2)) 2>/dev/null && \
yes 'a line of a log file, with some text in it, the same as the one before' | head -c $((DATA_MB / 2 * 1048576)) >$1/data/text && sync"
}

[ -z "${VESSEL_GUEST_DIR:-}" ] && VESSEL_GUEST_DIR=$("$ROOT/guest/build.sh" --print-dir 2>/dev/null)
export VESSEL_GUEST_DIR

# ---- vessel: two hosts in one private network namespace ----
unshare --net sleep infinity &
HOLDER=$!
for i in $(seq 100); do [ "$(readlink /proc/$HOLDER/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.05; done
inns ip link set lo up
start_vesseld() { # NAME [ARGS]: state dir $T/NAME, socket $T/NAME.sock; sets SPID
	local n=$1
	shift
	# nsenter itself in the background (not through a function): $! is vesseld
	nsenter --net=/proc/$HOLDER/ns/net "$VESSELD" --state-dir "$T/$n" --socket "$T/$n.sock" --runtime "$RT" "$@" \
		>"$T/$n.log" 2>&1 &
	SPID=$!
	for i in $(seq 600); do VESSEL_SOCKET=$T/$n.sock "$VESSEL" list >/dev/null 2>&1 && break; sleep 0.1; done
}
start_vesseld a --listen 127.0.0.1:8444
DPID=$SPID
start_vesseld b --listen 127.0.0.1:8443
DPID2=$SPID
inns "$VESSEL" remote add b https://127.0.0.1:8443 --accept-certificate >/dev/null &&
	inns "$VESSEL" remote add a https://127.0.0.1:8444 --accept-certificate >/dev/null &&
	Bv config trust add "$T/cfg/client.crt" >/dev/null &&
	A config trust add "$T/cfg/client.crt" >/dev/null || { echo "bench/scale: remote setup failed"; exit 0; }
A launch busybox c1 >/dev/null && A exec c1 -- sh -c "$(fill "")" >/dev/null
A stop --force c1 >/dev/null
R[v_raw]=$(du -sb "$T/a/containers/$(sqlite3 "$T/a/vessel.db" "SELECT runtime_id FROM instances WHERE name='c1'")/upper/data" | cut -f1)
ex=() im=()
for r in $(seq "$RUNS"); do
	rm -f "$T/c1.vx"
	t0=$(now); A export c1 "$T/c1.vx" >/dev/null; t1=$(now)
	ex+=("$(python3 -c "print($t1 - $t0)")")
	Bv delete --force c1 >/dev/null 2>&1
	t0=$(now); Bv import "$T/c1.vx" >/dev/null; t1=$(now)
	im+=("$(python3 -c "print($t1 - $t0)")")
done
R[v_export]=$(median "${ex[@]}")
R[v_import]=$(median "${im[@]}")
R[v_size]=$(stat -c %s "$T/c1.vx")
Bv delete --force c1 >/dev/null 2>&1
# move of a running container: A -> B, then back by export/import (B has no remote for A)
mv_t=()
A start c1 >/dev/null
for r in $(seq "$RUNS"); do
	t0=$(now); inns "$VESSEL" --socket "$T/a.sock" move c1 b: >/dev/null; t1=$(now)
	mv_t+=("$(python3 -c "print($t1 - $t0)")")
	[ "$(Bv list --format csv | awk -F, '$1 == "c1" {print $3}')" = Running ] || { echo "  move: c1 not running on B"; break; }
	Bv export c1 "$T/back.vx" --snapshots >/dev/null && Bv delete --force c1 >/dev/null &&
		A import "$T/back.vx" >/dev/null && A start c1 >/dev/null
done
R[v_move]=$(median "${mv_t[@]}")
A delete --force c1 >/dev/null 2>&1
# a running VM through vesseld: live, A -> B -> A ... (B has a remote for A
# too); the guest prints a tick every ~10 ms on its console and
# tests/integration/mgr/guest_gap.py measures the longest pause between
# ticks as they appear in the source's, then the destination's console.log
vmv_t=() vmv_d=() vmv_g=()
GAP=$ROOT/tests/integration/mgr/guest_gap.py
if [ -n "$VESSEL_GUEST_DIR" ] && A launch vessel-guest v1 --vm >/dev/null 2>&1; then
	A exec v1 -- sh -c 'setsid sh -c "mkfifo /tmp/tf; exec 3<>/tmp/tf; i=0; while :; do echo tick \$i >/dev/console; i=\$((i+1)); read -t 0.01 x <&3; done" </dev/null >/dev/null 2>&1 &'
	from=a to=b
	for r in $(seq "$RUNS"); do
		python3 "$GAP" "$T/gap.out" "$T/a/vms/*/console.log" "$T/b/vms/*/console.log" &
		GW=$!
		sleep 1 # ticks seen on the source first (the watcher polls every ms)
		t0=$(now); inns "$VESSEL" --socket "$T/$from.sock" move v1 "$to:" >"$T/vmove.out" 2>&1 || { kill $GW; cat "$T/vmove.out"; break; }; t1=$(now)
		sleep 1 # ticks seen on the destination
		kill $GW; wait $GW
		vmv_t+=("$(python3 -c "print($t1 - $t0)")")
		vmv_d+=("$(sed -n 's/.*downtime \([0-9.]*\) ms.*/\1/p' "$T/vmove.out" | head -1)")
		vmv_g+=("$(sed -n 's/^gap_ms //p' "$T/gap.out")")
		if [ "$from" = a ]; then from=b to=a; else from=a to=b; fi
	done
	VESSEL_SOCKET=$T/$from.sock "$VESSEL" delete --force v1 >/dev/null 2>&1
fi
R[v_vmmove]=$(median "${vmv_t[@]}")
R[v_vmdown]=$(median "${vmv_d[@]}")
R[v_vmgap]=$(median "${vmv_g[@]}")

# ---- LXD 5.0 ----
LXD_NOTE="not installed"
lxd_setup() {
	command -v lxd >/dev/null && command -v lxc >/dev/null && command -v lxcfs >/dev/null || return 1
	[ "${BENCH_LXD:-1}" != 0 ] || { LXD_NOTE="skipped (BENCH_LXD=0)"; return 1; }
	LXD_NOTE="did not start"
	peer_ns || return 1
	mkdir -p "$LXD_DIR" "$LXD_CONF" /var/lib/lxcfs
	if ! mountpoint -q /var/lib/lxcfs; then
		"$REAPER" "$T/lxcfs.pid" lxcfs /var/lib/lxcfs >"$T/lxcfs.log" 2>&1 &
		LXCFS_REAPER=$!
	fi
	$(NSENTER) "$REAPER" "$T/lxd.pid" lxd --group lxd >"$T/lxd.log" 2>&1 &
	LXD_REAPER=$!
	lxd waitready --timeout 300 || { echo "  lxd did not start: $(tail -3 "$T/lxd.log")"; return 1; }
	printf 'config:\n  images.auto_update_interval: "0"\nstorage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n' |
		lxd init --preseed >/dev/null || { echo "  lxd init --preseed failed"; return 1; }
	# the same busybox root as vessel's built-in image
	mkdir -p "$T/lxdimg/rootfs/bin" "$T/lxdimg/rootfs/sbin" "$T/lxdimg/rootfs/etc"
	cp /bin/busybox "$T/lxdimg/rootfs/bin/busybox"
	for a in $(/bin/busybox --list); do ln -sf busybox "$T/lxdimg/rootfs/bin/$a"; done
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$T/lxdimg/rootfs/etc/passwd"
	printf '#!/bin/sh\ntrap "exit 0" TERM PWR\nwhile :; do sleep 3600 & wait $!; done\n' >"$T/lxdimg/rootfs/sbin/init"
	chmod 755 "$T/lxdimg/rootfs/sbin/init"
	printf 'architecture: %s\ncreation_date: %s\nproperties:\n  description: busybox (vessel bench)\n' \
		"$(uname -m)" "$(date +%s)" >"$T/lxdimg/metadata.yaml"
	tar -C "$T/lxdimg" -czf "$T/meta.tar.gz" metadata.yaml
	tar -C "$T/lxdimg/rootfs" -czf "$T/rootfs.tar.gz" .
	lxc image import "$T/meta.tar.gz" "$T/rootfs.tar.gz" --alias bbox >/dev/null ||
		{ echo "  lxc image import failed"; return 1; }
	LXD_NOTE="LXD $(lxd --version), dir pool"
}
if lxd_setup; then
	XROOT=$LXD_DIR/storage-pools/default/containers/x1/rootfs
	lxc init bbox x1 -q >/dev/null 2>&1 && sh -c "$(fill "$XROOT")"
	R[x_raw]=$(du -sb "$XROOT/data" | cut -f1)
	ex=() im=()
	for r in $(seq "$RUNS"); do
		rm -f "$T/x1.tar.gz"
		t0=$(now); lxc export x1 "$T/x1.tar.gz" -q >/dev/null; t1=$(now)
		ex+=("$(python3 -c "print($t1 - $t0)")")
		lxc delete -f x2 >/dev/null 2>&1
		t0=$(now); lxc import "$T/x1.tar.gz" x2 -q >/dev/null 2>&1 || lxc import "$T/x1.tar.gz" -q >/dev/null; t1=$(now)
		im+=("$(python3 -c "print($t1 - $t0)")")
	done
	R[x_export]=$(median "${ex[@]}")
	R[x_import]=$(median "${im[@]}")
	R[x_size]=$(stat -c %s "$T/x1.tar.gz")
fi

# ---- vessel-vmm: live migration with disk copy ----
VM_NOTE=
if [ -x "$VMM" ] && [ -n "$VESSEL_GUEST_DIR" ] && [ -f "$VESSEL_GUEST_DIR/disk.qcow2" ]; then
	VESSEL_GUEST_DIR=$VESSEL_GUEST_DIR VESSEL_VESSEL_VMM=$VMM python3 "$HERE/vm_move.py" "$RUNS" "$T/vm" \
		>"$T/vm.out" 2>&1 || VM_NOTE="failed: $(tail -2 "$T/vm.out" | tr '\n' ' ')"
	R[vm_down]=$(sed -n 's/^downtime //p' "$T/vm.out")
	R[vm_total]=$(sed -n 's/^total //p' "$T/vm.out")
	R[vm_disk]=$(sed -n 's/^disk_bytes //p' "$T/vm.out")
else
	VM_NOTE="no guest images (make guest)"
fi

echo "bench/scale: vessel vs $LXD_NOTE, a busybox container with ${DATA_MB} MiB of data (medians of $RUNS)"
F='  %-34s %14s %14s %10s\n'
printf "$F" row vessel LXD "v/LXD"
printf "$F" "export time" "$(ms "${R[v_export]}")" "$(ms "${R[x_export]:-}")" "$(ratio "${R[v_export]}" "${R[x_export]:-}")"
printf "$F" "import time" "$(ms "${R[v_import]}")" "$(ms "${R[x_import]:-}")" "$(ratio "${R[v_import]}" "${R[x_import]:-}")"
printf "$F" "file size" "$(mib "${R[v_size]}")" "$(mib "${R[x_size]:-}")" "$(ratio "${R[v_size]}" "${R[x_size]:-}")"
printf "$F" "raw data size (du of /data)" "$(mib "${R[v_raw]}")" "$(mib "${R[x_raw]:-}")" "-"
printf "$F" "file / raw" "$(ratio "${R[v_size]}" "${R[v_raw]}")" "$(ratio "${R[x_size]:-}" "${R[x_raw]:-}")" "-"
printf "$F" "move of a running container" "$(ms "${R[v_move]}")" "-" "-"
echo "  (LXD's file holds the whole root (busybox and /data), vessel's the container's own layer"
echo "   (/data) and a reference to the image, which the importing host must have)"
echo "  (move: stop, copy over TLS, start on the other vesseld; the whole time is the container's"
echo "   downtime. LXD's lxc move between two LXD hosts is not set up by this bench.)"
printf "$F" "live move of a running VM (vesseld)" "$(ms "${R[v_vmmove]}")" "-" "-"
printf "$F" "  its downtime (VMM: pause to R)" "${R[v_vmdown]:+${R[v_vmdown]} ms}" "-" "-"
printf "$F" "  its downtime seen by the guest" "${R[v_vmgap]:+${R[v_vmgap]} ms}" "-" "-"
echo "  (VM move through two vesseld, the destination a TLS remote: the VMM's migration with its disks"
echo "   copied, relayed by both vesseld and the CLI; the time is the command's, from its start to the"
echo "   VM running there. The guest's figure is the longest pause between its console ticks, ~10 ms"
echo "   apart, as they reach the hosts' console.log: it includes one tick interval of the guest."
echo "   The peer is vessel-vmm's own migration below, between two VMMs on unix sockets.)"
if [ -n "${R[vm_down]:-}" ]; then
	printf "  VM live move (vessel-vmm, disks copy): downtime %s, total %s, %s of disk data\n" \
		"${R[vm_down]} ms" "${R[vm_total]} ms" "$(mib "${R[vm_disk]}")"
else
	echo "  VM live move: ${VM_NOTE:-n/a}"
fi
exit 0
