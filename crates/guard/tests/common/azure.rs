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
//! * Azure AD's token endpoint (`POST /TENANT/oauth2/v2.0/token`: client
//!   credentials, and on-behalf-of exchanges of a user's token, refused
//!   with `invalid_grant` for the users in `refused_users`), its discovery
//!   (`/TENANT/v2.0/.well-known/openid-configuration`) and keys, with
//!   [`AzureStandIn::sign`] for user tokens signed by them;
//! * the AKS token URL of the authentication side (`POST /aks/authn/token`,
//!   `{"tenantID","accessToken"}` → a Graph token for that user; 403 for
//!   the users in `refused_users`);
//! * Microsoft Graph (`POST /v1.0/users/OID/getMemberGroups`,
//!   `POST /v1.0/directoryObjects/getByIds`), which accepts the tokens the
//!   stand-in issued (an on-behalf-of or AKS token only for its own user);
//! * the Arc on-behalf-of service (`POST /subscriptions/.../getMemberGroups?api-version=v1`,
//!   `{"tenantID","accessToken"}` with a managed identity token → the
//!   user's group ids);
//! * each of Azure AD, the AKS token URL, Graph and the Arc service can be told to throttle
//!   (429) or fail with a status ([`Behaviour`]);
//! * a Kubernetes API server's discovery (`/api/v1`, `/apis`, `/apis/G/V`).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde_json::{Value, json};

use super::Sandbox;
use super::server::{GuardServer, Reviewer, guard_run_args, sandbox_with_client};

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
    /// How Azure AD's token endpoint answers (before looking at the grant).
    pub aad: Behaviour,
    /// How the authentication side's AKS token URL answers.
    pub aks_authn: Behaviour,
    /// How Microsoft Graph answers.
    pub graph: Behaviour,
    /// Users (oid) whose tokens Azure AD will not exchange on their behalf
    /// (`invalid_grant`) and the AKS token URL refuses (403).
    pub refused_users: Vec<String>,
    /// Azure AD answers every on-behalf-of exchange as it does when the
    /// tenant has not consented to guard's delegated permission
    /// (`invalid_grant`, AADSTS65001, suberror `consent_required`).
    pub obo_consent_missing: bool,
    /// Graph's memberships: oid → group ids.
    pub member_of: BTreeMap<String, Vec<String>>,
    /// Graph's group names: id → displayName.
    pub group_names: BTreeMap<String, String>,
    /// Graph tokens issued for one user (on-behalf-of, AKS): token → oid.
    pub user_graph_tokens: BTreeMap<String, String>,
    /// Graph requests: (path, the token's kind: `app`, `obo`, `aks`).
    pub graph_calls: Vec<(String, String)>,
    /// On-behalf-of exchanges asked for (their `assertion` was a user token).
    pub obo_requests: u64,
    /// AKS token URL (authentication) requests: their JSON bodies.
    pub aks_authn_requests: Vec<Value>,
    /// How the Arc on-behalf-of service answers.
    pub arc_obo: Behaviour,
    /// Arc on-behalf-of requests: (path and query, JSON body).
    pub arc_obo_requests: Vec<(String, Value)>,
}

/// The key the stand-in's Azure AD signs user tokens with.
pub struct Signer {
    key: jsonwebtoken::EncodingKey,
    kid: String,
    jwks: Value,
}

impl Signer {
    fn generate() -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).unwrap();
        let mut jwk =
            jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::RS256)
                .unwrap();
        let kid = jwk
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap();
        jwk.common.key_id = Some(kid.clone());
        let jwks = json!({"keys": [jwk]});
        Signer { key, kid, jwks }
    }
}

/// What every test of the azure provider starts from: a sandbox PKI (CA,
/// server certificate for 127.0.0.1, client certificate `azure@azure`) and
/// the stand-in, serving with guard's server certificate.
pub struct AzureSetup {
    pub sb: Sandbox,
    pub azure: AzureStandIn,
}

