#!/bin/bash
# Planned failover (issue 14, item 5, acceptance 5). A live test guest is
# protected by the agent daemon (control_poll 1s, min_interval 1h: only the
# poll can start the next cycle soon).
# The failover boots on a second private libvirtd, the DR host's: the
# source domain stays defined (shut off) on the first, as on-prem.
# 1. Agent stopped: `failover --planned --planned-timeout 20s` fails within
#    about 20 s with the clear message, exit 1, no planned.json left; the
#    daemon started afterwards replicates and does NOT shut the VM down.
# 2. The guest writes a counter to its data disk (fsync, then the value on
#    the console); `failover --planned`: the daemon's poll sees the request,
#    the agent shuts the VM down through ACPI, takes and commits the final
#    point (app-consistent); the command boots that point. The point holds
#    the last counter value written before the shutdown (zero writes lost)
#    and the failed-over VM reads it too. The daemon keeps the group in the
#    failed-over state: it polls, takes no point, opens nothing on-prem
#    (sha256 of the disks, their bitmaps), says so in status.json and
#    /metrics; after the DR VM is destroyed, the source started again and
#    `failover --release`, it cycles again by itself (no agent restart).
# 3. A group of image files: the final point is taken as is, and the
#    command says the source was not shut down by Nestor.
# 2d. The failback of this libvirt-domain group (issue 14, acceptance 1):
#    see the section.
# 4. Hostile agents: FINAL with REPAIR is refused; an unasked FINAL point
#    is an ordinary point and makes no request.
. "$(dirname "$0")/lib.sh"
G=pl
start_libvirtd
DR_DIR=$T/lv-dr
DR_URI=$("$LIB/libvirtd.sh" start "$DR_DIR") || die "the DR libvirtd did not start"
stop_dr() {
	local d
	for d in $(virsh -q -c "$DR_URI" list --name 2>/dev/null); do
		virsh -q -c "$DR_URI" destroy "$d" >/dev/null 2>&1
	done
	"$LIB/libvirtd.sh" stop "$DR_DIR" >/dev/null 2>&1
}
trap 'stop_dr; cleanup' EXIT
IMG=$("$LIB/vm-image.sh") || die "no test guest image"
pki_and_receiver
qemu-img create -q -f qcow2 -b "$IMG" -F qcow2 "$T/boot.qcow2"
qemu-img create -q -f qcow2 "$T/data.qcow2" 16M
vm_define_start pl1 "$T/boot.qcow2" "$T/data.qcow2" || die "cannot start the guest"
vm_wait_marker pl1 NESTOR-BOOT-OK 180 || die "guest did not boot"
write_agent_conf "$T/agent.conf" agent1 $G domains=pl1
MPORT=$(free_port)
sed -i -e "s|^state_dir = .*|&\ncontrol_poll = 1s\nplanned_shutdown_timeout = 120s\nmetrics = 127.0.0.1:$MPORT|" \
	-e "s|^\[group $G\]\$|&\nrpo = 2h\nmin_interval = 1h|" "$T/agent.conf"
"$NESTOR" config check agent "$T/agent.conf" >/dev/null || die "agent.conf refused"
cycle_once "seed"
check "seed committed point 1" [ "$PT" = 1 ]
PLANNED=$T/store/$G/planned.json
fo() { "$NESTOR" failover --config "$T/receiver.conf" $G --uri "$DR_URI" "$@"; }

# ---- 1. no agent answers ----------------------------------------------------
t0=$(date +%s%N)
fo --planned --planned-timeout 20s --json >"$T/fo0.json" 2>"$T/fo0.log"
rc=$? el=$((($(date +%s%N) - t0) / 1000000))
cat "$T/fo0.log"
check "unreachable agent: exit 1" [ $rc = 1 ]
check "unreachable agent: gave up after 20 s, within 30 s (took $el ms)" \
	bash -c "[ $el -ge 20000 ] && [ $el -le 30000 ]"
check "unreachable agent: clear message" grep -q \
	"agent agent1 did not contact the receiver within 20s (last contact: point 1 committed at .*): the source may be down; run \`nestor failover $G\` (unplanned) to boot the newest point 1" \
	"$T/fo0.log"
check "unreachable agent: no planned.json left" [ ! -e "$PLANNED" ]
check "unreachable agent: group not failed over" [ ! -e "$T/store/$G/failover.json" ]
check "unreachable agent: --planned-cancel has nothing to cancel" bash -c \
	"! '$NESTOR' failover --config '$T/receiver.conf' --planned-cancel $G 2>&1 | grep -q cancelled"

