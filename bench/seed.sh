#!/bin/bash
# Seed benchmark (issue "Foundation", acceptance 7): one run, one 4 GiB
# realistic raw image (half OS binaries, half holes and written zeros), side
# by side: Nestor's seed and 1% incremental against rsync over ssh and a
# zstd | ssh | zstd -d | dd pipeline, then a 64 GiB sparse image seeded by
# Nestor with its peak memory. Prints one table with PASS/MISS per target.
#
# Every destination is durable at the end, like a Nestor point: rsync runs
# with --fsync, dd with conv=fsync. Sources are read from the page cache by
# every tool alike. Environment: BENCH_CACHE (image cache, default
# /var/tmp/nestor-bench), BENCH_SIZE_MIB (4096), BENCH_BIG_MIB (65536),
# BENCH_LEVEL (Nestor's compress_level, -1: zstd's fast level), BENCH_REPEAT
# (2: every contender runs that many times, its fastest run counts),
# KEEP=1 keeps the scratch dir.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NESTOR=${NESTOR:-$ROOT/build/nestor}
CACHE=${BENCH_CACHE:-/var/tmp/nestor-bench}
SIZE_MIB=${BENCH_SIZE_MIB:-4096}
BIG_MIB=${BENCH_BIG_MIB:-65536}
LEVEL=${BENCH_LEVEL:--1}
REPEAT=${BENCH_REPEAT:-2}
W=$(mktemp -d /var/tmp/nestor-bench-run.XXXXXX)
# The PKI and configuration writers of the integration tests, in this run's
# scratch dir (on /var/tmp for disk speed); what follows replaces lib.sh's
# cleanup, die and receiver start/stop with the bench's own.
# shellcheck source-path=SCRIPTDIR/../tests/integration source=lib.sh
NESTOR_SCRATCH=$W . "$ROOT/tests/integration/lib.sh"
SSHD_PID=
RX_PID=

