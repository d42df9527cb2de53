# Shared helpers for Nestor's integration tests (sourced). Each test gets its
# own scratch dir, PKI, configs, a receiver on a free loopback port; cleanup
# runs on exit and leaves nothing running.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NESTOR=${NESTOR:-$ROOT/build/nestor}
# NESTOR_SCRATCH: a scratch dir the sourcing script made (and cleans up)
# itself, e.g. the bench's in /var/tmp; by default one in /tmp per test.
T=${NESTOR_SCRATCH:-$(mktemp -d /tmp/nestor-it.XXXXXX)}
RX_PID=
PASS=0
FAIL=0

LV_DIR=
CEPH_DIR=
cleanup() {
	stop_libvirtd
	[ -n "$CEPH_DIR" ] && "$ROOT/tests/lib/ceph.sh" stop "$CEPH_DIR" >/dev/null 2>&1
	[ -n "$RX_PID" ] && kill -9 "$RX_PID" 2>/dev/null
	# libnbd's qemu-nbd children of a killed receiver exit with their socket;
	# make sure none of ours outlives the test.
	pkill -9 -f "qemu-nbd.*$T" 2>/dev/null
	# a powerfs layer (tests/lib/powerfs.sh) must be gone before rm -rf
	declare -F powerfs_cleanup >/dev/null && powerfs_cleanup
	wait 2>/dev/null
	accel_keep
	[ "${KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap cleanup EXIT

# The accelerator verdict (failover/accel.h) carried from test to test: where
# /dev/kvm exists but cannot run the guest, the first drill or failover of a
# fresh store spends 20 s finding that out. write_receiver_conf starts the
# store with the tcg verdict an earlier test's drill kept here; nestor checks
# its host, kernel, QEMU and age itself and probes again when it does not
# fit. A test of the probe sets ACCEL_SEED=0 first. A kvm verdict is not
# carried: its first VM proves it anyway, and a test may have forged one.
ACCEL_CACHE=${NESTOR_CACHE:-/var/cache/nestor-test}/accel-verdict.json
accel_seed() {
	[ "${ACCEL_SEED:-1}" = 1 ] && [ -f "$ACCEL_CACHE" ] || return 0
	cp "$ACCEL_CACHE" "$1/.accel-verdict.json"
}
accel_keep() {
	local v=$T/store/.accel-verdict.json tmp
	[ "$(jq -r .verdict "$v" 2>/dev/null)" = tcg ] || return 0
	cmp -s "$v" "$ACCEL_CACHE" && return 0
	mkdir -p "${ACCEL_CACHE%/*}" && tmp=$(mktemp "$ACCEL_CACHE.XXXXXX") || return 0
	cp "$v" "$tmp" && mv -f "$tmp" "$ACCEL_CACHE" || rm -f "$tmp"
}

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
check() { # check DESCRIPTION CMD...
	local d=$1; shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
check_eq() { # check_eq DESCRIPTION WANT GOT
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: expected '$2', got '$3'"; fi
}
# finish: the summary line; status 0 only if nothing failed and something was
# checked (a test that checked nothing did not pass).
finish() {
	echo "$(basename "$0" .sh): $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ]
}
# die MESSAGE: a fatal failure; the agent's and receiver's last log lines
# go with it (run.sh shows a failed test's last lines, often all there is
# of a CI failure).
die() {
	local f
	echo "FATAL: $*" >&2
	for f in "$T/agent.log" "$T/receiver.log"; do
		[ -s "$f" ] && { echo "--- last lines of ${f##*/}:"; tail -n 12 "$f"; } >&2
	done
	not_ok "$*"; finish; exit 1
}

free_port() {
	python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# free_net24 A.B SEED: "A.B.X" for a /24 no address or route of this host
# touches, X from 20..219 starting at SEED's place (non-zero if none is). A fixed subnet is not
# safe: a test beside this one, or a run killed earlier that left its bridge
# behind, may hold it, and libvirt refuses to start a network whose subnet
# has a route ("Network is already in use by interface ...").
free_net24() {
	local i x
	for i in $(seq 0 199); do
		x=$((($2 + i) % 200 + 20))
		ip -4 -o addr show | grep -q " $1\.$x\." && continue
		ip -4 route show | grep -q "^$1\.$x\." && continue
		echo "$1.$x"
		return 0
	done
	echo "no free /24 under $1.0.0/16" >&2
	return 1
}

# make_pki: CA, receiver cert, agent certs agent1 (all groups), agent2.
make_pki() {
	local p=$T/pki
	mkdir -p "$p"
	"$ROOT/deploy/nestor-pki.sh" "$p" ca >/dev/null
	"$ROOT/deploy/nestor-pki.sh" "$p" receiver receiver >/dev/null
	"$ROOT/deploy/nestor-pki.sh" "$p" agent agent1 >/dev/null
	"$ROOT/deploy/nestor-pki.sh" "$p" agent agent2 >/dev/null
}

# write_receiver_conf [checkpoint_interval]
write_receiver_conf() {
	PORT=$(free_port)
	mkdir -p "$T/store"
	accel_seed "$T/store"
	cat > "$T/receiver.conf" <<EOC
[receiver]
listen = 127.0.0.1:$PORT
ca = $T/pki/ca.crt
cert = $T/pki/receiver.crt
key = $T/pki/receiver.key
store = $T/store
log_level = ${RX_LOG:-info}
checkpoint_interval = ${1:-64M}

[client agent1]
groups = *

[client agent2]
groups = other
EOC
}

# start_ceph: a private single-node Ceph for this test (tests/lib/ceph.sh in
# $T/ceph); exports CEPH_CONF. cleanup stops it.
start_ceph() {
	CEPH_DIR=$T/ceph
	eval "export $("$ROOT/tests/lib/ceph.sh" start "$CEPH_DIR")" || die "ceph did not start"
}

# use_ceph_store POOL: the receiver keeps its points in Ceph (the cluster of
# $CEPH_CONF), in POOL, which is created here.
use_ceph_store() {
	ceph osd pool create "$1" 8 >/dev/null 2>&1 && rbd pool init "$1" ||
		die "cannot create pool $1"
	sed -i "s|^store = .*|&\nstore_backend = ceph\nceph_conf = $CEPH_CONF\nceph_pool = $1|" \
		"$T/receiver.conf"
}

# start_libvirtd: a private libvirtd for this test (tests/lib/libvirtd.sh)
# with the test-VM helpers of tests/lib/vm.sh; exports VM_URI,
# LIBVIRT_DEFAULT_URI (nestor drill/failover find it there) and VM_DIR.
# cleanup stops it.
start_libvirtd() {
	LIB=$ROOT/tests/lib
	# shellcheck source=../lib/vm.sh
	. "$LIB/vm.sh"
	export VM_DIR=$T/vm
	LV_DIR=$T/lv
	VM_URI=$("$LIB/libvirtd.sh" start "$LV_DIR") || { LV_DIR=; die "libvirtd did not start"; }
	export VM_URI LIBVIRT_DEFAULT_URI=$VM_URI
}

# stop_libvirtd: destroy what runs under the private libvirtd first:
# stopping it kills its domains but leaves the bridges of active networks.
stop_libvirtd() {
	local n
	[ -n "$LV_DIR" ] || return 0
	for n in $(virsh -q -c "$VM_URI" list --name 2>/dev/null); do
		virsh -q -c "$VM_URI" destroy "$n" >/dev/null 2>&1
	done
	for n in $(virsh -q -c "$VM_URI" net-list --name 2>/dev/null); do
		virsh -q -c "$VM_URI" net-destroy "$n" >/dev/null 2>&1
	done
	"$ROOT/tests/lib/libvirtd.sh" stop "$LV_DIR" >/dev/null 2>&1
	LV_DIR=
}

# agent_conf_head AGENTNAME: the [agent] section's lines that every agent.conf
# of the tests shares (receiver on $PORT, the agent's PKI, state dir).
agent_conf_head() {
	mkdir -p "$T/agent-state"
	cat <<EOC
[agent]
name = $1
receiver = 127.0.0.1:$PORT
server_name = receiver
ca = $T/pki/ca.crt
cert = $T/pki/$1.crt
key = $T/pki/$1.key
state_dir = $T/agent-state
EOC
}

# write_agent_conf FILE AGENTNAME GROUP SPEC...
# SPEC: DISKNAME=PATH[:FORMAT] (a disk image), DISKNAME=rbd:POOL/IMAGE (an RBD
# image of the cluster of $CEPH_CONF), domains=NAME... (libvirt domains of
# the private libvirtd, $VM_URI), domain_xml=FILE... (the group's VM XML).
write_agent_conf() {
	local f=$1 name=$2 group=$3; shift 3
	agent_conf_head "$name" > "$f"
	cat >> "$f" <<EOC
compress_level = ${COMPRESS:-3}

[group $group]
EOC
	case " $* " in *=rbd:*) printf 'ceph_conf = %s\n' "$CEPH_CONF" >> "$f";; esac
	local spec dname path fmt
	for spec in "$@"; do
		case "$spec" in
		domains=*) printf 'domains = %s\nlibvirt_uri = %s\n' "${spec#*=}" "$VM_URI" >> "$f";;
		domain_xml=*) printf 'domain_xml = %s\n' "${spec#*=}" >> "$f";;
		esac
	done
	for spec in "$@"; do
		dname=${spec%%=*}; path=${spec#*=}; fmt=
		case "$dname" in domains|domain_xml) continue;; esac
		case "$path" in rbd:*)
			printf '\n[disk %s %s]\nrbd = %s\n' "$group" "$dname" "${path#rbd:}" >> "$f"
			continue;;
		esac
		case "$path" in *:qcow2|*:raw) fmt=${path##*:}; path=${path%:*};; esac
		printf '\n[disk %s %s]\npath = %s\n' "$group" "$dname" "$path" >> "$f"
		[ -n "$fmt" ] && printf 'format = %s\n' "$fmt" >> "$f"
	done
	return 0
}

