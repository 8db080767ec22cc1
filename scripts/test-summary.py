#!/usr/bin/env python3
"""Count passed/failed/skipped tests in a meson testlog.json; print 'P F S'."""
import json
import sys

passed = failed = skipped = 0
try:
    with open(sys.argv[1]) as f:
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
    failed += 1  # the suite did not even run
print(passed, failed, skipped)
