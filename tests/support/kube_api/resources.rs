//! The resource types the emulator serves: the built-in kinds and those CRDs add.

use std::sync::Arc;

use serde_json::{Value, json};

use super::status::ApiError;

/// One printer column: a header, a JSONPath into the object and a type (`date` renders
/// as an age).
#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub kind: String,
    pub format: String,
    pub description: String,
    pub json_path: String,
    pub priority: i64,
}

impl Column {
    fn new(name: &str, kind: &str, json_path: &str) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            format: String::new(),
            description: String::new(),
            json_path: json_path.into(),
            priority: 0,
        }
    }
}

/// Where the scale subresource reads and writes in the object.
#[derive(Clone, Debug)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// One served resource of one group/version.
#[derive(Clone, Debug)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status: bool,
    pub scale: Option<ScalePaths>,
    /// Columns after NAME; empty means NAME and AGE only.
    pub columns: Vec<Column>,
    /// `openAPIV3Schema`, whose `default`s are applied on writes. Shared: a definition is
    /// cloned on every request, and a CRD's schema runs to tens of kilobytes.
    pub schema: Option<Arc<Value>>,
    /// The CRD that defines this resource, if any.
    pub crd: Option<String>,
    /// Whether the storage version of a CRD (or any built-in).
    pub storage: bool,
}

