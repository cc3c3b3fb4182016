//! Just enough of the Kubernetes protobuf encoding to read an object that a typed client
//! (such as `kubectl create namespace`) sends as `application/vnd.kubernetes.protobuf`
//! when all it has is metadata.

use serde_json::{Map, Value, json};

use super::status::ApiError;

const MAGIC: &[u8] = b"k8s\0";

/// A protobuf field: its number and, for length-delimited fields, its bytes.
struct Field<'a> {
    number: u64,
    bytes: Option<&'a [u8]>,
    /// Whether it holds a zero value: 0, an empty string or message, or a message of
    /// zero values only (Kubernetes encodes empty strings and messages rather than omit
    /// them).
    zero: bool,
}

fn varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// How deep nested messages are looked into when deciding whether they hold zero values;
/// deeper ones count as holding something.
const MAX_DEPTH: usize = 32;

fn fields(data: &[u8]) -> Option<Vec<Field<'_>>> {
    fields_at(data, 0)
}

fn fields_at(data: &[u8], depth: usize) -> Option<Vec<Field<'_>>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < data.len() {
        let key = varint(data, &mut pos)?;
        let (bytes, zero) = match key & 7 {
            0 => (None, varint(data, &mut pos)? == 0),
            1 => {
                pos += 8;
                (None, false)
            }
            2 => {
                let len = usize::try_from(varint(data, &mut pos)?).ok()?;
                let slice = data.get(pos..pos.checked_add(len)?)?;
                pos += len;
                let zero = slice.is_empty()
                    || (depth < MAX_DEPTH
                        && fields_at(slice, depth + 1)
                            .is_some_and(|inner| inner.iter().all(|f| f.zero)));
                (Some(slice), zero)
            }
            5 => {
                pos += 4;
                (None, false)
            }
            _ => return None,
        };
        out.push(Field {
            number: key >> 3,
            bytes,
            zero,
        });
    }
    (pos == data.len()).then_some(out)
}

fn text(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| String::from_utf8_lossy(b).into_owned())
}

fn string_map(entries: &[&[u8]]) -> Option<Value> {
    let mut map = Map::new();
    for entry in entries {
        let parts = fields(entry)?;
        let get = |n| {
            parts
                .iter()
                .find(|f| f.number == n)
                .and_then(|f| text(f.bytes))
        };
        map.insert(
            get(1).unwrap_or_default(),
            json!(get(2).unwrap_or_default()),
        );
    }
    Some(Value::Object(map))
}

fn object_meta(data: &[u8]) -> Option<Value> {
    let parts = fields(data)?;
    let mut meta = Map::new();
    for (number, name) in [
        (1, "name"),
        (2, "generateName"),
        (3, "namespace"),
        (6, "resourceVersion"),
    ] {
        if let Some(value) = parts
            .iter()
            .find(|f| f.number == number)
            .and_then(|f| text(f.bytes))
        {
            meta.insert(name.into(), json!(value));
        }
    }
    for (number, name) in [(11, "labels"), (12, "annotations")] {
        let entries: Vec<&[u8]> = parts
            .iter()
            .filter(|f| f.number == number)
            .filter_map(|f| f.bytes)
            .collect();
        if !entries.is_empty() {
            meta.insert(name.into(), string_map(&entries)?);
        }
    }
    Some(Value::Object(meta))
}

/// The `apiVersion`, `kind` and `metadata` of a protobuf-encoded object; `415` when it
/// has anything else (a non-empty spec or status), which would otherwise be lost.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let bad = || ApiError::bad_request("the protobuf body could not be decoded");
    let envelope = fields(body.strip_prefix(MAGIC).ok_or_else(bad)?).ok_or_else(bad)?;
    let part = |n| {
        envelope
            .iter()
            .find(|f| f.number == n)
            .and_then(|f| f.bytes)
    };
    let type_meta = fields(part(1).unwrap_or_default()).ok_or_else(bad)?;
    let type_field = |n| {
        type_meta
            .iter()
            .find(|f| f.number == n)
            .and_then(|f| text(f.bytes))
    };
    let raw = fields(part(2).unwrap_or_default()).ok_or_else(bad)?;
    if raw.iter().any(|f| f.number != 1 && !f.zero) {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "the emulator decodes only the metadata of protobuf bodies and this object has \
             more: send it as JSON (kubectl apply, or a dynamic client)",
        ));
    }
    let metadata = match raw.iter().find(|f| f.number == 1).and_then(|f| f.bytes) {
        Some(bytes) => object_meta(bytes).ok_or_else(bad)?,
        None => json!({}),
    };
    Ok(json!({
        "apiVersion": type_field(1).unwrap_or_default(),
        "kind": type_field(2).unwrap_or_default(),
        "metadata": metadata,
    }))
}
