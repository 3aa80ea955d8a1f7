//! Third-party servers for the provider tests, on free loopback ports:
//! the GitHub REST simulator (node, from `tests/peers`) and a GitLab API
//! stub that answers with GitLab's documented shapes.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::testdata;

/// Spawns `cmd` (stdout piped) and waits up to 60 s for its `READY ...`
/// line; returns the child and the rest of that line.
fn spawn_ready(mut cmd: Command, what: &str) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("GUARD_TEST_PEER_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e} (run .ci/install-test-deps.sh)"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("READY ") {
                let _ = tx.send(rest.trim().to_owned());
            }
        }
    });
    // A generous deadline: on a loaded 2-core CI machine node can take
    // well over a minute to load its modules. A peer that exits early is
    // reported at once, with its exit status.
    match rx.recv_timeout(Duration::from_secs(240)) {
        Ok(line) => (child, line),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // Its stdout closed: it has exited (the kill is for a peer that
            // closed stdout and kept running).
            let _ = child.kill();
            let status = child.wait();
            panic!(
                "{what} exited before it was ready ({status:?}); GUARD_TEST_PEER_LOGS=1 shows its output"
            );
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not become ready within 240 s");
        }
    }
}

/// Copies a script of `tests/peers` next to the installed node_modules
/// (ESM resolves packages from the script's directory) and returns its path.
fn node_script(name: &str, package: &str) -> std::path::PathBuf {
    let peers = testdata().join("../target/test-tools/peers");
    assert!(
        peers.join("node_modules").join(package).exists(),
        "{package} is not installed: run .ci/install-test-deps.sh"
    );
    let script = peers.join(name);
    // Copied under a name of its own, then renamed over the script: tests
    // running in parallel start node on this file, and a plain copy
    // truncates it under a node that is reading it (which then dies of a
    // syntax error and never says READY).
    static COPIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = peers.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    std::fs::copy(
        testdata().join("../crates/guard/tests/peers").join(name),
        &tmp,
    )
    .unwrap();
    std::fs::rename(&tmp, &script).unwrap();
    script
}

/// The GitHub simulator, killed on drop.
pub struct GithubSim {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl GithubSim {
    /// Starts `tests/peers/github-sim.mjs` next to the node_modules that
    /// `.ci/install-test-deps.sh` installed.
    pub fn start() -> Self {
        let script = node_script("github-sim.mjs", "@simulacrum/github-api-simulator");
        let mut cmd = Command::new("node");
        cmd.arg(&script).env("PORT", "0");
        let (child, url) = spawn_ready(cmd, "the GitHub simulator");
        GithubSim { child, url }
    }

