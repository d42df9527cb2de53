#!/bin/bash
# Run Criterion unit-test binaries; print one summary line; non-zero on failure.
set -u
pass=0 fail=0 bad=()
for t in "$@"; do
	out=$("$t" --jobs 2 2>&1); rc=$?
	syn=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -1)
	p=$(printf '%s' "$syn" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
	f=$(printf '%s' "$syn" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
	c=$(printf '%s' "$syn" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
	pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0} + ${c:-0}))
	if [ $rc -ne 0 ] || [ -z "$syn" ]; then
		bad+=("$(basename "$t")")
		[ -z "$syn" ] && fail=$((fail + 1))
		printf '%s\n' "$out" | grep -v '^\[----\] *$' | tail -40
	fi
	echo "  $(basename "$t"): ${syn#*Synthesis: }"
done
echo "unit: $pass passed, $fail failed"
[ ${#bad[@]} -eq 0 ] || { echo "failing: ${bad[*]}"; exit 1; }
