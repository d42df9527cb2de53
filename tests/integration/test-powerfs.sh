#!/bin/bash
# Issue 13, power loss: the layer itself (tests/lib/powerfs.py). Each case
# mounts a fresh backing directory, makes changes with and without
# fsync/fdatasync of files and directories, cuts the power, mounts the
# backing directory again and checks that exactly the durable state is
# there: data since a file's last fsync is gone, a create/rename/unlink/
# mkdir since its directory's last fsync is undone. qemu writes through it
# as the local store's qemu-nbd does (cache=none, aio=native, image locks).
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/lib/powerfs.sh"
PFS_LOG=$T/powerfs.log
N=0

# fresh: a new backing directory, mounted on $M.
fresh() {
	N=$((N + 1))
	B=$T/b$N M=$T/m$N
	powerfs_mount "$B" "$M" || die "powerfs did not mount $B"
}
# cut_remount LABEL: the power cut, then the durable state mounted again.
cut_remount() {
	check "$1: the layer rolled back cleanly" powerfs_cut
	check "$1: unmounted by the cut" eval "! mountpoint -q $M"
	powerfs_mount "$B" "$M" || die "$1: powerfs did not mount again"
}
content() { cat "$1" 2>/dev/null || echo "<missing>"; }
durable_file() { # durable_file PATH TEXT: a file and its name made durable
	printf '%s' "$2" > "$1" && sync "$1" && sync "$(dirname "$1")"
}

# 1. Data written since the last fsync is lost; reads saw it until the cut.
fresh
durable_file "$M/f" old
head -c 65536 /dev/urandom > "$T/rand" && cp "$T/rand" "$M/big" && sync "$M/big" "$M"
printf new > "$M/f"
head -c 4096 /dev/zero | dd of="$M/big" bs=4096 seek=5 conv=notrunc status=none
printf tail >> "$M/big"
check_eq "unsynced write: read before the cut" new "$(content "$M/f")"
cut_remount "unsynced write"
check_eq "unsynced write (truncate + write): old content back" old "$(content "$M/f")"
check "unsynced overwrite and append: old blocks and size back" cmp -s "$T/rand" "$M/big"
# fdatasync makes data durable like fsync
printf newer > "$M/f" && sync -d "$M/f"
truncate -s 100 "$M/big"
cut_remount "fdatasync"
check_eq "fdatasync: the data stays" newer "$(content "$M/f")"
check "truncate without fsync: undone" cmp -s "$T/rand" "$M/big"
powerfs_cleanup

# 2. A new file fsynced, its directory not: gone. Both fsynced: kept.
fresh
printf b > "$M/both" && sync "$M/both"
mkdir "$M/d" && printf c > "$M/d/inner" && sync "$M/d/inner" "$M/d"
sync "$M"
printf e > "$M/dir-only" && sync "$M"
# from here on $M is not fsynced again
printf a > "$M/only-file" && sync "$M/only-file"
mkdir "$M/lost" && printf x > "$M/lost/x" && sync "$M/lost/x" "$M/lost"
cut_remount "create"
check_eq "create, file fsynced, directory not: gone" "<missing>" "$(content "$M/only-file")"
check_eq "create, file and directory fsynced: kept" b "$(content "$M/both")"
check_eq "mkdir, parent fsynced after it: kept with its durable file" c "$(content "$M/d/inner")"
check_eq "create, directory fsynced, data not: an empty file" "" "$(content "$M/dir-only")"
check "mkdir, parent not fsynced: gone with its content" test ! -e "$M/lost"
powerfs_cleanup

