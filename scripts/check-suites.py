#!/usr/bin/env python3
"""Run the meson suites of several build directories on two lanes.

Usage: check-suites.py [--jobs N] '[VAR=VALUE...] DIR [MESON TEST ARGS...] [-- TEST...]'...
(VAR=VALUE: the environment of that build's tests; TEST...: only these)

`meson test --num-processes 2` runs a test marked is_parallel: false alone:
it waits until every running test has finished, and no other test starts
until it is done.  The tests so marked (the manager's, podman's,
containerd's, the host cgroup test) must not overlap one another - they
share host-wide objects: the leak checks of tests/integration/mgr compare
every vessel-HEX cgroup and mount on the host, podman has one store - but
nothing else on the host disturbs them (they tolerate other work; the
leak checks leave out what is not theirs).  Run alone they left one core
idle for 707 s of the release suite and 858 s of the ASan one (CI, 2 cores).

So this script runs them one at a time on the first lane, every build's in
turn, while the other lane runs the rest; when the first lane is done it
takes its share of the rest.  The rest is cut into chunks: each test with a
priority above 0 (the long ones, see tests/) alone, the others by their
first suite, the long ones first so that both lanes finish together.  Each
chunk is one `meson test --num-processes 1` on one build, its log in
meson-logs/check-N.json (.txt); its output is printed when it ends.

Prints one line "N passed, N failed, N skipped" on the last line of stdout:
every test of every log, plus one failure for a chunk that left no log.
Exit status 0 when nothing failed.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time


SUMMARY = re.compile(r"^(Ok|Expected Fail|Fail|Unexpected Pass|Skipped|Timeout):\s+\d+\s*$")


def tests_of(build):
    out = subprocess.run(["meson", "introspect", build, "--tests"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def counts(path):
    passed = failed = skipped = 0
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                result = json.loads(line).get("result", "")
                if result in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif result == "SKIP":
                    skipped += 1
                else:
                    failed += 1
    except FileNotFoundError:
        failed += 1  # the chunk did not even run
    return passed, failed, skipped


class Chunk:
    def __init__(self, spec, names, label):
        self.build, self.args, self.env = spec["build"], spec["args"], spec["env"]
        self.names, self.label = names, label
        self.log = None


def plan(specs):
    """The exclusive chunks (one per build, in order) and the queue of the rest."""
    exclusive, long_ones, rest = [], [], []
    for text in specs:
        words = shlex.split(text)
        env = dict(os.environ)
        while words and "=" in words[0]:
            var, value = words.pop(0).split("=", 1)
            env[var] = value
        only = None
        if "--" in words:
            only = set(words[words.index("--") + 1:])
            words = words[:words.index("--")]
        spec = {"build": words[0], "args": words[1:], "env": env}
        tests = [t for t in tests_of(spec["build"]) if only is None or t["name"] in only]
        if only is not None and len(tests) != len(only):
            missing = only - {t["name"] for t in tests}
            sys.exit(f"check-suites.py: no test {' '.join(sorted(missing))} in {spec['build']}")
        # meson's own order: priority first, then the order of definition
        order = sorted(range(len(tests)), key=lambda i: (-tests[i]["priority"], i))
        tests = [tests[i] for i in order]
        names = [t["name"] for t in tests if not t["is_parallel"]]
        if names:
            exclusive.append(Chunk(spec, names, "is_parallel: false"))
        by_suite = {}
        for t in tests:
            if not t["is_parallel"]:
                continue
            if t["priority"] > 0:
                long_ones.append((t["priority"], Chunk(spec, [t["name"]], t["name"])))
            else:
                suite = t["suite"][0].split(":")[-1] if t["suite"] else "-"
                by_suite.setdefault(suite, []).append(t["name"])
        rest += [Chunk(spec, n, "suite " + s) for s, n in by_suite.items()]
    # every build's long tests first (the longest first), then the suites
    long_ones.sort(key=lambda p: -p[0])
    return exclusive, [c for _, c in long_ones] + rest


def main():
    argv = sys.argv[1:]
    jobs = 2
    if argv[:1] == ["--jobs"]:
        jobs, argv = int(argv[1]), argv[2:]
    exclusive, queue = plan(argv)
    everything = exclusive + queue
    lock = threading.Lock()
    serial = [0]
    started = time.monotonic()

    def run(chunk):
        with lock:
            serial[0] += 1
            n = serial[0]
            print(f"[{time.monotonic() - started:6.0f}s] start {chunk.build}: {chunk.label} "
                  f"({len(chunk.names)} tests)", flush=True)
        chunk.log = os.path.join(chunk.build, "meson-logs", f"check-{n}.json")
        try:
            os.remove(chunk.log)
        except FileNotFoundError:
            pass
        cmd = ["meson", "test", "-C", chunk.build, "--no-rebuild", "--print-errorlogs",
               "--num-processes", "1", "--logbase", f"check-{n}"] + chunk.args + chunk.names
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           errors="replace", env=chunk.env)
        with lock:
            print(f"[{time.monotonic() - started:6.0f}s] end {chunk.build}: {chunk.label} "
                  f"({time.monotonic() - t0:.0f}s, status {p.returncode})", flush=True)
            # meson's closing counts of each chunk go: the last line counts all
            sys.stdout.write("".join(line for line in p.stdout.splitlines(True)
                                     if line.strip() and not SUMMARY.match(line)))
            sys.stdout.flush()

    def lane(first):
        for chunk in first:
            run(chunk)
        while True:
            with lock:
                if not queue:
                    return
                chunk = queue.pop(0)
            run(chunk)

    lanes = [threading.Thread(target=lane, args=(exclusive if i == 0 else [],))
             for i in range(max(jobs, 1))]
    for t in lanes:
        t.start()
    for t in lanes:
        t.join()
    passed = failed = skipped = 0
    for chunk in everything:
        p, f, s = counts(chunk.log) if chunk.log else (0, 1, 0)
        passed, failed, skipped = passed + p, failed + f, skipped + s
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
