#!/bin/bash
# test_usage.sh - usage sampling, history, advice and metrics with real
# load, on a short sampling interval (--usage-interval 0.5) and a short
# minimum history (--advice-min-history 8, --idle-after 8):
#   big    limits.cpu=2 (this host's maximum: it has 2 CPUs) and 1 GiB,
#          running a half-CPU job (yes, stopped/continued every 0.1 s) that
#          holds 100 MiB (dd's buffer): advised down on both limits;
#          `vessel advise big --apply` lowers them live (the cgroup's limit)
#   small  limits.memory=32MiB, allocating 48 MiB every half second (OOM
#          kills): advised up, with the OOM kills as evidence
#   idle   nothing but its shell: flagged idle
#   net1   on a network, pinging its gateway: the host-side veth's counters
#          are its network bytes and packets
# GET /1.0/instances/NAME/usage (raw samples, limits, bad windows 400),
# `vessel info` sparklines, `vessel top` one-shot and on a terminal (script),
# GET /1.0/metrics through
# `promtool check metrics`, and a real Prometheus scraping vesseld's TLS
# listener with a trusted client certificate, whose query API then returns
# the instances' CPU series.  All in a private network namespace.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
for c in curl openssl jq promtool prometheus; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done

private_netns || exit 1
in_netns ip link set lo up || exit 1
PORT=8444
PROM_PORT=9391
start_daemon --usage-interval 0.5 --advice-min-history 8 --idle-after 8 \
	--listen 127.0.0.1:$PORT || exit 1
