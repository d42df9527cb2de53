#!/bin/bash
# Issue 16, acceptance 1 and 5: the receiver's dashboard. Two groups, one
# within its RPO and one breached after its agent stopped, a drill and a
# failover of the breached one: headless Chromium loads / and its DOM shows
# each group in the state and with the age `nestor status --json` gives,
# the 24 h RPO chart has one dot per cycle that ran, a screenshot is kept
# (build/dashboard.png); the group and point pages and their /api twins;
# the metrics address beyond loopback needs auth; with basic auth on, no
# credentials (or wrong ones) get 401 and the right ones 200; connections,
# header size and count are bounded; 1000 page loads add no memory, and the
# RPO history stays under its configured size, also through more real
# cycles than it holds, and the charts draw what it holds, not more. The
# runs' reports are served under /report/ (only those their records name)
# and linked from the group page; traversal gets 400, a symlink 404.
. "$(dirname "$0")/lib.sh"

make_pki
write_receiver_conf
MPORT=$(free_port)
URL=http://127.0.0.1:$MPORT
HIST_MAX=4096
sed -i "s/^listen = .*/&\nmetrics = 127.0.0.1:$MPORT\nrpo_history_size = 4K/" "$T/receiver.conf"
printf '\n[group good]\nrpo = 10m\n\n[group late]\nrpo = 4s\n' >> "$T/receiver.conf"
"$NESTOR" config check receiver "$T/receiver.conf" >/dev/null || die "dashboard keys refused"

# ---- binding: beyond loopback only with auth, or when asked for -------------
sed "s/^metrics = .*/metrics = 0.0.0.0:$MPORT/" "$T/receiver.conf" > "$T/open.conf"
"$NESTOR" config check receiver "$T/open.conf" >/dev/null 2>"$T/open.err"
check "config check refuses metrics on 0.0.0.0 without auth (exit 1)" [ $? = 1 ]
check "... and says what to set" grep -q "dashboard_auth = FILE.*dashboard_public = yes" "$T/open.err"
"$NESTOR" receiver --config "$T/open.conf" >"$T/open.out" 2>&1
check "the receiver refuses to start with it too" bash -c "[ $? != 0 ] && grep -q 'beyond loopback' '$T/open.out'"
sed -i "s/^metrics = .*/&\ndashboard_public = yes/" "$T/open.conf"
check "dashboard_public = yes accepts it" "$NESTOR" config check receiver "$T/open.conf"

start_receiver
truncate -s 16M "$T/good.raw" "$T/late.raw"
raw_domain_xml dashvm "$T/late.raw" "$T/vm.xml"
write_agent_conf "$T/good.conf" agent1 good d="$T/good.raw:raw"
write_agent_conf "$T/late.conf" agent1 late d="$T/late.raw:raw" domain_xml="$T/vm.xml"
for i in 1 2 3; do
	random_writes "$T/good.raw" raw 8 65536 "$i" >/dev/null
	agent_once "$T/good.conf" >/dev/null || die "cycle $i of good failed"
done
for i in 1 2; do
	random_writes "$T/late.raw" raw 8 65536 "$((i + 10))" >/dev/null
	agent_once "$T/late.conf" >/dev/null || die "cycle $i of late failed"
done
# a drill and a failover of late, each saving its report (no hypervisor at
# that URI: both fail, which the dashboard must show as such)
NOVIRT='qemu:///session?socket=/nonexistent'
"$NESTOR" drill --config "$T/receiver.conf" late --json --uri "$NOVIRT" >"$T/drill.json" 2>>"$T/drill.err"
"$NESTOR" failover --config "$T/receiver.conf" late --json --uri "$NOVIRT" >"$T/fo.json" 2>>"$T/drill.err"
check "the drill saved its report" bash -c "ls '$T/store/late/drills/'*.json"
check "the failover saved its report" bash -c "ls '$T/store/late/failover/'*.json"
# late's agent stays stopped: wait until its 4 s RPO is breached
for i in $(seq 1 100); do
	[ "$("$NESTOR" status --config "$T/receiver.conf" --json | jq -r '.groups[] | select(.group == "late") | .rpo_state')" = breached ] && break
	sleep 0.1
