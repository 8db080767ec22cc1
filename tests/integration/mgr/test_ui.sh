#!/bin/bash
# test_ui.sh - the web UI at /ui/: the static files (content types, ETag and
# 304, no way out of the UI directory, read-only), the loopback UI listener
# (--ui-listen: non-loopback addresses refused, the API only with the bearer
# token from STATE/ui-token, the Host check against DNS rebinding, no root
# privileges for the token's holder), /ui/ on the unix socket, and then a
# real browser: headless Chromium driven by Selenium (ui_browser.py) clicks
# through launch, Running, snapshot, apply advice, stop, and checks that the
# usage charts draw data (or, on a vesseld without the usage and policy
# routes, that their panels say "not available").  Everything runs in a
# private network namespace.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
UI_DIR=${VESSEL_BUILD_ROOT:?}/ui
[ -f "$UI_DIR/index.html" ] || { echo "SKIP: the UI was not built (needs node and npm: -Dui)"; exit 77; }
for c in curl jq openssl /usr/bin/chromium /usr/bin/chromedriver; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done
/usr/bin/python3 -c 'import selenium' 2>/dev/null || { echo "SKIP: python3-selenium missing"; exit 77; }

private_netns || exit 1
in_netns ip link set lo up || exit 1
PORT=8080
URL=http://127.0.0.1:$PORT

