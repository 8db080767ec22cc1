#!/bin/bash
# bench/manager/run.sh - vesseld + vessel against podman, LXD 5.0 and
# libvirt 9 (and plain QEMU for VMs), side by side in one run, on the same
# busybox root filesystem and the same guest kernel.
#
# Container rows (hyperfine medians; the state each command needs is made
# by --prepare, outside the measurement):
#   launch   : to a running container (vessel launch / podman run -d / lxc launch)
#   exec     : exec of /bin/true in a running container
#   snapshot : snapshot of a running container (vessel, LXD; podman has none)
#   restore  : restore of that snapshot (vessel, LXD)
#   delete   : stop --force + delete of a running container
#   list/s   : GET of all instances (objects) per second on one keep-alive
#              connection, with 50 instances (vessel and podman: also with
#              1000; LXD: BENCH_LXD_INSTANCES, default 50: each LXD instance
#              on a dir pool is a full copy of the rootfs)
# VM rows (vm_bench.py): launch to the guest's userspace and to its
# poweroff; vessel launch --vm (n/a while vesseld has no VM driver),
# vessel-vmm directly, libvirt's virsh create, plain QEMU.
# Prints medians and vessel/peer ratios (below 1: vessel is faster).
#
# Everything is private: vesseld on a temp state dir and socket in its own
# network namespace; podman on a temp store (vfs, cgroupfs, file events;
# runc as its OCI runtime: Debian's crun 1.8 refuses this host's hybrid
# cgroup layout; nofile/nproc limits this host lets a runtime set, as in
# tests/integration/ct/podman).  The peer daemons (no systemd here) run in
# one private network and mount namespace (sysfs remounted for it, the
# host's cgroup tree kept), each under subreaper.py: lxcfs, `lxd --group
# lxd` with LXD_DIR in the temp dir, set up by `lxd init --preseed` with a
# dir pool and a NAT bridge on 10.213.77.0/24 that leads nowhere, and a
# busybox image imported from meta.tar.gz + rootfs.tar.gz; virtlogd and
# libvirtd (transient domains only).  The cleanup trap deletes what they
# made (LXD's instances, images, network, and the nft table / iptables
# rules LXD leaves behind after `lxc network delete`), stops every daemon
# it started, and compares the host's links, nft ruleset, iptables rules,
# mounts and peer processes with what it found at the start.
# Usage: bench/manager/run.sh [RUNS]
# Env: BENCH_LXD=0 / BENCH_LIBVIRT=0 skip a peer; BENCH_LXD_INSTANCES (50);
# BENCH_VM_RUNS (5); BENCH_LIST_N (1000): vessel instances of the second list/s row;
# BENCH_ROWS=list: the list/s rows only (vessel and LXD; no podman, no VMs).
set -u
RUNS=${1:-15}
VM_RUNS=${BENCH_VM_RUNS:-5}
LXD_N=${BENCH_LXD_INSTANCES:-50}
LIST_N=${BENCH_LIST_N:-1000}
ONLY_LIST=0
[ "${BENCH_ROWS:-all}" = list ] && ONLY_LIST=1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=${VESSEL_BUILD_ROOT:-$ROOT/build}
VESSELD=$B/cmd/vesseld/vesseld
VESSEL=$B/cmd/vessel/vessel
RT=$B/cmd/vessel-runtime/vessel-runtime
VMM=$B/cmd/vessel-vmm/vessel-vmm
REAPER=$HERE/subreaper.py

if [ "$(id -u)" != 0 ]; then echo "bench/manager: needs root (skipped)"; exit 0; fi
for t in hyperfine curl podman python3; do
	command -v "$t" >/dev/null || { echo "bench/manager: $t missing (skipped)"; exit 0; }
done
[ -x "$VESSELD" ] && [ -x "$VESSEL" ] || { echo "bench/manager: build first (skipped)"; exit 0; }