# source_vm_disks: the disks of a source VM in $T/src: os.qcow2, an overlay of
# the test guest image $IMG, and data.raw, an empty 16 MiB raw disk.
source_vm_disks() {
	mkdir -p "$T/src"
	qemu-img create -q -f qcow2 -b "$IMG" -F qcow2 "$T/src/os.qcow2"
	truncate -s 16M "$T/src/data.raw"
}

# vm_source_setup: the set-up of the drill and failover tests: a private
# libvirtd, the test guest image ($IMG), PKI and receiver, source_vm_disks.
vm_source_setup() {
	start_libvirtd
	IMG=$("$LIB/vm-image.sh") || die "no test guest image"
	pki_and_receiver
	source_vm_disks
}

# random_os_data_group GROUP SIZE WRITES: a group of two disks, $T/os.qcow2 and
# $T/data.raw of SIZE, each with WRITES random 64 KiB writes; its agent.conf
# is $T/agent.conf (agent1).
random_os_data_group() {
	qemu-img create -q -f qcow2 "$T/os.qcow2" "$2"
	truncate -s "$2" "$T/data.raw"
	random_writes "$T/os.qcow2" qcow2 "$3" 65536 1 >/dev/null
	random_writes "$T/data.raw" raw "$3" 65536 2 >/dev/null
	write_agent_conf "$T/agent.conf" agent1 "$1" os="$T/os.qcow2:qcow2" data="$T/data.raw:raw"
}

