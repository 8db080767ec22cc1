#!/bin/bash
# Run every test: the format check, the whole meson suite on the release
# build and again on the ASan+UBSan build.  Prints one closing line
# "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
export VESSEL_GUEST_DIR=${VESSEL_GUEST_DIR:-$(guest/build.sh --print-dir 2>/dev/null || true)}
export VESSEL_DEBIAN_IMAGE=${VESSEL_DEBIAN_IMAGE:-$(images/debian/build.sh --print-dir 2>/dev/null || true)}
passed=0 failed=0 skipped=0

# 1. formatting
if scripts/check-format.sh; then
	passed=$((passed + 1))
	echo "ok: clang-format"
else
	failed=$((failed + 1))
	echo "FAIL: clang-format (run 'make format')"
fi

# 2. the meson suites, in both builds
run_suite() {
	local dir=$1
	shift
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --print-errorlogs --num-processes 2 "$@"
	local counts
	counts=$(python3 scripts/test-summary.py "$dir/meson-logs/testlog.json")
	read -r p f s <<<"$counts"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}
run_suite build
# The sanitizer build runs the same suites; the timeout multiplier absorbs
# ASan's slowdown.
run_suite build-asan --timeout-multiplier 4

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
