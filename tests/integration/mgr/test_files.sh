#!/bin/bash
# test_files.sh - vessel file push/pull on a busybox container, running and
# stopped: modes and owners, stdin/stdout, a 12 MiB file (checksums both
# ways), hostile symlinks and ".." that must stay inside the container's
# root, a missing path, a directory, a missing instance, bad options; the
# stopped container's temporary root mount is gone afterwards.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

before=$(host_objects)
start_daemon || exit 1
check "launch busybox c1" v launch busybox c1

echo "hello file" >"$T/small"
check "push with --mode/--uid/--gid" v file push "$T/small" c1/root/small --mode 0600 --uid 65534 --gid 65534
check "pushed content" test "$(v exec c1 -- cat /root/small)" = "hello file"
check "pushed mode and owner" test "$(v exec c1 -- stat -c '%a %u %g' /root/small)" = "600 65534 65534"
chmod 0750 "$T/small"
check "push keeps the local mode by default" sh -c "v file push $T/small c1/root/small2 && [ \"\$(v exec c1 -- stat -c '%a %u %g' /root/small2)\" = '750 0 0' ]"
check "push from stdin" sh -c "echo from-stdin | v file push - c1/tmp/in && [ \"\$(v exec c1 -- cat /tmp/in)\" = from-stdin ]"
check "push an empty file" sh -c "v file push - c1/tmp/empty </dev/null && [ \"\$(v exec c1 -- stat -c %s /tmp/empty)\" = 0 ]"
check "pull to stdout" test "$(v file pull c1/root/small -)" = "hello file"
check "pull to a file" sh -c "v file pull c1/root/small $T/back && cmp $T/small $T/back"
mkdir "$T/dir"
check "pull into a directory keeps the name" sh -c "v file pull c1/root/small $T/dir && cmp $T/small $T/dir/small"

head -c $((12 << 20)) /dev/urandom >"$T/big"
sum=$(sha256sum <"$T/big" | cut -d' ' -f1)
check "push 12 MiB" v file push "$T/big" c1/root/big
check "12 MiB arrived intact" test "$(v exec c1 -- sha256sum /root/big | cut -d' ' -f1)" = "$sum"
check "pull 12 MiB" sh -c "v file pull c1/root/big $T/big.back && cmp $T/big $T/big.back"

# hostile: symlinks and .. pointing at the host's files
echo host-secret >"$T/secret"
v exec c1 -- ln -s "/../../../../../..$T/secret" /root/escape >/dev/null
v exec c1 -- ln -s "/../../../../../..$T" /root/escdir >/dev/null
check_fails "pull through a symlink to a host path" "No such file" v file pull c1/root/escape -
check "push through a symlink does not write the host" sh -c "! v file push $T/small c1/root/escdir/planted 2>/dev/null; [ ! -e $T/planted ]"
check "push over a symlink to a host file leaves it" sh -c "! v file push $T/small c1/root/escape 2>/dev/null; [ \"\$(cat $T/secret)\" = host-secret ]"
check "\"..\" stays in the root" sh -c "[ \"\$(v file pull c1/../../../../etc/passwd -)\" = \"\$(v exec c1 -- cat /etc/passwd)\" ]"
check_fails "missing path" "c1:/nonexistent: No such file" v file pull c1/nonexistent -
check_fails "a directory" "not a regular file" v file pull c1/etc -
check_fails "push into a missing directory" "No such file" v file push "$T/small" c1/no/such/dir/f
check_fails "missing instance" "not found|no such instance|does not exist" v file pull nosuch/etc/passwd -
check_fails "no path" "expected NAME/PATH" v file pull c1 -
check_fails "bad --mode" "expected an octal number" v file push "$T/small" c1/root/x --mode 999
check_fails "missing local file" "No such file" v file push "$T/nonexistent" c1/root/x

# stopped: the root is mounted for the copy and unmounted again
check "stop c1" v stop --force c1
check "a stopped container has no mount" sh -c "! grep -q ' $STATE/containers/' /proc/self/mountinfo"
check "push to a stopped instance" v file push "$T/small" c1/root/while-stopped
check "pull from a stopped instance" sh -c "v file pull c1/root/small - | grep -qx 'hello file'"
check "no mount left after the stopped copies" sh -c "! grep -q ' $STATE/containers/' /proc/self/mountinfo"
check "start c1" v start c1
check "the file pushed while stopped is there" test "$(v exec c1 -- cat /root/while-stopped)" = "hello file"

check "delete c1" v delete --force c1
check "host objects as before" test "$(host_objects)" = "$before"
finish
