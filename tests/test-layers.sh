#!/bin/bash
# Proves that `make layers` (tests/layers.py) fails on each kind of planted
# violation: a direct include across a forbidden edge, one through a header
# chain, argv parsing outside cli/, and a library calling into a folder it
# may not reach. Each plant goes into a scratch copy of the tree; the real
# tree is never touched. Needs the libraries built (make all).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
T=$(mktemp -d /tmp/nestor-layers.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

copy_tree() { # copy_tree DIR: the library folders of the tree into DIR
	mkdir -p "$1"
	(cd "$ROOT" && for d in common proto snapshot replicator failover failback cli nestor.c; do
		[ -e "$d" ] && cp -r "$d" "$1/"
	done)
}

# expect NAME WANT_REGEX CMD...: CMD exits 1 and prints a line matching WANT_REGEX.
expect() {
	local name=$1 want=$2 out rc
	shift 2
	out=$("$@" 2>&1); rc=$?
	if [ "$rc" -eq 1 ] && grep -Eq -- "$want" <<<"$out"; then
		pass=$((pass + 1)); echo "ok - $name"
	else
		fail=$((fail + 1)); echo "not ok - $name (exit $rc)"; sed 's/^/    /' <<<"$out" | tail -5
	fi
}

# The clean tree first: what the plants must add to.
copy_tree "$T/clean"
if python3 "$ROOT/tests/layers.py" --root "$T/clean" --no-link >"$T/clean.out"; then
	pass=$((pass + 1)); echo "ok - the tree as it is passes the source checks"
else
	fail=$((fail + 1)); echo "not ok - the tree itself has violations:"; cat "$T/clean.out"
fi

# 1. proto includes an agent header directly.
copy_tree "$T/p1"
printf '#include "replicator/agent/agent.h"\n' >> "$T/p1/proto/codec.c"
expect "direct include proto -> replicator/agent is refused" \
	'^proto/codec.c: proto may not reach replicator/agent' \
	python3 "$ROOT/tests/layers.py" --root "$T/p1" --no-link

# 2. A receiver header pulls in the codec; failover includes that header.
copy_tree "$T/p2"
mkdir -p "$T/p2/replicator/receiver"
printf '#include "proto/codec.h"\n' > "$T/p2/replicator/receiver/planted.h"
printf '#include "replicator/receiver/planted.h"\n' >> "$T/p2/failover/report.c"
expect "failover reaching proto through a header chain is refused" \
	'^failover/report.c: failover may not reach proto \(include chain failover/report.c -> replicator/receiver/planted.h -> proto/codec.h\)' \
	python3 "$ROOT/tests/layers.py" --root "$T/p2" --no-link

# 3. snapshot parses a command line.
copy_tree "$T/p3"
printf '\nint planted_main(int argc, char **argv) { return getopt(argc, argv, "x"); }\n' \
	>> "$T/p3/snapshot/snapshot.c"
expect "getopt outside cli/ is refused" \
	'^snapshot/snapshot.c: calls getopt; only cli/ parses argv' \
	python3 "$ROOT/tests/layers.py" --root "$T/p3" --no-link

# 3b. failover reaches up into failback (failback may reach failover, not
# the other way round).
copy_tree "$T/p3b"
printf '#include "failback/target.h"\n' >> "$T/p3b/failover/report.c"
expect "failover reaching failback is refused" \
	'^failover/report.c: failover may not reach failback' \
	python3 "$ROOT/tests/layers.py" --root "$T/p3b" --no-link

# 4. libcommon.a calls a function of the receiver (a link edge no include shows).
if [ -f "$BUILD/libcommon.a" ] && [ -f "$BUILD/libreplicator-receiver.a" ]; then
	mkdir -p "$T/b4"
	cp "$BUILD"/lib*.a "$T/b4/"
	sym=$(nm -g --defined-only "$BUILD/libreplicator-receiver.a" | awk '$2 == "T" { print $3; exit }')
	printf 'void %s(void);\nvoid planted_call(void) { %s(); }\n' "$sym" "$sym" > "$T/planted.c"
	cc -c -o "$T/planted.o" "$T/planted.c" && ar r "$T/b4/libcommon.a" "$T/planted.o" 2>/dev/null
	expect "a call from libcommon.a into the receiver's library is refused" \
		"^libcommon.a: common may not reach replicator/receiver \(calls $sym\)" \
		python3 "$ROOT/tests/layers.py" --root "$T/clean" --build "$T/b4"
else
	fail=$((fail + 1)); echo "not ok - libraries not built in $BUILD (make all)"
fi

echo "test-layers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
