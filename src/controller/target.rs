//! The scale target: finding it through discovery, reading and writing its `/scale`
//! subresource, and the HorizontalPodAutoscalers that point at it.

use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;

use crate::policy::TargetRef;

/// The field manager prescaler writes with.
pub const FIELD_MANAGER: &str = "prescaler";

/// Why the target could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The kind is not served by the API server.
    #[error(
        "spec.targetRef: the API server serves no kind {kind} in {api_version}; check apiVersion and kind (e.g. apps/v1 Deployment)"
    )]
    UnknownKind {
        /// apiVersion.
        api_version: String,
        /// kind.
        kind: String,
    },
    /// The kind has no `/scale` subresource.
    #[error(
        "spec.targetRef: {kind} in {api_version} has no /scale subresource, so it cannot be scaled; target a Deployment, StatefulSet, ReplicaSet or a custom resource with a scale subresource"
    )]
    NotScalable {
        /// apiVersion.
        api_version: String,
        /// kind.
        kind: String,
    },
    /// The object does not exist.
    #[error(
        "spec.targetRef: {kind} {namespace}/{name} not found; create it or fix spec.targetRef.name"
    )]
    NotFound {
        /// kind.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// The operator's service account may not read the target's `/scale`.
    #[error(
        "spec.targetRef: the operator may not {verb} {resource}/scale of {kind} {namespace}/{name} (403 Forbidden); grant it with the chart value rbac.scaleTargets (apiGroups: [\"{group}\"], resources: [{resource}]), or a Role allowing get, patch and update on {resource}/scale"
    )]
    Forbidden {
        /// The verb refused.
        verb: &'static str,
        /// The API group.
        group: String,
        /// The resource (plural).
        resource: String,
        /// kind.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Any other API failure (retried).
    #[error("reading {what}: {source}")]
    Api {
        /// What was being read or written.
        what: String,
        /// The failure.
        #[source]
        source: kube::Error,
    },
}

impl TargetError {
    /// The CamelCase reason for conditions and Events.
    pub fn reason(&self) -> &'static str {
        match self {
            TargetError::UnknownKind { .. } | TargetError::NotScalable { .. } => {
                "TargetNotScalable"
            }
            TargetError::NotFound { .. } => "TargetNotFound",
            TargetError::Forbidden { .. } => "TargetForbidden",
            TargetError::Api { .. } => "TargetUnreadable",
        }
    }

    /// True for failures the user has to fix (not retried quickly).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, TargetError::Api { .. })
    }
}

