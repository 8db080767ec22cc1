#!/bin/bash
# test_lifecycle.sh - vesseld + vessel end to end on the built-in busybox
# image: launch, list (every format), info, exec (output, exit status, env,
# cwd, user, stdin), stop/start/restart, pause/resume (the freezer really
# freezes), live limits.memory and limits.cpu changes seen in the
# container's cgroup, rename, config errors, events, operations, delete;
# and the CLI's one-line errors (missing instance, bad key, limit above the
# host, daemon not running).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

before=$(host_objects)
check_fails "no daemon: one clear line" "cannot reach vesseld" v list
check "bash completion from the command table" sh -c "v completion bash | bash -n && v completion bash | grep -q 'launch init list'"
check_fails "unknown command" "unknown command" v frobnicate
start_daemon || exit 1

check "built-in busybox image is there" sh -c "v image list --format csv | grep -q '^busybox,'"
v monitor --type lifecycle >"$T/events" 2>&1 &
MON=$!
check "launch busybox c1" v launch busybox c1 -c user.purpose=test
check "c1 is Running" test "$(status c1)" = Running
check "list --format json" sh -c "v list --format json | jq -e '.[0].name == \"c1\" and .[0].config[\"user.purpose\"] == \"test\"'"
check "list --format yaml" sh -c "v list --format yaml | grep -q '\"name\": \"c1\"'"
check "list --format table" sh -c "v list | grep -q '| c1 '"
check "info c1" sh -c "v info c1 --format json | jq -e '.status == \"Running\" and .pid > 0'"
check "the listing's live state of c1 is info's (status, pid)" sh -c "test \"\$(v list --format json | jq -c '.[] | select(.name == \"c1\") | [.status, .pid]')\" = \"\$(v info c1 --format json | jq -c '[.status, .pid]')\""
check "exec output" test "$(v exec c1 -- echo hello)" = hello
v exec c1 -- sh -c 'exit 7'
check "exec exit status" test $? = 7
check "exec stderr" sh -c "v exec c1 -- sh -c 'echo oops >&2' 2>&1 >/dev/null | grep -qx oops"
check "exec env and cwd" test "$(v exec c1 --env FOO=bar --cwd /tmp -- sh -c 'echo $FOO $(pwd)')" = "bar /tmp"
check "exec user" test "$(v exec c1 --user 65534 -- id -u)" = 65534
check "exec stdin" test "$(echo piped | v exec c1 --stdin -- cat)" = piped
check "hostname is the name" test "$(v exec c1 -- hostname)" = c1
check "rootfs is writable and private" sh -c "v exec c1 -- sh -c 'echo x > /root/f && cat /root/f' | grep -qx x"

# live limits
id=$(runtime_id c1)
memfile=$(ls /sys/fs/cgroup/memory/"$id"/memory.limit_in_bytes /sys/fs/cgroup/"$id"/memory.max 2>/dev/null | head -1)
check "config set limits.memory live" v config set c1 limits.memory=96MiB
check "memory limit in the cgroup" test "$(cat "$memfile")" = $((96 << 20))
check "config get" test "$(v config get c1 limits.memory)" = 96MiB
check "config set limits.memory again" v config set c1 limits.memory=128MiB
check "new memory limit in the cgroup" test "$(cat "$memfile")" = $((128 << 20))
check "config unset limits.memory lifts it" sh -c "v config unset c1 limits.memory && [ \$(cat $memfile) -gt $((1 << 40)) ] || grep -qx max $memfile"
cpufile=$(ls /sys/fs/cgroup/cpu/"$id"/cpu.cfs_quota_us /sys/fs/cgroup/"$id"/cpu.max 2>/dev/null | head -1)
check "config set limits.cpu=1 live" v config set c1 limits.cpu=1
check "cpu quota in the cgroup" grep -q 100000 "$cpufile"
check_fails "limit above the host" "exceeds the host" v config set c1 limits.memory=1000T
check_fails "bad key" "unknown config key" v config set c1 limits.bogus=1
check "failed set changed nothing" test "$(v config get c1 limits.cpu)" = 1
check "config show" sh -c "v config show c1 | grep -q 'limits.cpu'"

# state changes
check "pause" v pause c1
check "Frozen" test "$(status c1)" = Frozen
fz=$(ls /sys/fs/cgroup/freezer/"$id"/freezer.state 2>/dev/null)
[ -n "$fz" ] && check "freezer FROZEN" grep -qx FROZEN "$fz"
check_fails "exec in a frozen instance" "not running" v exec c1 -- true
check "resume" v resume c1
check "Running again" test "$(status c1)" = Running
check "stop (clean)" v stop c1
check "Stopped" test "$(status c1)" = Stopped
check "stopped: no cgroup left" test ! -e "/sys/fs/cgroup/memory/$id"
check_fails "stop a stopped instance" "is Stopped: cannot stop" v stop c1
check "start" v start c1
check "file survived the stop" test "$(v exec c1 -- cat /root/f)" = x
check "limits re-applied at start" grep -q 100000 "$(ls /sys/fs/cgroup/cpu/"$id"/cpu.cfs_quota_us /sys/fs/cgroup/"$id"/cpu.max 2>/dev/null | head -1)"
check "restart" v restart c1
check "Running after restart" test "$(status c1)" = Running
check "stop --force --timeout 0" v stop --force --timeout 0 c1
check "rename" v rename c1 c2
check "renamed" test "$(status c2)" = Stopped
check_fails "old name gone" "instance c1 not found" v info c1
check_fails "missing instance" "instance nope not found" v start nope
check_fails "bad name" "invalid name" v launch busybox 1bad
check_fails "missing image" "image nosuch not found" v launch nosuch c3
check_fails "duplicate name" "already exists" v launch busybox c2
check "init (create only)" v init busybox c3
check "c3 Stopped" test "$(status c3)" = Stopped
check_fails "delete a running instance without force" "stop it first" sh -c "v start c2 && v delete c2"
check "delete --force" v delete --force c2
check "delete" v delete c3
check "list empty" test -z "$(v list --format csv)"
check "operation list" sh -c "v operation list --format json | jq -e 'length > 0 and all(.[]; .status == \"Success\" or .status == \"Failure\")'"
wait_for "events seen" grep -q instance-deleted "$T/events"
check "lifecycle events streamed" sh -c "grep -q instance-created $T/events && grep -q instance-started $T/events && grep -q instance-paused $T/events"
kill $MON 2>/dev/null
wait $MON 2>/dev/null
check "no host object left" test "$(host_objects)" = "$before"
stop_daemon
finish