# guest_write_cycle VM CYCLE GUEST_CMD: GUEST_CMD in the guest (it must print
# "written"), then one agent cycle of $T/agent.conf, which must commit point
# CYCLE + 1. Sets RES (the agent's JSON) and PT (the point).
guest_write_cycle() {
	local out
	out=$(vm_run "$1" "$3") || die "guest write failed: $out"
	cycle_once "cycle $2"
	check "cycle $2 committed point $(($2 + 1))" [ "$PT" = $(($2 + 1)) ]
}

# failover_console VM WORKDIR: the console of the failover's domain VM
# (failover/drill-vm.c: <WORKDIR>/<VM>.sock, or a short /tmp dir for a deep
# work dir) linked in $T/con under the names tests/lib/vm.sh uses, so that
# cloud_run VM CMD [TIMEOUT_S] runs CMD in it (vm_run).
failover_console() {
	local sock=$2/$1.sock
	mkdir -p "$T/con" # short enough for a socket path; removed with $T
	[ -S "$sock" ] || sock=$(ls -t /tmp/nestor-drill-*/"$1".sock 2>/dev/null | head -1)
	[ -S "$sock" ] || die "no console socket of the failover domain $1"
	ln -sf "$sock" "$T/con/$1.console.sock"
	ln -f "$2/$1.console.log" "$T/con/$1.console.log" # vm_run stats it: no symlink
}
cloud_run() { VM_DIR=$T/con vm_run "$1" "$2" "${3:-120}"; }