done

# ---- the overview in a real browser ---------------------------------------
CHROME=(chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions
	--user-data-dir="$T/chromium" --proxy-server=127.0.0.1:9 --proxy-bypass-list='127.0.0.1')
S=$("$NESTOR" status --config "$T/receiver.conf" --json) || die "status failed"
t0=$(date +%s%N)
timeout 120 "${CHROME[@]}" --dump-dom "$URL/" >"$T/dom.html" 2>"$T/chromium.log"
t1=$(date +%s%N)
check "chromium loaded the dashboard" grep -q 'Protection groups' "$T/dom.html"
cat > "$T/dom.py" <<'PY'
import json, sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.rows = {}; self.card = None; self.dots = {}; self.ext = []
        self.now = {}
    def handle_starttag(self, tag, a):
        a = dict(a)
        if tag == "tr" and a.get("class") == "group":
            self.rows[a["data-group"]] = {"state": a["data-state"], "rpo": float(a["data-rpo-seconds"])}
        if tag == "div" and "rpo" in (a.get("class") or "").split():
            self.card = a["data-group"]; self.dots[self.card] = 0
        if tag == "circle" and a.get("class") == "pt" and self.card:
            self.dots[self.card] += 1
        if tag == "circle" and a.get("class") == "now" and self.card:
            self.now[self.card] = a.get("stroke")
        for k in ("src", "href"):
            if a.get(k, "").startswith(("http:", "https:", "//")):
                self.ext.append(a[k])
p = P(); p.feed(open(sys.argv[1]).read())
print(json.dumps({"rows": p.rows, "dots": p.dots, "now": p.now, "external": p.ext}))
PY
D=$(python3 "$T/dom.py" "$T/dom.html") || die "cannot parse the DOM"
echo "DOM: $D"
for g in good late; do
	pt=$(jq -r ".groups[] | select(.group == \"$g\") | .last_point_time_ns" <<<"$S")
	want=$(jq -r ".groups[] | select(.group == \"$g\") | .rpo_state" <<<"$S")
	got=$(jq -r ".rows.$g.state" <<<"$D")
	rpo=$(jq -r ".rows.$g.rpo" <<<"$D")
	echo "$g: DOM state $got, RPO $rpo s; status state $want; page loaded $(( (t0 - pt) / 1000000 )) .. $(( (t1 - pt) / 1000000 )) ms after the point"
	check "$g: the DOM's state is status's ($want)" [ "$got" = "$want" ]
	# the age the page shows lies between the ages at the start and the end of the load
	check "$g: the DOM's RPO matches the newest point's age (status --json's figures)" python3 -c "
import sys; r = $rpo; lo = ($t0 - $pt) / 1e9 - 0.5; hi = ($t1 - $pt) / 1e9 + 0.5
sys.exit(0 if lo <= r <= hi else 1)"
done
check "good is within its RPO (ok)" [ "$(jq -r .rows.good.state <<<"$D")" = ok ]
check "late is breached" [ "$(jq -r .rows.late.state <<<"$D")" = breached ]
check "good's 24 h chart: one dot per cycle (3)" [ "$(jq .dots.good <<<"$D")" = 3 ]
check "late's 24 h chart: one dot per cycle (2)" [ "$(jq .dots.late <<<"$D")" = 2 ]
check "late's chart: the RPO now, red past the target" [ "$(jq -r .now.late <<<"$D")" = "#c62828" ]
check "good's chart: the RPO now, green" [ "$(jq -r .now.good <<<"$D")" = "#2e7d32" ]
check "the page links nothing external" [ "$(jq '.external | length' <<<"$D")" = 0 ]
check "the page has no script" bash -c "! grep -qi '<script' '$T/dom.html'"
mkdir -p "$ROOT/build"
rm -f "$ROOT/build/dashboard.png"
timeout 120 "${CHROME[@]}" --window-size=1280,1000 --screenshot="$ROOT/build/dashboard.png" "$URL/" \
	>>"$T/chromium.log" 2>&1
