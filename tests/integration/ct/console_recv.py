#!/usr/bin/env python3
"""console_recv.py SOCKET OUT: accept one connection on the AF_UNIX SOCKET,
receive the pty master sent with SCM_RIGHTS (runc's --console-socket
protocol) and copy everything read from it to OUT until the pty closes."""
import array, os, socket, sys

path, out = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
open(path + ".ready", "w").close()
conn, _ = srv.accept()
fds = array.array("i")
msg, anc, _, _ = conn.recvmsg(1024, socket.CMSG_LEN(fds.itemsize))
for level, kind, data in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
with open(out, "wb") as f:
    f.write(b"NAME=" + msg + b"\n")
    f.flush()
    while True:
        try:
            chunk = os.read(fds[0], 4096)
        except OSError:
            break
        if not chunk:
            break
        f.write(chunk)
        f.flush()
