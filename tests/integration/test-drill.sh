#!/bin/bash
# DR drill end to end: a two-VM group; the first source VM (boot disk = qcow2
# overlay of the test guest, raw data disk, one NIC) writes a pattern, is replicated (point 1), writes
# another pattern, is replicated again (point 2); `nestor drill` boots the
# latest and point 1 under a private libvirtd on overlays, in an isolated
# network, and the drilled guest sees exactly the data of its point. A drill
# with a wrong marker fails and still tears down. After every drill no domain,
# network or overlay is left and the point files are bit-identical. Where
# /dev/kvm is usable, the first drill probes KVM and keeps the verdict, the
# second boots straight under it (on a host whose KVM cannot run the guest:
# no KVM attempt at all), and --accel probe probes again.
# Every drill leaves an HTML report beside its JSON (issue 16): web1 has a
# VGA adapter (no graphics listener), so its report shows a screenshot of its
# console that must decode and not be blank; web2 is headless and gets its
# serial console only; the page loads nothing from outside in Chromium.
. "$(dirname "$0")/lib.sh"

G=web
MAC=52:54:00:4e:53:01
# the drill finds the private libvirtd through the environment (drill 1)
# or --uri (the others)
ACCEL_SEED=0 # drill 1 probes a fresh store (the verdict checks below)
vm_source_setup
# a second VM of the group, booted after web1: boot disk + an empty data disk
qemu-img create -q -f qcow2 -b "$IMG" -F qcow2 "$T/src/os2.qcow2"
truncate -s 8M "$T/src/data2.raw"
MD5_WEB2=$(md5sum < "$T/src/data2.raw" | cut -d' ' -f1)
write_agent_conf "$T/agent.conf" agent1 $G os="$T/src/os.qcow2:qcow2" data="$T/src/data.raw:raw" \
	os2="$T/src/os2.qcow2:qcow2" data2="$T/src/data2.raw:raw" \
	domain_xml="$T/src/web1.xml $T/src/web2.xml"
vm_define_start web2 "$T/src/os2.qcow2" "$T/src/data2.raw" >&2 || die "cannot define web2"
vm_destroy web2 >&2
cp "$VM_DIR/web2.xml" "$T/src/web2.xml" || die "web2's XML not written"

# boot_source SEED: boot the source VM, fill the data disk with SEED's pattern,
# print the data disk's md5, stop the VM.
boot_source() {
	local out rc
	VM_VIDEO=vga vm_define_start web1 "$T/src/os.qcow2" "$T/src/data.raw" >&2 || return 1
	vm_wait_marker web1 NESTOR-BOOT-OK 120 || return 1
	# a deterministic pattern per seed: the seed's byte repeated, then random
	out=$(vm_run web1 "dd if=/dev/urandom of=/dev/vdb bs=64k count=64 seek=$1 conv=fsync 2>/dev/null && printf '%08d' $1 | dd of=/dev/vdb conv=fsync 2>/dev/null && sync && md5sum /dev/vdb" 120)
	rc=$?
	vm_destroy web1 >&2
	[ $rc -eq 0 ] || return 1
	echo "$out" | awk '/\/dev\/vdb/ { print $1 }'
}

MD5_1=$(boot_source 1) || die "source VM run 1 failed"
# The captured definition: the harness's XML plus a NIC on a network the
# receiver side does not have; the drill must move it to its isolated net.
sed "s|</devices>|<interface type='network'><mac address='$MAC'/><source network='default'/><model type='virtio'/></interface></devices>|" \
	"$VM_DIR/web1.xml" >"$T/src/web1.xml"
grep -q "$MAC" "$T/src/web1.xml" || die "source domain XML not written"
out=$(agent_once "$T/agent.conf") || { tail -20 "$T/agent.log"; die "replication 1 failed"; }
check "point 1 committed" [ "$(echo "$out" | jq .point)" = 1 ]
MD5_2=$(boot_source 2) || die "source VM run 2 failed"
check "the two patterns differ" [ -n "$MD5_1" -a "$MD5_1" != "$MD5_2" ]
out=$(agent_once "$T/agent.conf") || { tail -20 "$T/agent.log"; die "replication 2 failed"; }
check "point 2 committed, incremental" [ "$(echo "$out" | jq -c '[.point, .incremental]')" = "[2,true]" ]
echo "md5 point 1: $MD5_1, point 2: $MD5_2"

SUMS=$(store_sums $G)
after_drill() { check_drill_gone "$1" "$2" $G "$SUMS"; }

