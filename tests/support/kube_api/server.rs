//! The HTTP side: connection handling, fault hooks, routing and the verbs.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::discovery;
use super::faults::{Faults, RequestRecord};
use super::meta::{self, get_path, meta_str};
use super::patch::{self, PatchKind};
use super::resources::ResourceDef;
use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{Part, Store};
use super::table::{self, Format};

pub type Body = BoxBody<Bytes, Infallible>;

/// What the server and the test share.
pub struct Shared {
    pub store: Mutex<Store>,
    pub faults: Faults,
    pub address: String,
    pub bookmark_interval: Duration,
    pub shutdown: watch::Receiver<bool>,
}

impl Shared {
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Accepts connections until `shutdown` changes.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let Ok((stream, _)) = accepted else { continue };
        let shared = shared.clone();
        let mut stop = shared.shutdown.clone();
        tokio::spawn(async move {
            let handler = shared.clone();
            let service = service_fn(move |req| handle(handler.clone(), req));
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = stop.changed() => {}
            }
        });
    }
}

fn full(status: u16, value: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())).boxed());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        CONTENT_TYPE,
        "application/json".parse().expect("static header"),
    );
    response
}

fn error(e: &ApiError) -> Response<Body> {
    full(e.code, &e.to_status())
}

fn not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// A parsed request.
struct Call {
    method: String,
    segments: Vec<String>,
    params: HashMap<String, String>,
    content_type: String,
    accept: String,
    body: Bytes,
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Body>, Infallible> {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (content_type, accept) = (header(CONTENT_TYPE), header(ACCEPT));
    let (delay, fail) = shared.faults.on_request(&method, &path);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let response = match fail {
        Some(code) => error(&ApiError::for_code(
            code,
            format!("injected fault for {method} {path}"),
        )),
        None => {
            let body = match request.into_body().collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    return Ok(error(&ApiError::bad_request(format!(
                        "reading the body: {e}"
                    ))));
                }
            };
            let call = Call {
                method: method.clone(),
                segments: path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                params: form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .collect(),
                content_type: content_type.clone(),
                accept,
                body,
            };
            route(&shared, call).unwrap_or_else(|e| error(&e))
        }
    };
    shared.faults.log(RequestRecord {
        method,
        path,
        query,
        content_type,
        status: response.status().as_u16(),
    });
    Ok(response)
}

/// What a resource path names.
struct Target {
    def: ResourceDef,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn route(shared: &Arc<Shared>, call: Call) -> Result<Response<Body>, ApiError> {
    let segs: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    let get = call.method == "GET";
    let (group, version, rest) = match segs.as_slice() {
        ["version"] if get => return Ok(full(200, &discovery::version())),
        ["healthz" | "readyz" | "livez"] if get => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"ok")).boxed());
            r.headers_mut()
                .insert(CONTENT_TYPE, "text/plain".parse().expect("static header"));
            return Ok(r);
        }
        ["api"] if get => return Ok(full(200, &discovery::core_versions(&shared.address))),
        ["apis"] if get => return Ok(full(200, &discovery::group_list(shared.store().defs()))),
        ["apis", group] if get => {
            let doc = discovery::group(shared.store().defs(), group).ok_or_else(not_found)?;
            return Ok(full(200, &doc));
        }
        ["openapi", "v2"] if get => {
            return Ok(full(200, &discovery::openapi_v2(shared.store().defs())));
        }
        ["openapi", "v3"] if get => {
            return Ok(full(200, &discovery::openapi_root(shared.store().defs())));
        }
        ["openapi", "v3", "api", version] if get => {
            let doc = discovery::openapi_group_version(shared.store().defs(), "", version);
            return Ok(full(200, &doc.ok_or_else(not_found)?));
        }
        ["openapi", "v3", "apis", group, version] if get => {
            let doc = discovery::openapi_group_version(shared.store().defs(), group, version);
            return Ok(full(200, &doc.ok_or_else(not_found)?));
        }
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(not_found()),
    };
    if rest.is_empty() {
        if !get {
            return Err(ApiError::method_not_allowed("discovery is read-only"));
        }
        let doc = discovery::resource_list(shared.store().defs(), group, version);
        return Ok(full(200, &doc.ok_or_else(not_found)?));
    }
    let target = resolve(shared, group, version, rest)?;
    verb(shared, &call, target)
}