T=$(mktemp -d /tmp/vessel-bench-mgr.XXXXXX)
chmod 755 "$T"
export VESSEL_SOCKET=$T/vessel.sock
export LXD_DIR=$T/lxd LXD_CONF=$T/lxdconf
P() {
	podman --root "$T/storage" --runroot "$T/run" --tmpdir "$T/tmp" --storage-driver vfs \
		--cgroup-manager cgroupfs --events-backend file --runtime runc "$@"
}

# the host as found, compared at the end: links, firewall rules, mounts and
# processes of the peers (other work on the host may change the rest)
host_state() {
	ip -o link | sed -E 's/^[0-9]+: //; s/[:@].*//' | grep -E 'lxd|virbr|vnet|veth|vbench' | sort
	nft list ruleset 2>/dev/null
	iptables-save 2>/dev/null | grep -vE '^#|^:' | sort
	grep -E 'lxc|lxd|libvirt|/tmp/vessel-bench-mgr' /proc/self/mountinfo | awk '{print $5, $9}' | sort
	# (pgrep -x matches names of at most 15 characters: one name per call)
	{ for n in lxd lxcfs libvirtd virtlogd; do pgrep -a -x "$n"; done; pgrep -a -f '^dnsmasq .*(lxd|libvirt)|^/usr/bin/qemu-system-riscv64 .*guest=vbench-'; } |
		sed 's/^[0-9]* //' | sort
}
host_state >"$T/host.before"

. "$HERE/peers.sh"
LXCFS_REAPER=
LXD_REAPER=
# nsenter itself (not the ns function) in the background: $! is then the
# subreaper, which passes our SIGTERM on
NSENTER() { echo nsenter --net=/proc/$NS_PID/ns/net --mount=/proc/$NS_PID/ns/mnt; }

cleanup_lxd() {
	[ -n "$LXD_REAPER" ] || return 0
	if lxc info >/dev/null 2>&1; then
		for n in $(lxc list --format csv -c n 2>/dev/null); do lxc delete -f "$n" >/dev/null 2>&1; done
		for f in $(lxc image list --format csv -c f 2>/dev/null); do lxc image delete "$f" >/dev/null 2>&1; done
		lxc profile device remove default eth0 >/dev/null 2>&1
		lxc network delete vbenchbr0 >/dev/null 2>&1
		lxd shutdown --timeout 60 >/dev/null 2>&1
	fi
	stop_reaper "$LXD_REAPER"
	LXD_REAPER=
	# dnsmasq outlives `lxd shutdown` (by design, for restarts)
	for p in $(pgrep -f -- "--dhcp-leasefile=$LXD_DIR/" 2>/dev/null); do kill "$p" 2>/dev/null; done
	# what `lxc network delete` leaves: the empty nft table (or iptables rules)
	if [ -n "$NS_PID" ]; then
		lxd_fw() { ns sh -c 'nft list ruleset 2>/dev/null | grep -c "table .* lxd"; iptables-save 2>/dev/null | grep -c "generated for LXD"' | awk '{s += $1} END {print s}'; }
		LXD_LEFT=$(lxd_fw)
		ns nft delete table inet lxd 2>/dev/null
		for tbl in filter nat mangle; do
			ns iptables -t $tbl -S 2>/dev/null | grep -- '--comment "generated for LXD network' |
				sed 's/^-A /-D /' | while read -r rule; do
				eval "ns iptables -t $tbl $rule" 2>/dev/null
			done
		done
		LXD_LEFT_AFTER=$(lxd_fw)
	fi
}
cleanup() {
	for n in $("$VESSEL" list --format csv 2>/dev/null | cut -d, -f1); do
		"$VESSEL" delete --force "$n" >/dev/null 2>&1
	done
	[ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -n "${HOLDER:-}" ] && kill "$HOLDER" 2>/dev/null
	[ -n "${PS:-}" ] && kill "$PS" 2>/dev/null
	P rm -af -t 0 >/dev/null 2>&1
	P rmi -af >/dev/null 2>&1
	P system reset -f >/dev/null 2>&1
	cleanup_lxd
	libvirt_stop
	stop_reaper "$LXCFS_REAPER"
	peer_ns_stop
	grep -o " $T[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
	host_state >"$T/host.after"
	if cmp -s "$T/host.before" "$T/host.after"; then
		echo "  host left as found (links, nft/iptables rules, mounts, peer daemons compared)"
	else
		echo "  host NOT as found:"
		diff "$T/host.before" "$T/host.after" | sed 's/^/    /' | head -20
	fi
	rm -rf "$T"
}
trap cleanup EXIT

