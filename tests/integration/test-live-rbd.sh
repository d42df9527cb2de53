#!/bin/bash
# A running guest with a qcow2 boot disk (vda) and a data disk on RBD (vdb,
# QEMU's rbd driver, ceph.conf named by <config file> in the domain XML):
# the libvirt source takes vdb with the rbd source inside its paused window.
# Seed + 2 incrementals while the guest writes to both disks; each point is
# byte-identical on both disks (vdb against an export of the rbd snapshot
# the source took), incrementals send about what was written, and the point
# lists both disks. Then a lost rbd base resyncs cheaply, and the shut-off
# domain is replicated from its file and its RBD image.
. "$(dirname "$0")/lib.sh"
W=$T
start_ceph
start_libvirtd

pki_and_receiver
rbd create --size 64M --image-feature layering,exclusive-lock,object-map,fast-diff rbd/lr1-data \
	|| die "rbd create failed"
# 32 MiB boot overlay on the 25 MiB image: the guest writes past its partition
qemu-img create -q -f qcow2 -b "$("$LIB/vm-image.sh")" -F qcow2 "$W/boot.qcow2" 32M
qemu-img create -q -f raw "$W/placeholder.raw" 1M
# vm.sh defines file disks only: start with a placeholder data disk, then
# redefine vdb as the RBD disk before the guest really runs.
vm_define_start lr1 "$W/boot.qcow2" "$W/placeholder.raw" || die "cannot define the guest"
virsh -q -c "$VM_URI" destroy lr1 >/dev/null && virsh -q -c "$VM_URI" undefine lr1 >/dev/null || die "cannot stop the guest"
python3 - "$VM_DIR/lr1.xml" "$CEPH_CONF" <<'EOP' || die "cannot rewrite the domain XML"
import re, sys
p, conf = sys.argv[1], sys.argv[2]
x = open(p).read()
rbd = ("<disk type='network' device='disk'>\n"
       "      <driver name='qemu' type='raw' cache='none'/>\n"
       "      <source protocol='rbd' name='rbd/lr1-data'><config file='%s'/></source>\n"
       "      <target dev='vdb' bus='virtio'/>\n"
       "      <serial>nestordata</serial>\n"
       "    </disk>" % conf)
x, n = re.subn(r"<disk type='file' device='disk'>\s*<driver[^>]*/>\s*<source file='[^']*placeholder.raw'/>.*?</disk>",
               rbd, x, flags=re.S)
assert n == 1, "placeholder disk not found"
open(p, "w").write(x)
EOP
rm -f "$(vm_console_log lr1)"
virsh -q -c "$VM_URI" define "$VM_DIR/lr1.xml" >/dev/null || die "cannot redefine the guest"
virsh -q -c "$VM_URI" start lr1 >/dev/null || die "the guest does not start with its RBD disk"
vm_wait_marker lr1 NESTOR-BOOT-OK 180 || die "guest did not boot"
sz=$(vm_run lr1 'cat /sys/block/vdb/size' | head -1)
check "guest sees the 64 MiB RBD disk as vdb ($sz sectors)" [ "$sz" = 131072 ]

# No ceph_conf in the group: the <config file> of the domain XML serves.
COMPRESS=0 write_agent_conf "$T/agent.conf" agent1 lr domains=lr1

# the single nestor-* snapshot of the data image (the committed base)
base_snap() { rbd snap ls rbd/lr1-data --format json | jq -r '[.[].name | select(startswith("nestor-"))] | join(" ")'; }

