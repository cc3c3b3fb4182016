//! The Helm chart in `charts/prescaler`, checked with the real `helm` (lint and template),
//! the real `prescaler run --help` and the real `kubectl` against the API emulator.
//! `scripts/test.sh` installs `helm` when it is missing.

#[allow(dead_code)] // shared harness: this crate uses helm, the API emulator and the CEL rules
mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use prescaler::policy::{ScalingPolicy, validate};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use support::helm::{CHART, Document, ROOT, documents, helm, only, template, values_file};
use support::kube_api::Emulator;
use support::prometheus::prescaler_names;

const ALL_OPTIONS: &str = "ci/all-options-values.yaml";
const NAMESPACED: &str = "ci/namespaced-values.yaml";
const CRD_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/scalingpolicy.yaml");
const CRD_TEMPLATE: &str = "prescaler/templates/crds/scalingpolicy.yaml";
const SYNC: &str = "scripts/sync-chart.sh";

/// The value sets every check runs on: defaults, every option on, a namespace-scoped install.
fn value_sets() -> Vec<(&'static str, Vec<String>)> {
    vec![
        ("defaults", vec![]),
        ("every option", vec![values_file(ALL_OPTIONS)]),
        ("namespace-scoped", vec![values_file(NAMESPACED)]),
    ]
}

fn render(values: &[String], extra: &[&str]) -> Vec<Document> {
    let files: Vec<&str> = values.iter().map(String::as_str).collect();
    let rendered = template("prescaler", &files, extra)
        .unwrap_or_else(|e| panic!("helm template {files:?} {extra:?} failed: {e}"));
    documents(&rendered)
}