# failover_own_bytes WORKDIR VM: W, the bytes the failover overlays of VM
# hold of their own (their top layer: data and written zeros).
failover_own_bytes() {
	local f sum=0 n
	for f in "$1/$2".*.qcow2; do
		n=$(qemu-img map --output=json -U -f qcow2 "$f" |
			jq '[.[] | select(.depth == 0 and (.present // (.data or .zero))) | .length] | add // 0')
		sum=$((sum + n))
	done
	echo $sum
}

# pki_and_receiver [checkpoint_interval]: make_pki, write_receiver_conf, start_receiver
pki_and_receiver() {
	make_pki
	write_receiver_conf "$@"
	start_receiver
}

# cycle_once LABEL: one agent cycle of $T/agent.conf; sets RES (its JSON) and
# PT (its point). A failed cycle shows the ends of the logs and dies.
cycle_once() {
	RES=$(agent_once "$T/agent.conf") ||
		{ tail -n 20 "$T/agent.log" "$T/receiver.log"; die "$1 failed"; }
	echo "$1: $RES"
	PT=$(echo "$RES" | jq .point)
}

# check_sent_incremental LABEL CHANGED: the cycle of $RES was incremental and
# put at most 1.2 x CHANGED bytes + 64 KiB on the wire.
check_sent_incremental() {
	local sent
	sent=$(echo "$RES" | jq '.bytes_wire')
	check "$1 incremental" [ "$(echo "$RES" | jq .incremental)" = true ]
	check "$1: $sent bytes on the wire <= 1.2 x $2 written" [ "$sent" -le $(($2 * 12 / 10 + 65536)) ]
}

# check_cheap_resync LABEL: one cycle that must resync by block hashes and
# send about the 128 KiB the guest wrote. Sets RES and PT.
check_cheap_resync() {
	cycle_once "$1"
	check "$1: resync" [ "$(echo "$RES" | jq .resync)" = true ]
	check "$1: sent $(echo "$RES" | jq .bytes_data) bytes, about the 128 KiB written" \
		[ "$(echo "$RES" | jq .bytes_data)" -le $((131072 * 12 / 10 + 65536)) ]
}

start_receiver() {
	# receiver.log is appended across restarts: wait for one more
	# "listening" line than it already has.
	local i before
	before=$(grep -c "listening" "$T/receiver.log" 2>/dev/null)
	"$NESTOR" receiver --config "$T/receiver.conf" >>"$T/receiver.log" 2>&1 &
	RX_PID=$!
	for i in $(seq 1 300); do
		[ "$(grep -c "listening" "$T/receiver.log" 2>/dev/null)" -gt "${before:-0}" ] && return 0
		kill -0 "$RX_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$T/receiver.log" >&2
	die "receiver did not start"
}

stop_receiver() {
	[ -n "$RX_PID" ] || return 0
	kill -TERM "$RX_PID" 2>/dev/null
	wait "$RX_PID" 2>/dev/null
	RX_PID=
}

kill9_receiver() {
	[ -n "$RX_PID" ] || return 0
	kill -9 "$RX_PID" 2>/dev/null
	wait "$RX_PID" 2>/dev/null
	RX_PID=
}

# points_json GROUP -> JSON on stdout
points_json() { "$NESTOR" points --config "$T/receiver.conf" "$1" --json; }
npoints() { points_json "$1" | jq '.points | length'; }
last_point() { points_json "$1" | jq '.points[-1].id // 0'; }

