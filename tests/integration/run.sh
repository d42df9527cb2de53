#!/bin/bash
# Run every integration test (tests/integration/test-*.sh); each exits 0 on success.
set -u
cd "$(dirname "$0")/../.."
pass=0 fail=0 failed=()
for t in tests/integration/test-*.sh; do
	[ -n "${ONLY:-}" ] && [[ "$t" != *"$ONLY"* ]] && continue
	start=$(date +%s)
	if bash "$t" > "build/$(basename "$t" .sh).log" 2>&1; then
		pass=$((pass + 1)); echo "  $(basename "$t"): ok ($(( $(date +%s) - start )) s)"
	else
		fail=$((fail + 1)); failed+=("$t")
		echo "  $(basename "$t"): FAILED ($(( $(date +%s) - start )) s); last lines of its log:"
		tail -40 "build/$(basename "$t" .sh).log" | sed 's/^/    /'
	fi
done
echo "integration: $pass passed, $fail failed"
[ $fail -eq 0 ]
