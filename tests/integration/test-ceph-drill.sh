#!/bin/bash
# DR drill and failover from a Ceph replica store: the point's disks are RBD
# snapshots; the drill boots copy-on-write RBD clones of them (made in well
# under a second each) through QEMU's rbd driver, the guest sees the point's
# data, and after teardown no clone is left and the point's snapshots read
# exactly as before. A failover runs the VM on clones that stay. Failback
# from the clones (issue 14, item 4): the first reverse point sends W u X
# only (W: what of the clones' own extents, parent excluded, differs from
# the point), the on-prem target reads
# like the clone's reverse snapshot, a second write goes alone as an
# incremental. failback finish makes point F of the clones (their own
# changes against the point, no second F after a receiver kill -9), cuts
# the on-prem disks over to them and releases the failover once; the next
# forward cycle is an incremental on F; the on-prem VM boots from the
# cut-over disks and reads W.
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

# Failback from the ceph store (issue 14, item 4): on-prem writes X after P
# (never replicated), the cloud guest writes W into a part of its data
# clone the point left empty and into one it holds (copied up whole);
# `failback start --once` sends of the clones' own extents (parent
# excluded) what differs from the point, u X, and the on-prem target reads
# like the clone's reverse snapshot; a second write goes alone.
T0=$SECONDS
KIB=1024
jqt() { jq -e "$@" >/dev/null; }
fb() { "$NESTOR" failback start --config "$T/agent.conf" $G --once --json; }
qemu-io -f raw -c "write -P 0x58 8M 128k" "$T/src/data.raw" >/dev/null
X=$((128 * KIB))
SHA=$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")
failover_console "$DOM" "$(jq -r .workdir "$T/fo.json")"
# W: 128 KiB into an object the point left empty (12 MiB), 128 KiB into
# one it holds (1 MiB: librbd copies the object's data into the clone first)
DD="dd if=/dev/urandom of=/dev/vdb bs=64k count=2 conv=fsync 2>/dev/null"
cloud_run "$DOM" "$DD seek=192 && $DD seek=16 && echo written" | grep -q written ||
	die "cloud write W failed"
W=$((256 * KIB))
CLONE=$(virsh -q -c "$VM_URI" domblklist "$DOM" | awk '$1 == "vdb" { print $2 }')
fb >"$T/fb1.json" 2>"$T/fb1.log"
rc=$?
cat "$T/fb1.json"; tail -3 "$T/fb1.log"; grep -E "own extents|u X:|reverse point" "$T/receiver.log"
check "failback start on ceph clones: exit 0" [ $rc = 0 ]
B1=$(jq .bytes "$T/fb1.json")
echo "first reverse point from the clones: $B1 bytes; |W| = $W, |X| = $X"
check "first reverse point: base 0, X from the tracking since P" \
	jqt ".point == 1 and .base == 0 and .x_whole == false and .x_bytes == $X" "$T/fb1.json"
check "bytes sent <= 1.2 x (|W| + |X|) + metadata ($B1 <= 1.2 x ($W + $X) + 64 KiB)" \
	[ "$B1" -le $(((W + X) * 12 / 10 + 64 * KIB)) ]
check "bytes sent >= |W| (nothing skipped; X reads as P's zeros: a zero extent)" [ "$B1" -ge "$W" ]
OWN=$(sed -n "s/.*disk data: the clone's own extents: \([0-9]*\) bytes.*/\1/p" "$T/receiver.log" | tail -1)
check "the clone owns the copied-up object ($OWN bytes: the point's 2 MiB in it), of which only W went" \
	[ "${OWN:-0}" -ge $((2048 * KIB + W)) ]
# the nestor-N reverse snapshots of the clone, once the DR side committed
rev_snaps() { rbd snap ls "$CLONE" --format json | jq -c '[.[] | select(.name | startswith("nestor-")) | .name]'; }
check "the receiver committed the reverse point" wait_until 30 grep -q "reverse point 1 committed on-prem" "$T/receiver.log"
RS=$(rev_snaps | jq -r '.[-1]')
check "the reverse point is an rbd snapshot of the clone ($CLONE@$RS)" [ "$RS" = nestor-1 ]
TD=$T/agent-state/failback/$G/disks
rbd export "$CLONE@$RS" "$T/clone1.raw" >/dev/null 2>&1
check "the on-prem target's point reads as the clone's reverse snapshot" \
	qemu-img compare -q -f qcow2 -F raw "$TD/data/1.qcow2" "$T/clone1.raw"
