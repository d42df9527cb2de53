#!/bin/bash
# Operability: `nestor status --json` on the agent (daemon status files) and
# on the receiver (store), and the receiver's Prometheus /metrics, checked
# value by value after a known history (one --once point, one daemon point).
. "$(dirname "$0")/lib.sh"

make_pki
write_receiver_conf
MPORT=$(free_port)
sed -i "s/^listen = .*/&\nmetrics = 127.0.0.1:$MPORT/" "$T/receiver.conf"
"$NESTOR" config check receiver "$T/receiver.conf" >/dev/null || die "metrics key refused"
start_receiver
truncate -s 32M "$T/a.raw"
random_writes "$T/a.raw" raw 40 65536 1 >/dev/null
write_agent_conf "$T/agent.conf" agent1 g1 a="$T/a.raw:raw"
# one cycle from the daemon, then it waits (min_interval) until we stop it
sed -i "s/^\[group g1\]/&\nrpo = 10s\nmin_interval = 1h/" "$T/agent.conf"

metrics() { curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics"; }
# metric NAME -> value of NAME{group="g1"}, empty if absent
metric() { metrics | awk -v n="$1{group=\"g1\"}" '$1 == n { print $2 }'; }
near() { python3 -c "import sys; sys.exit(0 if abs(float('$1') - float('$2')) <= float('$3') else 1)"; }
between() { python3 -c "import sys; sys.exit(0 if float('$2') <= float('$1') <= float('$3') else 1)"; }

# before anything: agent says never ran, receiver knows no group
A=$("$NESTOR" status --config "$T/agent.conf" --json) || die "agent status failed"
check "agent: group never ran" [ "$(jq -r '.groups[0].state' <<<"$A")" = "never ran" ]
R=$("$NESTOR" status --config "$T/receiver.conf" --json) || die "receiver status failed"
check "receiver: no groups yet" [ "$(jq '.groups | length' <<<"$R")" = 0 ]
check "metrics: no samples yet, families announced" \
	bash -c "[ \$(curl -s http://127.0.0.1:$MPORT/metrics | grep -c '^# TYPE nestor_') = 16 ] &&
		! curl -s http://127.0.0.1:$MPORT/metrics | grep -q '^nestor_'"

# point 1 with --once, point 2 from the daemon
agent_once "$T/agent.conf" >/dev/null || die "first cycle failed"
random_writes "$T/a.raw" raw 8 65536 2 >/dev/null
"$NESTOR" agent --config "$T/agent.conf" >>"$T/daemon.log" 2>&1 &
DAEMON=$!
trap 'kill $DAEMON 2>/dev/null; cleanup' EXIT
for i in $(seq 1 100); do
	[ "$(jq -r '.cycles' "$T/agent-state/g1/status.json" 2>/dev/null)" = 1 ] && break
	sleep 0.1
done
kill -TERM $DAEMON; wait $DAEMON
P=$(points_json g1)
B1=$(jq '.points[0].bytes' <<<"$P"); B2=$(jq '.points[1].bytes' <<<"$P")
echo "catalog: points $(jq '.points | length' <<<"$P"), bytes $B1 + $B2"
check "two points in the catalog" [ "$(jq '.points | length' <<<"$P")" = 2 ]
check "the incremental point is smaller than the seed" [ "$B2" -gt 0 ] && [ "$B2" -lt "$B1" ]

# agent side
A=$("$NESTOR" status --config "$T/agent.conf" --json) || die "agent status failed"
aj() { jq -r ".groups[0].$1" <<<"$A"; }
echo "agent status: rpo $(aj rpo_seconds) s, last cycle $(aj last_cycle.bytes_wire) B in $(aj last_cycle.seconds) s"
check "agent: role" [ "$(jq -r .role <<<"$A")" = agent ]
check "agent: ran" [ "$(aj state)" = ran ]
check "agent: last point 2" [ "$(aj last_point)" = 2 ]
check "agent: one daemon cycle" [ "$(aj cycles)" = 1 ]
check "agent: no failures" [ "$(aj consecutive_failures)" = 0 ]
check "agent: not in a cycle" [ "$(aj in_cycle)" = false ]
check "agent: target 10 s" [ "$(aj rpo_target_seconds)" = 10 ]
check "agent: RPO plausible (0..60 s)" between "$(aj rpo_seconds)" 0 60
check "agent: RPO = now_ns - last_point_time_ns" near "$(aj rpo_seconds)" \
	"$(jq '(.now_ns - .groups[0].last_point_time_ns) / 1e9' <<<"$A")" 0.001
check "agent: not breached" [ "$(aj rpo_breached)" = false ]
check "agent: last cycle made point 2" [ "$(aj last_cycle.point)" = 2 ]
check "agent: last cycle incremental" [ "$(aj last_cycle.incremental)" = true ]
check "agent: last cycle moved the catalog's bytes or more" [ "$(aj last_cycle.bytes_wire)" -ge "$B2" ]
check "agent: throughput = bytes / seconds" near "$(aj last_cycle.throughput_bytes_per_second)" \
	"$(jq -r '.groups[0].last_cycle | .bytes_wire / .seconds' <<<"$A")" 1
check "agent: text table" bash -c "'$NESTOR' status --config '$T/agent.conf' | grep -Eq '^g1 +2 '"

# receiver side
R=$("$NESTOR" status --config "$T/receiver.conf" --json) || die "receiver status failed"
rj() { jq -r ".groups[0].$1" <<<"$R"; }
check "receiver: role detected from the config" [ "$(jq -r .role <<<"$R")" = receiver ]
check "receiver: one group g1" [ "$(jq -r '[.groups[].group] | join(",")' <<<"$R")" = g1 ]
check "receiver: 2 points" [ "$(rj points)" = 2 ]
check "receiver: last point 2" [ "$(rj last_point)" = 2 ]
check "receiver: last point bytes = catalog" [ "$(rj last_point_bytes)" = "$B2" ]
check "receiver: RPO plausible (0..60 s)" between "$(rj rpo_seconds)" 0 60
check "receiver: RPO = now_ns - newest point's time_ns" near "$(rj rpo_seconds)" \
	"$(jq -n "($(jq .now_ns <<<"$R") - $(jq '.points[1].time_ns' <<<"$P")) / 1e9")" 0.001
check "receiver: nothing pending" [ "$(rj pending)" = null ]
check "receiver: not failed over" [ "$(rj failed_over)" = false ]
check "receiver: no drill yet" [ "$(rj last_drill)" = null ]
check "receiver: --receiver works too" bash -c \
	"'$NESTOR' status --receiver --config '$T/receiver.conf' | grep -Eq '^g1 +2 +2 '"

# metrics
M=$(metrics)
echo "$M" | grep '^nestor_' | sed 's/^/  /'
check "metrics: HELP and TYPE for each family" [ "$(grep -c '^# HELP nestor_' <<<"$M")" = 16 ]
check "metrics: RPO target = the receiver's rpo (default 5m)" \
	[ "$(metric nestor_group_rpo_target_seconds)" = 300 ]
check "metrics: points 2" [ "$(metric nestor_group_points)" = 2 ]
check "metrics: last point bytes = catalog" [ "$(metric nestor_group_last_point_bytes)" = "$B2" ]
check "metrics: bytes received = both points" [ "$(metric nestor_group_bytes_received_total)" = $((B1 + B2)) ]
check "metrics: 2 points committed" [ "$(metric nestor_group_points_committed_total)" = 2 ]
check "metrics: 0 failures" [ "$(metric nestor_group_failures_total)" = 0 ]
check "metrics: not failed over" [ "$(metric nestor_group_failed_over)" = 0 ]
# RPO = age of the newest point's snapshot instant, taken between two clock reads
PT=$(jq '.points[1].time_ns' <<<"$P")
before=$(date +%s%N); MRPO=$(metric nestor_group_rpo_seconds); after=$(date +%s%N)
check "metrics: RPO = now - point time ($MRPO s)" between "$MRPO" \
	"$(( (before - PT) / 1000000 - 1 ))e-3" "$(( (after - PT) / 1000000 + 1 ))e-3"
check "metrics: cycle seconds plausible" between "$(metric nestor_group_cycle_seconds)" 0.000001 30
check "metrics: no drill samples yet" [ -z "$(metric nestor_drill_last_result)" ]
check "metrics: /other is 404" [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/other")" = 404 ]
check "metrics: POST refused (501)" [ "$(curl -s -o /dev/null -w "%{http_code}" -X POST "http://127.0.0.1:$MPORT/metrics")" = 501 ]

# a drill report as failover/report.c writes it: the newest one counts
mkdir -p "$T/store/g1/drills"
echo '{"drill":"d1","verdict":"fail","started_ns":1,"vms":[{"rto_s":99}]}' > "$T/store/g1/drills/d1.json"
touch -d '1 hour ago' "$T/store/g1/drills/d1.json"
echo '{"drill":"d2","verdict":"pass","started_ns":2,"vms":[{"rto_s":7.5},{"rto_s":12.25}]}' > "$T/store/g1/drills/d2.json"
check "metrics: last drill passed" [ "$(metric nestor_drill_last_result)" = 1 ]
check "metrics: last drill RTO = slowest VM" [ "$(metric nestor_drill_last_rto_seconds)" = 12.25 ]
check "metrics: last drill's start (started_ns 2)" \
	[ "$(metric nestor_drill_last_timestamp_seconds)" = 2e-09 ]
R=$("$NESTOR" status --config "$T/receiver.conf" --json)
check "receiver: last drill d2 pass" [ "$(rj last_drill.id) $(rj last_drill.verdict) $(rj last_drill.rto_seconds)" = "d2 pass 12.25" ]

# an interrupted transfer counts as a failure and shows as pending
random_writes "$T/a.raw" raw 200 65536 3 >/dev/null
sed -i 's/^min_interval.*//' "$T/agent.conf"
"$NESTOR" agent --config "$T/agent.conf" --once --no-progress >>"$T/agent.log" 2>&1 &
AG=$!
for i in $(seq 1 200); do
	[ -f "$T/store/g1/pending.json" ] && break
	sleep 0.02
done
kill -9 $AG; wait $AG 2>/dev/null
for i in $(seq 1 50); do [ "$(metric nestor_group_failures_total)" = 1 ] && break; sleep 0.1; done
check "metrics: killed agent counted as 1 failure" [ "$(metric nestor_group_failures_total)" = 1 ]
check "metrics: still 2 committed" [ "$(metric nestor_group_points_committed_total)" = 2 ]
R=$("$NESTOR" status --config "$T/receiver.conf" --json)
check "receiver: point 3 pending" [ "$(rj pending.point)" = 3 ]

stop_receiver
finish
