#!/usr/bin/env bash
# Fail (and print them) if sanitizer report files exist in DIR.
#   scripts/san-check.sh DIR
set -uo pipefail
dir=${1:?usage: san-check.sh DIR}
shopt -s nullglob
reports=("$dir"/asan* "$dir"/ubsan*)
if (( ${#reports[@]} == 0 )); then
  echo "sanitizers: no reports in $dir"
  exit 0
fi
for r in "${reports[@]}"; do
  echo "===== sanitizer report: $r"
  cat "$r"
done
echo "sanitizers: ${#reports[@]} report(s) in $dir" >&2
exit 1
