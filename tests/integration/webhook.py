#!/usr/bin/env python3
"""A webhook target for test-notify.sh: usage webhook.py PORT LOG [ok|hang
[CERT KEY]]. ok: every POST's body is checked to be one JSON object and
appended to LOG as one line, answered 200. hang: connections are accepted
and read, never answered (a stuck target). With CERT and KEY it speaks
https. Prints "listening" once bound."""
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, log, mode = int(sys.argv[1]), sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "ok")
tls = sys.argv[4:6]
lock = threading.Lock()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        ev = json.loads(body)
        assert isinstance(ev, dict)
        assert self.headers.get("Content-Type") == "application/json"
        with lock, open(log, "a") as f:
            f.write(json.dumps(ev, sort_keys=True) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    allow_reuse_address = True


def hang():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    print("listening", flush=True)
    held = []
    while True:
        c, _ = s.accept()
        c.recv(65536)
        print("accepted", flush=True)
        held.append(c)  # never answered, never closed


if mode == "hang":
    hang()
else:
    srv = Server(("127.0.0.1", port), Hook)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("listening", flush=True)
    srv.serve_forever()
