"""A PostgreSQL client that leaks: opens N psycopg2 connections over the server's
unix socket (host = the socket directory), runs one query on each, keeps them all
(a pool whose checkouts are never returned), prints one JSON line and waits until
its stdin closes.

    python3 pg_leak.py SOCKET_DIR N
"""
import json
import os
import sys

import psycopg2

sock_dir, n = sys.argv[1], int(sys.argv[2])
conns = []
backends = []
for _ in range(n):
    c = psycopg2.connect(host=sock_dir, port=5432, user="postgres", dbname="postgres")
    with c.cursor() as cur:
        cur.execute("select pg_backend_pid()")
        backends.append(cur.fetchone()[0])
    conns.append(c)
print(json.dumps({"pid": os.getpid(), "backends": backends}), flush=True)
sys.stdin.read()
