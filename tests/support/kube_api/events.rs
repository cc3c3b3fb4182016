//! Events are one kind of object served at two group/versions: `v1` `events` (the form
//! they are stored in) and `events.k8s.io/v1` `events`, converted field by field as the
//! real API server does, with the field selectors each version knows.

use serde_json::{Map, Value};

use super::resources::ResourceDef;

/// `events.k8s.io/v1` field ↔ core `v1` field; every other field has the same name in both.
const RENAMED: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// The field selectors of core `v1` Events besides `metadata.name` and `metadata.namespace`.
const CORE_FIELDS: [&str; 11] = [
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

fn is_core(def: &ResourceDef) -> bool {
    def.group.is_empty() && def.plural == "events"
}

/// Whether `def` is `events.k8s.io` Events, which are stored as core Events.
pub fn is_events_api(def: &ResourceDef) -> bool {
    def.group == "events.k8s.io" && def.plural == "events"
}

fn group_of(object: &Value) -> &str {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

fn rename(object: &Value, from_events_api: bool) -> Value {
    let Some(fields) = object.as_object() else {
        return object.clone();
    };
    let renamed = |name: &str| {
        RENAMED
            .iter()
            .find(|(new, old)| name == if from_events_api { *new } else { *old })
            .map(|(new, old)| if from_events_api { *old } else { *new })
    };
    let out: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (renamed(k).unwrap_or(k).to_string(), v.clone()))
        .collect();
    Value::Object(out)
}

/// `object` converted to the form `to` serves when it is an Event in the other
/// group/version's form (told by its `apiVersion`); otherwise unchanged. An object with
/// no `apiVersion` is taken to be in `to`'s form already.
pub fn convert(object: Value, to: &ResourceDef) -> Value {
    let has_api_version = object["apiVersion"].as_str().is_some_and(|a| !a.is_empty());
    if is_events_api(to) && has_api_version && group_of(&object).is_empty() {
        rename(&object, false)
    } else if is_core(to) && group_of(&object) == "events.k8s.io" {
        rename(&object, true)
    } else {
        object
    }
}

/// For a field selector on `def`: the core Event field it selects on (`Some(None)` when
/// `def` is an Event resource that does not know `field`), or `None` when `def` is no
/// Event resource.
pub fn field_label(def: &ResourceDef, field: &str) -> Option<Option<String>> {
    let core = if is_events_api(def) {
        match field {
            "reportingController" => Some("reportingComponent".to_string()),
            "reason" | "type" => Some(field.to_string()),
            _ => field
                .strip_prefix("regarding.")
                .map(|rest| format!("involvedObject.{rest}"))
                .filter(|f| CORE_FIELDS.contains(&f.as_str())),
        }
    } else if is_core(def) {
        CORE_FIELDS.contains(&field).then(|| field.to_string())
    } else {
        return None;
    };
    Some(core)
}

/// The value of a core Event field selector (see [`field_label`]) in a stored Event.
pub fn field_value(object: &Value, field: &str) -> String {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match field {
        "source" => {
            let component = text("/source/component");
            if component.is_empty() {
                text("/reportingComponent")
            } else {
                component
            }
        }
        _ => text(&format!("/{}", field.replace('.', "/"))),
    }
}
