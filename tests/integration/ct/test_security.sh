#!/bin/bash
# Confinement seen from inside the container: seccomp (errno, argument
# conditions), capabilities, noNewPrivileges, user-namespace mappings,
# masked and read-only paths, read-only root.  Each check has a control
# case showing the same operation works without the restriction, so the
# checks can fail.
source "$(dirname "$0")/lib.sh"

errtext() { python3 -c "import os,sys; print(os.strerror(int(sys.argv[1])))" "$1"; }

# --- seccomp -------------------------------------------------------------------
seccomp='.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
  syscalls: [
    {names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 95},
    {names: ["chmod"], action: "SCMP_ACT_ERRNO", errnoRet: 18, args: [{index: 1, value: 448, op: "SCMP_CMP_EQ"}]},
    {names: ["fchmodat"], action: "SCMP_ACT_ERRNO", errnoRet: 18, args: [{index: 2, value: 448, op: "SCMP_CMP_EQ"}]}
  ]}'
b=$(bundle sec "$seccomp | .process.args = $(sh_args 'mkdir /tmp/d; touch /tmp/f; chmod 755 /tmp/f && echo chmod755-ok; chmod 700 /tmp/f')")
out=$(rt run --bundle "$b" sec-1 2>&1)
check "seccomp: blocked syscall fails with the configured errno" contains "$out" "$(errtext 95)"
check "seccomp: argument condition not matched -> allowed" contains "$out" "chmod755-ok"
check "seccomp: argument condition matched -> errnoRet" contains "$out" "$(errtext 18)"
b=$(bundle nosec ".process.args = $(sh_args 'mkdir /tmp/d && echo mkdir-ok')")
check "control: mkdir works without the filter" contains "$(rt run --bundle "$b" sec-2 2>&1)" "mkdir-ok"
b=$(bundle seckill '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", syscalls: [{names: ["getppid"], action: "SCMP_ACT_KILL_PROCESS"}]} | .process.args = ["sh", "-c", "echo $PPID"]')
rt run --bundle "$b" sec-3 >/dev/null 2>&1
check "seccomp: SCMP_ACT_KILL_PROCESS kills with SIGSYS (159)" eq 159 $?

# --- capabilities -----------------------------------------------------------------
b=$(bundle caps ".process.args = $(sh_args 'touch /tmp/f; chown 1:1 /tmp/f || echo chown-denied; grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status')")
out=$(rt run --bundle "$b" caps-1 2>&1)
check "dropped CAP_CHOWN cannot be used" contains "$out" "chown-denied"
check "effective set is exactly the configured one" contains "$out" "CapEff:	0000000020000420"
check "noNewPrivileges is set" contains "$out" "NoNewPrivs:	1"
b=$(bundle caps2 ".process.capabilities.bounding += [\"CAP_CHOWN\"] | .process.capabilities.effective += [\"CAP_CHOWN\"] | .process.capabilities.permitted += [\"CAP_CHOWN\"] | .process.noNewPrivileges = false | .process.args = $(sh_args 'touch /tmp/f; chown 1:1 /tmp/f && echo chown-ok; grep NoNewPrivs /proc/self/status')")
out=$(rt run --bundle "$b" caps-2 2>&1)
check "control: with CAP_CHOWN chown works" contains "$out" "chown-ok"
check "control: noNewPrivileges false" contains "$out" "NoNewPrivs:	0"
b=$(bundle user ".process.user = {uid: 65534, gid: 65534, additionalGids: [5, 7], umask: 63} | .process.args = $(sh_args 'id -u; id -g; id -G; umask')")
out=$(rt run --bundle "$b" user-1 2>&1)
check "process.user uid/gid/additionalGids/umask" eq "65534 65534 65534 5 7 0077" "$(echo $out)"

# --- user namespace -------------------------------------------------------------
userns='.linux.namespaces += [{type: "user"}] | .linux.uidMappings = [{containerID: 0, hostID: 200000, size: 65536}] | .linux.gidMappings = [{containerID: 0, hostID: 200000, size: 65536}]'
b=$(bundle uns "$userns | .process.args = $(sh_args 'cat /proc/self/uid_map; cat /proc/self/gid_map; id -u; sleep 300')")
rt run -d --bundle "$b" uns-1 >"$T/uns.out" 2>&1
wait_status uns-1 running
pid=$(rt state uns-1 | jq -r .pid)
sleep 0.2
out=$(cat "$T/uns.out")
check "userns: uid_map applies inside" bash -c "grep -Eq '^ +0 +200000 +65536' <<<\"\$1\"" _ "$out"
check "userns: root inside" bash -c "grep -qx 0 <<<\"\$1\"" _ "$out"
check "userns: the process is uid 200000 on the host" eq 200000 "$(stat -c %u /proc/$pid)"
rt delete --force uns-1

