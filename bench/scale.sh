#!/bin/bash
# Load test of one receiver (issue 17, memory per session): N agents (real
# `nestor agent --once` processes, each its own certificate and group of one
# small raw disk) seed at a throttled rate, so their sessions sit between
# frames (idle RSS per session), then each writes 1 MiB and all N run the
# incremental at once. Prints the receiver's RSS (idle per session, peak
# VmHWM), the qemu-nbd children's RSS, and every agent's incremental time
# against one agent alone; exits non-zero when a target is missed:
#   every agent commits; idle RSS per session <= 2 MiB; peak RSS <= 1.5 GiB
#   (500 agents; scaled as 3 MiB per agent for other N); no incremental takes
#   more than 3 x the single agent's time x the load factor N / cores (the
#   cores other processes left to the bench while all N ran: all of them on a
#   quiet machine; another test beside it, as under IT_JOBS=2, takes its part).
# Knobs: N (500), DISK_MIB (12), SEED_RATE (agent bandwidth during the
# seed, 256K), NBD (max_nbd_total, default N), KEEP=1. The short form is
# tests/integration/test-scale.sh (N=50).
set -u
N=${N:-500}
DISK_MIB=${DISK_MIB:-12}
SEED_RATE=${SEED_RATE:-256K}
NBD=${NBD:-$N}
CORES=$(nproc)
SCRATCH=$(mktemp -d "${TMPDIR:-/var/tmp}/nestor-scale.XXXXXX")
export NESTOR_SCRATCH=$SCRATCH
# shellcheck source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
die() { echo "scale: $*" >&2; exit 1; }
[ -x "$NESTOR" ] || die "$NESTOR not built (make all)"
# The receiver's caps fit N agents at once: connections from one address,
# qemu-nbd processes (one per point being written; NBD= to try fewer) and
# jobs waiting for a worker (with the default 256, a burst of 500 BEGINs
# has the ones past it refused "busy, retry later": the daemon retries, an
# --once agent fails).
# Every session holds a socket, its point a lock and an NBD socket: N
# agents need about 4 N descriptors in the receiver.
ulimit -n "$(ulimit -Hn)" || die "cannot raise RLIMIT_NOFILE"
[ "$(ulimit -n)" -ge $((4 * N + 64)) ] || die "RLIMIT_NOFILE $(ulimit -n) < $((4 * N + 64))"

kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
# nbd_rss_kib: the summed RSS of the receiver's qemu-nbd children
nbd_rss_kib() {
	local p s=0 v
	for p in $(pgrep -P "$RX_PID" qemu-nbd); do
		v=$(kib "$p" VmRSS 2>/dev/null) # none once it exited
		s=$((s + ${v:-0}))
	done
	echo "$s"
}
# rx_cpu: CPU seconds of the receiver and its children (qemu-img, qemu-nbd),
# reaped or still running; kids_cpu: of this shell's reaped children (the
# agents, and the polls), into KIDS (not $(kids_cpu): a subshell has no
# children of its own); busy_cpu: of the whole machine since boot.
rx_cpu() {
	local p
	for p in "$RX_PID" $(pgrep -P "$RX_PID"); do cat "/proc/$p/stat" 2>/dev/null; done |
		awk -v t="$(getconf CLK_TCK)" '{ s += $14 + $15 + $16 + $17 } END { print s / t }'
}
busy_cpu() {
	awk -v t="$(getconf CLK_TCK)" '$1 == "cpu" { print ($2 + $3 + $4 + $7 + $8 + $9) / t }' /proc/stat
}
kids_cpu() {
	times > "$T/times"
	KIDS=$(tail -n 1 "$T/times" |
		awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } print s }')
}
nbd_count() { pgrep -c -P "$RX_PID" qemu-nbd; }
sessions() { # open TCP connections to the receiver's port
	ss -Htn state established "( sport = :$PORT )" | wc -l
}

setup() {
	local i p=$T/pki
	make_pki
	for i in $(seq 1 "$N"); do
		"$ROOT/deploy/nestor-pki.sh" "$p" agent "a$i" >/dev/null || die "pki a$i"
	done
	write_receiver_conf
	sed -i "s|^checkpoint_interval = .*|&\nmax_conns = $((N + 16))\nmax_conns_per_address = $((N + 16))\nmax_nbd_total = $NBD\nwork_queue_max = $((N + 16))|" \
		"$T/receiver.conf"
	for i in $(seq 1 "$N"); do
		printf '\n[client a%d]\ngroups = g%d\n' "$i" "$i" >> "$T/receiver.conf"
		mkdir -p "$T/a$i"
		head -c "${DISK_MIB}M" /dev/urandom > "$T/a$i/d.raw"
		write_agent_conf "$T/a$i/agent.conf" "a$i" "g$i" d="$T/a$i/d.raw:raw"
		sed -i "s|^state_dir = .*|state_dir = $T/a$i/state|" "$T/a$i/agent.conf"
	done
	"$NESTOR" config check receiver "$T/receiver.conf" >/dev/null || die "bad receiver.conf"
	start_receiver
}

