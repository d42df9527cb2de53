#!/bin/bash
# A guest that really networks (issue 15, acceptance 5, and "Addresses travel
# with the point"): a live libvirt guest on an "on-prem" libvirt network gets
# its address by DHCP (netcfg: the configuration lives on its disk) and serves
# NESTOR-WEB <hostname> on port 80. It is replicated through the libvirt
# source; the point records its NIC (MAC, network, the DHCP address) and
# `nestor points --json` shows it. `nestor drill --tcp-port 80 --script`
# boots the point on the drill network, whose DHCP the guest uses at boot
# (the configuration came with the disk): both checks pass and the report
# records them. The same drill with --tcp-port 81 (closed), with a
# [network] listing the on-prem network so that the guest boots on the
# drill's isolated copy of it (docs/network.md, "Drills"), fails cleanly:
# the connect, made from the copy's namespace, reaches the guest at its
# on-prem address and is refused; non-zero exit, the report names the failed
# check, nothing is left behind (its namespace included).
. "$(dirname "$0")/lib.sh"

G=net
MAC=52:54:00:4e:45:01
start_libvirtd
pki_and_receiver

# the on-prem network: a subnet and bridge name no other test on this host
# uses at the same time (bridges live in the host's network namespace; each
# test that makes networks picks its subnets from its own /16)
R=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
SUB=$(free_net24 10.253 "$R") || die "no free subnet"
BR=ngt$(printf '%04x' "$R")
cat >"$T/onprem.xml" <<EOF
<network><name>onprem-net</name><bridge name='$BR' stp='off'/>
<ip address='$SUB.1' netmask='255.255.255.0'><dhcp><range start='$SUB.10' end='$SUB.50'/></dhcp></ip>
</network>
EOF
virsh -q -c "$VM_URI" net-create "$T/onprem.xml" >/dev/null || die "cannot create the on-prem network"

qemu-img create -q -f qcow2 -b "$("$LIB/vm-image.sh")" -F qcow2 "$T/boot.qcow2"
qemu-img create -q -f qcow2 "$T/data.qcow2" 16M
VM_NET=onprem-net VM_MAC=$MAC vm_define_start web1 "$T/boot.qcow2" "$T/data.qcow2" ||
	die "cannot start the guest"
vm_wait_marker web1 NESTOR-BOOT-OK 180 || die "guest did not boot"
check "a guest without a network configuration has none" \
	bash -c "! grep -qa NESTOR-NET-UP '$(vm_console_log web1)'"
out=$(vm_run web1 "netcfg dhcp web1" 60)
check "netcfg dhcp: the guest got a lease" [ $? = 0 ]
ADDR=$(echo "$out" | sed -n 's/^NESTOR-NET-UP \([0-9.]*\)\/24$/\1/p')
echo "on-prem address of web1: ${ADDR:-none} ($out)"
check "netcfg dhcp: address from the on-prem range" [ "${ADDR%.*}" = "$SUB" ]
check_eq "the guest serves its known body" "NESTOR-WEB web1" "$(curl -s -m 10 "http://$ADDR/")"
# sector 1024 of vda (tests/lib/README.md, "Network"), read from the host
sector_line() {
	qemu-io -r -U -f qcow2 -c 'read -v 512k 64' "$1" |
		awk '/^[0-9a-f]+:/ { for (i = 2; i <= 17; i++) printf "%s", $i }' |
		python3 -c 'import sys; print(bytes.fromhex(sys.stdin.read()).split(b"\n")[0].decode())'
}
check_eq "the configuration is on the guest's disk" "NESTORNET1 dhcp web1" "$(sector_line "$T/boot.qcow2")"
# static mode, then back to DHCP (what the point will carry)
out=$(vm_run web1 "netcfg static $SUB.99/24 $SUB.1 web1s" 30)
check_eq "netcfg static: address applied" "NESTOR-NET-UP $SUB.99/24" "$out"
check_eq "netcfg static: the guest serves on it" "NESTOR-WEB web1s" "$(curl -s -m 10 "http://$SUB.99/")"
routes=$(vm_run web1 'ip route')
check "netcfg static: default route via the gateway" grep -q "default via $SUB.1 dev eth0" <<<"$routes"
check_eq "netcfg static: stored" "NESTORNET1 static $SUB.99/24 $SUB.1 web1s" "$(sector_line "$T/boot.qcow2")"
out=$(vm_run web1 "netcfg dhcp web1" 60)
check_eq "netcfg dhcp again: the same lease" "NESTOR-NET-UP $ADDR/24" "$out"
vm_run web1 'netcfg static 10.0.0.300/24 10.0.0.1' >/dev/null
check "a bad static address is refused (usage, rc 2)" [ $? = 2 ]
check_eq "a refused configuration leaves the stored one" "NESTORNET1 dhcp web1" "$(sector_line "$T/boot.qcow2")"

