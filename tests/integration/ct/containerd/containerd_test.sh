#!/bin/bash
# containerd_test.sh - containerd (Debian's 1.6, through its `ctr` client)
# drives vessel-runtime through the runc v2 shim (io.containerd.runc.v2)
# with vessel-runtime as the runc binary (`ctr run --runc-binary`), the way
# a Kubernetes node's containerd would use it.
#
# A private containerd (ctrd.sh: own root, state and socket under a tmpdir,
# in a private mount namespace with its own /run) gets a busybox image built
# offline from Debian's busybox-static (mkimage.py) and imported with
# `ctr images import`.  Containers live in a ctr namespace unique to this
# run, so their cgroups are /NS/ID.
#
# Checks: run --rm (output, exit code), run -t through a pty (tty, window
# size set by ctr), run -d, exec (output, exit code, -t), ps, pause/resume
# (task status, freezer state, the container really stops and goes on),
# metrics (the shim's cgroup stats, and vessel-runtime's own `events
# --stats` agreeing on the memory limit), checkpoint refused with
# vessel-runtime's message and the container still running, kill (SIGTERM
# handled, exit status), kill of an exited task, kill --all, delete, delete
# -f (and delete --force of a deleted container), runtime errors (a global
# flag, a config.json field) surfacing in ctr, and nothing left afterwards.
#
# Usage: containerd_test.sh [RUNTIME]   (default $VESSEL_VESSEL_RUNTIME)
# Exit 77 (skip) when not root or containerd/ctr/the runc v2 shim/busybox/
# the runtime is missing.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
RUNTIME=${1:-${VESSEL_VESSEL_RUNTIME:-}}
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"
for t in containerd ctr containerd-shim-runc-v2 unshare python3 script jq; do
	command -v $t >/dev/null || skip "$t not installed"
done
[ -x /bin/busybox ] || skip "busybox-static not installed"
[ -n "$RUNTIME" ] && [ -x "$RUNTIME" ] || skip "runtime '$RUNTIME' not built"
RUNTIME=$(readlink -f "$RUNTIME")
. "$HERE/ctrd.sh"

