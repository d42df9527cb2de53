#!/bin/bash
# Drill networks (issue 15, acceptance 3 and 4; docs/network.md, "Drills"): a
# group of two networked test guests on the on-prem network 'onprem-net'
# (web1 by DHCP with a reservation, db1 static) is replicated; a drill boots
# them on the drill's copy of their [network]: an isolated bridge with the
# same subnet and gateway address, the gateway held by a namespace that
# serves DHCP (web1 gets its on-prem address back) and routes nowhere.
# Inside the drill (a check command over each guest's console) the VMs
# reach each other at their on-prem addresses; nothing reaches a "branch"
# namespace, an "internet" namespace, the DR host itself (even with an
# on-link route past the gateway), nor the production network of the same
# subnet (on-prem-net, still up, with a server in a namespace). From outside
# (host, branch, internet) the drill's addresses answer with production,
# never with a drill guest. The drill's --tcp-port and --script checks run
# in the drill's namespace (acceptance 5): port 80 answers on each guest's
# on-prem address, and the script, run there, fetches each body at it. A
# second drill of the group at the same time
# (the same subnet twice: nothing clashes) is killed after its network was
# made; `nestor drill --cleanup` removes it and leaves the running drill
# alone. After the teardown interfaces, bridges, namespaces, routes, the
# nftables ruleset (a host table byte for byte) and dnsmasq processes are
# exactly as before, and neither drill published, NATed or routed anything.
. "$(dirname "$0")/lib.sh"

G=app
MAC1=52:54:00:15:d1:05            # web1: DHCP, reserved on-prem
MAC2=52:54:00:15:d1:09            # db1: static
R=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
SUF=$(printf '%04x' "$R")
S=$(free_net24 10.252 "$R") || die "no free subnet"      # the on-prem subnet S.0/24, gateway S.1
OBR=ngd$SUF                       # the on-prem (production) bridge
NET=d$SUF                         # [network NAME]
# other tests share the host: names and subnets of this test's own
X=$((R / 200 % 250 + 1))
NS_B=ndt-branch-$SUF BVETH=ndtb$SUF BRANCH_HOST=172.30.$X.1 BRANCH=172.30.$X.2
NS_I=ndt-inet-$SUF IVETH=ndti$SUF INET_HOST=172.29.$X.1 INET=172.29.$X.2
NS_P=ndt-prod-$SUF PVETH=ndtp$SUF   # production servers at S.5 and S.7

ns_cleanup() {
	local ns
	for ns in "$NS_B" "$NS_I" "$NS_P"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	ip link del "$BVETH" 2>/dev/null
	ip link del "$IVETH" 2>/dev/null
	ip link del "$PVETH" 2>/dev/null
	[ -n "${HOSTSRV:-}" ] && kill "$HOSTSRV" 2>/dev/null
	nft delete table inet "ndthost$SUF" 2>/dev/null
}
trap 'ns_cleanup; cleanup' EXIT

start_libvirtd
IMG=$("$LIB/vm-image.sh") || die "no test guest image"
make_pki
write_receiver_conf
# nat and publish are a failover's: a drill must take neither
cat >>"$T/receiver.conf" <<EOC

[network $NET]
subnet = $S.0/24
gateway = $S.1
sources = onprem-net
publish = tcp:18081=web1:80
EOC
check "config check: the [network] is accepted" "$NESTOR" config check receiver "$T/receiver.conf"
start_receiver

# ---- on-prem: web1 leases S.5, db1 is static at S.9 ---------------------------
cat >"$T/onprem.xml" <<EOF
<network><name>onprem-net</name><bridge name='$OBR' stp='off'/>
<ip address='$S.1' netmask='255.255.255.0'><dhcp><range start='$S.10' end='$S.50'/>
<host mac='$MAC1' name='web1' ip='$S.5'/></dhcp></ip></network>
EOF
virsh -q -c "$VM_URI" net-create "$T/onprem.xml" >/dev/null || die "cannot create the on-prem network"
mkdir -p "$T/src"
qemu-img create -q -f qcow2 -b "$IMG" -F qcow2 "$T/src/web1.qcow2"
qemu-img create -q -f qcow2 -b "$IMG" -F qcow2 "$T/src/db1.qcow2"
# db1's static configuration on its disk (tests/lib/README.md, "Network")
printf 'NESTORNET1 static %s/24 %s db1\n' "$S.9" "$S.1" >"$T/netcfg.txt"
truncate -s 512 "$T/netcfg.txt"
qemu-io -f qcow2 -c "write -s $T/netcfg.txt 512k 512" "$T/src/db1.qcow2" >/dev/null ||
	die "cannot write db1's network configuration"
