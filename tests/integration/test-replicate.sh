#!/bin/bash
# Acceptance 1+2 of the foundation: seed then three incrementals of a 1 GiB
# qcow2 and a 1 GiB raw image with random writes between cycles; after each
# cycle the point's chain compares identical with the source (qemu-img
# compare and nestor verify), and a 1% incremental sends <= 1.2x the changed
# bytes by the agent's own counters.
. "$(dirname "$0")/lib.sh"

pki_and_receiver
G=web
random_os_data_group $G 1G 1500

for cycle in 0 1 2 3; do
	if [ $cycle -gt 0 ]; then
		# ~1% of each 1 GiB disk: 160 x 64 KiB = 10 MiB
		w1=$(random_writes "$T/os.qcow2" qcow2 160 65536 $((cycle * 10 + 3)))
		w2=$(random_writes "$T/data.raw" raw 160 65536 $((cycle * 10 + 4)))
		changed=$((w1 + w2))
	fi
	out=$(agent_once "$T/agent.conf") || { tail -20 "$T/agent.log"; die "cycle $cycle failed"; }
	echo "cycle $cycle: $out"
	pt=$(echo "$out" | jq .point)
	check "cycle $cycle committed point $((cycle + 1))" [ "$pt" = $((cycle + 1)) ]
	check "cycle $cycle listed" [ "$(last_point $G)" = "$pt" ]
	check "cycle $cycle: qcow2 disk identical" same_image "$T/os.qcow2" qcow2 $G os "$pt"
	check "cycle $cycle: raw disk identical" same_image "$T/data.raw" raw $G data "$pt"
	check "cycle $cycle: nestor verify identical" "$NESTOR" verify --config "$T/agent.conf" $G
	if [ $cycle -gt 0 ]; then
		inc=$(echo "$out" | jq .incremental)
		sent=$(echo "$out" | jq '.bytes_data + .bytes_zero')
		check "cycle $cycle is incremental" [ "$inc" = true ]
		echo "changed $changed bytes, sent $sent bytes"
		check "cycle $cycle sends <= 1.2x changed ($sent vs $changed)" \
			[ "$sent" -le $((changed * 12 / 10)) ]
	fi
done

# Older points keep their content: point 1 differs from the source now.
check "point 1 still readable and differs from newest source" \
	bash -c "! qemu-img compare -q -f raw -F qcow2 '$T/data.raw' '$(point_file $G data 1)'"
check "verify of an old point reports differences" \
	bash -c "! '$NESTOR' verify --config '$T/agent.conf' $G --point 1 >/dev/null"
check "4 points listed" [ "$(npoints $G)" = 4 ]
stop_receiver
finish