[ -z "${VESSEL_GUEST_DIR:-}" ] && VESSEL_GUEST_DIR=$("$ROOT/guest/build.sh" --print-dir 2>/dev/null)
export VESSEL_GUEST_DIR
# the VM driver's options, when this vesseld has one
VMARGS=()
if "$VESSELD" --help 2>&1 | grep -q -- '--guest-image' && [ -f "${VESSEL_GUEST_DIR:-}/Image" ]; then
	VMARGS=(--guest-image "$VESSEL_GUEST_DIR")
	[ -x "$VMM" ] && VMARGS+=(--vmm "$VMM")
fi
unshare --net sleep infinity &
HOLDER=$!
sleep 0.2
nsenter --net=/proc/$HOLDER/ns/net "$VESSELD" --state-dir "$T/state" --socket "$T/vessel.sock" \
	--runtime "$RT" "${VMARGS[@]}" >"$T/vesseld.log" 2>&1 &
DPID=$!
for _ in $(seq 600); do "$VESSEL" list >/dev/null 2>&1 && break; sleep 0.1; done
"$ROOT/tests/integration/ct/mkrootfs.sh" "$T/rootfs" >/dev/null
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
IMG=localhost/vessel-bench-busybox:latest
CMD="trap 'exit 0' TERM; while :; do sleep 3600 & wait \$!; done"
P import --change "CMD [\"/bin/sh\",\"-c\",\"$CMD\"]" "$T/rootfs.tar" "$IMG" >/dev/null 2>&1

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

if [ "$ONLY_LIST" = 0 ]; then
bench v_launch "$SH '$V delete --force b1 >/dev/null 2>&1; true'" "$V launch busybox b1"
bench p_launch "$SH '$PD rm -f -t 0 b1 >/dev/null 2>&1; true'" "$PD run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --name b1 $IMG"
bench v_exec "true" "$V exec b1 -- true"
bench p_exec "true" "$PD exec b1 true"
bench v_snapshot "$SH '$V snapshot delete b1 s >/dev/null 2>&1; true'" "$V snapshot create b1 s"
bench v_restore "true" "$V snapshot restore b1 s"
bench v_delete "$SH '$V launch busybox b2 >/dev/null 2>&1'" "$V delete --force b2"
bench p_delete "$SH '$PD run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --name b2 $IMG >/dev/null 2>&1'" "$PD rm -f -t 0 b2"
fi

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
if [ "$ONLY_LIST" = 0 ]; then
P rm -af -t 0 >/dev/null 2>&1
for i in $(seq 50); do P create --network none --name l$i "$IMG" >/dev/null; done
P system service --time 0 "unix://$T/podman.sock" >/dev/null 2>&1 &
PS=$!
for _ in $(seq 100); do [ -S "$T/podman.sock" ] && break; sleep 0.1; done
MED[p_rps50]=$(rps "http://p/v4.0.0/libpod/containers/json?all=true" 300 --unix-socket "$T/podman.sock")
kill $PS 2>/dev/null
wait $PS 2>/dev/null
PS=
fi
for i in $(seq 51 "$LIST_N"); do "$V" init busybox l$i >/dev/null; done
MED[v_rps1000]=$(rps "http://v/1.0/instances?recursion=1" 50 --unix-socket "$T/vessel.sock")
MED[v_rps1000u]=$(rps "http://v/1.0/instances?recursion=0" 300 --unix-socket "$T/vessel.sock")
# the vessel instances go now: the VM rows run next to an idle vesseld
for i in $(seq "$LIST_N"); do echo "l$i"; done | xargs -n 100 "$V" delete >/dev/null 2>&1

