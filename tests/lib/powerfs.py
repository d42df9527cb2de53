#!/usr/bin/python3
"""powerfs: a FUSE pass-through file system that loses, on a simulated power
cut, every change not made durable (issue 13, power loss). Usage:

    powerfs.py BACKING MOUNTPOINT

BACKING holds the current state; MOUNTPOINT shows it. The model is a strict
POSIX reading of a journaling file system after a crash (docs/reliability.md):
  - a file's data and size written since its last fsync/fdatasync is lost;
  - a create, mkdir, symlink, rename, unlink or rmdir is undone unless the
    directory it changed was fsynced after it; a rename across directories
    stays where it went once the target directory was fsynced, and is lost
    if only the source directory was (stricter than ext4);
  - reads see the current state; hard links are refused (EPERM).
SIGUSR1 cuts the power: every operation from then on fails with EIO, BACKING
is rolled back to the durable state, the mount is detached (lazily: killed
processes may still hold files) and the daemon exits 0. Mounting BACKING
again gives the durable state. A clean unmount (SIGTERM, fusermount -u)
keeps everything, as a clean shutdown syncs. Undo data: old file blocks in
memory, unlinked or replaced objects in BACKING/.powerfs/ (hidden); a
daemon killed otherwise leaves that area, and BACKING is then refused.
Progress lines go to stderr; "powerfs: mounted" once the mount serves."""
import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading

import fusepy

BLOCK = 4096
HIDDEN = ".powerfs"


class Undo:
    """What a file held at its last fsync: its size and the old content of
    every block below that size written or cut away since."""

    def __init__(self, size):
        self.size = size
        self.blocks = {}


