#!/bin/bash
# Failback, the local steps (issue 14; docs/failback-design.md "Cutover" and
# "re-protection at F"): a file-source group with the test guest is
# replicated (seed + incremental), failed over at P; the cloud VM writes W
# (1 MiB at a known offset of /dev/vdb, through the failover's console
# check). `nestor failback promote` refuses while it runs; once it is shut
# off it makes point F = newest + 1 on base P from the failover's overlays:
# listed crash-consistent, bit-identical to the cloud disks (qemu-img
# compare), a drill of F reads W, the failover is released.
. "$(dirname "$0")/lib.sh"

jqt() { jq -e "$@" >/dev/null; }
G=web
vm_source_setup
write_agent_conf "$T/agent.conf" agent1 $G os="$T/src/os.qcow2:qcow2" data="$T/src/data.raw:raw" \
	domain_xml="$T/src/web1.xml"

vm_define_start web1 "$T/src/os.qcow2" "$T/src/data.raw" || die "source VM did not start"
vm_wait_marker web1 NESTOR-BOOT-OK 120 || die "source VM did not boot"
vm_run web1 "dd if=/dev/urandom of=/dev/vdb bs=64k count=32 conv=fsync 2>/dev/null; sync" 120 >/dev/null ||
	die "source VM command failed"
vm_destroy web1
cp "$VM_DIR/web1.xml" "$T/src/web1.xml"
cycle_once "seed"
check "seed: point 1" [ "$PT" = 1 ]
qemu-io -f raw -c "write -P 5 4M 128k" "$T/src/data.raw" >/dev/null
cycle_once "incremental"
check "incremental: point 2" [ "$PT" = 2 ]
check "incremental: not a seed" [ "$(echo "$RES" | jq .incremental)" = true ]
P=2

# 1. failover at P; the cloud VM writes W at 4 MiB + 64 KiB .. + 1 MiB of vdb
WCMD="dd if=/dev/urandom of=/dev/vdb bs=64k seek=65 count=16 conv=fsync 2>/dev/null; dd if=/dev/vdb bs=64k skip=65 count=16 2>/dev/null | md5sum"
"$NESTOR" failover --config "$T/receiver.conf" $G --point $P --json --check-cmd "$WCMD" \
	>"$T/fo.json" 2>"$T/fo.log" || { cat "$T/fo.log"; die "failover failed"; }
WMD5=$(jq -r '.vms[0].check.output' "$T/fo.json" | awk '/ -$/ { print $1 }' | head -1)
check "failover: the cloud VM wrote W (md5 $WMD5)" [ ${#WMD5} = 32 ]
WD=$(jq -r .workdir "$T/fo.json")
DOM=$(jq -r '.vms[0].domain' "$T/fo.json")

# 2. promote: refused while the cloud VM runs, nothing changed
"$NESTOR" failback promote --config "$T/receiver.conf" $G 2>"$T/pr1.log"
check "promote while running: exit 1" [ $? = 1 ]
check "promote while running: says why" grep -q "still running" "$T/pr1.log"
check "promote while running: no new point" [ "$(last_point $G)" = $P ]
check "promote while running: still failed over" [ -f "$T/store/$G/failover.json" ]

# 3. shut off: promote makes F
virsh -q -c "$VM_URI" destroy "$DOM" >/dev/null
"$NESTOR" failback promote --config "$T/receiver.conf" $G --json >"$T/pr2.json" 2>"$T/pr2.log"
rc=$?
cat "$T/pr2.log"; cat "$T/pr2.json"
check "promote: exit 0" [ $rc = 0 ]
F=$(jq .point "$T/pr2.json")
check "promote: F = newest + 1 = 3" [ "$F" = 3 ]
check "promote: F's base is P" jqt ".points[-1] | .id == 3 and .base == $P and .consistency == \"crash-consistent\"" <(points_json $G)
check "promote: W's bytes counted (>= 1 MiB)" [ "$(jq .bytes "$T/pr2.json")" -ge 1048576 ]
for d in os data; do
	ov=$(ls "$WD"/*."$d".qcow2 | head -1)
	check "promote: F's disk $d equals the cloud disk" \
		qemu-img compare -q -f qcow2 -F qcow2 "$ov" "$(point_file $G $d $F)"
done
check "promote: failover released (marker gone)" [ ! -e "$T/store/$G/failover.json" ]
check "promote: cloud domain undefined" bash -c "! virsh -q -c '$VM_URI' domstate '$DOM' >/dev/null 2>&1"
"$NESTOR" failback promote --config "$T/receiver.conf" $G 2>"$T/pr3.log"
check "promote again: exit 1, not failed over" bash -c "[ $? = 1 ] && grep -q 'not failed over' '$T/pr3.log'"
"$NESTOR" scrub --config "$T/receiver.conf" $G --point $F >"$T/scrub.txt" 2>&1
check "scrub of F: its checksums match its data" [ $? = 0 ]

# 4. a drill of F reads W
"$NESTOR" drill --config "$T/receiver.conf" $G --point $F --json \
	--check-cmd "dd if=/dev/vdb bs=64k skip=65 count=16 2>/dev/null | md5sum" >"$T/drill.json" 2>"$T/drill.log"
check "drill of F: pass" jqt '.verdict == "pass"' "$T/drill.json"
check "drill of F: reads W" grep -q "$WMD5" <<<"$(jq -r '.vms[0].check.output' "$T/drill.json")"

stop_receiver
finish
