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
# PKI files named by a config: loaded as the daemon will load them
P=$T/pki
"$ROOT/deploy/nestor-pki.sh" "$T/pki2" ca >/dev/null
"$ROOT/deploy/nestor-pki.sh" "$T/pki2" agent agent1 >/dev/null
# pki_conf OUT KEY=PATH...: agent.conf with its ca/cert/key lines replaced
pki_conf() {
	local out=$1 kv; shift
	cp "$T/agent.conf" "$out"
	for kv in "$@"; do
		sed -i "s#^${kv%%=*} = .*#${kv%%=*} = ${kv#*=}#" "$out"
	done
}
pki_conf "$T/pki-other.conf" cert="$T/pki2/agent1.crt" key="$T/pki2/agent1.key"
"$NESTOR" config check agent "$T/pki-other.conf" 2>"$T/err-other"; rc=$?
check "cert from another CA: non-zero exit" [ $rc -ne 0 ]
check "cert from another CA: the cert named" grep -q "pki2/agent1.crt.*does not verify" "$T/err-other"
pki_conf "$T/pki-mismatch.conf" key="$P/agent2.key"
"$NESTOR" config check agent "$T/pki-mismatch.conf" 2>"$T/err-mismatch"; rc=$?
check "key not matching the cert: non-zero exit" [ $rc -ne 0 ]
check "key not matching the cert: key and cert named" \
	grep -q "agent2.key for certificate $P/agent1.crt: .*mismatch" "$T/err-mismatch"
head -c 600 /dev/urandom | base64 > "$T/garbage-ca.crt"
pki_conf "$T/pki-garbage.conf" ca="$T/garbage-ca.crt"
"$NESTOR" config check agent "$T/pki-garbage.conf" 2>"$T/err-garbage"; rc=$?
check "garbage CA file: non-zero exit" [ $rc -ne 0 ]
check "garbage CA file: the file named" grep -q "CA file $T/garbage-ca.crt" "$T/err-garbage"
pki_conf "$T/pki-missing.conf" cert="$P/nosuch.crt"
"$NESTOR" config check agent "$T/pki-missing.conf" 2>"$T/err-missing"; rc=$?
check "missing cert file: non-zero exit and the file named" \
	bash -c "[ $rc -ne 0 ] && grep -q nosuch.crt '$T/err-missing'"
sed 's#^cert = .*#cert = '"$P"'/agent1.crt#; s#^key = .*#key = '"$P"'/agent1.key#' \
	"$T/receiver.conf" > "$T/pki-rxagent.conf"
"$NESTOR" config check receiver "$T/pki-rxagent.conf" 2>"$T/err-rxagent"; rc=$?
check "receiver with an agent (clientAuth) cert: non-zero exit" [ $rc -ne 0 ]
cp "$P/agent1.key" "$T/loose.key"
chmod 0644 "$T/loose.key"
pki_conf "$T/pki-loose.conf" key="$T/loose.key"
"$NESTOR" config check agent "$T/pki-loose.conf" 2>"$T/err-loose"; rc=$?
check "0644 key: passes" [ $rc -eq 0 ]
check "0644 key: warned, key named" grep -q "warn.*loose.key is readable by group or others" "$T/err-loose"
check "0600 key: no warning" bash -c "! '$NESTOR' config check agent '$T/agent.conf' 2>&1 >/dev/null | grep -q readable"
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
full_re="the replica store is full: $T/store has [0-9]* MiB free, this point needs at least [0-9]* MiB more (disk sizes minus durable progress)"
check "agent is told the store is full, where and how much is needed" grep -q "$full_re" "$T/agent.log"
check "receiver logs the same" grep -q "group big: the replica store is full: $T/store has" "$T/receiver.log"
grep -m1 "store is full" "$T/agent.log" # for the test log
check "nobody says just 'cannot persist progress (receiver storage error)'" \
	bash -c "! grep -q 'cannot persist progress (receiver storage error)' '$T/agent.log'"
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
