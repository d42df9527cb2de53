#!/bin/bash
# `make soak` (issue 13, "long runs"): the thrash test, not part of `make
# check`. Four groups replicate continuously through the agent daemon: a raw
# file (sraw), a qcow2 file (sq), an RBD image on a throwaway Ceph (srbd),
# each with a static qcow2 boot disk and a domain XML so that a drill can
# boot them, and a live libvirt guest that writes (slive). Writers log the
# hash of every state their disk goes through (rbdwriter.py). Meanwhile, at
# random intervals (30-120 s, scaled by SOAK_SECS / 3600 with a floor of
# SOAK_MIN_GAP), the agent and/or the receiver is killed -9 and revived, or
# the link is cut through a blackholing proxy (blackhole.py) for a while;
# `nestor scrub` runs on every group at intervals. At the end the writers
# stop, every group makes a final quiet point, and:
# - every listed point of sraw/sq/srbd is a logged state of its writer, in
#   non-decreasing order, and the final point is the final state;
# - no partial point is listed (every disk file and the metadata exist,
#   qemu-img check is clean, the static boot disk equals its source);
# - the live group's final point equals the guest's disks;
# - no qemu-nbd of the run survives the agent's and the receiver's kills
#   (checked after each kill) nor the end;
# - a drill of the newest point of every group boots and the drilled guest
#   reads exactly the point's data disk;
# - scrub finds no mismatch (or "scrub not available" until `nestor scrub`
#   exists in the tree).
# A summary table ends the output; the exit status is non-zero on any
# failure. Logs: build/soak/ (kept). SOAK_SECS (3600), SOAK_SEED (random),
# SOAK_MIN_GAP (15 s); KEEP=1 keeps the scratch dir (store, sources) too.
. "$(dirname "$0")/lib.sh"
# shellcheck source=../lib/common.sh
. "$ROOT/tests/lib/common.sh" # wait_until, pid_gone
PY=/usr/bin/python3 # python3-rbd/rados live in the system Python
WRITER=$ROOT/tests/integration/rbdwriter.py
SECS=${SOAK_SECS:-3600}
SEED=${SOAK_SEED:-$((RANDOM * 32768 + RANDOM))}
MIN_GAP=${SOAK_MIN_GAP:-15}
OUT=$ROOT/build/soak
RANDOM=$SEED
FILE_GROUPS="sraw sq srbd"
GROUPS_ALL="$FILE_GROUPS slive"
DATA_MIB=32

rm -rf "$OUT"
mkdir -p "$OUT"
exec > >(tee "$OUT/soak.out") 2>&1
echo "soak: SOAK_SECS=$SECS SOAK_SEED=$SEED SOAK_MIN_GAP=$MIN_GAP scratch $T"

