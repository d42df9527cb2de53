#!/bin/bash
# Seed benchmark (issue 17, "bench/ uses each rival's best form"): one 4 GiB
# realistic raw image (half OS binaries, half holes and written zeros).
# Every contender runs BENCH_REPEAT times, round-robin (one run of each per
# repetition, so a change of the machine's load falls on all of them), with
# `sync` and a settle before each timed run; the median counts. Rivals, each
# in its best form here: zstd -T0 -1/-3 | ssh | zstd -d -o FILE (sparse),
# rsync -S, qemu-img convert pulling the source over NBD through ssh; ssh
# with the fastest cipher the private sshd accepts (measured first). Floors
# (lower bounds, not rivals): cp --sparse=always, local qemu-img convert -O
# qcow2, and the CPU cost of zstd + AES-128-GCM + XXH3 at both ends
# (bench/floor.c). Then the 1% incremental against rsync --inplace
# --no-whole-file, and a 64 GiB sparse image seeded by Nestor with its peak
# memory. Prints the tables with the strongest rival named and PASS/MISS.
#
# Every destination is durable at the end, like a Nestor point (fsync or
# `sync FILE`). Sources are read from the page cache by every tool alike.
# Environment: BENCH_CACHE (image cache, default /var/tmp/nestor-bench),
# BENCH_SIZE_MIB (4096), BENCH_BIG_MIB (65536), BENCH_LEVEL (Nestor's
# compress_level, -1: zstd's fast level), BENCH_REPEAT (3), KEEP=1 keeps the
# scratch dir, NESTOR_BEFORE (another nestor binary, e.g. main's: its seed
# runs as one more contender, its own receiver and store, in the same
# rotation, so a change is measured side by side under the same load),
# BENCH_SEED_ONLY=1 (the seed table only: no incremental, no sparse seed),
# BENCH_ONLY (a subset of the rivals and floors, e.g. "pipe1 qimg cpu").
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NESTOR=${NESTOR:-$ROOT/build/nestor}
CACHE=${BENCH_CACHE:-/var/tmp/nestor-bench}
SIZE_MIB=${BENCH_SIZE_MIB:-4096}
BIG_MIB=${BENCH_BIG_MIB:-65536}
LEVEL=${BENCH_LEVEL:--1}
REPEAT=${BENCH_REPEAT:-3}
W=$(mktemp -d /var/tmp/nestor-bench-run.XXXXXX)
# The PKI and configuration writers of the integration tests, in this run's
# scratch dir (on /var/tmp for disk speed); what follows replaces lib.sh's
# cleanup, die and receiver start/stop with the bench's own.
# shellcheck source-path=SCRIPTDIR/../tests/integration source=lib.sh
NESTOR_SCRATCH=$W . "$ROOT/tests/integration/lib.sh"
SSHD_PID=
RX_PID=
RX0_PID=
NBD_PID=
BEFORE=${NESTOR_BEFORE:-}
SEED_ONLY=${BENCH_SEED_ONLY:-0}

