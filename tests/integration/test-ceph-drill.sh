#!/bin/bash
# DR drill and failover from a Ceph replica store: the point's disks are RBD
# snapshots; the drill boots copy-on-write RBD clones of them (made in well
# under a second each) through QEMU's rbd driver, the guest sees the point's
# data, and after teardown no clone is left and the point's snapshots read
# exactly as before. A failover runs the VM on clones that stay.
. "$(dirname "$0")/lib.sh"
W=$T

G=cd
start_ceph
start_libvirtd
IMG=$("$LIB/vm-image.sh") || die "no test guest image"

make_pki
write_receiver_conf
use_ceph_store replicas
start_receiver

source_vm_disks
write_agent_conf "$T/agent.conf" agent1 $G os="$T/src/os.qcow2:qcow2" data="$T/src/data.raw:raw" \
	domain_xml="$T/src/cd1.xml"

# The source VM writes a pattern on its data disk, then stops.
vm_define_start cd1 "$T/src/os.qcow2" "$T/src/data.raw" >&2 || die "cannot define cd1"
vm_wait_marker cd1 NESTOR-BOOT-OK 120 || die "cd1 did not boot"
out=$(vm_run cd1 "dd if=/dev/urandom of=/dev/vdb bs=64k count=32 seek=7 conv=fsync 2>/dev/null && sync && md5sum /dev/vdb" 120) \
	|| die "guest write failed"
MD5=$(echo "$out" | awk '/\/dev\/vdb/ { print $1 }')
vm_destroy cd1 >&2
cp "$VM_DIR/cd1.xml" "$T/src/cd1.xml" || die "cd1's XML not written"
check "source data disk md5 as the guest saw it" [ "$(md5sum < "$T/src/data.raw" | cut -d' ' -f1)" = "$MD5" ]

res=$(agent_once "$T/agent.conf") || { tail -n 20 "$T/agent.log" "$T/receiver.log"; die "replication failed"; }
echo "point: $res"
pt=$(echo "$res" | jq .point)
snap_sums() {
	local d
	for d in os data; do rbd export "replicas/$G+$d@p$pt" - 2>/dev/null | md5sum; done
}
SUMS=$(snap_sums)
check "the point's data disk is the source's" \
	[ "$(rbd export "replicas/$G+data@p$pt" - 2>/dev/null | md5sum | cut -d' ' -f1)" = "$MD5" ]

"$NESTOR" drill --config "$T/receiver.conf" $G --json --timeout 150 \
	--check-cmd "md5sum /dev/vdb" >"$T/drill.json" 2>"$T/drill.log"
rc=$?
grep -E "cloned|verdict|error" "$T/drill.log"
jq -c '{drill, point, verdict, rpo_s, accel, teardown, vms: [.vms[] | {vm, rto_s, result}]}' "$T/drill.json"
check "drill: exit 0" [ $rc = 0 ]
check "drill: verdict pass" [ "$(jq -r .verdict "$T/drill.json")" = pass ]
check "drill: the guest booted from the clones sees the point's data" \
	grep -q "$MD5" <<<"$(jq -r '.vms[0].check.output' "$T/drill.json")"
n=0 slow=0
while read -r ms; do
	n=$((n + 1))
	[ "$ms" -lt 1000 ] || slow=$((slow + 1))
done < <(sed -n 's/.*cloned as rbd .* in \([0-9]*\) ms.*/\1/p' "$T/drill.log")
check "drill: both disks cloned ($n), each in under a second ($slow slower)" [ "$n" = 2 ] && [ "$slow" = 0 ]
WD=$(jq -r .workdir "$T/drill.json")
check "drill: the booted XML opens RBD clones through qemu's rbd driver" \
	bash -c "grep -qE 'protocol=.rbd. name=.replicas/drill-' '$WD/cd1.xml' && ! grep -q '$T/src' '$WD/cd1.xml'"
check "drill: no clone left" [ "$(rbd ls replicas | grep -c '^drill-')" = 0 ]
check "drill: no drill domain left" [ "$(virsh -q -c "$VM_URI" list --all --name | grep -c -- '-drill-')" = 0 ]
check "drill: the point's snapshots are unchanged" [ "$(snap_sums)" = "$SUMS" ]

# Failover from the ceph store: the VM runs for real on RBD clones of the
# point (its writes land in the clones, the point stays as it was); release
# after the VM is stopped keeps the clones: they hold the failed-over data.
"$NESTOR" failover --config "$T/receiver.conf" $G --json --check-cmd "md5sum /dev/vdb" \
	>"$T/fo.json" 2>"$T/fo.log"
rc=$?
grep -E "cloned|error" "$T/fo.log"
check "failover: exit 0" [ $rc = 0 ]
check "failover: the guest on the clones sees the point's data" \
	grep -q "$MD5" <<<"$(jq -r '.vms[0].check.output' "$T/fo.json")"
check "failover: both disks cloned" [ "$(rbd ls replicas | grep -c '^failover-')" = 2 ]
DOM=$(jq -r '.vms[0].domain' "$T/fo.json")
check "failover: domain $DOM runs" [ "$(virsh -q -c "$VM_URI" domstate "$DOM" 2>/dev/null)" = running ]
virsh -q -c "$VM_URI" destroy "$DOM" >/dev/null 2>&1
"$NESTOR" failover --config "$T/receiver.conf" --release $G 2>"$T/rel.log"
check "failover release: exit 0" [ $? = 0 ]
check "failover release: the clones with the VM's data stay" [ "$(rbd ls replicas | grep -c '^failover-')" = 2 ]
check "failover: the point's snapshots are unchanged" [ "$(snap_sums)" = "$SUMS" ]
stop_receiver
finish
