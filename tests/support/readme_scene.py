#!/usr/bin/env python3
"""The situations behind README.md's example blocks (tests/it/docs/readme.rs). Loopback only.

  readme_scene.py run SCENE SOCKLEAK COMMANDS_JSON [AGE]
      Run inside a fresh `unshare --net --pid --fork --mount-proc` (root): this
      process is pid 1 of an empty network and pid namespace, so sockleak sees the
      scene's processes and sockets and nothing else of the host. Brings `lo` up,
      starts the scene's services (each a child process with its own name, at a
      fixed pid, on fixed 127.0.0.1 ports), waits until the kernel's table holds
      exactly what the scene builds (and, with AGE, until its sockets have been
      idle AGE seconds), then runs SOCKLEAK once per command of
      COMMANDS_JSON ([{"args": [...], "columns": N}, ...]) and prints one JSON
      line: [{"stdout", "stderr", "status"}, ...]. Everything ends with it (pid 1).

  Scenes:
    leak      payments (127.0.0.1:8080, an HTTP server that closes a keep-alive
              connection idle for 0.5 s) and billing-api, a urllib3 client that
              leaked 25 of its 403 responses (preload_content=False, never read or
              released): 25 CLOSE_WAIT sockets, each with the 403 body unread; the
              server's closed ends have expired (tcp_fin_timeout is 1 s in the
              scenes' namespace, 60 s by default). Beside it, a healthy pool:
              api-gw keeps 8 busy connections to orders (127.0.0.1:9000).
    growing   payments, and billing-api leaking one 403 response every 0.5 s (up
              to 40), started just before the commands run.
    idle-pool postgres (127.0.0.1:5432, answers each query byte), invoicer holding
              10 connections idle since one query each (checkouts never returned),
              and worker using 4 connections to it all the time.
    trace     the flight recorder armed (`sockleak trace start`) before payments and
              billing-api leak 10 of their 403 responses, as in `leak`. The recorder
              is host-wide (a BPF program on the cgroup-v2 root), so the scene takes
              the lock tests/it/trace.rs takes (never beside a trace test), pins it in a
              bpffs of its own mounted over /sys/fs/bpf in this mount namespace (the
              default pin path, as a user's; the host's bpffs never sees it, and the
              namespace's end frees it even after a kill -9), and stops it at the end.

  readme_scene.py role ROLE NAME ARGS...   (used by the scenes)
"""
import ctypes, fcntl, json, os, socket, subprocess, sys, threading, time

from child import exit_with_stdin, say

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME, PR_SET_PDEATHSIG = 15, 1
HOST = "127.0.0.1"
BODY = (
    b"<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1>"
    + b"<p>" + b"forbidden " * 40 + b"</p></body></html>\n"
)
CLOSE_WAIT, ESTABLISHED, FIN_WAIT2 = "08", "01", "05"


def die_with_parent(name):
    """Take NAME as comm, and end when stdin closes or the parent dies."""
    libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)

    exit_with_stdin()


def listener(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, port))
    s.listen(512)
    return s


def serve_forever(s, handler):
    while True:
        c, _ = s.accept()
        threading.Thread(target=handler, args=(c,), daemon=True).start()


# Roles ---------------------------------------------------------------------------

def http_conn(conn):
    """403 with its body 0.2 s after the head (as servers that flush the head first
    do); 200 otherwise; close after 0.5 s idle."""
    while True:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            data += chunk
        if b" /forbidden " in data.split(b"\r\n", 1)[0]:
            head = ("HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\n"
                    "Content-Length: %d\r\n\r\n" % len(BODY))
            conn.sendall(head.encode())
            time.sleep(0.2)
            conn.sendall(BODY)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        conn.settimeout(0.5)
        try:
            if not conn.recv(1, socket.MSG_PEEK):
                break
        except socket.timeout:
            break
        conn.settimeout(None)
    conn.close()


def role_http(port):
    s = listener(int(port))
    say({"pid": os.getpid()})
    serve_forever(s, http_conn)


def role_leaky(port, count, interval):
    import urllib3
    pool = urllib3.HTTPConnectionPool(HOST, int(port), maxsize=1, block=False, retries=False)
    say({"pid": os.getpid()})
    leaked = []
    for _ in range(int(count)):
        r = pool.request("GET", "/forbidden", preload_content=False)
        leaked.append(r)  # never read, never released: the leak
        time.sleep(float(interval))
    while True:
        time.sleep(3600)


def sink_conn(conn):
    """Answer every byte with one byte (a query and its reply)."""
    while True:
        data = conn.recv(4096)
        if not data:
            conn.close()
            return
        conn.sendall(b"." * len(data))


def role_sink(port):
    s = listener(int(port))
    say({"pid": os.getpid()})
    serve_forever(s, sink_conn)


def role_pool(port, count, every):
    """COUNT connections, one query each; then one more every EVERY seconds on each
    (0: never again, the checkouts that are never returned)."""
    conns = [socket.create_connection((HOST, int(port))) for _ in range(int(count))]
    for c in conns:
        c.sendall(b"q")
        c.recv(1)
    say({"pid": os.getpid()})
    while float(every) > 0:
        time.sleep(float(every))
        for c in conns:
            c.sendall(b"q")
            c.recv(1)
    while True:
        time.sleep(3600)


ROLES = {"http": role_http, "leaky": role_leaky, "sink": role_sink, "pool": role_pool}


def role(name_role, name, args):
    die_with_parent(name)
    ROLES[name_role](*args)


