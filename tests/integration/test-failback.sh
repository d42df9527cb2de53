#!/bin/bash
# Failback, the reverse sync (issue 14, item 2): a file-source group (boot
# disk = qcow2 overlay of the test guest, raw data disk) is seeded and
# replicated incrementally at P; on-prem then writes X (qemu-io) that never
# reaches the DR side; `nestor failover` boots P as domain web1 on the
# receiver's libvirtd, whose guest writes W (over its console).
# `nestor failback start --once` sends W u X only (bytes <= 1.2 x (|W| +
# |X|) + metadata, |W| from qemu-img map of the failover overlays), the
# on-prem disks stay bit-identical (sha256), the target's newest point reads
# like the cloud disk (qemu-img compare of the data disk, the guest never
# mounts it); more cloud writes go as an incremental of the reverse
# checkpoint carrying only them; with the cloud VM paused, the last point
# equals both cloud disks. The receiver killed -9 while a reverse point
# streams, then once a point is committed on-prem before it took the
# COMMITTED: the runs after converge (the second builds on that point, not
# W u X again); meanwhile nestor status (both sides, text and --json) and
# both /metrics pages show the reverse direction, its points, newest,
# bytes and reverse RPO. Hostile REVERSE_BEGINs (another agent, a group
# not failed over) and a range flood are refused.
# `nestor failback finish` (flow step 3) while the cloud VM runs and has
# just written: hostile REVERSE_FINISHes (another agent, a group not failed
# over, a release of a point that is not F, an unknown flag, a second
# finish while one runs) refused; the finish killed -9 at its final point's
# commit (the cloud VM already shut down by ACPI, the on-prem disks still
# untouched), the receiver killed -9 twice (the cloud VM held paused
# before the final point; F made, before its answer: cutover.json stays
# requested, the on-prem disks untouched), the agent killed -9 once F is
# answered, then run again: the
# on-prem disks equal the cloud disks at
# shutdown (qemu-img compare), point F = newest + 1 on the receiver holds
# them (the same F through every kill), the failover is released once
# (domain undefined despite its reverse checkpoints), no reverse direction
# shows any more, a third run is a no-op, and the next forward cycle is an
# incremental from F.
# On-prem disks lost (issue 14, item 3): a second failover, the on-prem disk
# files deleted; `failback start --new-disks` to an existing non-empty file
# is refused (file unchanged), hostile FULL REVERSE_BEGINs are refused; into
# new paths it sends a full copy whose bytes are the cloud disks' allocated
# data, the holes as zero extents; the finish is refused until agent.conf
# names the new disks, then the new disks equal the cloud disks at shutdown
# and stay sparse, F is listed, and the next forward cycle is incremental.
# Around it, kill -9 on that path: the agent and the receiver in the full
# first point, then `failback abort` removes exactly the images the start
# made (the originals, kept aside, and the operator's files untouched);
# the same kill, then a re-run into the same images; during the finish the
# receiver once F is made, the agent with one disk committed (abort
# refused), and the re-run converges.
. "$(dirname "$0")/lib.sh"

jqt() { jq -e "$@" >/dev/null; }
G=web
KIB=1024
vm_source_setup
P=$T/pki
RC="python3 $ROOT/tests/integration/rawclient.py --port $PORT --ca $P/ca.crt"
FB="$NESTOR failback"
fb() { local sub=$1; shift; $FB "$sub" --config "$T/agent.conf" "$@"; }
write_agent_conf "$T/agent.conf" agent1 $G os="$T/src/os.qcow2:qcow2" data="$T/src/data.raw:raw" \
	domain_xml="$T/src/web1.xml"

# seed (the guest fills the data disk), then an incremental: P = point 2
vm_define_start web1 "$T/src/os.qcow2" "$T/src/data.raw" || die "source VM did not start"
vm_wait_marker web1 NESTOR-BOOT-OK 120 || die "source VM did not boot"
vm_run web1 "dd if=/dev/urandom of=/dev/vdb bs=64k count=256 conv=fsync 2>/dev/null && sync && echo filled" 120 |
	grep -q filled || die "source VM command failed"
vm_destroy web1
cp "$VM_DIR/web1.xml" "$T/src/web1.xml"
cycle_once "seed"
check "seed: point 1" [ "$PT" = 1 ]
qemu-io -f raw -c "write -P 0x11 1M 64k" "$T/src/data.raw" >/dev/null
cycle_once "incremental"
check "incremental: point 2, incremental" jqt '.point == 2 and .incremental' <<<"$RES"

# X: on-prem writes after P that never reach the DR side
qemu-io -f raw -c "write -P 0x58 8M 128k" "$T/src/data.raw" >/dev/null
X=$((128 * KIB))
SHA=$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")

# failover at P
"$NESTOR" failover --config "$T/receiver.conf" $G --json >"$T/fo.json" 2>"$T/fo.log" ||
	{ cat "$T/fo.log"; die "failover failed"; }
check "failover at point 2, web1 running" \
	jqt '.point == 2 and .vms[0].domain == "web1"' "$T/fo.json"
WD=$(jq -r .workdir "$T/fo.json")
failover_console web1 "$WD"
cloud() { cloud_run web1 "$1"; }
cloud "dd if=/dev/urandom of=/dev/vdb bs=64k count=4 seek=32 conv=fsync 2>/dev/null && echo written" |
	grep -q written || die "cloud write W failed"

