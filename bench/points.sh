#!/bin/bash
# Many points (issue 17, "Many points stay cheap"): one group with 100,
# 1,000 and 10,000 points, and at each size what a user pays: one more
# commit (an agent run of a 4 KiB change: wall time, and the receiver's own
# time in store_point_commit from its log), `nestor points` (default and
# --all), the catalog's files, a retention evaluation (`nestor prune
# --dry-run`; the group's policy, 3650d:all, keeps every point so that
# each commit also evaluates it over all of them), `nestor points --json
# --limit 50`, opening the newest point as a drill's qemu would (`qemu-io
# -r -c 'read 0 4k'`), the drill's clone of it (the `qemu-img create -b`
# overlay the local store makes, then read through), and hash queries (the
# agent's resync by block hashes against the newest point; `nestor verify`
# of the newest point, every block hashed on both sides).
#
# Building: point 1 is a real seed (`nestor agent --once` of a 1 MiB raw
# file); points 2..N are made by bench/points-fab.py exactly as the receiver
# writes a point that carried no extent (qcow2 overlay with its options,
# sums header, metadata, catalog), because N real runs would take hours,
# each on the skip ancestor the receiver's settle thread puts it on
# (docs/architecture.md, "Chain layout"; BENCH_LINEAR=1: each on the one
# before, the layout before issue 17). The first run after that is the
# resync (the agent's base is point 1, the receiver's newest N: a hash
# query of every block through the newest point), the next ones 4 KiB
# incrementals.
#
# DEPTH: files under the newest point (the agent's two points above the
# fabricated ones are not settled yet: at most 8 more); MAXDEPTH: the
# deepest chain of the group (tests/integration/chaininfo.py, from the
# headers).
#
# Side by side: BENCH_BINS="main=/path/to/nestor new=build/nestor" measures
# each binary against the same store, alternating, BENCH_REPS times (3); a
# rep starts the receiver, waits until its settle thread's first pass is
# over (its CPU time stops growing: a start's cost, not a commit's), runs
# the resync (the agent's state is put back to the seed's), then
# BENCH_COMMITS (5) commits, then the readers. Each cell is a median: over
# the reps, COMMIT and RX_COMMIT over every commit of every rep.
#
# A step that fails or runs past BENCH_STEP_S (900) shows as fail@SECONDS.
# Environment: BENCH_POINTS (sizes, default "100 1000 10000"), BENCH_STEP_S,
# BENCH_BINS, BENCH_REPS, BENCH_COMMITS, BENCH_LINEAR=1, KEEP=1.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NESTOR=${NESTOR:-$ROOT/build/nestor}
SIZES=${BENCH_POINTS:-100 1000 10000}
BINS=${BENCH_BINS:-nestor=$NESTOR}
REPS=${BENCH_REPS:-3}
COMMITS=${BENCH_COMMITS:-5}
W=$(mktemp -d /var/tmp/nestor-bench-points.XXXXXX)
# shellcheck source-path=SCRIPTDIR/../tests/integration source=lib.sh
NESTOR_SCRATCH=$W . "$ROOT/tests/integration/lib.sh"
RX_PID=
cleanup() {
	[ -n "$RX_PID" ] && kill -TERM "$RX_PID" 2>/dev/null && wait "$RX_PID" 2>/dev/null
	[ "${KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
now() { date +%s.%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
# timed VAR CMD...: run CMD (stdout to $W/out), VAR = its wall time in ms
timed() {
	local v=$1 t0; shift
	t0=$(now)
	if timeout "${BENCH_STEP_S:-900}" "$@" > "$W/out" 2>>"$W/cmd.log"; then
		printf -v "$v" '%s' "$(ms_since "$t0")"
		return 0
	fi
	printf -v "$v" 'fail@%ss' "$(( $(ms_since "$t0") / 1000 ))"
	tail -3 "$W/cmd.log" >&2
	return 1
}
# cpu VAR CMD...: VAR = CMD's CPU time in ms (user + system: perf stat's
# task-clock), the median of 3 runs; what the wall time of a short command
# hides on a loaded machine
cpu() {
	local v=$1 i s=()
	shift
	for i in 1 2 3; do
		perf stat -x, -e task-clock -o "$W/perf" -- "$@" > /dev/null 2>>"$W/cmd.log" ||
			{ printf -v "$v" 'fail'; return 1; }
		s+=("$(awk -F, '$3 == "task-clock" { printf "%.1f", $1 }' "$W/perf")")
	done
	printf -v "$v" '%s' "$(median "${s[@]}")"
}
# median of the numbers among the arguments (fail@... skipped), else the first
median() {
	printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
		awk '{ v[NR] = $1 } END { if (!NR) exit 1
			printf "%s", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' ||
		printf '%s' "${1:-?}"
}
# wait_settled: the receiver's CPU time did not grow for a second (its
# settle thread's first pass after a start is over), at most BENCH_STEP_S
wait_settled() {
	local last=-1 cur i
	for i in $(seq 1 "${BENCH_STEP_S:-900}"); do
		cur=$(awk '{ print $14 + $15 }' "/proc/$RX_PID/stat")
		[ "$cur" = "$last" ] && return 0
		last=$cur
		sleep 1
	done
	log "the receiver was still busy after ${BENCH_STEP_S:-900} s"
}
for t in qemu-img qemu-io jq python3 perf; do
	command -v "$t" >/dev/null || die "$t is missing (deploy/install-deps.sh)"
done
for b in $BINS; do
	[ -x "${b#*=}" ] || die "${b#*=} not built (make all)"
done

# measure LABEL BIN: one rep of LABEL's binary against $T's store; appends
# "LABEL resync commit... | rx... | prune pts all open rss depth maxdepth
# points pjson clone verify points_cpu prune_cpu json_cpu"
# to $T/samples
measure() {
	local label=$1 pt rss c resync commit prune pts all open depth maxdepth top
	local pjson clone verify cpts cprune cjson
	local commits=() rxs=()
	NESTOR=$2
	rm -rf "$T/agent-state" && cp -a "$T/agent-state.seed" "$T/agent-state"
	start_receiver
	wait_settled
	# the resync: every block hashed through the newest point's chain
	random_writes "$T/d.raw" raw 1 4096 1 >/dev/null
	timed resync "$NESTOR" agent --config "$T/agent.conf" --once --json --no-progress &&
		{ jq -e '.resync' "$W/out" >/dev/null || log "$n: the first run was no resync: $(cat "$W/out")"; }
	# commits of a 4 KiB change each
	for c in $(seq 1 "$COMMITS"); do
		random_writes "$T/d.raw" raw 1 4096 "$((c + 1))" >/dev/null
		timed commit "$NESTOR" agent --config "$T/agent.conf" --once --json --no-progress
		commits+=("$commit")
		pt=$(last_point many)
		rxs+=("$(sed -n "s/.*committed point $pt (base .* bytes, \([0-9.]*\) ms).*/\1/p" "$T/receiver.log")")
	done
	rss=$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$RX_PID/status")
	# a hash query of every block of the newest point (the receiver hashes it)
	timed verify "$NESTOR" verify --config "$T/agent.conf" many --json
	timed prune "$NESTOR" prune --config "$T/receiver.conf" many --dry-run --json
	timed pts "$NESTOR" points --config "$T/receiver.conf" many &&
		tail -n 1 "$W/out" | sed "s/^/bench: $n $label: /" >&2
	timed pjson "$NESTOR" points --config "$T/receiver.conf" many --json --limit 50 &&
		{ [ "$(jq '.points | length' "$W/out")" = 50 ] ||
			log "$n: points --json --limit 50 listed $(jq '.points | length' "$W/out")"; }
	cpu cpts "$NESTOR" points --config "$T/receiver.conf" many
	cpu cprune "$NESTOR" prune --config "$T/receiver.conf" many --dry-run --json
	cpu cjson "$NESTOR" points --config "$T/receiver.conf" many --json --limit 50
	timed all "$NESTOR" points --config "$T/receiver.conf" many --all &&
		{ [ "$(($(wc -l < "$W/out") - 2))" = "$pt" ] || log "$n: points --all listed $(wc -l < "$W/out") lines"; }
	top=$T/store/many/disks/d/$pt.qcow2
	depth=$(qemu-img info -U --backing-chain --output=json "$top" 2>/dev/null | jq 'length - 1')
	maxdepth=$(python3 "$ROOT/tests/integration/chaininfo.py" "$T/store/many/disks/d" |
		awk '$3 > m { m = $3 } END { print m + 0 }')
	timed open qemu-io -r -f qcow2 -c 'read 0 4k' "$top"
	rm -f "$T/clone.qcow2"
	# shellcheck disable=SC2016 # expanded by the inner shell
	timed clone sh -c 'qemu-img create -q -f qcow2 -b "$1" -F qcow2 "$2" &&
		qemu-io -r -f qcow2 -c "read 0 4k" "$2"' clone "$top" "$T/clone.qcow2"
	rm -f "$T/clone.qcow2"
	stop_receiver
	echo "$label $resync ${commits[*]} | ${rxs[*]} | $prune $pts $all $open $rss ${depth:-?} ${maxdepth:-?} $pt $pjson $clone $verify $cpts $cprune $cjson" >> "$T/samples"
	log "$n $label: resync $resync, commits ${commits[*]} (rx ${rxs[*]}), prune $prune, points $pts, json $pjson, all $all, open $open, clone $clone, verify $verify"
}

# field K (1-based) of the part P (0 before the first |, ...) of LABEL's samples
samples() {
	awk -v l="$1" -v p="$2" -v k="$3" '$1 == l { split($0, part, " [|] "); n = split(part[p + 1], f, " ");
		if (k == 0) { for (i = (p ? 1 : 3); i <= n; i++) print f[i] } else print f[k] }' "$T/samples"
}

make_pki || die "nestor-pki.sh failed"
printf '%-8s %-6s %6s %8s %9s %9s %9s %9s %9s %9s %9s %10s %10s %9s %9s %9s %9s %9s %9s %9s\n' \
	POINTS BIN DEPTH MAXDEPTH RESYNC_MS COMMIT_MS RX_COMMIT PRUNE_MS POINTS_MS JSON50_MS \
	ALL_MS CATALOG_KB JOURNAL_B OPEN_MS CLONE_MS VERIFY_MS RX_RSS_MB POINTS_CPU PRUNE_CPU \
	JSON50_CPU > "$W/table"
for n in $SIZES; do
	T=$W/n$n
	mkdir -p "$T"
	ln -s "$W/pki" "$T/pki"
	write_receiver_conf
	printf '\n[group many]\nretention = 3650d:all\n' >> "$T/receiver.conf"
	truncate -s 1M "$T/d.raw"
	write_agent_conf "$T/agent.conf" agent1 many d="$T/d.raw:raw"
	start_receiver
	agent_once "$T/agent.conf" > "$T/seed.json" || die "$n: the seed failed"
	stop_receiver
	t0=$(now)
	python3 "$ROOT/bench/points-fab.py" "$T/store/many" "$n" \
		${BENCH_LINEAR:+--linear} || die "$n: points-fab failed"
	log "$n points: built in $(ms_since "$t0") ms"
	cp -a "$T/agent-state" "$T/agent-state.seed"
	: > "$T/samples"
	for r in $(seq 1 "$REPS"); do
		for b in $BINS; do
			measure "${b%%=*}" "${b#*=}"
		done
	done
	cat_kb=$(( $(stat -c %s "$T/store/many/catalog.json") / 1024 ))
	log_b=$(stat -c %s "$T/store/many/catalog.log" 2>/dev/null || echo 0)
	for b in $BINS; do
		l=${b%%=*}
		# shellcheck disable=SC2046 # one word per sample
		printf '%-8s %-6s %6s %8s %9s %9s %9s %9s %9s %9s %9s %10s %10s %9s %9s %9s %9s %9s %9s %9s\n' \
			"$(samples "$l" 2 8 | tail -n 1)" "$l" "$(median $(samples "$l" 2 6))" \
			"$(median $(samples "$l" 2 7))" "$(median $(samples "$l" 0 2))" \
			"$(median $(samples "$l" 0 0))" "$(median $(samples "$l" 1 0))" \
			"$(median $(samples "$l" 2 1))" "$(median $(samples "$l" 2 2))" \
			"$(median $(samples "$l" 2 9))" "$(median $(samples "$l" 2 3))" \
			"$cat_kb" "$log_b" "$(median $(samples "$l" 2 4))" \
			"$(median $(samples "$l" 2 10))" "$(median $(samples "$l" 2 11))" \
			"$(median $(samples "$l" 2 5))" "$(median $(samples "$l" 2 12))" \
			"$(median $(samples "$l" 2 13))" "$(median $(samples "$l" 2 14))" >> "$W/table"
		tail -n 1 "$W/table" | sed 's/^/bench: row: /' >&2
	done
	[ "${KEEP:-0}" = 1 ] || rm -rf "$T/store"
done
echo
echo "Nestor with many points in one group (load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo "DEPTH / MAXDEPTH: files under the newest point / under the deepest one;"
echo "BIN: the binary (BENCH_BINS); cells are medians of $REPS reps (COMMIT, RX_COMMIT: of $COMMITS commits each)"
echo "RESYNC: agent run hashing the newest point; COMMIT: agent run of a 4 KiB change;"
echo "RX_COMMIT: the receiver's store_point_commit; PRUNE: retention dry run (all kept);"
echo "POINTS / JSON50 / ALL: nestor points default / --json --limit 50 / --all;"
echo "OPEN: qemu-io read of the newest point; CLONE: a drill's overlay of it made and read;"
echo "VERIFY: nestor verify of the newest point (hash queries of every block);"
echo "*_CPU: CPU ms (user + system, median of 3) of points, prune --dry-run, --json --limit 50"
cat "$W/table"
