#!/bin/bash
# Issue 12 acceptance 4 (connection hygiene): 1000 idle TLS connections from
# a CN without a [client] section and 1000 half-open TCP connections, opened
# at once, while a real agent completes a cycle; every hostile connection is
# closed by the deadlines (seen from its own side), none is sent a byte of
# the protocol, the refusals are logged rate-limited, and the receiver's
# descriptors return to their baseline. Then the caps: per address and per
# client CN close at once (the real agent over its cap is told why), a quiet
# session is closed at idle_timeout, and a receiver under a low descriptor limit
# lowers max_conns to fit it, refuses the excess at once and still serves
# the agent once the flood is gone.
. "$(dirname "$0")/lib.sh"

# 2000 sockets on each side, and the receiver's own.
ulimit -n 16384 || die "cannot raise the descriptor limit"
# handshake_timeout of these tests: short, so the test is quick, but long
# enough for the flood's 1000 handshakes on this machine now (set below
# from a measured 100).
HS=4
SLACK=5

make_pki
"$ROOT/deploy/nestor-pki.sh" "$T/pki" agent stranger >/dev/null || die "pki"
write_receiver_conf
# set_rx KEY VALUE: a [receiver] key of the test's configuration.
set_rx() {
	sed -i "/^$1 = /d" "$T/receiver.conf"
	sed -i "s|^checkpoint_interval = .*|&\n$1 = $2|" "$T/receiver.conf"
}
# jq_is JSON FILTER: the filter is true of the flood's JSON.
jq_is() { [ "$(jq -r "$2" "$1")" = true ]; }
# Deadlines, not caps, must close the flood of the first part.
set_rx max_conns 4096
set_rx max_conns_per_address 5000
P=$T/pki
FLOOD="python3 $ROOT/tests/integration/connflood.py --port $PORT --ca $P/ca.crt"

# The deadline follows the work: 100 unknown-CN handshakes at once, under a
# deadline they cannot reach, take C s here (TCG guests and other tests may
# share the cores); the 1000 of the flood (with 1000 half-open connections
# and an agent's cycle beside them) get 3 x 10 x C, 4 s at least. Under a
# shorter deadline they all progress together and none may finish in time.
set_rx handshake_timeout 120s
"$NESTOR" config check receiver "$T/receiver.conf" >/dev/null || die "config check refused the keys"
start_receiver
$FLOOD --wait 120 "cal:tls:100:127.0.0.8:$P/stranger.crt:$P/stranger.key" > "$T/cal.json" ||
	die "calibration flood failed"
cat "$T/cal.json"
check "calibration: 100 unknown-CN connections refused, no byte of the protocol" \
	jq_is "$T/cal.json" '.cal.closed == 100 and .cal.got_data == 0'
HS=$(jq -r '.cal.max_life * 30 | ceil | if . < 4 then 4 else . end' "$T/cal.json")
echo "100 handshakes took $(jq .cal.max_life "$T/cal.json") s: handshake_timeout ${HS}s"
stop_receiver
mv "$T/receiver.log" "$T/receiver-cal.log"
set_rx handshake_timeout ${HS}s
start_receiver

truncate -s 64M "$T/d.raw"
random_writes "$T/d.raw" raw 64 65536 7 >/dev/null
write_agent_conf "$T/agent.conf" agent1 g d="$T/d.raw:raw"

nfd() { ls "/proc/$RX_PID/fd" | wc -l; }
# fd_back_to BASE: the receiver's descriptors fall back to BASE (bounded wait).
fd_back_to() {
	local i
	for i in $(seq 1 100); do
		[ "$(nfd)" -le "$1" ] && return 0
		sleep 0.1
	done
	echo "receiver holds $(nfd) descriptors, baseline $1" >&2
	ls -l "/proc/$RX_PID/fd" >&2
	return 1
}

base=$(nfd)
echo "receiver descriptors at rest: $base"

# ---- 1000 TLS (unknown CN) + 1000 half-open, and a real agent meanwhile ----
rm -f "$T/ready"
$FLOOD --ready "$T/ready" --wait $((HS + SLACK + 60)) \
	"tls:tls:1000:127.0.0.2:$P/stranger.crt:$P/stranger.key" \
	"tcp:tcp:1000:127.0.0.3" > "$T/flood.json" 2>"$T/flood.err" &
