#!/bin/bash
# Bad input on the command line and in the environment: malformed configs
# and unknown keys (file:line), a vanished disk, a full store. Each gives a
# clear message and a non-zero exit; committed points stay intact.
. "$(dirname "$0")/lib.sh"

make_pki
write_receiver_conf
truncate -s 8M "$T/d.raw"
write_agent_conf "$T/agent.conf" agent1 g d="$T/d.raw:raw"

# config errors
sed 's/^state_dir/stat_dir/' "$T/agent.conf" > "$T/bad1.conf"
line=$(grep -n '^stat_dir' "$T/bad1.conf" | cut -d: -f1)
"$NESTOR" config check agent "$T/bad1.conf" 2>"$T/err1"; rc=$?
check "unknown key: non-zero exit" [ $rc -ne 0 ]
check "unknown key: file:line in the message" grep -q "bad1.conf:$line:" "$T/err1"
printf '[agent\nname = x\n' > "$T/bad2.conf"
"$NESTOR" agent --config "$T/bad2.conf" --once 2>"$T/err2"; rc=$?
check "malformed config: non-zero exit" [ $rc -ne 0 ]
check "malformed config: file:line in the message" grep -q "bad2.conf:1:" "$T/err2"
sed 's/^\[disk g d\]/[disk g ..]/' "$T/agent.conf" > "$T/bad3.conf"
check "disk name '..' refused in config" bash -c "! '$NESTOR' config check agent '$T/bad3.conf' 2>/dev/null"
check "valid config accepted" "$NESTOR" config check agent "$T/agent.conf"
check "valid receiver config accepted" "$NESTOR" config check receiver "$T/receiver.conf"
"$NESTOR" points --config "$T/missing.conf" g 2>"$T/err4"; rc=$?
check "missing config file: non-zero exit and the path named" \
	bash -c "[ $rc -ne 0 ] && grep -q missing.conf '$T/err4'"
"$NESTOR" frobnicate 2>/dev/null; rc=$?
check "unknown command exits 2" [ $rc -eq 2 ]

# a full store: tmpfs of 48 MiB
mount -t tmpfs -o size=48M nestor-test "$T/store" || die "cannot mount a tmpfs"
trap 'umount -l "$T/store" 2>/dev/null; cleanup' EXIT
start_receiver
truncate -s 256M "$T/big.raw"
random_writes "$T/big.raw" raw 160 65536 7 >/dev/null
write_agent_conf "$T/agent-big.conf" agent1 big d="$T/big.raw:raw"
check "seed fits in the store" agent_once "$T/agent-big.conf" >/dev/null
cp --sparse=always "$T/big.raw" "$T/big-p1.raw"
random_writes "$T/big.raw" raw 1600 65536 8 >/dev/null
agent_once "$T/agent-big.conf" >/dev/null; rc=$?
check "cycle into a full store fails" [ $rc -ne 0 ]
check "agent reports the store error" grep -qi "space\|store" "$T/agent.log"
check "receiver logs the full disk" grep -qi "no space" "$T/receiver.log"
check "still exactly one point" [ "$(npoints big)" = 1 ]
check "point 1 intact after ENOSPC" same_image "$T/big-p1.raw" raw big d 1
check "receiver survived ENOSPC" kill -0 "$RX_PID"

# a vanished disk
rm -f "$T/d.raw"
agent_once "$T/agent.conf" >/dev/null; rc=$?
check "vanished disk: non-zero exit" [ $rc -ne 0 ]
check "vanished disk: path named" grep -q "d.raw" "$T/agent.log"
stop_receiver
finish
