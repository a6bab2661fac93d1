#!/usr/bin/env bash
# Fail if an httpd error_log holds a line at level error or worse, a crashed
# child, or a sanitizer finding, unless an extended regex in the allow file
# matches the line.
#   scripts/errlog-check.sh ERROR_LOG [ALLOW_FILE]
# The allow file has one extended regex (grep -E) per line; blank lines and
# lines starting with # are ignored.
set -uo pipefail
log=${1:?usage: errlog-check.sh ERROR_LOG [ALLOW_FILE]}
allow=${2:-}
[[ -f "$log" ]] || { echo "error_log check: $log does not exist" >&2; exit 1; }

bad_re=':(error|crit|alert|emerg)\] |exit signal|AddressSanitizer|LeakSanitizer|runtime error:|Segmentation fault'
hits=$(grep -E -- "$bad_re" "$log" || true)
if [[ -n "$allow" && -s "$allow" && -n "$hits" ]]; then
  patterns=$(grep -Ev '^[[:space:]]*(#|$)' "$allow" || true)
  if [[ -n "$patterns" ]]; then
    hits=$(grep -Ev -f <(printf '%s\n' "$patterns") <<<"$hits" || true)
  fi
fi
if [[ -n "$hits" ]]; then
  echo "error_log check: unexpected lines in $log (whitelist regexes go in ${allow:-an allow file}):" >&2
  printf '%s\n' "$hits" >&2
  exit 1
fi
echo "error_log check: clean ($log)"
