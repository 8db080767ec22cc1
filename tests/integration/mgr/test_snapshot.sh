#!/bin/bash
# test_snapshot.sh - container snapshots: taken while running (the
# container is frozen for the copy and runs again after), restored while
# running (stopped, restored, started) and while stopped; files written,
# changed and deleted after the snapshot (including an image file, which
# leaves an overlayfs whiteout in the copy) come back as they were; names
# are checked; deleting the instance removes its snapshots.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

before=$(host_objects)
start_daemon || exit 1
check "launch s1" v launch busybox s1
check "write state" v exec s1 -- sh -c 'echo one > /root/f && rm /etc/group'
check "snapshot create (running)" v snapshot create s1
check "still running after the snapshot" test "$(status s1)" = Running
check "snapshot listed as snap0" sh -c "v snapshot list s1 --format csv | grep -q '^snap0,'"
check "change state" v exec s1 -- sh -c 'echo two > /root/f && echo g > /root/g && echo x > /etc/group'
check "restore snap0 (running)" v snapshot restore s1 snap0
check "running after the restore" test "$(status s1)" = Running
check "changed file restored" test "$(v exec s1 -- cat /root/f)" = one
check "new file gone" v exec s1 -- sh -c '! test -e /root/g'
check "deleted image file deleted again (whiteout kept)" v exec s1 -- sh -c '! test -e /etc/group'
check "image files still there" v exec s1 -- test -s /etc/passwd
check "snapshot create named" v snapshot create s1 before
check_fails "duplicate snapshot" "already exists" v snapshot create s1 before
check_fails "invalid snapshot name" "invalid name" v snapshot create s1 "a/b"
check_fails "restore a missing snapshot" "snapshot nope of s1 not found" v snapshot restore s1 nope
check_fails "snapshot of a missing instance" "instance nope not found" v snapshot create nope
check "change again" v exec s1 -- sh -c 'echo three > /root/f'
check "stop" v stop s1
check "restore while stopped" v snapshot restore s1 before
check "stays stopped" test "$(status s1)" = Stopped
check "start" v start s1
check "restored content" test "$(v exec s1 -- cat /root/f)" = one
check "delete snapshot" v snapshot delete s1 snap0
check "one snapshot left" test "$(v snapshot list s1 --format csv | wc -l)" = 1
check_fails "delete it again" "not found" v snapshot delete s1 snap0
check "delete the instance" v delete --force s1
check "snapshot rows gone" test "$(sqlite3 "$STATE/vessel.db" 'SELECT COUNT(*) FROM instance_snapshots')" = 0
check "no container directory left" test -z "$(find "$STATE/containers" -mindepth 1)"
stop_daemon
check "no host object left" test "$(host_objects)" = "$before"
finish
