#!/bin/bash
# Nestor PKI: a private CA plus receiver (TLS server) and agent (TLS client)
# certificates, EC P-256. Works with the OpenSSL 3.0 CLI of Debian 12.
set -euo pipefail

prog=${0##*/}

usage() {
	cat <<EOF
Usage: $prog [options] DIR ca
       $prog [options] DIR receiver NAME [SAN...]
       $prog [options] DIR agent NAME

Creates a Nestor PKI in DIR (created if missing, mode 0700).
  ca                      DIR/ca.key, DIR/ca.crt (self-signed, 10 years)
  receiver NAME [SAN...]  DIR/NAME.key, DIR/NAME.crt signed by DIR/ca.*;
                          serverAuth; subjectAltName holds NAME, localhost,
                          127.0.0.1 and every extra SAN (DNS name or IP)
  agent NAME              DIR/NAME.key, DIR/NAME.crt signed by DIR/ca.*;
                          clientAuth; subject CN=NAME (the agent identity)

Options:
  --days N    validity in days (default: 3650 for ca, 730 otherwise)
  --expired   issue a certificate that has already expired (for tests)
  --force     replace existing files (otherwise existing files are kept
              and the command succeeds without changing them)
  -h, --help  this text

Private keys are written with mode 0600. Exit status: 0 success, 1 failure,
2 bad arguments.
EOF
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

usage_error() {
	echo "$prog: $*" >&2
	echo "Try '$prog --help'." >&2
	exit 2
}

days=
expired=0
force=0
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--days)
		[ $# -ge 2 ] || usage_error "--days needs a value"
		days=$2
		shift 2
		;;
	--days=*)
		days=${1#--days=}
		shift
		;;
	--expired) expired=1; shift ;;
	--force) force=1; shift ;;
	-h|--help) usage; exit 0 ;;
	--) shift; args+=("$@"); break ;;
	-*) usage_error "unknown option '$1'" ;;
	*) args+=("$1"); shift ;;
	esac
done

if [ -n "$days" ]; then
	[[ $days =~ ^[1-9][0-9]{0,5}$ ]] || usage_error "--days must be an integer from 1 to 999999"
