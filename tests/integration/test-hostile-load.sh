#!/bin/bash
# Issue 12, acceptance 3: while a hostile agent (a valid certificate) sends
# maximal hash queries without reading the answers and over-limit
# POINT_BEGINs, a legitimate agent's 1 MiB incremental completes within 2x
# its unloaded time (medians of three cycles each, at least +150 ms, for
# noise on a shared machine): the hash queries run on the receiver's worker
# pool, not on its loop. The time compared is the cycle's receiver side
# (the agent's --json phases: connect, progress, begin, send, commit): the
# agent's own snapshot steps (qemu-img runs) stand for the on-prem host, and
# here they share the 2 cores with the flood's clients, which on a real
# site run elsewhere. The wall times are printed beside it. The
# receiver's RSS stays within the bound it states for its sessions, and an
# over-limit BEGIN is refused before anything is created for it. Also: a
# point that would pass its group's quota fails and nothing is committed.
. "$(dirname "$0")/lib.sh"

make_pki
write_receiver_conf
cat >> "$T/receiver.conf" <<EOC

[group other]
max_disk_size = 1G
max_disks = 2

[group small]
quota = 2M
EOC
"$NESTOR" config check receiver "$T/receiver.conf" >/dev/null || die "limits refused by config check"
start_receiver
P=$T/pki
RC="python3 $ROOT/tests/integration/rawclient.py --port $PORT --ca $P/ca.crt --cert $P/agent2.crt --key $P/agent2.key --group other"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$RX_PID/status"; }
# timed_cycle LABEL SEED: 1 MiB of random writes to the legitimate agent's
# disk, one cycle; SECS the receiver side of its time in ms (above), WALL
# its wall time. The point must be incremental and identical to the source.
timed_cycle() {
	local t0 t1
	random_writes "$T/web.qcow2" qcow2 16 65536 "$2" >/dev/null
	t0=$(date +%s%N)
	cycle_once "$1"
	t1=$(date +%s%N)
	WALL=$(((t1 - t0) / 1000000))
	SECS=$(echo "$RES" | jq '.phases | (.connect + .progress + .begin + .send + .commit) * 1000 | round')
	check "$1: incremental" [ "$(echo "$RES" | jq .incremental)" = true ]
	check "$1: point identical" same_image "$T/web.qcow2" qcow2 web d "$PT"
}

# The hostile agent's group holds a point with a 1 GiB disk to query (the
# real agent seeds it with the same certificate).
truncate -s 1G "$T/h.raw"
head -c 4M /dev/urandom | dd of="$T/h.raw" conv=notrunc status=none
write_agent_conf "$T/hostile.conf" agent2 other d="$T/h.raw:raw"
agent_once "$T/hostile.conf" >/dev/null || die "seed of the hostile group failed"
HBASE=$(last_point other)

# The legitimate agent: a 256 MiB qcow2, seeded, one warm-up incremental.
qemu-img create -q -f qcow2 "$T/web.qcow2" 256M
random_writes "$T/web.qcow2" qcow2 200 65536 1 >/dev/null
write_agent_conf "$T/agent.conf" agent1 web d="$T/web.qcow2:qcow2"
cycle_once seed
timed_cycle warm-up 2

# 1. Over-limit BEGINs are refused before anything exists for them.
touch "$T/mark"
sleep 1.1 # past the file system's timestamp granularity
before=$(cd "$T/store/other" && find . | sort)
check "disk over max_disk_size refused (ERROR 5)" $RC --base "$HBASE" --expect-code 5 hugedisk
check "refusal names the limit" grep -q "point 1099511627776 refused: disk d0 of 1125899906842624 bytes, the group's limit is 1073741824 (max_disk_size)" "$T/receiver.log"
check "64 disks over max_disks refused (ERROR 5)" $RC --base "$HBASE" --expect-code 5 manydisks
check "refusal names the limit" grep -q "refused: point of 64 disks, the group's limit is 2 (max_disks)" "$T/receiver.log"
check "nothing created in the group for them" [ "$(cd "$T/store/other" && find . | sort)" = "$before" ]
check "nothing modified in the group for them" [ -z "$(find "$T/store/other" -newer "$T/mark")" ]
check "no qemu-img create for them" bash -c "! grep -q 'point 1099511627776' '$T/store/other/pending.json' 2>/dev/null"
check "no qemu-nbd child of the receiver" [ -z "$(pgrep -P "$RX_PID")" ]

