#!/bin/bash
# Bad input: each case must give one precise error on stderr, a non-zero
# exit, and leave nothing behind: no state directory, no cgroup, no mount,
# no process.  --log-format json must put the error as JSON into --log.
source "$(dirname "$0")/lib.sh"

# expect_fail NAME EXPECTED-TEXT COMMAND...: fails, one error line, nothing left
expect_fail() {
	local name=$1 text=$2
	shift 2
	local err rc
	err=$("$@" 2>&1 >/dev/null)
	rc=$?
	check "$name: non-zero exit" test "$rc" -ne 0
	check "$name: one error line" eq 1 "$(printf '%s\n' "$err" | grep -c .)"
	check "$name: precise message" contains "$err" "$text"
}

no_runtime_process() { ! pgrep -f "[v]essel-runtime --root $ROOT create" >/dev/null; }

nothing_left() { # nothing_left NAME ID
	check "$1: no state directory" test ! -e "$ROOT/$2"
	check "$1: no cgroup" no_cgroup "$CGP/$(basename "$b")"
	# (a global mount count is noise on a shared host: look for ours)
	check "$1: no mount left" bash -c "! grep -q -e '$T' -e '/$2 ' /proc/self/mountinfo"
	check "$1: no container process left" no_runtime_process
}

# malformed JSON
b=$(bundle malformed)
head -c 100 "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
expect_fail "truncated config.json" "config.json: unexpected end of document" rt create --bundle "$b" bad-1
nothing_left "truncated config.json" bad-1

b=$(bundle garbage)
echo '{"ociVersion": "1.1.0", "root": {"path": "rootfs"} } trailing' >"$b/config.json"
expect_fail "trailing garbage" "trailing data" rt create --bundle "$b" bad-2
nothing_left "trailing garbage" bad-2

# schema-invalid
b=$(bundle schema '.process.args = "sh"')
expect_fail "args not an array" "process.args: expected an array" rt create --bundle "$b" bad-3
nothing_left "args not an array" bad-3
b=$(bundle schema2 '.process.user.uid = -5')
expect_fail "negative uid" "process.user.uid" rt create --bundle "$b" bad-4
b=$(bundle schema3 'del(.process.cwd)')
expect_fail "missing cwd" "process.cwd: required field is missing" rt create --bundle "$b" bad-5
b=$(bundle schema4 '.mounts[0].destination = "proc"')
expect_fail "relative mount destination" "mounts[0].destination: proc is not an absolute path" rt create --bundle "$b" bad-6
b=$(bundle schema5 '.linux.seccomp = {defaultAction: "SCMP_ACT_MAYBE"}')
expect_fail "unknown seccomp action" "unknown seccomp action \"SCMP_ACT_MAYBE\"" rt create --bundle "$b" bad-7
b=$(bundle schema6 '.process.capabilities.bounding += ["CAP_FLY"]')
expect_fail "unknown capability" "unknown capability CAP_FLY" rt create --bundle "$b" bad-8

# missing rootfs
b=$(bundle norootfs '.root.path = "/nonexistent/rootfs"')
expect_fail "missing rootfs" "root.path /nonexistent/rootfs: No such file or directory" rt create --bundle "$b" bad-9
nothing_left "missing rootfs" bad-9

# unknown namespace
b=$(bundle nons '.linux.namespaces += [{type: "blah"}]')
expect_fail "unknown namespace" "unknown namespace type \"blah\"" rt create --bundle "$b" bad-10
nothing_left "unknown namespace" bad-10

# namespace path that does not exist: fails in the child, after clone and cgroup
b=$(bundle nspath '.linux.namespaces |= map(if .type == "network" then .path = "/proc/self/ns/nonexistent" else . end)')
expect_fail "namespace path missing" "open network namespace /proc/self/ns/nonexistent" rt create --bundle "$b" bad-11
nothing_left "namespace path missing" bad-11

# IDs
b=$(bundle ids '.process.args = ["sleep", "300"]')
expect_fail "ID with /" "invalid container ID \"a/b\"" rt create --bundle "$b" a/b
expect_fail "ID with .." "must not contain \"..\"" rt create --bundle "$b" ..
expect_fail "ID .. inside" "must not contain \"..\"" rt create --bundle "$b" a..b
check "nothing created for bad IDs" eq "" "$(ls "$ROOT" 2>/dev/null)"

# duplicate ID: the first container is untouched
rt create --bundle "$b" dup
pid=$(rt state dup | jq -r .pid)
expect_fail "duplicate ID" "container dup already exists" rt create --bundle "$b" dup
check "duplicate ID: original still created" eq created "$(rt state dup | jq -r .status)"
check "duplicate ID: original pid unchanged" eq "$pid" "$(rt state dup | jq -r .pid)"

# bad signal
expect_fail "bad signal" "unknown signal \"SIGFOO\"" rt kill dup SIGFOO
expect_fail "bad signal number" "unknown signal \"99\"" rt kill dup 99
check "bad signal: container unaffected" eq created "$(rt state dup | jq -r .status)"
rt delete --force dup

# a limit the kernel refuses: the cgroup write fails after the child exists
b=$(bundle cpuset '.linux.resources = {cpu: {cpus: "4000"}}')
expect_fail "cpuset the kernel refuses" "cpus" rt create --bundle "$b" bad-12
nothing_left "cpuset the kernel refuses" bad-12
# rlimit above what the kernel allows (no CAP_SYS_RESOURCE beyond the hard limit)
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ]; then
	b=$(bundle rlimit ".process.rlimits = [{type: \"RLIMIT_NOFILE\", soft: 1024, hard: $((hard * 64))}]")
	if capsh --has-p=cap_sys_resource 2>/dev/null; then
		echo "# (have CAP_SYS_RESOURCE: rlimit refusal case not applicable)"
	else
		expect_fail "rlimit the kernel refuses" "process.rlimits: kernel refused" rt create --bundle "$b" bad-13
		nothing_left "rlimit the kernel refuses" bad-13
	fi
