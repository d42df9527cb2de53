#!/bin/bash
# Live replication of a running libvirt guest through the agent (libvirt
# source): seed + three incrementals while the guest writes known data
# between cycles; each point compares identical with the guest's disks (the
# guest synced and is idle during the cycle), and each incremental sends
# about what the guest wrote. The guest keeps running throughout. Points of
# the running guest (no guest agent) and of the destroyed one are
# crash-consistent; after a shutdown by the guest, app-consistent.
. "$(dirname "$0")/lib.sh"
W=$T
start_libvirtd

pki_and_receiver
qemu-img create -q -f qcow2 -b "$("$LIB/vm-image.sh")" -F qcow2 "$W/boot.qcow2"
qemu-img create -q -f qcow2 "$W/data.qcow2" 64M
vm_define_start live1 "$W/boot.qcow2" "$W/data.qcow2" || die "cannot start the guest"
vm_wait_marker live1 NESTOR-BOOT-OK 180 || die "guest did not boot"

write_agent_conf "$T/agent.conf" agent1 live domains=live1

for cycle in 0 1 2 3; do
	# 8 x 64 KiB of fresh data at cycle-dependent offsets, then sync.
	guest_write_cycle live1 $cycle "for i in 0 1 2 3 4 5 6 7; do dd if=/dev/urandom of=/dev/vdb bs=64k count=1 seek=\$(( ($cycle * 97 + \$i * 13) % 1000 )) conv=notrunc,fsync 2>/dev/null; done; sync; echo written"
	res=$RES pt=$PT
	check "cycle $cycle: guest still running" bash -c "virsh -c '$VM_URI' domstate live1 | grep -q running"
	check "cycle $cycle: data disk identical" \
		qemu-img compare -U -q -f qcow2 -F qcow2 "$W/data.qcow2" "$(point_file live live1.vdb "$pt")"
	check "cycle $cycle: boot disk identical" \
		qemu-img compare -U -q -f qcow2 -F qcow2 "$W/boot.qcow2" "$(point_file live live1.vda "$pt")"
	if [ $cycle -gt 0 ]; then
		sent=$(echo "$res" | jq '.bytes_data + .bytes_zero')
		check "cycle $cycle incremental" [ "$(echo "$res" | jq .incremental)" = true ]
		check "cycle $cycle sent $sent <= 1.2 x 512 KiB + 64 KiB" [ "$sent" -le $((524288 * 12 / 10 + 65536)) ]
	fi
done
M=$T/store/live/meta/4.bin
# No guest agent in the test guest: paused for the instant, not frozen.
check "live points are crash-consistent (no guest agent)" \
	[ "$(points_json live | jq -r '[.points[].consistency] | unique | join(" ")')" = crash-consistent ]
check "point metadata says crash-consistent" jq -e '.consistency == "crash-consistent"' "$M"
check "point metadata carries the domain XML" jq -e '.vms[0].xml | test("<domain")' "$M"
check "point metadata maps vdb" jq -e '.vms[0].disks[] | select(.target == "vdb" and .disk == "live1.vdb")' "$M"
check "no nestor backup job left" bash -c "! virsh -c '$VM_URI' domjobinfo live1 | grep -qi backup"
check "one checkpoint left (the base)" [ "$(virsh -c "$VM_URI" checkpoint-list live1 --name | grep -c nestor)" = 1 ]
# A checkpoint deleted behind our back: the next cycle resyncs by block
# hashes (sending about what the guest wrote), and tracking resumes.
vm_run live1 "dd if=/dev/urandom of=/dev/vdb bs=64k count=2 seek=500 conv=notrunc,fsync 2>/dev/null; echo ok" >/dev/null
for cp in $(virsh -c "$VM_URI" checkpoint-list live1 --name); do
	virsh -c "$VM_URI" checkpoint-delete live1 "$cp" >/dev/null
done
check_cheap_resync "lost checkpoint"
pt=$PT
check "lost checkpoint: data disk identical" \
	qemu-img compare -U -q -f qcow2 -F qcow2 "$W/data.qcow2" "$(point_file live live1.vdb "$pt")"
res=$(agent_once "$T/agent.conf") || die "cycle after the resync failed"
check "incremental again after the resync" [ "$(echo "$res" | jq .incremental)" = true ]
# Shut off: the domain is replicated from its disk files without being
# started (file source on qcow2 bitmaps); switching sources resyncs cheaply.
virsh -c "$VM_URI" destroy live1 >/dev/null || die "cannot shut the guest off"
res=$(agent_once "$T/agent.conf") || { tail -20 "$T/agent.log"; die "cycle of a shut-off domain failed"; }
echo "shut off: $res"
pt=$(echo "$res" | jq .point)
check "shut off: point identical" \
	qemu-img compare -q -f qcow2 -F qcow2 "$W/data.qcow2" "$(point_file live live1.vdb "$pt")"
check_eq "shut off by destroy: crash-consistent" crash-consistent \
	"$(points_json live | jq -r ".points[] | select(.id == $pt) | .consistency")"
check "shut off: sends little ($(echo "$res" | jq .bytes_data) bytes)" \
	[ "$(echo "$res" | jq .bytes_data)" -le 1048576 ]
qemu-io -f qcow2 -c "write -P 7 1M 64k" "$W/data.qcow2" >/dev/null
res=$(agent_once "$T/agent.conf") || die "second cycle of a shut-off domain failed"
echo "shut off, written: $res"
pt=$(echo "$res" | jq .point)
check "shut off: incremental through the bitmap" [ "$(echo "$res" | jq .incremental)" = true ]
check "shut off: incremental sends the 64 KiB written" \
	[ "$(echo "$res" | jq .bytes_data)" -le $((65536 * 12 / 10)) ]
check "shut off: point identical after the write" \
	qemu-img compare -q -f qcow2 -F qcow2 "$W/data.qcow2" "$(point_file live live1.vdb "$pt")"
check "shut off: domain not started" bash -c "virsh -c '$VM_URI' domstate live1 | grep -q 'shut off'"
check "shut off: metadata has the VM" jq -e '.vms[0].name == "live1"' "$T/store/live/meta/$pt.bin"
# Shut down by its guest (the test guest's PID 1 has no ACPI handler: it
# powers off itself): nothing was in flight, app-consistent.
virsh -c "$VM_URI" start live1 >/dev/null || die "cannot start the guest again"
vm_wait_marker live1 NESTOR-BOOT-OK 180 || die "guest did not boot again"
vm_run live1 "sync; poweroff -f" 20 >/dev/null # no answer: the console closes
for i in $(seq 1 1200); do
	virsh -c "$VM_URI" domstate live1 | grep -q 'shut off' && break
	sleep 0.1
done
check "shut down by its guest" bash -c "virsh -c '$VM_URI' domstate --reason live1 | grep -q 'shut off (shutdown)'"
res=$(agent_once "$T/agent.conf") || die "cycle after a clean shutdown failed"
echo "clean shutdown: $res"
pt=$(echo "$res" | jq .point)
check_eq "clean shutdown: app-consistent" app-consistent \
	"$(points_json live | jq -r ".points[] | select(.id == $pt) | .consistency")"
check "clean shutdown: point identical" \
	qemu-img compare -q -f qcow2 -F qcow2 "$W/boot.qcow2" "$(point_file live live1.vda "$pt")"
vm_destroy live1
stop_receiver
finish
