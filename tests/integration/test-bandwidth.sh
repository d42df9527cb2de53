#!/bin/bash
# A bandwidth limit of 20 MiB/s holds within +-10% over a 30 s transfer
# (incompressible data, compression off, so the wire carries the payload).
. "$(dirname "$0")/lib.sh"

make_pki
write_receiver_conf
start_receiver
truncate -s 1G "$T/d.raw"
head -c 600M /dev/urandom | dd of="$T/d.raw" conv=notrunc status=none
COMPRESS=0 write_agent_conf "$T/agent.conf" agent1 bw d="$T/d.raw:raw"
sed -i 's/^\[group bw\]$/[group bw]\nbandwidth = 20M/' "$T/agent.conf"
"$NESTOR" config check agent "$T/agent.conf" >/dev/null || die "bad config"
out=$(agent_once "$T/agent.conf") || die "transfer failed"
echo "$out"
rate=$(echo "$out" | jq '.bytes_wire / .seconds / 1048576')
echo "achieved $rate MiB/s (limit 20)"
check "rate within 10% of 20 MiB/s ($rate)" \
	python3 -c "import sys; r=float(sys.argv[1]); sys.exit(0 if 18 <= r <= 22 else 1)" "$rate"
check "transfer took about 30 s" \
	python3 -c "import sys; s=float(sys.argv[1]); sys.exit(0 if 27 <= s <= 35 else 1)" "$(echo "$out" | jq .seconds)"
check "point identical" same_image "$T/d.raw" raw bw d 1
stop_receiver
finish
