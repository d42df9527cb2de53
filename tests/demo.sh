#!/bin/bash
# `make demo`: the main job end to end on one machine. An "on-prem" VM writes
# data, is replicated to a receiver on loopback (seed, then incremental), and
# `nestor drill` boots the latest recovery point in an isolated network and
# shows that the drilled guest sees the data. Everything is cleaned up.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NESTOR=${NESTOR:-$ROOT/build/nestor}
LIB=$ROOT/tests/lib
# shellcheck source=lib/vm.sh
. "$LIB/vm.sh"

W=$(mktemp -d /tmp/nestor-demo.XXXXXX)
export VM_DIR=$W/vm
RX_PID=
T0=$(now_ms)
STEP_T=$T0
STEP=0

demo_cleanup() {
	[ -n "$RX_PID" ] && kill -TERM "$RX_PID" 2>/dev/null && wait "$RX_PID" 2>/dev/null
	[ -n "${VM_URI:-}" ] && "$LIB/libvirtd.sh" stop "$W/lv" >/dev/null 2>&1
	[ "${KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap demo_cleanup EXIT

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
VM_URI=$("$LIB/libvirtd.sh" start "$W/lv") || fail "libvirtd did not start"
export VM_URI
echo "    $VM_URI"

step "On-prem VM 'web1': qcow2 boot disk + raw data disk + one NIC"
mkdir -p "$W/onprem" "$W/pki" "$W/store" "$W/agent-state"
qemu-img create -q -f qcow2 -b "$IMG" -F qcow2 "$W/onprem/web1-os.qcow2"
truncate -s 16M "$W/onprem/web1-data.raw"
vm_define_start web1 "$W/onprem/web1-os.qcow2" "$W/onprem/web1-data.raw" 2>/dev/null ||
	fail "cannot start web1"
# the definition the agent captures with every point: the harness's XML plus a NIC
sed "s|</devices>|<interface type='network'><mac address='52:54:00:4e:53:01'/><source network='default'/><model type='virtio'/></interface></devices>|" \
	"$VM_DIR/web1.xml" >"$W/onprem/web1.xml"
vm_wait_marker web1 NESTOR-BOOT-OK 120 || fail "web1 did not boot"
echo "    booted; the guest writes 4 MiB of random data at the start of its data disk"
OUT1=$(vm_run web1 "dd if=/dev/urandom of=/dev/vdb bs=64k count=64 conv=fsync 2>/dev/null && md5sum /dev/vdb" 120) ||
	fail "guest command failed"
MD5_1=$(echo "$OUT1" | awk '/vdb/ { print $1 }')
echo "    data disk md5 in the guest: $MD5_1"
vm_destroy web1 2>/dev/null

step "Throwaway PKI, receiver and agent on loopback"
"$ROOT/deploy/nestor-pki.sh" "$W/pki" ca >/dev/null 2>&1 &&
	"$ROOT/deploy/nestor-pki.sh" "$W/pki" receiver receiver >/dev/null 2>&1 &&
	"$ROOT/deploy/nestor-pki.sh" "$W/pki" agent onprem1 >/dev/null 2>&1 || fail "PKI"
PORT=$(free_port_pair 2>/dev/null | awk '{ print $1 }')
[ -n "$PORT" ] || PORT=$((20000 + RANDOM % 20000))
cat >"$W/receiver.conf" <<EOC
[receiver]
listen = 127.0.0.1:$PORT
ca = $W/pki/ca.crt
cert = $W/pki/receiver.crt
key = $W/pki/receiver.key
store = $W/store

[client onprem1]
groups = web
EOC
cat >"$W/agent.conf" <<EOC
[agent]
name = onprem1
receiver = 127.0.0.1:$PORT
server_name = receiver
ca = $W/pki/ca.crt
cert = $W/pki/onprem1.crt
key = $W/pki/onprem1.key
state_dir = $W/agent-state

[group web]
domain_xml = $W/onprem/web1.xml

[disk web os]
path = $W/onprem/web1-os.qcow2
format = qcow2

[disk web data]
path = $W/onprem/web1-data.raw
format = raw
EOC
"$NESTOR" receiver --config "$W/receiver.conf" >>"$W/receiver.log" 2>&1 &
RX_PID=$!
wait_until 10 grep -q listening "$W/receiver.log" || { cat "$W/receiver.log"; fail "receiver did not start"; }
echo "    receiver on 127.0.0.1:$PORT (TLS 1.3, mutual certificates), store $W/store"

step "Replicate: seed (point 1)"
"$NESTOR" agent --config "$W/agent.conf" --once --json --no-progress 2>>"$W/agent.log" |
	jq -c '{point, incremental, bytes_data, bytes_zero}' || fail "seed failed (see $W/agent.log)"

step "On-prem VM boots again and writes more data"
vm_define_start web1 "$W/onprem/web1-os.qcow2" "$W/onprem/web1-data.raw" 2>/dev/null || fail "cannot start web1"
vm_wait_marker web1 NESTOR-BOOT-OK 120 || fail "web1 did not boot"
OUT2=$(vm_run web1 "dd if=/dev/urandom of=/dev/vdb bs=64k count=16 seek=128 conv=fsync 2>/dev/null && md5sum /dev/vdb" 120) ||
	fail "guest command failed"
MD5_2=$(echo "$OUT2" | awk '/vdb/ { print $1 }')
echo "    1 MiB more written; data disk md5 in the guest now: $MD5_2"
vm_destroy web1 2>/dev/null

step "Replicate: incremental (point 2, only what changed)"
"$NESTOR" agent --config "$W/agent.conf" --once --json --no-progress 2>>"$W/agent.log" |
	jq -c '{point, incremental, bytes_data, bytes_zero}' || fail "incremental failed (see $W/agent.log)"
"$NESTOR" points --config "$W/receiver.conf" web

step "DR drill of the latest point: overlay boot in an isolated network, verify, tear down"
"$NESTOR" drill --config "$W/receiver.conf" web --uri "$VM_URI" \
	--check-cmd "md5sum /dev/vdb; cat /sys/class/net/*/address" 2>"$W/drill.log" | tee "$W/drill.txt"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || { cat "$W/drill.log"; fail "drill failed"; }
grep -q "$MD5_2" "$W/drill.txt" || fail "the drilled guest does not see the data of point 2"
echo
echo "    the drilled guest's data disk md5 ($MD5_2) is the one written before point 2"
left=$(virsh -q -c "$VM_URI" list --all --name | grep -c -- -drill-)
[ "$left" = 0 ] || fail "a drill domain is still defined"
echo "    after teardown: no drill domain, network or overlay left; the point files were only read"

step "Done"
echo "    total $(( ($(now_ms) - T0) / 1000 )) s"
echo
echo "Next milestone: live replication of running guests (libvirt checkpoints +"
echo "pull-mode backups), so that on-prem VMs need not be stopped for a point."
