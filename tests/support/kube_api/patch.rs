//! Patch formats, schema defaulting and the `managedFields` summary of an apply.

use serde_json::{Map, Value};

use super::status::ApiError;

/// The patch formats of `PATCH`, from the request's `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/json-patch+json" => Ok(Self::Json),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(Self::Apply),
            other => Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got {other:?}"
                ),
            )),
        }
    }
}

/// Parses a patch body: YAML for apply, JSON otherwise.
pub fn parse_body(kind: PatchKind, body: &[u8]) -> Result<Value, ApiError> {
    let parsed = if kind == PatchKind::Apply {
        serde_norway::from_slice::<Value>(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// Applies `patch` of `kind` to `target`.
pub fn apply(kind: PatchKind, target: &Value, patch: &Value) -> Result<Value, ApiError> {
    let mut result = target.clone();
    match kind {
        PatchKind::Merge | PatchKind::Apply => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            merge(&mut result, patch, false);
        }
        PatchKind::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "a strategic merge patch must be a JSON object",
                ));
            }
            merge(&mut result, patch, true);
        }
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut result, &ops)
                .map_err(|e| ApiError::invalid(format!("the JSON patch failed: {e}")))?;
        }
    }
    Ok(result)
}

/// RFC 7386 merge; with `strategic`, `$`-directives are dropped and lists of objects that
/// all carry a `name` are merged by name (`$patch: delete` removes an element).
fn merge(target: &mut Value, patch: &Value, strategic: bool) {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(target_map) = target.as_object_mut() else {
        return;
    };
    for (key, value) in patch_map {
        if strategic && key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target_map.remove(key);
            continue;
        }
        let existing = target_map.entry(key.clone()).or_insert(Value::Null);
        if strategic
            && let (Some(current), Some(items)) = (existing.as_array_mut(), value.as_array())
            && named(current)
            && named(items)
        {
            merge_named(current, items);
            continue;
        }
        if value.is_object() {
            merge(existing, value, strategic);
        } else {
            *existing = strip_directives(value, strategic);
        }
    }
}

fn named(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").is_some_and(Value::is_string))
}

fn merge_named(current: &mut Vec<Value>, items: &[Value]) {
    for item in items {
        let name = &item["name"];
        let position = current.iter().position(|c| &c["name"] == name);
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                current.remove(i);
            }
            (Some(i), false) => merge(&mut current[i], item, true),
            (None, false) => current.push(strip_directives(item, true)),
            (None, true) => {}
        }
    }
}

fn strip_directives(value: &Value, strategic: bool) -> Value {
    if !strategic {
        return value.clone();
    }
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v, true)))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| strip_directives(v, true)).collect())
        }
        other => other.clone(),
    }
}

/// Fills in the schema's `default`s for absent properties, recursively.
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (key, prop) in props {
                    if !map.contains_key(key)
                        && let Some(default) = prop.get("default")
                    {
                        map.insert(key.clone(), default.clone());
                    }
                    if let Some(child) = map.get_mut(key) {
                        apply_defaults(prop, child);
                    }
                }
            }
            if let Some(extra) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                let known = schema.get("properties").and_then(Value::as_object);
                for (key, child) in map.iter_mut() {
                    if !known.is_some_and(|k| k.contains_key(key)) {
                        apply_defaults(extra, child);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

/// A `fieldsV1` set naming every field of an applied configuration (lists as wholes).
pub fn fields_v1(applied: &Value) -> Value {
    fn walk(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (format!("f:{k}"), walk(v)))
                    .collect(),
            ),
            _ => Value::Object(Map::new()),
        }
    }
    let mut fields = Map::new();
    if let Some(map) = applied.as_object() {
        for (key, value) in map {
            match key.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    let mut meta = Map::new();
                    for part in ["labels", "annotations"] {
                        if let Some(v) = value.get(part) {
                            meta.insert(format!("f:{part}"), walk(v));
                        }
                    }
                    if !meta.is_empty() {
                        fields.insert("f:metadata".into(), Value::Object(meta));
                    }
                }
                _ => {
                    fields.insert(format!("f:{key}"), walk(value));
                }
            }
        }
    }
    Value::Object(fields)
}
