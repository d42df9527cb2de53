#!/bin/bash
# `make check`: unit tests (plain and ASan+UBSan), the ASan+UBSan binary over
# libvirt's RPC (`make asan-libvirt`), a short fuzz run, integration
# tests (the scripts, and the C suites that boot guests or start Ceph, plain and
# ASan+UBSan: `make integration`).
# The stages build their variants (ASan, fuzz, the C suites) on JOBS cores
# (default: all): the CI calls a plain `make check`, under which each of
# them used to compile one file at a time. Each stage's time is printed.
set -u
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
pass=0 fail=0
stage() {
	local name=$1 start=$SECONDS; shift
	echo "== $name"
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "== $name FAILED"; fi
	echo "== $name: $((SECONDS - start)) s"
}
mk() { make --no-print-directory -j"$JOBS" "$@"; }
stage lint mk lint
stage layers mk layers
stage unit mk unit-run
stage unit-asan mk asan-run
stage asan-libvirt mk asan-libvirt
stage fuzz mk fuzz-run FUZZ_SECONDS="${FUZZ_SECONDS:-10}"
stage integration mk integration
echo "check stages: $pass passed, $fail failed"
[ $fail -eq 0 ]
