#!/bin/bash
# Hostile domain XML (issue 12, section 2): the XML a point carries comes from
# the network. Group hx: a bootable test guest whose stored definition also
# carries every class the allowlist drops (qemu:commandline, filesystem,
# hostdev, emulator, kernel/initrd/loader/nvram paths, shmem, redirdev,
# smartcard, tpm, memoryBacking, seclabel, metadata, sysinfo, pinning, host
# character devices, direct NICs, ...), several of which would make QEMU
# write canary files or fail to start if they reached libvirt. The drill
# boots, none of them is in `virsh dumpxml` of the drill domain, no canary
# exists, and the report (saved JSON and text output) lists each one; the
# same for a failover (a persistent domain).
# Group hd: a definition with a DOCTYPE and an external entity: the drill
# refuses it clearly, boots nothing, and the entity's file is never read.
# Group hm: a definition asking for 512 GiB of memory: the drill refuses it
# with the reason in its report (drill_max_memory, default half this host's
# RAM) before any clone; a failover boots it and its report says a drill
# would not; receiver.conf's drill_max_* keys pass `nestor config check`, a
# lower drill_max_memory refuses the normal hx1 too.
. "$(dirname "$0")/lib.sh"

jqt() { jq -e "$@" >/dev/null; }
MAC=52:54:00:4e:53:07
vm_source_setup
C=$T/canary
mkdir -p "$C"
echo NESTOR-XXE-SECRET >"$T/secret"

# The harness guest (boot disk, data disk, serial console) plus hostile parts.
cat >"$T/src/hx1.xml" <<EOF2
<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>hx1</name>
  <metadata><hook:run xmlns:hook='urn:evil-hooks'>$C/hook</hook:run></metadata>
  <memory unit='MiB'>256</memory>
  <memoryBacking><source type='file'/><access mode='shared'/></memoryBacking>
  <vcpu placement='static' cpuset='0'>1</vcpu>
  <cputune><vcpupin vcpu='0' cpuset='0'/></cputune>
  <sysinfo type='smbios'><system><entry name='serial'>EVIL-SERIAL</entry></system></sysinfo>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <loader readonly='yes' type='rom'>$C/evil-bios.bin</loader>
    <kernel>$C/evil-vmlinuz</kernel>
    <initrd>$C/evil-initrd</initrd>
    <cmdline>init=/bin/sh</cmdline>
    <nvram>$C/evil-vars.fd</nvram>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>coredump-destroy</on_crash>
  <seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>
  <devices>
    <emulator>$C/evil-qemu</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$T/src/os.qcow2'/>
      <backingStore type='file'><format type='raw'/><source file='$C/evil-backing'/></backingStore>
      <target dev='vda' bus='virtio'/>
      <boot order='1'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$T/src/data.raw'/>
      <target dev='vdb' bus='virtio'/>
      <serial>nestordata</serial>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='$C/evil.iso'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <filesystem type='mount' accessmode='passthrough'><source dir='$C'/><target dir='evilshare'/></filesystem>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x7f' slot='0x1f' function='0x7'/></source></hostdev>
    <shmem name='evilshm'><model type='ivshmem-plain'/><size unit='M'>4</size></shmem>
    <redirdev bus='usb' type='tcp'><source mode='connect' host='127.0.0.1' service='1'/></redirdev>
    <smartcard mode='passthrough' type='tcp'><source mode='connect' host='127.0.0.1' service='1'/></smartcard>
    <tpm model='tpm-tis'><backend type='passthrough'><device path='$C/evil-tpm'/></backend></tpm>
    <graphics type='vnc' port='-1' autoport='yes' listen='0.0.0.0'/>
    <serial type='unix'>
      <source mode='bind' path='$C/src-console.sock'/>
      <target port='0'/>
    </serial>
    <serial type='file'><source path='$C/evil-serial'/><target port='1'/></serial>
    <parallel type='file'><source path='$C/evil-parallel'/><target port='0'/></parallel>
    <channel type='file'><source path='$C/evil-channel'/><target type='virtio' name='org.evil.0'/></channel>
    <console type='tcp'><source mode='bind' host='0.0.0.0' service='24445'/><target type='virtio'/></console>
    <interface type='network'><mac address='$MAC'/><source network='default'/><model type='virtio'/><script path='$C/evil-ifup'/></interface>
    <interface type='direct'><mac address='52:54:00:4e:53:08'/><source dev='lo' mode='bridge'/><model type='virtio'/></interface>
    <input type='tablet' bus='usb'/>
    <rng model='virtio'><backend model='random'>/dev/random</backend></rng>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <watchdog model='i6300esb' action='dump'/>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-chardev'/>
    <qemu:arg value='file,id=evilcmd,path=$C/evil-cmdline'/>
  </qemu:commandline>
