#!/usr/bin/python3
# Point-in-time oracle for test-daemon.sh and soak.sh: writes random 64 KiB
# blocks into an RBD image (or an image file) while the agent replicates it,
# logging the hash of every state the image goes through; "verify" then maps
# exported recovery points to those states.
#
# usage: rbdwriter.py write CEPH_CONF POOL/IMAGE LOG SEED WRITES_PER_S
#            fills the first 16 MiB, logs "0 HASH" (the initial state), then
#            one "N HASH" line per write until SIGTERM
#        rbdwriter.py write-file raw|qcow2 PATH LOG SEED WRITES_PER_S
#            the same on an image file: a raw file by pwrite + fdatasync (the
#            agent may read it mid-write), a qcow2 through qemu-io, one
#            process per write, retried while the image is locked (the
#            agent's qemu-nbd or qemu-img holds it: a VM started and stopped
#            between cycles, as the file source expects of a qcow2)
#        rbdwriter.py verify LOG QCOW2...
#            exports each point (qemu-img convert), prints its state index,
#            fails unless every point is a logged state and the indexes never
#            go down (points in commit order)
#
# The state hash is sha256 over the sha256 of each 64 KiB block, so the
# writer rehashes one block per write instead of the whole image. Each
# write is one 64 KiB-aligned block, inside one 4 MiB RADOS object, so it is
# atomic with respect to an RBD snapshot: every snapshot is one logged state.
import hashlib
import os
import random
import signal
import subprocess
import sys
import time

BLOCK = 64 * 1024
LOCK_WARN_S = 90


def state_hash(block_hashes):
    return hashlib.sha256(b"".join(block_hashes)).hexdigest()


class RbdImage:
    def __init__(self, conf, spec):
        import rados
        import rbd

        pool, name = spec.split("/", 1)
        self.cluster = rados.Rados(conffile=conf)
        self.cluster.connect(timeout=30)
        self.io = self.cluster.open_ioctx(pool)
        self.img = rbd.Image(self.io, name)
        self.size = self.img.size()

    def write(self, data, off):
        self.img.write(data, off)
        self.img.flush()

    def close(self):
        self.img.close()
        self.io.close()
        self.cluster.shutdown()


class RawImage:
    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY)
        self.size = os.fstat(self.fd).st_size

    def write(self, data, off):
        os.pwrite(self.fd, data, off)
        os.fdatasync(self.fd)

    def close(self):
        os.close(self.fd)


class Qcow2Image:
    """Each write is one qemu-io run: it takes the image's write lock only
    for that write; a refused lock (the agent reads the image) is retried."""

    def __init__(self, path):
        self.path = path
        info = subprocess.check_output(["qemu-img", "info", "-U", "--output=json", path])
        self.size = int(info.decode().split('"virtual-size":')[1].split(",")[0])
        self.buf = "%s.buf.%d" % (path, os.getpid())

    def write(self, data, off):
        with open(self.buf, "wb") as f:
            f.write(data)
        cmd = ["qemu-io", "-f", "qcow2", "-c", "write -q -s %s %d %d" % (self.buf, off, len(data)),
               self.path]
        t0, warned = time.monotonic(), False
        while True:
            r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if r.returncode == 0 and not r.stderr:
                return
            if b"lock" not in r.stderr:
                raise RuntimeError("qemu-io failed: %s" % r.stderr.decode(errors="replace"))
            if not warned and time.monotonic() - t0 > LOCK_WARN_S:
                # Longer than a cycle may hold the image (a stalled one
                # gives up after the agent's receiver_timeout, 30 s in the
                # soak): an orphan holds it (issue 13 item 2).
                print("%s: still locked after %d s (since %s)" %
                      (self.path, LOCK_WARN_S, time.strftime("%H:%M:%S", time.localtime(
                          time.time() - LOCK_WARN_S))), file=sys.stderr, flush=True)
                warned = True
            time.sleep(0.05)

    def close(self):
        if os.path.exists(self.buf):
            os.unlink(self.buf)


def write_states(img, log_path, seed, rate):
    """Fills the first 16 MiB (some data for the seed), logs "0 HASH", then
    one random 64 KiB block per write and "N HASH" once it is complete, until
    SIGTERM; closes img."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    rng = random.Random(seed)
    nblocks = img.size // BLOCK
    hashes = [hashlib.sha256(bytes(BLOCK)).digest()] * nblocks
    fill = min(img.size, 16 << 20)
    try:
        for off in range(0, fill, 4 << 20):
            data = rng.randbytes(4 << 20)
            img.write(data, off)
            for i in range(0, len(data), BLOCK):
                hashes[(off + i) // BLOCK] = hashlib.sha256(data[i:i + BLOCK]).digest()
        n = 0
        with open(log_path, "w", buffering=1) as log:
            log.write("%d %s\n" % (n, state_hash(hashes)))
            while not stop:
                b = rng.randrange(nblocks)
                data = rng.randbytes(BLOCK)
                img.write(data, b * BLOCK)
                hashes[b] = hashlib.sha256(data).digest()
                n += 1
                # Logged only once the write completed: a snapshot taken
                # while it was in flight holds the state before or after
                # it, and both are (or will be) in the log.
                log.write("%d %s\n" % (n, state_hash(hashes)))
                time.sleep(1.0 / rate)
    finally:
        img.close()


def file_hash(path):
    hashes = []
    with open(path, "rb") as f:
        while True:
            data = f.read(BLOCK)
            if not data:
                break
            hashes.append(hashlib.sha256(data).digest())
    return state_hash(hashes)


def verify(log_path, points):
    index = {}
    with open(log_path) as log:
        for line in log:
            n, h = line.split()
            index.setdefault(h, int(n))
    tmp = "%s.export.%d" % (log_path, os.getpid())
    last, bad, seq = -1, 0, []
    try:
        for p in points:
            subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", p, tmp],
                           check=True)
            h = file_hash(tmp)
            n = index.get(h)
            if n is None:
                print("point %s: state not in the writer's log" % p)
                bad += 1
            elif n < last:
                print("point %s: state %d is older than the previous point's %d" % (p, n, last))
                bad += 1
            else:
                last = n
            seq.append("?" if n is None else str(n))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print("%d points, %d logged states, point states: %s" % (len(points), len(index), " ".join(seq)))
    return 1 if bad or not points else 0


def main():
    if len(sys.argv) == 7 and sys.argv[1] == "write":
        write_states(RbdImage(sys.argv[2], sys.argv[3]), sys.argv[4], int(sys.argv[5]),
                     float(sys.argv[6]))
        return 0
    if len(sys.argv) == 7 and sys.argv[1] == "write-file" and sys.argv[2] in ("raw", "qcow2"):
        img = RawImage(sys.argv[3]) if sys.argv[2] == "raw" else Qcow2Image(sys.argv[3])
        write_states(img, sys.argv[4], int(sys.argv[5]), float(sys.argv[6]))
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "verify":
        return verify(sys.argv[2], sys.argv[3:])
    print("usage: rbdwriter.py write CEPH_CONF POOL/IMAGE LOG SEED WRITES_PER_S\n"
          "       rbdwriter.py write-file raw|qcow2 PATH LOG SEED WRITES_PER_S\n"
          "       rbdwriter.py verify LOG QCOW2...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
