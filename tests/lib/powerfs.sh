# shellcheck shell=bash
# Shell helpers for powerfs (tests/lib/powerfs.py), the FUSE layer that
# loses what was not made durable when the power is cut. Source it; the
# sourcing test's cleanup calls powerfs_cleanup (tests/integration/lib.sh
# does). One layer per test at a time.
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PFS_PID=
PFS_MNT=

# powerfs_mount BACKING MNT: serve BACKING's durable state on MNT; the
# daemon's lines go to $PFS_LOG (default /dev/null). 1 if it did not mount.
powerfs_mount() {
	mkdir -p "$1" "$2"
	"$(dirname "${BASH_SOURCE[0]}")/powerfs.py" "$1" "$2" 2>>"${PFS_LOG:-/dev/null}" &
	PFS_PID=$! PFS_MNT=$2
	local _
	for _ in $(seq 200); do
		mountpoint -q "$2" && return 0
		pid_alive "$PFS_PID" || break # it refused (see $PFS_LOG)
		sleep 0.1
	done
	powerfs_cleanup
	return 1
}

# powerfs_cut: cut the power now and wait until the backing directory holds
# only what was durable. 0 if the layer rolled back cleanly.
powerfs_cut() {
	kill -USR1 "$PFS_PID" 2>/dev/null || return 1
	powerfs_wait
}

# powerfs_wait: after a SIGUSR1 sent to $PFS_PID, wait for the roll-back.
powerfs_wait() {
	local rc
	wait "$PFS_PID"
	rc=$?
	PFS_PID=
	return $rc
}

# powerfs_cleanup: unmount cleanly (what was written stays) and detach a
# mount whose daemon is gone.
powerfs_cleanup() {
	if [ -n "$PFS_PID" ]; then
		kill -TERM "$PFS_PID" 2>/dev/null
		wait "$PFS_PID" 2>/dev/null
		PFS_PID=
	fi
	[ -n "$PFS_MNT" ] && mountpoint -q "$PFS_MNT" && fusermount -u -z "$PFS_MNT"
	return 0
}
