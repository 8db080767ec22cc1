#!/bin/bash
# runtime-spec MUSTs seen from inside and around the container: namespaces
# left out of linux.namespaces are inherited from the runtime (including the
# mount namespace: chroot in the shared mount table, mounts detached again
# at delete), linux.rootfsPropagation as /proc/self/mountinfo shows it on
# "/", hook semantics (state on stdin, failing poststart/poststop hooks are
# warnings and the rest still run), config.json edits after create have no
# effect, and kill right after start of a short process while the pid still
# exists (a stress loop with the test as the subreaper that has not reaped).
source "$(dirname "$0")/lib.sh"

PROP=$T/proprootfs
trap 'umount -l "$PROP" 2>/dev/null; cleanup' EXIT

# create_err ID BUNDLE: the error of a create expected to fail (through a file:
# a create that wrongly succeeds leaves a process holding its stdio open)
create_err() {
	rt create --bundle "$2" "$1" </dev/null >/dev/null 2>"$T/create.err"
	cat "$T/create.err"
}

# --- namespaces left out are inherited -------------------------------------------
# sh_args prints the container's namespace ids; the runtime's are ours
ns_ids='for n in mnt net uts ipc pid cgroup user; do readlink /proc/self/ns/$n; done'
own=$(for n in mnt net uts ipc pid cgroup user; do readlink /proc/self/ns/$n; done)
declare -A NSFILE=([mount]=mnt [network]=net [uts]=uts [ipc]=ipc [pid]=pid [cgroup]=cgroup)
cp -a "$T/rootfs" "$T/rootfs-nomnt"
for t in mount network uts ipc pid cgroup; do
	f=${NSFILE[$t]}
	extra=""
	[ "$t" = uts ] && extra='| del(.hostname)'
	[ "$t" = mount ] && extra="| .root.readonly = false | .root.path = \"$T/rootfs-nomnt\""
	b=$(bundle "ns-$t" ".linux.namespaces |= map(select(.type != \"$t\")) $extra | .process.args = $(sh_args "$ns_ids")")
	out=$(rt run --bundle "$b" "ns-$t" 2>&1)
	check "no $t namespace in the config: run works" eq 0 $?
	want=$(grep "^$f:" <<<"$own")
	check "no $t namespace: the container has the runtime's ($want)" eq "$want" "$(grep "^$f:" <<<"$out")"
	# every namespace the config lists is a new one
	for other in mount network uts ipc pid cgroup; do
		[ "$other" = "$t" ] && continue
		o=${NSFILE[$other]}
		check "no $t namespace: the listed $other namespace is still new" \
			bash -c "[ \"\$(grep '^$o:' <<<\"\$1\")\" != \"\$(grep '^$o:' <<<\"\$2\")\" ]" _ "$out" "$own"
	done
done
check "user namespace not listed: the runtime's" eq "$(grep '^user:' <<<"$own")" "$(grep '^user:' <<<"$out")"

# without a mount namespace: chroot into the rootfs, mounts in our table while
# it runs, none left after delete; exec lands in the same root
b=$(bundle nomnt ".linux.namespaces |= map(select(.type != \"mount\")) | .root.readonly = false |
  .root.path = \"$T/rootfs-nomnt\" | .process.args = [\"sleep\", \"300\"]")
rt run -d --bundle "$b" nomnt
check "no mount namespace: run -d works" eq 0 $?
check "no mount namespace: the container's /proc is mounted in the runtime's table" \
	grep -q " $T/rootfs-nomnt/proc " /proc/self/mountinfo
out=$(rt exec nomnt sh -c 'cat /etc/hostname; ls /; test -e /proc/1/status && echo proc-ok')
check "no mount namespace: exec runs chrooted in the rootfs" eq vessel "$(sed -n 1p <<<"$out")"
check "no mount namespace: exec does not see the host's /work" bash -c "! grep -qx work <<<\"\$1\" && grep -qx bin <<<\"\$1\"" _ "$out"
check "no mount namespace: exec sees the container's /proc" contains "$out" proc-ok
rt delete --force nomnt
check "no mount namespace: delete leaves no mount under the rootfs" \
	bash -c "! grep -q ' $T/rootfs-nomnt/' /proc/self/mountinfo"
b=$(bundle nomnt-ro ".linux.namespaces |= map(select(.type != \"mount\")) | .root.readonly = true | .root.path = \"$T/rootfs-nomnt\"")
err=$(create_err nomnt-ro "$b")
check "no mount namespace: root.readonly is refused, not ignored" contains "$err" "root.readonly: needs a mount namespace"
b=$(bundle nomnt-prop ".linux.namespaces |= map(select(.type != \"mount\")) | .root.readonly = false | .root.path = \"$T/rootfs-nomnt\" | .linux.rootfsPropagation = \"shared\"")
err=$(create_err nomnt-prop "$b")
check "no mount namespace: rootfsPropagation is refused" contains "$err" "linux.rootfsPropagation: needs a mount namespace"
check "refused creates left no state" bash -c "[ ! -e '$ROOT/nomnt-ro' ] && [ ! -e '$ROOT/nomnt-prop' ]"
check "refused creates left no mount under the rootfs" \
	bash -c "! grep -q ' $T/rootfs-nomnt/' /proc/self/mountinfo"
