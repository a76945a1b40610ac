#!/usr/bin/env python3
"""Real HTTP and TLS peers for sockleak's --peek tests (tests/it/peek/live.rs). Loopback only.

  http_leak.py server HOST
      An HTTP/1.1 keep-alive server. GET /forbidden: a 403 whose head is sent
      first and whose HTML body follows 0.2 s later (as servers that flush the
      head before the body do, so a client that reads only the head leaves the
      body in its kernel receive queue); GET /ok: a 200 with a small body, in one
      write. A connection idle for 0.5 s after a response is closed (the client's
      socket goes to CLOSE_WAIT). Prints {"pid", "port", "body_sha256",
      "body_len", "body_head"} (body_head: the body's first 64 bytes).

  http_leak.py urllib3 HOST PORT --leak N --ok M
      A real urllib3 client: N GET /forbidden with preload_content=False whose
      403 responses are never read nor released (the classic leak), then M GET /ok
      read whole (their connection goes back to the pool). Prints {"pid"}.
      On the line "read" on stdin it reads every leaked body to its end and prints
      {"sha256": [...], "lengths": [...]}.

  http_leak.py raw HOST PORT --count N
      N connections that each send GET /forbidden and never read anything: the
      whole response, status line first, stays queued. Prints {"pid"}.

  http_leak.py tls HOST --cert C --key K
      In one process: a TLS server and a client (python's ssl) that completes the
      handshake, sends a request and never reads the answer. Prints {"pid",
      "port"} once the server has written its answer.

Every process exits when its stdin closes.
"""
import hashlib, json, os, socket, ssl, sys, threading, time

from child import exit_with_stdin, say

BODY = (
    b"<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1>"
    + b"<p>" + b"forbidden " * 40 + b"</p></body></html>\n"
)


def opt(args, flag, default=None):
    return args[args.index(flag) + 1] if flag in args else default


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()


def serve_conn(conn):
    conn.settimeout(None)
    while True:
        line = read_head(conn)
        if line is None:
            break
        path = line.split(" ")[1]
        if path == "/forbidden":
            head = (
                "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\n"
                "Content-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(BODY)
            )
            conn.sendall(head.encode())
            time.sleep(0.2)
            conn.sendall(BODY)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n")
        conn.settimeout(0.5)
        try:
            line = None
            # Wait for the next request; idle for 0.5 s: close.
            peek = conn.recv(1, socket.MSG_PEEK)
            if not peek:
                break
        except socket.timeout:
            break
        conn.settimeout(None)
    conn.close()


def server(args):
    host = args[0]
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(128)
    say({"pid": os.getpid(), "port": s.getsockname()[1],
         "body_sha256": hashlib.sha256(BODY).hexdigest(), "body_len": len(BODY),
         "body_head": BODY[:64].decode()})
    exit_with_stdin()
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_conn, args=(c,), daemon=True).start()


def client_urllib3(args):
    import urllib3
    host, port = args[0], int(args[1])
    leak, ok = int(opt(args, "--leak", "1")), int(opt(args, "--ok", "0"))
    pool = urllib3.HTTPConnectionPool(host, port, maxsize=1, block=False, retries=False)
    leaked = []
    for _ in range(leak):
        r = pool.request("GET", "/forbidden", preload_content=False)
        assert r.status == 403, r.status
        leaked.append(r)  # never read, never released: the leak
    for _ in range(ok):
        r = pool.request("GET", "/ok")
        assert r.status == 200 and r.data == b"ok\n"
    say({"pid": os.getpid()})
    for line in sys.stdin:
        if line.strip() == "read":
            bodies = [r.read() for r in leaked]
            say({"sha256": [hashlib.sha256(b).hexdigest() for b in bodies],
                 "lengths": [len(b) for b in bodies]})
    os._exit(0)


def client_raw(args):
    host, port = args[0], int(args[1])
    held = []
    for _ in range(int(opt(args, "--count", "1"))):
        c = socket.create_connection((host, port))
        c.sendall(b"GET /forbidden HTTP/1.1\r\nHost: leak\r\n\r\n")
        held.append(c)
    say({"pid": os.getpid()})
    exit_with_stdin()
    while True:
        time.sleep(3600)


def tls(args):
    host = args[0]
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(opt(args, "--cert"), opt(args, "--key"))
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind((host, 0))
    lsock.listen(8)
    answered = threading.Event()
    held = []

    def serve():
        c, _ = lsock.accept()
        t = sctx.wrap_socket(c, server_side=True)
        t.recv(4096)
        t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")
        # A FIN after the answer (no close_notify): the client sits in CLOSE_WAIT,
        # the only kind of socket --peek reads.
        t.shutdown(socket.SHUT_WR)
        held.append(t)
        answered.set()

    threading.Thread(target=serve, daemon=True).start()
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    c = cctx.wrap_socket(socket.create_connection((host, lsock.getsockname()[1])))
    c.sendall(b"GET / HTTP/1.1\r\nHost: leak\r\n\r\n")
    held.append(c)
    answered.wait(10)
    say({"pid": os.getpid(), "port": lsock.getsockname()[1]})
    exit_with_stdin()
    while True:
        time.sleep(3600)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"server": server, "urllib3": client_urllib3, "raw": client_raw, "tls": tls}[cmd](args)


if __name__ == "__main__":
    main()