# 1. the first reverse point: W u X only
fb start $G --once --json >"$T/fb1.json" 2>"$T/fb1.log"
rc=$?
cat "$T/fb1.json"; tail -5 "$T/fb1.log"
check "failback start --once: exit 0" [ $rc = 0 ]
W=$(failover_own_bytes "$WD" web1)
B1=$(jq .bytes "$T/fb1.json")
echo "first reverse point: $B1 bytes; |W| = $W, |X| = $X"
check "X came from the change tracking since P (not the whole disks)" \
	jqt ".x_whole == false and .x_bytes == $X and .failover_point == 2" "$T/fb1.json"
check "first reverse point: base 0 (over the on-prem disks)" jqt '.point == 1 and .base == 0' "$T/fb1.json"
check "bytes sent <= 1.2 x (|W| + |X|) + metadata ($B1 <= 1.2 x ($W + $X) + 64 KiB)" \
	[ "$B1" -le $(((W + X) * 12 / 10 + 64 * KIB)) ]
check "bytes sent >= |X| + the 256 KiB the guest wrote (nothing skipped)" [ "$B1" -ge $((X + 256 * KIB)) ]
check "the receiver served it" grep -q "reverse point 1 committed on-prem" "$T/receiver.log"
check "on-prem disks bit-identical (sha256)" [ "$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")" = "$SHA" ]
TD=$T/agent-state/failback/$G/disks
check "target data disk reads as the cloud's (W and X at their offsets)" \
	qemu-img compare -U -f qcow2 -F qcow2 "$TD/data/1.qcow2" "$WD/web1.data.qcow2"
qemu-img convert -U -f qcow2 -O raw "$TD/data/1.qcow2" "$T/target-data.raw"
check "target reads P's bytes at X, not on-prem's" \
	bash -c "! cmp -s -n $X -i 8388608:8388608 '$T/target-data.raw' '$T/src/data.raw'"
check "target reads P's bytes outside W and X (the incremental at 1M)" \
	cmp -s -n 65536 -i 1048576:1048576 "$T/target-data.raw" "$T/src/data.raw"
check "target overlays lie over the on-prem disks" \
	bash -c "qemu-img info -U '$TD/data/1.qcow2' | grep -q 'backing file: $T/src/data.raw'"
check "the reverse checkpoint is named nestor-rev-N" \
	bash -c "virsh -q -c '$VM_URI' checkpoint-list web1 --name | grep -Eq '^nestor-rev-[0-9]+$'"
check "the reverse source's state lies under <store>/<group>/reverse/" [ -d "$T/store/$G/reverse" ]
"$NESTOR" failover --config "$T/receiver.conf" --status --json >"$T/st.json"
check "the cloud VM kept running" jqt '.[0].vms[0].state == "running"' "$T/st.json"

# 2. more cloud writes: an incremental carrying only them
cloud "dd if=/dev/urandom of=/dev/vdb bs=64k count=4 seek=64 conv=fsync 2>/dev/null && echo written" |
	grep -q written || die "cloud write W2 failed"
fb start $G --once --json >"$T/fb2.json" 2>>"$T/fb1.log" || { tail -5 "$T/fb1.log"; die "second reverse point failed"; }
cat "$T/fb2.json"
B2=$(jq .bytes "$T/fb2.json")
check "second reverse point: incremental on the first" jqt '.point == 2 and .base == 1' "$T/fb2.json"
check "second reverse point carries the new 256 KiB ($B2 bytes)" [ "$B2" -ge $((256 * KIB)) ]
check "second reverse point carries only them (+ the guest's own writes)" \
	[ "$B2" -le $((256 * KIB * 12 / 10 + 1024 * KIB)) ]
check "on-prem disks still bit-identical" [ "$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")" = "$SHA" ]

# 2b. the agent's side killed (kill -9) with the point all in, before its
# commit: the point stays pending; the next run converges
cloud "dd if=/dev/urandom of=/dev/vdb bs=64k count=2 seek=96 conv=fsync 2>/dev/null && echo written" |
	grep -q written || die "cloud write W3 failed"
stopped() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = T ]; }
# rx_held AT: the receiver restarted to stop itself at pause point AT;
# rx_kill9: kill -9 of it
rx_held() { stop_receiver; NESTOR_TEST_PAUSE=$1 start_receiver; }
rx_kill9() { kill -9 "$RX_PID"; wait "$RX_PID" 2>/dev/null; RX_PID=; }
NESTOR_TEST_PAUSE=failback-commit $FB start --config "$T/agent.conf" $G --once --json >"$T/fbk.json" 2>"$T/fbk.log" &
KPID=$!
wait_until 120 stopped $KPID || { kill -9 $KPID; tail "$T/fbk.log"; die "failback start never reached its commit"; }
kill -9 $KPID
wait $KPID 2>/dev/null
check "killed before the commit: the reverse point is pending" [ -s "$T/agent-state/failback/$G/pending.json" ]
check "killed before the commit: nothing committed" jqt '(.points | length) == 2' <(fb status $G --json)
check "the receiver saw the reverse stream end" wait_until 30 grep -q "reverse stream to agent agent1 ended" "$T/receiver.log"
fb start $G --once --json >"$T/fbr.json" 2>>"$T/fb1.log" || { tail -5 "$T/fb1.log"; die "the run after the kill failed"; }
cat "$T/fbr.json"
check "the run after the kill commits an incremental on point 2" jqt '.point >= 3 and .base == 2' "$T/fbr.json"
check "no pending reverse point left" [ ! -e "$T/agent-state/failback/$G/pending.json" ]
check "on-prem disks still bit-identical after the kill" [ "$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")" = "$SHA" ]

