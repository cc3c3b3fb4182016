//! The in-memory object store: one global resourceVersion counter, a bounded history of
//! change events for watches, and the create/update/delete semantics of the API server.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

mod crd;

use super::events;
use super::meta::{self, meta_str, metadata_mut};
use super::patch::apply_defaults;
use super::resources::{self, ResourceDef};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;

/// The kind of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change to one object, at the resourceVersion it produced.
#[derive(Clone, Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub object: Value,
    /// The object before a MODIFIED, so that a filtered watch can tell an object that
    /// started or stopped matching.
    pub previous: Option<Value>,
}

/// Which part of an object a write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Everything but `.status` when the resource has a status subresource.
    Main,
    /// Only `.status`.
    Status,
}

/// (group, plural, namespace or "", name)
type Key = (String, String, String, String);

pub struct Store {
    defs: Vec<ResourceDef>,
    objects: BTreeMap<Key, Value>,
    rv: u64,
    /// Shared with every watch, which each receive every event and let most pass unread.
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    /// The newest resourceVersion no longer in `history`.
    compacted: u64,
    sender: broadcast::Sender<Arc<Event>>,
}

fn key(def: &ResourceDef, namespace: &str, name: &str) -> Key {
    let ns = if def.namespaced { namespace } else { "" };
    (
        def.storage_group().to_string(),
        def.plural.clone(),
        ns.into(),
        name.into(),
    )
}

/// Whether two objects differ in a part that counts towards `metadata.generation` (all but
/// `metadata`, and `status` too when the resource has a status subresource).
fn spec_changed(old: &Value, new: &Value, with_status: bool) -> bool {
    let counted = |key: &str| key != "metadata" && !(with_status && key == "status");
    match (old.as_object(), new.as_object()) {
        (Some(old), Some(new)) => {
            let old_keys = old.iter().filter(|(k, _)| counted(k));
            let new_keys = new.iter().filter(|(k, _)| counted(k));
            !old_keys.eq(new_keys)
        }
        _ => old != new,
    }
}

impl Store {
    pub fn new(history_limit: usize) -> Self {
        let (sender, _) = broadcast::channel(4096);
        let mut store = Self {
            defs: resources::builtins(),
            objects: BTreeMap::new(),
            rv: 0,
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 0,
            sender,
        };
        let namespaces = store.def("", "v1", "namespaces");
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            if let Some(def) = &namespaces {
                let _ = store.create(def, "", json!({ "metadata": { "name": name } }), false);
            }
        }
        store
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn defs(&self) -> &[ResourceDef] {
        &self.defs
    }

    pub fn def(&self, group: &str, version: &str, plural: &str) -> Option<ResourceDef> {
        self.defs
            .iter()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
            .cloned()
    }

    /// The storage version of a resource, whatever version it is served at.
    pub fn storage_def(&self, group: &str, plural: &str) -> Option<ResourceDef> {
        let mut matching = self
            .defs
            .iter()
            .filter(|d| d.group == group && d.plural == plural);
        let first = matching.next()?.clone();
        Some(matching.find(|d| d.storage).cloned().unwrap_or(first))
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// The events after `rv`, or `410 Gone` when some of them are no longer kept.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Arc<Event>>, ApiError> {
        if rv < self.compacted {
            return Err(ApiError::gone(format!(
                "too old resource version: {rv} ({})",
                self.compacted + 1
            )));
        }
        Ok(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    /// The object as served at `def`'s version (an Event converted between its two
    /// group/versions), without the empty metadata fields a real server would not
    /// serialise.
    pub fn present(def: &ResourceDef, object: &Value) -> Value {
        Self::into_present(def, object.clone())
    }

    /// [`Self::present`] of an object the caller no longer needs, converted in place.
    fn into_present(def: &ResourceDef, object: Value) -> Value {
        let mut out = events::convert(object, def);
        if out.is_object() {
            out["apiVersion"] = json!(def.api_version());
            out["kind"] = json!(def.kind);
        }
        if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|_, v| match v {
                Value::Object(m) => !m.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::String(s) => !s.is_empty(),
                Value::Null => false,
                _ => true,
            });
        }
        out
    }

    /// An object written at `def`'s version in the form it is stored in: Events as core
    /// Events, anything else as written.
    fn stored_form(&self, def: &ResourceDef, object: &Value) -> Value {
        let storage = (def.storage_group() != def.group)
            .then(|| self.storage_def(def.storage_group(), &def.plural))
            .flatten();
        let written = Self::present(def, object);
        match storage {
            Some(storage) => Self::into_present(&storage, written),
            None => written,
        }
    }

