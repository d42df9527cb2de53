#!/bin/bash
# Failback, the local steps (issue 14; docs/failback-design.md "Cutover" and
# "re-protection at F"): a file-source group with the test guest is
# replicated (seed + incremental), failed over at P; the cloud VM writes W
# (1 MiB at a known offset of /dev/vdb, through the failover's console
# check). `nestor failback promote` refuses while it runs; once it is shut
# off it makes point F = newest + 1 on base P from the failover's overlays:
# listed crash-consistent, bit-identical to the cloud disks (qemu-img
# compare; an agent's point F interrupted before the failover is discarded,
# not resumed; a promote killed -9 before its catalog commit is finished by
# the next run), a drill of F reads W, the failover is released.
# On-prem (the reverse sync is not here yet: tools/failback-fill fills the
# target store with F's view through the store API, as it would): the
# on-prem disks, which also took X after P, stay bit-identical until the
# cutover; `nestor failback cutover --point F` is killed -9 in the middle of
# its commit, abort is then refused, the re-run converges: the on-prem
# disks equal F (qemu-img compare); the next forward cycle is an
# INCREMENTAL from F carrying only the new on-prem writes, and a drill of
# its point still reads W.
. "$(dirname "$0")/lib.sh"

jqt() { jq -e "$@" >/dev/null; }
# kill9_at_pause PID: once PID stopped at its NESTOR_TEST_PAUSE point (60 s
# at most), kill -9 it; status 0 if it had stopped there.
kill9_at_pause() {
	local i stopped=1
	for i in $(seq 1 600); do
		[ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = T ] && { stopped=0; break; }
		sleep 0.1
	done
	kill -9 "$1"; wait "$1" 2>/dev/null
	return $stopped
}
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

# 0. an agent's point 3 interrupted before the disaster (kill -9 once its
# first disk is done): promote must not resume it as F
qemu-io -f qcow2 -c "write -P 7 20M 64k" "$T/src/os.qcow2" >/dev/null
NESTOR_TEST_PAUSE=disk-done:0 "$NESTOR" agent --config "$T/agent.conf" --once --json \
	--no-progress >/dev/null 2>>"$T/agent.log" &
APID=$!
PJ=$T/store/$G/pending.json
for i in $(seq 1 600); do
	[ "$(ps -o stat= -p $APID 2>/dev/null | cut -c1)" = T ] &&
		jq -e '.point == 3 and .disks[0].done' "$PJ" >/dev/null 2>&1 && break
	sleep 0.1
done
kill -9 $APID; wait $APID 2>/dev/null
check "interrupted point 3 pending, its disk os done" jqt '.point == 3 and .base == 2 and .disks[0].done' "$PJ"

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

# 3. shut off: promote makes F; killed -9 once F's data is durable but
# before the catalog lists it, then run again
virsh -q -c "$VM_URI" destroy "$DOM" >/dev/null
NESTOR_TEST_PAUSE=commit-data "$NESTOR" failback promote --config "$T/receiver.conf" $G \
	>/dev/null 2>"$T/pr0.log" &
check "promote killed: paused before the catalog" kill9_at_pause $!
check "promote: the interrupted point was discarded, not resumed as F" grep -q "interrupted point 3 discarded" "$T/pr0.log"
check "promote killed: F recorded in the marker, not listed" \
	bash -c "jq -e '.promote_point == 3' '$T/store/$G/failover.json' >/dev/null && [ \"\$(jq '.points[-1].id' <('$NESTOR' points --config '$T/receiver.conf' $G --json))\" = $P ]"
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

# 5. on-prem: X after P (never replicated), then the target filled with F
qemu-io -f raw -c "write -P 9 8M 64k" "$T/src/data.raw" >/dev/null
ONPREM() { sha256sum "$T/src/os.qcow2" "$T/src/data.raw"; }
BEFORE=$(ONPREM)
FILL=$ROOT/build/tests/integration/tools/failback-fill
"$FILL" "$T/agent.conf" $G "$T/store" $F >"$T/fill.json" 2>"$T/fill.log" ||
	{ cat "$T/fill.log"; die "failback-fill failed"; }
