//! Every policy in examples/ parses, validates, and passes the CRD's CEL rules.

#[allow(dead_code)] // shared harness: this crate uses the CEL evaluator only
mod support;

use prescaler::policy::{ScalingPolicy, validate};

#[test]
fn every_example_policy_is_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("examples/ exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable example");
        let policy = ScalingPolicy::from_yaml(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        if let Err(errors) = validate(&policy.spec) {
            panic!("{} is invalid: {errors}", path.display());
        }
        let object: serde_json::Value = serde_norway::from_str(&text).expect("example is YAML");
        let cel = support::cel::cel_errors(&object);
        assert!(
            cel.is_empty(),
            "{} breaks CEL rules: {cel:?}",
            path.display()
        );
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected at least three example policies, found {checked}"
    );
}
