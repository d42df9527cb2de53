#!/usr/bin/env python3
"""Writes a raw image while an agent reads it, so that every state the file
went through is known (test-consistency.sh).

Each 64 KiB block starts with its block number and the sequence number of
the write that last filled it (0 = the initial fill), then random bytes.
The log lists the block of every write, in order, so the state after write
s is known and a copy can be checked against every state:

  tornwriter.py init IMAGE MIB            fill IMAGE (seq 0 everywhere)
  tornwriter.py run IMAGE MIB_PER_S LOG   random blocks at that rate until
                                          SIGTERM; every write is logged
  tornwriter.py check COPY LOG [MIN]      exit 0 if COPY (raw) equals the
                                          image after some write s >= MIN, 1
                                          if it matches no state (a torn
                                          copy) or an earlier one
"""
import os
import random
import signal
import struct
import sys
import time

BLOCK = 65536
HDR = struct.Struct("<QQ")


def block_data(blk, seq):
    return HDR.pack(blk, seq) + os.urandom(BLOCK - HDR.size)


def init(path, mib):
    n = mib * 1024 * 1024 // BLOCK
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for b in range(n):
        os.pwrite(fd, block_data(b, 0), b * BLOCK)
    os.fsync(fd)
    os.close(fd)


def run(path, rate_mib, log_path):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    n = os.path.getsize(path) // BLOCK
    rnd = random.Random(13)
    fd = os.open(path, os.O_WRONLY)
    log = open(log_path, "w")
    per_write = BLOCK / (rate_mib * 1024 * 1024)
    t0 = time.monotonic()
    seq = 0
    while not stop:
        seq += 1
        blk = rnd.randrange(n)
        os.pwrite(fd, block_data(blk, seq), blk * BLOCK)
        log.write("%d %d\n" % (seq, blk))
        log.flush()  # the test waits for the first writes before it starts
        ahead = t0 + seq * per_write - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    log.close()
    os.close(fd)


def check(copy, log_path, min_write):
    data = open(copy, "rb").read()
    n = len(data) // BLOCK
    held = []
    for b in range(n):
        blk, seq = HDR.unpack_from(data, b * BLOCK)
        if blk != b:
            print("block %d holds block %d's data" % (b, blk))
            return 1
        held.append(seq)
    last_seq = max(held)
    want = [0] * n
    writes = 0
    for line in open(log_path):
        seq, blk = map(int, line.split())
        writes = seq
        if seq <= last_seq:
            want[blk] = seq
    bad = [b for b in range(n) if want[b] != held[b]]
    if bad:
        b = bad[0]
        print("no single state: %d blocks differ from the state after write %d "
              "(block %d holds write %d, that state has write %d)"
              % (len(bad), last_seq, b, held[b], want[b]))
        return 1
    print("one state: the image after write %d of %d" % (last_seq, writes))
    if last_seq < min_write:
        print("that state is older than write %d" % min_write)
        return 1
    return 0


def main():
    cmd = sys.argv[1]
    if cmd == "init":
        init(sys.argv[2], int(sys.argv[3]))
    elif cmd == "run":
        run(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    elif cmd == "check":
        sys.exit(check(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0))
    else:
        sys.exit("usage: tornwriter.py init|run|check ...")


if __name__ == "__main__":
    main()
