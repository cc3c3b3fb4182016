//! The real `helm` binary, run on the chart in `charts/prescaler`, and the documents it
//! renders.
//!
//! `helm` is `$HELM`, else `helm` on `PATH`, else `.tools/bin/helm` where `scripts/test.sh`
//! installs it. Nothing is skipped when it is missing: the test fails and says how to get it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The crate's root.
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The chart's directory.
pub const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/prescaler");
/// The namespace every test renders the release into.
pub const NAMESPACE: &str = "prescaler";

/// The `helm` to run; panics with the fix when there is none.
pub fn helm_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HELM") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("helm"))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_default();
    let local = Path::new(ROOT).join(".tools/bin/helm");
    on_path
        .or_else(|| local.is_file().then_some(local))
        .unwrap_or_else(|| {
            panic!(
                "helm is not installed: run scripts/test.sh, which installs it into .tools/bin \
                 (or put helm on PATH, or set $HELM)"
            )
        })
}

/// Runs `helm` with `args`.
pub fn helm(args: &[&str]) -> Output {
    Command::new(helm_binary())
        .args(args)
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("prescaler-helm-cache"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("prescaler-helm-config"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("prescaler-helm-data"),
        )
        .output()
        .expect("helm runs")
}

/// A chart values file under `charts/prescaler/`, e.g. `ci/all-options-values.yaml`.
pub fn values_file(relative: &str) -> String {
    format!("{CHART}/{relative}")
}

/// `helm template <release> <chart> -n prescaler [-f file]... [extra]...`: the rendered
/// manifests, or helm's error output.
pub fn template(release: &str, values: &[&str], extra: &[&str]) -> Result<String, String> {
    let mut args = vec!["template", release, CHART, "--namespace", NAMESPACE];
    for file in values {
        args.extend(["--values", file]);
    }
    args.extend(extra);
    let out = helm(&args);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

/// One rendered document: the template it came from, its text (without the `# Source:`
/// line) and its parsed content.
#[derive(Clone, Debug)]
pub struct Document {
    pub source: String,
    pub text: String,
    pub object: Value,
}

impl Document {
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }
}

/// Splits `helm template` output into its documents, skipping empty ones.
pub fn documents(rendered: &str) -> Vec<Document> {
    let mut docs = Vec::new();
    for chunk in rendered.split("\n---\n") {
        // The newline before a separator ends the document before it.
        let chunk = chunk.strip_prefix("---\n").unwrap_or(chunk);
        let chunk = format!("{}\n", chunk.trim_end_matches('\n'));
        let chunk = chunk.as_str();
        let (source, text) = match chunk.split_once('\n') {
            Some((first, rest)) if first.starts_with("# Source: ") => {
                (first.trim_start_matches("# Source: ").to_string(), rest)
            }
            _ => (String::new(), chunk),
        };
        let object: Value = serde_norway::from_str(text)
            .unwrap_or_else(|e| panic!("{source} does not parse as YAML: {e}\n{text}"));
        if object.is_null() {
            continue;
        }
        docs.push(Document {
            source,
            text: text.to_string(),
            object,
        });
    }
    docs
}

/// The one document of `kind`; panics when there is not exactly one.
pub fn only<'a>(docs: &'a [Document], kind: &str) -> &'a Document {
    let found: Vec<&Document> = docs.iter().filter(|d| d.kind() == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}
