#!/usr/bin/env bash
# bench/upload.sh: uploads through the local file store against a plain PUT
# into mod_dav on the same httpd, and the memory of the httpd child.
#
#   bench/upload.sh [ROUNDS]        (default 15 rounds of 10 MiB each way)
#
# Needs root and the dev servers (it runs `make run`, which reuses them). It
# starts a second httpd from the dev configuration (var/httpd/httpd.conf) on
# free ports with ONE child process (ServerLimit 1), its own file store and
# a mod_dav location (/dav), then:
#   1. rate: ROUNDS x 10 MiB, alternating, each way:
#        webot  PUT /api/v1/files/upload/{id} (signed URL from presign;
#               the presign is timed separately)
#        dav    PUT /dav/<name> (mod_dav_fs, no checks at all)
#      the median time per upload, MiB/s, and webot/dav (issue 7 asks >= 0.8);
#   2. memory: the child's VmHWM (peak RSS) and VmRSS after uploads of 1, 10
#      and 50 MiB through the store: streamed, the peak must not grow with
#      the file size.
# Everything it made (httpd, files, rows) is removed at the end.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$TOP/scripts/lib.sh"
source "$TOP/bench/lib.sh"
ROUNDS=${1:-15}
MIB=$((1024 * 1024))

[[ $(id -u) == 0 ]] || die "run as root (httpd starts as root, children as www-data)"
command -v curl >/dev/null || die "curl is needed"

log "dev servers (make run)"
make -C "$TOP" -s run >/dev/null
set -a; source "$TOP/var/webot.env"; set +a
[[ -n "${WEBOT_DEMO_API_KEY:-}" ]] || die "no demo API key in var/webot.env"

VAR=$TOP/var
B=$(mktemp -d /tmp/webot-bench.XXXXXX)
chmod 0755 "$B"
HTTPD=${HTTPD:-/usr/sbin/apache2}
MODDIR=$(apxs -q LIBEXECDIR)
P=$(find_free_port 18080)
PS=$(find_free_port $((P + 1)))
BASE=http://127.0.0.1:$P
mkdir -p "$B/run" "$B/files" "$B/dav" "$B/data"
chown www-data:www-data "$B/files" "$B/dav" "$B/run"

cleanup() {
  set +e
  if [[ -s "$B/httpd.pid" ]]; then
    kill -TERM "$(cat "$B/httpd.pid")" 2>/dev/null
    for _ in $(seq 50); do [[ -e "$B/httpd.pid" ]] || break; sleep 0.1; done
  fi
  if [[ -s "$B/ids" ]]; then
    psql -X -q -d "$WEBOT_DB" -c "DELETE FROM files WHERE id = ANY (string_to_array('$(paste -sd, "$B/ids")', ','))" >/dev/null
  fi
  rm -rf "$B"
}
trap cleanup EXIT

# --- the bench httpd: the dev configuration, moved, one child, plus DAV ---
bench_httpd_conf "$VAR" "$B" "$P" "$PS" 1 >"$B/httpd.conf"
grep -q "WebotFileStore \"$B/files\"" "$B/httpd.conf" \
  || die "the dev configuration has no WebotFileStore (module without the files area?)"
cat >>"$B/httpd.conf" <<CONF

# --- bench: plain PUT into mod_dav on the same server -------------------------
<IfModule !mod_alias.c>
    LoadModule alias_module $MODDIR/mod_alias.so
</IfModule>
LoadModule dav_module    $MODDIR/mod_dav.so
LoadModule dav_fs_module $MODDIR/mod_dav_fs.so
DavLockDB "$B/run/davlock"
Alias /dav "$B/dav"
<Directory "$B/dav">
    Dav On
    Require all granted
</Directory>
CONF
"$HTTPD" -f "$B/httpd.conf" -t >/dev/null 2>"$B/configtest" || { cat "$B/configtest" >&2; die "bench configtest failed"; }
"$HTTPD" -f "$B/httpd.conf" -k start
for _ in $(seq 100); do
  curl -s -o /dev/null --max-time 1 "$BASE/api/v1/health" && break
  sleep 0.1
done
MASTER=$(cat "$B/httpd.pid")
child() { pgrep -P "$MASTER" | head -n 1; }
mem() { awk '/^VmHWM|^VmRSS/ { printf "%s %s ", $1, $2 } END { print "" }' "/proc/$(child)/status"; }
log "bench httpd on $BASE (one child, pid $(child)), store $B/files"

