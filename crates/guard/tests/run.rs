//! `guard run` end to end: the real binary, driven by real kubectl and by a
//! Rust mTLS client for what kubectl cannot send.
#![allow(clippy::unwrap_used)]

mod common;

use common::require::Peer;

use std::fs;
use std::time::Duration;

use common::client::{Call, plain_get, send};
use common::server::*;
use common::*;

fn token_auth_server(sb: &Sandbox) -> GuardServer {
    let tokens = prepare(sb);
    GuardServer::start(
        sb,
        &[
            "--auth-providers=token-auth",
            &format!("--token-auth-file={}", tokens.display()),
        ],
    )
}

/// Sends a v1 TokenReview for `token` with the `demo@token-auth` client
/// certificate; returns the answer's body.
async fn review_as_demo(sb: &Sandbox, server: &GuardServer, token: &str) -> serde_json::Value {
    let pki = sb.pki();
    let call = Call::post("/tokenreviews", review_body("v1", token)).with_identity(
        &pki.join("demo@token-auth.crt"),
        &pki.join("demo@token-auth.key"),
    );
    send(server.port, &pki.join("ca.crt"), call)
        .await
        .unwrap()
        .json()
}

/// Whether guard authenticates `token` (see [`review_as_demo`]).
async fn accepts(sb: &Sandbox, server: &GuardServer, token: &str) -> bool {
    review_as_demo(sb, server, token).await["status"]["authenticated"] == true
}

#[test]
fn kubectl_gets_answers_through_the_generated_webhook_config() {
    if common::require::missing(&[Peer::Kubectl]) {
        return;
    }
    let sb = Sandbox::new();
    let server = token_auth_server(&sb);
    let config = sb.home.path().join("webhook.yaml");
    let addr = format!("127.0.0.1:{}", server.port);
    let yaml = sb.ok(&[
        "get",
        "webhook-config",
        "demo",
        "-o",
        "token-auth",
        &format!("--addr={addr}"),
    ]);
    fs::write(&config, &yaml).unwrap();

    // kubectl parses the file and sees the URL guard printed.
    let out = std::process::Command::new(kubectl())
        .args([
            "config",
            "view",
            "--kubeconfig",
            config.to_str().unwrap(),
            "--raw",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("https://{addr}/tokenreviews")
    );

    let valid = sb.home.path().join("valid.json");
    fs::write(&valid, review_body("v1", "good-token-123")).unwrap();
    let out = kubectl_review(&config, server.port, &valid);
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(answer["kind"], "TokenReview");
    assert_eq!(answer["status"]["authenticated"], true);
    assert_eq!(answer["status"]["user"]["username"], "alice");
    assert_eq!(answer["status"]["user"]["uid"], "1001");
    assert_eq!(
        answer["status"]["user"]["groups"],
        serde_json::json!(["dev", "ops"])
    );

    let invalid = sb.home.path().join("invalid.json");
    fs::write(&invalid, review_body("v1", "not-a-token")).unwrap();
    let out = kubectl_review(&config, server.port, &invalid);
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["status"]["authenticated"], false);
    assert!(
        answer["status"].get("error").is_none(),
        "a plain denial carries no error: {answer}"
    );
    assert!(answer["status"].get("user").is_none(), "{answer}");

    // The token never reaches the log.
    let log = server.log();
    assert!(
        log.contains("outcome=\"authenticated\"") || log.contains("outcome=authenticated"),
        "{log}"
    );
    assert!(
        !log.contains("good-token-123") && !log.contains("not-a-token"),
        "{log}"
    );
}

#[tokio::test]
async fn v1beta1_is_answered_in_v1beta1_over_http1_and_http2() {
    let sb = Sandbox::new();
    let server = token_auth_server(&sb);
    let pki = sb.pki();
    for http2 in [false, true] {
        let mut call = Call::post("/tokenreviews", review_body("v1beta1", "bob-token-456"))
            .with_identity(
                &pki.join("demo@token-auth.crt"),
                &pki.join("demo@token-auth.key"),
            );
        call.http2 = http2;
        let answer = send(server.port, &pki.join("ca.crt"), call).await.unwrap();
        assert_eq!(
            answer.alpn.as_deref(),
            Some(if http2 { &b"h2"[..] } else { &b"http/1.1"[..] })
        );
        assert_eq!(answer.status, 200);
        assert_eq!(answer.headers["content-type"], "application/json");
        let json = answer.json();
        assert_eq!(json["apiVersion"], "authentication.k8s.io/v1beta1");
        assert_eq!(json["status"]["user"]["username"], "bob");
        assert!(json["status"]["user"].get("groups").is_none());
    }
}

