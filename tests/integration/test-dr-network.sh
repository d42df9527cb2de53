#!/bin/bash
# DR networks (issue 15, docs/network.md): `nestor config check` accepts a
# [network] and refuses bad ones; a failover of a point whose VM has a NIC
# on the on-prem network 'onprem' (metadata committed by a hostile-agent
# client, with the NIC's on-prem address in vms[].nics) creates the DR
# network nestor-net-NAME with the gateway address, a DHCP reservation MAC
# -> on-prem address, and the store's table inet nestor_HASH with masquerade
# and DNAT. Then,
# with network namespaces for the world: a "guest" namespace on the DR
# bridge with the VM's MAC gets its on-prem address by DHCP; its connection
# to an "internet" namespace leaves through NAT (the listener sees the DR
# host's external address); the published port on the external address
# reaches a listener in the guest namespace; a statically configured guest
# namespace (same subnet, gateway .1) reaches the DHCP guest and the
# internet. A drill meanwhile touches neither the DR network nor the nestor
# table; a second group shares the network (its reservation added live);
# --status shows them. A failover killed between its DR network and its
# marker is cleaned up by --release. Each --release removes only its own;
# after the last, interfaces, routes, the nftables ruleset (a host table
# byte for byte) and net.ipv4.ip_forward are exactly as they were.
. "$(dirname "$0")/lib.sh"
NT=$(nestor_table "$T/store")   # the store's nftables table

G=web
MAC=52:54:00:15:00:05
SUF=$(printf '%04x' $(($$ % 65536)))
NET=t$SUF                         # [network NAME]: bridge nst-$NET
BR=nst-$NET
SUBNET=$(free_net24 10.251 $$) || die "no free subnet"    # the on-prem (and DR) subnet
EXT=nsti-$SUF                     # the DR host's external side (a veth)
NS_I=nst-inet-$SUF                # the internet
NS_G=nst-guest-$SUF               # a DHCP guest on the DR network
GVETH=nstg-$SUF
NS_S=nst-static-$SUF              # a statically configured guest
SVETH=nsts-$SUF
INET_HOST=198.51.100.1
INET_PEER=198.51.100.2
PUB=18080

ns_cleanup() {
	ip netns del "$NS_G" 2>/dev/null
	ip netns del "$NS_S" 2>/dev/null
	ip netns del "$NS_I" 2>/dev/null
	ip link del "$EXT" 2>/dev/null
	ip link del "$GVETH" 2>/dev/null
	ip link del "$SVETH" 2>/dev/null
	nft delete table inet "nsthost$SUF" 2>/dev/null
}
trap 'ns_cleanup; cleanup' EXIT

# ---- configuration ------------------------------------------------------------
make_pki
write_receiver_conf
cat >>"$T/receiver.conf" <<EOC

[network $NET]
subnet = $SUBNET.0/24
sources = onprem
dns = 192.0.2.53
publish = tcp:$PUB=web1:8080 udp:5353=db1:53
external = $EXT
EOC
check "config check: a [network] is accepted" "$NESTOR" config check receiver "$T/receiver.conf"

# bad_conf DESCRIPTION MESSAGE SECTION-TEXT: refused, exit 1, MESSAGE said
bad_conf() {
	local out rc
	{ cat "$T/receiver.conf"; printf '%b' "$3"; } >"$T/bad.conf"
	out=$("$NESTOR" config check receiver "$T/bad.conf" 2>&1)
	rc=$?
	check "config check refuses $1 (exit 1)" [ $rc = 1 ]
	check "config check refuses $1: says '$2'" grep -qF -- "$2" <<<"$out"
}
bad_conf "an overlapping subnet" "its subnet overlaps that of [network $NET]" \
	"\n[network other]\nsubnet = $SUBNET.128/25\nsources = other\n"
bad_conf "a bad CIDR" "bad value '10.9.0.0/33' for 'subnet'" \
	"\n[network other]\nsubnet = 10.9.0.0/33\nsources = other\n"
bad_conf "a gateway outside the subnet" "gateway is not a host address of its subnet" \
	"\n[network other]\nsubnet = 10.9.0.0/24\ngateway = 10.8.0.1\nsources = other\n"
bad_conf "a source in two networks" "source 'onprem' is a source of [network $NET] too" \
	"\n[network other]\nsubnet = 10.9.0.0/24\nsources = onprem\n"
