#!/bin/bash
# Issue 13, item 3: corruption at rest. A file group replicated as a seed and
# incrementals scrubs clean over every point (no false positive); bytes
# flipped inside one point's qcow2 (found with qemu-img map) are named by
# `nestor scrub` (exit 3: that point, that disk, a range holding the flipped
# offset); `points`/`status` show it; a drill of it and of a later point
# whose chain includes it refuses, --force passes the gate; a cycle commits
# while a slow scrub runs (no group lock); a receiver killed mid-point resumes into a scrub-clean point whose checksum records
# do not overlap (the resume truncated them); retention merging the bad
# point hands its verdict to its child, and a scrub running meanwhile is
# neither confused nor crashes; a hostile agent's extent flood stops at the
# checksum bound.
. "$(dirname "$0")/lib.sh"

G=scr
pki_and_receiver 1M
IMG=$T/d.raw
truncate -s 64M "$IMG"
random_writes "$IMG" raw 200 65536 1 >/dev/null
cat > "$T/sc1.xml" <<EOF
<domain type='qemu'><name>sc1</name>
  <memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os>
  <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>
    <source file='$IMG'/><target dev='vda'/></disk></devices>
</domain>
EOF
write_agent_conf "$T/agent.conf" agent1 $G d="$IMG:raw" domain_xml="$T/sc1.xml"
scrub() { "$NESTOR" scrub --config "$T/receiver.conf" "$@" 2>>"$T/scrub.log"; }

cycle_once "seed"
for i in 2 3 4; do
	random_writes "$IMG" raw 24 65536 "$((i * 10))" >/dev/null
	cycle_once "incremental $i"
done
check "four points" [ "$(npoints $G)" = 4 ]
for p in 1 2 3 4; do
	check "point $p has its checksum file" test -s "$T/store/$G/sums/$p/d.sums"
done

# ---- an untouched store scrubs clean over every point ---------------------------
out=$(scrub --all --json); rc=$?
echo "$out" | jq -c '.groups[].points[] | {point, verdict, checked_bytes, bad_count}'
check_eq "scrub --all of the untouched store exits 0" 0 "$rc"
check_eq "every point ok, no bad range (zero false positives)" "ok ok ok ok|0" \
	"$(jq -r '[.groups[] | select(.group == "'$G'") | .points[].verdict] | join(" ")' <<<"$out")|$(jq '[.groups[].points[].bad_count] | add' <<<"$out")"
check "every point checked some bytes" \
	[ "$(jq '[.groups[].points[] | select(.checked_bytes > 0)] | length' <<<"$out")" = 4 ]

scrub nosuch >/dev/null; rc=$?
check_eq "scrub of a group the store does not have exits 1" 1 "$rc"
check "... saying so" grep -q "no group nosuch in the store" "$T/scrub.log"

# ---- flip bytes in point 2 ---------------------------------------------------------
# A DATA record of point 2 that no record of points 3 and 4 overlaps (so the
# retention phase below finds it whole in point 3), then where its first
# cluster lies in 2.qcow2 (qemu-img map: allocated in this file, depth 0).
read -r GOFF HOFF < <(python3 - "$T/store/$G/sums" "$(point_file $G d 2)" <<'PY'
import json, struct, subprocess, sys
def recs(p):
    b = open(p, "rb").read()
    assert b[:8] == b"NSUMS1\0\0"
    out = []
    for i in range(16, len(b) - 23, 24):
        off, lf, h = struct.unpack("<QQQ", b[i:i + 24])
        out.append((off, lf & ((1 << 56) - 1), bool(lf >> 63)))
    return out
later = recs(sys.argv[1] + "/3/d.sums") + recs(sys.argv[1] + "/4/d.sums")
m = json.loads(subprocess.check_output(["qemu-img", "map", "--output=json", "-f", "qcow2", sys.argv[2]]))
for off, ln, zero in recs(sys.argv[1] + "/2/d.sums"):
    if zero or any(o < off + ln and off < o + l for o, l, _ in later):
        continue
    for e in m:
        if e["depth"] == 0 and e["data"] and e["start"] <= off < e["start"] + e["length"]:
            g = off + 4096 + 100
            if g < e["start"] + e["length"] and g < off + ln:
                print(g, e["offset"] + (g - e["start"]))
                sys.exit(0)
sys.exit(1)
PY
) || die "no data cluster of point 2 to flip"
echo "# flipping 16 bytes of point 2 at guest offset $GOFF (host offset $HOFF of 2.qcow2)"
python3 - "$(point_file $G d 2)" "$HOFF" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(16)
    f.seek(int(sys.argv[2])); f.write(bytes(x ^ 0xff for x in b))
PY
check "qemu-img check stays clean (the corruption is invisible to it)" \
	qemu-img check -q "$(point_file $G d 2)"

