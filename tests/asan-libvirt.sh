#!/bin/bash
# `make asan-libvirt`: the ASan+UBSan build of nestor talks to a private
# libvirtd (tests/lib/libvirtd.sh). `drill --cleanup` of a group without
# drills opens the connection and lists the domains over libvirt's RPC, the
# path that crashed in virNetMessageEncodeHeader while libtirpc came only
# with the dlopen'd libvirt (Makefile, SAN). Passes on exit 0, the expected
# answer and no sanitizer report. usage: tests/asan-libvirt.sh NESTOR
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NESTOR=${1:?usage: $0 NESTOR}
T=$(mktemp -d /tmp/nestor-asan-lv.XXXXXX)
trap '"$ROOT/tests/lib/libvirtd.sh" stop "$T/lv" >/dev/null 2>&1; rm -rf "$T"' EXIT
URI=$("$ROOT/tests/lib/libvirtd.sh" start "$T/lv" 2>"$T/libvirtd.log") ||
	{ cat "$T/libvirtd.log"; echo "asan-libvirt: libvirtd did not start"; exit 1; }
mkdir -p "$T/store/g"
cat >"$T/receiver.conf" <<EOC
[receiver]
listen = 127.0.0.1:1
ca = $T/none
cert = $T/none
key = $T/none
store = $T/store
EOC
out=$(LIBVIRT_DEFAULT_URI=$URI "$NESTOR" drill --config "$T/receiver.conf" --cleanup g \
	--uri "$URI" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ "$out" != "0 drill(s) of group g cleaned up" ] ||
	grep -q "Sanitizer" <<<"$out"; then
	printf '%s\n' "$out" | tail -30
	echo "asan-libvirt: FAILED (exit $rc)"
	exit 1
fi
echo "asan-libvirt: ok (drill --cleanup over libvirt RPC under ASan+UBSan)"