# replicated live through the libvirt source
write_agent_conf "$T/agent.conf" agent1 $G domains=web1
cycle_once "replication"
check "point 1 committed" [ "$PT" = 1 ]
M=$T/store/$G/meta/1.bin
jq -c '.vms[0].nics' "$M"
points_json $G | jq -c '.points[0].vms'
check "points --json: web1's NIC with its MAC, network and DHCP address" \
	jq -e --arg mac "$MAC" --arg a "$ADDR/24" '.points[0].vms[0] | .name == "web1" and
		(.nics | length) == 1 and .nics[0].mac == $mac and .nics[0].network == "onprem-net"
		and .nics[0].addresses == [$a] and .nics[0].origin == "lease"' <<<"$(points_json $G)"
check "point metadata records the NIC (vms[].nics)" \
	jq -e --arg mac "$MAC" --arg a "$ADDR/24" '.vms[0].nics[0] | .mac == $mac and .addresses == [$a]' "$M"
vm_destroy web1

# what a drill leaves: nothing of its own, and the point files untouched
SUMS=$(store_sums $G)
after_drill() {
	check_drill_gone "$1" "$2" $G "$SUMS"
	check "$1: the on-prem network is untouched" \
		bash -c "virsh -q -c '$VM_URI' net-list --name | grep -qx onprem-net"
}

# the operator's script: VM ADDRESS; fetches the known body from the guest
cat >"$T/fetch.sh" <<EOF
#!/bin/bash
echo "fetch: vm \$1 address \$2" >&2
body=\$(curl -s -m 10 "http://\$2/") || exit 3
echo "\$1 \$2 \$body" >>"$T/fetched"
[ "\$body" = "NESTOR-WEB web1" ] || exit 4
EOF
chmod +x "$T/fetch.sh"

# 1. checks against the networked guest
t0=$(date +%s)
"$NESTOR" drill --config "$T/receiver.conf" $G --uri "$VM_URI" --json --timeout 120 \
	--tcp-port 80 --script "$T/fetch.sh" >"$T/drill1.json" 2>"$T/drill1.log"
rc=$?
cat "$T/drill1.log"
jq -c '{drill, verdict, vms: [.vms[] | {vm, result, error, checks}]}' "$T/drill1.json"
DA=$(jq -r '.vms[0].checks.address // empty' "$T/drill1.json")
check "drill checks: exit 0" [ $rc = 0 ]
check "drill checks: verdict pass" [ "$(jq -r .verdict "$T/drill1.json")" = pass ]
check "drill checks: TCP port 80 answered" jq -e '.vms[0].checks.tcp_port == true' "$T/drill1.json"
check "drill checks: the script passed" jq -e '.vms[0].checks.script_rc == 0' "$T/drill1.json"
check "drill checks: the guest's drill address recorded" [ -n "$DA" ]
check "drill checks: the guest took its address from the drill network's DHCP" \
	bash -c "[ '${DA%.*}' != '$SUB' ] && grep -q '$DA' '$T/drill1.log'"
check_eq "drill checks: the script fetched the known body from that address" \
	"web1 $DA NESTOR-WEB web1" "$(cat "$T/fetched" 2>/dev/null)"
check "drill checks: the report is saved with the checks" \
	jq -e '.vms[0].checks.tcp_port == true and .vms[0].checks.script_rc == 0' \
	"$T/store/$G/drills/$(jq -r .drill "$T/drill1.json").json"
after_drill "drill checks" "$T/drill1.log"
echo "drill with checks took $(($(date +%s) - t0)) s"

# 2. a closed port, on the drill's isolated copy of the on-prem network: the
# drill fails cleanly and names the check
cp "$T/receiver.conf" "$T/receiver-lan.conf"
printf '\n[network lan%s]\nsubnet = %s.0/24\ngateway = %s.1\nsources = onprem-net\n' \
	"${BR#ngt}" "$SUB" "$SUB" >>"$T/receiver-lan.conf"