VM_NET=onprem-net VM_MAC=$MAC2 vm_define_start db1 "$T/src/db1.qcow2" || die "cannot define db1"
virsh -q -c "$VM_URI" destroy db1 >/dev/null 2>&1    # defined, shut off
VM_NET=onprem-net VM_MAC=$MAC1 vm_define_start web1 "$T/src/web1.qcow2" || die "cannot start web1"
vm_wait_marker web1 NESTOR-BOOT-OK 180 || die "web1 did not boot"
out=$(vm_run web1 "netcfg dhcp web1" 60)
check_eq "on-prem: web1 leases its reserved address" "NESTOR-NET-UP $S.5/24" "$out"

write_agent_conf "$T/agent.conf" agent1 $G domains="web1 db1"
cycle_once "replication"
check "point 1 committed" [ "$PT" = 1 ]
check "the point records web1's on-prem address and db1's NIC" \
	jq -e --arg a "$S.5/24" --arg m1 "$MAC1" --arg m2 "$MAC2" '[.vms[] | .nics[0]] |
		(map(select(.mac == $m1))[0].addresses == [$a]) and (map(select(.mac == $m2)) | length) == 1' \
	"$T/store/$G/meta/1.bin"
vm_destroy web1
vm_destroy db1
SUMS=$(store_sums $G)

# ---- the world: branch office, internet, production of the same subnet --------
# http_ns NS BODY: a web server in NS on port 8000 answering BODY
http_ns() {
	mkdir -p "$T/www-$1" && echo "$2" >"$T/www-$1/index.html"
	ip netns exec "$1" python3 -m http.server 8000 --directory "$T/www-$1" >/dev/null 2>&1 &
}
# veth_ns NS HOSTEND HOSTADDR NSADDR: NS linked to the host, NS's default route via it
veth_ns() {
	ip netns add "$1" && ip link add "$2" type veth peer name eth0 netns "$1" &&
		sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1" &&
		ip addr add "$3/24" dev "$2" && ip link set "$2" up &&
		ip -n "$1" addr add "$4/24" dev eth0 && ip -n "$1" link set eth0 up &&
		ip -n "$1" link set lo up && ip -n "$1" route add default via "$3" ||
		die "cannot make namespace $1"
}
veth_ns "$NS_B" "$BVETH" "$BRANCH_HOST" "$BRANCH"
veth_ns "$NS_I" "$IVETH" "$INET_HOST" "$INET"
http_ns "$NS_B" BRANCH
http_ns "$NS_I" INTERNET
# production: a namespace on the on-prem bridge at web1's address and at S.7
ip netns add "$NS_P" && ip link add "$PVETH" type veth peer name eth0 netns "$NS_P" &&
	sysctl -qw "net.ipv6.conf.$PVETH.disable_ipv6=1" &&
	ip link set "$PVETH" master "$OBR" up && ip -n "$NS_P" addr add "$S.5/24" dev eth0 &&
	ip -n "$NS_P" addr add "$S.7/24" dev eth0 && ip -n "$NS_P" link set eth0 up &&
	ip -n "$NS_P" link set lo up && ip -n "$NS_P" route add default via "$S.1" ||
	die "cannot make namespace $NS_P"
http_ns "$NS_P" PROD
# the DR host itself serves on its external address
mkdir -p "$T/www-host" && echo HOST >"$T/www-host/index.html"
python3 -m http.server 8000 --bind "$INET_HOST" --directory "$T/www-host" >/dev/null 2>&1 &
HOSTSRV=$!
wait_up() { local i; for i in $(seq 1 100); do curl -s -m 1 "$1" >/dev/null && return 0; sleep 0.1; done; return 1; }
check "the production server answers at $S.7 from the host" wait_up "http://$S.7:8000/"
check "the host's own server answers" wait_up "http://$INET_HOST:8000/"
check "the branch office's server answers from the host" wait_up "http://$BRANCH:8000/"
check "the internet's server answers from the host" wait_up "http://$INET:8000/"
# a host rule set of the operator's, which must survive untouched
host_nft_table "ndthost$SUF" 65002