"$NESTOR" agent --config "$T/agent.conf" >>"$T/daemon.log" 2>&1 &
DAEMON=$!
trap 'kill "$DAEMON" 2>/dev/null; stop_dr; cleanup' EXIT
wait_until 120 bash -c "[ \$('$NESTOR' points --config '$T/receiver.conf' $G --json | jq '.points | length') -ge 2 ]" ||
	{ tail -20 "$T/daemon.log"; die "the daemon committed no point"; }
sleep 3 # a few control polls
check "later agent start: VM not shut down" bash -c "virsh -c '$VM_URI' domstate pl1 | grep -q running"
check "later agent start: no shutdown logged" bash -c "! grep -q 'shutdown asked' '$T/daemon.log'"
check "later agent start: ordinary point 2" [ "$(last_point $G)" = 2 ]

# ---- 2. planned failover with a writing guest -------------------------------
LOG=$(vm_console_log pl1)
vm_run pl1 "(i=0; while :; do i=\$((i + 1)); printf '%08d' \$i | dd of=/dev/vdb bs=512 count=1 conv=notrunc,fsync 2>/dev/null && echo CTR \$i; sleep 0.05; done) >/dev/ttyS0 2>&1 & echo started" 30 >/dev/null ||
	die "cannot start the guest's writer"
wait_until 30 bash -c "grep -qa 'CTR 20' '$LOG'" || die "the guest's writer does not write"
t0=$(date +%s%N)
fo --planned --planned-timeout 5m --json --check-cmd "dd if=/dev/vdb bs=8 count=1 2>/dev/null; echo" \
	>"$T/fo1.json" 2>"$T/fo1.log"
rc=$? el=$((($(date +%s%N) - t0) / 1000000))
cat "$T/fo1.log"
jq -c '{mode, point, verdict, vms: [.vms[] | {vm, domain, result, check: .check.output}]}' "$T/fo1.json"
echo "planned failover took $el ms"
check "planned: exit 0" [ $rc = 0 ]
check "planned: waited for the agent" grep -q "waiting up to 5m0s for agent agent1's next contact" "$T/fo1.log"
check "planned: the agent answered" grep -q "agent agent1 answered: shutting the source VMs down" "$T/fo1.log"
FP=$(last_point $G)
check "planned: final point $FP committed" grep -q "final point $FP committed" "$T/fo1.log"
check "planned: final point is a new one" [ "$FP" -ge 3 ]
check "planned: the final point booted" jq -e ".verdict == \"pass\" and .mode == \"failover\" and .point == $FP" "$T/fo1.json"
check "planned: group failed over at the final point" jq -e ".point == $FP" "$T/store/$G/failover.json"
check "planned: no planned.json left" [ ! -e "$PLANNED" ]
check "planned: source shut down by its guest (ACPI)" bash -c \
	"virsh -c '$VM_URI' domstate --reason pl1 | grep -q 'shut off (shutdown)'"
check "planned: the guest saw the power button" grep -qa NESTOR-ACPI-POWEROFF "$LOG"
M=$T/store/$G/meta/$FP.bin
check "planned: metadata says shut down through ACPI" \
	jq -e '.planned_failover.shutdown[0] == {"vm": "pl1", "how": "acpi"}' "$M"
check_eq "planned: final point app-consistent" app-consistent \
	"$(points_json $G | jq -r ".points[] | select(.id == $FP) | .consistency")"
LAST=$(grep -ao 'CTR [0-9]*' "$LOG" | tail -1 | awk '{ print $2 }')
qemu-img convert -U -f qcow2 -O raw "$(point_file $G pl1.vdb "$FP")" "$T/final.raw" || die "cannot read the final point"
ONDISK=$(head -c 8 "$T/final.raw" | sed 's/^0*//')
echo "last counter on the console: $LAST, in the final point: $ONDISK"
check "planned: zero writes lost (point $ONDISK >= console $LAST)" [ "${ONDISK:-0}" -ge "${LAST:-1}" ]
check "planned: nothing invented (point $ONDISK <= console $LAST + 1)" [ "${ONDISK:-0}" -le $((LAST + 1)) ]
check "planned: the failed-over VM reads it" \
	grep -q "$(printf '%08d' "$ONDISK")" <<<"$(jq -r '.vms[0].check.output' "$T/fo1.json")"
