#!/bin/bash
# `make bench`: the benchmarks against baseline tools (not part of make check).
# Every benchmark runs; the exit status says whether any of them failed.
set -u
cd "$(dirname "$0")/.."
rc=0
bash bench/seed.sh || rc=1
bash bench/live.sh || rc=1
bash bench/rbd.sh || rc=1
bash bench/bandwidth.sh || rc=1
bash bench/concurrency.sh || rc=1
bash bench/rbd-listing.sh || rc=1
bash bench/points.sh || rc=1
bash bench/failback.sh || rc=1
exit $rc