cleanup() {
	[ -n "$RX_PID" ] && kill -TERM "$RX_PID" 2>/dev/null && wait "$RX_PID" 2>/dev/null
	[ -n "$RX0_PID" ] && kill -TERM "$RX0_PID" 2>/dev/null && wait "$RX0_PID" 2>/dev/null
	[ -n "$NBD_PID" ] && kill "$NBD_PID" 2>/dev/null && wait "$NBD_PID" 2>/dev/null
	[ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
	[ "${KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
# shellcheck source-path=SCRIPTDIR source=sshd.sh
. "$ROOT/bench/sshd.sh"

for t in rsync zstd ssh /usr/sbin/sshd /usr/bin/time qemu-img qemu-nbd jq python3 cc; do
	command -v "$t" >/dev/null || die "$t is missing (deploy/install-deps.sh)"
done
[ -x "$NESTOR" ] || die "$NESTOR not built (make all)"
[ -z "$BEFORE" ] || [ -x "$BEFORE" ] || die "NESTOR_BEFORE=$BEFORE is not an executable"
# The CPU floor, built from Nestor's own helpers (make all built them).
cc -O2 -std=gnu11 -Wall -Wextra -Werror -I"$ROOT" -o "$W/floor" "$ROOT/bench/floor.c" \
	"$ROOT/build/libproto.a" "$ROOT/build/libcommon.a" -lzstd -lcrypto -lxxhash -lpthread ||
	die "cannot build bench/floor.c"

# ---- images -----------------------------------------------------------------
mkdir -p "$CACHE"
IMG=$CACHE/real-$SIZE_MIB.raw
BIG=$CACHE/sparse-$BIG_MIB.raw
if [ ! -f "$IMG" ]; then
	log "building $IMG (cached for the next runs)"
	python3 "$ROOT/bench/mkimage.py" realistic "$IMG" "$SIZE_MIB" >&2 || die "image build failed"
fi
if [ ! -f "$BIG" ]; then
	log "building $BIG (cached for the next runs)"
	python3 "$ROOT/bench/mkimage.py" sparse "$BIG" "$BIG_MIB" "$IMG" 1024 >&2 ||
		die "sparse image build failed"
fi
SRC=$W/src.raw
cp --sparse=always "$IMG" "$SRC" || die "copy of $IMG failed"
cat "$SRC" > /dev/null # every tool reads from the page cache alike
DATA_MIB=$(( $(du -B1M "$SRC" | cut -f1) ))

# ---- sshd on localhost ----------------------------------------------------
bench_sshd_start
bench_ssh_cipher 512

# ---- contenders -------------------------------------------------------------
# run_NAME: one timed run of the contender (settled first), its seconds on
# stdout; its output is checked against the source afterwards. BYTES[NAME]
# the bytes it put on the wire (ssh stream) where known, DU[NAME] the MiB
# its destination allocates.
declare -A BYTES=() DU=() TIMES=() LABEL=()
FLOOR_LINE=-
CUR_LOG=
timed() { # timed CMD...: settle, run, print seconds; dies on failure
	local t0
	settle
	t0=$(now)
	"$@" > "$CUR_LOG" 2>&1 || { cat "$CUR_LOG" >&2; die "$* failed"; }
	since "$t0"
}
same_raw() { cmp -s "$SRC" "$1" || die "$2: copy differs from the source"; }

pipe_run() { # pipe_run LEVEL
	zstd -q -T0 -"$1" -c "$SRC" |
		$SSH "$HOST" "zstd -q -d -f -o $W/pipe.raw && sync $W/pipe.raw"
}
rsync_seed_run() {
	rsync -e "$SSH" --sparse --fsync --stats "$SRC" "$HOST:$W/rsync.raw"
}
rsync_bytes() { awk '/^Total bytes sent:/ { gsub(",", "", $4); print $4 }' "$1"; }
qimg_run() { bench_qimg_pull "$W/qimg.raw"; }
cp_run() { cp --sparse=always "$SRC" "$W/cp.raw" && sync "$W/cp.raw"; }
qconv_run() {
	qemu-img convert -W -m 16 -t writeback -f raw -O qcow2 "$SRC" "$W/conv.qcow2" && sync "$W/conv.qcow2"
}

# ---- Nestor -----------------------------------------------------------------
make_pki || die "nestor-pki.sh failed"
# The receiver's checkpoint_interval (64M) is its default.
write_receiver_conf
COMPRESS=$LEVEL write_agent_conf "$W/agent.conf" agent1 bench d="$SRC:raw"
printf '\n[group big]\n\n[disk big d]\npath = %s\nformat = raw\n' "$BIG" >> "$W/agent.conf"
# rx_start BINARY CONF LOG: a receiver, listening, its pid in RX_STARTED.
rx_start() {
	"$1" receiver --config "$2" >>"$3" 2>&1 &
	RX_STARTED=$!
	for i in $(seq 1 100); do
		grep -q listening "$3" 2>/dev/null && return 0
		sleep 0.05
	done
	cat "$3" >&2
	die "the receiver of $2 did not start"
}
start_receiver() {
	rx_start "$NESTOR" "$W/receiver.conf" "$W/receiver.log"
	RX_PID=$RX_STARTED
}
# NESTOR_BEFORE's receiver: its own port, store and agent state.
start_receiver0() {
	local port0
	port0=$(free_port)
	mkdir -p "$W/store0" "$W/state0"
	sed "s|^listen = .*|listen = 127.0.0.1:$port0|; s|^store = .*|store = $W/store0|" \
		"$W/receiver.conf" > "$W/receiver0.conf"
	sed "s|^receiver = .*|receiver = 127.0.0.1:$port0|; s|^state_dir = .*|state_dir = $W/state0|" \
		"$W/agent.conf" > "$W/agent0.conf"
	rx_start "$BEFORE" "$W/receiver0.conf" "$W/receiver0.log"
	RX0_PID=$RX_STARTED
}
stop_receiver() {
	RX_HWM=$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$RX_PID/status")
	kill -TERM "$RX_PID" && wait "$RX_PID" 2>/dev/null
	RX_PID=
}
nestor_run() { # nestor_run GROUP TAG -> sets N_T N_B N_RSS N_JSON
	local t0
	settle
	t0=$(now)
	/usr/bin/time -f "%M" -o "$W/$2.rss" "${NESTOR_BIN:-$NESTOR}" agent --config "${AGENT_CONF:-$W/agent.conf}" \
		--once --json --no-progress --group "$1" > "$W/$2.json" 2>>"$W/agent.log" ||
		{ tail -20 "$W/agent.log" >&2; die "nestor agent ($2) failed"; }
	N_T=$(since "$t0")
	log "  $N_T s"
	N_JSON=$(tail -1 "$W/$2.json")
	N_B=$(echo "$N_JSON" | jq .bytes_wire)
	N_RSS=$(( $(tail -1 "$W/$2.rss") / 1024 ))
	[ "$(echo "$N_JSON" | jq .ok)" = true ] || die "nestor $2: $N_JSON"
}
same_point() { # same_point GROUP IMAGE POINT [STORE]
	qemu-img compare -q -f raw -F qcow2 "$2" "${4:-$W/store}/$1/disks/d/$3.qcow2"
}

# ---- seed: every contender once per repetition, round-robin ----------------
T_RUN=
timed() { # timed LOG CMD...: settle, run, T_RUN = seconds; dies on failure
	local out=$1 t0
	shift
	settle
	t0=$(now)
	"$@" > "$out" 2>&1 || { cat "$out" >&2; die "$* failed"; }
	T_RUN=$(since "$t0")
}
record() { TIMES[$1]="${TIMES[$1]:-} $2"; log "  $1: $2 s"; }
du_mib() { du -B1M "$1" | cut -f1; }

LABEL[pipe1]="zstd -T0 -1 | ssh | zstd -d -o (sparse)"
LABEL[pipe3]="zstd -T0 -3 | ssh | zstd -d -o (sparse)"
LABEL[rsync]="rsync -S --fsync, ssh"
LABEL[qimg]="qemu-img convert -W, nbd over ssh -R"
# compress_adapt is the agent's default (yes since session 12) unless
# BENCH_LEVEL sets it: $'-1\ncompress_adapt = no' for a fixed level
ADAPT=", adaptive"
case $LEVEL in *compress_adapt*) ADAPT= ;; esac
LABEL[nestor]="nestor seed (zstd $LEVEL$ADAPT, TLS 1.3, XXH3)"
LABEL[nestor0]="nestor before: $(basename "$BEFORE")"
LABEL[cp]="cp --sparse=always + sync"
LABEL[qconv]="qemu-img convert -O qcow2 -W, local"
LABEL[cpu]="CPU: zstd $LEVEL+AES-128-GCM+XXH3, both ends"
RIVALS="pipe1 pipe3 rsync qimg"
FLOORS="cp qconv cpu"
CONTENDERS=(pipe1 pipe3 rsync qimg nestor cp qconv cpu)
[ -z "$BEFORE" ] || CONTENDERS=(pipe1 pipe3 rsync qimg nestor nestor0 cp qconv cpu)
# BENCH_ONLY="pipe1 qimg cpu": only these rivals and floors (a shorter run
# on a loaded machine; the table names the strongest of those that ran).
if [ -n "${BENCH_ONLY:-}" ]; then
	keep() { local c out=; for c in $1; do case " $BENCH_ONLY " in *" $c "*) out="$out $c";; esac; done; echo "${out# }"; }
	RIVALS=$(keep "$RIVALS")
	FLOORS=$(keep "$FLOORS")
	read -r -a CONTENDERS <<< "$RIVALS nestor${BEFORE:+ nestor0} $FLOORS"
fi
NCPU=$(nproc)

seed_one() { # seed_one NAME REP
	local c=$1 rep=$2 f
	log "seed: ${LABEL[$c]} ($rep/$REPEAT)"
	case $c in
	pipe1 | pipe3)
		f=$W/pipe.raw
		timed "$W/$c.log" pipe_run "${c#pipe}"
		;;
	rsync)
		f=$W/rsync.raw
		timed "$W/rsync-seed.log" rsync_seed_run
		BYTES[rsync]=$(rsync_bytes "$W/rsync-seed.log")
		;;
	qimg)
		f=$W/qimg.raw
		timed "$W/qimg.log" qimg_run
		# NBD reads every allocated byte (block status skips the holes),
		# uncompressed, through the tunnel.
		BYTES[qimg]=$(du -B1 "$SRC" | cut -f1)
		;;
	cp)
		f=$W/cp.raw
		timed "$W/cp.log" cp_run
		;;
	qconv)
		timed "$W/qconv.log" qconv_run
		record qconv "$T_RUN"
		qemu-img compare -q -f raw -F qcow2 "$SRC" "$W/conv.qcow2" || die "qemu-img convert: copy differs"
		DU[qconv]=$(du_mib "$W/conv.qcow2")
		rm -f "$W/conv.qcow2"
		return
		;;
	cpu)
		"$W/floor" "$SRC" "$LEVEL" > "$W/floor.log" || die "bench/floor failed"
		FLOOR_LINE=$(cat "$W/floor.log")
		log "  $FLOOR_LINE"
		record cpu "$(awk -v n="$NCPU" '{ for (i = 1; i <= NF; i++) if ($i ~ /^total=/) {
			sub("total=", "", $i); printf "%.2f", $i / n } }' "$W/floor.log")"
		return
		;;
	nestor)
		sed "s/^\[group bench\]/[group bench$rep]/; s/^\[disk bench d\]/[disk bench$rep d]/" \
			"$W/agent.conf" > "$W/agent-bench$rep.conf"
		AGENT_CONF=$W/agent-bench$rep.conf nestor_run "bench$rep" seed
		record nestor "$N_T"
		BYTES[nestor]=$N_B
		[ "${NS_SEED_RSS:-0}" -ge "$N_RSS" ] || NS_SEED_RSS=$N_RSS
		same_point "bench$rep" "$SRC" 1 || die "nestor point 1 differs from the source"
		DU[nestor]=$(du -cB1M "$W/store/bench$rep/disks" | tail -1 | cut -f1)
		return
		;;
	nestor0)
		sed "s/^\[group bench\]/[group bench$rep]/; s/^\[disk bench d\]/[disk bench$rep d]/" \
			"$W/agent0.conf" > "$W/agent0-bench$rep.conf"
		NESTOR_BIN=$BEFORE AGENT_CONF=$W/agent0-bench$rep.conf nestor_run "bench$rep" seed0
		record nestor0 "$N_T"
		BYTES[nestor0]=$N_B
		same_point "bench$rep" "$SRC" 1 "$W/store0" || die "nestor before: point 1 differs from the source"
		DU[nestor0]=$(du -cB1M "$W/store0/bench$rep/disks" | tail -1 | cut -f1)
		return
		;;
	esac
	record "$c" "$T_RUN"
	same_raw "$f" "${LABEL[$c]}"
	DU[$c]=$(du_mib "$f")
	rm -f "$f"
}

