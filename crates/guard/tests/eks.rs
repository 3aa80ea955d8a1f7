//! EKS (aws-iam-authenticator) tokens: minted by the real AWS CLI and by
//! `guard get token -o eks`, verified by `guard run` against a local STS
//! that checks SigV4 signatures with botocore's own signer.
#![allow(clippy::unwrap_used)]

mod common;

use common::require::Peer;

use std::collections::BTreeMap;
use std::process::Command;

use base64::Engine as _;
use common::peers::StsStub;
use common::server::*;
use serde_json::json;

const MAPPING: &str = r#"
mapRoles:
- rolearn: arn:aws:iam::123456789012:role/k8s-admins
  username: admin:{{SessionName}}
  groups: [system:masters, "team-{{AccountID}}", "s-{{SessionNameRaw}}", "key-{{AccessKeyID}}"]
- rolearn: arn:aws:iam::123456789012:role/k8s-sessions
  username: user-{{SessionName}}
  groups: ["{{SessionName}}:masters", "team-{{SessionName}}"]
- rolearn: arn:aws:iam::123456789012:role/k8s-names
  username: "{{SessionName}}:admin"
mapUsers:
- userarn: arn:aws:iam::123456789012:user/bob
  username: bob
  groups: [devs]
mapAccounts:
- "444455556666"
"#;

fn keys() -> serde_json::Value {
    json!({
        "AKIDEXAMPLE": {"secret": "secret", "account": "123456789012", "arn": "arn:aws:sts::123456789012:assumed-role/k8s-admins/alice@example.com", "userid": "AROAEXAMPLE:alice@example.com"},
        "AKIDBOB": {"secret": "bobsecret", "account": "123456789012", "arn": "arn:aws:iam::123456789012:user/bob", "userid": "AIDABOB"},
        "AKIDOTHER": {"secret": "othersecret", "account": "444455556666", "arn": "arn:aws:iam::444455556666:user/carol", "userid": "AIDACAROL"},
        "AKIDSTRANGER": {"secret": "strangersecret", "account": "999999999999", "arn": "arn:aws:iam::999999999999:user/eve", "userid": "AIDAEVE"},
        "AKIDSESSION": {"secret": "sessionsecret", "account": "123456789012", "arn": "arn:aws:sts::123456789012:assumed-role/k8s-sessions/system", "userid": "AROASESSIONS:system"},
        "AKIDNAMES": {"secret": "namessecret", "account": "123456789012", "arn": "arn:aws:sts::123456789012:assumed-role/k8s-names/system", "userid": "AROANAMES:system"},
        "AKIDTHROTTLED": {"secret": "throttledsecret", "account": "123456789012", "arn": "arn:aws:iam::123456789012:user/bob", "userid": "AIDABOB", "throttle": "400"},
        "AKIDTOOMANY": {"secret": "toomanysecret", "account": "123456789012", "arn": "arn:aws:iam::123456789012:user/bob", "userid": "AIDABOB", "throttle": "429"},
        "AKIDUNAVAILABLE": {"secret": "unavailablesecret", "account": "123456789012", "arn": "arn:aws:iam::123456789012:user/bob", "userid": "AIDABOB", "throttle": "503"},
        // The one web identity token AssumeRoleWithWebIdentity takes.
        format!("web-identity:{WEB_IDENTITY_TOKEN}"): {},
    })
}

/// A web identity token (in a pod, the projected service account token).
const WEB_IDENTITY_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.web-identity-for-tests.c2lnbmF0dXJl";

struct Env {
    guard: Reviewer,
    sts: StsStub,
    mapping: std::path::PathBuf,
}

fn start() -> Env {
    start_with_env(&[])
}