# Chromium processes of this test only (its profile is under $T); the
# driver quits them, this is for a test killed half-way
kill_browser() {
	local p
	for p in $(pgrep -f -- "user-data-dir=$T/w/profil[e]" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
}
trap 'kill_browser; cleanup' EXIT

# refused: vesseld exits 1 with one error line matching $1
refused() {
	local pat=$1
	shift
	! in_netns "$VESSELD" --state-dir "$T/other" --socket "$T/other.sock" --runtime "$RUNTIME" \
		"$@" >"$T/refused" 2>&1 && grep -c '^vesseld: error: ' "$T/refused" | grep -qx 1 &&
		grep -E "^vesseld: error: .*$pat" "$T/refused"
}
check "--ui-listen on a non-loopback address is refused" \
	refused "--ui-listen 0.0.0.0:$PORT: a loopback address is required" --ui-listen 0.0.0.0:$PORT
check "--ui-listen [::]:PORT is refused" refused "loopback address is required" --ui-listen "[::]:$PORT"
check "--ui-dir without an index.html is refused" refused "--ui-dir $T: no index.html" --ui-dir "$T"
check "--ui-listen with a bad address is refused" \
	refused "--ui-listen nowhere: expected ADDR:PORT" --ui-listen nowhere
# with the usage part (vesseld --usage-interval), sample every second and
# advise after a few seconds of history, so the browser sees charts and advice
USAGE_OPTS=()
if "$VESSELD" --help | grep -q -- --usage-interval; then
	USAGE_OPTS=(--usage-interval 1 --advice-min-history 3)
fi
TLS_PORT=8443
start_daemon --ui-listen 127.0.0.1:$PORT --listen 127.0.0.1:$TLS_PORT "${USAGE_OPTS[@]}" || exit 1
TOKEN=$(cat "$STATE/ui-token")
# the unix socket answers first; wait (generously) for the UI listener too
deadline=$((SECONDS + 60))
until in_netns curl -s -o /dev/null http://127.0.0.1:$PORT/ui/; do
	[ $SECONDS -ge $deadline ] && { echo "FAIL: the UI listener did not answer"; exit 1; }
	sleep 0.1
done
check "token written, mode 0600" test "$(stat -c %a "$STATE/ui-token")" = 600
check "token: 64 hex digits" grep -qxE '[0-9a-f]{64}' "$STATE/ui-token"

# hcurl ARGS... PATH: curl in the daemon's netns; prints "STATUS CONTENT-TYPE"
hcurl() {
	local path=${*: -1}
	set -- "${@:1:$#-1}"
	in_netns curl -s -o "$T/body" -D "$T/headers" -w '%{http_code} %{content_type}' "$@" "$URL$path"
}
auth=(-H "Authorization: Bearer $TOKEN")

# static files: anyone on loopback, right types, cache validation
check "GET /ui/: index.html" test "$(hcurl /ui/)" = "200 text/html; charset=utf-8"
check "  ... is the UI's page" grep -q 'app.js' "$T/body"
check "  ... with a Content-Security-Policy" grep -qi "^Content-Security-Policy: default-src 'self'" "$T/headers"
check "GET /ui redirects to /ui/" \
	test "$(in_netns curl -s -o /dev/null -w '%{http_code} %{redirect_url}' $URL/ui)" = "301 $URL/ui/"
check "GET /ui/app.js: JavaScript" test "$(hcurl /ui/app.js)" = "200 text/javascript; charset=utf-8"
check "  ... the bundle (Preact and uPlot inside)" grep -q uplot "$T/body"
check "GET /ui/app.css: CSS" test "$(hcurl /ui/app.css)" = "200 text/css; charset=utf-8"
etag=$(grep -i '^etag:' "$T/headers" | cut -d' ' -f2 | tr -d '\r')
check "  ... with an ETag and Cache-Control: no-cache" \
	sh -c "[ -n '$etag' ] && grep -qi '^cache-control: no-cache' '$T/headers'"
check "If-None-Match with that ETag: 304" test "$(hcurl -H "If-None-Match: $etag" /ui/app.css | cut -d' ' -f1)" = 304
check "HEAD /ui/app.js: 200" test "$(hcurl -I /ui/app.js | cut -d' ' -f1)" = 200
check "POST /ui/: 405" test "$(hcurl -X POST /ui/ | cut -d' ' -f1)" = 405
check "a missing file: 404" test "$(hcurl /ui/nope.js | cut -d' ' -f1)" = 404
# escape PATH: the raw path is refused (404; 401 when it left /ui/) and
# nothing of the state directory comes back
escape() {
	local st
	st=$(in_netns curl -s --path-as-is -o "$T/esc" -w '%{http_code}' "$URL$1")
	echo "status $st"
	[ "$st" = 404 ] || [ "$st" = 401 ] || return 1
	! grep -q "$TOKEN" "$T/esc" && ! grep -q SQLite "$T/esc"
}
echo secret >"$UI_DIR/../ui-escape-probe.js" 2>/dev/null
for p in '/ui/..%2fstate%2fui-token' '/ui/%2e%2e%2fui-escape-probe.js' '/ui/%2e%2e/%2e%2e/etc/passwd' \
	'/ui/.hidden.js' '/ui/../ui-token' '/ui/x/../../vessel.db' \
	'/ui/%2fetc%2fpasswd.txt'; do
	check "no way out of the UI directory: $p" escape "$p"
done
rm -f "$UI_DIR/../ui-escape-probe.js"

# the API on the UI listener: the token, the Host check, no root privileges
check "API without the token: 401" test "$(hcurl /1.0/instances | cut -d' ' -f1)" = 401
check "API with a wrong token: 401" \
	test "$(hcurl -H "Authorization: Bearer ${TOKEN//[0-9a-f]/0}" /1.0/instances | cut -d' ' -f1)" = 401
check "API with the token: 200" test "$(hcurl "${auth[@]}" /1.0/instances | cut -d' ' -f1)" = 200
check "a foreign Host (DNS rebinding): 403" \
	test "$(hcurl "${auth[@]}" -H "Host: attacker.example:$PORT" /1.0/instances | cut -d' ' -f1)" = 403
check "  ... also for a write, which changes nothing" \
	test "$(hcurl "${auth[@]}" -H "Host: attacker.example:$PORT" -X POST -H 'Content-Type: application/json' \
		--data '{"certificate":"x","name":"y"}' /1.0/certificates | cut -d' ' -f1)" = 403
check "  ... also for the static files" test "$(hcurl -H "Host: attacker.example:$PORT" /ui/ | cut -d' ' -f1)" = 403
check "Host localhost:PORT is served" test "$(hcurl "${auth[@]}" -H "Host: localhost:$PORT" /1.0 | cut -d' ' -f1)" = 200
check "the token's holder cannot add a trusted certificate" \
	test "$(hcurl "${auth[@]}" -X POST -H 'Content-Type: application/json' \
		--data '{"certificate":"x","name":"y"}' /1.0/certificates | cut -d' ' -f1)" = 403
if [ -n "$(sqlite3 "$STATE/vessel.db" "SELECT name FROM sqlite_master WHERE name = 'audit_log'")" ]; then
	audited() { # audited WHO METHOD PATH STATUS: the audit log has that record
		[ "$(sqlite3 "$STATE/vessel.db" "SELECT COUNT(*) FROM audit_log WHERE who = '$1' AND
			method = '$2' AND path = '$3' AND status = $4")" -ge 1 ]
	}
	in_netns curl -s -o /dev/null -X POST "$URL/1.0/instances"
	check "audit: a refused write without the token is recorded (ui:no-token, 401)" \
		audited ui:no-token POST /1.0/instances 401
	check "audit: a write refused for its Host is recorded (ui:foreign-host, 403)" \
		audited ui:foreign-host POST /1.0/certificates 403
	check "audit: the token holder's refused write is recorded as ui:token" \
		audited ui:token POST /1.0/certificates 403
	check "audit: a write to the UI's files is recorded (405)" audited ui:anonymous POST /ui/ 405
fi
check "/ui/ on the unix socket too" \
	sh -c "curl -s --unix-socket '$SOCK' http://vessel/ui/ | grep -q app.js"

# the TLS listener serves the UI to trusted client certificates only
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/c.key" \
	-out "$T/c.crt" -subj /CN=browser -days 2 2>/dev/null
check "trust the browser's certificate" v config trust add "$T/c.crt" --name browser
tls() { in_netns curl -s -o "$T/body" -w '%{http_code}' --cacert "$STATE/server.crt" "$@"; }
check "TLS: /ui/ with a trusted client certificate: 200" \
	test "$(tls --cert "$T/c.crt" --key "$T/c.key" https://127.0.0.1:$TLS_PORT/ui/)" = 200
check "  ... the UI's page" grep -q app.js "$T/body"
check "TLS: /ui/ without a client certificate: 403" test "$(tls https://127.0.0.1:$TLS_PORT/ui/)" = 403
check "TLS: no bearer token makes up for a certificate" \
	test "$(tls "${auth[@]}" https://127.0.0.1:$TLS_PORT/1.0/instances)" = 403

# the browser
# HOME and XDG dirs in $T: Chromium leaves nothing (crash reports, dconf) behind
mkdir -p "$T/w/home"
in_netns env HOME="$T/w/home" XDG_CONFIG_HOME="$T/w/home/.config" XDG_CACHE_HOME="$T/w/home/.cache" \
	/usr/bin/python3 "$HERE/ui_browser.py" "$URL" "$TOKEN" "$T/w" >"$T/browser.out" 2>&1
rc=$?
sed 's/^/  browser: /' "$T/browser.out"
check "the browser test passed (exit status $rc)" test "$rc" = 0
check "  ... chromedriver logged to the test's directory" test -s "$T/w/chromedriver.log"
[ "$rc" = 0 ] || tail -20 "$T/w/chromedriver.log" 2>/dev/null | sed 's/^/    chromedriver: /'
# VESSEL_UI_SCREENSHOTS=DIR keeps the browser's screens (overview, advice, audit)
[ -n "${VESSEL_UI_SCREENSHOTS:-}" ] && cp "$T"/w/*.png "$VESSEL_UI_SCREENSHOTS/"
check "the UI's actions are in vesseld's state: web1 Stopped" test "$(status web1)" = Stopped
check "  ... with the one snapshot taken in the browser" \
	test "$(v snapshot list web1 --format csv | grep -c '^ui-')" = 1
check "web2, deleted in the browser, is gone" sh -c "! v list --format csv | grep -q '^web2,'"
kill_browser
check "no Chromium left running" sh -c "! pgrep -f -- 'user-data-dir=$T/w/profil[e]'"
finish
