//! The GitLab provider through the real webhook path, against a GitLab API
//! stub on 127.0.0.1 that answers with GitLab's documented shapes.
#![allow(clippy::unwrap_used)]

mod common;

use common::peers::GitlabStub;
use common::server::*;

fn guard_for(stub: &GitlabStub, extra: &[&str]) -> Reviewer {
    let base = format!("--gitlab.base-url={}", stub.url);
    let mut args = vec![
        "--auth-providers=gitlab",
        base.as_str(),
        "--server-write-timeout=3s",
    ];
    args.extend(extra);
    // NAME may be left out for gitlab: the certificate is gitlab@gitlab.
    Reviewer::start("gitlab", "gitlab", &args)
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

    // 250 groups: three pages, every one followed.
    let (_, json) = guard.review("gl-many").await;
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
