//! Faults the server must survive: bad client certificates, slow and idle
//! clients, aborted handshakes, garbage on the wire.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::client::{Call, send};
use common::server::*;
use common::*;

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

    // Hundreds of idle connections and thousands of handshakes aborted half way.
    let parked: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let hello = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"; // the start of a ClientHello
    for i in 0..3_000 {
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
