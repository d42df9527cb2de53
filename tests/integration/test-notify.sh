#!/bin/bash
# The webhook (issue 16, acceptance 4): a receiver with notify = URL and a
# group with a small RPO. The agent runs cycles, stops (breach), runs again
# (recovery): the target got exactly one rpo_breach and one rpo_recovered,
# fields checked. Then with the target down, and then stuck (accepts, never
# answers), the receiver keeps taking cycles and answering scrapes, and the
# events are delivered once the target is back (retried). Last, a failed
# drill and a failover are each told once.
. "$(dirname "$0")/lib.sh"

RPO=10
make_pki
write_receiver_conf
WPORT=$(free_port)
MPORT=$(free_port)
sed -i "s|^checkpoint_interval = .*|&\nmetrics = 127.0.0.1:$MPORT\nnotify = http://127.0.0.1:$WPORT/hook/nestor?token=t1|" \
	"$T/receiver.conf"
printf '\n[group g1]\nrpo = %ss\n' "$RPO" >> "$T/receiver.conf"
"$NESTOR" config check receiver "$T/receiver.conf" >/dev/null || die "notify or rpo refused"
sed 's|^notify = .*|notify = ftp://127.0.0.1/x|' "$T/receiver.conf" > "$T/bad.conf"
check "config check refuses another scheme" bash -c "! '$NESTOR' config check receiver '$T/bad.conf' 2>'$T/bad.err'"
check "... saying why" grep -q "bad value 'ftp://127.0.0.1/x' for 'notify' in \[receiver\]: expected a URL starting with http:// or https://" "$T/bad.err"

EVENTS=$T/events.jsonl
HOOK_PID=
start_hook() { # start_hook [ok|hang [CERT KEY]]
	python3 "$ROOT/tests/integration/webhook.py" "$WPORT" "$EVENTS" "${1:-ok}" "${@:2}" > "$T/hook.out" 2>&1 &
	HOOK_PID=$!
	for _ in $(seq 1 100); do grep -q listening "$T/hook.out" 2>/dev/null && return 0; sleep 0.05; done
	die "webhook target did not start"
}
stop_hook() { [ -n "$HOOK_PID" ] && kill "$HOOK_PID" 2>/dev/null; wait "$HOOK_PID" 2>/dev/null; HOOK_PID=; }
trap 'stop_hook; cleanup' EXIT
nevents() { [ -f "$EVENTS" ] && wc -l < "$EVENTS" || echo 0; }
have_events() { [ "$(nevents)" -ge "$1" ]; }
ev() { sed -n "${1}p" "$EVENTS" | jq -r "$2"; } # ev LINE FILTER
# wait_for SECONDS CMD...: until CMD succeeds, at most SECONDS
wait_for() {
	local end=$((SECONDS + $1)); shift
	until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}
