#!/bin/bash
# Build the nestor Debian package from an already built binary: stage the
# installed tree under BUILD/deb/ and pack it with dpkg-deb (called by `make deb`).
set -euo pipefail

prog=${0##*/}
die() { echo "$prog: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $prog BUILD_DIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
bin=$build/nestor
[ -x "$bin" ] || die "$bin is missing: run make first"

# "nestor 0.1.0 (protocol 2)" -> 0.1.0: the package follows the binary.
version=$("$bin" version | awk '{print $2}')
[[ $version =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || die "cannot read a version from '$bin version'"
arch=$(dpkg --print-architecture)

work=$build/deb
pkg=$work/nestor_${version}_$arch
rm -rf "$pkg"
mkdir -p "$pkg/DEBIAN"
# Owners are set by dpkg-deb --root-owner-group; modes come from here.
umask 022

inst() { # inst MODE SRC DEST
	install -D -m "$1" "$2" "$pkg/$3"
}

inst 0755 "$bin" usr/bin/nestor
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$pkg/usr/bin/nestor"
inst 0755 "$root/deploy/nestor-pki.sh" usr/sbin/nestor-pki

# Units: ours and any other deploy/*.service|*.timer (the drill template).
for u in "$root"/deploy/*.service "$root"/deploy/*.timer; do
	[ -e "$u" ] || continue
	inst 0644 "$u" "lib/systemd/system/${u##*/}"
done

for m in "$root"/docs/man/*.[158]; do
	sec=${m##*.}
	inst 0644 "$m" "usr/share/man/man$sec/${m##*/}"
	gzip -9n "$pkg/usr/share/man/man$sec/${m##*/}"
done
inst 0644 "$root/deploy/nestor.bash-completion" usr/share/bash-completion/completions/nestor

doc=usr/share/doc/nestor
inst 0644 "$root/README.md" "$doc/README.md"
inst 0644 "$root/deploy/README.md" "$doc/README.deploy.md"
for d in scrub retention monitoring dashboard; do
	inst 0644 "$root/docs/$d.md" "$doc/$d.md"
done
# What an upgrade changes that an operator must know (apt-listchanges shows it).
inst 0644 "$root/deploy/NEWS.Debian" "$doc/NEWS.Debian"
gzip -9n "$pkg/$doc/NEWS.Debian"
# Prometheus alert rules, their rule tests, the Grafana dashboard
# (docs/monitoring.md): to copy into the operator's Prometheus and Grafana.
for m in "$root"/deploy/monitoring/*; do
	inst 0644 "$m" "usr/share/nestor/monitoring/${m##*/}"
done
inst 0644 "$root/deploy/agent.conf.example" "$doc/examples/agent.conf.example"
inst 0644 "$root/deploy/receiver.conf.example" "$doc/examples/receiver.conf.example"
inst 0644 "$root/deploy/cloud-init.yaml" "$doc/examples/cloud-init.yaml"
cat > "$pkg/$doc/copyright" <<'EOC'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: nestor

Files: *
Copyright: the Nestor authors
License: proprietary
 All rights reserved by the Nestor authors.
EOC
chmod 0644 "$pkg/$doc/copyright"

# Default configurations are the documented examples (valid as they are);
# dpkg keeps an operator's edits across upgrades (conffiles).
inst 0640 "$root/deploy/agent.conf.example" etc/nestor/agent.conf
inst 0640 "$root/deploy/receiver.conf.example" etc/nestor/receiver.conf
chmod 0750 "$pkg/etc/nestor"
printf '/etc/nestor/agent.conf\n/etc/nestor/receiver.conf\n' > "$pkg/DEBIAN/conffiles"

# Runtime libraries from the binary's NEEDED entries (versioned, from the
# shlibs/symbols files), plus the tools the receiver and agent spawn.
# librbd, librados and libvirt are dlopened on first use and have no NEEDED
# entry: dlopen-deps (built by `make deb`, never installed) links every
# function nestor resolves from them, so they get the same versioned Depends.
dl=$build/dlopen-deps
[ -x "$dl" ] || die "$dl is missing: run make deb"
sd=$work/shlibdeps
rm -rf "$sd"
mkdir -p "$sd/debian"
printf 'Source: nestor\n\nPackage: nestor\nArchitecture: any\n' > "$sd/debian/control"
libdeps=$(cd "$sd" && dpkg-shlibdeps -O -e"$pkg/usr/bin/nestor" -e"$dl" 2>"$sd/err") ||
	die "dpkg-shlibdeps failed: $(cat "$sd/err")"
libdeps=${libdeps#shlibs:Depends=}
[ -n "$libdeps" ] || die "dpkg-shlibdeps found no dependencies"
for p in librbd1 librados2 libvirt0; do
	[[ ", $libdeps," == *", $p "* || ", $libdeps," == *", $p,"* ]] ||
		die "Depends lacks $p, which nestor dlopens ($libdeps)"
done
depends="$libdeps, qemu-utils"

size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<EOC
Package: nestor
Version: $version
Architecture: $arch
Maintainer: Nestor developers <nestor@localhost>
Installed-Size: $size
Depends: $depends
Recommends: libvirt-daemon-system, libvirt-daemon-driver-qemu, qemu-system-x86, openssl
Section: admin
Priority: optional
Homepage: https://example.invalid/nestor
Description: disaster-recovery replication of KVM virtual machines
 Nestor agents on on-prem hosts stream the changed blocks of VM disks,
 compressed, checksummed and encrypted (TLS 1.3, mutual certificates), to a
 receiver on a cloud Linux instance that keeps point-in-time recovery points
 as qcow2 chains and boots them unconverted as nested guests for drills and
 failover.
 .
 This package installs the nestor binary, systemd units for the agent
 (timer) and the receiver, man pages, bash completion, the PKI helper
 nestor-pki, and Prometheus alert rules and a Grafana dashboard in
 /usr/share/nestor/monitoring. No service is enabled: configure /etc/nestor
 first.
EOC

cat > "$pkg/DEBIAN/postinst" <<'EOC'
#!/bin/sh
# Directories the services need; private because they hold keys and disk data.
set -e
if [ "$1" = configure ]; then
	for d in /etc/nestor /etc/nestor/pki /var/lib/nestor /var/lib/nestor/store \
		/var/lib/nestor/agent; do
		mkdir -p "$d"
		chmod 0750 "$d"
	done
	chmod 0700 /etc/nestor/pki
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload >/dev/null 2>&1 || true
		# Pick up a new binary in running services; never start them here.
		systemctl try-restart nestor-receiver.service >/dev/null 2>&1 || true
	fi
fi
exit 0
EOC

cat > "$pkg/DEBIAN/prerm" <<'EOC'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl stop nestor-agent.service \
		nestor-receiver.service >/dev/null 2>&1 || true
fi
exit 0
EOC

cat > "$pkg/DEBIAN/postrm" <<'EOC'
#!/bin/sh
# Purge removes the directories postinst made, but only when empty: recovery
# points, agent state and private keys are the operator's, never ours to delete.
set -e
if [ "$1" = purge ]; then
	for d in /var/lib/nestor/agent /var/lib/nestor/store /var/lib/nestor \
		/etc/nestor/pki /etc/nestor; do
		[ -d "$d" ] || continue
		rmdir "$d" 2>/dev/null || echo "nestor: $d is not empty; left in place" >&2
	done
fi
if [ "$1" = remove ] || [ "$1" = purge ]; then
	[ -d /run/systemd/system ] && systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
EOC
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"

(cd "$pkg" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' |
	sort -z | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"

out=$build/nestor_${version}_$arch.deb
dpkg-deb --root-owner-group --build "$pkg" "$out" >/dev/null
echo "$out"
