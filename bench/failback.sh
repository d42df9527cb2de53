#!/bin/bash
# Failback benchmark (issue 14, acceptance 7): a file-source group (the test
# guest's boot disk and a BENCH_SIZE_MIB (4096) MiB raw data disk, a
# bench/mkimage.py realistic image) is seeded (P = point 1) and failed over
# at P on the receiver's libvirtd; then 1% of the data disk is written on
# each side in random 64 KiB-aligned blocks of fresh random data: X on-prem
# (bench/mkimage.py change on the raw file while no agent runs) and W in
# the cloud (the failed-over guest writes /dev/vdb through its console;
# dd from /dev/urandom, fsynced). The cloud VM is then paused, so every
# contender copies the same frozen disk. Contenders, BENCH_REPEAT (3) runs
# each, the order rotating per repetition, medians:
#   nestor   `failback start --once` (W u X into the target store) plus
#            `failback cutover --point F` (the commit into the on-prem disks
#            and the re-protection); bytes from start's JSON
#   qemu-img the whole cloud disk pulled over NBD through ssh -R into a new
#            sparse raw file on-prem (bench/sshd.sh, as bench/seed.sh does)
#   rsync    a raw export of the cloud disk (qemu-img convert, timed) then
#            rsync --inplace --no-whole-file -B 64K -I --fsync against the
#            on-prem raw disk over ssh
# Before each run the on-prem disks and the agent's state are put back as
# they were after X (copies taken then, outside the timing). Every result
# is checked against the cloud disk (qemu-img compare). At the end the cloud
# VM is destroyed, `failback promote` makes F on the DR side and the next
# forward cycle must be an incremental from F. Targets (issue): >= 10x
# fewer bytes and >= 5x faster than the strongest rival (the lowest median
# time); a MISS is a figure, not a failure.
# QUICK=1: a 512 MiB disk, 2 repetitions (a few minutes; not in make check).
# Environment: BENCH_SIZE_MIB, BENCH_REPEAT, BENCH_CACHE, KEEP=1.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "${QUICK:-0}" = 1 ]; then
	SIZE_MIB=${BENCH_SIZE_MIB:-512} REPEAT=${BENCH_REPEAT:-2} CIPHER_MIB=64
else
	SIZE_MIB=${BENCH_SIZE_MIB:-4096} REPEAT=${BENCH_REPEAT:-3} CIPHER_MIB=256
