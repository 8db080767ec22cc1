#!/bin/bash
# test_output.sh - the CLI's output formats: every list (instances, images,
# snapshots, networks, volumes, operations, remotes) in json, yaml and csv
# says the same thing (YAML parsed back equals the JSON; CSV rows match),
# awkward strings (quotes, commas, newlines, colons, tabs, UTF-8, control
# characters) survive YAML and CSV escaping, and tables fit a 60-column
# terminal with cut cells ending in an ellipsis while a pipe gets them whole;
# a snapshot's operation carries its progress (what the CLI's bar draws).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: python3-yaml missing"; exit 77; }
export HOME=$T/home # vessel remote's config
mkdir -p "$HOME"

start_daemon || exit 1
long=a-very-long-instance-name-that-needs-room-0123456789
check "launch with a long name" v launch busybox "$long"
check "a snapshot" v snapshot create "$long" s0
check "a volume" v storage volume create vol1 --size 16MiB
check "the snapshot operation reported its progress" sh -c "v operation list --format json | jq -e '[.[] | select(.description == \"Creating snapshot\")][0].metadata | .stage == \"snapshot\" and .progress == 100'"
odd=$(printf 'q"uote, comma: colon\ttab\nnewline \xc3\xa9 \xc2\x85 \x01 end')
check "config value with awkward characters" v config set "$long" "user.note=$odd"

same() { # same CMD...: json, yaml and csv of a list agree
	"$@" --format json >"$T/j" && "$@" --format yaml >"$T/y" && "$@" --format csv >"$T/c" &&
		python3 - "$T/j" "$T/y" "$T/c" <<'PY'
import csv, json, sys, yaml
j = json.load(open(sys.argv[1]))
y = yaml.safe_load(open(sys.argv[2]))
assert y == j, "yaml differs from json:\n%r\n%r" % (y, j)
rows = list(csv.reader(open(sys.argv[3], newline="")))
n = len(j) if isinstance(j, list) else None
assert n is None or len(rows) == n, "csv has %d rows, json %d" % (len(rows), n)
PY
}
check "instance list: json == yaml, csv rows" same v list
check "image list" same v image list
check "snapshot list" same v snapshot list "$long"
check "network list" same v network list
check "storage volume list" same v storage volume list
check "operation list" same v operation list
check "remote list" same v remote list
check "info: awkward strings survive YAML" same v info "$long"
check "info json has the awkward value" sh -c "v info $long --format json | jq -e --arg v \"\$1\" '.config[\"user.note\"] == \$v'" sh "$odd"
check "csv keeps a cell with commas and quotes whole" sh -c "v list --format csv | python3 -c 'import csv,sys; r=list(csv.reader(sys.stdin)); assert r[0][0] == \"$long\", r'"

# tables: a 60-column terminal, and a pipe
cat >"$T/steps" <<'STEPS'
expect table-done
exit 0
STEPS
DRIVE_COLS=60 python3 "$HERE/console_drive.py" "$T/steps" sh -c "v list; echo table-done" >"$T/table"
check "table fits 60 columns" python3 - "$T/table" <<'PY'
import sys, unicodedata
lines = [l.rstrip("\r") for l in open(sys.argv[1], encoding="utf-8").read().split("\n") if l.startswith(("|", "+"))]
assert lines, "no table"
for l in lines:
    w = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in l)
    assert w <= 60, "%d columns: %r" % (w, l)
assert any("\u2026" in l or "~" in l for l in lines), "no cut cell"
PY
check "a pipe gets whole cells" sh -c "v list | grep -q -- '$long'"

check "delete" v delete --force "$long"
check "volume delete" v storage volume delete vol1
finish
