#!/bin/bash
# `make demo`: the main job end to end on one machine. A running "on-prem"
# VM is protected live (libvirt checkpoints + pull backups): seed, then an
# incremental while the guest keeps writing; `nestor drill` boots the newest
# recovery point in an isolated network and shows that the drilled guest
# sees the data written before the point. Everything is cleaned up.
set -u
# The integration tests' set-up (tests/integration/lib.sh): scratch dir $T,
# PKI, configs, receiver, private libvirtd; its cleanup stops them on exit.
# shellcheck source=integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/integration/lib.sh"
LIB=$ROOT/tests/lib
# shellcheck source=lib/vm.sh
. "$LIB/vm.sh"

W=$T
T0=$(now_ms)
STEP_T=$T0
STEP=0

step() {
	local now
	now=$(now_ms)
	[ $STEP -gt 0 ] && printf '    (%d.%d s)\n' $(((now - STEP_T) / 1000)) $(((now - STEP_T) % 1000 / 100))
	STEP=$((STEP + 1))
	STEP_T=$now
	printf '\n== %d. %s\n' $STEP "$*"
}
fail() { echo "DEMO FAILED: $*" >&2; exit 1; }

step "Test guest image (built once, cached in ${NESTOR_CACHE:-/var/cache/nestor-test})"
IMG=$("$LIB/vm-image.sh") || fail "cannot build the guest image"
echo "    $IMG"

step "Private libvirtd (own mount namespace; the host's libvirt is not touched)"
start_libvirtd
echo "    $VM_URI"

step "On-prem VM 'web1' (running): qcow2 boot disk + qcow2 data disk"
mkdir -p "$W/onprem"
qemu-img create -q -f qcow2 -b "$IMG" -F qcow2 "$W/onprem/web1-os.qcow2"
qemu-img create -q -f qcow2 "$W/onprem/web1-data.qcow2" 16M
vm_define_start web1 "$W/onprem/web1-os.qcow2" "$W/onprem/web1-data.qcow2" 2>/dev/null ||
	fail "cannot start web1"
vm_wait_marker web1 NESTOR-BOOT-OK 120 || fail "web1 did not boot"
echo "    booted; the guest writes 4 MiB of random data at the start of its data disk"
vm_run web1 "dd if=/dev/urandom of=/dev/vdb bs=64k count=64 conv=fsync 2>/dev/null; echo ok" 120 >/dev/null ||
	fail "guest command failed"

step "Throwaway PKI, receiver and agent on loopback"
{ make_pki && "$ROOT/deploy/nestor-pki.sh" "$W/pki" agent onprem1 >/dev/null; } 2>/dev/null || fail "PKI"
write_receiver_conf
printf '\n[client onprem1]\ngroups = web\n' >>"$W/receiver.conf"
write_agent_conf "$W/agent.conf" onprem1 web domains=web1
start_receiver
echo "    receiver on 127.0.0.1:$PORT (TLS 1.3, mutual certificates), store $W/store"

step "Replicate the running VM: seed (point 1)"
"$NESTOR" agent --config "$W/agent.conf" --once --json --no-progress 2>>"$W/agent.log" |
	jq -c '{point, incremental, bytes_data, bytes_zero}' || fail "seed failed (see $W/agent.log)"

step "The guest writes 1 MiB more, then keeps writing in the background"
OUT=$(vm_run web1 "dd if=/dev/urandom of=/dev/vdb bs=64k count=16 seek=64 conv=fsync 2>/dev/null && dd if=/dev/vdb bs=1M count=5 2>/dev/null | md5sum" 120) ||
	fail "guest command failed"
MD5=$(echo "$OUT" | awk '/-/ { print $1 }')
echo "    md5 of the first 5 MiB of the data disk, in the guest: $MD5"
vm_run web1 "(while :; do dd if=/dev/urandom of=/dev/vdb bs=64k count=4 seek=\$((128 + RANDOM % 120)) conv=notrunc,fsync 2>/dev/null; sleep 0.3; done) >/dev/null 2>&1 & echo started" 30 >/dev/null ||
	fail "guest background writer failed"

step "Replicate live while the guest writes: incremental (point 2, only what changed)"
"$NESTOR" agent --config "$W/agent.conf" --once --json --no-progress 2>>"$W/agent.log" |
	jq -c '{point, incremental, bytes_data, bytes_zero}' || fail "incremental failed (see $W/agent.log)"
"$NESTOR" points --config "$W/receiver.conf" web
virsh -c "$VM_URI" domstate web1 | head -1 | sed 's/^/    web1 is still /'

step "DR drill of the latest point: overlay boot in an isolated network, verify, tear down"
"$NESTOR" drill --config "$W/receiver.conf" web --uri "$VM_URI" \
	--check-cmd "dd if=/dev/vdb bs=1M count=5 2>/dev/null | md5sum" 2>"$W/drill.log" | tee "$W/drill.txt"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || { cat "$W/drill.log"; fail "drill failed"; }
grep -q "$MD5" "$W/drill.txt" || fail "the drilled guest does not see the data written before point 2"
echo
echo "    the drilled guest reads the same md5 ($MD5) as the source guest before point 2"
left=$(virsh -q -c "$VM_URI" list --all --name | grep -c -- -drill-)
[ "$left" = 0 ] || fail "a drill domain is still defined"
echo "    after teardown: no drill domain, network or overlay left; the point files were only read"
vm_destroy web1 2>/dev/null
stop_receiver # SIGTERM: a clean stop (lib.sh's cleanup would kill -9 it, which bash reports)

step "Done"
echo "    total $(( ($(now_ms) - T0) / 1000 )) s"