PROM_PID=
cleanup_prom() { [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null; }
trap 'cleanup_prom; cleanup' EXIT

api() { curl -s --unix-socket "$SOCK" "http://vessel$1"; }

check "launch big (2 CPUs, 1 GiB)" v launch busybox big -c limits.cpu=2 -c limits.memory=1GiB
check "launch small (32 MiB)" v launch busybox small -c limits.memory=32MiB -c user.project=tests
check "launch idle" v launch busybox idle
check "network create un1" v network create un1 --subnet 10.203.9.0/24
check "launch net1 on it" v launch busybox net1 --network un1
check "net1 pings its gateway" v exec net1 -- ping -c 5 -i 0.2 -s 1000 -W 5 10.203.9.1
# big: 100 MiB held by dd's buffer (blocked writing to sleep), a half-CPU loop
check "start big's job" v exec big -- sh -c \
	'(dd if=/dev/zero bs=100M count=1 2>/dev/null | sleep 100000) >/dev/null 2>&1 &
	 (yes >/dev/null & p=$!; while :; do kill -STOP $p; usleep 100000; kill -CONT $p; usleep 100000; done) >/dev/null 2>&1 &'
check "start small's job" v exec small -- sh -c \
	'(while :; do dd if=/dev/zero of=/dev/null bs=48M count=1; usleep 500000; done) >/dev/null 2>&1 &'

# advice_has NAME KIND KEY: the advice lists it
advice_has() {
	api "/1.0/advice?instance=$1" >"$T/adv.json" &&
		jq -e --arg k "$2" --arg key "$3" \
			'.metadata | map(select(.kind == $k and ((.key // "") == $key))) | length == 1' \
			"$T/adv.json" >/dev/null
}
wait_advice() { # DESCRIPTION NAME KIND KEY
	local deadline=$((SECONDS + 120))
	until advice_has "$2" "$3" "$4"; do
		[ $SECONDS -ge $deadline ] && break
		sleep 0.5
	done
	check "$1" advice_has "$2" "$3" "$4"
}
wait_advice "big: limits.memory advised down" big over-provisioned limits.memory
mem_down_ok() { # the recommendation covers the 100 MiB once a sample saw them
	api "/1.0/advice?instance=$1" >"$T/adv.json" && jq -e \
		'.metadata[] | select(.key == "limits.memory") | (.recommended | rtrimstr("MiB") | tonumber) as $r | $r >= 100 and $r <= 256' "$T/adv.json" >/dev/null
}
deadline=$((SECONDS + 120))
until mem_down_ok big || [ $SECONDS -ge $deadline ]; do sleep 0.5; done
check "  ... to at least its 100 MiB and at most 256 MiB" mem_down_ok big
check "  ... with evidence and impact in plain numbers" jq -e \
	'.metadata[] | select(.key == "limits.memory") | (.evidence | test("peak [0-9]+ MiB")) and (.impact | test("saves [0-9]+ MiB"))' "$T/adv.json"
wait_advice "big: limits.cpu advised down (2 -> 1)" big over-provisioned limits.cpu
check "  ... recommended 1, p95 in the evidence" jq -e \
	'.metadata[] | select(.key == "limits.cpu") | .current == "2" and .recommended == "1" and (.evidence | test("p95"))' "$T/adv.json"
wait_advice "small: limits.memory advised up (starved)" small starved limits.memory
check "  ... OOM kills in the evidence, a larger limit" jq -e \
	'.metadata[] | select(.key == "limits.memory") | (.data.oom_kills > 0) and (.evidence | test("OOM kill")) and ((.recommended | rtrimstr("MiB") | tonumber) > 32)' "$T/adv.json"
wait_advice "idle: flagged idle" idle idle ""
not_idle() { api "/1.0/advice?instance=$1" | jq -e '.metadata | map(select(.kind == "idle")) | length == 0'; }
check "big is not idle" not_idle big
# the policies' idleness (idle.c) reads the same history: a running
# instance with no activity is sprawl once the default project's idle.after
# has passed, a busy one is not
check "default project: idle.after=4s" v project policy set default idle.after=4s
sprawl_idle() { api /1.0/sprawl | jq -e --arg n "$1" '[.metadata[] | select(.kind == "idle" and .name == $n)] | length == 1' >/dev/null; }
deadline=$((SECONDS + 120))
until sprawl_idle idle || [ $SECONDS -ge $deadline ]; do sleep 0.5; done
check "sprawl lists the running idle instance as idle" sprawl_idle idle
not_sprawl_idle() { ! sprawl_idle "$1"; }
check "  ... and not the busy one" not_sprawl_idle big
check "default project: idle.after unset" v project policy unset default idle.after
check "vessel advise lists all three" sh -c 'v advise >"$0/advise.txt" && grep -q "^big: over-provisioned: limits.memory" "$0/advise.txt" && grep -q "^small: starved: limits.memory" "$0/advise.txt" && grep -q "^idle: idle" "$0/advise.txt"' "$T"

# apply live
check "vessel advise big --apply" sh -c 'v advise big --apply >"$0/apply.txt" && grep -q "applied big: limits.memory=" "$0/apply.txt"' "$T"
newmem=$(v config get big limits.memory)
rid=$(runtime_id big)
check "limits.memory now $newmem (below 1 GiB)" test "${newmem%MiB}" -lt 1024
check "  ... applied to the running container's cgroup" test \
	"$(cat /sys/fs/cgroup/memory/$rid/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/$rid/memory.max)" \
	= $((${newmem%MiB} * 1048576))
check "  ... limits.cpu now 1" test "$(v config get big limits.cpu)" = 1
check "big still running" test "$(status big)" = Running
# the lowered limit leaves room for the job: its 100 MiB stay, nothing is killed
big_job_kept() {
	local cg=/sys/fs/cgroup/memory/$rid
	[ -d "$cg" ] || cg=/sys/fs/cgroup/$rid
	{ grep -qx "oom_kill 0" "$cg/memory.oom_control" 2>/dev/null || grep -qx "oom_kill 0" "$cg/memory.events"; } &&
		[ "$(cat "$cg/memory.usage_in_bytes" 2>/dev/null || cat "$cg/memory.current")" -gt 50000000 ]
}
check "  ... its 100 MiB job kept, no OOM kill" big_job_kept
check "POST advice/apply of an unknown instance: 404" \
	test "$(curl -s -o /dev/null -w '%{http_code}' -X POST --unix-socket "$SOCK" http://v/1.0/instances/nope/advice/apply)" = 404

# the usage history
api "/1.0/instances/big/usage?window=1h" >"$T/u.json"
# every raw sample has numbers for cpu and memory, and they saw big's 100 MiB
usage_raw_ok() { # on failure, what was answered
	jq -e '.metadata | (.samples | length) > 5 and all(.samples[]; (.cpu | type) == "number" and (.memory | type) == "number") and ([.samples[].memory] | max > 50000000) and .resolution_s == 1 and .type == "container"' "$T/u.json" >/dev/null ||
		{ jq -c '.metadata | {n: (.samples | length), last: .samples[-4:], resolution_s, type}' "$T/u.json"; false; }
}
check "usage: raw samples with cpu and memory" usage_raw_ok
check "usage: limits" jq -e '.metadata.limits.cpu == 1' "$T/u.json"
check "usage: window=1y answered from hourly rows" sh -c \
	"curl -s --unix-socket $SOCK 'http://v/1.0/instances/big/usage?window=1y' | jq -e '.metadata.resolution_s == 3600'"
for w in 0 2w abc 5y; do
	check "usage: window=$w is a 400" test \
		"$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" "http://v/1.0/instances/big/usage?window=$w")" = 400
done
check "usage of an unknown instance: 404" test \
	"$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" "http://v/1.0/instances/nope/usage")" = 404
check "vessel info shows sparklines" sh -c 'v info big | grep -qE "last hour [▁▂▃▄▅▆▇█]+"'
check "vessel top (not a tty): one table with all four" sh -c \
	'v top --sort memory >"$0/top.txt" && [ "$(wc -l <"$0/top.txt")" = 5 ] && sed -n 2p "$0/top.txt" | grep -q "^big "' "$T"
