#!/usr/bin/python3
"""points-fab.py GROUP_DIR COUNT [--linear]: extend a local-store group that
holds one real point (seeded by the receiver) to COUNT points, fast, writing
exactly what the receiver writes for a point that carried no extents (issue
17, bench/points.sh, tests/integration/test-chain-depth.sh):

  disks/<disk>/<id>.qcow2   qemu-img create -f qcow2 with the receiver's own
                            options (store-local.c, local_disk_create):
                            cluster_size=65536, lazy_refcounts=off,
                            backing_file=<B>.qcow2, backing_fmt=qcow2, B the
                            point the receiver's settle thread puts it on
                            (replicator/receiver/chain.c: the first point of
                            the base's chain at or below id & (id - 1), else
                            the chain's bottom); --linear: B = id - 1, as a
                            commit writes it and as stores were before
                            settling (issue 17); -u so that qemu-img does
                            not open the chain for each new file (the
                            header is the same)
  sums/<id>/<disk>.sums     the 16-byte header, no record (sums.h)
  meta/<id>.bin             point 1's metadata blob
  catalog.json              every point, ids 1..COUNT, each based on the one
                            before, received 0.1 s apart ending a minute ago;
                            log_seq = COUNT; catalog.log emptied

The receiver must be stopped. Then sync. Two qemu-img at a time, for the
templates only (below)."""
import json
import os
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

SUMS_HEADER = b"NSUMS1\0\0" + struct.pack("<II", 1, 24)


def settled_backings(count):
    """backing[id] for ids 2..count as chain.c settles consecutive ids."""
    back = {1: 0}
    for pid in range(2, count + 1):
        t, b = pid & (pid - 1), pid - 1
        while back[b] and b > t:
            b = back[b]
        back[pid] = b
    return back


def main():
    linear = "--linear" in sys.argv[3:]
    gdir, count = sys.argv[1], int(sys.argv[2])
    back = {pid: pid - 1 for pid in range(1, count + 1)} if linear else settled_backings(count)
    with open(os.path.join(gdir, "catalog.json")) as f:
        cat = json.load(f)
    log = os.path.join(gdir, "catalog.log")
    if os.path.exists(log) and os.path.getsize(log) > 0:
        sys.exit("points-fab: catalog.log is not empty: seed with one point only")
    if len(cat["points"]) != 1 or cat["points"][0]["id"] != 1:
        sys.exit("points-fab: the group must hold point 1 only")
    p1 = cat["points"][0]
    with open(os.path.join(gdir, "meta", "1.bin"), "rb") as f:
        meta = f.read()

    def create(args):
        pid, disk = args
        opts = ("cluster_size=65536,lazy_refcounts=off,backing_file=%d.qcow2,"
                "backing_fmt=qcow2" % back[pid])
        path = os.path.join(gdir, "disks", disk["name"], "%d.qcow2" % pid)
        subprocess.run(["qemu-img", "create", "-q", "-u", "-f", "qcow2", "-o", opts, path,
                        str(disk["size"])], check=True)
        return path

    # qemu-img writes the same bytes for every point of a disk but the
    # backing file's name (no time, no uuid in a qcow2 header): one real
    # file per disk and name length is the template of the others, its
    # name patched in place; the second real file of each length proves the
    # patch gives qemu-img's own bytes. (One qemu-img per point took 0.2 s
    # each under load: 10,000 points in over half an hour.)
    templates, real = {}, set()
    for d in p1["disks"]:
        for pid in range(2, count + 1):
            key = (d["name"], len(str(back[pid])))
            if len(templates.get(key, ())) < 2:
                templates.setdefault(key, []).append(pid)
                real.add((pid, d["name"]))
    jobs = [(pid, d) for pid in range(2, count + 1) for d in p1["disks"]
            if (pid, d["name"]) in real]
    with ThreadPoolExecutor(max_workers=2) as ex:
        list(ex.map(create, jobs))

    def patched(disk, pid):
        first = templates[(disk["name"], len(str(back[pid])))][0]
        with open(os.path.join(gdir, "disks", disk["name"], "%d.qcow2" % first), "rb") as f:
            img = bytearray(f.read())
        old, new = b"%d.qcow2" % back[first], b"%d.qcow2" % back[pid]
        off, size = struct.unpack(">QI", img[8:20])  # backing_file_offset, _size
        if img[off:off + size] != old:
            sys.exit("points-fab: unexpected qcow2 header in the template")
        img[off:off + size] = new
        return bytes(img)

    for (name, _), pids in templates.items():
        disk = next(d for d in p1["disks"] if d["name"] == name)
        if len(pids) == 2:
            with open(os.path.join(gdir, "disks", name, "%d.qcow2" % pids[1]), "rb") as f:
                if f.read() != patched(disk, pids[1]):
                    sys.exit("points-fab: a patched header differs from qemu-img's")
    for pid in range(2, count + 1):
        for d in p1["disks"]:
            if (pid, d["name"]) not in real:
                with open(os.path.join(gdir, "disks", d["name"], "%d.qcow2" % pid), "wb") as f:
                    f.write(patched(d, pid))
    for pid in range(2, count + 1):
        sdir = os.path.join(gdir, "sums", str(pid))
        os.makedirs(sdir, exist_ok=True)
        for d in p1["disks"]:
            with open(os.path.join(sdir, d["name"] + ".sums"), "wb") as f:
                f.write(SUMS_HEADER)
        with open(os.path.join(gdir, "meta", "%d.bin" % pid), "wb") as f:
            f.write(meta)
    end = time.time_ns() - 60 * 10**9
    pts = [p1]
    for pid in range(2, count + 1):
        t = end - (count - pid) * 10**8
        p = dict(p1)
        p.update(id=pid, base=pid - 1, time_ns=t, received_ns=t, committed_ns=t + 10**6,
                 bytes=0)
        pts.append(p)
    # the seed goes first in time too (it was made a moment ago)
    if len(pts) > 1:
        t = pts[1]["time_ns"] - 10**8
        p1.update(time_ns=t, received_ns=t, committed_ns=t + 10**6)
    cat["points"] = pts
    cat["log_seq"] = count
    tmp = os.path.join(gdir, "catalog.json.tmp")
    with open(tmp, "w") as f:
        json.dump(cat, f, indent=1)
    os.replace(tmp, os.path.join(gdir, "catalog.json"))
    if os.path.exists(log):
        os.truncate(log, 0)
    subprocess.run(["sync"], check=True)


main()
