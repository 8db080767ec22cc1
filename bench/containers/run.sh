#!/bin/bash
# bench/containers/run.sh - vessel-runtime against crun and runc, in one run.
#
# Measures, for each runtime on the same busybox bundle:
#   run   : `run` of /bin/true (create + start + wait + delete), median of
#           hyperfine back to back, hyperfine with a 50 ms cool-down before
#           each run, and an interleaved loop (A B C A B C ...)
#   exec  : `exec` of /bin/true into a running container, hyperfine median
#   rss   : peak RSS of the runtime process during `run` (GNU time %M)
#   512k  : whether a container starts under a 512 KiB memory limit
# and prints vessel/crun and vessel/runc ratios.  Then, through containerd:
#   ctr   : `ctr run --rm` of /bin/true on a busybox image in a private
#           containerd (tests/integration/ct/containerd/ctrd.sh), its runc v2
#           shim calling vessel-runtime (--runc-binary) or containerd's
#           default runc, hyperfine medians and vessel/runc
# (skipped with a note when containerd is not installed).
#
# State: every runtime's --root is on a tmpfs (as /run is on a usual host).
#
# Fairness on a hybrid cgroup host: everything runs in a private mount
# namespace where /sys/fs/cgroup/unified is unmounted, so every runtime sees
# pure cgroup v1 (Debian's crun 1.8 refuses the hybrid layout).
#
# Usage: bench/containers/run.sh [RUNS]   (env VESSEL_RUNTIME overrides the binary)
set -u
RUNS=${1:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

if [ "$(id -u)" != 0 ]; then
	echo "bench/containers: needs root (skipped)"
	exit 0
fi
for t in hyperfine /usr/bin/time unshare; do
	command -v "$t" >/dev/null || { echo "bench/containers: $t missing (skipped)"; exit 0; }
done

if [ -z "${BENCH_INNER:-}" ]; then
	export BENCH_INNER=1
	exec unshare -m --propagation private "$0" "$@"
fi
if mountpoint -q /sys/fs/cgroup/unified; then
	umount /sys/fs/cgroup/unified || { echo "cannot hide the cgroup2 mount"; exit 1; }
fi

VESSEL=${VESSEL_RUNTIME:-}
if [ -z "$VESSEL" ]; then
	for c in "${VESSEL_BUILD_ROOT:-}/cmd/vessel-runtime/vessel-runtime" \
		"$ROOT/build/cmd/vessel-runtime/vessel-runtime"; do
		[ -x "$c" ] && VESSEL=$c && break
	done
fi
declare -A BIN=([vessel]="$VESSEL" [crun]="$(command -v crun)" [runc]="$(command -v runc)")
if grep -q "Fatal glibc error" "${BIN[vessel]}" 2>/dev/null; then
	echo "note: ${BIN[vessel]} is the static glibc build (the musl libraries were not built)"
fi
NAMES=()
for n in vessel crun runc; do
	if [ -n "${BIN[$n]}" ] && [ -x "${BIN[$n]}" ]; then NAMES+=("$n"); else echo "note: $n not found, left out"; fi
done

T=$(mktemp -d /tmp/vessel-bench-ct-XXXXXX)
# The runtimes keep their state (--root) on a tmpfs, as /run is on a usual
# host.  On this CI host /run and /tmp are on an ext4 mounted with `discard`,
# where freeing a state file's blocks waits for synchronous discards (see
# docs/vessel-runtime.md): a cost of the host's disk, not of any runtime.
mkdir -p "$T/state"
mount -t tmpfs -o size=64m,mode=700 vessel-bench-state "$T/state" || { echo "cannot mount a tmpfs"; exit 1; }
CTRD_PID=
cleanup() {
	if [ -n "$CTRD_PID" ]; then
		ctrd_stop
		find /sys/fs/cgroup/*/"$CTRD_NS" /sys/fs/cgroup/"$CTRD_NS" -depth -type d -exec rmdir {} + 2>/dev/null
	fi
	for n in "${NAMES[@]}"; do
		"${BIN[$n]}" --root "$T/state/$n" delete -f bench-exec-$n >/dev/null 2>&1
	done
	umount "$T/state"
	rm -rf "$T"
}
trap cleanup EXIT

# ---- bundle: busybox rootfs, one config for all runtimes ----
mkdir -p "$T/bundle/rootfs"/{bin,proc,sys,dev,tmp,etc}
cp /bin/busybox "$T/bundle/rootfs/bin/"
for a in sh true sleep cat; do ln -s busybox "$T/bundle/rootfs/bin/$a"; done
make_config() { # $1 = output, $2 = args JSON, $3 = memory limit or ""
	python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
out, args, mem = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
cfg = {
    "ociVersion": "1.0.2",
    "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args,
                "env": ["PATH=/bin"], "cwd": "/",
                "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": True},
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "bench",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]},
    ],
    "linux": {
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "maskedPaths": ["/proc/kcore", "/proc/keys"],
        "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"],
    },
}
if mem:
    cfg["linux"]["resources"]["memory"] = {"limit": int(mem), "swap": int(mem)}
json.dump(cfg, open(out, "w"), indent=1)
EOF
}
make_config "$T/bundle/config.json" '["/bin/true"]' ""
cp -a "$T/bundle" "$T/bundle-sleep"
make_config "$T/bundle-sleep/config.json" '["/bin/sleep", "600"]' ""
cp -a "$T/bundle" "$T/bundle-512k"
make_config "$T/bundle-512k/config.json" '["/bin/true"]' 524288
# the same limit with a 4 MB shell string: must NOT succeed, proving the limit is real
cp -a "$T/bundle" "$T/bundle-512k-hog"
for a in yes head; do ln -sf busybox "$T/bundle-512k-hog/rootfs/bin/$a"; done
make_config "$T/bundle-512k-hog/config.json" \
	'["/bin/sh", "-c", "x=$(yes | head -c 4000000); echo ${#x}"]' 524288

R() { local n=$1; shift; "${BIN[$n]}" --root "$T/state/$n" "$@"; }

# sanity: each runtime must run the bundle, else it is left out
OK=()
for n in "${NAMES[@]}"; do
	if (cd "$T/bundle" && R "$n" run bench-check-$n </dev/null >"$T/check-$n.log" 2>&1); then
		OK+=("$n")
	else
		echo "note: $n cannot run the bundle here, left out: $(tail -c 300 "$T/check-$n.log")"
	fi
done
NAMES=("${OK[@]}")
for n in "${NAMES[@]}"; do echo "${BIN[$n]}" >"$T/bin-$n"; done
[ ${#NAMES[@]} -gt 0 ] || { echo "no runtime works"; exit 1; }

# ---- run latency ----
cmds=()
for n in "${NAMES[@]}"; do
	cmds+=(-n "$n" "${BIN[$n]} --root $T/state/$n run --bundle $T/bundle bench-run-$n")
done
# -N: no intermediate shell, the runtime is the measured process
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$T/run.json" "${cmds[@]}" \
	>"$T/run.txt" 2>&1 || echo "note: hyperfine run failed: $(tail -3 "$T/run.txt")"

# ---- run latency with a 50 ms cool-down before each run (not measured) ----
# Back to back, a fast runtime's clone(CLONE_NEWNET) waits for the kernel to
# tear down the previous container's network namespace (rtnl lock, RCU
# barrier); the cool-down shows each runtime's own cost.
hyperfine -N --prepare "sleep 0.05" --warmup 3 --runs "$RUNS" --export-json "$T/run-cool.json" \
	"${cmds[@]}" >"$T/run-cool.txt" 2>&1 || echo "note: hyperfine cool-down run failed"

# ---- run latency, interleaved A B C A B C ...: load drift on a shared
# machine hits every runtime alike (hyperfine measures them in blocks) ----
python3 - "$T" "$RUNS" "${NAMES[@]}" >"$T/interleaved.json" <<'EOF2'
import json, subprocess, sys, time
t, runs, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
bins = {n: open(f"{t}/bin-{n}").read().strip() for n in names}
samples = {n: [] for n in names}
for i in range(runs + 3):
    for n in names:
        argv = [bins[n], "--root", f"{t}/state/{n}", "run", "--bundle", f"{t}/bundle", f"bench-il-{n}"]
        a = time.perf_counter()
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if i >= 3 and r.returncode == 0:
            samples[n].append(time.perf_counter() - a)
json.dump({n: sorted(v)[len(v) // 2] if v else None for n, v in samples.items()}, sys.stdout)
EOF2

# ---- exec latency (into a running container) ----
cmds=()
for n in "${NAMES[@]}"; do
	(cd "$T/bundle-sleep" && R "$n" run -d bench-exec-$n </dev/null >/dev/null 2>"$T/exec-start-$n.log") ||
		echo "note: $n: could not start the exec container: $(cat "$T/exec-start-$n.log")"
	# an exec that does not really run would look fast: check it once
	R "$n" exec bench-exec-$n /bin/sh -c 'exit 5' >/dev/null 2>&1
	rc=$?
	[ $rc -eq 5 ] || echo "note: $n: exec check returned $rc, not 5 (exec figures invalid)"
	cmds+=(-n "$n" "${BIN[$n]} --root $T/state/$n exec bench-exec-$n /bin/true")
done
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$T/exec.json" "${cmds[@]}" \
	>"$T/exec.txt" 2>&1 || echo "note: hyperfine exec failed: $(tail -3 "$T/exec.txt")"
for n in "${NAMES[@]}"; do
	R "$n" kill bench-exec-$n KILL >/dev/null 2>&1
	sleep 0.1
	R "$n" delete -f bench-exec-$n >/dev/null 2>&1
done

# ---- peak RSS of the runtime during run, and the 512 KiB container ----
declare -A RSS M512
for n in "${NAMES[@]}"; do
	best=""
	for i in 1 2 3; do
		/usr/bin/time -f %M -o "$T/rss-$n" "${BIN[$n]}" --root "$T/state/$n" \
			run --bundle "$T/bundle" bench-rss-$n </dev/null >/dev/null 2>&1
		v=$(tail -1 "$T/rss-$n")
		[ -z "$best" ] || [ "$v" -lt "$best" ] && best=$v
	done
	RSS[$n]=$best
	if (cd "$T/bundle-512k" && R "$n" run bench-512k-$n </dev/null >"$T/512k-$n.log" 2>&1); then
		M512[$n]="starts"
		if (cd "$T/bundle-512k-hog" && R "$n" run bench-hog-$n </dev/null >"$T/hog-$n.log" 2>&1); then
			M512[$n]+=", but a 4 MB allocation was NOT stopped: limit not applied"
		else
			M512[$n]+="; a 4 MB allocation under it is stopped (limit enforced)"
		fi
		R "$n" delete -f bench-hog-$n >/dev/null 2>&1
	else
		M512[$n]="FAILS ($(tr '\n' ' ' <"$T/512k-$n.log" | tail -c 120))"
		R "$n" delete -f bench-512k-$n >/dev/null 2>&1
	fi
done

# ---- report ----
python3 - "$T" "${NAMES[@]}" <<'EOF'
import json, sys, os
t, names = sys.argv[1], sys.argv[2:]
def medians(f):
    try:
        return {r["command"]: r["median"] for r in json.load(open(os.path.join(t, f)))["results"]}
    except Exception:
        return {}
run, exe = medians("run.json"), medians("exec.json")
il = medians("run-cool.json")
try:
    ilv = json.load(open(os.path.join(t, "interleaved.json")))
except Exception:
    ilv = {}
rss = {n: int(open(os.path.join(t, "rss-" + n)).read().split()[-1]) for n in names}
print("\ncontainers benchmark (pure cgroup v1 view, busybox bundle, medians)")
nan = float("nan")
print("%-8s %10s %10s %12s %9s %13s" % ("runtime", "run ms", "run cool", "run interl.",
                                         "exec ms", "peak RSS KiB"))
for n in names:
    print("%-8s %10.2f %10.2f %12.2f %9.2f %13d" % (n, run.get(n, nan) * 1e3,
          il.get(n, nan) * 1e3, (ilv.get(n) or nan) * 1e3, exe.get(n, nan) * 1e3, rss[n]))
if "vessel" in names:
    for peer in ("crun", "runc"):
        if peer in names:
            r = lambda d: d["vessel"] / d[peer] if d.get("vessel") and d.get(peer) else float("nan")
            print("vessel/%s: run %.2f (cool-down %.2f, interleaved %.2f)  exec %.2f  rss %.2f"
                  % (peer, r(run), r(il), r(ilv), r(exe), r(rss)))
    def half(d):
        if not (d.get("vessel") and d.get("crun")):
            return "n/a"
        return "met" if d["vessel"] <= 0.5 * d["crun"] else "NOT met"
    print("targets: run <= 0.5 x crun: %s (back to back), %s (cool-down), %s (interleaved); "
          "peak RSS <= 2048 KiB: %s" % (half(run), half(il), half(ilv),
                                         "met" if rss["vessel"] <= 2048 else "NOT met"))
EOF
for n in "${NAMES[@]}"; do echo "512 KiB memory limit, $n: ${M512[$n]}"; done
echo "(hyperfine details: run and exec tables follow)"
grep -E "Time|±|^\s+[0-9.]+ ± " "$T/run.txt" "$T/exec.txt" 2>/dev/null | sed "s|$T/||" | head -20

# ---- ctr run --rm through containerd's runc v2 shim: vessel-runtime
# against containerd's default runc, in one hyperfine run (same private
# containerd, same image, same pure-v1 view) ----
if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
	echo "note: containerd not installed, ctr run figure left out"
	exit 0
fi
. "$ROOT/tests/integration/ct/containerd/ctrd.sh"
mkdir -p "$T/ctrd"
if ! ctrd_start "$T/ctrd" "vessel-bench-${T##*-}" || ! ctrd_import; then
	echo "note: private containerd failed, ctr run figure left out"
	exit 0
fi
CTR="ctr --address $CTRD_DIR/containerd.sock -n $CTRD_NS run --rm"
declare -A CTRUN=([vessel]="$CTR --runc-binary ${BIN[vessel]} $CTRD_IMAGE bench-ctr-vessel /bin/true"
	[runc]="$CTR $CTRD_IMAGE bench-ctr-runc /bin/true")
cmds=()
for n in vessel runc; do
	out=$(${CTRUN[$n]} 2>&1) # a missing or failing runtime is left out
	rc=$?
	if [ -n "${BIN[$n]}" ] && [ $rc -eq 0 ]; then
		cmds+=(-n "$n" "${CTRUN[$n]}")
	else
		echo "note: ctr run with $n fails, left out: $(echo "$out" | tail -c 300)"
	fi
done
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$T/ctr.json" "${cmds[@]}" \
	>"$T/ctr.txt" 2>&1 || echo "note: hyperfine ctr run failed: $(tail -3 "$T/ctr.txt")"
python3 - "$T/ctr.json" "$(containerd --version | awk '{ print $3 }')" "$(runc --version | head -1)" <<'EOF3'
import json, sys
try:
    med = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
except Exception:
    med = {}
print("\nctr run --rm /bin/true (containerd %s, runc v2 shim, pure cgroup v1 view, medians)"
      % sys.argv[2])
for n in ("vessel", "runc"):
    if n in med:
        print("%-8s %10.2f ms%s" % (n, med[n] * 1e3, "   (" + sys.argv[3] + ")" if n == "runc" else ""))
if med.get("vessel") and med.get("runc"):
    print("vessel/runc: ctr run %.2f" % (med["vessel"] / med["runc"]))
EOF3
grep -E "Time|±" "$T/ctr.txt" 2>/dev/null | head -4
