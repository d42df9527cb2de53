#!/bin/bash
# A private libvirtd + virtlogd for tests, started by hand (no systemd) in its own
# mount namespace so that it never touches the host's /etc/libvirt or /run.
#
# usage: tests/lib/libvirtd.sh start DIR   -> prints the URI on stdout
#        tests/lib/libvirtd.sh stop DIR    -> destroys domains, stops all daemons
#        tests/lib/libvirtd.sh uri DIR     -> prints the URI
# Inside the namespace DIR/etc/libvirt, DIR/run, DIR/var/{lib,log,cache}/libvirt
# are bind-mounted over /etc/libvirt, /run, /var/{lib,log,cache}/libvirt.
# Logs: DIR/var/log/libvirt/libvirtd.log, DIR/var/log/libvirt/qemu/<domain>.log.
# The QEMU capability cache is shared through $NESTOR_CACHE/libvirt-qemu-caps so
# that only the first start on a machine pays the ~8 s probe (libvirt revalidates
# the cache against the QEMU and libvirtd binaries itself).
set -euo pipefail

HERE=${BASH_SOURCE[0]%/*}
[ "$HERE" != "${BASH_SOURCE[0]}" ] || HERE=.
# shellcheck disable=SC2034 # read by common.sh
LIB_TAG=libvirtd
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$HERE/common.sh"

CACHE=${NESTOR_CACHE:-/var/cache/nestor-test}
START_TIMEOUT=${NESTOR_LIBVIRTD_TIMEOUT:-60}
# processes that may live in our namespace; only these are ever killed by a sweep
OWN_COMMS="libvirtd virtlogd qemu-system-x86 dnsmasq"

usage() {
	echo "usage: $0 start|stop|uri DIR" >&2
	exit 2
}

uri_of() { echo "qemu:///system?socket=$1/run/libvirt/libvirt-sock"; }

# owned_pid DIR NAME VAR: store in VAR the PID of daemon NAME (libvirtd|virtlogd)
# of this DIR, if it runs. The pid file alone is not trusted (a crash leaves it
# behind, the PID may be reused): the process must have the right name and live
# in the mount namespace recorded at start.
owned_pid() {
	local _op_pid
	read_pidfile "$1/run/$2.pid" _op_pid || return 1
	pid_is "$_op_pid" "$2" || return 1
	ours "$_op_pid" "$1" || return 1
	printf -v "$3" '%s' "$_op_pid"
}

# ours PID DIR: PID lives in DIR's namespace. The namespace's inode number alone
# is not proof: once every process of a stopped instance is gone, the kernel may
# give the same number to the namespace of an instance starting beside it (tests
# run in parallel), and a sweep would then kill the newcomer's virtlogd. The /run
# that PID sees must also be DIR/run (the source of its bind mount).
ours() {
	local root
	[ "$(ns_of "$1")" = "$(our_ns "$2")" ] || return 1
	root=$(awk '$5 == "/run" { r = $4 } END { print r }' "/proc/$1/mountinfo" 2>/dev/null) || return 1
	case $root in "" | /) return 1 ;; esac
	case "$2/run" in *"$root") return 0 ;; esac
	return 1
}

ns_of() { readlink "/proc/$1/ns/mnt" 2>/dev/null; }
our_ns() {
	local ns=
	{ read -r ns <"$1/mntns"; } 2>/dev/null
	echo "${ns:-none}"
}

# ns_pids DIR: every process of ours still alive in the namespace (covers QEMU and
# daemons whose pid files are gone after a crash). One stat for all processes:
# a fork per process would take seconds here.
ns_pids() {
	local ns pid comm c
	ns=$(our_ns "$1")
	[ "$ns" != none ] || return 0
	for pid in $(stat -c '%N' /proc/[0-9]*/ns/mnt 2>/dev/null |
		awk -v ns="'$ns'" '$3 == ns { split($1, a, "/"); print a[3] }'); do
		pid_alive "$pid" || continue
		{ read -r comm <"/proc/$pid/comm"; } 2>/dev/null || continue
		for c in $OWN_COMMS; do
			[ "$comm" = "$c" ] && ours "$pid" "$1" && echo "$pid"
		done
	done
}

answers() { timeout 5 virsh -q -c "$1" version >/dev/null 2>&1; }