# Changed by hygiene item 2 (issue 14 notes): the daemon no longer ends the
# group's thread after the final point (it said "replication stopped ...;
# restart the agent"); it awaits the failover, polling.
check "planned: the daemon awaits the failover after the final point" \
	grep -q "group $G: final point $FP of the planned failover committed: no forward cycle until the failover is released or failed back" "$T/daemon.log"
check "planned: receiver recorded the final point" \
	grep -q "group $G: planned failover .*: final point $FP committed by agent agent1" "$T/receiver.log"

# ---- 2b. the daemon while the group is failed over ---------------------------
agent_metric() {
	curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" | awk -v n="$1{group=\"$G\"}" '$1 == n { print $2 }'
}
onprem_state() {
	sha256sum "$T/boot.qcow2" "$T/data.qcow2"
	qemu-img info -U --output=json "$T/boot.qcow2" | jq -c '."format-specific".data.bitmaps'
	qemu-img info -U --output=json "$T/data.qcow2" | jq -c '."format-specific".data.bitmaps'
}
wait_until 20 grep -q "group $G is failed over at the DR site (final point $FP): polling until it is released" "$T/daemon.log" ||
	not_ok "failed over: the daemon never saw the failover"
onprem_state >"$T/onprem-before.txt"
grep -q '"name"' "$T/onprem-before.txt" || not_ok "the source disks have no bitmap: the check below proves nothing"
RX_BEFORE=$(grep -c "agent agent1 connected" "$T/receiver.log")
sleep 4 # four control polls
RX_AFTER=$(grep -c "agent agent1 connected" "$T/receiver.log")
onprem_state >"$T/onprem-during.txt"
diff "$T/onprem-before.txt" "$T/onprem-during.txt"
check "failed over: the daemon still runs" kill -0 "$DAEMON"
check "failed over: it kept polling ($((RX_AFTER - RX_BEFORE)) contacts)" [ $((RX_AFTER - RX_BEFORE)) -ge 2 ]
check "failed over: source disks and their bitmaps bit-identical (sha256)" \
	cmp -s "$T/onprem-before.txt" "$T/onprem-during.txt"
check "failed over: the source VM stays shut off" bash -c "virsh -c '$VM_URI' domstate pl1 | grep -q 'shut off'"
st_json() { jq -r '"failed_over=\(.failed_over) breached=\(.rpo_breached) failures=\(.consecutive_failures)"' "$T/agent-state/$G/status.json"; }
check_eq "failed over: status.json says so" "failed_over=true breached=false failures=0" "$(st_json)"
check_eq "failed over: nestor_agent_failed_over" 1 "$(agent_metric nestor_agent_failed_over)"
check "failed over: no failed cycle, no RPO alert" bash -c "! grep -Eq 'cycle failed|RPO .* exceeds' '$T/daemon.log'"
check "planned: the daemon took no point after the final one" [ "$(last_point $G)" = "$FP" ]
check "planned: the failed-over VM runs on the DR host" bash -c \
	"virsh -q -c '$DR_URI' domstate pl1 | grep -q running"

# ---- 2c. released: the same daemon cycles again -------------------------------
virsh -q -c "$DR_URI" destroy pl1 >/dev/null
virsh -q -c "$VM_URI" start pl1 >/dev/null || not_ok "cannot start the source VM again"
"$NESTOR" failover --config "$T/receiver.conf" --release $G --uri "$DR_URI" 2>"$T/rel.log"
check "released: exit 0" [ $? = 0 ]
# (the source was shut off for the final point, so its disk files were
# read: the next point, of the running VM again, is a resync by hashes)
wait_until 60 grep -q "group $G: the failover ended" "$T/daemon.log" || tail -5 "$T/daemon.log"
check "released: the daemon said the failover ended" grep -q "group $G: the failover ended" "$T/daemon.log"
check "released: point $((FP + 1)) on base $FP committed by the same daemon" \
	bash -c "kill -0 $DAEMON && grep -q 'group $G: point $((FP + 1)) committed' '$T/daemon.log' &&
		grep -q 'group $G: point $((FP + 1)) (.*, base $FP)' '$T/daemon.log'"
check "released: the receiver holds point $((FP + 1))" [ "$(last_point $G)" = $((FP + 1)) ]
check_eq "released: nestor_agent_failed_over" 0 "$(agent_metric nestor_agent_failed_over)"
wait_until 10 bash -c "jq -e '.failed_over == false' '$T/agent-state/$G/status.json' >/dev/null"
check_eq "released: status.json says so" "failed_over=false breached=false failures=0" "$(st_json)"
kill "$DAEMON" 2>/dev/null
wait "$DAEMON" 2>/dev/null

# ---- 2d. failback of the libvirt-domain group (issue 14, acceptance 1) --------
# pl1 runs on-prem again; an unplanned failover boots the newest point P on
# the DR host (a point taken live: the libvirt source's checkpoint), the
# cloud VM writes W to its data disk, the on-prem pl1 goes on writing X
# after P. With the on-prem domain running, failback start and finish
# refuse; shut off, start sends W u X into the target over its disks
# (<domain>.<target>), X from the checkpoint bitmaps since P (not the whole
# disks), the disks sha256-unchanged; finish
# commits it, starts pl1 from its own definition on the on-prem libvirtd and
# checks it: first with a marker that never comes (checks fail: pl1 left
# running, no release, exit 1), then the re-run checks again, passes and
# releases. Its disks equal the cloud disks at shutdown; the next forward
# cycle is an incremental from F. Then pl1 writes Y on-prem, the next point
# is taken, and a drill of it reads W and Y (checksums over the console).
T2D=$SECONDS
fb() { local sub=$1; shift; "$NESTOR" failback "$sub" --config "$T/agent.conf" "$@"; }
jqt() { jq -e "$@" >/dev/null; }
lap() { echo "2d: $1 after $((SECONDS - T2D)) s"; }
fo --json >"$T/fo3.json" 2>"$T/fo3.log" || { cat "$T/fo3.log"; die "unplanned failover of pl failed"; }
P3=$(jq .point "$T/fo3.json")
WD=$(jq -r .workdir "$T/fo3.json")
check "failback: failed over at the newest point $P3" [ "$P3" = $((FP + 1)) ]
lap "the failover"
failover_console pl1 "$WD"
# W: 256 KiB at 2 MiB of the cloud's vdb; its checksum for the drill below
WOUT=$(cloud_run pl1 "dd if=/dev/urandom of=/dev/vdb bs=64k count=4 seek=32 conv=fsync 2>/dev/null && dd if=/dev/vdb bs=64k skip=32 count=4 2>/dev/null | md5sum") ||
	die "cloud write W failed: $WOUT"
WMD5=$(grep -aoE '^[0-9a-f]{32}' <<<"$WOUT" | head -1)
[ -n "$WMD5" ] || die "no checksum of W: $WOUT"
# X: 512 KiB at 8 MiB of the on-prem vdb, after P (never replicated)
XOUT=$(vm_run pl1 "dd if=/dev/urandom of=/dev/vdb bs=64k count=8 seek=128 conv=fsync 2>/dev/null && echo written") ||
	die "on-prem write X failed: $XOUT"
W_BYTES=262144 X_BYTES=524288
fb start $G --once >/dev/null 2>"$T/fbrun.log"
check "failback start while pl1 runs on-prem: exit 1" [ $? = 1 ]
check "... says to shut it off, and how" grep -q \
	"domain pl1 runs on the on-prem libvirtd ($VM_URI): failback start needs it shut off.*virsh -c $VM_URI shutdown pl1" "$T/fbrun.log"
fb finish $G >/dev/null 2>"$T/fbrun2.log"
check "failback finish while pl1 runs on-prem: exit 1" [ $? = 1 ]
check "... says why" grep -q "domain pl1 runs on the on-prem libvirtd" "$T/fbrun2.log"
check "... the cloud VM was left alone" bash -c "virsh -q -c '$DR_URI' domstate pl1 | grep -q running"
virsh -q -c "$VM_URI" destroy pl1 >/dev/null || die "cannot stop pl1 on-prem"
SHA=$(sha256sum "$T/boot.qcow2" "$T/data.qcow2")
fb start $G --once --json >"$T/fbs.json" 2>"$T/fbs.log" || { tail -5 "$T/fbs.log"; die "failback start of pl failed"; }
cat "$T/fbs.json"
check "failback start: reverse point 1 over the on-prem disks" jqt '.point == 1 and .base == 0' "$T/fbs.json"
TD=$T/agent-state/failback/$G/disks
check "failback start: the target's disks are named as the forward points (pl1.vda, pl1.vdb)" \
	bash -c "qemu-img info -U '$TD/pl1.vdb/1.qcow2' | grep -q 'backing file: $T/data.qcow2' && [ -e '$TD/pl1.vda/1.qcow2' ]"
check "failback start: on-prem disks untouched (sha256)" [ "$(sha256sum "$T/boot.qcow2" "$T/data.qcow2")" = "$SHA" ]
check "failback start: X from the checkpoint bitmaps since P, not the whole disks" \
	jqt ".x_whole == false and .failover_point == $P3" "$T/fbs.json"
check "failback start: X ($(jq .x_bytes "$T/fbs.json") bytes) covers the $X_BYTES written after P" \
	jqt ".x_bytes >= $X_BYTES and .x_bytes <= $X_BYTES + 1048576" "$T/fbs.json"
check "failback start: $(jq .bytes "$T/fbs.json") bytes sent <= 1.2 x (|W| + |X|) + 1 MiB" \
	jqt ".bytes <= ($W_BYTES + $X_BYTES) * 12 / 10 + 1048576" "$T/fbs.json"
check "failback start: the log says where X came from" grep -q \
	"disk pl1.vdb: X from the checkpoint bitmaps of domain pl1 since point $P3" "$T/fbs.log"
lap "failback start"
CJ=$T/agent-state/failback/$G/cutover.json
fb finish $G --shutdown-timeout 60 --marker NESTOR-NEVER-PRINTED --timeout 3s --json \
	>"$T/fbf1.json" 2>"$T/fbf1.log"
rc=$?
lap "the first finish"
tail -3 "$T/fbf1.log"
check "finish with a failing check: exit 1" [ $rc = 1 ]
check "... says what failed and that a re-run checks again" grep -q \
	"the on-prem domains did not pass their checks (domain pl1: no boot marker on the console within the timeout): they are left running and the DR side keeps its failover.*run nestor failback finish $G again: it checks them again" "$T/fbf1.log"
check "... cutover.json at started, the domains started" jqt '.state == "started" and .domains_started' "$CJ"
check "... pl1 runs on-prem" bash -c "virsh -q -c '$VM_URI' domstate pl1 | grep -q running"
check "... the DR side is not released" [ -e "$T/store/$G/failover.json" ]
fb finish $G --shutdown-timeout 60 --json >"$T/fbf2.json" 2>"$T/fbf2.log"
rc=$?
lap "the re-run"
cat "$T/fbf2.json"; tail -3 "$T/fbf2.log"
F=$(jq .point "$T/fbf2.json")
check "finish re-run: exit 0, resumed from started, F = $((P3 + 1)), released" \
	jqt ".resumed_from == \"started\" and .point == $((P3 + 1)) and .released" "$T/fbf2.json"
check "finish re-run: pl1 passed, boot marker seen" \
	jqt '.domains == "started and verified" and (.vms | length) == 1 and .vms[0].name == "pl1" and .vms[0].pass and .vms[0].marker_seen' "$T/fbf2.json"
check "finish: the first run committed, the re-run did not commit again" \
	bash -c "grep -q 'committed into .*data.qcow2' '$T/fbf1.log' && ! grep -q 'committed into' '$T/fbf2.log'"
check "finish: pl1 runs on-prem" bash -c "virsh -q -c '$VM_URI' domstate pl1 | grep -q running"
check "finish: cutover.json released at F" jqt ".state == \"released\" and .forward_point == $F and .domains_started" "$CJ"
check "finish: the failover is released" [ ! -e "$T/store/$G/failover.json" ]
for d in vda:boot vdb:data; do
	check "finish: on-prem ${d%%:*} equals the cloud disk at shutdown" \
		qemu-img compare -U -q -f qcow2 -F qcow2 "$T/${d#*:}.qcow2" "$WD/pl1.pl1.${d%%:*}.qcow2"
done
fb finish $G >"$T/fbf3.out" 2>/dev/null
check "finish again: a no-op, exit 0, one line per domain" grep -q "group $G: domain pl1: running, checks passed (boot marker seen)" "$T/fbf3.out"
cycle_once "after the failback"
check "after the failback: point F + 1 on base F, an incremental" \
	jqt ".point == $((F + 1)) and .base == $F and .incremental" <<<"$RES"
# Y: 256 KiB at 12 MiB of the on-prem vdb, in the next point
YOUT=$(vm_run pl1 "dd if=/dev/urandom of=/dev/vdb bs=64k count=4 seek=192 conv=fsync 2>/dev/null && dd if=/dev/vdb bs=64k skip=192 count=4 2>/dev/null | md5sum") ||
	die "on-prem write Y failed: $YOUT"
YMD5=$(grep -aoE '^[0-9a-f]{32}' <<<"$YOUT" | head -1)
[ -n "$YMD5" ] || die "no checksum of Y: $YOUT"
cycle_once "Y"
check "Y: point F + 2, an incremental" jqt ".point == $((F + 2)) and .base == $((F + 1)) and .incremental" <<<"$RES"
lap "Y written and replicated"
"$NESTOR" drill --config "$T/receiver.conf" $G --point $((F + 2)) --uri "$DR_URI" --json \
	--check-cmd "dd if=/dev/vdb bs=64k skip=32 count=4 2>/dev/null | md5sum; dd if=/dev/vdb bs=64k skip=192 count=4 2>/dev/null | md5sum" \
	>"$T/drill-y.json" 2>"$T/drill-y.log"
rc=$?
lap "the drill"
jq -c '{point, verdict, out: .vms[0].check.output}' "$T/drill-y.json"
check "drill of point F + 2: exit 0, pass" bash -c "[ $rc = 0 ] && jq -e '.verdict == \"pass\" and .point == $((F + 2))' '$T/drill-y.json' >/dev/null"
check "drill of point F + 2: reads W (written in the cloud)" \
	grep -q "$WMD5" <<<"$(jq -r '.vms[0].check.output' "$T/drill-y.json")"
check "drill of point F + 2: reads Y (written on-prem after the failback)" \
	grep -q "$YMD5" <<<"$(jq -r '.vms[0].check.output' "$T/drill-y.json")"
echo "failback of the libvirt-domain group: $((SECONDS - T2D)) s"

# ---- 3. a group of image files: no VMs to shut down -------------------------
truncate -s 4M "$T/f.raw"
write_agent_conf "$T/agent-f.conf" agent1 pf d="$T/f.raw:raw"
agent_once "$T/agent-f.conf" >/dev/null || die "seed of pf failed"
"$NESTOR" failover --config "$T/receiver.conf" pf --uri "$DR_URI" --planned --planned-timeout 60s \
	>/dev/null 2>"$T/fo2.log" &
FO=$!
wait_until 20 grep -q "waiting up to 1m0s" "$T/fo2.log" || die "no planned request for pf"
res=$(agent_once "$T/agent-f.conf") || { tail -5 "$T/agent.log"; die "final point of pf failed"; }
wait $FO
rc=$?
cat "$T/fo2.log"
check "files: the agent's once-cycle sent the final point 2" [ "$(echo "$res" | jq .point)" = 2 ]
check "files: final point committed" grep -q "final point 2 committed" "$T/fo2.log"
check "files: the report says the source was not shut down by Nestor" \
	grep -q "the source was not shut down by Nestor (no live VMs in the group" "$T/fo2.log"
check "files: the agent said so too" grep -q "group pf: planned failover: the group has no live VMs" "$T/agent.log"
# a point without VMs has nothing to boot: the failover itself fails
check "files: nothing to boot, exit 1" [ $rc = 1 ]
# ... and the request is abandoned, not removed: the agent that sent the
# final point is told at its next contact (test-planned-abandon.sh)
check "files: planned.json says abandoned" \
	[ "$(jq -r '.state + " " + (.point|tostring)' "$T/store/pf/planned.json")" = "abandoned 2" ]

# ---- 4. hostile agents (rawclient) -------------------------------------------
RC="python3 $ROOT/tests/integration/rawclient.py --port $PORT --ca $T/pki/ca.crt --cert $T/pki/agent1.crt --key $T/pki/agent1.key"
out=$($RC --group h1 --begin-flags 5 --expect-code 1 point 2>&1)
check "hostile: FINAL with REPAIR refused ($out)" [ $? = 0 ]
check "hostile: ... nothing committed" [ "$(last_point h1)" = 0 ]
out=$($RC --group h2 --begin-flags 4 point 2>&1)
check "hostile: an unasked FINAL point is kept as an ordinary one ($out)" [ "$out" = "COMMITTED 1" ]
check "hostile: ... no planned.json made" [ ! -e "$T/store/h2/planned.json" ]
check "hostile: ... the receiver says so" grep -q \
	"group h2: final point 1 from agent agent1 without a planned failover request: kept as an ordinary point" \
	"$T/receiver.log"
stop_receiver
finish
