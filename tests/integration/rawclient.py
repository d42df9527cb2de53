#!/usr/bin/env python3
"""A deliberately misbehaving Nestor client for negative tests: speaks TLS
with a given certificate and sends hand-made frames (bad checksums, oversize
frames, unknown types, truncated payloads, hostile names). Exits 0 when the
receiver answers with an ERROR frame carrying the expected code (or, with
--expect-close, when it just closes) and prints what it saw.

Scenario "point" plays a hostile agent's whole point (issue 12, section 1):
asks for the group's progress, begins the point with the id (--point: next,
max = INT64_MAX, last = the newest again, or a number) and snapshot time
(--time-offset seconds from now, or --time-ns) it is told, and, if the
receiver opens it, commits it with no data (every disk reads as zeros) and
the metadata of --meta / --meta-file (default {}).
Prints "COMMITTED <id>" and exits 0, or reports the ERROR as above.

Scenario "extentflood" sends one extent more than a disk's checksum records
may hold (issue 13, item 3): the last one must be refused (ERROR 1).

Scenarios "hashflood" and "beginflood" load the receiver for --seconds
(issue 12, section 3): maximal hash queries pipelined without reading an
answer; over-limit POINT_BEGINs (a 1 PiB disk, 64 disks) on fresh
connections, each of which must be refused with --expect-code.

Scenarios "repairbadhash", "repairoutside" and "repairclean" attack a
targeted repair (issue 13, item 3): a REPAIR point (--point N) whose
extent carries a listed record's range and hash but other bytes, an
extent beside the listed records, or a REPAIR begin of a point with no bad
scrub verdict (its disk --disk of --disk-size bytes).

Scenarios "reversefinish", "reverserelease" and "finishbadflags" attack a
failback finish (issue 14): REVERSE_FINISH with a shutdown timeout of
--seconds, its release of point --point, and one with an unknown flag.

Scenarios "fullranges" and "fullandranges" attack a failback to new disks
(issue 14, item 3): a REVERSE_BEGIN flagged FULL (X is every disk whole)
followed by ranges of disk --disk anyway, and one flagged both FULL and
RANGES."""
import argparse, socket, ssl, struct, sys, threading, time

MAGIC, VERSION = 0x4E535452, 2
T_HELLO, T_PQUERY, T_PROGRESS, T_BEGIN, T_EXTENT, T_DONE, T_COMMIT, T_COMMITTED = 1, 16, 17, 18, 19, 20, 21, 22
T_HQUERY, T_HASHES = 48, 49
T_RQUERY, T_RLIST = 50, 51
F_BEGIN_REPAIR = 1
T_ERROR = 64
T_RBEGIN, T_RRANGES, T_RFINISH = 96, 97, 98
F_FINISH_RELEASE = 1
F_REVERSE_RANGES, F_RANGES_MORE, F_RANGES_END = 1, 1, 2
F_REVERSE_FULL = 2


def frame(t, payload, flags=0, length=None):
    return struct.pack(">IHHII", MAGIC, VERSION, t, flags, len(payload) if length is None else length) + payload


