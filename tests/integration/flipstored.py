#!/usr/bin/env python3
"""Corrupt a stored point at rest, behind the receiver's back (issue 13,
item 3): pick a DATA checksum record of the point (group dir GDIR, point
P, disk D) that no record of the points named by --later overlaps (so the
bytes are the point's own and later points read them through it), find
where its guest bytes lie in the point's own qcow2 (qemu-img map, depth
0), and invert 16 bytes there. --skip N passes over the first N such
records. Prints "GUEST_OFFSET RECORD_OFFSET RECORD_LENGTH"."""
import argparse, json, struct, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("gdir")
ap.add_argument("point", type=int)
ap.add_argument("disk")
ap.add_argument("--later", type=int, nargs="*", default=[])
ap.add_argument("--skip", type=int, default=0)
a = ap.parse_args()


def records(point):
    raw = open("%s/sums/%d/%s.sums" % (a.gdir, point, a.disk), "rb").read()
    if raw[:8] != b"NSUMS1\0\0":
        sys.exit("not a checksum file")
    out = []
    for at in range(16, len(raw) - 23, 24):
        off, lenflags, _ = struct.unpack_from("<QQQ", raw, at)
        out.append((off, lenflags & ((1 << 56) - 1), lenflags >> 63))
    return out


taken = [r for p in a.later for r in records(p)]
qcow = "%s/disks/%s/%d.qcow2" % (a.gdir, a.disk, a.point)
extents = [e for e in json.loads(subprocess.check_output(
    ["qemu-img", "map", "--output=json", "-f", "qcow2", qcow])) if e["depth"] == 0 and e["data"]]
skip = a.skip
for off, length, zero in records(a.point):
    if zero or length < 8192 or any(o < off + length and off < o + ln for o, ln, _ in taken):
        continue
    guest = off + 4096 + 64
    hit = [e for e in extents if e["start"] <= guest and guest + 16 <= e["start"] + e["length"]]
    if not hit:
        continue
    if skip:
        skip -= 1
        continue
    host = hit[0]["offset"] + guest - hit[0]["start"]
    with open(qcow, "r+b") as f:
        f.seek(host)
        old = f.read(16)
        f.seek(host)
        f.write(bytes(b ^ 0xFF for b in old))
    print(guest, off, length)
    sys.exit(0)
sys.exit("no DATA record of point %d to corrupt" % a.point)