    /// Membership calls per token, as counted by the simulator.
    pub fn calls(&self, token: &str) -> u64 {
        let body = http_get(&self.url, "/_test/calls");
        let counts: HashMap<String, u64> = serde_json::from_str(&body).unwrap();
        counts.get(token).copied().unwrap_or(0)
    }
}

impl Drop for GithubSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET, returning the body.
fn http_get(base: &str, path: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// A GitLab API stub on 127.0.0.1 (`/api/v4/user`, `/api/v4/groups`),
/// paginated with `x-next-page`, `x-total-pages` and `Link`, as GitLab does.
pub struct GitlabStub {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// `(token, path with query)` of every request seen.
    pub seen: Arc<Mutex<Vec<(String, String)>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

struct GlUser {
    id: u64,
    username: &'static str,
    groups: Vec<(u64, String)>,
    admin: bool,
}

fn gitlab_users() -> HashMap<&'static str, GlUser> {
    let g = |list: &[(u64, &str)]| list.iter().map(|(id, p)| (*id, p.to_string())).collect();
    HashMap::from([
        (
            "gl-alice",
            GlUser {
                id: 42,
                username: "alice",
                groups: g(&[(7, "acme"), (8, "acme/platform"), (9, "acme/platform/sre")]),
                admin: false,
            },
        ),
        (
            "gl-many",
            GlUser {
                id: 43,
                username: "many",
                groups: (1..=250)
                    .map(|i| (1000 + i, format!("bulk/g{i}")))
                    .collect(),
                admin: false,
            },
        ),
        (
            "gl-admin",
            GlUser {
                id: 1,
                username: "root",
                groups: g(&[(7, "acme")]),
                admin: true,
            },
        ),
    ])
}

impl GitlabStub {
    /// Starts the stub on the current tokio runtime.
    pub async fn start() -> Self {
        use http_body_util::Full;
        use hyper::service::service_fn;
        use hyper::{Request, Response};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let users = Arc::new(gitlab_users());
        let (seen2, base) = (seen.clone(), url.clone());
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    a = listener.accept() => a.unwrap(),
                    _ = &mut rx => return,
                };
                let (users, seen, base) = (users.clone(), seen2.clone(), base.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (users, seen, base) = (users.clone(), seen.clone(), base.clone());
                        async move {
                            let token = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.strip_prefix("Bearer "))
                                .unwrap_or_default()
                                .to_owned();
                            let pq = req.uri().path_and_query().unwrap().to_string();
                            seen.lock().unwrap().push((token.clone(), pq));
                            let json = |status: u16, body: serde_json::Value| {
                                Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(bytes::Bytes::from(body.to_string())))
                                    .unwrap()
                            };
                            match token.as_str() {
                                "gl-500" => {
                                    return Ok::<_, std::convert::Infallible>(json(
                                        500,
                                        serde_json::json!({"message": "500 Internal Server Error"}),
                                    ));
                                }
                                "gl-ratelimited" => {
                                    let mut r =
                                        json(429, serde_json::json!({"message": "Retry later"}));
                                    r.headers_mut()
                                        .insert("ratelimit-remaining", "0".parse().unwrap());
                                    r.headers_mut().insert("retry-after", "30".parse().unwrap());
                                    return Ok(r);
                                }
                                "gl-hang" => std::future::pending::<()>().await,
                                "gl-garbage" => {
                                    return Ok(Response::builder()
                                        .status(200)
                                        .header("content-type", "application/json")
                                        .body(Full::new(bytes::Bytes::from_static(
                                            b"<html>proxy error</html>",
                                        )))
                                        .unwrap());
                                }
                                _ => {}
                            }
                            // gl-slow-*: alice, each call answered after 1 s (a busy upstream).
                            let token = if token.starts_with("gl-slow") {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                "gl-alice".to_owned()
                            } else {
                                token
                            };
                            let Some(user) = users.get(token.as_str()) else {
                                return Ok(json(
                                    401,
                                    serde_json::json!({"message": "401 Unauthorized"}),
                                ));
                            };
                            let path = req.uri().path();
                            let query: HashMap<String, String> = req
                                .uri()
                                .query()
                                .map(|q| {
                                    q.split('&')
                                        .filter_map(|kv| kv.split_once('='))
                                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                                        .collect()
                                })
                                .unwrap_or_default();
                            match path {
                                "/api/v4/user" => Ok(json(
                                    200,
                                    serde_json::json!({"id": user.id, "username": user.username, "name": user.username, "state": "active", "is_admin": user.admin}),
                                )),
                                "/api/v4/groups" => {
                                    let mut groups = user.groups.clone();
                                    // An administrator sees every group unless min_access_level asks for memberships.
                                    if user.admin && !query.contains_key("min_access_level") {
                                        groups.push((99, "someone-elses-group".into()));
                                    }
                                    let per: usize = query
                                        .get("per_page")
                                        .and_then(|p| p.parse().ok())
                                        .unwrap_or(20)
                                        .min(100);
                                    let page: usize =
                                        query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                                    let pages = groups.len().div_ceil(per).max(1);
                                    let items: Vec<_> = groups.iter().skip((page - 1) * per).take(per)
                                        .map(|(id, p)| serde_json::json!({"id": id, "name": p.rsplit('/').next(), "path": p.rsplit('/').next(), "full_path": p, "full_name": p}))
                                        .collect();
                                    let mut r = json(200, serde_json::Value::Array(items));
                                    let h = r.headers_mut();
                                    h.insert("x-page", page.to_string().parse().unwrap());
                                    h.insert("x-per-page", per.to_string().parse().unwrap());
                                    h.insert("x-total-pages", pages.to_string().parse().unwrap());
                                    h.insert(
                                        "x-next-page",
                                        if page < pages {
                                            (page + 1).to_string()
                                        } else {
                                            String::new()
                                        }
                                        .parse()
                                        .unwrap(),
                                    );
                                    if page < pages {
                                        let link = format!(
                                            "<{base}/api/v4/groups?min_access_level=10&page={}&per_page={per}>; rel=\"next\"",
                                            page + 1
                                        );
                                        h.insert("link", link.parse().unwrap());
                                    }
                                    Ok(r)
                                }
                                _ => Ok(json(404, serde_json::json!({"message": "404 Not Found"}))),
                            }
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        GitlabStub {
            url,
            seen,
            _shutdown: tx,
        }
    }
}

/// The OIDC issuer (`tests/peers/oidc-issuer.mjs`, npm oauth2-mock-server),
/// killed on drop.
pub struct OidcIssuer {
    child: Child,
    /// The issuer URL (`iss`), possibly forced (Google).
    pub issuer: String,
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    /// Path prefix of every endpoint (`/TENANT/v2.0` for Azure), or empty.
    pub prefix: String,
}

impl OidcIssuer {
    /// Starts the issuer; `env` sets OIDC_ISSUER / OIDC_PATH_PREFIX.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let script = node_script("oidc-issuer.mjs", "oauth2-mock-server");
        let mut cmd = Command::new("node");
        cmd.arg(&script)
            .env("OIDC_PORT", "0")
            .envs(env.iter().copied());
        let (child, line) = spawn_ready(cmd, "the OIDC issuer");
        let (issuer, port) = line.split_once(" port=").unwrap();
        let prefix = env
            .iter()
            .find(|(k, _)| *k == "OIDC_PATH_PREFIX")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        OidcIssuer {
            child,
            issuer: issuer.to_owned(),
            origin: format!("http://127.0.0.1:{port}"),
            prefix,
        }
    }