out=$(scrub $G); rc=$?
echo "$out"
check_eq "scrub of the group exits 3 (mismatches)" 3 "$rc"
check "scrub text names point 2, disk d and says mismatches were found" \
	bash -c "grep -q '^group $G point 2: BAD' <<<\"\$1\" && grep -q 'mismatch: disk d bytes' <<<\"\$1\" && grep -q 'mismatches found' <<<\"\$1\"" _ "$out"
out=$(scrub $G --json)
range=$(jq -r '.groups[0].points[] | select(.point == 2) | .bad[] | select(.disk == "d" and .offset <= '"$GOFF"' and .offset + .length > '"$GOFF"') | "\(.offset)+\(.length)"' <<<"$out")
check "the bad range of point 2 disk d ($range) holds the flipped offset $GOFF" [ -n "$range" ]
check_eq "only point 2 is bad" "ok bad ok ok" "$(jq -r '[.groups[0].points[].verdict] | join(" ")' <<<"$out")"
pj=$(points_json $G)
check_eq "points: state of 1..4" "ok bad bad bad" "$(jq -r '[.points[].scrub.state] | join(" ")' <<<"$pj")"
check_eq "points: point 4 is bad through its chain (point 2)" 2 "$(jq '.points[3].scrub.chain_bad_point' <<<"$pj")"
check "points text shows 'bad (base 2)'" bash -c "'$NESTOR' points --config '$T/receiver.conf' $G | grep -Eq '^4 .*bad \(base 2\)'"
st=$("$NESTOR" status --config "$T/receiver.conf" --receiver --json)
check_eq "status: one bad point, newest point bad through its chain" "1|bad (base 2)" \
	"$(jq -r '.groups[] | select(.group == "'$G'") | "\(.scrub.bad_points)|\(.scrub.last_point)"' <<<"$st")"

# ---- drills refuse, --force passes the gate ----------------------------------------
for p in 2 4; do
	"$NESTOR" drill --config "$T/receiver.conf" $G --point $p --json >"$T/drill$p.json" 2>"$T/drill$p.err"
	rc=$?
	check "drill of point $p refused (exit 1)" [ $rc = 1 ]
	check "drill of point $p names point 2, disk d, the range and --force" \
		grep -q "point 2.*failed its scrub: disk d bytes .*--force" "$T/drill$p.err"
done
check "the refused drill booted nothing (no work dir)" bash -c "! ls -d '$T/store/$G/drills/'*/ 2>/dev/null"
"$NESTOR" drill --config "$T/receiver.conf" $G --point 2 --force --json --uri 'qemu:///session?socket=/nonexistent' \
	>"$T/force.json" 2>"$T/force.err"
check "drill --force passes the scrub gate (warning logged, report has scrub_forced)" \
	bash -c "grep -q 'booting it anyway (--force)' '$T/force.err' && [ \"\$(jq .scrub_forced '$T/force.json')\" = true ] && jq -e '.scrub_warning | test(\"point 2\")' '$T/force.json' >/dev/null"
"$NESTOR" failover --config "$T/receiver.conf" $G --point 4 >"$T/fo.out" 2>"$T/fo.err"
check "failover of point 4 refused too" bash -c "[ $? = 1 ] && grep -q 'failed its scrub' '$T/fo.err' && [ ! -e '$T/store/$G/failover.json' ]"

# ---- replication beside a running scrub -----------------------------------------
# The scrub holds no group lock: a cycle commits while a slow scrub reads
# the very chain the new point is based on.
scrub $G --rate 2M >/dev/null &
spid=$!
sleep 0.3
random_writes "$IMG" raw 8 65536 55 >/dev/null
t0=$(date +%s.%N)
cycle_once "beside a scrub"
check "a cycle commits while a scrub runs (scrub still running: $(kill -0 $spid 2>/dev/null && echo yes || echo no), cycle $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s)" \
	[ "$PT" = 5 ]
wait "$spid"; src=$?
check_eq "the scrub beside it still found point 2 bad (exit 3)" 3 "$src"
check_eq "the new point 5 is listed as bad through its chain (point 2)" "bad 2" \
	"$(points_json $G | jq -r '.points[-1].scrub | "\(.state) \(.chain_bad_point)"')"

# ---- a receiver killed mid-point: the resumed point scrubs clean ---------------
random_writes "$IMG" raw 300 65536 77 >/dev/null
"$NESTOR" agent --config "$T/agent.conf" --once --no-progress 2>>"$T/agent.log" &
apid=$!
for i in $(seq 1 400); do
	off=$(jq '[.disks[].durable_offset] | add' "$T/store/$G/pending.json" 2>/dev/null || echo 0)
	[ "${off:-0}" -gt 0 ] && break
	sleep 0.05
