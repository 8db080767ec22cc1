#!/bin/bash
# test_tls.sh - vesseld's TLS listener (--listen) with client certificates,
# in a private network namespace on 127.0.0.1: the server certificate made
# on first start and kept across restarts; a trusted client certificate
# (one made by openssl, one by `vessel remote add`) is served, with curl
# and with the vessel CLI; an untrusted one, none, and plain HTTP are
# refused and change nothing; a TLS caller cannot add to the trust store;
# a wrong pinned server certificate is refused by the client; the caller's
# fingerprint is in the daemon's log; removing a certificate revokes it.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
for c in curl openssl sqlite3 jq; do
	command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }
done

private_netns || exit 1
in_netns ip link set lo up || exit 1
PORT=8443
URL=https://127.0.0.1:$PORT
export VESSEL_CONFIG_DIR=$T/cfg
start_daemon --listen 127.0.0.1:$PORT || exit 1

mkcert() { # mkcert NAME: $T/NAME.crt, $T/NAME.key
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$1.key" -out "$T/$1.crt" -subj "/CN=$1" -days 2 2>/dev/null
}
fp() { openssl x509 -in "$1" -outform der | sha256sum | cut -d' ' -f1; }
mkcert good
mkcert bad
# tcurl ARGS... URL-PATH: curl over TLS in the daemon's netns; prints the
# HTTP status (000 when the TLS handshake or the connection failed)
tcurl() {
	local path=${*: -1}
	set -- "${@:1:$#-1}"
	in_netns curl -s -o "$T/body" -w '%{http_code}' --cacert "$STATE/server.crt" "$@" "$URL$path"
}
# (refusals are recorded in the audit log: checked apart from the dump)
dbdump() { sqlite3 "$STATE/vessel.db" .dump | grep -v '^INSERT INTO audit_log '; }
# rlist REMOTE-OPTIONS...: the CLI over TLS lists c1
rlist() { in_netns v "$@" list --format csv >"$T/rlist" && grep -q '^c1,' "$T/rlist"; }
# rexec REMOTE: exec over TLS prints its output
rexec() { [ "$(in_netns v --remote "$1" exec c1 -- echo over-tls)" = over-tls ]; }

check "server certificate made on first start" test -s "$STATE/server.crt"
check "server key made, mode 0600" test "$(stat -c %a "$STATE/server.key")" = 600
cp "$STATE/server.crt" "$T/server-first.crt"
check "launch c1 (unix socket)" v launch busybox c1

# refusals before anything is trusted
before=$(dbdump)
check "no client certificate: 403" test "$(tcurl /1.0/instances)" = 403
check "  ... with an error envelope" jq -e '.error_code == 403 and (.error | test("certificate"))' "$T/body"
check "untrusted client certificate: 403" \
	test "$(tcurl --cert "$T/bad.crt" --key "$T/bad.key" /1.0/instances)" = 403
check "  ... 'not trusted'" jq -e '.error | test("not trusted")' "$T/body"
check "untrusted client cannot create an instance" \
	test "$(tcurl --cert "$T/bad.crt" --key "$T/bad.key" -X POST -H 'Content-Type: application/json' \
		--data '{"name":"evil","source":{"type":"image","alias":"busybox"}}' /1.0/instances)" = 403
check "untrusted client cannot delete c1" \
	test "$(tcurl --cert "$T/bad.crt" --key "$T/bad.key" -X DELETE '/1.0/instances/c1?force=1')" = 403
