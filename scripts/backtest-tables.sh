#!/usr/bin/env bash
# Regenerates the backtest tables of docs/benchmarks.md: every bundled trace at three
# horizons (5m, 15m, 60m; 1h and 3h for hourly traces). Prints Markdown to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
for trace in examples/traces/*.csv; do
  case "$trace" in
    *_1h.csv) horizons="1h 3h" ;;
    *) horizons="5m 15m 60m" ;;
  esac
  for h in $horizons; do
    cmd="prescaler backtest --trace $trace --horizon $h"
    echo "\`$cmd\`"
    echo
    echo '```text'
    ./target/release/$cmd
    echo '```'
    echo
  done
done