# What a drill may touch and must give back. Other tests run beside this one
# on the shared host (drills with their ndr* bridges among them): only names
# and addresses a drill's copy of a network could make are listed; the
# drill's own ndr* bridge is checked by check_drill_gone. Not ip_forward:
# other tests' failovers turn it on and off meanwhile (a drill never writes
# the host's; its namespace's own is checked below).
host_state() {
	host_net_state "^(nd[lg]|ndt.$SUF|$OBR)" "$S\.|nd[lg][0-9a-f]" "default|nd[lg]|$S\." "inet nestor(_[0-9a-f]{8})?"
	echo "== namespaces"; ip netns list | grep -E "nestor-drill-|$SUF" | sort
	echo "== dnsmasq of this store"; pgrep -a dnsmasq | grep -F "$T/" | sort
}
host_state >"$T/before.txt"
host_nft_state "inet nestor(_[0-9a-f]{8})?" >"$T/nft-before.txt"
nft list table inet "ndthost$SUF" >"$T/hosttable-before.txt"

# ---- a second drill, killed once its network copy is made ---------------------
# (the same subnet twice on this host, and a third time on-prem)
stopped() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = T ]; }
NESTOR_TEST_PAUSE=drill-lans-up "$NESTOR" drill --config "$T/receiver.conf" $G --accel tcg \
	>/dev/null 2>"$T/drill-killed.log" &
kpid=$!
wait_until 120 stopped $kpid || { kill -9 $kpid; cat "$T/drill-killed.log"; die "the drill never stopped at drill-lans-up"; }
KID=$(sed -n 's/.*drill \([0-9T]*-[0-9a-f]*\): group.*/\1/p' "$T/drill-killed.log" | head -1)
KNS=$(grep -o 'in namespace nestor-drill-[^ ,]*' "$T/drill-killed.log" | head -1 | cut -d' ' -f3)
grep -E "network|namespace" "$T/drill-killed.log"
check "killed drill: its namespace $KNS is up with the gateway $S.1" \
	bash -c "ip -n '$KNS' -o addr show dev gw | grep -q 'inet $S.1/24'"
check "killed drill: its run record names it" \
	jq -e --arg ns "$KNS" '.lans[0].netns == $ns and .lans[0].subnet == "'"$S.0"'"' \
	"$T/store/$G/drills/$KID/run.json"

# ---- the drill ----------------------------------------------------------------
# each guest, over its console: the other VM and itself at their on-prem
# addresses; then what must not answer, through the gateway and on-link
# (busybox wget -T crashes: timeout bounds it instead)
PROBE="for a in $S.5 $S.9; do echo \"GET \$a \$(timeout 10 wget -qO- http://\$a/)\"; done;"
PROBE+=" ip route add $INET_HOST/32 dev eth0 2>/dev/null;"
PROBE+=" for a in $BRANCH $INET $INET_HOST $S.7 $BRANCH_HOST; do"
PROBE+=" if timeout 4 wget -qO- http://\$a:8000/ >/dev/null 2>&1; then echo \"LEAK \$a\"; else echo \"NONE \$a\"; fi; done;"
PROBE+=" ip route del $INET_HOST/32 dev eth0 2>/dev/null; true"
# the operator's script (VM ADDRESS): it runs in the drill's namespace
cat >"$T/fetch.sh" <<EOF
#!/bin/bash
body=\$(curl -s -m 10 "http://\$2/") || exit 3
echo "\$1 \$2 \$(ip netns identify) \$body" >>"$T/fetched"
[ "\$body" = "NESTOR-WEB \$1" ] || exit 4
EOF
chmod +x "$T/fetch.sh"
NESTOR_TEST_PAUSE=drill-checked "$NESTOR" drill --config "$T/receiver.conf" $G --accel tcg \
	--timeout 150 --json --check-cmd "$PROBE" --tcp-port 80 --script "$T/fetch.sh" \
	>"$T/drill.json" 2>"$T/drill.log" &