metric() { curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
rx_logged() { [ "$(grep -ac "$1" "$T/receiver.log")" -ge "$2" ]; }

start_hook
start_receiver
truncate -s 16M "$T/a.raw"
random_writes "$T/a.raw" raw 20 65536 1 >/dev/null
write_agent_conf "$T/agent.conf" agent1 g1 a="$T/a.raw:raw"
cycle() { # cycle SEED: a few writes and one agent cycle
	random_writes "$T/a.raw" raw 4 65536 "$1" >/dev/null
	agent_once "$T/agent.conf" >/dev/null || { tail -n 20 "$T/agent.log" "$T/receiver.log"; die "cycle $1 failed"; }
}

# --- the target up: one breach, one recovery ------------------------------
cycle 2
cycle 3
check "exported RPO target = the group's rpo" [ "$(metric 'nestor_group_rpo_target_seconds{group="g1"}')" = "$RPO" ]
check "within its RPO: no event" [ "$(nevents)" = 0 ]
# the agent stopped: past RPO plus one check the breach must be in
check "breach event delivered" wait_for $((RPO + 15)) have_events 1
echo "event 1: $(sed -n 1p "$EVENTS")"
check_eq "event 1 is rpo_breach" rpo_breach "$(ev 1 .event)"
check_eq "event 1 group" g1 "$(ev 1 .group)"
check_eq "event 1 target_s" "$RPO" "$(ev 1 .target_s)"
check "event 1 rpo_s past the target" python3 -c "import sys; sys.exit(0 if $RPO < $(ev 1 .rpo_s) < $RPO + 15 else 1)"
check "event 1 at is UTC ISO 8601 within a minute" python3 -c "
import datetime, sys
t = datetime.datetime.strptime('$(ev 1 .at)', '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)
sys.exit(0 if abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()) < 60 else 1)"
check "event 1 detail names group and target" bash -c "[[ '$(ev 1 .detail)' == *'g1'*'past its RPO target of $RPO s'* ]]"
check_eq "event 1 has exactly the six fields" '["at","detail","event","group","rpo_s","target_s"]' \
	"$(ev 1 'keys | tostring')"
sleep $((2 * 5 + 1)) # two more checks while breached
check_eq "the breach is told once" 1 "$(nevents)"
cycle 4
check "recovery event delivered" wait_for 15 have_events 2
echo "event 2: $(sed -n 2p "$EVENTS")"
check_eq "event 2 is rpo_recovered" rpo_recovered "$(ev 2 .event)"
check_eq "event 2 group" g1 "$(ev 2 .group)"
check "event 2 rpo_s within the target" python3 -c "import sys; sys.exit(0 if 0 <= $(ev 2 .rpo_s) <= $RPO else 1)"
check_eq "exactly one breach and one recovery" "rpo_breach rpo_recovered" \
	"$(jq -r .event "$EVENTS" | tr '\n' ' ' | sed 's/ $//')"
check_eq "metrics: 2 sent" 2 "$(metric nestor_notify_sent_total)"

# --- the target down, then stuck: the receiver goes on, the events wait ---
stop_hook
check "breach seen with the target down" wait_for $((RPO + 15)) rx_logged "notify: rpo_breach" 2
check "the failed post is logged and retried" wait_for 10 rx_logged "next attempt in" 1
check_eq "nothing delivered meanwhile" 2 "$(nevents)"
# stuck: accepts and never answers; wait until the receiver's thread is in it
start_hook hang
check "the receiver posts to the stuck target" wait_for 70 grep -q accepted "$T/hook.out"
start_t=$(date +%s%N)
Q=$(metric nestor_notify_queued)
check "scrape answers at once with the target stuck" \
	[ $(( ($(date +%s%N) - start_t) / 1000000 )) -lt 2000 ]
check_eq "the breach is queued" 1 "$Q"
start_t=$(date +%s%N)
cycle 5
check "a cycle with the target stuck takes normal time (< 20 s)" \
	[ $(( ($(date +%s%N) - start_t) / 1000000000 )) -lt 20 ]
check "status with the target stuck" bash -c "'$NESTOR' status --config '$T/receiver.conf' --json | jq -e '.groups[0].points == 4' >/dev/null"
check "recovery seen with the target stuck" wait_for 10 rx_logged "notify: rpo_recovered" 2
stop_hook
start_hook
check "queued events delivered once the target is back" wait_for 75 have_events 4
# The agent stopped again, so more breaches may come: what was delivered
# is exactly what the receiver saw, in order, each edge once.
logged() { grep -ao 'notify: rpo_[a-z]*' "$T/receiver.log" | sed 's/notify: //' | tr '\n' ' '; }
delivered() { jq -r .event "$EVENTS" | tr '\n' ' '; }
same_as_logged() { [ "$(logged)" = "$(delivered)" ]; }
check "delivered = logged" wait_for 75 same_as_logged
echo "logged: $(logged); delivered: $(delivered)"
check "delivered in order, each once" bash -c "[[ '$(delivered)' == 'rpo_breach rpo_recovered rpo_breach rpo_recovered '* ]]"
check "breach and recovery alternate" python3 -c "
ev = '$(delivered)'.split()
import sys; sys.exit(0 if all(e == ('rpo_breach', 'rpo_recovered')[i % 2] for i, e in enumerate(ev)) else 1)"
check "metrics: retries counted" [ "$(metric nestor_notify_retries_total)" -ge 1 ]

# --- a failed drill and a failover (reports as failover/ writes them) ----
count_of() { jq -r .event "$EVENTS" | grep -cx "$1"; }
has_one() { [ "$(count_of "$1")" -ge 1 ]; }
mkdir -p "$T/store/g1/drills"
echo '{"drill":"d1","verdict":"pass","started_ns":1,"vms":[]}' > "$T/store/g1/drills/d1.json"
touch -d '1 minute ago' "$T/store/g1/drills/d1.json"
sleep $((5 + 2))
check_eq "a passed drill: no event" 0 "$(count_of drill_failed)"
echo '{"drill":"d2","verdict":"fail","started_ns":2,"vms":[]}' > "$T/store/g1/drills/d2.json"
check "drill_failed delivered" wait_for 15 has_one drill_failed
check_eq "drill_failed names the drill" "g1 group g1: drill d2 failed" \
	"$(jq -r 'select(.event == "drill_failed") | "\(.group) \(.detail)"' "$EVENTS")"
echo '{}' > "$T/store/g1/failover.json"
check "failover delivered" wait_for 15 has_one failover
sleep $((5 + 2))
check_eq "each told once" "1 1" "$(count_of drill_failed) $(count_of failover)"
check "receiver still running" kill -0 "$RX_PID"
check_eq "4 points committed" 4 "$(npoints g1)"
check_eq "metrics: every event sent, none dropped" "$(nevents) 0" \
	"$(metric nestor_notify_sent_total) $(metric nestor_notify_dropped_total)"

# --- https: the target's certificate is checked --------------------------
# A restart: the group (failed back: marker gone) is past its RPO, which is
# told again at first sight. First with a CA that did not sign the
# target's certificate: nothing is delivered; then with the right one.
stop_receiver
stop_hook
rm -f "$T/store/g1/failover.json"
mkdir -p "$T/pki2"
"$ROOT/deploy/nestor-pki.sh" "$T/pki2" ca >/dev/null 2>&1
n0=$(nevents)
sed -i "s|^notify = .*|notify = https://127.0.0.1:$WPORT/hook\nnotify_ca = $T/pki2/ca.crt|" "$T/receiver.conf"
"$NESTOR" config check receiver "$T/receiver.conf" >/dev/null || die "https notify refused"
sed "s|^notify_ca = .*|notify_ca = $T/nope.pem|" "$T/receiver.conf" > "$T/bad-ca.conf"
check "config check refuses an unreadable notify_ca" bash -c \
	"! '$NESTOR' config check receiver '$T/bad-ca.conf' 2>'$T/bad-ca.err' &&
	 grep -q 'cannot load the CA certificates $T/nope.pem' '$T/bad-ca.err'"
start_hook ok "$T/pki/receiver.crt" "$T/pki/receiver.key"
start_receiver
check "https: a certificate from another CA is refused" wait_for 20 rx_logged "certificate verify failed" 1
check_eq "https: nothing delivered to it" "$n0" "$(nevents)"
stop_receiver
sed -i "s|^notify_ca = .*|notify_ca = $T/pki/ca.crt|" "$T/receiver.conf"
start_receiver
check "https: the breach is delivered after the restart" wait_for 20 have_events $((n0 + 1))
check_eq "https: it is the group's breach" "rpo_breach g1" "$(ev $((n0 + 1)) '"\(.event) \(.group)"')"
finish
