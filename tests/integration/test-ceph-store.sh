#!/bin/bash
# RBD -> Ceph replica store (store_backend = ceph): seed plus three
# incrementals with random writes, discards and zeroed ranges; each point is
# an RBD snapshot byte-identical to the source image at that cycle, discarded
# ranges read as zeros, an incremental sends about what changed. A point
# interrupted by kill -9 resumes; one abandoned for a different point is
# rolled back so the next point is still exact; a stale image lock is broken
# at once. Retention removes snapshots without changing the kept points.
. "$(dirname "$0")/lib.sh"
W=$T
start_ceph

make_pki
write_receiver_conf 4M
use_ceph_store replicas
"$NESTOR" config check receiver "$T/receiver.conf" >/dev/null || die "bad receiver config"
start_receiver
rbd create --size 256M --image-feature layering,exclusive-lock,object-map,fast-diff rbd/vm1 \
	|| die "rbd create failed"
COMPRESS=0 write_agent_conf "$T/agent.conf" agent1 cs vda=rbd:rbd/vm1

qio() { qemu-io -f raw "$@" "rbd:rbd/vm1:conf=$CEPH_CONF" >/dev/null; }
# rbd_write OFFSET_KIB LEN_KIB: a fresh byte pattern
rbd_write() { qio -c "write -P $((RANDOM % 250 + 1)) $(($1 * 1024)) $(($2 * 1024))"; }
# same_point PT DESCRIPTION: the point's snapshot equals the source image now
same_point() {
	rbd export rbd/vm1 "$W/src.raw" >/dev/null 2>&1 || die "rbd export of the source failed"
	rbd export "replicas/cs+vda@p$1" "$W/pt.raw" >/dev/null 2>&1 \
		|| { not_ok "$2: no snapshot p$1"; return; }
	check "$2: point $1 identical to the source" cmp -s "$W/src.raw" "$W/pt.raw"
	rm -f "$W/src.raw" "$W/pt.raw"
}

rbd_write 0 4096 || die "write failed"
rbd_write 65536 2048
declare -A SUM
for cycle in 0 1 2 3; do
	changed=0
	if [ $cycle -gt 0 ]; then
		for i in 1 2 3 4 5 6 7 8; do
			rbd_write $(( (cycle * 7919 + i * 4099) % 200000 / 64 * 64 )) 64
			changed=$((changed + 65536))
		done
		qio -c "discard 0 4M" -c "write -z 65M 1M"
	fi
	cycle_once "cycle $cycle"
	pt=$PT
	same_point "$pt" "cycle $cycle"
	SUM[$pt]=$(rbd export "replicas/cs+vda@p$pt" - 2>/dev/null | md5sum)
	[ $cycle -eq 1 ] && sleep 2 # points 1 and 2 apart for the retention check
	if [ $cycle -gt 0 ]; then
		check_sent_incremental "cycle $cycle" "$changed"
		check "cycle $cycle: discarded range reads zeros" \
			cmp -s -n 4194304 <(rbd export "replicas/cs+vda@p$pt" - 2>/dev/null) /dev/zero
	fi
done
check "four points listed" [ "$(npoints cs)" -eq 4 ]
check "one snapshot per point" \
	[ "$(rbd snap ls replicas/cs+vda --format json | jq length)" -eq 4 ]

# wait_pending: until the receiver holds durable data of a pending point
wait_pending() {
	local i d
	for i in $(seq 1 300); do
		d=$(jq '[.disks[]?.durable_offset // 0] | add // 0' "$T/store/cs/pending.json" 2>/dev/null)
		[ "${d:-0}" -gt 0 ] && return 0
		sleep 0.05
	done
	return 1
}
# 16 MiB/s: the kills land in the middle of the transfer
sed 's/^\[group cs\]$/&\nbandwidth = 16M/' "$T/agent.conf" > "$T/slow.conf"

# The receiver dies (kill -9) in the middle of a 64 MiB point. The agent
# gives that attempt up, the source zeroes the range again, and the next
# point is a different one on the same base: the receiver must roll the
# head back (after the dead receiver's lock expires), or the new point
# would keep the abandoned point's data.
qio -c "write -P 7 96M 64M"
"$NESTOR" agent --config "$T/slow.conf" --once --json --no-progress \
	>/dev/null 2>>"$T/agent.log" &
AG=$!
wait_pending || die "no pending point appeared"
kill9_receiver
wait $AG
qio -c "write -z 96M 64M"
start_receiver
t0=$SECONDS
res=$(agent_once "$T/agent.conf") || { tail -n 20 "$T/agent.log" "$T/receiver.log"; die "run after a receiver crash failed"; }
echo "after a receiver crash: $res"
pt=$(echo "$res" | jq .point)
same_point "$pt" "point after a receiver crash"
check "the receiver rolled the head back" grep -q "rolling the head back" "$T/receiver.log"
# Whether the dead receiver's lock was still there (broken) or had expired
# depends on timing; either way the run above completed.
echo "# after the crash: $(grep -c 'breaking the lock of' "$T/receiver.log") lock(s) broken, $((SECONDS - t0)) s"
check "the abandoned data is gone (96M..160M reads zeros)" \
	cmp -s -n $((64 * 1048576)) <(rbd export "replicas/cs+vda@p$pt" - 2>/dev/null | tail -c +$((96 * 1048576 + 1))) /dev/zero

# The agent dies (kill -9) in the middle of a point: the next run resumes
# it from the receiver's durable progress (the head kept its data).
qio -c "write -P 9 200M 40M"
"$NESTOR" agent --config "$T/slow.conf" --once --json --no-progress \
	>/dev/null 2>>"$T/agent.log" &
