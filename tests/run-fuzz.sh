#!/bin/bash
# Run each libFuzzer binary for a bounded time on its corpus; fail on a crash.
# FUZZ_JOBS fuzzers (default: the cores) run at a time: each is one
# single-threaded process, so each still gets a core for its full time.
set -u
secs=$1; shift
jobs=${FUZZ_JOBS:-$(nproc)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# fuzz_one BINARY RESULT: the verdict line (and on failure the log's end) in
# RESULT; exit status 0 on success.
fuzz_one() {
	local f=$1 res=$2 name work seeds scratch args rc=0
	name=$(basename "$f"); name=${name#fuzz-}
	work=$(mktemp -d); seeds="tests/fuzz/corpus-$name"
	args=("$work"); [ -d "$seeds" ] && args+=("$seeds")
	# A fuzzer's scratch files (fuzz-session's store), gone even after a crash.
	scratch=$(mktemp -d)
	if TMPDIR="$scratch" "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
		-artifact_prefix="$work/" "${args[@]}" >"$work/log" 2>&1; then
		echo "  fuzz-$name: ok ($(grep -c . "$work/log") log lines)" >"$res"
	else
		rc=1
		{ echo "  fuzz-$name: FAILED"; tail -40 "$work/log"
		  ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null; } >"$res"
	fi
	rm -rf "$work" "$scratch"
	return $rc
}

pass=0 fail=0 i=0 pids=()
for f in "$@"; do
	if [ ${#pids[@]} -ge "$jobs" ]; then
		wait "${pids[0]}" && pass=$((pass + 1)) || fail=$((fail + 1))
		pids=("${pids[@]:1}")
	fi
	fuzz_one "$f" "$out/$i" &
	pids+=($!); i=$((i + 1))
done
for p in "${pids[@]}"; do
	wait "$p" && pass=$((pass + 1)) || fail=$((fail + 1))
done
for ((j = 0; j < i; j++)); do cat "$out/$j"; done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