impl AzureSetup {
    /// Makes the PKI and starts the stand-in.
    pub fn start() -> Self {
        let sb = sandbox_with_client(&["-o", "azure"]);
        let pki = sb.pki();
        let azure = AzureStandIn::start(&pki.join("server.crt"), &pki.join("server.key"));
        AzureSetup { sb, azure }
    }

    /// The `azure@azure` client certificate and key.
    pub fn client(&self) -> (PathBuf, PathBuf) {
        let pki = self.sb.pki();
        (pki.join("azure@azure.crt"), pki.join("azure@azure.key"))
    }

    /// Starts `guard run` with the azure provider for [`TENANT`] and the
    /// application `guard-app`, then `args` (`{url}` is the stand-in's
    /// URL), trusting the sandbox's CA (and so the stand-in) through
    /// `SSL_CERT_FILE`, with `env` besides; returns the stand-in and guard.
    pub fn start_guard(
        self,
        args: &[String],
        env: &[(String, String)],
    ) -> (AzureStandIn, Reviewer) {
        let mut run = guard_run_args(&self.sb);
        run.extend([
            "--auth-providers=azure".to_owned(),
            format!("--azure.tenant-id={TENANT}"),
            "--azure.client-id=guard-app".to_owned(),
        ]);
        run.extend(args.iter().map(|a| a.replace("{url}", &self.azure.url)));
        let mut vars = vec![(
            "SSL_CERT_FILE".to_owned(),
            self.sb.pki().join("ca.crt").display().to_string(),
        )];
        vars.extend_from_slice(env);
        let server = GuardServer::spawn(&self.sb, &run, &vars);
        let guard = Reviewer {
            client: self.client(),
            sb: self.sb,
            server,
        };
        (self.azure, guard)
    }
}

