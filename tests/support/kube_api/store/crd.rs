//! CustomResourceDefinitions: creating or updating one serves its resource, deleting one
//! stops serving it and deletes its objects.

use serde_json::{Value, json};

use super::super::meta::{self, meta_str};
use super::super::resources::{self, ResourceDef};
use super::super::status::ApiError;
use super::{Key, Store};

impl Store {
    /// Serves the resource a CRD declares and fills in its status.
    pub(super) fn register_crd(&mut self, crd: &mut Value) -> Result<(), ApiError> {
        let new_defs = resources::from_crd(crd)?;
        let name = meta_str(crd, "name").unwrap_or_default().to_string();
        for d in &new_defs {
            let clash = self.defs.iter().any(|e| {
                e.crd.as_deref() != Some(&name)
                    && e.group == d.group
                    && e.version == d.version
                    && e.plural == d.plural
            });
            if clash {
                return Err(ApiError::invalid(format!(
                    "the resource {}/{} {} is already served",
                    d.group, d.version, d.plural
                )));
            }
        }
        self.defs.retain(|e| e.crd.as_deref() != Some(&name));
        self.defs.extend(new_defs);
        let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
        let stored: Vec<Value> = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                    .filter_map(|v| v.get("name").cloned())
                    .collect()
            })
            .unwrap_or_default();
        let now = meta::now_rfc3339();
        let condition = |kind: &str, reason: &str, message: &str| {
            json!({
                "type": kind, "status": "True", "lastTransitionTime": now,
                "reason": reason, "message": message,
            })
        };
        crd["status"] = json!({
            "acceptedNames": names,
            "storedVersions": stored,
            "conditions": [
                condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            ],
        });
        Ok(())
    }

    pub(super) fn unregister_crd(&mut self, name: &str) {
        let served: Vec<ResourceDef> = self
            .defs
            .iter()
            .filter(|d| d.crd.as_deref() == Some(name))
            .cloned()
            .collect();
        if let Some(def) = served.first() {
            let keys: Vec<Key> = self
                .objects
                .keys()
                .filter(|(g, p, _, _)| g == &def.group && p == &def.plural)
                .cloned()
                .collect();
            for k in keys {
                if let Some(o) = self.objects.get(&k).cloned() {
                    self.bump();
                    self.remove(def, k, o);
                }
            }
        }
        self.defs.retain(|d| d.crd.as_deref() != Some(name));
    }
}