# the guest's output ends with markup a hostile guest could print: the HTML
# report must show it as text
CHECK="md5sum /dev/vdb; cat /sys/class/net/*/address; echo '<script>alert(1)</script>'"
# 1. latest point
t0=$(date +%s)
"$NESTOR" drill --config "$T/receiver.conf" $G --json --timeout 120 \
	--check-cmd "$CHECK" >"$T/drill1.json" 2>"$T/drill1.log"
rc=$?
cat "$T/drill1.log"
jq -c '{drill, point, verdict, rpo_s, accel, accel_source, accel_fallback_s, teardown, vms: [.vms[] | {vm, domain, started_s, rto_s, result, check}]}' "$T/drill1.json"
check "drill latest: exit 0" [ $rc = 0 ]
check "drill latest: verdict pass" [ "$(jq -r .verdict "$T/drill1.json")" = pass ]
check "drill latest: used point 2" [ "$(jq .point "$T/drill1.json")" = 2 ]
check "drill latest: guest sees point-2 data" \
	grep -q "$MD5_2" <<<"$(jq -r '.vms[0].check.output' "$T/drill1.json")"
check "drill latest: NIC kept its MAC" \
	grep -q "$MAC" <<<"$(jq -r '.vms[0].check.output' "$T/drill1.json")"
check "drill latest: RTO measured" jq -e '.vms[0].rto_s > 0 and .vms[0].rto_s >= .vms[0].started_s' "$T/drill1.json"
check "drill latest: RPO measured" jq -e '.rpo_s > 0' "$T/drill1.json"
check "drill latest: both VMs of the group booted and passed" \
	jq -e '(.vms | length) == 2 and ([.vms[].result] | all(. == "pass"))' "$T/drill1.json"
check "drill latest: boot order web1 then web2" \
	jq -e '.vms[0].vm == "web1" and .vms[1].vm == "web2" and .vms[1].started_s >= .vms[0].started_s' "$T/drill1.json"
check "drill latest: web2 sees its own data disk" \
	grep -q "$MD5_WEB2" <<<"$(jq -r '.vms[1].check.output' "$T/drill1.json")"
check "drill latest: domain renamed" [ "$(jq -r '.vms[0].domain' "$T/drill1.json")" = "web1-drill-$(jq -r .drill "$T/drill1.json")" ]
WD=$(jq -r .workdir "$T/drill1.json")
check "drill latest: booted XML isolated (no source network, no uuid)" \
	bash -c "grep -qE 'network=.nestor-drill-' '$WD/web1.xml' && ! grep -qE 'network=.default' '$WD/web1.xml' && ! grep -q '<uuid>' '$WD/web1.xml'"
check "drill latest: report saved" cmp -s <(jq -S . "$T/drill1.json") <(jq -S . "$T/store/$G/drills/$(jq -r .drill "$T/drill1.json").json")
after_drill "drill latest" "$T/drill1.log"
echo "drill latest took $(($(date +%s) - t0)) s"

# The HTML report of drill 1 (issue 16, acceptance 2).
HTML1=$T/store/$G/drills/$(jq -r .drill "$T/drill1.json").html
check "html report: saved beside the JSON, named in it" \
	[ -s "$HTML1" -a "$(jq -r .html_report "$T/drill1.json")" = "$(realpath "$HTML1")" ]
"$ROOT/tests/integration/reportcheck.py" pngs "$HTML1" >"$T/pngs.txt"
cat "$T/pngs.txt"
check "html report: one inlined PNG, web1's console, that decodes" \
	bash -c "[ \$(wc -l <'$T/pngs.txt') = 1 ] && grep -q '\"alt\": \"console screenshot of web1\"' '$T/pngs.txt'"
check "html report: the screenshot is not blank (console text: luminance stddev > 8)" \
	jq -e '.width >= 640 and .height >= 200 and .stddev > 8 and .colors >= 2' "$T/pngs.txt"
check "json report: web1's screenshot taken, web2 headless" \
	jq -e '(.vms[0].screenshot | .state == "taken" and .width >= 640 and .png_bytes > 0) and .vms[1].screenshot.state == "no-display"' "$T/drill1.json"
check "html report: web2 says it has no display" grep -q 'no display: a headless guest' "$HTML1"
check "html report: both serial console tails (their boot markers) and the marker row" \
	[ "$(grep -c 'NESTOR-BOOT-OK' "$HTML1")" -ge 3 ]
