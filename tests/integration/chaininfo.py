#!/usr/bin/python3
"""chaininfo.py DISK_DIR: the physical chains of a local store's disk
directory (issue 17, tests/integration/test-chain-depth.sh), read from the
qcow2 headers as the receiver reads them: one line per point file,
"ID BACKING DEPTH CHILDREN" (BACKING 0: none)."""
import os
import struct
import sys


def backing(path):
    with open(path, "rb") as f:
        hdr = f.read(20)
        assert hdr[:4] == b"QFI\xfb", path
        off, ln = struct.unpack(">QI", hdr[8:20])
        if off == 0:
            return 0
        f.seek(off)
        name = f.read(ln).decode()
    assert "/" not in name and name.endswith(".qcow2"), (path, name)
    return int(name[:-6])


def main():
    d = sys.argv[1]
    ids = sorted(int(n[:-6]) for n in os.listdir(d) if n.endswith(".qcow2") and n[:-6].isdigit())
    back = {i: backing(os.path.join(d, "%d.qcow2" % i)) for i in ids}
    kids = {i: 0 for i in ids}
    for i in ids:
        if back[i]:
            kids[back[i]] += 1
    for i in ids:
        depth, b = 0, back[i]
        while b:
            depth, b = depth + 1, back[b]
            assert depth <= len(ids), "loop below %d" % i
        print(i, back[i], depth, kids[i])


main()
