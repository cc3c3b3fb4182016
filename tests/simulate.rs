//! `prescaler simulate` as a user runs it: the real binary on a bundled real trace.

use std::process::Command;

use serde_json::Value;

const NASA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/traces/nasa_http_jul1995_1min.csv"
);
/// 1995-07-08 04:00 UTC (a week into the trace) to 07-10 04:00: two days after a week of history.
const FROM: &str = "805176000";
const TO: &str = "805348800";

fn simulate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_prescaler"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("simulate")
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn json_reports_every_strategy_with_the_documented_fields() {
    let out = simulate(&["--trace", NASA, "--from", FROM, "--to", TO, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["trace"], "nasa_http_jul1995_1min");
    assert_eq!(report["step_s"], 15);
    assert_eq!(report["startup_s"], 120);
    assert!(report["capacity_per_pod"].as_f64().unwrap() > 0.0);
    let strategies = report["strategies"].as_array().expect("strategies");
    let names: Vec<&str> = strategies
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "prescaler",
            "hpa",
            "hpa-matched",
            "holt-winters",
            "perfect-forecast",
            "oracle"
        ]
    );
    let scores = [
        "mean_utilization",
        "name",
        "pod_hours",
        "scale_actions",
        "under_provisioned_minutes",
        "unserved_fraction",
    ];
    for s in strategies {
        let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        let extra: &[&str] = match s["name"].as_str().unwrap() {
            "prescaler" => &["forecast_outcomes"],
            "hpa-matched" => &["target_utilization"],
            _ => &[],
        };
        keys.retain(|k| !extra.contains(k));
        assert_eq!(keys, scores, "{s}");
    }
    let by_name = |n: &str| strategies.iter().find(|s| s["name"] == n).unwrap();
    let hours = |s: &Value| s["pod_hours"].as_f64().unwrap();
    let matched = by_name("hpa-matched");
    assert!(
        (hours(matched) / hours(by_name("prescaler")) - 1.0).abs() <= 0.01,
        "hpa-matched spends prescaler's pod-hours within 1 %: {matched}"
    );
    let target = matched["target_utilization"].as_f64().unwrap();
    assert!(target > 0.0 && target <= 1.0, "{matched}");
    let outcomes = by_name("prescaler")["forecast_outcomes"]
        .as_object()
        .unwrap();
    let shares: f64 = outcomes.values().map(|v| v.as_f64().unwrap()).sum();
    assert!(
        (shares - 1.0).abs() < 1e-9 && outcomes.contains_key("used"),
        "{outcomes:?}"
    );
    let verdict = &report["equal_cost"];
    assert_eq!(verdict["matched_target_utilization"], target);
    assert_eq!(verdict["hpa_target_utilization"], 0.8);
    let (ours, hpa, oracle) = (by_name("prescaler"), by_name("hpa"), by_name("oracle"));
    assert_eq!(
        oracle["under_provisioned_minutes"], 0.0,
        "the oracle is never short"
    );
    let minutes = |s: &Value| s["under_provisioned_minutes"].as_f64().unwrap();
    assert!(
        minutes(ours) <= minutes(hpa),
        "capacity ahead of the traffic: prescaler {ours} vs hpa {hpa}"
    );
    assert!(minutes(hpa) > 0.0, "the HPA lags on this slice: {hpa}");
    assert!(
        hours(oracle) < hours(ours),
        "nothing beats the oracle's pod-hours"
    );
}

