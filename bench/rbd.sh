#!/bin/bash
# RBD incremental benchmark (issue "Ceph RBD", acceptance 5): on one throwaway
# single-node Ceph, Nestor's RBD incremental against `rbd export-diff
# --from-snap | rbd import-diff` on the same change sets, side by side in one
# run: (a) 64 whole 4 MiB objects rewritten, (b) 16384 random 4 KiB writes
# into previously empty objects. Prints one table with PASS/MISS per target.
#
# Both tools read the same image state: the change set is written, snapshot
# sN is taken, then Nestor's agent (which takes its own snapshot) and the CLI
# pipeline run back to back with no write in between. Written data is random
# (incompressible), so Nestor's zstd gains nothing from the payload itself.
# Environment: BENCH_LEVEL (Nestor's compress_level, default 3 = the agent's
# default), KEEP=1 keeps the scratch dirs.
set -u
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# lib.sh: PKI, receiver config and start/stop, $T scratch dir, cleanup().
. "$BENCH_ROOT/tests/integration/lib.sh"
LIB=$ROOT/tests/lib
LEVEL=${BENCH_LEVEL:-3}
PY=/usr/bin/python3 # Debian's python3-rbd lives there, not in a pyenv
W=$(mktemp -d /tmp/nestor-rbdbench.XXXXXX)
bench_cleanup() {
	"$LIB/ceph.sh" stop "$W/ceph" >/dev/null 2>&1
	[ "${KEEP:-0}" = 1 ] || rm -rf "$W"
	cleanup
}
trap bench_cleanup EXIT
die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

for t in rbd qemu-img jq; do
	command -v "$t" >/dev/null || die "$t is missing (deploy/install-deps.sh)"
done
"$PY" -c 'import rbd, rados' 2>/dev/null || die "python3-rbd is missing (deploy/install-deps.sh)"
[ -x "$NESTOR" ] || die "$NESTOR not built (make all)"

log "starting Ceph"
eval "export $("$LIB/ceph.sh" start "$W/ceph")" || die "ceph did not start"
FEAT=layering,exclusive-lock,object-map,fast-diff
rbd create --size 1G --image-feature $FEAT rbd/src || die "rbd create src failed"
rbd create --size 1G --image-feature $FEAT rbd/dst || die "rbd create dst failed"

# Nestor's replicas go to the Ceph store (an RBD image per disk, a snapshot
# per point), like the CLI's; BENCH_STORE=local uses the qcow2 store.
STORE=${BENCH_STORE:-ceph}
make_pki
write_receiver_conf
[ "$STORE" = ceph ] && use_ceph_store replicas
start_receiver
COMPRESS=$LEVEL write_agent_conf "$T/agent.conf" agent1 g vda=rbd:rbd/src

# write_set MODE SEED: one change set into rbd/src through librbd, random
# bytes, up to 64 writes in flight. seed/whole: objects 0-63 (256 MiB) written
# whole; small: 16384 distinct random 4 KiB blocks in objects 64-255, which
# neither the seed nor the whole-object set ever touched.
write_set() {
	"$PY" - "$CEPH_CONF" "$1" "$2" <<'PY'
import os, random, sys, threading
import rados, rbd
conf, mode, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
OBJ = 4 << 20
r = random.Random(seed)
if mode == "small":
    offs = set()
    while len(offs) < 16384:
        offs.add(r.randrange(64 * OBJ // 4096, 256 * OBJ // 4096) * 4096)
    writes = [(o, 4096) for o in sorted(offs)]
else:
    writes = [(i * OBJ, OBJ) for i in range(64)]
errors = []
slots = threading.Semaphore(64)
def done(comp):
    if comp.get_return_value() < 0:
        errors.append(comp.get_return_value())
    slots.release()
with rados.Rados(conffile=conf) as cluster, cluster.open_ioctx("rbd") as io, rbd.Image(io, "src") as img:
    comps = []
    for off, ln in writes:
        slots.acquire()
        comps.append(img.aio_write(r.randbytes(ln), off, done))
    for c in comps:
        c.wait_for_complete_and_cb()
    img.flush()
if errors:
    sys.exit("aio_write failed: %s" % errors[:3])
print(sum(ln for _, ln in writes))
PY
}

# nestor_cycle NAME: one agent cycle; sets NS_T (wall seconds, process start to
# exit: snapshot, diff, read, send, receiver commit), NS_B (bytes_wire), NS_PT.
nestor_cycle() {
	local t0 res
	t0=$(now)
	res=$(agent_once "$T/agent.conf") || { tail -20 "$T/agent.log" >&2; die "nestor cycle $1 failed"; }
	NS_T=$(since "$t0")
	log "nestor $1: $res"
	NS_B=$(echo "$res" | jq .bytes_wire)
	NS_PT=$(echo "$res" | jq .point)
}

# cli_diff FROM TO: export-diff | import-diff into rbd/dst; sets CLI_T, CLI_B
# (bytes of the diff stream).
cli_diff() {
	local - from=() t0
	set -o pipefail
	[ -n "$1" ] && from=(--from-snap "$1")
	t0=$(now)
	# dd in the pipe counts the stream like `pv -b` would (its summary line)
	rbd export-diff --no-progress "${from[@]}" "rbd/src@$2" - |
		dd bs=4M 2>"$W/cli.dd" |
		rbd import-diff --no-progress - rbd/dst || die "rbd export-diff | import-diff $1..$2 failed"
	CLI_T=$(since "$t0")
	CLI_B=$(awk '/bytes/ && /copied/ { print $1 }' "$W/cli.dd")
	[ -n "$CLI_B" ] || die "no byte count from dd: $(cat "$W/cli.dd")"
}

# verify SNAP: the CLI's target and Nestor's point both equal src@SNAP
verify() {
	qemu-img compare -q -f raw -F raw "rbd:rbd/src@$1:conf=$CEPH_CONF" \
		"rbd:rbd/dst@$1:conf=$CEPH_CONF" || die "rbd/dst@$1 differs from rbd/src@$1"
	if [ "$STORE" = ceph ]; then
		qemu-img compare -q -f raw -F raw "rbd:rbd/src@$1:conf=$CEPH_CONF" \
			"rbd:replicas/g+vda@p$NS_PT:conf=$CEPH_CONF" ||
			die "nestor point $NS_PT differs from rbd/src@$1"
	else
		qemu-img compare -q -f raw -F qcow2 "rbd:rbd/src@$1:conf=$CEPH_CONF" \
			"$(point_file g vda "$NS_PT")" || die "nestor point $NS_PT differs from rbd/src@$1"
	fi
}

# ---- seed (not a target, shown for scale) ---------------------------------
log "seed: writing 256 MiB"
write_set seed 1 >/dev/null || die "seed writes failed"
rbd snap create --no-progress rbd/src@s1 >/dev/null || die "snap s1 failed"
nestor_cycle seed; SEED_NS_T=$NS_T SEED_NS_B=$NS_B
cli_diff "" s1; SEED_CLI_T=$CLI_T SEED_CLI_B=$CLI_B
verify s1

# ---- the two change sets --------------------------------------------------
prev=s1 n=2
for c in whole small; do
	log "case $c: writing"
	written=$(write_set $c $n) || die "$c writes failed"
	rbd snap create --no-progress "rbd/src@s$n" >/dev/null || die "snap s$n failed"
	# Nestor first: whatever cache the first reader warms helps the CLI.
	nestor_cycle $c
	cli_diff "$prev" "s$n"
	verify "s$n"
	eval "${c}_W=$written ${c}_NS_T=$NS_T ${c}_NS_B=$NS_B ${c}_CLI_T=$CLI_T ${c}_CLI_B=$CLI_B"
	prev=s$n n=$((n + 1))
done
stop_receiver

# ---- table ------------------------------------------------------------------
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t ? "PASS" : "MISS") }'; }
row() { printf '%-38s %-28s %8s %10s %9s %9s\n' "$@"; }

