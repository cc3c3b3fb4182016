//! A Kubernetes API server emulator for tests: plain HTTP on 127.0.0.1 (random port), an
//! in-memory store, and a kubeconfig file for itself that both kube-rs and the real
//! `kubectl` accept. [`Emulator::start`] starts it; dropping the [`Emulator`] stops it.
//!
//! # What it emulates
//!
//! - **Discovery**: `/version` (v1.33.0), `/api`, `/apis`, `/apis/<group>`, and the
//!   resource lists of each group/version with verbs, `namespaced`, short names,
//!   categories and the `status`/`scale` subresources. Only the legacy (unaggregated)
//!   format is served; clients asking for aggregated discovery fall back to it.
//! - **OpenAPI**: `/openapi/v3` and one document per group/version, holding a schema per
//!   kind (a CRD's own schema, an open `object` for built-ins) and a PATCH operation per
//!   resource that declares `fieldValidation`. That tells `kubectl apply` and
//!   `kubectl explain` what they need. `/openapi/v2` (JSON) has the same schemas.
//! - **Built-in kinds**: `v1` namespaces, pods, events, serviceaccounts, services (status),
//!   configmaps; `apps/v1` deployments and statefulsets (status and scale subresources);
//!   `autoscaling/v2` horizontalpodautoscalers (status); `events.k8s.io/v1` events;
//!   `policy/v1` poddisruptionbudgets (status); `rbac.authorization.k8s.io/v1`
//!   clusterroles, clusterrolebindings, roles and rolebindings (stored, never enforced);
//!   `coordination.k8s.io/v1` leases; `apiextensions.k8s.io/v1` customresourcedefinitions.
//!   The namespaces `default`, `kube-system`, `kube-public` and `kube-node-lease` exist.
//! - **Events**: `v1` and `events.k8s.io/v1` `events` are one store (kept in the core
//!   form), converted on every read, write and watch event as the real server converts
//!   them: `regarding` ↔ `involvedObject`, `note` ↔ `message`, `reportingController` ↔
//!   `reportingComponent`, `deprecatedSource` ↔ `source`, `deprecatedFirstTimestamp`,
//!   `deprecatedLastTimestamp`, `deprecatedCount` ↔ `firstTimestamp`, `lastTimestamp`,
//!   `count`; `eventTime`, `series`, `related`, `reason`, `type`, `action` and
//!   `reportingInstance` keep their names. So what kube-rs's `Recorder` publishes is
//!   what `kubectl describe` lists.
//! - **CRDs**: creating one serves each served version of its resource at once (scope,
//!   short names, categories, status and scale subresources); updating it re-reads them
//!   and deleting it stops serving them and deletes their objects. Schema `default`s are
//!   applied on every write.
//! - **Tables**: `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` renders lists,
//!   gets and watch events as `meta.k8s.io/v1` `Table`s with NAME plus the printer
//!   columns (a CRD's `additionalPrinterColumns`; a few fixed ones for built-ins), a
//!   `date` column rendered as an age (`5m`, `3d2h`), and `includeObject` honoured. The
//!   column JSONPath subset: `.a.b`, `.a[0]`, `.a[*].b`, `.a[?(@.k=="v")].b` (`==`, `!=`).
//!   `as=PartialObjectMetadata` (and `...List`) returns the metadata only.
//! - **Reads**: get (404 with a `Status` body); list with `labelSelector` (`=`, `==`,
//!   `!=`, `in`, `notin`, `key`, `!key`) and `fieldSelector` (`=`, `==`, `!=`) on
//!   `metadata.name` and `metadata.namespace`, and on core Events also
//!   `involvedObject.{kind,namespace,name,uid,apiVersion,resourceVersion,fieldPath}`,
//!   `reason`, `type`, `reportingComponent` and `source` (`source.component`, else
//!   `reportingComponent`), on `events.k8s.io` Events `regarding.*`, `reason`, `type` and
//!   `reportingController`; watch from a resourceVersion with
//!   ADDED/MODIFIED/DELETED (an object that starts or stops matching the selectors is
//!   ADDED or DELETED), BOOKMARK every [`Options::bookmark_interval`] with
//!   `allowWatchBookmarks=true`, `sendInitialEvents=true` (ending with the
//!   `k8s.io/initial-events-end` bookmark), and `timeoutSeconds`.
//! - **Writes**: one global resourceVersion counter; create (409 AlreadyExists,
//!   `generateName`, 404 when the namespace does not exist; uid, creationTimestamp,
//!   `generation: 1`); update with optimistic concurrency (409 Conflict on a stale
//!   non-empty resourceVersion); patch as `application/merge-patch+json`,
//!   `application/json-patch+json`, `application/strategic-merge-patch+json` and
//!   `application/apply-patch+yaml` (see the divergences); delete (returns the object;
//!   finalizers hold an object with a `deletionTimestamp` until an update empties them);
//!   deletecollection with label and field selectors;
//!   `dryRun` on every write. `metadata.generation` increases when anything outside
//!   `metadata` (and `status`, for resources with a status subresource) changes. A write
//!   that changes nothing keeps the resourceVersion and sends no event.
//! - **Subresources**: `status` writes change only `.status`; writes to the main resource
//!   leave `.status` as it was (and create drops it). `scale` reads and writes
//!   `autoscaling/v1` `Scale` objects mapped to `spec.replicas`, `status.replicas` and the
//!   selector (`spec.selector.matchLabels` for workloads, `labelSelectorPath` for CRDs).
//! - **Controllers in miniature** ([`Emulator::run_workload_controller`]): Deployment and
//!   StatefulSet `status` (`replicas`, `readyReplicas`, `availableReplicas`,
//!   `updatedReplicas`, `observedGeneration`) follows `spec.replicas` after a delay.
//!   [`Emulator::run_workload_controller_with_pods`] also keeps as many pods as
//!   `spec.replicas`, labelled with `spec.selector.matchLabels`, each Ready (its `Ready`
//!   condition's `lastTransitionTime`) that delay after its `creationTimestamp`.
//! - **Faults** ([`Emulator::fail_next`], [`Emulator::add_latency`],
//!   [`Emulator::cut_watches`]) and a log of every request ([`Emulator::requests`],
//!   [`Emulator::count_requests`]).
//!
//! # Known divergences from a real API server
//!
//! - No authentication, authorization, admission, TLS or API priority and fairness; the
//!   kubeconfig user has no credentials.
//! - No validation against the schema and no CEL rules (`x-kubernetes-validations`):
//!   anything well-formed is stored. Unknown fields are not pruned.
//! - Built-in kinds get no defaulting beyond `spec.replicas: 1` for workloads and
//!   `status.phase: Active` for namespaces; objects are stored as sent (a Service gets no
//!   cluster IP, a ServiceAccount no token).
//! - Strategic merge patch is a JSON merge patch, except that `$`-directives are dropped
//!   and lists whose elements all have a `name` are merged by name (`$patch: delete`
//!   removes one). No other merge keys or patch strategies are known.
//! - Server-side apply is a JSON merge patch of the applied configuration (creating the
//!   object when missing). The field manager is recorded in `managedFields` with a
//!   `fieldsV1` listing the applied fields, but there is no ownership: no conflicts, no
//!   removal of fields a manager stops applying, lists replaced whole. Other writes do not
//!   touch `managedFields`.
//! - Every object gets `metadata.generation`, including kinds that have none (pods,
//!   namespaces). A PUT of a missing object is `404` for every kind (no create-on-update).
//! - The deprecated `/api/v1/watch/...` paths are not served; watch is `?watch=true`.
//! - List ignores `limit`/`continue` (everything in one page) and `resourceVersion`
//!   (always the current state).
//! - Watch: a too-old resourceVersion is answered (as the watch cache does) with HTTP
//!   200 and one ERROR event holding a `410 Expired` `Status`. Bookmarks carry the
//!   newest resourceVersion the stream has seen.
//! - Deleting a namespace deletes its objects at once (no `Terminating` phase).
//! - Built-in Tables have a few fixed columns (e.g. deployments: REPLICAS READY AVAILABLE
//!   AGE), not the real server's.
//! - CRD conversion is `None` only: every served version shows the same stored object
//!   with its `apiVersion` rewritten. CRD status is set to Established at once.
//! - Only one Kubernetes version's discovery (v1.33), no aggregated discovery, no
//!   WebSockets (exec, attach, port-forward, logs). Responses are always JSON, including
//!   `/openapi/v2` (a minimal document: definitions only). Protobuf request bodies (typed
//!   clients such as `kubectl create namespace` send them) are decoded only when the
//!   object is metadata alone (name, generateName, namespace, resourceVersion, labels,
//!   annotations); anything more is refused with `415`, so `kubectl create deployment`
//!   fails where `kubectl apply` works.
//! - A status write keeps everything else of the stored object, metadata included.
//! - The workload controller creates no ReplicaSets (pods only when asked to, owned by
//!   nothing) and sets no conditions on workloads, and
//!   nothing garbage-collects by `ownerReferences`. `DeleteOptions` (preconditions, propagation, grace period) are
//!   ignored.
//! - Field selectors know only `metadata.name`, `metadata.namespace` and the Event fields
//!   above; any other field gets `400 field label not supported`, also where a real
//!   server knows it (such as `status.phase` on pods).
//! - Event conversion only renames fields: nothing is defaulted or validated (a real
//!   server requires `eventTime`, `reportingController` and `reportingInstance` on an
//!   `events.k8s.io` create and serialises empty `source`/timestamps), and fields
//!   neither version has are kept.

