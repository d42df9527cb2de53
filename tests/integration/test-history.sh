#!/bin/bash
# Issue 12, section 1: an agent with a valid certificate cannot destroy its
# group's history. A hostile agent (rawclient.py "point") sends future- and
# past-dated points and an id at the integer limit: each is refused with an
# ERROR and never listed, and a normal next point still goes in. 100 points
# with agent times a year off either way: retention keeps exactly what the
# policy gives on the receiver's times (read back from the catalog, so the
# proof holds however fast the points commit), which is not what it would
# give on the agent's times. With `immutable` set,
# neither retention nor `nestor prune` removes a point inside the window.
# The real agent, refused, says why and fails the cycle.
. "$(dirname "$0")/lib.sh"

YEAR=31536000
POLICY=2s:all,10s:2s
make_pki
write_receiver_conf
cat >> "$T/receiver.conf" <<EOC

[group hb]
retention = $POLICY

[group imm]
retention = 1s:all
retention_min_points = 1
immutable = 1h
EOC
"$NESTOR" config check receiver "$T/receiver.conf" >/dev/null || die "receiver.conf rejected"
start_receiver
P=$T/pki
RC="python3 $ROOT/tests/integration/rawclient.py --port $PORT --ca $P/ca.crt --cert $P/agent1.crt --key $P/agent1.key"
ids() { points_json "$1" | jq -r '[.points[].id] | map(tostring) | join(" ")'; }

# ---- single refusals ------------------------------------------------------------
check "a first point goes in" $RC --group g1 point
check "a point dated a year ahead -> ERROR 1" $RC --group g1 --time-offset $YEAR --expect-code 1 point
check "the receiver said why" grep -q "point 2 refused: snapshot time ahead of the receiver's clock" "$T/receiver.log"
check "a point dated 6 minutes ahead (beyond the 5m skew) -> ERROR 1" \
	$RC --group g1 --time-offset 360 --expect-code 1 point
check "a point dated a year back (older than the newest) -> ERROR 1" \
	$RC --group g1 --time-offset -$YEAR --expect-code 1 point
check "the receiver said why" grep -q "point 2 refused: snapshot time not after the newest point's" "$T/receiver.log"
out=$($RC --group g1 --point max --expect-code 1 point)
check "point id INT64_MAX -> ERROR 1 ($out)" grep -q "point id out of sequence" <<<"$out"
check "a jump of two ids -> ERROR 1" $RC --group g1 --point 3 --expect-code 1 point
check "a BEGIN for the newest point's id -> ERROR 5, the point untouched" \
	$RC --group g1 --point last --expect-code 5 point
check_eq "only the first point is listed" "1" "$(ids g1)"
check "no file of a refused point was created" \
	bash -c "! ls '$T/store/g1/disks/d0/' | grep -qv '^1.qcow2$'"
check "a new group's first point dated a year ahead -> ERROR 1" \
	$RC --group fresh --time-offset $YEAR --expect-code 1 point
check "... and not even its group directory was created" [ ! -e "$T/store/fresh" ]
check "a new group's first point with id 2 -> ERROR 1" \
	$RC --group fresh --point 2 --expect-code 1 point
check "... nothing created either" [ ! -e "$T/store/fresh" ]
check "a point dated 4 minutes ahead (within the skew) goes in" $RC --group g1 --time-offset 240 point
check "the normal next point still goes in after the id attack" $RC --group g1 --time-offset 241 point
check_eq "points 1 2 3 listed" "1 2 3" "$(ids g1)"
check "receiver and agent times are both listed" \
	[ "$(points_json g1 | jq '[.points[] | select(.time_ns > 0 and .received_ns > 0)] | length')" = 3 ]
check "point 3's agent time is 4 minutes ahead of its receiver time" \
	[ "$(points_json g1 | jq '.points[2] | (.time_ns - .received_ns) / 1e9 | floor')" -ge 230 ]
check "nestor points shows the receiver time" bash -c \
	"'$NESTOR' points --config '$T/receiver.conf' g1 | head -1 | grep -q 'RECEIVED (UTC)'"