bad_conf "a bad publish" "bad value 'tcp:443=web1' for 'publish'" \
	"\n[network other]\nsubnet = 10.9.0.0/24\nsources = other\npublish = tcp:443=web1\n"

# ---- the world, and the host's state before ----------------------------------
start_libvirtd
start_receiver
ip netns add "$NS_I" || die "cannot make namespace $NS_I"
ip link add "$EXT" type veth peer name eth0 netns "$NS_I" || die "cannot make veth $EXT"
# no IPv6 on it: its link-local address would come up while the test runs
sysctl -qw "net.ipv6.conf.$EXT.disable_ipv6=1"
ip addr add "$INET_HOST/24" dev "$EXT" && ip link set "$EXT" up || die "cannot set up $EXT"
ip -n "$NS_I" addr add "$INET_PEER/24" dev eth0 && ip -n "$NS_I" link set eth0 up &&
	ip -n "$NS_I" link set lo up || die "cannot set up $NS_I"
# a host rule set of the operator's, which must survive untouched
host_nft_table "nsthost$SUF" 65001

# What a failover may touch and must give back. Other tests run beside this
# one on the shared host (their own bridges, their libvirt rules): rules
# naming an interface or address are compared only when they are ours.
host_state() {
	host_net_state '^(nst|nestor)' "nst|$SUBNET\.|198\.51\.100\." "default|nst|$SUBNET\.|198\.51\.100\."
	echo "== sysctl"; sysctl -n net.ipv4.ip_forward
}
libvirt_fw_ready
host_state >"$T/before.txt"
nft list table inet "nsthost$SUF" >"$T/hosttable-before.txt"

# ---- points whose VM has a NIC on 'onprem' (hostile agent, crafted) ---------
# crafted_point GROUP VM MAC ADDRESS: point 1 of GROUP, one VM with one NIC
# on 'onprem' whose recorded address is ADDRESS (plus an IPv6 one and a
# malformed NIC record, which must be ignored).
crafted_point() {
	local xml="<domain type='qemu'><name>$2</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>\
<os><type>hvm</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>\
<source file='/src/$2.raw'/><target dev='vda'/></disk><interface type='network'>\
<mac address='$3'/><source network='onprem'/><model type='virtio'/></interface></devices></domain>"
	jq -n --arg xml "$xml" --arg mac "$3" --arg addr "$4" --arg vm "$2" --arg bad "$SUBNET.99/24" '{
		version: 1, source: "file",
		disks: [{name: "d0", path: ("/src/" + $vm + ".raw"), format: "raw", size: 1048576}],
		vms: [{xml: $xml, nics: [
			{mac: $mac, network: "onprem", addresses: [$addr, "fd00::5/64"], origin: "agent"},
			{mac: "not-a-mac", network: "onprem", addresses: [$bad]}]}]}' >"$T/meta-$1.json"
	python3 "$ROOT/tests/integration/rawclient.py" --port "$PORT" --ca "$T/pki/ca.crt" \
		--cert "$T/pki/agent1.crt" --key "$T/pki/agent1.key" --group "$1" \
		--meta-file "$T/meta-$1.json" point >"$T/rawclient-$1.out" 2>&1 ||
		{ cat "$T/rawclient-$1.out"; die "the crafted point of $1 was not committed"; }
	check "$1: point 1 committed" grep -q "COMMITTED 1" "$T/rawclient-$1.out"
}
crafted_point $G web1 "$MAC" "$SUBNET.5/24"
MAC2=52:54:00:15:00:09
crafted_point db db1 "$MAC2" "$SUBNET.9/24"

# ---- a failover killed after its DR network was made, before its marker -------
wait_until() {
	local n=$(($1 * 20)) i; shift
	for i in $(seq 1 $n); do "$@" && return 0; sleep 0.05; done
	return 1
}
stopped() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = T ]; }
LV=nestor-net-$NET
NESTOR_TEST_PAUSE=drnet-made "$NESTOR" failover --config "$T/receiver.conf" $G --accel tcg \
	--timeout 3 >/dev/null 2>"$T/fo-killed.log" &
fpid=$!
wait_until 60 stopped $fpid || { kill -9 $fpid; cat "$T/fo-killed.log"; die "the failover never stopped at drnet-made"; }
kill -9 $fpid
wait $fpid 2>/dev/null
check "killed failover: its network was made and recorded, no marker" \
	bash -c "virsh -q -c '$VM_URI' net-info '$LV' >/dev/null && [ -f '$T/store/$G/failover-net.json' ] &&
		 [ ! -e '$T/store/$G/failover.json' ]"
