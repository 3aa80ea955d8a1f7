//! A kube-apiserver stand-in over HTTPS on 127.0.0.1, for `guard proxy`.
//!
//! It authenticates the proxy as kube-apiserver would: a client
//! certificate that chains to the front-proxy CA with a CN in the allowed
//! names makes it read the `X-Remote-*` headers; a bearer token from its
//! list of the proxy's tokens makes it honour `Impersonate-*` headers;
//! anything else is 401. It records every request (headers, client
//! certificate, HTTP version, who it authenticated) and serves just enough
//! API for kubectl: discovery, `get pods` (also `--watch`, with events the
//! test releases one by one), `get pod p1`, `logs -f`, a ConfigMap POST
//! (read whole, then echoed), `exec` over
//! WebSocket (`v5.channel.k8s.io`, stdin echoed to stdout), a raw SPDY/3.1
//! upgrade that echoes bytes, and SelfSubjectAccessReviews answered from an
//! allow list. Stopped on drop.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

/// What the stand-in saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub version: hyper::Version,
    /// The CN of the verified client certificate, if one was presented.
    pub client_cn: Option<String>,
    /// Every header, names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Who the stand-in authenticated the request as, if anyone.
    pub user: Option<User>,
}

impl Seen {
    /// All values of header `name`.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// An authenticated user, as the stand-in understood the headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    /// Keys as the API server reads them: unescaped, lower-cased.
    pub extra: BTreeMap<String, Vec<String>>,
    /// The authenticated caller when this user is impersonated.
    pub impersonated_by: Option<String>,
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    connections: std::sync::atomic::AtomicU64,
    allowed_names: Vec<String>,
    /// CNs of client certificates that authenticate as that user (the
    /// API server's --client-ca-file), not as a front proxy.
    certificate_users: Mutex<Vec<String>>,
    proxy_tokens: Mutex<Vec<String>>,
    may_impersonate: Mutex<Vec<(String, String, String)>>,
    watch_events: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<String>>>,
    sent: Mutex<Vec<(String, Instant)>>,
    log_gap: Mutex<Duration>,
    refuse_websocket: std::sync::atomic::AtomicBool,
}

/// The running stand-in.
pub struct StandIn {
    pub port: u16,
    shared: Arc<Shared>,
    release: tokio::sync::mpsc::UnboundedSender<String>,
    _stop: std::sync::mpsc::Sender<()>,
}

/// The minimum time between two watch events: the stream is idle for
/// this long in between.
pub const WATCH_GAP: Duration = Duration::from_millis(1500);

