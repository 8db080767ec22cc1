# bench/manager/peers.sh - sourced by the benchmarks that run LXD or
# libvirt as peers (bench/manager, bench/lifecycle).  These hosts have no
# systemd: the peer daemons are started here, each under subreaper.py, in
# one private network and mount namespace (peer_ns: its own sysfs, so LXD
# and libvirt find their bridges in /sys/class/net, and the host's cgroup
# tree, where liblxc and libvirt make their cgroups), and stopped by the
# caller's cleanup trap.  Needs T (the caller's temp dir).
PEERS_REAPER=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/subreaper.py
VIRSH_URI=qemu:///system
NS_PID=
LIBVIRTD_REAPER=
VIRTLOGD_REAPER=
RUN_LIBVIRT_MADE=
CACHE_LIBVIRT_MADE=

ns() { nsenter --net=/proc/$NS_PID/ns/net --mount=/proc/$NS_PID/ns/mnt "$@"; }

# stop_reaper PID: SIGTERM to a subreaper (it passes it on), wait for it
stop_reaper() {
	local p=$1 i
	[ -n "$p" ] || return 0
	kill "$p" 2>/dev/null
	for i in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}

peer_ns() {
	[ -n "$NS_PID" ] && return 0
	mkdir -p "$T/cg"
	unshare --net --mount --propagation private sh -c \
		"mount --rbind /sys/fs/cgroup $T/cg && mount -t sysfs sysfs /sys && mount --move $T/cg /sys/fs/cgroup && ip link set lo up && exec sleep infinity" &
	NS_PID=$!
	local i
	for i in $(seq 100); do
		[ "$(readlink /proc/$NS_PID/ns/net)" != "$(readlink /proc/self/ns/net)" ] &&
			ns test -d /sys/fs/cgroup/freezer -o -f /sys/fs/cgroup/cgroup.controllers && return 0
		sleep 0.1
	done
	echo "  peer namespace not set up"
	return 1
}

peer_ns_stop() {
	[ -n "$NS_PID" ] && kill "$NS_PID" 2>/dev/null && wait "$NS_PID" 2>/dev/null
	NS_PID=
}

# libvirt_start: 0 when a libvirtd answers on $VIRSH_URI (ours, or one the
# host already runs: then LIBVIRTD_REAPER stays empty and it is left alone)
libvirt_start() {
	command -v libvirtd >/dev/null && command -v virtlogd >/dev/null && command -v virsh >/dev/null ||
		return 1
	[ "${BENCH_LIBVIRT:-1}" != 0 ] || return 1
	if virsh -q -c "$VIRSH_URI" uri >/dev/null 2>&1; then
		echo "  (a libvirtd already runs on this host: measured as it is)"
		return 0
	fi
	peer_ns || return 1
	[ -e /run/libvirt ] || RUN_LIBVIRT_MADE=1
	[ -e /var/cache/libvirt/qemu ] || CACHE_LIBVIRT_MADE=1
	# nsenter itself in the background (not the ns function): $! is then
	# the subreaper, which passes our SIGTERM on
	nsenter --net=/proc/$NS_PID/ns/net --mount=/proc/$NS_PID/ns/mnt \
		"$PEERS_REAPER" "$T/virtlogd.pid" virtlogd >"$T/virtlogd.log" 2>&1 &
	VIRTLOGD_REAPER=$!
	nsenter --net=/proc/$NS_PID/ns/net --mount=/proc/$NS_PID/ns/mnt \
		"$PEERS_REAPER" "$T/libvirtd.pid" libvirtd >"$T/libvirtd.log" 2>&1 &
	LIBVIRTD_REAPER=$!
	local i
	for i in $(seq 600); do
		virsh -q -c "$VIRSH_URI" uri >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "  libvirtd did not answer: $(tail -3 "$T/libvirtd.log")"
	return 1
}

# libvirt_stop: destroy the bench's domains (vbench-*), stop the daemons we
# started, remove the state they left in /run, /var/cache and /var/log
libvirt_stop() {
	if [ -n "$LIBVIRTD_REAPER" ] || virsh -q -c "$VIRSH_URI" uri >/dev/null 2>&1; then
		for d in $(virsh -q -c "$VIRSH_URI" list --name 2>/dev/null | grep '^vbench-'); do
			virsh -q -c "$VIRSH_URI" destroy "$d" >/dev/null 2>&1
		done
	fi
	stop_reaper "$LIBVIRTD_REAPER"
	stop_reaper "$VIRTLOGD_REAPER"
	LIBVIRTD_REAPER= VIRTLOGD_REAPER=
	rm -f /var/log/libvirt/qemu/vbench-*.log
	[ -n "$RUN_LIBVIRT_MADE" ] && rm -rf /run/libvirt
	[ -n "$CACHE_LIBVIRT_MADE" ] && rm -rf /var/cache/libvirt/qemu
	RUN_LIBVIRT_MADE= CACHE_LIBVIRT_MADE=
}