fn resolve(shared: &Shared, group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let store = shared.store();
    let lookup = |plural: &str| store.def(group, version, plural);
    let text = |s: Option<&&str>| s.map(|s| s.to_string());
    if let ["namespaces", ns, plural, tail @ ..] = rest
        && let Some(def) = lookup(plural).filter(|d| d.namespaced)
        && tail.len() <= 2
    {
        return Ok(Target {
            def,
            namespace: Some(ns.to_string()),
            name: text(tail.first()),
            sub: text(tail.get(1)),
        });
    }
    let [plural, tail @ ..] = rest else {
        return Err(not_found());
    };
    let def = lookup(plural).ok_or_else(not_found)?;
    if tail.len() > 2 || (def.namespaced && !tail.is_empty()) {
        return Err(not_found());
    }
    Ok(Target {
        def,
        namespace: None,
        name: text(tail.first()),
        sub: text(tail.get(1)),
    })
}

/// A create or update body: JSON, YAML, or (metadata only) protobuf.
fn parse_object(call: &Call) -> Result<Value, ApiError> {
    if call
        .content_type
        .starts_with("application/vnd.kubernetes.protobuf")
    {
        return super::protobuf::decode(&call.body);
    }
    parse_json(&call.body)
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).or_else(|json_error| {
        serde_norway::from_slice(body).map_err(|_| {
            ApiError::bad_request(format!("the request body is not valid JSON: {json_error}"))
        })
    })
}

fn format(call: &Call) -> Result<Format, ApiError> {
    Format::negotiate(
        &call.accept,
        call.params.get("includeObject").map(String::as_str),
    )
}

