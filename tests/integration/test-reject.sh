#!/bin/bash
# Acceptance 4-6 of the foundation: malformed frames, TLS and authorisation
# failures, hostile names. Each is refused (ERROR frame / TLS failure) with a
# log line on the receiver, and nothing is written for it.
. "$(dirname "$0")/lib.sh"

pki_and_receiver
P=$T/pki
RC="python3 $ROOT/tests/integration/rawclient.py --port $PORT --ca $P/ca.crt"
A1="--cert $P/agent1.crt --key $P/agent1.key"

check "valid client gets a PROGRESS answer" $RC $A1 query
check "corrupted extent (checksum) -> ERROR 3" $RC $A1 --expect-code 3 badsum
check "receiver logged the checksum mismatch" grep -q "checksum mismatch" "$T/receiver.log"
check "frame over the size limit -> ERROR 1" $RC $A1 --expect-code 1 oversize
check "unknown message type -> ERROR 1" $RC $A1 --expect-code 1 unknowntype
check "unknown flags -> ERROR 1" $RC $A1 --expect-code 1 badflags
check "truncated payload -> ERROR 1" $RC $A1 --expect-code 1 truncated
check "extent past the end of the disk -> ERROR 1" $RC $A1 --expect-code 1 pastend
check "stream cut mid-frame is survived" $RC $A1 cut
check "hash query for a point that does not exist -> ERROR 6" $RC $A1 --expect-code 6 hashmissing
check "hash query for the newest point of an empty group -> ERROR 6" $RC $A1 --expect-code 6 hashnewest
sleep 0.3
check "receiver still alive after bad peers" kill -0 "$RX_PID"
check "no point was committed by bad peers" [ "$(npoints g1)" = 0 ]
# The corrupted extent was never written: the pending image reads zeros there.
pend=$(point_file g1 d0 1)
if [ -f "$pend" ]; then
	check "nothing written for rejected extents" \
		qemu-io -f qcow2 -r -c "read -P 0 0 1M" "$pend"
fi

# Names that would escape the store.
check "group '..' refused" $RC $A1 --expect-code 1 dotdot
check "group 'a/b' refused" $RC $A1 --expect-code 1 slash
check "disk '../../etc' refused" $RC $A1 --expect-code 1 slashdisk
check "group with NUL refused" $RC $A1 --expect-code 1 nul
check "nothing created outside the store" \
	bash -c "[ -z \"\$(find '$T' -maxdepth 1 -newer '$T/receiver.conf' ! -name store ! -name receiver.log ! -name pki ! -name '.' -print | grep -v '^$T\$')\" ]"
check "store holds only the test group" bash -c "[ \"\$(ls '$T/store')\" = g1 ]"

# TLS and authorisation.
"$ROOT/deploy/nestor-pki.sh" "$T/pki2" ca >/dev/null
"$ROOT/deploy/nestor-pki.sh" "$T/pki2" agent intruder >/dev/null
"$ROOT/deploy/nestor-pki.sh" "$P" agent old --expired >/dev/null
check "no client certificate refused" $RC --expect-close query
check "certificate from another CA refused" $RC --cert "$T/pki2/intruder.crt" --key "$T/pki2/intruder.key" --expect-close query
check "expired certificate refused" $RC --cert "$P/old.crt" --key "$P/old.key" --expect-close query
check "TLS 1.2 refused" $RC $A1 --tls12 --expect-close query
check "agent2 not authorised for group g1 -> ERROR 2" \
	$RC --cert "$P/agent2.crt" --key "$P/agent2.key" --expect-code 2 query

# The real agent with the wrong identity fails cleanly, nothing stored.
truncate -s 4M "$T/small.raw"
write_agent_conf "$T/agent2.conf" agent2 g2 d="$T/small.raw:raw"
check "agent for an unauthorised group exits non-zero" bash -c "! '$NESTOR' agent --config '$T/agent2.conf' --once --no-progress 2>'$T/a2.log'"
check "agent says why" grep -q "not authorised" "$T/a2.log"
check "no group directory for the refused group" [ ! -e "$T/store/g2" ]
check "receiver still alive" kill -0 "$RX_PID"
stop_receiver
finish
