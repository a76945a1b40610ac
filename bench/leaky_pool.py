#!/usr/bin/env python3
"""A real client pool that leaks: urllib3 against a loopback HTTP server, for
`bench/compare.sh --only watch-leak` (the --watch cost while a pool churns).

    python3 bench/leaky_pool.py [--duration 120] [--tick 1] [--workers 4]
                                [--leak-every 1] [--close-every 0]
                                [--ready FILE] [--stats FILE]

Two processes, like an application and its backend: a server child
(http.server.ThreadingHTTPServer, HTTP/1.1 keep-alive, on 127.0.0.1 and an
ephemeral port) and this process, the client, with one urllib3 PoolManager
(maxsize = --workers, block=False). Every tick (--tick seconds):

- --workers requests run at once from a thread pool, so the pool's connections are
  checked out and returned, i.e. reused (a new one is opened only when the pool has
  none idle);
- every --leak-every ticks one more request is made with preload_content=False and
  its response is kept but never read nor released: its connection never returns
  to the pool (ESTABLISHED at both ends, body unread in the client's receive queue),
  so the next tick's requests open a new one;
- every --close-every ticks (0: never) one request asks the server for
  `Connection: close`: the pool drops that connection and opens another in its place
  on the next tick, at the same fd count if nothing else changes (a swap).

So the client's and the server's fd counts and socket sets change every tick.
Loopback only; stops by itself after --duration seconds (at most 3600): the server
child also exits at its own deadline or when its parent is gone. With --ready the
file is written (pids and port) once the pool holds connections; with --stats a
line per tick (time, leaked, pool connections opened so far, client fds) is
appended to it.

urllib3 2.x is needed; if it cannot be imported it is installed with pip into
~/.cache/sockleak-bench/python (a private --target directory: the system Python
is not touched).
"""
import argparse
import os
import sys
import threading
import time


def need_urllib3():
    cache = os.path.join(os.path.expanduser("~"), ".cache", "sockleak-bench", "python")
    sys.path.insert(0, cache)
    try:
        import urllib3  # noqa: F401
        if int(urllib3.__version__.split(".")[0]) >= 2:
            return urllib3
    except ImportError:
        pass
    import subprocess
    print(f"leaky_pool: installing urllib3 2.x into {cache}", file=sys.stderr)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-warn-script-location", "--root-user-action=ignore", "--upgrade",
         "--target", cache, "urllib3>=2,<3"],
        check=True)
    for m in [m for m in sys.modules if m == "urllib3" or m.startswith("urllib3.")]:
        del sys.modules[m]
    import urllib3
    return urllib3


def serve(port_file, deadline):
    """The backend: keep-alive HTTP/1.1, a small body, `Connection: close` on ?close."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = b"x" * 2048

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            if "close" in self.path:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

    srv = Server(("127.0.0.1", 0), Handler)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(tmp, port_file)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    parent = os.getppid()
    while time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=120)
    ap.add_argument("--tick", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--leak-every", type=int, default=1)
    ap.add_argument("--close-every", type=int, default=0)
    ap.add_argument("--ready")
    ap.add_argument("--stats")
    ap.add_argument("--serve", help=argparse.SUPPRESS)  # internal: the server child
    ap.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve(a.serve, a.deadline)
        return
    if not (0 < a.duration <= 3600 and 0.05 <= a.tick <= 60 and 1 <= a.workers <= 64
            and a.leak_every >= 0 and a.close_every >= 0):
        ap.error("--duration in (0, 3600], --tick in [0.05, 60], --workers in [1, 64], "
                 "--leak-every and --close-every >= 0")
    urllib3 = need_urllib3()

    import subprocess
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    start = time.monotonic()
    end = start + a.duration
    tmpdir = tempfile.mkdtemp(prefix="leaky-pool.")
    port_file = os.path.join(tmpdir, "port")
    # The server's own deadline: a few seconds after the client's, whatever happens.
    server = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--serve", port_file,
         "--deadline", str(time.monotonic() + a.duration + 10)],
        stdin=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(port_file) or server.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(port_file):
            sys.exit("leaky_pool: the server did not start")
        port = int(open(port_file).read())
        url = f"http://127.0.0.1:{port}"
        http = urllib3.PoolManager(maxsize=a.workers, block=False, retries=False,
                                   timeout=urllib3.Timeout(connect=2, read=5))
        pool = http.connection_from_url(url)
        leaked = []  # responses kept, never read or released: the leak
        stats = open(a.stats, "a", buffering=1) if a.stats else None
        workers = ThreadPoolExecutor(max_workers=a.workers)

        def get(path):
            r = http.request("GET", url + path)  # preload: read and returned to the pool
            return r.status

        tick = 0
        while True:
            t = start + tick * a.tick
            if t >= end:
                break
            delay = t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            tick += 1
            paths = [f"/item/{tick}/{i}" for i in range(a.workers)]
            if a.close_every and tick % a.close_every == 0:
                paths[0] += "?close"
            for status in workers.map(get, paths):
                if status != 200:
                    sys.exit(f"leaky_pool: HTTP {status}")
            if a.leak_every and tick % a.leak_every == 0:
                leaked.append(http.request("GET", url + f"/leak/{tick}", preload_content=False))
            if tick == 2 and a.ready:
                with open(a.ready + ".tmp", "w") as f:
                    f.write(f"client={os.getpid()} server={server.pid} port={port}\n")
                os.replace(a.ready + ".tmp", a.ready)
            if stats:
                nfd = len(os.listdir("/proc/self/fd"))
                stats.write(f"{time.monotonic() - start:.2f} tick={tick} leaked={len(leaked)} "
                            f"opened={pool.num_connections} requests={pool.num_requests} fds={nfd}\n")
        workers.shutdown()
        print(f"leaky_pool: {tick} ticks, {len(leaked)} connections leaked, "
              f"{pool.num_connections} opened, {pool.num_requests} requests", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=10)
        for f in (port_file,):
            try:
                os.unlink(f)
            except OSError:
                pass
        os.rmdir(tmpdir)


if __name__ == "__main__":
    main()
