# shellcheck shell=bash
# Common helpers for the scripts in scripts/. Source it; do not run it.

WEBOT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log()  { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# Build directory: build/ normally, build-san/ when SANITIZE is set.
webot_build_dir() {
  if [[ -n "${WEBOT_BUILD_DIR:-}" ]]; then printf '%s\n' "$WEBOT_BUILD_DIR"
  elif [[ -n "${SANITIZE:-}" ]]; then printf '%s\n' "$WEBOT_TOP/build-san"
  else printf '%s\n' "$WEBOT_TOP/build"; fi
}

# ---------------------------------------------------------------------------
# PostgreSQL clusters (server binaries run as the postgres OS user when root).

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -x "$d/initdb" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  printf '%s\n' "$d"
}

as_pg() {
  # from / so that a working directory postgres cannot enter does not matter
  if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Make every directory above $1 traversable (o+x) so that postgres / www-data
# can reach files below it. Only adds the execute bit, never read.
make_traversable() {
  local d
  d=$(dirname "$1")
  while [[ "$d" != / && -n "$d" ]]; do
    if [[ -d "$d" ]] && [[ $(( 0$(stat -c %a "$d") & 01 )) -eq 0 ]]; then
      log "chmod o+x $d (postgres and www-data must reach files below it)"
      chmod o+x "$d" 2>/dev/null || true
    fi
    d=$(dirname "$d")
  done
}

# pg_cluster_init DATADIR PORT SOCKDIR: initdb a trust-auth cluster listening
# on 127.0.0.1:PORT only, socket in SOCKDIR.
pg_cluster_init() {
  local data=$1 port=$2 sock=$3 bin
  bin=$(pg_bindir)
  mkdir -p "$data" "$sock"
  if [[ $(id -u) -eq 0 ]]; then
    make_traversable "$data"
    chown postgres:postgres "$data"
    chown postgres:postgres "$sock"
  fi
  chmod 700 "$data"
  chmod 1777 "$sock" 2>/dev/null || true
  as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
    --no-locale >"$data.initdb.log" 2>&1 \
    || { cat "$data.initdb.log" >&2; die "initdb failed in $data"; }
  rm -f "$data.initdb.log"
  as_pg tee -a "$data/postgresql.conf" >/dev/null <<CONF

# --- mod_webot development/test settings ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
max_connections = 200
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
CONF
  # trust for local sockets and 127.0.0.1 only (initdb --auth=trust wrote that
  # already; make it explicit and drop the IPv6/replication lines).
  as_pg tee "$data/pg_hba.conf" >/dev/null <<'HBA'
local   all   all                 trust
host    all   all   127.0.0.1/32  trust
HBA
}

# pg_cluster_set_port DATADIR PORT: make an existing cluster listen on PORT
# (a later "port =" line in postgresql.conf wins).
pg_cluster_set_port() {
  local data=$1 port=$2 cur
  cur=$(grep -E '^[[:space:]]*port[[:space:]]*=' "$data/postgresql.conf" | tail -n 1 | grep -Eo '[0-9]+' || true)
  if [[ "$cur" != "$port" ]]; then
    echo "port = $port" | as_pg tee -a "$data/postgresql.conf" >/dev/null
  fi
}

pg_cluster_running() {
  local data=$1
  [[ -s "$data/PG_VERSION" ]] && as_pg "$(pg_bindir)/pg_ctl" -D "$data" status >/dev/null 2>&1
}

pg_cluster_start() {
  local data=$1
  if pg_cluster_running "$data"; then return 0; fi
  as_pg "$(pg_bindir)/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null \
    || { tail -n 30 "$data/server.log" >&2; die "PostgreSQL did not start ($data)"; }
}

pg_cluster_stop() {
  local data=$1
  if pg_cluster_running "$data"; then
    as_pg "$(pg_bindir)/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
  fi
}

# pg_cluster_setup PORT: role webot (LOGIN) owning database webot.
pg_cluster_setup() {
  local port=$1 admin
  admin=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres)
  if [[ "$("${admin[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname='webot'")" != 1 ]]; then
    "${admin[@]}" -c "CREATE ROLE webot LOGIN"
  fi
  if [[ "$("${admin[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname='webot'")" != 1 ]]; then
    "${admin[@]}" -c "CREATE DATABASE webot OWNER webot ENCODING 'UTF8' TEMPLATE template0"
  fi
}

# ---------------------------------------------------------------------------
# Migrations: webotctl migrate when build/webotctl knows it, else psql.

webotctl_has() {
  local ctl=$1 cmd=$2
  [[ -x "$ctl" ]] || return 1
  { "$ctl" --help 2>&1 || true; "$ctl" help 2>&1 || true; } </dev/null | grep -qw -- "$cmd"
}

run_migrations() {
  local conninfo=$1 ctl
  ctl="$(webot_build_dir)/webotctl"
  if webotctl_has "$ctl" migrate; then
    log "migrations: $ctl migrate"
    "$ctl" --db "$conninfo" migrate
  else
    log "migrations: psql fallback (scripts/migrate.sh)"
    "$WEBOT_TOP/scripts/migrate.sh" "$conninfo"
  fi
}

# ---------------------------------------------------------------------------
# Ports and HTTP.

port_in_use() {
  ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# find_free_port START [EXCLUDE...]: first port >= START nobody listens on.
find_free_port() {
  local p=$1; shift
  local ex
  while (( p < 65000 )); do
    if ! port_in_use "$p"; then
      local taken=0
      for ex in "$@"; do [[ "$ex" == "$p" ]] && taken=1; done
      (( taken )) || { printf '%s\n' "$p"; return 0; }
    fi
    p=$((p + 1))
  done
  die "no free port found"
}

random_hex() { openssl rand -hex "$1"; }

# write_secret FILE CONTENT: mode 0640, group www-data (readable by httpd children).
write_secret() {
  local file=$1 content=$2
  ( umask 077; printf '%s' "$content" >"$file" )
  if getent group www-data >/dev/null; then chgrp www-data "$file"; fi
  chmod 0640 "$file"
}

# make_cert DIR: self-signed cert.pem/key.pem for localhost and 127.0.0.1.
make_cert() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -sha256 \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "extendedKeyUsage=serverAuth" >/dev/null 2>&1 \
    || die "openssl could not create a certificate in $dir"
  chmod 0600 "$dir/key.pem"
  chmod 0644 "$dir/cert.pem"
}

# fill_template IN OUT NAME=VALUE...: replaces @NAME@ with VALUE.
fill_template() {
  local in=$1 out=$2; shift 2
  local content kv
  content=$(<"$in")
  for kv in "$@"; do
    content=${content//"@${kv%%=*}@"/"${kv#*=}"}
  done
  printf '%s\n' "$content" >"$out"
}

# sanitizer preload for an uninstrumented httpd loading an instrumented module
san_preload() {
  local cc=${CC:-gcc} libs=() l
  [[ "${SANITIZE:-}" == *address* ]] && libs+=("$($cc -print-file-name=libasan.so)")
  [[ "${SANITIZE:-}" == *undefined* ]] && libs+=("$($cc -print-file-name=libubsan.so)")
  local IFS=:
  printf '%s\n' "${libs[*]}"
}