# ---- outside: a private mount namespace for containerd, and the reaper ----
if [ -z "${CTRD_INNER:-}" ]; then
	T=$(mktemp -d /tmp/vessel-containerd-XXXXXX)
	NS=vessel-ctrd-${T##*-}
	trap 'ctrd_reap "$T" "$NS"' EXIT
	CTRD_INNER=1 CTRD_DIR=$T CTRD_NS=$NS unshare -m --propagation private "$0" "$RUNTIME"
	exit $?
fi

# ---- inside ----
T=$CTRD_DIR NS=$CTRD_NS
FAILS=0
STEP=""
RA=(--runc-binary "$T/runtime")
# every runtime call goes through a wrapper that logs its arguments, printed
# when a step fails: what the shim asked for
cat >"$T/runtime" <<EOF
#!/bin/sh
echo "\$(date +%T.%N) \$*" >>"$T/runtime-args.log"
exec "$RUNTIME" "\$@"
EOF
chmod +x "$T/runtime"

fail() {
	echo "FAIL [$STEP]: $*"
	FAILS=$((FAILS + 1))
	if [ -s "$T/runtime-args.log" ]; then
		echo "--- last runtime invocations (shim -> runtime) ---"
		tail -n 4 "$T/runtime-args.log"
	fi
}
ok() { echo "ok   [$STEP] $*"; }
trap 'ctrd_stop' EXIT

# task status as `ctr task ls` shows it (RUNNING, PAUSED, STOPPED, "" = none)
status() { ctr_ task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
wait_status() { # ID STATUS: up to 30 s
	for _ in $(seq 300); do
		[ "$(status "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# the container's rootfs as the shim mounted it (this mount namespace)
ROOTFS() { echo "$T/state/io.containerd.runtime.v2.task/$NS/$1/rootfs"; }
counter() { cat "$(ROOTFS "$1")/tmp/count" 2>/dev/null; }
wait_counter_above() { # ID N: up to 30 s
	local c
	for _ in $(seq 300); do
		c=$(counter "$1")
		[ -n "$c" ] && [ "$c" -gt "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
cgdir() { # CONTROLLER ID: the container's cgroup directory
	if [ -d "/sys/fs/cgroup/$1" ]; then echo "/sys/fs/cgroup/$1/$NS/$2"; else echo "/sys/fs/cgroup/$NS/$2"; fi
}
RUNC_ROOT=/run/containerd/runc/$NS # the shim's --root for the runtime

STEP=containerd
ctrd_start "$T" "$NS" || { echo "FAIL: containerd"; exit 1; }
ok "$(ctr --address "$T/containerd.sock" version | awk '/Version/ { print $2; exit }') at $T/containerd.sock"
STEP=image
ctrd_import || { echo "FAIL: image import"; exit 1; }
if ctr_ images ls -q | grep -qx "$CTRD_IMAGE"; then ok "imported $CTRD_IMAGE"; else fail "not listed"; fi

# ---- run --rm: output, exit code ----
STEP="run --rm"
out=$(ctr_ run --rm "${RA[@]}" "$CTRD_IMAGE" r1 echo hello-vessel 2>"$T/err")
rc=$?
if [ $rc = 0 ] && [ "$out" = hello-vessel ]; then ok "echo"; else fail "rc=$rc out='$out' err=$(cat "$T/err")"; fi
grep -q " create --bundle .* r1$" "$T/runtime-args.log" 2>/dev/null || fail "the shim did not call the runtime"
if [ $rc = 124 ] || [ $rc = 137 ]; then
	echo "ctr run timed out: the remaining steps would too; giving up"
	exit 1
fi
STEP="exit code"
ctr_ run --rm "${RA[@]}" "$CTRD_IMAGE" r2 sh -c 'exit 7' >/dev/null 2>"$T/err"
rc=$?
if [ $rc = 7 ]; then ok "exit 7 propagated"; else fail "rc=$rc err=$(cat "$T/err")"; fi
STEP="pid 1, cgroup"
out=$(ctr_ run --rm "${RA[@]}" "$CTRD_IMAGE" r3 sh -c 'echo $$; grep -c ":/'"$NS"'/r3$" /proc/self/cgroup' 2>"$T/err" | tr '\n' ' ')
case "$out" in
"1 "[1-9]*) ok "pid 1, in /$NS/r3 in every hierarchy ($out)" ;;
*) fail "got '$out' err=$(cat "$T/err")" ;;
esac

# ---- run -t: a terminal, sized by ctr ----
STEP="run -t"
# script gives ctr a pty (24x80 set here; ctr copies the size to the
# container's pty after start, so the container waits for it)
SHELL=/bin/sh script -qec "stty rows 24 cols 80; exec timeout -k 5 60 ctr --address $T/containerd.sock -n $NS \
run -t --rm --runc-binary $T/runtime $CTRD_IMAGE r4 sh -c 'for i in \$(seq 200); do s=\$(stty size); \
[ \"\$s\" = \"24 80\" ] && break; usleep 100000; done; echo size=\$s; tty; test -t 0 && echo stdin-is-tty; exit 3'" \
	/dev/null </dev/null >"$T/tty.out" 2>&1
rc=$?
out=$(tr -d '\r\000' <"$T/tty.out")
case "$out" in
*"size=24 80"*/dev/pts/*stdin-is-tty*) ok "tty, 24x80, $(echo "$out" | grep /dev/pts)" ;;
*) fail "rc=$rc output: $out" ;;
esac
[ $rc = 3 ] || fail "exit code through the terminal: $rc, want 3"

# ---- run -d, exec, ps ----
STEP="run -d"
LOOP='trap "exit 42" TERM; i=0; while :; do i=$((i+1)); echo $i >/tmp/c.new; mv /tmp/c.new /tmp/count; usleep 50000; done'
ctr_ run -d --memory-limit 67108864 "${RA[@]}" "$CTRD_IMAGE" c1 sh -c "$LOOP" >/dev/null 2>"$T/err"
if wait_status c1 RUNNING && wait_counter_above c1 1; then
	ok "running, counter at $(counter c1)"
else
	fail "status '$(status c1)' err=$(cat "$T/err")"
fi
STEP=exec
out=$(ctr_ task exec --exec-id e1 c1 sh -c 'echo in-$(cat /tmp/count >/dev/null && echo counted); exit 5' 2>"$T/err")
rc=$?
if [ $rc = 5 ] && [ "$out" = in-counted ]; then ok "output and exit code 5"; else fail "rc=$rc out='$out' err=$(cat "$T/err")"; fi
grep -q " exec --process .* --detach --pid-file .* c1$" "$T/runtime-args.log" ||
	fail "no 'exec --process ... --detach --pid-file' call"
STEP="exec -t"
SHELL=/bin/sh script -qec "exec timeout -k 5 60 ctr --address $T/containerd.sock -n $NS \
task exec -t --exec-id e2 c1 sh -c 'tty; test -t 0 && echo stdin-is-tty; exit 4'" \
	/dev/null </dev/null >"$T/tty.out" 2>&1
rc=$?
out=$(tr -d '\r\000' <"$T/tty.out")
case "$out" in
*/dev/pts/*stdin-is-tty*) ok "$(echo "$out" | grep /dev/pts)" ;;
*) fail "rc=$rc output: $out" ;;
esac
[ $rc = 4 ] || fail "exec -t exit code $rc, want 4"
STEP=ps
pid1=$(ctr_ task ls | awk '$1 == "c1" { print $2 }')
if ctr_ task ps c1 2>"$T/err" | awk 'NR > 1 { print $1 }' | grep -qx "$pid1"; then
	ok "init pid $pid1 listed"
else
	fail "ps: $(ctr_ task ps c1 2>&1) err=$(cat "$T/err")"
fi

# ---- pause / resume ----
STEP=pause
if ctr_ task pause c1 2>"$T/err"; then
	fs=$(cat "$(cgdir freezer c1)/freezer.state" 2>/dev/null || cat "$(cgdir freezer c1)/cgroup.freeze")
	c1=$(counter c1)
	sleep 0.5 # a running container would count about 10 times meanwhile
	c2=$(counter c1)
	if [ "$(status c1)" = PAUSED ] && { [ "$fs" = FROZEN ] || [ "$fs" = 1 ]; } && [ -n "$c1" ] && [ "$c1" = "$c2" ]; then
		ok "PAUSED, freezer $fs, counter stays at $c1"
	else
		fail "status $(status c1), freezer '$fs', counter $c1 -> $c2"
	fi
else
	fail "pause: $(cat "$T/err")"
fi
STEP=resume
if ctr_ task resume c1 2>"$T/err"; then
	if wait_counter_above c1 "${c2:-0}" && [ "$(status c1)" = RUNNING ]; then
		ok "RUNNING, counter $c2 -> $(counter c1)"
	else
		fail "status $(status c1), counter $c2 -> $(counter c1)"
	fi
else
	fail "resume: $(cat "$T/err")"
fi

# ---- metrics ----
STEP=metrics
m=$(ctr_ task metrics --format json c1 2>"$T/err")
lim=$(echo "$m" | jq -r '.memory.usage.limit // empty' 2>/dev/null)
use=$(echo "$m" | jq -r '.memory.usage.usage // 0' 2>/dev/null)
cur=$(echo "$m" | jq -r '.pids.current // 0' 2>/dev/null)
cpu=$(echo "$m" | jq -r '.cpu.usage.total // 0' 2>/dev/null)
if [ "$lim" = 67108864 ] && [ "$use" -gt 0 ] && [ "$cur" -ge 1 ] && [ "$cpu" -gt 0 ]; then
	ok "limit $lim, usage $use, pids $cur, cpu ${cpu} ns"
else
	fail "metrics: limit '$lim' usage '$use' pids '$cur' cpu '$cpu' err=$(cat "$T/err") json=$(echo "$m" | head -c 300)"
fi
STEP="events --stats"
ev=$("$RUNTIME" --root "$RUNC_ROOT" events --stats c1 2>"$T/err")
if [ "$(echo "$ev" | jq -r '.type, .id, .data.memory.usage.limit' 2>/dev/null | tr '\n' ' ')" = "stats c1 67108864 " ] &&
	[ "$(echo "$ev" | jq -r '.data.pids.current')" -ge 1 ] 2>/dev/null; then
	ok "vessel-runtime events --stats agrees"
else
	fail "events: '$ev' err=$(cat "$T/err")"
fi

# ---- checkpoint: refused, the container keeps running ----
STEP=checkpoint
ctr_ task checkpoint c1 >"$T/out" 2>"$T/err"
rc=$?
before=$(counter c1)
if [ $rc != 0 ] && grep -q "checkpoint of container c1 refused: vessel-runtime does not implement checkpoint/restore" "$T/err"; then
	ok "refused: $(grep -o 'vessel-runtime does not implement[^;]*' "$T/err" | head -1)"
else
	fail "rc=$rc out=$(cat "$T/out") err=$(cat "$T/err")"
fi
if wait_status c1 RUNNING && wait_counter_above c1 "${before:-0}"; then
	ok "still RUNNING, counter $before -> $(counter c1)"
else
	fail "after checkpoint: status $(status c1), counter $before -> $(counter c1)"
fi

# ---- kill: SIGTERM handled, exit status, kill of an exited task ----
STEP=kill
if ctr_ task kill c1 2>"$T/err" && wait_status c1 STOPPED; then
	ok "SIGTERM: STOPPED"
else
	fail "status $(status c1) err=$(cat "$T/err")"
fi
ctr_ task kill -s KILL c1 >"$T/out" 2>"$T/err"
rc=$?
if [ $rc != 0 ] && grep -q "process already finished" "$T/err"; then
	ok "kill of the exited task: $(tail -1 "$T/err")"
else
	fail "kill after exit: rc=$rc err=$(cat "$T/err")"
fi
STEP=delete
out=$(ctr_ task delete c1 2>&1)
rc=$?
if [ $rc = 0 ] && [ "$(status c1)" = "" ] && ! [ -e "$RUNC_ROOT/c1" ] && ! [ -d "$(cgdir memory c1)" ]; then
	ok "task gone, no runtime state, no cgroup ($(echo "$out" | grep -o 'exit code [0-9]*'))"
else
	fail "rc=$rc out=$out state=$(ls "$RUNC_ROOT" 2>&1) cgroup=$(ls -d "$(cgdir memory c1)" 2>&1)"
fi
case "$out" in *"exit code 42"*) ;; *) fail "exit status of the TERM trap: '$out', want 42" ;; esac
ctr_ containers delete c1 >/dev/null 2>&1

# ---- kill --all: every process of the container ----
STEP="kill --all"
ctr_ run -d "${RA[@]}" "$CTRD_IMAGE" c2 sh -c 'sleep 1000 & sleep 1000 & wait' >/dev/null 2>"$T/err"
for _ in $(seq 300); do # sh and its two sleeps
	[ "$(wc -l <"$(cgdir pids c2)/cgroup.procs" 2>/dev/null)" = 3 ] && break
	sleep 0.1
done
n=$(wc -l <"$(cgdir pids c2)/cgroup.procs" 2>/dev/null)
if ctr_ task kill -a -s KILL c2 2>"$T/err" && wait_status c2 STOPPED; then
	left=$(wc -l <"$(cgdir pids c2)/cgroup.procs" 2>/dev/null)
	grep -q " kill --all c2 9$" "$T/runtime-args.log" || fail "no 'kill --all c2 9' call"
	if [ "$n" = 3 ] && [ "$left" = 0 ]; then ok "3 processes -> 0"; else fail "processes $n -> '$left'"; fi
else
	fail "status $(status c2) err=$(cat "$T/err")"
fi
ctr_ task delete c2 >/dev/null 2>&1
ctr_ containers delete c2 >/dev/null 2>&1

# ---- delete -f of a running task ----
STEP="delete -f"
ctr_ run -d "${RA[@]}" "$CTRD_IMAGE" c3 sleep 1000 >/dev/null 2>"$T/err"
wait_status c3 RUNNING || fail "c3 did not start: $(cat "$T/err")"
if ctr_ task delete -f c3 >/dev/null 2>"$T/err" && [ "$(status c3)" = "" ] && ! [ -e "$RUNC_ROOT/c3" ] &&
	! [ -d "$(cgdir memory c3)" ]; then
	ok "running task deleted, state and cgroup gone"
else
	fail "status '$(status c3)' err=$(cat "$T/err") state=$(ls "$RUNC_ROOT" 2>&1)"
fi
ctr_ containers delete c3 >/dev/null 2>&1

# ---- a runtime error reaches ctr (--log-format json) ----
STEP="runtime error"
ctr_ run --rm "${RA[@]}" --runc-systemd-cgroup --cgroup system.slice:vessel:c4 "$CTRD_IMAGE" c4 true \
	>/dev/null 2>"$T/err"
rc=$?
if [ $rc != 0 ] && grep -q "systemd-cgroup is not supported: vessel-runtime manages cgroupfs" "$T/err"; then
	ok "$(tail -1 "$T/err" | cut -c1-140)"
else
	fail "rc=$rc err=$(cat "$T/err")"
fi
ctr_ containers delete c4 >/dev/null 2>&1
# an error of create itself (config.json), through the shim's log.json
ctr_ run --rm "${RA[@]}" --cgroup system.slice:vessel:c5 "$CTRD_IMAGE" c5 true >/dev/null 2>"$T/err"
rc=$?
if [ $rc != 0 ] && grep -q 'OCI runtime create failed: .*linux.cgroupsPath "system.slice:vessel:c5" is a systemd path' "$T/err"; then
	ok "$(tail -1 "$T/err" | cut -c1-140)"
else
	fail "rc=$rc err=$(cat "$T/err")"
fi
ctr_ containers delete c5 >/dev/null 2>&1
[ -e "$RUNC_ROOT/c5" ] && fail "state of the failed create left"

# ---- nothing left ----
STEP=leftovers
[ -z "$(ctr_ task ls -q)" ] || fail "tasks left: $(ctr_ task ls -q | tr '\n' ' ')"
[ -z "$(ls -A "$RUNC_ROOT" 2>/dev/null)" ] || fail "runtime state left: $(ls "$RUNC_ROOT")"
# the shim's clean-up after each task deletes once more with --force: a
# container already gone must not be an error (runc's behaviour).  (The
# shim's own reaper sometimes reports "exit status 255" for that call, with
# runc as well: only our message counts.)
"$RUNTIME" --root "$RUNC_ROOT" delete --force c1 2>"$T/err" || fail "delete --force of a deleted container: $(cat "$T/err")"
grep "failed to remove runc container" "$T/containerd.log" | grep "does not exist" | head -2 | grep . &&
	fail "the shim's delete --force of a deleted container failed"
for _ in $(seq 300); do # shims exit after their task is deleted (30 s)
	pgrep -f "containerd-shim-runc-v2 -namespace $NS " >/dev/null || break
	sleep 0.1
done
pgrep -af "containerd-shim-runc-v2 -namespace $NS " && fail "shims still running"
for d in /sys/fs/cgroup/*/"$NS" /sys/fs/cgroup/"$NS"; do
	[ -d "$d" ] && [ -n "$(find "$d" -mindepth 1 -type d)" ] && fail "cgroups left: $(find "$d" -mindepth 1 -type d)"
done
[ $FAILS = 0 ] && ok "no task, runtime state, shim or container cgroup left"

echo "containerd with $(basename "$RUNTIME"): $FAILS failure(s)"
[ $FAILS = 0 ]
