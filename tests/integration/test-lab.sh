#!/bin/bash
# Integration test of the shared harness (tests/lib): test VM image, private
# libvirtd, guest boot and disk I/O over the serial console, single-node Ceph with
# rbd, and that nothing the test started is left running. KEEP=1 keeps the work dir.
# Checks are often eval'd strings expanded at check time, and guest commands are
# single-quoted on purpose (they expand in the guest):
# shellcheck disable=SC2016,SC2034
set -u

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
LIB=$ROOT/tests/lib
# shellcheck disable=SC2034 # read by common.sh
LIB_TAG=test-lab
# shellcheck source-path=SCRIPTDIR/../lib source=common.sh
. "$LIB/common.sh"
# shellcheck source-path=SCRIPTDIR/../lib source=vm.sh
. "$LIB/vm.sh"

# lib.sh's scratch dir has a short path: the libvirt and console sockets live
# below it (sun_path is 108 bytes)
W=$T
LV=$W/libvirt
LV2=$W/lv2
CEPHD=$W/ceph
export VM_DIR=$W/vm
VM=lab1
ZERO_MD5=b6d81b360a5672d80c27430f39153e2c # md5 of 1 MiB of zeros
PIDS=()                                    # every daemon/QEMU PID we saw
T0=$(now_ms)

phase() { printf -- '--- [%5.1fs] %s\n' "$(echo "$(($(now_ms) - T0))" | awk '{ print $1 / 1000 }')" "$*"; }

lab_cleanup() {
	# normally everything is stopped already; this is for failures and ^C
	vm_destroy "$VM" >/dev/null 2>&1
	"$LIB/libvirtd.sh" stop "$LV" >/dev/null 2>&1
	"$LIB/libvirtd.sh" stop "$LV2" >/dev/null 2>&1
	"$LIB/ceph.sh" stop "$CEPHD" >/dev/null 2>&1
	[ "$FAIL" -ne 0 ] && KEEP=1
	[ "${KEEP:-0}" = 1 ] && echo "work dir kept: $W"
	cleanup
}
trap lab_cleanup EXIT
trap 'not_ok "interrupted"; exit 130' INT TERM

