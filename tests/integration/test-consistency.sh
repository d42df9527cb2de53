#!/bin/bash
# Point consistency (issue 13 item 4, acceptance 4): a raw file written at
# 25 MiB/s during its seed is listed as not point-in-time (points, status,
# metadata; the agent warns naming the file) and the copy indeed matches no
# single state of the file; the next quiet incremental is crash-consistent
# and equal to the source. With consistency_rereads the agent re-reads at
# once. On a reflink filesystem (XFS on a loop device made here), snapshot =
# reflink gives a crash-consistent point equal to exactly one state the
# file went through, with the same writer running, and leaves no copy
# behind, even when the agent is killed. A loop device written during its
# seed is not point-in-time too (its write counters), and crash-consistent
# and equal once quiet. tornwriter.py stamps every block
# with the write that filled it, so "one state" can be checked (and fails
# for the torn seed). The libvirt levels are asserted in test-live.sh.
. "$(dirname "$0")/lib.sh"
W=$ROOT/tests/integration/tornwriter.py
WPID= LOOP= LOOPD=

teardown() {
	[ -n "$WPID" ] && kill -TERM "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null
	[ -n "$LOOPD" ] && losetup -d "$LOOPD" 2>/dev/null
	if [ -n "$LOOP" ]; then
		umount "$T/xfs" 2>/dev/null
		losetup -d "$LOOP" 2>/dev/null
	fi
	cleanup
}
trap teardown EXIT

# group_conf FILE GROUP IMAGE SNAPSHOT REREADS: one raw disk d, 32 MiB/s
# without compression (the seed of 256 MiB lasts about 8 s).
group_conf() {
	COMPRESS=0 write_agent_conf "$1" agent1 "$2" d="$3:raw"
	sed -i "s/^\[group $2\]\$/[group $2]\nbandwidth = 32M\nsnapshot = $4\nconsistency_rereads = $5/" "$1"
	"$NESTOR" config check agent "$1" >/dev/null || die "bad config $1"
}
# writer_start IMAGE LOG: 25 MiB/s of stamped writes, under way (100 logged
# writes) when it returns.
writer_start() {
	local i
	python3 "$W" run "$1" 25 "$2" & WPID=$!
	for i in $(seq 1 600); do
		[ "$(wc -l < "$2" 2>/dev/null || echo 0)" -ge 100 ] && return 0
		sleep 0.05
	done
	die "the writer did not start"
}
writer_stop() { kill -TERM "$WPID"; wait "$WPID"; WPID=; }
level() { points_json "$1" | jq -r ".points[] | select(.id == $2) | .consistency"; }
status_level() {
	"$NESTOR" status --config "$T/receiver.conf" --json |
		jq -r ".groups[] | select(.group == \"$1\") | .last_point_consistency"
}
# restored GROUP POINT OUT: the point's disk d as a raw file
restored() { qemu-img convert -U -f qcow2 -O raw "$(point_file "$1" d "$2")" "$3"; }

pki_and_receiver

# ---- (a) torn seed, then a quiet incremental --------------------------------------
python3 "$W" init "$T/a.raw" 256 || die "cannot make the source"
group_conf "$T/agent.conf" ga "$T/a.raw" read 0
writer_start "$T/a.raw" "$T/a.log"
cycle_once "seed while written"
writer_stop
check_eq "torn seed: the agent says so" not-point-in-time "$(jq -r .consistency <<<"$RES")"
check_eq "torn seed: listed not-point-in-time" not-point-in-time "$(level ga "$PT")"
check "torn seed: the points table shows it" bash -c \
	"'$NESTOR' points --config '$T/receiver.conf' ga | grep -q '^$PT .*not-point-in-time'"
check_eq "torn seed: status --json" not-point-in-time "$(status_level ga)"
check "torn seed: status table" bash -c \
	"'$NESTOR' status --config '$T/receiver.conf' | grep -q '^ga .*not-point-in-time'"
