#!/bin/bash
# test_debian_podman.sh - podman loads the Debian 12 image's oci-archive
# (images/export.sh) and runs it with vessel-runtime as its OCI runtime.
#
# podman runs in a private store (--root/--runroot/--tmpdir under a temp
# dir, vfs storage, cgroupfs manager for this hybrid cgroup host, file
# events), as in tests/integration/ct/podman, so the host's podman state is
# neither used nor touched.  Checks: `podman load` of the archive gives an
# image with the layout's config (Cmd) and layer; `podman run` of
# `/bin/bash -c 'cat /etc/debian_version; apt-get --version'` prints Debian
# 12 and apt; the default Cmd (bash) runs and exits 0 on an empty stdin; PATH
# inside is the image's; dpkg sees its packages installed; nothing is left.
#
# Usage: test_debian_podman.sh [RUNTIME]   (default $VESSEL_VESSEL_RUNTIME)
# Exit 77 (skip) when not root, podman/conmon/runtime absent or the image
# not built.
. "$(dirname "$0")/lib.sh"

RUNTIME=${1:-${VESSEL_VESSEL_RUNTIME:-}}
[ "$(id -u)" = 0 ] || skip "needs root"
command -v podman >/dev/null || skip "podman not installed"
command -v conmon >/dev/null || [ -x /usr/libexec/podman/conmon ] || skip "conmon not installed"
[ -n "$RUNTIME" ] && [ -x "$RUNTIME" ] || skip "runtime '$RUNTIME' not built"
RUNTIME=$(readlink -f "$RUNTIME")
HAD_LIBPOD_PARENT=$(ls -d /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent 2>/dev/null)
# podman asks for its own maximum nofile/nproc by default, above what a
# runtime without CAP_SYS_RESOURCE may set here: ask for less
RA="--network=none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096"

# every runtime call is logged, to show what podman asked for on a failure
printf '#!/bin/sh\necho "$(date +%%T.%%N) %s $*" >>"%s"\nexec "%s" "$@"\n' \
	"$RUNTIME" "$T/runtime-args.log" "$RUNTIME" >"$T/runtime"
chmod +x "$T/runtime"

P() {
	timeout -k 5 "${PODMAN_TIMEOUT:-120}" podman --root "$T/storage" --runroot "$T/run" --tmpdir "$T/tmp" \
		--storage-driver vfs --cgroup-manager cgroupfs --events-backend file \
		--runtime "$T/runtime" "$@"
}
podman_cleanup() {
	PODMAN_TIMEOUT=30
	P rm -af -t 0 >/dev/null 2>&1
	local pids id d m
	pids=$(pgrep -f -- "$T" | grep -vx "$$")
	[ -n "$pids" ] && kill -9 $pids 2>/dev/null
	P rmi -af >/dev/null 2>&1
	P system reset -f >/dev/null 2>&1
	grep -o " ${T}[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	for id in $(sed -n 's/.* create .* \([0-9a-f]\{64\}\)$/\1/p' "$T/runtime-args.log" 2>/dev/null); do
		rmdir /sys/fs/cgroup/*/libpod_parent/libpod-"$id" /sys/fs/cgroup/libpod_parent/libpod-"$id" \
			2>/dev/null
	done
	for _ in $(seq 50); do # our conmons may still be on their way out
		pgrep -f -r R,S,D -- "conmon.*$T" >/dev/null || break
		sleep 0.1
	done
	if [ -z "$HAD_LIBPOD_PARENT" ] && ! pgrep -x -r R,S,D conmon >/dev/null; then
		for d in /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent; do
			[ -d "$d" ] || continue
			rmdir "$d/conmon" "$d" 2>/dev/null
		done
	fi
}
CLEANUPS+=(podman_cleanup)
runtime_log() {
	echo "--- last runtime invocations (podman -> runtime) ---" >&2
	tail -n 3 "$T/runtime-args.log" >&2 2>/dev/null
}

"$SRC/images/export.sh" "$L" "$T/debian.tar" || exit 1
out=$(P load -i "$T/debian.tar" 2>&1)
check "podman load of the oci-archive" contains "$out" "Loaded image"
id=$(P images -q --no-trunc 2>/dev/null | head -n 1)
check "one image loaded" test -n "$id"
[ -n "$id" ] || {
	echo "$out"
	finish
	exit 1
}
check "podman sees Cmd" eq '["/bin/bash"]' "$(P image inspect -f '{{json .Config.Cmd}}' "$id" 2>&1)"
check "podman sees the layer" contains "$(P image inspect -f '{{json .RootFS.Layers}}' "$id" 2>&1)" \
	"$(jq -r '.rootfs.diff_ids[0]' "$(config_blob "$L")")"

out=$(P run --rm $RA "$id" /bin/bash -c 'cat /etc/debian_version; apt-get --version' 2>"$T/err")
rc=$?
[ $rc -eq 0 ] || {
	cat "$T/err" >&2
	runtime_log
}
check "run bash: exit 0" eq 0 "$rc"
check "run bash: Debian 12" eq 12 "$(echo "$out" | head -n 1 | cut -d. -f1)"
check "run bash: apt-get --version" contains "$out" "apt 2."

out=$(P run --rm $RA "$id" </dev/null 2>"$T/err")
rc=$?
[ $rc -eq 0 ] || {
	cat "$T/err" >&2
	runtime_log
}
check "default Cmd (bash, empty stdin) exits 0" eq "0 " "$rc $out"

out=$(P run --rm $RA "$id" sh -c 'echo "$PATH"; dpkg-query -W -f "\${db:Status-Status}\n" bash apt dpkg' \
	2>"$T/err" | tr '\n' ' ')
check "PATH and dpkg status inside" \
	eq "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin installed installed installed " "$out"

check "no container left" eq 0 "$(P ps -aq 2>/dev/null | wc -l)"
finish