# procs_of_test: processes (not zombies) that belong to this test: anything in
# libvirtd's mount namespace, and anything whose command line names our work dir.
procs_of_test() {
	local ns='' p
	[ -r "$LV/mntns" ] && read -r ns <"$LV/mntns"
	for p in $(stat -c '%N' /proc/[0-9]*/ns/mnt 2>/dev/null |
		awk -v ns="'$ns'" '$3 == ns { split($1, a, "/"); print a[3] }') \
		$(grep -laF "$W/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
		[ "$p" = $$ ] && continue
		pid_alive "$p" && echo "$p $(cat "/proc/$p/comm" 2>/dev/null)"
	done | sort -u
}

all_gone() {
	local p
	for p in "${PIDS[@]}"; do
		if pid_alive "$p"; then
			echo "still running: pid $p ($(cat "/proc/$p/comm" 2>/dev/null))"
			return 1
		fi
	done
	return 0
}

# ---------------------------------------------------------------- VM image --
phase "test VM image"
IMG=$("$LIB/vm-image.sh")
check "vm-image.sh built a qcow2 image" \
	eval "[ -s '$IMG' ] && qemu-img info -U '$IMG' | grep -q 'file format: qcow2'"
t=$(now_ms)
IMG2=$("$LIB/vm-image.sh")
t=$(($(now_ms) - t))
check_eq "vm-image.sh cached path is stable" "$IMG" "$IMG2"
check "vm-image.sh cached run is fast (${t} ms < 1000 ms)" test "$t" -lt 1000

# ---------------------------------------------------------------- libvirtd --
phase "private libvirtd"
if VM_URI=$("$LIB/libvirtd.sh" start "$LV"); then
	ok "libvirtd.sh start: $VM_URI"
else
	not_ok "libvirtd.sh start"
fi
export VM_URI
check_eq "libvirtd.sh uri" "$VM_URI" "$("$LIB/libvirtd.sh" uri "$LV")"
check "virsh answers on the private URI" eval "virsh -q -c '$VM_URI' version >/dev/null"
for f in libvirtd virtlogd; do
	read_pidfile "$LV/run/$f.pid" p && PIDS+=("$p")
done
check "libvirtd and virtlogd pids recorded" test "${#PIDS[@]}" -eq 2

# --------------------------------------------------------------- guest I/O --
phase "boot guest ($(_vm_domain_type))"
qemu-img create -q -f qcow2 -b "$IMG" -F qcow2 "$W/boot.qcow2"
qemu-img create -q -f qcow2 "$W/data.qcow2" 16M
mkdir -p "$VM_DIR"
if vm_define_start "$VM" "$W/boot.qcow2" "$W/data.qcow2"; then
	ok "vm_define_start $VM"
	qpid=$(vm_qemu_pid "$VM") && PIDS+=("$qpid")
else
	not_ok "vm_define_start $VM"
fi
if vm_wait_marker "$VM" NESTOR-BOOT-OK 120; then
	ok "guest printed NESTOR-BOOT-OK"
else
	not_ok "guest printed NESTOR-BOOT-OK"
fi
phase "guest commands"
out=$(vm_run "$VM" 'echo hello from $(uname -r)')
rc=$?
check_eq "vm_run exit status" 0 "$rc"
check "vm_run output ($out)" eval '[[ "$out" == "hello from "*-amd64 ]]'
out=$(vm_run "$VM" 'echo partial; exit 3')
rc=$?
check_eq "vm_run passes the guest exit status" 3 "$rc"
check_eq "vm_run output before a failure" partial "$out"
# sysfs serial has no trailing newline: DONE follows the output on the same line
check "guest sees the data disk as /dev/vdb" \
	eval "[ \"\$(vm_run '$VM' 'cat /sys/block/vdb/serial')\" = nestordata ]"
out=$(vm_run "$VM" 'dd if=/dev/urandom of=/dev/vdb bs=65536 count=16 conv=fsync 2>/dev/null && dd if=/dev/vdb bs=65536 count=16 2>/dev/null | md5sum' 60)
rc=$?
gmd5=${out%% *}
check_eq "guest wrote 1 MiB to /dev/vdb" 0 "$rc"
check "guest md5 is a real digest ($gmd5)" \
	eval '[[ "$gmd5" =~ ^[0-9a-f]{32}$ ]] && [ "$gmd5" != "$ZERO_MD5" ]'
check "vm_destroy $VM" vm_destroy "$VM"
check "QEMU of $VM exited" eval '[ -n "${qpid:-}" ] && ! pid_alive "$qpid"'
phase "host reads the data disk"
hmd5=$(qemu-img dd -f qcow2 -O raw bs=1M count=1 if="$W/data.qcow2" of=/dev/stdout 2>/dev/null | md5sum)
hmd5=${hmd5%% *}
# qemu-img dd cannot always write to a pipe: fall back to a file
if [ "$hmd5" = d41d8cd98f00b204e9800998ecf8427e ] || [ -z "$hmd5" ]; then
	qemu-img dd -f qcow2 -O raw bs=1M count=1 if="$W/data.qcow2" of="$W/data-1m.raw" &&
		hmd5=$(md5sum <"$W/data-1m.raw") && hmd5=${hmd5%% *}
fi
check_eq "host md5 of the first MiB of data.qcow2 equals the guest's" "$gmd5" "$hmd5"

phase "stop libvirtd"
check "libvirtd.sh stop" "$LIB/libvirtd.sh" stop "$LV"
check "libvirtd, virtlogd and QEMU are gone" all_gone
t=$(now_ms)
if "$LIB/libvirtd.sh" start "$LV" >/dev/null && virsh -q -c "$VM_URI" version >/dev/null; then
	ok "libvirtd.sh start again on the same dir ($(($(now_ms) - t)) ms)"
else
	not_ok "libvirtd.sh start again on the same dir"
fi
read_pidfile "$LV/run/libvirtd.pid" p && PIDS+=("$p")
read_pidfile "$LV/run/virtlogd.pid" p && PIDS+=("$p")
check "libvirtd.sh stop again" "$LIB/libvirtd.sh" stop "$LV"
check "second libvirtd instance is gone" all_gone

# Once an instance's last process is gone the kernel may give its namespace's
# number to the next one started beside it (tests run two at a time): a stop
# of the old directory must not take the newcomer for its own leftovers.
phase "a stop leaves a neighbour alone"
if uri2=$("$LIB/libvirtd.sh" start "$LV2"); then
	ok "libvirtd.sh start of a neighbour"
else
	not_ok "libvirtd.sh start of a neighbour"
fi
read_pidfile "$LV2/run/libvirtd.pid" p2 && PIDS+=("$p2")
read_pidfile "$LV2/run/virtlogd.pid" v2 && PIDS+=("$v2")
cp "$LV2/mntns" "$LV/mntns" # the number the kernel reused
check "libvirtd.sh stop of the old dir whose namespace number is reused" "$LIB/libvirtd.sh" stop "$LV"
check "the neighbour's virtlogd still runs" pid_is "${v2:-0}" virtlogd
check "the neighbour's libvirtd still answers" virsh -q -c "$uri2" version
check "libvirtd.sh stop of the neighbour" "$LIB/libvirtd.sh" stop "$LV2"
check "the neighbour is gone" all_gone

# -------------------------------------------------------------------- Ceph --
phase "single-node Ceph"
if envline=$("$LIB/ceph.sh" start "$CEPHD"); then
	ok "ceph.sh start"
else
	not_ok "ceph.sh start"
fi
check_eq "ceph.sh env" "$envline" "$("$LIB/ceph.sh" env "$CEPHD")"
eval "export $envline"
for f in mon.a osd.0; do
	read_pidfile "$CEPHD/pid.$f" p && PIDS+=("$p")
done
check "rbd create" rbd create --size 8M rbd/lab-empty
check "rbd info of the new image" eval "rbd info rbd/lab-empty | grep -q 'size 8 MiB'"
head -c 4194304 /dev/urandom >"$W/pattern.bin"
want=$(md5sum <"$W/pattern.bin")
want=${want%% *}
check "rbd import (write 4 MiB)" rbd import --no-progress "$W/pattern.bin" rbd/lab-data
got=$(rbd export --no-progress rbd/lab-data - 2>/dev/null | md5sum)
check_eq "rbd export reads back what was written" "$want" "${got%% *}"
# clone v2 from an unprotected snapshot needs require-min-compat-client mimic
check "rbd snap create" rbd snap create --no-progress rbd/lab-data@s1
check "rbd clone of an unprotected snapshot" rbd clone rbd/lab-data@s1 rbd/lab-clone
got=$(rbd export --no-progress rbd/lab-clone - 2>/dev/null | md5sum)
check_eq "clone reads the parent's data" "$want" "${got%% *}"
check_eq "rbd ls" "lab-clone lab-data lab-empty" "$(rbd ls rbd | sort | tr '\n' ' ' | sed 's/ $//')"
check "ceph.sh stop" "$LIB/ceph.sh" stop "$CEPHD"

# --------------------------------------------------------------- leftovers --
phase "leftovers"
check "every daemon and QEMU the test started has exited" all_gone
left=$(procs_of_test)
check_eq "no process of this test is left" "" "$left"

phase "done"
finish
