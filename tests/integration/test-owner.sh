#!/bin/bash
# Issue 13, item 5: a group belongs to one agent at a time. Two certificates
# authorised for the same group: the second's point is refused with the
# hand-over hint (its progress query still works) until `nestor group
# handover`; then the second commits and the first is refused.
. "$(dirname "$0")/lib.sh"

make_pki
"$ROOT/deploy/nestor-pki.sh" "$T/pki" agent agent3 >/dev/null
write_receiver_conf
printf '\n[client agent3]\ngroups = g1\n' >> "$T/receiver.conf"
start_receiver
P=$T/pki
RC="python3 $ROOT/tests/integration/rawclient.py --port $PORT --ca $P/ca.crt"
RXC="--config $T/receiver.conf"

truncate -s 4M "$T/src.raw"
write_agent_conf "$T/agent1.conf" agent1 g1 d0="$T/src.raw:raw"
write_agent_conf "$T/agent3.conf" agent3 g1 d0="$T/src.raw:raw"

check "agent1 seeds g1" agent_once "$T/agent1.conf"
check_eq "g1 has one point" 1 "$(npoints g1)"
check "the owner is recorded in the group" grep -q '"cn": "agent1"' "$T/store/g1/owner.json"
check_eq "nestor group show prints the owner" "group g1: owner agent1" \
	"$("$NESTOR" group $RXC show g1)"

check "agent3 (authorised for g1) is refused" bash -c "! '$NESTOR' agent --config '$T/agent3.conf' --once --no-progress 2>'$T/a3.log'"
check "agent3 is told whose group it is and how to hand it over" \
	grep -q 'group g1 belongs to agent agent1; hand it over with `nestor group handover g1 agent3` on the receiver' "$T/a3.log"
check "the receiver logs the refusal" grep -q 'group g1: point from agent "agent3" refused' "$T/receiver.log"
check_eq "nothing committed for agent3" 1 "$(npoints g1)"
check "agent3's progress query still works" $RC --cert "$P/agent3.crt" --key "$P/agent3.key" query
check "agent3's hash query of the newest point still works" \
	$RC --cert "$P/agent3.crt" --key "$P/agent3.key" hashok
check "the refusal did not change the owner" grep -q '"cn": "agent1"' "$T/store/g1/owner.json"

check "handover to a CN not authorised for g1 is refused (exit 2)" \
	bash -c "'$NESTOR' group $RXC handover g1 agent2 2>'$T/h.log'; [ \$? = 2 ]"
check "it says why" grep -q 'agent "agent2" is not authorised' "$T/h.log"
check "handover of a group that does not exist fails" bash -c "! '$NESTOR' group $RXC handover nosuch agent3 2>/dev/null"
check "nestor group handover g1 agent3" "$NESTOR" group $RXC handover g1 agent3
check_eq "nestor group show prints the new owner" "group g1: owner agent3" \
	"$("$NESTOR" group $RXC show g1)"

check "agent3 commits after the hand-over" agent_once "$T/agent3.conf"
check_eq "g1 has two points" 2 "$(npoints g1)"
check "agent1 is refused now" bash -c "! '$NESTOR' agent --config '$T/agent1.conf' --once --no-progress 2>'$T/a1.log'"
check "agent1 is told agent3 owns g1" grep -q 'group g1 belongs to agent agent3' "$T/a1.log"
check_eq "nothing committed for agent1" 2 "$(npoints g1)"

# A group from before ownership records adopts its next agent, logged.
rm "$T/store/g1/owner.json"
check "a group without a record accepts agent1" agent_once "$T/agent1.conf"
check "the adoption is logged" grep -q "group g1: agent agent1 recorded as its owner" "$T/receiver.log"
check "and recorded" grep -q '"cn": "agent1"' "$T/store/g1/owner.json"

# A corrupt record refuses points and is left for the operator.
echo '{"cn": ' > "$T/store/g1/owner.json"
check "a corrupt owner record refuses points" bash -c "! '$NESTOR' agent --config '$T/agent1.conf' --once --no-progress 2>/dev/null"
check "the receiver names the file" grep -q "owner record $T/store/g1/owner.json is not a JSON object" "$T/receiver.log"
check_eq "the corrupt record is left alone" '{"cn": ' "$(cat "$T/store/g1/owner.json")"
check "receiver still alive" kill -0 "$RX_PID"
stop_receiver
finish