fn container(docs: &[Document]) -> &Value {
    let deployment = only(docs, "Deployment");
    let containers = deployment.object["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("the Deployment has containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

fn args(docs: &[Document]) -> Vec<String> {
    container(docs)["args"]
        .as_array()
        .expect("the container has args")
        .iter()
        .map(|a| a.as_str().expect("args are strings").to_string())
        .collect()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn lint_strict_passes_with_defaults_and_with_every_option() {
    for (name, values) in value_sets() {
        let mut args = vec!["lint", "--strict", CHART, "--namespace", "prescaler"];
        for file in &values {
            args.extend(["--values", file.as_str()]);
        }
        let out = helm(&args);
        assert!(
            out.status.success(),
            "helm lint --strict ({name}) failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_crd_renders_byte_identical_to_the_generated_file() {
    let committed = std::fs::read_to_string(CRD_FILE).expect("crds/scalingpolicy.yaml is readable");
    let docs = render(&[], &["--set", "crds.keep=false"]);
    let crd = docs
        .iter()
        .find(|d| d.source == CRD_TEMPLATE)
        .expect("the chart renders the CRD by default (crds.install)");
    assert!(
        crd.text == committed,
        "the chart's CRD differs from crds/scalingpolicy.yaml; refresh the chart with\n    {SYNC}"
    );

    // crds.keep, on by default, adds exactly the annotation that makes `helm uninstall`
    // leave the CRD, and so every team's ScalingPolicies, in place.
    let docs = render(&[], &[]);
    let kept = docs.iter().find(|d| d.source == CRD_TEMPLATE).expect("CRD");
    assert_eq!(
        kept.object["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    let without = kept.text.replace(
        "metadata:\n  annotations:\n    helm.sh/resource-policy: keep\n",
        "metadata:\n",
    );
    assert!(
        without == committed,
        "crds.keep changed more than the annotation"
    );

    let docs = render(&[], &["--set", "crds.install=false"]);
    assert!(
        docs.iter().all(|d| d.kind() != "CustomResourceDefinition"),
        "crds.install=false still renders the CRD"
    );
}

#[test]
fn rbac_is_least_privilege_without_wildcards() {
    // Verbs that would let the operator do more than read, scale and report.
    let allowed_verbs: BTreeSet<&str> = ["get", "list", "watch", "create", "update", "patch"]
        .into_iter()
        .collect();
    for (name, values) in value_sets() {
        let docs = render(&values, &[]);
        let roles: Vec<&Document> = docs
            .iter()
            .filter(|d| d.kind() == "ClusterRole" || d.kind() == "Role")
            .collect();
        assert!(!roles.is_empty(), "{name}: no roles rendered");
        for role in roles {
            let rules = role.object["rules"].as_array().expect("rules");
            for rule in rules {
                for field in ["verbs", "resources", "apiGroups", "resourceNames"] {
                    for entry in strings(&rule[field]) {
                        assert!(
                            !entry.contains('*'),
                            "{name}: {} {} has a wildcard in {field}: {rule}",
                            role.kind(),
                            role.name()
                        );
                    }
                }
                for verb in strings(&rule["verbs"]) {
                    assert!(
                        allowed_verbs.contains(verb),
                        "{name}: {} grants {verb}: {rule}",
                        role.name()
                    );
                }
                // Workloads are reachable through /scale only.
                let groups = strings(&rule["apiGroups"]);
                if !groups.iter().any(|g| {
                    [
                        "autoscaling.prescaler.io",
                        "autoscaling",
                        "events.k8s.io",
                        "",
                    ]
                    .contains(g)
                        || *g == "coordination.k8s.io"
                }) {
                    for resource in strings(&rule["resources"]) {
                        assert!(
                            resource.ends_with("/scale"),
                            "{name}: {resource} in {groups:?} is granted beyond /scale"
                        );
                    }
                }
            }
            // Every rule carries a comment saying why it is there.
            let lines: Vec<&str> = role.text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if line.trim_start().starts_with("- apiGroups:") {
                    assert!(
                        i > 0 && lines[i - 1].trim_start().starts_with('#'),
                        "{name}: rule without a comment in {}: {line}",
                        role.name()
                    );
                }
            }
        }
        let grants = |resource: &str| {
            docs.iter().any(|d| {
                d.object["rules"].as_array().is_some_and(|rules| {
                    rules
                        .iter()
                        .any(|r| strings(&r["resources"]).contains(&resource))
                })
            })
        };
        assert_eq!(
            grants("secrets"),
            name == "every option",
            "{name}: Secrets are readable only with rbac.readPolicySecrets"
        );
        assert_eq!(
            grants("pods"),
            name == "every option",
            "{name}: pods are listable only with rbac.readPods"
        );
        let cluster_scoped = docs
            .iter()
            .any(|d| d.kind() == "ClusterRole" || d.kind() == "ClusterRoleBinding");
        assert_eq!(
            cluster_scoped,
            name != "namespace-scoped",
            "{name}: ClusterRole only for cluster-wide installs"
        );
    }
}

#[test]
fn the_lease_role_is_namespaced_and_limited_to_its_lease() {
    let docs = render(&[values_file(ALL_OPTIONS)], &[]);
    let lease_role = docs
        .iter()
        .find(|d| d.kind() == "Role" && d.name().ends_with("-leader-election"))
        .expect("a Role for the Lease");
    assert_eq!(lease_role.object["metadata"]["namespace"], "prescaler");
    let rules = lease_role.object["rules"].as_array().expect("rules");
    let named = rules
        .iter()
        .find(|r| strings(&r["verbs"]).contains(&"update"))
        .expect("an update rule");
    assert_eq!(strings(&named["resourceNames"]), ["prescaler-operator"]);
    let args = args(&docs);
    assert!(args.contains(&"--leader-election-id=prescaler-operator".to_string()));

    // Without leader election, there is no Lease to grant.
    let docs = render(&[values_file(NAMESPACED)], &[]);
    assert!(docs.iter().all(|d| !d.name().ends_with("-leader-election")));
    assert!(self::args(&docs).contains(&"--leader-elect=false".to_string()));
}

#[test]
fn the_pod_passes_the_restricted_security_standard() {
    for (name, values) in value_sets() {
        let docs = render(&values, &[]);
        let pod = &only(&docs, "Deployment").object["spec"]["template"]["spec"];
        let security = &container(&docs)["securityContext"];
        assert_eq!(security["runAsNonRoot"], true, "{name}");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(
            strings(&security["capabilities"]["drop"]),
            ["ALL"],
            "{name}"
        );
        assert!(security["capabilities"]["add"].is_null(), "{name}");
        assert_eq!(
            security["seccompProfile"]["type"], "RuntimeDefault",
            "{name}"
        );
        for host in ["hostNetwork", "hostPID", "hostIPC"] {
            assert!(pod[host].is_null(), "{name}: {host} is set");
        }
        for volume in pod["volumes"].as_array().into_iter().flatten() {
            assert!(
                volume["hostPath"].is_null(),
                "{name}: hostPath volume {volume}"
            );
        }
    }
}

#[test]
fn two_replicas_with_leader_election_a_pdb_and_probes_by_default() {
    let docs = render(&[], &[]);
    let deployment = only(&docs, "Deployment");
    assert_eq!(deployment.object["spec"]["replicas"], 2);
    let args = args(&docs);
    assert_eq!(args[0], "run");
    assert!(
        args.contains(&"--leader-elect=true".to_string()),
        "{args:?}"
    );
    let pdb = only(&docs, "PodDisruptionBudget");
    assert_eq!(
        pdb.object["spec"]["selector"],
        deployment.object["spec"]["selector"]
    );

    // The HTTP server, the probes and the Service agree on one port.
    let c = container(&docs);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let port = &c["ports"][0];
    assert_eq!(port["name"], "http-metrics");
    assert!(args.contains(&format!("--metrics-addr=0.0.0.0:{}", port["containerPort"])));
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["port"], "http-metrics");
    }
    let service = only(&docs, "Service");
    assert_eq!(
        service.object["spec"]["ports"][0]["targetPort"],
        "http-metrics"
    );
    assert_eq!(
        service.object["spec"]["selector"],
        deployment.object["spec"]["selector"]["matchLabels"]
    );

    // The image defaults to the chart's appVersion, which is the crate's version.
    assert_eq!(
        c["image"],
        format!("ghcr.io/prescaler/prescaler:{}", env!("CARGO_PKG_VERSION"))
    );
    // One replica: no PDB (it would block every drain).
    let docs = render(&[], &["--set", "replicaCount=1"]);
    assert!(docs.iter().all(|d| d.kind() != "PodDisruptionBudget"));
}

#[test]
fn three_shards_render_a_deployment_and_a_budget_each_and_lint() {
    let out = helm(&[
        "lint",
        "--strict",
        CHART,
        "--namespace",
        "prescaler",
        "--set",
        "shards=3",
    ]);
    assert!(
        out.status.success(),
        "helm lint --strict (shards=3) failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = render(&[], &["--set", "shards=3"]);
    let deployments: Vec<&Document> = docs.iter().filter(|d| d.kind() == "Deployment").collect();
    let budgets: Vec<&Document> = docs
        .iter()
        .filter(|d| d.kind() == "PodDisruptionBudget")
        .collect();
    assert_eq!(deployments.len(), 3, "one Deployment per shard");
    assert_eq!(budgets.len(), 3, "one PodDisruptionBudget per shard");
    let service = only(&docs, "Service");
    for (i, deployment) in deployments.iter().enumerate() {
        let spec = &deployment.object["spec"];
        assert_eq!(deployment.name(), format!("prescaler-shard-{i}"));
        assert_eq!(spec["replicas"], 2, "each shard is a leader-elected pair");
        // Each shard's pods are its own: the selector tells them apart from the others'.
        let selector = &spec["selector"]["matchLabels"];
        assert_eq!(selector["prescaler.io/shard"], i.to_string());
        assert_eq!(
            spec["template"]["metadata"]["labels"]["prescaler.io/shard"],
            i.to_string()
        );
        assert_eq!(
            budgets[i].object["spec"]["selector"]["matchLabels"],
            *selector
        );
        let args = strings(&spec["template"]["spec"]["containers"][0]["args"]);
        assert!(
            args.contains(&format!("--shard={i}/3").as_str()),
            "{args:?}"
        );
        assert!(args.contains(&"--leader-elect=true"), "{args:?}");
        // The one Service (and ServiceMonitor) reaches the pods of every shard.
        for (key, value) in service.object["spec"]["selector"].as_object().unwrap() {
            assert_eq!(
                &selector[key], value,
                "the Service selects every shard's pods"
            );
        }
    }
    // The leaders list the Leases to see other shard counts, and may renew any shard's.
    let lease_role = docs
        .iter()
        .find(|d| d.kind() == "Role" && d.name().ends_with("-leader-election"))
        .expect("a Role for the Leases");
    let rules = lease_role.object["rules"].as_array().expect("rules");
    assert!(rules.iter().any(|r| strings(&r["verbs"]) == ["list"]));
    let update = rules
        .iter()
        .find(|r| strings(&r["verbs"]).contains(&"update"))
        .expect("an update rule");
    assert!(strings(&update["resourceNames"]).is_empty());

    // One shard renders as it always did: no shard label, no --shard.
    let docs = render(&[], &[]);
    let deployment = only(&docs, "Deployment");
    assert_eq!(deployment.name(), "prescaler");
    assert!(deployment.object["spec"]["selector"]["matchLabels"]["prescaler.io/shard"].is_null());
    assert!(args(&docs).iter().all(|a| !a.starts_with("--shard")));

    let error = template(
        "prescaler",
        &[],
        &[
            "--set",
            "shards=2",
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "replicaCount=1",
        ],
    )
    .expect_err("shards without leader election");
    assert!(
        error.contains("leaderElection.enabled=true, or shards=1"),
        "{error}"
    );
}

/// Each flag of `prescaler run --help` and whether it takes a value.
fn run_help_flags() -> (Vec<(String, bool)>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prescaler"))
        .args(["run", "--help"])
        .output()
        .expect("prescaler runs");
    assert!(out.status.success(), "prescaler run --help failed");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let flags = help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("--"))
        .map(|l| {
            let (flag, rest) = l.split_once(' ').unwrap_or((l, ""));
            (flag.to_string(), rest.trim_start().starts_with('<'))
        })
        .collect();
    (flags, help)
}

#[test]
fn every_flag_and_variable_the_deployment_passes_exists_in_run_help() {
    let (flags, help) = run_help_flags();
    assert!(flags.len() > 10, "unexpected help: {help}");
    let mut seen = BTreeSet::new();
    for (name, values) in value_sets() {
        let docs = render(&values, &[]);
        let args = args(&docs);
        assert_eq!(args[0], "run", "{name}: the container runs `prescaler run`");
        for arg in &args[1..] {
            let (flag, value) = match arg.split_once('=') {
                Some((flag, value)) => (flag, Some(value)),
                None => (arg.as_str(), None),
            };
            let Some((_, takes_value)) = flags.iter().find(|(f, _)| f == flag) else {
                panic!(
                    "{name}: the Deployment passes {arg:?}, which `prescaler run --help` does not list:\n{help}"
                );
            };
            assert_eq!(
                value.is_some(),
                *takes_value,
                "{name}: {arg:?}: the flag {} a value",
                if *takes_value { "needs" } else { "takes no" }
            );
            seen.insert(flag.to_string());
        }
        for env in container(&docs)["env"].as_array().into_iter().flatten() {
            let var = env["name"].as_str().expect("env name");
            if var.starts_with("PRESCALER_") {
                assert!(
                    help.contains(&format!("[env: {var}=")),
                    "{name}: the Deployment sets {var}, which `prescaler run --help` does not read"
                );
            }
        }
    }
    // Between them the value sets exercise every operator flag the chart can set.
    for flag in [
        "--prometheus",
        "--prometheus-bearer-token-file",
        "--prometheus-username",
        "--prometheus-password-file",
        "--prometheus-header",
        "--prometheus-ca-file",
        "--prometheus-insecure-skip-tls-verify",
        "--namespace",
        "--leader-election-id",
    ] {
        assert!(seen.contains(flag), "no value set passes {flag}");
    }
}

#[test]
fn values_reach_their_flags() {
    let docs = render(&[values_file(ALL_OPTIONS)], &[]);
    let args = args(&docs);
    for expected in [
        "--prometheus=https://mimir.monitoring.svc:8080/prometheus",
        "--prometheus-bearer-token-file=/etc/prescaler/prometheus-auth/token",
        "--prometheus-header=X-Scope-OrgID: platform",
        "--prometheus-ca-file=/etc/prescaler/prometheus-ca/bundle.pem",
        "--prometheus-cert-file=/etc/prescaler/prometheus-client/tls.crt",
        "--prometheus-key-file=/etc/prescaler/prometheus-client/tls.key",
        "--namespace=shop",
        "--sync-period=30s",
        "--concurrency=8",
        "--log-format=text",
        "--metrics-addr=0.0.0.0:9090",
        "--prometheus-deadline=20s",
        "--prometheus-breaker-failures=3",
    ] {
        assert!(
            args.iter().any(|a| a == expected),
            "missing {expected}: {args:?}"
        );
    }
    // The credentials are files from the mounted Secret, never values in the pod spec.
    let mounts = &container(&docs)["volumeMounts"];
    assert_eq!(mounts[0]["mountPath"], "/etc/prescaler/prometheus-auth");
    assert_eq!(mounts[0]["readOnly"], true);
    let client = mounts
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "prometheus-client")
        .expect("the client certificate mounted");
    assert_eq!(client["mountPath"], "/etc/prescaler/prometheus-client");
    let volumes = &only(&docs, "Deployment").object["spec"]["template"]["spec"]["volumes"];
    assert!(
        volumes.as_array().is_some_and(|v| v
            .iter()
            .any(|v| v["secret"]["secretName"] == "prescaler-client-tls")),
        "{volumes}"
    );

    // A namespace-scoped install watches its own namespace and reads the URL from a Secret.
    let docs = render(&[values_file(NAMESPACED)], &[]);
    let args = self::args(&docs);
    assert!(
        args.contains(&"--namespace=prescaler".to_string()),
        "{args:?}"
    );
    assert!(!args.iter().any(|a| a.starts_with("--prometheus=")));
    let env = container(&docs)["env"].as_array().expect("env");
    let url = env
        .iter()
        .find(|e| e["name"] == "PRESCALER_PROMETHEUS")
        .expect("the URL comes from the Secret");
    assert_eq!(url["valueFrom"]["secretKeyRef"]["name"], "prometheus-url");
}

#[test]
fn extra_args_env_volumes_and_a_network_policy_reach_the_pod() {
    // `extraArgs` are checked with the other flags in `values_reach_their_flags`.
    let docs = render(&[values_file(ALL_OPTIONS)], &[]);
    let c = container(&docs);
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "PRESCALER_PROMETHEUS_BREAKER_COOLDOWN"),
        "{c}"
    );
    assert_eq!(
        c["envFrom"][0]["configMapRef"]["name"],
        "prescaler-settings"
    );
    assert!(
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["mountPath"] == "/scratch")
    );
    let deployment = &only(&docs, "Deployment").object;
    assert_eq!(deployment["spec"]["revisionHistoryLimit"], 5);
    assert!(
        deployment["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "scratch")
    );
    let monitor = &only(&docs, "ServiceMonitor").object;
    assert_eq!(monitor["metadata"]["namespace"], "monitoring");
    assert_eq!(
        monitor["spec"]["namespaceSelector"]["matchNames"][0], "prescaler",
        "a ServiceMonitor elsewhere still finds the operator's Service"
    );
    assert_eq!(
        monitor["spec"]["endpoints"][0]["relabelings"][0]["targetLabel"],
        "cluster"
    );

    let policy = &only(&docs, "NetworkPolicy").object["spec"];
    assert_eq!(
        policy["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    let ingress = &policy["ingress"][0];
    assert_eq!(ingress["ports"][0]["port"], 9090, "the metrics port");
    assert_eq!(
        ingress["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    let egress_ports: Vec<Vec<i64>> = policy["egress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| {
            rule["ports"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["port"].as_i64())
                .collect()
        })
        .collect();
    assert_eq!(
        egress_ports,
        [vec![53, 53], vec![443, 6443], vec![9090, 8080]]
    );
    assert!(
        render(&[], &[]).iter().all(|d| d.kind() != "NetworkPolicy"),
        "off by default"
    );
}

#[test]
fn the_schema_rejects_wrong_types_and_misspelt_keys() {
    let dir = std::env::temp_dir().join(format!("prescaler-helm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases = [
        ("replicaCount: two\n", "/replicaCount"),
        ("prometheus:\n  timeout: 10\n", "/prometheus/timeout"),
        ("syncPeriod: 15 seconds\n", "/syncPeriod"),
        ("log:\n  format: yaml\n", "/log/format"),
        ("leaderElection:\n  enable: true\n", "enable"),
        ("rbac:\n  scaleTargets: apps\n", "/rbac/scaleTargets"),
        ("shards: 0\n", "/shards"),
    ];
    for (i, (values, field)) in cases.iter().enumerate() {
        let file = dir.join(format!("bad-{i}.yaml"));
        std::fs::write(&file, values).expect("write the values file");
        let path = file.display().to_string();
        let error = template("prescaler", &[&path], &[])
            .expect_err(&format!("values {values:?} were accepted"));
        assert!(
            error.contains("schema") || error.contains("values don't meet"),
            "{values:?}: not a schema error: {error}"
        );
        assert!(
            error.contains(field),
            "{values:?}: the error does not name {field}: {error}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);

    // What the schema cannot say, the chart says with the fix.
    let error = template("prescaler", &[], &["--set", "leaderElection.enabled=false"])
        .expect_err("two writers without leader election");
    assert!(
        error.contains("leaderElection.enabled=true, or replicaCount=1"),
        "{error}"
    );
}

#[test]
fn values_yaml_documents_every_value() {
    let text = std::fs::read_to_string(format!("{CHART}/values.yaml")).expect("values.yaml");
    let lines: Vec<&str> = text.lines().collect();
    let mut keys = 0;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let is_key = !trimmed.starts_with('#')
            && !trimmed.starts_with('-')
            && trimmed.split_once(':').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if !is_key {
            continue;
        }
        keys += 1;
        // The comment block right above the key starts with `# --`.
        let block: Vec<&str> = lines[..i]
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with('#'))
            .copied()
            .collect();
        assert!(
            block
                .last()
                .is_some_and(|l| l.trim_start().starts_with("# -- ")),
            "values.yaml line {}: `{}` has no `# --` comment",
            i + 1,
            line.trim()
        );
    }
    assert!(keys > 40, "only {keys} keys found");
}

#[test]
fn the_first_policy_in_the_notes_is_valid() {
    let out = helm(&[
        "install",
        "prescaler",
        CHART,
        "--namespace",
        "prescaler",
        "--dry-run=client",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let notes = text.split("NOTES:").nth(1).expect("the release has NOTES");
    let start = notes.find("<<'POLICY'\n").expect("a policy in the NOTES") + "<<'POLICY'\n".len();
    let body = &notes[start..];
    let end = body.find("     POLICY").expect("the policy ends");
    let yaml: String = body[..end]
        .lines()
        .map(|l| l.strip_prefix("     ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let policy = ScalingPolicy::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    validate(&policy.spec).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let object: Value = serde_norway::from_str(&yaml).expect("YAML");
    assert!(support::cel::cel_errors(&object).is_empty());
    // It is the quick start's policy (docs/quickstart.md), which the examples tests apply.
    let example = std::fs::read_to_string(format!("{ROOT}/examples/quickstart.yaml"))
        .expect("examples/quickstart.yaml");
    let example: Value = serde_norway::from_str(&example).expect("YAML");
    assert_eq!(
        object["spec"], example["spec"],
        "NOTES and examples/quickstart.yaml differ"
    );
}

/// The names of the series the operator's /metrics really carries once a policy with a
/// forecast has been reconciled for longer than its lead time (counters with their
/// `_total`, histograms as `_bucket`, `_sum` and `_count`).
fn exported_series() -> BTreeSet<String> {
    use prescaler::telemetry::{
        CONDITION_TYPES, MetricGauges, OperatorMetrics, PolicyGauges, ReconcileResult,
    };
    let metrics = OperatorMetrics::new();
    for at in [1_000, 1_015, 1_030] {
        metrics.set_policy(
            "shop",
            "web",
            PolicyGauges {
                current: 2,
                reactive: Some(2),
                predicted: Some(3),
                desired: 3,
                lead_time_s: Some(15),
                conditions: CONDITION_TYPES.map(|c| (c, Some(true))),
                quantile: Some(0.9),
                at,
                sync_s: 15,
            },
        );
        metrics.set_metric(
            "shop",
            "web",
            "http",
            MetricGauges {
                value: Some(10.0),
                forecast: Some(11.0),
                upper: Some(13.0),
                due_at: Some(at + 15),
                at,
                metric_type: "RequestRate",
                peak: Some(14.0),
                error: Some(0.7),
                loss_ratio: Some(0.8),
            },
        );
    }
    metrics.reconciled(
        ReconcileResult::Success,
        std::time::Duration::from_millis(5),
    );
    metrics.reconcile_error("kube");
    metrics.prometheus_query(true, std::time::Duration::from_millis(5));
    metrics.set_leader(true);
    metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("prescaler_"))
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_prometheus_rule_is_the_tested_rule_file_on_real_series() {
    let rules_dir = format!("{ROOT}/charts/prescaler/files/rules");
    for args in [
        vec!["check", "rules", "prescaler.rules.yaml"],
        vec!["test", "rules", "prescaler.rules.test.yaml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(&rules_dir)
            .output()
            .expect("promtool runs (scripts/test.sh installs it with Debian's prometheus)");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(format!("{rules_dir}/prescaler.rules.yaml")).unwrap();
    let file: Value = serde_norway::from_str(&text).unwrap();
    let docs = render(&[values_file(ALL_OPTIONS)], &[]);
    let rule = only(&docs, "PrometheusRule");
    assert_eq!(
        rule.object["spec"], file,
        "the chart carries the file as it is"
    );
    assert_eq!(
        rule.object["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let exported = exported_series();
    let alerts = file["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(alerts.len(), 4);
    for alert in alerts {
        for name in prescaler_names(alert["expr"].as_str().unwrap()) {
            assert!(
                exported.contains(&name),
                "{} uses {name}, which the operator does not export: {exported:?}",
                alert["alert"]
            );
        }
    }
    // The ServiceMonitor keeps the per-policy `namespace` label as exported.
    let monitor = only(&docs, "ServiceMonitor");
    assert_eq!(monitor.object["spec"]["endpoints"][0]["honorLabels"], true);
    assert!(
        render(&[], &[])
            .iter()
            .all(|d| d.object["kind"] != "PrometheusRule"),
        "off by default"
    );
}

#[test]
fn the_dashboard_queries_only_the_operators_metrics() {
    let docs = render(&[values_file(ALL_OPTIONS)], &[]);
    let config_map = only(&docs, "ConfigMap");
    assert_eq!(
        config_map.object["metadata"]["labels"]["grafana_dashboard"],
        "1"
    );
    let json = config_map.object["data"]["prescaler.json"]
        .as_str()
        .expect("the dashboard JSON");
    let dashboard: Value = serde_json::from_str(json).expect("the dashboard is JSON");
    let exported = exported_series();
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a PromQL expression");
            for name in prescaler_names(expr) {
                assert!(
                    exported.contains(&name),
                    "panel {:?} queries {name}, which the operator does not export",
                    panel["title"]
                );
                queried.insert(name);
            }
        }
    }
    // Conditions, forecast vs actual with its band, replicas, what the forecast added, the
    // shortfall, coverage, reconcile errors.
    for needed in [
        "prescaler_policy_condition",
        "prescaler_metric_value",
        "prescaler_forecast_due_value",
        "prescaler_forecast_due_upper",
        "prescaler_current_replicas",
        "prescaler_desired_replicas",
        "prescaler_reactive_replicas",
        "prescaler_forecast_added_replicas",
        "prescaler_forecast_added_replica_seconds_total",
        "prescaler_replica_seconds_total",
        "prescaler_shortfall_seconds_total",
        "prescaler_forecast_quantile",
        "prescaler_reconcile_errors_total",
    ] {
        assert!(
            queried.contains(needed),
            "the dashboard has no panel on {needed}"
        );
    }
    // Scale writes are annotations.
    let annotations = dashboard["annotations"]["list"]
        .as_array()
        .expect("annotations");
    assert!(
        annotations.iter().any(|a| a["expr"]
            .as_str()
            .unwrap_or_default()
            .contains("prescaler_scale_writes_total")),
        "{annotations:?}"
    );
    // No variable that must be set to match a policy: only the data source and the
    // policies to show.
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(variables, ["datasource", "namespace", "policy"]);
    // Each forecast panel shows one type of metric, in its unit.
    let unit_of = |metric_type: &str| {
        let panel = dashboard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| {
                p["targets"][0]["expr"]
                    .as_str()
                    .is_some_and(|e| e.contains(&format!("metric_type=\"{metric_type}\"")))
            })
            .unwrap_or_else(|| panic!("no panel for {metric_type}"));
        let defaults = &panel["fieldConfig"]["defaults"];
        (
            defaults["unit"].as_str().unwrap_or_default().to_string(),
            defaults["custom"]["axisLabel"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    assert_eq!(unit_of("RequestRate").0, "reqps");
    assert_eq!(unit_of("Memory").0, "bytes");
    assert_eq!(unit_of("CPU").1, "cores");
    assert_eq!(unit_of("PromQL").0, "short");
}

#[test]
fn the_plain_kubectl_manifest_is_the_rendered_chart() {
    let committed = std::fs::read_to_string(format!("{ROOT}/deploy/prescaler.yaml"))
        .expect("deploy/prescaler.yaml");
    // Everything after the header comment is `helm template` output with the defaults.
    let body = committed
        .split_once("\n---\n")
        .map(|(_, rest)| format!("---\n{rest}"))
        .expect("a header, then the manifests");
    let rendered = template("prescaler", &[], &[]).expect("helm template");
    assert!(
        body == rendered,
        "deploy/prescaler.yaml is out of date with the chart; refresh it with\n    {SYNC}"
    );
}

async fn kubectl_apply(emu: &Emulator, manifest: &str) -> String {
    let mut child = emu
        .kubectl()
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl starts (run scripts/test.sh to install it)");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(manifest.as_bytes())
        .await
        .expect("write the manifests");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("kubectl apply finishes")
        .expect("kubectl runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl apply failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn kubectl_ok(emu: &Emulator, args: &[&str]) -> String {
    let out = tokio::time::timeout(Duration::from_secs(30), emu.kubectl().args(args).output())
        .await
        .expect("kubectl finishes")
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// CRDs for the kinds the chart renders that the emulator has no built-in for: the
/// Prometheus Operator's ServiceMonitor and PrometheusRule, and NetworkPolicy. Schemas are
/// left open: the emulator does not validate, and only the kinds have to exist for the apply.
fn foreign_kinds() -> String {
    [
        ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
        ("monitoring.coreos.com", "PrometheusRule", "prometheusrules"),
        ("networking.k8s.io", "NetworkPolicy", "networkpolicies"),
    ]
    .map(|(group, kind, plural)| {
        let singular = kind.to_lowercase();
        format!(
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  names: {{ kind: {kind}, plural: {plural}, singular: {singular} }}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {{ type: object, x-kubernetes-preserve-unknown-fields: true }}
"
        )
    })
    .join("---\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_manifests_apply_cleanly_with_kubectl() {
    for (name, values) in value_sets() {
        let emu = Emulator::start().await;
        kubectl_ok(&emu, &["create", "namespace", "prescaler"]).await;
        kubectl_ok(&emu, &["create", "namespace", "shop"]).await;
        kubectl_ok(&emu, &["create", "namespace", "monitoring"]).await;
        kubectl_apply(&emu, &foreign_kinds()).await;
        if name == "namespace-scoped" {
            // crds.install=false: the admin applies the CRD first.
            kubectl_ok(&emu, &["apply", "-f", CRD_FILE]).await;
        }
        let files: Vec<&str> = values.iter().map(String::as_str).collect();
        let rendered = template("prescaler", &files, &[]).expect("helm template");
        let docs = documents(&rendered);

        let out = kubectl_apply(&emu, &rendered).await;
        let created = out.lines().filter(|l| l.ends_with(" created")).count();
        assert_eq!(
            created,
            docs.len(),
            "{name}: not every object was created:\n{out}"
        );
        for doc in &docs {
            let api_version = doc.object["apiVersion"].as_str().expect("apiVersion");
            let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
            // Every kind the chart renders has the regular plural, but for NetworkPolicy.
            let plural = match doc.kind() {
                "NetworkPolicy" => "networkpolicies".to_string(),
                kind => format!("{}s", kind.to_lowercase()),
            };
            let namespace = doc.object["metadata"]["namespace"].as_str().unwrap_or("");
            assert!(
                emu.object(group, &plural, namespace, doc.name()).is_some(),
                "{name}: {} {} is not stored",
                doc.kind(),
                doc.name()
            );
        }

        // Applying again changes nothing: no object gets a new resourceVersion. kubectl calls
        // the PodDisruptionBudget "configured" all the same, because its selector's patch
        // strategy is `replace` and so its client-side patch is never empty.
        let version = emu.resource_version();
        let out = kubectl_apply(&emu, &rendered).await;
        assert_eq!(
            emu.resource_version(),
            version,
            "{name}: a re-apply changed something:\n{out}"
        );
        for line in out.lines() {
            assert!(
                line.ends_with(" unchanged") || line.starts_with("poddisruptionbudget.policy/"),
                "{name}: a re-apply changed something: {line}"
            );
        }

        // The operator's policy kind is served afterwards.
        let served = kubectl_ok(&emu, &["get", "sp", "-A"]).await;
        assert!(!served.contains("error"), "{served}");
    }
}

#[test]
fn the_image_is_a_static_non_root_binary_without_a_shell() {
    let dockerfile = std::fs::read_to_string(format!("{ROOT}/Dockerfile")).expect("Dockerfile");
    let stages: Vec<&str> = dockerfile.split("\nFROM ").skip(1).collect();
    assert!(stages.len() >= 2, "a multi-stage build");
    let build = stages[0];
    assert!(
        build.contains("-alpine AS build"),
        "the binary is built against musl: {build}"
    );
    assert!(build.contains("cargo build --release --locked --bin prescaler"));
    let runtime = stages[stages.len() - 1];
    assert!(
        runtime.starts_with("gcr.io/distroless/static") || runtime.starts_with("scratch"),
        "the runtime stage has no shell: {runtime}"
    );
    assert!(
        !runtime.contains("\nRUN "),
        "nothing runs in the runtime stage"
    );
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    let uid: u32 = user
        .split(':')
        .next()
        .and_then(|u| u.parse().ok())
        .expect("a numeric user");
    assert_ne!(uid, 0, "the image runs as non-root");
    // The chart's pod security context runs as that same user.
    let docs = render(&[], &[]);
    let pod = &only(&docs, "Deployment").object["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], uid);
    assert!(runtime.contains("ENTRYPOINT [\"/prescaler\"]"));
    assert!(runtime.contains("CMD [\"run\"]"));
    // The toolchain is at least the crate's rust-version.
    let manifest = std::fs::read_to_string(format!("{ROOT}/Cargo.toml")).expect("Cargo.toml");
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version")
        .trim_matches('"');
    let toolchain = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_VERSION="))
        .expect("ARG RUST_VERSION");
    let minor = |v: &str| -> u32 {
        v.split('.')
            .nth(1)
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        minor(toolchain) >= minor(msrv),
        "Rust {toolchain} is older than rust-version {msrv}"
    );
}

#[test]
fn secrets_can_be_granted_in_listed_namespaces_only() {
    let docs = render(
        &[],
        &[
            "--set",
            "rbac.readPolicySecrets=true",
            "--set",
            "rbac.secretNamespaces={team-a,team-b}",
        ],
    );
    let secret_rules: Vec<(String, String, Option<String>)> = docs
        .iter()
        .filter(|d| {
            d.object["rules"].as_array().is_some_and(|rules| {
                rules
                    .iter()
                    .any(|r| strings(&r["resources"]).contains(&"secrets"))
            })
        })
        .map(|d| {
            (
                d.kind().to_string(),
                d.name().to_string(),
                d.object["metadata"]["namespace"]
                    .as_str()
                    .map(str::to_string),
            )
        })
        .collect();
    let namespaces: Vec<Option<&str>> = secret_rules.iter().map(|r| r.2.as_deref()).collect();
    assert_eq!(
        namespaces,
        vec![Some("team-a"), Some("team-b")],
        "a Role in each listed namespace, none cluster-wide: {secret_rules:?}"
    );
    assert!(
        secret_rules.iter().all(|r| r.0 == "Role"),
        "{secret_rules:?}"
    );
    let bindings = docs
        .iter()
        .filter(|d| d.kind() == "RoleBinding" && d.name().ends_with("-secrets"))
        .count();
    assert_eq!(bindings, 2);
}
