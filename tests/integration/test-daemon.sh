#!/bin/bash
# Issue 6 acceptance 1: the agent daemon protects two groups of RBD images
# (RPO targets 10 s and 20 s) for NESTOR_DAEMON_SECS while a writer
# changes each image a few times a second. Every second the achieved RPO is
# read from the agent's /metrics and must stay under target except while the
# receiver is down (kill -9 for 30 s): then nestor_agent_rpo_breach goes to 1,
# a warning is logged, and the group recovers by itself once the receiver is
# back. Meanwhile SIGHUP adds a group, survives an invalid configuration and
# removes the group again without touching the others; SIGTERM stops cleanly.
# At the end every committed point of both groups must be one of the states
# its writer logged (rbdwriter.py), in non-decreasing order.
# The acceptance's 180 s run is `make soak-daemon` (part of `make soak`);
# `make check` runs the default 90 s: the same timeline with every phase but
# the outage scaled by (SECS - 30) / 150, the same thresholds, and at least
# two points per group before the outage and after it.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # python3-rbd/rados live in the system Python
WRITER=$ROOT/tests/integration/rbdwriter.py
SECS=${NESTOR_DAEMON_SECS:-90}
# The outage is not scaled: gb's RPO (target 20 s) must go past its target.
OUTAGE=30
SCALE=$((SECS - OUTAGE)) # 150 at 180 s: the acceptance's timeline
KILL_AT=$((SCALE * 54 / 150))
BACK_AT=$((KILL_AT + OUTAGE))
HUP_ADD=$((BACK_AT + SCALE * 30 / 150))
HUP_BAD=$((HUP_ADD + SCALE * 15 / 150))
HUP_DEL=$((HUP_BAD + SCALE * 5 / 150))
# A shorter step waits for what its check needs (gc's first point, the
# refusal logged), at most as long as the acceptance's step, then checks.
ADD_MAX=15
BAD_MAX=5
[ $((HUP_DEL + 15)) -le "$SECS" ] || die "NESTOR_DAEMON_SECS=$SECS is too short (at least 80)"

WPIDS=
DAEMON=
stop_all() {
	[ -n "$DAEMON" ] && kill -9 "$DAEMON" 2>/dev/null
	for p in $WPIDS; do kill "$p" 2>/dev/null; done
	cleanup
}
trap stop_all EXIT
start_ceph
for img in da db; do
	rbd create --size 32M --image-feature layering,exclusive-lock,object-map,fast-diff \
		"rbd/$img" || die "rbd create $img failed"
done

pki_and_receiver
MPORT=$(free_port)
truncate -s 8M "$T/c.raw"
# rbd_group GROUP DISK IMAGE RPO MIN_INTERVAL: a group of one RBD image
rbd_group() {
	printf '\n[group %s]\nrpo = %s\nmin_interval = %s\nceph_conf = %s\n' "$1" "$4" "$5" "$CEPH_CONF"
	printf '\n[disk %s %s]\nrbd = %s\n' "$1" "$2" "$3"
}
{
	agent_conf_head agent1
	printf 'compress_level = 1\nretry_max = 4s\nmetrics = 127.0.0.1:%s\n' "$MPORT"
	rbd_group ga a rbd/da 10s 3s
	rbd_group gb b rbd/db 20s 5s
} > "$T/agent.base.conf"
cat "$T/agent.base.conf" - > "$T/agent.gc.conf" <<EOC

[group gc]
rpo = 30s

[disk gc c]
path = $T/c.raw
format = raw
EOC
cp "$T/agent.base.conf" "$T/agent.conf"
"$NESTOR" config check agent "$T/agent.conf" >/dev/null || die "bad test config"

# One writer per image, 4 writes a second; each logs its initial state first.
$PY "$WRITER" write "$CEPH_CONF" rbd/da "$T/da.log" 1 4 2>>"$T/writer.log" &
WPIDS="$WPIDS $!"
$PY "$WRITER" write "$CEPH_CONF" rbd/db "$T/db.log" 2 4 2>>"$T/writer.log" &
WPIDS="$WPIDS $!"
for i in $(seq 1 300); do
	[ -s "$T/da.log" ] && [ -s "$T/db.log" ] && break
	sleep 0.1
done
[ -s "$T/da.log" ] && [ -s "$T/db.log" ] || { cat "$T/writer.log"; die "writers did not start"; }

"$NESTOR" agent --config "$T/agent.conf" >>"$T/daemon.log" 2>&1 &
DAEMON=$!

