#!/usr/bin/env python3
"""A TCP proxy that can blackhole its link: usage blackhole.py LISTEN_PORT
TARGET_PORT (127.0.0.1). SIGUSR1: stop forwarding in both directions
without closing anything (the kernels still ACK, as a stuck middlebox or a
hung peer would). SIGUSR2: the link is back: the connections that lived
through the cut are dropped, new ones are forwarded. Stands in for netem,
which the test machines lack (issue 13 item 5)."""
import signal
import socket
import sys
import threading

lock = threading.Lock()
flowing = threading.Event()
flowing.set()
conns = []


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            flowing.wait()
            if not data:
                dst.shutdown(socket.SHUT_WR)
                return
            dst.sendall(data)
    except OSError:
        pass


def cut(signum, frame):
    flowing.clear()


def restore(signum, frame):
    with lock:
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        conns.clear()
    flowing.set()


def main():
    lport, tport = int(sys.argv[1]), int(sys.argv[2])
    signal.signal(signal.SIGUSR1, cut)
    signal.signal(signal.SIGUSR2, restore)
    lis = socket.socket()
    lis.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lis.bind(("127.0.0.1", lport))
    lis.listen(64)
    while True:
        a, _ = lis.accept()
        if not flowing.is_set():
            a.close()  # the link is down: nothing gets through
            continue
        try:
            b = socket.create_connection(("127.0.0.1", tport))
        except OSError:
            a.close()
            continue
        with lock:
            conns.extend((a, b))
        threading.Thread(target=pump, args=(a, b), daemon=True).start()
        threading.Thread(target=pump, args=(b, a), daemon=True).start()


if __name__ == "__main__":
    main()