b=$(bundle sysctl-host '.linux.sysctl = {"vm.swappiness": "1"}')
err=$(create_err sysctl-host "$b")
check "a sysctl of no namespace (it would change the host) is refused" contains "$err" "linux.sysctl.vm.swappiness: not a namespaced sysctl"

# --- linux.rootfsPropagation, as mountinfo shows "/" inside ----------------------
# the rootfs is a shared mount here, so that a slave has a master to show
mkdir -p "$PROP"
cp -a "$T/rootfs/." "$PROP/"
mount --bind "$PROP" "$PROP" && mount --make-shared "$PROP"
root_line='awk '\''$5 == "/"'\'' /proc/self/mountinfo'
for p in shared slave private unbindable rshared rslave rprivate runbindable; do
	b=$(bundle "prop-$p" ".root.path = \"$PROP\" | .linux.rootfsPropagation = \"$p\" | .process.args = $(sh_args "$root_line")")
	out=$(rt run --bundle "$b" "prop-$p" 2>&1)
	check "rootfsPropagation $p: run works" eq 0 $?
	opt=$(awk '{for (i = 7; i <= NF && $i != "-"; i++) printf "%s ", $i}' <<<"$out")
	case $p in
	*shared) check "rootfsPropagation $p: / is shared ($opt)" contains "$opt" "shared:" ;;
	*slave) check "rootfsPropagation $p: / is a slave ($opt)" bash -c "[[ '$opt' == *master:* && '$opt' != *shared:* ]]" ;;
	*private) check "rootfsPropagation $p: / is private ($opt)" bash -c "[[ '$opt' != *master:* && '$opt' != *shared:* && '$opt' != *unbindable* ]]" ;;
	*unbindable) check "rootfsPropagation $p: / is unbindable ($opt)" contains "$opt" unbindable ;;
	esac
done
check "rootfsPropagation runs left nothing mounted on the host's rootfs" \
	bash -c "! grep -q ' $PROP/' /proc/self/mountinfo"

