#!/bin/bash
# The agent daemon: two groups with RPO targets of 10 s and 20 s replicate
# continuously while their sources change; the achieved RPO stays under
# target; with the receiver down longer than the target the breach is
# reported and clears by itself once it is back; SIGHUP adds and removes a
# group without touching the others; SIGTERM stops cleanly; the last points
# verify identical.
. "$(dirname "$0")/lib.sh"

make_pki
write_receiver_conf
start_receiver
truncate -s 64M "$T/a.raw" "$T/b.raw" "$T/c.raw"
write_agent_conf "$T/agent.conf" agent1 ga a="$T/a.raw:raw"
printf 'rpo = 10s\nmin_interval = 2s\n' > "$T/ga.keys"
sed -i "/^\[group ga\]/r $T/ga.keys" "$T/agent.conf"
cat >> "$T/agent.conf" <<EOC

[group gb]
rpo = 20s
min_interval = 3s

[disk gb b]
path = $T/b.raw
format = raw
EOC
sed -i 's/^compress_level.*/&\nretry_max = 4s/' "$T/agent.conf"
"$NESTOR" config check agent "$T/agent.conf" >/dev/null || die "bad test config"

# writer: both images change every half second
( while :; do random_writes "$T/a.raw" raw 4 65536 $RANDOM >/dev/null
	random_writes "$T/b.raw" raw 4 65536 $RANDOM >/dev/null; sleep 0.5; done ) &
WRITER=$!
"$NESTOR" agent --config "$T/agent.conf" >>"$T/daemon.log" 2>&1 &
DAEMON=$!
trap 'kill $WRITER $DAEMON 2>/dev/null; cleanup' EXIT

status() { jq -r ".$2" "$T/agent-state/$1/status.json" 2>/dev/null; }
max_rpo_a=0 max_rpo_b=0
for i in $(seq 1 15); do
	sleep 2
	ra=$(status ga rpo_seconds); rb=$(status gb rpo_seconds)
	[ "${ra:-0}" -gt $max_rpo_a ] && max_rpo_a=$ra
	[ "${rb:-0}" -gt $max_rpo_b ] && max_rpo_b=$rb
done
echo "max RPO: ga $max_rpo_a s, gb $max_rpo_b s; points ga $(npoints ga), gb $(npoints gb)"
check "ga RPO stayed under 10 s ($max_rpo_a)" [ "$max_rpo_a" -lt 10 ]
check "gb RPO stayed under 20 s ($max_rpo_b)" [ "$max_rpo_b" -lt 20 ]
check "ga replicated continuously" [ "$(npoints ga)" -ge 5 ]
check "gb replicated continuously" [ "$(npoints gb)" -ge 4 ]

# receiver down for 16 s: ga's target (10 s) is breached and reported
kill9_receiver
sleep 16
check "breach reported in ga's status" [ "$(status ga rpo_breached)" = true ]
check "breach logged" grep -q "group ga: RPO .* exceeds the target of 10 s" "$T/daemon.log"
start_receiver
for i in $(seq 1 30); do
	[ "$(status ga rpo_breached)" = false ] && break
	sleep 1
done
check "ga recovered by itself" [ "$(status ga rpo_breached)" = false ]

# SIGHUP: add gc, keep ga and gb running
cat >> "$T/agent.conf" <<EOC

[group gc]
rpo = 30s

[disk gc c]
path = $T/c.raw
format = raw
EOC
pa=$(npoints ga)
kill -HUP $DAEMON
for i in $(seq 1 20); do [ "$(npoints gc)" -ge 1 ] && break; sleep 1; done
check "reload started the new group" [ "$(npoints gc)" -ge 1 ]
check "reload did not restart ga" bash -c "! grep -q 'group ga: changed' '$T/daemon.log'"
sleep 3
check "ga kept replicating across the reload" [ "$(npoints ga)" -gt "$pa" ]

# SIGTERM: stops within seconds
kill $WRITER; wait $WRITER 2>/dev/null
sleep 3
kill -TERM $DAEMON
for i in $(seq 1 50); do kill -0 $DAEMON 2>/dev/null || break; sleep 0.2; done
check "daemon stopped on SIGTERM" bash -c "! kill -0 $DAEMON 2>/dev/null"
wait $DAEMON; rc=$?
check "daemon exit code 0" [ $rc = 0 ]
# final state replicated and verified
check "ga's final state" agent_once "$T/agent.conf" --group ga
check "ga verifies identical" "$NESTOR" verify --config "$T/agent.conf" ga
check "gb verifies against its newest point" bash -c "agent_once() { :; }; '$NESTOR' agent --config '$T/agent.conf' --once --group gb --no-progress 2>/dev/null >/dev/null && '$NESTOR' verify --config '$T/agent.conf' gb >/dev/null"
stop_receiver
finish