</domain>
EOF2
# a definition with a DOCTYPE: an external entity on a file of this host
truncate -s 1M "$T/src/tiny.raw"
cat >"$T/src/hd1.xml" <<EOF2
<?xml version='1.0'?>
<!DOCTYPE domain [<!ENTITY x SYSTEM 'file://$T/secret'>]>
<domain type='qemu'><name>hd1</name><description>&x;</description>
  <memory unit='MiB'>64</memory><os><type>hvm</type></os>
  <devices><disk type='file' device='disk'><source file='$T/src/tiny.raw'/><target dev='vda'/></disk></devices>
</domain>
EOF2

# a definition asking for more memory than the DR host should give a drill
cat >"$T/src/hm1.xml" <<EOF2
<domain type='qemu'><name>hm1</name>
  <memory unit='GiB'>512</memory><vcpu>1</vcpu><os><type>hvm</type></os>
  <devices><disk type='file' device='disk'><source file='$T/src/tiny.raw'/><target dev='vda'/></disk></devices>
</domain>
EOF2

write_agent_conf "$T/agent.conf" agent1 hx os="$T/src/os.qcow2:qcow2" data="$T/src/data.raw:raw" \
	domain_xml="$T/src/hx1.xml"
write_agent_conf "$T/agent-hd.conf" agent1 hd tiny="$T/src/tiny.raw:raw" domain_xml="$T/src/hd1.xml"
out=$(agent_once "$T/agent.conf") || { tail -20 "$T/agent.log"; die "replication of hx failed"; }
check "hx: point 1 committed" [ "$(echo "$out" | jq .point)" = 1 ]
out=$(agent_once "$T/agent-hd.conf") || { tail -20 "$T/agent.log"; die "replication of hd failed"; }
check "hd: point 1 committed" [ "$(echo "$out" | jq .point)" = 1 ]
write_agent_conf "$T/agent-hm.conf" agent1 hm tiny="$T/src/tiny.raw:raw" domain_xml="$T/src/hm1.xml"
out=$(agent_once "$T/agent-hm.conf") || { tail -20 "$T/agent.log"; die "replication of hm failed"; }
check "hm: point 1 committed" [ "$(echo "$out" | jq .point)" = 1 ]

# none_reached WHAT XMLFILE: nothing hostile is in the XML libvirt holds.
none_reached() {
	local bad
	for bad in "$C" evil EVIL qemu:commandline qemu:arg '<filesystem' '<hostdev' '<shmem' \
		'<redirdev' '<smartcard' '<tpm' '<graphics' '<kernel' '<initrd' '<cmdline' '<loader' \
		'<nvram' '<memoryBacking' '<metadata' '<sysinfo' '<cputune' "cpuset=" '<parallel' \
		"type='direct'" "type='file'>" '/dev/random' coredump "action='dump'" "relabel='no'" \
		'0.0.0.0'; do
		check "$1: '$bad' did not reach libvirt" bash -c "! grep -qF -- \"\$1\" '$2'" _ "$bad"
	done
	check "$1: allowed parts did (tablet, urandom rng, data disk serial)" \
		bash -c "grep -q \"<input type='tablet' bus='usb'>\" '$2' && grep -q '/dev/urandom' '$2' && grep -q '<serial>nestordata</serial>' '$2'"
	check "$1: the cdrom is an empty drive" \
		bash -c "grep -q \"device='cdrom'\" '$2' && ! grep -q 'evil.iso' '$2'"
	check "$1: no canary file written" bash -c "[ -z \"\$(ls -A '$C')\" ]"
}

