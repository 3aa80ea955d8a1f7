//! The GitLab provider through the real webhook path, against a GitLab API
//! stub on 127.0.0.1 that answers with GitLab's documented shapes.
#![allow(clippy::unwrap_used)]

mod common;

use common::peers::GitlabStub;
use common::server::*;

/// `guard run` for gitlab with a client certificate whose CN is `group`.
fn guard_in(stub: &GitlabStub, group: &str, extra: &[&str]) -> Reviewer {
    let base = format!("--gitlab.base-url={}", stub.url);
    let mut args = vec![
        "--auth-providers=gitlab",
        base.as_str(),
        "--server-write-timeout=3s",
    ];
    args.extend(extra);
    Reviewer::start(group, "gitlab", &args)
}

/// `guard run` for gitlab with the client certificate `acme@gitlab`.
fn guard_for(stub: &GitlabStub, extra: &[&str]) -> Reviewer {
    guard_in(stub, "acme", extra)
}

#[tokio::test]
async fn users_get_their_groups_by_full_path_or_id() {
    let stub = GitlabStub::start().await;
    let guard = guard_for(&stub, &[]);
    let (status, json) = guard.review("gl-alice").await;
    assert_eq!(status, 200);
    let user = &json["status"]["user"];
    assert_eq!(user["username"], "alice");
    assert_eq!(user["uid"], "42");
    assert_eq!(
        user["groups"],
        serde_json::json!(["acme", "acme/platform", "acme/platform/sre"])
    );

    // 250 groups: three pages, every one followed (the group of the
    // certificate, bulk/g250 by its id, is on the last one).
    let (_, json) = guard_in(&stub, "1250", &[]).review("gl-many").await;
    assert_eq!(
        json["status"]["user"]["groups"].as_array().unwrap().len(),
        250
    );

    // The token travels as a Bearer token; groups are asked for memberships only.
    let seen = stub.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(t, p)| t == "gl-alice" && p.starts_with("/api/v4/user"))
    );
    assert!(
        seen.iter()
            .filter(|(_, p)| p.starts_with("/api/v4/groups"))
            .all(|(_, p)| p.contains("min_access_level=10")),
        "{seen:?}"
    );

    let guard = guard_for(&stub, &["--gitlab.use-group-id=true"]);
    let (_, json) = guard.review("gl-alice").await;
    assert_eq!(
        json["status"]["user"]["groups"],
        serde_json::json!(["7", "8", "9"])
    );
}

#[tokio::test]
async fn an_administrators_token_lists_only_their_own_groups() {
    let stub = GitlabStub::start().await;
    let guard = guard_for(&stub, &[]);
    let (_, json) = guard.review("gl-admin").await;
    assert_eq!(
        json["status"]["user"]["groups"],
        serde_json::json!(["acme"])
    );
}

#[tokio::test]
async fn bad_tokens_are_denied_and_outages_carry_an_error() {
    let stub = GitlabStub::start().await;
    let guard = guard_for(&stub, &[]);
    let (status, json) = guard.review("gl-nobody").await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false);
    assert!(json["status"].get("error").is_none(), "{json}");
    for (token, needle) in [
        ("gl-500", "500"),
        ("gl-ratelimited", "rate limit"),
        ("gl-hang", "did not answer within"),
        ("gl-garbage", "unexpected answer"),
    ] {
        let (status, json) = guard.review(token).await;
        assert_eq!(status, 200, "{token}");
        let error = json["status"]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{token}: {json}"));
        assert!(error.contains(needle), "{token}: {error}");
    }
}

/// A base URL answered by something other than GitLab (an ingress' default
/// backend: 404 with an HTML page) is an outage, not a cached denial.
#[tokio::test]
async fn a_404_page_that_is_not_gitlabs_json_is_an_outage() {
    let backend = common::peers::DefaultBackend::start().await;
    let base = format!("--gitlab.base-url={}", backend.url);
    let guard = Reviewer::start("acme", "gitlab", &["--auth-providers=gitlab", &base]);
    let (status, json) = guard.review("gl-alice").await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false, "{json}");
    let error = json["status"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("a proxy's 404 page is an outage: {json}"));
    assert!(error.contains("404"), "{error}");
}

#[tokio::test]
async fn repeated_reviews_are_served_from_the_cache() {
    let stub = GitlabStub::start().await;
    let guard = guard_for(&stub, &[]);
    for _ in 0..5 {
        let (_, json) = guard.review("gl-alice").await;
        assert_eq!(json["status"]["user"]["username"], "alice");
    }
    let user_calls = stub
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, p)| t == "gl-alice" && p.starts_with("/api/v4/user"))
        .count();
    assert_eq!(user_calls, 1);
    let metrics = guard.metrics().await;
    assert!(
        metrics.contains(r#"guard_review_cache_total{provider="gitlab",result="hit"} 4"#),
        "{metrics}"
    );
}

