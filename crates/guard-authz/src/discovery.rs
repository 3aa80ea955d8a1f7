//! Resource discovery (`--azure.discover-resources`): the cluster's API
//! resources (what `kubectl api-resources` lists, read from the API server
//! through `--azure.kubeconfig-file` or the pod's service account) joined
//! with ARM's operations list for the cluster's resource type, into the
//! [`Operations`] map that wildcard requests and the custom-resource check
//! use. Read at start-up (retried until it works; `/readyz` fails until
//! then) and again every `--azure.discover-resources-frequency`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use guard_providers::http::send;
use reqwest::Url;
use serde::Deserialize;

use crate::actions::{self, CORE, Operations};
use crate::arm::Arm;
use crate::metrics::AuthzMetrics;
use crate::options::AuthzMode;

/// The pod's service account files.
const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Longest wait between two attempts before the first success.
const MAX_RETRY: Duration = Duration::from_secs(60);
/// Most ARM operations pages followed.
const MAX_PAGES: usize = 20;

/// How guard reaches the API server for discovery.
pub struct ApiServer {
    base: Url,
    client: reqwest::Client,
    credential: Credential,
}

enum Credential {
    None,
    Token(String),
    TokenFile(PathBuf),
}

/// Why the API server cannot be reached as configured.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ApiServerError(String);

impl ApiServer {
    /// From a kubeconfig file (its current context), or, without one, the
    /// pod's service account (`KUBERNETES_SERVICE_HOST`, the mounted token
    /// and CA).
    pub fn from_config(kubeconfig: Option<&Path>) -> Result<Self, ApiServerError> {
        match kubeconfig {
            Some(path) => Self::from_kubeconfig(path),
            None => Self::in_cluster(),
        }
    }