# ---- LXD 5.0 ----
LXD_NOTE="not installed"
lxd_setup() {
	command -v lxd >/dev/null && command -v lxc >/dev/null && command -v lxcfs >/dev/null || return 1
	[ "${BENCH_LXD:-1}" != 0 ] || { LXD_NOTE="skipped (BENCH_LXD=0)"; return 1; }
	LXD_NOTE="did not start (see above)"
	peer_ns || return 1
	mkdir -p "$LXD_DIR" "$LXD_CONF" /var/lib/lxcfs
	if ! mountpoint -q /var/lib/lxcfs; then
		"$REAPER" "$T/lxcfs.pid" lxcfs /var/lib/lxcfs >"$T/lxcfs.log" 2>&1 &
		LXCFS_REAPER=$!
	fi
	$(NSENTER) "$REAPER" "$T/lxd.pid" lxd --group lxd >"$T/lxd.log" 2>&1 &
	LXD_REAPER=$!
	lxd waitready --timeout 300 || { echo "  lxd did not start: $(tail -3 "$T/lxd.log")"; return 1; }
	lxc remote list >/dev/null 2>&1 # the client's first-run greeting, out of the table's way
	cat >"$T/preseed.yaml" <<-'EOF'
		config:
		  images.auto_update_interval: "0"
		networks:
		- name: vbenchbr0
		  type: bridge
		  config:
		    ipv4.address: 10.213.77.1/24
		    ipv4.nat: "true"
		    ipv6.address: none
		storage_pools:
		- name: default
		  driver: dir
		profiles:
		- name: default
		  devices:
		    root:
		      path: /
		      pool: default
		      type: disk
		    eth0:
		      name: eth0
		      network: vbenchbr0
		      type: nic
	EOF
	lxd init --preseed <"$T/preseed.yaml" >/dev/null || { echo "  lxd init --preseed failed"; return 1; }
	# the same busybox rootfs; LXD runs /sbin/init as the container's init
	mkdir -p "$T/lxdimg"
	cp -a "$T/rootfs" "$T/lxdimg/rootfs"
	printf '#!/bin/sh\ntrap "exit 0" TERM PWR\nwhile :; do sleep 3600 & wait $!; done\n' \
		>"$T/lxdimg/rootfs/sbin/init"
	chmod 755 "$T/lxdimg/rootfs/sbin/init"
	printf 'architecture: %s\ncreation_date: %s\nproperties:\n  description: busybox (vessel bench)\n  os: busybox\n' \
		"$(uname -m)" "$(date +%s)" >"$T/lxdimg/metadata.yaml"
	tar -C "$T/lxdimg" -czf "$T/meta.tar.gz" metadata.yaml
	tar -C "$T/lxdimg/rootfs" -czf "$T/rootfs.tar.gz" .
	lxc image import "$T/meta.tar.gz" "$T/rootfs.tar.gz" --alias bbox >/dev/null ||
		{ echo "  lxc image import failed"; return 1; }
	LXD_NOTE="LXD $(lxd --version), dir pool"
}
if lxd_setup; then
	[ "$ONLY_LIST" = 0 ] && {
	bench x_launch "$SH 'lxc delete -f b1 >/dev/null 2>&1; true'" "lxc launch bbox b1 -q"
	bench x_exec "true" "lxc exec b1 -- /bin/true"
	bench x_snapshot "$SH 'lxc delete b1/s >/dev/null 2>&1; true'" "lxc snapshot b1 s"
	bench x_restore "true" "lxc restore b1 s"
	bench x_delete "$SH 'lxc launch bbox b2 -q >/dev/null 2>&1'" "lxc delete -f b2"
	}
	lxc delete -f b1 >/dev/null 2>&1
	for i in $(seq "$LXD_N"); do lxc init bbox "l$i" -q >/dev/null || break; done
	LXD_COUNT=$(lxc list --format csv -c n | wc -l)
	MED[x_rps]=$(rps "http://lxd/1.0/instances?recursion=1" 300 --unix-socket "$LXD_DIR/unix.socket")
