//! What an outside reviewer found by attacking the release binary, each
//! through the real `guard`: names from a provider that would forge log
//! lines, credentials echoed in refusals or trace logs, identity headers
//! spelled with underscores, the open-file limit, a busy address, an
//! in-tree authenticator that would drop PoP, unbounded request values in
//! authz answers.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::client::{Call, send};
use common::server::*;
use common::*;
use rustls::pki_types::pem::PemObject as _;

/// A token whose user name and group carry a newline and what a forged log
/// line would say after it (an identity provider's claims, a directory's
/// attributes: not necessarily the operator's own words).
const FORGING_TOKEN: &str = "forging-token-0001";
const FORGING_LINE: &str = "forging-token-0001,\"carol\nINFO review FORGED user=\"\"admin\"\"\",1003,\"dev\nINFO audit FORGED user=\"\"admin\"\" groups=system:masters\"\n";

/// The proxy's own token (impersonation mode); never sent here: the
/// requests of these tests are answered by the proxy itself.
const SA_TOKEN: &str = "proxy-sa-token-0001";

/// Writes `lines` as the sandbox's token file.
fn token_file(sb: &Sandbox, lines: &str) -> PathBuf {
    let path = sb.home.path().join("forging.csv");
    std::fs::write(&path, lines).unwrap();
    path
}

/// `guard proxy` (impersonation mode) in front of a closed port: every
/// request these tests send is answered by the proxy before the API server
/// would be asked.
fn proxy(sb: &Sandbox, tokens: &Path, extra: &[&str]) -> GuardServer {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    proxy_to(sb, tokens, closed, extra)
}