cat "$T/fill.json"
check "fill: the target's first reverse point" jqt '.point == 1' "$T/fill.json"
check "fill: only what differs (W and X, <= 2 MiB)" jqt '.bytes >= 1048576 and .bytes <= 2097152' "$T/fill.json"
check "on-prem disks untouched by the reverse point" [ "$(ONPREM)" = "$BEFORE" ]

# 6. cutover killed -9 in the middle of its commit (after the first disk)
NESTOR_TEST_PAUSE=cutover-commit-disk "$NESTOR" failback cutover --config "$T/agent.conf" $G \
	--point $F >"$T/cut1.out" 2>"$T/cut1.log" &
check "cutover: killed -9 while paused in its commit" kill9_at_pause $!
CJ=$T/agent-state/failback/$G/cutover.json
check "cutover killed: state committing" jqt '.state == "committing" and .reverse_point == 1' "$CJ"
check "cutover killed: the on-prem disks are changing" [ "$(ONPREM)" != "$BEFORE" ]
"$NESTOR" failback abort --config "$T/agent.conf" $G 2>"$T/abort.log"
check "abort past committing: refused (exit 1)" [ $? = 1 ]
check "abort past committing: says to roll forward" grep -q "roll forward" "$T/abort.log"
check "abort past committing: target kept" [ -d "$T/agent-state/failback/$G/disks" ]
"$NESTOR" failback cutover --config "$T/agent.conf" $G --point $F >"$T/cut2.out" 2>"$T/cut2.log"
rc=$?
cat "$T/cut2.log" "$T/cut2.out"
check "cutover re-run: exit 0" [ $rc = 0 ]
check "cutover: released at F" jqt ".state == \"released\" and .forward_point == $F" "$CJ"
check "cutover: on-prem os equals F" qemu-img compare -q -f qcow2 -F qcow2 "$T/src/os.qcow2" "$(point_file $G os $F)"
check "cutover: on-prem data equals F" qemu-img compare -q -f raw -F qcow2 "$T/src/data.raw" "$(point_file $G data $F)"
"$NESTOR" failback cutover --config "$T/agent.conf" $G --point $F >/dev/null 2>&1
check "cutover again: a no-op, exit 0" [ $? = 0 ]

# 7. the next forward cycle: an incremental from F with the new writes only
qemu-io -f raw -c "write -P 11 12M 192k" "$T/src/data.raw" >/dev/null
qemu-io -f qcow2 -c "write -P 12 16M 64k" "$T/src/os.qcow2" >/dev/null
: >"$T/agent.log"
cycle_once "after the cutover"
check "after the cutover: point F + 1 on base F" [ "$PT" = $((F + 1)) ] && [ "$(echo "$RES" | jq .base)" = $F ]
check_sent_incremental "after the cutover" 262144
check "after the cutover: 256 KiB of data, not a seed" [ "$(echo "$RES" | jq .bytes_data)" -le $((262144 * 12 / 10)) ]
check "after the cutover: the point equals the on-prem data disk" same_image "$T/src/data.raw" raw $G data $((F + 1))
"$NESTOR" drill --config "$T/receiver.conf" $G --point $((F + 1)) --json \
	--check-cmd "dd if=/dev/vdb bs=64k skip=65 count=16 2>/dev/null | md5sum" >"$T/drill2.json" 2>"$T/drill2.log"
check "drill of F + 1: pass and reads W" \
	bash -c "jq -e '.verdict == \"pass\"' '$T/drill2.json' >/dev/null && jq -r '.vms[0].check.output' '$T/drill2.json' | grep -q '$WMD5'"

stop_receiver
finish