# all_listed WHAT REPORT [TEXT]: the saved report (and the text output)
# list every class dropped from hx1.
all_listed() {
	local w
	for w in '/domain/qemu:commandline' '/domain/metadata' '/domain/memoryBacking' \
		'/domain/vcpu/@cpuset' '/domain/cputune' '/domain/sysinfo' '/domain/os/loader' \
		'/domain/os/kernel' '/domain/os/initrd' '/domain/os/cmdline' '/domain/os/nvram' \
		"/domain/on_crash='coredump-destroy'" '/domain/seclabel' '/domain/devices/emulator' \
		'/domain/devices/disk[dev=vda]/backingStore' '/domain/devices/disk[dev=hdc]/source' \
		'/domain/devices/filesystem' '/domain/devices/hostdev' '/domain/devices/shmem' \
		'/domain/devices/redirdev' '/domain/devices/smartcard' '/domain/devices/tpm' \
		'/domain/devices/graphics' '/domain/devices/serial[type=unix]' \
		'/domain/devices/serial[type=file]' '/domain/devices/parallel[type=file]' \
		'/domain/devices/channel[type=file]' '/domain/devices/console[type=tcp]' \
		'/domain/devices/interface[type=network]/script' '/domain/devices/interface[type=direct]' \
		"/domain/devices/rng/backend='/dev/random'" "/domain/devices/watchdog/@action='dump'"; do
		check "$1: report lists $w" jqt --arg w "$w" \
			'[.vms[0].xml_warnings[] | startswith($w + ":") or startswith($w + "[")] | any' "$2"
		[ -z "${3:-}" ] || check "$1: text output lists $w" grep -qF "domain XML: $w" "$3"
	done
}

# 1. the hostile but bootable definition: text output; --keep to read the
# drill domain back from libvirt
"$NESTOR" drill --config "$T/receiver.conf" hx --uri "$VM_URI" --timeout 180 --keep \
	--check-cmd "cat /sys/class/net/*/address" >"$T/hx.txt" 2>"$T/hx.log"
rc=$?
cat "$T/hx.txt"
R=$(ls -t "$T/store/hx/drills/"*.json | head -1)
jq -c '{verdict, vms: [.vms[] | {vm, domain, result, error, n: (.xml_warnings | length)}]}' "$R"
check "hx: drill exit 0" [ $rc = 0 ]
check "hx: verdict pass, the guest booted" jqt '.verdict == "pass" and .vms[0].marker_seen' "$R"
check "hx: the network NIC kept its MAC" grep -q "$MAC" <<<"$(jq -r '.vms[0].check.output' "$R")"
DOM=$(jq -r '.vms[0].domain' "$R")
virsh -q -c "$VM_URI" dumpxml "$DOM" >"$T/hx-live.xml"
check "hx: dumpxml of the drill domain" grep -q "<name>$DOM</name>" "$T/hx-live.xml"
none_reached hx "$T/hx-live.xml"
all_listed hx "$R" "$T/hx.txt"
virsh -q -c "$VM_URI" destroy "$DOM" >/dev/null 2>&1

# 2. a failover of the same point: a persistent domain, defined from the
# same allowlisted XML; its NIC joins the network the kept drill made
# (this libvirtd's 'default' is not active)
"$NESTOR" failover --config "$T/receiver.conf" hx --uri "$VM_URI" --json --timeout 180 \
	--network-map "default=$(jq -r .network "$R")" >"$T/fo.json" 2>"$T/fo.log"
rc=$?
jq -c '{mode, verdict, vms: [.vms[] | {vm, domain, result, error, n: (.xml_warnings | length)}]}' "$T/fo.json"
check "hx failover: exit 0, verdict pass" bash -c "[ $rc = 0 ] && jq -e '.verdict == \"pass\" and .mode == \"failover\"' '$T/fo.json' >/dev/null"
check "hx failover: hx1 is persistent" bash -c "virsh -q -c '$VM_URI' dominfo hx1 | grep -Eq '^Persistent: +yes'"
virsh -q -c "$VM_URI" dumpxml --inactive hx1 >"$T/hx-defined.xml"
check "hx failover: dumpxml --inactive of hx1" grep -q "<name>hx1</name>" "$T/hx-defined.xml"
none_reached "hx failover" "$T/hx-defined.xml"
all_listed "hx failover" "$T/fo.json"
virsh -q -c "$VM_URI" destroy hx1 >/dev/null 2>&1
"$NESTOR" failover --config "$T/receiver.conf" --uri "$VM_URI" --release hx >/dev/null 2>&1
check "hx failover: released" [ ! -e "$T/store/hx/failover.json" ]

# 3. a DOCTYPE with an external entity: refused before anything boots
"$NESTOR" drill --config "$T/receiver.conf" hd --uri "$VM_URI" --json --timeout 30 \
	>"$T/hd.json" 2>"$T/hd.log"
rc=$?
cat "$T/hd.log"
jq -c '{verdict, error, vms: [.vms[] | {result, error}]}' "$T/hd.json"
check "hd: drill exit 1" [ $rc = 1 ]
check "hd: the log says why" grep -q "domain XML has a DOCTYPE (DTD or entity declarations): refused" "$T/hd.log"
check "hd: the report says the XML is refused" \
	jqt '.verdict == "fail" and (.vms[0].error | test("domain XML is refused"))' "$T/hd.json"