#[tokio::test]
async fn broken_requests_get_the_4xx_that_fits() {
    let sb = Sandbox::new();
    let server = token_auth_server(&sb);
    let pki = sb.pki();
    let (cert, key, ca) = (
        pki.join("demo@token-auth.crt"),
        pki.join("demo@token-auth.key"),
        pki.join("ca.crt"),
    );
    let with_id = |call: Call<'static>| call.with_identity(&cert, &key);

    let cases: Vec<(Call, u16, &str)> = vec![
        (
            with_id(Call::post("/tokenreviews", "{bad")),
            400,
            "not a valid TokenReview",
        ),
        (
            with_id(Call::post(
                "/tokenreviews",
                r#"{"apiVersion":"v1","kind":"Pod","spec":{}}"#,
            )),
            400,
            "expected kind",
        ),
        (
            with_id(Call::post(
                "/tokenreviews",
                r#"{"apiVersion":"authentication.k8s.io/v2","kind":"TokenReview","spec":{"token":"x"}}"#,
            )),
            400,
            "unsupported apiVersion",
        ),
        (
            with_id(Call::post(
                "/tokenreviews",
                r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{}}"#,
            )),
            400,
            "spec.token is empty",
        ),
        (
            // Two tokens: refused, like two specs (not "the last one wins").
            with_id(Call::post(
                "/tokenreviews",
                r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"nope","token":"good-token-123"}}"#,
            )),
            400,
            "duplicate field `token`",
        ),
        (
            with_id(Call::post("/tokenreviews", vec![b' '; 2 << 20])),
            413,
            "exceeds",
        ),
        (
            with_id(Call {
                content_type: Some("text/plain"),
                ..Call::post("/tokenreviews", review_body("v1", "x"))
            }),
            415,
            "unsupported content type",
        ),
    ];
    for (call, status, needle) in cases {
        let answer = send(server.port, &ca, call).await.unwrap();
        assert_eq!(
            answer.status,
            status,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        let json = answer.json();
        assert_eq!(json["kind"], "TokenReview");
        assert_eq!(json["status"]["authenticated"], false);
        let error = json["status"]["error"].as_str().unwrap();
        assert!(error.contains(needle), "{status}: {error}");
    }

    // No value of the request is repeated in the answer or the log: it may
    // be a token, and its length is the sender's choice.
    let leak = "secrettoken-alice-LEAK1";
    common::secrets::register(leak);
    let long = "x".repeat(100_000);
    for body in [
        format!(
            r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":"{leak}"}}"#
        ),
        format!(r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"{leak}{long}","spec":{{}}}}"#),
        format!(r#"{{"apiVersion":"{leak}","kind":"TokenReview","spec":{{"token":"t"}}}}"#),
        format!(
            r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{{"token":["{leak}"]}}}}"#
        ),
    ] {
        let answer = send(server.port, &ca, with_id(Call::post("/tokenreviews", body)))
            .await
            .unwrap();
        assert_eq!(answer.status, 400);
        let error = answer.json()["status"]["error"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!error.contains("LEAK1"), "{error}");
        assert!(error.len() < 200, "{error}");
    }
    let log = server.log();
    assert!(!log.contains("LEAK1"), "{log}");
    assert!(!log.contains(&long[..1000]), "a long value reached the log");

    // A missing content type is fine (kubectl sends none).
    let answer = send(
        server.port,
        &ca,
        with_id(Call {
            content_type: None,
            ..Call::post("/tokenreviews", review_body("v1", "good-token-123"))
        }),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["status"]["authenticated"], true);

    let answer = send(server.port, &ca, with_id(Call::get("/tokenreviews")))
        .await
        .unwrap();
    assert_eq!(answer.status, 405);
    assert_eq!(answer.headers["allow"], "POST");
    let answer = send(server.port, &ca, with_id(Call::get("/nope")))
        .await
        .unwrap();
    assert_eq!(answer.status, 404);
    assert!(!server.log().contains("good-token-123"));
}

