#!/bin/bash
# Issue 13, item 3, acceptance 3: the targeted repair. Bytes flipped at rest
# in two points are found by scrub; `nestor repair` with an unchanged source
# sends only the bad records (payload bytes = the bad ranges' length), the
# points scrub clean again, the newest verifies against its source and its
# drill is no longer refused for its scrub. A range whose source changed
# since the point is reported not recoverable and the point stays bad.
# Hostile REPAIR points (rawclient.py: another content under the record's
# hash, an extent beside the records, a clean point, an agent that is not
# the group's owner) are refused with the point's files unchanged. The
# repair is paced by the group's bandwidth.
. "$(dirname "$0")/lib.sh"

G=rep
pki_and_receiver 1M
P=$T/pki
RC=(python3 "$ROOT/tests/integration/rawclient.py" --port "$PORT" --ca "$P/ca.crt"
	--cert "$P/agent1.crt" --key "$P/agent1.key" --group "$G")
IMG=$T/d.raw
truncate -s 64M "$IMG"
random_writes "$IMG" raw 200 65536 1 >/dev/null
raw_domain_xml rp1 "$IMG" "$T/rp1.xml"
write_agent_conf "$T/agent.conf" agent1 $G d="$IMG:raw" domain_xml="$T/rp1.xml"
scrub() { "$NESTOR" scrub --config "$T/receiver.conf" $G "$@" 2>>"$T/scrub.log"; }
repair() { "$NESTOR" repair --config "$T/agent.conf" $G "$@" 2>>"$T/repair.log"; }
flip() { python3 "$ROOT/tests/integration/flipstored.py" "$T/store/$G" "$1" d "${@:2}"; }
md5s() { md5sum "$T/store/$G/disks/d/"*.qcow2; }
badlen() { jq '[.groups[0].points[] | select(.point == '"$1"') | .bad[].length] | add // 0' <<<"$2"; }
drill_gate() { # drill_gate POINT: the drill's stderr (a URI nothing listens on)
	{ "$NESTOR" drill --config "$T/receiver.conf" $G --point "$1" --json \
		--uri 'qemu:///session?socket=/nonexistent' >/dev/null; } 2>&1
}

cycle_once "seed"
for i in 2 3; do
	random_writes "$IMG" raw 24 65536 "$((i * 10))" >/dev/null
	cycle_once "incremental $i"
done
check "three points" [ "$(npoints $G)" = 3 ]
out=$(repair --json); rc=$?
check_eq "repair of a clean store: exit 0, nothing repaired, nothing sent" "0|0|0" \
	"$rc|$(jq '.repaired | length' <<<"$out")|$(jq .bytes_sent <<<"$out")"

# ---- flip bytes in point 3 (the newest) and in point 2 (bytes point 3 keeps) ---
read -r G3 R3 L3 < <(flip 3) || die "nothing to flip in point 3"
read -r G2 R2 L2 < <(flip 2 --later 3) || die "nothing to flip in point 2"
echo "# flipped point 3 at $G3 (record $R3+$L3), point 2 at $G2 (record $R2+$L2)"
out=$(scrub --json); rc=$?
check_eq "scrub finds both (exit 3)" 3 "$rc"
check_eq "points 2 and 3 bad, 1 ok" "ok bad bad" "$(jq -r '[.groups[0].points[].verdict] | join(" ")' <<<"$out")"
BAD2=$(badlen 2 "$out"); BAD3=$(badlen 3 "$out")
echo "# bad bytes: point 2 $BAD2, point 3 $BAD3"
check_eq "the bad ranges are the flipped records" "$L2 $L3" "$BAD2 $BAD3"
check "a drill of point 3 is refused for its scrub" bash -c "grep -q 'failed its scrub' <<<\"\$1\"" _ "$(drill_gate 3)"

# ---- hostile REPAIR points: refused, nothing written ---------------------------------
before=$(md5s)
check "REPAIR extent with the record's hash but other bytes -> ERROR 3" "${RC[@]}" --point 3 --expect-code 3 repairbadhash
check "REPAIR extent beside the listed records -> ERROR 1" "${RC[@]}" --point 3 --expect-code 1 repairoutside
check "REPAIR of a point with no bad verdict -> ERROR 5" "${RC[@]}" --point 1 --disk d --disk-size $((64 << 20)) --expect-code 5 repairclean
check "REPAIR of a point that is not committed -> ERROR 6" "${RC[@]}" --point 9 --disk d --disk-size $((64 << 20)) --expect-code 6 repairclean
# Another agent allowed the group but not its owner: the owner rule holds.
sed -i 's/^groups = other$/groups = other '"$G"'/' "$T/receiver.conf"
stop_receiver
start_receiver
RC2=("${RC[@]}")
RC2[7]="$P/agent2.crt"; RC2[9]="$P/agent2.key"
out=$("${RC2[@]}" --point 3 --expect-code 5 repairbadhash); rc=$?
echo "$out"
check "REPAIR from an agent that is not the group's owner -> ERROR 5 (belongs to agent1)" \
	bash -c "[ $rc = 0 ] && grep -q 'belongs to agent agent1' <<<\"\$1\"" _ "$out"
