#!/bin/bash
# podman_test.sh - podman (Debian's) drives vessel-runtime as its OCI runtime.
#
# A busybox image is built from Debian's busybox-static and imported under a
# test-only name into a private podman store (--root/--runroot under a
# tmpdir, vfs storage, cgroupfs manager, file events), so the host's podman
# state is neither used nor touched.  Every runtime invocation goes through
# a wrapper that logs its arguments (runtime-args.log), which is printed when
# a step fails so the runtime's author sees exactly what podman asked for.
#
# Checks: run --rm (output, exit code), --ulimit, --memory limit seen in the
# container's cgroup, run -d + logs, exec, pause/unpause (state and real
# freezing), update --memory, stop, run -it through a pty, rm; afterwards no
# container cgroup, conmon or mount is left.
#
# Usage: podman_test.sh [RUNTIME]   (default $VESSEL_VESSEL_RUNTIME)
# Exit 77 (skip) when not root or podman/conmon/busybox-static/runtime absent.
set -u

RUNTIME=${1:-${VESSEL_VESSEL_RUNTIME:-}}
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"
command -v podman >/dev/null || skip "podman not installed"
command -v conmon >/dev/null || [ -x /usr/libexec/podman/conmon ] || skip "conmon not installed"
[ -x /bin/busybox ] || skip "busybox-static not installed"
[ -n "$RUNTIME" ] && [ -x "$RUNTIME" ] || skip "runtime '$RUNTIME' not built"
RUNTIME=$(readlink -f "$RUNTIME")

T=$(mktemp -d /tmp/vessel-podman-XXXXXX)
# podman's cgroupfs manager makes libpod_parent/ (conmon goes in libpod_parent/conmon):
# remove them afterwards unless they were there before
HAD_LIBPOD_PARENT=$(ls -d /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent 2>/dev/null)
IMAGE=localhost/vessel-test-busybox:latest
FAILS=0
# podman asks for its own maximum nofile/nproc by default, above what a
# runtime without CAP_SYS_RESOURCE (as on this CI host) may set: ask for less
RA="--network=none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096"
STEP=""

cat >"$T/runtime" <<EOF
#!/bin/sh
echo "\$(date +%T.%N) $RUNTIME \$*" >>"$T/runtime-args.log"
b=
for a; do # keep the last bundle's config.json for failure reports
	[ -n "\$b" ] && cp "\$a/config.json" "$T/last-config.json" 2>/dev/null
	b=; [ "\$a" = --bundle ] && b=1
done
exec "$RUNTIME" "\$@"
EOF
chmod +x "$T/runtime"

# every podman call is bounded: a runtime that hangs fails the step, not the suite
P() {
	timeout -k 5 "${PODMAN_TIMEOUT:-60}" podman --root "$T/storage" --runroot "$T/run" --tmpdir "$T/tmp" \
		--storage-driver vfs --cgroup-manager cgroupfs --events-backend file \
		--runtime "$T/runtime" "$@"
}

# processes of this test only: their command lines name the private tmpdir
kill_ours() {
	local pids
	pids=$(pgrep -f -- "$T" | grep -vx "$$")
	[ -n "$pids" ] && kill -9 $pids 2>/dev/null
}

cleanup() {
	PODMAN_TIMEOUT=30
	P rm -af -t 0 >/dev/null 2>&1 || { kill_ours; sleep 1; P rm -af -t 0 >/dev/null 2>&1; }
	kill_ours
	P rmi -af >/dev/null 2>&1
	P system reset -f >/dev/null 2>&1
	# anything podman left mounted under the private store
	grep -o " $T[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	# only the cgroups of containers this test created: another podman run
	# on the machine may have a fresh, still empty cgroup under libpod_parent
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
			rmdir "$d/conmon" 2>/dev/null
			rmdir "$d" 2>/dev/null
		done
	fi
	if [ -n "${KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

fail() {
	echo "FAIL [$STEP]: $*"
	FAILS=$((FAILS + 1))
	if [ -s "$T/runtime-args.log" ]; then
		echo "--- last runtime invocations (podman -> runtime) ---"
		tail -n 3 "$T/runtime-args.log"
	fi
}
ok() { echo "ok   [$STEP] $*"; }

# ---- image from busybox-static ----
STEP=image
R=$T/rootfs
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,root,var,run,usr/bin,usr/sbin}
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$R/etc/group"
chmod 1777 "$R/tmp"
tar -C "$R" -cf "$T/rootfs.tar" . || { echo "FAIL: tar"; exit 1; }
if ! P import --change 'CMD ["/bin/sh"]' "$T/rootfs.tar" "$IMAGE" >"$T/import.log" 2>&1; then
	cat "$T/import.log"
	echo "FAIL: podman import"
	exit 1
fi
ok "imported $IMAGE"

# ---- run --rm, output and exit code ----
STEP="run --rm"
out=$(P run --rm $RA "$IMAGE" echo hello-vessel 2>"$T/err")
rc=$?
if [ $rc -eq 0 ] && [ "$out" = hello-vessel ]; then ok "echo"; else fail "rc=$rc out='$out' err=$(cat "$T/err")"; fi
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
	echo "podman run timed out: the remaining steps would too; giving up"
	exit 1
fi

STEP="exit code"
P run --rm $RA "$IMAGE" sh -c 'exit 7' >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 7 ]; then ok "exit 7 propagated"; else fail "rc=$rc (want 7) err=$(cat "$T/err")"; fi

