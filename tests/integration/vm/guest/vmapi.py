"""vmapi.py - a client for vessel-vmm's control API (HTTP/1.1 on a unix
socket), for the integration tests and bench/lifecycle.  Standard library
only.

    api = VmApi("/tmp/x/api.sock")
    status, body = api.request("GET", "/vm")        # body: parsed JSON or text
    api.wait_ready(timeout)                          # until the socket answers
"""

import http.client
import json
import socket
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        # A unix socket whose backlog is full refuses a non-blocking connect
        # with EAGAIN at once: retry until the timeout, as a patient client.
        deadline = time.monotonic() + self.timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            try:
                s.connect(self.unix_path)
                break
            except BlockingIOError:
                s.close()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
        self.sock = s


class VmApi:
    def __init__(self, path, timeout=60):
        self.path = path
        self.timeout = timeout

    def raw(self, method, url, body=None, headers=None):
        """One request on a fresh connection: (status, content-type, bytes)."""
        conn = UnixHTTPConnection(self.path, self.timeout)
        try:
            conn.request(method, url, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, r.getheader("Content-Type", ""), data
        finally:
            conn.close()

    def request(self, method, url, obj=None):
        """JSON in, parsed JSON (or text) out: (status, body)."""
        body = None if obj is None else json.dumps(obj)
        hdr = {"Content-Type": "application/json"} if body is not None else {}
        status, ctype, data = self.raw(method, url, body, hdr)
        if ctype.startswith("application/json"):
            return status, json.loads(data)
        return status, data.decode()

    def timed(self, method, url, obj=None):
        """request() plus the wall time of the round trip in seconds."""
        t0 = time.perf_counter()
        status, body = self.request(method, url, obj)
        return status, body, time.perf_counter() - t0

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.request("GET", "/vm")
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
