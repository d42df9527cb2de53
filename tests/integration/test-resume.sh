#!/bin/bash
# Acceptance 3 of the foundation: kill -9 of the receiver and of the agent at
# 20 random moments during transfers. No incomplete point is ever listed,
# every listed point is identical to the source state it was taken from,
# the next run completes and verifies, and a resumed run sends less than a
# full resend.
. "$(dirname "$0")/lib.sh"

pki_and_receiver 8M
G=kill
IMG=$T/disk.raw
truncate -s 1G "$IMG"
head -c 400M /dev/urandom | dd of="$IMG" bs=1M seek=100 conv=notrunc,fsync status=none
write_agent_conf "$T/agent.conf" agent1 $G d="$IMG:raw"
mkdir -p "$T/states"
RANDOM=42
committed=0
incomplete_listed=0
for round in $(seq 1 20); do
	[ -n "$RX_PID" ] || start_receiver
	"$NESTOR" agent --config "$T/agent.conf" --once --json --no-progress \
		>"$T/round$round.json" 2>>"$T/agent.log" &
	apid=$!
	sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
	if [ $((round % 2)) = 0 ]; then
		kill -9 "$apid" 2>/dev/null; victim=agent
	else
		kill9_receiver; victim=receiver
	fi
	wait "$apid" 2>/dev/null
	n=$(npoints $G)
	echo "round $round: killed the $victim, $n points listed"
	if [ "$n" -gt "$committed" ]; then
		# A point was committed before the kill: it must be complete and
		# identical to the source (the source did not change since it).
		p=$(last_point $G)
		if ! same_image "$IMG" raw $G d "$p"; then
			incomplete_listed=$((incomplete_listed + 1))
			echo "point $p listed but not identical:"
			qemu-img compare -f raw -F qcow2 "$IMG" "$(point_file $G d "$p")" 2>&1 | head -3
			[ "${KEEP:-0}" = 1 ] && cp "$IMG" "$T/src-at-failure.raw"
		fi
		committed=$n
		[ "${KEEP:-0}" = 1 ] && cp --sparse=always "$IMG" "$T/src-p$p.raw"
		# Give the next rounds work again: 100 MiB of new data somewhere.
		head -c 100M /dev/urandom | dd of="$IMG" bs=1M seek=$((RANDOM % 900)) \
			conv=notrunc,fsync status=none
	fi
done
check "no incomplete point ever listed" [ $incomplete_listed = 0 ]

# wait_durable: until the receiver holds some durable progress of a pending point
wait_durable() {
	local i off
	for i in $(seq 1 200); do
		off=$(jq '[.disks[].durable_offset] | add' "$T/store/$G/pending.json" 2>/dev/null || echo 0)
		[ "${off:-0}" -gt 0 ] && return 0
		sleep 0.05
	done
	return 1
}

# interrupted_run MIB SEEK_MIB: MIB MiB of new data at SEEK_MIB, then an agent
# run killed (-9) once the receiver holds durable progress of it.
interrupted_run() {
	[ -n "$RX_PID" ] || start_receiver
	head -c "$1M" /dev/urandom | dd of="$IMG" bs=1M seek="$2" conv=notrunc,fsync status=none
	"$NESTOR" agent --config "$T/agent.conf" --once --no-progress 2>>"$T/agent.log" &
	apid=$!
	wait_durable
	kill -9 "$apid" 2>/dev/null; wait "$apid" 2>/dev/null
}

# The source changes between an interrupted attempt and the next run: the
# pending data must not be reused (it could be stale).
interrupted_run 200 100
head -c 8M /dev/urandom | dd of="$IMG" bs=1M seek=100 conv=notrunc,fsync status=none
out=$(agent_once "$T/agent.conf") || die "run after a changed source failed"
echo "after change: $out"
check "changed source: pending point not resumed" [ "$(echo "$out" | jq .resumed)" = false ]
check "changed source: point identical" same_image "$IMG" raw $G d "$(last_point $G)"

# An agent that restarts while its old connection still holds the group
# (here the old agent is stopped mid-transfer, then killed): the new run's
# BEGIN waits for the old session to end instead of failing at once with
# "being written by another session" (which a kill -9 with megabytes still
# in the socket buffers made the CI of fe66876 see).
[ -n "$RX_PID" ] || start_receiver
head -c 200M /dev/urandom | dd of="$IMG" bs=1M seek=300 conv=notrunc,fsync status=none
"$NESTOR" agent --config "$T/agent.conf" --once --no-progress 2>>"$T/agent.log" &
apid=$!
wait_durable
kill -STOP "$apid"
before=$(npoints $G)
agent_once "$T/agent.conf" > "$T/waiter.json" &
wpid=$!
check "a new run's begin waits for the old session" wait_grep \
	"group $G: its begin waits for the session still writing the group \(at most 10 s\)" "$T/receiver.log"
check "it has not committed meanwhile" [ "$(npoints $G)" = "$before" ]
kill -9 "$apid"; kill -CONT "$apid" 2>/dev/null; wait "$apid" 2>/dev/null
wait "$wpid"; wrc=$?
check "the waiting run committed once the old session ended" [ "$wrc" = 0 ]
check "its point is identical to the source" same_image "$IMG" raw $G d "$(last_point $G)"

# A resumed run: kill the agent once some progress is durable, then resume.
interrupted_run 300 600
before=$(npoints $G)
out=$(agent_once "$T/agent.conf") || die "final run failed"
echo "final run: $out"
check "final run committed a new point" [ "$(npoints $G)" = $((before + 1)) ]
check "final run resumed the pending point" [ "$(echo "$out" | jq .resumed)" = true ]
check "resumed run skipped durable data" [ "$(echo "$out" | jq .bytes_skipped)" -gt 0 ]
check "final point identical to the source" same_image "$IMG" raw $G d "$(last_point $G)"
check "nestor verify says identical" "$NESTOR" verify --config "$T/agent.conf" $G
check "no pending state left" [ ! -e "$T/store/$G/pending.json" ]
stop_receiver
finish
