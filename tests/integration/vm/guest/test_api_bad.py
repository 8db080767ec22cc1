#!/usr/bin/env python3
"""vm-api-bad-requests: hostile and malformed requests to the control API.

Each case must get its documented 4xx with a JSON {"error": "..."} body and
leave the VM exactly as it was: the guest keeps running (a counter it
writes keeps advancing, its shell answers) and the API keeps serving.
Cases: unknown paths (404), other methods (405), malformed JSON, a body
that is not an object, trailing garbage, unknown and mistyped fields, bad
enum values, a missing body, a body where none is taken, query parameters
(400), wrong state (409: pause twice, resume a running VM, shutdown while
paused), an oversize body announced by Content-Length and one sent chunked
(413), clients that disconnect mid-headers and mid-body, a client that
sends garbage instead of HTTP, many connections at once; then an --api
path that is not a socket is refused at start-up with a precise message.
"""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmapi  # noqa: E402
import vmconsole as vc  # noqa: E402


def expect_error(api, method, path, body, status, what, raw_body=None):
    data = raw_body if raw_body is not None else (
        None if body is None else json.dumps(body))
    s, ctype, out = api.raw(method, path, data,
                            {"Content-Type": "application/json"} if data else {})
    try:
        obj = json.loads(out)
    except ValueError:
        vc.fail("%s: body %r is not JSON" % (what, out[:200]))
    if s != status or not isinstance(obj, dict) or not isinstance(obj.get("error"), str) \
            or set(obj) != {"error"} or not ctype.startswith("application/json"):
        vc.fail("%s: expected %d {\"error\": ...}, got %d %r" % (what, status, s, obj))
    return obj["error"]