# --- masked / read-only paths, read-only root ---------------------------------------
b=$(bundle mask ".process.args = $(sh_args 'wc -c </proc/timer_list; ls /proc/acpi | wc -l; echo x >/proc/sys/kernel/hostname || echo ro-denied; touch /rootfile || echo rootfs-ro')")
out=$(rt run --bundle "$b" mask-1 2>&1)
check "masked file reads empty" eq 0 "$(echo "$out" | sed -n 1p)"
check "control: the host's /proc/timer_list is not empty" test "$(wc -c </proc/timer_list)" -gt 0
check "masked directory is empty" eq 0 "$(echo "$out" | sed -n 2p)"
check "read-only path cannot be written" contains "$out" "ro-denied"
check "read-only root cannot be written" contains "$out" "rootfs-ro"
check "nothing written to the rootfs" test ! -e "$T/rootfs/rootfile"

# --- symlinks in the rootfs cannot redirect mounts to the host -------------------------
mkdir -p "$T/evil/rootfs" && cp -a "$T/rootfs/." "$T/evil/rootfs/"
mkdir -p "$T/victim"
ln -s "$T/victim" "$T/evil/rootfs/escape"
ln -s ../../../../../../../../"$T/victim" "$T/evil/rootfs/escape2"
b=$(bundle evil ".root.path = \"$T/evil/rootfs\" | .root.readonly = false | .mounts += [{destination: \"/escape\", type: \"tmpfs\", source: \"tmpfs\"}, {destination: \"/escape2/sub\", type: \"tmpfs\", source: \"tmpfs\"}] | .process.args = [\"true\"]")
rt run --bundle "$b" evil-1 >/dev/null 2>&1
check "a rootfs symlink to a host path is resolved inside the rootfs" bash -c "[ -z \"\$(ls -A '$T/victim')\" ] && ! grep -q '$T/victim' /proc/self/mountinfo"

# --- joining namespaces by path, time namespace, --no-pivot, terminal ------------
b=$(bundle nsA '.hostname = "box-a" | .process.args = ["sleep", "300"]')
rt run -d --bundle "$b" ns-a
apid=$(rt state ns-a | jq -r .pid)
b=$(bundle nsB "del(.hostname) | .linux.namespaces |= map(if .type == \"uts\" then .path = \"/proc/$apid/ns/uts\" elif .type == \"network\" then .path = \"/proc/$apid/ns/net\" else . end) | .process.args = $(sh_args 'hostname; readlink /proc/self/ns/net')")
out=$(rt run --bundle "$b" ns-b 2>&1)
check "joined uts namespace by path" eq box-a "$(echo "$out" | sed -n 1p)"
check "joined network namespace by path" eq "$(readlink /proc/$apid/ns/net)" "$(echo "$out" | sed -n 2p)"
rt delete --force ns-a
b=$(bundle timens '.linux.namespaces += [{type: "time"}] | .linux.timeOffsets = {boottime: {secs: 864000, nanosecs: 0}, monotonic: {secs: 864000, nanosecs: 0}} | .process.args = ["cat", "/proc/uptime"]')
up=$(rt run --bundle "$b" time-1 2>&1 | cut -d. -f1)
check "time namespace offsets apply (uptime $up >= 864000)" test "${up:-0}" -ge 864000
check "control: host uptime is smaller" test "$(cut -d. -f1 /proc/uptime)" -lt 864000
b=$(bundle nopivot ".process.args = $(sh_args 'ls / | grep -c etc')")
check "--no-pivot runs" eq 1 "$(rt run --no-pivot --bundle "$b" nopivot 2>&1)"
python3 "$HERE/console_recv.py" "$T/console.sock" "$T/console.out" &
recv=$!
for _ in $(seq 100); do [ -e "$T/console.sock.ready" ] && break; sleep 0.05; done
b=$(bundle tty ".process.terminal = true | .process.args = $(sh_args 'tty; [ -t 0 ] && echo stdin-is-a-tty; echo console=$(stat -c %t /dev/console)')")
# stdin closed, as CI starts us: the runtime must not hand fd 0 to the pty
rt create --bundle "$b" --console-socket "$T/console.sock" tty-1 0<&-
check "create with --console-socket" eq 0 $?
rt start tty-1
wait $recv
out=$(tr -d '\r' <"$T/console.out")
check "the pty master arrived with its name" contains "$out" "NAME=/dev/pts/"
check "the process has the pty as its terminal" contains "$out" "/dev/pts/0"
check "stdin is the terminal" contains "$out" "stdin-is-a-tty"
check "/dev/console is the pty (major 136)" contains "$out" "console=88"
rt delete --force tty-1

