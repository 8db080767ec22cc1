#!/bin/bash
# test_openapi.sh - OpenAPI conformance: the route table and
# docs/api/vesseld.yaml agree, and a real vesseld's responses (and the
# requests the scenario sends) validate against the document
# (openapi_check.py).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
python3 -c 'import jsonschema, yaml' 2>/dev/null || { echo "SKIP: python3-jsonschema/yaml missing"; exit 77; }
SRC=${VESSEL_SOURCE_ROOT:?}
private_netns || exit 1 # the scenario makes a network
start_daemon || exit 1
check "vesseld conforms to docs/api/vesseld.yaml" python3 "$HERE/openapi_check.py" \
	"$SRC/docs/api/vesseld.yaml" "$SRC/lib/mgr/api_routes.c" "$SOCK"
grep -E '^(ok|FAIL)' "$T/out" | grep -c '^ok' | sed 's/^/openapi checks passed: /'
grep '^FAIL' "$T/out"
stop_daemon
finish