# 2. A point that would pass the group's quota fails; nothing is committed.
truncate -s 16M "$T/q.raw"
head -c 4M /dev/urandom | dd of="$T/q.raw" conv=notrunc status=none
COMPRESS=0 write_agent_conf "$T/quota.conf" agent1 small d="$T/q.raw:raw"
check "a point over the quota fails" bash -c "! '$NESTOR' agent --config '$T/quota.conf' --once --json --no-progress 2>>'$T/agent.log'"
check "the receiver said why" grep -q "group small: quota of 2097152 bytes reached" "$T/receiver.log"
check "the agent was told" grep -q "over its quota of 2097152 bytes" "$T/agent.log"
check "no point committed in the group over quota" [ "$(npoints small)" = 0 ]

# Median of three timed cycles (one 200 ms cycle on a shared 2-core box
# varies by more than the effect measured), seed numbers from $2.
median_cycle() {
	local a b c wa wb wc
	timed_cycle "$1" "$2"; a=$SECS; wa=$WALL
	timed_cycle "$1" $(($2 + 1)); b=$SECS; wb=$WALL
	timed_cycle "$1" $(($2 + 2)); c=$SECS; wc=$WALL
	echo "$1 cycles: receiver side $a $b $c ms, wall $wa $wb $wc ms"
	SECS=$(printf '%s\n' "$a" "$b" "$c" | sort -n | sed -n 2p)
	WALL=$(printf '%s\n' "$wa" "$wb" "$wc" | sort -n | sed -n 2p)
}

# 3. The load: the legitimate cycle unloaded, then under the hostile agent.
median_cycle unloaded 3
UNLOADED=$SECS
RSS0=$(rss_kib)
LOAD=$(( (9 * WALL + 999) / 1000 + 8 )) # seconds: outlasts the loaded cycles
$RC --seconds "$LOAD" --disk d hashflood > "$T/hashflood.out" 2>&1 &
HF=$!
$RC --base "$HBASE" --seconds "$LOAD" --expect-code 5 beginflood > "$T/beginflood.out" 2>&1 &
BF=$!
(while kill -0 "$HF" 2>/dev/null; do rss_kib; sleep 0.1; done) > "$T/rss" &
RS=$!
sleep 1 # the floods are on
median_cycle loaded 6
LOADED=$SECS
wait "$HF"; hf=$?
wait "$BF"; bf=$?
wait "$RS"
cat "$T/hashflood.out" "$T/beginflood.out"
check "the hash flood ran to its end without being dropped" [ "$hf" = 0 ]
check "every over-limit BEGIN of the flood was refused" [ "$bf" = 0 ]
LIMIT=$(( UNLOADED * 2 > UNLOADED + 150 ? UNLOADED * 2 : UNLOADED + 150 ))
echo "legitimate 1 MiB incremental, receiver side (median of 3): unloaded ${UNLOADED} ms, under load ${LOADED} ms" \
     "(x$(awk -v a="$LOADED" -v b="$UNLOADED" 'BEGIN { printf "%.2f", a / b }'), limit ${LIMIT} ms)"
check "under load within max(2x, +150 ms) of unloaded" [ "$LOADED" -le "$LIMIT" ]

# The bound the receiver states (one line at start): three sessions at once
# (hash flood, BEGIN flood, legitimate agent) over the baseline.
line=$(grep -m1 "receiver memory:" "$T/receiver.log")
BUSY=$(echo "$line" | sed -n 's/.*at most \([0-9]*\) KiB per busy one.*/\1/p')
SHARED=$(echo "$line" | sed -n 's/.*one, \([0-9]*\) KiB shared.*/\1/p')
MAXRSS=$(sort -n "$T/rss" | tail -1)
BOUND=$((RSS0 + 3 * BUSY + SHARED))
echo "receiver RSS: baseline ${RSS0} KiB, peak under load ${MAXRSS} KiB, bound ${BOUND} KiB ($line)"
check "RSS sampled under load" [ -n "$MAXRSS" ]
check "the receiver stated its bound" [ -n "$BUSY$SHARED" ]
check "peak RSS within the stated bound" [ "$MAXRSS" -le "$BOUND" ]
check "receiver still alive" kill -0 "$RX_PID"
check "hostile group: still one point" [ "$(npoints other)" = 1 ]
stop_receiver
finish
