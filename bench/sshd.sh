# shellcheck shell=bash
# shellcheck disable=SC2034 # SSHD_PID, NBD_PID, CIPHER_LINE... are for the sourcing script
# The benches' clock, medians and loopback sshd (sourced by bench/seed.sh and
# bench/failback.sh): the ssh rivals all go through a private sshd with
# throwaway keys and the fastest cipher it accepts, measured here.
# Needs $W (the bench's scratch dir) and die/log from the sourcing script.

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# Before every timed run: no writeback or discard left over from the
# previous one (the file system here is mounted with online discard).
settle() { sync; sleep 1; }
faster() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(b == "" || a < b) }'; }
# median "T1 T2 ..." -> the middle value (mean of the two middle ones)
median() {
	echo "$1" | tr ' ' '\n' | sort -g | awk 'NF { v[n++] = $1 }
		END { printf "%.2f", n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2 }'
}

# bench_sshd_start: a private `sshd -D` on a free loopback port (stopped by
# the caller's cleanup through SSHD_PID); sets SSHD_PID, SPORT, HOST and
# SSH0 (ssh without compression: the tools compress themselves).
bench_sshd_start() {
	local i
	mkdir -p "$W/ssh" /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$W/ssh/host_key" || die "ssh-keygen failed"
	ssh-keygen -q -t ed25519 -N '' -f "$W/ssh/id" || die "ssh-keygen failed"
	cp "$W/ssh/id.pub" "$W/ssh/authorized_keys"
	SPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat > "$W/ssh/sshd_config" <<EOC
Port $SPORT
ListenAddress 127.0.0.1
HostKey $W/ssh/host_key
AuthorizedKeysFile $W/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowStreamLocalForwarding yes
StreamLocalBindUnlink yes
PidFile $W/ssh/sshd.pid
EOC
	/usr/sbin/sshd -D -e -f "$W/ssh/sshd_config" 2>"$W/ssh/sshd.log" &
	SSHD_PID=$!
	SSH0="ssh -p $SPORT -i $W/ssh/id -o Compression=no -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
	HOST=root@127.0.0.1
	for i in $(seq 1 50); do
		$SSH0 "$HOST" true 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$W/ssh/sshd.log" >&2
	die "sshd on port $SPORT does not answer"
}

# bench_ssh_cipher MIB: the fastest cipher this sshd accepts, measured with
# MIB MiB of zeros through each, twice, alternating. Sets CIPHER, CIPHER_T
# (cipher -> its times), CIPHER_LINE (the medians, for the tables) and SSH
# (SSH0 with that cipher).
declare -A CIPHER_T=()
bench_ssh_cipher() {
	local rep c t0 m
	for _ in 1 2; do
		for c in aes128-gcm@openssh.com chacha20-poly1305@openssh.com aes128-ctr; do
			t0=$(now)
			head -c "$1M" /dev/zero | $SSH0 -c "$c" "$HOST" 'cat > /dev/null' 2>/dev/null ||
				{ log "cipher $c refused"; continue; }
			CIPHER_T[$c]="${CIPHER_T[$c]:-} $(since "$t0")"
		done
	done
	CIPHER="" m=""
	for c in "${!CIPHER_T[@]}"; do
		log "ssh cipher $c: $1 MiB in$(echo "${CIPHER_T[$c]}" | sed 's/ /, /g; s/^, / /') s"
		if faster "$(median "${CIPHER_T[$c]}")" "$m"; then CIPHER=$c m=$(median "${CIPHER_T[$c]}"); fi
	done
	[ -n "$CIPHER" ] || die "sshd accepts none of the ciphers tried"
	CIPHER_LINE=$(for c in "${!CIPHER_T[@]}"; do printf '%s %s s; ' "${c%@*}" "$(median "${CIPHER_T[$c]}")"; done | sed 's/; $//')
	SSH="$SSH0 -c $CIPHER"
}

# The qemu-img rival as a pull: a read-only qemu-nbd serves the source here
# (bench_nbd_serve), ssh forwards its socket to the destination, where
# qemu-img convert reads it (holes skipped through NBD block status) into a
# sparse raw file. The push form (qemu-img convert into a remote qemu-nbd)
# writes through a server that cannot tell a hole from written zeros
# without a full-size target, and NBD carries no compression either way.
# bench_nbd_serve QEMU-NBD-ARGS...: the image (-f FORMAT FILE, or
# --image-opts OPTIONS) served read-only; sets NBD_PID (the caller's
# cleanup stops it).
bench_nbd_serve() {
	local i
	rm -f "$W/qn.sock"
	qemu-nbd -r -t -k "$W/qn.sock" "$@" 2>"$W/qemu-nbd.log" &
	NBD_PID=$!
	for i in $(seq 1 100); do [ -S "$W/qn.sock" ] && return 0; sleep 0.05; done
	die "qemu-nbd for the qemu-img contender did not start"
}
# bench_qimg_pull DEST: the pull into DEST on the far side, durable.
bench_qimg_pull() {
	$SSH -o ExitOnForwardFailure=yes -R "$W/qr.sock:$W/qn.sock" "$HOST" \
		"for i in \$(seq 1 50); do [ -S $W/qr.sock ] && break; sleep 0.05; done;
		 qemu-img convert -W -m 16 -t writeback -f raw -O raw 'nbd+unix:///?socket=$W/qr.sock' $1 &&
		 sync $1"
}
