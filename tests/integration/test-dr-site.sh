#!/bin/bash
# The DR site (issue 15, acceptance 1 and 2; docs/network.md): two live
# guests on an on-prem libvirt network 10.1.X.0/24, web1 by DHCP (a
# reservation on-prem) and db1 static, replicated as one group through the
# libvirt source, fail over onto the DR network [network NAME] with a
# WireGuard link and web1's port 80 published. Network namespaces are the
# world: "internet" on the DR host's external side, "branch" joined to the
# DR host by a veth that only its WireGuard traffic may use.
#  0. the point records both guests' addresses: web1's lease, db1's static
#     one from the host's ARP table;
#  1. both guests come up with their on-prem addresses (web1 by the DR
#     network's reservation, db1 its own); each fetches the other's
#     NESTOR-WEB body; their outbound connections reach the internet
#     through NAT (the internet sees the DR host's external address);
#  2. the branch, with the wg-quick file of `nestor network peer-config`
#     (run by wg-quick on wireguard-go), fetches both bodies at the on-prem
#     addresses, which it cannot reach without the tunnel, also from a
#     host of its LAN (the peer's --allowed-ips); the internet
#     fetches web1's through the published port and reaches nothing else
#     (db1, the guests' addresses routed to us, an unpublished port); a
#     peer added while failed over joins the running link at once, and a
#     removed one leaves it;
#  3. --release: interfaces, bridges, the nftables ruleset, routes and the
#     processes (wireguard-go, dnsmasq) are what they were before.
# DR_SITE_NET (three octets) sets the on-prem subnet; by default a free
# 10.1.X.0/24 (free_net24).
. "$(dirname "$0")/lib.sh"
NT=$(nestor_table "$T/store")   # the store's nftables table

G=site
SUF=$(printf '%04x' $(($$ % 65536)))
SUB=${DR_SITE_NET:-$(free_net24 10.1 $$)} || die "no free subnet"
NET=s$SUF                         # [network NAME]: bridge nst-$NET, link nsw-$NET
WGIF=nsw-$NET
ONPREM=onprem-$SUF                # the on-prem libvirt network (the source)
ONPREM_BR=nop$SUF
MAC1=52:54:00:15:05:05            # web1: DHCP
MAC2=52:54:00:15:05:09            # db1: static
WEB=$SUB.5
DB=$SUB.9
EXT=nsti-$SUF                     # the DR host's external side (a veth)
NS_I=nst-inet-$SUF
INET_HOST=203.0.113.1
INET_PEER=203.0.113.2
NS_B=nst-branch-$SUF
BVETH=nstb-$SUF                   # the branch's only link to the DR host
BR_HOST=198.18.15.1               # (not 192.0.2.0/24: the lab's own)
BR_PEER=198.18.15.2
BWG=nstw$SUF                      # the branch's WireGuard interface
LAN=198.19.$((0x${SUF:0:2} % 200 + 20))   # the branch's LAN (a host of it on lo)
WGSUB=10.99.$((0x${SUF:2:2} % 200 + 20))
WGPORT=$((52000 + 0x$SUF % 8000))
PUB=18080

ns_cleanup() {
	# a run that died failed over: its link, rules and network go first
	if [ -f "$T/store/$G/failover-net.json" ]; then
		virsh -q -c "$VM_URI" destroy web1 >/dev/null 2>&1
		virsh -q -c "$VM_URI" destroy db1 >/dev/null 2>&1
		"$NESTOR" failover --config "$T/receiver.conf" --release $G >/dev/null 2>&1
	fi
	[ -f "$T/wg/$BWG.conf" ] && ip netns exec "$NS_B" wg-quick down "$T/wg/$BWG.conf" >/dev/null 2>&1
	ip netns del "$NS_B" 2>/dev/null
	ip netns del "$NS_I" 2>/dev/null
	ip link del "$EXT" 2>/dev/null
	ip link del "$BVETH" 2>/dev/null
}
trap 'ns_cleanup; cleanup' EXIT

# ---- the on-prem site: two guests, replicated -------------------------------
start_libvirtd
pki_and_receiver
cat >>"$T/receiver.conf" <<EOC

[network $NET]
subnet = $SUB.0/24
sources = $ONPREM
publish = tcp:$PUB=web1:80
external = $EXT
wireguard = on
wg_port = $WGPORT
wg_address = $WGSUB.1/24
EOC
check "config check: the network with its WireGuard link is accepted" \
	"$NESTOR" config check receiver "$T/receiver.conf"