check_fails "vessel top --sort bad" "--sort bad" v top --sort bad
# on a terminal (script(1) gives it one): live, m sorts by memory, q quits
check "vessel top on a terminal: m re-sorts by memory, q quits" sh -c \
	'printf mq | timeout 60 script -qefc "v top --interval 0.5" "$0/tty" >/dev/null &&
	 grep -aq "sorted by cpu" "$0/tty" && grep -aq "sorted by memory" "$0/tty" && grep -aq "^big " "$0/tty"' "$T"

# Prometheus text format
api /1.0/metrics >"$T/metrics.txt"
check "metrics: promtool check metrics accepts them" promtool check metrics <"$T/metrics.txt"
check "metrics: CPU counters of the three, with name, type, project labels" sh -c \
	'grep -q "^vessel_cpu_seconds_total{name=\"small\",type=\"container\",project=\"tests\"} " "$0" && grep -q "^vessel_cpu_seconds_total{name=\"idle\",type=\"container\",project=\"default\"} " "$0"' "$T/metrics.txt"
check "metrics: OOM kills of small counted" sh -c \
	'awk "/^vessel_memory_oom_kills_total\\{name=\"small\"/ {exit !(\$2 > 0)}" "$0"' "$T/metrics.txt"
check "metrics: net1's sent bytes and packets (>= 5 pings of 1 KB)" sh -c \
	'awk "/^vessel_network_transmit_bytes_total\\{name=\"net1\"/ {exit !(\$2 >= 5000)}" "$0" &&
	 awk "/^vessel_network_transmit_packets_total\\{name=\"net1\"/ {exit !(\$2 >= 5)}" "$0" &&
	 awk "/^vessel_network_receive_bytes_total\\{name=\"net1\"/ {exit !(\$2 >= 5000)}" "$0"' "$T/metrics.txt"
check "metrics: Content-Type text/plain; version=0.0.4" sh -c \
	"curl -s -D - -o /dev/null --unix-socket $SOCK http://v/1.0/metrics | grep -qi '^content-type: text/plain; version=0.0.4'"

# a real Prometheus scrapes the TLS listener with a trusted client certificate
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/prom.key" \
	-out "$T/prom.crt" -subj /CN=prometheus -days 2 2>/dev/null
check "trust Prometheus's client certificate" v config trust add "$T/prom.crt" --name prometheus
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: vessel
    scheme: https
    metrics_path: /1.0/metrics
    tls_config:
      ca_file: $STATE/server.crt
      cert_file: $T/prom.crt
      key_file: $T/prom.key
      insecure_skip_verify: true
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOF
check "promtool check config" promtool check config "$T/prometheus.yml"
in_netns prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
	--web.listen-address=127.0.0.1:$PROM_PORT >"$T/prometheus.log" 2>&1 &
PROM_PID=$!
prom_has_cpu() {
	in_netns curl -s "http://127.0.0.1:$PROM_PORT/api/v1/query?query=vessel_cpu_seconds_total" >"$T/q.json" &&
		jq -e '.status == "success" and ([.data.result[].metric.name] | sort) == ["big", "idle", "net1", "small"]' "$T/q.json" >/dev/null
}
deadline=$((SECONDS + 90))
until prom_has_cpu || [ $SECONDS -ge $deadline ]; do sleep 0.5; done
check "Prometheus's query API returns the CPU series of big, idle, net1 and small" prom_has_cpu
check "  ... labelled type and project" jq -e \
	'.data.result[] | select(.metric.name == "small") | .metric.type == "container" and .metric.project == "tests" and .metric.job == "vessel"' "$T/q.json"
prom_rate() { # two scrapes or more: rate() of big's CPU counter has a value
	in_netns curl -s "http://127.0.0.1:$PROM_PORT/api/v1/query?query=rate(vessel_cpu_seconds_total%7Bname%3D%22big%22%7D%5B30s%5D)" >"$T/rate.json" &&
		jq -e '.data.result | length == 1' "$T/rate.json" >/dev/null
}
deadline=$((SECONDS + 60))
until prom_rate || [ $SECONDS -ge $deadline ]; do sleep 0.5; done
check "  ... rate() over the counter works" prom_rate
[ $FAILS = 0 ] || tail -20 "$T/prometheus.log"
cleanup_prom
PROM_PID=

# history survives in the database, bounded per instance, deleted with it
check "raw rows stored for big" test "$(sqlite3 "$STATE/vessel.db" \
	"SELECT COUNT(*) FROM instance_usage u JOIN instances i ON i.id = u.instance_id WHERE i.name = 'big' AND resolution = 0")" -gt 5
check "delete big" v delete --force big
check "  ... its usage rows went with it" test "$(sqlite3 "$STATE/vessel.db" \
	"SELECT COUNT(*) FROM instance_usage WHERE instance_id NOT IN (SELECT id FROM instances)")" = 0
finish