fi
[ ${#args[@]} -ge 2 ] || usage_error "missing DIR or command"

dir=${args[0]}
cmd=${args[1]}
[ -n "$dir" ] || usage_error "DIR is empty"

# NAME becomes a file name and a CN: keep it to a safe, portable alphabet.
check_name() {
	[[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]] ||
		usage_error "bad NAME '$1' (1-63 of A-Z a-z 0-9 . _ -, not starting with . _ -)"
	[ "$1" != ca ] || usage_error "NAME 'ca' is reserved for the CA files"
}

is_ipv4() {
	[[ $1 =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
	local i
	for i in 1 2 3 4; do
		[ "${BASH_REMATCH[$i]}" -le 255 ] || return 1
	done
}

is_ipv6() {
	[[ $1 == *:* && $1 =~ ^[0-9A-Fa-f:.]+$ ]]
}

is_dns() {
	[[ $1 =~ ^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$ ]] &&
		[ ${#1} -le 253 ]
}

name=
sans=()
case $cmd in
ca)
	[ ${#args[@]} -eq 2 ] || usage_error "'ca' takes no further arguments"
	;;
receiver)
	[ ${#args[@]} -ge 3 ] || usage_error "'receiver' needs NAME"
	name=${args[2]}
	check_name "$name"
	sans=("$name" localhost 127.0.0.1 "${args[@]:3}")
	for s in "${sans[@]}"; do
		is_ipv4 "$s" || is_ipv6 "$s" || is_dns "$s" ||
			usage_error "bad SAN '$s' (DNS name or IP address)"
	done
	;;
agent)
	[ ${#args[@]} -eq 3 ] || usage_error "'agent' needs exactly NAME"
	name=${args[2]}
	check_name "$name"
	;;
*)
	usage_error "unknown command '$cmd' (ca, receiver or agent)"
	;;
esac

command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"

if [ "$cmd" = ca ]; then
	base=ca
else
	base=$name
fi
key=$dir/$base.key
crt=$dir/$base.crt

if [ -e "$key" ] || [ -e "$crt" ]; then
	if [ "$force" = 0 ]; then
		if [ -e "$key" ] && [ -e "$crt" ]; then
			echo "$prog: $crt exists; keeping it (--force replaces it)" >&2
			exit 0
		fi
		die "only one of $key and $crt exists; refusing to guess (--force replaces both)"
	fi
fi

if [ "$cmd" != ca ]; then
	if ! [ -f "$dir/ca.key" ] || ! [ -f "$dir/ca.crt" ]; then
		die "no CA in $dir (run: $prog $dir ca)"
	fi
fi

if ! [ -d "$dir" ]; then
	mkdir -p -- "$dir"
	chmod 0700 -- "$dir"
fi
umask 077
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nestor-pki.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$tmp/key.pem" 2>"$tmp/err" || die "key generation failed: $(cat "$tmp/err")"

# Our own config so the distribution's openssl.cnf defaults do not add or
# duplicate extensions.
{
	echo "[ req ]"
	echo "distinguished_name = req_dn"
	echo "prompt = no"
	echo "[ req_dn ]"
	echo "[ ca_ext ]"
	echo "basicConstraints = critical, CA:TRUE, pathlen:0"
	echo "keyUsage = critical, keyCertSign, cRLSign"
	echo "subjectKeyIdentifier = hash"
	echo "[ ca ]"
	echo "default_ca = nestor_ca"
	echo "[ nestor_ca ]"
	echo "database = $tmp/index.txt"
	echo "serial = $tmp/serial"
	echo "new_certs_dir = $tmp"
	echo "default_md = sha256"
	echo "policy = policy_cn"
	echo "unique_subject = no"
	echo "email_in_dn = no"
	echo "copy_extensions = none"
	echo "[ policy_cn ]"
	echo "commonName = supplied"
	echo "[ receiver_ext ]"
	echo "basicConstraints = critical, CA:FALSE"
	echo "keyUsage = critical, digitalSignature"
	echo "extendedKeyUsage = serverAuth"
	echo "subjectKeyIdentifier = hash"
	echo "authorityKeyIdentifier = keyid, issuer"
	echo "subjectAltName = @alt_names"
	echo "[ agent_ext ]"
	echo "basicConstraints = critical, CA:FALSE"
	echo "keyUsage = critical, digitalSignature"
	echo "extendedKeyUsage = clientAuth"
	echo "subjectKeyIdentifier = hash"
	echo "authorityKeyIdentifier = keyid, issuer"
	echo "[ alt_names ]"
	ndns=0
	nip=0
	# SANs were validated above, so they cannot inject config syntax.
	for s in "${sans[@]}"; do
		if is_ipv4 "$s" || is_ipv6 "$s"; then
			nip=$((nip + 1))
			echo "IP.$nip = $s"
		else
			ndns=$((ndns + 1))
			echo "DNS.$ndns = $s"
		fi
	done
} >"$tmp/openssl.cnf"
: >"$tmp/index.txt"

# Expired certificates use fixed past dates: the 3.0 CLI has no
# -not_before/-not_after for x509, but `openssl ca` takes -startdate/-enddate.
if [ "$expired" = 1 ]; then
	validity=(-startdate 20200101000000Z -enddate 20200201000000Z)
elif [ "$cmd" = ca ]; then
	validity=(-days "${days:-3650}")
else
	validity=(-days "${days:-730}")
fi

if [ "$cmd" = ca ]; then
	openssl req -new -config "$tmp/openssl.cnf" -key "$tmp/key.pem" \
		-subj "/CN=Nestor CA $(openssl rand -hex 4)" -out "$tmp/req.pem" 2>"$tmp/err" ||
		die "CA request failed: $(cat "$tmp/err")"
	# Self-sign through `openssl ca` too, so --expired works for the CA.
	openssl ca -batch -config "$tmp/openssl.cnf" -selfsign -keyfile "$tmp/key.pem" \
		-in "$tmp/req.pem" -out "$tmp/crt.pem" -outdir "$tmp" -notext -rand_serial \
		-extensions ca_ext "${validity[@]}" 2>"$tmp/err" ||
		die "CA signing failed: $(cat "$tmp/err")"
else
	openssl req -new -config "$tmp/openssl.cnf" -key "$tmp/key.pem" \
		-subj "/CN=$name" -out "$tmp/req.pem" 2>"$tmp/err" ||
		die "request for $name failed: $(cat "$tmp/err")"
	openssl ca -batch -config "$tmp/openssl.cnf" -cert "$dir/ca.crt" -keyfile "$dir/ca.key" \
		-in "$tmp/req.pem" -out "$tmp/crt.pem" -outdir "$tmp" -notext -rand_serial \
		-extensions "${cmd}_ext" "${validity[@]}" 2>"$tmp/err" ||
		die "signing $name failed: $(cat "$tmp/err")"
fi

chmod 0600 "$tmp/key.pem"
chmod 0644 "$tmp/crt.pem"
# Key first, then certificate: a crash leaves at worst a lone key, which the
# next run reports instead of pairing it with a mismatching certificate.
mv -f -- "$tmp/key.pem" "$key"
mv -f -- "$tmp/crt.pem" "$crt"
echo "$prog: wrote $key and $crt" >&2