qemu-img convert -U -f qcow2 -O raw "$TD/data/1.qcow2" "$T/target-data.raw"
check "the target reads P's bytes at X (zeros), not on-prem's" \
	bash -c "! cmp -s -n $X -i 8388608:8388608 '$T/target-data.raw' '$T/src/data.raw' &&
		cmp -s -n $X -i 8388608 '$T/target-data.raw' /dev/zero"
check "on-prem disks bit-identical (sha256)" [ "$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")" = "$SHA" ]
cloud_run "$DOM" "dd if=/dev/urandom of=/dev/vdb bs=64k count=4 seek=224 conv=fsync 2>/dev/null && echo written" |
	grep -q written || die "cloud write W2 failed"
fb >"$T/fb2.json" 2>>"$T/fb1.log" || { tail -5 "$T/fb1.log"; die "second reverse point failed"; }
cat "$T/fb2.json"
B2=$(jq .bytes "$T/fb2.json")
check "second reverse point: incremental on the first" jqt '.point == 2 and .base == 1' "$T/fb2.json"
check "second reverse point carries the new 256 KiB only ($B2 bytes)" \
	[ "$B2" -ge $((256 * KIB)) ] && [ "$B2" -le $((256 * KIB * 12 / 10 + 64 * KIB)) ]
check "the first reverse snapshot is removed after the second's commit" \
	wait_until 30 bash -c "[ \"\$(rbd snap ls '$CLONE' --format json | jq -c '[.[] | .name]')\" = '[\"nestor-2\"]' ]"
rbd export "$CLONE@nestor-2" "$T/clone2.raw" >/dev/null 2>&1
check "the second point reads as the clone's second reverse snapshot" \
	qemu-img compare -q -f qcow2 -F raw "$TD/data/2.qcow2" "$T/clone2.raw"
echo "failback sync section: $((SECONDS - T0)) s"

# failback finish from the ceph store (issue 14, item 4, the cutover): the
# cloud VM writes once more (W3); the receiver, held once it has made F of
# the clones (before its answer), is killed -9; the finish fails with
# nothing cut over; its re-run gets the same F (no second point), commits
# the target into the on-prem disks, which then equal the clones at
# shutdown, as does F; the failover is released once, a third finish is a
# no-op, and the next forward cycle is an incremental on F.
T1=$SECONDS
stopped() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = T ]; }
OSCLONE=$(virsh -q -c "$VM_URI" domblklist "$DOM" | awk '$1 == "vda" { print $2 }')
cloud_run "$DOM" "dd if=/dev/urandom of=/dev/vdb bs=64k count=1 seek=240 conv=fsync 2>/dev/null && echo written" |
	grep -q written || die "cloud write W3 failed"
