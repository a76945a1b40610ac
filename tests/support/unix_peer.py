"""Unix sockets of every kind sockleak tells apart, held until stdin closes:

- PAIRS socketpairs (both ends held here);
- an abstract listener `@NAME` in a forked child, which accepts CLIENTS connections
  from here and keeps them;
- one more connection to it whose server side the child accepts and closes at
  once: this end stays connected to no one ("(peer closed)").

Prints {"pid", "child", "name"} once everything is in place.

    python3 unix_peer.py NAME PAIRS CLIENTS

With `--types NAME`: instead, a seqpacket listener `@NAME-seq` with one client
(accepted), and three datagram sockets: one bound to `@NAME-dg`, one connected
to it, one unbound.
"""
import json
import os
import socket
import sys

if sys.argv[1] == "--types":
    name = sys.argv[2]
    seq = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    seq.bind("\0" + name + "-seq")
    seq.listen(1)
    cli = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    cli.connect("\0" + name + "-seq")
    acc, _ = seq.accept()
    dg = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dg.bind("\0" + name + "-dg")
    dc = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dc.connect("\0" + name + "-dg")
    du = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    print(json.dumps({"pid": os.getpid()}), flush=True)
    sys.stdin.read()
    sys.exit(0)

name, pairs, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
addr = "\0" + name
lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
lst.bind(addr)
lst.listen(clients + 8)
ready_r, ready_w = os.pipe()
child = os.fork()
if child == 0:
    os.close(ready_r)
    kept = [lst.accept()[0] for _ in range(clients)]
    gone, _ = lst.accept()
    gone.close()
    os.write(ready_w, b"x")
    # Keep the accepted sockets until the parent's stdin (shared) closes.
    sys.stdin.read()
    os._exit(0)
lst.close()
os.close(ready_w)
held = [socket.socketpair() for _ in range(pairs)]
conns = []
for _ in range(clients + 1):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(addr)
    conns.append(s)
os.read(ready_r, 1)
print(json.dumps({"pid": os.getpid(), "child": child, "name": name}), flush=True)
sys.stdin.read()
