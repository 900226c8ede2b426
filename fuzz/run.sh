#!/usr/bin/env bash
# Runs every libFuzzer harness (or those named) for FUZZ_SECONDS each (default 60), one after another.
# Seeds come from fuzz/corpus/<target> (read-only); new inputs go to $FUZZ_BUILD/corpus/<target>, crashes to
# $FUZZ_BUILD/artifacts/<target>/. Writes a summary (runs, coverage, corpus size per target) to
# $FUZZ_BUILD/summary.txt and exits 1 if any target found a crash, leak, timeout or OOM.
# Usage: fuzz/run.sh [target ...]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${FUZZ_BUILD:-.build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
TARGETS=${*:-png jpeg webp json multipart base64 tokenizer safetensors}
NICE=${FUZZ_NICE:-}
summary=$OUT/summary.txt
mkdir -p "$OUT"
printf "%-12s %10s %8s %8s %10s %8s %s\n" target runs exec/s cov corpus seconds result > "$summary"
failed=0
for t in $TARGETS; do
  bin=$OUT/fuzz_$t
  [ -x "$bin" ] || { echo "missing $bin (run fuzz/build.sh)" >&2; exit 2; }
  work=$OUT/corpus/$t; art=$OUT/artifacts/$t/; log=$OUT/fuzz_$t.log
  mkdir -p "$work" "$art"
  opts=(-max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 -artifact_prefix="$art")
  case $t in
    png) opts+=(-max_len=65536) ;;
    jpeg) opts+=(-max_len=65536 -dict=fuzz/dict/jpeg.dict) ;;
    webp) opts+=(-max_len=65536) ;;
    json) opts+=(-max_len=8192 -dict=fuzz/dict/json.dict) ;;
    multipart) opts+=(-max_len=8192 -dict=fuzz/dict/multipart.dict) ;;
    base64) opts+=(-max_len=8192) ;;
    tokenizer) opts+=(-max_len=4096) ;;
    safetensors) opts+=(-max_len=8192 -dict=fuzz/dict/safetensors.dict) ;;
  esac
  echo "== fuzz_$t for ${SECONDS_EACH}s"
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} $NICE "$bin" "${opts[@]}" "$work" "fuzz/corpus/$t" > "$log" 2>&1
  rc=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE 'in [0-9]+' | grep -oE '[0-9]+' || true)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
  eps=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  corpus=$(ls "$work" | wc -l)
  if [ $rc -eq 0 ]; then result=ok; else result="FAIL(rc=$rc; see $log, $art)"; failed=1; tail -40 "$log"; fi
  printf "%-12s %10s %8s %8s %10s %8s %s\n" "$t" "${runs:-?}" "${eps:-?}" "${cov:-?}" "$corpus" "${secs:-?}" "$result" | tee -a "$summary"
done
cat "$summary"
exit $failed
