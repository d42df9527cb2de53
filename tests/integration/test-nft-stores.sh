#!/bin/bash
# One nftables table per store (issue 15, item 3; docs/network.md, "What
# Nestor changes on the host"): two stores (two receivers) on one host, each
# with the DR network records of two failed-over groups, written as a
# failover writes them. Releasing a group rebuilds its store's table only:
# store A's table is byte for byte the same after store B's table is built
# and removed, and B's after A's is removed; each holds its own groups'
# rules and none of the other's; the last release of a store removes its
# table. No guests, no libvirtd (libvirt's test driver): a few seconds.
. "$(dirname "$0")/lib.sh"

SUF=$(printf '%04x' $(($$ % 65536)))
X=$((0x$SUF % 200 + 20))
make_pki
write_receiver_conf
A=$T/store
B=$T/store2
mkdir -p "$B"
sed "s|^store = .*|store = $B|" "$T/receiver.conf" >"$T/receiver2.conf"
NTA=$(nestor_table "$A")
NTB=$(nestor_table "$B")
check "the two stores have two tables ($NTA, $NTB)" [ "$NTA" != "$NTB" ]

# record STORE GROUP NET SUBNET PORT: GROUP failed over onto NET, PORT published
record() {
	mkdir -p "$1/$2"
	cat >"$1/$2/failover-net.json" <<EOJ
{"version": 1, "group": "$2", "failover": "t-$2",
 "networks": [{"name": "$3", "libvirt": "nestor-net-$3", "bridge": "nst$3",
   "subnet": "$4.0/24", "gateway": "$4.1", "nat": true, "ext_if": "nsx$SUF"}],
 "hosts": [],
 "dnat": [{"network": "$3", "vm": "web1", "proto": "tcp", "port": $5, "to": "$4.5",
   "to_port": 80}]}
EOJ
}
record "$A" a1 "a$SUF" "10.248.$X" 18101
record "$A" a2 "a$SUF" "10.248.$X" 18102
record "$B" b1 "b$SUF" "10.247.$X" 18201
record "$B" b2 "b$SUF" "10.247.$X" 18202
# release CONF GROUP
release() {
	"$NESTOR" failover --config "$1" --release "$2" --uri test:///default >>"$T/release.log" 2>&1
}
tables() { nft list tables 2>/dev/null | grep -E "nestor_($SUF|${NTA#inet nestor_}|${NTB#inet nestor_})" | sort; }
others_before=$(host_nft_state "inet nestor(_[0-9a-f]{8})?")

check "store A: release a1" release "$T/receiver.conf" a1
nft -s list table $NTA >"$T/a.nft" 2>&1
cat "$T/a.nft"
check "store A's table holds a2's rules, not a1's nor B's" \
	bash -c "grep -q 'tcp dport 18102 dnat ip to 10.248.$X.5:80' '$T/a.nft' &&
		 ! grep -qE '1810[1]|1820[12]|10\\.247\\.' '$T/a.nft'"
check "store A's last script names its own table" grep -q "^table $NTA {" "$A/.drnet.nft"

check "store B: release b1" release "$T/receiver2.conf" b1
nft -s list table $NTB >"$T/b.nft" 2>&1
check "store B's table holds b2's rules, not A's" \
	bash -c "grep -q 'tcp dport 18202 dnat ip to 10.247.$X.5:80' '$T/b.nft' &&
		 ! grep -qE '1810[12]|10\\.248\\.' '$T/b.nft'"
check "store B's rebuild leaves store A's table byte for byte" \
	bash -c "nft -s list table $NTA | cmp -s - '$T/a.nft'"

check "store A: release a2, its last group" release "$T/receiver.conf" a2
check "store A's table is gone" bash -c "! nft list table $NTA >/dev/null 2>&1"
check "store A's removal leaves store B's table byte for byte" \
	bash -c "nft -s list table $NTB | cmp -s - '$T/b.nft'"

check "store B: release b2, its last group" release "$T/receiver2.conf" b2
check_eq "no table of either store is left" "" "$(tables)"
check "no record is left" bash -c "! ls '$A'/*/failover-net.json '$B'/*/failover-net.json 2>/dev/null"
check_eq "the rest of the ruleset is as before" "$others_before" \
	"$(host_nft_state "inet nestor(_[0-9a-f]{8})?")"
grep -E "nftables table|error" "$T/release.log"
finish
