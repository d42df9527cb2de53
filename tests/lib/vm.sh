# Test VMs under a (private) libvirtd: define/start, wait for serial markers, run
# commands over the serial console, destroy. Source it; needs bash, virsh, nc -U.
#
#   VM_URI   libvirt URI (default: $LIBVIRT_DEFAULT_URI), e.g. from libvirtd.sh start
#   VM_DIR   where domain XML, console socket and console log live (default /tmp/nestor-vm)
#   NESTOR_KVM=1  use type='kvm' if kvm_usable proves that KVM boots the guest;
#                 otherwise (default) type='qemu' (TCG)
#   VM_VIDEO if set, vm_define_start gives the VM a video adapter of this model
#            (e.g. vga) and no graphics listener: its screen exists for
#            screenshots only; the default is headless (serial console only)
#   VM_NET   if set, vm_define_start gives the VM a virtio NIC on this libvirt
#            network (VM_MAC: its MAC, default libvirt's choice); the guest's
#            own network setup is `netcfg` (tests/lib/README.md, "Network")
#
#   vm_define_start NAME DISK [DATA_DISK]  define + start; DISK boots (vda), DATA_DISK
#                                          is vdb (serial 'nestordata'); qcow2 or raw
#   vm_wait_marker NAME MARKER TIMEOUT_S   0 when MARKER is in the console log
#   vm_run NAME "command" [TIMEOUT_S]      run in the guest; prints its output,
#                                          returns its exit status (255: no answer)
#   vm_destroy NAME                        destroy + undefine, wait for QEMU to exit
#   vm_console_log NAME                    path of the console log (all guest output)
#   vm_qemu_pid NAME                       PID of the domain's QEMU
#   kvm_usable [IMAGE]                     0 if KVM boots IMAGE to NESTOR-BOOT-OK
# One vm_run at a time per VM. The guest commands run with stdin /dev/null.

_VM_LIB=${BASH_SOURCE[0]%/*}
[ "$_VM_LIB" != "${BASH_SOURCE[0]}" ] || _VM_LIB=.
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$_VM_LIB/common.sh"

VM_URI=${VM_URI:-${LIBVIRT_DEFAULT_URI:-}}
VM_DIR=${VM_DIR:-/tmp/nestor-vm}

_vm_virsh() { timeout "${VM_VIRSH_TIMEOUT:-60}" virsh -q -c "$VM_URI" "$@"; }

# names end up in XML and file names: keep them plain
_vm_check_name() {
	case "$1" in
	'' | *[!A-Za-z0-9_.-]* | .*) lib_err "bad VM name '$1'"; return 1 ;;
	esac
}
_vm_check_path() {
	case "$1" in
	*[\'\"\<\>\&]*) lib_err "path not usable in domain XML: $1"; return 1 ;;
	esac
	[ -f "$1" ] || { lib_err "no such disk image: $1"; return 1; }
}

vm_console_log() { echo "$VM_DIR/$1.console.log"; }

# libvirt's run dir is known from the URI's socket parameter (libvirtd.sh layout:
# DIR/run/libvirt/libvirt-sock, QEMU pid files in DIR/run/libvirt/qemu/).
vm_qemu_pid() {
	local sock=${VM_URI#*socket=} pid
	sock=${sock%%&*}
	[ "$sock" != "$VM_URI" ] || sock=/run/libvirt/libvirt-sock
	read_pidfile "${sock%/libvirt-sock}/qemu/$1.pid" pid || return 1
	pid_is "$pid" qemu-system-x86 || return 1
	echo "$pid"
}

_vm_disk_format() {
	qemu-img info -U --output=json "$1" 2>/dev/null | sed -n 's/^ *"format": "\([a-z0-9]*\)".*/\1/p' | head -1
}

# kvm_usable [IMAGE]: boot-test KVM with plain QEMU. /dev/kvm existing proves
# nothing (on kvm_pvm hosts a stock kernel stalls in its decompressor), and
# libvirt advertises type='kvm' regardless. The result is cached per shell.
# shellcheck disable=SC2120 # IMAGE is optional
kvm_usable() {
	local img=${1:-} log pid rc=1 tmo=${NESTOR_KVM_PROBE_TIMEOUT:-20}
	if [ -n "${_VM_KVM_USABLE:-}" ]; then
		return "$_VM_KVM_USABLE"
	fi
	if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		[ -n "$img" ] || img=$("$_VM_LIB/vm-image.sh") || return 1
		mkdir -p "$VM_DIR"
		log=$VM_DIR/kvm-probe.$$.log
		rm -f "$log"
		qemu-system-x86_64 -accel kvm -cpu host -m 256 -display none -nic none -no-reboot \
			-serial "file:$log" -drive "file=$img,if=virtio,snapshot=on" </dev/null >/dev/null 2>&1 &
		pid=$!
		if wait_until "$tmo" grep -qa NESTOR-BOOT-OK "$log"; then
			rc=0
		else
			lib_log "KVM did not boot the test guest within ${tmo}s: using TCG"
		fi
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rm -f "$log"
	fi
	_VM_KVM_USABLE=$rc
	return $rc
}

