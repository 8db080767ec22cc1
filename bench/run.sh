#!/bin/bash
# Run every benchmark in bench/ (each prints vessel vs peer ratios).
set -u
cd "$(dirname "$0")/.."
for b in bench/*/run.sh; do
	[ -x "$b" ] && "$b"
done
exit 0