ms() { local x=${EPOCHREALTIME/./}; echo $((x / 1000)); }
# scrape -> "rpo_ga rpo_gb breach_ga breach_gb points_ga failures_ga bytes_ga
# points_gb", NA for each value missing
scrape() {
	curl -s --max-time 2 "http://127.0.0.1:$MPORT/metrics" | awk '
		{ v[$1] = $2 }
		function g(n) { return (n in v) ? v[n] : "NA" }
		END { print g("nestor_agent_rpo_seconds{group=\"ga\"}"), g("nestor_agent_rpo_seconds{group=\"gb\"}"),
			g("nestor_agent_rpo_breach{group=\"ga\"}"), g("nestor_agent_rpo_breach{group=\"gb\"}"),
			g("nestor_agent_points_total{group=\"ga\"}"), g("nestor_agent_failures_total{group=\"ga\"}"),
			g("nestor_agent_bytes_sent_total{group=\"ga\"}"),
			g("nestor_agent_points_total{group=\"gb\"}") }'
}

for i in $(seq 1 100); do
	curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$MPORT/metrics" && break
	sleep 0.1
done
start=$(ms)
done_kill= done_back= done_add= done_bad= done_del=
: > "$T/samples"
while :; do
	tick=$(ms)
	el=$(((tick - start) / 1000))
	[ "$el" -ge "$SECS" ] && [ -n "$done_del" ] && [ "$el" -ge $((done_del + 15)) ] && break
	if [ -z "$done_kill" ] && [ "$el" -ge "$KILL_AT" ]; then
		kill9_receiver
		done_kill=$(((tick - start)))
		echo "$el s: receiver killed"
	fi
	if [ -z "$done_back" ] && [ "$el" -ge "$BACK_AT" ]; then
		mv "$T/receiver.log" "$T/receiver.1.log" # start_receiver waits for a fresh "listening"
		start_receiver
		done_back=$(($(ms) - start))
		echo "$el s: receiver restarted"
	fi
	if [ -z "$done_add" ] && [ "$el" -ge "$HUP_ADD" ]; then
		cp "$T/agent.gc.conf" "$T/agent.conf"
		kill -HUP $DAEMON
		done_add=$el
		echo "$el s: SIGHUP with group gc added"
	fi
	if [ -z "$done_bad" ] && [ "$el" -ge "$HUP_BAD" ] &&
		{ [ "$(npoints gc)" -ge 1 ] || [ "$el" -ge $((done_add + ADD_MAX)) ]; }; then
		check "reload started the new group gc" [ "$(npoints gc)" -ge 1 ]
		printf '\n[group gd]\nrpo = soon\n' >> "$T/agent.conf"
		kill -HUP $DAEMON
		done_bad=$el
		echo "$el s: SIGHUP with an invalid configuration"
	fi
	if [ -n "$done_bad" ] && [ -z "$done_del" ] && [ "$el" -ge "$HUP_DEL" ] &&
		{ grep -q 'reload of .* failed: keeping the running configuration' "$T/daemon.log" ||
			[ "$el" -ge $((done_bad + BAD_MAX)) ]; }; then
		check "invalid configuration refused, daemon kept running" \
			bash -c "grep -q 'reload of .* failed: keeping the running configuration' '$T/daemon.log' &&
				kill -0 $DAEMON"
		cp "$T/agent.base.conf" "$T/agent.conf"
		kill -HUP $DAEMON
		done_del=$el
		echo "$el s: SIGHUP with group gc removed"
	fi
	echo "$((tick - start)) $(scrape)" >> "$T/samples"
	now=$(ms)
	[ $((tick + 1000 - now)) -gt 0 ] && sleep "$(printf '0.%03d' $((tick + 1000 - now)))"
done
LAST=$(tail -1 "$T/samples")