"$NESTOR" failover --config "$T/receiver.conf" --release $G >"$T/release-killed.log" 2>&1
rc=$?
cat "$T/release-killed.log"
check "killed failover: --release exits 0" [ $rc = 0 ]
check "killed failover: --release removed the network and the records" \
	bash -c "! virsh -q -c '$VM_URI' net-info '$LV' >/dev/null 2>&1 &&
		 [ ! -e '$T/store/$G/failover-net.json' ] && [ ! -e '$T/store/.drnet.json' ]"
host_state >"$T/after-killed.txt"
check "killed failover: the host's state is as before" diff -u "$T/before.txt" "$T/after-killed.txt"

# ---- failover -----------------------------------------------------------------
# The zeroed disk boots nothing: the VM runs without its marker (the verdict
# fails), which is all the host side needs.
"$NESTOR" failover --config "$T/receiver.conf" $G --accel tcg --timeout 3 --json \
	>"$T/fo.json" 2>"$T/fo.log"
cat "$T/fo.log"
check "failover: the VM was started (group failed over)" [ -f "$T/store/$G/failover.json" ]
check "failover: the NIC joined $LV" \
	bash -c "virsh -q -c '$VM_URI' domiflist web1 | grep -q '$LV'"
virsh -c "$VM_URI" net-dumpxml "$LV" >"$T/net.xml" 2>&1
cat "$T/net.xml"
check "network $LV is persistent and active" \
	bash -c "virsh -q -c '$VM_URI' net-info '$LV' | grep -Eq '^Persistent: +yes' &&
		 virsh -q -c '$VM_URI' net-info '$LV' | grep -Eq '^Active: +yes'"
check "network $LV: forward mode open" grep -q "<forward mode='open'/>" "$T/net.xml"
check "network $LV: bridge $BR has the gateway $SUBNET.1/24" \
	bash -c "ip -o addr show dev '$BR' | grep -q 'inet $SUBNET.1/24'"
check "network $LV: reservation $MAC -> $SUBNET.5" \
	grep -q "<host mac='$MAC' name='web1' ip='$SUBNET.5'/>" "$T/net.xml"
HOSTS=$LV_DIR/var/lib/libvirt/dnsmasq/$LV.hostsfile
check "dnsmasq's hosts file: $MAC,$SUBNET.5" grep -q "^$MAC,$SUBNET.5" "$HOSTS"
check "the malformed NIC record got no reservation" bash -c "! grep -q '$SUBNET.99' '$T/net.xml'"
check "the record names the network and the published port" \
	jq -e --arg n "$NET" '.networks[0].name == $n and .networks[0].ext_if == "'"$EXT"'" and
		.hosts[0].ip == "'"$SUBNET.5"'" and (.dnat | length) == 1 and .dnat[0].port == '$PUB \
	"$T/store/$G/failover-net.json"
nft list table $NT >"$T/nestor.nft" 2>&1
cat "$T/nestor.nft"
check "nft: masquerade of $SUBNET.0/24 out of $EXT" \
	grep -q "ip saddr $SUBNET.0/24 ip daddr != $SUBNET.0/24 oifname \"$EXT\" masquerade" "$T/nestor.nft"
check "nft: DNAT tcp $PUB -> $SUBNET.5:8080" \
	grep -q "iifname \"$EXT\" tcp dport $PUB dnat ip to $SUBNET.5:8080" "$T/nestor.nft"
check "nft: db1 (not in this point) is not published" bash -c "! grep -q 'udp dport 5353' '$T/nestor.nft'"
check "net.ipv4.ip_forward is on" [ "$(sysctl -n net.ipv4.ip_forward)" = 1 ]
# open mode: libvirt adds no firewall rule of its own for the bridge
check "no rule outside table $NT names $BR" bash -c "! nft -s list ruleset 2>/dev/null |
	awk '/^table $NT /{ skip = 1 } !skip { print } /^}/{ skip = 0 }' | grep -q '$BR'"

# A drill of the same point meanwhile: its own isolated network; the
# nestor table and the DR network are not touched.
nft -s list table $NT >"$T/nestor-before-drill.nft"
"$NESTOR" drill --config "$T/receiver.conf" $G --accel tcg --timeout 3 --json >"$T/drill.json" 2>"$T/drill.log"
grep -E "network|error" "$T/drill.log"
check "drill: booted in its own network, not $LV" \
	bash -c "grep -q 'isolated network nestor-drill-' '$T/drill.log' && ! grep -q '$LV' '$T/drill.log'"