for cycle in 0 1 2; do
	# 8 x 64 KiB on vdb and 4 x 64 KiB past the boot partition on vda, synced
	guest_write_cycle lr1 $cycle "for i in 0 1 2 3 4 5 6 7; do dd if=/dev/urandom of=/dev/vdb bs=64k count=1 seek=\$(( ($cycle * 97 + \$i * 13) % 1000 )) conv=notrunc,fsync 2>/dev/null; done; for i in 0 1 2 3; do dd if=/dev/urandom of=/dev/vda bs=64k count=1 seek=\$(( 420 + ($cycle * 23 + \$i * 7) % 90 )) conv=notrunc,fsync 2>/dev/null; done; sync; echo written"
	res=$RES pt=$PT
	check "cycle $cycle: guest running (resumed after the pause)" \
		bash -c "virsh -c '$VM_URI' domstate lr1 | grep -q running"
	snap=$(base_snap)
	check "cycle $cycle: one rbd snapshot left ($snap)" [ "$(echo "$snap" | wc -w)" = 1 ]
	rm -f "$W/snap.raw" "$W/head.raw"
	rbd export "rbd/lr1-data@$snap" "$W/snap.raw" >/dev/null 2>&1 || die "rbd export of $snap failed"
	check "cycle $cycle: RBD disk identical to the snapshot taken" \
		qemu-img compare -q -f raw -F qcow2 "$W/snap.raw" "$(point_file lr lr1.vdb "$pt")"
	# the guest is idle and synced: the snapshot is also what it sees now
	rbd export rbd/lr1-data "$W/head.raw" >/dev/null 2>&1 || die "rbd export failed"
	check "cycle $cycle: RBD disk identical to the live image" cmp -s "$W/snap.raw" "$W/head.raw"
	check "cycle $cycle: boot disk identical" \
		qemu-img compare -U -q -f qcow2 -F qcow2 "$W/boot.qcow2" "$(point_file lr lr1.vda "$pt")"
	if [ $cycle -gt 0 ]; then
		# Holes of RBD objects created since the base travel as
		# payload-free ZERO extents: the wire carries the written data.
		sent=$(echo "$res" | jq '.bytes_wire')
		check "cycle $cycle incremental" [ "$(echo "$res" | jq .incremental)" = true ]
		check "cycle $cycle: $(echo "$res" | jq .bytes_data) data bytes, $sent on the wire <= 1.2 x 768 KiB written + 64 KiB" \
			[ "$sent" -le $((786432 * 12 / 10 + 65536)) ]
	fi
done
M=$T/store/lr/meta/3.bin
check "point lists both disks" \
	bash -c "[ \"\$(jq -r '[.disks[].name] | sort | join(\" \")' '$M')\" = 'lr1.vda lr1.vdb' ]"
check "point metadata maps vdb to lr1.vdb" jq -e '.vms[0].disks[] | select(.target == "vdb" and .disk == "lr1.vdb")' "$M"
check "point keeps the RBD disk in the domain XML" jq -e '.vms[0].xml | test("protocol=.rbd. name=.rbd/lr1-data")' "$M"
check "no backup job left" bash -c "! virsh -c '$VM_URI' domjobinfo lr1 | grep -qi backup"
check "one checkpoint left, without vdb" bash -c \
	"[ \$(virsh -c '$VM_URI' checkpoint-list lr1 --name | grep -c nestor) = 1 ] && \
	 virsh -c '$VM_URI' checkpoint-dumpxml lr1 \$(virsh -c '$VM_URI' checkpoint-list lr1 --name | grep nestor) | grep -q \"name='vdb' checkpoint='no'\""

# The rbd base snapshot deleted behind our back: the group resyncs by block
# hashes and sends about what the guest wrote.
vm_run lr1 "dd if=/dev/urandom of=/dev/vdb bs=64k count=2 seek=700 conv=notrunc,fsync 2>/dev/null; echo ok" >/dev/null
rbd snap rm "rbd/lr1-data@$(base_snap)" >/dev/null 2>&1 || die "cannot remove the base snapshot"
check_cheap_resync "lost rbd base"
pt=$PT
rm -f "$W/snap.raw"
rbd export "rbd/lr1-data@$(base_snap)" "$W/snap.raw" >/dev/null 2>&1 || die "rbd export failed"
check "lost rbd base: RBD disk identical" \
	qemu-img compare -q -f raw -F qcow2 "$W/snap.raw" "$(point_file lr lr1.vdb "$pt")"

# Shut off: the boot disk from its file, the RBD disk by the rbd source
# (same state directory: its base snapshot carries over).
virsh -q -c "$VM_URI" destroy lr1 >/dev/null || die "cannot shut the guest off"
qemu-io -f raw -c "write -P 9 8M 64k" "rbd:rbd/lr1-data:conf=$CEPH_CONF" >/dev/null || die "rbd write failed"
res=$(agent_once "$T/agent.conf") || { tail -20 "$T/agent.log"; die "cycle of the shut-off domain failed"; }
echo "shut off: $res"
pt=$(echo "$res" | jq .point)
rm -f "$W/head.raw"
rbd export rbd/lr1-data "$W/head.raw" >/dev/null 2>&1 || die "rbd export failed"
check "shut off: RBD disk identical" qemu-img compare -q -f raw -F qcow2 "$W/head.raw" "$(point_file lr lr1.vdb "$pt")"
check "shut off: boot disk identical" \
	qemu-img compare -q -f qcow2 -F qcow2 "$W/boot.qcow2" "$(point_file lr lr1.vda "$pt")"
check "shut off: sends little ($(echo "$res" | jq .bytes_data) bytes)" [ "$(echo "$res" | jq .bytes_data)" -le 1048576 ]
check "shut off: metadata maps vdb" jq -e '.vms[0].disks[] | select(.target == "vdb" and .disk == "lr1.vdb")' \
	"$T/store/lr/meta/$pt.bin"
vm_destroy lr1
stop_receiver
finish