virsh -q -c "$VM_URI" net-create /dev/stdin >/dev/null <<EON || die "cannot create the on-prem network"
<network><name>$ONPREM</name><bridge name='$ONPREM_BR' stp='off'/>
<ip address='$SUB.1' netmask='255.255.255.0'><dhcp><range start='$SUB.100' end='$SUB.150'/>
<host mac='$MAC1' ip='$WEB'/></dhcp></ip></network>
EON
IMG=$("$LIB/vm-image.sh") || die "no test guest image"
qemu-img create -q -f qcow2 -b "$IMG" -F qcow2 "$T/web1.qcow2"
qemu-img create -q -f qcow2 -b "$IMG" -F qcow2 "$T/db1.qcow2"
VM_NET=$ONPREM VM_MAC=$MAC1 vm_define_start web1 "$T/web1.qcow2" || die "cannot start web1"
VM_NET=$ONPREM VM_MAC=$MAC2 vm_define_start db1 "$T/db1.qcow2" || die "cannot start db1"
vm_wait_marker web1 NESTOR-BOOT-OK 300 || die "web1 did not boot"
vm_wait_marker db1 NESTOR-BOOT-OK 300 || die "db1 did not boot"
out=$(vm_run web1 "netcfg dhcp web1" 90)
check_eq "on-prem: web1 takes its address by DHCP" "NESTOR-NET-UP $WEB/24" "$out"
out=$(vm_run db1 "netcfg static $DB/24 $SUB.1 db1" 60)
check_eq "on-prem: db1 has its static address" "NESTOR-NET-UP $DB/24" "$out"
check_eq "on-prem: web1 serves its body" "NESTOR-WEB web1" "$(curl -s -m 10 "http://$WEB/")"
check_eq "on-prem: db1 serves its body" "NESTOR-WEB db1" "$(curl -s -m 10 "http://$DB/")"

write_agent_conf "$T/agent.conf" agent1 $G "domains=web1 db1"
cycle_once "replication"
check "point 1 committed" [ "$PT" = 1 ]
points_json $G | jq -c '.points[0].vms[] | {name, nics}'
check "the point records web1's on-prem address" \
	jq -e --arg a "$WEB/24" '[.points[0].vms[] | select(.name == "web1") | .nics[0].addresses[]] | index($a) != null' \
	<<<"$(points_json $G)"
# a static guest has no lease: the host's ARP entry (the fetch above) gives
# its address, recorded with its subnet's prefix (libvirt's ARP source has
# none)
check "the point records db1's static address from ARP, prefix and all" \
	jq -e --arg a "$DB/24" '[.points[0].vms[] | select(.name == "db1") | .nics[0]][0] |
		.addresses == [$a] and .origin == "arp"' <<<"$(points_json $G)"
# the site is lost: its guests and network are gone
vm_destroy web1
vm_destroy db1
virsh -q -c "$VM_URI" net-destroy "$ONPREM" >/dev/null || die "cannot remove the on-prem network"

# ---- the world ---------------------------------------------------------------
ip netns add "$NS_I" && ip netns add "$NS_B" || die "cannot make the namespaces"
ip link add "$EXT" type veth peer name eth0 netns "$NS_I" &&
	ip link add "$BVETH" type veth peer name eth0 netns "$NS_B" || die "cannot make the veths"
for v in "$EXT" "$BVETH"; do sysctl -qw "net.ipv6.conf.$v.disable_ipv6=1"; done
ip addr add "$INET_HOST/24" dev "$EXT" && ip link set "$EXT" up &&
	ip addr add "$BR_HOST/24" dev "$BVETH" && ip link set "$BVETH" up || die "cannot set up the veths"
# the internet routes the DR subnets to us (a neighbour in the cloud could):
# only the published port may get through
ip -n "$NS_I" addr add "$INET_PEER/24" dev eth0 && ip -n "$NS_I" link set eth0 up &&
	ip -n "$NS_I" link set lo up && ip -n "$NS_I" route add "$SUB.0/24" via "$INET_HOST" &&
	ip -n "$NS_I" route add "$WGSUB.0/24" via "$INET_HOST" || die "cannot set up $NS_I"
ip -n "$NS_B" addr add "$BR_PEER/24" dev eth0 && ip -n "$NS_B" link set eth0 up &&
	ip -n "$NS_B" link set lo up && ip -n "$NS_B" route add default via "$BR_HOST" &&
	ip -n "$NS_B" addr add "$LAN.1/32" dev lo || die "cannot set up $NS_B"