/// Like [`start`], with extra environment variables for `guard run`.
fn start_with_env(env: &[(String, String)]) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let sts = StsStub::start(&keys(), dir.path());
    let mapping = dir.path().join("mapping.yaml");
    std::fs::write(&mapping, MAPPING).unwrap();
    let args = [
        "--auth-providers=eks".to_owned(),
        format!("--eks.mapping-file={}", mapping.display()),
        format!("--eks.sts-endpoint={}", sts.url),
        "--cache-ttl=0".to_owned(),
        "--cache-failure-ttl=0".to_owned(),
    ];
    let sb = sandbox_with_client(&["demo", "-o", "eks"]);
    let pki = sb.pki();
    let mut run = guard_run_args(&sb);
    run.push("--probe-addr=127.0.0.1:0".to_owned());
    run.extend(args);
    let server = GuardServer::spawn(&sb, &run, env);
    let guard = Reviewer {
        client: (pki.join("demo@eks.crt"), pki.join("demo@eks.key")),
        sb,
        server,
    };
    let dir = dir.keep();
    Env {
        guard,
        sts,
        mapping: dir.join("mapping.yaml"),
    }
}

fn aws_cli_token(sts: &StsStub, key: &str, secret: &str, cluster: &str) -> String {
    aws_cli_token_with(key, secret, cluster, |cmd| {
        cmd.env("AWS_ENDPOINT_URL_STS", &sts.url);
    })
}

/// `aws eks get-token` (the real AWS CLI) with the keys `key`/`secret`, in
/// us-east-1, without shared files, and what `configure` adds; the token,
/// registered as a secret.
fn aws_cli_token_with(
    key: &str,
    secret: &str,
    cluster: &str,
    configure: impl FnOnce(&mut Command),
) -> String {
    let aws = common::testdata().join("../target/test-tools/venv/bin/aws");
    let mut cmd = Command::new(aws);
    cmd.args([
        "eks",
        "get-token",
        "--cluster-name",
        cluster,
        "--output",
        "json",
    ])
    .env("AWS_ACCESS_KEY_ID", key)
    .env("AWS_SECRET_ACCESS_KEY", secret)
    .env("AWS_DEFAULT_REGION", "us-east-1")
    .env_remove("AWS_PROFILE")
    .env("AWS_CONFIG_FILE", "/nonexistent")
    .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    configure(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "aws eks get-token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = v["status"]["token"].as_str().unwrap().to_owned();
    register_presigned(&token);
    token
}

/// Registers a token's presigned URL and its signature as secrets: either
/// is enough to replay the token.
fn register_presigned(token: &str) {
    let (url, params) = decode(token);
    common::secrets::register(token);
    common::secrets::register(&url);
    common::secrets::register(&params["X-Amz-Signature"]);
}

fn guard_token(
    env: &Env,
    key: &str,
    secret: &str,
    cluster: &str,
    extra: &[&str],
) -> std::process::Output {
    env.guard
        .sb
        .guard()
        .args([
            "get",
            "token",
            "-o",
            "eks",
            "--cluster-id",
            cluster,
            "--region",
            "us-east-1",
        ])
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_ENDPOINT_URL_STS", &env.sts.url)
        .output()
        .unwrap()
}

fn decode(token: &str) -> (String, BTreeMap<String, String>) {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.strip_prefix("k8s-aws-v1.").unwrap())
        .unwrap();
    let url = String::from_utf8(raw).unwrap();
    let query = url.split_once('?').unwrap().1;
    let params = query
        .split('&')
        .map(|kv| kv.split_once('=').unwrap())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (url, params)
}