/// The target's `/scale` as prescaler uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleView {
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.replicas`: pods the workload controller reports.
    pub observed: i32,
    /// `status.selector`: the label selector of its pods.
    pub selector: String,
}

/// Splits `group/version` (or a bare `v1`) into group and version.
pub fn group_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// Finds the API resource for a target through discovery and checks it can be scaled.
pub async fn resolve(
    client: &kube::Client,
    target: &TargetRef,
) -> Result<ApiResource, TargetError> {
    let (group, version) = group_version(&target.api_version);
    let gvk = GroupVersionKind::gvk(group, version, &target.kind);
    let unknown = || TargetError::UnknownKind {
        api_version: target.api_version.clone(),
        kind: target.kind.clone(),
    };
    let (resource, caps) = match kube::discovery::pinned_kind(client, &gvk).await {
        Ok(found) => found,
        Err(kube::Error::Api(e)) if e.code == 404 => return Err(unknown()),
        Err(kube::Error::Discovery(_)) => return Err(unknown()),
        Err(source) => {
            return Err(TargetError::Api {
                what: format!("API discovery for {}", target.api_version),
                source,
            });
        }
    };
    if !caps
        .subresources
        .iter()
        .any(|(sub, _)| sub.plural == "scale")
    {
        return Err(TargetError::NotScalable {
            api_version: target.api_version.clone(),
            kind: target.kind.clone(),
        });
    }
    Ok(resource)
}

/// Merge patches recorded under the `prescaler` field manager.
fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}

fn scale_api(client: &kube::Client, resource: &ApiResource, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, resource)
}

/// Reads the target's `/scale`.
pub async fn read_scale(
    client: &kube::Client,
    resource: &ApiResource,
    namespace: &str,
    target: &TargetRef,
) -> Result<ScaleView, TargetError> {
    let scale: Scale = match scale_api(client, resource, namespace)
        .get_scale(&target.name)
        .await
    {
        Ok(scale) => scale,
        Err(kube::Error::Api(e)) if e.code == 404 => {
            return Err(TargetError::NotFound {
                kind: target.kind.clone(),
                namespace: namespace.to_string(),
                name: target.name.clone(),
            });
        }
        Err(kube::Error::Api(e)) if e.code == 403 => {
            return Err(TargetError::Forbidden {
                verb: "get",
                group: resource.group.clone(),
                resource: resource.plural.clone(),
                kind: target.kind.clone(),
                namespace: namespace.to_string(),
                name: target.name.clone(),
            });
        }
        Err(source) => {
            return Err(TargetError::Api {
                what: format!("the /scale of {} {namespace}/{}", target.kind, target.name),
                source,
            });
        }
    };
    let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
    let (observed, selector) = scale
        .status
        .map(|s| (s.replicas, s.selector.unwrap_or_default()))
        .unwrap_or((replicas, String::new()));
    Ok(ScaleView {
        replicas,
        observed,
        selector,
    })
}

/// Sets the target's replicas through `/scale`, as field manager `prescaler`.
pub async fn write_scale(
    client: &kube::Client,
    resource: &ApiResource,
    namespace: &str,
    target: &TargetRef,
    replicas: i32,
) -> Result<(), TargetError> {
    let patch = serde_json::json!({ "spec": { "replicas": replicas } });
    scale_api(client, resource, namespace)
        .patch_scale(&target.name, &patch_params(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|source| match source {
            kube::Error::Api(e) if e.code == 403 => TargetError::Forbidden {
                verb: "patch",
                group: resource.group.clone(),
                resource: resource.plural.clone(),
                kind: target.kind.clone(),
                namespace: namespace.to_string(),
                name: target.name.clone(),
            },
            source => TargetError::Api {
                what: format!("the /scale of {} {namespace}/{}", target.kind, target.name),
                source,
            },
        })
}

/// The HPAs among `hpas` in `namespace` whose `scaleTargetRef` is the target.
pub fn matching_hpas<'a>(
    hpas: impl IntoIterator<Item = &'a HorizontalPodAutoscaler>,
    namespace: &str,
    target: &TargetRef,
) -> Vec<HorizontalPodAutoscaler> {
    let (group, _) = group_version(&target.api_version);
    hpas.into_iter()
        .filter(|hpa| {
            let Some(spec) = hpa.spec.as_ref() else {
                return false;
            };
            let r = &spec.scale_target_ref;
            let hpa_group = r.api_version.as_deref().map_or("", |v| group_version(v).0);
            hpa.metadata.namespace.as_deref() == Some(namespace)
                && r.kind == target.kind
                && r.name == target.name
                && hpa_group == group
        })
        .cloned()
        .collect()
}

/// On an HPA whose floor a policy raised: the policy's name.
pub const FLOOR_OF_ANNOTATION: &str = "autoscaling.prescaler.io/floor-of";

/// On an HPA whose floor a policy raised: the `minReplicas` it had before, put back when the
/// policy stops setting it (its mode changes, or it is deleted).
pub const ORIGINAL_MIN_ANNOTATION: &str = "autoscaling.prescaler.io/original-min-replicas";

/// The policy that raised this HPA's floor and the HPA's own `minReplicas`, if any.
pub fn floor_owner(hpa: &HorizontalPodAutoscaler) -> Option<(String, i32)> {
    let annotations = hpa.metadata.annotations.as_ref()?;
    let policy = annotations.get(FLOOR_OF_ANNOTATION)?;
    let original = annotations.get(ORIGINAL_MIN_ANNOTATION)?.parse().ok()?;
    Some((policy.clone(), original))
}

/// Sets an HPA's `minReplicas`; with `keep`, also records on it which policy did so and the
/// `minReplicas` it had before.
pub async fn write_hpa_floor(
    client: &kube::Client,
    namespace: &str,
    hpa: &str,
    min_replicas: i32,
    keep: Option<(&str, i32)>,
) -> Result<(), kube::Error> {
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), namespace);
    let mut patch = serde_json::json!({ "spec": { "minReplicas": min_replicas } });
    if let Some((policy, original)) = keep {
        patch["metadata"] = serde_json::json!({ "annotations": {
            FLOOR_OF_ANNOTATION: policy,
            ORIGINAL_MIN_ANNOTATION: original.to_string(),
        }});
    }
    api.patch(hpa, &patch_params(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

/// Puts an HPA's own `minReplicas` back and removes prescaler's annotations from it.
pub async fn restore_hpa_floor(
    client: &kube::Client,
    namespace: &str,
    hpa: &str,
    min_replicas: i32,
) -> Result<(), kube::Error> {
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), namespace);
    let patch = serde_json::json!({
        "metadata": { "annotations": { FLOOR_OF_ANNOTATION: null, ORIGINAL_MIN_ANNOTATION: null } },
        "spec": { "minReplicas": min_replicas },
    });
    api.patch(hpa, &patch_params(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
}
