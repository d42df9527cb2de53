#!/bin/bash
# A bandwidth limit of 20 MiB/s holds over a 600 MiB transfer: it is never
# beaten by more than 10% (about 30 s), whatever the machine's speed, and the
# point is identical to the source. The achieved rate and duration, which
# depend on the machine, are figures of the bench (bench/bandwidth.sh).
. "$(dirname "$0")/lib.sh"

bandwidth_transfer 20 600
rate=$(jq '.bytes_wire / .seconds / 1048576' "$T/bw.json")
secs=$(jq .seconds "$T/bw.json")
echo "achieved $rate MiB/s in $secs s (limit 20)"
check "the limit holds: at most 10% over 20 MiB/s ($rate)" \
	python3 -c "import sys; r=float(sys.argv[1]); sys.exit(0 if r <= 22 else 1)" "$rate"
check "the limit holds: 600 MiB took at least 27 s ($secs)" \
	python3 -c "import sys; s=float(sys.argv[1]); sys.exit(0 if s >= 27 else 1)" "$secs"
check "point identical" same_image "$T/d.raw" raw bw d 1
stop_receiver
finish
