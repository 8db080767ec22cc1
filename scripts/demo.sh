#!/bin/bash
# The demo: what vessel can do today.
set -eu
cd "$(dirname "$0")/.."
echo "vessel demo: nothing to show yet"