dpid=$!
wait_until 600 stopped $dpid || { kill -9 $dpid; cat "$T/drill.log"; die "the drill never stopped at drill-checked"; }
DID=$(sed -n 's/.*drill \([0-9T]*-[0-9a-f]*\): group.*/\1/p' "$T/drill.log" | head -1)
DNS=$(grep -o 'in namespace nestor-drill-[^ ,]*' "$T/drill.log" | head -1 | cut -d' ' -f3)
DBR=$(grep -o 'isolated copy nestor-drill-[^ ]* (bridge ndl[0-9a-f]*' "$T/drill.log" | head -1 | grep -o 'ndl[0-9a-f]*')
grep -E "network|namespace|joins|check" "$T/drill.log"
check "drill: the NICs joined the copy of [network $NET]" \
	bash -c "[ \$(grep -c 'joins network nestor-drill-$DID-0' '$T/drill.log') = 2 ]"
check "drill: both drills' gateways hold $S.1 at once, the host's on-prem bridge too" \
	bash -c "ip -n '$DNS' -o addr show dev gw | grep -q 'inet $S.1/24' &&
		 ip -n '$KNS' -o addr show dev gw | grep -q 'inet $S.1/24' &&
		 ip -o addr show dev '$OBR' | grep -q 'inet $S.1/24'"
check "drill: its bridge $DBR has no address, no ARP, strict rp_filter" \
	bash -c "[ -z \"\$(ip -o addr show dev '$DBR')\" ] && ip link show dev '$DBR' | grep -q NOARP &&
		 [ \$(sysctl -n net.ipv4.conf.$DBR.rp_filter) = 1 ]"
check "drill: no route of the host names a drill bridge" \
	bash -c "! ip route show table all | grep -qE 'nd[lg][0-9a-f]'"
check "drill: its namespace has one route, forwarding off" \
	bash -c "[ \"\$(ip -n '$DNS' -4 route show | wc -l)\" = 1 ] &&
		 [ \$(ip netns exec '$DNS' sysctl -n net.ipv4.ip_forward) = 0 ]"
check "drill: dnsmasq serves web1's reservation" \
	bash -c "ip netns pids '$DNS' | xargs -r -I{} cat /proc/{}/cmdline | tr '\0' ' ' |
		 grep -q -- '--dhcp-host=$MAC1,$S.5'"
host_nft_state "inet nestor(_[0-9a-f]{8})?" >"$T/nft-during.txt"
check "drill: no nftables change (no NAT, no publish)" cmp -s "$T/nft-before.txt" "$T/nft-during.txt"
# (another test's failover may own a table inet nestor_* meanwhile: shared host)
check_eq "drill: no nftables rule names its subnet or veth (no NAT, no DNAT)" "" \
	"$(nft -s list ruleset 2>/dev/null | grep -F -e "$S." -e ndg)"
# libvirt's own rules for a network without <forward>: forwarding into and
# out of the bridge rejected, DHCP/DNS input, the bridge to itself
check_eq "drill: the only rules naming $DBR are libvirt's isolation" "" \
	"$(nft -s list ruleset 2>/dev/null | grep -F "\"$DBR\"" |
		grep -Ev "reject\$|dport (53|67|68) counter accept\$|iifname \"$DBR\" oifname \"$DBR\" counter accept\$")"
check "drill: libvirt rejects forwarding out of $DBR" \
	bash -c "nft -s list ruleset 2>/dev/null | grep -q 'iifname \"$DBR\" counter reject'"
# from outside: production answers at the drill's addresses, a drill guest never
for from in host "$NS_B" "$NS_I"; do
	run=(); [ "$from" = host ] || run=(ip netns exec "$from")
	body=$("${run[@]}" curl -s -m 3 "http://$S.9/" 2>/dev/null)
	check "from $from: $S.9 (db1 in the drill) does not answer" [ -z "$body" ]
	body=$("${run[@]}" curl -s -m 3 "http://$S.5/" 2>/dev/null)
	check "from $from: $S.5 is not the drill's web1 ('$body')" bash -c "! grep -q NESTOR-WEB <<<'$body'"
done
check_eq "from the host: $S.5 is production" PROD "$(curl -s -m 3 "http://$S.5:8000/")"

