#!/bin/bash
# Builds, once per machine, the small bootable test guest (Debian kernel, busybox
# initramfs, SYSLINUX on an MBR disk, qcow2) and prints its path on stdout.
#
# usage: tests/lib/vm-image.sh            (NESTOR_CACHE, default /var/cache/nestor-test)
# The guest prints NESTOR-BOOT-OK on ttyS0, then runs each line it reads from
# ttyS0 with `sh -c` (stdin /dev/null) and prints "NESTOR-DONE <rc>" after it.
# A second virtio disk, if attached, is /dev/vdb. A NIC gets a network only
# from the configuration `netcfg` keeps on the disk (tests/lib/README.md,
# "Network"). Never boot the cached image
# itself read-write: give each VM a qcow2 overlay (qemu-img create -b IMG -F qcow2).
# Rebuilt only when an input changes: this script, the kernel package that
# linux-image-amd64 points at (override: NESTOR_KERNEL_PKG), busybox/syslinux versions.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034 # read by common.sh
LIB_TAG=vm-image
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$HERE/common.sh"

CACHE=${NESTOR_CACHE:-/var/cache/nestor-test}
OUT=$CACHE/vm
# tty0 too, so that the VGA screen a drill's screenshot shows has the boot on
# it; ttyS0 last: it is /dev/console, what the serial checks read.
KARGS="console=tty0 console=ttyS0 panic=-1 quiet"
# required drivers first; virtio_net is cheap and lets later tests add a NIC
MODS_REQUIRED="virtio_pci virtio_blk virtio_console"
MODS_OPTIONAL="virtio_net"
# the ACPI power button as an input device: busybox acpid powers off on it
# (a planned failover shuts the source down through ACPI: test-planned.sh)
MODS_OPTIONAL="$MODS_OPTIONAL button evdev"

script_hash() { sha256sum "$HERE/vm-image.sh" | cut -c1-16; }
# One image per version of this script: checkouts of different versions
# (worktrees, branches) share the cache without rebuilding over each other
# or replacing the backing file of another test's overlays.
IMG=$OUT/nestor-guest-$(script_hash).qcow2
STAMP=$OUT/stamp-$(script_hash)
tools_sig() { dpkg-query -W -f '${Package}=${Version} ' busybox-static syslinux syslinux-common 2>/dev/null; }
# apt-get update rewrites the lists directory; unchanged lists -> same kernel candidate,
# which lets the fast path skip apt-cache (0.8 s on this kind of machine).
apt_sig() { stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none; }

stamp_get() { sed -n "s/^$1=//p" "$STAMP" 2>/dev/null; }

# kernel_resolve: print "PACKAGE VERSION" of the newest stock kernel image.
kernel_resolve() {
	local pkg ver
	pkg=${NESTOR_KERNEL_PKG:-}
	if [ -z "$pkg" ]; then
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	fi
	[ -n "$pkg" ] || { lib_err "cannot resolve the kernel package behind linux-image-amd64 (apt-get update?)"; return 1; }
	ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')
	case "$ver" in '' | '(none)') lib_err "no candidate version for $pkg"; return 1 ;; esac
	echo "$pkg $ver"
}

# mod_deps KO: the module's direct dependencies, from its .modinfo section
# (no kmod/modinfo on the host needed).
mod_deps() {
	local ko=$1
	case "$ko" in
	*.ko.xz) xz -dc "$ko" ;;
	*.ko.zst) zstd -qdc "$ko" ;;
	*) cat "$ko" ;;
	esac | tr '\0' '\n' | sed -n 's/^depends=//p' | head -1 | tr ',' ' '
}

