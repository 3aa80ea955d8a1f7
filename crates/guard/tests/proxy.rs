//! `guard proxy` end to end: real kubectl through the real binary to an API
//! server stand-in over HTTPS (tests/common/apiserver.rs) that checks the
//! front-proxy client certificate or the proxy's own token, and records the
//! identity headers it receives.
#![allow(clippy::unwrap_used)]

#[path = "common/apiserver.rs"]
mod apiserver;
mod common;
#[path = "common/spdy.rs"]
mod spdy;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use apiserver::StandIn;
use common::Sandbox;
use common::server::{GuardServer, kubectl, prepare};

/// The proxy's own service-account token (impersonation mode).
const SA_TOKEN: &str = "sa-token-first-0001";

/// A sandbox with guard's PKI (the proxy's serving certificate), a
/// "cluster" PKI for the stand-in, kubeadm-style front-proxy CA and the
/// client certificate `guard init front-proxy-client` issues from it.
struct Cluster {
    sb: Sandbox,
    api: StandIn,
    tokens: PathBuf,
    sa_token: PathBuf,
}

impl Cluster {
    fn new() -> Self {
        let sb = Sandbox::new();
        let tokens = prepare(&sb);
        let home = sb.home.path().to_owned();
        let dir = |d: &str| home.join(d).to_str().unwrap().to_owned();
        sb.ok(&["init", "ca", "--pki-dir", &dir("cluster")]);
        sb.ok(&[
            "init",
            "server",
            "--pki-dir",
            &dir("cluster"),
            "--ips=127.0.0.1",
        ]);
        sb.ok(&["init", "ca", "--pki-dir", &dir("front-proxy")]);
        sb.ok(&[
            "init",
            "front-proxy-client",
            "--ca-cert-file",
            &dir("front-proxy/pki/ca.crt"),
            "--ca-key-file",
            &dir("front-proxy/pki/ca.key"),
        ]);
        let api = StandIn::start(
            &home.join("cluster/pki/server.crt"),
            &home.join("cluster/pki/server.key"),
            &home.join("front-proxy/pki/ca.crt"),
            &["front-proxy-client"],
        );
        common::secrets::register(SA_TOKEN);
        let sa_token = home.join("sa-token");
        std::fs::write(&sa_token, format!("{SA_TOKEN}\n")).unwrap();
        api.set_proxy_tokens(&[SA_TOKEN]);
        Cluster {
            sb,
            api,
            tokens,
            sa_token,
        }
    }

    fn path(&self, rel: &str) -> String {
        self.sb.home.path().join(rel).to_str().unwrap().to_owned()
    }

    /// Starts `guard proxy --mode MODE` in front of the stand-in, with the
    /// token file provider and `extra` flags.
    fn proxy(&self, mode: &str, extra: &[&str]) -> GuardServer {
        let mut args: Vec<String> = vec![
            "proxy".into(),
            "--secure-addr=127.0.0.1:0".into(),
            "--metrics-addr=127.0.0.1:0".into(),
            format!("--tls-cert-file={}", self.path(".guard/pki/server.crt")),
            format!(
                "--tls-private-key-file={}",
                self.path(".guard/pki/server.key")
            ),
            format!("--mode={mode}"),
            format!("--apiserver-ca-file={}", self.path("cluster/pki/ca.crt")),
            "--reload-interval=100ms".into(),
        ];
        if !extra.iter().any(|a| a.starts_with("--apiserver-url")) {
            args.push(format!("--apiserver-url={}", self.api.url()));
        }
        match mode {
            "front-proxy" => {
                args.push(format!(
                    "--apiserver-client-cert-file={}",
                    self.path(".guard/pki/front-proxy-client.crt")
                ));
                args.push(format!(
                    "--apiserver-client-key-file={}",
                    self.path(".guard/pki/front-proxy-client.key")
                ));
            }
            _ if extra
                .iter()
                .any(|a| a.starts_with("--apiserver-client-cert-file")) => {}
            _ => args.push(format!(
                "--apiserver-token-file={}",
                self.sa_token.display()
            )),
        }
        if !extra.iter().any(|a| a.starts_with("--auth-providers")) {
            args.push("--auth-providers=token-auth".into());
            args.push(format!("--token-auth-file={}", self.tokens.display()));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        GuardServer::spawn(&self.sb, &args, &[])
    }

    /// A kubeconfig for the proxy on `port` with `token`.
    fn kubeconfig(&self, port: u16, token: &str) -> PathBuf {
        let path = self
            .sb
            .home
            .path()
            .join(format!("kubeconfig-{port}-{}", token.len()));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: proxy\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority: {ca}\nusers:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context:\n    cluster: proxy\n    user: u\n    namespace: default\ncurrent-context: c\n",
                ca = self.path(".guard/pki/ca.crt"),
            ),
        )
        .unwrap();
        path
    }

    /// kubectl with `config`, HOME in the sandbox, stdin closed.
    fn kubectl(&self, config: &std::path::Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(kubectl());
        cmd.env("HOME", self.sb.home.path())
            .env("KUBECONFIG", config)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }
}

/// Runs a command; (success, stdout, stderr).
fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The port of the proxy's /metrics and probe listener, from its log.
fn metrics_port(proxy: &GuardServer) -> u16 {
    let log = proxy.log();
    let line = log
        .lines()
        .find_map(|l| l.split("metrics and probes on http://").nth(1))
        .expect("no metrics line in the log");
    line.trim().rsplit(':').next().unwrap().parse().unwrap()
}