fi
CACHE=${BENCH_CACHE:-/var/tmp/nestor-bench}
W=$(mktemp -d /var/tmp/nestor-fbbench.XXXXXX)
# lib.sh's set-up (libvirtd, PKI, receiver, configs, the failover console)
# in this run's scratch dir; its cleanup removes it.
# shellcheck source-path=SCRIPTDIR/../tests/integration source=lib.sh
NESTOR_SCRATCH=$W . "$ROOT/tests/integration/lib.sh"
log() { echo "fbbench: $*" >&2; }
# shellcheck source-path=SCRIPTDIR source=sshd.sh
. "$ROOT/bench/sshd.sh"
SSHD_PID=
NBD_PID=
eval "lib_$(declare -f cleanup)"
cleanup() {
	[ -n "$NBD_PID" ] && kill "$NBD_PID" 2>/dev/null && wait "$NBD_PID" 2>/dev/null
	[ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
	lib_cleanup
}
trap cleanup EXIT

for t in rsync ssh /usr/sbin/sshd qemu-img qemu-nbd qemu-io virsh jq python3; do
	command -v "$t" >/dev/null || die "$t is missing (deploy/install-deps.sh)"
done
[ -x "$NESTOR" ] || die "$NESTOR not built (make all)"
mkdir -p "$CACHE"
BIMG=$CACHE/real-$SIZE_MIB.raw
if [ ! -f "$BIMG" ]; then
	log "building $BIMG (cached for the next runs)"
	python3 "$ROOT/bench/mkimage.py" realistic "$BIMG" "$SIZE_MIB" >&2 || die "image build failed"
fi

# ---- the group, its seed (P), X on-prem, the failover, W in the cloud ---------
G=fb
vm_source_setup
cp --sparse=always "$BIMG" "$T/src/data.raw" || die "copy of $BIMG failed"
# The domain definition the group carries (the failover boots it): defined
# and started once by tests/lib/vm.sh, destroyed at once.
vm_define_start web1 "$T/src/os.qcow2" "$T/src/data.raw" || die "cannot define the guest"
vm_destroy web1
cp "$VM_DIR/web1.xml" "$T/src/web1.xml"
write_agent_conf "$T/agent.conf" agent1 $G os="$T/src/os.qcow2:qcow2" data="$T/src/data.raw:raw" \
	domain_xml="$T/src/web1.xml"
log "seed of $SIZE_MIB MiB"
cycle_once "seed"
P=$PT
F=$((P + 1)) # what `failback promote` makes: the newest point + 1
XB=$(python3 "$ROOT/bench/mkimage.py" change "$T/src/data.raw" 1 7) || die "X failed"
log "X: $XB bytes on-prem after P"
mkdir -p "$W/saved"
{ cp --sparse=always "$T/src/data.raw" "$T/src/os.qcow2" "$W/saved/" && cp -a "$T/agent-state" "$W/saved/"; } ||
	die "cannot save the on-prem state"

"$NESTOR" failover --config "$T/receiver.conf" $G --json >"$W/fo.json" 2>"$W/fo.log" ||
	{ cat "$W/fo.log" >&2; die "failover failed"; }
WD=$(jq -r .workdir "$W/fo.json")
DOM=$(jq -r '.vms[0].domain' "$W/fo.json")
CLOUD=$WD/web1.data.qcow2
failover_console "$DOM" "$WD"
NB=$((SIZE_MIB * 16)) # 64 KiB blocks of the data disk
NW=$((NB / 100))
log "W: the cloud guest writes $NW random 64 KiB blocks"
out=$(cloud_run "$DOM" "awk 'BEGIN { srand(11); for (i = 0; i < $NW; i++) print int(rand() * $NB) }' | sort -un > /tmp/w; n=0; while read o; do dd if=/dev/urandom of=/dev/vdb bs=64k count=1 seek=\$o conv=notrunc 2>/dev/null || exit 1; n=\$((n + 1)); done < /tmp/w; sync; echo written \$n" 900) ||
	die "cloud write W failed: $out"
echo "$out" | grep -q '^written' || die "cloud write W: $out"
virsh -q -c "$VM_URI" suspend "$DOM" >/dev/null || die "cannot pause $DOM"
WB=$(failover_own_bytes "$WD" web1)
CLOUD_DATA=$(qemu-img map --output=json -U -f qcow2 "$CLOUD" | jq '[.[] | select(.data) | .length] | add // 0')
log "W: $WB bytes in the cloud overlays; the cloud data disk reads $CLOUD_DATA bytes of data"

bench_sshd_start
bench_ssh_cipher "$CIPHER_MIB"

# ---- contenders ---------------------------------------------------------------
declare -A TIMES=() BYTES=() LABEL=() PART=()
record() { TIMES[$1]="${TIMES[$1]:-} $2"; log "  $1: $2 s"; }
# Every tool reads its inputs from the page cache alike.
warm() { cat "$T/src/data.raw" "$(point_file $G data "$P")" "$CLOUD" > /dev/null; }
same_cloud() { # same_cloud RAW WHAT
	qemu-img compare -q -U -f raw -F qcow2 "$1" "$CLOUD" || die "$2: differs from the cloud disk"
}
onprem_restore() {
	rm -rf "$T/agent-state"
	{ cp -a "$W/saved/agent-state" "$T/" && cp --sparse=always "$W/saved/data.raw" "$W/saved/os.qcow2" "$T/src/"; } ||
		die "cannot restore the on-prem state"
}
fb() { local sub=$1; shift; "$NESTOR" failback "$sub" --config "$T/agent.conf" "$@"; }

run_nestor() {
	local t0 ts tc
	onprem_restore
	warm
	settle
	t0=$(now)
	fb start $G --once --json >"$W/fb.json" 2>>"$W/fb.log" || { tail -20 "$W/fb.log" >&2; die "failback start failed"; }
	ts=$(since "$t0")
	t0=$(now)
	fb cutover $G --point "$F" >>"$W/fb.log" 2>&1 || { tail -20 "$W/fb.log" >&2; die "failback cutover failed"; }
	tc=$(since "$t0")
	record nestor "$(awk -v a="$ts" -v b="$tc" 'BEGIN { printf "%.2f", a + b }')"
	PART[start]="${PART[start]:-} $ts" PART[cutover]="${PART[cutover]:-} $tc"
	BYTES[nestor]=$(jq .bytes "$W/fb.json")
	XF=$(jq .x_bytes "$W/fb.json")
	jq -e ".x_whole == false and .x_bytes >= $XB and .base == 0" "$W/fb.json" >/dev/null ||
		die "failback start: X is not from the change tracking (>= $XB bytes): $(cat "$W/fb.json")"
	same_cloud "$T/src/data.raw" "nestor (the on-prem disk after the cutover)"
}
run_qimg() {
	local t0
	# The paused domain holds the image's lock; qemu-nbd 7.2 has no
	# --force-share. Its start is free for the rival.
	bench_nbd_serve --image-opts "driver=qcow2,file.driver=file,file.filename=$CLOUD,file.locking=off"
	warm
	settle
	t0=$(now)
	bench_qimg_pull "$W/qimg.raw" >"$W/qimg.log" 2>&1 || { cat "$W/qimg.log" >&2; die "qemu-img convert failed"; }
	record qimg "$(since "$t0")"
	kill "$NBD_PID" && wait "$NBD_PID" 2>/dev/null
	NBD_PID=
	# NBD reads every allocated byte (block status skips the holes and
	# zeros), uncompressed, through the tunnel.
	BYTES[qimg]=$CLOUD_DATA
	same_cloud "$W/qimg.raw" "qemu-img convert"
	rm -f "$W/qimg.raw"
}
run_rsync() {
	local t0 te tr
	cp --sparse=always "$W/saved/data.raw" "$W/rsync-dst.raw" || die "copy for rsync failed"
	warm
	cat "$W/rsync-dst.raw" > /dev/null
	settle
	t0=$(now)
	qemu-img convert -U -W -m 16 -f qcow2 -O raw "$CLOUD" "$W/export.raw" || die "raw export failed"
	te=$(since "$t0")
	t0=$(now)
	rsync -e "$SSH" --inplace --no-whole-file -B 65536 -I --fsync --stats "$W/export.raw" \
		"$HOST:$W/rsync-dst.raw" >"$W/rsync.log" 2>&1 || { cat "$W/rsync.log" >&2; die "rsync failed"; }
	tr=$(since "$t0")
	record rsync "$(awk -v a="$te" -v b="$tr" 'BEGIN { printf "%.2f", a + b }')"
	PART[export]="${PART[export]:-} $te" PART[rsync]="${PART[rsync]:-} $tr"
	BYTES[rsync]=$(awk '/^Total bytes (sent|received):/ { gsub(",", "", $4); s += $4 } END { print s }' "$W/rsync.log")
	same_cloud "$W/rsync-dst.raw" "rsync"
	rm -f "$W/export.raw" "$W/rsync-dst.raw"
}

LABEL[nestor]="nestor failback start --once + cutover"
LABEL[qimg]="qemu-img convert -W, nbd over ssh -R"
LABEL[rsync]="qemu-img export + rsync --inplace, ssh"
RIVALS="qimg rsync"
CONTENDERS=(nestor qimg rsync)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq 1 "$REPEAT"); do
	n=${#CONTENDERS[@]}
	for i in $(seq 0 $((n - 1))); do
		c=${CONTENDERS[$(((i + rep - 1) % n))]}
		log "${LABEL[$c]} ($rep/$REPEAT)"
		"run_$c"
	done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
# The on-prem state is nestor's last run (the rivals wrote copies only).

# ---- the DR side's end: F, and the next forward cycle -------------------------
virsh -q -c "$VM_URI" destroy "$DOM" >/dev/null || die "cannot stop $DOM"
t0=$(now)
"$NESTOR" failback promote --config "$T/receiver.conf" $G --json >"$W/promote.json" 2>"$W/promote.log" ||
	{ cat "$W/promote.log" >&2; die "failback promote failed"; }
PROMOTE_T=$(since "$t0")
[ "$(jq .point "$W/promote.json")" = "$F" ] || die "promote made point $(jq .point "$W/promote.json"), not F = $F"
cycle_once "after the failback"
jq -e ".incremental and .base == $F" <<<"$RES" >/dev/null || die "the next forward cycle is not an incremental from F: $RES"
NEXT_B=$(jq .bytes_wire <<<"$RES")
stop_receiver

# ---- table --------------------------------------------------------------------
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t ? "PASS" : "MISS") }'; }
runs() { echo "$1" | sed 's/^ //; s/ /, /g'; }
declare -A MED=()
for c in "${CONTENDERS[@]}"; do MED[$c]=$(median "${TIMES[$c]}"); done
BEST='' BEST_T=''
for c in $RIVALS; do
	if faster "${MED[$c]}" "$BEST_T"; then BEST=$c BEST_T=${MED[$c]}; fi