# 3. the cloud VM paused: one more point, then target == cloud, both disks
virsh -q -c "$VM_URI" suspend web1 >/dev/null || die "cannot pause web1"
fb start $G --once --json >"$T/fb3.json" 2>>"$T/fb1.log" || { tail -5 "$T/fb1.log"; die "third reverse point failed"; }
cat "$T/fb3.json"
N3=$(jq .point "$T/fb3.json")
for d in os data; do
	check "paused cloud VM: target disk $d equals the cloud disk" \
		qemu-img compare -U -f qcow2 -F qcow2 "$TD/$d/$N3.qcow2" "$WD/web1.$d.qcow2"
done
fb status $G --json >"$T/fbst.json"
check "failback status --json lists the reverse points and their bytes" \
	jqt ".direction == \"reverse\" and (.points | length) == 4 and .points[0].bytes == $B1 and .bytes >= $((B1 + B2))" "$T/fbst.json"
check "failback status (text)" bash -c "$FB status --config '$T/agent.conf' $G | grep -q '4 reverse point(s)'"
virsh -q -c "$VM_URI" resume web1 >/dev/null

# 3b. the receiver killed (kill -9) while a reverse point streams (held
# where the point is begun on-prem and its first extents are queued), then
# once a point is committed on-prem before it took the COMMITTED; the
# receiver, restarted (now with /metrics), serves the next runs, which
# converge on the cloud disks (the VM paused for the last)
T3=$SECONDS
RMPORT=$(free_port)
sed -i "s|^store = .*|&\nmetrics = 127.0.0.1:$RMPORT|" "$T/receiver.conf"
cloud "dd if=/dev/urandom of=/dev/vdb bs=64k count=32 seek=160 conv=fsync 2>/dev/null && echo written" |
	grep -q written || die "cloud write W5 failed"
NPTS=$(fb status $G --json | jq '.points | length')
LASTRP=$(fb status $G --json | jq '.points[-1].point')
rx_held failback-sending
$FB start --config "$T/agent.conf" $G --once --json >"$T/fbrk.json" 2>"$T/fbrk.log" &
KPID=$!
wait_until 120 stopped "$RX_PID" || { kill -9 $KPID; tail "$T/fbrk.log"; die "the receiver never streamed a reverse point"; }
rx_kill9
wait $KPID
rc=$?
tail -2 "$T/fbrk.log"
check "receiver killed mid-point: failback start fails (exit 1)" [ $rc = 1 ]
check "it says the connection went" grep -q "connection to the receiver lost" "$T/fbrk.log"
check "the interrupted reverse point is pending on-prem" \
	jqt ".point > $LASTRP and .base == $LASTRP" "$T/agent-state/failback/$G/pending.json"
check "receiver killed mid-point: nothing committed" jqt "(.points | length) == $NPTS" <(fb status $G --json)
check "on-prem disks bit-identical after the receiver's kill" [ "$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")" = "$SHA" ]
# the receiver killed once the point is committed on-prem, before it took
# the COMMITTED (its source still at the point's base): the agent is done
rx_held failback-committed
timeout 120 $FB start --config "$T/agent.conf" $G --once --json >"$T/fbrc.json" 2>>"$T/fb1.log"
rc=$?
cat "$T/fbrc.json"
K2=$(jq .point "$T/fbrc.json")
check "the run after the receiver's kill: committed on-prem (exit 0), on the last committed reverse point" \
	bash -c "[ $rc = 0 ] && jq -e '.base == $LASTRP and .point > $LASTRP' '$T/fbrc.json' >/dev/null"
check "no pending reverse point left" [ ! -e "$T/agent-state/failback/$G/pending.json" ]
wait_until 60 stopped "$RX_PID" || die "the receiver never reached the point's COMMITTED"
rx_kill9
virsh -q -c "$VM_URI" suspend web1 >/dev/null || die "cannot pause web1"
start_receiver
fb start $G --once --json >"$T/fbrr.json" 2>>"$T/fb1.log" || { tail -5 "$T/fb1.log"; die "the run after the receiver's second kill failed"; }
cat "$T/fbrr.json"
N5=$(jq .point "$T/fbrr.json")
B5=$(jq .bytes "$T/fbrr.json")
check "the answer lost: the next point goes on point $K2 (not W u X again)" jqt ".base == $K2" "$T/fbrr.json"
check "the receiver says so" grep -q "reverse point $K2 was committed on-prem, its answer was lost" "$T/receiver.log"
check "it carries what the cloud wrote since the DR side's base, not W u X nor the disks ($B5 bytes)" \
	[ "$B5" -ge $((2048 * KIB)) -a "$B5" -le $((2048 * KIB * 12 / 10 + 1024 * KIB)) ]
for d in os data; do
	check "after the receiver's kill: target disk $d equals the cloud disk" \
		qemu-img compare -U -f qcow2 -F qcow2 "$TD/$d/$N5.qcow2" "$WD/web1.$d.qcow2"
done
check "on-prem disks bit-identical after the run" [ "$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")" = "$SHA" ]

# the reverse direction in nestor status and /metrics, both sides
fb status $G --json >"$T/fbst2.json"
NPTS=$(jq '.points | length' "$T/fbst2.json")
"$NESTOR" status --config "$T/agent.conf" --json >"$T/ast.json"
check "agent status --json: direction reverse; reverse points, newest, bytes as the target lists them" \
	jqt --slurpfile fb "$T/fbst2.json" '.groups[0] | .direction == "reverse" and
		.reverse.points == ($fb[0].points | length) and .reverse.last_point == $fb[0].points[-1].point and
		.reverse.bytes_total == $fb[0].bytes and .reverse.rpo_seconds >= 0 and .reverse.rpo_seconds < 600' "$T/ast.json"