# _vm_domain_type: qemu (TCG) unless NESTOR_KVM=1 and KVM is proven to work.
_vm_domain_type() {
	# shellcheck disable=SC2119
	if [ "${NESTOR_KVM:-0}" = 1 ] && kvm_usable; then
		echo kvm
	else
		echo qemu
	fi
}

vm_define_start() {
	local name=$1 disk=$2 data=${3:-} type fmt dfmt cpu='' datadisk='' nic='' video='' xml sock log
	_vm_check_name "$name" || return 1
	[ -n "$VM_URI" ] || { lib_err "VM_URI is not set"; return 1; }
	disk=$(realpath -- "$disk") && _vm_check_path "$disk" || return 1
	fmt=$(_vm_disk_format "$disk")
	[ -n "$fmt" ] || { lib_err "cannot read the format of $disk"; return 1; }
	if [ -n "$data" ]; then
		data=$(realpath -- "$data") && _vm_check_path "$data" || return 1
		dfmt=$(_vm_disk_format "$data")
		[ -n "$dfmt" ] || { lib_err "cannot read the format of $data"; return 1; }
		datadisk="<disk type='file' device='disk'>
      <driver name='qemu' type='$dfmt'/>
      <source file='$data'/>
      <target dev='vdb' bus='virtio'/>
      <serial>nestordata</serial>
    </disk>"
	fi
	if [ -n "${VM_NET:-}" ]; then
		case "$VM_NET${VM_MAC:-}" in *[!A-Za-z0-9_.:-]*) lib_err "bad VM_NET/VM_MAC"; return 1 ;; esac
		nic="<interface type='network'>${VM_MAC:+<mac address='$VM_MAC'/>}<source network='$VM_NET'/><model type='virtio'/></interface>"
	fi
	if [ -n "${VM_VIDEO:-}" ]; then
		case "$VM_VIDEO" in *[!a-z0-9]*) lib_err "bad VM_VIDEO"; return 1 ;; esac
		video="<video><model type='$VM_VIDEO'/></video>"
	fi
	# kvm_usable caches in a shell variable: call it here, not in a subshell
	# shellcheck disable=SC2119
	if [ "${NESTOR_KVM:-0}" = 1 ] && kvm_usable; then type=kvm; else type=qemu; fi
	[ "$type" = kvm ] && cpu="<cpu mode='host-passthrough'/>"
	mkdir -p "$VM_DIR"
	VM_DIR=$(realpath -- "$VM_DIR")
	sock=$VM_DIR/$name.console.sock
	log=$(vm_console_log "$name")
	[ ${#sock} -lt 100 ] || { lib_err "console socket path too long: $sock"; return 1; }
	if _vm_virsh domstate "$name" >/dev/null 2>&1; then
		lib_log "domain $name exists already, replacing it"
		vm_destroy "$name" || return 1
	fi
	rm -f "$sock" "$log"
	xml=$VM_DIR/$name.xml
	# boot order on vda: SeaBIOS only tries the first hard disk, and an empty
	# data disk enumerated first would leave the guest at "No bootable device".
	# <acpi/>: without it the guest cannot be stopped cleanly.
	cat >"$xml" <<EOF
<domain type='$type'>
  <name>$name</name>
  <memory unit='MiB'>${VM_MEMORY_MIB:-256}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <features><acpi/><apic/></features>
  $cpu
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='$fmt'/>
      <source file='$disk'/>
      <target dev='vda' bus='virtio'/>
      <boot order='1'/>
    </disk>
    $datadisk
    $nic
    $video
    <serial type='unix'>
      <source mode='bind' path='$sock'/>
      <log file='$log' append='off'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
	_vm_virsh define "$xml" >/dev/null || { lib_err "virsh define $xml failed"; return 1; }
	if ! _vm_virsh start "$name" >/dev/null; then
		lib_err "virsh start $name failed (see the domain's QEMU log in libvirt's log dir)"
		_vm_virsh undefine "$name" >/dev/null 2>&1
		return 1
	fi
	lib_log "started $name (type=$type, disk $disk${data:+, data $data})"
}

# vm_wait_marker NAME MARKER TIMEOUT_S: also gives up early when the domain stops.
vm_wait_marker() {
	local name=$1 marker=$2 tmo=${3:-60} log deadline n=0
	log=$(vm_console_log "$name")
	deadline=$((${EPOCHREALTIME//[!0-9]/} / 1000 + tmo * 1000))
	while :; do
		grep -qaF -- "$marker" "$log" 2>/dev/null && return 0
		if [ $((${EPOCHREALTIME//[!0-9]/} / 1000)) -ge "$deadline" ]; then
			lib_err "$name: no '$marker' within ${tmo}s; console log tail:"
			tail -c 1500 "$log" 2>/dev/null | tr -d '\r' | sed 's/^/    /' >&2
			return 1
		fi
		n=$((n + 1))
		if [ $((n % 20)) -eq 0 ] && [ "$(_vm_virsh domstate "$name" 2>/dev/null)" != running ]; then
			lib_err "$name stopped before printing '$marker'"
			tail -c 1500 "$log" 2>/dev/null | tr -d '\r' | sed 's/^/    /' >&2
			return 1
		fi
		sleep 0.1
	done
}

# vm_run NAME COMMAND [TIMEOUT_S]: the console is a unix socket; we stay connected
# until the guest has answered, because QEMU drops input that the guest has not
# read yet when the client disconnects. The answer is read from the console log,
# which has everything since boot, starting at the log size before sending.
vm_run() {
	local name=$1 cmd=$2 tmo=${3:-60} log sock fifo ncpid fd off size deadline rc=255 out
	log=$(vm_console_log "$name")
	sock=$VM_DIR/$name.console.sock
	case "$cmd" in *$'\n'*) lib_err "vm_run: one line only"; return 255 ;; esac
	[ -S "$sock" ] || { lib_err "$name: no console socket $sock"; return 255; }
	off=$(stat -c %s "$log") || return 255
	fifo=$VM_DIR/$name.console.in.$$
	rm -f "$fifo"
	mkfifo "$fifo" || return 255
	nc -q 0 -U "$sock" <"$fifo" >/dev/null 2>&1 &
	ncpid=$!
	exec {fd}>"$fifo"
	rm -f "$fifo"
	printf '%s\n' "$cmd" >&"$fd"
	deadline=$((${EPOCHREALTIME//[!0-9]/} / 1000 + tmo * 1000))
	while :; do
		size=$(stat -c %s "$log" 2>/dev/null || echo 0)
		if [ "$size" -gt "$off" ] &&
			tail -c +$((off + 1)) "$log" | tr -d '\r' | grep -qaE 'NESTOR-DONE -?[0-9]+$'; then
			break
		fi
		if ! pid_alive "$ncpid"; then
			lib_err "$name: console connection to $sock closed"
			break
		fi
		if [ $((${EPOCHREALTIME//[!0-9]/} / 1000)) -ge "$deadline" ]; then
			lib_err "$name: no answer to '$cmd' within ${tmo}s"
			break
		fi
		sleep 0.05
	done
	exec {fd}>&-
	wait "$ncpid" 2>/dev/null
	out=$(tail -c +$((off + 1)) "$log" | tr -d '\r')
	case "$out" in
	*NESTOR-DONE*)
		# Output up to the first DONE, whose number is the exit status. DONE is
		# not always at the start of a line: output without a final newline
		# ("printf x") ends right before it.
		printf '%s\n' "$out" | awk 'match($0, /NESTOR-DONE -?[0-9]+$/) {
			if (RSTART > 1) print substr($0, 1, RSTART - 1); exit } { print }'
		rc=$(printf '%s\n' "$out" | awk 'match($0, /NESTOR-DONE -?[0-9]+$/) {
			split(substr($0, RSTART), f, " "); print f[2]; exit }')
		;;
	esac
	case "$rc" in '' | *[!0-9-]*) rc=255 ;; esac
	return "$rc"
}

# vm_destroy NAME: stop the domain (hard), remove its definition, and wait until
# its QEMU process is really gone so that its disks can be read safely.
vm_destroy() {
	local name=$1 pid=
	_vm_check_name "$name" || return 1
	pid=$(vm_qemu_pid "$name") || pid=
	if [ "$(_vm_virsh domstate "$name" 2>/dev/null)" = running ] ||
		[ "$(_vm_virsh domstate "$name" 2>/dev/null)" = paused ]; then
		_vm_virsh destroy "$name" >/dev/null || lib_err "virsh destroy $name failed"
	fi
	if _vm_virsh domstate "$name" >/dev/null 2>&1; then
		_vm_virsh undefine --checkpoints-metadata --snapshots-metadata "$name" >/dev/null ||
			_vm_virsh undefine "$name" >/dev/null || { lib_err "virsh undefine $name failed"; return 1; }
	fi
	if [ -n "$pid" ] && ! wait_until 15 pid_gone "$pid"; then
		lib_err "QEMU of $name (pid $pid) still running after destroy"
		return 1
	fi
	rm -f "$VM_DIR/$name.console.sock"
	return 0
}
