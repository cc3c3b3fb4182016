#!/usr/bin/env bash
# Regenerates the backtest tables of docs/benchmarks.md: every bundled trace at three
# horizons (5m, 15m, 60m; 15m, 1h and 3h for hourly traces). Prints Markdown to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
for h in 15m 5m 60m 1h 3h; do
  for trace in examples/traces/*.csv; do
    case "$trace:$h" in
      *_1h.csv:15m | *_1h.csv:1h | *_1h.csv:3h) ;;
      *_1h.csv:* | *:1h | *:3h) continue ;;
    esac
    cmd="prescaler backtest --trace $trace --horizon $h"
    echo "\`$cmd\`"
    echo
    echo '```text'
    ./target/release/$cmd
    echo '```'
    echo
  done
done
