#!/bin/bash
# Issue 17, RPO under one second: the agent daemon with min_interval = 0
# keeps its TLS connection to the receiver between cycles instead of a
# handshake per cycle. (1) A kept connection the receiver dropped while the
# daemon sat between two cycles (the receiver restarted there: the daemon
# is stopped at the pause point "kept-conn") costs no failed cycle: the
# next point is committed on a new connection at once, with no error line.
# (2) Without the pause, many points ride on one connection, closed in order
# when the daemon stops.
. "$(dirname "$0")/lib.sh"

DAEMON=
stop_all() {
	[ -n "$DAEMON" ] && kill -9 "$DAEMON" 2>/dev/null
	cleanup
}
trap stop_all EXIT
# wait_stopped PID: the process stopped itself (testhook_pause), within 60 s.
wait_stopped() {
	local i
	for i in $(seq 1 600); do
		[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = T ] && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
connections() { grep -c 'agent agent1 connected' "$T/receiver.log"; }

pki_and_receiver
G=keep
truncate -s 4M "$T/d.raw"
write_agent_conf "$T/agent.conf" agent1 $G d="$T/d.raw:raw"
sed -i "s/^\[group $G\]\$/&\nmin_interval = 0/" "$T/agent.conf"

# (1) Stopped before the first reuse of the seed's connection.
NESTOR_TEST_PAUSE=kept-conn "$NESTOR" agent --config "$T/agent.conf" >"$T/agent1.log" 2>&1 &
DAEMON=$!
wait_stopped "$DAEMON" || die "the daemon never reached the kept connection"
check_eq "the seed was committed before the pause" 1 "$(npoints $G)"
check_eq "one connection so far" 1 "$(connections)"
stop_receiver
start_receiver
kill -CONT "$DAEMON"
wait_stopped "$DAEMON" || die "the daemon did not come back to a kept connection"
check "the point after the restart was committed on a new connection" \
	test "$(npoints $G)" -ge 2
check_eq "the receiver saw the new connection" 2 "$(connections)"
check "the dropped connection was noticed and replaced" \
	grep -q 'the kept connection to the receiver is gone' "$T/agent1.log"
check_eq "no failed cycle, no error line" 0 \
	"$(grep -c -e 'cycle failed' -e ' agent error: ' "$T/agent1.log")"
kill -9 "$DAEMON"
wait "$DAEMON" 2>/dev/null
DAEMON=

# (2) Without the pause: cycles back to back on one connection, closed in
# order when the daemon stops (the receiver logs no connection error).
before_pts=$(npoints $G)
before_conns=$(connections)
rx_lines=$(wc -l < "$T/receiver.log")
"$NESTOR" agent --config "$T/agent.conf" >"$T/agent2.log" 2>&1 &
DAEMON=$!
for i in $(seq 1 600); do
	[ "$(npoints $G)" -ge $((before_pts + 10)) ] && break
	kill -0 "$DAEMON" 2>/dev/null || break
	sleep 0.1
done
kill -TERM "$DAEMON"
wait "$DAEMON" 2>/dev/null
DAEMON=
pts=$(($(npoints $G) - before_pts))
conns=$(($(connections) - before_conns))
echo "points $pts on $conns connection(s)"
check "ten points or more were committed" test "$pts" -ge 10
check "they shared one connection" test "$conns" -eq 1
check_eq "no error line" 0 "$(grep -c ' agent error: ' "$T/agent2.log")"
check_eq "the kept connection was closed in order at the stop" 0 \
	"$(tail -n +$((rx_lines + 1)) "$T/receiver.log" | grep -c 'connection error')"
finish
