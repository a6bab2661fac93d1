#!/usr/bin/env bash
# The fault-injection suite (make test-faults; CI runs it after make test).
# Same throwaway PostgreSQL and httpd as scripts/test.sh (it is called with
# TEST_FILES set to t/faults/*.ft). The files are named *.ft so that
# `make test` (which proves every t/**/*.t) does not pick them up; prove runs
# them as Perl scripts. Each scenario bounds its load in count and time; the
# whole suite takes about 3 minutes. docs/reliability.md describes them.
# Knobs: FAULT_FILES="t/faults/01_x.ft ..." (a subset), PROVE_ARGS (e.g. -v),
# and those of scripts/test.sh (WEBOT_TEST_KEEP=1, ...).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
files=${FAULT_FILES:-$(find t/faults -name '*.ft' -type f | LC_ALL=C sort | tr '\n' ' ')}
[[ -n "$files" ]] || { echo "test-faults: no t/faults/*.ft" >&2; exit 1; }
# the shared server's error_log may hold the faults' expected lines too
allow=$(mktemp /tmp/webot-faults-allow.XXXXXX)
trap 'rm -f "$allow"' EXIT
{ cat t/error_log.allow; echo; cat t/faults/error_log.allow; } >"$allow"
rc=0
TEST_FILES=$files WEBOT_ERRLOG_ALLOW=$allow scripts/test.sh || rc=$?
exit "$rc"