check "agent status (text): failing back, with its reverse line" \
	bash -c "'$NESTOR' status --config '$T/agent.conf' | grep -q 'failing back' &&
		'$NESTOR' status --config '$T/agent.conf' | grep -q '^  reverse: $NPTS point(s), newest $N5, reverse RPO'"
"$NESTOR" status --config "$T/receiver.conf" --json >"$T/rst.json"
check "receiver status --json: failing back, the same reverse points, newest $N5" \
	jqt ".groups[] | select(.group == \"$G\") | .failed_over and .failing_back and .reverse.points == $NPTS and
		.reverse.last_point == $N5 and .reverse.bytes_total > 0 and .reverse.rpo_seconds >= 0" "$T/rst.json"
check "receiver status (text): failback" \
	bash -c "'$NESTOR' status --config '$T/receiver.conf' | grep -E '^$G ' | grep -q failback"
rmetric() { curl -s --max-time 5 "http://127.0.0.1:$RMPORT/metrics" | awk -v n="$1{group=\"$G\"}" '$1 == n { print $2 }'; }
check "receiver /metrics: nestor_group_failing_back 1" [ "$(rmetric nestor_group_failing_back)" = 1 ]
check "receiver /metrics: nestor_group_reverse_points $NPTS" [ "$(rmetric nestor_group_reverse_points)" = "$NPTS" ]
check "receiver /metrics: nestor_group_reverse_rpo_seconds, bytes" \
	bash -c "[ -n '$(rmetric nestor_group_reverse_rpo_seconds)' ] && [ '$(rmetric nestor_group_reverse_bytes_total)' -gt 0 ]"
AMPORT=$(free_port)
sed "s|^state_dir = .*|&\nmetrics = 127.0.0.1:$AMPORT|" "$T/agent.conf" >"$T/agent-m.conf"
"$NESTOR" agent --config "$T/agent-m.conf" >>"$T/daemon.log" 2>&1 &
DPID=$!
ascrape() { curl -s --max-time 5 "http://127.0.0.1:$AMPORT/metrics"; }
check "agent /metrics: nestor_agent_direction reverse 1" \
	wait_until 30 bash -c "curl -s --max-time 5 http://127.0.0.1:$AMPORT/metrics | grep -qx 'nestor_agent_direction{group=\"$G\",direction=\"reverse\"} 1'"
ascrape >"$T/am.txt"
check "agent /metrics: forward 0, reverse points $NPTS, reverse bytes as the target's" \
	bash -c "grep -qx 'nestor_agent_direction{group=\"$G\",direction=\"forward\"} 0' '$T/am.txt' &&
		grep -qx 'nestor_agent_reverse_points{group=\"$G\"} $NPTS' '$T/am.txt' &&
		grep -qx 'nestor_agent_reverse_bytes_total{group=\"$G\"} $(jq .bytes "$T/fbst2.json")' '$T/am.txt' &&
		grep -q '^nestor_agent_reverse_rpo_seconds{group=\"$G\"} [0-9]' '$T/am.txt'"
kill -TERM $DPID
wait $DPID
virsh -q -c "$VM_URI" resume web1 >/dev/null
echo "receiver kill during the sync, status and metrics: $((SECONDS - T3)) s"

# 4. hostile peers
A1="--cert $P/agent1.crt --key $P/agent1.key"
A2="--cert $P/agent2.crt --key $P/agent2.key"
check "REVERSE_BEGIN from an agent not authorised for the group: refused (AUTH)" \
	$RC $A2 --group $G --expect-code 2 reverse
check "REVERSE_BEGIN for a group that is not failed over: refused" \
	bash -c "$RC $A1 --group other --expect-code 5 reverse | grep -q 'not failed over'"
check "a range flood past disk_size/512 + 65536: refused" \
	bash -c "$RC $A1 --group $G --disk data --disk-size $((16 * 1024 * KIB)) --expect-code 1 reverseflood | grep -q 'too many ranges'"
check "the receiver is still up" kill -0 "$RX_PID"
check "on-prem disks bit-identical at the end" [ "$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")" = "$SHA" ]

# without --once: points at the interval until SIGTERM, then exit 0
$FB start --config "$T/agent.conf" $G --json >"$T/fbloop.json" 2>"$T/fbloop.log" &
LPID=$!
check "without --once: a point, then it waits" wait_until 120 grep -q '"point"' "$T/fbloop.json"
kill -TERM $LPID
check "SIGTERM ends the loop" wait_until 15 bash -c "! kill -0 $LPID 2>/dev/null"
wait $LPID
check "SIGTERM: exit 0" [ $? = 0 ]

# usage
$FB >/dev/null 2>&1
check "failback without a verb is a usage error" [ $? = 2 ]
fb status $G --once >/dev/null 2>&1
check "failback status --once is a usage error" [ $? = 2 ]

# 5. failback finish. The cloud VM writes once more and keeps running.
T5=$SECONDS
cloud "dd if=/dev/urandom of=/dev/vdb bs=64k count=4 seek=128 conv=fsync 2>/dev/null && echo written" |
	grep -q written || die "cloud write W4 failed"
check "REVERSE_FINISH from an agent not authorised for the group: refused (AUTH)" \
	$RC $A2 --group $G --expect-code 2 reversefinish
check "REVERSE_FINISH for a group that is not failed over: refused" \
	bash -c "$RC $A1 --group other --expect-code 5 reversefinish | grep -q 'not failed over'"