done
check "a point is pending with durable progress ($off bytes)" [ "${off:-0}" -gt 0 ]
kill9_receiver
wait "$apid" 2>/dev/null
start_receiver
cycle_once "resume"
check "the point was resumed" [ "$(echo "$RES" | jq .resumed)" = true ]
check_eq "resumed point is 6" 6 "$PT"
# Point 6 reads point 2's flipped bytes through its chain, and nothing else
# differs from the source.
qemu-img convert -f qcow2 -O raw "$(point_file $G d 6)" "$T/p6.raw"
diffs=$(cmp -l "$IMG" "$T/p6.raw" | awk -v g="$GOFF" '{ n++; if ($1 - 1 < g || $1 - 1 >= g + 16) out++ } END { print n + 0, out + 0 }')
check_eq "resumed point 6 equals the source but for the 16 flipped bytes it reads through point 2" "16 0" "$diffs"
rm -f "$T/p6.raw"
out=$(scrub $G --point 6 --json); rc=$?
check_eq "scrub of the resumed point exits 0" 0 "$rc"
check_eq "resumed point 6: ok, bytes checked" "ok true" \
	"$(jq -r '.groups[0].points[0] | "\(.verdict) \(.checked_bytes > 0)"' <<<"$out")"
check "resumed point's records are in order and never overlap (the resume truncated them)" \
	python3 - "$T/store/$G/sums/6/d.sums" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
end = 0
for i in range(16, len(b), 24):
    off, lf, _ = struct.unpack("<QQQ", b[i:i + 24])
    assert off >= end, (off, end)
    end = off + (lf & ((1 << 56) - 1))
assert (len(b) - 16) % 24 == 0
PY

# ---- retention merges the bad point: its verdict moves to its child -------------
# Keep the newest 4 (3..6): 1 and 2 go. A slow scrub runs meanwhile.
printf '\n[group %s]\nretention = 1s:all\nretention_min_points = 4\n' $G >> "$T/receiver.conf"
sleep 1.2
scrub $G --rate 4M --json >"$T/concurrent.json" &
spid=$!
sleep 0.3
out=$("$NESTOR" prune --config "$T/receiver.conf" $G --json) || not_ok "prune failed"
echo "# prune: $out"
wait "$spid"; src=$?
check "a scrub running while retention removed points neither crashed nor erred (exit $src: 0 or 3)" \
	bash -c "[ $src = 0 ] || [ $src = 3 ]"
check_eq "retention removed points 1 and 2" "3 4 5 6" "$(points_json $G | jq -r '[.points[].id] | join(" ")')"
check "no checksums left of the removed points" bash -c "[ ! -e '$T/store/$G/sums/1' ] && [ ! -e '$T/store/$G/sums/2' ]"
check_eq "scrub.json holds no verdict of a removed point" "" \
	"$(jq -r '.points[] | select(.point < 3) | .point' "$T/store/$G/scrub.json")"
pj=$(points_json $G)
check_eq "point 3 inherited point 2's bad verdict" "bad" "$(jq -r '.points[0].scrub.verdict' <<<"$pj")"
check "point 3's inherited range holds the flipped offset" \
	jq -e '.points[] | select(.point == 3) | .bad[] | select(.disk == "d" and .offset <= '"$GOFF"' and .offset + .length > '"$GOFF"')' \
	"$T/store/$G/scrub.json"
out=$(scrub $G --point 3 --json); rc=$?
check_eq "a new scrub of point 3 finds the bytes the rebase copied into it (exit 3)" 3 "$rc"
check "... at a range holding the flipped offset" \
	jq -e '.groups[0].points[0].bad[] | select(.offset <= '"$GOFF"' and .offset + .length > '"$GOFF"')' <<<"$out"
check_eq "points 4, 5 and 6 still scrub ok on their own bytes" "ok ok ok" \
	"$(scrub $G --json | jq -r '[.groups[0].points[] | select(.point > 3) | .verdict] | join(" ")')"
# ---- a hostile agent cannot grow a point's checksums without bound ------------
RC="python3 $ROOT/tests/integration/rawclient.py --port $PORT --ca $T/pki/ca.crt --cert $T/pki/agent1.crt --key $T/pki/agent1.key"
out=$($RC --group flood --expect-code 1 extentflood); rc=$?
echo "# $out"
check "extent past the checksum bound of its disk -> ERROR 1 naming it" \
	bash -c "[ $rc = 0 ] && grep -q 'too many extents' <<<\"\$1\"" _ "$out"
check "the receiver logged the bound" grep -q "too many extents (at most 67584 for this disk)" "$T/receiver.log"
check "nothing of the flood was committed" [ "$(npoints flood)" = 0 ]
check "the flooded disk's checksums stop at the bound" \
	bash -c "[ \$(( ( \$(stat -c %s '$T/store/flood/sums/1/d0.sums') - 16 ) / 24 )) -le 67584 ]"
stop_receiver
finish
