#!/usr/bin/env python3
"""Hostile connection flood for the receiver's connection hygiene tests
(test-conn-limits.sh): many connections at once, each from a chosen
loopback source address, either half-open TCP (connect, send nothing) or
TLS with a given certificate that then sits idle. Each connection records
how long it lived until the receiver closed it (EOF or reset), whether its
TLS handshake completed and whether the receiver sent it any application
data. Bounded: every connection gives up after --wait seconds.

Usage: connflood.py --port P --ca CA [--ready FILE] [--wait S] --out JSON
           GROUP...   with GROUP = NAME:tcp:COUNT:SRC or
                                   NAME:tls:COUNT:SRC:CERT:KEY
Prints one JSON object: per group n, connect_failed, tls_done, got_data,
closed (by the receiver), open (still open at --wait), min_life, max_life
(seconds from connect to the close), quick (closed within 1 s)."""
import argparse
import asyncio
import json
import socket
import ssl
import sys
import time


async def watch(kind, port, src, ctx, wait, res, started):
    t0 = time.monotonic()
    rec = {"tls": False, "data": 0, "closed": None, "failed": False, "t0": t0}
    res.append(rec)
    writer = None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        try:
            sock.bind((src, 0))
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        except OSError:
            rec["failed"] = True
            rec["closed"] = time.monotonic() - t0
            sock.close()
            return
        finally:
            started()  # connected: the flood is on, handshakes or not
        try:
            if kind == "tcp":
                reader, writer = await asyncio.open_connection(sock=sock)
            else:
                # The handshake as an attacker's client sees it; still
                # running at --wait means the receiver kept it open.
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    sock=sock, ssl=ctx, server_hostname="receiver",
                    ssl_handshake_timeout=wait + 60), timeout=wait)
                rec["tls"] = True
        except asyncio.TimeoutError:
            sock.close()
            return
        except (ssl.SSLError, ConnectionError, OSError):
            rec["closed"] = time.monotonic() - t0
            sock.close()
            return
        left = wait - (time.monotonic() - t0)
        while left > 0:
            try:
                b = await asyncio.wait_for(reader.read(65536), timeout=left)
            except asyncio.TimeoutError:
                return  # still open at the end
            except (ssl.SSLError, ConnectionError, OSError):
                b = b""
            if not b:
                rec["closed"] = time.monotonic() - t0
                return
            rec["data"] += len(b)
            left = wait - (time.monotonic() - t0)
    finally:
        if writer is not None:
            writer.transport.abort()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--ready", help="file created once every connection is started")
    ap.add_argument("--wait", type=float, default=20.0)
    ap.add_argument("groups", nargs="+")
    a = ap.parse_args()

    tasks, results, total = [], {}, 0
    counter = {"n": 0}

    def started():
        counter["n"] += 1
        if a.ready and counter["n"] == total:
            open(a.ready, "w").close()

    specs = []
    for g in a.groups:
        f = g.split(":")
        name, kind, count, src = f[0], f[1], int(f[2]), f[3]
        ctx = None
        if kind == "tls":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            ctx.load_verify_locations(a.ca)
            ctx.load_cert_chain(f[4], f[5])
        elif kind != "tcp":
            sys.exit("unknown kind " + kind)
        results[name] = []
        specs.append((name, kind, count, src, ctx))
        total += count
    for name, kind, count, src, ctx in specs:
        for _ in range(count):
            tasks.append(asyncio.ensure_future(
                watch(kind, a.port, src, ctx, a.wait, results[name], started)))
    await asyncio.gather(*tasks)

    out = {}
    for name, recs in results.items():
        lives = [r["closed"] for r in recs if r["closed"] is not None]
        out[name] = {
            "n": len(recs),
            "connect_failed": sum(1 for r in recs if r["failed"]),
            "tls_done": sum(1 for r in recs if r["tls"]),
            "got_data": sum(1 for r in recs if r["data"] > 0),
            "closed": len(lives),
            "open": sum(1 for r in recs if r["closed"] is None),
            "min_life": round(min(lives), 3) if lives else None,
            "max_life": round(max(lives), 3) if lives else None,
            "quick": sum(1 for t in lives if t < 1.0),
        }
    print(json.dumps(out, sort_keys=True))


asyncio.run(main())