# What the failover may touch and must give back (host_net_state), and the
# processes it starts (wireguard-go, dnsmasq of its network).
host_state() {
	local ours="nst|nsw|$SUB\\.|$WGSUB\\.|203\\.0\\.113\\.|198\\.1[89]\\."
	host_net_state "^(nst|nsw|nestor)" "$ours" "default|$ours"
	echo "== sysctl"; sysctl -n net.ipv4.ip_forward
	echo "== processes"
	ps -eo args= | grep -E "wireguard-go ($WGIF|$BWG)|dnsmasq.*nestor-net-$NET" | grep -v grep | sort
}
host_state >"$T/before.txt"

# ---- peers, before the failover ----------------------------------------------
"$NESTOR" network --config "$T/receiver.conf" peer-add $NET branch --allowed-ips "$LAN.0/24" >"$T/peer-add.txt"
check "peer-add branch: exit 0" [ $? = 0 ]
cat "$T/peer-add.txt"
check "peer-add branch: the first free tunnel address, and its LAN" \
	grep -q "address $WGSUB.2, .*, allowed IPs $WGSUB.2/32,$LAN.0/24$" "$T/peer-add.txt"
check "peers.json: mode 0600" [ "$(stat -c %a "$T/store/.wireguard/peers.json")" = 600 ]
mkdir -p "$T/wg" && chmod 700 "$T/wg"
"$NESTOR" network --config "$T/receiver.conf" peer-config $NET branch >"$T/wg/$BWG.conf"
check "peer-config branch: exit 0" [ $? = 0 ]
cat "$T/wg/$BWG.conf" | sed 's/^PrivateKey = .*/PrivateKey = (hidden)/'
check "the DR host's private key, made there: mode 0600" \
	[ "$(stat -c %a "$T/store/.wireguard/private.key" 2>/dev/null)" = 600 ]
HOSTPUB=$(wg pubkey <"$T/store/.wireguard/private.key")
check "peer-config: the DR host's public key (as wg pubkey computes it)" \
	grep -qx "PublicKey = $HOSTPUB" "$T/wg/$BWG.conf"
check "peer-config: Endpoint = the external address and wg_port" \
	grep -qx "Endpoint = $INET_HOST:$WGPORT" "$T/wg/$BWG.conf"
check "peer-config: AllowedIPs = the DR subnet and the tunnel's" \
	grep -qx "AllowedIPs = $SUB.0/24, $WGSUB.0/24" "$T/wg/$BWG.conf"
check "peer-config: the peer's private key matches its listed public key" \
	[ "$(sed -n 's/^PrivateKey = //p' "$T/wg/$BWG.conf" | wg pubkey)" = \
	  "$("$NESTOR" network --config "$T/receiver.conf" peer-list $NET --json | jq -r '.[0].public_key')" ]
check "peer-list --json shows no private key" \
	bash -c "! '$NESTOR' network --config '$T/receiver.conf' peer-list --json | grep -qi private"
check "the host's private key is never printed" \
	bash -c "! grep -rqF '$(cat "$T/store/.wireguard/private.key")' '$T/wg' '$T/peer-add.txt'"
"$NESTOR" network --config "$T/receiver.conf" peer-add $NET branch >/dev/null 2>"$T/dup.log"
check "peer-add of a known peer: refused, exit 1" bash -c "[ $? = 1 ] && grep -q 'exists already' '$T/dup.log'"
"$NESTOR" network --config "$T/receiver.conf" peer-add $NET x --address 198.51.100.9 >/dev/null 2>"$T/bad.log"
check "peer-add outside the tunnel subnet: refused, exit 1" \
	bash -c "[ $? = 1 ] && grep -q 'not a free host address' '$T/bad.log'"
# a peer that made its own key pair: its private key never leaves it
OWNPUB=$(wg genkey | wg pubkey)
"$NESTOR" network --config "$T/receiver.conf" peer-add $NET own --public-key "$OWNPUB" >/dev/null
check "peer-add --public-key: exit 0" [ $? = 0 ]
"$NESTOR" network --config "$T/receiver.conf" peer-config $NET own >"$T/own.conf"
check "peer-config of a peer with its own key: no private key, PostUp reads the peer's" \
	bash -c "! grep -q PrivateKey '$T/own.conf' &&
		 grep -qx 'PostUp = wg set %i private-key /etc/wireguard/%i.key' '$T/own.conf' &&
		 ! grep -q private_key <(jq '.peers[] | select(.name == \"own\")' '$T/store/.wireguard/peers.json')"
"$NESTOR" network --config "$T/receiver.conf" peer-remove $NET own >/dev/null

