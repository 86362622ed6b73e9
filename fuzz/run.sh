#!/usr/bin/env bash
# Runs each cargo-fuzz target for SECONDS (default 600), one after another,
# growing fuzz/corpus/<target>/ (commit what it adds: tests/it/fuzz_corpus.rs
# replays it on stable in every `cargo test`). Needs cargo-fuzz
# (`cargo install cargo-fuzz`); libFuzzer wants nightly flags, which the
# stable toolchain accepts with RUSTC_BOOTSTRAP=1 (no other toolchain can be
# fetched here). Prints one summary line per target: runs, coverage, crashes.
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"; shift || true
targets=("$@"); [ "${#targets[@]}" -gt 0 ] || targets=(command auth_info config audit anchor)
export RUSTC_BOOTSTRAP=1
mkdir -p logs
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="logs/$t.log"
  set +e
  cargo fuzz run --sanitizer none "$t" "corpus/$t" -- \
    -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  crashes=$(find "artifacts/$t" -type f | wc -l)
  echo "fuzz $t: ${secs}s, $runs runs, coverage $cov edges, corpus $(ls "corpus/$t" | wc -l) inputs, $crashes crashes (exit $rc)"
  [ "$rc" = 0 ] && [ "$crashes" = 0 ] || status=1
done
exit $status
