#!/usr/bin/env python3
# Builds the benchmark's "realistic" raw disk images: runs of real OS
# binaries (from /usr) alternating with holes and explicit zero blocks.
#   mkimage.py realistic OUT SIZE_MIB       about half data, a quarter holes,
#                                          a quarter written zeros
#   mkimage.py sparse OUT SIZE_MIB SRC DATA_MIB
#                                          SRC copied sparsely to the start,
#                                          then DATA_MIB more binaries spread
#                                          over the rest, everything else holes
#   mkimage.py change IMG PERCENT SEED     overwrite PERCENT of IMG with fresh
#                                          random 64 KiB blocks; prints bytes
# Deterministic for a given machine (file list sorted, fixed seeds).
import os
import random
import sys

MIB = 1 << 20
ROOTS = ["/usr/lib", "/usr/bin", "/usr/sbin", "/usr/libexec"]


def binaries():
    """Endless stream of 1 MiB pieces of real files under /usr."""
    files = []
    for root in ROOTS:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for f in sorted(filenames):
                p = os.path.join(dirpath, f)
                try:
                    if not os.path.islink(p) and os.path.getsize(p) >= 16384:
                        files.append(p)
                except OSError:
                    pass
    if not files:
        sys.exit("mkimage: no binaries found under /usr")
    carry = bytearray()
    while True:
        for p in files:
            try:
                with open(p, "rb") as f:
                    while True:
                        piece = f.read(MIB - len(carry))
                        if not piece:
                            break
                        carry += piece
                        if len(carry) == MIB:
                            yield bytes(carry)
                            carry = bytearray()
            except OSError:
                continue


def realistic(out, size_mib):
    r = random.Random(42)
    src = binaries()
    stats = {"data": 0, "hole": 0, "zero": 0}
    kinds = ["data", "hole", "data", "zero"]
    with open(out + ".tmp", "wb") as f:
        f.truncate(size_mib * MIB)
        pos, k = 0, 0
        while pos < size_mib:
            run = min(r.randint(1, 32), size_mib - pos)
            kind = kinds[k % 4]
            k += 1
            f.seek(pos * MIB)
            for _ in range(run):
                if kind == "data":
                    f.write(next(src))
                elif kind == "zero":
                    f.write(bytes(MIB))
            stats[kind] += run
            pos += run
        f.flush()
        os.fsync(f.fileno())
    os.rename(out + ".tmp", out)
    print("image %s: %d MiB: %d MiB binaries, %d MiB holes, %d MiB written zeros"
          % (out, size_mib, stats["data"], stats["hole"], stats["zero"]))


def sparse(out, size_mib, src_path, data_mib):
    src = binaries()
    with open(out + ".tmp", "wb") as f, open(src_path, "rb") as s:
        f.truncate(size_mib * MIB)
        # Copy only the allocated ranges of SRC (SEEK_DATA/SEEK_HOLE).
        end = os.fstat(s.fileno()).st_size
        off = 0
        while off < end:
            try:
                d = os.lseek(s.fileno(), off, os.SEEK_DATA)
            except OSError:
                break
            h = os.lseek(s.fileno(), d, os.SEEK_HOLE)
            s.seek(d)
            f.seek(d)
            while d < h:
                n = min(h - d, 8 * MIB)
                f.write(s.read(n))
                d += n
            off = h
        # Spread the extra data in 64 MiB runs over the rest of the disk.
        runs = max(1, data_mib // 64)
        span = (size_mib - end // MIB) // runs
        for i in range(runs):
            f.seek((end // MIB + i * span + span // 2) * MIB)
            for _ in range(64):
                f.write(next(src))
        f.flush()
        os.fsync(f.fileno())
    os.rename(out + ".tmp", out)
    print("image %s: %d MiB sparse, %d MiB copied from %s, %d MiB more binaries"
          % (out, size_mib, end // MIB, src_path, runs * 64))


def change(img, percent, seed):
    r = random.Random(seed)
    size = os.path.getsize(img)
    block = 65536
    count = int(size * percent / 100) // block
    offs = sorted(set(r.randrange(0, size // block) * block for _ in range(count)))
    with open(img, "r+b") as f:
        for o in offs:
            f.seek(o)
            f.write(r.randbytes(block))
        f.flush()
        os.fsync(f.fileno())
    print(len(offs) * block)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "realistic" and len(sys.argv) == 4:
        realistic(sys.argv[2], int(sys.argv[3]))
    elif cmd == "sparse" and len(sys.argv) == 6:
        sparse(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    elif cmd == "change" and len(sys.argv) == 5:
        change(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__ if __doc__ else "usage: see the header of mkimage.py")
