//! The connection to kube-apiserver: TLS with its CA, the proxy's own
//! credential, HTTP/2 where both ends speak it and HTTP/1.1 for protocol
//! switches (WebSocket and SPDY run over HTTP/1.1 only).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use guard_auth::reload::FileStamp;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};

use crate::identity::ForwardedIdentity;
use crate::tls::{UpstreamTlsFiles, stamps};
use crate::{IdentityMode, ProxyError, UpstreamConfig, UpstreamCredential};

/// An error of any body or client, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type the proxy sends and answers with.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

type HttpsClient = Client<HttpsConnector<HttpConnector>, ProxyBody>;

/// A body of fixed bytes.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

struct Clients {
    /// HTTP/2 when the API server offers it (ALPN), else HTTP/1.1.
    any: HttpsClient,
    /// HTTP/1.1 only: for upgrades.
    http1: HttpsClient,
}

struct State {
    clients: Arc<Clients>,
    tls_stamps: Vec<Option<FileStamp>>,
    token: Option<HeaderValue>,
    token_stamp: Option<FileStamp>,
}

/// The API server, as the proxy reaches it.
pub struct Upstream {
    scheme: hyper::http::uri::Scheme,
    authority: hyper::http::uri::Authority,
    prefix: String,
    tls: UpstreamTlsFiles,
    token_file: Option<PathBuf>,
    state: RwLock<State>,
}

impl Upstream {
    /// Parses the URL and loads the CA, client certificate and token.
    pub fn new(config: &UpstreamConfig) -> Result<Arc<Self>, ProxyError> {
        let bad = |reason: &str| ProxyError::BadUpstream {
            url: config.url.clone(),
            reason: reason.to_owned(),
        };
        let uri: Uri = config.url.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("https") {
            return Err(bad("the API server is reached over https://"));
        }
        let authority = uri.authority().cloned().ok_or_else(|| bad("no host"))?;
        if uri.query().is_some() {
            return Err(bad("a query string is not allowed"));
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        let (tls, token_file) = match &config.credential {
            UpstreamCredential::ClientCertificate { cert, key } => (
                UpstreamTlsFiles {
                    ca: config.ca_file.clone(),
                    client: Some((cert.clone(), key.clone())),
                },
                None,
            ),
            UpstreamCredential::TokenFile(path) => (
                UpstreamTlsFiles {
                    ca: config.ca_file.clone(),
                    client: None,
                },
                Some(path.clone()),
            ),
        };
        let tls_stamps = stamps(&tls.paths());
        let clients = Arc::new(build_clients(&tls)?);
        let (token, token_stamp) = match &token_file {
            Some(path) => (Some(read_token(path)?), FileStamp::of(path)),
            None => (None, None),
        };
        Ok(Arc::new(Upstream {
            scheme: hyper::http::uri::Scheme::HTTPS,
            authority,
            prefix,
            tls,
            token_file,
            state: RwLock::new(State {
                clients,
                tls_stamps,
                token,
                token_stamp,
            }),
        }))
    }

    /// `https://HOST:PORT` of the API server (for logs).
    pub fn origin(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.prefix)
    }

    /// The API server URI for a request's path and query.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, hyper::http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{path_and_query}", self.prefix))
            .build()
    }

    /// The `Authorization` value of the proxy's own token, if it uses one.
    pub fn authorization(&self) -> Option<HeaderValue> {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .token
            .clone()
    }

    /// Sends `req` (its URI already absolute); over HTTP/1.1 when `http1`.
    pub async fn send(
        &self,
        mut req: Request<ProxyBody>,
        http1: bool,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        let clients = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clients
            .clone();
        // The client picks HTTP/2 from ALPN; the request's own version must
        // not pin it (an HTTP/2 request from the user may go out as HTTP/1.1).
        *req.version_mut() = hyper::Version::HTTP_11;
        if http1 {
            clients.http1.request(req).await
        } else {
            clients.any.request(req).await
        }
    }

    /// Re-reads the CA, client certificate and token when they changed. A
    /// broken new file keeps the previous state and returns the error.
    pub fn reload_if_changed(&self) -> Result<bool, ProxyError> {
        let tls_now = stamps(&self.tls.paths());
        let token_now = self.token_file.as_deref().and_then(FileStamp::of);
        let (tls_changed, token_changed) = {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            (state.tls_stamps != tls_now, state.token_stamp != token_now)
        };
        if !tls_changed && !token_changed {
            return Ok(false);
        }
        let clients = tls_changed.then(|| build_clients(&self.tls));
        let token = match (&self.token_file, token_changed) {
            (Some(path), true) => Some(read_token(path)),
            _ => None,
        };
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.tls_stamps = tls_now;
        state.token_stamp = token_now;
        if let Some(clients) = clients {
            state.clients = Arc::new(clients?);
        }
        if let Some(token) = token {
            state.token = Some(token?);
        }
        Ok(true)
    }

    /// Asks the API server whether `user` may do what `attributes` say,
    /// with a SelfSubjectAccessReview sent as that user (any authenticated
    /// user may create one; the proxy needs no extra permission).
    pub async fn self_access_review(
        &self,
        user: &ForwardedIdentity,
        mode: IdentityMode,
        attributes: ResourceAttributes,
        deadline: Duration,
    ) -> Result<bool, String> {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(attributes),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let body = serde_json::to_vec(&review).map_err(|e| e.to_string())?;
        let uri = self
            .uri("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
            .map_err(|e| e.to_string())?;
        let mut req = Request::post(uri)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(full(body))
            .map_err(|e| e.to_string())?;
        user.write_headers(mode, req.headers_mut())
            .map_err(|e| e.to_string())?;
        if let Some(auth) = self.authorization() {
            req.headers_mut().insert(AUTHORIZATION, auth);
        }
        let exchange = async {
            let resp = self.send(req, false).await.map_err(|e| describe(&e))?;
            let status = resp.status();
            let bytes = http_body_util::Limited::new(resp.into_body(), 1 << 20)
                .collect()
                .await
                .map_err(|e| format!("cannot read the answer: {e}"))?
                .to_bytes();
            if !status.is_success() {
                return Err(format!(
                    "the API server answered {status} to a SelfSubjectAccessReview"
                ));
            }
            let answer: SelfSubjectAccessReview = serde_json::from_slice(&bytes)
                .map_err(|e| format!("the SelfSubjectAccessReview answer is not valid ({e})"))?;
            Ok(answer.status.is_some_and(|s| s.allowed))
        };
        tokio::time::timeout(deadline, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {deadline:?}")))
    }
}

/// A one-line description of a client error with its causes.
pub fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn read_token(path: &std::path::Path) -> Result<HeaderValue, ProxyError> {
    let err = |reason: String| ProxyError::TokenFile {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(err("is empty".into()));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| err("holds characters a token cannot have".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

fn build_clients(tls: &UpstreamTlsFiles) -> Result<Clients, ProxyError> {
    let config = tls.load()?;
    let connector = || {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        http.set_keepalive(Some(Duration::from_secs(60)));
        http
    };
    let any = HttpsConnectorBuilder::new()
        .with_tls_config(config.clone())
        .https_only()
        .enable_all_versions()
        .wrap_connector(connector());
    let http1 = HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .wrap_connector(connector());
    let client = |connector| {
        Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .http2_keep_alive_timeout(Duration::from_secs(10))
            .build(connector)
    };
    Ok(Clients {
        any: client(any),
        http1: client(http1),
    })
}