    /// Where discovery is served (origin + prefix).
    pub fn discovery(&self) -> String {
        format!("{}{}", self.origin, self.prefix)
    }

    /// A token with `claims` (iss/iat/nbf/exp pre-filled), signed with `alg`.
    pub fn sign(&self, claims: serde_json::Value, alg: &str) -> String {
        let body = http_request(
            &self.origin,
            "POST",
            &format!("{}/test/sign?alg={alg}", self.prefix),
            &claims.to_string(),
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let token = v["token"].as_str().unwrap().to_owned();
        super::secrets::register(&token);
        token
    }

    /// A new signing key; later tokens use it.
    pub fn rotate(&self) {
        http_request(
            &self.origin,
            "POST",
            &format!("{}/test/rotate", self.prefix),
            "{}",
        );
    }

    /// Discovery answers 503 while down.
    pub fn set_down(&self, down: bool) {
        let path = if down { "down" } else { "up" };
        http_request(
            &self.origin,
            "POST",
            &format!("{}/test/{path}", self.prefix),
            "{}",
        );
    }

    /// The JWKS answers 503 while down.
    pub fn set_jwks_down(&self, down: bool) {
        let path = if down { "jwks-down" } else { "jwks-up" };
        http_request(
            &self.origin,
            "POST",
            &format!("{}/test/{path}", self.prefix),
            "{}",
        );
    }

    /// The Directory API refuses (401) every token it has seen so far.
    pub fn revoke_directory_tokens(&self) {
        http_request(&self.origin, "POST", "/test/revoke-directory-tokens", "{}");
    }

    /// Calls counted by the issuer: graph, directory, token, discovery, jwks.
    pub fn calls(&self) -> serde_json::Value {
        serde_json::from_str(&http_request(&self.origin, "GET", "/test/calls", "")).unwrap()
    }
}

impl Drop for OidcIssuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 request, returning the body.
fn http_request(base: &str, method: &str, path: &str, body: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let headers = if body.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{headers}\r\n{body}"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// The local STS (`tests/peers/sts-stub.py`, botocore's own SigV4 code),
/// killed on drop.
pub struct StsStub {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl StsStub {
    /// Starts the stub with `keys` (access key → secret, ARN, ...).
    pub fn start(keys: &serde_json::Value, dir: &std::path::Path) -> Self {
        let python = testdata().join("../target/test-tools/venv/bin/python");
        assert!(
            python.exists(),
            "the test venv is missing: run .ci/install-test-deps.sh"
        );
        let keys_file = dir.join("sts-keys.json");
        std::fs::write(&keys_file, keys.to_string()).unwrap();
        let mut cmd = Command::new(python);
        cmd.arg(testdata().join("../crates/guard/tests/peers/sts-stub.py"))
            .args(["--port", "0", "--keys"])
            .arg(&keys_file);
        let (child, url) = spawn_ready(cmd, "the STS stub");
        StsStub { child, url }
    }

    /// Calls the stub received, by action.
    pub fn calls(&self, action: &str) -> u64 {
        let v: serde_json::Value =
            serde_json::from_str(&http_request(&self.url, "GET", "/_test/calls", "")).unwrap();
        v[action].as_u64().unwrap()
    }

    /// Stops the stub.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for StsStub {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A certified OpenID Provider (`tests/peers/oidc-op.mjs`, npm
/// oidc-provider) for the user's side: browser, device and refresh flows.
/// Killed on drop.
pub struct OidcProvider {
    child: Child,
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub issuer: String,
}

impl OidcProvider {
    pub fn start() -> Self {
        let script = node_script("oidc-op.mjs", "oidc-provider");
        let mut cmd = Command::new("node");
        cmd.arg(&script);
        let (child, issuer) = spawn_ready(cmd, "the OpenID provider");
        OidcProvider { child, issuer }
    }

    /// How often each grant succeeded, and discovery was read.
    pub fn calls(&self) -> serde_json::Value {
        serde_json::from_str(&http_request(&self.issuer, "GET", "/test/calls", "")).unwrap()
    }

    /// Makes `refresh_token` expired.
    pub fn expire_refresh_token(&self, refresh_token: &str) {
        let answer = http_request(
            &self.issuer,
            "POST",
            "/test/expire-refresh-token",
            refresh_token,
        );
        assert_eq!(answer, "expired");
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A stand-in Kubernetes API server over HTTPS on 127.0.0.1: it answers
/// kubectl's discovery and `get pods` (an empty list) and records every
/// Authorization header it receives. Stopped on drop.
pub struct ApiServerStub {
    pub port: u16,
    pub authorizations: Arc<Mutex<Vec<String>>>,
    _shutdown: std::sync::mpsc::Sender<()>,
}

impl ApiServerStub {
    pub fn start(cert: &std::path::Path, key: &std::path::Path) -> Self {
        use rustls_pki_types::pem::PemObject as _;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
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
        let port = listener.local_addr().unwrap().port();
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let seen = authorizations.clone();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
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
                    tokio::select! {
                        _ = &mut stop => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else { continue };
                            let acceptor = acceptor.clone();
                            let seen = seen.clone();
                            tokio::spawn(async move {
                                let Ok(tls) = acceptor.accept(tcp).await else { return };
                                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                                    if let Some(auth) = request.headers().get("authorization") {
                                        seen.lock().unwrap().push(auth.to_str().unwrap_or_default().to_owned());
                                    }
                                    let body = api_answer(request.uri().path());
                                    async move {
                                        Ok::<_, std::convert::Infallible>(
                                            hyper::Response::builder()
                                                .status(if body.is_some() { 200 } else { 404 })
                                                .header("content-type", "application/json")
                                                .body(http_body_util::Full::new(bytes::Bytes::from(
                                                    body.unwrap_or_else(|| r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#.into()),
                                                )))
                                                .unwrap(),
                                        )
                                    }
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        ApiServerStub {
            port,
            authorizations,
            _shutdown: tx,
        }
    }
}

/// What the stub answers on `path`: just enough of the API for `kubectl get pods`.
fn api_answer(path: &str) -> Option<String> {
    Some(match path {
        "/api" => r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]}"#.into(),
        "/apis" => r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[]}"#.into(),
        "/api/v1" => r#"{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list"],"shortNames":["po"]}]}"#.into(),
        "/api/v1/namespaces/default/pods" => r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}"#.into(),
        _ => return None,
    })
}

/// A server on 127.0.0.1 that resets every connection once the request
/// has arrived (an upstream behind a broken proxy). Stopped on drop.
pub struct ResettingServer {
    pub url: String,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl ResettingServer {
    /// Starts it on the current tokio runtime.
    pub async fn start() -> Self {
        use tokio::io::AsyncReadExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let (mut tcp, _) = tokio::select! {
                    a = listener.accept() => a.unwrap(),
                    _ = &mut rx => return,
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = tcp.read(&mut buf).await;
                    // SO_LINGER 0: closing sends RST instead of FIN.
                    let _ = tcp.set_zero_linger();
                    drop(tcp);
                });
            }
        });
        ResettingServer { url, _shutdown: tx }
    }
}

/// A server that answers every request with `404 Not Found` and an HTML page,
/// as an ingress' default backend or a proxy does when the real upstream (a
/// GitHub Enterprise or GitLab instance) is down. Stopped on drop.
pub struct DefaultBackend {
    pub url: String,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl DefaultBackend {
    /// Starts it on the current tokio runtime.
    pub async fn start() -> Self {
        use http_body_util::Full;
        use hyper::service::service_fn;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    a = listener.accept() => a.unwrap(),
                    _ = &mut rx => return,
                };
                tokio::spawn(async move {
                    let service = service_fn(|_req: hyper::Request<hyper::body::Incoming>| async {
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(404)
                                .header("content-type", "text/html")
                                .body(Full::new(bytes::Bytes::from_static(
                                    b"<html><head><title>404 Not Found</title></head>\
                                      <body><center><h1>404 Not Found</h1></center>\
                                      <hr><center>nginx</center></body></html>",
                                )))
                                .unwrap(),
                        )
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        DefaultBackend { url, _shutdown: tx }
    }
}