check_eq "torn seed: point metadata" not-point-in-time "$(jq -r .consistency "$T/store/ga/meta/$PT.bin")"
check "torn seed: the agent warned, naming the file" \
	grep -q "$T/a.raw was written while it was read: this point is not point-in-time" "$T/agent.log"
restored ga "$PT" "$T/a-$PT.raw"
check "torn seed: the copy matches no single state of the file" \
	bash -c "! python3 '$W' check '$T/a-$PT.raw' '$T/a.log'"
cycle_once "quiet incremental"
check "quiet incremental: incremental" [ "$(jq .incremental <<<"$RES")" = true ]
check_eq "quiet incremental: crash-consistent" crash-consistent "$(level ga "$PT")"
check_eq "quiet incremental: status --json" crash-consistent "$(status_level ga)"
check "quiet incremental: equal to the source" same_image "$T/a.raw" raw ga d "$PT"
check "torn seed: still listed not-point-in-time" [ "$(level ga 1)" = not-point-in-time ]

# ---- (a') re-read passes: the writer stops during the seed -------------------------
python3 "$W" init "$T/r.raw" 128 || die "cannot make the source"
group_conf "$T/agent-r.conf" gr "$T/r.raw" read 2
# The writer is under way before the agent starts and stops once the
# receiver has begun the seed (so after the snapshot's first marks): written
# while read, whatever the machine's load; the seed of 128 MiB at 32 MiB/s
# then reads on for seconds, and the re-read after it is quiet. (A writer
# timed to 1.5 s from its start could end before a loaded agent read.)
writer_start "$T/r.raw" "$T/r.log"
agent_once "$T/agent-r.conf" > "$T/r.json" & apid=$!
for _ in $(seq 1 1200); do
	[ -f "$T/store/gr/pending.json" ] && break
	kill -0 "$apid" 2>/dev/null || break
	sleep 0.05
done
check "re-read: the seed began while written" [ -f "$T/store/gr/pending.json" ]
writer_stop
wait "$apid" || { tail -20 "$T/agent.log"; die "re-read cycle failed"; }
res=$(cat "$T/r.json")
echo "re-read: $res"
check_eq "re-read: two points, torn then re-read" "not-point-in-time crash-consistent" \
	"$(jq -r .consistency <<<"$res" | xargs)"
check "re-read: the second is incremental" [ "$(jq -s '.[1].incremental' <<<"$res")" = true ]
check_eq "re-read: listed as such" "not-point-in-time crash-consistent" \
	"$(points_json gr | jq -r '.points[].consistency' | xargs)"
check "re-read: equal to the source" same_image "$T/r.raw" raw gr d "$(last_point gr)"
check "re-read: the agent said it re-reads" grep -q "group gr: point 1 is not point-in-time: re-reading" "$T/agent.log"

# ---- (b) reflink on XFS ----------------------------------------------------------
truncate -s 1G "$T/xfs.img"
mkfs.xfs -q -m reflink=1 "$T/xfs.img" || die "mkfs.xfs -m reflink=1 failed"
LOOP=$(losetup -f --show "$T/xfs.img") || die "no loop device"
mkdir -p "$T/xfs"
mount "$LOOP" "$T/xfs" || die "cannot mount the XFS image"
python3 "$W" init "$T/xfs/b.raw" 256 || die "cannot make the source"
group_conf "$T/agent-b.conf" gb "$T/xfs/b.raw" reflink 0
writer_start "$T/xfs/b.raw" "$T/b.log"
RES=$(agent_once "$T/agent-b.conf") || { tail -20 "$T/agent.log"; die "reflink seed failed"; }
echo "reflink seed: $RES"
PT=$(jq .point <<<"$RES")
# Killed while reading its copy: the copy is an unnamed file, gone with it.
"$NESTOR" agent --config "$T/agent-b.conf" --once --json --no-progress >/dev/null 2>>"$T/agent.log" &
kpid=$!
sleep 2
check "reflink: the copy holds no name while read" [ "$(ls -A "$T/xfs")" = b.raw ]
kill -9 "$kpid"; wait "$kpid" 2>/dev/null
writer_stop
check_eq "reflink: crash-consistent while written" crash-consistent "$(level gb "$PT")"
check "reflink: no warning" bash -c "! grep -q 'b.raw was written while it was read' '$T/agent.log'"
restored gb "$PT" "$T/b-$PT.raw"
check "reflink: the point is exactly one state of the file, taken while written" \
	python3 "$W" check "$T/b-$PT.raw" "$T/b.log" 100
