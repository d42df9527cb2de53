#!/bin/bash
# `make check`: unit tests (plain and ASan+UBSan), the ASan+UBSan binary over
# libvirt's RPC (`make asan-libvirt`), a short fuzz run, integration
# tests (the scripts, and the C suites that boot guests or start Ceph, plain and
# ASan+UBSan: `make integration`).
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0
stage() {
	local name=$1; shift
	echo "== $name"
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "== $name FAILED"; fi
}
stage lint make --no-print-directory lint
stage layers make --no-print-directory layers
stage unit make --no-print-directory unit-run
stage unit-asan make --no-print-directory asan-run
stage asan-libvirt make --no-print-directory asan-libvirt
stage fuzz make --no-print-directory fuzz-run FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
stage integration make --no-print-directory integration
echo "check stages: $pass passed, $fail failed"
[ $fail -eq 0 ]