AG=$!
wait_pending || die "no pending point appeared"
kill -9 $AG; wait $AG 2>/dev/null
res=$(agent_once "$T/agent.conf") || { tail -n 20 "$T/agent.log" "$T/receiver.log"; die "resumed run failed"; }
echo "resumed: $res"
pt=$(echo "$res" | jq .point)
same_point "$pt" "resumed point"
check "the run resumed the interrupted point" [ "$(echo "$res" | jq .resumed)" = true ]
check "the resumed run sent less than the 40 MiB written" \
	[ "$(echo "$res" | jq .bytes_data)" -lt $((40 * 1048576)) ]
resumed_pt=$pt

# The source's base snapshot deleted by hand: the next cycle resyncs by
# block hashes read from the newest point's RBD snapshot and sends only the
# differing blocks.
rbd_write 131072 64
for s in $(rbd snap ls rbd/vm1 --format json | jq -r '.[].name'); do
	rbd snap rm "rbd/vm1@$s" >/dev/null 2>&1
done
res=$(agent_once "$T/agent.conf") || { tail -n 20 "$T/agent.log" "$T/receiver.log"; die "cycle after a lost base failed"; }
echo "lost base: $res"
pt=$(echo "$res" | jq .point)
check "lost base snapshot: resync" [ "$(echo "$res" | jq .resync)" = true ]
same_point "$pt" "lost base snapshot"
check "lost base snapshot: sent $(echo "$res" | jq .bytes_data) bytes, about the 64 KiB written" \
	[ "$(echo "$res" | jq .bytes_data)" -le $((65536 * 12 / 10)) ]

# A receiver that died holding an image's exclusive lock, simulated by a
# client that takes the lock and keeps it: the next point breaks the stale
# lock at once (the owner is blocklisted) instead of waiting for the OSDs
# to time its watch out.
/usr/bin/python3 - "$CEPH_CONF" "$W/locked" <<'PY' 2>/dev/null &
import rados, rbd, sys, time
with rados.Rados(conffile=sys.argv[1]) as c, c.open_ioctx("replicas") as io, \
        rbd.Image(io, "cs+vda") as img:
    img.lock_acquire(rbd.RBD_LOCK_MODE_EXCLUSIVE)
    open(sys.argv[2], "w").close()
    time.sleep(90)
PY
HOLDER=$!
for i in $(seq 1 100); do [ -e "$W/locked" ] && break; sleep 0.1; done
[ -e "$W/locked" ] || die "the lock holder did not start"
rbd_write 2048 64
t0=$SECONDS
res=$(agent_once "$T/agent.conf") || { tail -n 20 "$T/agent.log" "$T/receiver.log"; die "cycle against a stale lock failed"; }
kill $HOLDER 2>/dev/null; wait $HOLDER 2>/dev/null
echo "stale lock: $res"
check "stale lock broken by the receiver" grep -q "breaking the lock of" "$T/receiver.log"
check "stale lock: the cycle took $((SECONDS - t0)) s, no watch timeout wait" [ $((SECONDS - t0)) -lt 20 ]
same_point "$(echo "$res" | jq .point)" "point after a stale lock"

# Retention on the ceph store (receiver times, issue 12 section 1): a policy
# that keeps only points younger than
# the third one removes the two oldest; their snapshots go, the kept points
# keep their content.
first=$(points_json cs | jq '.points[0].id')
second=$(points_json cs | jq '.points[1].id')
third=$(points_json cs | jq '.points[2].id')
age=$(points_json cs | jq '((.points[-1].received_ns - .points[2].received_ns) / 1e9 | floor) + 1')
printf '\n[group cs]\nretention = %ss:all\n' "$age" >> "$T/receiver.conf"
"$NESTOR" prune --config "$T/receiver.conf" cs >"$W/prune.out" 2>&1 || cat "$W/prune.out"
check "prune removed points $first and $second" \
	[ "$(points_json cs | jq '.points[0].id')" = "$third" ]
check "prune removed their snapshots" \
	bash -c "! rbd snap ls replicas/cs+vda | grep -qw 'p$first' && ! rbd snap ls replicas/cs+vda | grep -qw 'p$second'"
check "kept point $third unchanged" \
	[ "$(rbd export "replicas/cs+vda@p$third" - 2>/dev/null | md5sum)" = "${SUM[$third]}" ]

# Issue 13, item 3: checksums live under the store root on ceph too. Every
# kept point (the one after the receiver crash and the resumed one included)
# scrubs clean through its snapshot; the pruned points' checksums are gone.
out=$("$NESTOR" scrub --config "$T/receiver.conf" cs --json 2>>"$T/scrub.log"); rc=$?
echo "$out" | jq -c '.groups[0].points[] | {point, verdict, checked_bytes}'
check "ceph store: scrub of every point exits 0" [ "$rc" = 0 ]
check "ceph store: every point ok" \
	[ "$(jq '[.groups[0].points[] | select(.verdict == "ok")] | length' <<<"$out")" = "$(npoints cs)" ]
check "ceph store: the resumed point's checksums cover the 40 MiB written, once" \
	[ "$(jq ".groups[0].points[] | select(.point == $resumed_pt) | .checked_bytes" <<<"$out")" = $((40 * 1048576)) ]
check "ceph store: the pruned points' checksums are gone" \
	bash -c "[ ! -e '$T/store/cs/sums/$first' ] && [ ! -e '$T/store/cs/sums/$second' ]"
stop_receiver
finish