check "a screenshot of the dashboard is saved (build/dashboard.png)" python3 -c "
import sys; b = open('$ROOT/build/dashboard.png', 'rb').read()
sys.exit(0 if b[:8] == b'\x89PNG\r\n\x1a\n' and len(b) > 10000 else 1)"

# ---- group and point pages, JSON twins -------------------------------------
G=$(curl -s "$URL/api/group/late")
check "api: late's runs are a failover and a drill, both failed" \
	[ "$(jq -r '[.runs[] | .kind + ":" + .verdict] | sort | join(",")' <<<"$G")" = "drill:fail,failover:fail" ]
check "api: the runs name their reports" bash -c "[ -f \"\$(jq -r '.runs[0].report_json' <<<'$G')\" ]"
check "api: late's 7 d history has its 2 cycles" [ "$(jq '.history_7d | length' <<<"$G")" = 2 ]
check "api: late lists points 1 and 2" [ "$(jq -c '[.point_list[].id]' <<<"$G")" = "[1,2]" ]
check "api: the group's RPO is status's figure at its time" python3 -c "
import sys; sys.exit(0 if abs($(jq .rpo_seconds <<<"$G") - ($(jq .now_ns <<<"$G") - $(jq .last_point_time_ns <<<"$G")) / 1e9) < 0.001 else 1)"
curl -s "$URL/group/late" >"$T/group.html"
check "group page: drill and failover rows, the breached badge" bash -c \
	"[ \$(grep -c '<tr class=\"run\">' '$T/group.html') = 2 ] && grep -q 'data-state=\"breached\"' '$T/group.html'"
check "group page: 24 h and 7 d charts" bash -c \
	"grep -q 'data-window=\"24h\" data-points=\"2\"' '$T/group.html' && grep -q 'data-window=\"7d\" data-points=\"2\"' '$T/group.html'"
P=$(curl -s "$URL/api/group/late/point/2")
check "api: point 2: its disk, bytes and consistency from the catalog" \
	[ "$(jq -r '[.disks[0].name, .disks[0].size, .consistency] | join(" ")' <<<"$P")" = "d 16777216 crash-consistent" ]
check "api: point 2's bytes = the catalog's" \
	[ "$(jq .bytes <<<"$P")" = "$(points_json late | jq '.points[1].bytes')" ]
check "point page: the disk" bash -c "curl -s '$URL/group/late/point/2' | grep -q '<td>d</td>'"
check "api: point 2's VM: its name and disk from the domain XML" \
	[ "$(jq -c '[.vms[0].name, .vms[0].disks[0].target]' <<<"$P")" = '["dashvm","vda"]' ]
# names come from agents: a hostile one's metadata is shown, escaped
EVIL='{"version":1,"consistency":"app-consistent","vms":[{"name":"<script>alert(1)</script>","disks":[{"target":"\"><img src=x onerror=alert(2)>","disk":"d0"}],"nics":[{"mac":"</table><b>","network":"&amp;"}]}]}'
python3 "$ROOT/tests/integration/rawclient.py" --port "$PORT" --ca "$T/pki/ca.crt" \
	--cert "$T/pki/agent1.crt" --key "$T/pki/agent1.key" --group evil --meta "$EVIL" point \
	>"$T/evil.out" 2>&1 || { cat "$T/evil.out"; die "the hostile point was not committed"; }
curl -s "$URL/group/evil/point/1" >"$T/evil.html"
check "hostile VM metadata: no markup of its own on the page" bash -c \
	"! grep -Eq '<script|<img|</table><b>' '$T/evil.html'"
check "hostile VM metadata: shown escaped" bash -c "grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;' '$T/evil.html' &&
	grep -qF '&quot;&gt;&lt;img src=x onerror=alert(2)&gt;' '$T/evil.html' && grep -qF '&amp;amp;' '$T/evil.html'"