check "REVERSE_FINISH releasing a point that holds no final disks: refused" \
	bash -c "$RC $A1 --group $G --point 2 --expect-code 5 reverserelease | grep -q 'does not hold'"
check "REVERSE_FINISH with an unknown flag: refused (protocol)" \
	$RC $A1 --group $G --expect-code 1 finishbadflags
check "refused finishes changed nothing: the cloud VM runs" \
	bash -c "virsh -q -c '$VM_URI' domstate web1 | grep -q running"
CJ=$T/agent-state/failback/$G/cutover.json
NESTOR_TEST_PAUSE=failback-commit $FB finish --config "$T/agent.conf" $G --shutdown-timeout 60 \
	>"$T/fin1.out" 2>"$T/fin1.log" &
KPID=$!
check "finish: the receiver shuts the cloud VM down" \
	wait_until 60 grep -q "finishes the failback" "$T/receiver.log"
check "a second finish while one runs: refused" \
	bash -c "$RC $A1 --group $G --expect-code 5 reversefinish | grep -q 'failback finish of it is running'"
wait_until 120 stopped $KPID || { kill -9 $KPID; tail "$T/fin1.log"; die "failback finish never reached its final point"; }
check "finish paused at its final point: the cloud VM was shut down by ACPI, not destroyed" \
	bash -c "grep -q 'VM web1: shutdown asked' '$T/receiver.log' && ! grep -q 'web1 destroyed (no shutdown' '$T/receiver.log'"
kill -9 $KPID
wait $KPID 2>/dev/null
check "finish killed: cutover.json says requested" jqt '.state == "requested"' "$CJ"
check "finish killed: the DR side lets go of the paused cloud VM" \
	wait_until 30 bash -c "virsh -q -c '$VM_URI' domstate web1 | grep -q 'shut off'"
check "the cloud VM shut off: failback start fails (exit 1)" \
	bash -c "! $FB start --config '$T/agent.conf' $G --once >/dev/null 2>'$T/fboff.log'"
tail -2 "$T/fboff.log"
check "it says why" grep -q "could not begin (are they running?)" "$T/fboff.log"
check "on-prem disks bit-identical until the cutover (sha256)" [ "$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")" = "$SHA" ]
# 5b. the receiver killed (kill -9) during the finish, at two moments,
# the finish run again each time: (1) the cloud VM shut off and held
# paused, before the final reverse point; (2) F made, before its answer
# (and so before the on-prem cutover and the release)
T5B=$SECONDS
for at in finish-quiesced finish-promoted; do
	rx_held $at
	$FB finish --config "$T/agent.conf" $G --shutdown-timeout 60 >"$T/fin-$at.out" 2>"$T/fin-$at.log" &
	KPID=$!
	wait_until 180 stopped "$RX_PID" || { kill -9 $KPID; tail "$T/fin-$at.log" "$T/receiver.log"; die "the receiver never reached $at"; }
	if [ $at = finish-quiesced ]; then
		check "receiver held at $at: the cloud VM is off and held paused" \
			bash -c "virsh -q -c '$VM_URI' domstate web1 | grep -q paused"
		check "receiver held at $at: no F yet" [ "$(last_point $G)" = 2 ]
	else
		check "receiver held at $at: F = point 3 listed" [ "$(last_point $G)" = 3 ]
	fi
	check "receiver held at $at: on-prem disks untouched" [ "$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")" = "$SHA" ]
	rx_kill9
	wait $KPID
	rc=$?
	tail -2 "$T/fin-$at.log"
	check "receiver killed at $at: the finish fails (exit 1)" [ $rc = 1 ]
	check "receiver killed at $at: cutover.json still requested (nothing cut over)" jqt '.state == "requested"' "$CJ"
	check "receiver killed at $at: still failed over" [ -f "$T/store/$G/failover.json" ]
	check "receiver killed at $at: on-prem disks bit-identical" [ "$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")" = "$SHA" ]
	start_receiver
done
echo "receiver kills during the finish: $((SECONDS - T5B)) s"
NESTOR_TEST_PAUSE=failback-finish-f $FB finish --config "$T/agent.conf" $G --shutdown-timeout 60 \
	>"$T/fin2k.out" 2>"$T/fin2k.log" &
KPID=$!
wait_until 120 stopped $KPID || { kill -9 $KPID; tail "$T/fin2k.log"; die "failback finish never got F"; }
kill -9 $KPID
wait $KPID 2>/dev/null
check "finish killed once F was made: point 3 listed" [ "$(last_point $G)" = 3 ]
check "finish killed once F was made: still failed over (no release yet)" [ -f "$T/store/$G/failover.json" ]
check "finish killed once F was made: on-prem disks untouched" [ "$(sha256sum "$T/src/os.qcow2" "$T/src/data.raw")" = "$SHA" ]
$FB finish --config "$T/agent.conf" $G --shutdown-timeout 60 --json >"$T/fin2.json" 2>"$T/fin2.log"
rc=$?
cat "$T/fin2.json"; tail -4 "$T/fin2.log"
grep -E "finish|shut|paused|destroyed|point 3|reverse point [0-9]+ committed" "$T/receiver.log" | tail -14
check "finish re-run: exit 0" [ $rc = 0 ]
F=$(jq .point "$T/fin2.json")
check "finish re-run: the receiver answered the F it made (no new point)" grep -q "point 3 was made already" "$T/receiver.log"
check "finish: F = newest + 1 = 3, base P, released" \
	jqt '.point == 3 and .base == 2 and .released and .resumed_from == "requested"' "$T/fin2.json"