class PowerFS:
    use_ns = True

    def __init__(self, backing, mountpoint):
        self.root = os.path.realpath(backing)
        self.mnt = mountpoint
        self.hidden = os.path.join(self.root, HIDDEN)
        self.trash = os.path.join(self.hidden, "trash")
        self.stage = os.path.join(self.hidden, "stage")
        self.mutex = threading.Lock()
        self.dead = False
        # directory inode -> {name: inode} as of its last fsync, kept from
        # the first change after it
        self.snaps = {}
        # file inode -> Undo, from the first change after its last fsync
        self.undo = {}
        # A cut or a clean unmount removes the hidden area: one left behind
        # means a daemon killed otherwise, whose changes were neither rolled
        # back nor made durable. Serving that state would pass it off as
        # the durable one.
        if os.path.lexists(self.hidden):
            sys.exit(f"powerfs: {self.hidden} is left by a daemon that did not stop by "
                     f"SIGUSR1 or an unmount: {backing} does not hold a durable state")
        os.makedirs(self.trash)
        os.makedirs(self.stage)

    # ---- helpers -------------------------------------------------------------

    def real(self, path):
        if path == "/" + HIDDEN or path.startswith("/" + HIDDEN + "/"):
            raise fusepy.FuseOSError(errno.ENOENT)
        return self.root if path == "/" else self.root + path

    def alive(self):
        if self.dead:
            raise fusepy.FuseOSError(errno.EIO)

    def entries(self, dpath):
        names = os.listdir(dpath)
        if dpath == self.root:
            names = [n for n in names if n != HIDDEN]
        return {n: os.lstat(os.path.join(dpath, n)).st_ino for n in names}

    def dirty_dir(self, dpath):
        """Keep the durable entries of dpath before its first change."""
        ino = os.lstat(dpath).st_ino
        if ino not in self.snaps:
            self.snaps[ino] = self.entries(dpath)

    def dirty_parent(self, rpath):
        self.dirty_dir(os.path.dirname(rpath))

    def to_trash(self, rpath):
        """Unlink rpath in the visible tree, keeping the object for an undo."""
        ino = os.lstat(rpath).st_ino
        os.rename(rpath, os.path.join(self.trash, str(ino)))

    def save(self, fd, start, end):
        """Keep the old content of the blocks of [start, end) below the
        durable size before they change."""
        st = os.fstat(fd)
        u = self.undo.setdefault(st.st_ino, Undo(st.st_size))
        b = start // BLOCK
        while b * BLOCK < min(end, u.size):
            if b not in u.blocks:
                u.blocks[b] = os.pread(fd, BLOCK, b * BLOCK)
            b += 1

    def referenced(self):
        return {i for snap in self.snaps.values() for i in snap.values()}

    def collect(self):
        """Drop hidden objects no durable directory names any more."""
        keep = self.referenced()
        for name in os.listdir(self.trash):
            if int(name) in keep:
                continue
            p = os.path.join(self.trash, name)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
            self.undo.pop(int(name), None)
            self.snaps.pop(int(name), None)

    # ---- the power cut -----------------------------------------------------

    def find(self, ino):
        """Current path of the object ino: in the tree, staged or trashed."""
        for top in (self.root, self.stage, self.trash):
            if os.lstat(top).st_ino == ino:
                return top
            for d, dirs, files in os.walk(top):
                if d == self.root:
                    dirs[:] = [x for x in dirs if x != HIDDEN]
                for n in dirs + files:
                    p = os.path.join(d, n)
                    if os.lstat(p).st_ino == ino:
                        return p
        return None

    def rollback(self):
        """Put BACKING back into its durable state (the lock is held)."""
        # 1. Empty every changed directory into the stage, by inode.
        self.snaps = {k: v for k, v in self.snaps.items() if self.find(k) is not None}
        for dino, snap in self.snaps.items():
            d = self.find(dino)
            now = self.entries(d)
            made = " +".join(sorted(n for n in now if now[n] != snap.get(n)))
            undone = " -".join(sorted(n for n in snap if snap[n] != now.get(n)))
            print(f"powerfs: cut: {os.path.relpath(d, self.root)}: undo"
                  f"{' +' + made if made else ''}{' -' + undone if undone else ''}",
                  file=sys.stderr)
            for n, ino in now.items():
                os.rename(os.path.join(d, n), os.path.join(self.stage, str(ino)))
        # 2. Put back what each held at its last fsync.
        lost = 0
        for dino, snap in self.snaps.items():
            d = self.find(dino)
            for n, ino in snap.items():
                src = os.path.join(self.stage, str(ino))
                if not os.path.lexists(src):
                    src = os.path.join(self.trash, str(ino))
                if not os.path.lexists(src) and self.find(ino) is not None:
                    continue  # renamed into a directory fsynced since: it stays there
                if not os.path.lexists(src):
                    lost += 1
                    print(f"powerfs: cut: object {ino} of {d}/{n} is gone", file=sys.stderr)
                    continue
                os.rename(src, os.path.join(d, n))
        # 3. File data back to its last fsync.
        restored = 0
        for ino, u in self.undo.items():
            p = self.find(ino)
            if p is None or not stat.S_ISREG(os.lstat(p).st_mode):
                continue
            fd = os.open(p, os.O_RDWR)
            try:
                for b, old in u.blocks.items():
                    os.pwrite(fd, old, b * BLOCK)
                os.ftruncate(fd, u.size)
            finally:
                os.close(fd)
            restored += 1
        print(f"powerfs: cut: {len(self.snaps)} directories and {restored} files "
              f"rolled back to their last fsync", file=sys.stderr)
        shutil.rmtree(self.hidden, ignore_errors=True)
        return lost

    def cut(self):
        with self.mutex:
            self.dead = True
            lost = self.rollback()
        subprocess.run(["fusermount", "-u", "-z", self.mnt], check=False)
        sys.stderr.flush()
        os._exit(1 if lost else 0)

    # ---- FUSE operations ---------------------------------------------------

    def __call__(self, op, *args):
        with self.mutex:
            self.alive()
            return getattr(self, op)(*args)

    def init(self, path):
        print("powerfs: mounted", file=sys.stderr, flush=True)

    def destroy(self, path):
        # A clean unmount: everything is durable.
        if not self.dead:
            shutil.rmtree(self.hidden, ignore_errors=True)

    def getattr(self, path, fi=None):
        st = os.fstat(fi.fh) if fi else os.lstat(self.real(path))
        keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_rdev",
                "st_blocks", "st_blksize", "st_atime_ns", "st_mtime_ns", "st_ctime_ns")
        attrs = {k.replace("_ns", ""): getattr(st, k) for k in keys}
        return attrs

    def access(self, path, mode):
        if not os.access(self.real(path), mode):
            raise fusepy.FuseOSError(errno.EACCES)

    def readdir(self, path, fh):
        return [".", ".."] + sorted(self.entries(self.real(path)))

    def readlink(self, path):
        return os.readlink(self.real(path))

    def statfs(self, path):
        sv = os.statvfs(self.root)
        return {k: getattr(sv, k) for k in ("f_bsize", "f_frsize", "f_blocks", "f_bfree",
                                            "f_bavail", "f_files", "f_ffree", "f_favail",
                                            "f_namemax")}

    def chmod(self, path, mode):
        os.chmod(self.real(path), mode)

    def chown(self, path, uid, gid):
        os.lchown(self.real(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self.real(path), ns=times, follow_symlinks=False)

    def backing_flags(self, flags):
        # The daemon writes with pwrite at the kernel's offsets, from its own
        # unaligned buffers, and reads old blocks before overwriting them.
        flags &= ~(os.O_DIRECT | os.O_APPEND | os.O_TRUNC | os.O_CREAT | os.O_EXCL)
        if flags & os.O_ACCMODE != os.O_RDONLY:
            flags = (flags & ~os.O_ACCMODE) | os.O_RDWR
        return flags | os.O_CLOEXEC

    def open(self, path, fi):
        fd = os.open(self.real(path), self.backing_flags(fi.flags))
        if fi.flags & os.O_TRUNC:
            self.cut_to(fd, 0)
        fi.fh = fd
        return 0

    def create(self, path, mode, fi):
        rp = self.real(path)
        existed = os.path.lexists(rp)
        if existed and fi.flags & os.O_EXCL:
            raise fusepy.FuseOSError(errno.EEXIST)
        if not existed:
            self.dirty_parent(rp)
        fd = os.open(rp, self.backing_flags(fi.flags) | os.O_CREAT, mode & 0o7777)
        if not existed:
            self.undo[os.fstat(fd).st_ino] = Undo(0)
        elif fi.flags & os.O_TRUNC:
            self.cut_to(fd, 0)
        fi.fh = fd
        return 0

    def read(self, path, size, offset, fi):
        return os.pread(fi.fh, size, offset)

    def write(self, path, data, offset, fi):
        self.save(fi.fh, offset, offset + len(data))
        return os.pwrite(fi.fh, data, offset)

    def cut_to(self, fd, length):
        size = os.fstat(fd).st_size
        self.save(fd, min(length, size), size)
        os.ftruncate(fd, length)

    def truncate(self, path, length, fi=None):
        if fi:
            self.cut_to(fi.fh, length)
            return 0
        fd = os.open(self.real(path), os.O_RDWR | os.O_CLOEXEC)
        try:
            self.cut_to(fd, length)
        finally:
            os.close(fd)
        return 0

    def fsync(self, path, datasync, fi):
        self.undo.pop(os.fstat(fi.fh).st_ino, None)

    def fsyncdir(self, path, datasync, fh):
        self.snaps.pop(os.lstat(self.real(path)).st_ino, None)
        self.collect()

    def flush(self, path, fi):
        return 0

    def release(self, path, fi):
        os.close(fi.fh)

    def mkdir(self, path, mode):
        rp = self.real(path)
        self.dirty_parent(rp)
        os.mkdir(rp, mode)

    def symlink(self, target, source):
        rp = self.real(target)
        self.dirty_parent(rp)
        os.symlink(source, rp)

    def link(self, target, source):
        raise fusepy.FuseOSError(errno.EPERM)

    def mknod(self, path, mode, dev):
        raise fusepy.FuseOSError(errno.EPERM)

    def unlink(self, path):
        rp = self.real(path)
        if stat.S_ISDIR(os.lstat(rp).st_mode):
            raise fusepy.FuseOSError(errno.EISDIR)
        self.dirty_parent(rp)
        self.to_trash(rp)

    def rmdir(self, path):
        rp = self.real(path)
        if not stat.S_ISDIR(os.lstat(rp).st_mode):
            raise fusepy.FuseOSError(errno.ENOTDIR)
        if os.listdir(rp):
            raise fusepy.FuseOSError(errno.ENOTEMPTY)
        self.dirty_parent(rp)
        self.to_trash(rp)

    def rename(self, old, new):
        ro, rn = self.real(old), self.real(new)
        so = os.lstat(ro)
        if rn.startswith(ro + "/"):
            raise fusepy.FuseOSError(errno.EINVAL)
        victim = None
        if os.path.lexists(rn):
            victim = os.lstat(rn)
            if victim.st_ino == so.st_ino:
                return 0
            if stat.S_ISDIR(victim.st_mode) != stat.S_ISDIR(so.st_mode):
                raise fusepy.FuseOSError(errno.EISDIR if stat.S_ISDIR(victim.st_mode)
                                         else errno.ENOTDIR)
            if stat.S_ISDIR(victim.st_mode) and os.listdir(rn):
                raise fusepy.FuseOSError(errno.ENOTEMPTY)
        self.dirty_parent(ro)
        self.dirty_parent(rn)
        if victim:
            self.to_trash(rn)
        try:
            os.rename(ro, rn)
        except OSError:
            if victim:
                os.rename(os.path.join(self.trash, str(victim.st_ino)), rn)
            raise
        return 0


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: powerfs.py BACKING MOUNTPOINT")
    fs = PowerFS(sys.argv[1], sys.argv[2])
    # SIGUSR1 must reach us while the main thread sits in libfuse's loop:
    # Python's C-level handler writes the signal number to this pipe from
    # whatever thread the signal lands on.
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.signal(signal.SIGUSR1, lambda *_: None)
    signal.set_wakeup_fd(w)

    def watch():
        while os.read(r, 1) != bytes([signal.SIGUSR1]):
            pass
        fs.cut()

    threading.Thread(target=watch, daemon=True).start()
    # Not hard_remove: a file replaced by a rename or unlinked while open
    # stays readable through its descriptor, as POSIX says (libfuse keeps it
    # as .fuse_hidden* until it is closed; with hard_remove every operation
    # on it failed with ENOENT: a qemu reading a chain whose file the
    # receiver's settle thread had just replaced, issue 17).
    fusepy.FUSE(fs, sys.argv[2], raw_fi=True, foreground=True, fsname="powerfs",
                big_writes=True, max_write=131072, hard_remove=False)


if __name__ == "__main__":
    main()
