#!/bin/bash
# Run every integration test: the scripts (tests/integration/test-*.sh, each
# exits 0 on success), then the C suites (tests/integration/c/test-*.c, which
# boot guests or start Ceph) in their plain and ASan+UBSan builds
# (`make integration-c asan-integration-c`). ONLY=PATTERN runs the tests whose
# name contains PATTERN. Logs: build/<name>.log, build/asan-<name>.log.
#
# IT_JOBS=N tests run at once (default 2; IT_JOBS=1 is the serial run; not
# JOBS, which `make check` sets to the cores for its builds). Most tests
# wait (guests booting under TCG, daemons' intervals) rather than compute,
# so two at a time use the 2 cores the serial run leaves half idle: 54/54
# in 1792, 1537 and 1367 s against 2224 s serial (docs/testing.md; a
# fourth run's test-power-loss failure was a race of the test's reads
# through powerfs, fixed). The longest start
# first, by the times of the last run (build/integration-times, one "NAME
# SECONDS" a line, rewritten after each run) or else the built-in table
# below. Tests
# that cannot share the host hold the same named lock (LOCKS below): the
# scheduler never starts a test whose lock another running test holds, and
# each test also runs under flock on its locks' files in the run's scratch
# directory. A summary line is printed as each test ends; the exit status is
# non-zero if any test failed.
set -u
cd "$(dirname "$0")/../.."
JOBS=${IT_JOBS:-2}
TIMES=build/integration-times
pass=0 fail=0

# Times (s) of session 11's CI run, for a checkout without $TIMES; a test not
# named anywhere counts as 60 s (a new test starts early rather than last).
KNOWN="test-power-loss.sh 169 test-resume-disks.sh 123 test-net-checks.sh 104
test-drill.sh 103 test-daemon.sh 101 test-drill-network.sh 97 test-planned.sh 96
test-notify.sh 85 test-failover.sh 85 test-failback.sh 67 test-dashboard.sh 67
test-history.sh 63 test-scale.sh 61 test-ceph-drill.sh 61 test-dr-site.sh 57
test-consistency.sh 52 test-failback-cutover.sh 51 test-chain-depth.sh 50
test-ceph-store.sh 47 test-conn-limits.sh 43 test-bandwidth.sh 40
test-link-cut.sh 38 test-retention.sh 36 asan-test-libvirt-source 35
test-scrub.sh 34 test-resume.sh 34 test-libvirt-source 34 test-deb.sh 32
test-points.sh 29 test-drill-xml.sh 29 test-replicate.sh 28 test-live.sh 27
test-live-rbd.sh 26 test-dr-network.sh 25 test-hostile-load.sh 21 test-lab.sh 20
asan-test-rbd-source-recovery 18 asan-test-rbd-source 18 test-resync.sh 16
test-rbd-source-recovery 15 test-rbd.sh 13 test-repair.sh 10 test-rbd-source 10
test-orphans.sh 10 test-reject.sh 9 test-status.sh 8 test-planned-abandon.sh 6
test-monitoring.sh 6 test-errors.sh 4 test-deploy.sh 4 test-powerfs.sh 3
test-owner.sh 3 test-nft-stores.sh 3 test-keepconn.sh 2"

# Host-wide state some tests change and check, so they must not overlap:
#  ipfwd: net.ipv4.ip_forward. A DR network's failover turns it on and its
#    release puts back what that store saw before (failover/drnet-failover.c),
#    and both tests compare it with its value before the test.
#  dpkg: test-deb installs and purges the package (/etc/nestor,
#    /var/lib/nestor, the dpkg lock); test-deploy may run install-deps.sh.
#  alone: the test runs with no other test beside it. Only for a test whose
#    assertion is a ratio of two of its own timings taken a few seconds
#    apart, which another test's CPU starting or ending between them skews:
#    test-hostile-load (a 1 MiB incremental under a hash flood within 2x
#    of the same unloaded, measured before the flood; at IT_JOBS=2 beside
#    another test: 261 ms, then 808).
# Everything else a test makes is its own: scratch dirs from mktemp, ports
# from free_port, names with a per-process suffix, private libvirtd and Ceph
# instances, the VM image cache under its own flock (tests/lib/vm-image.sh).
LOCKS="test-dr-network.sh ipfwd
test-dr-site.sh ipfwd
test-deb.sh dpkg
test-deploy.sh dpkg
test-hostile-load.sh alone"

locks_of() { awk -v n="$1" '$1 == n { print $2 }' <<<"$LOCKS"; }
time_of() {
	local t
	t=$([ -f "$TIMES" ] && awk -v n="$1" '$1 == n { print $2 }' "$TIMES")
	[ -n "$t" ] || t=$(tr ' ' '\n' <<<"$KNOWN" | awk -v n="$1" 'p { print; exit } { p = ($0 == n) }')
	echo "${t:-60}"
}