# modules_order KROOT KVER MOD...: copy MOD and its dependencies (dependencies
# first) into the initramfs and write the insmod order to lib/modules/load-order.
modules_order() {
	local kroot=$1 kver=$2 dst=$3
	shift 3
	local mdir=$kroot/lib/modules/$kver
	local -A path=() seen=()
	local f n
	while IFS= read -r f; do
		n=${f##*/}
		n=${n%%.ko*}
		path[$n]=$f
		path[${n//-/_}]=$f
	done < <(find "$mdir/kernel" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst')
	: >"$dst/lib/modules/load-order"
	visit() {
		local m=${1//-/_} d out
		[ -n "${seen[$m]:-}" ] && return 0
		seen[$m]=1
		if [ -z "${path[$m]:-}" ]; then
			# built into the kernel image: nothing to load
			grep -q "/$m.ko\$" "$mdir/modules.builtin" 2>/dev/null && return 0
			grep -q "/${m//_/-}.ko\$" "$mdir/modules.builtin" 2>/dev/null && return 0
			return 1
		fi
		for d in $(mod_deps "${path[$m]}"); do
			visit "$d" || { lib_err "module $m needs $d, which is missing"; return 1; }
		done
		out=$dst/lib/modules/$m.ko
		case "${path[$m]}" in
		*.ko.xz) xz -dc "${path[$m]}" >"$out" ;;
		*.ko.zst) zstd -qdc "${path[$m]}" >"$out" ;;
		*) cp "${path[$m]}" "$out" ;;
		esac || { lib_err "cannot copy module ${path[$m]}"; return 1; }
		echo "$m.ko" >>"$dst/lib/modules/load-order"
	}
	for n in $MODS_REQUIRED; do
		visit "$n" || { lib_err "required module $n not found in kernel $kver"; return 1; }
	done
	for n in $MODS_OPTIONAL; do
		visit "$n" || lib_log "optional module $n not available, skipped"
	done
}

write_init() {
	cat >"$1" <<'EOF'
#!/bin/busybox sh
# Nestor test guest PID 1: virtio drivers, disk report, command loop on ttyS0.
/bin/busybox mkdir -p /proc /sys /dev /tmp /mnt
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec </dev/ttyS0 >/dev/ttyS0 2>&1
# no echo: the host reads a command's output from the console log and must not
# see the command line itself mixed into it
stty -echo
while read -r m; do
	insmod "/lib/modules/$m" || echo "nestor-guest: insmod $m failed"
done </lib/modules/load-order
n=0
while [ ! -e /sys/block/vda ] && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
for d in /sys/block/vd*; do
	[ -e "$d" ] || continue
	echo "nestor-guest: disk /dev/${d##*/} sectors=$(cat "$d/size") serial=$(cat "$d/serial" 2>/dev/null)"
done
# ACPI power button -> sync, say so, power off (no init to do it for us)
if [ -e /dev/input/event0 ]; then
	mkdir -p /etc/acpi/PWRF
	printf '#!/bin/sh\nsync\necho NESTOR-ACPI-POWEROFF >/dev/ttyS0\npoweroff -f\n' >/etc/acpi/PWRF/00000080
	chmod 0755 /etc/acpi/PWRF/00000080
	acpid -c /etc/acpi -l /tmp/acpid.log
fi
hostname nestor-guest
ip link set lo up
# the network configuration lives on the disk (netcfg): it travels with
# replication; none = no network, as before
netcfg boot
# the VGA console (a drill's screenshot) gets the boot summary as well
{
	echo "nestor-guest $(uname -r) $(hostname): $(cat /proc/cmdline)"
	for d in /sys/block/vd*; do [ -e "$d" ] && echo "disk /dev/${d##*/}: $(cat "$d/size") sectors"; done
	echo "NESTOR-BOOT-OK"
} >/dev/tty0 2>/dev/null
echo "NESTOR-BOOT-OK"
while :; do
	if IFS= read -r line; then
		# stdin from /dev/null so that a command cannot swallow the next commands
		sh -c "$line" </dev/null
		echo "NESTOR-DONE $?"
	else
		# console hangup or EOF: PID 1 must not exit, keep serving
		sleep 1
	fi
done
EOF
	chmod 0755 "$1"
}

# write_netcfg FILE: the guest's network command. The configuration is one
# text line in sector NETCFG_SECTOR of /dev/vda (between the MBR and the
# boot partition, which starts at 2048): "NESTORNET1 dhcp HOST" or
# "NESTORNET1 static ADDR/PREFIX GATEWAY HOST"; zeros = no network.
write_netcfg() {
	cat >"$1" <<'EOF'
#!/bin/busybox sh
# netcfg dhcp [HOST] | static ADDR/PREFIX GATEWAY [HOST]: store the network
# configuration on the disk and apply it now; netcfg off: store none (the
# running network stays); netcfg show: print it; netcfg boot: apply it.
SECTOR=1024
DISK=/dev/vda
usage() { echo "usage: netcfg dhcp [HOST] | static ADDR/PREFIX GATEWAY [HOST] | off | show | boot" >&2; exit 2; }
name_ok() { case "$1" in '' | *[!A-Za-z0-9-]*) return 1 ;; esac; return 0; }
cidr_ok() {
	case "$1" in *[!0-9./]* | */*/* | */ | /*) return 1 ;; */*) ;; *) return 1 ;; esac
	ip_ok "${1%/*}" || return 1
	[ "${1#*/}" -ge 1 ] 2>/dev/null && [ "${1#*/}" -le 32 ]
}
ip_ok() {
	local IFS=. n=0 o
	case "$1" in *[!0-9.]* | .* | *. | *..*) return 1 ;; esac
	for o in $1; do
		[ "$o" -le 255 ] 2>/dev/null || return 1
		n=$((n + 1))
	done
	[ $n = 4 ]
}
store() {
	printf '%s\n' "$1" | dd of=$DISK bs=512 seek=$SECTOR count=1 conv=notrunc,sync,fsync 2>/dev/null ||
		{ echo "netcfg: cannot write $DISK" >&2; exit 1; }
}
load() { dd if=$DISK bs=512 skip=$SECTOR count=1 2>/dev/null | tr -d '\000' | head -n 1; }
web() {
	mkdir -p /www
	echo "NESTOR-WEB $(hostname)" >/www/index.html
	[ -n "$(pidof httpd)" ] || httpd -p 80 -h /www
}
apply() {
	local mode=$1 a=$2 g=$3 h=$4 n=0 addr
	while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
	[ -e /sys/class/net/eth0 ] || { echo "netcfg: no eth0" >&2; return 1; }
	hostname "$h"
	ip link set eth0 up || return 1
	ip -4 addr flush dev eth0
	case "$mode" in
	dhcp)
		udhcpc -i eth0 -s /etc/udhcpc.script -x "hostname:$h" -t 10 -T 1 -n -q >/tmp/udhcpc.log 2>&1 ||
			{ echo "netcfg: no DHCP lease:"; cat /tmp/udhcpc.log; return 1; }
		;;
	static)
		ip addr add "$a" dev eth0 && ip route replace default via "$g" dev eth0 || return 1
		;;
	esac
	web || return 1
	addr=$(ip -4 -o addr show dev eth0 | awk '{ print $4; exit }')
	echo "NESTOR-NET-UP $addr"
}
case "$1" in
dhcp)
	h=${2:-nestor-guest}
	[ $# -le 2 ] && name_ok "$h" || usage
	store "NESTORNET1 dhcp $h"
	apply dhcp "" "" "$h"
	;;
static)
	h=${4:-nestor-guest}
	[ $# -ge 3 ] && [ $# -le 4 ] && cidr_ok "$2" && ip_ok "$3" && name_ok "$h" || usage
	store "NESTORNET1 static $2 $3 $h"
	apply static "$2" "$3" "$h"
	;;
off) store "" ;;
show) load ;;
boot)
	set -f
	set -- $(load)
	[ "$1" = NESTORNET1 ] || exit 0
	case "$2" in
	dhcp) name_ok "$3" && apply dhcp "" "" "$3" ;;
	static) cidr_ok "$3" && ip_ok "$4" && name_ok "$5" && apply static "$3" "$4" "$5" ;;
	*) echo "netcfg: unknown stored mode '$2'"; exit 1 ;;
	esac
	;;