prepare_dir() {
	local dir=$1
	mkdir -p "$dir/etc" "$dir/run" "$dir/var/lib/libvirt/qemu" "$dir/var/log/libvirt/qemu" \
		"$dir/var/cache/libvirt/qemu/capabilities"
	# copied once, so persistent domain definitions survive a daemon restart
	if [ ! -f "$dir/etc/libvirt/libvirtd.conf" ]; then
		rm -rf "$dir/etc/libvirt"
		cp -a /etc/libvirt "$dir/etc/libvirt"
		# no default NAT network: it would need dnsmasq and iptables
		rm -f "$dir"/etc/libvirt/qemu/networks/autostart/*
	fi
	{
		cat /etc/libvirt/qemu.conf
		cat <<'EOF'
# ---- nestor test harness: root, no systemd, no cgroups/namespaces/labels ----
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
EOF
	} >"$dir/etc/libvirt/qemu.conf"
	cat >"$dir/etc/libvirt/libvirtd.conf" <<'EOF'
unix_sock_group = "root"
unix_sock_rw_perms = "0770"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
	# stale state of a crashed run: the daemons recreate what they need
	rm -f "$dir/run/libvirtd.pid" "$dir/run/virtlogd.pid" "$dir/mntns"
	if [ -d "$CACHE/libvirt-qemu-caps" ]; then
		cp -a "$CACHE/libvirt-qemu-caps/." "$dir/var/cache/libvirt/qemu/capabilities/" 2>/dev/null || true
	fi
}

# save_caps DIR: publish the probed QEMU capabilities for the next start (atomic
# directory swap, so a concurrent start copies either the old or the new set).
save_caps() {
	local src=$1/var/cache/libvirt/qemu/capabilities tmp
	ls "$src"/*.xml >/dev/null 2>&1 || return 0
	if [ -d "$CACHE/libvirt-qemu-caps" ] && diff -rq "$src" "$CACHE/libvirt-qemu-caps" >/dev/null 2>&1; then
		return 0
	fi
	mkdir -p "$CACHE" 2>/dev/null || return 0
	tmp=$(mktemp -d "$CACHE/libvirt-qemu-caps.new.XXXXXX") || return 0
	cp -a "$src/." "$tmp/" && rm -rf "$CACHE/libvirt-qemu-caps.old" &&
		{ [ ! -d "$CACHE/libvirt-qemu-caps" ] || mv "$CACHE/libvirt-qemu-caps" "$CACHE/libvirt-qemu-caps.old"; } &&
		mv "$tmp" "$CACHE/libvirt-qemu-caps" && rm -rf "$CACHE/libvirt-qemu-caps.old"
	rm -rf "$tmp"
}

cmd_start() {
	local dir=$1 uri pid t0
	mkdir -p "$dir"
	uri=$(uri_of "$dir")
	if owned_pid "$dir" libvirtd pid && answers "$uri"; then
		lib_log "libvirtd already running in $dir (pid $pid)"
		echo "$uri"
		return 0
	fi
	# a half-dead instance (crashed libvirtd, orphaned virtlogd or QEMU): clear it
	cmd_stop "$dir" >/dev/null 2>&1 || true
	prepare_dir "$dir"
	t0=$(now_ms)
	# The daemons fork into the background and keep the namespace alive after
	# unshare's shell exits; the shell records the namespace to recognise them later.
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private -- /bin/sh -ec '
		d=$1
		mount --bind "$d/etc/libvirt" /etc/libvirt
		mount --bind "$d/run" /run
		mount --bind "$d/var/lib/libvirt" /var/lib/libvirt
		mount --bind "$d/var/log/libvirt" /var/log/libvirt
		mount --bind "$d/var/cache/libvirt" /var/cache/libvirt
		readlink /proc/self/ns/mnt >"$d/mntns"
		/usr/sbin/virtlogd --daemon
		/usr/sbin/libvirtd --daemon
	' unshare-libvirtd "$dir" || { lib_err "could not start the daemons for $dir"; return 1; }
	if ! wait_until "$START_TIMEOUT" answers "$uri"; then
		lib_err "libvirtd in $dir did not answer within ${START_TIMEOUT}s; log: $dir/var/log/libvirt/libvirtd.log"
		tail -n 20 "$dir/var/log/libvirt/libvirtd.log" >&2 2>/dev/null || true
		cmd_stop "$dir" >/dev/null 2>&1 || true
		return 1
	fi
	owned_pid "$dir" libvirtd pid || pid='?'
	lib_log "libvirtd up in $(($(now_ms) - t0)) ms (pid $pid)"
	echo "$uri"
}

cmd_stop() {
	local dir=$1 uri pid d p rc=0
	uri=$(uri_of "$dir")
	if owned_pid "$dir" libvirtd pid && answers "$uri"; then
		for d in $(timeout 30 virsh -q -c "$uri" list --name 2>/dev/null); do
			timeout 30 virsh -q -c "$uri" destroy "$d" >/dev/null 2>&1 ||
				lib_log "virsh destroy $d failed; its QEMU is killed below"
		done
		save_caps "$dir"
	fi
	# QEMU first (libvirtd may be gone already), then libvirtd, then virtlogd,
	# which must outlive QEMU to drain its console log.
	for p in "$dir"/run/libvirt/qemu/*.pid; do
		[ -e "$p" ] || continue
		read_pidfile "$p" pid || continue
		if pid_is "$pid" qemu-system-x86 && ours "$pid" "$dir"; then
			pid_stop "$pid" 10 || rc=1
		fi
	done
	for d in libvirtd virtlogd; do
		if owned_pid "$dir" "$d" pid; then
			pid_stop "$pid" 15 || rc=1
			lib_log "stopped $d (pid $pid)"
		fi
		rm -f "$dir/run/$d.pid"
	done
	# anything else of ours left in the namespace (pid files lost in a crash)
	for pid in $(ns_pids "$dir"); do
		lib_log "stopping leftover process $pid"
		pid_stop "$pid" 10 || rc=1
	done
	[ -z "$(ns_pids "$dir")" ] || { lib_err "processes still running in $dir's namespace"; rc=1; }
	return $rc
}

[ $# -eq 2 ] || usage
DIR=$(realpath -m -- "$2")
case "$DIR/" in
/run/* | /etc/libvirt/* | /var/lib/libvirt/* | /var/log/libvirt/* | /var/cache/libvirt/*)
	# these are hidden by the bind mounts inside the namespace
	lib_err "DIR must not be under /run or libvirt's own directories: $DIR"
	exit 2
	;;
esac
# sun_path holds 108 bytes
if [ ${#DIR} -gt 80 ]; then
	lib_err "DIR path too long for the libvirt socket: $DIR"
	exit 2
fi
case "$1" in
start) cmd_start "$DIR" ;;
stop) cmd_stop "$DIR" ;;
uri) uri_of "$DIR" ;;
*) usage ;;
esac
