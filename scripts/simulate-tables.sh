#!/usr/bin/env bash
# Regenerates the simulate tables of docs/benchmarks.md. Prints Markdown to stdout:
#   1. the equal-cost summary: every bundled request-rate trace, pods Ready after 2m, at the
#      default capacity (the trace's peak needs 20 pods) and with --p95-pods 10; prescaler
#      against the HPA at 80 % and against hpa-matched (the HPA tuned to prescaler's
#      pod-hours), with under-provisioned minutes, unserved requests, pod-hours and actions;
#   2. the frontier of each trace at --p95-pods 10 (the equal-cost ratios along the sweep);
#   3. the full simulate table of each run, at 2m and 5m start-up.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=./target/release/prescaler
traces="nasa_http_jul1995_1min worldcup98_early_1min aws_elb_requests_5min wikipedia_en_jan2016_1h"

echo "| run | HPA at 0.80: min / unserved % / pod-h / actions | prescaler | hpa-matched (target): min / unserved % / pod-h / actions | prescaler ÷ hpa-matched: min, unserved | prescaler ÷ HPA at 0.80: min, pod-h, actions |"
echo "|---|---|---|---|---|---|"
for trace in $traces; do
  for capacity in "" " --p95-pods 10"; do
    $bin simulate --trace "examples/traces/$trace.csv" --startup 2m$capacity --json |
      python3 -c '
import json, sys
run = sys.argv[1]
r = json.load(sys.stdin)
by = {s["name"]: s for s in r["strategies"]}
def cells(s):
    return "%.1f / %.3f / %.0f / %d" % (s["under_provisioned_minutes"], 100 * s["unserved_fraction"], s["pod_hours"], s["scale_actions"])
def ratio(a, b):
    return "%.0f %%" % (100 * a / b) if b > 0 else ("—" if a == 0 else "∞")
ours, hpa, matched = by["prescaler"], by["hpa"], by["hpa-matched"]
print("| `%s` | %s | %s | (%.2f) %s | %s, %s | %s, %.2f×, %.2f× |" % (
    run, cells(hpa), cells(ours), matched["target_utilization"], cells(matched),
    ratio(ours["under_provisioned_minutes"], matched["under_provisioned_minutes"]),
    ratio(ours["unserved_fraction"], matched["unserved_fraction"]),
    ratio(ours["under_provisioned_minutes"], hpa["under_provisioned_minutes"]),
    ours["pod_hours"] / hpa["pod_hours"], ours["scale_actions"] / hpa["scale_actions"]))
' "$trace$capacity"
  done
done
echo

for trace in $traces; do
  cmd="prescaler simulate --trace examples/traces/$trace.csv --startup 2m --p95-pods 10 --frontier"
  echo "\`$cmd\`"
  echo
  echo '```text'
  $bin ${cmd#prescaler } --svg /dev/null | sed -n '/^at equal pod-hours/,/^$/p'
  echo '```'
  echo
done

for trace in $traces; do
  file=examples/traces/$trace.csv
  for startup in 2m 5m; do
    for capacity in "" " --p95-pods 10"; do
      cmd="prescaler simulate --trace $file --startup $startup$capacity"
      echo "\`$cmd\`"
      echo
      echo '```text'
      $bin ${cmd#prescaler } --svg /dev/null | grep -v '^plot:'
      echo '```'
      echo
    done
  done
done
