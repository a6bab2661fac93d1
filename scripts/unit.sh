#!/usr/bin/env bash
# Run the C unit test binaries given as arguments; each prints TAP-ish lines
# and exits non-zero on failure. With SANITIZE set, sanitizer findings fail
# the test too (halt_on_error makes UBSan findings fatal).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -n "${SANITIZE:-}" ]]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:halt_on_error=1:detect_leaks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi

pass=0 fail=0 failed=()
for t in "$@"; do
  echo "# ${t##*/}"
  if "$t"; then
    pass=$((pass + 1))
  else
    rc=$?
    echo "not ok - ${t##*/} exited with status $rc"
    fail=$((fail + 1)); failed+=("${t##*/}")
  fi
done
if [[ $# -eq 0 ]]; then
  echo "# no C unit tests (t/unit/test_*.c) yet"
fi
echo "unit: $pass passed, $fail failed"
if (( fail )); then
  echo "failed unit tests: ${failed[*]}" >&2
  exit 1
fi