impl StandIn {
    /// Serves with `cert`/`key`; client certificates are verified against
    /// `front_proxy_ca`, and their CN must be in `allowed_names`.
    pub fn start(cert: &Path, key: &Path, front_proxy_ca: &Path, allowed_names: &[&str]) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let certs: Vec<_> = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(front_proxy_ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
            .allow_unauthenticated()
            .build()
            .unwrap();
        let mut config = rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (release, events) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            allowed_names: allowed_names.iter().map(|s| s.to_string()).collect(),
            watch_events: Mutex::new(Some(events)),
            log_gap: Mutex::new(Duration::from_millis(10)),
            ..Shared::default()
        });
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let state = shared.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let stop = tokio::task::spawn_blocking(move || {
                    let _ = stop_rx.recv();
                });
                tokio::pin!(stop);
                loop {
                    tokio::select! {
                        _ = &mut stop => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else { continue };
                            state.connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let (acceptor, state) = (acceptor.clone(), state.clone());
                            tokio::spawn(async move {
                                let Ok(tls) = acceptor.accept(tcp).await else { return };
                                let client_cn = tls
                                    .get_ref()
                                    .1
                                    .peer_certificates()
                                    .and_then(|c| c.first())
                                    .and_then(|c| common_name(c));
                                let service = hyper::service::service_fn(move |req| {
                                    serve(state.clone(), client_cn.clone(), req)
                                });
                                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        StandIn {
            port,
            shared,
            release,
            _stop: stop_tx,
        }
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The requests to `path`.
    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    /// Replaces the bearer tokens accepted as the proxy's own.
    pub fn set_proxy_tokens(&self, tokens: &[&str]) {
        *self.shared.proxy_tokens.lock().unwrap() = tokens.iter().map(|s| s.to_string()).collect();
    }

    /// Accepts a client certificate with CN `user` as that user (which may
    /// then impersonate), as kube-apiserver does for --client-ca-file.
    pub fn accept_certificate_user(&self, user: &str) {
        self.shared
            .certificate_users
            .lock()
            .unwrap()
            .push(user.to_owned());
    }

    /// Lets `user` impersonate `resource` `name` (SelfSubjectAccessReview).
    pub fn allow_impersonation(&self, user: &str, resource: &str, name: &str) {
        self.shared.may_impersonate.lock().unwrap().push((
            user.to_owned(),
            resource.to_owned(),
            name.to_owned(),
        ));
    }

    /// Lets the watch send an ADDED event for pod `name` (no sooner than
    /// [`WATCH_GAP`] after the previous one).
    pub fn release_watch_event(&self, name: &str) {
        self.release.send(name.to_owned()).unwrap();
    }

    /// The watch events sent so far and when each was handed to the
    /// connection.
    pub fn sent_events(&self) -> Vec<(String, Instant)> {
        self.shared.sent.lock().unwrap().clone()
    }

    /// Answers WebSocket exec requests with 400, as API servers before
    /// 1.30 did, so that kubectl falls back to SPDY.
    pub fn refuse_websocket(&self) {
        self.shared
            .refuse_websocket
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Time between the two lines of `logs -f`.
    pub fn set_log_gap(&self, gap: Duration) {
        *self.shared.log_gap.lock().unwrap() = gap;
    }
}

fn common_name(der: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

type Resp = Response<http_body_util::combinators::BoxBody<Bytes, std::io::Error>>;

fn body(text: impl Into<Bytes>) -> http_body_util::combinators::BoxBody<Bytes, std::io::Error> {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

fn json(status: u16, text: impl Into<Bytes>) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body(text))
        .unwrap()
}

fn status(code: u16, reason: &str, message: &str) -> Resp {
    json(
        code,
        serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":message,"reason":reason,"code":code}).to_string(),
    )
}

/// kube-apiserver's authentication, reduced to the two ways the proxy uses.
fn authenticate(
    shared: &Shared,
    client_cn: Option<&str>,
    headers: &HeaderMap,
) -> Result<User, String> {
    let all = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let extras = |prefix: &str| -> BTreeMap<String, Vec<String>> {
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in headers {
            if let Some(key) = name.as_str().strip_prefix(prefix) {
                let key = percent_decode(key).to_lowercase();
                extra
                    .entry(key)
                    .or_default()
                    .push(value.to_str().unwrap().to_owned());
            }
        }
        extra
    };
    let certificate_user = client_cn.filter(|cn| {
        shared
            .certificate_users
            .lock()
            .unwrap()
            .iter()
            .any(|u| u == cn)
    });
    if let Some(cn) = client_cn
        && certificate_user.is_none()
    {
        if !shared.allowed_names.iter().any(|n| n == cn) {
            return Err(format!(
                "client certificate CN={cn} is not in the allowed names"
            ));
        }
        let name = all("x-remote-user")
            .into_iter()
            .next()
            .ok_or("no X-Remote-User")?;
        return Ok(User {
            name,
            uid: all("x-remote-uid").into_iter().next(),
            groups: all("x-remote-group"),
            extra: extras("x-remote-extra-"),
            impersonated_by: None,
        });
    }
    let proxy = match certificate_user {
        Some(cn) => cn.to_owned(),
        None => {
            let token = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or("no credentials")?;
            if !shared
                .proxy_tokens
                .lock()
                .unwrap()
                .iter()
                .any(|t| t == token)
            {
                return Err("unknown bearer token".into());
            }
            "system:serviceaccount:guard:guard-proxy".to_owned()
        }
    };
    match all("impersonate-user").into_iter().next() {
        Some(name) => Ok(User {
            name,
            uid: all("impersonate-uid").into_iter().next(),
            groups: all("impersonate-group"),
            extra: extras("impersonate-extra-"),
            impersonated_by: Some(proxy),
        }),
        None => Ok(User {
            name: proxy,
            uid: None,
            groups: vec!["system:serviceaccounts".into()],
            extra: BTreeMap::new(),
            impersonated_by: None,
        }),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn serve(
    shared: Arc<Shared>,
    client_cn: Option<String>,
    mut req: Request<Incoming>,
) -> Result<Resp, std::convert::Infallible> {
    let user = authenticate(&shared, client_cn.as_deref(), req.headers());
    let seen = Seen {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        version: req.version(),
        client_cn: client_cn.clone(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().unwrap_or("<binary>").to_owned(),
                )
            })
            .collect(),
        user: user.as_ref().ok().cloned(),
    };
    shared.seen.lock().unwrap().push(seen);
    let user = match user {
        Ok(user) => user,
        Err(why) => return Ok(status(401, "Unauthorized", &why)),
    };
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let upgrade = req
        .headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    Ok(match (req.method().as_str(), path.as_str()) {
        ("GET", "/version") => json(200, r#"{"major":"1","minor":"33","gitVersion":"v1.33.0"}"#),
        ("GET", "/api") => json(
            200,
            r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]}"#,
        ),
        ("GET", "/apis") => json(
            200,
            r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[]}"#,
        ),
        ("GET", "/api/v1") => json(
            200,
            r#"{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list","watch"],"shortNames":["po"]},{"name":"pods/exec","singularName":"","namespaced":true,"kind":"PodExecOptions","verbs":["create","get"]},{"name":"pods/log","singularName":"","namespaced":true,"kind":"Pod","verbs":["get"]},{"name":"configmaps","singularName":"configmap","namespaced":true,"kind":"ConfigMap","verbs":["get","list"]}]}"#,
        ),
        ("GET", "/api/v1/namespaces/default/pods")
            if query.contains("watch=true") || query.contains("watch=1") =>
        {
            watch(&shared)
        }
        ("GET", "/api/v1/namespaces/default/pods") => json(
            200,
            r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}"#,
        ),
        ("GET", "/api/v1/namespaces/default/pods/p1") => json(200, pod("p1", "1").to_string()),
        ("GET", "/api/v1/namespaces/default/pods/p1/log") => logs(&shared),
        ("GET", "/api/v1/namespaces/default/configmaps/slow") => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            json(
                200,
                r#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"slow"}}"#,
            )
        }
        ("GET" | "POST", "/api/v1/namespaces/default/pods/p1/exec")
            if upgrade.as_deref() == Some("websocket") =>
        {
            if shared
                .refuse_websocket
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                status(400, "BadRequest", "Upgrade request required")
            } else {
                websocket_exec(&mut req)
            }
        }
        ("POST" | "GET", "/api/v1/namespaces/default/pods/p1/exec")
            if upgrade.as_deref() == Some("spdy/3.1") =>
        {
            spdy_exec(&mut req)
        }
        ("POST" | "GET", "/api/v1/namespaces/default/pods/p2/exec")
            if upgrade.as_deref() == Some("spdy/3.1") =>
        {
            raw_echo(&mut req)
        }
        ("POST", "/api/v1/namespaces/default/configmaps") => {
            // As kube-apiserver does, the whole body is read before the answer.
            match req.into_body().collect().await {
                Ok(body) => json(201, body.to_bytes()),
                Err(e) => status(400, "BadRequest", &e.to_string()),
            }
        }
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") => {
            let bytes = req.into_body().collect().await.unwrap().to_bytes();
            let review: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let attrs = &review["spec"]["resourceAttributes"];
            let resource = match attrs["subresource"].as_str() {
                Some(sub) => format!("{}/{sub}", attrs["resource"].as_str().unwrap_or_default()),
                None => attrs["resource"].as_str().unwrap_or_default().to_owned(),
            };
            let name = attrs["name"].as_str().unwrap_or_default().to_owned();
            let allowed = attrs["verb"] == "impersonate"
                && shared.may_impersonate.lock().unwrap().contains(&(
                    user.name.clone(),
                    resource,
                    name,
                ));
            let mut answer = review.clone();
            answer["status"] = serde_json::json!({"allowed": allowed});
            json(201, answer.to_string())
        }
        _ => status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
    })
}