STEP="ulimit"
out=$(P run --rm $RA "$IMAGE" sh -c 'ulimit -n; ulimit -Hn' 2>"$T/err" | tr '\n' ' ')
if [ "$out" = "1024 1024 " ]; then ok "nofile 1024:1024"; else fail "got '$out' err=$(cat "$T/err")"; fi

STEP="pid 1 and hostname"
out=$(P run --rm $RA --hostname vessel-ct "$IMAGE" sh -c 'echo $$ $(hostname)' 2>"$T/err")
if [ "$out" = "1 vessel-ct" ]; then ok "$out"; else fail "got '$out' err=$(cat "$T/err")"; fi

STEP="memory limit"
out=$(P run --rm $RA --memory 48m "$IMAGE" sh -c \
	'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max' 2>"$T/err")
if [ "$out" = 50331648 ]; then ok "48m seen inside"; else fail "got '$out' err=$(cat "$T/err")"; fi

STEP="cpu and pids limits"
out=$(P run --rm $RA --cpus 0.5 --cpu-shares 512 --pids-limit 8 "$IMAGE" sh -c \
	'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/pids/pids.max 2>/dev/null ||
	 cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/pids.max' 2>"$T/err" | tr '\n' ' ')
case "$out" in
"50000 512 8 " | "50000 100000 20 8 ") ok "$out" ;;
*) fail "got '$out' err=$(cat "$T/err")" ;;
esac
STEP="pids limit enforced"
# busybox sh gives up with "can't fork" when pids.max refuses the 8th task
P run --rm $RA --pids-limit 8 "$IMAGE" sh -c 'for i in $(seq 20); do sleep 5 & done; echo all-forked' \
	>"$T/out" 2>"$T/err"
rc=$?
if [ $rc -ne 0 ] && grep -q "can't fork" "$T/err" && ! grep -q all-forked "$T/out"; then
	ok "fork refused beyond 8 tasks (rc $rc)"
else
	fail "rc=$rc out=$(cat "$T/out") err=$(cat "$T/err")"
fi

# ---- run -d, logs, exec, pause/unpause, update, stop ----
STEP="run -d"
cid=$(P run -d $RA --name vt1 "$IMAGE" sh -c \
	'echo started; i=0; while :; do i=$((i+1)); echo $i >/tmp/c.new; mv /tmp/c.new /tmp/count; sleep 0.05; done' 2>"$T/err")
if [ -n "$cid" ] && [ "$(P inspect -f '{{.State.Status}}' vt1 2>/dev/null)" = running ]; then
	ok "running ${cid:0:12}"
else
	fail "cid='$cid' err=$(cat "$T/err")"
fi

STEP=logs
for _ in $(seq 50); do # a loaded machine may start the shell late
	out=$(P logs vt1 2>&1)
	[ -n "$out" ] && [ -s "$(ls "$T"/storage/vfs/dir/*/tmp/count 2>/dev/null | head -1)" ] && break
	sleep 0.1
done
if [ "$out" = started ]; then ok "logs"; else fail "logs='$out'"; fi

STEP=exec
out=$(P exec vt1 sh -c 'echo in-$$; cat /tmp/count >/dev/null && echo counted' 2>"$T/err" | tr '\n' ' ')
case "$out" in
"in-"*" counted ") ok "exec ($out)" ;;
*) fail "got '$out' err=$(cat "$T/err")" ;;
esac
out=$(P exec vt1 sh -c 'exit 3' 2>"$T/err")
rc=$?
if [ $rc -eq 3 ]; then ok "exec exit code 3"; else fail "exec rc=$rc err=$(cat "$T/err")"; fi

