#!/bin/sh
# Fail when a tracked C file differs from what clang-format makes of it.
cd "$(dirname "$0")/.." || exit 1
bad=0
for f in $(git ls-files '*.c' '*.h'); do
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "needs formatting: $f"
		bad=1
	fi
done
exit $bad