def s(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack(">H", len(b)) + b


def hello():
    return frame(T_HELLO, struct.pack(">HHI", VERSION, VERSION, 1) + s("rawclient"))


def begin(group, disk="d0", size=1 << 20, point=1, base=0, time_ns=None, disks=None, flags=0):
    t = int(time.time() * 1e9) if time_ns is None else time_ns
    disks = disks or [(disk, size)]
    p = s(group) + struct.pack(">QQQH", point, base, t, len(disks))
    for name, sz in disks:
        p += s(name) + struct.pack(">Q", sz)
    return frame(T_BEGIN, p, flags=flags)


MAX_DISKS, MAX_DISK_SIZE, MAX_HASHES = 64, 1 << 50, 16384


def hugedisk(group, base=0):
    """The largest disk the wire allows."""
    return begin(group, point=1 << 40, base=base, size=MAX_DISK_SIZE)


def manydisks(group, base=0):
    """As many disks as the wire allows."""
    return begin(group, point=1 << 40, base=base,
                 disks=[("d%d" % i, 1 << 20) for i in range(MAX_DISKS)])


def progress_ids(body):
    """last_point, pending_point of a PROGRESS payload."""
    n = struct.unpack(">H", body[:2])[0]
    return struct.unpack(">QQ", body[2 + n:2 + n + 16])


def play_point(sock, a):
    """The "point" scenario: returns the final frame (type, body)."""
    sock.sendall(frame(T_PQUERY, s(a.group)))
    t, body = recv_frame(sock)
    if t != T_PROGRESS:
        return t, body
    last, pending = progress_ids(body)
    ids = {"next": last + 1, "max": (1 << 63) - 1, "last": last}
    pid = ids[a.point] if a.point in ids else int(a.point)
    tns = a.time_ns if a.time_ns is not None else int((time.time() + a.time_offset) * 1e9)
    sock.sendall(begin(a.group, point=pid, base=0, time_ns=tns, flags=a.begin_flags))
    t, body = recv_frame(sock)
    if t != T_PROGRESS:
        return t, body
    meta = a.meta.encode() if a.meta is not None else b"{}"
    if a.meta_file:
        meta = open(a.meta_file, "rb").read()
    sock.sendall(frame(T_DONE, struct.pack(">H", 0)) +
                 frame(T_COMMIT, struct.pack(">QI", pid, len(meta)) + meta))
    return recv_frame(sock)


def maxqueries(group, disk):
    """Hash queries as large as the wire allows: the longest answer (4 KiB
    blocks) and the most bytes to hash (16 MiB blocks)."""
    return (hquery(group, 0, disk, 0, 4096, MAX_HASHES) +
            hquery(group, 0, disk, 0, 16 << 20, MAX_HASHES))


def extent(off, data, checksum, kind=1):
    p = struct.pack(">HBBQQQ", 0, kind, 0, off, len(data), checksum) + data
    return frame(T_EXTENT, p)


def zextent(off, length, kind=2):
    """A ZERO (or DISCARD) extent: a range, no payload."""
    return frame(T_EXTENT, struct.pack(">HBBQQQ", 0, kind, 0, off, length, 0))


def hquery(group, point, disk="d0", offset=0, block=65536, count=16):
    return frame(T_HQUERY, s(group) + struct.pack(">Q", point) + s(disk) + struct.pack(">QII", offset, block, count))


def rquery(group, point):
    return frame(T_RQUERY, s(group) + struct.pack(">QQ", point, 0))


def parse_rlist(body):
    """point, base, [(disk, size)], [(disk index, kind, offset, length, hash)]"""
    point, base, nd = struct.unpack(">QQH", body[:18])
    i, disks = 18, []
    for _ in range(nd):
        n = struct.unpack(">H", body[i:i + 2])[0]
        disks.append((body[i + 2:i + 2 + n].decode(), struct.unpack(">Q", body[i + 2 + n:i + 10 + n])[0]))
        i += 10 + n
    count = struct.unpack(">I", body[i:i + 4])[0]
    ents = [struct.unpack(">HBQQQ", body[i + 4 + k * 27:i + 31 + k * 27]) for k in range(count)]
    return point, base, disks, ents


def repair_begin(group, point, base, disks):
    p = s(group) + struct.pack(">QQQH", point, base, 0, len(disks))
    for name, sz in disks:
        p += s(name) + struct.pack(">Q", sz)
    return frame(T_BEGIN, p, flags=F_BEGIN_REPAIR)


def repair_attack(sock, a):
    """The frames of a repair attack, after asking for the point's list."""
    pid = int(a.point)
    if a.scenario == "repairclean":
        return repair_begin(a.group, pid, 0, [(a.disk, a.disk_size)])
    sock.sendall(rquery(a.group, pid))
    t, body = recv_frame(sock)
    if t != T_RLIST:
        sys.exit("no REPAIR_LIST (frame type %s)" % t)
    point, base, disks, ents = parse_rlist(body)
    data = [e for e in ents if e[1] == 1]
    if point != pid or not data:
        sys.exit("point %d lists no DATA record to attack" % pid)
    disk, _, off, ln, h = data[0]
    print("attacking record disk %d offset %d length %d" % (disk, off, ln))
    if a.scenario == "repairbadhash":
        ext = struct.pack(">HBBQQQ", disk, 1, 0, off, ln, h) + b"\x5a" * ln
    else:
        ext = struct.pack(">HBBQQQ", disk, 1, 0, off + ln, 4096, h) + b"\x5a" * 4096
    return repair_begin(a.group, pid, base, disks) + frame(T_EXTENT, ext)


def reverse_flood(sock, a):
    sock.sendall(frame(T_RBEGIN, s(a.group), flags=F_REVERSE_RANGES))
    t, body = recv_frame(sock)
    if t != T_PROGRESS:
        return b""  # refused: the caller reads nothing more
    # One-byte ranges two bytes apart never merge: one more of them than
    # the disk's bound (disk_size / 512 + 65536).
    n = a.disk_size // 512 + 65536 + 1
    out = b""
    for i in range(0, n, 4096):
        k = min(4096, n - i)
        rs = b"".join(struct.pack(">QQ", 2 * (i + j), 1) for j in range(k))
        out += frame(T_RRANGES, s(a.disk) + struct.pack(">I", k) + rs,
                     flags=F_RANGES_MORE if i + k < n else F_RANGES_END)
    return out


def recv_frame(sock):
    hdr = b""
    while len(hdr) < 16:
        c = sock.recv(16 - len(hdr))
        if not c:
            return None, None
        hdr += c
    magic, ver, t, flags, ln = struct.unpack(">IHHII", hdr)
    body = b""
    while len(body) < ln:
        c = sock.recv(ln - len(body))
        if not c:
            return None, None
        body += c
    return t, body


def connect(a):
    """TLS connection with HELLO exchanged, or None (printed why)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(a.ca)
    ctx.check_hostname = False
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    if a.tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    try:
        sock = ctx.wrap_socket(raw, server_hostname="receiver")
        sock.sendall(hello())
        t, body = recv_frame(sock)
        if t != T_HELLO:
            print("no HELLO from the receiver (connection refused or closed)")
            return None
    except (ssl.SSLError, OSError) as e:
        print("TLS refused:", e)
        return None
    return sock


def hashflood(a):
    """Hash queries pipelined for a.seconds without reading one answer: the
    receiver must stop reading us, not buffer answers without bound."""
    sock = connect(a)
    if sock is None:
        return 1
    sock.settimeout(None)
    batch, st = maxqueries(a.group, a.disk), {"sent": 0, "last": time.time(), "err": None}

    def pump():
        try:
            while True:
                sock.sendall(batch)
                st["sent"] += 2
                st["last"] = time.time()
        except (ssl.SSLError, OSError) as e:
            st["err"] = e

    th = threading.Thread(target=pump, daemon=True)
    th.start()
    time.sleep(a.seconds)
    stalled = time.time() - st["last"]
    if st["err"] is not None:
        print("hashflood: connection lost after %d queries: %s" % (st["sent"], st["err"]))
        return 1
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    th.join(5)
    print("hashflood: %d queries sent; the receiver had stopped reading for %.1f s" %
          (st["sent"], stalled))
    return 0


def beginflood(a):
    """Over-limit BEGINs on fresh connections for a.seconds; each must be
    refused with an ERROR of code a.expect_code."""
    n, end = 0, time.time() + a.seconds
    while time.time() < end:
        sock = connect(a)
        if sock is None:
            return 1
        sock.sendall(hugedisk(a.group, a.base) if n % 2 == 0 else manydisks(a.group, a.base))
        t, body = recv_frame(sock)
        sock.close()
        if t != T_ERROR or (a.expect_code and struct.unpack(">I", body[:4])[0] != a.expect_code):
            print("beginflood: BEGIN #%d not refused as expected (frame %s)" % (n, t))
            return 1
        n += 1
    print("beginflood: %d over-limit BEGINs refused" % n)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--group", default="g1")
    ap.add_argument("--tls12", action="store_true")
    ap.add_argument("--expect-code", type=int)
    ap.add_argument("--expect-close", action="store_true")
    ap.add_argument("--point", default="next")
    ap.add_argument("--time-offset", type=float, default=0.0)
    ap.add_argument("--time-ns", type=int)
    ap.add_argument("--disk", default="d0")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--base", type=int, default=0)
    ap.add_argument("--disk-size", type=int, default=1 << 20)
    ap.add_argument("--meta", help='"point": the metadata it commits (default {})')
    ap.add_argument("--meta-file", help='"point": the metadata it commits, from a file')
    ap.add_argument("--begin-flags", type=int, default=0,
                    help='"point": POINT_BEGIN header flags (4 = FINAL, 5 = FINAL|REPAIR)')
    ap.add_argument("scenario")
    a = ap.parse_args()

    if a.scenario == "hashflood":
        sys.exit(hashflood(a))
    if a.scenario == "beginflood":
        sys.exit(beginflood(a))
    sock = connect(a)
    if sock is None:
        sys.exit(0 if a.expect_close else 1)

    sc = a.scenario
    if sc == "badsum":
        data = b"\xab" * 4096
        out = begin(a.group) + extent(0, data, 0x1234)
    elif sc == "oversize":
        out = begin(a.group) + frame(T_EXTENT, b"", length=(1 << 20) + 65536 + 1)
    elif sc == "unknowntype":
        out = frame(100, b"")  # 99 is REVERSE_DONE since failback finish
    elif sc == "badflags":
        out = frame(T_PQUERY, s(a.group), flags=0x80)
    elif sc == "truncated":
        out = frame(T_BEGIN, s(a.group) + b"\x00\x00")  # payload ends inside point_id
    elif sc == "cut":
        out = begin(a.group) + frame(T_EXTENT, b"\x00" * 10, length=4096 + 28)
    elif sc == "pastend":
        data = b"\xcd" * 4096
        out = begin(a.group) + extent((1 << 20) - 2048, data, 0)
    elif sc == "dotdot":
        out = begin("..")
    elif sc == "slash":
        out = begin("a/b")
    elif sc == "slashdisk":
        out = begin(a.group, disk="../../etc")
    elif sc == "nul":
        out = begin("a\0b")
    elif sc == "hashmissing":
        out = hquery(a.group, 99)
    elif sc in ("hashnewest", "hashok"):
        out = hquery(a.group, 0)
    elif sc == "hugedisk":
        out = hugedisk(a.group, a.base)
    elif sc == "manydisks":
        out = manydisks(a.group, a.base)
    elif sc == "extentflood":
        # Issue 13, item 3: one ZERO extent more than the checksum records
        # a 1 MiB disk may hold (size / 512 + 65536), all over its first
        # MiB: the last one must be refused, not stored.
        out = begin(a.group) + b"".join(
            zextent((i % 2048) * 512, 512) for i in range(2048 + 65536 + 1))
    elif sc == "query":
        out = frame(T_PQUERY, s(a.group))
    elif sc == "reverse":
        # Failback (issue 14): ask for the reverse stream of a group.
        out = frame(T_RBEGIN, s(a.group), flags=F_REVERSE_RANGES)
    elif sc == "reverseflood":
        # More ranges of one disk than disk_size / 512 + 65536 (the disk is
        # --disk, of --disk-size bytes): refused, not kept.
        out = reverse_flood(sock, a)
    elif sc == "fullranges":
        out = frame(T_RBEGIN, s(a.group), flags=F_REVERSE_FULL) + frame(
            T_RRANGES, s(a.disk) + struct.pack(">IQQ", 1, 0, 4096), flags=F_RANGES_END)
    elif sc == "fullandranges":
        out = frame(T_RBEGIN, s(a.group), flags=F_REVERSE_FULL | F_REVERSE_RANGES)
    elif sc == "reversefinish":
        out = frame(T_RFINISH, s(a.group) + struct.pack(">IQ", int(a.seconds), 0))
    elif sc == "reverserelease":
        out = frame(T_RFINISH, s(a.group) + struct.pack(">IQ", 0, int(a.point)),
                    flags=F_FINISH_RELEASE)
    elif sc == "finishbadflags":
        out = frame(T_RFINISH, s(a.group) + struct.pack(">IQ", 5, 0), flags=2)
    elif sc == "point":
        out = b""
    elif sc in ("repairbadhash", "repairoutside", "repairclean"):
        out = repair_attack(sock, a)
    else:
        sys.exit("unknown scenario " + sc)
    try:
        if sc == "point":
            t, body = play_point(sock, a)
            if t == T_COMMITTED:
                print("COMMITTED %d" % struct.unpack(">Q", body[:8])[0])
                sys.exit(1 if a.expect_code is not None else 0)
            out = None
        if out is not None:
            sock.sendall(out)
        if sc == "cut":
            time.sleep(0.3)
            sock.close()
            print("stream cut mid-frame")
            sys.exit(0)
        if out is not None:
            t, body = recv_frame(sock)
        # POINT_BEGIN is acknowledged with a PROGRESS frame; the verdict on
        # what follows comes after it.
        while t == T_PROGRESS and sc not in ("query", "point"):
            t, body = recv_frame(sock)
    except (ssl.SSLError, OSError) as e:
        t, body = None, None
        print("connection error:", e)
    if t == T_ERROR:
        code = struct.unpack(">I", body[:4])[0]
        text = body[6:].decode(errors="replace")
        print("ERROR %d: %s" % (code, text))
        sys.exit(0 if a.expect_code in (None, code) else 1)
    if t is None:
        print("closed without an ERROR frame")
        sys.exit(0 if a.expect_close else 1)
    print("unexpected frame type", t)
    sys.exit(0 if (sc == "query" and t == T_PROGRESS) or (sc == "hashok" and t == T_HASHES)
             else 1)


main()