check "drill: table $NT unchanged" \
	bash -c "nft -s list table $NT | cmp -s - '$T/nestor-before-drill.nft'"
check "drill: network $LV unchanged" \
	bash -c "virsh -c '$VM_URI' net-dumpxml '$LV' | cmp -s - '$T/net.xml'"

# The VM's own NIC (same MAC) leaves the bridge to the namespace.
virsh -q -c "$VM_URI" destroy web1 >/dev/null 2>&1

# ---- a guest namespace on the DR bridge ---------------------------------------
ip netns add "$NS_G" || die "cannot make namespace $NS_G"
ip link add "$GVETH" type veth peer name eth0 netns "$NS_G" address "$MAC" ||
	die "cannot make veth $GVETH"
ip link set "$GVETH" master "$BR" up && ip -n "$NS_G" link set eth0 up &&
	ip -n "$NS_G" link set lo up || die "cannot attach $GVETH to $BR"
cat >"$T/udhcpc.sh" <<EOS
#!/bin/sh
case "\$1" in
bound|renew)
	ip addr add "\$ip/\$subnet" dev "\$interface"
	for r in \$router; do ip route add default via "\$r" dev "\$interface"; break; done
	echo "\$ip \$router \$dns" >"$T/lease.txt";;
esac
EOS
chmod +x "$T/udhcpc.sh"
ip netns exec "$NS_G" busybox udhcpc -i eth0 -n -q -t 15 -T 2 -s "$T/udhcpc.sh" >"$T/udhcpc.log" 2>&1
cat "$T/udhcpc.log" "$T/lease.txt" 2>/dev/null
check_eq "DHCP hands the guest its on-prem address, router the gateway, dns as set" \
	"$SUBNET.5 $SUBNET.1 192.0.2.53" "$(cat "$T/lease.txt" 2>/dev/null)"

# outbound: the internet sees the DR host's external address
LISTEN='import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1); s.settimeout(20)
c, a = s.accept(); print(a[0], flush=True); c.sendall(sys.argv[2].encode()); c.close()'
# the listener may start slowly on a loaded host: refused connections are
# tried again for 20 s
CONNECT='import socket,sys,time
for i in range(200):
    try:
        c=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10); break
    except ConnectionRefusedError:
        time.sleep(0.1)
print(c.recv(100).decode())'
ip netns exec "$NS_I" python3 -c "$LISTEN" 9000 INTERNET-OK >"$T/inet-peer.txt" 2>&1 &
LPID=$!
out=$(ip netns exec "$NS_G" python3 -c "$CONNECT" "$INET_PEER" 9000 2>&1)
wait $LPID
check_eq "guest -> internet: connected" INTERNET-OK "$out"
check_eq "guest -> internet: leaves through NAT as $INET_HOST" "$INET_HOST" "$(cat "$T/inet-peer.txt")"

# inbound: the published port reaches the guest
ip netns exec "$NS_G" python3 -c "$LISTEN" 8080 GUEST-OK >"$T/guest-peer.txt" 2>&1 &
LPID=$!
out=$(ip netns exec "$NS_I" python3 -c "$CONNECT" "$INET_HOST" $PUB 2>&1)
wait $LPID
check_eq "internet -> $INET_HOST:$PUB reaches the guest's 8080" GUEST-OK "$out"
check_eq "the guest sees the internet's own address" "$INET_PEER" "$(cat "$T/guest-peer.txt")"

# a statically configured guest keeps its address and gateway: it reaches
# the DHCP guest and, through NAT, the internet
ip netns add "$NS_S" || die "cannot make namespace $NS_S"
ip link add "$SVETH" type veth peer name eth0 netns "$NS_S" || die "cannot make veth $SVETH"
ip link set "$SVETH" master "$BR" up && ip -n "$NS_S" link set eth0 up &&
	ip -n "$NS_S" addr add "$SUBNET.20/24" dev eth0 &&
	ip -n "$NS_S" route add default via "$SUBNET.1" || die "cannot set up $NS_S"