# Scenes --------------------------------------------------------------------------

class Scene:
    def __init__(self):
        self.children = []
        self.cleanup = []  # run at the end, also when the scene fails
        self.ready_at = time.time()
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        # A server's closed ends (orphans in FIN_WAIT2) expire after tcp_fin_timeout,
        # 60 s: gone from any leak found minutes later. In this namespace they go at
        # once, so a scene looks the same seconds or minutes after it is built.
        with open("/proc/sys/net/ipv4/tcp_fin_timeout", "w") as f:
            f.write("1")

    def start(self, pid, role_name, name, *args):
        """Start a role as pid PID (the pid namespace is ours: ns_last_pid picks the
        next one), so that the examples' pids stay put from one run to the next."""
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        p = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "role", role_name, name, *map(str, args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = json.loads(p.stdout.readline() or "null")
        if not ready:
            sys.exit("readme_scene: %s (%s) did not start" % (name, role_name))
        self.children.append(p)
        return p


def tcp_table():
    """(state, local port, remote port, rx_queue) of every TCP socket here."""
    rows = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            for line in f.readlines()[1:]:
                fld = line.split()
                lport = int(fld[1].split(":")[1], 16)
                rport = int(fld[2].split(":")[1], 16)
                rx = int(fld[4].split(":")[1], 16)
                rows.append((fld[3], lport, rport, rx))
    return rows


def wait_until(what, cond, secs=20):
    deadline = time.time() + secs
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    sys.exit("readme_scene: timed out waiting for " + what)


def count(state, rport=None, lport=None, rx=None):
    return sum(1 for s, lp, rp, q in tcp_table()
               if s == state and rport in (None, rp) and lport in (None, lp)
               and rx in (None, q))


def scene_leak(sc):
    sc.start(2817, "http", "payments", 8080)
    sc.start(3090, "sink", "orders", 9000)
    sc.start(4211, "leaky", "billing-api", 8080, 25, 0)
    sc.start(5120, "pool", "api-gw", 9000, 8, 0.2)
    # Each leaked socket: the 403 body and the FIN unread in CLOSE_WAIT.
    wait_until("25 leaked responses in CLOSE_WAIT",
               lambda: count(CLOSE_WAIT, rport=8080, rx=len(BODY) + 1) == 25)
    wait_until("the server's closed ends to expire", lambda: count(FIN_WAIT2, lport=8080) == 0)
    sc.ready_at = time.time()
    time.sleep(2)  # idle ages of a few seconds, as a leak has


def scene_growing(sc):
    sc.start(2817, "http", "payments", 8080)
    sc.start(4211, "leaky", "billing-api", 8080, 40, 0.5)


def scene_idle_pool(sc):
    sc.start(5432, "sink", "postgres", 5432)
    sc.start(6011, "pool", "invoicer", 5432, 10, 0)
    sc.start(6240, "pool", "worker", 5432, 4, 0.2)
    wait_until("14 client connections", lambda: count(ESTABLISHED, rport=5432) == 14)
    sc.ready_at = time.time()
    time.sleep(6)  # the leaked checkouts are now idle past --idle-over 5s


TRACE_LOCK = "/tmp/sockleak-trace-tests.lock"  # tests/it/trace.rs's Session takes it too


def scene_trace(sc):
    sc.lock = open(TRACE_LOCK, "w")
    fcntl.flock(sc.lock, fcntl.LOCK_EX)  # held until this process (pid 1) exits
    # unshare --mount-proc gave us a private mount namespace: this bpffs is ours.
    subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"], check=True)
    p = subprocess.run([sc.sockleak, "trace", "start"], capture_output=True)
    if p.returncode != 0:
        sys.exit("readme_scene: sockleak trace start failed: " + p.stderr.decode())
    sc.cleanup.append(lambda: subprocess.run([sc.sockleak, "trace", "stop"],
                                             capture_output=True))
    sc.start(2817, "http", "payments", 8080)
    sc.start(4211, "leaky", "billing-api", 8080, 10, 0)
    wait_until("10 leaked responses in CLOSE_WAIT",
               lambda: count(CLOSE_WAIT, rport=8080, rx=len(BODY) + 1) == 10)
    wait_until("the server's closed ends to expire", lambda: count(FIN_WAIT2, lport=8080) == 0)
    sc.ready_at = time.time()
    time.sleep(2)


SCENES = {"leak": scene_leak, "growing": scene_growing, "idle-pool": scene_idle_pool,
          "trace": scene_trace}


def run(scene, sockleak, commands, age):
    if os.getpid() != 1:
        sys.exit("readme_scene: run me as pid 1 of a fresh namespace: "
                 "unshare --net --pid --fork --mount-proc")
    sc = Scene()
    sc.sockleak = sockleak
    try:
        SCENES[scene](sc)
        # The scene's sockets moved their last data before it returned.
        time.sleep(max(0.0, age - (time.time() - sc.ready_at)))
        results = []
        for cmd in commands:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_COLOR": "1",
                   "COLUMNS": str(cmd["columns"])}
            p = subprocess.run([sockleak, *cmd["args"]], env=env, capture_output=True,
                               timeout=120)
            results.append({"stdout": p.stdout.decode(), "stderr": p.stderr.decode(),
                            "status": p.returncode})
    finally:
        for undo in sc.cleanup:
            undo()
    say(results)
    # pid 1 exiting ends every process of the namespace.


def main():
    if sys.argv[1] == "role":
        role(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]),
            float(sys.argv[5]) if len(sys.argv) > 5 else 0.0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
