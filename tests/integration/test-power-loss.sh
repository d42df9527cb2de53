#!/bin/bash
# Issue 13, power loss (acceptance 5): the receiver's store lies on powerfs
# (tests/lib/powerfs.py), which loses every write not made durable when the
# power is cut. A two-disk file group (a raw and a qcow2 image) is changed
# before each round and the sha256 of its state logged; the agent starts a
# point, the receiver stops itself at a commit stage (NESTOR_TEST_PAUSE:
# commit, commit-data, commit-catalog) and, at once or after a random
# delay running again, the power is cut: the layer drops what was not
# durable while the receiver and its qemu-nbd children are killed -9.
# Then the layer is mounted again, the receiver restarted and the agent
# retries. After every round: every point the agent was told COMMITTED is
# listed; every listed point reads back exactly the source state of its
# round (sha256 of its disks); nothing half-written is listed; the store
# takes the next point. POWER_ROUNDS (default 20) sets the rounds.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/lib/powerfs.sh"
PFS_LOG=$T/powerfs.log
BACK=$T/back MNT=$T/mnt
G=pl
ROUNDS=${POWER_ROUNDS:-20}

powerfs_mount "$BACK" "$MNT" || die "powerfs did not mount"
make_pki
write_receiver_conf 2M
sed -i "s|^store = .*|store = $MNT/store|" "$T/receiver.conf"
mkdir -p "$MNT/store" "$T/src" && sync "$MNT/store" "$MNT"
mkfifo "$T/never"
qemu-img create -q -f qcow2 "$T/src/d1.qcow2" 8M
truncate -s 8M "$T/src/d0.raw"
write_agent_conf "$T/agent.conf" agent1 $G d0="$T/src/d0.raw:raw" d1="$T/src/d1.qcow2:qcow2"

# state_hash FILE FMT: sha256 of the image's content
state_hash() {
	qemu-img convert -U -f "$2" -O raw "$1" "$T/hash.raw" && sha256sum < "$T/hash.raw" | cut -c1-64
}
# change ROUND: fresh random data in both disks; STATE[ROUND] their hashes
change() {
	random_writes "$T/src/d0.raw" raw 24 65536 $(($1 * 2)) >/dev/null
	random_writes "$T/src/d1.qcow2" qcow2 24 65536 $(($1 * 2 + 1)) >/dev/null
	STATE[$1]="$(state_hash "$T/src/d0.raw" raw) $(state_hash "$T/src/d1.qcow2" qcow2)"
}
# point_state POINT: the hashes of what the store reads back for the point
point_state() {
	local d0 d1
	d0=$(state_hash "$MNT/store/$G/disks/d0/$1.qcow2" qcow2) || return 1
	d1=$(state_hash "$MNT/store/$G/disks/d1/$1.qcow2" qcow2) || return 1
	echo "$d0 $d1"
}
# listed: the listed points as ID@COMMITTED_NS: a point lost and its id
# taken again by the next commit is another token
listed() { points_json $G | jq -r '.points[] | "\(.id)@\(.committed_ns)"' | tr '\n' ' '; }
stopped() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = T ]; }

# power_cut KIDS: the layer, the receiver and its children KIDS all at once
# (builtins only: no fork between them); then the durable state mounted
# again. Status: the layer's.
power_cut() {
	local kids=$1 rc
	kill -USR1 "$PFS_PID"
	# shellcheck disable=SC2086
	kill -9 "$RX_PID" $kids 2>/dev/null
	wait "$RX_PID" 2>/dev/null
	RX_PID=
	powerfs_wait
	rc=$?
	powerfs_mount "$BACK" "$MNT" || die "powerfs did not mount again"
	return $rc
}

declare -A STATE ACKED ACK_TOKEN ROUND_OF
# ack JSON ROUND: the point the agent was told COMMITTED, if any, in ACK
ack() {
	ACK=$(jq -r 'select(.ok == true) | .point' <<<"$1" 2>/dev/null | tail -1)
	[ -n "$ACK" ] && ACKED[$ACK]=$2
	return 0
}