/// `guard proxy` (impersonation mode) in front of 127.0.0.1:`upstream`.
fn proxy_to(sb: &Sandbox, tokens: &Path, upstream: u16, extra: &[&str]) -> GuardServer {
    common::secrets::register(SA_TOKEN);
    let sa = sb.home.path().join("sa.token");
    std::fs::write(&sa, format!("{SA_TOKEN}\n")).unwrap();
    let pki = sb.pki();
    let mut args = vec![
        "proxy".to_owned(),
        "--secure-addr=127.0.0.1:0".to_owned(),
        "--metrics-addr=127.0.0.1:0".to_owned(),
        format!("--tls-cert-file={}", pki.join("server.crt").display()),
        format!(
            "--tls-private-key-file={}",
            pki.join("server.key").display()
        ),
        "--mode=impersonation".to_owned(),
        format!("--apiserver-url=https://127.0.0.1:{upstream}"),
        format!("--apiserver-ca-file={}", pki.join("ca.crt").display()),
        format!("--apiserver-token-file={}", sa.display()),
        "--auth-providers=token-auth".to_owned(),
        format!("--token-auth-file={}", tokens.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    GuardServer::spawn(sb, &args, &[])
}

/// Raw bytes to the proxy over TLS (HTTP/1.1); the request should say
/// `Connection: close`. Returns the status code and the whole answer.
fn raw(sb: &Sandbox, port: u16, request: &str) -> (u16, String) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(sb.pki().join("ca.crt")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let conn = rustls::ClientConnection::new(
        std::sync::Arc::new(config),
        rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap(),
    )
    .unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

/// No line of `log` starts with, or is, a forged entry.
fn assert_no_forged_line(source: &str, log: &str) {
    for line in log.lines() {
        assert!(
            !line.starts_with("INFO review FORGED") && !line.starts_with("INFO audit FORGED"),
            "{source}: a name from the provider started a log line of its own: {line:?}\n{log}"
        );
    }
}

#[tokio::test]
async fn names_with_newlines_cannot_forge_review_lines() {
    common::secrets::register(FORGING_TOKEN);
    let sb = Sandbox::new();
    prepare(&sb);
    let tokens = token_file(&sb, FORGING_LINE);
    let server = GuardServer::start(
        &sb,
        &[
            "--auth-providers=token-auth",
            &format!("--token-auth-file={}", tokens.display()),
        ],
    );
    let pki = sb.pki();
    let call = Call::post("/tokenreviews", review_body("v1", FORGING_TOKEN)).with_identity(
        &pki.join("demo@token-auth.crt"),
        &pki.join("demo@token-auth.key"),
    );
    let answer = send(server.port, &pki.join("ca.crt"), call).await.unwrap();
    assert_eq!(answer.status, 200);
    let json = answer.json();
    assert_eq!(json["status"]["authenticated"], true, "{json}");

    let mut line = None;
    eventually(Duration::from_secs(30), "the review line", || {
        line = server
            .log()
            .lines()
            .find(|l| l.contains("review") && l.contains("carol"))
            .map(str::to_owned);
        line.is_some()
    });
    let line = line.unwrap();
    // The name is one quoted, escaped value of the review line.
    assert!(
        line.contains(r#"user="carol\nINFO review FORGED user=\"admin\"""#),
        "{line}"
    );
    assert_no_forged_line("guard run", &server.log());
}

#[tokio::test]
async fn names_with_newlines_cannot_forge_proxy_audit_lines() {
    common::secrets::register(FORGING_TOKEN);
    let sb = Sandbox::new();
    prepare(&sb);
    let tokens = token_file(&sb, FORGING_LINE);
    let proxy = proxy(&sb, &tokens, &[]);
    // The identity cannot travel in headers (403), but the refusal is
    // audited with the user and groups the provider returned.
    let (code, answer) = raw(
        &sb,
        proxy.port,
        &format!(
            "GET /api/v1/pods HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {FORGING_TOKEN}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(code, 403, "{answer}");
    let mut line = None;
    eventually(Duration::from_secs(30), "the audit line", || {
        line = proxy
            .log()
            .lines()
            .find(|l| l.contains("audit") && l.contains("status=403"))
            .map(str::to_owned);
        line.is_some()
    });
    let line = line.unwrap();
    assert!(
        line.contains(
            r#"groups="dev\nINFO audit FORGED user=\"admin\" groups=system:masters,system:authenticated""#
        ),
        "{line}"
    );
    assert!(line.contains(r#"end="refused""#), "{line}");
    assert_no_forged_line("guard proxy", &proxy.log());
}

#[test]
fn a_token_sent_without_its_scheme_is_not_repeated_in_the_refusal_or_the_log() {
    const TOKEN: &str = "schemeless-token-0001";
    common::secrets::register(TOKEN);
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    // guard logs at debug here, where refusals are logged with their message.
    let proxy = proxy(&sb, &tokens, &[]);
    for value in [TOKEN.to_owned(), format!("Bearer\t{TOKEN}")] {
        let (code, answer) = raw(
            &sb,
            proxy.port,
            &format!(
                "GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: {value}\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(code, 401, "{answer}");
        assert!(answer.contains("Bearer TOKEN"), "{answer}");
        assert!(!answer.contains("schemeless"), "{answer}");
    }
    // A scheme guard knows of is named.
    let (code, answer) = raw(
        &sb,
        proxy.port,
        "GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: negotiate YIIC\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 401, "{answer}");
    assert!(answer.contains(r#"scheme \"Negotiate\""#), "{answer}");
    let mut refusals = 0;
    eventually(Duration::from_secs(30), "three audited refusals", || {
        refusals = proxy.log().matches("status=401").count();
        refusals >= 6
    });
    let log = proxy.log();
    assert!(!log.contains("schemeless"), "{log}");
}

#[test]
fn identity_headers_spelled_with_underscores_are_refused() {
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    for extra in [&[][..], &["--allow-impersonation"][..]] {
        let proxy = proxy(&sb, &tokens, extra);
        for header in [
            "X_Remote_User: admin",
            "x_remote_group: system:masters",
            "X-Remote_Extra-scopes: all",
            "Impersonate_User: admin",
            "impersonate_group: system:masters",
        ] {
            let (code, answer) = raw(
                &sb,
                proxy.port,
                &format!(
                    "GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good-token-123\r\n{header}\r\nConnection: close\r\n\r\n"
                ),
            );
            // Refused by the proxy, not sent on (the API server's port is
            // closed: forwarding would be a 503).
            assert_eq!(code, 403, "{extra:?} {header}: {answer}");
            let name = header.split(':').next().unwrap();
            assert!(
                answer
                    .to_ascii_lowercase()
                    .contains(&name.to_ascii_lowercase()),
                "{header}: {answer}"
            );
        }
    }
}

/// `guard run` started by `sh` with a soft open-file limit of `soft` (the
/// hard limit left as it is), as under systemd's default of 1024.
struct LowFileLimit {
    child: std::process::Child,
    port: u16,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl LowFileLimit {
    fn start(sb: &Sandbox, soft: u32, args: &[String]) -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -S -n {soft} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_guard"))
            .args(args)
            .env("HOME", sb.home.path())
            .env("RUST_LOG", "debug")
            .env_remove("GUARD_DATA_DIR")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let port = addr.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(port.rsplit(':').next().unwrap().parse::<u16>().unwrap());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("guard did not start:\n{}", log.lock().unwrap()));
        LowFileLimit { child, port, log }
    }

    /// The (soft, hard) open-file limits of the running guard.
    fn limits(&self) -> (String, String) {
        open_file_limits(&format!("/proc/{}/limits", self.child.id()))
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for LowFileLimit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            common::secrets::assert_clean("guard run (log)", &self.log());
        }
    }
}

/// The soft and hard "Max open files" of a `/proc/PID/limits` file.
fn open_file_limits(path: &str) -> (String, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut values = line["Max open files".len()..].split_whitespace();
    (
        values.next().unwrap().to_owned(),
        values.next().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_low_soft_open_file_limit_is_raised_to_the_hard_one() {
    let (_, hard) = open_file_limits("/proc/self/limits");
    assert!(
        hard == "unlimited" || hard.parse::<u64>().unwrap() >= 1024,
        "this test needs a hard open-file limit of at least 1024, not {hard}"
    );
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    let pki = sb.pki();
    let p = |f: &str| pki.join(f).display().to_string();
    let args = vec![
        "run".to_owned(),
        "--secure-addr=127.0.0.1:0".to_owned(),
        "--probe-addr=127.0.0.1:0".to_owned(),
        format!("--tls-ca-file={}", p("ca.crt")),
        format!("--tls-cert-file={}", p("server.crt")),
        format!("--tls-private-key-file={}", p("server.key")),
        "--auth-providers=token-auth".to_owned(),
        format!("--token-auth-file={}", tokens.display()),
    ];
    let guard = LowFileLimit::start(&sb, 64, &args);
    let (soft, hard_seen) = guard.limits();
    assert_eq!(soft, hard_seen, "the soft limit was left at {soft}");

    // More silent connections than the soft limit had room for; a review
    // still gets in, and accept never ran out of descriptors.
    let squatters: Vec<std::net::TcpStream> = (0..100)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", guard.port)).unwrap())
        .collect();
    let call = Call::post("/tokenreviews", review_body("v1", "good-token-123")).with_identity(
        &pki.join("demo@token-auth.crt"),
        &pki.join("demo@token-auth.key"),
    );
    let answer = send(guard.port, &pki.join("ca.crt"), call).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["status"]["authenticated"], true);
    drop(squatters);
    let log = guard.log();
    assert!(!log.contains("Too many open files"), "{log}");
}

/// An HTTP/2 connection to the proxy (no client certificate): the request
/// sender and the connection's task, which ends when the proxy closes it.
async fn h2_connection(
    sb: &Sandbox,
    port: u16,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    tokio::task::JoinHandle<Result<(), hyper::Error>>,
) {
    let tls = common::client::tls_connect(port, &sb.pki().join("ca.crt"), None, &[b"h2"])
        .await
        .unwrap();
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    (sender, tokio::spawn(conn))
}

fn get(port: u16, path: &str, token: &str) -> hyper::Request<http_body_util::Empty<bytes::Bytes>> {
    hyper::Request::get(format!("https://127.0.0.1:{port}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::new())
        .unwrap()
}

#[tokio::test]
async fn http2_connections_without_a_request_in_progress_are_closed() {
    // An API server that accepts connections and never answers: the
    // proxy's request waits for it until --request-timeout.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = hanging.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in hanging.incoming() {
            held.push(conn);
        }
    });
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    let proxy = proxy_to(
        &sb,
        &tokens,
        upstream,
        &["--idle-timeout=1s", "--request-timeout=4s"],
    );

    // One never sends a request (it answers the proxy's pings); one is
    // answered (401), then goes quiet.
    let (_quiet_sender, quiet) = h2_connection(&sb, proxy.port).await;
    let (mut sender, idle) = h2_connection(&sb, proxy.port).await;
    let answer = sender
        .send_request(get(proxy.port, "/api", "not-a-known-token"))
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    for (what, conn) in [("no request", quiet), ("idle after a request", idle)] {
        tokio::time::timeout(Duration::from_secs(30), conn)
            .await
            .unwrap_or_else(|_| panic!("{what}: the connection is still open after 30 s"))
            .unwrap()
            .ok();
    }

    // A request in progress for longer than the idle timeout keeps its
    // connection: it gets its answer (the API server's silence: 504).
    let (mut sender, busy) = h2_connection(&sb, proxy.port).await;
    let started = std::time::Instant::now();
    let answer = sender
        .send_request(get(proxy.port, "/api/v1/pods", "good-token-123"))
        .await
        .unwrap();
    assert_eq!(answer.status(), 504);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    tokio::time::timeout(Duration::from_secs(30), busy)
        .await
        .expect("the connection is still open 30 s after its last answer")
        .unwrap()
        .ok();
}

#[test]
fn an_address_in_use_is_one_line_naming_the_address_and_the_flag() {
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    let pki = sb.pki();
    let p = |f: &str| pki.join(f).display().to_string();
    let sa = sb.home.path().join("sa.token");
    common::secrets::register(SA_TOKEN);
    std::fs::write(&sa, SA_TOKEN).unwrap();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().to_string();
    let free = "127.0.0.1:0";
    // COMMAND SECURE-FLAG PROBE-FLAG, then what each command needs.
    let args = |command: &str, secure: &str, probe_flag: &str, probe: &str| {
        let mut args = vec![
            command.to_owned(),
            format!("--secure-addr={secure}"),
            format!("{probe_flag}={probe}"),
            format!("--tls-cert-file={}", p("server.crt")),
            format!("--tls-private-key-file={}", p("server.key")),
            "--auth-providers=token-auth".to_owned(),
            format!("--token-auth-file={}", tokens.display()),
        ];
        args.extend(match command {
            "run" => vec![format!("--tls-ca-file={}", p("ca.crt"))],
            _ => vec![
                "--mode=impersonation".to_owned(),
                "--apiserver-url=https://127.0.0.1:1".to_owned(),
                format!("--apiserver-ca-file={}", p("ca.crt")),
                format!("--apiserver-token-file={}", sa.display()),
            ],
        });
        args
    };
    let run = |secure: &str, probe: &str| args("run", secure, "--probe-addr", probe);
    let proxy = |secure: &str, metrics: &str| args("proxy", secure, "--metrics-addr", metrics);
    for (args, flag) in [
        (run(&busy, free), "--secure-addr"),
        (run(free, &busy), "--probe-addr"),
        (proxy(&busy, free), "--secure-addr"),
        (proxy(free, &busy), "--metrics-addr"),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let stderr = sb.fails(&args);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{} {flag}: {stderr}", args[0]);
        let line = errors[0];
        assert!(
            line.contains(&format!("cannot listen on {busy}")) && line.contains(flag),
            "{} {flag}: {line}",
            args[0]
        );
        assert_eq!(
            stderr.matches("in use").count(),
            1,
            "{} {flag}: the cause is said more than once:\n{stderr}",
            args[0]
        );
    }
    drop(held);
}

/// `guard get authn-config` with `--azure.enable-pop`: kube-apiserver's
/// in-tree authenticator cannot check proof-of-possession envelopes, so an
/// authenticator for the tenant would accept a stolen access token on its
/// own (what PoP is enabled to refuse). None is written, and a note says why.
#[test]
fn authn_config_writes_no_in_tree_authenticator_that_drops_pop() {
    let sb = Sandbox::new();
    let out = sb.run(&[
        "get",
        "authn-config",
        "--auth-providers=azure",
        "--azure.tenant-id=72f988bf-86f1-41af-91ab-2d7cd011db47",
        "--azure.client-id=guard-app",
        "--azure.auth-mode=passthrough",
        "--azure.graph-call-on-overage-claim",
        "--azure.skip-group-membership-resolution",
        "--azure.enable-pop",
        "--azure.pop-hostname=api.example",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stdout.contains("jwt:") && !stdout.contains("72f988bf"),
        "an in-tree authenticator that accepts tokens without their PoP proof:\n{stdout}"
    );
    assert!(
        stderr.contains("note: azure: with --azure.enable-pop"),
        "{stderr}"
    );
    // Without PoP the tenant's authenticators are written.
    let plain = sb.ok(&[
        "get",
        "authn-config",
        "--auth-providers=azure",
        "--azure.tenant-id=72f988bf-86f1-41af-91ab-2d7cd011db47",
        "--azure.client-id=guard-app",
    ]);
    assert!(
        plain.contains("https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"),
        "{plain}"
    );
}

/// `guard login --server` refuses an address with credentials or a query
/// without repeating them: the refusal names the host only.
#[test]
fn login_refuses_a_server_with_credentials_without_repeating_them() {
    const PASSWORD: &str = "S3cret-login-pw";
    const TOKEN: &str = "s3cret-query-token";
    common::secrets::register(PASSWORD);
    common::secrets::register(TOKEN);
    let sb = Sandbox::new();
    let kubeconfig = sb.home.path().join("kubeconfig");
    let kubeconfig = kubeconfig.to_str().unwrap();
    for server in [
        format!("https://alice:{PASSWORD}@api.example.com:6443"),
        format!("https://api.example.com:6443/?token={TOKEN}"),
        format!("https://api.example.com:6443/#{TOKEN}"),
    ] {
        // `fails` also checks standard error against the registered secrets.
        let err = sb.fails(&[
            "login",
            "-o",
            "github",
            "--cluster=c",
            &format!("--kubeconfig={kubeconfig}"),
            &format!("--server={server}"),
        ]);
        assert!(
            err.contains("--server https://api.example.com:6443/: expected https://"),
            "{err}"
        );
    }
}

/// `guard get token -o eks -v 9` (trace, to debug a login): the signing
/// library's trace lines would print the token's canonical request, the
/// session token of temporary credentials included. Nothing of the
/// credentials, nor the token, reaches standard error.
#[test]
fn eks_tokens_at_trace_level_log_no_credentials() {
    const SECRET_KEY: &str = "trace-secret-access-key-0001";
    const SESSION_TOKEN: &str = "trace-session-token-0001";
    common::secrets::register(SECRET_KEY);
    common::secrets::register(SESSION_TOKEN);
    let sb = Sandbox::new();
    let out = sb
        .guard()
        .args(["get", "token", "-o", "eks", "--cluster-id=c1", "-v", "9"])
        .env_remove("RUST_LOG")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL_STS")
        .env("AWS_ACCESS_KEY_ID", "AKIDTRACEEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let token = stdout
        .split(|c: char| c == '"' || c.is_whitespace())
        .find(|s| s.starts_with("k8s-aws-v1."))
        .unwrap_or_else(|| panic!("no token in {stdout}"));
    common::secrets::register(token);
    common::secrets::assert_clean("guard get token -o eks -v 9 (stderr)", &stderr);
    assert!(!stderr.contains("X-Amz-Security-Token"), "{stderr}");
}

/// A SubjectAccessReview whose namespace is not a namespace name (it comes
/// from the user's request path, up to the API server's header limit) is
/// answered with an evaluation error that repeats only the start of it, and
/// logged the same way: one request cannot write a megabyte-long log line.
#[tokio::test]
async fn authz_repeats_a_bounded_part_of_an_invalid_namespace() {
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "server", "--ips=127.0.0.1"]);
    sb.ok(&["init", "client", "-o", "azure"]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = GuardServer::start(
        &sb,
        &[
            "--auth-providers=azure",
            "--azure.tenant-id=72f988bf-86f1-41af-91ab-2d7cd011db47",
            "--azure.client-id=guard-app",
            "--azure.skip-group-membership-resolution",
            "--authz-providers=azure",
            &format!("--azure.arm-url=https://127.0.0.1:{closed}/"),
            "--azure.authz-mode=aks",
            "--azure.resource-id=/subscriptions/s/resourceGroups/r/providers/Microsoft.ContainerService/managedClusters/c",
            &format!("--azure.aks-authz-token-url=https://127.0.0.1:{closed}/token"),
        ],
    );
    let namespace = format!("Not-A-Namespace-{}", "x".repeat(400_000));
    let body = serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "alice@contoso.com",
            "extra": {"oid": ["6f1a1d5e-6f3c-4b2e-9e1d-2f8f0b1c3d4e"]},
            "resourceAttributes": {"namespace": namespace, "verb": "get", "resource": "pods", "version": "v1"}
        }
    });
    let pki = sb.pki();
    let answer = send(
        server.port,
        &pki.join("ca.crt"),
        Call::post("/subjectaccessreviews", body.to_string())
            .with_identity(&pki.join("azure@azure.crt"), &pki.join("azure@azure.key")),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200);
    let json = answer.json();
    let error = json["status"]["evaluationError"].as_str().unwrap();
    assert!(error.contains("\"Not-A-Namespace-xxx"), "{error}");
    assert!(
        error.len() < 200,
        "the whole namespace is repeated ({} bytes)",
        error.len()
    );
    let mut log = String::new();
    eventually(Duration::from_secs(10), "the review's log line", || {
        log = server.log();
        log.contains("is not a namespace name")
    });
    let longest = log.lines().map(str::len).max().unwrap_or_default();
    assert!(longest < 2_000, "a log line of {longest} bytes");
}