    fn in_cluster() -> Result<Self, ApiServerError> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| {
            ApiServerError(
                "--azure.discover-resources outside a pod needs --azure.kubeconfig-file".into(),
            )
        })?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let base = Url::parse(&format!("https://{host}:{port}/"))
            .map_err(|e| ApiServerError(format!("KUBERNETES_SERVICE_HOST: {e}")))?;
        let ca = std::fs::read(Path::new(SERVICE_ACCOUNT).join("ca.crt"))
            .map_err(|e| ApiServerError(format!("{SERVICE_ACCOUNT}/ca.crt: {e}")))?;
        Ok(ApiServer {
            base,
            client: client(Some(&ca), None)?,
            credential: Credential::TokenFile(Path::new(SERVICE_ACCOUNT).join("token")),
        })
    }

    fn from_kubeconfig(path: &Path) -> Result<Self, ApiServerError> {
        use base64::Engine as _;
        use secrecy::ExposeSecret as _;
        let bad =
            |m: String| ApiServerError(format!("--azure.kubeconfig-file {}: {m}", path.display()));
        let config =
            kube_client::config::Kubeconfig::read_from(path).map_err(|e| bad(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let resolve = |file: &str| dir.join(file);
        let context_name = config
            .current_context
            .clone()
            .or_else(|| config.contexts.first().map(|c| c.name.clone()))
            .ok_or_else(|| bad("no context".into()))?;
        let context = config
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.clone())
            .ok_or_else(|| bad(format!("context {context_name:?} not found")))?;
        let cluster = config
            .clusters
            .iter()
            .find(|c| c.name == context.cluster)
            .and_then(|c| c.cluster.clone())
            .ok_or_else(|| bad(format!("cluster {:?} not found", context.cluster)))?;
        if cluster.insecure_skip_tls_verify == Some(true) {
            return Err(bad(
                "insecure-skip-tls-verify is not accepted: give the cluster's CA".into(),
            ));
        }
        let server = cluster
            .server
            .ok_or_else(|| bad("the cluster has no server".into()))?;
        let mut base = Url::parse(&server).map_err(|e| bad(format!("server {server:?}: {e}")))?;
        if base.scheme() != "https" {
            return Err(bad(format!("server {server:?} must use https")));
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let decode = |data: &str, what: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| bad(format!("{what}: {e}")))
        };
        let read =
            |file: &str| std::fs::read(resolve(file)).map_err(|e| bad(format!("{file}: {e}")));
        let ca = match (
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        ) {
            (Some(data), _) => Some(decode(data, "certificate-authority-data")?),
            (None, Some(file)) => Some(read(file)?),
            (None, None) => None,
        };
        let user = context.user.as_deref().and_then(|name| {
            config
                .auth_infos
                .iter()
                .find(|a| a.name == name)
                .and_then(|a| a.auth_info.clone())
        });
        let mut identity = None;
        let mut credential = Credential::None;
        if let Some(user) = user {
            if user.exec.is_some() || user.auth_provider.is_some() {
                return Err(bad(
                    "exec and auth-provider users are not supported: use a token or a client certificate".into(),
                ));
            }
            let cert = match (&user.client_certificate_data, &user.client_certificate) {
                (Some(d), _) => Some(decode(d, "client-certificate-data")?),
                (None, Some(f)) => Some(read(f)?),
                _ => None,
            };
            let key = match (&user.client_key_data, &user.client_key) {
                (Some(d), _) => Some(decode(d.expose_secret(), "client-key-data")?),
                (None, Some(f)) => Some(read(f)?),
                _ => None,
            };
            if let (Some(mut cert), Some(key)) = (cert, key) {
                cert.push(b'\n');
                cert.extend_from_slice(&key);
                identity = Some(cert);
            }
            if let Some(token) = &user.token {
                credential = Credential::Token(token.expose_secret().to_owned());
            } else if let Some(file) = &user.token_file {
                credential = Credential::TokenFile(resolve(file));
            }
        }
        Ok(ApiServer {
            base,
            client: client(ca.as_deref(), identity.as_deref())?,
            credential,
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| format!("{path}: {e}"))?;
        let mut request = self.client.get(url).header("accept", "application/json");
        match &self.credential {
            Credential::None => {}
            Credential::Token(t) => request = request.bearer_auth(t),
            Credential::TokenFile(f) => {
                // Re-read every time: projected tokens rotate.
                let token =
                    std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
                request = request.bearer_auth(token.trim());
            }
        }
        let response = send(request)
            .await
            .map_err(|e| format!("GET {path}: {}", describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {path}: the API server answered {status}"));
        }
        response
            .json()
            .await
            .map_err(|e| format!("GET {path}: {}", describe(&e)))
    }

    /// `(group or "v1", resource, namespaced)` of every resource in each
    /// group's preferred version. Groups that do not answer (an aggregated
    /// API that is down) are left out.
    pub async fn resources(&self) -> Result<Vec<(String, String, bool)>, String> {
        #[derive(Deserialize)]
        struct ResourceList {
            #[serde(default)]
            resources: Vec<Resource>,
        }
        #[derive(Deserialize)]
        struct Resource {
            name: String,
            #[serde(default)]
            namespaced: bool,
        }
        #[derive(Deserialize)]
        struct GroupList {
            #[serde(default)]
            groups: Vec<Group>,
        }
        #[derive(Deserialize)]
        struct Group {
            name: String,
            #[serde(rename = "preferredVersion")]
            preferred: Option<GroupVersion>,
            #[serde(default)]
            versions: Vec<GroupVersion>,
        }
        #[derive(Deserialize)]
        struct GroupVersion {
            #[serde(rename = "groupVersion")]
            group_version: String,
        }
        let mut out = Vec::new();
        let core: ResourceList = self.get("/api/v1").await?;
        out.extend(
            core.resources
                .into_iter()
                .map(|r| (CORE.to_owned(), r.name, r.namespaced)),
        );
        let groups: GroupList = self.get("/apis").await?;
        for group in groups.groups {
            let Some(gv) = group
                .preferred
                .or_else(|| group.versions.into_iter().next())
            else {
                continue;
            };
            match self
                .get::<ResourceList>(&format!("/apis/{}", gv.group_version))
                .await
            {
                Ok(list) => out.extend(
                    list.resources
                        .into_iter()
                        .map(|r| (group.name.clone(), r.name, r.namespaced)),
                ),
                Err(e) => tracing::warn!("resource discovery: {e}; group left out"),
            }
        }
        Ok(out)
    }
}

fn client(ca: Option<&[u8]>, identity: Option<&[u8]>) -> Result<reqwest::Client, ApiServerError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("guard/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if let Some(ca) = ca {
        let certs = reqwest::Certificate::from_pem_bundle(ca)
            .map_err(|e| ApiServerError(format!("the cluster's CA: {e}")))?;
        if certs.is_empty() {
            return Err(ApiServerError(
                "the cluster's CA holds no PEM certificate".into(),
            ));
        }
        builder = builder.tls_certs_only(certs);
    }
    if let Some(pem) = identity {
        let identity = reqwest::Identity::from_pem(pem)
            .map_err(|e| ApiServerError(format!("the client certificate and key: {e}")))?;
        builder = builder.identity(identity);
    }
    builder
        .build()
        .map_err(|e| ApiServerError(format!("cannot set up the API server client: {e}")))
}