start_receiver
[ -z "$BEFORE" ] || start_receiver0
bench_nbd_serve -f raw "$SRC"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq 1 "$REPEAT"); do
	# Rotate the order too, so no contender always follows the same one.
	n=${#CONTENDERS[@]}
	for i in $(seq 0 $((n - 1))); do
		seed_one "${CONTENDERS[$(((i + rep - 1) % n))]}" "$rep"
	done
done
kill "$NBD_PID" && wait "$NBD_PID" 2>/dev/null
NBD_PID=
for l in 1 3; do BYTES[pipe$l]=$(zstd -q -T0 -"$l" -c "$SRC" | wc -c); done
if [ -n "$RX0_PID" ]; then
	kill -TERM "$RX0_PID" && wait "$RX0_PID" 2>/dev/null
	RX0_PID=
fi

# ---- 1% incremental, the same change set for both -----------------------------
# rsync at its best settings: in place, the delta algorithm even locally,
# blocks of the change set's granularity (the image changes in aligned 64
# KiB blocks; rsync's own choice for 4 GiB is the same), the fastest cipher.
# No -z: the changed blocks are random data. -I: the change set can land in
# the same second as the previous copy, and rsync's size + mtime check
# would then skip the file (seen: a 0.9 s "incremental" that sent nothing).
rsync_inc_run() {
	rsync -e "$SSH" --inplace --no-whole-file -B 65536 -I --fsync --stats "$SRC" "$HOST:$W/rsinc.raw"
}
LABEL[rsinc]="rsync --inplace --no-whole-file -B 64K -I, ssh"
LABEL[ninc]="nestor incremental"
g=bench$REPEAT
inc_rsync() {
	log "incremental: ${LABEL[rsinc]} ($rep/$REPEAT)"
	timed "$W/rsync-inc.log" rsync_inc_run
	record rsinc "$T_RUN"
	BYTES[rsinc]=$(rsync_bytes "$W/rsync-inc.log")
	same_raw "$W/rsinc.raw" "rsync incremental"
}
inc_nestor() {
	log "incremental: nestor ($rep/$REPEAT)"
	AGENT_CONF=$W/agent-$g.conf nestor_run "$g" inc
	record ninc "$N_T"
	BYTES[ninc]=$N_B
	[ "${NS_INC_RSS:-0}" -ge "$N_RSS" ] || NS_INC_RSS=$N_RSS
	[ "$(echo "$N_JSON" | jq .incremental)" = true ] || die "nestor's cycle was not incremental"
	same_point "$g" "$SRC" $((rep + 1)) || die "nestor point $((rep + 1)) differs from the source"
}
[ "$SEED_ONLY" = 1 ] || cp --sparse=always "$SRC" "$W/rsinc.raw" ||
	die "copy for rsync's incremental failed"
for rep in $(seq 1 "$REPEAT"); do
	[ "$SEED_ONLY" = 1 ] && break
	CHANGED=$(python3 "$ROOT/bench/mkimage.py" change "$SRC" 1 "$((6 + rep))") ||
		die "changing the image failed"
	log "1% change set: $CHANGED bytes"
	if [ $((rep % 2)) = 1 ]; then inc_rsync; inc_nestor; else inc_nestor; inc_rsync; fi
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
stop_receiver
RX_HWM_4G=$RX_HWM
rm -f "$W/rsinc.raw"

# ---- 64 GiB sparse image ------------------------------------------------------
if [ "$SEED_ONLY" != 1 ]; then
	start_receiver
	log "nestor seed of the $BIG_MIB MiB sparse image"
	cat "$BIG" > /dev/null
	nestor_run big big
	NS_BIG_T=$N_T NS_BIG_B=$N_B NS_BIG_RSS=$N_RSS
	BIG_DATA=$(echo "$N_JSON" | jq .bytes_data)
	same_point big "$BIG" 1 || die "nestor point of the sparse image differs from the source"
	stop_receiver
	RX_HWM_BIG=$RX_HWM
fi

# ---- tables ------------------------------------------------------------------------
mib() { [ -n "$1" ] && awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }' || echo -; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { print ((dir == "ge" ? v >= t : v <= t) ? "PASS" : "MISS") }'; }
runs() { echo "${TIMES[$1]}" | sed 's/^ //; s/ /, /g'; }
declare -A MED=()
for c in "${!TIMES[@]}"; do MED[$c]=$(median "${TIMES[$c]}"); done
BEST= BEST_T=
for c in $RIVALS; do
	if faster "${MED[$c]}" "$BEST_T"; then BEST=$c BEST_T=${MED[$c]}; fi
