#!/usr/bin/env python3
"""openapi_check.py SPEC ROUTES SOCKET - vesseld against docs/api/vesseld.yaml.

1. The route table (lib/mgr/api_routes.c) and the documented paths and
   methods are the same set.
2. A scenario of requests covering every route; each request body is
   checked against its documented requestBody schema, each response's
   status must be documented for that path and method, and its JSON body
   must validate against the documented schema (jsonschema, with $refs
   inlined and OpenAPI's `nullable` turned into a null type).
Prints one line per check; exits 1 on any failure.
"""
import base64
import http.client
import json
import re
import socket
import subprocess
import sys
import time

import jsonschema
import yaml

spec = yaml.safe_load(open(sys.argv[1]))
routes_c = open(sys.argv[2]).read()
sock_path = sys.argv[3]
fails = 0
checks = 0


def ok(cond, what):
    global fails, checks
    checks += 1
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        fails += 1
    return cond


def resolve(node):
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].split("/")
            target = spec
            for part in name[1:]:
                target = target[part]
            return resolve(target)
        out = {k: resolve(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable"):
            t = out.get("type")
            out = {"anyOf": [out, {"type": "null"}]} if t else out
        return out
    if isinstance(node, list):
        return [resolve(v) for v in node]
    return node


def norm(path):
    return re.sub(r"\{[^}]*\}", "{}", path)


# 1. parity of the route table and the document
code_routes = set(re.findall(r'\{ "([A-Z]+)", "(/1\.0[^"]*)"', routes_c))
doc_routes = set()
for p, item in spec["paths"].items():
    for m in item:
        if m in ("get", "put", "post", "patch", "delete"):
            doc_routes.add((m.upper(), norm(p)))
ok(code_routes == doc_routes,
   "route table == documented paths (code only: %s; doc only: %s)"
   % (sorted(code_routes - doc_routes), sorted(doc_routes - code_routes)))

templates = [(norm(p), p) for p in spec["paths"]]


def template_of(path):
    path = path.split("?")[0]
    for t, p in templates:
        if re.fullmatch(re.escape(t).replace(r"\{\}", "[^/]+"), path):
            return p
    return None


class UnixConn(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("vessel", timeout=120)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(sock_path)


def call(method, path, body=None, expect=None):
    tpl = template_of(path)
    op = spec["paths"].get(tpl, {}).get(method.lower()) if tpl else None
    what = "%s %s" % (method, path)
    if not ok(op is not None, what + ": documented"):
        return None, None
    if body is not None and "requestBody" in op and (expect is None or expect < 400):
        schema = resolve(op["requestBody"]["content"]["application/json"]["schema"])
        try:
            jsonschema.validate(body, schema)
            ok(True, what + ": request body matches the document")
        except jsonschema.ValidationError as e:
            ok(False, what + ": request body: " + e.message)
    c = UnixConn()
    data = json.dumps(body).encode() if body is not None else None
    c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    r = c.getresponse()
    raw = r.read()
    c.close()
    status = str(r.status)
    if expect is not None:
        ok(r.status == expect, "%s: status %s (want %s)" % (what, status, expect))
    resp = resolve(op["responses"].get(status))
    if not ok(resp is not None, "%s: status %s documented" % (what, status)):
        return r.status, None
    if "text/plain" in resp.get("content", {}):
        ok(r.getheader("Content-Type", "").startswith("text/plain"),
           "%s: %s text/plain as documented" % (what, status))
        return r.status, raw.decode()
    doc = json.loads(raw)
    schema = resolve(resp["content"]["application/json"]["schema"])
    try:
        jsonschema.validate(doc, schema)
        ok(True, "%s: %s body matches the document" % (what, status))
    except jsonschema.ValidationError as e:
        ok(False, "%s: %s body: %s at %s" % (what, status, e.message, list(e.absolute_path)))
    return r.status, doc


def wait(doc, want="Success"):
    op = doc["operation"]
    _, w = call("GET", op + "/wait?timeout=120", expect=200)
    ok(w is not None and w["metadata"]["status"] == want,
       "operation %s ended %s" % (op, w and w["metadata"]["status"]))
    return w


call("GET", "/1.0", expect=200)
call("GET", "/1.0/instances", expect=200)
_, d = call("POST", "/1.0/instances", {"name": "api1", "source": {"type": "image", "alias": "busybox"},
                                       "config": {"limits.memory": "64MiB", "user.x": "y"}, "start": True}, 202)
if d:
    wait(d)
call("GET", "/1.0/instances?recursion=1", expect=200)
call("GET", "/1.0/instances/api1", expect=200)
call("GET", "/1.0/instances/api1/state", expect=200)
call("GET", "/1.0/instances/nope", expect=404)
call("POST", "/1.0/instances", {"name": "api1", "source": {"type": "image", "alias": "busybox"}}, 409)
call("POST", "/1.0/instances", {"name": "x", "source": {"type": "image"}, "bogus": 1}, 400)
_, d = call("PUT", "/1.0/instances/api1/state", {"action": "freeze"}, 202)
if d:
    wait(d)
_, d = call("PUT", "/1.0/instances/api1/state", {"action": "unfreeze", "timeout": 10}, 202)
if d:
    wait(d)
_, d = call("POST", "/1.0/instances/api1/exec", {"command": ["sh", "-c", "echo out; echo err >&2; exit 3"],
                                                 "environment": {"A": "b"}, "record-output": True}, 202)
if d:
    w = wait(d)
    md = w["metadata"]["metadata"] if w else {}
    ok(md.get("return") == 3 and md.get("stdout") == "out\n" and md.get("stderr") == "err\n",
       "exec result in the operation's metadata: %s" % md)
call("PATCH", "/1.0/instances/api1", {"config": {"limits.memory": "96MiB", "user.x": None}}, 200)
call("PUT", "/1.0/instances/api1", {"config": {"limits.memory": "128MiB"}}, 200)
call("POST", "/1.0/instances/api1", {"name": "api2"}, 400)
_, d = call("POST", "/1.0/instances/api1/snapshots", {"name": "s0"}, 202)
if d:
    wait(d)
call("POST", "/1.0/instances/api1/snapshots", {"name": "s0"}, 409)
call("GET", "/1.0/instances/api1/snapshots", expect=200)
call("GET", "/1.0/instances/api1/snapshots?recursion=1", expect=200)
call("GET", "/1.0/instances/api1/snapshots/s0", expect=200)
call("GET", "/1.0/instances/api1/snapshots/nope", expect=404)
_, d = call("PUT", "/1.0/instances/api1", {"restore": "s0"}, 202)
if d:
    wait(d)
call("PUT", "/1.0/instances/api1", {"restore": "s0", "config": {}}, 400)
_, d = call("DELETE", "/1.0/instances/api1/snapshots/s0", expect=202)
if d:
    wait(d)
call("GET", "/1.0/images", expect=200)
call("GET", "/1.0/images?recursion=1", expect=200)
call("GET", "/1.0/images/busybox", expect=200)
call("POST", "/1.0/images/aliases", {"name": "bb-alias", "target": "busybox"}, 200)
call("DELETE", "/1.0/images/aliases/bb-alias", expect=200)
call("DELETE", "/1.0/images/aliases/bb-alias", expect=404)
_, d = call("POST", "/1.0/images", {"source": {"type": "builtin", "name": "busybox"},
                                    "aliases": [{"name": "bb2"}]}, 202)
if d:
    w = wait(d)
    ok(w is not None and len(w["metadata"]["metadata"].get("fingerprint", "")) == 64,
       "import result: a fingerprint")
call("DELETE", "/1.0/images/busybox", expect=409)
call("GET", "/1.0/images/nope", expect=404)
call("DELETE", "/1.0/images/nope", expect=404)
# storage volumes (attached to a stopped instance; mgr-volume runs them)
call("GET", "/1.0/storage-volumes", expect=200)
call("POST", "/1.0/storage-volumes", {"name": "apivol", "size": "16MiB"}, 200)
call("POST", "/1.0/storage-volumes", {"name": "apivol", "size": "16MiB"}, 409)
call("POST", "/1.0/storage-volumes", {"name": "tiny", "size": 4096}, 400)
call("POST", "/1.0/storage-volumes", {"name": "q", "size": "16MiB", "format": "vmdk"}, 400)
call("POST", "/1.0/storage-volumes", {"name": "q", "size": "16MiB", "format": "qcow2"}, 200)
call("GET", "/1.0/storage-volumes/q", expect=200)
call("DELETE", "/1.0/storage-volumes/q", expect=200)
call("GET", "/1.0/storage-volumes?recursion=1", expect=200)
call("GET", "/1.0/storage-volumes/apivol", expect=200)
call("GET", "/1.0/storage-volumes/nope", expect=404)
call("PATCH", "/1.0/storage-volumes/apivol", {"size": "24MiB"}, 200)
call("PATCH", "/1.0/storage-volumes/apivol", {"size": "16MiB"}, 400)
call("POST", "/1.0/storage-volumes/apivol/attach", {"instance": "api1", "path": "/data"}, 409)
call("POST", "/1.0/storage-volumes/apivol/attach", {"instance": "api1", "path": "../x"}, 400)
call("POST", "/1.0/storage-volumes/apivol/detach", {"instance": "api1"}, 409)
# volume snapshots (mgr-volume-snapshot runs them with an instance)
_, d = call("POST", "/1.0/storage-volumes/apivol/snapshots", {}, 202)
if d:
    w = wait(d)
    ok(w is not None and w["metadata"]["metadata"].get("name") == "snap0",
       "volume snapshot result: its name (snap0)")
_, d = call("POST", "/1.0/storage-volumes/apivol/snapshots", {"name": "vs1"}, 202)
if d:
    wait(d)
call("POST", "/1.0/storage-volumes/apivol/snapshots", {"name": "vs1"}, 409)
call("POST", "/1.0/storage-volumes/apivol/snapshots", {"name": "1bad"}, 400)
call("POST", "/1.0/storage-volumes/nope/snapshots", {"name": "vs1"}, 404)
call("GET", "/1.0/storage-volumes/apivol/snapshots", expect=200)
call("GET", "/1.0/storage-volumes/apivol/snapshots?recursion=1", expect=200)
call("GET", "/1.0/storage-volumes/apivol/snapshots/vs1", expect=200)
call("GET", "/1.0/storage-volumes/apivol/snapshots/nope", expect=404)
call("GET", "/1.0/storage-volumes/nope/snapshots", expect=404)
call("GET", "/1.0/storage-volumes/apivol", expect=200)
_, d = call("PUT", "/1.0/storage-volumes/apivol", {"restore": "vs1"}, 202)
if d:
    wait(d)
call("PUT", "/1.0/storage-volumes/apivol", {"restore": "nope"}, 404)
call("PUT", "/1.0/storage-volumes/apivol", {"size": "1G"}, 400)
_, d = call("DELETE", "/1.0/storage-volumes/apivol/snapshots/snap0", expect=202)
if d:
    wait(d)
call("DELETE", "/1.0/storage-volumes/apivol/snapshots/snap0", expect=404)
call("DELETE", "/1.0/storage-volumes/apivol", expect=200)
call("DELETE", "/1.0/storage-volumes/apivol", expect=404)
# the TLS trust store (over the unix socket; TLS itself is mgr-tls's)
pem = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-nodes", "-keyout", "/dev/null",
                      "-subj", "/CN=openapi", "-days", "1"],
                     check=True, capture_output=True, text=True).stdout
call("GET", "/1.0/certificates", expect=200)
_, d = call("POST", "/1.0/certificates", {"certificate": pem, "name": "openapi"}, 200)
fp = d["metadata"]["fingerprint"] if d else "0" * 64
call("POST", "/1.0/certificates", {"certificate": pem}, 409)
call("POST", "/1.0/certificates", {"certificate": "not a certificate"}, 400)
call("POST", "/1.0/certificates", {"certificate": pem, "type": "server"}, 400)
call("GET", "/1.0/certificates?recursion=1", expect=200)
call("GET", "/1.0/certificates/" + fp, expect=200)
call("GET", "/1.0/certificates/" + fp[:12], expect=200)
call("GET", "/1.0/certificates/XYZ", expect=400)
call("DELETE", "/1.0/certificates/" + fp, expect=200)
call("DELETE", "/1.0/certificates/" + fp, expect=404)
call("GET", "/1.0/networks", expect=200)
call("POST", "/1.0/networks", {"name": "apinet", "subnet": "10.202.9.0/24"}, 200)
call("POST", "/1.0/networks", {"name": "apinet"}, 409)
call("POST", "/1.0/networks", {"name": "x", "subnet": "10.0.0.1/8"}, 400)
call("GET", "/1.0/networks?recursion=1", expect=200)
call("GET", "/1.0/networks/apinet", expect=200)
_, d = call("POST", "/1.0/instances", {"name": "api3", "source": {"type": "image", "alias": "busybox"},
                                       "devices": {"eth0": {"type": "nic", "network": "apinet"}}}, 202)
if d:
    wait(d)
call("GET", "/1.0/instances/api3", expect=200)
call("DELETE", "/1.0/networks/apinet", expect=409)
_, d = call("DELETE", "/1.0/instances/api3", expect=202)
if d:
    wait(d)
call("DELETE", "/1.0/networks/apinet", expect=200)
call("GET", "/1.0/networks/apinet", expect=404)
_, ops = call("GET", "/1.0/operations", expect=200)
call("GET", "/1.0/operations?recursion=1", expect=200)
if ops and ops["metadata"]:
    call("GET", ops["metadata"][0], expect=200)
    call("DELETE", ops["metadata"][0], expect=409)
call("GET", "/1.0/operations/nope", expect=404)
call("GET", "/1.0/operations/nope/wait?timeout=1", expect=404)

# the event stream: one line per event, each an Event
ev = UnixConn()
ev.request("GET", "/1.0/events?type=lifecycle")
r = ev.getresponse()
ok(r.status == 200, "GET /1.0/events: 200")
_, d = call("PUT", "/1.0/instances/api1/state", {"action": "restart"}, 202)
if d:
    wait(d)
line = b""
deadline = time.time() + 60
while time.time() < deadline:
    line = r.readline().strip()
    if line:
        break
try:
    jsonschema.validate(json.loads(line), resolve(spec["components"]["schemas"]["Event"]))
    ok(True, "event matches the document: %s" % line[:100])
except Exception as e:  # noqa: BLE001 - any failure is a failed check
    ok(False, "event %r: %s" % (line[:100], e))
ev.close()

# lifecycle policies, expiry, sprawl and prune, the audit log
call("GET", "/1.0/projects/apiproj/policy", expect=200)
call("PUT", "/1.0/projects/apiproj/policy", {"config": {"expiry.action": "delete", "lifetime.max": "30d"}}, 200)
call("PUT", "/1.0/projects/apiproj/policy", {"config": {"expiry.action": "explode"}}, 400)
call("PUT", "/1.0/projects/bad_name/policy", {"config": {}}, 400)
call("PATCH", "/1.0/instances/api1", {"expires": "7d"}, 200)
call("PATCH", "/1.0/instances/api1", {"expires": "yesterday"}, 400)
call("GET", "/1.0/instances/api1", expect=200)
call("PATCH", "/1.0/instances/api1", {"expires": None}, 200)
call("GET", "/1.0/sprawl", expect=200)
call("POST", "/1.0/prune", {"dry_run": True}, 200)
call("POST", "/1.0/prune", {"dry_run": "yes"}, 400)
call("GET", "/1.0/audit", expect=200)
call("GET", "/1.0/audit?instance=api1&since=2020-01-01T00:00:00Z", expect=200)
call("GET", "/1.0/audit?since=yesterday", expect=400)
call("GET", "/1.0/audit/verify", expect=200)


# byte streams: files (octet-stream both ways) and the console (log, upgrade)
def raw_call(method, path, data=None, headers=None, expect=None):
    tpl = template_of(path)
    op = spec["paths"].get(tpl, {}).get(method.lower()) if tpl else None
    what = "%s %s" % (method, path)
    if not ok(op is not None, what + ": documented"):
        return None, None
    c = UnixConn()
    c.request(method, path, body=data, headers=headers or {})
    r = c.getresponse()
    raw = r.read() if r.status != 101 else b""
    c.close()
    ok(expect is None or r.status == expect, "%s: status %s (want %s)" % (what, r.status, expect))
    resp = resolve(op["responses"].get(str(r.status)))
    if not ok(resp is not None, "%s: status %s documented" % (what, r.status)):
        return r.status, raw
    ctype = (r.getheader("Content-Type") or "").split(";")[0]
    docs = resp.get("content", {})
    ok(r.status == 101 or ctype in docs, "%s: content type %r documented" % (what, ctype))
    if ctype == "application/json" and ctype in docs:
        try:
            jsonschema.validate(json.loads(raw), docs[ctype]["schema"])
            ok(True, "%s: %s body matches the document" % (what, r.status))
        except (jsonschema.ValidationError, ValueError) as e:
            ok(False, "%s: %s body: %s" % (what, r.status, e))
    return r.status, raw


octet = {"Content-Type": "application/octet-stream"}
raw_call("POST", "/1.0/instances/api1/files?path=/root/api-file", b"bytes\x00\xff",
         dict(octet, **{"X-Vessel-Mode": "0600", "X-Vessel-Uid": "7"}), 200)
_, body = raw_call("GET", "/1.0/instances/api1/files?path=/root/api-file", expect=200)
ok(body == b"bytes\x00\xff", "file pulled back unchanged")
raw_call("POST", "/1.0/instances/api1/files?path=/root/x", b"x", dict(octet, **{"X-Vessel-Mode": "9"}), 400)
raw_call("POST", "/1.0/instances/api1/files?path=relative", b"x", octet, 400)
raw_call("GET", "/1.0/instances/api1/files?path=/nonexistent", expect=404)
raw_call("GET", "/1.0/instances/nope/files?path=/etc/passwd", expect=404)
raw_call("GET", "/1.0/instances/api1/console", expect=200)
raw_call("GET", "/1.0/instances/api1/console",
         headers={"Connection": "Upgrade", "Upgrade": "vessel-console"}, expect=101)
raw_call("GET", "/1.0/instances/nope/console",
         headers={"Connection": "Upgrade", "Upgrade": "vessel-console"}, expect=404)


# usage, metrics and advice (api1 runs; the sampler's history may be short)
call("GET", "/1.0/instances/api1/usage", expect=200)
call("GET", "/1.0/instances/api1/usage?window=30d", expect=200)
call("GET", "/1.0/instances/api1/usage?window=bad", expect=400)
call("GET", "/1.0/instances/nope/usage", expect=404)
call("GET", "/1.0/metrics", expect=200)
call("GET", "/1.0/advice", expect=200)
call("GET", "/1.0/advice?instance=api1", expect=200)
call("GET", "/1.0/advice?instance=nope", expect=404)
call("POST", "/1.0/instances/api1/advice/apply", {}, 200)
call("POST", "/1.0/instances/api1/advice/apply", {"x": 1}, 400)
call("POST", "/1.0/instances/nope/advice/apply", {}, 404)
_, d = call("DELETE", "/1.0/instances/api1?force=1", expect=202)
if d:
    wait(d)
# cluster join tokens on a host that is no member (the three-member case is
# tests/integration/mgr/test_cluster.sh token)
call("POST", "/1.0/cluster/members", {"server_name": "m2"}, 404)
call("POST", "/1.0/cluster/members", {"server_name": "m2", "expiry": "soon"}, 400)
call("GET", "/1.0/cluster/tokens", expect=404)
call("DELETE", "/1.0/cluster/tokens/m2", expect=404)
call("POST", "/1.0/cluster/join", {"cluster_token": "e30=", "certificate": pem}, 400)
well_formed = base64.b64encode(json.dumps({
    "server_name": "m2", "secret": "0" * 64, "expires_at": 2 ** 40,
    "members": [{"address": "10.0.0.1:8443", "fingerprint": "0" * 64}]}).encode()).decode()
call("POST", "/1.0/cluster/join", {"cluster_token": well_formed, "certificate": pem}, 404)
call("POST", "/1.0/cluster/join", {"cluster_token": 1, "certificate": pem}, 400)
print("%d/%d checks passed" % (checks - fails, checks))
sys.exit(1 if fails else 0)