# wait_grep PATTERN FILE [SECONDS]: until FILE has a line matching PATTERN
# (grep -E), at most SECONDS (5); 0 found, 1 not
wait_grep() {
	local i
	for i in $(seq 1 $((${3:-5} * 20))); do
		grep -qE "$1" "$2" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# wait_retention GROUP POINT: the receiver's retention after POINT's commit
# is done (it runs after COMMITTED is sent: issue 17), at most 60 s
wait_retention() {
	local i
	for i in $(seq 1 600); do
		grep -q "group $1: retention after point $2 done" "$T/receiver.log" && return 0
		sleep 0.1
	done
	die "retention after point $2 of group $1 did not end in 60 s"
}

# point_file GROUP DISK POINT -> the chain top of that point
point_file() { echo "$T/store/$1/disks/$2/$3.qcow2"; }

# store_sums GROUP: checksums of the group's point files (disks, metadata,
# catalog), to prove a drill or failover left them untouched
store_sums() { find "$T/store/$1/disks" "$T/store/$1/meta" "$T/store/$1/catalog.json" -type f -print0 | sort -z | xargs -0 sha256sum; }

# host_nft_table NAME PORT: a table of the operator's own in the host's
# nftables (one input rule accepting tcp PORT) that a test's drills and
# failovers must leave byte for byte; the test deletes it.
host_nft_table() {
	nft -f - <<EON || die "cannot make the host table $1"
table inet $1 {
	chain input {
		type filter hook input priority 10; policy accept;
		tcp dport $2 counter accept comment "the operator's own rule"
	}
}
EON
}

# nestor_table STORE: the nftables table of the DR networks of the store at
# STORE (failover/drnet.h): "inet nestor_" and the FNV-1a hash of its real
# path in 8 hex digits.
nestor_table() {
	python3 -c 'import sys
h = 2166136261
for b in sys.argv[1].encode():
    h = ((h ^ b) * 16777619) & 0xffffffff
print("inet nestor_%08x" % h)' "$(realpath -m "$1")"
}

# host_nft_state [TABLES]: the nftables ruleset as other tests on the shared
# host leave it alone: without rules naming an interface or address (their
# libvirt rules come and go), their host_nft_table tables (each test
# compares its own byte for byte), and the tables matching the extended
# regexp TABLES ("inet nestor": another test's failover).
host_nft_state() {
	nft -s list ruleset 2>/dev/null |
		awk -v skip="^table (inet (nst|ndt)host[0-9a-f]+${1:+|$1}) [{]" \
			'$0 ~ skip { s = 1 } !s { print } s && /^}/ { s = 0 }' |
		grep -Ev '((iif|oif)name|saddr|daddr) ' | grep -v '^#'
}

# libvirt_fw_ready: start and destroy a throwaway isolated network under the
# test's libvirtd. The first network with firewall rules libvirt starts on a
# host adds its LIBVIRT_* chains (tables ip/ip6 filter, nat, mangle) and
# leaves them for good; a test that compares the host's ruleset before and
# after must not take libvirt's one-time setup for its own leftovers.
libvirt_fw_ready() {
	local sub name=nstfw$$ br=nstfw$(printf '%04x' $(($$ % 65536)))
	sub=$(free_net24 10.254 $$) || die "no free subnet"
	virsh -q -c "$VM_URI" net-create /dev/stdin >/dev/null <<EON || die "cannot start network $name"
<network><name>$name</name><bridge name='$br' stp='off'/>
<ip address='$sub.1' netmask='255.255.255.0'/></network>
EON
	virsh -q -c "$VM_URI" net-destroy "$name" >/dev/null || die "cannot destroy network $name"
}

# host_net_state LINKS ADDRS ROUTES [TABLES]: what a drill or failover may
# touch on the shared host and must give back: the links and bridges whose
# names match the extended regexp LINKS, addresses matching ADDRS, routes
# matching ROUTES, host_nft_state TABLES, and the rules matching ADDRS.
host_net_state() {
	echo "== links"; ip -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//' | grep -E "$1" | sort
	echo "== addresses"; ip -o addr show | grep -E "$2" | awk '{ print $2, $4 }' | sort
	echo "== bridges"; ip -o link show type bridge | awk -F': ' '{ print $2 }' | grep -E "$1" | sort
	echo "== routes"; ip route show table all | grep -E "$3" | sort
	echo "== nftables"; host_nft_state "${4:-}"
	echo "== nftables ours"; nft -s list ruleset 2>/dev/null | grep -E "$2"
}

# check_drill_gone NAME LOG GROUP SUMS: nothing of the drill is left (domains,
# networks, overlays, sockets) and the point files still have SUMS. The bridge
# checked is the one the drill's LOG names: other drills on the host (another
# test, another checkout) have bridges too.
check_drill_gone() {
	local doms nets ovl br
	doms=$(virsh -q -c "$VM_URI" list --all --name | grep -c -- '-drill-')
	nets=$(virsh -q -c "$VM_URI" net-list --all --name | grep -c '^nestor-drill-')
	ovl=$(find "$T/store/$3/drills" -name '*.qcow2' -o -name '*.sock' | wc -l)
	check "$1: no drill domain left" [ "$doms" = 0 ]
	check "$1: no drill network left" [ "$nets" = 0 ]
	check "$1: no overlay or socket left" [ "$ovl" = 0 ]
	br=$(grep -o 'bridge ndr[0-9a-f]*' "$2" | head -1 | cut -d' ' -f2)
	check "$1: the log names the drill's bridge" [ -n "$br" ]
	check "$1: no drill bridge left" bash -c "! ip -o link show type bridge | grep -q ' ${br:-ndr}:'"
	check "$1: point files bit-identical" [ "$(store_sums "$3")" = "$4" ]
}

# same_image SRC SRCFMT GROUP DISK POINT: qemu-img compare the source with the point
same_image() {
	qemu-img compare -q -f "$2" -F qcow2 "$1" "$(point_file "$3" "$4" "$5")"
}

# random_writes IMG FMT COUNT SIZE SEED: COUNT writes of SIZE bytes of fresh random data
# at random aligned offsets of the image (deterministic per SEED); prints bytes written.
random_writes() {
	local img=$1 fmt=$2 count=$3 size=$4 seed=$5
	python3 - "$img" "$fmt" "$count" "$size" "$seed" <<'PY'
import os, random, subprocess, sys
img, fmt, count, size, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
r = random.Random(seed)
vsize = int(subprocess.check_output(["qemu-img", "info", "--output=json", "-f", fmt, img]).decode().split('"virtual-size":')[1].split(",")[0])
offs = sorted(set(r.randrange(0, vsize // size) * size for _ in range(count)))
if fmt == "raw":
    fd = os.open(img, os.O_WRONLY)
    for o in offs:
        os.pwrite(fd, r.randbytes(size), o)
    os.fsync(fd); os.close(fd)
else:
    # qemu-io writes through the qcow2 driver, so the persistent bitmap sees them
    cmds = []
    tmp = img + ".pattern"
    for i, o in enumerate(offs):
        cmds += ["-c", "write -P %d %d %d" % (r.randrange(1, 255), o, size)]
    subprocess.check_call(["qemu-io", "-f", "qcow2"] + cmds + [img], stdout=subprocess.DEVNULL)
print(len(offs) * size)
PY
}

# bandwidth_transfer LIMIT_MIB DATA_MIB: PKI, receiver, and one agent cycle of
# group bw (disk d: DATA_MIB MiB of incompressible data in a 1 GiB raw
# image, compression off, so the wire carries the payload) limited to
# LIMIT_MIB MiB/s; the agent's JSON line goes to $T/bw.json. Shared by
# test-bandwidth.sh (the limit holds) and bench/bandwidth.sh (the figures).
bandwidth_transfer() {
	pki_and_receiver
	truncate -s 1G "$T/d.raw"
	head -c "$2M" /dev/urandom | dd of="$T/d.raw" conv=notrunc status=none
	COMPRESS=0 write_agent_conf "$T/agent.conf" agent1 bw d="$T/d.raw:raw"
	sed -i "s/^\[group bw\]\$/[group bw]\nbandwidth = $1M/" "$T/agent.conf"
	"$NESTOR" config check agent "$T/agent.conf" >/dev/null || die "bad config"
	agent_once "$T/agent.conf" > "$T/bw.json" || die "transfer failed"
	cat "$T/bw.json"
}

agent_once() { # agent_once CONF [args...] -> JSON line(s) on stdout
	local conf=$1; shift
	"$NESTOR" agent --config "$conf" --once --json --no-progress "$@" 2>>"$T/agent.log"
}

# raw_domain_xml NAME IMG FILE: a minimal shut-off domain (64 MiB, no
# network) booting the raw image IMG as vda, written to FILE: what a group's
# domain_xml names so that its points can be drilled.
raw_domain_xml() {
	cat > "$3" <<EOX
<domain type='qemu'><name>$1</name>
  <memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os>
  <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>
    <source file='$2'/><target dev='vda'/></disk></devices>
</domain>
EOX
}