plain=$(in_netns curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/1.0/instances")
check "plain HTTP on the TLS port is refused (got $plain)" test "$plain" != 200 -a "$plain" != 403
check "refusals changed nothing (database dump equal)" test "$before" = "$(dbdump)"
check "the untrusted caller's refused POST and DELETE are audited with its fingerprint" test \
	"$(sqlite3 "$STATE/vessel.db" "SELECT method || ' ' || status FROM audit_log WHERE who = 'tls:$(fp "$T/bad.crt")' ORDER BY seq" | tr '\n' ' ')" = "POST 403 DELETE 403 "
check "c1 still running" test "$(status c1)" = Running

# trust one: curl and the CLI with explicit files
check "config trust add (unix socket, root)" v config trust add "$T/good.crt" --name good
check "trust list shows its fingerprint" sh -c "v config trust list --format csv | grep -q $(fp "$T/good.crt")"
check "trusted client certificate (curl): 200" \
	test "$(tcurl --cert "$T/good.crt" --key "$T/good.key" '/1.0/instances?recursion=1')" = 200
check "  ... lists c1" jq -e '.metadata | map(.name) | index("c1") != null' "$T/body"
check "trusted client, vessel --remote URL --cert --key list" \
	rlist --remote "$URL" --cert "$T/good.crt" --key "$T/good.key" --server-cert "$STATE/server.crt"
check_fails "untrusted certificate with the CLI: one line" "not trusted" \
	in_netns v --remote "$URL" --cert "$T/bad.crt" --key "$T/bad.key" --server-cert "$STATE/server.crt" list
check_fails "the client refuses a server certificate other than the pinned one" "pinned" \
	in_netns v --remote "$URL" --cert "$T/good.crt" --key "$T/good.key" --server-cert "$T/bad.crt" list
check_fails "no server certificate to pin: refused" "server's certificate is needed" \
	in_netns v --remote "$URL" --cert "$T/good.crt" --key "$T/good.key" list

# vessel remote add: a generated client certificate, the server's pinned
check "remote add r1 --accept-certificate" in_netns v remote add r1 "$URL" --accept-certificate
check "the pinned certificate is the server's" cmp "$T/cfg/servercerts/r1.crt" "$STATE/server.crt"
check "client certificate generated, key 0600" test "$(stat -c %a "$T/cfg/client.key")" = 600
check_fails "r1 before its certificate is trusted" "not trusted" in_netns v --remote r1 list
check "trust the generated client certificate" v config trust add "$T/cfg/client.crt"
check "vessel --remote r1 list" rlist --remote r1
check "vessel --remote r1 exec (an operation over TLS)" rexec r1
check "the daemon's log names the TLS caller by fingerprint" \
	grep -q "POST /1.0/instances/c1/exec by tls:$(fp "$T/cfg/client.crt")" "$T/vesseld.log"
n=$(sqlite3 "$STATE/vessel.db" 'SELECT COUNT(*) FROM certificates')
check_fails "a TLS caller cannot add a certificate" "unix socket only" \
	in_netns v --remote r1 config trust add "$T/bad.crt"
check "  ... the trust store is unchanged" test "$(sqlite3 "$STATE/vessel.db" 'SELECT COUNT(*) FROM certificates')" = "$n"
check "remote list" grep -q "^r1,$URL," <(v remote list --format csv)

# restart: same server certificate, same trust
stop_daemon
start_daemon --listen 127.0.0.1:$PORT || exit 1
check "server certificate kept across a restart" cmp "$STATE/server.crt" "$T/server-first.crt"
check "trusted client still served after the restart" rlist --remote r1
check "untrusted still refused after the restart" \
	test "$(tcurl --cert "$T/bad.crt" --key "$T/bad.key" /1.0/instances)" = 403

# revocation
check "config trust remove (by a 12-digit prefix)" v config trust remove "$(fp "$T/good.crt" | cut -c1-12)"
check "removed certificate refused" \
	test "$(tcurl --cert "$T/good.crt" --key "$T/good.key" /1.0/instances)" = 403
check_fails "remove an unknown fingerprint" "not found" v config trust remove 0123456789abcdef
check_fails "remove a malformed fingerprint" "hex digits" v config trust remove XYZ
check "remote remove r1" v remote remove r1
check_fails "--remote r1 after its removal" "not found" v --remote r1 list

# a bad --listen is refused at start
bad_listen() {
	! "$VESSELD" --state-dir "$T/state2" --socket "$T/s2.sock" --runtime "$RUNTIME" --busybox none \
		--listen "$1" 2>"$T/listen.err" && grep -q "$2" "$T/listen.err"
}
check "vesseld --listen with a bad port fails at start" bad_listen 127.0.0.1:99999 "bad port"
check "vesseld --listen without a port fails at start" bad_listen 127.0.0.1 "expected ADDR:PORT"

check "delete c1" v delete --force c1
stop_daemon
finish