# change I: 1 MiB of fresh data in agent I's disk, at a new offset each time
change() {
	local off=$((RANDOM % DISK_MIB))
	head -c 1M /dev/urandom | dd of="$T/a$1/d.raw" bs=1M seek="$off" conv=notrunc,fsync status=none
}

# run_agents FROM TO LABEL: agents FROM..TO at once; their JSON in $T/aI/LABEL.json
# (their pids in AGENTS; wait_agents waits for them, not for the receiver)
run_agents() {
	local i
	AGENTS=()
	for i in $(seq "$1" "$2"); do
		"$NESTOR" agent --config "$T/a$i/agent.conf" --once --json --no-progress \
			>"$T/a$i/$3.json" 2>"$T/a$i/$3.log" &
		AGENTS+=($!)
	done
}
wait_agents() { wait "${AGENTS[@]}"; }
agents_running() { # how many of AGENTS still run
	local p n=0
	for p in "${AGENTS[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
	echo "$n"
}

setup
RX_BASE=$(kib "$RX_PID" VmRSS)

# 1. Seed, throttled: the sessions spend their time between frames.
for i in $(seq 1 "$N"); do
	sed -i "s/^\[group g$i\]\$/&\nbandwidth = $SEED_RATE/" "$T/a$i/agent.conf"
done
t0=$(date +%s.%N)
run_agents 1 "$N" seed
# Sample once 9 in 10 points hold half their data (their qcow2 files):
# past the first frames, well before their ends, every session between frames.
# A sample counts only if 9 in 10 sessions are open both before and after
# it, the same number: the per-session figure divides by sessions known to
# be open while the RSS was read. Without 5 such samples before the seeds
# end, the figure is a MISS that says so (never a division by a wrong count).
for _ in $(seq 1 3000); do
	far=$(find "$T/store" -name 1.qcow2 -size +$((DISK_MIB * 512))k | wc -l)
	[ "$far" -ge $((N * 9 / 10)) ] && break
	[ "$(agents_running)" -gt 0 ] || break
	sleep 0.2