check "html report: check output, point disks, RTO" \
	bash -c "grep -q '$MD5_2' '$HTML1' && grep -q 'vdb: point disk data<' '$HTML1' && grep -q 'vda: point disk os2<' '$HTML1' && grep -q 'RTO (boot marker)' '$HTML1'"
check "html report: the guest's markup is text, not markup" \
	bash -c "! grep -qi '<script' '$HTML1' && grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' '$HTML1'"
check "html report: references nothing outside itself" "$ROOT/tests/integration/reportcheck.py" refs "$HTML1"
# Headless Chromium through a proxy that logs every request it is sent.
# Chromium's own housekeeping (component updates, accounts) goes to
# *.google.com / *.googleapis.com and is not counted; a control page with one
# external image proves that the trap sees what a page fetches.
chromium_dump() { # chromium_dump PORT FILE: the DOM after load on stdout
	timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-default-apps --user-data-dir="$T/chromium" \
		--proxy-server="http://127.0.0.1:$1" --proxy-bypass-list='<-loopback>' \
		--dump-dom "file://$2" 2>>"$T/chromium.log"
}
"$ROOT/tests/integration/reportcheck.py" trap "$T/trap.log" >"$T/trap.port" &
TRAP_PID=$!
wait_until 10 test -s "$T/trap.port" || die "the proxy trap did not start"
printf '<!DOCTYPE html><title>control</title><img src="http://nestor-trap.invalid/control.png">\n' >"$T/control.html"
chromium_dump "$(cat "$T/trap.port")" "$T/control.html" >/dev/null
NREQ=$(wc -l <"$T/trap.log")
chromium_dump "$(cat "$T/trap.port")" "$HTML1" >"$T/dom.html"
kill "$TRAP_PID"
wait "$TRAP_PID" 2>/dev/null
check "chromium: the control page's fetch reached the trap" grep -q 'nestor-trap.invalid/control.png' "$T/trap.log"
tail -n +$((NREQ + 1)) "$T/trap.log" | grep -vE '^[A-Z]+ (http://)?[^/ ]*\.(google\.com|googleapis\.com)[:/]' >"$T/fetched.txt"
cat "$T/fetched.txt"
check "chromium: the report fetched nothing" [ ! -s "$T/fetched.txt" ]
check "chromium: the DOM has both VMs and web1's screenshot" \
	bash -c "grep -q 'console screenshot of web1' '$T/dom.html' && grep -q 'data:image/png;base64,' '$T/dom.html' && grep -q '<h2>VM web2' '$T/dom.html'"

# 2. point 1
"$NESTOR" drill --config "$T/receiver.conf" $G --point 1 --json --uri "$VM_URI" \
	--check-cmd "md5sum /dev/vdb" >"$T/drill2.json" 2>"$T/drill2.log"
rc=$?
check "drill point 1: exit 0" [ $rc = 0 ]
check "drill point 1: used point 1" [ "$(jq .point "$T/drill2.json")" = 1 ]
check "drill point 1: guest sees point-1 data" \
	grep -q "$MD5_1" <<<"$(jq -r '.vms[0].check.output' "$T/drill2.json")"
after_drill "drill point 1" "$T/drill2.log"

# The accelerator verdict (issue 17): drill 1 ran on a fresh store.
VERDICT=$T/store/.accel-verdict.json
ACCEL1=$(jq -r .accel "$T/drill1.json")
jq -c '{drill, accel, accel_source, accel_cached, accel_fallback_s, web1_started_s: .vms[0].started_s, web1_rto_s: .vms[0].rto_s}' \
	"$T/drill1.json" "$T/drill2.json"
echo "boot phase of web1 (accel $ACCEL1): drill 1 started $(jq .vms[0].started_s "$T/drill1.json") s, RTO $(jq .vms[0].rto_s "$T/drill1.json") s; drill 2 started $(jq .vms[0].started_s "$T/drill2.json") s, RTO $(jq .vms[0].rto_s "$T/drill2.json") s"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	check "accel: drill 1 probed KVM (no verdict yet)" \
		jq -e '.accel_source == "probe" and .accel_cached == false' "$T/drill1.json"
	check "accel: drill 1 said why it probed" grep -q 'accel kvm, proved by the first VM (no verdict yet)' "$T/drill1.log"
	check "accel: drill 1 kept its verdict for this host and kernel" \
		jq -e --arg a "$ACCEL1" --arg h "$(uname -n)" --arg k "$(uname -r)" \
		'.verdict == $a and .host == $h and .kernel == $k' "$VERDICT"
	check "accel: drill 2 used the cached verdict" \
		jq -e --arg a "$ACCEL1" '.accel == $a and .accel_source == "cache" and .accel_cached == true' "$T/drill2.json"
	check "accel: drill 2's log says cached" grep -q "accel $ACCEL1 (cached verdict from .*, kernel $(uname -r)" "$T/drill2.log"
	if [ "$ACCEL1" = tcg ]; then
		# this host kind: /dev/kvm exists but the guest does not run under it
		check "accel: drill 1 fell back and reported what it cost" \
			jq -e '.accel_fallback_s > 0' "$T/drill1.json"
		check "accel: drill 1 tried KVM" grep -q 'falling back to TCG' "$T/drill1.log"
		check "accel: drill 2 made no KVM attempt" \
			bash -c "! grep -Eq 'started \(kvm\)|under KVM|host-model CPU' '$T/drill2.log'"
		check "accel: drill 2 lost nothing to a probe" jq -e '.accel_fallback_s == 0' "$T/drill2.json"
	fi