/// Fails unless the `/metrics` text `metrics` has each of `series`.
fn assert_series(metrics: &str, series: &[&str]) {
    for series in series {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
}

/// A plain HTTP/1.0 GET on the metrics port.
fn probe(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A TLS connection to the proxy on `port`, trusting guard's CA, with a
/// 60 s read timeout; ALPN `http/1.1` when `http1_alpn`, else none.
fn tls_client(
    c: &Cluster,
    port: u16,
    http1_alpn: bool,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls_pki_types::CertificateDer::pem_file_iter(c.path(".guard/pki/ca.crt")).unwrap()
    {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    if http1_alpn {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    let conn = rustls::ClientConnection::new(
        std::sync::Arc::new(config),
        rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap(),
    )
    .unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Reads a response head, byte by byte up to the empty line, so that what
/// follows stays unread.
fn read_head(stream: &mut impl std::io::Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// `GET /api` with `token`, on a connection closed after the answer.
fn get_api(token: &str) -> String {
    format!(
        "GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
}

/// The answer to raw bytes sent to the proxy over TLS: status line code,
/// head, body. The request should say `Connection: close`.
fn raw(c: &Cluster, port: u16, request: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut tls = tls_client(c, port, true);
    tls.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    (code, head.to_owned(), body.to_owned())
}

/// `kubectl exec -i p1 -- cat` with `input` on its standard input.
fn kubectl_exec_cat(c: &Cluster, config: &std::path::Path, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = c
        .kubectl(config, &["exec", "-i", "p1", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// `kubectl get pods` through the proxy on `port` with `token`; the
/// kubeconfig too, for more calls.
fn get_pods(c: &Cluster, port: u16, token: &str) -> ((bool, String, String), PathBuf) {
    let config = c.kubeconfig(port, token);
    (run(&mut c.kubectl(&config, &["get", "pods"])), config)
}

use rustls_pki_types::pem::PemObject as _;

#[test]
fn front_proxy_mode_hands_the_user_over_in_x_remote_headers() {
    let c = Cluster::new();
    let proxy = c.proxy("front-proxy", &[]);
    let ((ok, _, err), _) = get_pods(&c, proxy.port, "good-token-123");
    assert!(ok, "kubectl get pods failed: {err}");

    let list = c.api.seen_at("/api/v1/namespaces/default/pods");
    assert_eq!(list.len(), 1, "{list:?}");
    let seen = &list[0];
    // The API server saw the front-proxy certificate and the user in headers.
    assert_eq!(seen.client_cn.as_deref(), Some("front-proxy-client"));
    let user = seen
        .user
        .as_ref()
        .expect("the stand-in authenticated the request");
    assert_eq!(user.name, "alice");
    assert_eq!(user.uid.as_deref(), Some("1001"));
    assert_eq!(user.groups, ["dev", "ops", "system:authenticated"]);
    // The user's credential was consumed; the client address is the real one.
    assert!(seen.header("authorization").is_empty(), "{seen:?}");
    assert_eq!(seen.header("x-forwarded-for"), ["127.0.0.1"]);
    // Plain requests may use HTTP/2 on both sides.
    assert_eq!(seen.version, hyper::Version::HTTP_2);

    // One audit line per request, without the token.
    let log = proxy.log();
    let line = log
        .lines()
        .find(|l| l.contains("audit") && l.contains("path=\"/api/v1/namespaces/default/pods\""))
        .unwrap_or_else(|| panic!("no audit line for the list:\n{log}"));
    for field in [
        "user=\"alice\"",
        "groups=\"dev,ops,system:authenticated\"",
        "verb=\"list\"",
        "status=200",
        "provider=\"token-auth\"",
        "end=\"done\"",
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
    assert!(
        line.contains("duration_ms=") && line.contains("bytes=82"),
        "{line}"
    );

    let port = metrics_port(&proxy);
    let metrics = probe(port, "/metrics");
    assert!(
        metrics.contains("guard_proxy_requests_total{code=\"200\",verb=\"list\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("guard_proxy_authentications_total{provider=\"token-auth\",outcome=\"authenticated\",source=\"uncached\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("guard_proxy_request_duration_seconds_bucket{"),
        "{metrics}"
    );
    assert!(probe(port, "/healthz").contains("\"status\":\"ok\""));
}

#[test]
fn impersonation_mode_sends_impersonate_headers_with_the_proxy_s_rotating_token() {
    let c = Cluster::new();
    let proxy = c.proxy("impersonation", &[]);
    let ((ok, _, err), config) = get_pods(&c, proxy.port, "good-token-123");
    assert!(ok, "kubectl get pods failed: {err}");
    let seen = c.api.seen_at("/api/v1/namespaces/default/pods").remove(0);
    assert_eq!(seen.client_cn, None);
    assert_eq!(seen.header("authorization"), [format!("Bearer {SA_TOKEN}")]);
    assert_eq!(seen.header("impersonate-user"), ["alice"]);
    assert_eq!(seen.header("impersonate-uid"), ["1001"]);
    assert_eq!(
        seen.header("impersonate-group"),
        ["dev", "ops", "system:authenticated"]
    );
    let user = seen.user.unwrap();
    assert_eq!(user.name, "alice");
    assert_eq!(
        user.impersonated_by.as_deref(),
        Some("system:serviceaccount:guard:guard-proxy")
    );

    // The kubelet rotates the token file: the proxy picks the new one up.
    let rotated = "sa-token-second-0002";
    common::secrets::register(rotated);
    c.api.set_proxy_tokens(&[rotated]);
    std::fs::write(c.sa_token.with_extension("new"), rotated).unwrap();
    std::fs::rename(c.sa_token.with_extension("new"), &c.sa_token).unwrap();
    common::server::eventually(
        std::time::Duration::from_secs(30),
        "the rotated token",
        || run(&mut c.kubectl(&config, &["get", "pods"])).0,
    );
    let last = c.api.seen().pop().unwrap();
    assert_eq!(last.header("authorization"), [format!("Bearer {rotated}")]);
}

#[test]
fn impersonation_mode_can_authenticate_with_a_client_certificate() {
    let c = Cluster::new();
    // A certificate the API server maps to the user guard-proxy.
    c.sb.ok(&[
        "init",
        "front-proxy-client",
        "--pki-dir",
        &c.path("proxy-identity"),
        "--common-name=guard-proxy",
        "--ca-cert-file",
        &c.path("front-proxy/pki/ca.crt"),
        "--ca-key-file",
        &c.path("front-proxy/pki/ca.key"),
    ]);
    c.api.accept_certificate_user("guard-proxy");
    let proxy = c.proxy(
        "impersonation",
        &[
            &format!(
                "--apiserver-client-cert-file={}",
                c.path("proxy-identity/pki/front-proxy-client.crt")
            ),
            &format!(
                "--apiserver-client-key-file={}",
                c.path("proxy-identity/pki/front-proxy-client.key")
            ),
        ],
    );
    let config = c.kubeconfig(proxy.port, "bob-token-456");
    let (ok, _, err) = run(&mut c.kubectl(&config, &["get", "pods"]));
    assert!(ok, "{err}");
    let seen = c.api.seen_at("/api/v1/namespaces/default/pods").remove(0);
    assert_eq!(seen.client_cn.as_deref(), Some("guard-proxy"));
    assert!(seen.header("authorization").is_empty());
    assert_eq!(seen.header("impersonate-user"), ["bob"]);
    let user = seen.user.unwrap();
    assert_eq!(user.name, "bob");
    assert_eq!(user.groups, ["system:authenticated"]);
    assert_eq!(user.impersonated_by.as_deref(), Some("guard-proxy"));
}

#[test]
fn watch_events_reach_kubectl_one_at_a_time() {
    use std::io::{BufRead, BufReader};
    let c = Cluster::new();
    let proxy = c.proxy("front-proxy", &[]);
    let config = c.kubeconfig(proxy.port, "good-token-123");
    let mut child = c
        .kubectl(&config, &["get", "pods", "--watch", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send((line, std::time::Instant::now())).is_err() {
                return;
            }
        }
    });
    // Each event is released only once kubectl printed the one before: a
    // proxy that held events back would stall here and fail the test. The
    // stand-in keeps them at least WATCH_GAP apart, an idle stream between.
    let mut arrived = Vec::new();
    for name in ["p1", "p2", "p3"] {
        c.api.release_watch_event(name);
        let (line, at) = lines
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!("pod/{name} did not reach kubectl while the watch stayed open")
            });
        assert_eq!(line, format!("pod/{name}"));
        arrived.push(at);
    }
    let sent = c.api.sent_events();
    let names: Vec<&str> = sent.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["p1", "p2", "p3"]);
    for i in 0..3 {
        assert!(
            arrived[i] >= sent[i].1,
            "event {i} arrived before it was sent"
        );
        if i < 2 {
            assert!(
                arrived[i] < sent[i + 1].1,
                "event {i} reached kubectl only after event {} was sent",
                i + 1
            );
            assert!(sent[i + 1].1 - sent[i].1 >= apiserver::WATCH_GAP);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let watch = c
        .api
        .seen_at("/api/v1/namespaces/default/pods")
        .into_iter()
        .find(|s| s.query.contains("watch=true"))
        .unwrap();
    assert_eq!(watch.user.unwrap().name, "alice");
    // The watch outlived nothing: its audit line is written when it ends.
    common::server::eventually(
        std::time::Duration::from_secs(10),
        "the watch's audit line",
        || {
            proxy
                .log()
                .lines()
                .any(|l| l.contains("audit") && l.contains("verb=\"watch\""))
        },
    );
}

#[test]
fn kubectl_exec_over_websocket_is_tunnelled() {
    let c = Cluster::new();
    for mode in ["front-proxy", "impersonation"] {
        let proxy = c.proxy(mode, &[]);
        let config = c.kubeconfig(proxy.port, "good-token-123");
        let out = kubectl_exec_cat(&c, &config, b"hello\nthrough the proxy\n");
        assert!(
            out.status.success(),
            "{mode}: kubectl exec failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello\nthrough the proxy\n"
        );
        let exec = c
            .api
            .seen_at("/api/v1/namespaces/default/pods/p1/exec")
            .pop()
            .unwrap();
        // Upgrades go to the API server over HTTP/1.1, as the same user.
        assert_eq!(exec.version, hyper::Version::HTTP_11);
        assert_eq!(exec.header("upgrade"), ["websocket"]);
        assert!(exec.header("sec-websocket-protocol")[0].contains("v5.channel.k8s.io"));
        assert_eq!(exec.user.unwrap().name, "alice", "{mode}");
        // The line is written when both directions have ended. Whether
        // kubectl's exit reaches the proxy as a clean close ("done") or as a
        // reset ("cut", when the API server's last frames arrive after
        // kubectl stopped reading) is the peers' timing, not the proxy's.
        common::server::eventually(
            std::time::Duration::from_secs(60),
            "the tunnel's audit line",
            || {
                proxy.log().lines().any(|l| {
                    l.contains("audit")
                        && l.contains("path=\"/api/v1/namespaces/default/pods/p1/exec\"")
                        && l.contains("status=101")
                        && (l.contains("end=\"done\"") || l.contains("end=\"cut\""))
                })
            },
        );
        let metrics = probe(metrics_port(&proxy), "/metrics");
        assert!(
            metrics.contains(
                "guard_proxy_upgrades_total{protocol=\"websocket\",result=\"switched\"} 1"
            ),
            "{metrics}"
        );
    }
}

#[test]
fn spdy_upgrades_are_tunnelled_byte_for_byte() {
    use std::io::{Read, Write};
    let c = Cluster::new();
    let proxy = c.proxy("front-proxy", &[]);
    let mut tls = tls_client(&c, proxy.port, false);
    write!(
        tls,
        "POST /api/v1/namespaces/default/pods/p2/exec?command=cat&stdin=true&stdout=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good-token-123\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let head = read_head(&mut tls);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: spdy/3.1"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("x-stream-protocol-version: v4.channel.k8s.io"),
        "{head}"
    );
    // Opaque frames both ways, including bytes no HTTP parser would accept.
    let frame: Vec<u8> = (0..=255u8)
        .chain(b"\r\n\r\nGET / HTTP/1.1\r\n".iter().copied())
        .collect();
    tls.write_all(&frame).unwrap();
    let mut echoed = vec![0u8; frame.len()];
    tls.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, frame);
    let exec = c
        .api
        .seen_at("/api/v1/namespaces/default/pods/p2/exec")
        .pop()
        .unwrap();
    assert_eq!(exec.version, hyper::Version::HTTP_11);
    assert!(exec.header("authorization").is_empty());
    assert_eq!(exec.user.unwrap().name, "alice");
}

#[test]
fn kubectl_falls_back_to_spdy_through_the_proxy() {
    let c = Cluster::new();
    c.api.refuse_websocket();
    let proxy = c.proxy("impersonation", &[]);
    let config = c.kubeconfig(proxy.port, "good-token-123");
    let out = kubectl_exec_cat(&c, &config, b"over SPDY/3.1\n");
    assert!(
        out.status.success(),
        "kubectl exec over SPDY failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "over SPDY/3.1\n");
    let tries: Vec<_> = c.api.seen_at("/api/v1/namespaces/default/pods/p1/exec");
    let protocols: Vec<&str> = tries.iter().map(|s| s.header("upgrade")[0]).collect();
    assert_eq!(protocols, ["websocket", "SPDY/3.1"]);
    assert!(tries.iter().all(|s| s.version == hyper::Version::HTTP_11));
    assert_eq!(tries[1].user.as_ref().unwrap().name, "alice");
    let metrics = probe(metrics_port(&proxy), "/metrics");
    assert!(
        metrics.contains("guard_proxy_upgrades_total{protocol=\"websocket\",result=\"refused\"} 1")
            && metrics
                .contains("guard_proxy_upgrades_total{protocol=\"spdy\",result=\"switched\"} 1"),
        "{metrics}"
    );
}

#[test]
fn unauthenticated_requests_get_401_and_never_reach_the_api_server() {
    let c = Cluster::new();
    let proxy = c.proxy("front-proxy", &[]);
    common::secrets::register("not-a-valid-token");
    let config = c.kubeconfig(proxy.port, "not-a-valid-token");
    let (ok, _, err) = run(&mut c.kubectl(&config, &["get", "pods"]));
    assert!(!ok);
    assert!(
        err.contains("Unauthorized") || err.contains("logged in"),
        "{err}"
    );

    for request in [
        "GET /api HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_owned(),
        get_api("not-a-valid-token"),
        "GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: Digest x\r\nConnection: close\r\n\r\n".to_owned(),
        "GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6YWxpY2Vwdw==\r\nConnection: close\r\n\r\n".to_owned(),
        "GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good-token-123\r\nAuthorization: Bearer bob-token-456\r\nConnection: close\r\n\r\n".to_owned(),
    ] {
        let (code, head, body) = raw(&c, proxy.port, &request);
        assert_eq!(code, 401, "{request}\n{head}");
        assert!(head.to_ascii_lowercase().contains("www-authenticate: bearer realm=\"guard\""), "{head}");
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "Unauthorized");
        assert!(!status["message"].as_str().unwrap().is_empty());
    }
    let (_, _, body) = raw(
        &c,
        proxy.port,
        "GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6YWxpY2Vwdw==\r\nConnection: close\r\n\r\n",
    );
    assert!(body.contains("only taken for ldap"), "{body}");
    assert!(c.api.seen().is_empty(), "forwarded: {:?}", c.api.seen());
    let metrics = probe(metrics_port(&proxy), "/metrics");
    assert!(
        metrics.contains("guard_proxy_refusals_total{reason=\"unauthenticated\"}"),
        "{metrics}"
    );
}

#[test]
fn identity_headers_sent_by_clients_are_refused() {
    let c = Cluster::new();
    let proxy = c.proxy("impersonation", &["--allow-impersonation"]);
    let proxy_fp = c.proxy("front-proxy", &[]);
    let smuggled = [
        ("Impersonate-Uid: 0", "Impersonate-Uid"),
        ("X-Remote-Group: system:masters", "X-Remote-Group"),
        ("x-ReMoTe-UsEr: admin", "X-Remote-User"),
        (
            "X-Remote-User: alice\r\nX-Remote-User: admin",
            "X-Remote-User",
        ),
        ("X-Remote-Extra-Scopes: all", "X-Remote-Extra-Scopes"),
        ("X-REMOTE-UID: 0", "X-Remote-Uid"),
    ];
    for (port, mode) in [
        (proxy.port, "impersonation"),
        (proxy_fp.port, "front-proxy"),
    ] {
        for (header, name) in smuggled {
            // Impersonate-Uid alone is a malformed impersonation where it is allowed.
            let expected = if mode == "impersonation" && name == "Impersonate-Uid" {
                400
            } else {
                403
            };
            let request = format!(
                "GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good-token-123\r\n{header}\r\nConnection: close\r\n\r\n"
            );
            let (code, head, body) = raw(&c, port, &request);
            assert_eq!(code, expected, "{mode} {header}: {head}\n{body}");
            if expected == 403 {
                assert!(body.contains(name), "{mode} {header}: {body}");
            }
        }
        // Duplicated and mixed-case impersonation headers.
        let request = "GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good-token-123\r\nImpersonate-User: bob\r\nimpersonate-USER: root\r\nConnection: close\r\n\r\n";
        let (code, _, body) = raw(&c, port, request);
        if mode == "impersonation" {
            assert_eq!(code, 400, "{body}");
            assert!(body.contains("more than once"), "{body}");
        } else {
            assert_eq!(code, 403, "{body}");
            assert!(body.contains("--allow-impersonation"), "{body}");
        }
    }
    assert!(c.api.seen().is_empty(), "forwarded: {:?}", c.api.seen());
}

#[test]
fn kubectl_as_is_refused_unless_allowed_and_then_checked_with_the_api_server() {
    let c = Cluster::new();
    let plain = c.proxy("front-proxy", &[]);
    let config = c.kubeconfig(plain.port, "good-token-123");
    let (ok, _, err) = run(&mut c.kubectl(&config, &["--as=bob", "get", "pods"]));
    assert!(!ok);
    assert!(
        err.contains("--allow-impersonation") && err.contains("Impersonate-User"),
        "{err}"
    );
    assert!(c.api.seen().is_empty());

    for (mode, target) in [("front-proxy", "bob"), ("impersonation", "carol")] {
        let proxy = c.proxy(mode, &["--allow-impersonation"]);
        let config = c.kubeconfig(proxy.port, "good-token-123");
        // Not allowed (yet): refused after asking the API server, as alice.
        let (ok, _, err) =
            run(&mut c.kubectl(&config, &[&format!("--as={target}"), "get", "pods"]));
        assert!(!ok);
        assert!(
            err.contains(&format!("may not impersonate users \"{target}\"")),
            "{mode}: {err}"
        );
        let review = c
            .api
            .seen_at("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
            .pop()
            .unwrap();
        assert_eq!(review.method, "POST");
        assert_eq!(review.user.unwrap().name, "alice", "{mode}");
        c.api.allow_impersonation("alice", "users", target);
        c.api.allow_impersonation("alice", "groups", "viewers");
        let before = c.api.seen().len();
        let (ok, _, err) = run(&mut c.kubectl(
            &config,
            &[
                &format!("--as={target}"),
                "--as-group=viewers",
                "get",
                "pods",
            ],
        ));
        assert!(ok, "{mode}: {err}");
        let list = c.api.seen()[before..]
            .iter()
            .find(|s| s.path == "/api/v1/namespaces/default/pods")
            .cloned()
            .unwrap();
        let user = list.user.unwrap();
        assert_eq!(user.name, target, "{mode}");
        assert_eq!(user.groups, ["viewers", "system:authenticated"]);
        let original: serde_json::Value =
            serde_json::from_str(&user.extra["original-user-info.proxy.guard-rs.github.io"][0])
                .unwrap();
        assert_eq!(original["username"], "alice");
        assert_eq!(
            original["groups"],
            serde_json::json!(["dev", "ops", "system:authenticated"])
        );
        // A group alice may not take on is refused.
        let (ok, _, err) = run(&mut c.kubectl(
            &config,
            &[
                &format!("--as={target}"),
                "--as-group=system:masters",
                "get",
                "pods",
            ],
        ));
        assert!(!ok);
        assert!(
            err.contains("may not impersonate groups \"system:masters\""),
            "{mode}: {err}"
        );
        let line = proxy
            .log()
            .lines()
            .find(|l| {
                l.contains("audit")
                    && l.contains(&format!("as_user=\"{target}\""))
                    && l.contains("status=200")
            })
            .map(str::to_owned);
        assert!(
            line.is_some_and(|l| l.contains("user=\"alice\"")),
            "{}",
            proxy.log()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_outage_is_503_and_not_forwarded() {
    let resetting = common::peers::ResettingServer::start().await;
    let c = Cluster::new();
    let proxy = c.proxy(
        "front-proxy",
        &[
            "--auth-providers=gitlab",
            "--org=gitlab=acme",
            &format!("--gitlab.base-url={}", resetting.url),
            "--provider-timeout=3s",
        ],
    );
    common::secrets::register("glpat-outage-token");
    let config = c.kubeconfig(proxy.port, "glpat-outage-token");
    // Blocking calls below: the ResettingServer runs on the other worker.
    let (ok, _, err) =
        tokio::task::block_in_place(|| run(&mut c.kubectl(&config, &["get", "pods"])));
    assert!(!ok);
    // kubectl's discovery shows its own words for a 503; the body says why.
    assert!(err.contains("ServiceUnavailable"), "{err}");
    let (code, _, body) =
        tokio::task::block_in_place(|| raw(&c, proxy.port, &get_api("glpat-outage-token")));
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("gitlab did not answer"), "{body}");
    assert!(c.api.seen().is_empty());
    let metrics = probe(metrics_port(&proxy), "/metrics");
    assert!(
        metrics.contains("guard_proxy_refusals_total{reason=\"provider_unavailable\"}"),
        "{metrics}"
    );
}

#[test]
fn ldap_basic_credentials_and_tokens_go_through_the_ordered_providers() {
    let slapd = common::ldap::Slapd::start();
    let c = Cluster::new();
    let mut args: Vec<String> = slapd
        .flags()
        .into_iter()
        .filter(|f| !f.starts_with("--auth-providers") && !f.starts_with("--server-write-timeout"))
        .collect();
    args.push("--auth-providers=token-auth,ldap".into());
    args.push(format!("--token-auth-file={}", c.tokens.display()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proxy = c.proxy("front-proxy", &args);

    // kubectl with a user name and password sends Basic credentials.
    let basic = common::ldap::token("alice:alicepw");
    let config = c.sb.home.path().join("kubeconfig-basic");
    std::fs::write(
        &config,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: p\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n    username: alice\n    password: alicepw\ncontexts:\n- name: c\n  context: {{cluster: p, user: u, namespace: default}}\ncurrent-context: c\n",
            proxy.port,
            c.path(".guard/pki/ca.crt")
        ),
    )
    .unwrap();
    let (ok, _, err) = run(&mut c.kubectl(&config, &["get", "pods"]));
    assert!(ok, "kubectl with Basic credentials: {err}");
    let seen = c
        .api
        .seen_at("/api/v1/namespaces/default/pods")
        .pop()
        .unwrap();
    let mut user = seen.user.unwrap();
    user.groups.sort();
    assert_eq!(user.name, "alice");
    assert_eq!(user.groups, ["admins", "devs", "system:authenticated"]);

    // The same LDAP token as a bearer token (what `guard get token -o ldap` prints).
    let config = c.kubeconfig(proxy.port, &basic);
    assert!(run(&mut c.kubectl(&config, &["get", "pods"])).0);
    // A token-file token: the first provider answers.
    let config = c.kubeconfig(proxy.port, "bob-token-456");
    assert!(run(&mut c.kubectl(&config, &["get", "pods"])).0);
    let seen = c
        .api
        .seen_at("/api/v1/namespaces/default/pods")
        .pop()
        .unwrap();
    assert_eq!(seen.user.unwrap().name, "bob");
    // A wrong password.
    common::secrets::register("wrongpw1");
    let (code, head, body) = raw(
        &c,
        proxy.port,
        &format!(
            "GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n",
            common::ldap::token("alice:wrongpw1")
        ),
    );
    assert_eq!(code, 401, "{head}");
    assert!(head.contains("Basic realm=\"guard\""), "{head}");
    assert!(body.contains("user name or password"), "{body}");
    let log = proxy.log();
    assert!(
        log.contains("provider=\"ldap\"") && log.contains("provider=\"token-auth\""),
        "{log}"
    );
}

#[test]
fn long_running_requests_have_no_deadline_other_requests_do() {
    let c = Cluster::new();
    let proxy = c.proxy("front-proxy", &["--request-timeout=1s"]);
    let config = c.kubeconfig(proxy.port, "good-token-123");
    // logs -f streams for longer than the request timeout.
    c.api.set_log_gap(std::time::Duration::from_millis(2500));
    let (ok, out, err) = run(&mut c.kubectl(&config, &["logs", "-f", "p1"]));
    assert!(ok, "kubectl logs -f: {err}");
    assert_eq!(out, "first line\nsecond line\n");
    // A plain GET whose answer takes longer is cut off with 504.
    let (ok, _, err) = run(&mut c.kubectl(&config, &["get", "configmap", "slow"]));
    assert!(!ok);
    assert!(err.contains("did not answer within 1s"), "{err}");
    let metrics = probe(metrics_port(&proxy), "/metrics");
    assert!(
        metrics.contains("guard_proxy_upstream_errors_total{reason=\"timeout\"}"),
        "{metrics}"
    );
}

#[test]
fn an_unreachable_api_server_is_a_clear_503() {
    let c = Cluster::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = c.proxy(
        "front-proxy",
        &[&format!("--apiserver-url=https://127.0.0.1:{closed}")],
    );
    let (code, _, body) = raw(&c, proxy.port, &get_api("good-token-123"));
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("the API server cannot be reached"), "{body}");
}

#[test]
fn the_api_server_refuses_a_front_proxy_certificate_it_does_not_allow() {
    // The stand-in checks allowed names like kube-apiserver: a certificate
    // from the right CA with another CN is not a front proxy.
    let c = Cluster::new();
    c.sb.ok(&[
        "init",
        "front-proxy-client",
        "--force",
        "--common-name=someone-else",
        "--ca-cert-file",
        &c.path("front-proxy/pki/ca.crt"),
        "--ca-key-file",
        &c.path("front-proxy/pki/ca.key"),
    ]);
    let proxy = c.proxy("front-proxy", &[]);
    let (code, _, body) = raw(&c, proxy.port, &get_api("good-token-123"));
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("CN=someone-else"), "{body}");
}

#[test]
fn init_front_proxy_client_issues_from_the_front_proxy_ca() {
    let c = Cluster::new();
    let cert = c.sb.pki().join("front-proxy-client.crt");
    let key = c.sb.pki().join("front-proxy-client.key");
    assert_eq!(common::subject(&cert), "CN=front-proxy-client");
    assert!(common::verifies(
        &c.sb.home.path().join("front-proxy/pki/ca.crt"),
        &cert
    ));
    assert!(!common::verifies(&c.sb.pki().join("ca.crt"), &cert));
    assert!(common::x509_text(&cert).contains("TLS Web Client Authentication"));
    assert_eq!(common::mode(&key), 0o600);
    let again = [
        "init",
        "front-proxy-client",
        "--ca-cert-file",
        &c.path("front-proxy/pki/ca.crt"),
        "--ca-key-file",
        &c.path("front-proxy/pki/ca.key"),
    ];
    let err = c.sb.fails(&again);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    let err = c.sb.fails(&[
        "init",
        "front-proxy-client",
        "--ca-cert-file",
        "/nonexistent/front-proxy-ca.crt",
    ]);
    assert!(err.contains("/nonexistent/front-proxy-ca.crt"), "{err}");
}

#[test]
fn proxy_flags_are_checked_before_serving() {
    let c = Cluster::new();
    let base = |mode: &str| {
        vec![
            "proxy".to_owned(),
            "--secure-addr=127.0.0.1:0".to_owned(),
            "--metrics-addr=".to_owned(),
            format!("--tls-cert-file={}", c.path(".guard/pki/server.crt")),
            format!("--tls-private-key-file={}", c.path(".guard/pki/server.key")),
            format!("--mode={mode}"),
            format!("--apiserver-ca-file={}", c.path("cluster/pki/ca.crt")),
        ]
    };
    let fails = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        c.sb.fails(&args)
    };
    let mut args = base("front-proxy");
    args.extend([
        format!("--apiserver-url={}", c.api.url()),
        "--auth-providers=token-auth".into(),
        format!("--token-auth-file={}", c.tokens.display()),
    ]);
    let err = fails(args);
    assert!(
        err.contains("--apiserver-client-cert-file") && err.contains("front-proxy-client"),
        "{err}"
    );

    let mut args = base("impersonation");
    args.extend([
        format!("--apiserver-url={}", c.api.url()),
        "--auth-providers=github".into(),
        format!("--apiserver-token-file={}", c.sa_token.display()),
    ]);
    let err = fails(args);
    assert!(err.contains("--org github=NAME"), "{err}");

    let mut args = base("impersonation");
    args.extend([
        "--auth-providers=token-auth".into(),
        format!("--token-auth-file={}", c.tokens.display()),
        "--apiserver-token-file=/nonexistent/token".into(),
        format!("--apiserver-url={}", c.api.url()),
    ]);
    let err = fails(args);
    assert!(err.contains("/nonexistent/token"), "{err}");

    let mut args = base("impersonation");
    args.extend([
        "--auth-providers=token-auth".into(),
        format!("--token-auth-file={}", c.tokens.display()),
        format!("--apiserver-token-file={}", c.sa_token.display()),
        "--apiserver-url=http://127.0.0.1:1".into(),
    ]);
    let err = fails(args);
    assert!(err.contains("https://"), "{err}");
}

#[test]
fn oversized_heads_and_silent_clients_are_cut_off() {
    use std::io::Read;
    let c = Cluster::new();
    let proxy = c.proxy(
        "front-proxy",
        &["--server-read-timeout=1s", "--max-header-bytes=16384"],
    );
    // A request head larger than --max-header-bytes.
    let big = "x".repeat(20_000);
    let (code, head, _) = raw(
        &c,
        proxy.port,
        &format!(
            "GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good-token-123\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(code, 431, "{head}");
    // A client that connects and says nothing is dropped after the read
    // timeout (the read returns instead of hanging).
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = tcp.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the proxy sent bytes to a silent client");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    // Same after a TLS handshake with no request.
    let mut tls = tls_client(&c, proxy.port, true);
    // The handshake completes; then the client says nothing.
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    let mut rest = Vec::new();
    match tls.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the proxy kept a silent TLS connection open: {e}"
        ),
    }
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(c.api.seen().is_empty());
}

#[test]
fn connections_to_the_api_server_are_reused() {
    let c = Cluster::new();
    let proxy = c.proxy("front-proxy", &[]);
    let request = "GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good-token-123\r\n\r\n";
    // Many requests, one after the other, on one client connection.
    use std::io::{Read, Write};
    let mut tls = tls_client(&c, proxy.port, true);
    for _ in 0..20 {
        tls.write_all(request.as_bytes()).unwrap();
        let head = read_head(&mut tls).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .expect("a content-length")
            .trim()
            .parse()
            .unwrap();
        let mut body = vec![0u8; length];
        tls.read_exact(&mut body).unwrap();
    }
    assert_eq!(c.api.seen().len(), 20);
    assert_eq!(
        c.api.connections(),
        1,
        "a new API server connection per request"
    );
}

/// `kubernetes-validate --strict` over `file` for the oldest and newest
/// Kubernetes releases the installer targets.
fn validate_strictly(file: &std::path::Path) {
    let tool = kubectl().with_file_name("kubernetes-validate");
    for version in ["1.29.0", "1.37.0"] {
        let (ok, out, err) = run(Command::new(&tool)
            .args(["--strict", "--quiet", "-k", version])
            .arg(file));
        assert!(ok, "kubernetes-validate {version}: {out}{err}");
    }
}

/// The documents of a YAML stream, and their `Kind/name`s.
fn documents(yaml: &str) -> (Vec<serde_json::Value>, Vec<String>) {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_str_multiple(yaml).unwrap();
    let kinds = docs
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    (docs, kinds)
}

#[test]
fn the_installer_deploys_the_proxy_with_impersonation_rights_and_nothing_broader() {
    use base64::Engine as _;
    use common::require::Peer;
    if common::require::missing(&[Peer::KubernetesValidate]) {
        return;
    }
    let c = Cluster::new();
    let tokens = format!("--token-auth-file={}", c.tokens.display());
    let installer = |extra: &[&str]| {
        let mut args = vec![
            "get",
            "installer",
            "--proxy",
            "--auth-providers=token-auth",
            &tokens,
        ];
        args.extend(extra);
        let yaml = c.sb.ok(&args);
        let file = c.sb.home.path().join("proxy-installer.yaml");
        std::fs::write(&file, &yaml).unwrap();
        validate_strictly(&file);
        assert!(!yaml.contains("BEGIN"), "PEM in clear text:\n{yaml}");
        yaml
    };

    // Impersonation mode (the default): a service account that may
    // impersonate users, groups, uids and extras, and do nothing else.
    let (docs, kinds) = documents(&installer(&[]));
    assert_eq!(
        kinds,
        [
            "ServiceAccount/guard-proxy",
            "ClusterRole/guard-proxy-impersonator",
            "ClusterRoleBinding/guard-proxy-impersonator",
            "Deployment/guard-proxy",
            "Secret/guard-proxy-pki",
            "Secret/guard-token-auth",
            "Service/guard-proxy",
        ]
    );
    assert_eq!(
        docs[1]["rules"],
        serde_json::json!([
            {"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]},
            {"apiGroups": ["authentication.k8s.io"], "resources": ["uids", "userextras"], "verbs": ["impersonate"]},
        ])
    );
    assert_eq!(
        docs[2]["roleRef"],
        serde_json::json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "guard-proxy-impersonator"})
    );
    assert_eq!(
        docs[2]["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "guard-proxy", "namespace": "kube-system"}])
    );
    let pod = &docs[3]["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "guard-proxy");
    assert_eq!(pod["automountServiceAccountToken"], true);
    let args = pod["containers"][0]["args"].as_array().unwrap();
    assert_eq!(args[0], "proxy");
    assert!(args.contains(&"--mode=impersonation".into()), "{args:?}");
    assert_eq!(docs[6]["spec"]["selector"]["app"], "guard-proxy");

    // Front-proxy mode: the client certificate in a Secret, no service
    // account token and no RBAC; with a NetworkPolicy for the probe port.
    let (docs, kinds) = documents(&installer(&[
        "--proxy-mode=front-proxy",
        "-n",
        "guard-system",
        "--replicas=2",
        "--proxy-service-type=LoadBalancer",
        "--network-policy",
        "--metrics-namespace=monitoring",
    ]));
    assert_eq!(
        kinds,
        [
            "Namespace/guard-system",
            "Deployment/guard-proxy",
            "Secret/guard-proxy-pki",
            "Secret/guard-proxy-front-proxy-client",
            "Secret/guard-token-auth",
            "Service/guard-proxy",
            "PodDisruptionBudget/guard-proxy",
            "NetworkPolicy/guard-proxy",
        ]
    );
    let pod = &docs[1]["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert!(pod["serviceAccountName"].is_null());
    let client_cert = base64::engine::general_purpose::STANDARD
        .decode(docs[3]["data"]["tls.crt"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        client_cert,
        std::fs::read(c.path(".guard/pki/front-proxy-client.crt")).unwrap()
    );
    assert_eq!(docs[5]["spec"]["type"], "LoadBalancer");
    let ingress = &docs[7]["spec"]["ingress"];
    assert_eq!(ingress[0]["ports"][0]["port"], "https");
    assert!(ingress[0]["from"].is_null(), "{ingress}");
    assert_eq!(ingress[1]["ports"][0]["port"], "probes");
    assert_eq!(
        ingress[1]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );

    // What cannot work is refused before anything is printed.
    for (extra, needle) in [
        (&["--host-network"][..], "--proxy-service-type"),
        (
            &["--auth-providers=token-auth,github"][..],
            "--org github=NAME",
        ),
        (&["--proxy-service-type=External"][..], "LoadBalancer"),
    ] {
        let mut args = vec!["get", "installer", "--proxy", &tokens];
        if !extra[0].starts_with("--auth-providers") {
            args.push("--auth-providers=token-auth");
        }
        args.extend(extra);
        let err = c.sb.fails(&args);
        assert!(err.contains(needle), "{extra:?}: {err}");
    }
    std::fs::remove_file(c.sb.pki().join("front-proxy-client.key")).unwrap();
    let err = c.sb.fails(&[
        "get",
        "installer",
        "--proxy",
        "--proxy-mode=front-proxy",
        "--auth-providers=token-auth",
        &tokens,
    ]);
    assert!(err.contains("guard init front-proxy-client"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installed_proxy_serves_kubectl_after_guard_login() {
    let gitlab = common::peers::GitlabStub::start().await;
    let c = Cluster::new();
    common::secrets::register("gl-alice");
    let yaml = c.sb.ok(&[
        "get",
        "installer",
        "--proxy",
        "--proxy-mode=front-proxy",
        "--auth-providers=gitlab",
        "--org=gitlab=acme",
        &format!("--gitlab.base-url={}", gitlab.url),
    ]);
    // The pod: its Secrets, and the namespace's kube-root-ca.crt ConfigMap
    // (the API server's CA), where they would be mounted.
    let root = c.sb.home.path().join("pod");
    let (args, mut env) = common::server::materialise(&yaml, &root);
    std::fs::create_dir_all(root.join("etc/guard/apiserver")).unwrap();
    std::fs::copy(
        c.path("cluster/pki/ca.crt"),
        root.join("etc/guard/apiserver/ca.crt"),
    )
    .unwrap();
    // The address every pod is given for the API server.
    let api_port = c.api.url().rsplit(':').next().unwrap().to_owned();
    env.push(("KUBERNETES_SERVICE_HOST".into(), "127.0.0.1".into()));
    env.push(("KUBERNETES_SERVICE_PORT".into(), api_port));
    let proxy = GuardServer::spawn(&c.sb, &args, &env);

    // The user's side: one command writes the cluster, user and context.
    let config = c.sb.home.path().join("kubeconfig-login");
    let server = format!("https://127.0.0.1:{}", proxy.port);
    let out = c.sb.ok(&[
        "login",
        "-o",
        "gitlab",
        "--server",
        &server,
        "--kubeconfig",
        config.to_str().unwrap(),
    ]);
    assert!(out.contains("cluster 127.0.0.1 added"), "{out}");
    let text = std::fs::read_to_string(&config).unwrap();
    let ca = std::fs::read(c.path(".guard/pki/ca.crt")).unwrap();
    use base64::Engine as _;
    assert!(
        text.contains(&format!(
            "certificate-authority-data: {}",
            base64::engine::general_purpose::STANDARD.encode(ca)
        )),
        "{text}"
    );
    let (ok, _, err) = tokio::task::block_in_place(|| {
        run(c
            .kubectl(
                &config,
                &["--context=127.0.0.1-gitlab", "get", "pods", "-n", "default"],
            )
            .env("GITLAB_TOKEN", "gl-alice"))
    });
    assert!(ok, "kubectl through the installed proxy: {err}");
    let seen = c.api.seen_at("/api/v1/namespaces/default/pods").remove(0);
    assert_eq!(seen.client_cn.as_deref(), Some("front-proxy-client"));
    assert!(seen.header("authorization").is_empty());
    let user = seen.user.unwrap();
    assert_eq!(user.name, "alice");
    assert!(
        user.groups.contains(&"acme".to_owned()),
        "{:?}",
        user.groups
    );

    // A second login changes nothing; another server updates the cluster.
    let out = c.sb.ok(&[
        "login",
        "-o",
        "gitlab",
        "--server",
        &server,
        "--kubeconfig",
        config.to_str().unwrap(),
    ]);
    assert!(out.contains("nothing changed"), "{out}");
    let err = c.sb.fails(&[
        "login",
        "-o",
        "gitlab",
        "--server",
        "http://127.0.0.1:1",
        "--kubeconfig",
        config.to_str().unwrap(),
    ]);
    assert!(err.contains("https://"), "{err}");
}

#[test]
fn a_broken_api_server_ca_stops_the_start_before_listening() {
    let c = Cluster::new();
    let broken = c.sb.home.path().join("broken-ca.crt");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    let out = c.sb.run(&[
        "proxy",
        "--secure-addr=127.0.0.1:0",
        "--metrics-addr=127.0.0.1:0",
        &format!("--tls-cert-file={}", c.path(".guard/pki/server.crt")),
        &format!("--tls-private-key-file={}", c.path(".guard/pki/server.key")),
        "--mode=impersonation",
        &format!("--apiserver-url={}", c.api.url()),
        &format!("--apiserver-ca-file={}", broken.display()),
        &format!("--apiserver-token-file={}", c.sa_token.display()),
        "--auth-providers=token-auth",
        &format!("--token-auth-file={}", c.tokens.display()),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("listening"), "{err}");
    assert!(!err.contains("metrics and probes on"), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].starts_with("error: ") && errors[0].contains("broken-ca.crt"),
        "{err}"
    );
}

#[test]
fn the_proxy_exports_the_providers_counters() {
    let c = Cluster::new();
    let mapping = c.sb.home.path().join("eks-mapping.yaml");
    std::fs::write(
        &mapping,
        "mapUsers:\n- userarn: arn:aws:iam::123456789012:user/bob\n  username: bob\n",
    )
    .unwrap();
    let proxy = c.proxy(
        "front-proxy",
        &[
            "--auth-providers=token-auth,eks",
            &format!("--token-auth-file={}", c.tokens.display()),
            "--org=eks=demo",
            &format!("--eks.mapping-file={}", mapping.display()),
        ],
    );
    let ((ok, _, err), _) = get_pods(&c, proxy.port, "good-token-123");
    assert!(ok, "{err}");
    let metrics = probe(metrics_port(&proxy), "/metrics");
    assert_series(
        &metrics,
        &[
            // What each provider of the chain said, as `guard run` counts it.
            "guard_provider_checks_total{provider=\"token-auth\",result=\"authenticated\"} ",
            "guard_provider_checks_total{provider=\"eks\",result=\"not_asked\"} ",
            // A provider's own counter.
            "guard_eks_sts_throttling_total 0",
            // And the proxy's.
            "guard_proxy_requests_total{code=\"200\",verb=\"list\"} ",
        ],
    );
}

/// The sockets process `pid` holds open.
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// Hundreds of silent TCP connections on the proxy's metrics and probe
/// port, each opened again as soon as the proxy closes it, neither pile up
/// (the port holds at most 512, as `guard run`'s does) nor keep kubelet's
/// probe out: the oldest silent connection is closed to make room.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn silent_connections_on_the_probe_port_are_capped_and_cannot_keep_probes_out() {
    use std::time::Duration;
    // More than the probe port holds.
    const SQUATTERS: usize = 700;
    const PROBE_PORT_LIMIT: usize = 512;
    let c = Cluster::new();
    let proxy = c.proxy("front-proxy", &[]);
    let port = metrics_port(&proxy);
    let baseline = open_sockets(proxy.pid());
    let squatters = common::server::Squatters::start(port, SQUATTERS);
    squatters.connected().await;
    // The sockets the proxy holds, watched while every squatter is closed
    // and comes back (the proxy closes a silent one after 1 s).
    let mut most = 0;
    squatters
        .opened_at_least(2 * SQUATTERS, || {
            most = most.max(open_sockets(proxy.pid()));
        })
        .await;
    for attempt in 0..3 {
        most = most.max(open_sockets(proxy.pid()));
        // kubelet waits 5 s for its probe; this is generous.
        let status =
            tokio::time::timeout(Duration::from_secs(10), common::server::probe_healthz(port))
                .await
                .unwrap_or_else(|_| panic!("probe {attempt}: no answer within 10 s"))
                .unwrap_or_else(|e| panic!("probe {attempt}: {e}"));
        assert_eq!(status, 200, "probe {attempt}");
        most = most.max(open_sockets(proxy.pid()));
    }
    drop(squatters);
    // Every squatter's connection was completed by the kernel; the proxy
    // took at most its limit of them (the rest wait in the listen backlog),
    // plus the one accepted while it makes room, and a little slack.
    assert!(
        most <= baseline + PROBE_PORT_LIMIT + 8,
        "the proxy held {most} sockets ({baseline} before the squatters came)"
    );
}

#[test]
fn connect_and_dot_segments_are_refused_before_the_api_server() {
    let c = Cluster::new();
    let proxy = c.proxy("front-proxy", &[]);
    // CONNECT, with and without a valid token: 405, never a tunnel.
    for auth in ["Authorization: Bearer good-token-123\r\n", ""] {
        let (code, head, body) = raw(
            &c,
            proxy.port,
            &format!(
                "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n{auth}Connection: close\r\n\r\n"
            ),
        );
        assert_eq!(code, 405, "{head}\n{body}");
        assert!(
            head.to_ascii_lowercase().contains("\r\nallow: get"),
            "{head}"
        );
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status["reason"], "MethodNotAllowed", "{body}");
        let message = status["message"].as_str().unwrap();
        assert!(
            message.contains("CONNECT") && !message.contains('\n'),
            "{body}"
        );
    }
    // Paths that would resolve to another object than the one they show.
    for path in [
        "/api/v1/namespaces/default/pods/../../kube-system/secrets",
        "/api/v1/namespaces/default/%2e%2e/kube-system/secrets",
        "/api/v1/namespaces/default/%2E%2e/kube-system/secrets",
        "/api/v1/namespaces/default/.%2e/kube-system/secrets",
        "/api/v1/namespaces/default/..%2fkube-system/secrets",
        "/api/v1/namespaces/default/pods/./p1",
    ] {
        let (code, head, body) = raw(
            &c,
            proxy.port,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good-token-123\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(code, 400, "{path}: {head}\n{body}");
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status["reason"], "BadRequest", "{body}");
        assert!(
            status["message"]
                .as_str()
                .unwrap()
                .contains("\"..\" segment"),
            "{body}"
        );
    }
    // Nothing arrived at the API server.
    assert!(c.api.seen().is_empty(), "forwarded: {:?}", c.api.seen());
    // An ordinary path still goes through.
    let (code, _, body) = raw(
        &c,
        proxy.port,
        "GET /api/v1/namespaces/default/pods/p1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good-token-123\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(c.api.seen().len(), 1);
    let metrics = probe(metrics_port(&proxy), "/metrics");
    assert_series(
        &metrics,
        &[
            "guard_proxy_refusals_total{reason=\"method_not_allowed\"} 2",
            "guard_proxy_refusals_total{reason=\"dot_segment\"} 6",
            "guard_proxy_requests_total{code=\"405\",verb=\"other\"} 2",
        ],
    );
    let log = proxy.log();
    assert!(
        log.lines().any(|l| l.contains("audit")
            && l.contains("method=CONNECT")
            && l.contains("status=405")),
        "{log}"
    );
}

#[test]
fn impersonated_groups_follow_kube_apiserver_s_rule() {
    let c = Cluster::new();
    let proxy = c.proxy("impersonation", &["--allow-impersonation"]);
    let config = c.kubeconfig(proxy.port, "good-token-123");
    c.api
        .allow_impersonation("alice", "users", "system:anonymous");
    c.api.allow_impersonation("alice", "users", "bob");
    c.api
        .allow_impersonation("alice", "groups", "system:unauthenticated");
    c.api.allow_impersonation("alice", "groups", "viewers");
    for (flags, groups) in [
        // The anonymous user is unauthenticated, never authenticated.
        (
            &["--as=system:anonymous"][..],
            &["system:unauthenticated"][..],
        ),
        (
            &["--as=system:anonymous", "--as-group=viewers"],
            &["viewers", "system:unauthenticated"],
        ),
        // Anyone else is authenticated unless asked to be unauthenticated.
        (&["--as=bob"], &["system:authenticated"]),
        (
            &["--as=bob", "--as-group=system:unauthenticated"],
            &["system:unauthenticated"],
        ),
    ] {
        let before = c.api.seen().len();
        let mut args = flags.to_vec();
        args.extend(["get", "pods"]);
        let (ok, _, err) = run(&mut c.kubectl(&config, &args));
        assert!(ok, "{flags:?}: {err}");
        let list = c.api.seen()[before..]
            .iter()
            .find(|s| s.path == "/api/v1/namespaces/default/pods")
            .cloned()
            .unwrap();
        assert_eq!(list.user.unwrap().groups, groups, "{flags:?}");
    }
}

#[test]
fn a_broken_request_body_is_the_client_s_error_not_an_api_server_outage() {
    let c = Cluster::new();
    let proxy = c.proxy("front-proxy", &["--request-timeout=2s"]);
    let post = |rest: &str| {
        format!(
            "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good-token-123\r\nContent-Type: application/json\r\nConnection: close\r\n{rest}"
        )
    };
    // A chunked body whose chunk size is not a hexadecimal number.
    let (code, head, body) = raw(
        &c,
        proxy.port,
        &post("Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    );
    assert_eq!(code, 400, "{head}\n{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reason"], "BadRequest", "{body}");
    let message = status["message"].as_str().unwrap();
    assert!(message.contains("request body"), "{body}");
    // A body that stops arriving (10 of 100 bytes) while the API server
    // waits for the rest: 408, not the API server's timeout (504).
    let (code, head, body) = raw(
        &c,
        proxy.port,
        &post("Content-Length: 100\r\n\r\n{\"kind\":1,"),
    );
    assert_eq!(code, 408, "{head}\n{body}");
    assert!(body.contains("request body did not arrive"), "{body}");
    // A well-formed body goes through.
    let (code, _, body) = raw(&c, proxy.port, &post("Content-Length: 2\r\n\r\n{}"));
    assert_eq!(code, 201, "{body}");

    let metrics = probe(metrics_port(&proxy), "/metrics");
    assert_series(
        &metrics,
        &[
            "guard_proxy_requests_total{code=\"400\",verb=\"create\"} 1",
            "guard_proxy_requests_total{code=\"408\",verb=\"create\"} 1",
            "guard_proxy_refusals_total{reason=\"bad_request_body\"} 1",
            "guard_proxy_refusals_total{reason=\"request_body_timeout\"} 1",
        ],
    );
    assert!(
        !metrics.contains("guard_proxy_upstream_errors_total{"),
        "the client's fault was counted as the API server's:\n{metrics}"
    );
    let mut statuses = Vec::new();
    common::server::eventually(
        std::time::Duration::from_secs(30),
        "three audit lines",
        || {
            statuses = proxy
                .log()
                .lines()
                .filter(|l| l.contains("audit") && l.contains("verb=\"create\""))
                .filter_map(|l| {
                    l.split("status=")
                        .nth(1)?
                        .split_whitespace()
                        .next()
                        .map(str::to_owned)
                })
                .collect();
            statuses.len() == 3
        },
    );
    statuses.sort();
    assert_eq!(statuses, ["201", "400", "408"]);
}