check "the claimed consistency is the catalog's" bash -c "grep -q 'app-consistent' '$T/evil.html'"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# ---- the runs' reports, served read-only (issue 16) --------------------------
# same_bytes URL FILE: URL answers 200 with FILE's bytes
same_bytes() {
	[ "$(curl -s -o "$T/fetched" -w '%{http_code}' "$1")" = 200 ] && cmp -s "$T/fetched" "$2"
}
for kind in drill failover; do
	dir=drills; [ $kind = failover ] && dir=failover
	id=$(jq -r --arg k $kind '.runs[] | select(.kind == $k) | .id' <<<"$G")
	check "api: the $kind's report URLs" [ "$(jq -r --arg k $kind '.runs[] | select(.kind == $k) | .report_html_url + " " + .report_json_url' <<<"$G")" = "/report/late/$dir/$id.html /report/late/$dir/$id.json" ]
	check "group page: the $kind's row links its HTML report" \
		grep -qF "<a class=\"report-html\" href=\"/report/late/$dir/$id.html\">" "$T/group.html"
	check "the $kind's HTML report: 200, byte for byte" same_bytes "$URL/report/late/$dir/$id.html" "$T/store/late/$dir/$id.html"
	check "the $kind's JSON record: 200, byte for byte" same_bytes "$URL/report/late/$dir/$id.json" "$T/store/late/$dir/$id.json"
done
check "a report's Content-Type is HTML, with the dashboard's CSP" bash -c \
	"curl -s -D - -o /dev/null '$URL$(jq -r '.runs[0].report_html_url' <<<"$G")' | grep -qi '^Content-Security-Policy: default-src .none.' &&
	 curl -s -o /dev/null -w '%{content_type}' '$URL$(jq -r '.runs[0].report_html_url' <<<"$G")' | grep -q '^text/html'"
check "report traversal: ../ in the name: 400" [ "$(code --path-as-is "$URL/report/late/drills/../../../../etc/passwd")" = 400 ]
check "report traversal: ../ for the group: 400" [ "$(code --path-as-is "$URL/report/../late/drills/x.html")" = 400 ]
check "report traversal: an encoded slash: 400" [ "$(code --path-as-is "$URL/report/late/drills/..%2f..%2fcatalog.json")" = 400 ]
check "report: another folder of the group: 400" [ "$(code "$URL/report/late/meta/1.json")" = 400 ]
check "report: a file no record names: 404" [ "$(code "$URL/report/late/drills/catalog.json")" = 404 ]
check "report: no such group: 404" [ "$(code "$URL/report/nope/drills/x.html")" = 404 ]
# a record naming an HTML report that is a symlink: not followed
did=$(jq -r '.runs[] | select(.kind == "drill") | .id' <<<"$G")
jq '.html_report = "evil.html"' "$T/store/late/drills/$did.json" >"$T/store/late/drills/evil.json"
ln -s /etc/passwd "$T/store/late/drills/evil.html"
check "report: a record's HTML report that is a symlink: 404" [ "$(code "$URL/report/late/drills/evil.html")" = 404 ]
rm -f "$T/store/late/drills/evil.json" "$T/store/late/drills/evil.html"
check "no such group: 404" [ "$(code "$URL/group/nope")" = 404 ]
check "no such point: 404" [ "$(code "$URL/group/late/point/99")" = 404 ]
check "a path outside the store's names: 404" [ "$(code --path-as-is "$URL/group/../etc")" = 404 ]
check "POST: 501" [ "$(code -X POST "$URL/")" = 501 ]
check "/metrics still served" bash -c "curl -s '$URL/metrics' | grep -q '^nestor_group_points{group=\"good\"} 3'"

# ---- bounds -----------------------------------------------------------------
check "a 10 KiB header: 431" [ "$(code -H "X-Big: $(head -c 10240 /dev/zero | tr '\0' a)" "$URL/")" = 431 ]
H=(); for i in $(seq 1 80); do H+=(-H "X-H$i: v"); done
check "80 header lines: 431" [ "$(code "${H[@]}" "$URL/")" = 431 ]
check "a request trickled a byte at a time: 408 once its 10 s are up" python3 - "$MPORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); start = time.time()
s.settimeout(1)
for c in b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 30:
    try:
        s.sendall(bytes([c]))
        got = s.recv(64)
        break
    except socket.timeout:
        continue
    except OSError:
        got = b""; break
else:
    got = b""