STEP=pause
if P pause vt1 >/dev/null 2>"$T/err"; then
	st=$(P inspect -f '{{.State.Status}}' vt1)
	c1=$(cat "$T/storage"/vfs/dir/*/tmp/count 2>/dev/null | head -1)
	sleep 0.4
	c2=$(cat "$T/storage"/vfs/dir/*/tmp/count 2>/dev/null | head -1)
	if [ "$st" = paused ] && [ -n "$c1" ] && [ "$c1" = "$c2" ]; then
		ok "paused, counter stays at $c1"
	else
		fail "state=$st counter $c1 -> $c2"
	fi
else
	fail "pause: $(cat "$T/err")"
fi
STEP=unpause
if P unpause vt1 >/dev/null 2>"$T/err"; then
	for _ in $(seq 30); do
		sleep 0.1
		c3=$(cat "$T/storage"/vfs/dir/*/tmp/count 2>/dev/null | head -1)
		[ "${c3:-0}" -gt "${c2:-0}" ] && break
	done
	st=$(P inspect -f '{{.State.Status}}' vt1)
	if [ "$st" = running ] && [ "${c3:-0}" -gt "${c2:-0}" ]; then
		ok "running again, counter $c2 -> $c3"
	else
		fail "state=$st counter $c2 -> $c3"
	fi
else
	fail "unpause: $(cat "$T/err")"
fi

STEP=update
if P update --memory 64m --memory-swap 128m vt1 >/dev/null 2>"$T/err"; then
	lim=$(cat /sys/fs/cgroup/memory/libpod_parent/libpod-"$cid"/memory.limit_in_bytes 2>/dev/null ||
		cat /sys/fs/cgroup/libpod_parent/libpod-"$cid"/memory.max 2>/dev/null)
	if [ "$lim" = 67108864 ]; then ok "memory now 64m"; else fail "limit after update: '$lim'"; fi
else
	fail "update: $(cat "$T/err")"
fi

STEP=stop
if P stop -t 2 vt1 >/dev/null 2>"$T/err"; then
	st=$(P inspect -f '{{.State.Status}}' vt1)
	if [ "$st" = exited ]; then ok "stopped"; else fail "state after stop: $st"; fi
else
	fail "stop: $(cat "$T/err")"
fi
STEP=rm
if P rm vt1 >/dev/null 2>"$T/err"; then ok "removed"; else fail "rm: $(cat "$T/err")"; fi
for d in /sys/fs/cgroup/*/libpod_parent/libpod-"$cid" /sys/fs/cgroup/libpod_parent/libpod-"$cid" \
	/run/vessel/"$cid"; do
	[ -n "$cid" ] && [ -e "$d" ] && fail "left behind: $d"
done

# ---- run -it with a terminal ----
STEP="run -it"
# script runs the command through $SHELL (/bin/sh when unset, as in CI): exec
# it so no shell sits in between, and keep timeout in the terminal's
# foreground process group, or podman stops on SIGTTOU when it sets raw mode.
# The container stays a second after its output: podman 4.3's attach drops
# what conmon forwards while the container exits (under load it lost the whole
# output about 1 run in 4 with runc as with vessel-runtime, although conmon's
# log had it all); the sleep keeps the test about our terminal, not that race
SHELL=/bin/sh script -qec "exec timeout --foreground -k 5 60 podman --root $T/storage --runroot $T/run --tmpdir $T/tmp --storage-driver vfs \
--cgroup-manager cgroupfs --events-backend file --runtime $T/runtime run -it --rm $RA \
$IMAGE sh -c 'tty; stty size; test -t 0 && echo stdin-is-tty; sleep 1'" "$T/typescript" </dev/null >"$T/tty.out" 2>&1
rc=$?
out=$(tr -d '\r\000' <"$T/tty.out")
case "$out" in
*/dev/pts/*stdin-is-tty*) ok "tty: $(echo "$out" | head -1)" ;;
*) fail "rc=$rc output: $out" ;;
esac

# ---- nothing left ----
STEP=leftovers
n=$(P ps -aq | wc -l)
[ "$n" = 0 ] || fail "$n containers left"
if pgrep -f "conmon.*$T" >/dev/null; then fail "conmon still running"; fi

echo "podman with $(basename "$RUNTIME"): $FAILS failure(s)"
[ $FAILS -eq 0 ]