fn verb(shared: &Arc<Shared>, call: &Call, target: Target) -> Result<Response<Body>, ApiError> {
    let Target {
        def,
        namespace,
        name,
        sub,
    } = target;
    let ns = namespace.clone().unwrap_or_default();
    let dry_run = call.params.contains_key("dryRun");
    match (call.method.as_str(), name, sub.as_deref()) {
        ("GET", None, _) => {
            let format = format(call)?;
            let watching = call
                .params
                .get("watch")
                .is_some_and(|w| w == "true" || w == "1");
            if watching {
                let body = super::watch::start(shared, def, namespace, &call.params, format)?;
                let mut response = Response::new(body);
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, "application/json".parse().expect("static"));
                return Ok(response);
            }
            let param = |k: &str| call.params.get(k).map_or("", String::as_str);
            let labels = LabelSelector::parse(param("labelSelector"))?;
            let fields = FieldSelector::parse(&def, param("fieldSelector"))?;
            let store = shared.store();
            let items = store.list(&def, namespace.as_deref(), &labels, &fields);
            let rv = store.resource_version().to_string();
            drop(store);
            let body = match format {
                Format::Table(include) => table::table(&def, &items, include, &rv, true),
                Format::Metadata => json!({
                    "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                    "metadata": { "resourceVersion": rv },
                    "items": items.iter().map(table::partial).collect::<Vec<_>>(),
                }),
                Format::Object => json!({
                    "kind": def.list_kind(), "apiVersion": def.api_version(),
                    "metadata": { "resourceVersion": rv }, "items": items,
                }),
            };
            Ok(full(200, &body))
        }
        ("GET", Some(name), sub) => {
            let store = shared.store();
            let object = store.get(&def, &ns, &name)?;
            match sub {
                None | Some("status") => match format(call)? {
                    Format::Table(include) => {
                        let rv = meta_str(&object, "resourceVersion").unwrap_or_default();
                        let one = std::slice::from_ref(&object);
                        Ok(full(200, &table::table(&def, one, include, rv, true)))
                    }
                    Format::Metadata => Ok(full(200, &table::partial(&object))),
                    Format::Object => Ok(full(200, &object)),
                },
                Some("scale") => Ok(full(200, &scale_of(&def, &object)?)),
                Some(_) => Err(not_found()),
            }
        }
        ("POST", None, None) => {
            if def.namespaced && namespace.is_none() {
                return Err(ApiError::method_not_allowed(
                    "create a namespaced object under /namespaces/<namespace>/",
                ));
            }
            let object = parse_object(call)?;
            let mut store = shared.store();
            let created =
                with_dry_run(&mut store, dry_run, |s| s.create(&def, &ns, object, false))?;
            Ok(full(201, &created))
        }
        ("PUT", Some(name), sub) => {
            let candidate = parse_object(call)?;
            let mut store = shared.store();
            let result = with_dry_run(&mut store, dry_run, |s| match sub {
                None => s.update(&def, &ns, &name, candidate, Part::Main),
                Some("status") if def.status => s.update(&def, &ns, &name, candidate, Part::Status),
                Some("scale") if def.scale.is_some() => {
                    write_scale(s, &def, &ns, &name, &candidate)
                }
                Some(_) => Err(not_found()),
            })?;
            Ok(full(200, &result))
        }
        ("PATCH", Some(name), sub) => {
            let kind = PatchKind::from_content_type(&call.content_type)?;
            let body = patch::parse_body(kind, &call.body)?;
            let manager = call.params.get("fieldManager").cloned();
            if kind == PatchKind::Apply && manager.as_deref().is_none_or(str::is_empty) {
                return Err(ApiError::invalid(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: \
                     is required for apply patch",
                ));
            }
            let mut store = shared.store();
            let (result, created) = with_dry_run(&mut store, dry_run, |s| {
                patch_object(s, &def, &ns, &name, sub, kind, &body, manager.as_deref())
            })?;
            Ok(full(if created { 201 } else { 200 }, &result))
        }
        ("DELETE", Some(name), None) => {
            let mut store = shared.store();
            let deleted = with_dry_run(&mut store, dry_run, |s| s.delete(&def, &ns, &name))?;
            Ok(full(200, &deleted))
        }
        ("DELETE", None, None) => {
            if def.namespaced && namespace.is_none() {
                return Err(ApiError::method_not_allowed(
                    "delete a collection of namespaced objects under /namespaces/<namespace>/",
                ));
            }
            let param = |k: &str| call.params.get(k).map_or("", String::as_str);
            let labels = LabelSelector::parse(param("labelSelector"))?;
            let fields = FieldSelector::parse(&def, param("fieldSelector"))?;
            let mut store = shared.store();
            let deleted = with_dry_run(&mut store, dry_run, |s| {
                let doomed = s.list(&def, namespace.as_deref(), &labels, &fields);
                let mut deleted = Vec::new();
                for object in doomed {
                    let name = meta_str(&object, "name").unwrap_or_default().to_string();
                    deleted.push(s.delete(&def, &ns, &name)?);
                }
                Ok(deleted)
            })?;
            let rv = store.resource_version().to_string();
            Ok(full(
                200,
                &json!({
                    "kind": def.list_kind(), "apiVersion": def.api_version(),
                    "metadata": { "resourceVersion": rv }, "items": deleted,
                }),
            ))
        }
        (method, _, _) => Err(ApiError::method_not_allowed(format!(
            "{method} is not supported on this path"
        ))),
    }
}

/// Runs a write on a copy of the store when `dry_run`, so nothing is persisted.
fn with_dry_run<T>(
    store: &mut Store,
    dry_run: bool,
    write: impl FnOnce(&mut Store) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    if dry_run {
        write(&mut store.scratch_copy())
    } else {
        write(store)
    }
}