cleanup() {
	[ -n "$RX_PID" ] && kill -TERM "$RX_PID" 2>/dev/null && wait "$RX_PID" 2>/dev/null
	[ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
	[ "${KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
die() { echo "bench: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
log() { echo "bench: $*" >&2; }
# Before every timed run: no writeback or discard left over from the
# previous one (the file system here is mounted with online discard).
settle() { sync; sleep 1; }
faster() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(b == "" || a < b) }'; }

for t in rsync zstd ssh /usr/sbin/sshd /usr/bin/time qemu-img jq python3; do
	command -v "$t" >/dev/null || die "$t is missing (deploy/install-deps.sh)"
done
[ -x "$NESTOR" ] || die "$NESTOR not built (make all)"

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
mkdir -p "$W/ssh" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$W/ssh/host_key" || die "ssh-keygen failed"
ssh-keygen -q -t ed25519 -N '' -f "$W/ssh/id" || die "ssh-keygen failed"
cp "$W/ssh/id.pub" "$W/ssh/authorized_keys"
SPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$W/ssh/sshd_config" <<EOC
Port $SPORT
ListenAddress 127.0.0.1
HostKey $W/ssh/host_key
AuthorizedKeysFile $W/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $W/ssh/sshd.pid
EOC
/usr/sbin/sshd -D -e -f "$W/ssh/sshd_config" 2>"$W/ssh/sshd.log" &
SSHD_PID=$!
# The fastest of OpenSSH's ciphers here (AES-NI); no ssh compression: the
# tools compress themselves.
SSH="ssh -p $SPORT -i $W/ssh/id -c aes128-gcm@openssh.com -o Compression=no -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
for i in $(seq 1 50); do
	$SSH root@127.0.0.1 true 2>/dev/null && break
	[ "$i" = 50 ] && { cat "$W/ssh/sshd.log" >&2; die "sshd on port $SPORT does not answer"; }
	sleep 0.1
done

# ---- rsync seed -------------------------------------------------------------
mkdir -p "$W/rsync"
rsync_run() { # rsync_run LOG -> time on stdout
	local t0=$(now)
	rsync -e "$SSH" --sparse --inplace --fsync --compress --compress-choice=zstd \
		--stats "$SRC" "root@127.0.0.1:$W/rsync/disk.raw" > "$1" 2>&1 || { cat "$1" >&2; die "rsync failed"; }
	since "$t0"
}
rsync_bytes() { awk '/^Total bytes sent:/ { gsub(",", "", $4); print $4 }' "$1"; }
RS_SEED_T=
for rep in $(seq 1 "$REPEAT"); do
	log "rsync seed ($rep/$REPEAT)"
	rm -f "$W/rsync/disk.raw"
	settle
	t=$(rsync_run "$W/rsync-seed.log")
	log "  $t s"
	faster "$t" "$RS_SEED_T" && RS_SEED_T=$t
done
RS_SEED_B=$(rsync_bytes "$W/rsync-seed.log")
cmp -s "$SRC" "$W/rsync/disk.raw" || die "rsync copy differs from the source"

# ---- zstd | ssh | zstd -d | dd pipeline ----------------------------------------
# qemu-img convert cannot write to a pipe, and on a raw source it would only
# copy; zstd reads the image itself. Levels 1 and 3 (zstd's default) both run;
# the faster one is the baseline.
PIPE_T=; PIPE_B=; PIPE_L=
for lv in $(for rep in $(seq 1 "$REPEAT"); do echo 1 3; done); do
	log "pipeline seed, zstd -$lv"
	rm -f "$W/pipe.raw"
	settle
	t0=$(now)
	zstd -q -T0 -"$lv" -c "$SRC" |
		$SSH root@127.0.0.1 "zstd -q -d -c | dd of=$W/pipe.raw bs=1M conv=sparse,fsync status=none" ||
		die "pipeline failed"
	t=$(since "$t0")
	log "  $t s"
	cmp -s "$SRC" "$W/pipe.raw" || die "pipeline copy differs from the source"
	if faster "$t" "$PIPE_T"; then
		PIPE_T=$t; PIPE_L=$lv
	fi
done
PIPE_B=$(zstd -q -T0 -"$PIPE_L" -c "$SRC" | wc -c)
rm -f "$W/pipe.raw"

# ---- Nestor -----------------------------------------------------------------
make_pki || die "nestor-pki.sh failed"
# The receiver's checkpoint_interval (64M) is its default.
write_receiver_conf
COMPRESS=$LEVEL write_agent_conf "$W/agent.conf" agent1 bench d="$SRC:raw"
printf '\n[group big]\n\n[disk big d]\npath = %s\nformat = raw\n' "$BIG" >> "$W/agent.conf"
start_receiver() {
	"$NESTOR" receiver --config "$W/receiver.conf" >>"$W/receiver.log" 2>&1 &
	RX_PID=$!
	for i in $(seq 1 100); do
		grep -q listening "$W/receiver.log" 2>/dev/null && return 0
		sleep 0.05
	done
	cat "$W/receiver.log" >&2
	die "receiver did not start"
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
	/usr/bin/time -f "%M" -o "$W/$2.rss" "$NESTOR" agent --config "${AGENT_CONF:-$W/agent.conf}" \
		--once --json --no-progress --group "$1" > "$W/$2.json" 2>>"$W/agent.log" ||
		{ tail -20 "$W/agent.log" >&2; die "nestor agent ($2) failed"; }
	N_T=$(since "$t0")
	log "  $N_T s"
	N_JSON=$(tail -1 "$W/$2.json")
	N_B=$(echo "$N_JSON" | jq .bytes_wire)
	N_RSS=$(( $(tail -1 "$W/$2.rss") / 1024 ))
	[ "$(echo "$N_JSON" | jq .ok)" = true ] || die "nestor $2: $N_JSON"
}
same_point() { # same_point GROUP IMAGE POINT
	qemu-img compare -q -f raw -F qcow2 "$2" "$W/store/$1/disks/d/$3.qcow2"
}

# Each repetition seeds a new group, so each seed starts from an empty store.
NS_SEED_T='' NS_INC_T='' RS_INC_T=''
start_receiver
for rep in $(seq 1 "$REPEAT"); do
	g=bench$rep
	sed "s/^\[group bench\]/[group $g]/; s/^\[disk bench d\]/[disk $g d]/" \
		"$W/agent.conf" > "$W/agent-$g.conf"
	log "nestor seed ($rep/$REPEAT)"
	AGENT_CONF=$W/agent-$g.conf nestor_run "$g" seed
	if faster "$N_T" "$NS_SEED_T"; then NS_SEED_T=$N_T NS_SEED_B=$N_B; fi
	[ "${NS_SEED_RSS:-0}" -ge "$N_RSS" ] || NS_SEED_RSS=$N_RSS
	same_point "$g" "$SRC" 1 || die "nestor point 1 differs from the source"

	# ---- 1% incremental, the same change set for both -------------------
	CHANGED=$(python3 "$ROOT/bench/mkimage.py" change "$SRC" 1 "$((6 + rep))") ||
		die "changing the image failed"
	log "rsync incremental ($CHANGED bytes changed, $rep/$REPEAT)"
	settle
	t=$(rsync_run "$W/rsync-inc.log")
	log "  $t s"
	faster "$t" "$RS_INC_T" && RS_INC_T=$t
	RS_INC_B=$(rsync_bytes "$W/rsync-inc.log")
	cmp -s "$SRC" "$W/rsync/disk.raw" || die "rsync incremental differs from the source"
	log "nestor incremental ($rep/$REPEAT)"
	AGENT_CONF=$W/agent-$g.conf nestor_run "$g" inc
	if faster "$N_T" "$NS_INC_T"; then NS_INC_T=$N_T NS_INC_B=$N_B; fi
	[ "${NS_INC_RSS:-0}" -ge "$N_RSS" ] || NS_INC_RSS=$N_RSS
	[ "$(echo "$N_JSON" | jq .incremental)" = true ] || die "nestor's second cycle was not incremental"
	same_point "$g" "$SRC" 2 || die "nestor point 2 differs from the source"
	# rsync's next seed run is not needed: its copy stays for the next
	# incremental, whose change set is new.
done
stop_receiver
RX_HWM_4G=$RX_HWM
rm -rf "$W/rsync"

# ---- 64 GiB sparse image ------------------------------------------------------
start_receiver
log "nestor seed of the $BIG_MIB MiB sparse image"
cat "$BIG" > /dev/null
nestor_run big big
NS_BIG_T=$N_T NS_BIG_B=$N_B NS_BIG_RSS=$N_RSS
BIG_DATA=$(echo "$N_JSON" | jq .bytes_data)
same_point big "$BIG" 1 || die "nestor point of the sparse image differs from the source"
stop_receiver
RX_HWM_BIG=$RX_HWM

# ---- table ------------------------------------------------------------------------
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { print ((dir == "ge" ? v >= t : v <= t) ? "PASS" : "MISS") }'; }
FASTEST_T=$PIPE_T FASTEST=pipeline
if awk -v a="$RS_SEED_T" -v b="$PIPE_T" 'BEGIN { exit !(a < b) }'; then FASTEST_T=$RS_SEED_T FASTEST=rsync; fi
SEED_X=$(ratio "$FASTEST_T" "$NS_SEED_T")
INC_X=$(ratio "$RS_INC_T" "$NS_INC_T")

echo
echo "Nestor seed benchmark: $(nproc) CPUs, image $SIZE_MIB MiB raw ($DATA_MIB MiB allocated), fastest of $REPEAT runs per contender, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %10s %12s %10s\n' "run" "seconds" "MiB sent" "peak RSS"
printf '%-44s %10s %12s %10s\n' "rsync -z(zstd) --sparse --inplace --fsync, seed" "$RS_SEED_T" "$(mib "$RS_SEED_B")" "-"
printf '%-44s %10s %12s %10s\n' "zstd -T0 -$PIPE_L | ssh | zstd -d | dd sparse,fsync" "$PIPE_T" "$(mib "$PIPE_B")" "-"
printf '%-44s %10s %12s %10s\n' "nestor seed (zstd $LEVEL, TLS 1.3, XXH3)" "$NS_SEED_T" "$(mib "$NS_SEED_B")" "$NS_SEED_RSS MiB"
printf '%-44s %10s %12s %10s\n' "rsync incremental, 1% changed" "$RS_INC_T" "$(mib "$RS_INC_B")" "-"
printf '%-44s %10s %12s %10s\n' "nestor incremental, 1% changed" "$NS_INC_T" "$(mib "$NS_INC_B")" "$NS_INC_RSS MiB"
printf '%-44s %10s %12s %10s\n' "nestor seed, $BIG_MIB MiB sparse ($(mib "$BIG_DATA") MiB data)" "$NS_BIG_T" "$(mib "$NS_BIG_B")" "$NS_BIG_RSS MiB"
printf '%-44s %10s\n' "receiver peak RSS, $SIZE_MIB MiB runs" "$RX_HWM_4G MiB"
printf '%-44s %10s\n' "receiver peak RSS, sparse seed" "$RX_HWM_BIG MiB"
echo
echo "targets:"
printf '  %-58s %8s  %s\n' "seed >= 2x faster than the fastest ssh pipeline ($FASTEST)" "${SEED_X}x" "$(verdict "$SEED_X" 2 ge)"
printf '  %-58s %8s  %s\n' "1% incremental >= 10x faster than rsync's" "${INC_X}x" "$(verdict "$INC_X" 10 ge)"
printf '  %-58s %8s  %s\n' "agent peak RSS <= 64 MiB ($SIZE_MIB MiB)" "$NS_SEED_RSS" "$(verdict "$NS_SEED_RSS" 64 le)"
printf '  %-58s %8s  %s\n' "agent peak RSS <= 64 MiB ($BIG_MIB MiB sparse)" "$NS_BIG_RSS" "$(verdict "$NS_BIG_RSS" 64 le)"
printf '  %-58s %8s  %s\n' "receiver peak RSS <= 64 MiB ($SIZE_MIB MiB)" "$RX_HWM_4G" "$(verdict "$RX_HWM_4G" 64 le)"
printf '  %-58s %8s  %s\n' "receiver peak RSS <= 64 MiB ($BIG_MIB MiB sparse)" "$RX_HWM_BIG" "$(verdict "$RX_HWM_BIG" 64 le)"
