#!/bin/bash
# `make bench`: the benchmarks against baseline tools (not part of make check).
set -u
cd "$(dirname "$0")/.."
bash bench/seed.sh