#[allow(clippy::too_many_arguments)]
fn patch_object(
    store: &mut Store,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    kind: PatchKind,
    body: &Value,
    manager: Option<&str>,
) -> Result<(Value, bool), ApiError> {
    let current = match store.get(def, ns, name) {
        Ok(current) => current,
        Err(e) if e.code == 404 && kind == PatchKind::Apply && sub.is_none() => {
            let mut object = body.clone();
            if meta_str(&object, "name").is_some_and(|n| n != name) {
                return Err(ApiError::bad_request(
                    "the name of the object does not match the name on the URL",
                ));
            }
            if let Some(meta) = meta::metadata_mut(&mut object) {
                meta.insert("name".into(), json!(name));
            }
            record_apply(def, &mut object, body, manager);
            return Ok((store.create(def, ns, object, false)?, true));
        }
        Err(e) => return Err(e),
    };
    let result = match sub {
        None => {
            let mut new = patch::apply(kind, &current, body)?;
            if kind == PatchKind::Apply {
                record_apply(def, &mut new, body, manager);
            }
            store.update(def, ns, name, new, Part::Main)?
        }
        Some("status") if def.status => {
            let new = patch::apply(kind, &current, body)?;
            store.update(def, ns, name, new, Part::Status)?
        }
        Some("scale") if def.scale.is_some() => {
            let scale = scale_of(def, &current)?;
            let new = patch::apply(kind, &scale, body)?;
            write_scale(store, def, ns, name, &new)?
        }
        Some(_) => return Err(not_found()),
    };
    Ok((result, false))
}

/// Records `manager` as the applier of `applied`'s fields in `metadata.managedFields`.
fn record_apply(def: &ResourceDef, object: &mut Value, applied: &Value, manager: Option<&str>) {
    let manager = manager.unwrap_or_default();
    let entry = json!({
        "manager": manager, "operation": "Apply", "apiVersion": def.api_version(),
        "time": meta::now_rfc3339(), "fieldsType": "FieldsV1",
        "fieldsV1": patch::fields_v1(applied),
    });
    let Some(meta) = meta::metadata_mut(object) else {
        return;
    };
    let mut fields: Vec<Value> = meta
        .get("managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    fields.retain(|f| !(f["manager"] == json!(manager) && f["operation"] == json!("Apply")));
    fields.push(entry);
    meta.insert("managedFields".into(), Value::Array(fields));
}

/// The `autoscaling/v1` `Scale` view of an object.
fn scale_of(def: &ResourceDef, object: &Value) -> Result<Value, ApiError> {
    let paths = def.scale.as_ref().ok_or_else(not_found)?;
    let selector = if def.is_workload() {
        object
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
    } else {
        paths
            .label_selector
            .as_deref()
            .and_then(|p| get_path(object, p))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let metadata = object.get("metadata").cloned().unwrap_or_default();
    let pick = |k: &str| metadata.get(k).cloned().unwrap_or(Value::Null);
    let mut scale = json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": pick("name"), "namespace": pick("namespace"), "uid": pick("uid"),
            "resourceVersion": pick("resourceVersion"),
            "creationTimestamp": pick("creationTimestamp"),
        },
        "spec": {},
        "status": {
            "replicas": get_path(object, &paths.status_replicas).cloned().unwrap_or(json!(0)),
        },
    });
    if let Some(replicas) = get_path(object, &paths.spec_replicas) {
        scale["spec"]["replicas"] = replicas.clone();
    }
    if let Some(selector) = selector {
        scale["status"]["selector"] = json!(selector);
    }
    if !def.namespaced
        && let Some(meta) = scale["metadata"].as_object_mut()
    {
        meta.remove("namespace");
    }
    Ok(scale)
}

/// Writes a `Scale`'s `spec.replicas` into the object and returns the new `Scale`.
fn write_scale(
    store: &mut Store,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    scale: &Value,
) -> Result<Value, ApiError> {
    let paths = def.scale.clone().ok_or_else(not_found)?;
    let current = store.get(def, ns, name)?;
    if let Some(rv) = meta_str(scale, "resourceVersion")
        && !rv.is_empty()
        && Some(rv) != meta_str(&current, "resourceVersion")
    {
        return Err(ApiError::conflict(&def.group, &def.plural, name));
    }
    let replicas = scale
        .pointer("/spec/replicas")
        .map(|r| r.as_i64().filter(|n| (0..=i64::from(i32::MAX)).contains(n)))
        .unwrap_or(Some(0))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: must be \
                 a non-negative integer"
            ))
        })?;
    let mut new = current;
    meta::set_path(&mut new, &paths.spec_replicas, json!(replicas));
    let updated = store.update(def, ns, name, new, Part::Main)?;
    scale_of(def, &updated)
}
