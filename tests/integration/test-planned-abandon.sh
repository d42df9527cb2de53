#!/bin/bash
# A planned failover whose final point is never booted (issue 14 loose
# end): the agent daemon that sent it must not await the failover forever.
# A group of one image file (no VMs: no libvirt, no guest), the daemon with
# control_poll 1s and min_interval 1h (only a poll starts a cycle soon).
# 1. The boot fails (the point has no VM to boot): the command says the
#    planned failover is abandoned and exits 1; the receiver answers the
#    daemon's next poll with ABANDONED; the daemon logs it, resumes and
#    commits an ordinary point, which clears the request; status.json says
#    abandoned with the final point.
# 2. The command is killed (-9) after its request: the daemon still sends
#    its final point; nobody holds the command's run lock, so the next poll
#    is answered ABANDONED and the daemon resumes again.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/lib/common.sh" # wait_until
G=pa
pki_and_receiver
truncate -s 4M "$T/a.raw"
write_agent_conf "$T/agent.conf" agent1 $G d="$T/a.raw:raw"
sed -i -e "s|^state_dir = .*|&\ncontrol_poll = 1s|" \
	-e "s|^\[group $G\]\$|&\nrpo = 2h\nmin_interval = 1h|" "$T/agent.conf"
"$NESTOR" config check agent "$T/agent.conf" >/dev/null || die "agent.conf refused"
PLANNED=$T/store/$G/planned.json
STATUS=$T/agent-state/$G/status.json
fo() { "$NESTOR" failover --config "$T/receiver.conf" $G --uri test:///default "$@"; }
# committed N: is point N (or a newer one) committed?
committed() { [ "$(last_point $G)" -ge "$1" ]; }

"$NESTOR" agent --config "$T/agent.conf" >>"$T/daemon.log" 2>&1 &
DAEMON=$!
trap 'kill "$DAEMON" 2>/dev/null; cleanup' EXIT
wait_until 60 committed 1 || { tail -20 "$T/daemon.log"; die "the daemon committed no point"; }

# ---- 1. the final point's boot fails ------------------------------------------
fo --planned --planned-timeout 60s >/dev/null 2>"$T/fo1.log"
rc=$?
cat "$T/fo1.log"
check "failed boot: exit 1" [ $rc = 1 ]
check "failed boot: final point 2 committed" grep -q "final point 2 committed" "$T/fo1.log"
check "failed boot: the command says the agent is told" grep -q \
	"final point 2 was not booted: the planned failover is abandoned; agent agent1 is told at its next contact and resumes forward cycles" \
	"$T/fo1.log"
check "failed boot: the command recorded the abandon" grep -q \
	"group $G: planned failover .* abandoned (the failover of final point 2 failed)" "$T/fo1.log"
wait_until 20 grep -q "group $G: the DR site abandoned the planned failover: final point 2 will not be booted" \
	"$T/daemon.log"
check "failed boot: the daemon heard it" [ $? = 0 ]
wait_until 20 committed 3
check "failed boot: the daemon resumed: ordinary point 3 committed" [ $? = 0 ]
check "failed boot: point 3 is not a final one" bash -c \
	"! grep -q 'final point 3' '$T/daemon.log' '$T/receiver.log'"
wait_until 10 bash -c "! [ -e '$PLANNED' ]"
check "failed boot: the request is cleared by the agent's ordinary point" [ $? = 0 ]
check "failed boot: the receiver says the agent resumed" grep -q \
	"group $G: agent agent1 resumed after abandoned planned failover" "$T/receiver.log"
wait_until 10 bash -c "jq -e '.planned.state == \"abandoned\" and .planned.final_point == 2 and .failed_over == false and .last_point == 3' '$STATUS' >/dev/null"
check "failed boot: status.json says abandoned (final point 2), not failed over" [ $? = 0 ]
check "failed boot: the group is not failed over" [ ! -e "$T/store/$G/failover.json" ]
check "failed boot: nestor status says so" bash -c \
	"'$NESTOR' status --config '$T/agent.conf' | grep -q 'planned failover: final point 2 abandoned at the DR site (not booted): forward cycles resumed'"
check "failed boot: ... and its JSON" bash -c \
	"'$NESTOR' status --config '$T/agent.conf' --json | jq -e '.groups[0].planned == {\"state\": \"abandoned\", \"final_point\": 2}' >/dev/null"

# ---- 2. the command dies after its request --------------------------------------
# The daemon is stopped until the command is dead, so the request is only
# ever seen by a poll of an orphan request.
kill -STOP "$DAEMON"
"$NESTOR" failover --config "$T/receiver.conf" $G --uri test:///default --planned \
	--planned-timeout 60s >/dev/null 2>"$T/fo2.log" &
FO=$! # the command itself, not a subshell
wait_until 20 grep -q "waiting up to 1m0s" "$T/fo2.log" || { kill -CONT "$DAEMON"; die "no planned request"; }
kill -9 $FO
wait $FO 2>/dev/null
# read before the daemon runs again: its next poll takes the request on
check "killed command: its request is left" [ "$(jq -r .state "$PLANNED")" = requested ]
check "killed command: it said nothing after its request" [ "$(wc -l <"$T/fo2.log")" = 1 ]
kill -CONT "$DAEMON"
wait_until 30 grep -q "group $G: the DR site abandoned the planned failover: final point 4 will not be booted" \
	"$T/daemon.log"
check "killed command: the daemon sent final point 4 and heard the abandon" [ $? = 0 ]
check "killed command: the receiver abandoned it, nobody holding the run lock" grep -q \
	"abandoned (the failover command ended without booting final point 4)" "$T/receiver.log"
wait_until 20 committed 5
check "killed command: the daemon resumed: point 5 committed" [ $? = 0 ]
wait_until 10 bash -c "! [ -e '$PLANNED' ]"
check "killed command: the request is cleared" [ $? = 0 ]
check "the daemon is still running" kill -0 "$DAEMON"
kill "$DAEMON"
wait "$DAEMON" 2>/dev/null
stop_receiver
finish