#[tokio::test]
async fn probes_use_the_plain_port_and_the_tls_port_requires_a_certificate() {
    let sb = Sandbox::new();
    let server = token_auth_server(&sb);
    let ca = sb.pki().join("ca.crt");
    for path in ["/healthz", "/readyz"] {
        let (status, body) = plain_get(server.probe_port(), path);
        assert_eq!(status, 200, "{path}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["status"], "ok");
    }
    // Reviews are never served without TLS.
    let (status, _) = plain_get(server.probe_port(), "/tokenreviews");
    assert_eq!(status, 404);
    // Without a client certificate the TLS port does not even finish the handshake.
    let refused = send(server.port, &ca, Call::get("/healthz")).await;
    assert!(refused.is_err(), "served without a client certificate");
}

#[tokio::test]
async fn with_optional_client_certificates_probes_work_on_the_tls_port_and_reviews_get_401() {
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    let server = GuardServer::start(
        &sb,
        &[
            "--auth-providers=token-auth",
            &format!("--token-auth-file={}", tokens.display()),
            "--require-client-cert=false",
        ],
    );
    let ca = sb.pki().join("ca.crt");
    for path in ["/healthz", "/readyz"] {
        let answer = send(server.port, &ca, Call::get(path)).await.unwrap();
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.json()["status"], "ok");
    }
    let answer = send(
        server.port,
        &ca,
        Call::post("/tokenreviews", review_body("v1", "good-token-123")),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 401);
    let error = answer.json()["status"]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("no client certificate"), "{error}");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_at_the_handshake() {
    let sb = Sandbox::new();
    let server = token_auth_server(&sb);
    let other = Sandbox::new();
    other.ok(&["init", "ca"]);
    other.ok(&["init", "client", "demo", "-o", "token-auth"]);
    let call = Call::post("/tokenreviews", review_body("v1", "good-token-123")).with_identity(
        &other.pki().join("demo@token-auth.crt"),
        &other.pki().join("demo@token-auth.key"),
    );
    match send(server.port, &sb.pki().join("ca.crt"), call).await {
        Err(e) => assert!(
            e.contains("TLS") || e.contains("connection") || e.contains("alert"),
            "{e}"
        ),
        Ok(a) => panic!("foreign client certificate accepted with HTTP {}", a.status),
    }
}

#[tokio::test]
async fn a_provider_that_is_not_enabled_is_refused() {
    let sb = Sandbox::new();
    let server = token_auth_server(&sb);
    sb.ok(&["init", "client", "acme", "-o", "github"]);
    let pki = sb.pki();
    let call = Call::post("/tokenreviews", review_body("v1", "good-token-123"))
        .with_identity(&pki.join("acme@github.crt"), &pki.join("acme@github.key"));
    let answer = send(server.port, &pki.join("ca.crt"), call).await.unwrap();
    assert_eq!(answer.status, 403);
    // Go Guard let token-file tokens in through any provider's certificate; guard does not.
    let error = answer.json()["status"]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("does not provide service for github"),
        "{error}"
    );
}