fi
cleanup_lxd

# ---- VMs: vessel, vessel-vmm, libvirt 9, QEMU ----
LIBVIRT_ARG=
LIBVIRT_VERSION=
if [ "$ONLY_LIST" = 0 ]; then
libvirt_start && LIBVIRT_ARG=$VIRSH_URI
export VESSEL_VESSEL=$VESSEL
[ -x "$VMM" ] && export VESSEL_VESSEL_VMM=$VMM
if "$V" image info vessel-guest >/dev/null 2>&1; then :; else export BENCH_VM_NA="n/a (no VM driver)"; fi
mkdir -p "$T/vm"
python3 "$HERE/vm_bench.py" "$VM_RUNS" "$T/vm" $LIBVIRT_ARG >"$T/vm.out" 2>&1
LIBVIRT_VERSION=$(virsh -q -c "$VIRSH_URI" version 2>/dev/null | grep -m1 'Running hypervisor' || true)
libvirt_stop
fi
touch "$T/vm.out"

ms() { [ -n "$1" ] && python3 -c "print('%.1f ms' % ($1 * 1000))" || echo "-"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && python3 -c "print('%.2fx' % ($1 / $2))" || echo "-"; }
rratio() { [ -n "$1" ] && [ -n "$2" ] && python3 -c "print('%.2fx' % ($2 / max($1, 1)))" || echo "-"; }
echo "bench/manager: vessel vs podman $(podman --version | cut -d' ' -f3) and $LXD_NOTE (medians of $RUNS)"
F='  %-20s %12s %12s %12s %10s %10s\n'
printf "$F" row vessel podman LXD "v/podman" "v/LXD"
for k in launch exec snapshot restore delete; do
	printf "$F" "$k" "$(ms "${MED[v_$k]:-}")" "$(ms "${MED[p_$k]:-}")" "$(ms "${MED[x_$k]:-}")" \
		"$(ratio "${MED[v_$k]:-}" "${MED[p_$k]:-}")" "$(ratio "${MED[v_$k]:-}" "${MED[x_$k]:-}")"
done
printf "$F" "list/s (50)" "${MED[v_rps50]}" "${MED[p_rps50]:-}" "${MED[x_rps]:--} (${LXD_COUNT:-0})" \
	"$(rratio "${MED[v_rps50]}" "${MED[p_rps50]:-}")" "$(rratio "${MED[v_rps50]}" "${MED[x_rps]:-}")"
printf "$F" "list/s ($LIST_N)" "${MED[v_rps1000]}" "-" "-" "-" "$(rratio "${MED[v_rps1000]}" "${MED[x_rps]:-}")"
printf "$F" "list/s ($LIST_N) urls" "${MED[v_rps1000u]}" "-" "-" "-" "-"
echo "  (ratios are time vessel/peer; for list/s, peer rate / vessel rate: below 1 is vessel faster;"
echo "   LXD's list/s is with the number of instances in parentheses; the list/s (1000) ratio compares"
echo "   vessel with 1000 instances against LXD with that number)"
[ -n "${LXD_LEFT:-}" ] && echo "  LXD left $LXD_LEFT nft table(s)/iptables rule(s) after lxc network delete; after our removal: $LXD_LEFT_AFTER"
[ -n "$LIBVIRT_VERSION" ] && echo "  libvirt: $LIBVIRT_VERSION"
cat "$T/vm.out"
