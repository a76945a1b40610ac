#!/usr/bin/env python3
"""A web host in miniature for sockleak's incremental-watch tests and benchmark
(tests/serial/incremental.rs, bench/compare.sh --only watch-leak): a server that hangs up
its connections all the time, and a urllib3 pool that leaks beside it. Loopback only.

  closing_server.py server HOST [--idle-close S] [--hangup S]
      An HTTP/1.1 keep-alive server (a thread per connection). GET /forbidden: a
      403 with a small HTML body, and the connection is closed S (--hangup, 1) seconds
      later whatever the client does; any other GET: a 200 with a small body, and the
      connection waits for the next request, closed after S (--idle-close, 1) seconds
      of idleness. So every second it leaves orphaned FIN_WAIT sockets, TIME_WAIT,
      and (between SYN and accept) children in its listener's accept queue.
      Prints {"pid", "port"}.

  closing_server.py client HOST PORT [--tick S] [--workers W] [--leak-every K]
                    [--duration D]
      A real urllib3 client: one pool (maxsize W or 1, block=False). Every tick (S
      seconds, 1) W (4; 0: none) GET / run at once from a thread pool (read whole: their connections go
      back to the pool, or are found dropped by the server and replaced), and every
      K ticks (1; 0: never) one GET /forbidden with preload_content=False whose 403
      response is kept and never read nor released: the leak (its socket sits in
      CLOSE_WAIT once the server hangs up). A request that meets a connection the
      server closed at that moment is retried (as applications configure urllib3).
      Prints {"pid"} once the first tick is done. Stops after D seconds (3600).

Every process exits when its stdin closes (or its duration ends).
"""
import json, os, select, socket, sys, threading, time

from child import exit_with_stdin, say

BODY_403 = b"<html><body><h1>403 Forbidden</h1></body></html>\n"
BODY_200 = b"ok\n"


def opt(args, flag, default):
    return type(default)(args[args.index(flag) + 1]) if flag in args else default


def read_request(conn, idle):
    """The request line, or None when the client closed or stayed idle `idle` s."""
    conn.settimeout(idle)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return None
            data += chunk
            conn.settimeout(5)  # a request has started: let it finish
    except (socket.timeout, OSError):
        return None
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def respond(conn, status, body):
    conn.sendall(b"HTTP/1.1 %s\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                 b"Connection: keep-alive\r\n\r\n%s" % (status, len(body), body))


def serve_conn(conn, idle_close, hangup):
    try:
        while True:
            line = read_request(conn, idle_close)
            if line is None:
                break  # idle keep-alive (or the client went): hang up
            parts = line.split(" ")
            if len(parts) > 1 and parts[1] == "/forbidden":
                respond(conn, b"403 Forbidden", BODY_403)
                time.sleep(hangup)
                break
            respond(conn, b"200 OK", BODY_200)
    except OSError:
        pass
    finally:
        conn.close()


def server(args):
    host = args[0]
    idle_close, hangup = opt(args, "--idle-close", 1.0), opt(args, "--hangup", 1.0)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(128)
    say({"pid": os.getpid(), "port": s.getsockname()[1]})
    exit_with_stdin()
    while True:
        # Wait in select, as event-loop servers do, not in accept (which holds a
        # reserved fd number while it blocks).
        select.select([s], [], [])
        c, _ = s.accept()
        threading.Thread(target=serve_conn, args=(c, idle_close, hangup), daemon=True).start()


def client(args):
    import urllib3
    from concurrent.futures import ThreadPoolExecutor
    host, port = args[0], int(args[1])
    tick, workers = opt(args, "--tick", 1.0), opt(args, "--workers", 4)
    leak_every, duration = opt(args, "--leak-every", 1), opt(args, "--duration", 3600.0)
    pool = urllib3.HTTPConnectionPool(host, port, maxsize=max(workers, 1), block=False, retries=3,
                                      timeout=urllib3.Timeout(connect=2, read=5))
    exit_with_stdin()
    leaked = []  # kept, never read nor released: the leak
    run = ThreadPoolExecutor(max_workers=max(workers, 1))

    def get(i):
        r = pool.request("GET", "/")
        assert r.status == 200 and r.data == BODY_200, r.status
        return r.status

    start = time.monotonic()
    n = 0
    while time.monotonic() - start < duration:
        delay = start + n * tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        n += 1
        list(run.map(get, range(workers)))
        if leak_every and n % leak_every == 0:
            r = pool.request("GET", "/forbidden", preload_content=False)
            assert r.status == 403, r.status
            leaked.append(r)
        if n == 1:
            say({"pid": os.getpid()})
    os._exit(0)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"server": server, "client": client}[cmd](args)


if __name__ == "__main__":
    main()