ip netns exec "$NS_G" python3 -c "$LISTEN" 8081 DHCP-GUEST-OK >"$T/guest-peer2.txt" 2>&1 &
LPID=$!
out=$(ip netns exec "$NS_S" python3 -c "$CONNECT" "$SUBNET.5" 8081 2>&1)
wait $LPID
check_eq "static guest -> DHCP guest at its on-prem address" DHCP-GUEST-OK "$out"
check_eq "the DHCP guest sees the static guest's own address" "$SUBNET.20" "$(cat "$T/guest-peer2.txt")"
ip netns exec "$NS_I" python3 -c "$LISTEN" 9001 INTERNET-OK >"$T/inet-peer2.txt" 2>&1 &
LPID=$!
out=$(ip netns exec "$NS_S" python3 -c "$CONNECT" "$INET_PEER" 9001 2>&1)
wait $LPID
check_eq "static guest -> internet through NAT as $INET_HOST" "INTERNET-OK $INET_HOST" \
	"$out $(cat "$T/inet-peer2.txt")"
ip netns del "$NS_S"

# ---- a second group shares the DR network --------------------------------------
"$NESTOR" failover --config "$T/receiver.conf" db --accel tcg --timeout 3 --json \
	>"$T/fo-db.json" 2>"$T/fo-db.log"
cat "$T/fo-db.log"
virsh -q -c "$VM_URI" destroy db1 >/dev/null 2>&1
check "db: joined the same network $LV" bash -c "virsh -q -c '$VM_URI' domiflist db1 | grep -q '$LV'"
check "db: its reservation was added to the running network" \
	bash -c "grep -q '^$MAC2,$SUBNET.9' '$HOSTS' && grep -q '^$MAC,$SUBNET.5' '$HOSTS'"
check "db: udp 5353 published to db1, tcp $PUB still to web1" \
	bash -c "nft list table $NT | grep -q 'udp dport 5353 dnat ip to $SUBNET.9:53' &&
		 nft list table $NT | grep -q 'tcp dport $PUB dnat ip to $SUBNET.5:8080'"
check "db: one masquerade rule for the shared network" \
	[ "$(nft list table $NT | grep -c masquerade)" = 1 ]
"$NESTOR" failover --config "$T/receiver.conf" --status --json >"$T/status.json"
check "--status: each group's DR network, reservation and published port" \
	jq -e --arg n "$NET" '[.[] | select(.group == "web")][0].dr_networks |
		.networks[0].name == $n and .reservations[0].ip == "'"$SUBNET.5"'" and .published[0].port == '$PUB \
	"$T/status.json"

# ---- release ------------------------------------------------------------------
ip netns del "$NS_G"
"$NESTOR" failover --config "$T/receiver.conf" --release $G >"$T/release.log" 2>&1
rc=$?
cat "$T/release.log"
check "release: exit 0" [ $rc = 0 ]
check "release web: $LV stays for db, without web1's reservation" \
	bash -c "virsh -q -c '$VM_URI' net-info '$LV' >/dev/null &&
		 ! grep -q '$MAC' '$HOSTS' && grep -q '^$MAC2,$SUBNET.9' '$HOSTS'"
check "release web: its DNAT is gone, db's stays" \
	bash -c "! nft list table $NT | grep -q 'dport $PUB' &&
		 nft list table $NT | grep -q 'udp dport 5353'"
check "release web: forwarding stays on for db" [ "$(sysctl -n net.ipv4.ip_forward)" = 1 ]
"$NESTOR" failover --config "$T/receiver.conf" --release db >>"$T/release.log" 2>&1
check "release db: exit 0" [ $? = 0 ]
check "release: network $LV is gone" bash -c "! virsh -q -c '$VM_URI' net-info '$LV' >/dev/null 2>&1"
check "release: table $NT is gone" bash -c "! nft list table $NT >/dev/null 2>&1"
check "release: the records are gone" \
	bash -c "[ ! -e '$T/store/$G/failover-net.json' ] && [ ! -e '$T/store/db/failover-net.json' ] &&
		 [ ! -e '$T/store/.drnet.json' ]"
host_state >"$T/after.txt"
check "release: interfaces, bridges, routes, nftables and ip_forward as before" \
	diff -u "$T/before.txt" "$T/after.txt"
nft list table inet "nsthost$SUF" >"$T/hosttable-after.txt"
check "release: the host's own table is byte for byte the same" \
	cmp "$T/hosttable-before.txt" "$T/hosttable-after.txt"
out=$("$NESTOR" failover --config "$T/receiver.conf" --release $G 2>&1)
check "release again: refused, nothing failed over" grep -q "is not failed over" <<<"$out"

stop_receiver
finish
