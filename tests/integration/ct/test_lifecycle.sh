#!/bin/bash
# Container lifecycle through the real vessel-runtime: isolation seen from
# inside (PID 1, hostname, mounts), exit codes, create/start/state/kill/
# delete, honest `stopped`, exec, ps/list, pause/resume, update.
source "$(dirname "$0")/lib.sh"

# --- seen from inside -------------------------------------------------------
mkdir -p "$T/hostmnt" && mount -t tmpfs vessel-host-marker "$T/hostmnt"
b=$(bundle inside ".hostname = \"ctbox\" | .process.args = $(sh_args 'echo pid=$$; hostname; cat /proc/self/mountinfo; ls /')")
out=$(cd "$b" && rt run inside-1 2>&1)
check "run exits 0" eq 0 $?
check "the container process is PID 1" contains "$out" "pid=1"
check "own hostname" eq ctbox "$(echo "$out" | sed -n 2p)"
check "host mounts are not visible" bash -c "! grep -q -e vessel-host-marker -e ' /work' <<<\"\$1\"" _ "$out"
check "root is the busybox rootfs" bash -c "grep -qx etc <<<\"\$1\" && ! grep -qx work <<<\"\$1\"" _ "$out"
check "host hostname unchanged" bash -c '[ "$(hostname)" != ctbox ]'

# --- exit status --------------------------------------------------------------
b=$(bundle exit42 ".process.args = $(sh_args 'exit 42')")
(cd "$b" && rt run exit42)
check "exit code 42 propagates" eq 42 $?
b=$(bundle sig ".process.args = [\"sleep\", \"300\"]")
rt run --bundle "$b" sig &
runpid=$!
wait_status sig running
rt kill sig KILL
wait $runpid
check "death by SIGKILL gives 137" eq 137 $?
check "run removes the container" eq "" "$(ls "$ROOT")"

# --- create / start / state / kill / delete ----------------------------------
b=$(bundle life ".process.args = [\"sleep\", \"300\"]")
rt create --bundle "$b" --pid-file "$T/life.pid" life
check "create succeeds" eq 0 $?
st=$(rt state life)
check "state after create is created" eq created "$(jq -r .status <<<"$st")"
check "pid file matches state pid" eq "$(cat "$T/life.pid")" "$(jq -r .pid <<<"$st")"
check "state has the bundle" eq "$b" "$(jq -r .bundle <<<"$st")"
pid=$(cat "$T/life.pid")
check "created process has not exec'd yet" bash -c "! grep -q sleep /proc/$pid/cmdline"
rt start life
check "start succeeds" eq 0 $?
check "state after start is running" eq running "$(rt state life | jq -r .status)"
check "process is sleep after start" bash -c "tr '\0' ' ' </proc/$pid/cmdline | grep -q 'sleep 300'"
check "start twice fails" bash -c "! '$R' --root '$ROOT' start life 2>/dev/null"
check "delete of a running container without --force fails" bash -c "! '$R' --root '$ROOT' delete life 2>/dev/null"
check "list shows it" contains "$(rt list)" "life"
check "list --format json" eq running "$(rt list --format json | jq -r '.[] | select(.id=="life") | .status')"
check "ps lists the pid" contains "$(rt ps --format json life)" "$pid"
rt pause life
check "pause -> paused" eq paused "$(rt state life | jq -r .status)"
check "paused process is frozen" bash -c "grep -q FROZEN /sys/fs/cgroup/freezer/$CGP/life/freezer.state 2>/dev/null || grep -q 'frozen 1' /sys/fs/cgroup/$CGP/life/cgroup.events 2>/dev/null"
rt resume life
check "resume -> running" eq running "$(rt state life | jq -r .status)"
rt update --pids-limit 7 life
check "update --pids-limit reaches the cgroup" bash -c "grep -qx 7 /sys/fs/cgroup/pids/$CGP/life/pids.max 2>/dev/null || grep -qx 7 /sys/fs/cgroup/$CGP/life/pids.max"
rt kill life KILL
wait_status life stopped
check "kill KILL -> stopped" eq stopped "$(rt state life | jq -r .status)"
# an exited process that its parent has not reaped yet can still be signalled
# (kill right after exit must not race); once reaped, kill fails
for _ in $(seq 100); do [ -e /proc/$pid ] || break; sleep 0.05; done
check "kill of a stopped (and reaped) container fails" bash -c "! '$R' --root '$ROOT' kill life 2>/dev/null"
rt delete life
check "delete succeeds" eq 0 $?
check "state dir removed" test ! -e "$ROOT/life"
check "cgroup removed" no_cgroup "$CGP/life"
check "state of a deleted container fails" bash -c "! '$R' --root '$ROOT' state life 2>/dev/null"

# --- the process dies behind the runtime's back: state is honest -------------
b=$(bundle honest ".process.args = [\"sleep\", \"300\"]")
rt run --detach --bundle "$b" honest
pid=$(rt state honest | jq -r .pid)
kill -9 "$pid"
wait_status honest stopped
check "a container whose process died is stopped" eq stopped "$(rt state honest | jq -r .status)"
rt delete honest
check "delete of stopped container" eq 0 $?

