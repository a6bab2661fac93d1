#!/usr/bin/env bash
# Install the Debian packages a make target needs, only when some are missing.
#   scripts/deps.sh build|run|test|fuzz|valgrind ...
# A warm machine (everything installed) never calls apt. Package services
# (the system apache2 and postgresql) are not started by the installation:
# we run our own servers on our own ports.
set -euo pipefail

pkgs_build=(make gcc libc6-dev apache2-dev libaprutil1-dev libjansson-dev
            libpq-dev libcurl4-openssl-dev libssl-dev)
pkgs_run=(apache2 libaprutil1-dbd-pgsql postgresql postgresql-client openssl
          curl ca-certificates iproute2)
pkgs_test=(libapache2-mod-perl2 libjson-pp-perl libwww-perl
           liblwp-protocol-https-perl)
# make fuzz: clang with libFuzzer and the sanitizer runtimes (fuzz/)
pkgs_fuzz=(clang libclang-rt-14-dev)

want=()
for set in "$@"; do
  case "$set" in
    build) want+=("${pkgs_build[@]}") ;;
    run)   want+=("${pkgs_build[@]}" "${pkgs_run[@]}") ;;
    test)  want+=("${pkgs_build[@]}" "${pkgs_run[@]}" "${pkgs_test[@]}") ;;
    fuzz)  want+=("${pkgs_build[@]}" "${pkgs_fuzz[@]}") ;;
    valgrind) want+=("${pkgs_build[@]}" valgrind) ;;
    *) echo "usage: $0 build|run|test|fuzz|valgrind ..." >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  if [[ "$st" != installed ]]; then
    case " ${missing[*]-} " in *" $p "*) ;; *) missing+=("$p") ;; esac
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "error: missing Debian packages (run as root to install them): ${missing[*]}" >&2
  exit 1
fi

echo "==> installing: ${missing[*]}" >&2
# Keep maintainer scripts from starting the system apache2/postgresql.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\n# temporary, from mod_webot scripts/deps.sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
cleanup() { if (( created_policy )); then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# If a service got started anyway (no policy-rc.d support), stop it: our
# servers use their own ports, but a stray system server only costs memory.
for svc in apache2 postgresql; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" >/dev/null 2>&1 || true
    systemctl disable "$svc" >/dev/null 2>&1 || true
  fi
done
echo "==> packages installed" >&2