t0=$(date +%s)
"$NESTOR" drill --config "$T/receiver-lan.conf" $G --uri "$VM_URI" --timeout 60 \
	--tcp-port 81 >"$T/drill2.txt" 2>"$T/drill2.log"
rc=$?
cat "$T/drill2.txt"
R2=$(ls -t "$T/store/$G/drills/"*.json | head -1)
jq -c '{drill, verdict, teardown, vms: [.vms[] | {vm, result, error, checks}]}' "$R2"
check "drill closed port: exit non-zero" [ $rc != 0 ]
check "drill closed port: text report says FAIL" grep -q '^verdict: FAIL' "$T/drill2.txt"
check "drill closed port: the report names the failed check" \
	jq -e '.verdict == "fail" and .teardown == "done" and .vms[0].checks.tcp_port == false
		and (.vms[0].error | test("TCP port 81 did not answer on [0-9.]+$"))' "$R2"
check "drill closed port: the guest had booted (marker seen)" jq -e '.vms[0].marker_seen == true' "$R2"
NS2=$(grep -o 'in namespace nestor-drill-[^ ,]*' "$T/drill2.log" | head -1 | cut -d' ' -f3)
check "drill closed port: the guest was on the isolated copy, refused at its on-prem address" \
	bash -c "[ -n '$NS2' ] && jq -e --arg a '$ADDR' '.vms[0].checks.address == \$a and
		(.vms[0].error == \"TCP port 81 did not answer on \" + \$a)' '$R2' >/dev/null &&
		grep -q 'vm web1: TCP port 81 did not answer on $ADDR (from namespace $NS2)' '$T/drill2.log'"
check "drill closed port: its namespace is gone" bash -c "! ip netns list | grep -q '^$NS2\\b'"
after_drill "drill closed port" "$T/drill2.log"
echo "drill with a closed port took $(($(date +%s) - t0)) s"

# 3. a hostile agent's NICs: the receiver stores the metadata as sent,
# points --json shows only what is valid, bounded, and says what it dropped
P=$T/pki
RC="python3 $ROOT/tests/integration/rawclient.py --port $PORT --ca $P/ca.crt --cert $P/agent1.crt --key $P/agent1.key"
python3 - "$T/hostile.json" <<'PY'
import json, sys
bad = [{"mac": "ff:ff:ff:ff:ff:ff", "origin": "agent", "addresses": ["10.0.0.1/8"]},
       {"mac": "52:54:00:00:00:01", "network": "x" * 5000, "origin": "lease",
        "addresses": ["10.0.0.1/8", "10.0.0.999/8", "<script>/8", "10.0.0.2/80"]},
       {"mac": "52:54:00:00:00:01", "origin": "lease", "addresses": ["10.0.0.3/8"]},
       "junk"] + [{"mac": "52:54:00:00:01:%02x" % (i % 256), "origin": "arp",
                   "addresses": ["10.9.%d.%d/16" % (i // 250, i % 250)] * 10} for i in range(1000)]
json.dump({"version": 1, "source": "libvirt", "vms": [{"name": "evil", "nics": bad}]},
          open(sys.argv[1], "w"))
PY
check "a hostile agent's point with hostile NICs is stored" $RC --group hostile --meta-file "$T/hostile.json" point
points_json hostile >"$T/hostile-points.json" 2>"$T/hostile-points.log"
check "points --json of hostile NICs succeeds" [ $? = 0 ]
jq -c '.points[0].vms[0].nics[:3]' "$T/hostile-points.json"
check "hostile NICs: only valid, unique MACs, capped at 16" \
	jq -e '.points[0].vms[0].nics | length == 13 and .[0].mac == "52:54:00:00:00:01"
		and .[0].network == null and .[0].addresses == ["10.0.0.1/8"]
		and ([.[1:][] | (.addresses | length) == 8] | all)' "$T/hostile-points.json"
check "hostile NICs: the drops are warned" \
	bash -c "grep -q 'NIC 0 dropped: MAC ff:ff:ff:ff:ff:ff' '$T/hostile-points.log' &&
		grep -q 'listed twice' '$T/hostile-points.log' &&
		grep -q '1004 NICs, only the first 16 read' '$T/hostile-points.log'"

stop_receiver
finish