# --- helpers ---------------------------------------------------------------
make_file() { head -c "$2" /dev/urandom >"$1"; }

# presign SIZE -> prints "ID URL"; the time goes to $B/presign_times
presign() {
  local out t
  out=$(curl -s -w '\n%{time_total}' "$BASE/api/v1/files/presign" \
    -H "Authorization: Bearer $WEBOT_DEMO_API_KEY" -H 'Content-Type: application/json' \
    -d "{\"filename\":\"bench.pdf\",\"content_type\":\"application/pdf\",\"size_bytes\":$1,\"purpose\":\"job_input\"}")
  t=${out##*$'\n'}
  echo "$t" >>"$B/presign_times"
  perl -MJSON::PP -e 'my $j = decode_json($ARGV[0]); die "presign: $ARGV[0]\n" unless $j->{file_id};
                      print "$j->{file_id} $j->{upload}{url}\n"' "${out%$'\n'*}"
}

# put URL FILE [content type] -> prints "HTTP_CODE SECONDS"
put() {
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X PUT -T "$2" \
    -H 'Expect:' -H "Content-Type: ${3:-application/pdf}" "$1"
}

webot_put() {
  local id url res
  read -r id url < <(presign "$(stat -c %s "$1")")
  echo "$id" >>"$B/ids"
  res=$(put "$url" "$1")
  [[ ${res%% *} == 200 ]] || die "webot upload answered ${res%% *}"
  echo "${res#* }"
}

dav_put() {
  local res
  res=$(put "$BASE/dav/bench-$RANDOM-$RANDOM.bin" "$1")
  [[ ${res%% *} == 201 || ${res%% *} == 204 ]] || die "dav PUT answered ${res%% *}"
  echo "${res#* }"
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# --- 1. rate ------------------------------------------------------------------
F10=$B/data/10m.bin
make_file "$F10" $((10 * MIB))
for _ in 1 2; do webot_put "$F10" >/dev/null; dav_put "$F10" >/dev/null; done   # warm-up
: >"$B/presign_times"
for ((i = 0; i < ROUNDS; i++)); do
  if (( i % 2 )); then
    dav_put "$F10" >>"$B/dav_times"; webot_put "$F10" >>"$B/webot_times"
  else
    webot_put "$F10" >>"$B/webot_times"; dav_put "$F10" >>"$B/dav_times"
  fi
done
W=$(median <"$B/webot_times")
D=$(median <"$B/dav_times")
PRE=$(median <"$B/presign_times")
read -r WR DR RATIO RATIO2 < <(awk -v w="$W" -v d="$D" -v p="$PRE" \
  'BEGIN { printf "%.1f %.1f %.3f %.3f\n", 10 / w, 10 / d, d / w, d / (w + p) }')

# --- 2. memory ------------------------------------------------------------------
MEM0=$(mem)
declare -A HWM RSS
for mb in 1 10 50; do
  f=$B/data/$mb.bin
  make_file "$f" $((mb * MIB))
  for _ in 1 2 3; do webot_put "$f" >/dev/null; done
  read -r _ hwm _ rss < <(mem)
  HWM[$mb]=$hwm RSS[$mb]=$rss
done
GROW=$(( HWM[50] - HWM[1] ))

cat <<REPORT

upload benchmark ($ROUNDS rounds of 10 MiB each way, one httpd child, loopback)
  webot PUT /api/v1/files/upload/{id}   median ${W}s   ${WR} MiB/s
  mod_dav PUT /dav/...                  median ${D}s   ${DR} MiB/s
  ratio webot/dav (PUT)                 ${RATIO}   (required >= 0.8)
  presign (POST /files/presign)         median ${PRE}s; ratio with it ${RATIO2}
httpd child memory (kB) after 3 uploads each through the store
  before:  $MEM0
  1 MiB:   VmHWM ${HWM[1]}   VmRSS ${RSS[1]}
  10 MiB:  VmHWM ${HWM[10]}   VmRSS ${RSS[10]}
  50 MiB:  VmHWM ${HWM[50]}   VmRSS ${RSS[50]}
  peak growth from 1 MiB to 50 MiB files: ${GROW} kB
REPORT

rc=0
awk -v r="$RATIO" 'BEGIN { exit !(r >= 0.8) }' || { echo "FAIL: ratio $RATIO < 0.8"; rc=1; }
(( GROW < 8192 )) || { echo "FAIL: the child's peak memory grew by $GROW kB with the file size"; rc=1; }
(( rc )) || echo "PASS"
exit "$rc"
