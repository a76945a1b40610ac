#!/usr/bin/env python3
"""Test peer for sockleak's live tests: real loopback sockets in child processes.

  peer.py listen HOST [--name N] [--mode hold|fin|eof-close|close] [--send BYTES] [--port P]
                 [--payload HEX]
      Listen on HOST:P (default: any free port) and print {"pid", "port"}. Each accepted connection is
      held open (hold), or answered with BYTES of data then a FIN while the fd stays
      open (fin: the client side ends in CLOSE_WAIT with BYTES unread), or closed
      once the client has closed (eof-close: the client side ends in TIME_WAIT),
      or closed at once (close: an orphaned FIN_WAIT2 on the server side, then
      TIME_WAIT there once the client closes).
      After each accept+action it prints {"done": n}. --payload: in hold and fin
      modes, send these bytes (hex) first (a given queue for --peek tests).

  peer.py connect HOST PORT --count N [--name N] [--fork] [--close] [--interval S]
                  [--src-port-base P]
      Open N connections and hold them; print {"pid", "pids", "ports"} when all
      are open. --fork: a child process shares every socket. --close: close every
      connection once all N are open (active close). --interval: pace the
      connections (for watch tests): prints {"pid", "pids"} first, then
      {"open": n} after each.

  peer.py churn HOST [--seconds S]
      Until stdin closes (or S seconds pass): fork short-lived children that each
      listen on a fresh port, open and close a few connections to it (leaving
      CLOSE_WAIT, ESTABLISHED and TIME_WAIT sockets behind for a moment), and
      exit; groups and processes appear and vanish all the time. Prints {"pid"}.

  peer.py pair HOST --port P --count N [--name N] [--lo-up]
      In ONE process: listen on HOST:P, open N connections to it and answer each
      with a FIN: the N client sockets sit in CLOSE_WAIT. --lo-up: bring `lo` up
      first (inside a fresh `unshare --net`, where no shell wrapper is wanted).
      Prints {"pid", "port", "ports"} when all are in place.

  peer.py connect ... --busy S
      As connect, then write one byte on every connection every S seconds: busy
      ESTABLISHED sockets whose idle age stays near 0 (the server holds, unread).

  peer.py reset HOST --count N [--fresh K] [--name N]
      In ONE process: listen, open N connections, and close the accepted ends with
      SO_LINGER 0 (an RST): the N client sockets are reset (state CLOSE, in no
      table) while their fds stay held; the listener is closed too. --fresh: also
      hold K TCP sockets created and never connected. Prints {"pid", "held"} once
      every client socket is in TCP_CLOSE.

  peer.py swap HOST --count N [--interval S] [--hold] [--fork]
      In ONE process: listen, and hold N connections to it (both ends). Every S
      seconds (0.05) one connection is closed and a new one opened in its place:
      the fd count stays the same while the sockets change. --hold: keep the N
      connections (no swapping). --fork: a child shares every socket and, every 4 S
      seconds, puts /dev/null in place of one inherited socket fd (dup2): its fd
      count stays the same, and the parent still holds the socket. Prints
      {"pid", "pids"}.

  peer.py fdlimit HOST --limit L --open K [--name N]
      Set the soft RLIMIT_NOFILE to L, hold one loopback connection (both ends),
      then open /dev/null until K fds are open. Prints {"pid", "open", "limit"}.

  peer.py per-request --ports LOW-HIGH [--reserved LIST] [--interval S] [--port P] [--name N]
      Inside a fresh `unshare --net` (root): bring `lo` up, narrow this namespace's
      ip_local_port_range to LOW-HIGH (and set its ip_local_reserved_ports to
      LIST, e.g. 40000-40039,40090-40099) and turn its tcp_tw_reuse off, serve HTTP/1.1
      keep-alive on 127.0.0.1:P (8080; outside the range) with http.server, and every S
      seconds (0.1) make one request with http.client on a new connection that the
      client then closes: a connection per request, each leaving a TIME_WAIT on the
      client side. Prints {"pid", "port"}, {"requests": n} after each request, and
      {"failed": n, "errno": name, "unix_time": t} when connect() fails; then holds.

  peer.py flood HOST:PORT --conns N [--secs S] [--rate R] [--name NAME]
      An idle-connection flood: raise its own fd limit, open N connections to
      HOST:PORT that never send a byte, and for S seconds (60) open a new one for
      each the server closes, at most R a second (2000). Prints {"pid", "open"}
      once the N connects have finished (or after 15 s), then holds the rest
      until S seconds have passed, when it closes them all and exits.

Every process exits when its stdin closes (the test dropped it) or its parent dies.
--pdeathsig (any command): also be killed when the test process dies, even while
stopped (SIGSTOP), when no stdin watcher can run.
"""
import ctypes, json, os, signal, socket, sys, threading, time

from child import exit_with_stdin, say

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME, PR_SET_PDEATHSIG = 15, 1


