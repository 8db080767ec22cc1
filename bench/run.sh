#!/bin/bash
# Run every benchmark in bench/ (each prints vessel vs peer ratios).
set -u
cd "$(dirname "$0")/.."
for b in bench/*/run.sh; do
	[ -x "$b" ] && "$b"
done
# bench/scale's cluster row: write latency with three members against one
[ -x bench/scale/cluster.sh ] && bench/scale/cluster.sh
exit 0