    fn record(
        &mut self,
        kind: EventType,
        def: &ResourceDef,
        object: &Value,
        previous: Option<Value>,
    ) {
        let event = Event {
            previous,
            rv: self.rv,
            kind,
            group: def.storage_group().to_string(),
            plural: def.plural.clone(),
            namespace: meta_str(object, "namespace").unwrap_or_default().into(),
            object: object.clone(),
        };
        let event = Arc::new(event);
        self.history.push_back(event.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        let _ = self.sender.send(event);
    }

    fn bump(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    pub fn get(&self, def: &ResourceDef, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&key(def, namespace, name))
            .map(|o| Self::present(def, o))
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))
    }

    /// The objects of `def` in `namespace` (all namespaces when `None`), sorted by
    /// namespace and name.
    pub fn list(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((g, p, ns, _), _)| {
                g == def.storage_group() && p == &def.plural && namespace.is_none_or(|n| n == ns)
            })
            .map(|(_, o)| o)
            .filter(|o| labels.matches(o) && fields.matches(o))
            .map(|o| Self::present(def, o))
            .collect()
    }

    fn check_identity(
        def: &ResourceDef,
        namespace: &str,
        object: &mut Value,
    ) -> Result<(), ApiError> {
        if !object.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        if let Some(kind) = object.get("kind").and_then(Value::as_str)
            && !kind.is_empty()
            && kind != def.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind {kind:?} of the object does not match the resource's kind {:?}",
                def.kind
            )));
        }
        if let Some(api_version) = object.get("apiVersion").and_then(Value::as_str) {
            let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
            if !api_version.is_empty() && group != def.group {
                return Err(ApiError::bad_request(format!(
                    "the apiVersion {api_version:?} does not match the group {:?}",
                    def.group
                )));
            }
        }
        let Some(meta) = metadata_mut(object) else {
            return Err(ApiError::bad_request("metadata must be an object"));
        };
        if def.namespaced {
            match meta.get("namespace").and_then(Value::as_str) {
                Some(ns) if !ns.is_empty() && ns != namespace => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace \
                         sent on the request",
                    ));
                }
                _ => {
                    meta.insert("namespace".into(), json!(namespace));
                }
            }
        } else {
            meta.remove("namespace");
        }
        Ok(())
    }

    fn apply_builtin_defaults(def: &ResourceDef, object: &mut Value) {
        if let Some(schema) = &def.schema {
            apply_defaults(schema, object);
        }
        if def.is_workload() && object.pointer("/spec/replicas").is_none() {
            meta::set_path(object, ".spec.replicas", json!(1));
        }
        if def.group.is_empty() && def.plural == "namespaces" {
            meta::set_path(object, ".status.phase", json!("Active"));
        }
    }

    /// Creates an object; `keep_status` keeps a `.status` that a real server would drop.
    pub fn create(
        &mut self,
        def: &ResourceDef,
        namespace: &str,
        mut object: Value,
        keep_status: bool,
    ) -> Result<Value, ApiError> {
        Self::check_identity(def, namespace, &mut object)?;
        if meta_str(&object, "resourceVersion").is_some_and(|rv| !rv.is_empty()) {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let mut name = meta_str(&object, "name").unwrap_or_default().to_string();
        if name.is_empty() {
            let prefix = meta_str(&object, "generateName").unwrap_or_default();
            if prefix.is_empty() {
                return Err(ApiError::invalid(format!(
                    "{} is invalid: metadata.name: Required value: name or generateName is \
                     required",
                    def.kind
                )));
            }
            name = loop {
                let candidate = format!("{prefix}{}", meta::name_suffix());
                if !self.objects.contains_key(&key(def, namespace, &candidate)) {
                    break candidate;
                }
            };
        }
        if def.namespaced {
            let ns_def = self.storage_def("", "namespaces");
            if let Some(ns_def) = ns_def
                && !self.objects.contains_key(&key(&ns_def, "", namespace))
            {
                return Err(ApiError::not_found("", "namespaces", namespace));
            }
        }
        let k = key(def, namespace, &name);
        if self.objects.contains_key(&k) {
            return Err(ApiError::already_exists(&def.group, &def.plural, &name));
        }
        if def.status
            && !keep_status
            && let Some(map) = object.as_object_mut()
        {
            map.remove("status");
        }
        Self::apply_builtin_defaults(def, &mut object);
        if def.crd.is_none() && def.plural == "customresourcedefinitions" {
            self.register_crd(&mut object)?;
        }
        let rv = self.bump();
        if let Some(meta) = metadata_mut(&mut object) {
            meta.insert("name".into(), json!(name));
            meta.insert("uid".into(), json!(meta::uid()));
            meta.insert("creationTimestamp".into(), json!(meta::now_rfc3339()));
            meta.insert("resourceVersion".into(), json!(rv));
            meta.insert("generation".into(), json!(1));
            meta.remove("deletionTimestamp");
        }
        let stored = self.stored_form(def, &object);
        self.objects.insert(k, stored.clone());
        self.record(EventType::Added, def, &stored, None);
        Ok(Self::present(def, &stored))
    }

    /// Replaces the part `part` of an existing object with that of `candidate`, with
    /// optimistic concurrency on a non-empty `metadata.resourceVersion`.
    pub fn update(
        &mut self,
        def: &ResourceDef,
        namespace: &str,
        name: &str,
        mut candidate: Value,
        part: Part,
    ) -> Result<Value, ApiError> {
        let k = key(def, namespace, name);
        let stored = self
            .objects
            .get(&k)
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
        let old = Self::present(def, stored);
        Self::check_identity(def, namespace, &mut candidate)?;
        if let Some(n) = meta_str(&candidate, "name")
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        let old_rv = meta_str(&old, "resourceVersion").unwrap_or_default();
        match meta_str(&candidate, "resourceVersion") {
            Some(rv) if !rv.is_empty() && rv != old_rv => {
                return Err(ApiError::conflict(&def.group, &def.plural, name));
            }
            _ => {}
        }
        let mut new = match part {
            Part::Main => {
                let mut new = candidate;
                if def.status
                    && let Some(map) = new.as_object_mut()
                {
                    match old.get("status") {
                        Some(status) => map.insert("status".into(), status.clone()),
                        None => map.remove("status"),
                    };
                }
                new
            }
            Part::Status => {
                let mut new = old.clone();
                if let Some(map) = new.as_object_mut() {
                    match candidate.get("status") {
                        Some(status) => map.insert("status".into(), status.clone()),
                        None => map.remove("status"),
                    };
                }
                new
            }
        };
        Self::apply_builtin_defaults(def, &mut new);
        let mut new = Self::into_present(def, new);
        let changed_spec = spec_changed(&old, &new, def.status);
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        if let (Some(meta), Some(old_meta)) = (metadata_mut(&mut new), old.get("metadata")) {
            for field in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
            ] {
                match old_meta.get(field) {
                    Some(v) => meta.insert(field.into(), v.clone()),
                    None => meta.remove(field),
                };
            }
            if !meta.contains_key("managedFields")
                && let Some(m) = old_meta.get("managedFields")
            {
                meta.insert("managedFields".into(), m.clone());
            }
            let generation = if changed_spec {
                generation + 1
            } else {
                generation
            };
            meta.insert("generation".into(), json!(generation));
            meta.insert("resourceVersion".into(), json!(old_rv));
        }
        let mut new = Self::into_present(def, new);
        if new == old {
            return Ok(new);
        }
        if def.crd.is_none() && def.plural == "customresourcedefinitions" {
            self.register_crd(&mut new)?;
        }
        let finalized = old.pointer("/metadata/deletionTimestamp").is_some()
            && new
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        let rv = self.bump();
        if let Some(meta) = metadata_mut(&mut new) {
            meta.insert("resourceVersion".into(), json!(rv));
        }
        let stored = self.stored_form(def, &new);
        if finalized {
            self.remove(def, k, stored);
        } else {
            let previous = self.objects.insert(k, stored.clone());
            self.record(EventType::Modified, def, &stored, previous);
        }
        Ok(new)
    }

    /// Deletes an object (or marks it for deletion while it has finalizers); deleting a
    /// namespace deletes its objects, deleting a CRD stops serving its resource.
    pub fn delete(
        &mut self,
        def: &ResourceDef,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let k = key(def, namespace, name);
        let mut object = self
            .objects
            .get(&k)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
        let has_finalizers = object
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if object.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(Self::present(def, &object));
            }
            let rv = self.bump();
            if let Some(meta) = metadata_mut(&mut object) {
                meta.insert("deletionTimestamp".into(), json!(meta::now_rfc3339()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(0));
                meta.insert("resourceVersion".into(), json!(rv));
            }
            self.objects.insert(k, object.clone());
            self.record(EventType::Modified, def, &object, None);
            return Ok(Self::present(def, &object));
        }
        if def.group.is_empty() && def.plural == "namespaces" {
            let inside: Vec<Key> = self
                .objects
                .keys()
                .filter(|(_, _, ns, _)| ns == name)
                .cloned()
                .collect();
            for k in inside {
                if let Some(storage) = self.storage_def(&k.0, &k.1)
                    && let Some(o) = self.objects.get(&k).cloned()
                {
                    self.bump();
                    self.remove(&storage, k, o);
                }
            }
        }
        if def.crd.is_none() && def.plural == "customresourcedefinitions" {
            self.unregister_crd(name);
        }
        let rv = self.bump();
        if let Some(meta) = metadata_mut(&mut object) {
            meta.insert("resourceVersion".into(), json!(rv));
        }
        self.remove(def, k, object.clone());
        Ok(Self::present(def, &object))
    }

    fn remove(&mut self, def: &ResourceDef, k: Key, mut object: Value) {
        self.objects.remove(&k);
        if let Some(meta) = metadata_mut(&mut object) {
            meta.insert("resourceVersion".into(), json!(self.rv.to_string()));
        }
        self.record(EventType::Deleted, def, &object, None);
    }

    /// Every stored object.
    pub fn all(&self) -> impl Iterator<Item = &Value> {
        self.objects.values()
    }

    /// A copy that is thrown away after use, for dry runs: writes to it are not
    /// persisted or seen by watches.
    pub fn scratch_copy(&self) -> Self {
        Self {
            defs: self.defs.clone(),
            objects: self.objects.clone(),
            rv: self.rv,
            history: VecDeque::new(),
            history_limit: self.history_limit,
            compacted: self.rv,
            sender: broadcast::channel(1).0,
        }
    }
}
