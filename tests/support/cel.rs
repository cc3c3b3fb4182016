//! Evaluates the CRD's CEL rules (`x-kubernetes-validations`) on an object, client-side,
//! with the Kubernetes CEL libraries, as the API server would on create.

use kube_cel::Validator;
use serde_json::Value;

/// The `openAPIV3Schema` of the committed CRD file, read once per test binary.
pub fn crd_schema() -> &'static Value {
    static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(read_schema)
}

fn read_schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/scalingpolicy.yaml");
    let text = std::fs::read_to_string(path).expect("crds/scalingpolicy.yaml is readable");
    let crd: Value = serde_norway::from_str(&text).expect("the CRD file is YAML");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// The messages of every CEL rule the object breaks (empty when it passes).
pub fn cel_errors(object: &Value) -> Vec<String> {
    match Validator::new().validate(crd_schema(), object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_vec()
            .into_iter()
            .map(|e| e.to_string())
            .collect(),
    }
}
