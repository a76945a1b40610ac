"""A psycopg2 pool that leaks checkouts inside a transaction, over TCP (the flight
recorder sees TCP only): N connections to 127.0.0.1:PORT, each runs one SELECT in
psycopg2's implicit transaction and is kept without commit or rollback ("idle in
transaction" on the server). Prints one JSON line and waits until stdin closes.

    python3 pg_tx_leak.py PORT N
"""
import json
import os
import sys

import psycopg2

port, n = int(sys.argv[1]), int(sys.argv[2])
conns = []
for _ in range(n):
    c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                         sslmode="disable")
    with c.cursor() as cur:
        cur.execute("SELECT 1 WHERE 'secret' = %s", ("parameter",))
        cur.fetchall()
    conns.append(c)  # checked out, never returned: the transaction stays open
print(json.dumps({"pid": os.getpid()}), flush=True)
sys.stdin.read()
