#!/usr/bin/env bash
# Regenerates the simulate tables of docs/benchmarks.md: every bundled request-rate trace,
# pods Ready after 2m and 5m, with the default capacity (the trace's peak needs 20 pods) and
# with capacity set so the trace's 95th-percentile load needs 10 pods. Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
for trace in nasa_http_jul1995_1min worldcup98_early_1min wikipedia_en_jan2016_1h aws_elb_requests_5min; do
  file=examples/traces/$trace.csv
  for startup in 2m 5m; do
    for capacity in "" " --p95-pods 10"; do
      cmd="prescaler simulate --trace $file --startup $startup$capacity"
      echo "\`$cmd\`"
      echo
      echo '```text'
      ./target/release/$cmd --svg /dev/null | grep -v '^plot:'
      echo '```'
      echo
    done
  done
done
