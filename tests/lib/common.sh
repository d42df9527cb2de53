# Shared shell helpers for Nestor's test harness (tests/lib, tests/integration):
# logging, bounded waits, PID handling, free ports. Source it. Test verdicts
# (ok/not_ok/check/check_eq/finish/die) live in tests/integration/lib.sh.

# Guard so the helpers can be sourced by several lib files without redefinition noise.
if [ -z "${NESTOR_LIB_COMMON:-}" ]; then
NESTOR_LIB_COMMON=1

# Progress and errors go to stderr: stdout of the lib commands is reserved for
# machine-readable results (image path, URI, CEPH_CONF=...).
lib_log() { printf '[%s] %s\n' "${LIB_TAG:-lib}" "$*" >&2; }
lib_err() { printf '[%s] error: %s\n' "${LIB_TAG:-lib}" "$*" >&2; }

# now_ms: wall-clock milliseconds, from bash's EPOCHREALTIME (no fork). Use
# $(( ${EPOCHREALTIME//[!0-9]/} / 1000 )) directly in loops: $(now_ms) forks a subshell.
now_ms() { echo $((${EPOCHREALTIME//[!0-9]/} / 1000)); }

# wait_until TIMEOUT_S CMD...: run CMD every 0.1 s until it succeeds; 1 on timeout.
wait_until() {
	local tmo=$1 deadline
	shift
	deadline=$((${EPOCHREALTIME//[!0-9]/} / 1000 + tmo * 1000))
	while :; do
		"$@" && return 0
		[ $((${EPOCHREALTIME//[!0-9]/} / 1000)) -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

# Forks cost ~25 ms on the CI machines: helpers that run in loops use builtins only.

# pid_alive PID: the process exists and is not a zombie (a daemon whose parent is
# gone stays a zombie until PID 1 reaps it, which process_api may do late).
pid_alive() {
	local s
	case "$1" in '' | *[!0-9]*) return 1 ;; esac
	{ read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
	s=${s##*) }
	case "$s" in Z* | X*) return 1 ;; esac
	return 0
}

pid_gone() { ! pid_alive "$1"; }

# pid_is PID COMM...: PID is alive and its comm is one of COMM (protects against
# killing an unrelated process that reused a stale PID).
pid_is() {
	local pid=$1 comm c
	shift
	pid_alive "$pid" || return 1
	{ read -r comm <"/proc/$pid/comm"; } 2>/dev/null || return 1
	for c in "$@"; do
		[ "$comm" = "$c" ] && return 0
	done
	return 1
}

# pid_stop PID [TIMEOUT_S]: SIGTERM, wait (bounded), then SIGKILL and wait again.
pid_stop() {
	local pid=$1 tmo=${2:-10}
	pid_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null
	wait_until "$tmo" pid_gone "$pid" && return 0
	lib_log "pid $pid ignored SIGTERM for ${tmo}s, sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null
	wait_until 10 pid_gone "$pid" && return 0
	lib_err "pid $pid survived SIGKILL"
	return 1
}

# read_pidfile FILE VAR: store the PID in FILE into VAR if it is a plain number.
# (locals are prefixed: bash scoping is dynamic and VAR must not be shadowed)
read_pidfile() {
	local _rp_pid=
	{ read -r _rp_pid <"$1"; } 2>/dev/null
	case "$_rp_pid" in '' | *[!0-9]*) return 1 ;; esac
	printf -v "$2" '%s' "$_rp_pid"
}

# port_in_use PORT: some TCP socket (any state, v4 or v6) has PORT as local port.
# Reads /proc directly so that iproute2 is not needed.
port_in_use() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h=":$hex" 'NR > 1 && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# free_port_pair: print a port P such that P and P+1 are both unused; random
# start so that parallel runs rarely collide (the bind itself is the real check).
free_port_pair() {
	local _ p
	for _ in $(seq 1 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
		p=$((p - p % 2))
		if ! port_in_use "$p" && ! port_in_use $((p + 1)); then
			echo "$p"
			return 0
		fi
	done
	lib_err "no free TCP port pair found"
	return 1
}

fi
