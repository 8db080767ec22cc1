# ctrd.sh - a private containerd for the containerd test and bench/containers
# (sourced).  Nothing of the host's containerd is used or touched:
#
#   ctrd_start DIR NS  in a private mount namespace (the caller's job: the
#                      functions below mount a tmpfs on /run there, because
#                      containerd 1.6 keeps shim sockets and FIFOs under
#                      /run/containerd whatever its config says), writes
#                      DIR/config.toml (root, state and socket under DIR, CRI
#                      and the snapshotters that cannot work here disabled),
#                      starts containerd and waits until it answers;
#                      records the mount namespace in DIR/mntns
#   ctrd_import DIR    builds the busybox image (mkrootfs.sh + mkimage.py)
#                      and imports it as $CTRD_IMAGE
#   ctrd_stop          kills and deletes every task and container of NS,
#                      then stops containerd
#   ctrd_reap DIR NS   from OUTSIDE the namespace, after it: kills whatever
#                      is left in that mount namespace and in the NS cgroups,
#                      removes the cgroups and DIR
#
# `ctr -n NS` gives every container the cgroup /NS/ID (cgroupfs driver:
# the runc shim passes no --systemd-cgroup unless asked).
CTRD_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CTRD_IMAGE=docker.io/vessel-test/busybox:latest

ctr_() { timeout -k 5 "${CTR_TIMEOUT:-60}" ctr --address "$CTRD_DIR/containerd.sock" -n "$CTRD_NS" "$@"; }

ctrd_start() {
	CTRD_DIR=$1 CTRD_NS=$2
	readlink /proc/self/ns/mnt >"$CTRD_DIR/mntns"
	mount -t tmpfs -o mode=755,size=64m vessel-ctrd-run /run || return 1
	cat >"$CTRD_DIR/config.toml" <<EOC
version = 2
root = "$CTRD_DIR/root"
state = "$CTRD_DIR/state"
# the CRI plugin is Kubernetes' entry point (not used by ctr); the other
# snapshotters need file systems or devices this host does not have
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "$CTRD_DIR/containerd.sock"

[cgroup]
  path = ""   # containerd stays in the caller's cgroup

[plugins."io.containerd.monitor.v1.cgroups"]
  no_prometheus = true
EOC
	containerd --config "$CTRD_DIR/config.toml" >"$CTRD_DIR/containerd.log" 2>&1 &
	CTRD_PID=$!
	local i
	for i in $(seq 600); do # 60 s: a loaded machine is slow
		ctr --address "$CTRD_DIR/containerd.sock" version >/dev/null 2>&1 && return 0
		kill -0 "$CTRD_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "containerd did not start:"
	tail -20 "$CTRD_DIR/containerd.log"
	return 1
}

ctrd_import() {
	"$CTRD_HERE/../mkrootfs.sh" "$CTRD_DIR/rootfs" >/dev/null || return 1
	python3 "$CTRD_HERE/mkimage.py" "$CTRD_DIR/rootfs" "$CTRD_DIR/image.tar" "$CTRD_IMAGE" || return 1
	ctr_ images import "$CTRD_DIR/image.tar" >"$CTRD_DIR/import.log" 2>&1 || {
		cat "$CTRD_DIR/import.log"
		return 1
	}
}

ctrd_stop() {
	[ -n "${CTRD_PID:-}" ] || return 0
	local id
	for id in $(CTR_TIMEOUT=20 ctr_ task ls -q 2>/dev/null); do
		CTR_TIMEOUT=20 ctr_ task kill -a -s KILL "$id" >/dev/null 2>&1
		CTR_TIMEOUT=20 ctr_ task delete -f "$id" >/dev/null 2>&1
	done
	for id in $(CTR_TIMEOUT=20 ctr_ containers ls -q 2>/dev/null); do
		CTR_TIMEOUT=20 ctr_ containers delete "$id" >/dev/null 2>&1
	done
	kill "$CTRD_PID" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$CTRD_PID" 2>/dev/null
	wait "$CTRD_PID" 2>/dev/null
	CTRD_PID=
}

ctrd_reap() {
	local dir=$1 ns=$2 mntns="" p d left
	[ -s "$dir/mntns" ] && mntns=$(cat "$dir/mntns")
	for _ in $(seq 50); do
		left=0
		if [ -n "$mntns" ]; then # shims, containerd: processes of that namespace only
			for p in /proc/[0-9]*; do
				[ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$mntns" ] || continue
				kill -9 "${p#/proc/}" 2>/dev/null && left=1
			done
		fi
		for d in /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/"$ns"; do # container processes
			[ -d "$d" ] || continue
			for p in $(cat $(find "$d" -name cgroup.procs) 2>/dev/null); do
				kill -9 "$p" 2>/dev/null && left=1
			done
		done
		[ $left = 0 ] && break
		sleep 0.1
	done
	for d in /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/"$ns"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	rm -rf "$dir"
}
