#!/bin/bash
# Issue 17, "Many points stay cheap": chains stay shallow. A group of 300
# points whose files each back on the one before (bench/points-fab.py
# --linear: what every store looked like before, depth 299) over a real
# seed, then 20 real incrementals: the receiver's settle thread moves every
# point but the newest 8 onto its skip ancestor in the background
# (docs/architecture.md, "Chain layout"). Checked: every settled point's
# depth is at most popcount(id), the newest 8 at most 8 more; every point
# reads exactly what it did (qemu-img compare against the source at its
# instant: the seed for the fabricated points); scrub is clean; a
# retention run that removes points with several children keeps every
# remaining point's content and depth; replication goes on after it.
. "$(dirname "$0")/lib.sh"

G=ch
FAB=300
REAL=20
LAG=8
make_pki
write_receiver_conf
printf '\n[group %s]\nretention = 3650d:all\n' $G >> "$T/receiver.conf"
IMG=$T/d.raw
truncate -s 4M "$IMG"
random_writes "$IMG" raw 40 65536 1 >/dev/null
write_agent_conf "$T/agent.conf" agent1 $G d="$IMG:raw"
mkdir -p "$T/src"
DIR=$T/store/$G/disks/d
chains() { python3 "$ROOT/tests/integration/chaininfo.py" "$DIR"; }

start_receiver
cycle_once "seed"
cp --sparse=always "$IMG" "$T/src/1.raw"
stop_receiver
python3 "$ROOT/bench/points-fab.py" "$T/store/$G" $FAB --linear || die "points-fab failed"
check_eq "fabricated: $FAB points, the newest $((FAB - 1)) deep" "$FAB $((FAB - 1))" \
	"$(chains | awk '{ n++; if ($3 > d) d = $3 } END { print n, d }')"

# ---- real points on top: the settle thread catches up -----------------------------
start_receiver
for i in $(seq 1 $REAL); do
	random_writes "$IMG" raw 3 65536 "$((i + 10))" >/dev/null
	cycle_once "incremental $i" >/dev/null
	cp --sparse=always "$IMG" "$T/src/$PT.raw"
done
NEWEST=$PT
check_eq "newest point" $((FAB + REAL)) "$NEWEST"
# settled: every point up to newest - lag within its popcount
over() {
	chains | awk -v top=$((NEWEST - LAG)) '$1 <= top {
		n = $1; c = 0; while (n) { c += n % 2; n = int(n / 2) }
		if ($3 > c) bad++ } END { print bad + 0 }'
}
for i in $(seq 1 600); do
	[ "$(over)" = 0 ] && break
	sleep 0.2
done
check_eq "every point up to the newest - $LAG is within popcount(id) deep (waited $((i / 5)) s)" 0 "$(over)"
chains > "$T/chains.before"
top=$(awk -v t=$((NEWEST - LAG)) '$1 == t { print $3 }' "$T/chains.before")
check "the newest $LAG are at most $LAG deeper than point $((NEWEST - LAG)) ($top)" \
	awk -v t=$((NEWEST - LAG)) -v d="$top" -v lag=$LAG \
	'$1 > t && $3 > d + lag { bad = 1 } END { exit bad }' "$T/chains.before"
maxd=$(awk '$3 > m { m = $3 } END { print m }' "$T/chains.before")
check "the deepest chain of $NEWEST points is $maxd deep (<= 8 + $LAG)" [ "$maxd" -le $((8 + LAG)) ]
check "a settle log line names the point absorbed" grep -q "disk d: settled on point 256 (was on 287" "$T/receiver.log"
check "no settle failed" bash -c "! grep -E 'settle|chain' '$T/receiver.log' | grep -q ' error: '"

# content: the real points against their sources, a sample of fabricated
# ones (all read the seed) and the bottom
expect() { [ "$1" -le $FAB ] && echo "$T/src/1.raw" || echo "$T/src/$1.raw"; }
same_all() {
	local bad=0 p
	for p in "$@"; do
		same_image "$(expect "$p")" raw $G d "$p" || { echo "# point $p differs"; bad=1; }
	done
	return $bad
}
SAMPLE="1 2 3 4 64 128 255 256 288 299 300 $(seq -s' ' $((FAB + 1)) $NEWEST)"
check "every real point and a sample of fabricated ones read what they did" same_all $SAMPLE
"$NESTOR" scrub --config "$T/receiver.conf" $G >"$T/scrub.out" 2>>"$T/scrub.log"
check_eq "scrub of the settled group is clean (exit 0)" 0 "$?"
check "the settled points' checksums took in the real points they absorbed" \
	bash -c "[ \$(stat -c %s '$T/store/$G/sums/304/d.sums') -gt \$(stat -c %s '$T/store/$G/sums/303/d.sums') ]"

# ---- retention removes points with several children --------------------------------
multi=$(awk '$4 >= 2 { print $1 }' "$T/chains.before" | xargs)
# every point older than 20 s before the newest thinned to one per 3 s:
# most of the fabricated ones (0.1 s apart) go
sed -i "s/^retention = 3650d:all$/retention = 20s:all,1d:3s/" "$T/receiver.conf"
"$NESTOR" config check receiver "$T/receiver.conf" >/dev/null || die "thinning policy refused"
stop_receiver
"$NESTOR" prune --config "$T/receiver.conf" $G --json > "$T/prune.json" 2>>"$T/prune.log" ||
	{ tail -5 "$T/prune.log"; not_ok "prune failed"; }
removed=$(jq -r '.removed | join(" ")' "$T/prune.json")
echo "# removed $(wc -w <<<"$removed") points"
both=$(comm -12 <(tr ' ' '\n' <<<"$multi" | sort) <(tr ' ' '\n' <<<"$removed" | sort) | wc -l)
check "retention removed points that had several children ($both of them)" [ "$both" -gt 0 ]
chains > "$T/chains.after"
check "no remaining point is deeper than before" \
	awk 'NR == FNR { d[$1] = $3; next } $3 > d[$1] { bad = 1 } END { exit bad }' \
	"$T/chains.before" "$T/chains.after"
kept=$(cut -d' ' -f1 "$T/chains.after" | xargs)
check_eq "the catalog and the files agree on what is kept" "$kept" \
	"$(points_json $G | jq -r '[.points[].id] | map(tostring) | join(" ")')"
check "every remaining point reads what it did" same_all $kept
"$NESTOR" scrub --config "$T/receiver.conf" $G >"$T/scrub2.out" 2>>"$T/scrub.log"
check_eq "scrub after the removals is clean (exit 0)" 0 "$?"

# ---- replication goes on over the thinned layout --------------------------------
start_receiver
for i in 1 2; do
	random_writes "$IMG" raw 3 65536 "$((i + 50))" >/dev/null
	cycle_once "after $i" >/dev/null
	cp --sparse=always "$IMG" "$T/src/$PT.raw"
done
check "the new points read their sources" same_all $((NEWEST + 1)) $((NEWEST + 2))
stop_receiver
finish