took = time.time() - start
print(f"answer after {took:.1f} s: {got[:24]!r}")
sys.exit(0 if got.startswith(b"HTTP/1.1 408") and 9 <= took <= 15 else 1)
PY
check "more connections than allowed (32): the rest get 503, then it serves again" python3 - "$MPORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1]); idle = []
for i in range(40):
    s = socket.create_connection(("127.0.0.1", port)); idle.append(s)
time.sleep(0.5)
busy = 0
for s in idle:
    s.setblocking(False)
    try:
        if s.recv(64).startswith(b"HTTP/1.1 503"): busy += 1
    except BlockingIOError:
        pass
for s in idle: s.close()
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
ok = s.recv(64).startswith(b"HTTP/1.1 200")
print(f"503 answers: {busy}, served again: {ok}")
sys.exit(0 if busy == 8 and ok else 1)
PY

# ---- acceptance 5: 1000 page loads add no memory, the history stays bounded --
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$RX_PID/status"; }
for i in $(seq 1 50); do
	for u in / /group/late /api/ /api/group/late /group/late/point/2; do curl -s -o /dev/null "$URL$u"; done
done
r0=$(rss)
for i in $(seq 1 1000); do curl -s -o /dev/null "$URL/"; done
r1=$(rss)
echo "receiver RSS: $r0 KiB after 50 warm-up loads, $r1 KiB after 1000 more"
check "1000 page loads add no memory (RSS $r0 -> $r1 KiB, <= 64 KiB more)" [ "$r1" -le $((r0 + 64)) ]
for i in $(seq 4 12); do
	random_writes "$T/good.raw" raw 2 65536 "$((i + 20))" >/dev/null
	agent_once "$T/good.conf" >/dev/null || die "cycle $i of good failed"
done
check "history: one record per cycle of good (12)" [ "$(stat -c %s "$T/store/.rpo-history/good")" = $((12 * 32)) ]
check "history: every file under rpo_history_size" bash -c \
	"for f in '$T/store/.rpo-history/'*; do [ \$(stat -c %s \"\$f\") -le $HIST_MAX ] || exit 1; done"
check "overview chart: good's 12 cycles" bash -c \
	"[ \$(curl -s '$URL/api/' | jq '.groups[] | select(.group == \"good\") | .history_24h | length') = 12 ]"

# More real cycles than the history holds: an agent daemon cycling without
# pause (min_interval 0) on a group of its own, the file's size watched all
# along, until the point two past what it holds (4K: 128 records).
truncate -s 1M "$T/ring.raw"
write_agent_conf "$T/ring.conf" agent1 ring d="$T/ring.raw:raw"
sed -i 's/^\[group ring\]$/&\nmin_interval = 0/' "$T/ring.conf"
"$NESTOR" agent --config "$T/ring.conf" >"$T/ring.log" 2>&1 &
RING_PID=$!
jqe() { jq -e "$@" >/dev/null; }
python3 - "$T/store/.rpo-history/ring" $((HIST_MAX / 32 + 2)) "$HIST_MAX" >"$T/ring.json" <<'PY'
import json, os, struct, sys, time
path, want, bound = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = time.time(); biggest = 0; samples = 0; last = 0; shrunk = 0; prev = 0
while time.time() - start < 180:
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        size = 0
    samples += 1; biggest = max(biggest, size)
    if size < prev: shrunk += 1
    prev = size
    if size >= 32:
        with open(path, "rb") as f:
            f.seek(size - size % 32 - 32); last = struct.unpack("=4Q", f.read(32))[1]
    if last >= want:
        break
    time.sleep(0.02)
print(json.dumps({"seconds": round(time.time() - start, 1), "samples": samples,
                  "biggest": biggest, "last_point": last, "compactions_seen": shrunk}))
