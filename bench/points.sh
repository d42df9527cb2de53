#!/bin/bash
# Many points (issue 17, "Many points stay cheap"): one group with 100,
# 1,000 and 10,000 points, and at each size what a user pays: one more
# commit (an agent run of a 4 KiB change: wall time, and the receiver's own
# time in store_point_commit from its log), `nestor points` (default and
# --all), the catalog's files, a retention evaluation (`nestor prune
# --dry-run`; the group's policy, 3650d:all, keeps every point so that
# each commit also evaluates it over all of them), opening the newest point
# as a drill's qemu would (`qemu-io -r -c 'read 0 4k'`), and a hash query
# (the agent's resync by block hashes against the newest point).
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
# A step that fails or runs past BENCH_STEP_S (900) shows as fail@SECONDS.
# Environment: BENCH_POINTS (sizes, default "100 1000 10000"), BENCH_STEP_S,
# BENCH_LINEAR=1, KEEP=1.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NESTOR=${NESTOR:-$ROOT/build/nestor}
SIZES=${BENCH_POINTS:-100 1000 10000}
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
for t in qemu-img qemu-io jq python3; do
	command -v "$t" >/dev/null || die "$t is missing (deploy/install-deps.sh)"
done
[ -x "$NESTOR" ] || die "$NESTOR not built (make all)"

make_pki || die "nestor-pki.sh failed"
printf '%-8s %6s %8s %9s %9s %9s %9s %9s %9s %10s %10s %9s %9s\n' POINTS DEPTH MAXDEPTH \
	RESYNC_MS COMMIT_MS RX_COMMIT PRUNE_MS POINTS_MS ALL_MS CATALOG_KB JOURNAL_B OPEN_MS \
	RX_RSS_MB > "$W/table"
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
	start_receiver
	# the resync: every block hashed through the newest point's chain
	random_writes "$T/d.raw" raw 1 4096 1 >/dev/null
	timed resync "$NESTOR" agent --config "$T/agent.conf" --once --json --no-progress &&
		{ jq -e '.resync' "$W/out" >/dev/null || log "$n: the first run was no resync: $(cat "$W/out")"; }
	# one more commit: a 4 KiB change
	random_writes "$T/d.raw" raw 1 4096 2 >/dev/null
	timed commit "$NESTOR" agent --config "$T/agent.conf" --once --json --no-progress
	pt=$(last_point many)
	rx=$(sed -n "s/.*committed point $pt (base .* bytes, \([0-9.]*\) ms).*/\1/p" "$T/receiver.log")
	rss=$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$RX_PID/status")
	timed prune "$NESTOR" prune --config "$T/receiver.conf" many --dry-run --json
	timed pts "$NESTOR" points --config "$T/receiver.conf" many &&
		tail -n 1 "$W/out" | sed "s/^/bench: $n: /" >&2
	timed all "$NESTOR" points --config "$T/receiver.conf" many --all &&
		{ [ "$(($(wc -l < "$W/out") - 2))" = "$pt" ] || log "$n: points --all listed $(wc -l < "$W/out") lines"; }
	cat_kb=$(( $(stat -c %s "$T/store/many/catalog.json") / 1024 ))
	log_b=$(stat -c %s "$T/store/many/catalog.log" 2>/dev/null || echo 0)
	top=$T/store/many/disks/d/$pt.qcow2
	depth=$(qemu-img info -U --backing-chain --output=json "$top" 2>/dev/null | jq 'length - 1')
	maxdepth=$(python3 "$ROOT/tests/integration/chaininfo.py" "$T/store/many/disks/d" |
		awk '$3 > m { m = $3 } END { print m + 0 }')
	timed open qemu-io -r -f qcow2 -c 'read 0 4k' "$top"
	stop_receiver
	printf '%-8s %6s %8s %9s %9s %9s %9s %9s %9s %10s %10s %9s %9s\n' "$pt" "${depth:-?}" \
		"${maxdepth:-?}" "$resync" "$commit" "${rx:-?}" "$prune" "$pts" "$all" "$cat_kb" \
		"$log_b" "$open" "$rss" >> "$W/table"
	tail -n 1 "$W/table" | sed 's/^/bench: row: /' >&2
	[ "${KEEP:-0}" = 1 ] || rm -rf "$T/store"
done
echo
echo "Nestor with many points in one group (load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo "DEPTH / MAXDEPTH: files under the newest point / under the deepest one;"
echo "RESYNC: agent run hashing the newest point; COMMIT: agent run of a 4 KiB change;"
echo "RX_COMMIT: the receiver's store_point_commit; PRUNE: retention dry run (all kept);"
echo "POINTS / ALL: nestor points default / --all; OPEN: qemu-io read of the newest point"
cat "$W/table"
