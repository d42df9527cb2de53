#!/bin/bash
# RBD listing benchmark: how long the rbd source takes to list a 20 MiB
# incremental of a 10 GiB image (object map, fast-diff). The figure comes
# from the integration suite's big_sparse_image_lists_fast
# (tests/integration/c/test-rbd-source.c, which starts its own Ceph and
# asserts what is listed); the target is here.
set -u
cd "$(dirname "$0")/.."
BIN=build/tests/integration/c/test-rbd-source
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "$BIN not built (make integration-c)"
out=$("$BIN" --filter 'rbd_source/big_sparse_image_lists_fast' 2>&1) ||
	{ printf '%s\n' "$out" | tail -20 >&2; die "the listing test failed"; }
ms=$(printf '%s\n' "$out" | sed -n 's/.*rbd 10 GiB incremental:.* in \([0-9.]*\) ms$/\1/p' | tail -1)
[ -n "$ms" ] || die "no listing figure in the test's output"

echo
echo "Nestor RBD listing: 10 GiB image, 128 MiB seeded, 20 MiB changed, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-58s %8s  %s\n' "incremental listed in < 500 ms (ms)" "$ms" \
	"$(awk -v v="$ms" 'BEGIN { print (v < 500 ? "PASS" : "MISS") }')"
