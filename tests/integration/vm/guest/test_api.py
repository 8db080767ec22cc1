#!/usr/bin/env python3
"""vm-api-conformance: vessel-vmm's control API against docs/api/vessel-vmm.yaml.

Boots the guest with --api and --balloon, then for every path and method of
the OpenAPI document, in document order with /actions last, sends each
documented example body (or none) and checks that the status code is one
the document lists for the operation and that the body matches the
documented schema (a JSON-schema subset: $ref, oneOf, type, nullable,
enum, required, properties, additionalProperties false, items, minimum).
Then the same against an empty vessel-vmm (--api alone): every example but
a load of an existing snapshot, GET /vm must say "empty", every other
operation but /snapshot/load must answer a documented 409.  Paths
absent from the document must answer 404 and documented paths with other
methods 405.  GET /metrics must pass `promtool check metrics` (when
installed) and the naming rules (vessel_vmm_ prefix, counters end in
_total).  The socket must be mode 0600.  The
route table in lib/vm/api/routes.c must list exactly the documented
operations.  The final /actions example
(shutdown) must make the guest power off cleanly.
"""
import glob
import os
import re
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmapi  # noqa: E402
import vmconsole as vc  # noqa: E402

SRC = os.environ.get("VESSEL_SOURCE_ROOT",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "../../../.."))
DOC = os.path.join(SRC, "docs", "api", "vessel-vmm.yaml")
METHODS = ("get", "put", "patch", "post", "delete")


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            vc.fail("unsupported $ref %r" % ref)
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def validate(doc, schema, value, where):
    """Check value against an OpenAPI schema subset; fail with the path."""
    schema = resolve(doc, schema)
    if "oneOf" in schema:
        matched, why = [], []
        for i, sub in enumerate(schema["oneOf"]):
            try:
                validate(doc, sub, value, "%s (oneOf[%d])" % (where, i))
                matched.append(i)
            except vc.TestFailure as e:
                why.append(str(e))
        if len(matched) != 1:
            vc.fail("%s: %r matches %d of the oneOf schemas, not one: %s"
                    % (where, value, len(matched), "; ".join(why)))
        return
    if value is None:
        if schema.get("nullable"):
            return
        vc.fail("%s: null where %s expected" % (where, schema.get("type")))
    t = schema.get("type")
    ok = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        None: lambda v: True,
    }[t]
    if not ok(value):
        vc.fail("%s: %r is not of type %s" % (where, value, t))
    if "enum" in schema and value not in schema["enum"]:
        vc.fail("%s: %r not in %r" % (where, value, schema["enum"]))
    if "minimum" in schema and value < schema["minimum"]:
        vc.fail("%s: %r below minimum %r" % (where, value, schema["minimum"]))
    if t == "object":
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                vc.fail("%s: required field %r missing in %r" % (where, key, value))
        for key, v in value.items():
            if key in props:
                validate(doc, props[key], v, "%s.%s" % (where, key))
            elif schema.get("additionalProperties", True) is False:
                vc.fail("%s: undocumented field %r" % (where, key))
    if t == "array":
        for i, v in enumerate(value):
            validate(doc, schema.get("items", {}), v, "%s[%d]" % (where, i))


def check_metrics(text, work):
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            vc.fail("promtool check metrics failed:\n%s%s" % (r.stdout, r.stderr))
    else:
        print("note: promtool not installed; only the naming rules are checked")
    types = {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)$", line)
        if m:
            types[m.group(1)] = m.group(2)
            continue
        if line.startswith("#") or not line:
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if not m:
            vc.fail("malformed metrics line %r" % line)
        name = m.group(1)
        float(m.group(3))
        if not name.startswith("vessel_vmm_"):
            vc.fail("metric %s lacks the vessel_vmm_ prefix" % name)
        if name not in types:
            vc.fail("metric %s has no TYPE line" % name)
        if (types[name] == "counter") != name.endswith("_total"):
            vc.fail("metric %s: counters (and only counters) end in _total" % name)
    for want in ("vessel_vmm_hart_busy_seconds_total", "vessel_vmm_paused",
                 "vessel_vmm_balloon_actual_bytes",
                 "vessel_vmm_api_requests_total"):
        if want not in types:
            vc.fail("metric %s missing from /metrics" % want)


def server_routes():
    """(METHOD, path) rows of the route table in lib/vm/api/routes.c."""
    with open(os.path.join(SRC, "lib", "vm", "api", "routes.c")) as f:
        text = f.read()
    table = text[text.index("vm_api_routes[] = {"):]
    table = table[:table.index("};")]
    return set(re.findall(r'\{\s*"([A-Z]+)",\s*"(/[^"]*)"', table))


def operations(doc):
    ops = []
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                ops.append((path, method.upper(), item[method]))
    # /actions ends the VM: last
    ops.sort(key=lambda o: o[0] == "/actions")
    return ops