# ---- failover ----------------------------------------------------------------
# The internet's listener: every guest connects once, through NAT.
ip netns exec "$NS_I" python3 -c 'import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9000)); s.listen(4); s.settimeout(900)
for _ in range(2):
    c, a = s.accept(); c.settimeout(10)
    print(a[0], c.recv(100).decode().strip(), flush=True); c.close()' >"$T/inet-seen.txt" 2>&1 &
LPID=$!
# On each guest, after both booted: the other's body (a few tries while
# the other one's DHCP finishes), then a connection out to the internet.
CHECK="for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do wget -q -O /tmp/w http://$WEB/ && wget -q -O /tmp/d http://$DB/ && break; sleep 2; done; cat /tmp/w /tmp/d; echo \"NAT-\$(hostname)\" | nc -w 10 $INET_PEER 9000"
t0=$(date +%s)
"$NESTOR" failover --config "$T/receiver.conf" $G --accel tcg --timeout 600 --json \
	--check-cmd "$CHECK" >"$T/fo.json" 2>"$T/fo.log"
rc=$?
cat "$T/fo.log"
echo "failover took $(($(date +%s) - t0)) s"
jq -c '{verdict, vms: [.vms[] | {vm, result, error, check}]}' "$T/fo.json"
check "failover: exit 0, verdict pass" bash -c "[ $rc = 0 ] && jq -e '.verdict == \"pass\"' '$T/fo.json' >/dev/null"
out1=$(jq -r '.vms[] | select(.vm == "web1") | .check.output' "$T/fo.json")
out2=$(jq -r '.vms[] | select(.vm == "db1") | .check.output' "$T/fo.json")
check "web1 reaches db1 at $DB" grep -q "NESTOR-WEB db1" <<<"$out1"
check "db1 reaches web1 at $WEB (its address by the DR network's reservation)" \
	grep -q "NESTOR-WEB web1" <<<"$out2"
wait_pid_bounded() { local i; for i in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill "$1"; }
wait_pid_bounded $LPID
cat "$T/inet-seen.txt"
check_eq "both guests' outbound connections leave through NAT as $INET_HOST" \
	"$INET_HOST NAT-db1 $INET_HOST NAT-web1" "$(sort "$T/inet-seen.txt" | tr '\n' ' ' | sed 's/ $//')"
check "the DR network reserves web1's on-prem address" \
	grep -q "^$MAC1,$WEB" "$LV_DIR/var/lib/libvirt/dnsmasq/nestor-net-$NET.hostsfile"
check "the record names the WireGuard link" \
	jq -e --arg i "$WGIF" '.networks[0].wg == {ifname: $i, port: '$WGPORT', address: "'"$WGSUB.1/24"'"}' \
	"$T/store/$G/failover-net.json"
