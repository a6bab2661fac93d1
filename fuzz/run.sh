#!/usr/bin/env bash
# Runs every libFuzzer harness (build-fuzz/fuzz_NAME, built by
# make -f fuzz/fuzz.mk) for a bounded time, FUZZ_PARALLEL at once, and fails
# on any crash, leak, sanitizer report, timeout or failed property.
#
#   FUZZ_SECONDS=60     seconds per harness (make fuzz's default)
#   FUZZ_TARGETS="a b"  only these harnesses (names without fuzz_)
#   FUZZ_ARGS="..."     more libFuzzer options, e.g. -jobs=4 -workers=4
#   FUZZ_PARALLEL=N     harnesses run at the same time (default: the CPUs)
#
# Per harness: the seeds are fuzz/corpus/NAME (read only); what the run
# learns goes to build-fuzz/corpus/NAME (kept between runs, so a second run
# starts where the first stopped); a crashing input is written to
# build-fuzz/artifacts/NAME/ and the log to build-fuzz/logs/NAME.log.
# Each harness first replays its whole corpus, the seeds included: the
# inputs of earlier findings live there as regression cases.
set -uo pipefail
cd "$(dirname "$0")/.."

FZ=build-fuzz
secs=${FUZZ_SECONDS:-60}
if ! [[ $secs =~ ^[0-9]+$ ]] || (( secs < 1 )); then
  echo "fuzz/run.sh: FUZZ_SECONDS must be a positive number of seconds" >&2
  exit 2
fi

if [[ -n ${FUZZ_TARGETS:-} ]]; then
  names=($FUZZ_TARGETS)
else
  names=()
  for b in "$FZ"/fuzz_*; do
    [[ -x $b && ! -d $b && $b != *.d ]] && names+=("${b##*/fuzz_}")
  done
fi
if (( ${#names[@]} == 0 )); then
  echo "fuzz/run.sh: no harnesses in $FZ (make -f fuzz/fuzz.mk first)" >&2
  exit 1
fi

# Stack traces symbolized; UBSan findings are fatal already (compiled with
# -fno-sanitize-recover), ASan/LSan report leaks at the end of each input.
sym=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0${sym:+:external_symbolizer_path=$sym}}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

mkdir -p "$FZ/logs"
# run_one NAME: one harness; writes its result line to $FZ/logs/NAME.result
# (and, on a finding, what to read) and exits non-zero on a finding
run_one() {
  local n=$1 bin=$FZ/fuzz_$1 seeds=fuzz/corpus/$1 work=$FZ/corpus/$1
  local art=$FZ/artifacts/$1 log=$FZ/logs/$1.log out=$FZ/logs/$1.result
  local start rc took execs speed cov res args
  if [[ ! -x $bin ]]; then
    echo "fuzz/run.sh: $bin is missing" >"$out"
    return 1
  fi
  mkdir -p "$work" "$art"
  args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=3072
        -print_final_stats=1 -artifact_prefix="$art/")
  [[ -f fuzz/dict/$n.dict ]] && args+=(-dict="fuzz/dict/$n.dict")
  [[ -d $seeds ]] || seeds=
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$bin" "${args[@]}" ${FUZZ_ARGS:-} "$work" $seeds >"$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  # a sanitizer report without a non-zero exit would still be a finding
  if (( rc == 0 )) && grep -Eq 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:|property failed' "$log"; then
    rc=99
  fi
  if (( rc == 0 )); then res=ok; else res="FAILED (exit $rc)"; fi
  { printf '%-14s %8s %10s %8s %8s  %s\n' "$n" "$took" "${execs:-?}" \
      "${speed:-?}" "${cov:-?}" "$res"
    if (( rc != 0 )); then
      echo "---- $log (end) ----"
      grep -E -m1 -A40 'ERROR: |runtime error:|property failed|deadly signal|timeout' "$log" | head -60
      ls -1 "$art" 2>/dev/null | sed "s|^|artifact: $art/|"
      echo "----"
    fi; } >"$out"
  return $(( rc != 0 ))
}

# FUZZ_PARALLEL harnesses at a time (default: one per CPU); each is one
# libFuzzer process, so the seconds per harness stay what FUZZ_SECONDS says
par=${FUZZ_PARALLEL:-$(nproc 2>/dev/null || echo 1)}
[[ $par =~ ^[0-9]+$ ]] && (( par >= 1 )) || par=1
printf '%-14s %8s %10s %8s %8s  %s\n' harness seconds execs exec/s cov result
for n in "${names[@]}"; do
  rm -f "$FZ/logs/$n.result"
  while (( $(jobs -rp | wc -l) >= par )); do
    wait -n || true
  done
  run_one "$n" &
done
wait
fail=()
for n in "${names[@]}"; do
  if [[ -s $FZ/logs/$n.result ]]; then
    cat "$FZ/logs/$n.result"
    head -n 1 "$FZ/logs/$n.result" | grep -q ' ok$' || fail+=("$n")
  else
    echo "$n: no result" >&2
    fail+=("$n")
  fi
done

if (( ${#fail[@]} )); then
  echo "fuzz: FAILED: ${fail[*]} (reproduce: build-fuzz/fuzz_NAME ARTIFACT)" >&2
  exit 1
fi
echo "fuzz: ${#names[@]} harnesses, ${secs}s each, no findings"
