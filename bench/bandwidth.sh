#!/bin/bash
# Bandwidth-limit benchmark: the rate and duration Nestor achieves under a
# 20 MiB/s limit over a 600 MiB transfer of incompressible data. The test
# (tests/integration/test-bandwidth.sh) asserts only that the limit holds and
# the data arrives; how close to the limit a machine gets is this figure.
set -u
# lib.sh: PKI, receiver, $T scratch dir, cleanup(), bandwidth_transfer.
# shellcheck source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$NESTOR" ] || die "$NESTOR not built (make all)"

bandwidth_transfer 20 600 >/dev/null
same_image "$T/d.raw" raw bw d 1 || die "the point differs from the source"
stop_receiver
rate=$(jq '.bytes_wire / .seconds / 1048576' "$T/bw.json")
secs=$(jq .seconds "$T/bw.json")
within() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { print ((v >= lo && v <= hi) ? "PASS" : "MISS") }'; }

echo
echo "Nestor bandwidth limit: 600 MiB of incompressible data, limit 20 MiB/s, compression off, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-58s %8.2f  %s\n' "rate within 10% of the 20 MiB/s limit (MiB/s)" "$rate" "$(within "$rate" 18 22)"
printf '  %-58s %8.2f  %s\n' "transfer took about 30 s (27-35 s)" "$secs" "$(within "$secs" 27 35)"