done
samples=()
nbd_idle=0
open=0
while [ ${#samples[@]} -lt 5 ] && [ "$(agents_running)" -gt 0 ]; do
	sleep 0.2
	o1=$(sessions)
	r=$(kib "$RX_PID" VmRSS)
	n=$(nbd_rss_kib)
	o2=$(sessions)
	if [ "$o1" != "$o2" ] || [ "$o1" -lt $((N * 9 / 10)) ]; then continue; fi
	samples+=("$r $o1")
	[ "$n" -gt "$nbd_idle" ] && nbd_idle=$n
done
if [ ${#samples[@]} -eq 5 ]; then
	# the median sample by RSS, with the sessions open when it was read
	read -r idle_rss open < <(printf '%s\n' "${samples[@]}" | sort -n | sed -n 3p)
else
	echo "idle: only ${#samples[@]} of 5 samples with 9 in 10 sessions open before the seeds ended" >&2
	idle_rss=
fi
nbd_n=$(nbd_count)
wait_agents
seed_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
seeded=0
for i in $(seq 1 "$N"); do
	[ "$(jq -r '.point // 0' "$T/a$i/seed.json" 2>/dev/null)" = 1 ] && seeded=$((seeded + 1))
	sed -i "/^bandwidth = /d" "$T/a$i/agent.conf"
done
[ "$seeded" = "$N" ] || { tail -n 5 "$T/receiver.log"; cat "$(ls "$T"/a*/seed.log | head -1)"; }

# 2. One agent alone, three incrementals: the median is the reference time.
single=()
for _ in 1 2 3; do
	change 1
	run_agents 1 1 single; wait_agents
	single+=("$(jq .seconds "$T/a1/single.json")")
done
t1=$(printf '%.3f\n' "${single[@]}" | sort -g | sed -n 2p)

# 3. All N at once, 1 MiB each; the peak is this phase's (VmHWM reset).
for i in $(seq 1 "$N"); do change "$i"; done
sync
seed_peak=$(kib "$RX_PID" VmHWM)
echo 5 > "/proc/$RX_PID/clear_refs"
nbd_peak=0
cpu_rx0=$(rx_cpu); kids_cpu; cpu_ag0=$KIDS; busy0=$(busy_cpu); t0=$(date +%s.%N)
run_agents 1 "$N" inc
while [ "$(agents_running)" -gt 0 ]; do
	n=$(nbd_rss_kib); [ "$n" -gt "$nbd_peak" ] && nbd_peak=$n
	sleep 0.1
done
wait_agents
kids_cpu
cpu_rx=$(awk -v a="$cpu_rx0" -v b="$(rx_cpu)" 'BEGIN { printf "%.1f", b - a }')
cpu_ag=$(awk -v a="$cpu_ag0" -v b="$KIDS" 'BEGIN { printf "%.1f", b - a }')
wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
cpu="$cpu_rx / $cpu_ag / $wall"
# The cores other processes (another test, a build) took meanwhile: the
# machine's busy time less this bench's. The load factor is N over the cores
# left to the bench (all of them on a quiet machine), never below what it used.
cpu_other=$(awk -v a="$busy0" -v b="$(busy_cpu)" -v r="$cpu_rx" -v g="$cpu_ag" \
	'BEGIN { o = b - a - r - g; printf "%.1f", (o > 0 ? o : 0) }')
cores_left=$(awk -v c="$CORES" -v o="$cpu_other" -v r="$cpu_rx" -v g="$cpu_ag" -v w="$wall" \
	'BEGIN { w = (w > 0.1 ? w : 0.1); l = c - o / w; u = (r + g) / w; if (l < u) l = u
		if (l > c) l = c; if (l < 0.1) l = 0.1; printf "%.2f", l }')
peak=$(kib "$RX_PID" VmHWM)
committed=0
times=()
for i in $(seq 1 "$N"); do
	want=2; [ "$i" = 1 ] && want=5
	[ "$(jq -r '.point // 0' "$T/a$i/inc.json" 2>/dev/null)" = "$want" ] && committed=$((committed + 1))
	times+=("$(jq -r '.seconds // 999999' "$T/a$i/inc.json" 2>/dev/null || echo 999999)")
done
sorted=$(printf '%.2f\n' "${times[@]}" | sort -g)
med=$(echo "$sorted" | sed -n "$(((N + 1) / 2))p")
p95=$(echo "$sorted" | sed -n "$(((N * 95 + 99) / 100))p")
worst=$(echo "$sorted" | tail -n 1)
errors=$(grep -c " error: " "$T/receiver.log")
stop_receiver

# Targets.
idle_per=unsampled
[ -n "$idle_rss" ] && idle_per=$(((idle_rss - RX_BASE) / open))
peak_max=$((N * 3 * 1024 + RX_BASE)) # 1.5 GiB for 500: 3 MiB a session
[ "$N" -ge 500 ] && peak_max=$((1536 * 1024))
lf=$(awk -v n="$N" -v c="$cores_left" 'BEGIN { printf "%.1f", (n > c ? n / c : 1) }')
bound=$(awk -v t="$t1" -v l="$lf" 'BEGIN { printf "%.2f", 3 * t * l }')
verdict() { if [ "$1" = 1 ]; then echo PASS; else echo MISS; fi; }
v_commit=$(verdict "$([ "$seeded" = "$N" ] && [ "$committed" = "$N" ] && echo 1)")
v_idle=$(verdict "$([ -n "$idle_rss" ] && [ "$idle_per" -le 2048 ] && echo 1)")
v_peak=$(verdict "$([ "$peak" -le "$peak_max" ] && [ "$seed_peak" -le "$peak_max" ] && echo 1)")
v_wait=$(verdict "$(awk -v w="$worst" -v b="$bound" 'BEGIN { print (w <= b) }')")

echo
echo "Nestor receiver under $N agents ($DISK_MIB MiB disk each, $CORES cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '  %-62s %12s\n' "figure" "value"
printf '  %-62s %12s\n' "receiver RSS before any session (KiB)" "$RX_BASE"
printf '  %-62s %12s\n' "seed: agents committed / N (throttled $SEED_RATE/s, ${seed_s} s)" "$seeded/$N"
[ -n "$idle_rss" ] || open=unsampled
printf '  %-62s %12s\n' "idle: sessions open between frames" "$open"
printf '  %-62s %12s\n' "idle: receiver RSS (KiB, median of 5)" "${idle_rss:-unsampled}"
printf '  %-62s %12s  %s\n' "idle: receiver RSS per session (KiB, target <= 2048)" "$idle_per" "$v_idle"
printf '  %-62s %12s\n' "idle: qemu-nbd children, their RSS (KiB)" "$nbd_n, $nbd_idle"
printf '  %-62s %12s\n' "seed: receiver peak RSS VmHWM (KiB)" "$seed_peak"
printf '  %-62s %12s\n' "single incremental, median of 3 (s)" "$t1"
printf '  %-62s %12s  %s\n' "all at once: agents committed / N" "$committed/$N" "$v_commit"
printf '  %-62s %12s  %s\n' "all at once: receiver peak RSS VmHWM (KiB; both <= $peak_max)" "$peak" "$v_peak"
printf '  %-62s %12s\n' "all at once: qemu-nbd children's peak RSS (KiB)" "$nbd_peak"
printf '  %-62s %12s\n' "all at once: CPU s of receiver+children / agents / wall s" "$cpu"
printf '  %-62s %12s\n' "all at once: other processes' CPU s / cores left to the bench" "$cpu_other / $cores_left"
printf '  %-62s %12s\n' "all at once: incremental median / p95 (s)" "$med / $p95"
printf '  %-62s %12s  %s\n' "all at once: worst (s, <= 3 x $t1 x load $lf = $bound)" "$worst" "$v_wait"
printf '  %-62s %12s\n' "receiver log: error lines" "$errors"
[ "$v_commit$v_idle$v_peak$v_wait" = PASSPASSPASSPASS ] && [ "$errors" = 0 ]
