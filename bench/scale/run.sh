#!/bin/bash
# bench/scale/run.sh - beyond one host: every bench/scale/*.sh (cluster.sh:
# cluster API write latency with three members against one).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
for b in "$HERE"/*.sh; do
	[ "$(basename "$b")" = run.sh ] && continue
	[ -x "$b" ] && "$b" "$@"
done
exit 0