check_eq "the points' files are unchanged (md5)" "$before" "$(md5s)"
check "receiver logged the refusals" bash -c "grep -q 'does not carry the point.s checksum\|checksum mismatch at offset' '$T/receiver.log' && grep -q 'is not an outstanding repair record' '$T/receiver.log' && grep -q 'has no bad scrub verdict' '$T/receiver.log'"
check_eq "point 3 still bad" 3 "$(scrub --point 3 >/dev/null; echo $?)"

# ---- repair with the source unchanged at those ranges ---------------------------------
# Paced by the group's bandwidth: 64 KiB/s for the 128 KiB of the two records.
sed -i "s/^\[group $G\]\$/[group $G]\nbandwidth = 64K/" "$T/agent.conf"
t0=$(date +%s.%N)
out=$(repair --json); rc=$?
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "# repair ($secs s): $out"
check_eq "repair exits 0" 0 "$rc"
check "the group's bandwidth paced it (128 KiB at 64 KiB/s: $secs s >= 1.5 s)" \
	awk -v s="$secs" 'BEGIN { exit !(s >= 1.5) }'
sed -i "/^bandwidth = 64K\$/d" "$T/agent.conf"
check_eq "two ranges repaired, newest first, none lost" "3 2|0|0" \
	"$(jq -r '[.repaired[].point] | join(" ")' <<<"$out")|$(jq '.unrecoverable | length' <<<"$out")|$(jq '.still_bad | length' <<<"$out")"
sent=$(jq .bytes_sent <<<"$out")
check_eq "payload bytes sent = the bad ranges, no more (fetches only the bad range)" $((BAD2 + BAD3)) "$sent"
check "the receiver took the same bytes" bash -c "grep -q 'point 3 repaired: 1 of 1 records written read back right ($BAD3 bytes received)' '$T/receiver.log' && grep -q 'point 2 repaired: 1 of 1 records written read back right ($BAD2 bytes received)' '$T/receiver.log'"
out=$(scrub --json); rc=$?
check_eq "scrub is clean again (exit 0, every point ok)" "0|ok ok ok" "$rc|$(jq -r '[.groups[0].points[].verdict] | join(" ")' <<<"$out")"
"$NESTOR" verify --config "$T/agent.conf" $G --point 3 >"$T/verify.out" 2>>"$T/repair.log"
rc=$?
check "nestor verify of point 3 passes" bash -c "[ $rc = 0 ] && grep -q 'identical to the source' '$T/verify.out'"
gate=$(drill_gate 3)
echo "# drill of point 3 now: $(tail -n 1 <<<"$gate")"
check "a drill of point 3 is no longer refused for its scrub (it runs: a report is saved)" \
	bash -c "! grep -q 'failed its scrub' <<<\"\$1\" && grep -q 'report saved' <<<\"\$1\"" _ "$gate"
check_eq "points shows every point ok" "ok ok ok" "$(points_json $G | jq -r '[.points[].scrub.state] | join(" ")')"

# ---- the source changed since the point: not recoverable -------------------------------
read -r G3 R3 L3 < <(flip 3 --skip 1) || die "nothing more to flip in point 3"
dd if=/dev/urandom of="$IMG" bs=4096 seek=$((R3 / 4096)) count=1 conv=notrunc status=none
check_eq "scrub finds point 3 bad again" 3 "$(scrub --point 3 >/dev/null; echo $?)"
before=$(md5s)
out=$(repair --point 3); rc=$?
echo "$out"
check_eq "repair exits 1 (something left)" 1 "$rc"
check "it names the range not recoverable from the source" \
	grep -q "not recoverable from the source (changed since point 3): disk d offset $R3 length $L3" <<<"$out"
check "nothing was sent" grep -q "0 ranges repaired, 1 not recoverable.*; 0 payload bytes sent" <<<"$out"
check_eq "the point's files are unchanged" "$before" "$(md5s)"
out=$(scrub --point 3 --json); rc=$?
check_eq "point 3 stays bad at that record" "3|$R3" "$rc|$(jq '.groups[0].points[0].bad[0].offset' <<<"$out")"
stop_receiver
finish