check "hd: no drill domain of hd" bash -c "! virsh -q -c '$VM_URI' list --all --name | grep -q '^hd1'"
check "hd: the entity's file was never read into anything" \
	bash -c "! grep -rqs NESTOR-XXE-SECRET '$T/hd.json' '$T/hd.log' '$T/store/hd/drills'"

# 4. a guest larger than a drill may boot unattended: refused, with the
# reason in the report, before anything is cloned or booted
"$NESTOR" drill --config "$T/receiver.conf" hm --uri "$VM_URI" --json --timeout 30 \
	>"$T/hm.json" 2>"$T/hm.log"
rc=$?
grep -F "asks for" "$T/hm.log"
jq -c '{verdict, error, vms: [.vms[] | {result, error}]}' "$T/hm.json"
check "hm: drill exit 1" [ $rc = 1 ]
check "hm: the report says why" jqt '.verdict == "fail" and (.vms[0].error |
	test("^VM hm1 asks for 512 GiB of memory; drill_max_memory is [0-9.]+ [GM]iB$"))' "$T/hm.json"
check "hm: the log says why" grep -q "vm #0: VM hm1 asks for 512 GiB of memory; drill_max_memory is" "$T/hm.log"
check "hm: no drill domain of hm" bash -c "! virsh -q -c '$VM_URI' list --all --name | grep -q '^hm1'"
check "hm: nothing cloned" bash -c "[ -z \"\$(find '$T/store/hm/drills' -name '*.qcow2')\" ]"

# 5. the keys: config check accepts them and refuses a bad value; a lower
# drill_max_memory refuses the (256 MiB) hx1 too, by the same path
sed "s|^checkpoint_interval = .*|&\ndrill_max_memory = 128M\ndrill_max_vcpus = 1\ndrill_max_devices = 64|" \
	"$T/receiver.conf" >"$T/receiver-cap.conf"
check "caps: config check accepts drill_max_*" "$NESTOR" config check receiver "$T/receiver-cap.conf"
sed 's|^drill_max_vcpus = 1$|drill_max_vcpus = 0|' "$T/receiver-cap.conf" >"$T/receiver-bad.conf"
"$NESTOR" config check receiver "$T/receiver-bad.conf" >/dev/null 2>"$T/bad.err"
rc=$?
check "caps: config check refuses drill_max_vcpus = 0" bash -c "[ $rc != 0 ] && grep -q \"bad value '0' for 'drill_max_vcpus' in \\[receiver\\]\" '$T/bad.err'"
"$NESTOR" drill --config "$T/receiver-cap.conf" hx --uri "$VM_URI" --json --timeout 30 \
	>"$T/hx-cap.json" 2>"$T/hx-cap.log"
rc=$?
check "caps: hx drill over drill_max_memory = 128M exits 1" [ $rc = 1 ]
check "caps: its report says why" jqt '.vms[0].error ==
	"VM hx1 asks for 256 MiB of memory; drill_max_memory is 128 MiB"' "$T/hx-cap.json"

# 6. a failover is the operator's: hm1 is not refused for its size, and
# the report says a drill would refuse it (the tiny guest cannot boot: the
# outcome of the boot itself is not this test's)
"$NESTOR" failover --config "$T/receiver.conf" hm --uri "$VM_URI" --json --timeout 5 \
	>"$T/hm-fo.json" 2>"$T/hm-fo.log"
jq -c '{mode, verdict, error, vms: [.vms[] | {result, error, xml_warnings}]}' "$T/hm-fo.json"
check "hm failover: not refused for its size" jqt '.mode == "failover" and
	((.vms[0].error // "") | test("asks for") | not)' "$T/hm-fo.json"
check "hm failover: the report says a drill would refuse it" jqt '[.vms[0].xml_warnings[] |
	test("^/domain: kept \\(VM hm1 asks for 512 GiB of memory; drill_max_memory is .*: a drill refuses it\\)$")] | any' "$T/hm-fo.json"
virsh -q -c "$VM_URI" destroy hm1 >/dev/null 2>&1
"$NESTOR" failover --config "$T/receiver.conf" --uri "$VM_URI" --release hm >/dev/null 2>&1
check "hm failover: released (or undone)" [ ! -e "$T/store/hm/failover.json" ]

stop_receiver
finish