wg show "$WGIF" >"$T/wg-show.txt" 2>&1
cat "$T/wg-show.txt"
check "link $WGIF: listening on $WGPORT with the branch and its LAN as its peer" \
	bash -c "grep -q 'listening port: $WGPORT' '$T/wg-show.txt' &&
		 [ \"\$(wg show '$WGIF' allowed-ips)\" = \"\$(printf '%s\t%s' \
		   \"\$('$NESTOR' network --config '$T/receiver.conf' peer-list --json | jq -r '.[0].public_key')\" '$WGSUB.2/32 $LAN.0/24')\" ]"
check "the branch's LAN is routed to the link" bash -c "ip route show '$LAN.0/24' | grep -q 'dev $WGIF'"
check "link $WGIF: the tunnel address $WGSUB.1/24" bash -c "ip -o addr show dev '$WGIF' | grep -q 'inet $WGSUB.1/24'"
nft list table $NT >"$T/nestor.nft" 2>&1
check "nft: the link's UDP port is open" grep -q "udp dport $WGPORT accept" "$T/nestor.nft"

# ---- the branch, through the tunnel only --------------------------------------
out=$(ip netns exec "$NS_B" curl -s -m 5 "http://$WEB/" 2>&1)
check "branch without the tunnel: web1 is not reachable" [ "$out" != "NESTOR-WEB web1" ]
ip netns exec "$NS_B" env WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go \
	wg-quick up "$T/wg/$BWG.conf" >"$T/wg-quick.log" 2>&1
check "branch: wg-quick up with the peer-config file" [ $? = 0 ] || cat "$T/wg-quick.log"
fetch_retry() { # fetch_retry NS URL: the body, tried for 30 s
	local i out
	for i in $(seq 1 15); do
		out=$(ip netns exec "$1" curl -s -m 2 "$2") && [ -n "$out" ] && { echo "$out"; return 0; }
		sleep 1
	done
	return 1
}
check_eq "branch -> web1 at $WEB through the tunnel" "NESTOR-WEB web1" "$(fetch_retry "$NS_B" "http://$WEB/")"
check_eq "branch -> db1 at $DB through the tunnel" "NESTOR-WEB db1" "$(fetch_retry "$NS_B" "http://$DB/")"
check_eq "a host of the branch's LAN ($LAN.1) -> web1 through the tunnel" "NESTOR-WEB web1" \
	"$(ip netns exec "$NS_B" curl -s -m 10 --interface "$LAN.1" "http://$WEB/")"
check "the DR host saw the branch's handshake" \
	bash -c "[ \"\$(wg show '$WGIF' latest-handshakes | awk '{ print \$2 }')\" -gt 0 ]"

# a peer added while failed over joins the running link, a removed one leaves
"$NESTOR" network --config "$T/receiver.conf" peer-add $NET laptop >"$T/laptop.txt"
LPUB=$(sed -n 's/.*public key \([^,]*\),.*/\1/p' "$T/laptop.txt")
check "peer-add while failed over: the running link has the laptop" \
	bash -c "[ -n '$LPUB' ] && wg show '$WGIF' allowed-ips | grep -q '^$LPUB	$WGSUB.3/32$'"
"$NESTOR" network --config "$T/receiver.conf" peer-remove $NET laptop >/dev/null
check "peer-remove: the running link drops the laptop, keeps the branch" \
	bash -c "[ -n '$LPUB' ] && ! wg show '$WGIF' peers | grep -qF '$LPUB' &&
		 [ \"\$(wg show '$WGIF' peers | wc -l)\" = 1 ]"

# a peer's network that the host routes itself: the host's route stays
"$NESTOR" network --config "$T/receiver.conf" peer-add $NET clash --allowed-ips 203.0.113.0/24 \
	>/dev/null 2>"$T/clash.log"
rc=$?
cat "$T/clash.log"
check "peer-add of a LAN the host routes itself: exit 1, said why" \
	bash -c "[ $rc = 1 ] && grep -q 'the host has a route to 203.0.113.0/24 already' '$T/clash.log'"
check "the host's own route to 203.0.113.0/24 is untouched" \
	bash -c "[ \"\$(ip -4 route show exact 203.0.113.0/24 | sed 's/ *\$//')\" = '203.0.113.0/24 dev $EXT proto kernel scope link src $INET_HOST' ]"
"$NESTOR" network --config "$T/receiver.conf" peer-remove $NET clash >/dev/null
check "peer-remove of it: exit 0, the host's route still there" \
	bash -c "[ $? = 0 ] && ip -4 route show exact 203.0.113.0/24 | grep -q 'dev $EXT'"

# ---- the internet: the published port, nothing else ----------------------------
check_eq "internet -> $INET_HOST:$PUB reaches web1" "NESTOR-WEB web1" \
	"$(fetch_retry "$NS_I" "http://$INET_HOST:$PUB/")"
for url in "http://$INET_HOST/" "http://$DB/" "http://$WEB/" "http://$WGSUB.1/"; do
	out=$(ip netns exec "$NS_I" curl -s -m 4 "$url" 2>&1)
	check "internet -> $url: connect fails" [ -z "$out" ]
done

# ---- release -----------------------------------------------------------------
ip netns exec "$NS_B" wg-quick down "$T/wg/$BWG.conf" >/dev/null 2>&1
virsh -q -c "$VM_URI" destroy web1 >/dev/null 2>&1
virsh -q -c "$VM_URI" destroy db1 >/dev/null 2>&1
"$NESTOR" failover --config "$T/receiver.conf" --release $G >"$T/release.log" 2>&1
rc=$?
cat "$T/release.log"
check "release: exit 0" [ $rc = 0 ]
check "release: wireguard-go stopped, its socket gone" \
	bash -c "grep -q 'wireguard-go of $WGIF (pid [0-9]*) stopped' '$T/release.log' &&
		 [ ! -e /var/run/wireguard/$WGIF.sock ]"
check "release: the link's interface is gone" bash -c "! ip link show '$WGIF' >/dev/null 2>&1"
check "release: table $NT is gone" bash -c "! nft list table $NT >/dev/null 2>&1"
host_state >"$T/after.txt"
check "release: interfaces, bridges, nftables, routes, processes as before" \
	diff -u "$T/before.txt" "$T/after.txt"
check "release: the peers and the host key stay for the next failover" \
	bash -c "[ -s '$T/store/.wireguard/private.key' ] &&
		 '$NESTOR' network --config '$T/receiver.conf' peer-list $NET | grep -q branch"

stop_receiver
finish
