#!/usr/bin/env python3
"""A large HttpClient 4.5 DEBUG log (SimpleLog prefix) for timing `sockleak pool-log`:
request, lease, headers, an application line and release, 50 connections in turn.
Usage: python3 bench/pool-log-big.py BYTES OUT   (e.g. 1073741824 /tmp/big.log), then
/usr/bin/time -v target/release/sockleak pool-log /tmp/big.log"""
import sys
target = int(sys.argv[1])
out = open(sys.argv[2], "w", buffering=1 << 20)
route = "{}->http://127.0.0.1:8080"
written = 0
i = 0
tmpl = []
while written < target:
    s = i // 1000
    ts = f"2026/12/02 {10 + s // 3600 % 10:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{i % 1000:03d} UTC [DEBUG] "
    cid = i % 50
    block = (
        f"{ts}PoolingHttpClientConnectionManager - Connection request: [route: {route}][total available: 3; route allocated: 5 of 50; total allocated: 5 of 100]\n"
        f"{ts}PoolingHttpClientConnectionManager - Connection leased: [id: {cid}][route: {route}][total available: 2; route allocated: 5 of 50; total allocated: 5 of 100]\n"
        f"{ts}MainClientExec - Executing request GET /items/{i}?x=1 HTTP/1.1\n"
        f"{ts}headers - http-outgoing-{cid} >> GET /items/{i}?x=1 HTTP/1.1\n"
        f"{ts}headers - http-outgoing-{cid} >> Host: 127.0.0.1:8080\n"
        f"{ts}headers - http-outgoing-{cid} << HTTP/1.1 200 OK\n"
        f"{ts}headers - http-outgoing-{cid} << Content-Length: 3\n"
        f"{ts}com.example.App - some application line that is not HttpClient's\n"
        f"{ts}PoolingHttpClientConnectionManager - Connection released: [id: {cid}][route: {route}][total available: 3; route allocated: 5 of 50; total allocated: 5 of 100]\n"
    )
    out.write(block)
    written += len(block)
    i += 1
out.close()
print(i, "exchanges")
