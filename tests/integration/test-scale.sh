#!/bin/bash
# The short form of bench/scale.sh (issue 17, acceptance 2): 50 agents, each
# its own certificate and group, seed at a throttled rate (their sessions
# between frames) and then send a 1 MiB incremental all at once. Every agent
# commits, the receiver holds <= 2 MiB per idle session and peaks <= 3 MiB
# per agent over its start, no incremental waits more than 3 x one agent's
# time x (agents / the cores other processes left it), and the receiver
# logs no error.
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

out=$(N=${SCALE_N:-50} DISK_MIB=4 SEED_RATE=128K "$ROOT/bench/scale.sh" 2>&1)
rc=$?
echo "$out"
check "the bench's table is complete" [ "$(echo "$out" | grep -c 'PASS$\|MISS$')" = 4 ]
while IFS= read -r line; do
	case "$line" in
	*PASS) ok "${line#  }";;
	*MISS) not_ok "${line#  }";;
	esac
done <<< "$(echo "$out" | grep 'PASS$\|MISS$')"
check_eq "no error line in the receiver's log" 0 \
	"$(echo "$out" | awk '/receiver log: error lines/ { print $NF }')"
check_eq "bench/scale.sh exit status" 0 "$rc"
finish
