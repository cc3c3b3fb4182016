//! The `meta.k8s.io/v1` representations a client can ask for instead of the object: the
//! `Table` that `kubectl get` shows, with the JSONPath subset printer columns use (`.a.b`,
//! `.a[0]`, `.a[*].b`, `.a[?(@.k=="v")].b` with `==` or `!=`), and
//! `PartialObjectMetadata`.

use serde_json::{Value, json};

use super::meta::{self, human_age};
use super::resources::{Column, ResourceDef};
use super::status::ApiError;

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter {
        path: Vec<String>,
        equal: bool,
        value: String,
    },
}

fn parse_filter(text: &str) -> Option<Step> {
    let inner = text.strip_prefix("?(")?.strip_suffix(')')?.trim();
    let (lhs, equal, rhs) = if let Some((l, r)) = inner.split_once("!=") {
        (l, false, r)
    } else {
        let (l, r) = inner.split_once("==")?;
        (l, true, r)
    };
    let path = lhs
        .trim()
        .strip_prefix('@')?
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let rhs = rhs.trim();
    let value = rhs
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| rhs.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
        .unwrap_or(rhs)
        .to_string();
    Some(Step::Filter { path, equal, value })
}

/// Parses the supported JSONPath subset; `None` for anything else.
fn parse(path: &str) -> Option<Vec<Step>> {
    let mut text = path.trim();
    if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        text = inner.trim();
    }
    text = text.strip_prefix('$').unwrap_or(text);
    let mut steps = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Field(after[..end].to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            // A filter may contain `]` only inside quotes, which the columns do not use.
            let inside = after[..end].trim();
            let step = if inside == "*" {
                Step::All
            } else if let Ok(i) = inside.parse::<usize>() {
                Step::Index(i)
            } else if inside.starts_with('?') {
                parse_filter(inside)?
            } else {
                let quoted = inside
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))?;
                Step::Field(quoted.to_string())
            };
            steps.push(step);
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every value `path` selects in `object`.
pub fn select<'a>(object: &'a Value, path: &str) -> Result<Vec<&'a Value>, ApiError> {
    let steps = parse(path)
        .ok_or_else(|| ApiError::bad_request(format!("unsupported JSONPath: {path}")))?;
    let mut current = vec![object];
    for step in &steps {
        let mut next = Vec::new();
        for value in current {
            match step {
                Step::Field(name) => next.extend(value.get(name)),
                Step::Index(i) => next.extend(value.get(*i)),
                Step::All => next.extend(value.as_array().into_iter().flatten()),
                Step::Filter {
                    path,
                    equal,
                    value: expected,
                } => {
                    for item in value.as_array().into_iter().flatten() {
                        let actual = path.iter().try_fold(item, |v, k| v.get(k));
                        let hit = actual.is_some_and(|a| &scalar_text(a) == expected);
                        if hit == *equal {
                            next.push(item);
                        }
                    }
                }
            }
        }
        current = next;
    }
    Ok(current)
}

fn cell(column: &Column, object: &Value, now: i64) -> Value {
    let Ok(found) = select(object, &column.json_path) else {
        return Value::Null;
    };
    match found.as_slice() {
        [] => Value::Null,
        [one] if column.kind == "date" => match one.as_str().and_then(meta::parse_rfc3339) {
            Some(t) => json!(human_age(now - t)),
            None => Value::Null,
        },
        [one] => match one {
            Value::Object(_) | Value::Array(_) => json!(one.to_string()),
            scalar => (*scalar).clone(),
        },
        many => json!(
            many.iter()
                .map(|v| scalar_text(v))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn columns(def: &ResourceDef) -> Vec<Column> {
    if def.columns.is_empty() {
        vec![Column {
            name: "Age".into(),
            kind: "date".into(),
            format: String::new(),
            description: String::new(),
            json_path: ".metadata.creationTimestamp".into(),
            priority: 0,
        }]
    } else {
        def.columns.clone()
    }
}

/// What each row carries in `object`: `includeObject=None|Metadata|Object`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    pub fn parse(text: Option<&str>) -> Result<Self, ApiError> {
        match text.unwrap_or("Metadata") {
            "None" => Ok(Self::None),
            "Metadata" | "" => Ok(Self::Metadata),
            "Object" => Ok(Self::Object),
            other => Err(ApiError::bad_request(format!(
                "unsupported includeObject value: {other:?}"
            ))),
        }
    }
}

fn row(def: &ResourceDef, object: &Value, include: Include, now: i64) -> Value {
    let name = object
        .pointer("/metadata/name")
        .cloned()
        .unwrap_or_default();
    let mut cells = vec![name];
    cells.extend(columns(def).iter().map(|c| cell(c, object, now)));
    let mut row = json!({ "cells": cells });
    match include {
        Include::None => {}
        Include::Metadata => row["object"] = partial(object),
        Include::Object => row["object"] = object.clone(),
    }
    row
}

/// A `Table` of `objects`; `with_columns` false leaves out the column definitions (as for
/// watch events after the first).
pub fn table(
    def: &ResourceDef,
    objects: &[Value],
    include: Include,
    resource_version: &str,
    with_columns: bool,
) -> Value {
    let now = meta::now_secs();
    let mut definitions = vec![json!({
        "name": "Name", "type": "string", "format": "name",
        "description": "Name must be unique within a namespace.", "priority": 0,
    })];
    definitions.extend(columns(def).iter().map(|c| {
        json!({
            "name": c.name, "type": c.kind, "format": c.format,
            "description": c.description, "priority": c.priority,
        })
    }));
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": { "resourceVersion": resource_version },
        "columnDefinitions": if with_columns { Value::Array(definitions) } else { Value::Null },
        "rows": objects.iter().map(|o| row(def, o, include, now)).collect::<Vec<_>>(),
    })
}

/// The representation a client asks for with its `Accept` header.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Object,
    Table(Include),
    /// `PartialObjectMetadata` (and `...List`): the metadata only.
    Metadata,
}

impl Format {
    /// From the first media type of `accept` and the `includeObject` parameter.
    pub fn negotiate(accept: &str, include: Option<&str>) -> Result<Self, ApiError> {
        let first = accept.split(',').next().unwrap_or_default();
        if first.contains("as=Table") {
            Include::parse(include).map(Self::Table)
        } else if first.contains("as=PartialObjectMetadata") {
            Ok(Self::Metadata)
        } else {
            Ok(Self::Object)
        }
    }
}

/// The `PartialObjectMetadata` of an object.
pub fn partial(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_default(),
    })
}
