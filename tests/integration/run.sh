#!/bin/bash
# Run every integration test: the scripts (tests/integration/test-*.sh, each
# exits 0 on success), then the C suites (tests/integration/c/test-*.c, which
# boot guests or start Ceph) in their plain and ASan+UBSan builds
# (`make integration-c asan-integration-c`). ONLY=PATTERN runs the tests whose
# name contains PATTERN. Logs: build/<name>.log, build/asan-<name>.log.
set -u
cd "$(dirname "$0")/../.."
pass=0 fail=0

# run_one NAME LOG CMD...: a missing C suite binary fails like a failing test.
run_one() {
	local name=$1 log=$2 start
	shift 2
	start=$(date +%s)
	if "$@" > "$log" 2>&1; then
		pass=$((pass + 1)); echo "  $name: ok ($(( $(date +%s) - start )) s)"
	else
		fail=$((fail + 1))
		echo "  $name: FAILED ($(( $(date +%s) - start )) s); last lines of its log:"
		tail -40 "$log" | sed 's/^/    /'
	fi
}

for t in tests/integration/test-*.sh; do
	[ -n "${ONLY:-}" ] && [[ "$t" != *"$ONLY"* ]] && continue
	run_one "$(basename "$t")" "build/$(basename "$t" .sh).log" bash "$t"
done
for src in tests/integration/c/test-*.c; do
	[ -n "${ONLY:-}" ] && [[ "$src" != *"$ONLY"* ]] && continue
	name=$(basename "$src" .c)
	for b in build build/asan; do
		tag=${b#build}; tag=${tag#/}; tag=${tag:+$tag-}
		run_one "$tag$name" "build/$tag$name.log" tests/run-unit.sh "$b/tests/integration/c/$name"
	done
done
echo "integration: $pass passed, $fail failed"
[ $fail -eq 0 ]
