#!/bin/bash
# Throwaway single-node Ceph for tests: 1 mon + 1 bluestore OSD on a sparse file,
# no mgr, bound to 127.0.0.1 on a free port, pool "rbd"; no systemd, no /etc/ceph.
#
# usage: tests/lib/ceph.sh start DIR   -> prints CEPH_CONF=DIR/ceph.conf on stdout
#        tests/lib/ceph.sh stop DIR    -> stops the daemons by PID (OSD, then mon)
#        tests/lib/ceph.sh env DIR     -> prints CEPH_CONF=DIR/ceph.conf
# Client use:  eval "export $(tests/lib/ceph.sh start "$DIR")"; rbd ls
# start on a DIR whose cluster is running reuses it; a DIR left by a crashed run is
# wiped and rebuilt. Logs: DIR/out/. stop keeps DIR (logs) but removes the OSD's
# block file; remove DIR yourself.
# Settings (why): paxos_propose_interval 0.01 (default 1 s makes start 6-10 s),
# bdev_aio_poll_ms 10 (OSD start opens/closes its bdev ~10x), osd_client_watch_timeout
# 5 (a killed librbd lock owner blocks the next writer that long), require-min-compat-
# client mimic (rbd clone v2 from unprotected snapshots).
set -euo pipefail

HERE=${BASH_SOURCE[0]%/*}
[ "$HERE" != "${BASH_SOURCE[0]}" ] || HERE=.
# shellcheck disable=SC2034 # read by common.sh
LIB_TAG=ceph
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$HERE/common.sh"

START_TIMEOUT=${NESTOR_CEPH_TIMEOUT:-90}
PG_NUM=8

usage() {
	echo "usage: $0 start|stop|env DIR" >&2
	exit 2
}

print_env() { printf 'CEPH_CONF=%q\n' "$1/ceph.conf"; }

# daemon_pid DIR NAME VAR: PID of daemon NAME (mon.a, osd.0) of this DIR. The pid
# file is trusted only if that process runs with this DIR's ceph.conf.
daemon_pid() {
	local _dp_pid _dp_cmd
	read_pidfile "$1/pid.$2" _dp_pid || return 1
	pid_alive "$_dp_pid" || return 1
	_dp_cmd=$(tr '\0' ' ' <"/proc/$_dp_pid/cmdline" 2>/dev/null) || return 1
	case "$_dp_cmd" in *" $1/ceph.conf "*) ;; *) return 1 ;; esac
	printf -v "$3" '%s' "$_dp_pid"
}

ceph_cli() { timeout 30 ceph -c "$DIR/ceph.conf" --connect-timeout 20 "$@"; }

# wait_osd_up TIMEOUT_S: osdmap says num_up_osds == 1; fails fast if a daemon dies.
wait_osd_up() {
	local deadline pid
	deadline=$((${EPOCHREALTIME//[!0-9]/} / 1000 + $1 * 1000))
	while [ $((${EPOCHREALTIME//[!0-9]/} / 1000)) -lt "$deadline" ]; do
		daemon_pid "$DIR" osd.0 pid || { lib_err "osd.0 died; see $DIR/out/osd.0.log"; return 1; }
		daemon_pid "$DIR" mon.a pid || { lib_err "mon.a died; see $DIR/out/mon.a.log"; return 1; }
		ceph_cli osd stat -f json 2>/dev/null | grep -q '"num_up_osds":1[,}]' && return 0
		sleep 0.1
	done
	lib_err "osd.0 not up within ${1}s; see $DIR/out/osd.0.log"
	return 1
}

write_conf() {
	local dir=$1 fsid=$2 port=$3
	cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$port,v1:127.0.0.1:$((port + 1))]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
keyring = $dir/keyring
run_dir = $dir/out
log_file = $dir/out/\$name.log
admin_socket = $dir/out/\$name.asok
pid_file = $dir/out/\$name.pid
crash_dir = $dir/out/crash
exec_dir = $dir/out
log_to_stderr = false
err_to_stderr = true
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_pool_default_pg_num = $PG_NUM
osd_pool_default_pgp_num = $PG_NUM
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_warn_on_pool_no_redundancy = false
mon_allow_pool_delete = true
mon_data_avail_warn = 2
mon_data_avail_crit = 1
osd_failsafe_full_ratio = .99
mon_osd_full_ratio = .99
mon_osd_nearfull_ratio = .98
mon_osd_backfillfull_ratio = .99
osd_client_watch_timeout = 5

[client]
log_file = $dir/out/\$name.\$pid.log
# several rados handles in one process would share one admin socket otherwise
admin_socket = $dir/out/\$name.\$pid.\$cctid.asok
# osd_client_watch_timeout is 5 s below; librados must ping watches more
# often than that or they expire and stall lock hand-overs.
objecter_tick_interval = 1

[mon]
mon_data = $dir/mon.\$id
paxos_propose_interval = 0.01
mon_cluster_log_file = $dir/out/cluster.log

[osd]
osd_data = $dir/osd.\$id
keyring = $dir/osd.\$id/keyring
osd_class_load_list = *
osd_class_default_list = *
osd_objectstore = bluestore
bluestore_block_size = 21474836480
bluestore_block_create = true
bluestore_block_db_create = false
bluestore_block_wal_create = false
bluestore_fsck_on_mkfs = false
bluestore_fsck_on_mount = false
bluestore_fsck_on_umount = false
osd_memory_target = 1073741824
bdev_enable_discard = false
bdev_aio_poll_ms = 10
EOF
}

cmd_start() {
	local pid port fsid uuid id t0 tries
	if daemon_pid "$DIR" mon.a pid && daemon_pid "$DIR" osd.0 pid; then
		lib_log "cluster in $DIR already running"
		print_env "$DIR"
		return 0
	fi
	cmd_stop >/dev/null 2>&1 || true
	rm -rf "$DIR/mon.a" "$DIR/osd.0" "$DIR/out" "$DIR/ceph.conf" "$DIR/keyring" \
		"$DIR/monmap" "$DIR/mon-seed.keyring" "$DIR"/pid.*
	mkdir -p "$DIR/mon.a" "$DIR/osd.0" "$DIR/out"
	t0=$(now_ms)
	fsid=$(uuidgen)
	uuid=$(uuidgen)
	ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool "$DIR/keyring" --gen-key -n client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
	ceph-authtool --create-keyring "$DIR/osd.0/keyring" --gen-key -n osd.0 \
		--cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *' >/dev/null
	# all keys are in the mon store from mkfs on: no bootstrap dance
	cp "$DIR/keyring" "$DIR/mon-seed.keyring"
	ceph-authtool "$DIR/mon-seed.keyring" --import-keyring "$DIR/osd.0/keyring" >/dev/null

	# ceph-mon retries a busy port for ~15 s and the CLI would then talk to a
	# foreign mon: pick a free pair, and try another if the mon still loses the race
	for tries in 1 2 3; do
		port=$(free_port_pair)
		write_conf "$DIR" "$fsid" "$port"
		rm -rf "$DIR/mon.a" "$DIR/monmap"
		mkdir -p "$DIR/mon.a"
		monmaptool --create --fsid "$fsid" \
			--addv a "[v2:127.0.0.1:$port,v1:127.0.0.1:$((port + 1))]" "$DIR/monmap" >/dev/null
		ceph-mon --mkfs -c "$DIR/ceph.conf" -i a --monmap "$DIR/monmap" \
			--keyring "$DIR/mon-seed.keyring" >"$DIR/out/mon.a.mkfs.log" 2>&1 ||
			{ lib_err "ceph-mon --mkfs failed: $(tail -3 "$DIR/out/mon.a.mkfs.log")"; return 1; }
		ceph-mon -f -c "$DIR/ceph.conf" -i a </dev/null >"$DIR/out/mon.a.stdout" 2>&1 &
		echo $! >"$DIR/pid.mon.a"
		if id=$(ceph_cli osd new "$uuid" 0 2>"$DIR/out/osd-new.err") && [ "$id" = 0 ]; then
			break
		fi
		lib_log "mon on port $port did not answer (attempt $tries): $(tail -1 "$DIR/out/osd-new.err")"
		cmd_stop >/dev/null 2>&1 || true
		id=
	done
	[ "${id:-}" = 0 ] || { lib_err "mon did not come up; see $DIR/out/mon.a.log"; return 1; }
	lib_log "mon.a up on 127.0.0.1:$port after $(($(now_ms) - t0)) ms"

	ceph-osd -c "$DIR/ceph.conf" -i 0 --mkfs --osd-uuid "$uuid" --keyring "$DIR/osd.0/keyring" \
		>"$DIR/out/osd.0.mkfs.log" 2>&1 ||
		{ lib_err "ceph-osd --mkfs failed; see $DIR/out/osd.0.mkfs.log"; return 1; }
	ceph-osd -f -c "$DIR/ceph.conf" -i 0 </dev/null >"$DIR/out/osd.0.stdout" 2>&1 &
	echo $! >"$DIR/pid.osd.0"
	# pool creation does not need the OSD up yet
	ceph_cli osd pool create rbd "$PG_NUM" "$PG_NUM" replicated >/dev/null 2>&1 ||
		{ lib_err "osd pool create rbd failed"; return 1; }
	ceph_cli osd set-require-min-compat-client mimic >/dev/null 2>&1 ||
		{ lib_err "set-require-min-compat-client mimic failed"; return 1; }
	# A client op issued while its PG has no up OSD waits for the objecter's
	# next tick (5 s): wait for the OSD to be up in the osdmap first.
	wait_osd_up "$START_TIMEOUT" || return 1
	lib_log "osd.0 up after $(($(now_ms) - t0)) ms"
	# blocks until the pool's PGs are active: the readiness barrier for clients
	timeout "$START_TIMEOUT" rbd -c "$DIR/ceph.conf" pool init rbd ||
		{ lib_err "rbd pool init failed or timed out"; return 1; }
	lib_log "cluster ready in $(($(now_ms) - t0)) ms"
	print_env "$DIR"
}

cmd_stop() {
	local name pid rc=0
	for name in osd.0 mon.a; do
		if daemon_pid "$DIR" "$name" pid; then
			pid_stop "$pid" 10 || rc=1
			lib_log "stopped $name (pid $pid)"
		fi
		rm -f "$DIR/pid.$name"
	done
	# 20 GiB sparse: only a few MB used, but nothing should read it any more
	rm -f "$DIR/osd.0/block"
	return $rc
}

[ $# -eq 2 ] || usage
DIR=$(realpath -m -- "$2")
case "$1" in
start)
	mkdir -p "$DIR"
	# on failure, leave nothing running (logs stay in DIR/out)
	trap 'rc=$?; [ $rc -eq 0 ] || cmd_stop >/dev/null 2>&1; exit $rc' EXIT
	cmd_start
	;;
stop) cmd_stop ;;
env) print_env "$DIR" ;;
*) usage ;;
esac