# 3. rename over an existing file (an atomic replace) and unlink.
fresh
durable_file "$M/cat" v1
durable_file "$M/gone" keep
mkdir "$M/emptydir" && sync "$M"
printf v2 > "$M/cat.tmp" && sync "$M/cat.tmp" && mv -f "$M/cat.tmp" "$M/cat"
rm "$M/gone"
rmdir "$M/emptydir"
ln -s cat "$M/link" && sync "$M/link"
check_eq "rename: read before the cut" v2 "$(content "$M/cat")"
cut_remount "rename without directory fsync"
check_eq "rename over, directory not fsynced: the old file is back" v1 "$(content "$M/cat")"
check "rename over, directory not fsynced: the temporary file is gone" test ! -e "$M/cat.tmp"
check_eq "unlink, directory not fsynced: the file is back" keep "$(content "$M/gone")"
check "rmdir, parent not fsynced: the directory is back" test -d "$M/emptydir"
check "symlink, directory not fsynced: gone" test ! -L "$M/link"
printf v3 > "$M/cat.tmp" && sync "$M/cat.tmp" && mv -f "$M/cat.tmp" "$M/cat" && sync "$M"
rm "$M/gone" && sync "$M"
mkdir -p "$M/x/y" && sync "$M/x" "$M" && mv "$M/x/y" "$M/y" && sync "$M"
cut_remount "rename with directory fsync"
check_eq "rename over, directory fsynced: the new file" v3 "$(content "$M/cat")"
check "unlink, directory fsynced: gone" test ! -e "$M/gone"
check "rename across directories, only the target fsynced: at the target" \
	test -d "$M/y" -a ! -e "$M/x/y"
no_hidden() { # neither listed nor reachable
	local n
	for n in "$M"/.??*; do [ "$n" != "$M/.powerfs" ] || return 1; done
	! test -e "$M/.powerfs"
}
check "no hidden area in the view" no_hidden
powerfs_cleanup

# 4. qemu as the local store runs it: O_DIRECT, native AIO, image locks.
fresh
qemu-img create -q -f qcow2 "$M/img.qcow2" 4M && sync "$M/img.qcow2" "$M"
# abort: qemu-io dies without the flush at close
(qemu-io -t none -i native -f qcow2 -c "write -P 1 0 1M" -c flush -c "write -P 2 0 64k" \
	-c "write -P 2 2M 1M" -c abort "$M/img.qcow2"; true) >/dev/null 2>&1
check "before the cut: the unflushed write is read" \
	qemu-io -f qcow2 -c "read -P 2 0 64k" "$M/img.qcow2" >/dev/null
cut_remount "qemu"
check "qemu: flushed data survives, unflushed writes are lost" \
	qemu-io -f qcow2 -c "read -P 1 0 1M" -c "read -P 0 2M 1M" "$M/img.qcow2" >/dev/null
qemu-img check -q "$M/img.qcow2"; check_eq "qemu: the image is consistent" 0 $?
qemu-nbd -f qcow2 --cache=none --aio=native -k "$T/nbd.sock" "$M/img.qcow2" 2>/dev/null &
nbd_pid=$!
wait_until 10 test -S "$T/nbd.sock"
out=$(qemu-img info "$M/img.qcow2" 2>&1)
check "qemu image locks hold through the layer" grep -q "write\" lock" <<<"$out"
kill $nbd_pid; wait $nbd_pid 2>/dev/null
powerfs_cleanup

# 5. A clean unmount is a clean shutdown: nothing is lost.
fresh
printf kept > "$M/unsynced"
powerfs_cleanup
powerfs_mount "$B" "$M" || die "powerfs did not mount again"
check_eq "clean unmount: unsynced data stays" kept "$(content "$M/unsynced")"
# A daemon killed otherwise leaves a state that is not the durable one:
# the next mount refuses it.
kill -9 "$PFS_PID"; wait "$PFS_PID" 2>/dev/null; PFS_PID=
fusermount -u -z "$M"
refused() { ! powerfs_mount "$B" "$M"; }
check "a backing directory left by a killed daemon is refused" refused
check "with a clear error" grep -q "did not stop by SIGUSR1 or an unmount" "$PFS_LOG"
finish