else
	echo "accel: /dev/kvm not usable here: no probe, no verdict"
	check "accel: no /dev/kvm, no verdict kept" [ ! -e "$VERDICT" ]
	check "accel: drill 1 says why TCG" jq -e '.accel == "tcg" and .accel_source == "no-kvm"' "$T/drill1.json"
fi

# 3. a marker the guest never prints: the drill fails, reports it, tears down.
# --accel probe ignores the kept verdict; a probe that saw no marker at all
# proves nothing and keeps the verdict as it was.
VSUM=$(sha256sum <"$VERDICT" 2>/dev/null)
LIBVIRT_DEFAULT_URI= "$NESTOR" drill --config "$T/receiver.conf" $G --uri "$VM_URI" --marker NO-SUCH-MARKER --timeout 10 \
	--accel probe >"$T/drill3.txt" 2>"$T/drill3.log"
rc=$?
cat "$T/drill3.txt"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	check "accel probe: the cached verdict is not used" \
		bash -c "grep -q 'accel kvm, proved by the first VM (--accel probe)' '$T/drill3.log' && ! grep -q 'cached verdict' '$T/drill3.log'"
	check "accel probe: the first VM started under KVM" grep -q 'started (kvm)' "$T/drill3.log"
	check "accel probe: an inconclusive probe keeps the verdict" [ "$(sha256sum <"$VERDICT")" = "$VSUM" ]
fi
check "drill wrong marker: exit non-zero" [ $rc != 0 ]
check "drill wrong marker: text report says FAIL" grep -q '^verdict: FAIL' "$T/drill3.txt"
check "drill wrong marker: saved report says fail" \
	bash -c "jq -e '.verdict == \"fail\" and .vms[0].marker_seen == false and .teardown == \"done\"' \$(ls -t '$T/store/$G/drills/'*.json | head -1)"
after_drill "drill wrong marker" "$T/drill3.log"

# 4. bad input: unknown point, usage errors
"$NESTOR" drill --config "$T/receiver.conf" $G --point 9 >/dev/null 2>"$T/drill4.log"
check "drill of a missing point fails" [ $? = 1 ]
"$NESTOR" drill --config "$T/receiver.conf" $G --timeout 0 >/dev/null 2>&1
check "drill --timeout 0 is a usage error" [ $? = 2 ]
"$NESTOR" drill --config "$T/receiver.conf" $G --accel fast >/dev/null 2>"$T/drill5.log"
check "drill --accel fast is a usage error" [ $? = 2 ]
check "drill --accel fast names the modes" grep -q 'auto, probe, tcg or kvm' "$T/drill5.log"

# 5. the history
"$NESTOR" drill --config "$T/receiver.conf" --list $G | tee "$T/list.txt"
check "drill --list shows 3 drills" [ "$(grep -c '^20' "$T/list.txt")" = 3 ]
check "drill --list shows where each HTML report is" \
	[ "$(grep -cE '^    html: /.*/drills/20[0-9T]{13}-[0-9a-f]{4}\.html$' "$T/list.txt")" = 3 ]
"$NESTOR" drill --config "$T/receiver.conf" --list $G --json >"$T/list.json"
check "drill --list --json: each report's JSON and HTML paths" \
	jq -e 'length == 3 and all(.[]; (.report_json | endswith(".json")) and (.report_html | endswith(".html")))' "$T/list.json"
check "drill --list: the HTML reports are there" \
	bash -c "jq -r '.[].report_html' '$T/list.json' | xargs -r ls >/dev/null"

stop_receiver
finish
