#!/bin/bash
# Issue 13, item 2 and acceptance 2: a qemu-nbd child never outlives the
# agent or the receiver that started it. Each is stopped right after it
# started qemu-nbd and before it connected to it (NESTOR_TEST_PAUSE=spawn)
# and killed -9 there: no qemu-nbd of the image survives, the next cycle
# succeeds, and the source image can be written again (qemu's image lock).
# Nor does a kill -9 leave a socket directory behind (the libnbd
# socket-activation dirs /tmp/libnbdXXXXXX of old, a known debt; libnbd
# 1.14 makes them in /tmp whatever TMPDIR says): the qemu-nbd children
# listen on a socket whose directory, made under TMPDIR (here $T/tmp, ours
# alone), was removed before they ran, and $T/tmp stays empty.
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/tmp"
export TMPDIR=$T/tmp

pki_and_receiver 8M
SRC=$T/src.qcow2
qemu-img create -q -f qcow2 "$SRC" 64M
random_writes "$SRC" qcow2 64 65536 1 >/dev/null
write_agent_conf "$T/agent.conf" agent1 orph d="$SRC:qcow2"
cycle_once "seed"

# wait_until SECONDS CMD...: poll CMD every 50 ms, at most SECONDS.
wait_until() {
	local n=$(($1 * 20)) i; shift
	for i in $(seq 1 $n); do "$@" && return 0; sleep 0.05; done
	return 1
}
stopped() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = T ]; }
# holders PATH: pids of the qemu-nbd processes whose command line names PATH.
holders() {
	local p
	for p in /proc/[0-9]*; do
		tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q "qemu-nbd.*$1" && echo "${p#/proc/}"
	done
	return 0
}
none_holds() { [ -z "$(holders "$1")" ]; }
# has_kid PID: PID has a qemu-nbd child (exec'd: the hook stops the parent
# right after the fork).
has_kid() { pgrep -P "$1" -x qemu-nbd >/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; }
# sock_of PID: the path of the unix socket PID listens on (ss), if any.
sock_of() { ss -xlpn 2>/dev/null | awk -v p="pid=$1," 'index($0, p) { print $5; exit }'; }
# check_no_sockdir WHO PIDS: each child listens on a socket made under
# $T/tmp whose directory is gone already.
check_no_sockdir() {
	local k path
	for k in $2; do
		path=$(sock_of "$k")
		echo "$1's qemu-nbd $k listens on ${path:-nothing}"
		check "$1's qemu-nbd $k: socket made under TMPDIR, its directory already gone" \
			bash -c "[[ '$path' == '$T/tmp/'*/* ]] && [ ! -e '$(dirname "${path:-/x/y}")' ]"
	done
}

# ---- the agent ----
random_writes "$SRC" qcow2 16 65536 2 >/dev/null
NESTOR_TEST_PAUSE=spawn "$NESTOR" agent --config "$T/agent.conf" --once --no-progress \
	2>>"$T/agent.log" &
apid=$!
wait_until 30 stopped $apid || { kill -9 $apid; die "the agent never stopped after its spawn"; }
wait_until 10 has_kid $apid
kids=$(pgrep -P $apid -x qemu-nbd | tr '\n' ' ')
echo "agent $apid stopped; its qemu-nbd: $kids; holders of the source: $(holders "$SRC")"
check "the agent had started its qemu-nbd on the source" [ -n "$kids" ]
check "that qemu-nbd serves the source image" [ -n "$(holders "$SRC")" ]
check_no_sockdir agent "$kids"
kill -9 $apid
wait $apid 2>/dev/null
check_eq "no temporary directory left by the killed agent" "" "$(ls -A "$T/tmp")"
check "no qemu-nbd of the source outlives the killed agent" wait_until 10 none_holds "$SRC"
check "the source image is writable again" \
	qemu-io -f qcow2 -c "write -P 9 1M 64k" "$SRC"
cycle_once "after the agent's kill"
check "the point after the agent's kill equals the source" same_image "$SRC" qcow2 orph d "$PT"
check_eq "no child record left by the agent" "" "$(ls "$T/agent-state/.children")"

# ---- the receiver ----
random_writes "$SRC" qcow2 16 65536 3 >/dev/null
stop_receiver
NESTOR_TEST_PAUSE=spawn start_receiver
"$NESTOR" agent --config "$T/agent.conf" --once --no-progress 2>>"$T/agent.log" &
apid=$!
wait_until 30 stopped "$RX_PID" || die "the receiver never stopped after its spawn"
wait_until 10 has_kid "$RX_PID"
kids=$(pgrep -P "$RX_PID" -x qemu-nbd | tr '\n' ' ')
echo "receiver $RX_PID stopped; its qemu-nbd: $kids"
check "the receiver had started a qemu-nbd" [ -n "$kids" ]
check_no_sockdir receiver "$kids"
kill9_receiver
for k in $kids; do
	check "qemu-nbd $k does not outlive the killed receiver" \
		wait_until 10 gone "$k"
done
check "no qemu-nbd of the store is left" wait_until 10 none_holds "$T/store/"
check_eq "no temporary directory left by the killed receiver" "" "$(ls -A "$T/tmp")"
wait $apid 2>/dev/null
start_receiver
cycle_once "after the receiver's kill"
check "the point after the receiver's kill equals the source" same_image "$SRC" qcow2 orph d "$PT"
check_eq "no child record left by the receiver" "" "$(ls "$T/store/.children")"
check "the source image is writable" qemu-io -f qcow2 -c "write -P 8 2M 64k" "$SRC"
stop_receiver
finish