FIN="$NESTOR failback finish --config $T/agent.conf $G --shutdown-timeout 5"
CJ=$T/agent-state/failback/$G/cutover.json
stop_receiver
NESTOR_TEST_PAUSE=finish-promoted start_receiver
$FIN >"$T/fin1.out" 2>"$T/fin1.log" &
KPID=$!
wait_until 180 stopped "$RX_PID" || { kill -9 $KPID; tail "$T/fin1.log" "$T/receiver.log"; die "the receiver never made F"; }
F=$((pt + 1))
check "finish: the receiver made F = point $F of the clones (held before its answer)" [ "$(last_point $G)" = $F ]
check "finish: on-prem disks untouched while F is made" [ "$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")" = "$SHA" ]
kill -9 "$RX_PID"; wait "$RX_PID" 2>/dev/null; RX_PID=
wait $KPID
rc=$?
tail -1 "$T/fin1.log"
check "receiver killed once F was made: the finish fails (exit 1), nothing cut over, still failed over" \
	bash -c "[ $rc = 1 ] && jq -e '.state == \"requested\"' '$CJ' >/dev/null && [ -f '$T/store/$G/failover.json' ] &&
		[ \"\$(sha256sum '$T/src/os.qcow2' '$T/src/data.raw')\" = '$SHA' ]"
start_receiver
$FIN --json >"$T/fin2.json" 2>"$T/fin2.log"
rc=$?
cat "$T/fin2.json"; tail -3 "$T/fin2.log"
grep -E "clone|point $F|released|made already|reverse point [0-9]+ committed" "$T/receiver.log" | tail -8
check "finish re-run: exit 0, F = $F on base P = $pt, released" \
	bash -c "[ $rc = 0 ] && jq -e '.point == $F and .base == $pt and .released and .resumed_from == \"requested\"' '$T/fin2.json' >/dev/null"
check "finish re-run: the receiver answered the F it made, no second point" \
	bash -c "grep -q 'point $F was made already' '$T/receiver.log' && [ $(npoints $G) = $F ]"
FD=$(sed -n "s/.*point $F disk data: took .* (\([0-9]*\) bytes of its own data).*/\1/p" "$T/receiver.log" | tail -1)
check "F's data disk: the clone's own changes only, W + W2 + W3 = $((576 * KIB)) bytes ($FD; the clone owns $OWN+)" \
	[ "${FD:-0}" = $((576 * KIB)) ]
check "F listed crash-consistent, with the bytes the finish reports" \
	jqt ".points[-1] | .id == $F and .base == $pt and .consistency == \"crash-consistent\" and .bytes == $(jq .bytes "$T/fin2.json") and .bytes >= $((576 * KIB))" <(points_json $G)
rbd export "$CLONE" "$T/clone-data.raw" >/dev/null 2>&1
rbd export "$OSCLONE" "$T/clone-os.raw" >/dev/null 2>&1
check "cutover: on-prem data equals the data clone at shutdown" cmp -s "$T/src/data.raw" "$T/clone-data.raw"
check "cutover: on-prem os equals the os clone at shutdown" \
	qemu-img compare -q -f qcow2 -F raw "$T/src/os.qcow2" "$T/clone-os.raw"
check "point F's data snapshot equals the data clone" \
	[ "$(rbd export "replicas/$G+data@p$F" - 2>/dev/null | md5sum)" = "$(md5sum < "$T/clone-data.raw")" ]
check "cutover.json released at F" jqt ".state == \"released\" and .forward_point == $F" "$CJ"
check "the failover is released once (marker gone, domain undefined)" \
	bash -c "[ ! -e '$T/store/$G/failover.json' ] && [ \"\$(grep -c 'failover released after the agent verified' '$T/receiver.log')\" = 1 ] &&
		! virsh -q -c '$VM_URI' domstate '$DOM' >/dev/null 2>&1"
$FIN >"$T/fin3.out" 2>"$T/fin3.log"
rc=$?
check "finish again: a no-op (exit 0, released already, no new point)" \
	bash -c "[ $rc = 0 ] && grep -q 'released already' '$T/receiver.log' && [ $(npoints $G) = $F ]"
qemu-io -f raw -c "write -P 0x77 4M 128k" "$T/src/data.raw" >/dev/null
RES=$(agent_once "$T/agent.conf") || { tail -n 20 "$T/agent.log" "$T/receiver.log"; die "forward cycle after the finish failed"; }
echo "after the finish: $RES"
check "after the finish: the next forward point is an incremental on F" \
	jqt ".point == $((F + 1)) and .base == $F and .incremental" <<<"$RES"
check "after the finish: it sends the 128 KiB written ($(jq .bytes_data <<<"$RES") bytes of data), not a seed" \
	bash -c "[ $(jq .bytes_data <<<"$RES") -ge $((128 * KIB)) ] && [ $(jq .bytes_data <<<"$RES") -le $((128 * KIB * 12 / 10 + 64 * KIB)) ]"
check "after the finish: the new point's data disk is on-prem's" \
	[ "$(rbd export "replicas/$G+data@p$((F + 1))" - 2>/dev/null | md5sum)" = "$(md5sum < "$T/src/data.raw")" ]
# The on-prem VM boots from its cut-over disks and reads W (the cloud's
# first write, 128 KiB at 12 MiB) as the clone held it at shutdown.
WSUM=$(dd if="$T/clone-data.raw" bs=64k skip=192 count=2 2>/dev/null | md5sum | cut -d' ' -f1)
vm_define_start cd1 "$T/src/os.qcow2" "$T/src/data.raw" >&2 && vm_wait_marker cd1 NESTOR-BOOT-OK 120 ||
	die "the on-prem VM did not boot from its cut-over disks"
out=$(vm_run cd1 "dd if=/dev/vdb bs=64k skip=192 count=2 2>/dev/null | md5sum" 60)
vm_destroy cd1 >&2
check "after the finish: the on-prem VM boots and reads W (md5 $WSUM over its console)" grep -q "$WSUM" <<<"$out"
echo "failback finish section: $((SECONDS - T1)) s"

check "the released failover's clones with the VM's data stay" [ "$(rbd ls replicas | grep -c '^failover-')" = 2 ]
check "failover: the point's snapshots are unchanged" [ "$(snap_sums)" = "$SUMS" ]
stop_receiver
finish
