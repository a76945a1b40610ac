#!/usr/bin/env python3
"""The --peek race, one side of it: a holder whose queue is drained, and an RST
that arrives, between sockleak's FIONREAD and its recv(MSG_PEEK).

  peek_race.py MODE HOST GO DONE

In ONE process: listen on HOST, connect, accept; the server end sends PAYLOAD
(and, in MODE close-wait, its FIN) and the client end never reads: its socket
holds PAYLOAD unread, ESTABLISHED or CLOSE_WAIT. Prints {"pid", "port", "len"}.

When a line is written to the FIFO GO (by tests/support/peek_pause.c, which
stopped sockleak at its peek, or by the test): the client drains its queue (PAYLOAD, and the FIN
in close-wait), the server end is closed with SO_LINGER 0 (an RST), and once
the client socket is in TCP_CLOSE, with its error pending, "done" is written
to the FIFO DONE. Then on the stdin line "read" it prints {"drained": hex,
"so_error": errno name or "0"} in close-wait (a read after the FIN says EOF
whatever is pending: only SO_ERROR shows the error), or {"drained": hex,
"then": "eof" or errno name} in established (the next recv).

Exits when stdin closes.
"""
import errno, json, os, socket, struct, sys, time

from child import say

PAYLOAD = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
TCP_CLOSE = 7


def state(s):
    # struct tcp_info starts with the u8 tcpi_state.
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def unread(s):
    import fcntl, termios
    return struct.unpack("i", fcntl.ioctl(s, termios.FIONREAD, b"\0\0\0\0"))[0]


def main():
    mode, host, go, done = sys.argv[1:5]
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind((host, 0))
    lsock.listen(1)
    client = socket.create_connection(lsock.getsockname())
    server, _ = lsock.accept()
    lsock.close()
    server.sendall(PAYLOAD)
    if mode == "close-wait":
        server.shutdown(socket.SHUT_WR)
    deadline = time.time() + 10
    while unread(client) < len(PAYLOAD) and time.time() < deadline:
        time.sleep(0.01)
    say({"pid": os.getpid(), "port": client.getpeername()[1], "len": len(PAYLOAD)})

    with open(go) as g:
        g.readline()
    drained = b""
    while len(drained) < len(PAYLOAD):
        drained += client.recv(len(PAYLOAD) - len(drained))
    if mode == "close-wait":
        assert client.recv(1) == b"", "the FIN"
    server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    server.close()
    deadline = time.time() + 10
    while state(client) != TCP_CLOSE and time.time() < deadline:
        time.sleep(0.01)
    with open(done, "w") as d:
        d.write("done\n")

    for line in sys.stdin:
        if line.strip() != "read":
            continue
        out = {"drained": drained.hex()}
        if mode == "close-wait":
            e = client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            out["so_error"] = errno.errorcode.get(e, str(e))
        else:
            try:
                out["then"] = "eof" if client.recv(64) == b"" else "data"
            except OSError as e:
                out["then"] = errno.errorcode.get(e.errno, str(e.errno))
        say(out)


if __name__ == "__main__":
    main()