# --- hooks --------------------------------------------------------------------------
cat >"$T/hk.sh" <<'HOOK'
#!/bin/sh
# hk.sh NAME LOG [EXIT]: append "NAME status" (from the state on stdin) to LOG
status=$(cat | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')
echo "$1 $status" >>"$2"
exit "${3:-0}"
HOOK
chmod +x "$T/hk.sh"
log=$T/hooks.log
hk() { echo "{path: \"$T/hk.sh\", args: [\"hk.sh\", \"$1\", \"$log\", \"${2:-0}\"]}"; }
b=$(bundle hk ".process.args = [\"true\"] | .hooks = {prestart: [$(hk prestart)],
  createRuntime: [$(hk createRuntime)], createContainer: [$(hk createContainer)],
  poststart: [$(hk poststart-fails 3), $(hk poststart-after)],
  poststop: [$(hk poststop-fails 4), $(hk poststop-after)]}")
err=$(rt run --bundle "$b" hk 2>&1)
check "failing poststart/poststop hooks do not fail run" eq 0 $?
check "the hook after a failing poststart hook still ran" grep -qxE "poststart-after (running|stopped)" "$log"
check "the hook after a failing poststop hook still ran" grep -qx "poststop-after stopped" "$log"
check "a failing poststart hook is a warning naming it" contains "$err" "poststart hook $T/hk.sh: exited with status 3"
check "a failing poststop hook is a warning naming it" contains "$err" "poststop hook $T/hk.sh: exited with status 4"
check "prestart sees status created (as crun)" grep -qx "prestart created" "$log"
check "createRuntime sees status created" grep -qx "createRuntime created" "$log"
check "createContainer sees status created" grep -qx "createContainer created" "$log"
check "hooks ran in order" eq "prestart createRuntime createContainer poststart-fails poststart-after poststop-fails poststop-after" \
	"$(cut -d' ' -f1 "$log" | tr '\n' ' ' | sed 's/ $//')"

# --- config.json edited after create changes nothing -----------------------------
log2=$T/edit.log
he() { echo "{path: \"$T/hk.sh\", args: [\"hk.sh\", \"$1\", \"$log2\"]}"; }
b=$(bundle edit ".process.env += [\"WHICH=created\"] | .process.args = [\"sleep\", \"300\"] |
  .hooks = {poststart: [$(he poststart-created)], poststop: [$(he poststop-created)]}")
rt create --bundle "$b" edit
check "create (config to be edited)" eq 0 $?
jq ".process.env += [\"WHICH=edited\"] | .process.args = [\"sleep\", \"301\"] |
  .hooks = {poststart: [$(he poststart-edited)], poststop: [$(he poststop-edited)]}" \
	"$b/config.json" >"$b/c.json" && mv "$b/c.json" "$b/config.json"
rt start edit
check "start after the edit" eq 0 $?
pid=$(rt state edit | jq -r .pid)
check "the process is the one create parsed" bash -c "tr '\0' ' ' </proc/$pid/cmdline | grep -q 'sleep 300 '"
check "start ran the poststart hook of create's config, not the edited one" eq "poststart-created" "$(cut -d' ' -f1 "$log2" | tr '\n' ' ' | sed 's/ $//')"
check "exec uses create's process defaults (env)" eq created "$(rt exec edit sh -c 'echo $WHICH')"
rt delete --force edit
check "delete ran the poststop hook of create's config" eq "poststart-created poststop-created" "$(cut -d' ' -f1 "$log2" | tr '\n' ' ' | sed 's/ $//')"

# --- kill right after start, while the process exits -----------------------------
# The test is the subreaper of the containers and reaps only after `kill`:
# until then the pid named by the pid file exists (alive or a zombie), so
# kill must succeed every time; once reaped, kill says "not running".
b=$(bundle race '.process.args = ["true"]')
cat >"$T/race.py" <<'PY'
import ctypes, json, os, subprocess, sys, time
R, root, bundle, tmp = sys.argv[1:5]
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
def rt(*a):
    # files, not pipes: the container process inherits create's stdio
    with open(f"{tmp}/race.out", "w+") as o, open(f"{tmp}/race.err", "w+") as e:
        r = subprocess.run([R, "--root", root, *a], stdin=subprocess.DEVNULL, stdout=o, stderr=e)
        o.seek(0)
        e.seek(0)
        return subprocess.CompletedProcess(r.args, r.returncode, o.read(), e.read())
def stat_state(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
bad, done, zombies = [], 0, 0
deadline = time.monotonic() + 60
for i in range(30):
    if time.monotonic() > deadline:
        break
    cid, pidf = f"race-{i}", f"{tmp}/race.pid"
    if os.path.exists(pidf):
        os.unlink(pidf)
    r = rt("create", "--bundle", bundle, "--pid-file", pidf, cid)
    if r.returncode != 0:
        bad.append(f"{cid}: create: {r.stderr.strip()}"); break
    try:
        pid = int(open(pidf).read())
    except (OSError, ValueError) as e:
        bad.append(f"{cid}: no pid file after create returned: {e}"); break
    st = json.loads(rt("state", cid).stdout or "{}")
    if st.get("pid") != pid or st.get("status") != "created":
        bad.append(f"{cid}: state after create {st}, pid file {pid}")
    r = rt("start", cid)
    if r.returncode != 0:
        bad.append(f"{cid}: start: {r.stderr.strip()}")
    if i % 2:  # every other round: wait until the process has exited
        t = time.monotonic() + 10
        while stat_state(pid) != "Z" and time.monotonic() < t:
            time.sleep(0.002)
    s = stat_state(pid)
    zombies += s == "Z"
    r = rt("kill", cid, "KILL")
    if r.returncode != 0 and stat_state(pid) != "gone":
        bad.append(f"{cid}: kill while pid {pid} is {s}: {r.stderr.strip()}")
    st = json.loads(rt("state", cid).stdout or "{}")
    if st.get("status") not in ("running", "stopped"):
        bad.append(f"{cid}: state while exiting: {st}")
    if i % 4 == 3:  # delete while the process is still an unreaped zombie
        t = time.monotonic() + 10
        while stat_state(pid) != "Z" and time.monotonic() < t:
            time.sleep(0.002)
        r = rt("delete", cid)
        if r.returncode != 0:
            bad.append(f"{cid}: delete of an unreaped container: {r.stderr.strip()}")
        os.waitpid(pid, 0)
        done += 1
        continue
    os.waitpid(pid, 0)
    st = json.loads(rt("state", cid).stdout or "{}")
    if st.get("status") != "stopped":
        bad.append(f"{cid}: state after reaping: {st}")
    r = rt("kill", cid, "KILL")
    if r.returncode == 0 or "is not running" not in r.stderr:
        bad.append(f"{cid}: kill after reaping: rc {r.returncode} {r.stderr.strip()}")
    r = rt("delete", cid)
    if r.returncode != 0:
        bad.append(f"{cid}: delete: {r.stderr.strip()}")
    done += 1
print(f"{done} rounds, {zombies} killed as zombies")
for b in bad[:10]:
    print("   ", b)
sys.exit(0 if not bad and done >= 10 and zombies >= 5 else 1)
PY
out=$(python3 "$T/race.py" "$R" "$ROOT" "$b" "$T" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check "create/start/kill of a short process, many rounds: kill never says not running while the pid exists" eq 0 $rc

finish
