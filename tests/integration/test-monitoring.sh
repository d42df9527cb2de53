#!/bin/bash
# deploy/monitoring (issue 16, acceptance 3): the alerting rules pass
# `promtool check rules`; `promtool test rules` shows each alert firing for
# a series that should fire it and not for one that should not (RPO breach:
# g1 breaches, g2 does not, g3 is failed over); the Grafana dashboard is
# well formed and it and the rules read only metrics a real receiver's
# /metrics exports. Then proof that each check fails when it should.
. "$(dirname "$0")/lib.sh"

M=$ROOT/deploy/monitoring
CHK=$ROOT/tests/integration/monitoring-check.py
check "promtool check rules" promtool check rules "$M/nestor-alerts.yml"
check "promtool test rules" promtool test rules "$M/nestor-alerts.test.yml" "$M/nestor-alerts-drills.test.yml"

# a real receiver (metrics and notify on), one point, its /metrics
make_pki
write_receiver_conf
MPORT=$(free_port)
sed -i "s|^checkpoint_interval = .*|&\nmetrics = 127.0.0.1:$MPORT\nnotify = http://127.0.0.1:$(free_port)/none|" \
	"$T/receiver.conf"
start_receiver
truncate -s 8M "$T/a.raw"
random_writes "$T/a.raw" raw 8 65536 1 >/dev/null
write_agent_conf "$T/agent.conf" agent1 g1 a="$T/a.raw:raw"
agent_once "$T/agent.conf" >/dev/null || die "cycle failed"
curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" > "$T/metrics.txt" || die "no /metrics"
awk '$1 == "#" && $2 == "TYPE" { print $3 }' "$T/metrics.txt" | sort -u > "$T/names.txt"
echo "exported: $(tr '\n' ' ' < "$T/names.txt")"
check "the receiver exports what the alerts need" bash -c "
	for n in nestor_group_rpo_seconds nestor_group_rpo_target_seconds nestor_drill_last_result \
		 nestor_drill_last_timestamp_seconds nestor_group_failures_total nestor_notify_dropped_total; do
		grep -qx \$n '$T/names.txt' || { echo missing \$n; exit 1; }
	done"
check "the RPO target sample is there (default 300 s)" \
	grep -qx 'nestor_group_rpo_target_seconds{group="g1"} 300' "$T/metrics.txt"
check "dashboard and rules: well formed, exported metrics only" \
	python3 "$CHK" "$T/names.txt" "$M/nestor-dashboard.json" "$M/nestor-alerts.yml" "$T/dash-rules.yml"
check "the dashboard's expressions are valid PromQL" promtool check rules "$T/dash-rules.yml"

# --- each check can fail -------------------------------------------------
sed 's/nestor_group_rpo_seconds/nestor_group_rpo_secs/' "$M/nestor-dashboard.json" > "$T/renamed.json"
# fails CHECKER-ARGS... -- TEXT: the checker exits 1 and says TEXT
fails() {
	local args=() out=$T/check.out
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	! python3 "$CHK" "${args[@]}" "$T/x.yml" > "$out" 2>&1 && grep -qF -- "$2" "$out"
}
check "a renamed metric in the dashboard is caught" \
	fails "$T/names.txt" "$T/renamed.json" "$M/nestor-alerts.yml" -- "nestor_group_rpo_secs is not exported"
grep -vx nestor_drill_last_timestamp_seconds "$T/names.txt" > "$T/fewer.txt"
check "a metric the receiver stopped exporting is caught in the rules" \
	fails "$T/fewer.txt" "$M/nestor-dashboard.json" "$M/nestor-alerts.yml" -- \
	"rule NestorDrillOverdue: nestor_drill_last_timestamp_seconds is not exported"
head -c 2000 "$M/nestor-dashboard.json" > "$T/torn.json"
check "a dashboard that is not JSON is caught" \
	fails "$T/names.txt" "$T/torn.json" "$M/nestor-alerts.yml" -- "not JSON"
jq '.panels[2].gridPos.x = 0' "$M/nestor-dashboard.json" > "$T/overlap.json"
check "overlapping panels are caught" \
	fails "$T/names.txt" "$T/overlap.json" "$M/nestor-alerts.yml" -- "overlap"
mkdir -p "$T/weak"
cp "$M"/nestor-alerts*.yml "$T/weak/"
sed -i 's/nestor_group_rpo_seconds > nestor_group_rpo_target_seconds/nestor_group_rpo_seconds > 2 * nestor_group_rpo_target_seconds/' \
	"$T/weak/nestor-alerts.yml"
check "a weakened breach rule fails its rule test" bash -c \
	"! promtool test rules '$T/weak/nestor-alerts.test.yml' > '$T/weak.out' 2>&1 &&
	 grep -q 'alertname: NestorRPOBreach, time: 10m' '$T/weak.out'"
finish