#[test]
fn the_table_names_the_capacity_choice_and_writes_the_plot() {
    let dir = std::env::temp_dir().join(format!("prescaler-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("run.svg");
    let out = simulate(&[
        "--trace",
        NASA,
        "--from",
        FROM,
        "--to",
        TO,
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("chosen so the trace's peak needs 20 pods"),
        "{table}"
    );
    for name in [
        "prescaler",
        "hpa",
        "hpa-matched",
        "holt-winters",
        "perfect-forecast",
        "oracle",
    ] {
        assert!(
            table.lines().any(|l| l.starts_with(name)),
            "{name} missing in\n{table}"
        );
    }
    let verdict = table
        .lines()
        .find(|l| l.starts_with("at equal cost (HPA at target "))
        .unwrap_or_else(|| panic!("no equal-cost verdict in\n{table}"));
    assert!(
        verdict.contains("of its under-provisioned minutes")
            && verdict.contains("vs HPA at 0.80:")
            && verdict.contains("× the pod-hours"),
        "{verdict}"
    );
    assert!(
        table.contains("forecast: leadTime 2m · quantile 0.8 · headroom 0%"),
        "the effective settings are printed: {table}"
    );
    assert!(
        table.contains("prescaler used its forecast in "),
        "how often the forecast was used is printed: {table}"
    );
    let plot = std::fs::read_to_string(&svg).expect("the SVG was written");
    // Units, a legend, the shortfall shaded, and a zoom on each one's worst moment.
    for needed in [
        "requests/s",
        "Ready capacity",
        "shortfall (load above Ready capacity)",
        "HPA&apos;s worst shortfall",
        "prescaler Ready capacity",
    ] {
        assert!(
            plot.contains(needed) || plot.contains(&needed.replace("&apos;", "'")),
            "{needed} missing from the plot"
        );
    }
    assert!(
        plot.contains("prescaler's worst shortfall")
            || plot.contains("prescaler&apos;s worst shortfall")
            || plot.contains("prescaler is never short"),
        "a zoom on prescaler's worst moment"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_policy_without_a_load_metric_is_refused_with_the_fix() {
    let out = simulate(&[
        "--trace",
        NASA,
        "--policy",
        "examples/queue-worker-cpu.yaml",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no RequestRate or PromQL metric") && err.contains("spec.metrics"),
        "{err}"
    );
}

#[test]
fn an_invalid_policy_names_the_field() {
    let dir = std::env::temp_dir().join(format!("prescaler-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.yaml");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/web-requestrate.yaml"
    ))
    .unwrap()
    .replace("quantile: 0.8", "quantile: 60");
    std::fs::write(&path, text).unwrap();
    let out = simulate(&["--trace", NASA, "--policy", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.forecast.quantile must be strictly between 0 and 1 (got 60)"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_missing_policy_file_is_named_with_the_reason() {
    let out = simulate(&["--trace", NASA, "--policy", "/nonexistent/policy.yaml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read /nonexistent/policy.yaml: No such file or directory"),
        "the file and the operating system's reason: {err}"
    );
}

#[test]
fn overrides_change_the_policy_and_a_late_lead_time_is_warned_about() {
    let out = simulate(&[
        "--trace",
        NASA,
        "--from",
        FROM,
        "--to",
        TO,
        "--quantile",
        "0.95",
        "--headroom",
        "10",
        "--lead-time",
        "1m",
        "--svg",
        "/dev/null",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("forecast: leadTime 1m · quantile 0.95 · headroom 10%"),
        "{table}"
    );
    assert!(
        table.contains("warning: pods take 120s to become Ready but leadTime is 60s"),
        "{table}"
    );
}

#[test]
fn lead_time_auto_takes_the_simulated_pods_start_up() {
    let policy = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/web-requestrate.yaml"
    ))
    .unwrap()
    .replace(
        "    leadTime: 2m\n",
        "    leadTime: 2m\n    leadTimeMode: Auto\n",
    );
    assert!(policy.contains("leadTimeMode: Auto"));
    let path = std::env::temp_dir().join(format!("prescaler-auto-{}.yaml", std::process::id()));
    std::fs::write(&path, policy).unwrap();
    let out = simulate(&[
        "--trace",
        NASA,
        "--from",
        FROM,
        "--to",
        TO,
        "--policy",
        path.to_str().unwrap(),
        "--startup",
        "5m",
    ]);
    std::fs::remove_file(&path).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("forecast: leadTime 300s (leadTimeMode Auto: the simulated pods' start-up)"),
        "{table}"
    );
    assert!(!table.contains("warning: pods take"), "{table}");
}

#[test]
fn a_scheduled_launch_has_capacity_ready_for_it_at_a_cost() {
    // 13 July 1995, the day of the STS-70 launch in the NASA trace.
    let day = ["--from", "805593600", "--to", "805680000", "--json"];
    let score = |policy: &str| {
        let out = simulate(&[&["--policy", policy], &day[..]].concat());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let ours = report["strategies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "prescaler")
            .cloned()
            .unwrap();
        (
            ours["under_provisioned_minutes"].as_f64().unwrap(),
            ours["pod_hours"].as_f64().unwrap(),
        )
    };
    let (plain_short, plain_cost) = score("examples/web-requestrate.yaml");
    let (launch_short, launch_cost) = score("examples/launch-day.yaml");
    assert!(
        launch_short < plain_short,
        "the schedule covers the launch: {launch_short} vs {plain_short} minutes short"
    );
    assert!(
        launch_cost > plain_cost,
        "and costs pod-hours: {launch_cost} vs {plain_cost}"
    );
}

#[test]
fn the_frontier_sweeps_both_and_draws_the_curves() {
    let dir = std::env::temp_dir().join(format!("prescaler-frontier-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("frontier.svg");
    let out = simulate(&[
        "--trace",
        NASA,
        "--from",
        FROM,
        "--to",
        TO,
        "--frontier",
        "--json",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let hours = |runs: &Value| -> Vec<f64> {
        runs.as_array()
            .unwrap()
            .iter()
            .map(|r| r["pod_hours"].as_f64().unwrap())
            .collect()
    };
    let ours = hours(&f["prescaler"]);
    let hpa = hours(&f["hpa"]);
    assert!(ours.len() >= 5 && hpa.len() >= 5, "{f}");
    assert!(
        ours[0] < ours[ours.len() - 1],
        "the highest quantile costs more than the lowest: {ours:?}"
    );
    assert!(
        hpa[0] > hpa[hpa.len() - 1],
        "the lowest HPA target costs more than the highest: {hpa:?}"
    );
    assert_eq!(
        f["equal_cost"].as_array().unwrap().len(),
        ours.len(),
        "every prescaler point is set against the HPA curve"
    );
    assert_eq!(f["oracle"]["under_provisioned_minutes"], 0.0);
    let plot = std::fs::read_to_string(&svg).expect("the SVG was written");
    assert!(plot.contains("pod-hours") && plot.contains("HPA, target swept"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_traces_and_flags_get_a_message_naming_the_fix_not_a_crash() {
    let dir = std::env::temp_dir().join(format!("prescaler-bad-traces-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let far_off = trace(
        "far.csv",
        "timestamp,value\n0,1\n60,2\n120,3\n60000000000,4\n",
    );
    let zeros = trace(
        "zeros.csv",
        &(0..200)
            .map(|t| format!("{},0\n", t * 60))
            .collect::<String>(),
    );
    let cases: [(Vec<&str>, &str); 5] = [
        // Once an 8 TB allocation and an abort.
        (vec!["--trace", &far_off], "between line 4 and line 5"),
        // Once a capacity of 0 and a "÷ oracle" of 3.6e12.
        (vec!["--trace", &zeros], "nothing to scale"),
        // Once silently 1 s.
        (vec!["--trace", NASA, "--sync", "0s"], "\"0s\" is zero"),
        // Once "unexpected argument '-1'".
        (
            vec!["--trace", NASA, "--capacity-per-pod", "-1"],
            "--capacity-per-pod must be > 0 (got -1)",
        ),
        // Once reported only after the whole simulation.
        (
            vec!["--trace", NASA, "--svg", "/nonexistent/dir/plot.svg"],
            "the directory /nonexistent/dir does not exist",
        ),
    ];
    for (args, expected) in cases {
        let out = simulate(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(if expected.contains("is zero") { 2 } else { 1 }),
            "{args:?}: {err}"
        );
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_trace_with_long_gaps_is_warned_about() {
    let dir = std::env::temp_dir().join(format!("prescaler-gap-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gappy.csv");
    // Two days a minute apart with six hours missing in the middle.
    let rows: String = (0..2 * 1_440)
        .filter(|m| !(1_200..1_560).contains(m))
        .map(|m| format!("{},{}\n", m * 60, 100 + m % 60))
        .collect();
    std::fs::write(&path, format!("timestamp,value\n{rows}")).unwrap();
    let out = simulate(&["--trace", path.to_str().unwrap(), "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("misses 360 rows") && err.contains("filled by interpolation"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