PY
kill "$RING_PID"
wait "$RING_PID"
R=$(cat "$T/ring.json")
echo "ring: $R"
RSIZE=$(stat -c %s "$T/store/.rpo-history/ring")
RPOINTS=$(last_point ring)
echo "ring: $RPOINTS points committed, history $RSIZE bytes ($((RSIZE / 32)) records)"
check "ring: more cycles than the history holds ($RPOINTS > $((HIST_MAX / 32)))" [ "$RPOINTS" -gt $((HIST_MAX / 32)) ]
check "ring: the history was cut to its newest half as it filled" jqe '.compactions_seen >= 1' <<<"$R"
check "ring: the history never exceeded rpo_history_size ($(jq .biggest <<<"$R") <= $HIST_MAX bytes, $(jq .samples <<<"$R") samples)" \
	jqe ".biggest <= $HIST_MAX and .biggest > 0" <<<"$R"
check "ring: the history file is whole records, under the bound" [ $((RSIZE % 32)) = 0 -a "$RSIZE" -le $HIST_MAX ]
check "ring: the history holds the newest cycles, one record each, up to the last point" python3 -c "
import struct, sys; b = open('$T/store/.rpo-history/ring', 'rb').read()
p = [struct.unpack_from('=4Q', b, i)[1] for i in range(0, len(b), 32)]
sys.exit(0 if p == list(range($RPOINTS - len(p) + 1, $RPOINTS + 1)) else 1)"
curl -s "$URL/group/ring" >"$T/ring.html"
RD=$(python3 "$ROOT/tests/integration/dashdom.py" "$T/ring.html") || die "cannot read the ring page"
echo "ring page: $(jq -c .charts <<<"$RD")"
check "ring: the 24 h chart has a dot per record the history holds ($((RSIZE / 32))), not more" \
	jqe ".charts[\"24h\"] | .dots == $((RSIZE / 32)) and .data_points == $((RSIZE / 32))" <<<"$RD"
check "ring: the 7 d chart too" jqe ".charts[\"7d\"].dots == $((RSIZE / 32))" <<<"$RD"
check "ring: the JSON twin's history too" \
	[ "$(curl -s "$URL/api/group/ring" | jq '.history_24h | length')" = $((RSIZE / 32)) ]

# ---- basic auth -----------------------------------------------------------------
stop_receiver
printf '# dashboard users\nops:%s\n' "$(openssl passwd -6 -salt dashsalt 'c0rrect horse')" > "$T/users"
sed -i "s|^metrics = .*|metrics = 0.0.0.0:$MPORT\ndashboard_auth = $T/users|" "$T/receiver.conf"
check "config check accepts 0.0.0.0 with dashboard_auth" "$NESTOR" config check receiver "$T/receiver.conf"
echo 'ops:plaintext' > "$T/bad-users"
sed "s|^dashboard_auth = .*|dashboard_auth = $T/bad-users|" "$T/receiver.conf" > "$T/bad.conf"
"$NESTOR" receiver --config "$T/bad.conf" >"$T/bad.out" 2>&1
check "a password file without crypt hashes: the receiver refuses to start, naming the line" \
	bash -c "[ $? != 0 ] && grep -q 'bad-users:1: the hash is not a crypt(3) hash' '$T/bad.out'"
start_receiver
check "no credentials: 401" [ "$(code "$URL/")" = 401 ]
check "401 asks for basic auth" bash -c "curl -s -D - -o /dev/null '$URL/' | grep -qi '^WWW-Authenticate: Basic realm='"
check "no credentials, /metrics: 401" [ "$(code "$URL/metrics")" = 401 ]
check "no credentials, /api/: 401" [ "$(code "$URL/api/")" = 401 ]
check "no credentials, a report: 401" [ "$(code "$URL/report/late/drills/$did.html")" = 401 ]
check "right password, a report: 200" [ "$(code -u 'ops:c0rrect horse' "$URL/report/late/drills/$did.html")" = 200 ]
check "wrong password: 401" [ "$(code -u 'ops:wrong' "$URL/")" = 401 ]
check "unknown user: 401" [ "$(code -u 'root:c0rrect horse' "$URL/")" = 401 ]
check "malformed Authorization: 401" [ "$(code -H 'Authorization: Basic !!!' "$URL/")" = 401 ]
check "right password: 200" [ "$(code -u 'ops:c0rrect horse' "$URL/")" = 200 ]
check "right password, /metrics: 200" [ "$(code -u 'ops:c0rrect horse' "$URL/metrics")" = 200 ]
stop_receiver
finish
