#!/bin/bash
# Issue 17, many points: the catalog's journal and `nestor points` on a
# group of 60 points. Every commit after the first appends one line to
# catalog.log (catalog.json, the snapshot, is written once); the listing
# survives a receiver killed -9 and restarted (replayed from the journal);
# a torn tail is ignored and cut by the next commit. `nestor points` shows
# the newest 50 and a summary line (count, oldest, newest, per retention
# tier), --all / --limit / --since select, --json stays complete unless
# asked, and bad arguments exit 2. The listing index (catalog.idx) the
# receiver keeps spares a listing the catalog's parse and never changes
# what it says: missing, damaged or empty, the listing is the same.
. "$(dirname "$0")/lib.sh"

G=many
make_pki
write_receiver_conf
printf '\n[group %s]\nretention = 1h:all,30d:1d\n' $G >> "$T/receiver.conf"
"$NESTOR" config check receiver "$T/receiver.conf" >/dev/null || die "receiver.conf rejected"
start_receiver
P=$T/pki
RC="python3 $ROOT/tests/integration/rawclient.py --port $PORT --ca $P/ca.crt --cert $P/agent1.crt --key $P/agent1.key"
CAT=$T/store/$G/catalog.json LOG=$T/store/$G/catalog.log
pts() { "$NESTOR" points --config "$T/receiver.conf" $G "$@"; }
ids() { points_json $G | jq -r '[.points[].id] | map(tostring) | join(" ")'; }

# ---- the journal ------------------------------------------------------------------
check "point 1 goes in" $RC --group $G point
check "the first commit writes the snapshot" [ "$(jq '.points | length' "$CAT")" = 1 ]
snap=$(sha256sum < "$CAT")
bad=0
for k in $(seq 2 60); do
	$RC --group $G point >/dev/null || { echo "point $k refused"; bad=1; }
done
check "59 more points go in" [ $bad = 0 ]
check_eq "60 points listed" 60 "$(npoints $G)"
check "the snapshot was not rewritten by 59 commits" [ "$(sha256sum < "$CAT")" = "$snap" ]
check_eq "the journal holds one line per commit" 59 "$(wc -l < "$LOG")"
check "each line a commit record with its seq" \
	[ "$(jq -s '[.[] | select(.op == "commit" and .seq == .point.id)] | length' "$LOG")" = 59 ]
kill9_receiver
check_eq "a receiver killed -9: the listing is the same (replayed)" 60 "$(npoints $G)"
# A power cut in an append: a partial line at the end.
printf '{"seq":61,"op":"commit","point":{"id":61,"ba' >> "$LOG"
check_eq "a torn last line is ignored" 60 "$(npoints $G)"
start_receiver
check "the next point goes in" $RC --group $G point
check_eq "61 points, the torn tail cut" "60 61" "$(wc -l < "$LOG") $(npoints $G)"
check "the journal ends with a whole line" [ "$(tail -c 1 "$LOG" | od -An -c | tr -d ' ')" = '\n' ]

# ---- nestor points ----------------------------------------------------------------
out=$(pts) || not_ok "nestor points failed"
check_eq "the table: a header, the newest 50, a summary" 52 "$(wc -l <<<"$out")"
check "... the header first" grep -q '^POINT .*RECEIVED (UTC)' <<<"$(head -1 <<<"$out")"
check_eq "... points 12 to 61" "12 61" "$(sed -n '2p;51p' <<<"$out" | cut -d' ' -f1 | xargs)"
sum=$(tail -1 <<<"$out")
echo "# $sum"
check "... the summary: count and shown" grep -q '^61 points (50 shown' <<<"$sum"
check "... oldest and newest" grep -Eq 'oldest 1 received 20[0-9-]+T[0-9:]+Z, newest 61 received' <<<"$sum"
check "... per retention tier" grep -q 'by age: <1h 61, <30d 0, older 0$' <<<"$sum"
check_eq "--all lists every point" 63 "$(pts --all | wc -l)"
check_eq "--limit 3: the newest 3" "59 60 61" "$(pts --limit 3 | sed '1d;$d' | cut -d' ' -f1 | xargs)"
check_eq "--since 1h: every point" 63 "$(pts --since 1h | wc -l)"
check_eq "--since a future time: none" "2 61 points (0 shown" \
	"$(pts --since 2999-01-01T00:00:00Z | wc -l) $(pts --since 2999-01-01T00:00:00Z | tail -1 | cut -c1-18)"
check_eq "--json is complete" 61 "$(points_json $G | jq '.points | length')"
check_eq "--json summary" '{"count":61,"shown":61,"oldest":1,"newest":61,"tiers":[61,0,0]}' \
	"$(points_json $G | jq -c '.summary | .tiers |= map(.points)')"
check_eq "--json --limit 5" "5 57 61" \
	"$(pts --json --limit 5 | jq -r '"\(.points | length) \(.points[0].id) \(.summary.count)"')"
for a in "--limit 0" "--limit x" "--since yesterday" "--all --limit 3" "--bogus"; do
	# shellcheck disable=SC2086 # split on purpose
	pts $a >/dev/null 2>"$T/err"
	check_eq "nestor points $a: usage error" 2 "$?"
done
check "... saying why" grep -q -- "--limit takes a number of points" <<<"$(pts --limit 0 2>&1)"

# ---- the listing index (catalog.idx) ------------------------------------------------
# Derived, never the truth: the listing is the same with it, without it and
# with it damaged; a fresh one spares the listing catalog.json's parse.
IDX=$T/store/$G/catalog.idx
prune_dry() { "$NESTOR" prune --config "$T/receiver.conf" $G --dry-run --json; }
check "the receiver's retention after point 61 is done" wait_retention $G 61
check "the receiver keeps the group's listing index" [ -s "$IDX" ]
ref=$(points_json $G) refp=$(prune_dry) reft=$(pts)
strace -f -e trace=openat -o "$T/strace" "$NESTOR" points --config "$T/receiver.conf" $G >/dev/null
check "nestor points read the index, not catalog.json" \
	bash -c "grep -q 'catalog.idx' '$T/strace' && ! grep -q 'catalog.json\"' '$T/strace'"
rm -f "$IDX"
check_eq "--json without the index: the same" "$ref" "$(points_json $G)"
check "... and that listing wrote it again" [ -s "$IDX" ]
check_eq "the table from the new index: the same" "$reft" "$(pts)"
check_eq "prune --dry-run from it: the same" "$refp" "$(prune_dry)"
printf 'X' | dd of="$IDX" bs=1 seek=300 conv=notrunc status=none
check_eq "--json with a damaged index: the same" "$ref" "$(points_json $G)"
: > "$IDX"
check_eq "the table with an empty index: the same" "$reft" "$(pts)"
check "a point after it goes in" $RC --group $G point
check_eq "... and is listed through the index" 62 "$(npoints $G)"
stop_receiver
finish