#[tokio::test]
async fn tokens_from_the_aws_cli_and_from_guard_verify_alike() {
    if common::require::missing(&[Peer::Botocore, Peer::AwsCli]) {
        return;
    }
    let env = start();
    let cli = aws_cli_token(&env.sts, "AKIDEXAMPLE", "secret", "demo");
    let out = guard_token(&env, "AKIDEXAMPLE", "secret", "demo", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    register_presigned(&ours);

    // The same format, parameter for parameter (values differ only where they must).
    let (_, a) = decode(&cli);
    let (_, b) = decode(&ours);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for k in [
        "Action",
        "Version",
        "X-Amz-Algorithm",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
    ] {
        assert_eq!(a[k], b[k], "{k}");
    }

    for token in [&cli, &ours] {
        let (status, json) = env.guard.review(token).await;
        assert_eq!(status, 200);
        assert_eq!(
            json["status"]["authenticated"],
            true,
            "{json}\n{}",
            env.guard.server.log()
        );
        let user = &json["status"]["user"];
        assert_eq!(user["username"], "admin:alice-example.com");
        // Templates in groups are filled in as in usernames.
        assert_eq!(
            user["groups"],
            json!([
                "system:masters",
                "team-123456789012",
                "s-alice@example.com",
                "key-AKIDEXAMPLE"
            ])
        );
        // aws-iam-authenticator's uid: the role's id, without the session name.
        assert_eq!(
            user["uid"],
            "aws-iam-authenticator:123456789012:AROAEXAMPLE"
        );
        assert_eq!(
            user["extra"]["canonicalArn"],
            json!(["arn:aws:iam::123456789012:role/k8s-admins"])
        );
        assert_eq!(user["extra"]["sessionName"], json!(["alice@example.com"]));
        assert_eq!(user["extra"]["accessKeyId"], json!(["AKIDEXAMPLE"]));
    }
    assert!(!env.guard.server.log().contains(&ours));
}

#[tokio::test]
async fn users_accounts_and_unmapped_identities() {
    if common::require::missing(&[Peer::Botocore, Peer::AwsCli]) {
        return;
    }
    let env = start();
    let (_, json) = env
        .guard
        .review(&aws_cli_token(&env.sts, "AKIDBOB", "bobsecret", "demo"))
        .await;
    assert_eq!(json["status"]["user"]["username"], "bob");
    assert_eq!(json["status"]["user"]["groups"], json!(["devs"]));
    let (_, json) = env
        .guard
        .review(&aws_cli_token(&env.sts, "AKIDOTHER", "othersecret", "demo"))
        .await;
    assert_eq!(
        json["status"]["user"]["username"],
        "arn:aws:iam::444455556666:user/carol"
    );
    let (status, json) = env
        .guard
        .review(&aws_cli_token(
            &env.sts,
            "AKIDSTRANGER",
            "strangersecret",
            "demo",
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false);
    assert!(json["status"].get("error").is_none(), "{json}");
}

/// The caller picks its role session name: a template must not turn it
/// into one of Kubernetes' reserved `system:` names.
#[tokio::test]
async fn session_names_cannot_make_system_names() {
    if common::require::missing(&[Peer::Botocore, Peer::AwsCli]) {
        return;
    }
    let env = start();
    let token = aws_cli_token(&env.sts, "AKIDSESSION", "sessionsecret", "demo");
    let (status, json) = env.guard.review(&token).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], true, "{json}");
    assert_eq!(json["status"]["user"]["username"], "user-system");
    assert_eq!(json["status"]["user"]["groups"], json!(["team-system"]));

    let token = aws_cli_token(&env.sts, "AKIDNAMES", "namessecret", "demo");
    let (status, json) = env.guard.review(&token).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false, "{json}");
    assert!(json["status"].get("error").is_none(), "{json}");
    // The log line is read from the server's standard error, which may lag
    // behind the answer.
    eventually(
        std::time::Duration::from_secs(10),
        "the refused system: username is logged",
        || env.guard.server.log().contains("system: username"),
    );
}

#[tokio::test]
async fn wrong_cluster_tampered_expired_and_foreign_tokens_are_denied() {
    if common::require::missing(&[Peer::Botocore, Peer::AwsCli]) {
        return;
    }
    let env = start();
    // Made for another cluster: STS's signature check fails with our cluster id.
    let other = aws_cli_token(&env.sts, "AKIDEXAMPLE", "secret", "other-cluster");
    let (_, json) = env.guard.review(&other).await;
    assert_eq!(json["status"]["authenticated"], false, "{json}");

    // A changed signature.
    let (url, _) = decode(&aws_cli_token(&env.sts, "AKIDEXAMPLE", "secret", "demo"));
    let tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0");
    let encode = |u: &str| {
        format!(
            "k8s-aws-v1.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(u)
        )
    };
    let (_, json) = env.guard.review(&encode(&tampered)).await;
    assert_eq!(json["status"]["authenticated"], false, "{json}");

    // Refused before any request: expired, another host, another action.
    let before = env.sts.calls("GetCallerIdentity");
    let expired = url.replace(
        &url.split("X-Amz-Date=").nth(1).unwrap()[..16],
        "20200101T000000Z",
    );
    let foreign = [
        expired,
        url.replace(&env.sts.url, "https://evil.example.com"),
        url.replace(&env.sts.url, "http://169.254.169.254"),
        url.replace("Action=GetCallerIdentity", "Action=AssumeRole"),
        format!("{url}&Action=AssumeRole"),
    ];
    for bad in &foreign {
        let (status, json) = env.guard.review(&encode(bad)).await;
        assert_eq!(status, 200);
        assert_eq!(json["status"]["authenticated"], false, "{bad}: {json}");
    }
    assert_eq!(
        env.sts.calls("GetCallerIdentity"),
        before,
        "a refused token reached STS"
    );
}