fn pod(name: &str, resource_version: &str) -> serde_json::Value {
    serde_json::json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": resource_version, "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running"}
    })
}

/// A body fed from a channel; each chunk is logged as sent when the
/// connection takes it.
struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<(Bytes, Option<String>)>,
    shared: Arc<Shared>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some((bytes, label))) => {
                if let Some(label) = label {
                    self.shared
                        .sent
                        .lock()
                        .unwrap()
                        .push((label, Instant::now()));
                }
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A watch that sends one ADDED event per name the test releases, at
/// least [`WATCH_GAP`] apart, and stays open.
fn watch(shared: &Arc<Shared>) -> Resp {
    let Some(mut events) = shared.watch_events.lock().unwrap().take() else {
        return status(409, "Conflict", "the stand-in serves one watch");
    };
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let state = shared.clone();
    tokio::spawn(async move {
        let mut version = 1;
        while let Some(name) = events.recv().await {
            // At least WATCH_GAP after the previous event left (its time is
            // taken when the connection takes it, see ChannelBody).
            let previous = state.sent.lock().unwrap().last().map(|(_, at)| *at);
            if let Some(previous) = previous {
                tokio::time::sleep_until(tokio::time::Instant::from_std(previous + WATCH_GAP))
                    .await;
            }
            version += 1;
            let event =
                serde_json::json!({"type": "ADDED", "object": pod(&name, &version.to_string())});
            if tx
                .send((Bytes::from(format!("{event}\n")), Some(name)))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(
            ChannelBody {
                rx,
                shared: shared.clone(),
            }
            .boxed(),
        )
        .unwrap()
}

/// `logs -f`: two lines, the log gap apart.
fn logs(shared: &Arc<Shared>) -> Resp {
    let gap = *shared.log_gap.lock().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let _ = tx.send((Bytes::from_static(b"first line\n"), None)).await;
        tokio::time::sleep(gap).await;
        let _ = tx.send((Bytes::from_static(b"second line\n"), None)).await;
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(
            ChannelBody {
                rx,
                shared: shared.clone(),
            }
            .boxed(),
        )
        .unwrap()
}

/// `kubectl exec -i` over WebSocket, protocol v5.channel.k8s.io: every
/// stdin message comes back on stdout; stdin's close ends the session
/// with a Success status.
fn websocket_exec(req: &mut Request<Incoming>) -> Resp {
    let Some(key) = req.headers().get("sec-websocket-key") else {
        return status(400, "BadRequest", "no Sec-WebSocket-Key");
    };
    let offered = req
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .collect::<Vec<_>>();
    if !offered.iter().any(|p| p == "v5.channel.k8s.io") {
        return status(400, "BadRequest", "v5.channel.k8s.io not offered");
    }
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            None,
        )
        .await;
        while let Some(Ok(message)) = ws.next().await {
            let Message::Binary(data) = message else {
                continue;
            };
            match data.first() {
                Some(0) => {
                    let mut out = vec![1u8];
                    out.extend_from_slice(&data[1..]);
                    if ws.send(Message::Binary(out.into())).await.is_err() {
                        return;
                    }
                }
                // v5: CLOSE of stream 0 (stdin).
                Some(255) if data.get(1) == Some(&0) => {
                    let mut out = vec![3u8];
                    out.extend_from_slice(br#"{"metadata":{},"status":"Success"}"#);
                    let _ = ws.send(Message::Binary(out.into())).await;
                    let _ = ws
                        .close(Some(CloseFrame {
                            code: CloseCode::Normal,
                            reason: "".into(),
                        }))
                        .await;
                    // Drain until the client's close arrives.
                    while let Some(Ok(_)) = ws.next().await {}
                    return;
                }
                _ => {}
            }
        }
    });
    Response::builder()
        .status(101)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", accept)
        .header("sec-websocket-protocol", "v5.channel.k8s.io")
        .body(body(Bytes::new()))
        .unwrap()
}

/// `kubectl exec` over SPDY/3.1 (`v4.channel.k8s.io`), stdin echoed.
fn spdy_exec(req: &mut Request<Incoming>) -> Resp {
    let offered: Vec<String> = req
        .headers()
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    if !offered.iter().any(|p| p == "v4.channel.k8s.io") {
        return status(400, "BadRequest", "v4.channel.k8s.io not offered");
    }
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            super::spdy::serve_exec(TokioIo::new(upgraded)).await;
        }
    });
    Response::builder()
        .status(101)
        .header("connection", "Upgrade")
        .header("upgrade", "SPDY/3.1")
        .header("x-stream-protocol-version", "v4.channel.k8s.io")
        .body(body(Bytes::new()))
        .unwrap()
}

/// A SPDY/3.1 switch whose tunnel echoes every byte (what the proxy must
/// carry is opaque to it).
fn raw_echo(req: &mut Request<Incoming>) -> Resp {
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let (mut r, mut w) = tokio::io::split(TokioIo::new(upgraded));
        let _ = tokio::io::copy(&mut r, &mut w).await;
    });
    Response::builder()
        .status(101)
        .header("connection", "Upgrade")
        .header("upgrade", "SPDY/3.1")
        .header("x-stream-protocol-version", "v4.channel.k8s.io")
        .body(body(Bytes::new()))
        .unwrap()
}
