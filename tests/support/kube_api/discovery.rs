//! Legacy (unaggregated) discovery documents and the minimal OpenAPI v3 documents
//! `kubectl` reads before it applies or explains.

use serde_json::{Map, Value, json};

use super::resources::ResourceDef;

/// `/version`: the Kubernetes release the emulator answers as.
pub fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn core_versions(address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": address }],
    })
}

/// The groups (other than core) in serving order, each with its versions.
fn groups(defs: &[ResourceDef]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for def in defs.iter().filter(|d| !d.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| g == &def.group) {
            Some((_, versions)) => {
                if !versions.contains(&def.version) {
                    versions.push(def.version.clone());
                }
            }
            None => groups.push((def.group.clone(), vec![def.version.clone()])),
        }
    }
    groups
}

fn group_json(group: &str, versions: &[String]) -> Value {
    let gv = |v: &String| json!({ "groupVersion": format!("{group}/{v}"), "version": v });
    json!({
        "name": group,
        "versions": versions.iter().map(gv).collect::<Vec<_>>(),
        "preferredVersion": versions.first().map(gv).unwrap_or_default(),
    })
}

/// `/apis`.
pub fn group_list(defs: &[ResourceDef]) -> Value {
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": groups(defs).iter().map(|(g, v)| group_json(g, v)).collect::<Vec<_>>(),
    })
}

/// `/apis/<group>`, or `None` when the group is not served.
pub fn group(defs: &[ResourceDef], name: &str) -> Option<Value> {
    let (group, versions) = groups(defs).into_iter().find(|(g, _)| g == name)?;
    let mut doc = group_json(&group, &versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

const VERBS: [&str; 7] = [
    "create", "delete", "get", "list", "patch", "update", "watch",
];
const SUB_VERBS: [&str; 3] = ["get", "patch", "update"];

/// `/api/v1` or `/apis/<group>/<version>`, or `None` when nothing is served there.
pub fn resource_list(defs: &[ResourceDef], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceDef> = defs
        .iter()
        .filter(|d| d.group == group && d.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for def in served {
        let mut main = json!({
            "name": def.plural, "singularName": def.singular, "namespaced": def.namespaced,
            "kind": def.kind, "verbs": VERBS,
        });
        if !def.short_names.is_empty() {
            main["shortNames"] = json!(def.short_names);
        }
        if !def.categories.is_empty() {
            main["categories"] = json!(def.categories);
        }
        resources.push(main);
        if def.status {
            resources.push(json!({
                "name": format!("{}/status", def.plural), "singularName": "",
                "namespaced": def.namespaced, "kind": def.kind, "verbs": SUB_VERBS,
            }));
        }
        if def.scale.is_some() {
            resources.push(json!({
                "name": format!("{}/scale", def.plural), "singularName": "",
                "namespaced": def.namespaced, "group": "autoscaling", "version": "v1",
                "kind": "Scale", "verbs": SUB_VERBS,
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

/// `/openapi/v3`: one entry per served group/version.
pub fn openapi_root(defs: &[ResourceDef]) -> Value {
    let mut paths = Map::new();
    let mut gvs: Vec<(String, String)> = Vec::new();
    for def in defs {
        let gv = (def.group.clone(), def.version.clone());
        if !gvs.contains(&gv) {
            gvs.push(gv);
        }
    }
    for (group, version) in gvs {
        let path = if group.is_empty() {
            format!("api/{version}")
        } else {
            format!("apis/{group}/{version}")
        };
        let doc = openapi_group_version(defs, &group, version.as_str()).unwrap_or_default();
        let url = format!("/openapi/v3/{path}?hash={:016X}", fnv(&doc.to_string()));
        paths.insert(path, json!({ "serverRelativeURL": url }));
    }
    json!({ "paths": paths })
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`: a schema per kind (the
/// CRD's schema when it has one) and, per resource, a PATCH operation that declares the
/// `fieldValidation` parameter, which tells kubectl the server validates fields itself.
pub fn openapi_group_version(defs: &[ResourceDef], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceDef> = defs
        .iter()
        .filter(|d| d.group == group && d.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut schemas = Map::new();
    let mut paths = Map::new();
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let reversed_group = group.split('.').rev().collect::<Vec<_>>().join(".");
    for def in served {
        let gvk = json!({ "group": group, "version": version, "kind": def.kind });
        let mut schema = def
            .schema
            .as_deref()
            .cloned()
            .unwrap_or_else(|| json!({ "type": "object" }));
        if let Some(map) = schema.as_object_mut() {
            map.insert("x-kubernetes-group-version-kind".into(), json!([gvk]));
            map.entry("type").or_insert(json!("object"));
        }
        let schema_name = if group.is_empty() {
            format!("io.k8s.api.core.{version}.{}", def.kind)
        } else {
            format!("{reversed_group}.{version}.{}", def.kind)
        };
        schemas.insert(schema_name.clone(), schema);
        let item = if def.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", def.plural)
        } else {
            format!("{prefix}/{}/{{name}}", def.plural)
        };
        let reference = json!({ "$ref": format!("#/components/schemas/{schema_name}") });
        let response = json!({ "200": { "description": "OK", "content": {
            "application/json": { "schema": reference }
        } } });
        let query =
            |name: &str| json!({ "name": name, "in": "query", "schema": { "type": "string" } });
        paths.insert(
            item,
            json!({
                "get": {
                    "operationId": format!("read{}", def.kind),
                    "x-kubernetes-action": "get",
                    "x-kubernetes-group-version-kind": gvk,
                    "responses": response,
                },
                "patch": {
                    "operationId": format!("patch{}", def.kind),
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": [query("dryRun"), query("fieldManager"), query("fieldValidation"), query("force")],
                    "responses": response,
                },
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "v1.33.0" },
        "paths": paths,
        "components": { "schemas": schemas },
    }))
}

/// `/openapi/v2`: a Swagger 2.0 document with a definition per served kind and no paths.
pub fn openapi_v2(defs: &[ResourceDef]) -> Value {
    let mut definitions = Map::new();
    for def in defs {
        let mut schema = def
            .schema
            .as_deref()
            .cloned()
            .unwrap_or_else(|| json!({ "type": "object" }));
        if let Some(map) = schema.as_object_mut() {
            map.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{ "group": def.group, "version": def.version, "kind": def.kind }]),
            );
        }
        let group = if def.group.is_empty() {
            "core"
        } else {
            def.group.as_str()
        };
        definitions.insert(format!("{group}.{}.{}", def.version, def.kind), schema);
    }
    json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": "v1.33.0" },
        "paths": {},
        "definitions": definitions,
    })
}