# Steady state outside the outage: every sample under target. The outage
# window of a group runs from the kill to its first sample under target
# after the restart, which must come by itself within 30 s.
read -r max_a max_b rec_a rec_b breach_a breach_b na < <(awk -v k="$done_kill" -v b="$done_back" '
	function upd(i, tgt, r) {
		if (r == "NA") return
		if ($1 >= k && !(i in rec)) {
			if ($1 >= b && r + 0 < tgt) rec[i] = sprintf("%.1f", ($1 - b) / 1000)
			else return
		}
		if (r + 0 > mx[i]) mx[i] = r + 0
	}
	{ if ($2 == "NA") na++
	  if ($1 >= k && $1 < b + 60000 && $4 == 1) br[1] = 1
	  if ($1 >= k && $1 < b + 60000 && $5 == 1) br[2] = 1
	  upd(1, 10, $2); upd(2, 20, $3) }
	END { printf "%.2f %.2f %s %s %d %d %d\n", mx[1], mx[2], (1 in rec) ? rec[1] : "never",
		(2 in rec) ? rec[2] : "never", br[1], br[2], na }' "$T/samples")
check "metrics scraped every second ($na of $(wc -l < "$T/samples") scrapes failed)" [ "$na" -le 2 ]
check "ga: RPO under 10 s outside the outage (max $max_a s)" \
	awk -v m="$max_a" 'BEGIN { exit !(m > 0 && m < 10) }'
check "gb: RPO under 20 s outside the outage (max $max_b s)" \
	awk -v m="$max_b" 'BEGIN { exit !(m > 0 && m < 20) }'
check "ga: nestor_agent_rpo_breach went to 1 during the outage" [ "$breach_a" = 1 ]
check "gb: nestor_agent_rpo_breach went to 1 during the outage" [ "$breach_b" = 1 ]
check "ga: breach logged" grep -q "group ga: RPO .* exceeds the target of 10 s" "$T/daemon.log"
check "ga: recovered by itself ($rec_a s after the restart)" \
	awk -v r="$rec_a" 'BEGIN { exit !(r != "never" && r <= 30) }'
check "gb: recovered by itself ($rec_b s after the restart)" \
	awk -v r="$rec_b" 'BEGIN { exit !(r != "never" && r <= 30) }'
check "ga: recovery logged" grep -q "group ga: RPO back within its target" "$T/daemon.log"
read -r _ _ _ lba lbb pts_a fail_a bytes_a pts_b <<<"$LAST"
check "breach cleared on /metrics at the end (ga $lba, gb $lbb)" [ "$lba$lbb" = 00 ]
check "ga: failures counted during the outage ($fail_a)" [ "${fail_a:-0}" -ge 1 ]
check "ga: bytes counted ($bytes_a)" [ "${bytes_a:-0}" -gt 0 ]
# Replicating before the outage and again after it: the agent's point
# counters at the last scrape before the kill, at the first after the
# restart, and at the end.
read -r pa0 pb0 pa1 pb1 < <(awk -v k="$done_kill" -v b="$done_back" '
	$6 == "NA" || $9 == "NA" { next }
	$1 < k { a0 = $6; b0 = $9 }
	$1 >= b && !s { a1 = $6; b1 = $9; s = 1 }
	END { print a0 + 0, b0 + 0, (s ? a1 : -1), (s ? b1 : -1) }' "$T/samples")
after_a=-1 after_b=-1 # no restart seen or no count at the end: fails
[[ "$pa1$pb1" != *-* && "$pts_a" =~ ^[0-9]+$ && "$pts_b" =~ ^[0-9]+$ ]] &&
	after_a=$((pts_a - pa1)) after_b=$((pts_b - pb1))
check "ga: $pa0 points before the outage (at least 2)" [ "$pa0" -ge 2 ]
check "gb: $pb0 points before the outage (at least 2)" [ "$pb0" -ge 2 ]
check "ga: $after_a points after the outage (at least 2)" [ "$after_a" -ge 2 ]
check "gb: $after_b points after the outage (at least 2)" [ "$after_b" -ge 2 ]
check "reload touched neither ga nor gb" bash -c "! grep -Eq 'group g[ab]: (changed|removed)' '$T/daemon.log'"
check "reload removed gc" grep -q "group gc: removed: stopping" "$T/daemon.log"

# SIGTERM: the writers stop first so that nothing changes under the end.
for p in $WPIDS; do kill "$p"; wait "$p"; done
WPIDS=
kill -TERM $DAEMON
for i in $(seq 1 100); do kill -0 $DAEMON 2>/dev/null || break; sleep 0.2; done
check "daemon stopped on SIGTERM" bash -c "! kill -0 $DAEMON 2>/dev/null"
wait $DAEMON; rc=$?
DAEMON=
check "daemon exit code 0" [ $rc = 0 ]
stop_receiver

# Every committed point is a state its writer went through, in order.
na=$(npoints ga); nb=$(npoints gb)
check "ga: replicated continuously ($na points, $pts_a by the last scrape)" \
	[ "$na" -ge $((SECS / 10)) -a "$na" -ge "${pts_a:-0}" ]
check "gb: replicated continuously ($nb points)" [ "$nb" -ge $((SECS / 20)) ]
for g in a b; do
	files=()
	for id in $(points_json g$g | jq -r '.points[].id' | sort -n); do
		files+=("$(point_file g$g $g "$id")")
	done
	out=$($PY "$WRITER" verify "$T/d$g.log" "${files[@]}"); rc=$?
	echo "g$g: $out"
	check "g$g: all ${#files[@]} points are logged states, in order" [ $rc = 0 ]
done
echo "summary: ${SECS} s; points ga $na, gb $nb; max RPO outside the outage ga $max_a s" \
	"(target 10), gb $max_b s (target 20); outage ${OUTAGE} s: breach seen ga $breach_a gb $breach_b," \
	"recovered ${rec_a} s / ${rec_b} s after the restart"
finish