check "finish: F listed on the receiver, crash-consistent, with the cloud's bytes (W1..W4: 14 x 64 KiB)" \
	jqt ".points[-1] | .id == $F and .base == 2 and .consistency == \"crash-consistent\" and .bytes == $(jq .bytes "$T/fin2.json") and .bytes >= $((14 * 64 * KIB))" <(points_json $G)
check "finish: cutover.json released at F" jqt ".state == \"released\" and .forward_point == $F" "$CJ"
check "finish: on-prem os equals the cloud disk at shutdown" \
	qemu-img compare -q -f qcow2 -F qcow2 "$T/src/os.qcow2" "$WD/web1.os.qcow2"
check "finish: on-prem data equals the cloud disk at shutdown" \
	qemu-img compare -q -f raw -F qcow2 "$T/src/data.raw" "$WD/web1.data.qcow2"
check "finish: point F equals the cloud data disk" \
	qemu-img compare -q -f qcow2 -F qcow2 "$(point_file $G data $F)" "$WD/web1.data.qcow2"
check "finish: the failover is released (marker gone)" [ ! -e "$T/store/$G/failover.json" ]
check "finish's release undefines the domain despite its reverse checkpoints" \
	bash -c "! virsh -q -c '$VM_URI' domstate web1 >/dev/null 2>&1"
$FB finish --config "$T/agent.conf" $G >"$T/fin3.out" 2>"$T/fin3.log"
check "finish again: a no-op, exit 0" [ $? = 0 ]
check "finish again: the receiver says released already" grep -q "released already" "$T/receiver.log"
check "the failover was released once" [ "$(grep -c 'failover released after the agent verified' "$T/receiver.log")" = 1 ]
"$NESTOR" status --config "$T/agent.conf" --json >"$T/ast2.json"
check "agent status after the finish: no reverse direction any more" \
	jqt '.groups[0] | .direction != "reverse" and .reverse == null' "$T/ast2.json"
check "receiver status after the finish: not failing back" \
	jqt ".groups[] | select(.group == \"$G\") | (.failing_back | not) and .reverse == null" \
	<("$NESTOR" status --config "$T/receiver.conf" --json)
check "receiver /metrics after the finish: nestor_group_failing_back 0, no reverse RPO" \
	bash -c "[ '$(rmetric nestor_group_failing_back)' = 0 ] && [ -z '$(rmetric nestor_group_reverse_rpo_seconds)' ]"
fb start $G --once >/dev/null 2>"$T/fbnf.log"
rc=$?
tail -3 "$T/fbnf.log"
check "failback start once the failover is released: exit 1" [ $rc = 1 ]
check "it says why" grep -q "is not failed over" "$T/fbnf.log"
qemu-io -f raw -c "write -P 0x77 12M 128k" "$T/src/data.raw" >/dev/null
cycle_once "after the finish"
check "after the finish: point F + 1 on base F" jqt ".point == $((F + 1)) and .base == $F" <<<"$RES"
check_sent_incremental "after the finish" $((128 * KIB))
echo "failback finish section: $((SECONDS - T5)) s"

# 6. on-prem disks lost (issue 14, item 3): a second failover, at the point
# just made; the on-prem disk files are deleted; `failback start
# --new-disks` makes new images and sends a full copy with holes kept (zero
# extents, not data); the finish is refused until agent.conf names the new
# disks, then cuts over into them: they equal the cloud disks at shutdown,
# stay sparse, and forward replication goes on incrementally from F.
# The second failover's proof of boot is the boot loader's banner: this
# section tests the failback, section 1 the guest's boot (waiting for it
# again under TCG cost most of the section's time, 46 s at load 18); the
# reverse source reads QEMU's disks, the guest need not be up, and the
# finish destroys what does not shut down within 3 s (nothing is lost: the
# final point is read after).
T6=$SECONDS
alloc() { qemu-img map --output=json -U "$@" | jq '[.[] | select(.data) | .length] | add // 0'; }
vsize() { qemu-img info --output=json -U "$@" | jq '."virtual-size"'; }
"$NESTOR" failover --config "$T/receiver.conf" $G --marker SYSLINUX --json >"$T/fo2.json" \
	2>"$T/fo2.log" || { cat "$T/fo2.log"; die "second failover failed"; }
WD2=$(jq -r .workdir "$T/fo2.json")
echo "new disks section: failover after $((SECONDS - T6)) s"
# the originals kept aside (not to be trusted): nothing may touch them
mkdir -p "$T/orig"
mv "$T/src/os.qcow2" "$T/src/data.raw" "$T/orig/"
OSHA=$(sha256sum "$T/orig/os.qcow2" "$T/orig/data.raw")
# the first failback's target stays for forensics: moved away by hand
mv "$T/agent-state/failback/$G" "$T/fb-first-target"
ND=$T/newdisks
GD=$T/agent-state/failback/$G
mkdir -p "$ND"
echo "the operator's file" >"$ND/busy.raw"
fb start $G --once --new-disks "os=$ND/os.qcow2,data=$ND/busy.raw" >/dev/null 2>"$T/nd0.log"
rc=$?
tail -1 "$T/nd0.log"
check "--new-disks to an existing non-empty file: exit 1" [ $rc = 1 ]
check "it says why" grep -q "exists and is not an empty file" "$T/nd0.log"
check "the file is unchanged, nothing recorded, no image made" \
	bash -c "[ \"\$(cat '$ND/busy.raw')\" = \"the operator's file\" ] && [ ! -e '$T/agent-state/failback/$G/newdisks.json' ] && [ ! -e '$ND/os.qcow2' ]"
