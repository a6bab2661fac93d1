#!/usr/bin/env bash
# Runs the C unit test binaries given as arguments under valgrind memcheck
# (make valgrind): a test fails on its own failure, on any memcheck error
# (invalid read/write, use of uninitialised values, bad free, ...) and on
# any definite leak. Logs: build/valgrind/NAME.log.
#   VALGRIND_ARGS="..."  more valgrind options (e.g. --track-origins=yes)
set -uo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind.sh: valgrind is not installed (scripts/deps.sh valgrind)" >&2
  exit 1
fi
if [[ $# -eq 0 ]]; then
  echo "valgrind.sh: no C unit tests given" >&2
  exit 1
fi

mkdir -p build/valgrind
pass=0 fail=0 failed=()
for t in "$@"; do
  name=${t##*/}
  log=build/valgrind/$name.log
  start=$(date +%s)
  # shellcheck disable=SC2086
  valgrind --error-exitcode=1 --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
    --num-callers=30 --log-file="$log.vg" ${VALGRIND_ARGS:-} \
    "$t" >"$log" 2>&1
  rc=$?
  cat "$log.vg" >>"$log"; rm -f "$log.vg"
  took=$(( $(date +%s) - start ))
  errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
  nok=$(grep -c '^ok ' "$log")
  notok=$(grep -c '^not ok ' "$log")
  if (( rc == 0 )) && [[ ${errs:-x} == 0 ]]; then
    pass=$((pass + 1))
    printf 'ok   %-24s %4ss  %4s tests passed, 0 memcheck errors\n' \
      "$name" "$took" "$nok"
  else
    fail=$((fail + 1)); failed+=("$name")
    printf 'FAIL %-24s %4ss  %4s passed, %s failed, %s memcheck errors (exit %s; %s)\n' \
      "$name" "$took" "$nok" "$notok" "${errs:-?}" "$rc" "$log"
    grep -E -m20 '^==[0-9]+== (Invalid|Conditional|Use of|Mismatched|Syscall|Source and|[0-9,]+ bytes in [0-9,]+ blocks are definitely)' "$log" | sed 's/^/    /'
    grep -m10 '^not ok ' "$log" | sed 's/^/    /'
  fi
done
echo "valgrind: $pass passed, $fail failed"
if (( fail )); then
  echo "valgrind: failed: ${failed[*]}" >&2
  exit 1
fi