fi

# a failing createRuntime hook
b=$(bundle hookfail '.hooks = {createRuntime: [{path: "/bin/false"}]}')
expect_fail "failing hook" "createRuntime hook /bin/false: exited with status 1" rt create --bundle "$b" bad-14
nothing_left "failing hook" bad-14

# JSON log
b=$(bundle jsonlog '.linux.namespaces += [{type: "blah"}]')
"$R" --root "$ROOT" --log "$T/log.json" --log-format json create --bundle "$b" bad-15 2>/dev/null
check "--log-format json: exit non-zero" test $? -ne 0
check "--log-format json: error is a JSON record" eq error "$(jq -r .level "$T/log.json" 2>/dev/null | tail -1)"
check "--log-format json: message" contains "$(jq -r .msg "$T/log.json" 2>/dev/null)" "unknown namespace type"

# unsupported options
expect_fail "--systemd-cgroup" "--systemd-cgroup is not supported" "$R" --systemd-cgroup --root "$ROOT" state x
expect_fail "unknown command" "unknown command \"frobnicate\"" "$R" frobnicate
expect_fail "state of unknown container" "container nosuch does not exist" rt state nosuch

# what containerd's runc shim calls besides the lifecycle: events, checkpoint,
# restore (refused: no CRIU support), delete --force of a missing container
expect_fail "events of unknown container" "container nosuch does not exist" rt events --stats nosuch
expect_fail "events --interval" "--interval 1h: expected a duration" rt events --interval 1h nosuch
expect_fail "checkpoint of unknown container" "container nosuch does not exist" \
	rt checkpoint --image-path "$T/img" --leave-running nosuch
expect_fail "checkpoint option" "checkpoint: unknown option --frob" rt checkpoint --frob nosuch
expect_fail "restore" "restore of container nosuch refused: vessel-runtime does not implement checkpoint/restore" \
	rt restore --bundle "$T" --image-path "$T/img" nosuch
expect_fail "restore of a bad ID" 'invalid container ID "../x"' rt restore ../x
check "nothing created by restore" test ! -e "$ROOT/nosuch"
rt delete --force nosuch 2>/dev/null
check "delete --force of a missing container succeeds (as runc)" eq 0 $?
expect_fail "delete of a missing container" "container nosuch does not exist" rt delete nosuch
expect_fail "delete --force of a bad ID" 'invalid container ID "../x"' rt delete --force ../x
b=$(bundle ckpt '.process.args = ["sleep", "100"]')
# A subreaper above `run -d` reaps the container once it exits, as conmon or
# containerd's shim do (this host's pid 1 may never reap reparented zombies).
READY=$T/ckpt.ready python3 -c '
import ctypes, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL)
open(os.environ["READY"], "w").close()
try:
    while True:
        os.wait()
except ChildProcessError:
    pass
' "$R" --root "$ROOT" run -d --bundle "$b" ckpt &
reaper=$!
for _ in $(seq 600); do [ -e "$T/ckpt.ready" ] && break; sleep 0.05; done
expect_fail "checkpoint" \
	"checkpoint of container ckpt refused: vessel-runtime does not implement checkpoint/restore (it has no CRIU support); the container is left running" \
	rt checkpoint --leave-running ckpt
check "checkpoint leaves the container running" wait_status ckpt running
check "events --stats of a running container" eq "stats ckpt 1" \
	"$(rt events --stats ckpt | jq -r '.type + " " + .id + " " + (.data.pids.current | tostring)')"
rt kill ckpt KILL
check "killed" wait_status ckpt stopped
# until its parent reaps it, an exited process can still be signalled (the
# kill race fix); wait for the reaping, then kill must fail
ckpt_pid=$(rt state ckpt | jq -r .pid)
for _ in $(seq 600); do [ -e "/proc/$ckpt_pid" ] || break; sleep 0.05; done
expect_fail "kill of an exited container" "container ckpt is not running: No such process" rt kill ckpt KILL
expect_fail "events of a stopped container" "container ckpt is not running" rt events --stats ckpt
rt delete ckpt
wait "$reaper"

# a state directory left without state.json (runtime killed mid-create)
mkdir -p "$ROOT/broken"
expect_fail "broken state without --force" "use delete --force" rt delete broken
rt delete --force broken 2>/dev/null
check "delete --force removes a broken state directory" test ! -e "$ROOT/broken"
mkdir -p "$ROOT/broken2" && echo '{not json' >"$ROOT/broken2/state.json"
expect_fail "corrupt state" "container state is corrupt" rt state broken2
rt delete --force broken2 2>/dev/null
check "delete --force removes a corrupt state directory" test ! -e "$ROOT/broken2"

# the program does not exist: run, run --detach and create+start all say so
b=$(bundle noprog '.process.args = ["/nonexistent"]')
expect_fail "run of a missing program" "exec /nonexistent: No such file or directory" rt run --bundle "$b" bad-16
nothing_left "run of a missing program" bad-16
expect_fail "run -d of a missing program" "exec /nonexistent: No such file or directory" rt run -d --bundle "$b" bad-17
nothing_left "run -d of a missing program" bad-17
rt create --bundle "$b" bad-18
expect_fail "start of a missing program" "exec /nonexistent: No such file or directory" rt start bad-18
rt delete --force bad-18

finish