done
SEED_X=$(ratio "$BEST_T" "${MED[nestor]}")
[ -z "$BEFORE" ] || SEED0_X=$(ratio "$BEST_T" "${MED[nestor0]}")
INC_X=$(ratio "${MED[rsinc]:-0}" "${MED[ninc]:-0}")
row() { # row KIND NAME RATIO_HEADER_VALUE
	printf '%-7s %-46s %8s  %-22s %9s %9s %9s\n' "$1" "${LABEL[$2]}" "${MED[$2]}" "$(runs "$2")" \
		"$(mib "${BYTES[$2]:-}")" "${DU[$2]:--}" "$3"
}

echo
echo "Seed: $(nproc) CPUs, image $SIZE_MIB MiB raw ($DATA_MIB MiB allocated), median of $REPEAT runs per contender, round-robin; ssh cipher $CIPHER (fastest of those tried: $CIPHER_LINE per 512 MiB); load average $LOAD_START at the start, $LOAD_END at the end"
printf '%-7s %-46s %8s  %-22s %9s %9s %9s\n' "" "contender" "median s" "runs s" "MiB wire" "MiB dest" "x nestor"
for c in $RIVALS; do row rival "$c" "$(ratio "${MED[$c]}" "${MED[nestor]}")"; done
row nestor nestor "1.00"
[ -z "$BEFORE" ] || row before nestor0 "$(ratio "${MED[nestor0]}" "${MED[nestor]}")"
for c in $FLOORS; do row floor "$c" "$(ratio "${MED[$c]}" "${MED[nestor]}")"; done
echo "  (x nestor: the contender's median over Nestor's; floor cpu: thread CPU seconds / $NCPU cores: $FLOOR_LINE)"
if [ "$SEED_ONLY" = 1 ]; then
	echo
	echo "targets:"
	printf '  %-66s %8s  %s\n' "seed >= 2x the strongest rival (${LABEL[$BEST]}, ${BEST_T} s)" "${SEED_X}x" "$(verdict "$SEED_X" 2 ge)"
	[ -z "$BEFORE" ] ||
		printf '  %-66s %8s  %s\n' "before: seed >= 2x the strongest rival" "${SEED0_X}x" "$(verdict "$SEED0_X" 2 ge)"
	exit 0