done
row() { # row KIND NAME
	printf '%-7s %-42s %8s  %-22s %9s %9s %9s\n' "$1" "${LABEL[$2]}" "${MED[$2]}" "$(runs "${TIMES[$2]}")" \
		"$(mib "${BYTES[$2]}")" "$(ratio "${MED[$2]}" "${MED[nestor]}")" "$(ratio "${BYTES[$2]}" "${BYTES[nestor]}")"
}
echo
echo "Failback: $(nproc) CPUs, data disk $SIZE_MIB MiB raw ($(mib "$CLOUD_DATA") MiB data in the cloud disk's view), X $(mib "$XB") MiB on-prem (found by the change tracking: $(mib "$XF") MiB), W $(mib "$WB") MiB in the cloud (the guest's dd through its console, then paused); median of $REPEAT runs per contender, round-robin; ssh cipher $CIPHER (of: $CIPHER_LINE per $CIPHER_MIB MiB); load average $LOAD_START at the start, $LOAD_END at the end"
printf '%-7s %-42s %8s  %-22s %9s %9s %9s\n' "" "contender" "median s" "runs s" "MiB wire" "x time" "x bytes"
for c in $RIVALS; do row rival "$c"; done
row nestor nestor
echo "  (x: the contender's median time / bytes over Nestor's. nestor: start $(median "${PART[start]}") s ($(runs "${PART[start]}")) + cutover $(median "${PART[cutover]}") s ($(runs "${PART[cutover]}")); its bytes are the EXTENT payloads of start's JSON, both disks. rsync: export $(median "${PART[export]}") s ($(runs "${PART[export]}")) + rsync $(median "${PART[rsync]}") s ($(runs "${PART[rsync]}")); its bytes are sent + received of --stats. qemu-img: the data the cloud disk's view holds, which NBD reads)"
echo "  then once: failback promote on the DR side $PROMOTE_T s (F = $F); the next forward cycle an incremental from F, $(mib "$NEXT_B") MiB on the wire"
echo
BX=$(ratio "${BYTES[$BEST]}" "${BYTES[nestor]}")
TX=$(ratio "$BEST_T" "${MED[nestor]}")
echo "targets (strongest rival: ${LABEL[$BEST]}, $BEST_T s):"
printf '  %-66s %8s  %s\n' ">= 10x fewer bytes than the strongest rival" "${BX}x" "$(verdict "$BX" 10)"
printf '  %-66s %8s  %s\n' ">= 5x faster than the strongest rival" "${TX}x" "$(verdict "$TX" 5)"
