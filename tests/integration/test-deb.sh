#!/bin/bash
# Debian package: `make deb`, install it, run the installed binary, check the
# units, man pages and completion, the monitoring files, documents and
# NEWS.Debian (issue 16), then remove and purge it and prove that nothing of
# the package is left behind (operator data survives a purge).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

export DEBIAN_FRONTEND=noninteractive
# Checkers the test needs: systemd-analyze, man. Installed, never skipped.
need=()
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v man >/dev/null || need+=(man-db)
command -v groff >/dev/null || need+=(groff)
if [ ${#need[@]} -gt 0 ]; then
	apt-get install -y -qq "${need[@]}" >/dev/null || die "cannot install ${need[*]}"
fi

# A leftover from an aborted run would hide what this build installs.
dpkg -P nestor >/dev/null 2>&1
# The purge checks below delete /var/lib/nestor: never on a host that uses it.
for d in /etc/nestor /var/lib/nestor; do
	[ -e "$d" ] && die "$d exists without the nestor package; refusing to touch it"
done

deb=$(make -s deb 2>"$T/make.err" | tail -1)
check "make deb builds a package ($deb)" test -f "$deb"
[ -f "$deb" ] || { cat "$T/make.err"; die "no package"; }

field() { dpkg-deb -f "$deb" "$1"; }
check "package is nestor $(field Version) for $(dpkg --print-architecture)" \
	test "$(field Package)/$(field Architecture)" = "nestor/$(dpkg --print-architecture)"
deps=$(field Depends)
missing=
# (libevent-pthreads-2.1-7 only once the binary links it: --as-needed drops
# it today, and the ldd check below covers whatever is linked.)
for p in libvirt0 libnbd0 libzstd1 libssl3 libevent-2.1-7 libevent-openssl-2.1-7 \
	libinih1 libjansson4 libxxhash0 libxml2 librbd1 librados2 qemu-utils libc6; do
	[[ ", $deps," == *", $p "* || ", $deps," == *", $p,"* ]] || missing+=" $p"
done
check "Depends lists every runtime library and qemu-utils (missing:${missing:- none})" \
	test -z "$missing"
# Every library the binary links directly (NEEDED; the rest is the libraries'
# own business) must come from a package it depends on.
# The packaged binary, not build/nestor: a concurrent make may relink that.
dpkg-deb -x "$deb" "$T/x"
bin=$T/x/usr/bin/nestor
unowned=
for so in $(objdump -p "$bin" | awk '$1 == "NEEDED" {print $2}'); do
	lib=$(ldd "$bin" | awk -v so="$so" '$1 == so {print $3}')
	owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null ||
		dpkg -S "/usr$lib" 2>/dev/null)
	owner=${owner%%:*}
	[[ -n "$owner" && ( ", $deps," == *", $owner "* || ", $deps," == *", $owner,"* ) ]] ||
		unowned+=" $so($owner)"
done
check "every NEEDED library is covered by Depends (not covered:${unowned:- none})" \
	test -z "$unowned"
# Loaded on first use (common/dlsym.h), so that a plain exec is not slowed
# down by them: Depends above covers them all the same.
linked=$(objdump -p "$bin" | awk '$1 == "NEEDED" && $2 ~ /^lib(rbd|rados|virt)[.-]/ {print $2}')
check "librbd, librados and libvirt are dlopened, not linked (linked:${linked:- none})" \
	test -z "$linked"
check "conffiles are /etc/nestor/{agent,receiver}.conf" \
	test "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | tr '\n' ' ')" = \
	"/etc/nestor/agent.conf /etc/nestor/receiver.conf "

# ---- install ----------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's#^\./#/#' | grep -v '/$' | sort > "$T/files"
if ! dpkg -i "$deb" > "$T/dpkg-i.log" 2>&1; then
	cat "$T/dpkg-i.log"
	die "dpkg -i failed"
fi
ok "dpkg -i installs $(wc -l < "$T/files") files"
check "dpkg reports nestor installed" \
	test "$(dpkg-query -W -f='${Status}' nestor)" = "install ok installed"
out=$(/usr/bin/nestor version 2>&1)
check "/usr/bin/nestor version prints the package version ($out)" \
	test "$out" = "nestor $(field Version) (protocol 2)"
check "/usr/bin/nestor --help lists the commands" \
	bash -c '/usr/bin/nestor --help | grep -q "^  drill "'
check "installed files match the package (dpkg --verify)" dpkg --verify nestor
check "nestor-pki helper installed" test -x /usr/sbin/nestor-pki
for d in /etc/nestor /var/lib/nestor /var/lib/nestor/store /var/lib/nestor/agent; do
	check "postinst made $d mode 0750" test "$(stat -c %a "$d" 2>/dev/null)" = 750
done
check "/etc/nestor/pki is 0700" test "$(stat -c %a /etc/nestor/pki 2>/dev/null)" = 700
# The default configs name PKI files nobody has made yet: the check refuses
# them as the daemon would, and passes once nestor-pki has made them.
for c in agent receiver; do
	/usr/bin/nestor config check "$c" "/etc/nestor/$c.conf" > "$T/check-$c.out" 2>&1; rc=$?
	check "default /etc/nestor/$c.conf without its PKI fails 'nestor config check $c', CA named" \
		bash -c "[ $rc -ne 0 ] && grep -q /etc/nestor/pki/ca.crt '$T/check-$c.out'"
done
conf_value() { sed -n "s#^$2 *= *##p" "/etc/nestor/$1.conf"; }
rx_name=$(basename "$(conf_value receiver cert)" .crt)
agent_name=$(basename "$(conf_value agent cert)" .crt)
/usr/sbin/nestor-pki /etc/nestor/pki ca >/dev/null &&
	/usr/sbin/nestor-pki /etc/nestor/pki receiver "$rx_name" >/dev/null &&
	/usr/sbin/nestor-pki /etc/nestor/pki agent "$agent_name" >/dev/null ||
	die "nestor-pki cannot make the PKI the default configs name"
for c in agent receiver; do
	check "default /etc/nestor/$c.conf passes 'nestor config check $c' once nestor-pki made its PKI" \
		/usr/bin/nestor config check "$c" "/etc/nestor/$c.conf"
done
store=$(sed -n 's/^store *= *//p' /etc/nestor/receiver.conf)
check "receiver store ($store) is writable by the hardened unit" \
	bash -c "[[ '$store' == /var/lib/nestor/* ]] && [ -d '$store' ]"

# ---- units --------------------------------------------------------------------
units=(/lib/systemd/system/nestor-*.service /lib/systemd/system/nestor-*.timer)
check "units installed: ${units[*]##*/}" \
	test -f /lib/systemd/system/nestor-receiver.service -a \
	-f /lib/systemd/system/nestor-agent.service
if systemd-analyze verify "${units[@]}" > "$T/verify.log" 2>&1 && ! [ -s "$T/verify.log" ]; then
	ok "systemd-analyze verify accepts ${#units[@]} installed units, no warnings"
else
	cat "$T/verify.log"; not_ok "systemd-analyze verify"
fi
prop() { grep -E "^$2=" "/lib/systemd/system/$1" | tail -1 | cut -d= -f2-; }
check "receiver is hardened (ProtectSystem=strict, ReadWritePaths=/var/lib/nestor, NoNewPrivileges, ProtectHome, PrivateTmp)" \
	test "$(prop nestor-receiver.service ProtectSystem)/$(prop nestor-receiver.service ReadWritePaths)/$(prop nestor-receiver.service NoNewPrivileges)/$(prop nestor-receiver.service ProtectHome)/$(prop nestor-receiver.service PrivateTmp)/$(prop nestor-receiver.service Restart)" = \
	"strict//var/lib/nestor/yes/yes/yes/on-failure"
# What systemd would run must work: the unit's own commands, with --help.
rx=$(prop nestor-receiver.service ExecStart)
ag=$(prop nestor-agent.service ExecStart)
check "receiver ExecStart ($rx) is a valid nestor command line" bash -c "$rx --help | grep -q '^usage: nestor receiver'"
check "agent ExecStart ($ag) is a valid nestor command line" bash -c "$ag --help | grep -q '^usage: nestor agent'"
# issue 13, item 3: the weekly scrub of every group, at idle priority.
check "scrub units installed (nestor-scrub.service, nestor-scrub.timer)" \
	test -f /lib/systemd/system/nestor-scrub.service -a -f /lib/systemd/system/nestor-scrub.timer
check "scrub timer is weekly with a randomized delay" \
	test "$(prop nestor-scrub.timer OnCalendar)/$(prop nestor-scrub.timer RandomizedDelaySec)/$(prop nestor-scrub.timer Persistent)" = "weekly/6h/true"
check "scrub service runs idle (Nice=19, IOSchedulingClass=idle) under the receiver's hardening" \
	test "$(prop nestor-scrub.service Nice)/$(prop nestor-scrub.service IOSchedulingClass)/$(prop nestor-scrub.service ProtectSystem)/$(prop nestor-scrub.service ReadWritePaths)" = \
	"19/idle/strict//var/lib/nestor"
sc=$(prop nestor-scrub.service ExecStart)
check "scrub ExecStart ($sc) scrubs every group" bash -c "[[ '$sc' == *' scrub '*' --all' ]]"
check "scrub ExecStart ($sc) is a valid nestor command line" bash -c "$sc --help | grep -q '^usage: nestor scrub'"
pre=$(prop nestor-receiver.service ExecStartPre)
check "receiver ExecStartPre ($pre) passes on the default configuration and its PKI" bash -c "$pre >/dev/null"
# The keys are the operator's, which a purge keeps: remove our test PKI.
rm -f /etc/nestor/pki/ca.* "/etc/nestor/pki/$rx_name".* "/etc/nestor/pki/$agent_name".*

# ---- man pages, completion ----------------------------------------------------
for m in nestor.1 nestor.conf.5 nestor-agent.8 nestor-receiver.8 nestor-points.8 \
	nestor-verify.8 nestor-drill.8 nestor-config.8 nestor-prune.8 nestor-failover.8 nestor-status.8 nestor-group.8 nestor-scrub.8; do
	f=/usr/share/man/man${m##*.}/$m.gz
	txt=$(MANWIDTH=80 man -l "$f" 2>"$T/man.err" | col -b)
	check "man -l $m renders (NAME section, no warnings)" \
		bash -c "grep -q '^NAME' <<<\"\$1\" && ! [ -s '$T/man.err' ]" _ "$txt"
	check "man ${m##*.} ${m%.*} finds the installed page" \
		bash -c "man -w '${m##*.}' '${m%.*}' 2>/dev/null | grep -q '$m.gz'"
done
got=$(bash -c 'source /usr/share/bash-completion/completions/nestor
	COMP_WORDS=(nestor drill --a); COMP_CWORD=2; _nestor; echo "${COMPREPLY[*]}"
	COMP_WORDS=(nestor dr); COMP_CWORD=1; _nestor; echo "${COMPREPLY[*]}"
	COMP_WORDS=(nestor points ""); COMP_CWORD=2; _nestor; echo "${COMPREPLY[*]}"' 2>&1)
check "bash completion completes commands, options and groups" \
	test "$got" = $'--accel\ndrill\ndb web'

# ---- monitoring files and documents (issue 16), the upgrade news --------------
for m in deploy/monitoring/*; do
	check "monitoring: ${m##*/} installed as /usr/share/nestor/monitoring/${m##*/}, as in the tree" \
		cmp -s "$m" "/usr/share/nestor/monitoring/${m##*/}"
done
check "monitoring: every file of deploy/monitoring/ is packaged ($(ls deploy/monitoring | wc -l))" \
	[ "$(ls deploy/monitoring | wc -l)" = "$(ls /usr/share/nestor/monitoring | wc -l)" -a "$(ls deploy/monitoring | wc -l)" -ge 4 ]
check "monitoring: the installed rule tests pass in place (promtool test rules)" \
	bash -c "cd /tmp && promtool test rules /usr/share/nestor/monitoring/*.test.yml >'$T/promtool.log' 2>&1"
for d in monitoring dashboard retention; do
	check "docs: $d.md installed in /usr/share/doc/nestor/" cmp -s "docs/$d.md" "/usr/share/doc/nestor/$d.md"
done
news=/usr/share/doc/nestor/NEWS.Debian.gz
check "NEWS.Debian.gz installed and well formed (dpkg-parsechangelog)" \
	bash -c "zcat '$news' >'$T/NEWS' && dpkg-parsechangelog -l '$T/NEWS' -S Source | grep -qx nestor"
check "NEWS: the retention default of an upgraded group, and how to keep every point" \
	bash -c "grep -q '15m:all,1d:1m,1w:1h,30d:1d' '$T/NEWS' && grep -q 'retention = forever' '$T/NEWS'"

# ---- remove, purge --------------------------------------------------------------
dpkg -r nestor > "$T/dpkg-r.log" 2>&1
check "dpkg -r leaves only config files" \
	test "$(dpkg-query -W -f='${Status}' nestor 2>/dev/null)" = "deinstall ok config-files"
left=$(while read -r f; do
	case $f in /etc/nestor/*.conf) continue ;; esac
	[ -e "$f" ] && echo "$f"
done < "$T/files")
check "after dpkg -r no non-conffile of the package is left (${left:-none})" test -z "$left"
check "after dpkg -r the conffiles are kept" test -f /etc/nestor/receiver.conf

dpkg -P nestor > "$T/dpkg-p.log" 2>&1
check "dpkg -P forgets the package" bash -c '! dpkg-query -W nestor >/dev/null 2>&1'
left=$(while read -r f; do [ -e "$f" ] && echo "$f"; done < "$T/files"
	for d in /etc/nestor /var/lib/nestor /usr/share/doc/nestor /usr/share/nestor; do [ -e "$d" ] && echo "$d"; done)
check "after dpkg -P nothing of the package is left (${left:-none})" test -z "$left"

# Recovery points are the operator's: a purge must not delete a non-empty store.
dpkg -i "$deb" >/dev/null 2>&1 || die "reinstall failed"
echo precious > /var/lib/nestor/store/point.data
dpkg -P nestor > "$T/dpkg-p2.log" 2>&1
check "dpkg -P keeps a non-empty store and says so" \
	bash -c "[ \"\$(cat /var/lib/nestor/store/point.data)\" = precious ] && grep -q 'not empty' '$T/dpkg-p2.log'"
check "... and still removes the package's files" bash -c '! [ -e /usr/bin/nestor ] && ! [ -e /etc/nestor ]'
rm -rf /var/lib/nestor

finish