def set_name(name):
    if name:
        libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def opt(args, flag, default=None):
    if flag in args:
        return args[args.index(flag) + 1]
    return default


def listen(args):
    host = args[0]
    mode = opt(args, "--mode", "hold")
    send = int(opt(args, "--send", "0"))
    payload = bytes.fromhex(opt(args, "--payload", ""))
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(opt(args, "--port", "0"))))
    s.listen(4096)
    say({"pid": os.getpid(), "port": s.getsockname()[1]})
    held, n = [], 0
    while True:
        c, _ = s.accept()
        n += 1
        if payload and mode in ("fin", "hold"):
            c.sendall(payload)
        if mode == "fin":
            if send:
                c.sendall(b"x" * send)
            c.shutdown(socket.SHUT_WR)
            held.append(c)
        elif mode == "eof-close":
            while c.recv(65536):
                pass
            c.close()
        elif mode == "close":
            # Active close at once: the server side becomes an orphan in FIN_WAIT2
            # (no fd), the client side CLOSE_WAIT; once the client closes too, the
            # server side sits in TIME_WAIT on the service port.
            c.close()
        else:
            held.append(c)
        say({"done": n})


def connect(args):
    host, port = args[0], int(args[1])
    count = int(opt(args, "--count", "1"))
    interval = float(opt(args, "--interval", "0"))
    close = "--close" in args
    held, ports = [], []
    if interval:
        # Paced leaks report their pid before the first connection.
        say({"pid": os.getpid(), "pids": [os.getpid()]})
    for i in range(count):
        c = socket.socket(family(host), socket.SOCK_STREAM)
        src = opt(args, "--src-port-base")
        if src:
            # Fixed source ports: identical 4-tuples in different namespaces.
            c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            c.bind((host, int(src) + i))
        c.connect((host, port))
        ports.append(c.getsockname()[1])
        held.append(c)
        if interval:
            say({"open": i + 1})
            time.sleep(interval)
    if close:
        # Only now: while all N are open their 4-tuples are distinct, so no connect
        # can recycle an earlier connection's TIME_WAIT (tcp_tw_reuse, on by default
        # for loopback, does so once tcp_tw_reuse_delay has passed): N closes, N
        # TIME_WAIT sockets, however slow the host.
        for c in held:
            c.close()
        held = []
    pids = [os.getpid()]
    if "--fork" in args:
        r, w = os.pipe()
        child = os.fork()
        if child == 0:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            set_name(opt(args, "--child-name"))
            os.write(w, b"1")
            while True:
                time.sleep(3600)
        os.read(r, 1)
        pids.append(child)
    say({"pid": os.getpid(), "pids": pids, "ports": ports})
    busy = float(opt(args, "--busy", "0"))
    while True:
        if busy:
            for c in held:
                c.send(b"x")
            time.sleep(busy)
        else:
            time.sleep(3600)


def tcp_state(sock):
    # struct tcp_info starts with the u8 tcpi_state.
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def reset(args):
    import struct
    host = args[0]
    count = int(opt(args, "--count", "1"))
    fresh = int(opt(args, "--fresh", "0"))
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(4096)
    held = []
    for _ in range(count):
        c = socket.socket(family(host), socket.SOCK_STREAM)
        c.connect((host, s.getsockname()[1]))
        a, _ = s.accept()
        a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        a.close()
        held.append(c)
    s.close()
    held += [socket.socket(family(host), socket.SOCK_STREAM) for _ in range(fresh)]
    deadline = time.time() + 5
    while any(tcp_state(c) != 7 for c in held):
        if time.time() > deadline:
            raise SystemExit("client sockets not reset: %r" % [tcp_state(c) for c in held])
        time.sleep(0.01)
    say({"pid": os.getpid(), "held": len(held)})
    while True:
        time.sleep(3600)


def fdlimit(args):
    import resource
    host = args[0]
    limit = int(opt(args, "--limit", "64"))
    want = int(opt(args, "--open", "60"))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(16)
    c = socket.socket(family(host), socket.SOCK_STREAM)
    c.connect((host, s.getsockname()[1]))
    a, _ = s.accept()
    held = [s, c, a]
    while len(os.listdir("/proc/self/fd")) - 1 < want:
        held.append(open("/dev/null"))
    # listdir's own fd is gone again: count what stays.
    say({"pid": os.getpid(), "open": len(os.listdir("/proc/self/fd")) - 1, "limit": limit})
    while True:
        time.sleep(3600)


