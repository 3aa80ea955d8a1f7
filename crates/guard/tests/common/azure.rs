//! A stand-in for the Azure services the authorization webhook calls, over
//! HTTPS on 127.0.0.1 (certificate from the sandbox's PKI; guard trusts it
//! through `SSL_CERT_FILE`, as a user with a private CA would):
//!
//! * ARM CheckAccess (`POST {scope}/providers/Microsoft.Authorization/checkaccess`):
//!   records every request, answers per action from a list of role grants,
//!   and on demand throttles (429), fails (500), refuses (403), answers 404,
//!   holds requests until released, or never answers;
//! * ARM's operations list (`GET /providers/PROVIDER/operations`);
//! * the AKS token URL (`POST /aks/authz/token`, `{"tenantID"}` →
//!   `access_token`, `expires_on`);
//! * Azure AD's token endpoint (`POST /TENANT/oauth2/v2.0/token`, client
//!   credentials);
//! * a Kubernetes API server's discovery (`/api/v1`, `/apis`, `/apis/G/V`).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde_json::{Value, json};

/// The tenant the stand-in's token endpoints accept.
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The client secret the Azure AD stand-in accepts (registered as a secret).
pub const CLIENT_SECRET: &str = "arc-client-secret-not-real";
/// The bearer token the Kubernetes discovery stand-in accepts.
pub const KUBE_TOKEN: &str = "kube-discovery-token-not-real";

/// An ARM role grant: `principal` (an object id) may do `action` (exact, or
/// a prefix ending in `*`) at `scope` and below.
#[derive(Debug, Clone)]
pub struct Grant {
    pub principal: String,
    pub scope: String,
    pub action: String,
}

/// How CheckAccess answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Decisions from the grants.
    Normal,
    /// 429 with `Retry-After` (seconds) for the next `n` calls, then normal.
    Throttle { n: u32, retry_after: u32 },
    /// This status for every call (500, 503, 403, 404...).
    Status(u16),
    /// Hold every call until [`AzureStandIn::release`].
    Hold,
    /// Never answer.
    Hang,
}

/// One CheckAccess request as received.
#[derive(Debug, Clone)]
pub struct Check {
    /// Path (the scope plus `/providers/Microsoft.Authorization/checkaccess`).
    pub path: String,
    /// The query string.
    pub query: String,
    /// The `Authorization` header.
    pub authorization: String,
    /// The JSON body.
    pub body: Value,
}