mod controllers;
mod discovery;
mod events;
mod faults;
mod meta;
mod patch;
mod protobuf;
mod resources;
mod selectors;
mod server;
mod status;
mod store;
mod table;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;

pub use faults::RequestRecord;
pub use status::ApiError;

use server::Shared;
use store::Store;

/// Tunables of an [`Emulator`].
#[derive(Clone, Debug)]
pub struct Options {
    /// How many change events are kept for watches to resume from; older versions get
    /// `410 Gone`.
    pub history_limit: usize,
    /// How often a watch with `allowWatchBookmarks=true` gets a BOOKMARK.
    pub bookmark_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            history_limit: 1000,
            bookmark_interval: Duration::from_secs(1),
        }
    }
}

/// A running emulator; dropping it stops the server and removes its files.
pub struct Emulator {
    shared: Arc<Shared>,
    url: String,
    dir: PathBuf,
    kubeconfig: PathBuf,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Emulator {
    /// Starts an emulator with the default [`Options`] on the current Tokio runtime.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("bound address");
        let (shutdown, stopped) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(options.history_limit)),
            faults: faults::Faults::default(),
            address: address.to_string(),
            bookmark_interval: options.bookmark_interval,
            shutdown: stopped,
        });
        tokio::spawn(server::serve(listener, shared.clone()));
        let url = format!("http://{address}");
        let dir = std::env::temp_dir().join(format!(
            "kube-api-emulator-{}-{}",
            std::process::id(),
            address.port()
        ));
        std::fs::create_dir_all(&dir).expect("create the emulator's directory");
        let kubeconfig = dir.join("kubeconfig");
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster:\n    \
             server: {url}\ncontexts:\n- name: emulator\n  context:\n    cluster: emulator\n    \
             user: emulator\n    namespace: default\ncurrent-context: emulator\nusers:\n- name: \
             emulator\n  user: {{}}\npreferences: {{}}\n"
        );
        std::fs::write(&kubeconfig, config).expect("write the kubeconfig");
        Self {
            shared,
            url,
            dir,
            kubeconfig,
            shutdown,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kubeconfig whose current context points at this emulator.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kube-rs client configured from the kubeconfig file, as a real program would be,
    /// with short timeouts so that a test fails rather than hangs (a watch stays alive on
    /// its bookmarks).
    pub async fn client(&self) -> kube::Client {
        let kubeconfig =
            kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("readable kubeconfig");
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("a valid kubeconfig");
        config.connect_timeout = Some(Duration::from_secs(5));
        config.read_timeout = Some(Duration::from_secs(30));
        config.write_timeout = Some(Duration::from_secs(30));
        kube::Client::try_from(config).expect("a client for the emulator")
    }

    /// A `kubectl` command (`$KUBECTL`, else `kubectl` on `PATH`) pointed at this
    /// emulator, with a discovery cache of its own; killed when dropped.
    pub fn kubectl(&self) -> tokio::process::Command {
        let program = std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into());
        let mut command = tokio::process::Command::new(program);
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.join("cache"))
            .kill_on_drop(true);
        command
    }

    /// Fails the next `count` requests with method `method` (`*` for any) whose path
    /// contains `path_contains`, with status `code` and a `Status` body.
    pub fn fail_next(&self, method: &str, path_contains: &str, count: usize, code: u16) {
        self.shared
            .faults
            .fail_next(method, path_contains, count, code);
    }

    /// Delays every matching request by `delay`.
    pub fn add_latency(&self, method: &str, path_contains: &str, delay: Duration) {
        self.shared.faults.add_latency(method, path_contains, delay);
    }

    /// Removes every failure and latency rule.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Ends every open watch stream, as a restarting API server or a dropped connection
    /// would.
    pub fn cut_watches(&self) {
        self.shared.faults.cut_watches();
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.faults.requests()
    }

    /// How many requests so far had method `method` (`*` for any) and a path containing
    /// `path_contains`.
    pub fn count_requests(&self, method: &str, path_contains: &str) -> usize {
        self.shared.faults.count(method, path_contains)
    }

    /// Makes Deployment and StatefulSet status follow `spec.replicas` after `delay`.
    pub fn run_workload_controller(&self, delay: Duration) {
        tokio::spawn(controllers::run_workloads(
            self.shared.clone(),
            delay,
            false,
        ));
    }

    /// As [`Emulator::run_workload_controller`], with pods: each workload's pods follow
    /// `spec.replicas` at once and each new pod becomes Ready `delay` after its creation.
    pub fn run_workload_controller_with_pods(&self, delay: Duration) {
        tokio::spawn(controllers::run_workloads(self.shared.clone(), delay, true));
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store().resource_version()
    }

    /// An object straight from the store (`group` is `""` for the core group).
    pub fn object(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let store = self.shared.store();
        let def = store.storage_def(group, plural)?;
        store.get(&def, namespace, name).ok()
    }

    /// Creates an object straight in the store, keeping any `.status` it has (which a
    /// create through the API would drop), for setting up a scene.
    pub fn seed(&self, object: Value) -> Result<Value, ApiError> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let kind = object["kind"].as_str().unwrap_or_default();
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let mut store = self.shared.store();
        let def = store
            .defs()
            .iter()
            .find(|d| d.group == group && d.version == version && d.kind == kind)
            .cloned()
            .ok_or_else(|| {
                ApiError::bad_request(format!("no resource serves {api_version} {kind}"))
            })?;
        store.create(&def, &namespace, object, true)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
