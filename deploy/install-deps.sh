#!/bin/bash
# Install every Debian package Nestor's build, demo, tests and benchmarks need.
# Idempotent and quiet when everything is present. Run as root on Debian 12.
set -euo pipefail

PKGS=(
	# build
	build-essential pkg-config clang libclang-rt-14-dev cppcheck
	libvirt-dev librbd-dev librados-dev libzstd-dev libssl-dev libevent-dev
	libcriterion-dev libnbd-dev libinih-dev libjansson-dev libxxhash-dev libxml2-dev
	libtirpc-dev # linked into the ASan build (Makefile, SAN)
	# runtime: images, NBD, VMs, Ceph
	qemu-utils qemu-system-x86 qemu-block-extra libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
	ceph-mon ceph-osd ceph-common
	# test VM image and harness
	busybox-static syslinux syslinux-common mtools dosfstools fdisk cpio xz-utils netcat-openbsd util-linux
	# tools used by tests and benchmarks
	openssl zstd rsync openssh-client openssh-server iproute2 procps psmisc
	python3 python3-rbd python3-rados jq curl systemd man-db groff-base dpkg-dev dnsmasq-base time linux-perf strace
	# power-loss layer (tests/lib/powerfs.py): FUSE through libfuse2
	python3-fusepy fuse
	# deploy checks (tests/integration/test-deploy.sh): cloud-init YAML, template filling
	python3-yaml gettext-base
	# DR networks: the WireGuard site link in userspace (no kernel module here)
	wireguard-go wireguard-tools
	# dashboard and drill reports (issue 16): PNG screenshots, headless browser
	# checks, Prometheus rule checks (promtool)
	libpng-dev chromium prometheus
)

# HCL2 parser and formatter (Go's hcl/hclwrite compiled to WASM) for the
# offline Terraform checks: terraform itself is not packaged in Debian.
# Pinned; installed under a project-owned prefix, never globally.
NPM_DIR=${NESTOR_NPM_DIR:-/var/cache/nestor-npm}
NPM_PKGS=(@cdktf/hcl2json@0.21.0 @cdktf/hcl-tools@0.21.0)
npm_tools() {
	local p want=()
	for p in "${NPM_PKGS[@]}"; do
		grep -qs "\"version\": \"${p##*@}\"" "$NPM_DIR/node_modules/${p%@*}/package.json" || want+=("$p")
	done
	[ ${#want[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ] && ! [ -w "$(dirname "$NPM_DIR")" ]; then
		echo "install-deps: missing npm packages: ${want[*]} in $NPM_DIR; run as root" >&2
		return 1
	fi
	echo "install-deps: npm installing ${want[*]} into $NPM_DIR" >&2
	mkdir -p "$NPM_DIR"
	npm install --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error --save-exact "${want[@]}" >/dev/null
}

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
# Debian's nodejs ships npm separately; NodeSource's nodejs bundles it.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && { npm_tools; exit; }

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; refresh them when older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
	apt-get update -qq
fi
apt-get install -y -qq "${missing[@]}" >/dev/null
# Services must not run from the packages: tests start private instances.
for s in libvirtd virtlogd ceph-mon.target ceph-osd.target ssh; do
	command -v systemctl >/dev/null 2>&1 && systemctl disable --now "$s" >/dev/null 2>&1 || true
done
npm_tools
echo "install-deps: done" >&2
