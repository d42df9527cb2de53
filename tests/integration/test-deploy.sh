#!/bin/bash
# Cloud deployment files, checked offline: every deploy/terraform file parsed as
# HCL2 and compared with terraform fmt's layout (hcl.js), the instance's
# nested virtualization, Intel CPUs, disks, user-data and references asserted,
# cloud-init.yaml rendered and parsed, its shell run through bash/dash -n
# (deploycheck.py). Broken copies prove the checks fail when they should.
# `terraform validate` against the Google provider stays manual (deploy/README.md).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

export NESTOR_NPM_DIR=${NESTOR_NPM_DIR:-/var/cache/nestor-npm}
# Checkers come from deploy/install-deps.sh (nodejs, npm packages, python3-yaml,
# envsubst); installed there, never skipped here.
if ! [ -f "$NESTOR_NPM_DIR/node_modules/@cdktf/hcl2json/package.json" ] ||
	! [ -f "$NESTOR_NPM_DIR/node_modules/@cdktf/hcl-tools/package.json" ] ||
	! /usr/bin/python3 -c 'import yaml' 2>/dev/null || ! command -v envsubst >/dev/null ||
	! command -v dash >/dev/null; then
	deploy/install-deps.sh || die "deploy/install-deps.sh failed"
fi

# Broken copies of the tree, each with one known defect.
mkdir -p "$T/broken"
for b in syntax layout nested undeclared output template wgtcp published; do
	cp -r deploy "$T/broken/$b"
done
# A lost closing brace: the parser must reject the file.
sed -i '0,/^}/{/^}/d}' "$T/broken/syntax/terraform/main.tf"
# An unaligned `=`: terraform fmt would rewrite it.
sed -i 's/^  name             = var.name$/  name = var.name/' "$T/broken/layout/terraform/main.tf"
# Nested virtualization off.
sed -i 's/enable_nested_virtualization = true/enable_nested_virtualization = false/' "$T/broken/nested/terraform/main.tf"
# A variable used but never declared.
sed -i 's/size  = var.boot_disk_gb/size  = var.boot_disk_size/' "$T/broken/undeclared/terraform/main.tf"
# An output naming a resource that does not exist.
sed -i 's/google_compute_address.receiver.address$/google_compute_address.recv.address/' "$T/broken/output/terraform/outputs.tf"
# A template placeholder Terraform does not pass.
sed -i 's/^      dev=.*/      dev='"'"'${store_disk}'"'"'/' "$T/broken/template/cloud-init.yaml"
# The WireGuard port over TCP.
sed -i '/"wireguard"/,/^}/s/protocol = "udp"/protocol = "tcp"/' "$T/broken/wgtcp/terraform/main.tf"
# A port published by default.
sed -i '/"published_ports"/,/^}/s/^  default = \[\]$/  default = [{ protocol = "tcp", port = 443 }]/' \
	"$T/broken/published/terraform/variables.tf"
for b in syntax layout nested undeclared output template wgtcp published; do
	check "broken copy '$b' differs from deploy/" bash -c "! diff -rq deploy '$T/broken/$b' >/dev/null"
done

# One node run for every file: loading the WASM parsers is the slow part.
files=(deploy/terraform/*.tf deploy/terraform/terraform.tfvars.example)
for b in syntax layout nested undeclared output template wgtcp published; do
	files+=("$T/broken/$b"/terraform/*.tf "$T/broken/$b/terraform/terraform.tfvars.example")
done
start=$(date +%s%N)
node tests/integration/hcl.js "${files[@]}" > "$T/hcl.json" 2> "$T/hcl.err" ||
	{ cat "$T/hcl.err"; die "hcl.js failed"; }
echo "# parsed and formatted ${#files[@]} files in $(( ($(date +%s%N) - start) / 1000000 )) ms"

# The real tree: every assertion holds.
/usr/bin/python3 tests/integration/deploycheck.py deploy "$T/hcl.json" "$T" > "$T/real.out" 2>&1
rc=$?
sed 's/^/  /' "$T/real.out"
check "deploy/ passes every check ($(grep -c '^ok - ' "$T/real.out") assertions)" \
	test "$rc" = 0 -a "$(grep -c '^not ok' "$T/real.out")" = 0 -a "$(grep -c '^ok - ' "$T/real.out")" -ge 50

# Each broken copy fails, on the check that should catch it.
expect_fail() { # expect_fail COPY PATTERN
	mkdir -p "$T/s-$1"
	/usr/bin/python3 tests/integration/deploycheck.py "$T/broken/$1" "$T/hcl.json" "$T/s-$1" > "$T/$1.out" 2>&1
	local rc=$?
	grep '^not ok' "$T/$1.out" | sed 's/^/  # /'
	check "broken '$1' is rejected: $2" \
		bash -c '[ "$1" = 1 ] && grep -qF -- "not ok - $2" "$3"' _ "$rc" "$2" "$T/$1.out"
}
expect_fail syntax "main.tf parses as HCL2"
expect_fail layout "main.tf is in terraform fmt layout"
expect_fail nested "advanced_machine_features.enable_nested_virtualization = true"
expect_fail undeclared "every referenced variable is declared"
expect_fail output "output receiver_address references existing resources"
expect_fail template "templatefile() passes exactly the template's variables"
expect_fail wgtcp "the WireGuard port is opened over UDP from var.wireguard_port, only when set"
expect_fail published "no port is published by default (var.published_ports = [])"

finish
