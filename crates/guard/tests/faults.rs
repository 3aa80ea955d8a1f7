//! Faults the server must survive: bad client certificates, slow and idle
//! clients, aborted handshakes, garbage on the wire, the connection limit,
//! SIGTERM and file rotation under load, an upstream that resets.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::client::{Call, send};
use common::server::*;
use common::*;
use rustls::pki_types::pem::PemObject as _;

fn token_auth_server(sb: &Sandbox, extra: &[&str]) -> GuardServer {
    let tokens = prepare(sb);
    let mut args = vec![
        "--auth-providers=token-auth".to_owned(),
        format!("--token-auth-file={}", tokens.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    GuardServer::start(sb, &args)
}

/// A client certificate signed by the sandbox's CA, valid from `from` to
/// `to` (seconds relative to now).
fn client_cert(sb: &Sandbox, from: i64, to: i64) -> (std::path::PathBuf, std::path::PathBuf) {
    let pki = sb.pki();
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(pki.join("ca.key")).unwrap()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(
        &std::fs::read_to_string(pki.join("ca.crt")).unwrap(),
        ca_key,
    )
    .unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "token-auth");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "demo");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::seconds(from);
    params.not_after = now + time::Duration::seconds(to);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let (c, k) = (
        sb.home.path().join(format!("c{from}.crt")),
        sb.home.path().join(format!("c{from}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

#[tokio::test]
async fn expired_and_not_yet_valid_client_certificates_fail_the_handshake() {
    let sb = Sandbox::new();
    let server = token_auth_server(&sb, &[]);
    let ca = sb.pki().join("ca.crt");
    let (ok_c, ok_k) = client_cert(&sb, -60, 3600);
    let answer = send(
        server.port,
        &ca,
        Call::post("/tokenreviews", review_body("v1", "good-token-123"))
            .with_identity(&ok_c, &ok_k),
    )
    .await
    .unwrap();
    assert_eq!(
        answer.json()["status"]["authenticated"],
        true,
        "the control certificate must work"
    );
    for (from, to, what) in [(-7200, -3600, "expired"), (3600, 7200, "not yet valid")] {
        let (c, k) = client_cert(&sb, from, to);
        let result = send(
            server.port,
            &ca,
            Call::post("/tokenreviews", review_body("v1", "good-token-123")).with_identity(&c, &k),
        )
        .await;
        assert!(
            result.is_err(),
            "a client certificate that is {what} was accepted"
        );
    }
}

#[test]
fn slow_idle_and_aborted_clients_do_not_take_the_server_down() {
    let sb = Sandbox::new();
    let server = token_auth_server(&sb, &["--first-request-timeout=1s"]);
    let addr = ("127.0.0.1", server.port);

    // A client that connects and never starts TLS is dropped after the read timeout.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = idle.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "expected the server to close the idle connection");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "idle connection held for {:?}",
        started.elapsed()
    );

    // Hundreds of idle connections and 10,000 handshakes aborted half way.
    let parked: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let hello = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"; // the start of a ClientHello
    for i in 0..10_000 {
        let mut s = TcpStream::connect(addr).unwrap();
        if i % 2 == 0 {
            let _ = s.write_all(hello);
        } else {
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"); // plain HTTP on a TLS port
        }
    }

    // The server still answers. The flood may still be draining from the
    // accept queue, and a connection waiting behind it can miss the 1 s
    // first-request deadline on a loaded machine; the API server retries
    // such a connection, and so does this check.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pki = sb.pki();
    eventually(
        Duration::from_secs(60),
        "a review answered after the flood",
        || {
            let answer = runtime.block_on(send(
                server.port,
                &pki.join("ca.crt"),
                Call::post("/tokenreviews", review_body("v1", "good-token-123")).with_identity(
                    &pki.join("demo@token-auth.crt"),
                    &pki.join("demo@token-auth.key"),
                ),
            ));
            match answer {
                Ok(answer) => {
                    assert_eq!(answer.json()["status"]["authenticated"], true);
                    true
                }
                Err(_) => false,
            }
        },
    );
    drop(parked);
    assert!(!server.log().contains("panicked"));
}

fn review_call(pki: &std::path::Path, token: &str, http2: bool) -> Call<'static> {
    let mut call = Call::post("/tokenreviews", review_body("v1", token)).with_identity(
        &pki.join("demo@token-auth.crt"),
        &pki.join("demo@token-auth.key"),
    );
    call.http2 = http2;
    call
}

#[test]
fn at_the_connection_limit_new_connections_wait_for_a_free_slot() {
    let sb = Sandbox::new();
    let server = token_auth_server(
        &sb,
        &["--first-request-timeout=60s", "--max-connections=20"],
    );
    let addr = ("127.0.0.1", server.port);
    let parked: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
    eventually(Duration::from_secs(10), "the limit warning", || {
        server.log().contains("the most --max-connections allows")
    });

    // A real client now waits: the server does not even accept it...
    let (port, pki) = (server.port, sb.pki());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let answer = runtime.block_on(send(
            port,
            &pki.join("ca.crt"),
            review_call(&pki, "good-token-123", false),
        ));
        let _ = tx.send(answer.map(|a| a.json()));
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(1)).is_err(),
        "answered beyond the connection limit"
    );
    // ...until a slot frees.
    drop(parked);
    let json = rx.recv_timeout(Duration::from_secs(30)).unwrap().unwrap();
    assert_eq!(json["status"]["authenticated"], true);

    let text = server.metrics();
    let waits = text
        .lines()
        .find_map(|l| l.strip_prefix("guard_connection_limit_waits_total "))
        .unwrap_or_else(|| panic!("no limit counter in {text}"));
    assert!(waits.parse::<f64>().unwrap() >= 1.0, "{waits}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_every_accepted_review_finish() {
    use common::peers::GitlabStub;
    let stub = GitlabStub::start().await;
    let base = format!("--gitlab.base-url={}", stub.url);
    let Reviewer { sb, server, client } = Reviewer::start(
        "acme",
        "gitlab",
        &[
            "--auth-providers=gitlab",
            &base,
            "--server-write-timeout=15s",
        ],
    );
    let (port, ca) = (server.port, sb.pki().join("ca.crt"));
    // 24 reviews of distinct tokens (no coalescing), each held 2 s by the
    // upstream; half over HTTP/1.1, half as HTTP/2 streams.
    let reviews: Vec<_> = (0..24)
        .map(|i| {
            let (ca, client) = (ca.clone(), client.clone());
            tokio::spawn(async move {
                let mut call =
                    Call::post("/tokenreviews", review_body("v1", &format!("gl-slow-{i}")))
                        .with_identity(&client.0, &client.1);
                call.http2 = i % 2 == 1;
                let answer = send(port, &ca, call).await;
                (answer, Instant::now())
            })
        })
        .collect();
    let in_upstream = || {
        stub.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.starts_with("gl-slow"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while in_upstream() < 24 {
        assert!(
            Instant::now() < deadline,
            "the reviews did not reach the upstream"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let signalled = Instant::now();
    let stopping = tokio::task::spawn_blocking(move || {
        let log = server.log.clone();
        (server.terminate(), log)
    });
    let mut after_signal = 0;
    for review in reviews {
        let (answer, at) = review.await.unwrap();
        let answer = answer.unwrap_or_else(|e| panic!("a review in flight was lost: {e}"));
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.json()["status"]["authenticated"],
            true,
            "{}",
            answer.json()
        );
        if at > signalled {
            after_signal += 1;
        }
    }
    assert!(after_signal > 0, "no review was still in flight at SIGTERM");
    let (status, log) = stopping.await.unwrap();
    assert!(status.success(), "{status:?}");
    let log = log.lock().unwrap().clone();
    assert!(log.contains("all connections closed"), "{log}");
    // And nothing listens any more.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certificates_and_token_file_rotate_under_load_without_a_failed_review() {
    let sb = Sandbox::new();
    let server = token_auth_server(&sb, &[]);
    let (port, pki) = (server.port, sb.pki());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|i| {
            let (pki, stop) = (pki.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut failures) = (0u64, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let answer = send(
                        port,
                        &pki.join("ca.crt"),
                        review_call(&pki, "good-token-123", i % 2 == 1),
                    )
                    .await;
                    match answer {
                        Ok(a) if a.status == 200 && a.json()["status"]["authenticated"] == true => {
                            ok += 1
                        }
                        Ok(a) => failures.push(format!("{} {}", a.status, a.json())),
                        Err(e) => failures.push(e),
                    }
                }
                (ok, failures)
            })
        })
        .collect();

    let tokens = sb.home.path().join("token.csv");
    for round in 0..4 {
        // A new token file, replaced atomically as a ConfigMap update does.
        let text = format!("{TOKENS}new-token-{round},carol{round},{}\n", 2000 + round);
        let tmp = sb.home.path().join("token.csv.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &tokens).unwrap();
        // A new server certificate and key from the same CA.
        sb.ok(&["init", "server", "--ips=127.0.0.1", "--force"]);
        let fresh = std::fs::read(pki.join("server.crt")).unwrap();
        let fresh = rustls::pki_types::CertificateDer::from_pem_slice(&fresh).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let token = format!("new-token-{round}");
            let answer = send(port, &pki.join("ca.crt"), review_call(&pki, &token, false))
                .await
                .unwrap();
            if answer.json()["status"]["authenticated"] == true
                && answer.server_cert == fresh.as_ref()
            {
                break;
            }
            assert!(Instant::now() < deadline, "round {round} was not picked up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for task in load {
        let (ok, failures) = task.await.unwrap();
        assert!(
            failures.is_empty(),
            "failed reviews during rotation: {failures:?}"
        );
        total += ok;
    }
    assert!(total > 50, "only {total} reviews ran during the rotation");
}

#[tokio::test]
async fn an_upstream_that_resets_connections_is_an_outage() {
    use common::peers::ResettingServer;
    let upstream = ResettingServer::start().await;
    let base = format!("--gitlab.base-url={}", upstream.url);
    let guard = Reviewer::start(
        "gitlab",
        "gitlab",
        &[
            "--auth-providers=gitlab",
            &base,
            "--server-write-timeout=5s",
        ],
    );
    let (status, json) = guard.review("gl-alice").await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false);
    let error = json["status"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("a reset is an outage, not a denial: {json}"));
    assert!(error.to_lowercase().contains("gitlab"), "{error}");
}

/// The value of the metric line that starts with `series` (name and labels).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// How far a squatter goes before it goes quiet. None presents a client
/// certificate.
#[derive(Clone, Copy, Debug)]
enum Squat {
    /// A TCP connection, nothing sent.
    SilentTcp,
    /// A finished TLS handshake (from the client's side), nothing sent.
    SilentTls,
    /// TLS, then the first 16 bytes of the 24-byte HTTP/2 preface.
    PartialPreface,
}

/// Runs one squatter: connects, goes as far as `how`, tells `ready`, then
/// waits (at most 30 s) for the server to close the connection.
async fn squat(
    port: u16,
    ca: std::path::PathBuf,
    how: Squat,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let held = async {
        let mut buf = [0u8; 512];
        match how {
            Squat::SilentTcp => {
                let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = ready.send(()).await;
                while let Ok(n) = tcp.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            }
            Squat::SilentTls | Squat::PartialPreface => {
                match common::client::tls_connect(port, &ca, None, &[b"h2"]).await {
                    // Refused at the handshake: closed by the server.
                    Err(_) => {
                        let _ = ready.send(()).await;
                    }
                    Ok(mut tls) => {
                        if let Squat::PartialPreface = how {
                            let _ = tls.write_all(&common::h2raw::PREFACE[..16]).await;
                            let _ = tls.flush().await;
                        }
                        let _ = ready.send(()).await;
                        while let Ok(n) = tls.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                    }
                }
            }
        }
        Ok::<_, String>(())
    };
    tokio::time::timeout(Duration::from_secs(30), held)
        .await
        .map_err(|_| format!("{how:?}: still open after 30 s"))?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn squatters_without_a_certificate_cannot_keep_the_api_server_out() {
    // Default: certificates required at the handshake. Then Go Guard's
    // optional certificates, where only the first-request deadline helps.
    for optional in [false, true] {
        let sb = Sandbox::new();
        let mut args = vec!["--max-connections=64", "--first-request-timeout=2s"];
        if optional {
            args.push("--require-client-cert=false");
        }
        let server = token_auth_server(&sb, &args);
        let (port, pki) = (server.port, sb.pki());
        let (tx, mut ready) = tokio::sync::mpsc::channel(64);
        let squatters: Vec<_> = (0..64)
            .map(|i| {
                let how = match i % 4 {
                    0 => Squat::SilentTcp,
                    1 => Squat::SilentTls,
                    _ => Squat::PartialPreface,
                };
                tokio::spawn(squat(port, pki.join("ca.crt"), how, tx.clone()))
            })
            .collect();
        for _ in 0..64 {
            tokio::time::timeout(Duration::from_secs(30), ready.recv())
                .await
                .expect("the squatters did not connect")
                .unwrap();
        }
        // The API server comes a second later, over HTTP/2 as it does.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let sent = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            send(
                port,
                &pki.join("ca.crt"),
                review_call(&pki, "good-token-123", true),
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("optional={optional}: no answer within 10 s"))
        .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json()["status"]["authenticated"], true);
        eprintln!("optional={optional}: answered in {:?}", sent.elapsed());
        for squatter in squatters {
            squatter.await.unwrap().unwrap();
        }

        let (dropped, refused) = if optional { (64.0, 0.0) } else { (16.0, 48.0) };
        eventually(Duration::from_secs(30), "the squatters counted", || {
            let metrics = server.metrics();
            let closed = r#"guard_connections_closed_total{reason="first_request_timeout"}"#;
            let no_cert = r#"guard_tls_handshake_failures_total{reason="no_certificate"}"#;
            metric(&metrics, closed) >= dropped && metric(&metrics, no_cert) >= refused
        });
    }
}

#[tokio::test]
async fn http2_connections_with_no_stream_in_progress_get_goaway_and_are_closed() {
    use common::h2raw::*;
    let sb = Sandbox::new();
    let server = token_auth_server(&sb, &["--first-request-timeout=1s", "--idle-timeout=1s"]);
    let pki = sb.pki();
    let (ca, cert, key) = (
        pki.join("ca.crt"),
        pki.join("demo@token-auth.crt"),
        pki.join("demo@token-auth.key"),
    );
    // One answers pings but never opens a stream; one makes a request, then idles.
    let mut quiet = H2::open(server.port, &ca, Some((&cert, &key)))
        .await
        .unwrap();
    let mut idle = H2::open(server.port, &ca, Some((&cert, &key)))
        .await
        .unwrap();
    idle.headers(1, "GET", "/healthz", None, true).await;
    let answer = idle.answer(1).await.unwrap();
    assert!(answer.iter().any(|f| f.kind == HEADERS && f.stream == 1));
    let answered = Instant::now();

    for (what, conn) in [("no stream", &mut quiet), ("idle", &mut idle)] {
        let (goaway, end) = tokio::time::timeout(Duration::from_secs(30), async {
            let mut goaway = None;
            loop {
                match conn.next().await {
                    Ok(f) if f.kind == GOAWAY => goaway = Some(f),
                    Ok(_) => {}
                    Err(end) => return (goaway, end),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{what}: connection still open after 30 s"));
        let goaway = goaway.unwrap_or_else(|| panic!("{what}: closed without GOAWAY ({end})"));
        assert_eq!(
            goaway.payload[4..8],
            [0, 0, 0, 0],
            "{what}: GOAWAY not NO_ERROR"
        );
    }
    assert!(
        answered.elapsed() >= Duration::from_millis(900),
        "closed {:?} after the last answer, before the idle timeout",
        answered.elapsed()
    );
    for reason in ["first_request_timeout", "idle_timeout"] {
        let series = format!("guard_connections_closed_total{{reason=\"{reason}\"}}");
        eventually(Duration::from_secs(30), &series, || {
            metric(&server.metrics(), &series) >= 1.0
        });
    }
}

#[tokio::test]
async fn an_idle_http1_keep_alive_connection_is_closed() {
    use http_body_util::{BodyExt, Empty};
    let sb = Sandbox::new();
    // Without the idle timeout nothing else would close it for a minute.
    let server = token_auth_server(&sb, &["--idle-timeout=1s", "--server-read-timeout=60s"]);
    let pki = sb.pki();
    let (cert, key) = (
        pki.join("demo@token-auth.crt"),
        pki.join("demo@token-auth.key"),
    );
    let tls = common::client::tls_connect(
        server.port,
        &pki.join("ca.crt"),
        Some((&cert, &key)),
        &[b"http/1.1"],
    )
    .await
    .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let request = hyper::Request::get("/healthz")
        .header("host", "127.0.0.1")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(request).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("connection").is_none(), "kept alive");
    resp.into_body().collect().await.unwrap();
    let answered = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), conn)
        .await
        .expect("idle keep-alive connection still open after 30 s")
        .unwrap()
        .unwrap();
    assert!(answered.elapsed() >= Duration::from_millis(900));
    let series = r#"guard_connections_closed_total{reason="idle_timeout"}"#;
    eventually(Duration::from_secs(30), "the idle close counted", || {
        metric(&server.metrics(), series) >= 1.0
    });
}

#[tokio::test]
async fn a_connection_past_its_maximum_age_finishes_its_request_and_closes() {
    use common::h2raw::*;
    let sb = Sandbox::new();
    let server = token_auth_server(
        &sb,
        &[
            "--max-connection-age=2s",
            "--idle-timeout=0",
            "--server-read-timeout=60s",
            "--server-write-timeout=60s",
        ],
    );
    let pki = sb.pki();
    let (ca, cert, key) = (
        pki.join("ca.crt"),
        pki.join("demo@token-auth.crt"),
        pki.join("demo@token-auth.key"),
    );

    // HTTP/2: a review whose body is held back keeps the connection busy.
    let opened = Instant::now();
    let mut conn = H2::open(server.port, &ca, Some((&cert, &key)))
        .await
        .unwrap();
    conn.headers(1, "POST", "/tokenreviews", Some("application/json"), false)
        .await;
    let goaway = tokio::time::timeout(Duration::from_secs(30), conn.next())
        .await
        .expect("no GOAWAY within 30 s")
        .unwrap_or_else(|end| panic!("closed without GOAWAY: {end}"));
    assert_eq!(goaway.kind, GOAWAY, "{goaway:?}");
    assert!(
        opened.elapsed() >= Duration::from_millis(1800),
        "GOAWAY after {:?}, before the maximum age",
        opened.elapsed()
    );
    assert_eq!(goaway.payload[4..8], [0, 0, 0, 0]);
    // The review in progress is still answered...
    conn.body(1, review_body("v1", "good-token-123").as_bytes())
        .await;
    let frames = conn.answer(1).await.unwrap();
    let body: Vec<u8> = frames
        .iter()
        .filter(|f| f.kind == DATA && f.stream == 1)
        .flat_map(|f| f.payload.clone())
        .collect();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["status"]["authenticated"], true, "{json}");
    // ...and then the connection closes.
    tokio::time::timeout(Duration::from_secs(30), async {
        while conn.next().await.is_ok() {}
    })
    .await
    .expect("connection still open 30 s after its last answer");

    // HTTP/1.1, idle between keep-alive requests (the idle timeout is off).
    let opened = Instant::now();
    let tls = common::client::tls_connect(server.port, &ca, Some((&cert, &key)), &[b"http/1.1"])
        .await
        .unwrap();
    let (mut sender, h1) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    let h1 = tokio::spawn(h1);
    let request = hyper::Request::get("/healthz")
        .header("host", "127.0.0.1")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    assert_eq!(sender.send_request(request).await.unwrap().status(), 200);
    tokio::time::timeout(Duration::from_secs(30), h1)
        .await
        .expect("HTTP/1.1 connection still open 30 s after its maximum age")
        .unwrap()
        .unwrap();
    assert!(opened.elapsed() >= Duration::from_millis(1800));
    // Counted once the server has let go of the connection.
    let series = r#"guard_connections_closed_total{reason="max_age"}"#;
    eventually(
        Duration::from_secs(30),
        "2 connections closed at max age",
        || metric(&server.metrics(), series) >= 2.0,
    );
}

#[tokio::test]
async fn refused_client_certificates_are_logged_at_info_with_the_reason() {
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    let pki = sb.pki();
    let p = |f: &str| pki.join(f).to_str().unwrap().to_owned();
    let args: Vec<String> = [
        "run",
        "--secure-addr=127.0.0.1:0",
        "--probe-addr=127.0.0.1:0",
        "--auth-providers=token-auth",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        format!("--tls-ca-file={}", p("ca.crt")),
        format!("--tls-cert-file={}", p("server.crt")),
        format!("--tls-private-key-file={}", p("server.key")),
        format!("--token-auth-file={}", tokens.display()),
    ])
    .collect();
    // guard's default log level: no RUST_LOG, no -v.
    let server = GuardServer::spawn(&sb, &args, &[("RUST_LOG".into(), String::new())]);
    let ca = pki.join("ca.crt");

    let other = Sandbox::new();
    other.ok(&["init", "ca"]);
    other.ok(&["init", "client", "demo", "-o", "token-auth"]);
    let foreign = (
        other.pki().join("demo@token-auth.crt"),
        other.pki().join("demo@token-auth.key"),
    );
    let (expired_c, expired_k) = client_cert(&sb, -7200, -3600);
    let attempts = [
        (
            Some(foreign.clone()),
            "not signed by the CA in --tls-ca-file",
        ),
        (Some((expired_c, expired_k)), "client certificate expired"),
        (None, "no client certificate"),
    ];
    for (identity, reason) in &attempts {
        let mut call = Call::post("/tokenreviews", review_body("v1", "good-token-123"));
        call.identity = identity.clone();
        assert!(
            send(server.port, &ca, call).await.is_err(),
            "{reason}: accepted"
        );
        eventually(Duration::from_secs(30), reason, || {
            server.log().lines().any(|l| {
                l.contains(" INFO ")
                    && l.contains("TLS handshake refused")
                    && l.contains(reason)
                    && l.contains("peer=127.0.0.1:")
            })
        });
    }
    // A flood is counted, not logged line by line.
    for _ in 0..30 {
        let call = Call::post("/tokenreviews", review_body("v1", "good-token-123"))
            .with_identity(&foreign.0, &foreign.1);
        assert!(send(server.port, &ca, call).await.is_err());
    }
    let unknown = r#"guard_tls_handshake_failures_total{reason="unknown_ca"}"#;
    eventually(Duration::from_secs(30), "31 refusals counted", || {
        metric(&server.metrics(), unknown) >= 31.0
    });
    let log = server.log();
    let lines = log.matches("TLS handshake refused").count();
    assert!(lines <= 10, "{lines} refusals logged in a burst:\n{log}");
    assert!(!log.contains("DEBUG"), "not at the default level:\n{log}");
}