check "reflink: nothing left in the filesystem after a kill" [ "$(ls -A "$T/xfs")" = b.raw ]
RES=$(agent_once "$T/agent-b.conf") || { tail -20 "$T/agent.log"; die "quiet reflink cycle failed"; }
PT=$(jq .point <<<"$RES")
check_eq "reflink, quiet: crash-consistent" crash-consistent "$(level gb "$PT")"
check "reflink, quiet: equal to the source" same_image "$T/xfs/b.raw" raw gb d "$PT"

# ---- (c) a block device (loop) written during its seed ---------------------------
truncate -s 128M "$T/dev.img"
head -c 96M /dev/urandom | dd of="$T/dev.img" conv=notrunc status=none
LOOPD=$(losetup -f --show "$T/dev.img") || die "no loop device"
group_conf "$T/agent-d.conf" gd "$LOOPD" auto 0
# direct writes: counted by the device as they land
(while :; do
	dd if=/dev/urandom of="$LOOPD" bs=64k count=8 seek=$((RANDOM % 2000)) oflag=direct \
		conv=notrunc status=none
	sleep 0.02
done) &
WPID=$!
RES=$(agent_once "$T/agent-d.conf") || { tail -20 "$T/agent.log"; die "device seed failed"; }
writer_stop
PT=$(jq .point <<<"$RES")
check_eq "device written during its seed: not-point-in-time" not-point-in-time "$(level gd "$PT")"
check "device: the agent warned, naming it" grep -q "$LOOPD was written while it was read" "$T/agent.log"
RES=$(agent_once "$T/agent-d.conf") || { tail -20 "$T/agent.log"; die "quiet device cycle failed"; }
PT=$(jq .point <<<"$RES")
check_eq "device, quiet: crash-consistent" crash-consistent "$(level gd "$PT")"
check "device, quiet: equal to the device" same_image "$LOOPD" raw gd d "$PT"
losetup -d "$LOOPD"
LOOPD=

# ---- (d) a hostile agent's claims ------------------------------------------------
# The receiver records the level the agent claims (it cannot check it), but
# only one of the three names: anything else is unknown, and the point is
# committed all the same.
RC="python3 $ROOT/tests/integration/rawclient.py --port $PORT --ca $T/pki/ca.crt --cert $T/pki/agent1.crt --key $T/pki/agent1.key --group gh"
python3 -c 'import sys; sys.stdout.write("{\"consistency\":\"" + "a" * 900000 + "\"}")' > "$T/bigmeta.json"
check "hostile: a claimed level is committed" $RC --meta '{"consistency":"app-consistent"}' point
check "hostile: an unknown name is committed" $RC --meta '{"consistency":"perfectly-consistent"}' point
check "hostile: a 900 KB name is committed" $RC --meta-file "$T/bigmeta.json" point
check "hostile: a number is committed" $RC --meta '{"consistency":3}' point
check "hostile: metadata that is not JSON is committed" $RC --meta 'consistency=app' point
check_eq "hostile: recorded as claimed, or unknown" "app-consistent unknown unknown unknown unknown" \
	"$(points_json gh | jq -r '.points[].consistency' | xargs)"
# The catalog is its snapshot and its journal (issue 17): neither keeps it.
check "hostile: the catalog keeps no unknown name" bash -c "! cat '$T/store/gh/catalog.json' '$T/store/gh/catalog.log' 2>/dev/null | grep -q 'perfectly'"
check "hostile: the journal holds the points" grep -q '"op":"commit"' "$T/store/gh/catalog.log"

stop_receiver
finish
