#!/usr/bin/env python3
"""raft_probe.py - ask a cluster member's Raft port for its leader, as a
dqlite client does (protocol version 1: handshake word, then a LEADER
request), over plain TCP or TLS (with a client certificate or none).

Usage: raft_probe.py HOST:PORT plain|tls [CERT KEY]
Prints "answered: leader ID ADDRESS" and exits 0 when a dqlite SERVER
response came back, else prints "refused: WHY" and exits 1.
"""
import socket
import ssl
import struct
import sys


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed after %d bytes" % len(buf))
        buf += chunk
    return buf


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    mode = sys.argv[2]
    raw = socket.create_connection((host, int(port)), timeout=10)
    s = raw
    try:
        if mode == "tls":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if len(sys.argv) > 4:
                ctx.load_cert_chain(sys.argv[3], sys.argv[4])
            s = ctx.wrap_socket(raw)
        # handshake (version 1), LEADER: header (1 word, type 0), body (1 word)
        s.sendall(struct.pack("<Q", 1) + struct.pack("<IBBH", 1, 0, 0, 0) + struct.pack("<Q", 0))
        words, rtype, _, _ = struct.unpack("<IBBH", recv_exact(s, 8))
        body = recv_exact(s, 8 * words) if 0 < words < 1024 else b""
        if rtype != 1 or len(body) < 8:
            print("refused: not a dqlite SERVER response (type %d, %d words)" % (rtype, words))
            return 1
        node = struct.unpack("<Q", body[:8])[0]
        addr = body[8:].split(b"\0", 1)[0].decode(errors="replace")
        print("answered: leader %x %s" % (node, addr))
        return 0
    except (OSError, ssl.SSLError, ConnectionError, struct.error) as e:
        print("refused: %s" % e)
        return 1
    finally:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