fi
echo
echo "1% incremental ($CHANGED bytes changed per run, a new change set per repetition, order alternating):"
printf '%-7s %-46s %8s  %-22s %9s %9s %9s\n' "" "contender" "median s" "runs s" "MiB wire" "" "x nestor"
row rival rsinc "$INC_X"
row nestor ninc "1.00"
echo
echo "Sparse: nestor seed of $BIG_MIB MiB ($(mib "$BIG_DATA") MiB data): $NS_BIG_T s, $(mib "$NS_BIG_B") MiB wire, agent peak RSS $NS_BIG_RSS MiB"
printf 'receiver peak RSS: %s MiB (%s MiB runs), %s MiB (sparse seed); agent peak RSS %s MiB seed, %s MiB incremental\n' \
	"$RX_HWM_4G" "$SIZE_MIB" "$RX_HWM_BIG" "$NS_SEED_RSS" "$NS_INC_RSS"
echo
echo "targets:"
printf '  %-66s %8s  %s\n' "seed >= 2x the strongest rival (${LABEL[$BEST]}, ${BEST_T} s)" "${SEED_X}x" "$(verdict "$SEED_X" 2 ge)"
[ -z "$BEFORE" ] ||
	printf '  %-66s %8s  %s\n' "before: seed >= 2x the strongest rival" "${SEED0_X}x" "$(verdict "$SEED0_X" 2 ge)"
printf '  %-66s %8s  %s\n' "1% incremental >= 10x rsync at its best (${MED[rsinc]} s)" "${INC_X}x" "$(verdict "$INC_X" 10 ge)"
printf '  %-66s %8s  %s\n' "agent peak RSS <= 64 MiB ($SIZE_MIB MiB)" "$NS_SEED_RSS" "$(verdict "$NS_SEED_RSS" 64 le)"
printf '  %-66s %8s  %s\n' "agent peak RSS <= 64 MiB ($BIG_MIB MiB sparse)" "$NS_BIG_RSS" "$(verdict "$NS_BIG_RSS" 64 le)"
printf '  %-66s %8s  %s\n' "receiver peak RSS <= 64 MiB ($SIZE_MIB MiB)" "$RX_HWM_4G" "$(verdict "$RX_HWM_4G" 64 le)"
printf '  %-66s %8s  %s\n' "receiver peak RSS <= 64 MiB ($BIG_MIB MiB sparse)" "$RX_HWM_BIG" "$(verdict "$RX_HWM_BIG" 64 le)"