impl Check {
    pub fn action_ids(&self) -> Vec<String> {
        self.body["Actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["Id"].as_str().unwrap().to_owned())
            .collect()
    }

    pub fn resource_id(&self) -> String {
        self.body["Resource"]["Id"].as_str().unwrap().to_owned()
    }
}

#[derive(Debug)]
pub struct State {
    pub grants: Vec<Grant>,
    pub behaviour: Behaviour,
    /// `x-ms-ratelimit-remaining-subscription-reads` on answers.
    pub remaining_reads: u64,
    pub checks: Vec<Check>,
    /// Tokens issued by the AKS token URL and Azure AD.
    pub issued: Vec<String>,
    /// Bodies received by the AKS token URL and the Azure AD form posts.
    pub token_requests: Vec<String>,
    pub operations_calls: u64,
    /// TCP connections accepted.
    pub connections: u64,
    /// Whether the Kubernetes discovery stand-in answers (503 when false).
    pub discovery_up: bool,
    /// Extra API groups served by discovery: group → resources.
    pub extra_groups: BTreeMap<String, Vec<String>>,
    /// ARM's operations (data action names).
    pub operations: Vec<String>,
}

/// The stand-in, stopped on drop.
pub struct AzureStandIn {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    pub state: Arc<Mutex<State>>,
    release: tokio::sync::watch::Sender<u64>,
    _shutdown: std::sync::mpsc::Sender<()>,
}

impl AzureStandIn {
    /// Starts it with the certificate and key at `cert`/`key` (valid for 127.0.0.1).
    pub fn start(cert: &Path, key: &Path) -> Self {
        use rustls_pki_types::pem::PemObject as _;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        super::secrets::register(CLIENT_SECRET);
        super::secrets::register(KUBE_TOKEN);
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let certs: Vec<_> = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            grants: Vec::new(),
            behaviour: Behaviour::Normal,
            remaining_reads: 11999,
            checks: Vec::new(),
            issued: Vec::new(),
            token_requests: Vec::new(),
            operations_calls: 0,
            connections: 0,
            discovery_up: true,
            extra_groups: BTreeMap::new(),
            operations: Vec::new(),
        }));
        let (release, released) = tokio::sync::watch::channel(0u64);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let shared = state.clone();
        let base = url.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let stop = tokio::task::spawn_blocking(move || {
                    let _ = rx.recv();
                });
                tokio::pin!(stop);
                loop {
                    let (tcp, _) = tokio::select! {
                        _ = &mut stop => break,
                        accepted = listener.accept() => match accepted {
                            Ok(a) => a,
                            Err(_) => continue,
                        },
                    };
                    shared.lock().unwrap().connections += 1;
                    let (acceptor, state, released, base) =
                        (acceptor.clone(), shared.clone(), released.clone(), base.clone());
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else { return };
                        let service = hyper::service::service_fn(move |req| {
                            let (state, released, base) =
                                (state.clone(), released.clone(), base.clone());
                            async move {
                                Ok::<_, Infallible>(answer(req, state, released, &base).await)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                            .await;
                    });
                }
            });
        });
        AzureStandIn {
            url,
            state,
            release,
            _shutdown: tx,
        }
    }

    pub fn grant(&self, principal: &str, scope: &str, action: &str) {
        self.state.lock().unwrap().grants.push(Grant {
            principal: principal.into(),
            scope: scope.into(),
            action: action.into(),
        });
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        self.state.lock().unwrap().behaviour = b;
    }

    /// Lets held CheckAccess calls answer.
    pub fn release(&self) {
        self.release.send_modify(|n| *n += 1);
    }

    pub fn checks(&self) -> Vec<Check> {
        self.state.lock().unwrap().checks.clone()
    }

    pub fn check_count(&self) -> usize {
        self.state.lock().unwrap().checks.len()
    }

    pub fn connections(&self) -> u64 {
        self.state.lock().unwrap().connections
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn json_response(status: u16, body: &Value) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn arm_error(status: u16, code: &str, message: &str) -> hyper::Response<Full<Bytes>> {
    json_response(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
    mut released: tokio::sync::watch::Receiver<u64>,
    base: &str,
) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let method = req.method().clone();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let metadata_header = req
        .headers()
        .get("metadata")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = req.into_body().collect().await.unwrap().to_bytes();

    // The AKS token URL.
    if method == "POST" && path == "/aks/authz/token" {
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        let mut s = state.lock().unwrap();
        s.token_requests
            .push(String::from_utf8_lossy(&body).into_owned());
        if v["tenantID"] != TENANT {
            return json_response(400, &json!({"error": "unknown tenant"}));
        }
        let token = format!("arm-token-aks-{}", s.issued.len() + 1);
        super::secrets::register(&token);
        s.issued.push(token.clone());
        return json_response(
            200,
            &json!({"token_type": "Bearer", "access_token": token, "expires_on": now() + 3600}),
        );
    }
    // Azure AD, client credentials.
    if method == "POST" && path == format!("/{TENANT}/oauth2/v2.0/token") {
        let form: BTreeMap<String, String> =
            url::form_urlencoded::parse(&body).into_owned().collect();
        let mut s = state.lock().unwrap();
        s.token_requests.push(format!(
            "client_id={} scope={} grant_type={} content_type={content_type}",
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("scope").cloned().unwrap_or_default(),
            form.get("grant_type").cloned().unwrap_or_default(),
        ));
        if form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
            || form.get("grant_type").map(String::as_str) != Some("client_credentials")
        {
            return json_response(
                401,
                &json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
            );
        }
        let token = format!("arm-token-aad-{}", s.issued.len() + 1);
        super::secrets::register(&token);
        s.issued.push(token.clone());
        return json_response(
            200,
            &json!({"token_type": "Bearer", "access_token": token, "expires_in": 3599, "ext_expires_in": 3599}),
        );
    }
    // The Arc agent's managed identity (plain HTTP on loopback in real life too).
    if method == "GET" && path == "/metadata/identity/oauth2/token" {
        let metadata = metadata_header;
        let mut s = state.lock().unwrap();
        s.token_requests
            .push(format!("msi {query} metadata={metadata}"));
        if metadata != "true" {
            return json_response(400, &json!({"error": "Metadata header missing"}));
        }
        let token = format!("arm-token-msi-{}", s.issued.len() + 1);
        super::secrets::register(&token);
        s.issued.push(token.clone());
        return json_response(
            200,
            &json!({"access_token": token, "expires_on": (now() + 3600).to_string(), "expires_in": "3600", "token_type": "Bearer", "resource": "x"}),
        );
    }
    // ARM operations.
    if method == "GET" && path.ends_with("/operations") {
        let mut s = state.lock().unwrap();
        s.operations_calls += 1;
        if !s
            .issued
            .iter()
            .any(|t| authorization == format!("Bearer {t}"))
        {
            return arm_error(401, "InvalidAuthenticationToken", "bad token");
        }
        let value: Vec<Value> = s
            .operations
            .iter()
            .map(|name| json!({"name": name, "isDataAction": true, "display": {"provider": "Microsoft Container Service"}}))
            .chain([json!({"name": "Microsoft.ContainerService/managedClusters/read", "isDataAction": false})])
            .collect();
        return json_response(200, &json!({"value": value}));
    }
    // Kubernetes discovery.
    if method == "GET" && (path.starts_with("/api/") || path.starts_with("/apis")) {
        let s = state.lock().unwrap();
        if !s.discovery_up {
            return json_response(503, &json!({"kind": "Status", "code": 503}));
        }
        if authorization != format!("Bearer {KUBE_TOKEN}") {
            return json_response(401, &json!({"kind": "Status", "code": 401}));
        }
        let resources = |names: &[(&str, bool)]| -> Value {
            Value::Array(
                names
                    .iter()
                    .map(|(n, namespaced)| json!({"name": n, "namespaced": namespaced, "kind": "X", "verbs": ["get", "list"]}))
                    .collect(),
            )
        };
        return match path.as_str() {
            "/api/v1" => json_response(
                200,
                &json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": resources(&[("pods", true), ("pods/exec", true), ("pods/log", true), ("nodes", false)])}),
            ),
            "/apis" => {
                let mut groups = vec![
                    json!({"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}], "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}),
                ];
                for g in s.extra_groups.keys() {
                    groups.push(json!({"name": g, "versions": [{"groupVersion": format!("{g}/v1"), "version": "v1"}], "preferredVersion": {"groupVersion": format!("{g}/v1"), "version": "v1"}}));
                }
                json_response(
                    200,
                    &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
                )
            }
            "/apis/apps/v1" => json_response(
                200,
                &json!({"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": resources(&[("deployments", true), ("deployments/scale", true)])}),
            ),
            other => {
                let group = other
                    .strip_prefix("/apis/")
                    .and_then(|g| g.strip_suffix("/v1"))
                    .unwrap_or_default();
                match s.extra_groups.get(group) {
                    Some(names) => {
                        let list: Vec<(&str, bool)> =
                            names.iter().map(|n| (n.as_str(), true)).collect();
                        json_response(
                            200,
                            &json!({"kind": "APIResourceList", "groupVersion": format!("{group}/v1"), "resources": resources(&list)}),
                        )
                    }
                    None => json_response(404, &json!({"kind": "Status", "code": 404})),
                }
            }
        };
    }
    // ARM CheckAccess.
    if method == "POST" && path.ends_with("/providers/Microsoft.Authorization/checkaccess") {
        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let behaviour = {
            let mut s = state.lock().unwrap();
            s.checks.push(Check {
                path: path.clone(),
                query: query.clone(),
                authorization: authorization.clone(),
                body: parsed.clone(),
            });
            if !s
                .issued
                .iter()
                .any(|t| authorization == format!("Bearer {t}"))
            {
                return arm_error(
                    401,
                    "InvalidAuthenticationToken",
                    "The access token is invalid.",
                );
            }
            let b = s.behaviour.clone();
            if let Behaviour::Throttle { n, retry_after } = &b {
                let (n, retry_after) = (*n, *retry_after);
                s.behaviour = if n > 1 {
                    Behaviour::Throttle {
                        n: n - 1,
                        retry_after,
                    }
                } else {
                    Behaviour::Normal
                };
                let mut r = arm_error(
                    429,
                    "SubscriptionRequestsThrottled",
                    "Number of 'read' requests for subscription exceeded the limit.",
                );
                r.headers_mut()
                    .insert("retry-after", retry_after.to_string().parse().unwrap());
                r.headers_mut().insert(
                    "x-ms-ratelimit-remaining-subscription-reads",
                    "0".parse().unwrap(),
                );
                return r;
            }
            b
        };
        match behaviour {
            Behaviour::Status(404) => {
                return arm_error(404, "ResourceNotFound", "The Resource was not found.");
            }
            Behaviour::Status(403) => {
                return arm_error(
                    403,
                    "AuthorizationFailed",
                    "The client does not have authorization to perform action 'Microsoft.Authorization/checkAccess/action'.",
                );
            }
            Behaviour::Status(code) => {
                return arm_error(code, "InternalServerError", "Something went wrong.");
            }
            Behaviour::Hang => std::future::pending::<()>().await,
            Behaviour::Hold => {
                let start = *released.borrow();
                let _ = released.wait_for(|n| *n > start).await;
            }
            Behaviour::Normal | Behaviour::Throttle { .. } => {}
        }
        let scope = parsed["Resource"]["Id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let expected_path = format!("{scope}/providers/Microsoft.Authorization/checkaccess");
        if path != expected_path {
            return arm_error(400, "InvalidRequest", "URL scope and Resource.Id differ");
        }
        let mut principals = vec![
            parsed["Subject"]["Attributes"]["ObjectId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ];
        principals.extend(
            parsed["Subject"]["Attributes"]["Groups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g.as_str().map(str::to_owned)),
        );
        let s = state.lock().unwrap();
        let decisions: Vec<Value> = parsed["Actions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let id = a["Id"].as_str().unwrap_or_default();
                let grant = s.grants.iter().find(|g| {
                    principals.contains(&g.principal)
                        && (scope == g.scope || scope.starts_with(&format!("{}/", g.scope)))
                        && match g.action.strip_suffix('*') {
                            Some(prefix) => id.starts_with(prefix),
                            None => id == g.action,
                        }
                });
                match grant {
                    Some(g) => json!({
                        "accessDecision": "Allowed", "actionId": id, "isDataAction": true,
                        "roleAssignment": {"id": format!("{}/providers/Microsoft.Authorization/roleAssignments/ra-{}", g.scope, g.principal), "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/7f6c6a51-bcf8-42ba-9220-52d62157d7db", "principalId": g.principal, "scope": g.scope},
                        "denyAssignment": {}, "timeToLiveInMs": 300000
                    }),
                    None => json!({
                        "accessDecision": "NotAllowed", "actionId": id, "isDataAction": true,
                        "roleAssignment": null, "denyAssignment": null, "timeToLiveInMs": 300000
                    }),
                }
            })
            .collect();
        let mut r = json_response(200, &Value::Array(decisions));
        r.headers_mut().insert(
            "x-ms-ratelimit-remaining-subscription-reads",
            s.remaining_reads.to_string().parse().unwrap(),
        );
        return r;
    }
    let _ = base;
    arm_error(404, "NotFound", &format!("{method} {path}"))
}

/// A kubeconfig for the stand-in's discovery endpoints (CA `ca`, token
/// [`KUBE_TOKEN`]).
pub fn kubeconfig(url: &str, ca: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster:\n    server: {url}\n    certificate-authority: {}\nusers:\n- name: guard\n  user:\n    token: {KUBE_TOKEN}\ncontexts:\n- name: stand-in\n  context:\n    cluster: stand-in\n    user: guard\ncurrent-context: stand-in\n",
        ca.display()
    )
}