# the second drill dies (its lock with it); --cleanup now: the killed drill
# goes, the running one stays
kill -9 $kpid
wait $kpid 2>/dev/null
"$NESTOR" drill --config "$T/receiver.conf" --cleanup $G >"$T/cleanup.out" 2>"$T/cleanup.log"
rc=$?
cat "$T/cleanup.out" "$T/cleanup.log"
check "cleanup: exit 0, one drill cleaned up" \
	bash -c "[ $rc = 0 ] && grep -q '^1 drill(s) of group $G cleaned up' '$T/cleanup.out'"
check "cleanup: the killed drill's namespace, bridge and network are gone" \
	bash -c "! ip netns list | grep -q '^$KNS\\b' &&
		 ! virsh -q -c '$VM_URI' net-info 'nestor-drill-$KID-0' >/dev/null 2>&1 &&
		 ! virsh -q -c '$VM_URI' net-info 'nestor-drill-$KID' >/dev/null 2>&1 &&
		 [ ! -e '$T/store/$G/drills/$KID/run.json' ] && [ ! -e '$T/store/$G/drills/$KID/point' ]"
check "cleanup: the running drill is untouched" \
	bash -c "ip netns list | grep -q '^$DNS\\b' && [ -e '$T/store/$G/drills/$DID/run.json' ] &&
		 virsh -q -c '$VM_URI' list --name | grep -q 'web1-drill-$DID'"

kill -CONT $dpid
wait $dpid
rc=$?
cat "$T/drill.log" | tail -5
jq -c '.vms[] | {vm, result, error, check, checks}' "$T/drill.json"
check "drill: exit 0, verdict pass" bash -c "[ $rc = 0 ] && jq -e '.verdict == \"pass\"' '$T/drill.json' >/dev/null"
for vm in web1 db1; do
	o=$(jq -r --arg v $vm '.vms[] | select(.vm == $v) | .check.output' "$T/drill.json")
	check "drill: $vm reaches web1 at $S.5" grep -q "^GET $S.5 NESTOR-WEB web1" <<<"$o"
	check "drill: $vm reaches db1 at $S.9" grep -q "^GET $S.9 NESTOR-WEB db1" <<<"$o"
	for a in $BRANCH $INET $INET_HOST $S.7 $BRANCH_HOST; do
		check "drill: $vm cannot reach $a" grep -q "^NONE $a\$" <<<"$o"
	done
done
check "drill: web1 got its on-prem address from the drill's DHCP" \
	grep -q "$MAC1 $S.5 " "$T/store/$G/drills/$DID/$DNS.leases"
# acceptance 5 on the isolated copy: the checks from the drill's namespace
for vm in web1:$S.5 db1:$S.9; do
	check "drill checks: ${vm%%:*}: TCP port 80 answered at ${vm#*:}, the script passed" \
		jq -e --arg v "${vm%%:*}" --arg a "${vm#*:}" '.vms[] | select(.vm == $v) |
			.checks.address == $a and .checks.tcp_port == true and .checks.script_rc == 0' \
		"$T/drill.json"
	check "drill checks: ${vm%%:*}: the connect came from namespace $DNS" \
		grep -q "vm ${vm%%:*}: TCP port 80 answers on ${vm#*:} (from namespace $DNS)" "$T/drill.log"
	check "drill checks: ${vm%%:*}: the script, in $DNS, fetched the body at ${vm#*:}" \
		grep -qx "${vm%%:*} ${vm#*:} $DNS NESTOR-WEB ${vm%%:*}" "$T/fetched"
done

# ---- teardown -------------------------------------------------------------------
check_drill_gone "drill" "$T/drill.log" $G "$SUMS"
check "teardown: the run record is gone" [ ! -e "$T/store/$G/drills/$DID/run.json" ]
host_state >"$T/after.txt"
check "teardown: interfaces, bridges, namespaces, routes, nftables, dnsmasq as before" \
	diff -u "$T/before.txt" "$T/after.txt"
nft list table inet "ndthost$SUF" >"$T/hosttable-after.txt"
check "teardown: the host's own table is byte for byte the same" \
	cmp "$T/hosttable-before.txt" "$T/hosttable-after.txt"

stop_receiver
finish