#[tokio::test]
async fn the_token_file_reloads_and_a_broken_one_is_ignored() {
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    let server = GuardServer::start(
        &sb,
        &[
            "--auth-providers=token-auth",
            &format!("--token-auth-file={}", tokens.display()),
        ],
    );
    let review = |token: &'static str| accepts(&sb, &server, token);
    assert!(review("good-token-123").await);
    assert!(!review("carol-token-789").await);

    // Kubernetes swaps Secret volumes by renaming; do the same.
    let next = sb.home.path().join("token.csv.new");
    fs::write(&next, "carol-token-789,carol,1003\n").unwrap();
    fs::rename(&next, &tokens).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !review("carol-token-789").await {
        assert!(
            std::time::Instant::now() < deadline,
            "new token file not picked up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !review("good-token-123").await,
        "old token still accepted after reload"
    );

    // A broken file is reported and the tokens in use stay.
    fs::write(&next, "carol-token-789,carol\n").unwrap();
    fs::rename(&next, &tokens).unwrap();
    eventually(
        Duration::from_secs(20),
        "the reload error in the log",
        || server.log().contains("keeping the previous tokens"),
    );
    assert!(review("carol-token-789").await);
    let log = server.log();
    assert!(log.contains("line 1"), "{log}");
    assert!(!log.contains("carol-token-789"), "{log}");
}

/// Quoting mistakes that Go's encoding/csv (kube-apiserver, Go Guard)
/// refuses make the file broken: at start-up one line with the line number;
/// on reload the tokens in use stay (no user silently disappears into
/// another's groups).
#[tokio::test]
async fn a_token_file_with_bad_quoting_is_broken() {
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    for (text, line) in [
        ("t1,u,1,\"system:masters", "line 1"),
        ("ok,u,1\n\"a\"b,u,1\n", "line 2"),
        ("ok,u,1\nt,u\"x,1\n", "line 2"),
    ] {
        let broken = sb.home.path().join("broken.csv");
        fs::write(&broken, text).unwrap();
        let mut args = guard_run_args(&sb);
        args.extend([
            "--auth-providers=token-auth".to_owned(),
            format!("--token-auth-file={}", broken.display()),
        ]);
        let err = sb.fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(err.contains(line), "{text:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }

    let server = GuardServer::start(
        &sb,
        &[
            "--auth-providers=token-auth",
            &format!("--token-auth-file={}", tokens.display()),
        ],
    );
    let review = |token: &'static str| review_as_demo(&sb, &server, token);
    assert_eq!(
        review("good-token-123").await["status"]["authenticated"],
        true
    );
    // alice's quoted groups run into bob's line: Go refuses the file.
    let next = sb.home.path().join("token.csv.new");
    fs::write(
        &next,
        "alice-token-1,alice,1,\"devs\nbob-token-2,bob,2,\"system:masters\"\ncarol-token-3,carol,3\n",
    )
    .unwrap();
    fs::rename(&next, &tokens).unwrap();
    eventually(
        Duration::from_secs(20),
        "the reload error in the log",
        || server.log().contains("keeping the previous tokens"),
    );
    let log = server.log();
    assert!(log.contains("line 2"), "{log}");
    assert_eq!(
        review("good-token-123").await["status"]["authenticated"],
        true
    );
    let json = review("alice-token-1").await;
    assert_eq!(json["status"]["authenticated"], false, "{json}");
}

/// A token file emptied in place (`: > token.csv`, or a `cat > token.csv`
/// caught half-way) does not revoke everyone on a reload: the previous
/// tokens stay and a warning says how to revoke every token on purpose (a
/// file holding only a newline), which then works. At start-up an empty file
/// is accepted with a warning.
#[tokio::test]
async fn an_emptied_token_file_keeps_the_previous_tokens() {
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    let empty = sb.home.path().join("empty.csv");
    fs::write(&empty, "").unwrap();
    let server = GuardServer::start(
        &sb,
        &[
            "--auth-providers=token-auth",
            &format!("--token-auth-file={}", empty.display()),
        ],
    );
    assert!(
        server.log().contains("the token file is empty"),
        "{}",
        server.log()
    );
    drop(server);

    let server = GuardServer::start(
        &sb,
        &[
            "--auth-providers=token-auth",
            &format!("--token-auth-file={}", tokens.display()),
        ],
    );
    let review = |token: &'static str| accepts(&sb, &server, token);
    assert!(review("good-token-123").await);
    // Truncated in place, as `: > token.csv` does.
    fs::File::create(&tokens).unwrap();
    eventually(Duration::from_secs(20), "the empty-file warning", || {
        server.log().contains("is empty (0 bytes)")
    });
    let log = server.log();
    let warning = log
        .lines()
        .find(|l| l.contains("is empty (0 bytes)"))
        .unwrap();
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("only a newline"), "{warning}");
    assert!(warning.contains("keeping the previous tokens"), "{warning}");
    assert!(
        review("good-token-123").await,
        "an empty file revoked everyone"
    );
    // A newline alone revokes every token on purpose.
    fs::write(&tokens, "\n").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while review("good-token-123").await {
        assert!(
            std::time::Instant::now() < deadline,
            "a file of one newline did not revoke the tokens"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        server.log().matches("is empty (0 bytes)").count(),
        1,
        "warned more than once"
    );
}

#[tokio::test]
async fn the_server_certificate_reloads() {
    let sb = Sandbox::new();
    let server = token_auth_server(&sb);
    let pki = sb.pki();
    let ca = pki.join("ca.crt");
    let healthz = || {
        Call::get("/healthz").with_identity(
            &pki.join("demo@token-auth.crt"),
            &pki.join("demo@token-auth.key"),
        )
    };
    let first = send(server.port, &ca, healthz()).await.unwrap().server_cert;
    sb.ok(&[
        "init",
        "server",
        "--ips=127.0.0.1",
        "--domains=rotated.example",
        "--force",
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = send(server.port, &ca, healthz()).await.unwrap().server_cert;
        if now != first {
            assert!(
                now.windows(b"rotated.example".len())
                    .any(|w| w == b"rotated.example")
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server certificate not reloaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn metrics_count_reviews_without_secrets() {
    let sb = Sandbox::new();
    let server = token_auth_server(&sb);
    for token in ["good-token-123", "good-token-123", "wrong-token"] {
        review_as_demo(&sb, &server, token).await;
    }
    let metrics = server.metrics();
    for line in [
        r#"guard_reviews_total{provider="token-auth",outcome="authenticated"} 2"#,
        r#"guard_reviews_total{provider="token-auth",outcome="denied"} 1"#,
        r#"tokenreviews_handler_requests_total{code="200",method="post"} 3"#,
        "guard_review_duration_seconds_count{provider=\"token-auth\"} 3",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    assert!(
        !metrics.contains("good-token-123") && !metrics.contains("alice"),
        "{metrics}"
    );
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let sb = Sandbox::new();
    let server = token_auth_server(&sb);
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn bad_configuration_is_one_clear_line() {
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    let pki = sb.pki();
    let tls = [
        format!("--tls-ca-file={}", pki.join("ca.crt").display()),
        format!("--tls-cert-file={}", pki.join("server.crt").display()),
        format!(
            "--tls-private-key-file={}",
            pki.join("server.key").display()
        ),
    ];
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--secure-addr=127.0.0.1:0"];
        args.extend(tls.iter().map(String::as_str));
        args.extend(extra);
        sb.fails(&args)
    };
    let err = sb.fails(&["run", "--auth-providers=token-auth"]);
    assert!(err.contains("--tls-ca-file"), "{err}");
    let err = run(&["--auth-providers=token-auth"]);
    assert!(err.contains("--token-auth-file"), "{err}");
    let err = run(&["--auth-providers=nope"]);
    assert!(err.contains("unknown provider"), "{err}");
    let broken = sb.home.path().join("broken.csv");
    fs::write(&broken, "ok-token,u,1\nsecret-token-xyz,,2\n").unwrap();
    let err = run(&[
        "--auth-providers=token-auth",
        &format!("--token-auth-file={}", broken.display()),
    ]);
    assert!(
        err.contains("line 2") && err.contains("empty user name"),
        "{err}"
    );
    assert!(!err.contains("secret-token-xyz"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let err = sb.fails(&[
        "run",
        "--tls-ca-file=/nonexistent/ca.crt",
        &tls[1],
        &tls[2],
        "--auth-providers=token-auth",
        &format!("--token-auth-file={}", tokens.display()),
    ]);
    assert!(err.contains("/nonexistent/ca.crt"), "{err}");
    // Go Guard's old flag names still work.
    let err = sb.fails(&[
        "run",
        "--ca-cert-file=/nonexistent/ca.crt",
        "--cert-file=x",
        "--key-file=y",
        "--auth-providers=token-auth",
        &format!("--token-auth-file={}", tokens.display()),
    ]);
    assert!(err.contains("/nonexistent/ca.crt"), "{err}");
}