check "REVERSE_BEGIN flagged FULL with ranges anyway: refused" \
	bash -c "$RC $A1 --group $G --disk data --expect-code 1 fullranges | grep -q 'only the bare end'"
check "REVERSE_BEGIN flagged FULL and RANGES: refused (protocol)" \
	$RC $A1 --group $G --expect-code 1 fullandranges
# 6a. the agent and the receiver killed (kill -9) in the middle of the
# first (full) point, then `failback abort`: it removes exactly the images
# the start made (os.qcow2; data.raw, an empty file the operator gave, is
# an empty file again), not the operator's other file, not the originals.
# 6b. the same kill again; the re-run (the mapping from the record)
# converges on the images made before the kill.
NDS="os=$ND/os.qcow2,data=$ND/data.raw"
ndkill() {
	rx_held failback-sending
	$FB start --config "$T/agent.conf" $G --once --json --new-disks "$NDS" >/dev/null 2>"$T/ndk.log" &
	KPID=$!
	wait_until 120 stopped "$RX_PID" || { kill -9 $KPID; tail "$T/ndk.log"; die "the receiver never streamed the full point"; }
	kill -9 $KPID
	wait $KPID 2>/dev/null
	rx_kill9
	start_receiver
}
: >"$ND/data.raw"
T6A=$SECONDS
ndkill
check "killed in the full point: the new disks were made, recorded, the point pending" \
	bash -c "[ -s '$ND/os.qcow2' ] && [ -s '$ND/data.raw' ] && [ -s '$GD/made-os.json' ] && [ -s '$GD/made-data.json' ] && [ -s '$GD/pending.json' ]"
check "the record says data.raw was the operator's empty file" jqt '.given_empty' "$GD/made-data.json"
fb abort $G >"$T/nda.out" 2>"$T/nda.log"
rc=$?
cat "$T/nda.log"
check "failback abort after the killed start: exit 0" [ $rc = 0 ]
check "abort: the image it made at an absent path is removed" [ ! -e "$ND/os.qcow2" ]
check "abort: the operator's empty file is an empty file again" bash -c "[ -f '$ND/data.raw' ] && [ ! -s '$ND/data.raw' ]"
check "abort: no image left under a temporary name, only the operator's files" \
	[ "$(ls -A "$ND" | tr '\n' ' ')" = "busy.raw data.raw " ]
check "abort: the operator's other file is unchanged" [ "$(cat "$ND/busy.raw")" = "the operator's file" ]
check "abort: the originals untouched (sha256)" [ "$(sha256sum "$T/orig/os.qcow2" "$T/orig/data.raw")" = "$OSHA" ]
check "abort: the target is gone" [ ! -e "$GD" ]
check "abort says what it removed" grep -q "new disk $ND/os.qcow2 removed (the failback made it)" "$T/nda.log"
ndkill
echo "new disks: the kills in the full point and the abort: $((SECONDS - T6A)) s"
INO=$(stat -c %i "$ND/os.qcow2" "$ND/data.raw")
fb start $G --once --json >"$T/nd1.json" 2>"$T/nd1.log"
rc=$?
echo "new disks section: first point after $((SECONDS - T6)) s"
cat "$T/nd1.json"; tail -3 "$T/nd1.log"
check "failback start after the kill (the mapping from the record): exit 0" [ $rc = 0 ]
check "a first point of new disks: base 0" jqt '.new_disks and .base == 0' "$T/nd1.json"
check "it went into the images made before the kill (same files)" \
	[ "$(stat -c %i "$ND/os.qcow2" "$ND/data.raw")" = "$INO" ]
check "no pending point left" [ ! -e "$GD/pending.json" ]
NP1=$(jq .point "$T/nd1.json")
ALLOC=$(( $(alloc "$WD2/web1.os.qcow2") + $(alloc "$WD2/web1.data.qcow2") ))
VIRT=$(( $(vsize "$WD2/web1.os.qcow2") + $(vsize "$WD2/web1.data.qcow2") ))
BN=$(jq .bytes "$T/nd1.json")
ZN=$(grep "reverse point $NP1 committed on-prem" "$T/receiver.log" | tail -1 | sed -E 's/.* ([0-9]+) zero,.*/\1/')
echo "new disks: $BN bytes received, $ZN bytes of zero extents; cloud disks: $ALLOC allocated of $VIRT"
check "the cloud disks have holes ($ALLOC allocated < 0.8 x $VIRT)" [ "$ALLOC" -lt $((VIRT * 8 / 10)) ]
check "bytes received <= the allocated data + 10% ($BN <= 1.1 x $ALLOC), not the virtual size" \
	[ "$BN" -le $((ALLOC * 11 / 10 + 256 * KIB)) ]
check "the holes travelled as zero extents ($ZN >= $VIRT - $ALLOC - 1 MiB)" \
	[ "$ZN" -ge $((VIRT - ALLOC - 1024 * KIB)) ]
check "the new disks were made empty, only read so far" \
	bash -c "[ \$(stat -c %b '$ND/data.raw') = 0 ] && [ \$(qemu-img map --output=json -U '$ND/os.qcow2' | jq '[.[] | select(.data)] | length') = 0 ]"
TD2=$T/agent-state/failback/$G/disks
check "the target's data disk reads as the cloud's" \
	qemu-img compare -U -f qcow2 -F qcow2 "$TD2/data/$NP1.qcow2" "$WD2/web1.data.qcow2"