SCRATCH=$(mktemp -d /tmp/nestor-run.XXXXXX) || exit 1
running=()          # names of the tests running now
trap 'rm -rf "$SCRATCH"' EXIT
# Each test writes its name to this FIFO as it ends: the loop below sleeps in
# read until then (bash's wait -n does not see a job that ended before it).
mkfifo "$SCRATCH/done" && exec 3<>"$SCRATCH/done" || exit 1

# The tests: NAME, LOG and command, one per line (tab-separated), longest first.
{
	for t in tests/integration/test-*.sh; do
		[ -n "${ONLY:-}" ] && [[ "$t" != *"$ONLY"* ]] && continue
		n=$(basename "$t")
		printf '%s\t%s\t%s\t%s\n' "$(time_of "$n")" "$n" "build/${n%.sh}.log" "bash $t"
	done
	for src in tests/integration/c/test-*.c; do
		[ -n "${ONLY:-}" ] && [[ "$src" != *"$ONLY"* ]] && continue
		name=$(basename "$src" .c)
		for b in build build/asan; do
			tag=${b#build}; tag=${tag#/}; tag=${tag:+$tag-}
			printf '%s\t%s\t%s\t%s\n' "$(time_of "$tag$name")" "$tag$name" "build/$tag$name.log" \
				"tests/run-unit.sh $b/tests/integration/c/$name"
		done
	done
} | sort -t$'\t' -k1,1nr -s | cut -f2- >"$SCRATCH/queue"
mapfile -t queue <"$SCRATCH/queue"

# start LINE: run the test in the background, under flock on its locks;
# its result goes to SCRATCH/NAME.rc and its duration to SCRATCH/NAME.s. A
# missing C suite binary fails like a failing test.
start() {
	local name log cmd l wrap=()
	IFS=$'\t' read -r name log cmd <<<"$1"
	for l in $(locks_of "$name"); do wrap+=(flock "$SCRATCH/lock-$l"); done
	(
		s=$SECONDS
		# shellcheck disable=SC2086 # cmd is "PROGRAM ARGS", no spaces inside
		"${wrap[@]}" $cmd >"$log" 2>&1 3>&-
		rc=$?
		echo $((SECONDS - s)) >"$SCRATCH/$name.s"
		echo $rc >"$SCRATCH/$name.rc"
		echo "$name" >&3
	) &
	running+=("$name")
}

# held: the locks of the running tests, one a line
held() { local n; for n in "${running[@]}"; do locks_of "$n"; done; }

# next: index in queue of the longest waiting test whose locks are all free, or -1
# (none beside a test holding "alone"; one with "alone" only when none runs)
next() {
	local i name l h
	h=$(held)
	grep -qx alone <<<"$h" && { echo -1; return; }
	for i in "${!queue[@]}"; do
		name=${queue[$i]%%$'\t'*}
		for l in $(locks_of "$name"); do
			grep -qx "$l" <<<"$h" && continue 2
			[ "$l" = alone ] && [ ${#running[@]} -gt 0 ] && continue 2
		done
		echo "$i"; return
	done
	echo -1
}

# reap: report each running test that has ended
reap() {
	local n s rc left=()
	for n in "${running[@]}"; do
		if [ ! -f "$SCRATCH/$n.rc" ]; then left+=("$n"); continue; fi
		rc=$(cat "$SCRATCH/$n.rc") s=$(cat "$SCRATCH/$n.s")
		echo "$n $s" >>"$SCRATCH/times"
		if [ "$rc" = 0 ]; then
			pass=$((pass + 1)); echo "  $n: ok ($s s)"
		else
			fail=$((fail + 1))
			echo "  $n: FAILED ($s s); last lines of its log:"
			tail -40 "build/${n%.sh}.log" | sed 's/^/    /'
		fi
	done
	running=("${left[@]}")
}

while [ ${#queue[@]} -gt 0 ] || [ ${#running[@]} -gt 0 ]; do
	if [ ${#queue[@]} -gt 0 ] && [ ${#running[@]} -lt "$JOBS" ] && i=$(next) && [ "$i" -ge 0 ]; then
		start "${queue[$i]}"
		unset 'queue[i]'; queue=("${queue[@]}")
		continue
	fi
	read -r -t 10 -u 3 _ || true # 10 s: a test killed before it wrote its name
	reap
done

# Keep the times of the tests this run did, the others' from before.
if [ -f "$SCRATCH/times" ]; then
	{ [ -f "$TIMES" ] && awk 'NR == FNR { ran[$1] = 1; next } !($1 in ran)' "$SCRATCH/times" "$TIMES"
	  cat "$SCRATCH/times"; } | sort >"$TIMES.new" && mv "$TIMES.new" "$TIMES"
fi
echo "integration: $pass passed, $fail failed (IT_JOBS=$JOBS)"
[ $fail -eq 0 ]