impl ResourceDef {
    fn builtin(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            namespaced,
            short_names: Vec::new(),
            categories: Vec::new(),
            status: false,
            scale: None,
            columns: Vec::new(),
            schema: None,
            crd: None,
            storage: true,
        }
    }

    fn short(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    fn with_status(mut self) -> Self {
        self.status = true;
        self
    }

    fn in_all(mut self) -> Self {
        self.categories = vec!["all".into()];
        self
    }

    fn workload_scale(mut self) -> Self {
        self.scale = Some(ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: None,
        });
        self
    }

    fn columns(mut self, columns: Vec<Column>) -> Self {
        self.columns = columns;
        self
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group under which this resource's objects are stored: `events.k8s.io` Events
    /// are core Events.
    pub fn storage_group(&self) -> &str {
        if super::events::is_events_api(self) {
            ""
        } else {
            &self.group
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Whether the Deployment-style `.spec.selector` is the scale selector.
    pub fn is_workload(&self) -> bool {
        self.group == "apps" && (self.plural == "deployments" || self.plural == "statefulsets")
    }
}

fn age() -> Column {
    Column::new("Age", "date", ".metadata.creationTimestamp")
}

/// The built-in kinds.
pub fn builtins() -> Vec<ResourceDef> {
    vec![
        ResourceDef::builtin("", "v1", "namespaces", "Namespace", false)
            .short(&["ns"])
            .with_status()
            .columns(vec![
                Column::new("Status", "string", ".status.phase"),
                age(),
            ]),
        ResourceDef::builtin("", "v1", "pods", "Pod", true)
            .short(&["po"])
            .with_status()
            .in_all()
            .columns(vec![
                Column::new("Status", "string", ".status.phase"),
                age(),
            ]),
        ResourceDef::builtin("", "v1", "events", "Event", true).short(&["ev"]),
        ResourceDef::builtin("", "v1", "serviceaccounts", "ServiceAccount", true).short(&["sa"]),
        ResourceDef::builtin("", "v1", "services", "Service", true)
            .short(&["svc"])
            .with_status()
            .in_all()
            .columns(vec![
                Column::new("Type", "string", ".spec.type"),
                Column::new("Cluster-IP", "string", ".spec.clusterIP"),
                age(),
            ]),
        ResourceDef::builtin("", "v1", "configmaps", "ConfigMap", true).short(&["cm"]),
        // Stored as sent: `data` must already be base64 (no `stringData` conversion).
        ResourceDef::builtin("", "v1", "secrets", "Secret", true),
        ResourceDef::builtin("apps", "v1", "deployments", "Deployment", true)
            .short(&["deploy"])
            .with_status()
            .workload_scale()
            .in_all()
            .columns(vec![
                Column::new("Replicas", "integer", ".spec.replicas"),
                Column::new("Ready", "integer", ".status.readyReplicas"),
                Column::new("Available", "integer", ".status.availableReplicas"),
                age(),
            ]),
        ResourceDef::builtin("apps", "v1", "statefulsets", "StatefulSet", true)
            .short(&["sts"])
            .with_status()
            .workload_scale()
            .in_all()
            .columns(vec![
                Column::new("Replicas", "integer", ".spec.replicas"),
                Column::new("Ready", "integer", ".status.readyReplicas"),
                age(),
            ]),
        ResourceDef::builtin(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
        )
        .short(&["hpa"])
        .with_status()
        .in_all()
        .columns(vec![
            Column::new("Reference", "string", ".spec.scaleTargetRef.name"),
            Column::new("MinPods", "integer", ".spec.minReplicas"),
            Column::new("MaxPods", "integer", ".spec.maxReplicas"),
            Column::new("Replicas", "integer", ".status.currentReplicas"),
            age(),
        ]),
        ResourceDef::builtin("events.k8s.io", "v1", "events", "Event", true).short(&["ev"]),
        ResourceDef::builtin(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
        )
        .short(&["pdb"])
        .with_status(),
        ResourceDef::builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            false,
        ),
        ResourceDef::builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
        ),
        ResourceDef::builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
        ResourceDef::builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            true,
        ),
        ResourceDef::builtin("coordination.k8s.io", "v1", "leases", "Lease", true).columns(vec![
            Column::new("Holder", "string", ".spec.holderIdentity"),
            age(),
        ]),
        ResourceDef::builtin(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
        )
        .short(&["crd", "crds"])
        .with_status()
        .columns(vec![Column::new(
            "Created At",
            "string",
            ".metadata.creationTimestamp",
        )]),
    ]
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn strings_at(value: &Value, pointer: &str) -> Vec<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The resources a CRD serves, one per served version; 422 when the CRD is malformed.
pub fn from_crd(crd: &Value) -> Result<Vec<ResourceDef>, ApiError> {
    let name = str_at(crd, "/metadata/name")
        .unwrap_or_default()
        .to_string();
    let required = |pointer: &str| {
        str_at(crd, pointer)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: \
                     {}: Required value",
                    pointer.trim_start_matches('/').replace('/', ".")
                ))
            })
    };
    let group = required("/spec/group")?;
    let plural = required("/spec/names/plural")?;
    let kind = required("/spec/names/kind")?;
    if name != format!("{plural}.{group}") {
        return Err(ApiError::invalid(format!(
            "CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: metadata.name: \
             Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
        )));
    }
    let singular = str_at(crd, "/spec/names/singular")
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let namespaced = str_at(crd, "/spec/scope").unwrap_or("Namespaced") == "Namespaced";
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: \
                 spec.versions: Required value"
            ))
        })?;
    let mut defs = Vec::new();
    for version in versions {
        if version.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let Some(version_name) = version.get("name").and_then(Value::as_str) else {
            return Err(ApiError::invalid(format!(
                "CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: \
                 spec.versions.name: Required value"
            )));
        };
        let subresources = version.get("subresources").cloned().unwrap_or(json!({}));
        let scale = subresources.get("scale").map(|s| ScalePaths {
            spec_replicas: s["specReplicasPath"]
                .as_str()
                .unwrap_or(".spec.replicas")
                .into(),
            status_replicas: s["statusReplicasPath"]
                .as_str()
                .unwrap_or(".status.replicas")
                .into(),
            label_selector: s["labelSelectorPath"].as_str().map(str::to_string),
        });
        let columns = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| Column {
                        name: c["name"].as_str().unwrap_or_default().into(),
                        kind: c["type"].as_str().unwrap_or("string").into(),
                        format: c["format"].as_str().unwrap_or_default().into(),
                        description: c["description"].as_str().unwrap_or_default().into(),
                        json_path: c["jsonPath"].as_str().unwrap_or_default().into(),
                        priority: c["priority"].as_i64().unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_else(|| vec![age()]);
        defs.push(ResourceDef {
            group: group.clone(),
            version: version_name.into(),
            plural: plural.clone(),
            singular: singular.clone(),
            kind: kind.clone(),
            namespaced,
            short_names: strings_at(crd, "/spec/names/shortNames"),
            categories: strings_at(crd, "/spec/names/categories"),
            status: subresources.get("status").is_some(),
            scale,
            columns,
            schema: version
                .pointer("/schema/openAPIV3Schema")
                .cloned()
                .map(Arc::new),
            crd: Some(name.clone()),
            storage: version.get("storage").and_then(Value::as_bool) == Some(true),
        });
    }
    Ok(defs)
}