FPID=$!
for i in $(seq 1 600); do [ -e "$T/ready" ] && break; kill -0 $FPID 2>/dev/null || break; sleep 0.05; done
check "the flood is up before the agent starts" [ -e "$T/ready" ]
n=$(nfd)
check "the receiver holds the flood ($n descriptors) when the agent starts" [ "$n" -ge 1000 ]
t0=$(date +%s%N)
cycle_once "cycle under the flood"
echo "agent cycle took $((($(date +%s%N) - t0) / 1000000)) ms"
check "the agent committed point 1 under the flood" [ "$PT" = 1 ]
check "the point is the source image" same_image "$T/d.raw" raw g d 1
wait $FPID || { cat "$T/flood.err"; die "flood helper failed"; }
cat "$T/flood.json"
F=$T/flood.json
check "1000 TLS connections were made" jq_is "$F" '.tls.n == 1000'
check "every TLS connection was closed by the receiver" jq_is "$F" '.tls.closed == 1000'
check "within the handshake deadline + ${SLACK} s" jq_is "$F" ".tls.max_life < $HS + $SLACK"
check "no TLS connection of an unknown CN got a byte of the protocol" jq_is "$F" '.tls.got_data == 0'
check "1000 half-open connections were made" jq_is "$F" '.tcp.n == 1000 and .tcp.connect_failed == 0'
check "every half-open connection was closed by the receiver" jq_is "$F" '.tcp.closed == 1000'
check "at the handshake deadline, not before" jq_is "$F" ".tcp.min_life >= $HS - 0.5"
check "and not long after" jq_is "$F" ".tcp.max_life < $HS + $SLACK"
check "receiver descriptors back to the baseline ($base)" fd_back_to "$base"
# One line per kind and 10 s: at most 5, or more if the flood lasted longer.
lines=$(((HS + SLACK) / 10 + 2)); [ $lines -ge 5 ] || lines=5
n=$(grep -c "certificate CN 'stranger' has no \[client\] section" "$T/receiver.log")
check "unknown CN logged, rate-limited: $n lines for 1000 (<= $lines)" [ "$n" -ge 1 -a "$n" -le $lines ]
n=$(grep -c "closed before a session: TLS handshake not completed within $HS s" "$T/receiver.log")
check "handshake timeouts logged, rate-limited: $n lines for 1000 (<= $lines)" [ "$n" -ge 1 -a "$n" -le $lines ]
# The held-back ones are summed up once the interval is over.
wait_grep "more connections closed before a session in the last" "$T/receiver.log" 15
check "the summary counts the unknown CNs not logged one by one" \
	grep -q "more connections closed for a certificate without a \[client\] section" "$T/receiver.log"
check "the summary counts the handshake timeouts not logged one by one" \
	grep -q "more connections closed before a session in the last" "$T/receiver.log"
check "receiver alive" kill -0 "$RX_PID"

# ---- caps: per address before TLS, per client CN after it ----
stop_receiver
set_rx max_conns_per_address 8
set_rx max_conns_per_client 2
set_rx idle_timeout 10s
start_receiver
$FLOOD --wait 2 "tcp:tcp:20:127.0.0.4" > "$F"
cat "$F"
check "per address: 8 held (until the deadline)" jq_is "$F" '.tcp.open == 8'
check "per address: the 12 over the cap closed at once" jq_is "$F" '.tcp.closed == 12 and .tcp.quick == 12'
$FLOOD --wait 3 "a1:tls:3:127.0.0.5:$P/agent1.crt:$P/agent1.key" > "$F"
cat "$F"
check "per client: two sessions of agent1 stay" jq_is "$F" '.a1.open == 2'
check "per client: the third is closed right after the handshake" jq_is "$F" '.a1.closed == 1 and .a1.max_life < 2'
check "per client: all three heard from the receiver (HELLO, or ERROR saying why)" jq_is "$F" '.a1.got_data == 3'
# The real agent over its cap is told why.
rm -f "$T/ready"
$FLOOD --ready "$T/ready" --wait 5 "a1:tls:2:127.0.0.5:$P/agent1.crt:$P/agent1.key" >/dev/null &
FPID=$!
for i in $(seq 1 100); do [ -e "$T/ready" ] && break; sleep 0.05; done
sleep 0.5 # their handshakes
check "the agent over its connection cap fails" bash -c "! '$NESTOR' agent --config '$T/agent.conf' --once --no-progress 2>'$T/a-cap.log'"
check "and its log says why" grep -q "too many connections of agent1: per-client limit" "$T/a-cap.log"
wait $FPID
check "per-client refusal logged" grep -q "as agent1 closed: per-client limit" "$T/receiver.log"
# An authenticated session that goes quiet is closed at idle_timeout.
$FLOOD --wait 20 "idle:tls:1:127.0.0.7:$P/agent1.crt:$P/agent1.key" > "$F"
cat "$F"
check "an idle session got the protocol, then was closed at idle_timeout (10 s)" \
	jq_is "$F" '.idle.got_data == 1 and .idle.closed == 1 and .idle.min_life >= 9.5 and .idle.max_life < 14'
check "idle close logged" grep -q "connection closed: idle for 10 s" "$T/receiver.log"
check "per-address refusal logged" grep -q "from 127.0.0.4 refused at once: per-address limit" "$T/receiver.log"

# ---- a low descriptor limit: max_conns fitted to it, excess refused at once ----
stop_receiver
set_rx max_conns_per_address 5000
set_rx max_conns 1024
(ulimit -n 128 && exec "$NESTOR" receiver --config "$T/receiver.conf" >>"$T/receiver.log" 2>&1) &
RX_PID=$!
for i in $(seq 1 100); do grep -q "lowered to 32" "$T/receiver.log" && break; sleep 0.05; done
check "max_conns lowered to fit ulimit -n 128" grep -q "max_conns 1024 lowered to 32: the descriptor limit is 128" "$T/receiver.log"
for i in $(seq 1 100); do [ "$(grep -c listening "$T/receiver.log")" -ge 3 ] && break; sleep 0.05; done
base=$(nfd)
$FLOOD --wait $((HS + SLACK)) "tcp:tcp:200:127.0.0.6" > "$F"
cat "$F"
check "low limit: 168 over max_conns closed at once" jq_is "$F" '.tcp.closed == 200 and .tcp.quick == 168'
check "low limit: no connection outlived the deadline" jq_is "$F" ".tcp.max_life < $HS + $SLACK"
check "global cap logged" grep -q "refused at once: connection limit (max_conns)" "$T/receiver.log"
random_writes "$T/d.raw" raw 16 65536 8 >/dev/null
cycle_once "cycle after the flood under ulimit -n 128"
check "the agent committed point 2 under ulimit -n 128" [ "$PT" = 2 ]
check "receiver descriptors back to the baseline ($base)" fd_back_to "$base"
check "receiver alive" kill -0 "$RX_PID"
stop_receiver
finish
