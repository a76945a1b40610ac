"""Sockets whose names are hostile text, held until stdin closes.

    python3 hostile_names.py unix TAG DIR
        Abstract listeners named (bytes) "TAG-x\\xff", "TAG-x\\xfe" and
        "\\x1b[2J\\nTAG", a listener at the relative path "(socketpair)" in DIR
        (sockleak's label for a socketpair), one client connected to each and
        accepted, and one real socketpair. Prints {"pid", "names"} with each
        name's sun_path bytes in hex (abstract: a leading 00).

    python3 hostile_names.py tcp COMM_HEX
        Sets its own comm to the bytes COMM_HEX (hex), then holds a loopback TCP
        connection (both ends) and its listener. Prints {"pid", "port"}.
"""
import json
import os
import socket
import sys


def unix(tag, directory):
    os.chdir(directory)
    names = [
        b"\0" + tag + b"-x\xff",
        b"\0" + tag + b"-x\xfe",
        b"\0\x1b[2J\n" + tag,
        b"(socketpair)",
    ]
    held = []
    for name in names:
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lst.bind(name)
        lst.listen(4)
        cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cli.connect(name)
        acc, _ = lst.accept()
        held += [lst, cli, acc]
    held += list(socket.socketpair())
    print(json.dumps({"pid": os.getpid(), "names": [n.hex() for n in names]}), flush=True)
    sys.stdin.read()


def tcp(comm):
    with open("/proc/self/comm", "wb") as f:
        f.write(comm)
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    cli = socket.create_connection(lst.getsockname())
    acc, _ = lst.accept()
    print(json.dumps({"pid": os.getpid(), "port": lst.getsockname()[1]}), flush=True)
    sys.stdin.read()
    del cli, acc


if sys.argv[1] == "unix":
    unix(sys.argv[2].encode(), sys.argv[3])
else:
    tcp(bytes.fromhex(sys.argv[2]))
