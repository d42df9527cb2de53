#!/bin/bash
# A link that goes silent mid-transfer without closing (issue 13 item 5): a
# userspace proxy (blackhole.py) stops forwarding, as a stuck middlebox or a
# hung receiver would; TCP keepalive cannot see it (the kernels still ACK).
# The agent gives up within receiver_timeout plus slack with a clear message,
# and the next cycle, once the link is back, commits an identical point.
. "$(dirname "$0")/lib.sh"

pki_and_receiver
PX_PORT=$(free_port)
python3 "$ROOT/tests/integration/blackhole.py" "$PX_PORT" "$PORT" 2>>"$T/proxy.log" &
PX_PID=$!
trap 'kill "$PX_PID" 2>/dev/null; cleanup' EXIT
for i in $(seq 1 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$PX_PORT") 2>/dev/null && break
	sleep 0.05
done

G=cut
truncate -s 1G "$T/d.raw"
head -c 300M /dev/urandom | dd of="$T/d.raw" conv=notrunc status=none
COMPRESS=0 write_agent_conf "$T/agent.conf" agent1 $G d="$T/d.raw:raw"
sed -i -e "s/^receiver = .*/receiver = 127.0.0.1:$PX_PORT\nreceiver_timeout = 10s/" \
	-e "s/^\[group $G\]\$/[group $G]\nbandwidth = 20M/" "$T/agent.conf"
"$NESTOR" config check agent "$T/agent.conf" >/dev/null || die "receiver_timeout refused"

# 300 MiB at 20 MiB/s: about 15 s; the link goes silent after 3 s.
agent_once "$T/agent.conf" >"$T/cut.json" &
apid=$!
sleep 3
kill -USR1 "$PX_PID"
t0=$(date +%s.%N)
wait "$apid"; rc=$?
took=$(echo "$(date +%s.%N) - $t0" | bc)
echo "agent exit $rc, $took s after the cut"
check "agent fails on a silent link" [ "$rc" != 0 ]
check "not before receiver_timeout (10 s)" [ "$(echo "$took >= 9" | bc)" = 1 ]
# Slack: the 1 s tick, the socket buffers filling after the cut, and the
# bounded flush of the closing connection (5 s).
check "within receiver_timeout + 10 s" [ "$(echo "$took <= 20" | bc)" = 1 ]
check "clear message" grep -q "receiver silent for 10 s (receiver_timeout), giving up" "$T/agent.log"
check "no point from the cut cycle" [ "$(npoints $G)" = 0 ]

kill -USR2 "$PX_PID"
cycle_once "cycle after the link is back"
check "one point committed" [ "$(npoints $G)" = 1 ]
check "point identical to the source" same_image "$T/d.raw" raw $G d "$(last_point $G)"
stop_receiver
finish