*) usage ;;
esac
EOF
	chmod 0755 "$1"
	# udhcpc's event script: the lease's address and default route
	cat >"$2" <<'EOF'
#!/bin/busybox sh
case "$1" in
deconfig) ip -4 addr flush dev "$interface" ;;
bound | renew)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
	;;
esac
exit 0
EOF
	chmod 0755 "$2"
}

# build KPKG KVERSION: everything happens in a private work dir; the image and the
# stamp are renamed into place at the end, so readers never see half an image.
build() {
	local kpkg=$1 kversion=$2
	local work deb kroot kver vmlinuz ird part_mb disk_mb part_start part_sectors disk
	work=$(mktemp -d "$OUT/build.XXXXXX")
	WORK=$work
	local t0
	t0=$(now_ms)

	mkdir -p "$CACHE/debs"
	# apt writes an epoch "1:" as "1%3a" in file names
	deb=$(find "$CACHE/debs" -maxdepth 1 -name "${kpkg}_${kversion//:/%3a}_*.deb" -print -quit)
	if [ -z "$deb" ]; then
		lib_log "downloading $kpkg=$kversion"
		(cd "$work" && apt-get -q -o APT::Sandbox::User=root download "$kpkg=$kversion" >/dev/null) ||
			{ lib_err "apt-get download $kpkg=$kversion failed"; return 1; }
		rm -f "$CACHE/debs/"*.deb
		mv "$work/${kpkg}_"*.deb "$CACHE/debs/"
		deb=$(find "$CACHE/debs" -maxdepth 1 -name "${kpkg}_*.deb" -print -quit)
		[ -n "$deb" ] || { lib_err "apt-get download left no ${kpkg}_*.deb"; return 1; }
	fi
	kroot=$work/kroot
	dpkg-deb -x "$deb" "$kroot" || { lib_err "dpkg-deb -x $deb failed"; return 1; }
	vmlinuz=$(find "$kroot/boot" -maxdepth 1 -name 'vmlinuz-*' -print -quit 2>/dev/null)
	[ -f "$vmlinuz" ] || { lib_err "no /boot/vmlinuz-* in $deb"; return 1; }
	kver=${vmlinuz##*/vmlinuz-}

	# initramfs: static busybox + virtio modules + /init
	local R=$work/initramfs
	mkdir -p "$R/bin" "$R/lib/modules"
	cp /bin/busybox "$R/bin/busybox"
	modules_order "$kroot" "$kver" "$R"
	write_init "$R/init"
	mkdir -p "$R/etc"
	write_netcfg "$R/bin/netcfg" "$R/etc/udhcpc.script"
	ird=$work/initrd.img
	(cd "$R" && find . | cpio -o -H newc --quiet | gzip -6) >"$ird"

	# FAT16 partition in its own file, filled with mtools: no mount, no loop device
	local ksz isz
	ksz=$(stat -c %s "$vmlinuz")
	isz=$(stat -c %s "$ird")
	part_mb=$(((ksz + isz) / 1048576 + 8))
	[ "$part_mb" -ge 24 ] || part_mb=24
	part_start=2048
	part_sectors=$((part_mb * 2048))
	disk_mb=$((part_mb + 1))
	disk=$work/disk.raw
	truncate -s "${disk_mb}M" "$disk"
	printf 'label: dos\nstart=%d, size=%d, type=e, bootable\n' "$part_start" "$part_sectors" |
		sfdisk -q "$disk" || { lib_err "sfdisk on $disk failed"; return 1; }
	truncate -s $((part_sectors * 512)) "$work/part.fat"
	mkfs.vfat -F 16 -n NESTORBOOT "$work/part.fat" >/dev/null
	cat >"$work/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND $KARGS
EOF
	export MTOOLS_SKIP_CHECK=1
	mcopy -i "$work/part.fat" "$vmlinuz" ::/vmlinuz
	mcopy -i "$work/part.fat" "$ird" ::/initrd.img
	mcopy -i "$work/part.fat" "$work/syslinux.cfg" ::/syslinux.cfg
	syslinux --install "$work/part.fat" || { lib_err "syslinux --install failed"; return 1; }
	dd if="$work/part.fat" of="$disk" bs=512 seek="$part_start" conv=notrunc,sparse status=none
	# MBR boot code: first 440 bytes only, the partition table after it stays
	dd if=/usr/lib/syslinux/mbr/mbr.bin of="$disk" bs=440 count=1 conv=notrunc status=none
	qemu-img convert -f raw -O qcow2 "$disk" "$work/img.qcow2" ||
		{ lib_err "qemu-img convert of $disk failed"; return 1; }

	mv -f "$work/img.qcow2" "$IMG"
	{
		echo "script=$(script_hash)"
		echo "tools=$(tools_sig)"
		echo "kernel=$kpkg $kversion"
		echo "kver=$kver"
		echo "apt=$(apt_sig)"
	} >"$work/stamp"
	mv -f "$work/stamp" "$STAMP"
	lib_log "built $IMG (kernel $kver, $(tr '\n' ' ' <"$R/lib/modules/load-order")) in $(($(now_ms) - t0)) ms"
}

WORK=
trap '[ -z "$WORK" ] || rm -rf "$WORK"' EXIT

main() {
	local want_script want_tools k
	want_script=$(script_hash)
	want_tools=$(tools_sig)
	# fast path: nothing that feeds the image can have changed
	if [ -f "$IMG" ] && [ "$(stamp_get script)" = "$want_script" ] &&
		[ "$(stamp_get tools)" = "$want_tools" ] && [ -z "${NESTOR_KERNEL_PKG:-}" ] &&
		[ "$(stamp_get apt)" = "$(apt_sig)" ]; then
		echo "$IMG"
		return 0
	fi
	mkdir -p "$OUT"
	local lockfd
	exec {lockfd}>"$OUT/.lock"
	# another run may be building right now: wait for it, then re-check
	flock -w 900 "$lockfd" || { lib_err "timed out waiting for $OUT/.lock"; return 1; }
	k=$(kernel_resolve)
	if [ -f "$IMG" ] && [ "$(stamp_get script)" = "$want_script" ] &&
		[ "$(stamp_get tools)" = "$want_tools" ] && [ "$(stamp_get kernel)" = "$k" ]; then
		# same inputs, only the apt lists moved: remember that for the fast path
		sed -i "s/^apt=.*/apt=$(apt_sig)/" "$STAMP"
	else
		# shellcheck disable=SC2086
		build $k
	fi
	echo "$IMG"
}

main "$@"