echo
echo "Nestor RBD incremental vs rbd export-diff | import-diff (1 GiB image, fast-diff, random data, zstd $LEVEL, Nestor store: $STORE)"
row "case" "tool" "seconds" "MiB wire" "x faster" "x bytes"
row "seed: 64 objects (256 MiB)" "rbd export-diff|import-diff" "$SEED_CLI_T" "$(mib "$SEED_CLI_B")" "1.00" "1.00"
row "" "nestor agent" "$SEED_NS_T" "$(mib "$SEED_NS_B")" \
	"$(ratio "$SEED_CLI_T" "$SEED_NS_T")" "$(ratio "$SEED_CLI_B" "$SEED_NS_B")"
row "(a) 64 whole 4 MiB objects" "rbd export-diff|import-diff" "$whole_CLI_T" "$(mib "$whole_CLI_B")" "1.00" "1.00"
row "    ($(mib "$whole_W") MiB written)" "nestor agent" "$whole_NS_T" "$(mib "$whole_NS_B")" \
	"$(ratio "$whole_CLI_T" "$whole_NS_T")" "$(ratio "$whole_CLI_B" "$whole_NS_B")"
row "(b) 16384 x 4 KiB in new objects" "rbd export-diff|import-diff" "$small_CLI_T" "$(mib "$small_CLI_B")" "1.00" "1.00"
row "    ($(mib "$small_W") MiB written)" "nestor agent" "$small_NS_T" "$(mib "$small_NS_B")" \
	"$(ratio "$small_CLI_T" "$small_NS_T")" "$(ratio "$small_CLI_B" "$small_NS_B")"
echo
echo "targets"
A_X=$(ratio "$whole_CLI_T" "$whole_NS_T")
B_X=$(ratio "$small_CLI_T" "$small_NS_T")
B_B=$(ratio "$small_CLI_B" "$small_NS_B")
printf '  %-58s %8s  %s\n' "(a) whole objects: >= 1.3x faster end to end" "${A_X}x" "$(verdict "$A_X" 1.3)"
printf '  %-58s %8s  %s\n' "(b) small writes: >= 1.3x faster end to end" "${B_X}x" "$(verdict "$B_X" 1.3)"
printf '  %-58s %8s  %s\n' "(b) small writes: >= 10x fewer bytes on the wire" "${B_B}x" "$(verdict "$B_B" 10)"
echo
echo "notes: seconds are wall clock, process start to exit. Nestor: one 'nestor agent --once' cycle"
echo "  (rbd snapshot, diff_iterate2, read, zstd, TLS 1.3 over loopback, receiver commit), wire bytes"
echo "  from the agent's bytes_wire. Nestor's receiver writes its $STORE store (ceph: pool replicas,"
echo "  an RBD snapshot per point), the CLI imports into rbd/dst on the same cluster."
echo "  CLI bytes: the export-diff stream (uncompressed, no network). Both targets verified equal to"
echo "  the source snapshot (qemu-img compare) after every step."