def exercise(doc, api, path, method, op):
    responses = op["responses"]
    body = op.get("requestBody")
    examples = [None]
    if body:
        media = body["content"]["application/json"]
        examples = [e["value"] for e in media.get("examples", {}).values()]
        if "example" in media:
            examples.append(media["example"])
        if not examples:
            vc.fail("%s %s: a request body but no example to send" % (method, path))
        for ex in examples:
            validate(doc, media["schema"], ex, "example of %s %s" % (method, path))
    results = []
    for ex in examples:
        status, ctype, data = api.raw(method, path,
                                      None if ex is None else __import__("json").dumps(ex),
                                      {"Content-Type": "application/json"} if ex else {})
        key = str(status)
        if key not in responses:
            vc.fail("%s %s %r answered %d, not documented (%s): %s" %
                    (method, path, ex, status, sorted(responses), data[:300]))
        resp = resolve(doc, responses[key])
        content = resp.get("content", {})
        if not content:
            continue
        want = list(content)[0]
        if not ctype.startswith(want):
            vc.fail("%s %s: content type %r, documented %r" % (method, path, ctype, want))
        if want == "application/json":
            import json
            value = json.loads(data)
            validate(doc, content[want]["schema"], value,
                     "%s %s -> %d" % (method, path, status))
        results.append((status, data))
    return results


def test(work):
    try:
        import yaml
    except ImportError:
        vc.skip("python3-yaml not installed")
    with open(DOC) as f:
        doc = yaml.safe_load(f)
    documented = {(m.upper(), p) for p, item in doc["paths"].items()
                  for m in METHODS if m in item}
    routes = server_routes()
    if documented != routes:
        vc.fail("route table and document differ: undocumented %r, not served %r" %
                (sorted(routes - documented), sorted(documented - routes)))
    gdir = vc.guest_dir()
    m = vc.Machine(gdir, cpus=2, mem="256M")
    sock = os.path.join(work, "api.sock")
    argv = m.argv("vessel", vc.vmm_program("vessel")) + ["--api", sock, "--balloon"]
    with vc.Console(argv, os.path.join(work, "console.log")) as con:
        con.wait_banner()
        api = vmapi.VmApi(sock)
        api.wait_ready(30)
        mode = stat.S_IMODE(os.stat(sock).st_mode)
        if mode != 0o600:
            vc.fail("API socket mode is %o, expected 600" % mode)
        for bogus in ("/", "/vm/", "/vms", "/balloon/stats", "/metrics/x",
                      "/VM", "/actions/poweroff", "/vm/state/x"):
            s, body = api.request("GET", bogus)
            if s != 404 or not isinstance(body, dict) or "error" not in body:
                vc.fail("GET %s (undocumented) answered %d %r" % (bogus, s, body))
        s, body = api.request("GET", "/vm?verbose=1")
        if s != 400 or "error" not in body:
            vc.fail("GET /vm?verbose=1 answered %d %r (no route takes a query)" % (s, body))
        seen = set()
        for path, method, op in operations(doc):
            seen.add((path, method))
            results = exercise(doc, api, path, method, op)
            if path == "/metrics":
                check_metrics(results[0][1].decode(), work)
            if path == "/vm/state" and [s for s, _ in results] != [200, 200]:
                vc.fail("pause + resume answered %r" % [s for s, _ in results])
            if path == "/actions":
                break
            # documented paths with an undocumented method: 405
            for other in ("GET", "PUT", "PATCH", "POST", "DELETE"):
                if (path, other) not in seen and other.lower() not in doc["paths"][path]:
                    s, body = api.request(other, path)
                    if s != 405 or "error" not in body:
                        vc.fail("%s %s (undocumented method) answered %d %r" %
                                (other, path, s, body))
                    seen.add((path, other))
            # the guest still answers between requests
            con.run("true")
        # the shutdown example: the guest powers off by itself
        con.expect(r"powering off \(ctrl-alt-del\)", 60, "the guest's shutdown")
        status = con.wait_exit(60)
        if status != 0:
            vc.fail("vessel-vmm exit status %d after the shutdown request" % status)
        if os.path.exists(sock):
            vc.fail("API socket %s left behind" % sock)
    test_empty(doc, work)


def test_empty(doc, work):
    """Every operation against a vessel-vmm started with --api alone."""
    sock = os.path.join(work, "empty.sock")
    argv = [vc.vmm_program("vessel"), "--api", sock, "--serial", "stdio"]
    with vc.Console(argv, os.path.join(work, "empty.log")) as con:
        api = vmapi.VmApi(sock)
        api.wait_ready(30)
        for path, method, op in operations(doc):
            if path == "/snapshot/load":  # only the examples that cannot load
                op = dict(op)
                media = op["requestBody"]["content"]["application/json"]
                ex = {k: v for k, v in media["examples"].items()
                      if not os.path.exists(v["value"]["path"])}
                if not ex:
                    vc.fail("/snapshot/load: no example of a missing file")
                op["requestBody"] = {"content": {"application/json": dict(
                    media, examples=ex)}}
            statuses = [s for s, _ in exercise(doc, api, path, method, op)]
            want = {("/vm", "GET"): 200, ("/snapshot/load", "PUT"): 400}
            if any(s != want.get((path, method), 409) for s in statuses):
                vc.fail("empty vessel-vmm: %s %s answered %r, expected %d" %
                        (method, path, statuses, want.get((path, method), 409)))
        s, body = api.request("GET", "/vm")
        if s != 200 or body != {"state": "empty"}:
            vc.fail("empty vessel-vmm: GET /vm answered %d %r" % (s, body))
        if con.proc.poll() is not None:
            vc.fail("empty vessel-vmm exited (status %d)" % con.proc.poll())


def test_and_clean(work):
    try:
        test(work)
    finally:  # the snapshot examples of the document write under /tmp
        for path in glob.glob("/tmp/vessel-api-example*.snap"):
            os.unlink(path)


if __name__ == "__main__":
    vc.main(test_and_clean)