# ---- 100 points, agent clock a year off either way --------------------------------
# Odd points are dated a year ahead (refused); even ones a year back, rising
# by 10 ms a point (accepted: newer than the newest, behind the clock).
# After each commit, the newest point's receiver time goes to the history.
# On the agent's times all 50 lie within 0.5 s of the newest, so the policy
# (2s:all first) would keep all 50. On the receiver's times the loop lasts
# more than 10 s (the last point waits for that if the machine is fast), so
# the first point is past every tier when the last commits and goes: the
# two sets differ whatever the commits' pace.
base=$(( $(date +%s) - YEAR ))
acc=0 ref=0 bad=0 t_first=
: > "$T/history"
for k in $(seq 1 100); do
	if [ "$k" = 100 ] && [ -n "$t_first" ]; then
		w=$(awk -v a="$t_first" -v b="$(date +%s.%N)" 'BEGIN { w = 11 - (b - a); print (w > 0 ? w : 0) }')
		echo "# the last point waits $w s (the loop's points span > 10 s)"
		sleep "$w"
	fi
	if [ $((k % 2)) = 1 ]; then
		out=$($RC --group hb --time-offset $YEAR point) && [[ "$out" == ERROR\ 1:* ]] ||
			{ echo "point $k: $out"; bad=1; }
		ref=$((ref + 1))
	else
		out=$($RC --group hb --time-ns "$(( base * 1000000000 + k * 10000000 ))" point) &&
			[[ "$out" == COMMITTED* ]] || { echo "point $k: $out"; bad=1; continue; }
		[ -n "$t_first" ] || t_first=$(date +%s.%N)
		acc=$((acc + 1))
		points_json hb | jq -r '.points[-1] | "\(.id) \(.received_ns) \(.time_ns)"' >> "$T/history"
	fi
done
check "50 future points refused, 50 past-dated ones accepted ($acc/$ref)" [ $bad = 0 ]
check "no refused point is listed" \
	[ "$(points_json hb | jq "[.points[] | select(.time_ns > $(date +%s)000000000)] | length")" = 0 ]
# The policy replayed after every commit (retention-replay.py, default
# retention_min_points 3) on the receiver times, and for contrast on the
# agent's times.
expected() {
	local col=2
	[ "$1" = agent ] && col=3
	python3 "$ROOT/tests/integration/retention-replay.py" "$POLICY" \
		<(cut -d' ' -f1,$col "$T/history")
}
# retention runs after COMMITTED (issue 17): the last one must be done
wait_retention hb "$(tail -1 "$T/history" | cut -d' ' -f1)"
want=$(expected receiver)
got=$(ids hb)
echo "# kept: $got"
echo "# policy on receiver times: $want"
echo "# policy on agent times:    $(expected agent)"
check "retention kept exactly the policy on the receiver's times" [ "$got" = "$want" ]
check "the agent's times would have kept another set (the check can fail)" \
	[ "$(expected agent)" != "$want" ]
check_eq "... all 50 on the agent's times" 50 "$(expected agent | wc -w)"
check "retention removed points" [ "$(npoints hb)" -lt "$acc" ]

# ---- immutability window ------------------------------------------------------------
for k in 1 2 3 4; do
	$RC --group imm point >/dev/null || not_ok "imm point $k not accepted"
done
sleep 1.2
$RC --group imm point >/dev/null || not_ok "imm point 5 not accepted"
wait_retention imm 5 # it runs after COMMITTED (issue 17)
check_eq "retention after the commit removed nothing inside the window" "1 2 3 4 5" "$(ids imm)"
check "the receiver said why" grep -q "point 1 is due but inside the immutability window" "$T/receiver.log"
out=$("$NESTOR" prune --config "$T/receiver.conf" imm --json)
echo "# prune: $out"
check "nestor prune removes nothing inside the window" [ "$(jq '.removed | length' <<<"$out")" = 0 ]
check "nestor prune names the immutable points" [ "$(jq -c .immutable <<<"$out")" = "[1,2,3,4]" ]
check_eq "all points still listed" "1 2 3 4 5" "$(ids imm)"
# The window is what kept them: without it prune removes them.
sed 's/^immutable = 1h$/immutable = 0/' "$T/receiver.conf" > "$T/open.conf"
out=$("$NESTOR" prune --config "$T/open.conf" imm --json)
check "with the window off, prune removes 1-4 ($out)" [ "$(jq -c .removed <<<"$out")" = "[1,2,3,4]" ]

# ---- the real agent, refused, says why and fails the cycle --------------------------
truncate -s 4M "$T/a.raw"
write_agent_conf "$T/agent.conf" agent1 ag a="$T/a.raw:raw"
agent_once "$T/agent.conf" >/dev/null || not_ok "the agent's first point failed"
# A newest point dated far ahead (a catalog from before the rule, edited
# here): the agent's next point is older and refused.
cat=$T/store/ag/catalog.json
jq ".points[-1].time_ns += ($YEAR * 1000000000)" "$cat" > "$cat.new" && mv "$cat.new" "$cat"
t0=$SECONDS
check "the agent's cycle fails" bash -c "! '$NESTOR' agent --config '$T/agent.conf' --once --no-progress 2>'$T/ag.log'"
check "... promptly ($((SECONDS - t0)) s)" [ $((SECONDS - t0)) -lt 30 ]
check "... saying why" grep -q "receiver refused: cannot begin point 2 of group ag: snapshot time not after the newest point's" "$T/ag.log"
check_eq "... and nothing was listed" "1" "$(ids ag)"
check "receiver still alive" kill -0 "$RX_PID"
stop_receiver
finish