/// The client certificate's CN names the GitLab group whose members may log
/// in (Go Guard let every user of the GitLab instance in: with gitlab.com,
/// anyone). `--gitlab.allow-any-user` keeps Go Guard's behaviour.
#[tokio::test]
async fn the_certificates_cn_names_the_group_whose_members_may_log_in() {
    let stub = GitlabStub::start().await;
    // alice is in acme (id 7), acme/platform (id 8) and acme/platform/sre;
    // root only in acme. A subgroup is named by its id (a '/' cannot be
    // part of the certificate's file name).
    let platform = guard_in(&stub, "8", &[]);
    let (_, json) = platform.review("gl-alice").await;
    assert_eq!(json["status"]["user"]["username"], "alice", "{json}");
    let (status, json) = platform.review("gl-admin").await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false, "{json}");
    assert!(json["status"].get("error").is_none(), "{json}");
    // The reason is logged (the line may follow the answer by a moment).
    eventually(
        std::time::Duration::from_secs(10),
        "the denial's reason in the log",
        || {
            platform
                .server
                .log()
                .contains("root is not a member of the GitLab group")
        },
    );
    // Paths are compared without regard to case, as GitLab treats them.
    let (_, json) = guard_in(&stub, "ACME", &[]).review("gl-admin").await;
    assert_eq!(json["status"]["user"]["username"], "root", "{json}");

    let elsewhere = guard_in(&stub, "someone-else", &[]);
    let (_, json) = elsewhere.review("gl-alice").await;
    assert_eq!(json["status"]["authenticated"], false, "{json}");
    let anyone = guard_in(&stub, "someone-else", &["--gitlab.allow-any-user"]);
    let (_, json) = anyone.review("gl-alice").await;
    assert_eq!(json["status"]["user"]["username"], "alice", "{json}");

    // The group must be named when the certificate is made.
    let err = anyone.sb.fails(&["init", "client", "-o", "gitlab"]);
    assert!(err.contains("GitLab group"), "{err}");
}

/// A provider that reads the CN refuses a certificate without a usable one
/// (none, blank, several) with 403 and the reason, before asking GitLab;
/// a provider that does not read it (token-auth) does not care.
#[tokio::test]
async fn certificates_without_a_usable_cn_are_refused_where_the_cn_matters() {
    use common::client::{Call, send};
    let stub = GitlabStub::start().await;
    let sb = common::Sandbox::new();
    let tokens = prepare(&sb);
    let base = format!("--gitlab.base-url={}", stub.url);
    let token_file = format!("--token-auth-file={}", tokens.display());
    let server = GuardServer::start(
        &sb,
        &["--auth-providers=gitlab,token-auth", &base, &token_file],
    );
    let pki = sb.pki();
    let dir = sb.home.path();
    let ext = dir.join("client.ext");
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    let issue = |name: &str, subject: &str| {
        let path = |ext: &str| dir.join(format!("{name}.{ext}"));
        let p = |ext: &str| path(ext).to_str().unwrap().to_owned();
        for args in [
            vec![
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                subject,
                "-keyout",
                &p("key"),
                "-out",
                &p("csr"),
            ],
            vec![
                "x509",
                "-req",
                "-in",
                &p("csr"),
                "-CA",
                pki.join("ca.crt").to_str().unwrap(),
                "-CAkey",
                pki.join("ca.key").to_str().unwrap(),
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                ext.to_str().unwrap(),
                "-out",
                &p("crt"),
            ],
        ] {
            let out = common::openssl(&args);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        (path("crt"), path("key"))
    };
    let (ca, port) = (pki.join("ca.crt"), server.port);
    let review = |cert: (std::path::PathBuf, std::path::PathBuf), token: &str| {
        let call =
            Call::post("/tokenreviews", review_body("v1", token)).with_identity(&cert.0, &cert.1);
        let ca = ca.clone();
        async move {
            let answer = send(port, &ca, call).await.unwrap();
            (answer.status, answer.json())
        }
    };
    for (name, subject, why) in [
        ("none", "/O=gitlab", "has no CN"),
        ("blank", "/O=gitlab/CN= ", "has an empty CN"),
        ("two", "/O=gitlab/CN=acme/CN=other", "has more than one CN"),
    ] {
        let (status, json) = review(issue(name, subject), "gl-alice").await;
        assert_eq!(status, 403, "{name}: {json}");
        let error = json["status"]["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(why) && error.contains("GitLab group"),
            "{name}: {error}"
        );
    }
    assert!(
        stub.seen.lock().unwrap().is_empty(),
        "GitLab was asked for a certificate without a usable CN"
    );
    let (status, json) = review(issue("tokens", "/O=token-auth"), "good-token-123").await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["user"]["username"], "alice", "{json}");
}