def churn(args):
    host = args[0]
    seconds = float(opt(args, "--seconds", "0"))
    say({"pid": os.getpid()})
    end = time.time() + seconds if seconds else None
    kids = []
    while end is None or time.time() < end:
        child = os.fork()
        if child == 0:
            try:
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                srv = socket.socket(family(host), socket.SOCK_STREAM)
                srv.bind((host, 0))
                srv.listen(64)
                port = srv.getsockname()[1]
                cs = []
                for _ in range(3):
                    c = socket.socket(family(host), socket.SOCK_STREAM)
                    c.connect((host, port))
                    cs.append(c)
                accepted = [srv.accept()[0] for _ in cs]
                accepted[0].close()       # one client in CLOSE_WAIT
                cs[1].close()             # one TIME_WAIT once the server closes
                accepted[1].close()
                time.sleep(0.05)
            finally:
                os._exit(0)
        kids.append(child)
        while kids:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            kids.remove(pid)
        time.sleep(0.01)
    for k in kids:
        os.waitpid(k, 0)


def swap(args):
    host = args[0]
    count = int(opt(args, "--count", "1"))
    interval = float(opt(args, "--interval", "0.05"))
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(4096)

    def conn():
        c = socket.socket(family(host), socket.SOCK_STREAM)
        c.connect((host, s.getsockname()[1]))
        return [c, s.accept()[0]]

    held = [conn() for _ in range(count)]
    pids = [os.getpid()]
    if "--fork" in args:
        child = os.fork()
        if child == 0:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            null = os.open("/dev/null", os.O_RDONLY)
            for c in [x for both in held for x in both]:
                time.sleep(4 * interval)
                os.dup2(null, c.fileno())
            while True:
                time.sleep(3600)
        pids.append(child)
    say({"pid": os.getpid(), "pids": pids})
    i = 0
    while True:
        time.sleep(interval)
        if "--hold" in args:
            continue
        for c in held[i % count]:
            c.close()
        held[i % count] = conn()
        i += 1


def pair(args):
    host = args[0]
    count = int(opt(args, "--count", "1"))
    if "--lo-up" in args:
        import subprocess
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(opt(args, "--port", "0"))))
    s.listen(4096)
    held, ports = [], []
    for _ in range(count):
        c = socket.socket(family(host), socket.SOCK_STREAM)
        c.connect((host, s.getsockname()[1]))
        a, _ = s.accept()
        a.shutdown(socket.SHUT_WR)
        held += [c, a]
        ports.append(c.getsockname()[1])
    say({"pid": os.getpid(), "port": s.getsockname()[1], "ports": ports})
    while True:
        time.sleep(3600)


def per_request(args):
    import errno, http.client, http.server, subprocess
    low, high = opt(args, "--ports").split("-")
    interval = float(opt(args, "--interval", "0.1"))
    port = int(opt(args, "--port", "8080"))
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
        f.write(f"{low} {high}")
    reserved = opt(args, "--reserved")
    if reserved:
        with open("/proc/sys/net/ipv4/ip_local_reserved_ports", "w") as f:
            f.write(reserved)
    with open("/proc/sys/net/ipv4/tcp_tw_reuse", "w") as f:
        f.write("0")

    class Ok(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    say({"pid": os.getpid(), "port": port})
    n = 0
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
        except OSError as e:
            say({"failed": n, "errno": errno.errorcode.get(e.errno, str(e.errno)),
                 "unix_time": time.time()})
            break
        finally:
            conn.close()
        n += 1
        say({"requests": n})
        time.sleep(interval)
    while True:
        time.sleep(3600)


def flood(args):
    import resource, selectors
    host, port = args[0].rsplit(":", 1)
    addr = (host, int(port))
    n = int(opt(args, "--conns"))
    secs = float(opt(args, "--secs", "60"))
    rate = float(opt(args, "--rate", "2000"))
    want = n + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    sel = selectors.DefaultSelector()
    end = time.monotonic() + secs

    def connect():
        s = socket.socket(family(host), socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(addr)
        # Readable when the server closes it (EOF or reset): then replaced.
        sel.register(s, selectors.EVENT_READ)

    for _ in range(n):
        connect()
    # Wait for every connect to finish: writable once established.
    pending = [k.fileobj for k in sel.get_map().values()]
    deadline = time.monotonic() + 15
    while pending and time.monotonic() < deadline:
        still = []
        for s in pending:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            try:
                s.getpeername()
            except OSError:
                if err == 0:
                    still.append(s)
        pending = still
        if pending:
            time.sleep(0.05)
    say({"pid": os.getpid(), "open": n - len(pending)})
    budget, last = 0.0, time.monotonic()
    while time.monotonic() < end:
        now = time.monotonic()
        budget = min(rate, budget + (now - last) * rate)
        last = now
        for key, _ in sel.select(timeout=0.05):
            sel.unregister(key.fileobj)
            key.fileobj.close()
            if budget >= 1:
                budget -= 1
                connect()
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    os._exit(0)


def main():
    if "--pdeathsig" in sys.argv:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    exit_with_stdin()
    cmd, args = sys.argv[1], sys.argv[2:]
    set_name(opt(args, "--name"))
    {"listen": listen, "connect": connect, "churn": churn, "pair": pair, "swap": swap,
     "reset": reset, "fdlimit": fdlimit, "per-request": per_request,
     "flood": flood}[cmd](args)


if __name__ == "__main__":
    main()
