#!/bin/bash
# RBD -> local qcow2 store through the agent: seed plus three incrementals
# with random writes, discards and zeroed ranges between cycles; each point
# reads back byte-identical to the image (rbd export), discarded ranges read
# as zeros, and an incremental sends about what changed.
. "$(dirname "$0")/lib.sh"
W=$T
start_ceph

pki_and_receiver
rbd create --size 256M --image-feature layering,exclusive-lock,object-map,fast-diff rbd/vm1 \
	|| die "rbd create failed"
COMPRESS=0 write_agent_conf "$T/agent.conf" agent1 ceph vda=rbd:rbd/vm1

# rbd_write IMG OFFSET_KIB LEN_KIB: a fresh byte pattern through QEMU's rbd driver
rbd_write() {
	qemu-io -f raw -c "write -P $((RANDOM % 250 + 1)) $(($2 * 1024)) $(($3 * 1024))" \
		"rbd:rbd/vm1:conf=$CEPH_CONF" >/dev/null
}

rbd_write vm1 0 4096 || die "write failed"
rbd_write vm1 65536 2048
for cycle in 0 1 2 3; do
	changed=0
	if [ $cycle -gt 0 ]; then
		for i in 1 2 3 4 5 6 7 8; do
			rbd_write vm1 $(( (cycle * 7919 + i * 4099) % 200000 / 64 * 64 )) 64
			changed=$((changed + 65536))
		done
		# discard 4 MiB that held data, zero 1 MiB
		qemu-io -f raw -c "discard 0 4M" -c "write -z 65M 1M" "rbd:rbd/vm1:conf=$CEPH_CONF" >/dev/null
	fi
	cycle_once "cycle $cycle"
	pt=$PT
	rbd export rbd/vm1 "$W/export.raw" >/dev/null 2>&1 || die "rbd export failed"
	check "cycle $cycle: point $pt identical to the image" \
		qemu-img compare -q -f raw -F qcow2 "$W/export.raw" "$(point_file ceph vda "$pt")"
	if [ $cycle -gt 0 ]; then
		# Discards and zeroes travel as payload-free ZERO extents: the wire
		# carries the written data plus frame headers.
		check_sent_incremental "cycle $cycle" "$changed"
		check "cycle $cycle: discarded range reads zeros" \
			qemu-io -f qcow2 -r -c "read -P 0 0 4M" "$(point_file ceph vda "$pt")"
	fi
	rm -f "$W/export.raw"
done
# The base snapshot deleted by hand: the next cycle resyncs by block hashes
# against the receiver's newest point and sends only what differs.
rbd_write vm1 131072 64
for s in $(rbd snap ls rbd/vm1 --format json | jq -r '.[].name'); do
	rbd snap rm "rbd/vm1@$s" >/dev/null 2>&1
done
res=$(agent_once "$T/agent.conf") || { tail -20 "$T/agent.log"; die "cycle after a lost base failed"; }
echo "lost base: $res"
pt=$(echo "$res" | jq .point)
rbd export rbd/vm1 "$W/export.raw" >/dev/null 2>&1 || die "rbd export failed"
check "lost base snapshot: resync" [ "$(echo "$res" | jq .resync)" = true ]
check "lost base snapshot: point identical" \
	qemu-img compare -q -f raw -F qcow2 "$W/export.raw" "$(point_file ceph vda "$pt")"
check "lost base snapshot: sent $(echo "$res" | jq .bytes_data) bytes, about the 64 KiB written" \
	[ "$(echo "$res" | jq .bytes_data)" -le $((65536 * 12 / 10)) ]
stop_receiver
finish