def raw_exchange(path, data, close_early=False, timeout=10):
    """Send raw bytes; return the response bytes (or b'' if closed)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(data)
    if close_early:
        s.close()
        return b""
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and b"Content-Length" in out:
                head, _, rest = out.partition(b"\r\n\r\n")
                n = int(head.split(b"Content-Length:")[1].split(b"\r\n")[0])
                if len(rest) >= n:
                    break
    except socket.timeout:
        pass
    s.close()
    return out


def guest_counter(con):
    _, out = con.run("cat /tmp/count")
    return int(out.strip() or 0)


def test(work):
    gdir = vc.guest_dir()
    m = vc.Machine(gdir, cpus=1, mem="128M")
    sock = os.path.join(work, "api.sock")
    argv = m.argv("vessel", vc.vmm_program("vessel")) + ["--api", sock]
    with vc.Console(argv, os.path.join(work, "console.log")) as con:
        con.wait_banner()
        api = vmapi.VmApi(sock, timeout=30)
        api.wait_ready(30)
        # a counter the guest keeps writing: proof it runs untouched
        con.run("(i=0; while :; do i=$((i+1)); echo $i >/tmp/count; sleep 0.05; done) "
                ">/dev/null 2>&1 & true")
        before = guest_counter(con)

        for path in ("/nope", "/", "/vm/", "/vm/state/extra", "//vm", "/%00"):
            expect_error(api, "GET", path, None, 404, "GET " + path)
        expect_error(api, "DELETE", "/vm", None, 405, "DELETE /vm")
        expect_error(api, "POST", "/vm/state", {"state": "paused"}, 405, "POST /vm/state")
        expect_error(api, "GET", "/vm/state", None, 405, "GET /vm/state")

        bad_json = ['{"state":', "{state: paused}", "", "\x00\x01", '{"state": "paused"} x',
                    '{"state": "paused"}{"state": "running"}', "[1,2]", '"paused"', "42",
                    "null", '{"state": "paused", "state": }']
        for raw in bad_json:
            if raw == "":
                continue
            expect_error(api, "PUT", "/vm/state", None, 400, "body %r" % raw,
                         raw_body=raw.encode())
        expect_error(api, "PUT", "/vm/state", None, 400, "missing body")
        expect_error(api, "PUT", "/vm/state", {}, 400, "empty object")
        expect_error(api, "PUT", "/vm/state", {"state": "frozen"}, 400, "bad enum")
        expect_error(api, "PUT", "/vm/state", {"state": 1}, 400, "mistyped field")
        expect_error(api, "PUT", "/vm/state", {"state": "paused", "x": 1}, 400,
                     "unknown field")
        expect_error(api, "PUT", "/actions", {"action": "explode"}, 400, "bad action")
        expect_error(api, "PUT", "/actions", {"action": None}, 400, "null action")
        expect_error(api, "GET", "/vm", {"x": 1}, 400, "body on GET")
        expect_error(api, "GET", "/vm?x=1", None, 400, "query parameters")
        expect_error(api, "PATCH", "/balloon", {"memory_mib": 64}, 400,
                     "balloon without --balloon")
        msg = expect_error(api, "PUT", "/vm/state", {"state": "running"}, 409,
                           "resume a running VM")
        if "already running" not in msg:
            vc.fail("409 reason %r does not say the VM is already running" % msg)

        # wrong state while paused
        s, body = api.request("PUT", "/vm/state", {"state": "paused"})
        if s != 200:
            vc.fail("pause answered %d %r" % (s, body))
        expect_error(api, "PUT", "/vm/state", {"state": "paused"}, 409, "pause twice")
        expect_error(api, "PUT", "/actions", {"action": "shutdown"}, 409,
                     "shutdown while paused")
        s, body = api.request("PUT", "/vm/state", {"state": "running"})
        if s != 200:
            vc.fail("resume answered %d %r" % (s, body))

        # oversize bodies: announced (refused before reading) and chunked
        big = b'{"state": "' + b"x" * (70 * 1024) + b'"}'
        out = raw_exchange(sock, b"PUT /vm/state HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                           b"Content-Type: application/json\r\n\r\n" % len(big) + big)
        if not out.startswith(b"HTTP/1.1 413") or b'"error"' not in out:
            vc.fail("oversize Content-Length body answered %r" % out[:200])
        # sent whole without waiting for the answer: the 413 still arrives
        # (the connection lingers; closed at once, the writes would fail)
        huge = b"x" * (4 << 20)
        for i in range(5):
            try:
                out = raw_exchange(sock, b"PUT /vm/state HTTP/1.1\r\nHost: x\r\n"
                                   b"Content-Length: %d\r\nContent-Type: application/json\r\n"
                                   b"\r\n" % len(huge) + huge)
            except OSError as e:
                vc.fail("a 4 MiB body sent whole (try %d): %s" % (i + 1, e))
            if not out.startswith(b"HTTP/1.1 413"):
                vc.fail("a 4 MiB body sent whole (try %d) answered %r" % (i + 1, out[:200]))
        chunks = b"".join(b"%x\r\n%s\r\n" % (8192, b"y" * 8192) for _ in range(10)) + b"0\r\n\r\n"
        out = raw_exchange(sock, b"PUT /vm/state HTTP/1.1\r\nHost: x\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
        if not out.startswith(b"HTTP/1.1 413") or b'"error"' not in out:
            vc.fail("oversize chunked body answered %r" % out[:200])

        # clients that go away mid-request, or speak garbage
        raw_exchange(sock, b"PUT /vm/state HTTP/1.1\r\nHost: x\r\nContent-Le", close_early=True)
        raw_exchange(sock, b"PUT /vm/state HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                     b'{"state": "pa', close_early=True)
        out = raw_exchange(sock, b"\x16\x03\x01garbage\r\n\r\n")
        if out and not out.startswith(b"HTTP/1.1 4"):
            vc.fail("garbage request answered %r" % out[:200])
        # many connections at once, each half a request, all closed
        socks = []
        for _ in range(40):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            s.sendall(b"GET /vm HTTP/1.1\r\n")
            socks.append(s)
        for s in socks:
            s.close()

        # the VM is untouched: still running, counter advancing, API serving
        s, body = api.request("GET", "/vm")
        if s != 200 or body["state"] != "running":
            vc.fail("after the bad requests GET /vm answered %d %r" % (s, body))
        deadline = time.monotonic() + 30 * vc.timeout_scale()
        while guest_counter(con) <= before + 5:
            if time.monotonic() > deadline:
                vc.fail("the guest's counter stopped advancing")
            time.sleep(0.2)
        s, metrics = api.request("GET", "/metrics")
        for code in ("400", "404", "405", "409", "413"):
            if 'vessel_vmm_api_requests_total{code="%s"}' % code not in metrics:
                vc.fail("/metrics does not count the %s answers" % code)
        status = con.poweroff()
        if status != 0:
            vc.fail("VMM exit status %d after poweroff" % status)

    # an --api path that exists and is not a socket
    notsock = os.path.join(work, "file")
    with open(notsock, "w") as f:
        f.write("keep me")
    r = subprocess.run(m.argv("vessel", vc.vmm_program("vessel")) +
                       ["--api", notsock, "--serial", "none"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 1 or "exists and is not a socket" not in r.stderr:
        vc.fail("--api on a regular file: status %d, stderr %r" % (r.returncode, r.stderr))
    with open(notsock) as f:
        if f.read() != "keep me":
            vc.fail("--api overwrote a regular file")


if __name__ == "__main__":
    vc.main(test)
