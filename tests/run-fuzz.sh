#!/bin/bash
# Run each libFuzzer binary for a bounded time on its corpus; fail on a crash.
set -u
secs=$1; shift
pass=0 fail=0
for f in "$@"; do
	name=$(basename "$f"); name=${name#fuzz-}
	work=$(mktemp -d); seeds="tests/fuzz/corpus-$name"
	args=("$work"); [ -d "$seeds" ] && args+=("$seeds")
	# A fuzzer's scratch files (fuzz-session's store), gone even after a crash.
	scratch=$(mktemp -d)
	if TMPDIR="$scratch" "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
		-artifact_prefix="$work/" "${args[@]}" >"$work/log" 2>&1; then
		pass=$((pass + 1)); echo "  fuzz-$name: ok ($(grep -c . "$work/log") log lines)"
	else
		fail=$((fail + 1)); echo "  fuzz-$name: FAILED"; tail -40 "$work/log"
		ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null
	fi
	rm -rf "$work" "$scratch"
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