$FB finish --config "$T/agent.conf" $G --shutdown-timeout 60 >/dev/null 2>"$T/nd2.log"
rc=$?
tail -2 "$T/nd2.log"
check "finish while agent.conf names the lost disks: exit 1" [ $rc = 1 ]
check "it says what to set" grep -q "set path = $ND/os.qcow2 and format = qcow2" "$T/nd2.log"
check "nothing done: no cutover state, the cloud VM runs" \
	bash -c "[ ! -e '$T/agent-state/failback/$G/cutover.json' ] && virsh -q -c '$VM_URI' domstate web1 | grep -q running"
write_agent_conf "$T/agent.conf" agent1 $G os="$ND/os.qcow2:qcow2" data="$ND/data.raw:raw" \
	domain_xml="$T/src/web1.xml"
# 6c. kills during the finish into new disks: the receiver once F is made
# (before its answer): nothing reaches the new disks (still empty); the
# agent once the first disk is committed into its new disk: an abort is
# refused and removes nothing; the re-run converges.
empty_new() {
	[ "$(stat -c %b "$ND/data.raw")" = 0 ] &&
		[ "$(qemu-img map --output=json -U "$ND/os.qcow2" | jq '[.[] | select(.data)] | length')" = 0 ]
}
T6C=$SECONDS
rx_held finish-promoted
$FB finish --config "$T/agent.conf" $G --shutdown-timeout 3 >/dev/null 2>"$T/ndf1.log" &
KPID=$!
wait_until 180 stopped "$RX_PID" || { kill -9 $KPID; tail "$T/ndf1.log"; die "the receiver never made F"; }
rx_kill9
wait $KPID
rc=$?
start_receiver
check "receiver killed once F is made: the finish fails (exit 1), cutover requested" \
	bash -c "[ $rc = 1 ] && jq -e '.state == \"requested\"' '$GD/cutover.json' >/dev/null"
check "receiver killed once F is made: the new disks still empty (nothing committed)" empty_new
NESTOR_TEST_PAUSE=cutover-commit-disk $FB finish --config "$T/agent.conf" $G --shutdown-timeout 3 \
	>/dev/null 2>"$T/ndf2.log" &
KPID=$!
wait_until 120 stopped $KPID || { kill -9 $KPID; tail "$T/ndf2.log"; die "the finish never committed a disk"; }
kill -9 $KPID
wait $KPID 2>/dev/null
check "agent killed after a disk's commit: cutover committing" jqt '.state == "committing"' "$GD/cutover.json"
half_new() { ! empty_new; }
check "a new disk is half committed (one holds data)" half_new
fb abort $G >/dev/null 2>"$T/nda2.log"
check "abort past committing: refused (exit 1)" [ $? = 1 ]
check "it removed nothing: the same new disks, the target" \
	bash -c "[ \"\$(stat -c %i '$ND/os.qcow2' '$ND/data.raw')\" = '$INO' ] && [ -s '$GD/cutover.json' ]"
echo "new disks: the kills during the finish: $((SECONDS - T6C)) s"
$FB finish --config "$T/agent.conf" $G --shutdown-timeout 3 --json >"$T/nd3.json" 2>"$T/nd3.log"
rc=$?
echo "new disks section: finish after $((SECONDS - T6)) s"
cat "$T/nd3.json"; tail -3 "$T/nd3.log"
check "finish into the new disks (re-run after the kills): exit 0, from committing" \
	bash -c "[ $rc = 0 ] && jq -e '.resumed_from == \"committing\"' '$T/nd3.json' >/dev/null"
check "the originals still untouched (sha256)" [ "$(sha256sum "$T/orig/os.qcow2" "$T/orig/data.raw")" = "$OSHA" ]
F2=$(jq .point "$T/nd3.json")
check "finish: released" jqt '.released and .base > 0' "$T/nd3.json"
check "finish: F ($F2) is the receiver's newest point" [ "$(last_point $G)" = "$F2" ]
check "the new os disk equals the cloud disk at shutdown" \
	qemu-img compare -q -f qcow2 -F qcow2 "$ND/os.qcow2" "$WD2/web1.os.qcow2"
check "the new data disk equals the cloud disk at shutdown" \
	qemu-img compare -q -f raw -F qcow2 "$ND/data.raw" "$WD2/web1.data.qcow2"
OSA=$(alloc "$ND/os.qcow2")
OSV=$(vsize "$ND/os.qcow2")
CLA=$(alloc "$WD2/web1.os.qcow2")
OSDU=$(du -B1 "$ND/os.qcow2" | cut -f1)
echo "new os disk: $OSA bytes allocated ($OSDU on disk) of $OSV; the cloud's: $CLA"
check "the new os disk allocates no more than the cloud disk ($OSA <= $CLA)" [ "$OSA" -le "$CLA" ]
check "the new os disk stays sparse ($OSA and $OSDU < 0.7 x $OSV)" \
	bash -c "[ $OSA -lt $((OSV * 7 / 10)) ] && [ $OSDU -lt $((OSV * 7 / 10)) ]"
qemu-io -f raw -c "write -P 0x79 4M 128k" "$ND/data.raw" >/dev/null
cycle_once "after the finish into new disks"
check "after it: point F + 1 on base F" jqt ".point == $((F2 + 1)) and .base == $F2" <<<"$RES"
check_sent_incremental "after the finish into new disks" $((128 * KIB))
echo "new disks section: $((SECONDS - T6)) s"
stop_receiver
cleanup
trap - EXIT
finish