# acked_listed LABEL TOKENS: every acknowledged point is among TOKENS, as
# the very point first listed under its id.
acked_listed() {
	local p t
	for p in "${!ACKED[@]}"; do
		t=${ACK_TOKEN[$p]:-}
		if [ -z "$t" ]; then
			t=$(grep -o "\b$p@[0-9]*" <<<"$2")
			ACK_TOKEN[$p]=$t
		fi
		[ -n "$t" ] && [[ " $2 " == *" $t "* ]] ||
			not_ok "$1: acknowledged point $p (${t:-never listed}) is not listed"
	done
}

# verify ROUND: the checks after a round (see the head of the file)
VERIFIED=" "
LISTED_BEFORE=
verify() {
	local r=$1 ids t got
	ids=$(listed) || { not_ok "round $r: points cannot be listed"; return; }
	acked_listed "round $r" "$ids"
	for t in $LISTED_BEFORE; do
		[[ " $ids " == *" $t "* ]] || not_ok "round $r: point $t listed before is gone"
	done
	for t in $ids; do
		[[ "$VERIFIED" == *" $t "* ]] && continue
		ROUND_OF[$t]=$r
		echo "round $r: point $t: ${STATE[$r]}${ACKED[${t%@*}]:+ (acknowledged)}" >> "$T/states.log"
		got=$(point_state "${t%@*}")
		check_eq "round $r: listed point ${t%@*} reads back its source state" "${STATE[$r]}" "$got"
		VERIFIED="$VERIFIED$t "
	done
	LISTED_BEFORE=$ids
}

start_receiver
# The group's directory made, its parent not fsynced: what a receiver
# killed between the two leaves (or an admin's mkdir). The store must not
# take it for durable.
mkdir "$MNT/store/$G"
change 0
RES=$(agent_once "$T/agent.conf") || die "seed failed"
ack "$RES" 0
verify 0