DAEMON='' PX_PID='' WPIDS=''
# save_logs: everything small of the run to build/soak/ (the scratch dir
# goes with cleanup).
save_logs() {
	local f
	for f in "$T"/*.log "$T"/*.json "$T"/*.conf "$T"/*.txt "$T"/*.states \
		"${VM_DIR:-$T/vm}"/*.console.log "$T"/ceph/out/*.log; do
		[ -f "$f" ] && cp "$f" "$OUT/"
	done
	[ -d "$T/lv" ] && find "$T/lv" -name '*.log' -exec cp {} "$OUT/" \; 2>/dev/null
	return 0
}
stop_all() {
	save_logs
	[ -n "$DAEMON" ] && kill -9 "$DAEMON" 2>/dev/null
	[ -n "$PX_PID" ] && kill "$PX_PID" 2>/dev/null
	for p in $WPIDS; do kill "$p" 2>/dev/null; done
	cleanup
}
trap stop_all EXIT

# ---- helpers ---------------------------------------------------------------
now_s() { date +%s; }
# rand A B: an integer in [A, B]
rand() { echo $(($1 + RANDOM % ($2 - $1 + 1))); }
# scaled A B: a random duration of [A, B] s scaled by SECS / 3600, at least
# MIN_GAP.
scaled() {
	local v
	v=$(($(rand "$1" "$2") * SECS / 3600))
	[ "$v" -ge "$MIN_GAP" ] || v=$MIN_GAP
	echo "$v"
}
# nbd_of_run: pids of the qemu-nbd processes whose command line names the
# scratch dir (the sources' and the store's) or the RBD pool.
nbd_of_run() {
	local p
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -q "qemu-nbd.*$T" && echo "${p#/proc/}"
	done
	return 0
}
no_nbd_left() { [ -z "$(nbd_of_run)" ]; }
# kids PID: its qemu-nbd children (the ones that must die with it)
kids() { pgrep -P "$1" -x qemu-nbd | tr '\n' ' '; }

# ---- scrub: `nestor scrub --config RECEIVER.conf GROUP`, exit 0 clean,
# 3 mismatches, 1 error (being written in parallel: absent here until merged).
SCRUB_RUNS=0 SCRUB_CLEAN=0
if "$NESTOR" scrub --help >/dev/null 2>&1; then SCRUB=available; else SCRUB="not available"; fi
echo "scrub: $SCRUB"
scrub_group() { # scrub_group GROUP LABEL
	local rc
	[ "$SCRUB" = available ] || return 0
	SCRUB_RUNS=$((SCRUB_RUNS + 1))
	"$NESTOR" scrub --config "$T/receiver.conf" "$1" >>"$T/scrub.log" 2>&1
	rc=$?
	case $rc in
	0) SCRUB_CLEAN=$((SCRUB_CLEAN + 1));;
	3) not_ok "$2: scrub of $1 found mismatches (scrub.log)";;
	*) not_ok "$2: scrub of $1 failed (exit $rc, scrub.log)";;
	esac
}
scrub_all() { local g; for g in $GROUPS_ALL; do scrub_group "$g" "$1"; done; }

# ---- set-up ----------------------------------------------------------------
start_ceph
rbd create --size ${DATA_MIB}M --image-feature layering,exclusive-lock,object-map,fast-diff \
	rbd/srbd-data || die "rbd create failed"
start_libvirtd
IMG=$("$LIB/vm-image.sh") || die "no test guest image"
make_pki
write_receiver_conf 8M
# Retention thins the store while it is thrashed: merges under kills too.
for g in $GROUPS_ALL; do
	printf '\n[group %s]\nretention = 3m:all,1d:1m\n' "$g" >> "$T/receiver.conf"
done
"$NESTOR" config check receiver "$T/receiver.conf" >/dev/null || die "bad receiver.conf"
start_receiver
PX_PORT=$(free_port)
python3 "$ROOT/tests/integration/blackhole.py" "$PX_PORT" "$PORT" 2>>"$T/proxy.log" &
PX_PID=$!
wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PX_PORT" 2>/dev/null || die "proxy did not start"

# Sources of the three disk groups: boot disk G-os.qcow2 (an overlay of the
# test guest, never written) and data disk G-data; their domain XML is the
# harness's (vm_define_start), captured then the VM is destroyed.
mkdir -p "$T/src"
S=$(realpath "$T/src")
for g in $FILE_GROUPS; do
	qemu-img create -q -f qcow2 -b "$IMG" -F qcow2 "$S/$g-os.qcow2" || die "cannot create $g-os"
done
truncate -s ${DATA_MIB}M "$S/sraw-data.raw"
qemu-img create -q -f qcow2 "$S/sq-data.qcow2" ${DATA_MIB}M || die "cannot create sq-data"
# capture_xml NAME DISK [DATA]: the harness's domain XML of a VM on these
# disks, to $S/NAME.xml; the VM runs only for a moment.
capture_xml() {
	vm_define_start "$@" >&2 || die "cannot define $1"
	vm_destroy "$1" >&2 || die "cannot destroy $1"
	cp "$VM_DIR/$1.xml" "$S/$1.xml" || die "no XML for $1"
}
capture_xml sraw "$S/sraw-os.qcow2" "$S/sraw-data.raw"
capture_xml sq "$S/sq-os.qcow2" "$S/sq-data.qcow2"
# The RBD data disk cannot be in a file-source point's domain XML (a
# network disk is refused by the drill's mapping, docs/drill.md): srbd's
# VM boots its os disk only.
capture_xml srbd "$S/srbd-os.qcow2"

# The live guest: boot overlay and a qcow2 data disk it writes to.
qemu-img create -q -f qcow2 -b "$IMG" -F qcow2 "$S/live-boot.qcow2" || die "overlay"
qemu-img create -q -f qcow2 "$S/live-data.qcow2" 64M || die "live data"
vm_define_start live1 "$S/live-boot.qcow2" "$S/live-data.qcow2" || die "cannot start the guest"
vm_wait_marker live1 NESTOR-BOOT-OK 240 || die "guest did not boot"
# The guest's writer: 64 KiB of fresh data at a random block of vdb twice a
# second, synced, until /tmp/stop exists.
vm_run live1 "(while [ ! -e /tmp/stop ]; do dd if=/dev/urandom of=/dev/vdb bs=64k count=1 seek=\$((RANDOM % 1000)) conv=notrunc,fsync 2>/dev/null; sleep 0.5; done; sync; touch /tmp/stopped) >/dev/null 2>&1 & echo started" 60 |
	grep -q started || die "guest writer did not start"

{
	agent_conf_head agent1
	printf 'receiver = 127.0.0.1:%s\nreceiver_timeout = 30s\nretry_max = 8s\ncompress_level = 1\n' "$PX_PORT"
	for g in $FILE_GROUPS; do
		printf '\n[group %s]\nrpo = 60s\nmin_interval = 5s\ndomain_xml = %s\n' "$g" "$S/$g.xml"
		[ "$g" = srbd ] && printf 'ceph_conf = %s\n' "$CEPH_CONF"
		printf '\n[disk %s os]\npath = %s\nformat = qcow2\n' "$g" "$S/$g-os.qcow2"
	done
	printf '\n[disk sraw data]\npath = %s\nformat = raw\n' "$S/sraw-data.raw"
	printf '\n[disk sq data]\npath = %s\nformat = qcow2\n' "$S/sq-data.qcow2"
	printf '\n[disk srbd data]\nrbd = rbd/srbd-data\n'
	printf '\n[group slive]\nrpo = 60s\nmin_interval = 5s\ndomains = live1\nlibvirt_uri = %s\n' "$VM_URI"
} > "$T/agent.conf.tmp"
# agent_conf_head wrote its own receiver line: the proxy's (the later one) wins
grep -v "^receiver = 127.0.0.1:$PORT\$" "$T/agent.conf.tmp" > "$T/agent.conf"
"$NESTOR" config check agent "$T/agent.conf" >/dev/null || die "bad agent.conf"

$PY "$WRITER" write-file raw "$S/sraw-data.raw" "$T/sraw.states" 1 4 2>>"$T/writer.log" &
WPIDS="$WPIDS $!"
$PY "$WRITER" write-file qcow2 "$S/sq-data.qcow2" "$T/sq.states" 2 2 2>>"$T/writer.log" &
WPIDS="$WPIDS $!"
$PY "$WRITER" write "$CEPH_CONF" rbd/srbd-data "$T/srbd.states" 3 4 2>>"$T/writer.log" &
WPIDS="$WPIDS $!"
wait_until 60 bash -c "[ -s '$T/sraw.states' ] && [ -s '$T/sq.states' ] && [ -s '$T/srbd.states' ]" ||
	{ cat "$T/writer.log"; die "writers did not start"; }

start_daemon() {
	"$NESTOR" agent --config "$T/agent.conf" >>"$T/daemon.log" 2>&1 &
	DAEMON=$!
}
start_daemon

# ---- the thrash --------------------------------------------------------------
K_AGENT=0 K_RX=0 K_BOTH=0 CUTS=0 ORPHAN_CHECKS=0 DIED=0 SCRUB_ROUNDS=0
# check_kids LABEL PIDS: the killed process's qemu-nbd children die with it
check_kids() {
	local k
	for k in $2; do
		ORPHAN_CHECKS=$((ORPHAN_CHECKS + 1))
		wait_until 10 pid_gone "$k" || not_ok "$1: qemu-nbd $k outlived its parent"
	done
}
kill_agent() {
	local k
	k=$(kids "$DAEMON")
	kill -9 "$DAEMON"; wait "$DAEMON" 2>/dev/null
	check_kids "$1 (agent, children: ${k:-none})" "$k"
}
kill_receiver() {
	local k
	k=$(kids "$RX_PID")
	kill9_receiver
	check_kids "$1 (receiver, children: ${k:-none})" "$k"
}
# alive LABEL: a daemon or receiver that died by itself is a failure; revive it
alive() {
	if ! kill -0 "$DAEMON" 2>/dev/null; then
		not_ok "$1: the agent daemon died by itself (daemon.log)"; DIED=$((DIED + 1)); start_daemon
	fi
	if ! kill -0 "$RX_PID" 2>/dev/null; then
		not_ok "$1: the receiver died by itself (receiver.log)"; DIED=$((DIED + 1)); start_receiver
	fi
}
T0=$(now_s)
NEXT=$((T0 + $(scaled 30 120)))
NEXT_SCRUB=$((T0 + SECS / 4))
round=0
while [ $(($(now_s) - T0)) -lt "$SECS" ]; do
	sleep 1
	el=$(($(now_s) - T0))
	alive "${el} s"
	if [ "$(now_s)" -ge "$NEXT_SCRUB" ]; then
		SCRUB_ROUNDS=$((SCRUB_ROUNDS + 1))
		scrub_all "${el} s"
		NEXT_SCRUB=$(($(now_s) + SECS / 4))
	fi
	[ "$(now_s)" -ge "$NEXT" ] || continue
	round=$((round + 1))
	case $((RANDOM % 4)) in
	0)	echo "$el s: round $round: kill -9 the agent"
		kill_agent "round $round"; K_AGENT=$((K_AGENT + 1))
		sleep "$(rand 1 3)"; start_daemon;;
	1)	echo "$el s: round $round: kill -9 the receiver"
		kill_receiver "round $round"; K_RX=$((K_RX + 1))
		sleep "$(rand 1 5)"; start_receiver;;
	2)	echo "$el s: round $round: kill -9 both"
		kill_agent "round $round"; kill_receiver "round $round"; K_BOTH=$((K_BOTH + 1))
		sleep "$(rand 1 5)"; start_receiver; start_daemon;;
	3)	d=$(scaled 10 60)
		echo "$el s: round $round: link cut for $d s"
		kill -USR1 "$PX_PID"; CUTS=$((CUTS + 1))
		sleep "$d"; kill -USR2 "$PX_PID";;
	esac
	for g in $GROUPS_ALL; do printf '%s %s; ' "$g" "$(last_point "$g")"; done; echo
	NEXT=$(($(now_s) + $(scaled 30 120)))
done
alive "end of the thrash"

# ---- the end: writers stop, a final quiet point per group --------------------
for p in $WPIDS; do kill "$p"; wait "$p"; done
WPIDS=
vm_run live1 "touch /tmp/stop; n=0; while [ ! -e /tmp/stopped ] && [ \$n -lt 100 ]; do sleep 0.1; n=\$((n+1)); done; sync; ls /tmp/stopped" 60 |
	grep -q /tmp/stopped || not_ok "the guest's writer did not stop"
QUIET_NS=$(date +%s%N)
quiet_point() { # quiet_point GROUP: a point snapshotted after the writers stopped
	[ "$(points_json "$1" | jq --argjson q "$QUIET_NS" '[.points[] | select(.time_ns > $q)] | length')" -ge 1 ]
}
for g in $GROUPS_ALL; do
	check "$g: a final quiet point within 300 s" wait_until 300 quiet_point "$g"
done
kill -TERM "$DAEMON"
check "the agent daemon stops on SIGTERM" wait_until 60 pid_gone "$DAEMON"
wait "$DAEMON"; rc=$?
DAEMON=
check_eq "the agent daemon's exit code" 0 "$rc"
# The receiver stops before the store is read: retention runs after a
# commit is acknowledged (on its worker pool) and may still be removing
# points; scrub and drills work on the store without it.
stop_receiver
scrub_all "end"

# ---- every listed point: complete, and the state it claims existed ----------
declare -A NPTS LASTID NPIT
for g in $GROUPS_ALL; do
	points_json "$g" > "$T/points-$g.json" || not_ok "$g: nestor points failed"
	NPTS[$g]=$(jq '.points | length' "$T/points-$g.json")
	LASTID[$g]=$(jq '.points[-1].id // 0' "$T/points-$g.json")
	check "$g: every point says which instant it holds" \
		jq -e '[.points[].consistency] | all(. == "crash-consistent" or . == "app-consistent"
			or . == "not-point-in-time")' "$T/points-$g.json"
	check "$g: the final quiet point is crash-consistent" \
		[ "$(jq -r '.points[-1].consistency' "$T/points-$g.json")" = crash-consistent ]
done
# An rbd snapshot is one instant (docs/consistency.md)
check "srbd: no point is not-point-in-time" \
	jq -e '[.points[].consistency] | all(. == "crash-consistent")' "$T/points-srbd.json"
# complete GROUP DISKS...: every listed point has exactly DISKS, each file is
# there and passes qemu-img check, its metadata is there.
complete() {
	local g=$1 want id d bad=0; shift
	want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	for id in $(jq -r '.points[].id' "$T/points-$g.json"); do
		[ "$(jq -r --argjson i "$id" '.points[] | select(.id == $i) | [.disks[].name] | sort | join(" ")' \
			"$T/points-$g.json") " = "$want" ] || { echo "$g point $id: disks differ"; bad=1; }
		[ -s "$T/store/$g/meta/$id.bin" ] || { echo "$g point $id: no metadata"; bad=1; }
		for d in "$@"; do
			qemu-img check -q "$(point_file "$g" "$d" "$id")" >/dev/null 2>&1 ||
				{ echo "$g point $id disk $d: missing or qemu-img check failed"; bad=1; }
		done
	done
	return $bad
}
# Stuck groups would show here first: one point per minute at the least
# (min_interval is 5 s, the RPO target 60 s).
for g in $GROUPS_ALL; do
	check "$g: kept replicating (newest point ${LASTID[$g]} >= $((SECS / 60)))" \
		[ "${LASTID[$g]}" -ge $((SECS / 60)) ]
done
for g in $FILE_GROUPS; do
	check "$g: all ${NPTS[$g]} listed points complete" complete "$g" os data
	bad=0
	for id in $(jq -r '.points[].id' "$T/points-$g.json"); do
		same_image "$S/$g-os.qcow2" qcow2 "$g" os "$id" || { echo "$g point $id: os differs"; bad=1; }
	done
	check "$g: the boot disk of every point equals its source" [ $bad = 0 ]
	# A point that says not-point-in-time (docs/consistency.md: a raw file
	# written while it was read) claims no state; every other one must be
	# a logged state, in order.
	files=()
	for id in $(jq -r '.points[] | select(.consistency != "not-point-in-time") | .id' \
			"$T/points-$g.json" | sort -n); do
		files+=("$(point_file "$g" data "$id")")
	done
	NPIT[$g]=$((NPTS[$g] - ${#files[@]}))
	out=$($PY "$WRITER" verify "$T/$g.states" "${files[@]}"); rc=$?
	echo "$g: $out"
	check "$g: all ${#files[@]} points that claim an instant are logged states, in order (${NPIT[$g]} not-point-in-time)" \
		[ $rc = 0 ]
	last=$(tail -1 "$T/$g.states" | cut -d' ' -f1)
	check_eq "$g: the final point is the final state" "$last" "$(echo "$out" | tail -1 | awk '{print $NF}')"
done
check "slive: all ${NPTS[slive]} listed points complete" complete slive live1.vda live1.vdb
check "slive: the final point's data disk equals the guest's" qemu-img compare -U -q -f qcow2 -F qcow2 \
	"$S/live-data.qcow2" "$(point_file slive live1.vdb "${LASTID[slive]}")"
check "slive: the final point's boot disk equals the guest's" qemu-img compare -U -q -f qcow2 -F qcow2 \
	"$S/live-boot.qcow2" "$(point_file slive live1.vda "${LASTID[slive]}")"
check "no agent-side child record left" [ -z "$(ls -A "$T/agent-state/.children" 2>/dev/null)" ]

# ---- a drill of every group's newest point ----------------------------------
vm_destroy live1 >&2 # the drills need the CPU more
# point_md5 GROUP DISK ID: md5 of the point's disk as the guest reads it
point_md5() {
	rm -f "$T/export.raw"
	qemu-img convert -f qcow2 -O raw "$(point_file "$1" "$2" "$3")" "$T/export.raw" &&
		md5sum < "$T/export.raw" | cut -d' ' -f1
	rm -f "$T/export.raw"
}
DRILLS_OK=0
for g in $GROUPS_ALL; do
	case $g in srbd) dev=vda disk=os;; slive) dev=vdb disk=live1.vdb;; *) dev=vdb disk=data;; esac
	want=$(point_md5 "$g" "$disk" "${LASTID[$g]}")
	"$NESTOR" drill --config "$T/receiver.conf" "$g" --json --timeout 240 \
		--check-cmd "md5sum /dev/$dev" >"$T/drill-$g.json" 2>"$T/drill-$g.log"
	rc=$?
	jq -c '{drill, point, verdict, vms: [.vms[] | {vm, rto_s, result}]}' "$T/drill-$g.json"
	before=$FAIL
	check "$g: drill of point ${LASTID[$g]}: exit 0" [ $rc = 0 ]
	check "$g: drill verdict pass" [ "$(jq -r .verdict "$T/drill-$g.json")" = pass ]
	check "$g: drill used the newest point" [ "$(jq .point "$T/drill-$g.json")" = "${LASTID[$g]}" ]
	check "$g: the drilled guest reads the point's $disk ($want)" \
		grep -q "^${want:-none} " <<<"$(jq -r '.vms[0].check.output' "$T/drill-$g.json")"
	[ "$FAIL" = "$before" ] && DRILLS_OK=$((DRILLS_OK + 1))
done

# ---- no orphan: both sides stopped, nothing of the run's qemu-nbd is left ---
check "no qemu-nbd of the run is left" wait_until 10 no_nbd_left
check "no receiver-side child record left" [ -z "$(ls -A "$T/store/.children" 2>/dev/null)" ]
grep -q "still locked" "$T/writer.log" && not_ok "an image stayed locked 90 s (writer.log)"

# ---- summary -----------------------------------------------------------------
{
	echo
	echo "soak summary: ${SECS} s, seed $SEED"
	printf '  %-22s %s\n' "agent kills" "$K_AGENT" "receiver kills" "$K_RX" "kills of both" "$K_BOTH" \
		"link cuts" "$CUTS" "orphan checks" "$ORPHAN_CHECKS" "died by themselves" "$DIED" \
		"scrub" "$SCRUB: $SCRUB_CLEAN clean of $SCRUB_RUNS runs in $((SCRUB_ROUNDS + 1)) rounds" \
		"drills passed" "$DRILLS_OK of 4"
	printf '  %-8s %14s %14s %18s %10s\n' group "newest point" "points listed" "not-point-in-time" \
		"states"
	for g in $GROUPS_ALL; do
		printf '  %-8s %14s %14s %18s %10s\n' "$g" "${LASTID[$g]}" "${NPTS[$g]}" "${NPIT[$g]:--}" \
			"$([ -f "$T/$g.states" ] && wc -l < "$T/$g.states" || echo -)"
	done
	printf '  %-8s %14s\n' group "failed cycles"
	for g in $GROUPS_ALL; do
		printf '  %-8s %14s\n' "$g" "$(grep -c "group $g: cycle failed" "$T/daemon.log")"
	done
	# What went wrong along the way (not failures by themselves: the
	# checks above judge), each kind once, numbers and paths blanked.
	echo "  errors logged (count, kind):"
	grep -h " error: " "$T/daemon.log" "$T/receiver.log" 2>/dev/null |
		sed -E 's/^[0-9:.]+ //; s#/[^ ]*#PATH#g; s/[0-9]+/N/g' | sort | uniq -c | sort -rn |
		head -25 | sed 's/^/    /'
	echo "  checks: $PASS passed, $FAIL failed; logs in build/soak/"
} | tee "$T/summary.txt"
finish