/// The stand-in, stopped on drop.
pub struct AzureStandIn {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    pub state: Arc<Mutex<State>>,
    signer: Arc<Signer>,
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
            aad: Behaviour::Normal,
            aks_authn: Behaviour::Normal,
            graph: Behaviour::Normal,
            refused_users: Vec::new(),
            obo_consent_missing: false,
            member_of: BTreeMap::new(),
            group_names: BTreeMap::new(),
            user_graph_tokens: BTreeMap::new(),
            graph_calls: Vec::new(),
            obo_requests: 0,
            aks_authn_requests: Vec::new(),
            arc_obo: Behaviour::Normal,
            arc_obo_requests: Vec::new(),
        }));
        let signer = Arc::new(Signer::generate());
        let (release, released) = tokio::sync::watch::channel(0u64);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let shared = state.clone();
        let base = url.clone();
        let keys = signer.clone();
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
                    let (acceptor, state, released, base, signer) = (
                        acceptor.clone(),
                        shared.clone(),
                        released.clone(),
                        base.clone(),
                        keys.clone(),
                    );
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let service = hyper::service::service_fn(move |req| {
                            let (state, released, base, signer) = (
                                state.clone(),
                                released.clone(),
                                base.clone(),
                                signer.clone(),
                            );
                            async move {
                                Ok::<_, Infallible>(
                                    answer(req, state, released, &base, &signer).await,
                                )
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
            signer,
            release,
            _shutdown: tx,
        }
    }

    /// The issuer of the user tokens: `URL/TENANT/v2.0` (what
    /// `--azure.discovery-url` names).
    pub fn issuer(&self) -> String {
        format!("{}/{TENANT}/v2.0", self.url)
    }

    /// A user token with `claims`, signed by the stand-in's Azure AD key;
    /// `iss`, `tid`, `iat`, `nbf`, `exp` are filled in unless given.
    pub fn sign(&self, claims: Value) -> String {
        let t = now();
        let mut all = json!({"iss": self.issuer(), "tid": TENANT, "iat": t, "nbf": t, "exp": t + 3600, "ver": "2.0"});
        all.as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(self.signer.kid.clone());
        let token = jsonwebtoken::encode(&header, &all, &self.signer.key).unwrap();
        super::secrets::register(&token);
        token
    }

    /// Graph's memberships and group names.
    pub fn set_members(&self, oid: &str, groups: &[(&str, &str)]) {
        let mut s = self.state.lock().unwrap();
        s.member_of.insert(
            oid.to_owned(),
            groups.iter().map(|(id, _)| id.to_string()).collect(),
        );
        for (id, name) in groups {
            s.group_names.insert(id.to_string(), name.to_string());
        }
    }

    /// The kinds of token Graph was called with, in order.
    pub fn graph_calls(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().graph_calls.clone()
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

/// The answer a [`Behaviour`] other than `Normal` forces (`None`: answer
/// normally). Throttling counts down.
fn forced(
    behaviour: &mut Behaviour,
    error: fn(u16) -> Value,
) -> Option<hyper::Response<Full<Bytes>>> {
    match behaviour.clone() {
        Behaviour::Normal | Behaviour::Hold | Behaviour::Hang => None,
        Behaviour::Status(code) => Some(json_response(code, &error(code))),
        Behaviour::Throttle { n, retry_after } => {
            *behaviour = if n > 1 {
                Behaviour::Throttle {
                    n: n - 1,
                    retry_after,
                }
            } else {
                Behaviour::Normal
            };
            let mut r = json_response(429, &error(429));
            r.headers_mut()
                .insert("retry-after", retry_after.to_string().parse().unwrap());
            Some(r)
        }
    }
}

fn aad_error(code: u16) -> Value {
    json!({"error": if code == 429 { "temporarily_unavailable" } else { "server_error" }, "error_description": format!("AADSTS90033: A transient error has occurred ({code})."), "error_codes": [90033]})
}

fn graph_error(code: u16) -> Value {
    let what = if code == 429 {
        "TooManyRequests"
    } else {
        "ServiceUnavailable"
    };
    json!({"error": {"code": what, "message": format!("{what} ({code})")}})
}

/// The claims of a JWT, unverified.
fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
    mut released: tokio::sync::watch::Receiver<u64>,
    base: &str,
    signer: &Signer,
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
        if let Some(r) = forced(&mut s.aad, aad_error) {
            return r;
        }
        if form.get("grant_type").map(String::as_str)
            == Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            s.obo_requests += 1;
            if form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
                return json_response(
                    401,
                    &json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]}),
                );
            }
            let assertion = jwt_claims(
                form.get("assertion")
                    .map(String::as_str)
                    .unwrap_or_default(),
            );
            let oid = assertion["oid"].as_str().unwrap_or_default().to_owned();
            if s.obo_consent_missing {
                return json_response(
                    400,
                    &json!({"error": "invalid_grant", "error_description": "AADSTS65001: The user or administrator has not consented to use the application with ID 'guard-app'.", "error_codes": [65001], "suberror": "consent_required"}),
                );
            }
            if form.get("requested_token_use").map(String::as_str) != Some("on_behalf_of")
                || assertion["aud"].as_str() != form.get("client_id").map(String::as_str)
                || oid.is_empty()
                || s.refused_users.contains(&oid)
            {
                return json_response(
                    400,
                    &json!({"error": "invalid_grant", "error_description": "AADSTS50013: Assertion failed signature validation.", "error_codes": [50013]}),
                );
            }
            let token = format!("graph-token-obo-{}", s.user_graph_tokens.len() + 1);
            super::secrets::register(&token);
            s.user_graph_tokens.insert(token.clone(), oid);
            return json_response(
                200,
                &json!({"token_type": "Bearer", "access_token": token, "expires_in": 3599, "ext_expires_in": 3599}),
            );
        }
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
    // Azure AD's discovery and keys.
    if method == "GET" && path == format!("/{TENANT}/v2.0/.well-known/openid-configuration") {
        return json_response(
            200,
            &json!({
                "issuer": format!("{base}/{TENANT}/v2.0"),
                "authorization_endpoint": format!("{base}/{TENANT}/oauth2/v2.0/authorize"),
                "token_endpoint": format!("{base}/{TENANT}/oauth2/v2.0/token"),
                "jwks_uri": format!("{base}/{TENANT}/discovery/v2.0/keys"),
                "response_types_supported": ["code", "id_token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "msgraph_host": "graph.microsoft.com",
            }),
        );
    }
    if method == "GET" && path == format!("/{TENANT}/discovery/v2.0/keys") {
        return json_response(200, &signer.jwks);
    }
    // The AKS token URL of the authentication side.
    if method == "POST" && path == "/aks/authn/token" {
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        let mut s = state.lock().unwrap();
        s.aks_authn_requests.push(v.clone());
        if let Some(r) = forced(
            &mut s.aks_authn,
            |code| json!({"error": format!("failed ({code})")}),
        ) {
            return r;
        }
        let oid = jwt_claims(v["accessToken"].as_str().unwrap_or_default())["oid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if v["tenantID"] != TENANT || oid.is_empty() {
            return json_response(400, &json!({"error": "bad request"}));
        }
        if s.refused_users.contains(&oid) {
            return json_response(403, &json!({"error": "the access token is not accepted"}));
        }
        let token = format!("graph-token-aks-{}", s.user_graph_tokens.len() + 1);
        super::secrets::register(&token);
        s.user_graph_tokens.insert(token.clone(), oid);
        return json_response(
            200,
            &json!({"token_type": "Bearer", "access_token": token, "expires_on": now() + 3600}),
        );
    }
    // The Arc on-behalf-of service.
    if method == "POST" && path.starts_with("/subscriptions/") && path.ends_with("/getMemberGroups")
    {
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        let mut s = state.lock().unwrap();
        s.arc_obo_requests
            .push((format!("{path}?{query}"), v.clone()));
        if let Some(r) = forced(
            &mut s.arc_obo,
            |code| json!({"error": format!("failed ({code})")}),
        ) {
            return r;
        }
        let msi = authorization.strip_prefix("Bearer ").unwrap_or_default();
        if !msi.starts_with("arm-token-msi-") || !s.issued.iter().any(|t| t == msi) {
            return json_response(401, &json!({"error": "invalid token"}));
        }
        let oid = jwt_claims(v["accessToken"].as_str().unwrap_or_default())["oid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if v["tenantID"] != TENANT || query != "api-version=v1" {
            return json_response(400, &json!({"error": "bad request"}));
        }
        return match s.member_of.get(&oid) {
            Some(groups) => json_response(200, &json!({"value": groups})),
            None => json_response(404, &json!({"error": "user not found"})),
        };
    }
    // Microsoft Graph.
    if method == "POST" && path.starts_with("/v1.0/") {
        let mut s = state.lock().unwrap();
        let token = authorization
            .strip_prefix("Bearer ")
            .unwrap_or_default()
            .to_owned();
        let kind = if s.issued.contains(&token) {
            "app"
        } else if token.starts_with("graph-token-obo-") {
            "obo"
        } else {
            "aks"
        };
        s.graph_calls.push((path.clone(), kind.to_owned()));
        if let Some(r) = forced(&mut s.graph, graph_error) {
            return r;
        }
        let user = s.user_graph_tokens.get(&token).cloned();
        if !s.issued.contains(&token) && user.is_none() {
            return json_response(
                401,
                &json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token validation failure."}}),
            );
        }
        if let Some(oid) = path
            .strip_prefix("/v1.0/users/")
            .and_then(|p| p.strip_suffix("/getMemberGroups"))
        {
            if user.as_deref().is_some_and(|u| u != oid) {
                return json_response(
                    403,
                    &json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}}),
                );
            }
            return match s.member_of.get(oid) {
                Some(groups) => json_response(200, &json!({"value": groups})),
                None => json_response(
                    404,
                    &json!({"error": {"code": "Request_ResourceNotFound", "message": "Resource does not exist."}}),
                ),
            };
        }
        if path == "/v1.0/directoryObjects/getByIds" {
            let v: Value = serde_json::from_slice(&body).unwrap_or_default();
            let value: Vec<Value> = v["ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|id| {
                    let id = id.as_str()?;
                    let name = s.group_names.get(id)?;
                    Some(json!({"@odata.type": "#microsoft.graph.group", "id": id, "displayName": name}))
                })
                .collect();
            return json_response(200, &json!({"value": value}));
        }
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