STAGES=(commit commit-data commit-catalog)
RUN_US=0
RANDOM=5
cuts=0 acked_cut=0 listed_unacked=0
for r in $(seq 1 "$ROUNDS"); do
	change "$r"
	stage=${STAGES[$((r % 3))]}
	# Odd rounds: cut while stopped at the stage; even ones: let it run
	# again and cut after a random delay of up to 4 ms (what is left of a
	# commit takes 1 to 3 ms here: the rounds' lines show whether the
	# agent got its COMMITTED).
	delay=0
	[ $((r % 2)) = 0 ] && delay=$(printf '0.%06d' $((RANDOM * 4000 / 32768)))
	stop_receiver
	NESTOR_TEST_PAUSE=$stage start_receiver
	before=$(listed)
	agent_once "$T/agent.conf" > "$T/round$r.json" &
	apid=$!
	wait_until 60 stopped "$RX_PID" || die "round $r: the receiver never stopped at $stage"
	kids=$(pgrep -P "$RX_PID" | tr '\n' ' ')
	if [ "$delay" != 0 ]; then
		kill -CONT "$RX_PID"
		read -rt "$delay" <> "$T/never" # a sleep without a fork
	fi
	check "round $r: power cut at $stage + ${delay}s, the layer rolled back cleanly" \
		power_cut "$kids"
	cuts=$((cuts + 1))
	wait $apid 2>/dev/null
	ack "$(cat "$T/round$r.json")" "$r"
	p=$ACK
	[ -n "$p" ] && acked_cut=$((acked_cut + 1))
	start_receiver
	after=$(listed)
	acked_listed "round $r, after the restart" "$after"
	echo "round $r: cut at $stage + ${delay}s; acknowledged before the cut: ${p:-none};" \
		"$(tail -n 2 "$PFS_LOG" | grep -o '[0-9]* directories and [0-9]* files')" \
		"rolled back; listed: $after"
	# Stopped before commit_data: nothing of the point may be listed. Stopped
	# after the catalog was saved: the point must be listed, acknowledged or not.
	[ "$delay" = 0 ] && [ "$stage" = commit ] &&
		check_eq "round $r: a point cut before its data was sealed is not listed" "$before" "$after"
	if [ "$delay" = 0 ] && [ "$stage" = commit-catalog ]; then
		check "round $r: a point cut after its catalog was saved is listed" \
			[ "$(wc -w <<<"$after")" -gt "$(wc -w <<<"$before")" ]
	fi
	[ "$(wc -w <<<"$after")" -gt "$(wc -w <<<"$before")" ] && [ -z "$p" ] &&
		listed_unacked=$((listed_unacked + 1))
	# the agent retries, the source unchanged: the store takes the point
	t0=${EPOCHREALTIME//[!0-9]/}
	if RES=$(agent_once "$T/agent.conf") && ack "$RES" "$r" && [ -n "$ACK" ]; then
		t0=$((${EPOCHREALTIME//[!0-9]/} - t0))
		[ "$t0" -gt "$RUN_US" ] && RUN_US=$t0 # the longest run: a whole point
		ok "round $r: the retry committed point $ACK"
		# Cut with every disk done and durable (pending.json says so): the
		# retry resumes the point and sends no data again.
		if [ "$delay" = 0 ] && [ "$stage" != commit-catalog ]; then
			check_eq "round $r: the retry resumed the point, sending no data" "true 0" \
				"$(jq -r '"\(.resumed) \(.bytes_data)"' <<<"$RES")"
		fi
	else
		not_ok "round $r: the retry after the cut failed"
		tail -n 5 "$T/agent.log" "$T/receiver.log"
	fi
	verify "$r"
done
echo "power cuts: $cuts; acknowledged before a cut: $acked_cut; listed but not acknowledged: $listed_unacked"

# Cuts during the transfer (TRANSFER_ROUNDS, default 6): anywhere in the run,
# checkpoints included (pending.json records durable progress every 2 MiB).
for r in $(seq $((ROUNDS + 1)) $((ROUNDS + ${TRANSFER_ROUNDS:-6}))); do
	change "$r"
	before=$(listed)
	agent_once "$T/agent.conf" > "$T/round$r.json" &
	apid=$!
	delay=$((RANDOM * RUN_US / 32768 * 3 / 4))
	delay=$(printf '%d.%06d' $((delay / 1000000)) $((delay % 1000000)))
	read -rt "$delay" <> "$T/never"
	kids=$(pgrep -P "$RX_PID" | tr '\n' ' ')
	check "round $r: power cut during the transfer (+${delay}s), the layer rolled back cleanly" \
		power_cut "$kids"
	wait $apid 2>/dev/null
	ack "$(cat "$T/round$r.json")" "$r"
	p=$ACK
	start_receiver
	after=$(listed)
	acked_listed "round $r, after the restart" "$after"
	echo "round $r: cut at +${delay}s; acknowledged before the cut: ${p:-none};" \
		"$(tail -n 2 "$PFS_LOG" | grep -o '[0-9]* directories and [0-9]* files')" \
		"rolled back; listed: $after"
	if RES=$(agent_once "$T/agent.conf") && ack "$RES" "$r" && [ -n "$ACK" ]; then
		ok "round $r: the retry committed point $ACK (resumed: $(jq .resumed <<<"$RES"))"
	else
		not_ok "round $r: the retry after the cut failed"
		tail -n 5 "$T/agent.log" "$T/receiver.log"
	fi
	verify "$r"
done
ROUNDS=$((ROUNDS + ${TRANSFER_ROUNDS:-6}))

# A last clean restart of everything: every point still reads back its state.
stop_receiver
powerfs_cleanup
powerfs_mount "$BACK" "$MNT" || die "powerfs did not mount at the end"
start_receiver
bad=0
for t in $(listed); do
	[ "$(point_state "${t%@*}")" = "${STATE[${ROUND_OF[$t]}]}" ] ||
		{ bad=$((bad + 1)); echo "point $t differs"; }
done
check_eq "at the end, every listed point ($(listed | wc -w)) reads back its state" 0 $bad
check "at least one acknowledged point per round" [ "${#ACKED[@]}" -ge $((ROUNDS + 1)) ]
stop_receiver
finish