# --- exec -----------------------------------------------------------------------
b=$(bundle ex ".hostname = \"exbox\" | .process.args = [\"sleep\", \"300\"]")
rt run -d --bundle "$b" ex
out=$(rt exec ex sh -c 'echo pid=$$; hostname; cat /proc/1/cmdline | tr "\0" " "')
check "exec exits 0" eq 0 $?
check "exec runs in the container's uts namespace" contains "$out" "exbox"
check "exec sees the container's PID 1" contains "$out" "sleep 300"
check "exec gets a pid other than 1" bash -c "! grep -qx pid=1 <<<\"\$1\"" _ "$out"
rt exec ex sh -c 'exit 7'
check "exec exit code propagates" eq 7 $?
rt exec --env FOO=bar --cwd /tmp ex sh -c '[ "$FOO" = bar ] && [ "$(pwd)" = /tmp ]'
check "exec --env and --cwd" eq 0 $?
rt exec --user 65534:65534 ex sh -c '[ "$(id -u)" = 65534 ]'
check "exec --user" eq 0 $?
jq -n '{args:["sh","-c","echo from-process-json > /tmp/pj"], cwd:"/", env:["PATH=/bin"], user:{uid:0,gid:0}}' >"$T/proc.json"
rt exec --process "$T/proc.json" --detach --pid-file "$T/exec.pid" ex
check "exec --process --detach writes a pid file" test -s "$T/exec.pid"
sleep 0.2
check "exec --process ran" eq from-process-json "$(rt exec ex cat /tmp/pj)"
check "exec of a missing program fails" bash -c "! '$R' --root '$ROOT' exec ex /nonexistent 2>/dev/null"
rt delete --force ex
check "delete --force of a running container" eq 0 $?
check "no state left" eq "" "$(ls "$ROOT")"

# --- hooks: each gets the state on stdin, runs in order, timeouts kill ----------
cat >"$T/hook.sh" <<'HOOK'
#!/bin/sh
# hook.sh NAME LOG: append "NAME status pid" (from the state on stdin) to LOG
state=$(cat)
status=$(echo "$state" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')
pid=$(echo "$state" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
echo "$1 $status $pid" >>"$2"
HOOK
chmod +x "$T/hook.sh"
mkdir -p "$T/rootfs/hooklog"
log=$T/rootfs/hooklog/log
hk() { echo "{path: \"$T/hook.sh\", args: [\"hook.sh\", \"$1\", \"${2:-$log}\"]}"; }
b=$(bundle hooks ".root.readonly = false | .process.args = [\"true\"] | .hooks = {
  prestart: [$(hk prestart)], createRuntime: [$(hk createRuntime)],
  createContainer: [$(hk createContainer)], startContainer: [{path: \"/bin/sh\", args: [\"sh\", \"-c\", \"cat >/dev/null; echo startContainer >>/hooklog/log\"]}],
  poststart: [$(hk poststart)], poststop: [$(hk poststop)]}")
rt run --bundle "$b" hooks
check "run with all hooks" eq 0 $?
check "hooks ran in spec order" eq "prestart createRuntime createContainer startContainer poststart poststop" "$(cut -d' ' -f1 "$log" | tr '\n' ' ' | sed 's/ $//')"
check "createRuntime saw status created (as crun: create set the environment up)" eq created "$(sed -n 's/^createRuntime \([a-z]*\).*/\1/p' "$log")"
check "poststop saw status stopped" eq stopped "$(sed -n 's/^poststop \([a-z]*\).*/\1/p' "$log")"
check "hooks got the container pid" bash -c "p=\$(sed -n 's/^prestart [a-z]* //p' '$log'); [ -n \"\$p\" ] && [ \"\$p\" -gt 1 ]"
b=$(bundle hooktimeout '.process.args = ["true"] | .hooks = {createRuntime: [{path: "/bin/sleep", args: ["sleep", "30"], timeout: 1}]}')
start=$(date +%s)
err=$(rt run --bundle "$b" hooktimeout 2>&1)
check "a hook past its timeout fails create" contains "$err" "createRuntime hook /bin/sleep: timed out after 1 s"
check "the timeout is enforced (< 10 s)" test $(($(date +%s) - start)) -lt 10
check "failed create left no state" test ! -e "$ROOT/hooktimeout"

# --- informational commands ----------------------------------------------------------
check "--version names the runtime-spec version" contains "$("$R" --version)" "spec: 1.1.0"
check "features is the spec features document" eq 1.1.0 "$("$R" features | jq -r .ociVersionMax)"
check "features lists the time namespace" contains "$("$R" features | jq -c .linux.namespaces)" '"time"'
mkdir -p "$T/rl"
"$R" spec --rootless --bundle "$T/rl"
check "spec --rootless maps the caller to root" eq "$(id -u)" "$(jq -r '.linux.uidMappings[0].hostID' "$T/rl/config.json")"
check "spec refuses to overwrite" bash -c "! '$R' spec --bundle '$T/rl' 2>/dev/null"

# --- signal forwarding in foreground run, kill --all ----------------------------------
b=$(bundle fwd ".process.args = $(sh_args 'trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done')")
"$R" --root "$ROOT" run --bundle "$b" fwd >"$T/fwd.out" & # not via rt(): $! must be the runtime
runpid=$!
for _ in $(seq 100); do grep -q ready "$T/fwd.out" 2>/dev/null && break; sleep 0.05; done
kill -TERM $runpid
wait $runpid
check "SIGTERM to a foreground run reaches the process (its trap exits 42)" eq 42 $?
b=$(bundle killall '.process.args = ["sleep", "300"]')
rt run -d --bundle "$b" killall
rt exec -d --pid-file "$T/killall.pid" killall sleep 300
epid=$(cat "$T/killall.pid")
rt kill --all killall KILL
wait_status killall stopped
check "kill --all stops the container" eq stopped "$(rt state killall | jq -r .status)"
for _ in $(seq 100); do [ -e /proc/$epid ] && [ "$(awk '{print $3}' /proc/$epid/stat 2>/dev/null)" != Z ] || break; sleep 0.05; done
check "kill --all also killed the exec'd process" bash -c "[ ! -e /proc/$epid ] || [ \"\$(awk '{print \$3}' /proc/$epid/stat)\" = Z ]"
rt delete killall

finish
