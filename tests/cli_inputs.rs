//! Bad input to every command, as a table: each row is what a user typed, the exit code
//! they get and a piece of the message that names the input and the fix. No row may
//! panic, and the few inputs that are fine (a BOM, CR line endings, spaces) must run.
//! docs/reliability.md lists the same inputs by kind.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Files the rows refer to by name (`@name` in an argument).
fn fixtures(dir: &Path) {
    let rows = |n: usize, f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<String>();
    let good = rows(600, &|i| format!("{},{}\n", i * 60, 100 + (i * 7) % 50));
    let policy = "apiVersion: autoscaling.prescaler.io/v1alpha1\nkind: ScalingPolicy\nmetadata: {name: web}\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 1\n  maxReplicas: 50\n  metrics:\n    - type: RequestRate\n      requestRate: {query: q, targetPerReplica: 10}\n";
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("good.csv", format!("timestamp,value\n{good}").into()),
        ("bom.csv", format!("\u{feff}timestamp,value\n{good}").into()),
        ("cr.csv", format!("timestamp,value\n{good}").replace('\n', "\r").into()),
        ("crlf.csv", format!("timestamp,value\n{good}").replace('\n', "\r\n").into()),
        ("spaces.csv", format!("timestamp , value\n{}", good.replace(',', " , ")).into()),
        ("noheader.csv", good.clone().into()),
        ("empty.csv", Vec::new()),
        ("header.csv", b"timestamp,value\n".to_vec()),
        ("one.csv", b"timestamp,value\n0,5\n".to_vec()),
        ("nan.csv", format!("timestamp,value\n{}", rows(100, &|i| format!("{},NaN\n", i * 60))).into()),
        ("inf.csv", b"timestamp,value\n0,1\n60,inf\n120,2\n".to_vec()),
        ("negative.csv", b"timestamp,value\n0,1\n60,-5\n120,2\n".to_vec()),
        ("text.csv", b"timestamp,value\n0,abc\n60,2\n".to_vec()),
        ("iso.csv", b"timestamp,value\n2024-01-01T00:00:00Z,1\n".to_vec()),
        ("fraction.csv", b"timestamp,value\n0.5,1\n60,2\n".to_vec()),
        ("threecol.csv", b"timestamp,value\n0,1,2\n60,2,3\n".to_vec()),
        ("onecol.csv", b"timestamp,value\n0\n60\n".to_vec()),
        ("semicolon.csv", b"timestamp;value\n0;1\n60;2\n".to_vec()),
        ("tab.csv", b"timestamp\tvalue\n0\t1\n60\t2\n".to_vec()),
        ("repeat.csv", b"timestamp,value\n0,1\n60,2\n60,3\n".to_vec()),
        ("decrease.csv", b"timestamp,value\n0,1\n120,2\n60,3\n".to_vec()),
        ("far.csv", b"timestamp,value\n0,1\n60,2\n120,3\n60000000000,4\n".to_vec()),
        ("millis.csv", format!("timestamp,value\n{}", rows(100, &|i| format!("{},{}\n", (1_600_000_000 + i * 60) * 1000, 5))).into()),
        ("typo.csv", format!("timestamp,value\n{}7600035940,4\n", rows(100, &|i| format!("{},5\n", 1_600_000_000 + i * 60))).into()),
        ("zeros.csv", format!("timestamp,value\n{}", rows(200, &|i| format!("{},0\n", i * 60))).into()),
        ("outlier.csv", format!("timestamp,value\n{}", rows(600, &|i| format!("{},{}\n", i * 60, if i == 300 { 1e9 } else { 5.0 }))).into()),
        ("gaps.csv", format!("timestamp,value\n{}", rows(2880, &|i| if (600..2400).contains(&i) { String::new() } else { format!("{},{}\n", i * 60, 100 + i % 7) })).into()),
        ("binary.csv", b"\x00\x01\x02\xff\xfe garbage".to_vec()),
        ("latin1.csv", b"timestamp,value\n0,1\xe9\n".to_vec()),
        ("p_good.yaml", policy.into()),
        ("p_quantil.yaml", format!("{policy}  forecast: {{quantil: 0.9}}\n").into()),
        ("p_histroy.yaml", format!("{policy}  forecast: {{histroy: 7d}}\n").into()),
        ("p_minreplica.yaml", policy.replace("minReplicas", "minReplica").into()),
        ("p_kind.yaml", policy.replace("kind: ScalingPolicy", "kind: Deployment").into()),
        ("p_list.yaml", policy.replace("kind: ScalingPolicy", "kind: List").into()),
        ("p_version.yaml", policy.replace("autoscaling.prescaler.io/v1alpha1", "v1").into()),
        ("p_empty.yaml", Vec::new()),
        ("p_garbage.yaml", b"{{{{ : : :".to_vec()),
        ("p_two.yaml", format!("{policy}---\n{policy}").into()),
        ("p_tab.yaml", policy.replace("  minReplicas", "\tminReplicas").into()),
        ("p_bom.yaml", format!("\u{feff}{policy}").into()),
        ("p_nested.yaml", format!("{policy}  x: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)).into()),
        ("p_max0.yaml", policy.replace("maxReplicas: 50", "maxReplicas: 0").into()),
        ("p_min_over_max.yaml", policy.replace("minReplicas: 1", "minReplicas: 80").into()),
        ("p_string.yaml", policy.replace("maxReplicas: 50", "maxReplicas: fifty").into()),
        ("p_quantile.yaml", format!("{policy}  forecast: {{quantile: 1.5}}\n").into()),
        ("p_horizon.yaml", format!("{policy}  forecast: {{horizon: 3650d}}\n").into()),
        ("p_lead.yaml", format!("{policy}  forecast: {{leadTime: 48h}}\n").into()),
        ("p_lead_word.yaml", format!("{policy}  forecast: {{leadTime: soon}}\n").into()),
        ("p_model.yaml", format!("{policy}  forecast: {{model: magic}}\n").into()),
        ("p_season.yaml", format!("{policy}  forecast: {{seasonality: [0s]}}\n").into()),
        ("p_sync.yaml", format!("{policy}  syncPeriod: 0s\n").into()),
        ("p_credentials.yaml", format!("{policy}  prometheus: {{address: 'http://u:pw@prom:9090'}}\n").into()),
        ("p_no_metrics.yaml", policy.replace("  metrics:\n    - type: RequestRate\n      requestRate: {query: q, targetPerReplica: 10}\n", "  metrics: []\n").into()),
        ("p_duplicate.yaml", format!("{policy}    - type: RequestRate\n      requestRate: {{query: q, targetPerReplica: 10}}\n").into()),
        ("p_negative.yaml", policy.replace("targetPerReplica: 10", "targetPerReplica: -10").into()),
        ("p_cpu_only.yaml", policy.replace("- type: RequestRate\n      requestRate: {query: q, targetPerReplica: 10}", "- type: CPU\n      cpu: {targetUtilization: 70}").into()),
        ("kubeconfig.yaml", b"apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n".to_vec()),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    std::fs::create_dir_all(dir.join("a-directory")).unwrap();
    let big = std::fs::File::create(dir.join("p_big.yaml")).unwrap();
    big.set_len(2 << 20).unwrap();
}

/// `(arguments, exit code, a piece of the message)`. Exit code 0 rows must print a report.
const ROWS: &[(&str, i32, &str)] = &[
    // Traces.
    ("simulate --trace @bom.csv --json", 0, ""),
    ("simulate --trace @cr.csv --json", 0, ""),
    ("simulate --trace @crlf.csv --json", 0, ""),
    ("simulate --trace @spaces.csv --json", 0, ""),
    ("simulate --trace @noheader.csv --json", 0, ""),
    (
        "simulate --trace @outlier.csv --json",
        0,
        "one outlier sets the capacity",
    ),
    (
        "simulate --trace @gaps.csv --json",
        0,
        "filled by interpolation",
    ),
    (
        "simulate --trace @empty.csv",
        1,
        "a trace needs at least two rows",
    ),
    (
        "simulate --trace @header.csv",
        1,
        "a trace needs at least two rows",
    ),
    (
        "simulate --trace @one.csv",
        1,
        "a trace needs at least two rows",
    ),
    (
        "simulate --trace @nan.csv",
        1,
        "line 2: the value NaN is not a finite number",
    ),
    (
        "simulate --trace @inf.csv",
        1,
        "line 3: the value inf is not a finite number",
    ),
    (
        "simulate --trace @negative.csv",
        1,
        "line 3: the value -5 is negative",
    ),
    (
        "simulate --trace @text.csv",
        1,
        "text.csv:2: expected `timestamp,value`",
    ),
    (
        "simulate --trace @iso.csv",
        1,
        "with a whole-second timestamp",
    ),
    (
        "simulate --trace @fraction.csv",
        1,
        "whole-second timestamp",
    ),
    ("simulate --trace @threecol.csv", 1, "got \"0,1,2\""),
    ("simulate --trace @onecol.csv", 1, "got \"0\""),
    ("simulate --trace @semicolon.csv", 1, "got \"0;1\""),
    ("simulate --trace @tab.csv", 1, "got \"0\\t1\""),
    (
        "simulate --trace @repeat.csv",
        1,
        "line 4: timestamp 60 repeats 60 on line 3",
    ),
    (
        "simulate --trace @decrease.csv",
        1,
        "line 4: timestamp 60 goes back from 120 on line 3",
    ),
    ("simulate --trace @far.csv", 1, "largest gap is"),
    (
        "simulate --trace @millis.csv",
        1,
        "are the timestamps in milliseconds? Divide them by 1000",
    ),
    ("simulate --trace @typo.csv", 1, "a mistyped timestamp?"),
    ("simulate --trace @zeros.csv", 1, "nothing to scale"),
    ("simulate --trace @binary.csv", 1, "not UTF-8 text"),
    ("simulate --trace @latin1.csv", 1, "not UTF-8 text"),
    ("simulate --trace @a-directory", 1, "cannot read trace"),
    (
        "simulate --trace @missing.csv",
        1,
        "No such file or directory",
    ),
    (
        "simulate --trace /dev/null",
        1,
        "a trace needs at least two rows",
    ),
    ("simulate --trace /dev/zero", 1, "larger than 512 MiB"),
    (
        "backtest --trace @empty.csv",
        1,
        "a trace needs at least two rows",
    ),
    ("backtest --trace @nan.csv", 1, "not a finite number"),
    ("backtest --trace @millis.csv", 1, "milliseconds"),
    (
        "backtest --trace @zeros.csv",
        1,
        "no window could be scored",
    ),
    // Policy files.
    (
        "simulate --trace @good.csv --policy @p_good.yaml --json",
        0,
        "",
    ),
    (
        "simulate --trace @good.csv --policy @p_bom.yaml --json",
        0,
        "",
    ),
    (
        "simulate --trace @good.csv --policy @p_quantil.yaml",
        1,
        "unknown field(s) spec.forecast.quantil: check the spelling",
    ),
    (
        "simulate --trace @good.csv --policy @p_histroy.yaml",
        1,
        "spec.forecast.histroy",
    ),
    (
        "simulate --trace @good.csv --policy @p_minreplica.yaml",
        1,
        "spec.minReplica:",
    ),
    (
        "simulate --trace @good.csv --policy @p_kind.yaml",
        1,
        "kind: \"Deployment\"",
    ),
    (
        "simulate --trace @good.csv --policy @p_list.yaml",
        1,
        "kind: \"List\"",
    ),
    (
        "simulate --trace @good.csv --policy @p_version.yaml",
        1,
        "apiVersion: \"v1\"",
    ),
    (
        "simulate --trace @good.csv --policy @p_empty.yaml",
        1,
        "the file is empty",
    ),
    (
        "simulate --trace @good.csv --policy @p_garbage.yaml",
        1,
        "at line 1 column 2",
    ),
    (
        "simulate --trace @good.csv --policy @p_two.yaml",
        1,
        "holds 2 YAML documents; give one ScalingPolicy per file",
    ),
    (
        "simulate --trace @good.csv --policy @p_tab.yaml",
        1,
        "line 6 is indented with a tab",
    ),
    (
        "simulate --trace @good.csv --policy @p_nested.yaml",
        1,
        "nested deeper than 64 levels",
    ),
    (
        "simulate --trace @good.csv --policy @p_big.yaml",
        1,
        "larger than 1536 KiB",
    ),
    (
        "simulate --trace @good.csv --policy /dev/zero",
        1,
        "larger than 1536 KiB",
    ),
    (
        "simulate --trace @good.csv --policy /dev/null",
        1,
        "the file is empty",
    ),
    (
        "simulate --trace @good.csv --policy @a-directory",
        1,
        "Is a directory",
    ),
    (
        "simulate --trace @good.csv --policy @missing.yaml",
        1,
        "No such file or directory",
    ),
    (
        "simulate --trace @good.csv --policy @p_max0.yaml",
        1,
        "spec.maxReplicas must be >= 1",
    ),
    (
        "simulate --trace @good.csv --policy @p_min_over_max.yaml",
        1,
        "spec.minReplicas",
    ),
    (
        "simulate --trace @good.csv --policy @p_string.yaml",
        1,
        "spec.maxReplicas: invalid type: string \"fifty\"",
    ),
    (
        "simulate --trace @good.csv --policy @p_quantile.yaml",
        1,
        "spec.forecast.quantile must be strictly between 0 and 1",
    ),
    (
        "simulate --trace @good.csv --policy @p_horizon.yaml",
        1,
        "spec.forecast.horizon must be at most 1d",
    ),
    (
        "simulate --trace @good.csv --policy @p_lead.yaml",
        1,
        "spec.forecast.leadTime must be at most 1h",
    ),
    (
        "simulate --trace @good.csv --policy @p_lead_word.yaml",
        1,
        "spec.forecast.leadTime is not a duration (got \"soon\")",
    ),
    (
        "simulate --trace @good.csv --policy @p_model.yaml",
        1,
        "unknown variant `magic`",
    ),
    (
        "simulate --trace @good.csv --policy @p_season.yaml",
        1,
        "spec.forecast.seasonality[0] must be > 0",
    ),
    (
        "simulate --trace @good.csv --policy @p_sync.yaml",
        1,
        "spec.syncPeriod must be > 0",
    ),
    (
        "simulate --trace @good.csv --policy @p_credentials.yaml",
        1,
        "must not hold credentials",
    ),
    (
        "simulate --trace @good.csv --policy @p_no_metrics.yaml",
        1,
        "spec.metrics must list at least one metric",
    ),
    (
        "simulate --trace @good.csv --policy @p_duplicate.yaml",
        1,
        "is already used by spec.metrics[0]",
    ),
    (
        "simulate --trace @good.csv --policy @p_negative.yaml",
        1,
        "targetPerReplica must be > 0 (got -10)",
    ),
    (
        "simulate --trace @good.csv --policy @p_cpu_only.yaml",
        1,
        "no RequestRate or PromQL metric",
    ),
    // simulate flags.
    ("simulate --trace @good.csv --sync 0s", 2, "\"0s\" is zero"),
    (
        "simulate --trace @good.csv --sync -5s",
        2,
        "\"-5s\" is negative",
    ),
    (
        "simulate --trace @good.csv --sync 5",
        2,
        "\"5\" is not a duration",
    ),
    (
        "simulate --trace @good.csv --sync 1.5s",
        2,
        "\"1.5s\" is not a duration",
    ),
    (
        "simulate --trace @good.csv --sync 9999999d",
        1,
        "with --sync shorter than the range",
    ),
    (
        "simulate --trace @good.csv --startup -1m",
        2,
        "\"-1m\" is negative",
    ),
    (
        "simulate --trace @good.csv --startup soon",
        2,
        "is not a duration",
    ),
    ("simulate --trace @good.csv --step 0s", 2, "\"0s\" is zero"),
    (
        "simulate --trace @good.csv --history 0s",
        2,
        "\"0s\" is zero",
    ),
    (
        "simulate --trace @good.csv --capacity-per-pod 0",
        1,
        "--capacity-per-pod must be > 0 (got 0)",
    ),
    (
        "simulate --trace @good.csv --capacity-per-pod -1",
        1,
        "--capacity-per-pod must be > 0 (got -1)",
    ),
    (
        "simulate --trace @good.csv --capacity-per-pod nan",
        1,
        "--capacity-per-pod must be > 0 (got NaN)",
    ),
    (
        "simulate --trace @good.csv --capacity-per-pod inf",
        1,
        "--capacity-per-pod must be > 0 (got inf)",
    ),
    (
        "simulate --trace @good.csv --capacity-per-pod lots",
        2,
        "invalid value 'lots' for '--capacity-per-pod",
    ),
    (
        "simulate --trace @good.csv --p95-pods 0",
        1,
        "--p95-pods must be > 0",
    ),
    (
        "simulate --trace @good.csv --p95-pods -3",
        1,
        "--p95-pods must be > 0 (got -3)",
    ),
    (
        "simulate --trace @good.csv --p95-pods 5 --capacity-per-pod 3",
        2,
        "cannot be used with",
    ),
    (
        "simulate --trace @good.csv --target-utilization 0",
        2,
        "is not a quantile",
    ),
    (
        "simulate --trace @good.csv --target-utilization 1.5",
        2,
        "is not a quantile",
    ),
    (
        "simulate --trace @good.csv --target-utilization -0.1",
        2,
        "is not a quantile",
    ),
    (
        "simulate --trace @good.csv --target-utilization nan",
        2,
        "is not a quantile",
    ),
    (
        "simulate --trace @good.csv --quantile 1",
        2,
        "strictly between 0 and 1",
    ),
    (
        "simulate --trace @good.csv --quantile -0.5",
        2,
        "strictly between 0 and 1",
    ),
    (
        "simulate --trace @good.csv --headroom -1",
        2,
        "-1 is not in 0..=1000",
    ),
    (
        "simulate --trace @good.csv --headroom 5000",
        2,
        "5000 is not in 0..=1000",
    ),
    (
        "simulate --trace @good.csv --lead-time 0s",
        1,
        "spec.forecast.leadTime must be > 0",
    ),
    (
        "simulate --trace @good.csv --lead-time 2d",
        1,
        "spec.forecast.leadTime must be at most 1h",
    ),
    (
        "simulate --trace @good.csv --lead-time -2m",
        2,
        "\"-2m\" is negative",
    ),
    (
        "simulate --trace @good.csv --from abc",
        2,
        "is not a Unix time in whole seconds",
    ),
    (
        "simulate --trace @good.csv --from 2024-01-01",
        2,
        "is not a Unix time in whole seconds",
    ),
    (
        "simulate --trace @good.csv --from 99999999999",
        1,
        "set --from and --to inside the trace",
    ),
    (
        "simulate --trace @good.csv --from 100 --to 50",
        1,
        "simulated range 100..50",
    ),
    (
        "simulate --trace @good.csv --svg @a-directory",
        1,
        "is not a file name",
    ),
    (
        "simulate --trace @good.csv --svg /nonexistent/dir/plot.svg",
        1,
        "the directory /nonexistent/dir does not exist",
    ),
    (
        "simulate --trace @good.csv --query up",
        2,
        "--prometheus <URL>",
    ),
    (
        "simulate --trace @good.csv --prometheus http://127.0.0.1:1",
        1,
        "--prometheus needs --query",
    ),
    (
        "simulate --prometheus not-a-url --query up",
        1,
        "--prometheus is not a URL",
    ),
    (
        "simulate --prometheus ftp://x --query up",
        1,
        "must start with http:// or https://",
    ),
    (
        "simulate --prometheus http://u:p@h:9090 --query up",
        1,
        "--prometheus must not hold credentials",
    ),
    (
        "simulate --prometheus http://127.0.0.1:1 --query up --prometheus-header bad",
        1,
        "--prometheus-header has no `:`",
    ),
    (
        "simulate --prometheus http://127.0.0.1:1 --query up --prometheus-ca-file @missing.pem",
        1,
        "cannot read --prometheus-ca-file",
    ),
    (
        "simulate --prometheus http://127.0.0.1:1 --query up --prometheus-cert-file @good.csv",
        1,
        "--prometheus-cert-file and --prometheus-key-file go together",
    ),
    (
        "simulate --prometheus http://127.0.0.1:1 --query up --prometheus-cert-file @good.csv --prometheus-key-file @good.csv",
        1,
        "is not a PEM certificate",
    ),
    (
        "simulate --prometheus http://127.0.0.1:1 --query up --prometheus-timeout 0s",
        2,
        "\"0s\" is zero",
    ),
    (
        "simulate --prometheus http://127.0.0.1:1 --query up --prometheus-concurrency 0",
        2,
        "0 is not in 1..=65535",
    ),
    (
        "simulate --prometheus http://127.0.0.1:1 --query up --prometheus-retries -1",
        2,
        "invalid value '-1' for '--prometheus-retries <N>'",
    ),
    (
        "simulate --prometheus http://127.0.0.1:1 --query up",
        1,
        "is unavailable",
    ),
    (
        "simulate --trace @good.csv --bogus",
        2,
        "unexpected argument '--bogus'",
    ),
    (
        "simulate --trace @good.csv --trace @good.csv",
        2,
        "cannot be used multiple times",
    ),
    // explain.
    (
        "explain",
        1,
        "give a policy NAME in the cluster (with --kubeconfig), or --policy FILE",
    ),
    (
        "explain web --policy @p_max0.yaml --prometheus http://127.0.0.1:1",
        2,
        "cannot be used with",
    ),
    (
        "explain --policy @missing.yaml --prometheus http://127.0.0.1:1",
        1,
        "No such file or directory",
    ),
    (
        "explain --policy @p_max0.yaml --prometheus http://127.0.0.1:1",
        1,
        "spec.maxReplicas must be >= 1",
    ),
    ("explain --policy @p_max0.yaml", 1, "give --prometheus URL"),
    (
        "explain --policy @p_good.yaml --prometheus http://127.0.0.1:1 --svg /nonexistent/dir/plot.svg",
        1,
        "the directory /nonexistent/dir does not exist",
    ),
    (
        "explain --policy @p_max0.yaml --prometheus http://127.0.0.1:1 --sync 0s",
        2,
        "\"0s\" is zero",
    ),
    // backtest without a source.
    ("backtest", 1, "give --trace FILE"),
    (
        "backtest --trace @good.csv --prometheus http://127.0.0.1:1",
        2,
        "cannot be used with",
    ),
    // backtest flags.
    (
        "backtest --trace @good.csv --horizon 0s",
        2,
        "\"0s\" is zero",
    ),
    (
        "backtest --trace @good.csv --horizon -1m",
        2,
        "\"-1m\" is negative",
    ),
    (
        "backtest --trace @good.csv --horizon 3650d",
        1,
        "no window could be scored",
    ),
    (
        "backtest --trace @good.csv --history 1m",
        1,
        "no window could be scored",
    ),
    (
        "backtest --trace @good.csv --origin-every 0s",
        2,
        "\"0s\" is zero",
    ),
    (
        "backtest --trace @good.csv --quantile 1",
        2,
        "strictly between 0 and 1",
    ),
    (
        "backtest --trace @good.csv --models magic",
        2,
        "unknown model \"magic\"; choose from auto",
    ),
    (
        "backtest --trace @good.csv --models",
        2,
        "a value is required for '--models",
    ),
    (
        "backtest --trace @good.csv --lead -2m",
        2,
        "\"-2m\" is negative",
    ),
    // run flags: refused before any connection is tried.
    ("run", 1, "no Prometheus URL; set --prometheus"),
    (
        "run --prometheus ftp://x",
        1,
        "must start with http:// or https://",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @missing.yaml",
        1,
        "--kubeconfig",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @good.csv",
        1,
        "failed to parse kubeconfig",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig /dev/null",
        1,
        "--kubeconfig /dev/null",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --sync-period 0s",
        2,
        "\"0s\" is zero",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --sync-period -5s",
        2,
        "\"-5s\" is negative",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --concurrency 0",
        2,
        "0 is not in 1..=65535",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --leader-elect maybe",
        2,
        "[possible values: true, false]",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --lease-duration 0s",
        1,
        "invalid --lease-duration",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --lease-duration 5s --lease-renew-period 10s",
        1,
        "lower --lease-renew-period or raise --lease-duration",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --lease-duration -1s",
        2,
        "\"-1s\" is negative",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --namespace Bad_NS",
        2,
        "\"Bad_NS\" is not a namespace name",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --leader-election-namespace -x",
        2,
        "is not a namespace name",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --leader-election-id Bad_ID",
        2,
        "\"Bad_ID\" is not an object name",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --metrics-addr nope",
        2,
        "invalid socket address syntax",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --metrics-addr 8.8.8.8:9000",
        1,
        "no interface has that IP address",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --prometheus-concurrency 0",
        2,
        "0 is not in 1..=65535",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --prometheus-deadline 0s",
        2,
        "\"0s\" is zero",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --shard 3/3",
        2,
        "the index counts from 0, so it must be below the count: 0 to 2",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --shard 2",
        2,
        "write it as INDEX/COUNT",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --shard 0/5000",
        2,
        "the count must be between 1 and 1024",
    ),
    (
        "run --prometheus http://127.0.0.1:1 --kubeconfig @kubeconfig.yaml --shard 1/3 --leader-elect=false",
        1,
        "1/3 needs leader election",
    ),
    // Everything else.
    ("crd extra", 2, "unexpected argument 'extra'"),
    ("--log-format xml crd", 2, "[possible values: text, json]"),
    ("help nope", 2, "unrecognized subcommand 'nope'"),
    ("deploy", 2, "unrecognized subcommand 'deploy'"),
];

fn expand(dir: &Path, row: &str) -> Vec<String> {
    let mut args: Vec<String> = row
        .split(' ')
        .map(|a| match a.strip_prefix('@') {
            Some(name) => dir.join(name).to_string_lossy().into_owned(),
            None => a.to_string(),
        })
        .collect();
    // `run` rows that get far enough to listen must not need a fixed port.
    if args[0] == "run" && !row.contains("--metrics-addr") {
        args.extend(["--metrics-addr".into(), "127.0.0.1:0".into()]);
    }
    args
}

#[test]
fn every_bad_input_gets_its_own_message_and_none_panics() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("prescaler-cli-inputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    fixtures(&dir);
    let mut failures = Vec::new();
    for &(row, code, expected) in ROWS {
        let args = expand(&dir, row);
        let out = Command::new(env!("CARGO_BIN_EXE_prescaler"))
            .args(&args)
            // Not a checkout: defaults must not depend on the working directory here.
            .current_dir(&dir)
            .env_remove("KUBECONFIG")
            .output()
            .expect("the binary runs");
        let err = String::from_utf8_lossy(&out.stderr);
        let problem = if err.contains("panicked") || out.status.code().is_none() {
            Some("crashed")
        } else if out.status.code() != Some(code) {
            Some("wrong exit code")
        } else if !err.contains(expected) {
            Some("message lacks the expected words")
        } else if code == 0 && serde_json::from_slice::<serde_json::Value>(&out.stdout).is_err() {
            Some("no JSON report")
        } else {
            None
        };
        if let Some(problem) = problem {
            failures.push(format!(
                "{row}: {problem} (exit {:?}, expected {code} and {expected:?}):\n{err}",
                out.status.code()
            ));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n")
    );
}