fn describe(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_decode() || e.is_body() {
        "unexpected answer"
    } else {
        "request failed"
    }
}

/// ARM's data actions for the cluster's resource type (`GET
/// ARM/providers/PROVIDER/operations`, following `nextLink` on the same host).
async fn arm_operations(
    arm: &Arm,
    mode: AuthzMode,
    metrics: &AuthzMetrics,
) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        value: Vec<Operation>,
        #[serde(rename = "nextLink", default)]
        next_link: Option<String>,
    }
    #[derive(Deserialize)]
    struct Operation {
        name: String,
        #[serde(rename = "isDataAction", default)]
        is_data_action: Option<bool>,
    }
    let token = arm.token().await.map_err(|e| e.to_string())?;
    let prefix = format!("{}/", mode.resource_type().to_ascii_lowercase());
    let mut url = arm
        .base()
        .join(mode.operations_path())
        .map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    for _ in 0..MAX_PAGES {
        let started = std::time::Instant::now();
        let response = send(arm.client().get(url.clone()).bearer_auth(&token))
            .await
            .map_err(|e| {
                metrics.operations_call(500, started.elapsed().as_secs_f64());
                format!("ARM operations list: {}", describe(&e))
            })?;
        let status = response.status();
        metrics.operations_call(status.as_u16(), started.elapsed().as_secs_f64());
        if !status.is_success() {
            return Err(format!("ARM operations list answered {status}"));
        }
        let page: Page = response
            .json()
            .await
            .map_err(|e| format!("ARM operations list: {}", describe(&e)))?;
        names.extend(
            page.value
                .into_iter()
                .filter(|o| o.is_data_action == Some(true))
                .filter(|o| o.name.to_ascii_lowercase().starts_with(&prefix))
                .map(|o| o.name),
        );
        match page.next_link.as_deref().map(Url::parse) {
            Some(Ok(next)) if next.origin() == arm.base().origin() => url = next,
            _ => break,
        }
    }
    Ok(names)
}

/// The discovered map, shared with the authorizer.
#[derive(Default)]
pub struct Discovered {
    map: RwLock<Arc<Operations>>,
    ready: std::sync::atomic::AtomicBool,
}

impl Discovered {
    /// The current map (empty until discovery first succeeds).
    pub fn operations(&self) -> Arc<Operations> {
        self.map.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether discovery has succeeded once.
    pub fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn set(&self, operations: Operations) {
        *self.map.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(operations);
        self.ready.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The discovery loop's parts.
pub struct Discovery {
    pub(crate) api: ApiServer,
    pub(crate) mode: AuthzMode,
    pub(crate) arm: Arc<Arm>,
    pub(crate) frequency: Duration,
    pub(crate) into: Arc<Discovered>,
    pub(crate) metrics: Arc<AuthzMetrics>,
}

impl Discovery {
    /// One discovery: API resources and ARM operations, joined.
    pub async fn once(&self) -> Result<Operations, String> {
        let started = std::time::Instant::now();
        let resources = self.api.resources().await;
        self.metrics.apiresources(started.elapsed().as_secs_f64());
        let resources =
            resources.map_err(|e| format!("reading the cluster's API resources: {e}"))?;
        let operations = arm_operations(&self.arm, self.mode, &self.metrics).await?;
        Ok(actions::operations_map(
            self.mode.resource_type(),
            &resources,
            &operations,
        ))
    }

    /// Runs discovery now and every `frequency`; before the first success,
    /// retries sooner (2 s, doubling up to a minute).
    pub async fn run(self) {
        let mut retry = Duration::from_secs(2);
        loop {
            let started = std::time::Instant::now();
            let result = self.once().await;
            self.metrics
                .discovery(result.is_ok(), started.elapsed().as_secs_f64());
            let wait = match result {
                Ok(operations) => {
                    let resources: usize = operations.groups.values().map(|g| g.len()).sum();
                    tracing::info!(
                        groups = operations.groups.len(),
                        resources,
                        "resource discovery done"
                    );
                    self.into.set(operations);
                    self.frequency
                }
                Err(e) if self.into.is_ready() => {
                    tracing::warn!("resource discovery failed, keeping the previous map: {e}");
                    self.frequency
                }
                Err(e) => {
                    tracing::warn!("resource discovery failed, /readyz fails until it works: {e}");
                    let wait = retry.min(self.frequency);
                    retry = (retry * 2).min(MAX_RETRY);
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}
