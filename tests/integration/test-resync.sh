#!/bin/bash
# Broken change tracking never turns into a wrong incremental or a full
# resend: a removed qcow2 bitmap, lost agent state and a resized disk each
# make the next cycle compare block hashes with the receiver's newest point
# and send only the blocks that differ; every point compares identical.
. "$(dirname "$0")/lib.sh"

pki_and_receiver
G=rs
random_os_data_group $G 512M 1200
agent_once "$T/agent.conf" >/dev/null || die "seed failed"

cycle() { # cycle NAME: run one cycle, check identity, echo the JSON
	local out pt
	out=$(agent_once "$T/agent.conf") || { tail -20 "$T/agent.log" >&2; return 1; }
	pt=$(echo "$out" | jq .point)
	same_image "$T/os.qcow2" qcow2 $G os "$pt" || { echo "$1: os differs" >&2; return 1; }
	same_image "$T/data.raw" raw $G data "$pt" || { echo "$1: data differs" >&2; return 1; }
	echo "$out"
}

# 1. bitmap removed by hand
w1=$(random_writes "$T/os.qcow2" qcow2 40 65536 11)
w2=$(random_writes "$T/data.raw" raw 40 65536 12)
qemu-img bitmap --remove "$T/os.qcow2" nestor.1 2>/dev/null ||
	for b in $(qemu-img info --output=json "$T/os.qcow2" | jq -r '.["format-specific"].data.bitmaps[]?.name'); do
		qemu-img bitmap --remove "$T/os.qcow2" "$b"; done
out=$(cycle bitmap) || die "cycle after a lost bitmap failed"
echo "lost bitmap: $out"
check "lost bitmap: resync" [ "$(echo "$out" | jq .resync)" = true ]
check "lost bitmap: on top of the newest point" [ "$(echo "$out" | jq .base)" = 1 ]
sent=$(echo "$out" | jq .bytes_data)
check "lost bitmap: sent $sent <= 1.2 x changed $((w1 + w2))" [ "$sent" -le $(((w1 + w2) * 12 / 10)) ]

# 2. agent state lost (e.g. a reinstalled agent)
w1=$(random_writes "$T/os.qcow2" qcow2 40 65536 21)
w2=$(random_writes "$T/data.raw" raw 40 65536 22)
rm -rf "$T/agent-state"
out=$(cycle state) || die "cycle after lost agent state failed"
echo "lost state: $out"
check "lost state: resync" [ "$(echo "$out" | jq .resync)" = true ]
sent=$(echo "$out" | jq .bytes_data)
check "lost state: sent $sent <= 1.2 x changed $((w1 + w2))" [ "$sent" -le $(((w1 + w2) * 12 / 10)) ]

# 3. a disk resized
truncate -s 640M "$T/data.raw"
w2=$(random_writes "$T/data.raw" raw 40 65536 31)
out=$(cycle resize) || die "cycle after a resize failed"
echo "resized: $out"
check "resized: resync" [ "$(echo "$out" | jq .resync)" = true ]
sent=$(echo "$out" | jq .bytes_data)
check "resized: sent $sent <= 1.2 x changed $w2" [ "$sent" -le $((w2 * 12 / 10)) ]

# 4. tracking works again afterwards
w1=$(random_writes "$T/os.qcow2" qcow2 20 65536 41)
out=$(cycle after) || die "cycle after the resyncs failed"
check "incremental again after the resyncs" [ "$(echo "$out" | jq .incremental)" = true ]
check "nestor verify: identical" "$NESTOR" verify --config "$T/agent.conf" $G
check "5 points" [ "$(npoints $G)" = 5 ]
stop_receiver
finish