/// The AWS CLI makes tokens for the dual-stack STS host
/// (`sts.REGION.api.aws`) when `AWS_USE_DUALSTACK_ENDPOINT` is set;
/// aws-iam-authenticator accepts them, and so does guard: it calls that
/// host (here through a proxy that records the tunnel it is asked for and
/// refuses it, so the review is an outage, not a denial).
#[tokio::test]
async fn dual_stack_sts_hosts_are_accepted() {
    if common::require::missing(&[Peer::Botocore, Peer::AwsCli]) {
        return;
    }
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let tunnels = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = tunnels.clone();
    std::thread::spawn(move || {
        use std::io::{BufRead as _, Write as _};
        for stream in proxy.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            seen.lock().unwrap().push(line.trim().to_owned());
            loop {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(n) if n > 2 => continue,
                    _ => break,
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let env = start_with_env(&[
        ("HTTPS_PROXY".to_owned(), proxy_url),
        ("NO_PROXY".to_owned(), "127.0.0.1".to_owned()),
    ]);

    let token = aws_cli_token_with("AKIDEXAMPLE", "secret", "demo", |cmd| {
        cmd.env("AWS_USE_DUALSTACK_ENDPOINT", "true")
            .env_remove("AWS_ENDPOINT_URL_STS");
    });
    assert!(
        decode(&token)
            .0
            .starts_with("https://sts.us-east-1.api.aws/"),
        "{}",
        decode(&token).0
    );

    let (status, json) = env.guard.review(&token).await;
    assert_eq!(status, 200);
    assert_eq!(
        tunnels.lock().unwrap().clone(),
        ["CONNECT sts.us-east-1.api.aws:443 HTTP/1.1"],
        "{json}"
    );
    assert!(json["status"]["error"].is_string(), "{json}");
}

#[tokio::test]
async fn sts_down_is_an_outage() {
    if common::require::missing(&[Peer::Botocore, Peer::AwsCli]) {
        return;
    }
    let mut env = start();
    let token = aws_cli_token(&env.sts, "AKIDEXAMPLE", "secret", "demo");
    env.sts.stop();
    let (status, json) = env.guard.review(&token).await;
    assert_eq!(status, 200);
    let error = json["status"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {json}"));
    assert!(error.contains("AWS STS"), "{error}");
    // The failure is logged with the origin it went to, never the
    // presigned URL (a replayable token): the secrets check scans the log
    // for the URL and its signature when the server stops.
    // The line may follow the answer by a moment.
    eventually(
        std::time::Duration::from_secs(10),
        "AWS STS: cannot connect in the log",
        || env.guard.server.log().contains("AWS STS: cannot connect"),
    );
    let log = env.guard.server.log();
    assert!(!log.contains("X-Amz-"), "{log}");
}

#[tokio::test]
async fn sts_throttling_is_an_outage_and_is_counted() {
    if common::require::missing(&[Peer::Botocore, Peer::AwsCli]) {
        return;
    }
    let env = start();
    for (key, secret, words) in [
        (
            "AKIDTHROTTLED",
            "throttledsecret",
            "throttling requests (Throttling)",
        ),
        ("AKIDTOOMANY", "toomanysecret", "throttling requests"),
        (
            "AKIDUNAVAILABLE",
            "unavailablesecret",
            "AWS STS answered 503",
        ),
    ] {
        let (status, json) = env
            .guard
            .review(&aws_cli_token(&env.sts, key, secret, "demo"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(json["status"]["authenticated"], false);
        let error = json["status"]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{key}: STS throttling is not a bad token: {json}"));
        assert!(error.contains(words), "{key}: {error}");
    }
    let metrics = env.guard.metrics().await;
    assert!(
        metrics.contains("guard_eks_sts_throttling_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn guard_assumes_a_role_and_prints_an_exec_credential() {
    if common::require::missing(&[Peer::Botocore]) {
        return;
    }
    let env = start();
    let out = guard_token(
        &env,
        "AKIDBOB",
        "bobsecret",
        "demo",
        &[
            "--role-arn",
            "arn:aws:iam::123456789012:role/k8s-admins",
            "--exec-credential",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.sts.calls("AssumeRole"), 1);
    let credential: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(credential["kind"], "ExecCredential");
    assert_eq!(credential["apiVersion"], "client.authentication.k8s.io/v1");
    assert!(
        credential["status"]["expirationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let token = credential["status"]["token"].as_str().unwrap();
    let (_, json) = env.guard.review(token).await;
    let username = json["status"]["user"]["username"]
        .as_str()
        .unwrap_or_else(|| panic!("{json}"));
    assert!(username.starts_with("admin:guard-"), "{username}");
}

#[test]
fn get_token_errors_are_one_line() {
    let sb = common::Sandbox::new();
    let err = sb.fails(&["get", "token", "-o", "eks"]);
    assert!(err.contains("--cluster-id"), "{err}");
    let out = sb
        .guard()
        .args(["get", "token", "-o", "eks", "--cluster-id", "demo"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success() && err.contains("credentials"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[tokio::test]
async fn go_guards_login_form_still_works_as_a_credential_plugin() {
    if common::require::missing(&[Peer::Botocore]) {
        return;
    }
    let env = start();
    let out = env
        .guard
        .sb
        .guard()
        .args(["login", "-p", "eks", "-k", "demo"])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_STS", &env.sts.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let credential: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        credential["apiVersion"],
        "client.authentication.k8s.io/v1beta1"
    );
    let (_, json) = env
        .guard
        .review(credential["status"]["token"].as_str().unwrap())
        .await;
    assert_eq!(
        json["status"]["user"]["username"], "admin:alice-example.com",
        "{json}"
    );
}

#[tokio::test]
async fn the_mapping_file_reloads_and_a_broken_one_is_ignored() {
    if common::require::missing(&[Peer::Botocore, Peer::AwsCli]) {
        return;
    }
    let env = start();
    let (_, json) = env
        .guard
        .review(&aws_cli_token(
            &env.sts,
            "AKIDSTRANGER",
            "strangersecret",
            "demo",
        ))
        .await;
    assert_eq!(json["status"]["authenticated"], false);

    // Map the stranger's account; swap the file as Kubernetes does (rename).
    let next = env.mapping.with_extension("next");
    std::fs::write(&next, format!("{MAPPING}- \"999999999999\"\n")).unwrap();
    std::fs::rename(&next, &env.mapping).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let token = aws_cli_token(&env.sts, "AKIDSTRANGER", "strangersecret", "demo");
        let (_, json) = env.guard.review(&token).await;
        if json["status"]["authenticated"] == true {
            assert_eq!(
                json["status"]["user"]["username"],
                "arn:aws:iam::999999999999:user/eve"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new mapping was not picked up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // A broken file is reported and the mapping in use stays.
    std::fs::write(&next, "mapRoles: [this is: not: valid").unwrap();
    std::fs::rename(&next, &env.mapping).unwrap();
    eventually(
        std::time::Duration::from_secs(20),
        "the reload error in the log",
        || {
            env.guard
                .server
                .log()
                .contains("keeping the previous mapping")
        },
    );
    let (_, json) = env
        .guard
        .review(&aws_cli_token(
            &env.sts,
            "AKIDSTRANGER",
            "strangersecret",
            "demo",
        ))
        .await;
    assert_eq!(json["status"]["authenticated"], true);
}

/// `guard get token -o eks` with only `vars` for AWS (no keys in the
/// environment, no shared files unless `vars` name them), against the
/// stub STS (`AWS_ENDPOINT_URL_STS`). An empty value in `vars` removes the
/// variable.
fn guard_token_from(env: &Env, vars: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = env.guard.sb.guard();
    cmd.args([
        "get",
        "token",
        "-o",
        "eks",
        "--cluster-id",
        "demo",
        "--region",
        "us-east-1",
    ])
    .env_remove("AWS_ACCESS_KEY_ID")
    .env_remove("AWS_SECRET_ACCESS_KEY")
    .env_remove("AWS_SESSION_TOKEN")
    .env_remove("AWS_PROFILE")
    .env_remove("AWS_ROLE_ARN")
    .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
    .env("AWS_CONFIG_FILE", "/nonexistent/config")
    .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    // No instance metadata service here: do not wait for one.
    .env("AWS_EC2_METADATA_DISABLED", "true")
    .env_remove("AWS_ENDPOINT_URL")
    .env_remove("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
    .env("AWS_ENDPOINT_URL_STS", &env.sts.url);
    for (k, v) in vars {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().unwrap();
    common::secrets::assert_clean(
        "guard get token (stderr)",
        &String::from_utf8_lossy(&out.stderr),
    );
    out
}

/// The username guard's server gives the token `out` printed.
async fn username_of(env: &Env, out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout.clone()).unwrap();
    let token = token.trim();
    register_presigned(token);
    let (_, json) = env.guard.review(token).await;
    json["status"]["user"]["username"]
        .as_str()
        .unwrap_or_else(|| panic!("{json}"))
        .to_owned()
}

/// A profile with `role_arn` + `source_profile`: the AWS SDK's chain assumes
/// the role (AssumeRole signed with the source profile's keys, at the
/// endpoint `AWS_ENDPOINT_URL_STS` names) and the token is signed with the
/// role's temporary credentials.
#[tokio::test]
async fn a_profile_with_role_arn_and_source_profile_assumes_the_role() {
    if common::require::missing(&[Peer::Botocore]) {
        return;
    }
    let env = start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &config,
        "[profile base]\nregion = us-east-1\n\n[profile admin]\n\
         role_arn = arn:aws:iam::123456789012:role/k8s-admins\n\
         source_profile = base\nrole_session_name = from-profile\n",
    )
    .unwrap();
    std::fs::write(
        &credentials,
        "[base]\naws_access_key_id = AKIDBOB\naws_secret_access_key = bobsecret\n",
    )
    .unwrap();
    let out = guard_token_from(
        &env,
        &[
            ("AWS_PROFILE", "admin"),
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
            ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
        ],
    );
    assert_eq!(username_of(&env, &out).await, "admin:from-profile");
    assert_eq!(env.sts.calls("AssumeRole"), 1);

    // A profile whose source has no keys is a one-line error naming no secret.
    std::fs::write(&credentials, "[other]\naws_access_key_id = AKIDBOB\n").unwrap();
    let out = guard_token_from(
        &env,
        &[
            ("AWS_PROFILE", "admin"),
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
            ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
        ],
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("base"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// A profile with `credential_process`: the SDK runs the command and signs
/// with the keys it prints.
#[tokio::test]
async fn a_profile_with_credential_process_signs_with_its_keys() {
    if common::require::missing(&[Peer::Botocore]) {
        return;
    }
    let env = start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("creds.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIDEXAMPLE\", \"SecretAccessKey\": \"secret\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile proc]\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    let out = guard_token_from(
        &env,
        &[
            ("AWS_PROFILE", "proc"),
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ],
    );
    assert_eq!(username_of(&env, &out).await, "admin:alice-example.com");
    assert_eq!(env.sts.calls("AssumeRole"), 0);
}

/// Web identity from the environment (`AWS_WEB_IDENTITY_TOKEN_FILE` +
/// `AWS_ROLE_ARN`, as EKS pod identity and CI runners set them): the SDK
/// calls AssumeRoleWithWebIdentity and signs with the role's credentials.
#[tokio::test]
async fn web_identity_from_the_environment_assumes_the_role() {
    if common::require::missing(&[Peer::Botocore]) {
        return;
    }
    common::secrets::register(WEB_IDENTITY_TOKEN);
    let env = start();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, WEB_IDENTITY_TOKEN).unwrap();
    let out = guard_token_from(
        &env,
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/k8s-admins"),
            ("AWS_ROLE_SESSION_NAME", "ci-runner"),
        ],
    );
    assert_eq!(username_of(&env, &out).await, "admin:ci-runner");
    assert_eq!(env.sts.calls("AssumeRoleWithWebIdentity"), 1);

    // A token STS does not take: a one-line error, without the token.
    std::fs::write(&token_file, "not-a-web-identity-token").unwrap();
    let out = guard_token_from(
        &env,
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/k8s-admins"),
        ],
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("InvalidIdentityToken") || err.contains("web identity"),
        "{err}"
    );
    assert!(!err.contains("not-a-web-identity-token"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// The URL a token printed by `guard get token` is presigned for.
fn presigned_for(out: &std::process::Output) -> String {
    let token = String::from_utf8(out.stdout.clone()).unwrap();
    register_presigned(token.trim());
    decode(token.trim()).0
}

/// The token's STS endpoint comes from the AWS configuration, as the aws
/// CLI reads it: the profile's `endpoint_url`, the `sts` `endpoint_url` of
/// its `services` section (before the profile's), `AWS_ENDPOINT_URL` and
/// `AWS_ENDPOINT_URL_STS` (before any profile); and
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` turns them all off.
#[tokio::test]
async fn the_profiles_endpoint_url_is_where_the_token_goes() {
    if common::require::missing(&[Peer::Botocore]) {
        return;
    }
    let env = start();
    let sts = env.sts.url.trim_end_matches('/').to_owned();
    // Where no token may go: nothing listens there.
    let nowhere = {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", closed.local_addr().unwrap())
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let keys = "aws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n";
    std::fs::write(
        &config,
        format!(
            "[profile global]\n{keys}endpoint_url = {sts}\n\n\
             [profile per-service]\n{keys}endpoint_url = {nowhere}\nservices = local\n\n\
             [services local]\nsts =\n  endpoint_url = {sts}\n\n\
             [profile elsewhere]\n{keys}endpoint_url = {nowhere}\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let token_for = |profile: &'static str, vars: &[(&'static str, &str)]| {
        let mut all = vec![
            ("AWS_PROFILE", profile),
            ("AWS_CONFIG_FILE", config),
            ("AWS_ENDPOINT_URL_STS", ""),
        ];
        all.extend_from_slice(vars);
        guard_token_from(&env, &all)
    };

    for (profile, vars) in [
        ("global", vec![]),
        ("per-service", vec![]),
        ("elsewhere", vec![("AWS_ENDPOINT_URL", sts.as_str())]),
        ("elsewhere", vec![("AWS_ENDPOINT_URL_STS", sts.as_str())]),
        (
            "per-service",
            vec![
                ("AWS_ENDPOINT_URL_STS", sts.as_str()),
                ("AWS_ENDPOINT_URL", nowhere.as_str()),
            ],
        ),
    ] {
        let out = token_for(profile, &vars);
        assert!(
            out.status.success(),
            "{profile} {vars:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = presigned_for(&out);
        assert!(
            url.starts_with(&format!("{sts}/?")),
            "{profile} {vars:?}: presigned for {}",
            url.split('?').next().unwrap_or_default()
        );
        assert_eq!(
            username_of(&env, &out).await,
            "admin:alice-example.com",
            "{profile} {vars:?}"
        );
    }

    // Configured endpoints ignored: the regional endpoint of --region.
    let out = token_for("global", &[("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")]);
    assert!(
        presigned_for(&out).starts_with("https://sts.us-east-1.amazonaws.com/?"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