# --- process and linux details: rlimits, oomScoreAdj, sysctl, devices, bind mounts --------
mkdir -p "$T/share-ro" "$T/share-rw" && echo hostdata >"$T/share-ro/f"
b=$(bundle details ".process.oomScoreAdj = 500 | .process.rlimits = [{type: \"RLIMIT_NOFILE\", soft: 123, hard: 456}] |
  .linux.sysctl = {\"net.ipv4.ip_forward\": \"1\", \"kernel.msgmax\": \"4242\"} |
  .linux.devices = [{path: \"/dev/fuse\", type: \"c\", major: 10, minor: 229, fileMode: 384, uid: 0, gid: 0}] |
  .mounts += [{destination: \"/data/ro\", type: \"bind\", source: \"$T/share-ro\", options: [\"rbind\", \"ro\"]},
              {destination: \"/data/rw\", type: \"none\", source: \"$T/share-rw\", options: [\"bind\"]}] |
  .process.args = $(sh_args 'cat /proc/self/oom_score_adj; ulimit -n; ulimit -Hn; cat /proc/sys/net/ipv4/ip_forward; cat /proc/sys/kernel/msgmax; stat -c "%t:%T %a" /dev/fuse; cat /data/ro/f; echo x >/data/ro/g || echo ro-bind-denied; echo y >/data/rw/g && echo rw-bind-ok')")
out=$(rt run --bundle "$b" details 2>&1)
check "oomScoreAdj applied" eq 500 "$(echo "$out" | sed -n 1p)"
check "RLIMIT_NOFILE soft" eq 123 "$(echo "$out" | sed -n 2p)"
check "RLIMIT_NOFILE hard" eq 456 "$(echo "$out" | sed -n 3p)"
check "net sysctl in the container's network namespace" eq 1 "$(echo "$out" | sed -n 4p)"
check "ipc sysctl in the container's ipc namespace" eq 4242 "$(echo "$out" | sed -n 5p)"
check "control: host msgmax unchanged" test "$(cat /proc/sys/kernel/msgmax)" != 4242
check "configured device node with its mode" eq "a:e5 600" "$(echo "$out" | sed -n 6p)"
check "bind mount of a host directory" eq hostdata "$(echo "$out" | sed -n 7p)"
check "read-only bind mount" contains "$out" "ro-bind-denied"
check "read-write bind mount" contains "$out" "rw-bind-ok"
check "the write went to the host directory" test -e "$T/share-rw/g"
check "nothing written through the ro bind" test ! -e "$T/share-ro/g"

# exec --tty through a console socket
b=$(bundle ttyexec '.process.args = ["sleep", "300"]')
rt run -d --bundle "$b" tty-2
python3 "$HERE/console_recv.py" "$T/console2.sock" "$T/console2.out" &
recv=$!
for _ in $(seq 100); do [ -e "$T/console2.sock.ready" ] && break; sleep 0.05; done
rt exec --tty --console-socket "$T/console2.sock" tty-2 sh -c 'tty; [ -t 1 ] && echo stdout-is-a-tty'
check "exec --tty exits 0" eq 0 $?
wait $recv
out=$(tr -d '\r' <"$T/console2.out")
check "exec --tty: the process has a pty" contains "$out" "/dev/pts/"
check "exec --tty: stdout is the terminal" contains "$out" "stdout-is-a-tty"
rt delete --force tty-2

# foreground run with a terminal and no console socket: the runtime is the terminal
b=$(bundle ttyfg ".process.terminal = true | .process.args = $(sh_args 'tty; [ -t 0 ] && echo in-is-tty; read line; echo got=$line; exit 3')")
echo hello | rt run --bundle "$b" tty-3 >"$T/tty3.out" 2>&1
rc=$?
out=$(tr -d '\r' <"$T/tty3.out")
check "foreground terminal run: the process has a pty" contains "$out" "/dev/pts/0"
check "foreground terminal run: stdin reaches it" contains "$out" "got=hello"
check "foreground terminal run: exit code" eq 3 "$rc"
if command -v script >/dev/null; then
	SHELL=/bin/sh script -qec "$R --root $ROOT run --bundle $b tty-4" "$T/typescript" <<<"world" >"$T/tty4.out" 2>&1
	check "foreground terminal run under a real terminal" contains "$(tr -d '\r' <"$T/tty4.out")" "got=world"
fi

finish
