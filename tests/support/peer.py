#!/usr/bin/env python3
"""Test peer for sockleak's live tests: real loopback sockets in child processes.

  peer.py listen HOST [--name N] [--mode hold|fin|eof-close] [--send BYTES]
      Listen on HOST:0 and print {"pid", "port"}. Each accepted connection is
      held open (hold), or answered with BYTES of data then a FIN while the fd stays
      open (fin: the client side ends in CLOSE_WAIT with BYTES unread), or closed
      once the client has closed (eof-close: the client side ends in TIME_WAIT).
      After each accept+action it prints {"done": n}.

  peer.py connect HOST PORT --count N [--name N] [--fork] [--close] [--interval S]
      Open N connections and hold them; print {"pid", "pids", "ports"} when all
      are open. --fork: a child process shares every socket. --close: close each
      connection right after connecting (active close). --interval: pace the
      connections (for watch tests), printing {"open": n} after each.

  peer.py churn HOST [--procs N] [--per S]
      Listen on HOST:0 (accepting and closing), print {"pid", "port"}, then keep N
      (default 4) children alive at all times, each opening S (default 5) loopback
      connections to that listener, closing them and exiting after a few ms: sockets
      and processes appear and vanish continuously (race tests).

Unknown extra arguments are ignored, so a test can put a fake secret in argv.
Every process exits when its stdin closes (the test dropped it) or its parent dies.
"""
import ctypes, json, os, signal, socket, sys, threading, time

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME, PR_SET_PDEATHSIG = 15, 1


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def die_with_stdin():
    def watch():
        try:
            while sys.stdin.buffer.read(1):
                pass
        except Exception:
            pass
        os._exit(0)
    threading.Thread(target=watch, daemon=True).start()


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
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(4096)
    say({"pid": os.getpid(), "port": s.getsockname()[1]})
    held, n = [], 0
    while True:
        c, _ = s.accept()
        n += 1
        if mode == "fin":
            if send:
                c.sendall(b"x" * send)
            c.shutdown(socket.SHUT_WR)
            held.append(c)
        elif mode == "eof-close":
            while c.recv(65536):
                pass
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
    for i in range(count):
        c = socket.socket(family(host), socket.SOCK_STREAM)
        c.connect((host, port))
        ports.append(c.getsockname()[1])
        if close:
            c.close()
        else:
            held.append(c)
        if interval:
            say({"open": i + 1})
            time.sleep(interval)
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
    while True:
        time.sleep(3600)


def churn(args):
    host = args[0]
    procs = int(opt(args, "--procs", "4"))
    per = int(opt(args, "--per", "5"))
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(4096)
    port = s.getsockname()[1]

    def accept_and_close():
        while True:
            c, _ = s.accept()
            c.close()
    threading.Thread(target=accept_and_close, daemon=True).start()
    say({"pid": os.getpid(), "port": port})
    alive, n = set(), 0
    while True:
        while len(alive) < procs:
            n += 1
            child = os.fork()
            if child == 0:
                try:
                    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                    held = []
                    for _ in range(per):
                        c = socket.socket(family(host), socket.SOCK_STREAM)
                        c.connect((host, port))
                        held.append(c)
                    time.sleep(0.001 * (n % 7))
                    for c in held[::2]:
                        c.close()
                finally:
                    os._exit(0)
            alive.add(child)
        pid, _ = os.wait()
        alive.discard(pid)


def main():
    die_with_stdin()
    cmd, args = sys.argv[1], sys.argv[2:]
    set_name(opt(args, "--name"))
    {"listen": listen, "connect": connect, "churn": churn}[cmd](args)


if __name__ == "__main__":
    main()