/// curl from the system (Debian's, with nghttp2), installed by
/// .ci/install-test-deps.sh; the caller checked `Peer::Curl`.
fn curl() -> std::process::Command {
    std::process::Command::new("curl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_sent_before_the_body_is_read_reach_every_http2_client() {
    use common::h2raw::*;
    if common::require::missing(&[common::require::Peer::Curl]) {
        return;
    }
    let sb = Sandbox::new();
    // Optional certificates, so that the 401 can be asked for too.
    let server = token_auth_server(&sb, &["--require-client-cert=false"]);
    sb.ok(&["init", "client", "acme", "-o", "github"]);
    let pki = sb.pki();
    let ca = pki.join("ca.crt");
    let demo = (
        pki.join("demo@token-auth.crt"),
        pki.join("demo@token-auth.key"),
    );
    let github = (pki.join("acme@github.crt"), pki.join("acme@github.key"));
    let review = review_body("v1", "good-token-123");
    let big = sb.home.path().join("big.json");
    std::fs::write(&big, vec![b' '; 3 << 19]).unwrap(); // 1.5 MiB, over the 1 MiB limit
    let small = sb.home.path().join("review.json");
    std::fs::write(&small, &review).unwrap();

    // (status, client certificate, content type, body file)
    let cases = [
        (415, Some(&demo), "text/plain", &small),
        (403, Some(&github), "application/json", &small),
        (401, None, "application/json", &small),
        (413, Some(&demo), "application/json", &big),
    ];
    for (status, identity, content_type, body) in cases {
        // Debian's curl: about half of these failed with exit 92 (HTTP/2
        // stream reset) before the body was read; 20 in a row cannot pass
        // by luck.
        for attempt in 0..20 {
            let mut cmd = curl();
            cmd.args(["--http2", "-sS", "-o", "/dev/null", "-w", "%{http_code}"])
                .arg("--cacert")
                .arg(&ca)
                .args(["-H", &format!("content-type: {content_type}")])
                .arg("--data-binary")
                .arg(format!("@{}", body.display()))
                .arg(format!("https://127.0.0.1:{}/tokenreviews", server.port));
            if let Some((cert, key)) = identity {
                cmd.arg("--cert").arg(cert).arg("--key").arg(key);
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{status}, attempt {attempt}: curl {:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout), status.to_string());
        }

        // hyper's HTTP/2 client.
        let body_bytes = std::fs::read(body).unwrap();
        for _ in 0..20 {
            let mut call = Call::post("/tokenreviews", body_bytes.clone());
            call.content_type = Some(content_type);
            call.identity = identity.cloned();
            call.http2 = true;
            let answer = send(server.port, &ca, call).await.unwrap();
            assert_eq!(answer.status, status);
            assert_eq!(answer.json()["status"]["authenticated"], false);
        }

        // On the wire: the answer, then no RST_STREAM for the stream.
        if status == 413 {
            continue; // one frame cannot carry 1.5 MiB; curl and hyper covered it
        }
        let mut conn = H2::open(
            server.port,
            &ca,
            identity.map(|(c, k)| (c.as_path(), k.as_path())),
        )
        .await
        .unwrap();
        conn.headers(1, "POST", "/tokenreviews", Some(content_type), false)
            .await;
        conn.body(1, review.as_bytes()).await;
        let mut frames = conn.answer(1).await.unwrap();
        if identity.is_some() {
            frames.extend(conn.sync().await.unwrap());
        } else {
            // A connection without a certificate is closed as soon as its
            // request is answered: GOAWAY (NO_ERROR), then the end. A PING
            // sent now may race the close, so read to the end instead.
            while let Ok(frame) = conn.read().await {
                frames.push(frame);
            }
            assert!(
                frames
                    .iter()
                    .any(|f| f.kind == GOAWAY && f.payload.get(4..8) == Some(&[0, 0, 0, 0][..])),
                "{status}: no GOAWAY (NO_ERROR) before the close: {frames:?}"
            );
        }
        assert!(
            frames.iter().any(|f| f.kind == DATA && f.stream == 1),
            "{status}: no answer: {frames:?}"
        );
        assert!(
            !frames.iter().any(|f| f.kind == RST_STREAM),
            "{status}: the stream was reset: {frames:?}"
        );
    }
}

#[tokio::test]
async fn tokens_that_are_not_printable_ascii_are_denied_before_any_upstream_call() {
    use common::peers::GitlabStub;
    let stub = GitlabStub::start().await;
    let base = format!("--gitlab.base-url={}", stub.url);
    let guard = Reviewer::start("acme", "gitlab", &["--auth-providers=gitlab", &base]);
    for token in [
        "gl-alice\u{7f}",
        "gl-\u{1}alice",
        "gl alice",
        "gl-alice\t",
        "gl-\u{e9}lice",
    ] {
        let (status, json) = guard.review(token).await;
        assert_eq!(status, 200, "{token:?}");
        assert_eq!(json["status"]["authenticated"], false, "{token:?}: {json}");
        assert!(
            json["status"].get("error").is_none(),
            "{token:?}: bad input is a plain denial, not an outage: {json}"
        );
    }
    assert!(
        stub.seen.lock().unwrap().is_empty(),
        "the upstream was asked about a malformed token"
    );
    // A well-formed token still goes through.
    let (_, json) = guard.review("gl-alice").await;
    assert_eq!(json["status"]["authenticated"], true, "{json}");
}

/// A token over 64 KiB is junk for every provider: a plain denial, without
/// asking the upstream (which would answer 431 and be counted as an outage).
#[tokio::test]
async fn tokens_over_64_kib_are_denied_before_any_upstream_call() {
    use common::peers::GitlabStub;
    let stub = GitlabStub::start().await;
    let base = format!("--gitlab.base-url={}", stub.url);
    let guard = Reviewer::start("acme", "gitlab", &["--auth-providers=gitlab", &base]);
    let junk = format!("gl-junk{}", "x".repeat(100 << 10));
    common::secrets::register(&junk);
    let (status, json) = guard.review(&junk).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false, "{json}");
    assert!(
        json["status"].get("error").is_none(),
        "an oversized token is a plain denial, not an outage: {json}"
    );
    assert!(
        stub.seen.lock().unwrap().is_empty(),
        "the upstream was asked about an oversized token"
    );
    assert!(guard.server.log().contains("longer than 64 KiB"));
    let metrics = guard.metrics().await;
    assert!(
        !metrics.contains(r#"guard_upstream_errors_total{provider="gitlab"} 1"#),
        "{metrics}"
    );
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn unreachable_providers_are_outages_and_log_no_secret() {
    let dead = format!("http://127.0.0.1:{}", closed_port());
    // A token shaped like an ID token (so the JWT providers go upstream).
    let jwt = {
        use base64::Engine as _;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.c2lnbmF0dXJlLW5vdC1yZWFs",
            b64(serde_json::json!({"alg": "RS256", "kid": "k1"})),
            b64(serde_json::json!({"sub": "outage-user", "aud": "guard"}))
        )
    };
    let cases: Vec<(&str, &str, Vec<String>, String)> = vec![
        (
            "acme",
            "github",
            vec![format!("--github.base-url={dead}")],
            "ghp_outageToken0123456789".into(),
        ),
        (
            "gitlab",
            "gitlab",
            vec![format!("--gitlab.base-url={dead}")],
            "glpat-outageToken0123456789".into(),
        ),
        (
            "example.com",
            "google",
            vec![
                "--google.client-id=guard".into(),
                format!("--google.discovery-url={dead}"),
            ],
            jwt.clone(),
        ),
        (
            "azure",
            "azure",
            vec![
                "--azure.tenant-id=TENANT".into(),
                "--azure.client-id=guard".into(),
                "--azure.client-secret=graph-secret-outage".into(),
                format!("--azure.discovery-url={dead}/TENANT/v2.0"),
                format!("--azure.graph-url={dead}"),
            ],
            jwt.clone(),
        ),
    ];
    common::secrets::register("graph-secret-outage");
    for (name, provider, flags, token) in cases {
        let mut args = vec![format!("--auth-providers={provider}")];
        args.extend(flags);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let guard = Reviewer::start(name, provider, &args);
        let (status, json) = guard.review(&token).await;
        assert_eq!(status, 200, "{provider}");
        assert_eq!(json["status"]["authenticated"], false, "{provider}");
        assert!(
            json["status"]["error"].is_string(),
            "{provider}: an unreachable provider is an outage: {json}"
        );
        // Dropping the server runs the secrets check over its log: the
        // token, and any URL with a query.
    }
}

/// Hundreds of silent TCP connections on the plain probe port, each opened
/// again as soon as guard closes it, cannot keep kubelet's probe out (which
/// would take the pod out of service and restart it): the oldest silent
/// connection is closed to make room for a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn silent_connections_cannot_keep_kubelets_probes_out() {
    // More than the probe port holds (512).
    const SQUATTERS: usize = 700;
    let sb = Sandbox::new();
    let server = token_auth_server(&sb, &[]);
    let port = server.probe_port();
    let squatters = Squatters::start(port, SQUATTERS);
    squatters.connected().await;
    // Whether guard holds its 512 at this moment depends on how fast it
    // accepts (the squatters' count includes connections still in the
    // kernel's backlog), so that is not asserted here (the proxy's test
    // counts its sockets); the eviction itself is tested in guard-server's
    // accept module. What matters: the probes get through either way.
    // Three probes in a row, each answered inside a generous deadline
    // (kubelet's own is 5 s).
    for attempt in 0..3 {
        let status = tokio::time::timeout(Duration::from_secs(10), probe_healthz(port))
            .await
            .unwrap_or_else(|_| panic!("probe {attempt}: no answer within 10 s"))
            .unwrap_or_else(|e| panic!("probe {attempt}: {e}"));
        assert_eq!(status, 200, "probe {attempt}");
    }
    drop(squatters);
}
