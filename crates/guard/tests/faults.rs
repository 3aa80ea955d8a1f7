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
    let server = token_auth_server(&sb, &["--server-read-timeout=1s"]);
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

    // The server still answers promptly.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pki = sb.pki();
    let answer = runtime
        .block_on(send(
            server.port,
            &pki.join("ca.crt"),
            Call::post("/tokenreviews", review_body("v1", "good-token-123")).with_identity(
                &pki.join("demo@token-auth.crt"),
                &pki.join("demo@token-auth.key"),
            ),
        ))
        .unwrap();
    assert_eq!(answer.json()["status"]["authenticated"], true);
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
    let server = token_auth_server(&sb, &["--server-read-timeout=60s", "--max-connections=20"]);
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

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let metrics = runtime
        .block_on(send(
            server.port,
            &sb.pki().join("ca.crt"),
            Call::get("/metrics"),
        ))
        .unwrap();
    let text = String::from_utf8(metrics.body).unwrap();
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
        "gitlab",
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
