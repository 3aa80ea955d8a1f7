//! The GitHub provider through the real webhook path (`guard run`, mTLS),
//! against the GitHub REST simulator on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use common::require::Peer;

use std::fs;

use common::peers::GithubSim;
use common::server::*;

fn guard_for(sim: &GithubSim, extra: &[&str]) -> Reviewer {
    let base = format!("--github.base-url={}", sim.url);
    let mut args = vec![
        "--auth-providers=github",
        base.as_str(),
        "--server-write-timeout=3s",
    ];
    args.extend(extra);
    Reviewer::start("acme", "github", &args)
}

#[tokio::test]
async fn members_get_their_teams_in_the_org_as_groups() {
    if common::require::missing(&[Peer::Node("@simulacrum/github-api-simulator")]) {
        return;
    }
    let sim = GithubSim::start();
    let guard = guard_for(&sim, &[]);
    let (status, json) = guard.review("gh-alice").await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], true, "{json}");
    let user = &json["status"]["user"];
    assert_eq!(user["username"], "alice");
    assert_eq!(user["uid"], "1001");
    // Teams of other organisations are left out.
    assert_eq!(
        user["groups"],
        serde_json::json!(["Admins", "Platform Team"])
    );

    let (_, json) = guard.review("gh-zero").await;
    assert_eq!(json["status"]["user"]["username"], "zero");
    assert!(json["status"]["user"].get("groups").is_none(), "{json}");

    let (_, json) = guard.review("gh-one").await;
    assert_eq!(
        json["status"]["user"]["groups"],
        serde_json::json!(["Solo"])
    );

    // 150 teams in the org (plus 10 elsewhere): two pages of 100, via Link.
    let (_, json) = guard.review("gh-many").await;
    let groups = json["status"]["user"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 150);
    assert_eq!(groups[0], "Team 0");
    assert_eq!(groups[149], "Team 149");
    assert!(!guard.server.log().contains("gh-many"));
}

/// A `Link` header with a relation besides next, last, first and prev (and
/// a quoted comma): the pages are followed all the same, and nothing is
/// printed about it (octocrab's own reader prints to stderr for each).
#[tokio::test]
async fn other_link_relations_are_passed_over_silently() {
    if common::require::missing(&[Peer::Node("@simulacrum/github-api-simulator")]) {
        return;
    }
    let sim = GithubSim::start();
    let guard = guard_for(&sim, &[]);
    let (_, json) = guard.review("gh-rels").await;
    assert_eq!(json["status"]["user"]["username"], "linkrels", "{json}");
    assert_eq!(
        json["status"]["user"]["groups"].as_array().unwrap().len(),
        150,
        "{json}"
    );
    // Standard error is read behind the answers: wait for the review's line,
    // which guard writes after anything printed while it was checked.
    eventually(
        std::time::Duration::from_secs(10),
        "the review in the log",
        || guard.server.log().contains("linkrels"),
    );
    let log = guard.server.log();
    assert!(
        !log.contains("custom-rel") && !log.contains("unexpected 'rel'"),
        "{log}"
    );
}

#[tokio::test]
async fn team_slugs_on_request() {
    if common::require::missing(&[Peer::Node("@simulacrum/github-api-simulator")]) {
        return;
    }
    let sim = GithubSim::start();
    let guard = guard_for(&sim, &["--github.use-team-slug"]);
    let (_, json) = guard.review("gh-alice").await;
    assert_eq!(
        json["status"]["user"]["groups"],
        serde_json::json!(["admins", "platform-team"])
    );
}

#[tokio::test]
async fn non_members_pending_members_and_bad_tokens_are_plain_denials() {
    if common::require::missing(&[Peer::Node("@simulacrum/github-api-simulator")]) {
        return;
    }
    let sim = GithubSim::start();
    let guard = guard_for(&sim, &[]);
    for token in ["gh-pending", "gh-outsider", "gh-no-such-token"] {
        let (status, json) = guard.review(token).await;
        assert_eq!(status, 200, "{token}");
        assert_eq!(json["status"]["authenticated"], false, "{token}");
        assert!(
            json["status"].get("error").is_none(),
            "{token}: a denial carries no error: {json}"
        );
    }
    let log = guard.server.log();
    assert!(log.contains("pending, not active"), "{log}");
    assert!(
        log.contains("not a member of the GitHub organisation acme"),
        "{log}"
    );
}

/// A token GitHub refuses as too large (431: node's HTTP server, like
/// GitHub's front end, limits the request head) is a plain denial, not an
/// outage.
#[tokio::test]
async fn a_token_too_large_for_github_is_a_plain_denial() {
    if common::require::missing(&[Peer::Node("@simulacrum/github-api-simulator")]) {
        return;
    }
    let sim = GithubSim::start();
    let guard = guard_for(&sim, &[]);
    // Under guard's own 64 KiB limit, over the upstream's header limit.
    let token = format!("ghp_{}", "y".repeat(40 << 10));
    common::secrets::register(&token);
    let (status, json) = guard.review(&token).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false, "{json}");
    assert!(json["status"].get("error").is_none(), "{json}");
    assert!(
        guard.server.log().contains("token too large for GitHub"),
        "{}",
        guard.server.log()
    );
    let metrics = guard.metrics().await;
    assert!(
        !metrics.contains(r#"guard_upstream_errors_total{provider="github"}"#)
            || metrics.contains(r#"guard_upstream_errors_total{provider="github"} 0"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn outages_are_answered_with_an_error_in_bounded_time() {
    if common::require::missing(&[Peer::Node("@simulacrum/github-api-simulator")]) {
        return;
    }
    let sim = GithubSim::start();
    let guard = guard_for(&sim, &[]);
    for (token, needle) in [
        ("gh-ratelimited", "rate limit"),
        ("gh-abuse", "rate limit"),
        // GitHub's secondary rate limit: 403 with requests left, no retry-after.
        ("gh-secondary", "rate limit"),
        ("gh-500", "500"),
        // Never answers: the review deadline (write timeout 3 s - 1 s) cuts it off.
        ("gh-hang", "did not answer within"),
    ] {
        let (status, json) = guard.review(token).await;
        assert_eq!(status, 200, "{token}");
        assert_eq!(json["status"]["authenticated"], false, "{token}");
        let error = json["status"]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{token}: no error in {json}"));
        assert!(error.contains(needle), "{token}: {error}");
        assert!(
            !error.contains(token),
            "{token}: the token leaked into the error"
        );
    }
    // Each answer was taken as it came: no retry (and no sleeping until the
    // rate limit resets) by the GitHub client.
    for token in ["gh-ratelimited", "gh-abuse", "gh-secondary", "gh-500"] {
        assert_eq!(sim.calls(token), 1, "{token} was asked more than once");
    }
    // Outages are not cached: the next review asks again.
    guard.review("gh-500").await;
    assert_eq!(sim.calls("gh-500"), 2);
    let metrics = guard.metrics().await;
    assert!(
        metrics.contains(r#"guard_upstream_errors_total{provider="github"} 6"#),
        "{metrics}"
    );
    assert!(
        guard.server.log().contains("resets in"),
        "the reset time is logged"
    );
}

/// A base URL answered by something other than GitHub (an ingress' default
/// backend while GitHub Enterprise is down: 404 with an HTML page) is an
/// outage, not a denial the API server would cache for every user.
#[tokio::test]
async fn a_404_page_that_is_not_githubs_json_is_an_outage() {
    let backend = common::peers::DefaultBackend::start().await;
    let base = format!("--github.base-url={}/api/v3", backend.url);
    let guard = Reviewer::start("acme", "github", &["--auth-providers=github", &base]);
    let (status, json) = guard.review("gh-alice").await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false, "{json}");
    let error = json["status"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("a proxy's 404 page is an outage: {json}"));
    assert!(error.contains("404"), "{error}");
    let metrics = guard.metrics().await;
    assert!(
        metrics.contains(r#"guard_upstream_errors_total{provider="github"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn concurrent_identical_reviews_make_one_upstream_call() {
    if common::require::missing(&[Peer::Node("@simulacrum/github-api-simulator")]) {
        return;
    }
    let sim = GithubSim::start();
    let guard = std::sync::Arc::new(guard_for(&sim, &[]));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let guard = guard.clone();
        tasks.push(tokio::spawn(
            async move { guard.review("gh-counted").await },
        ));
    }
    for t in tasks {
        let (status, json) = t.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(json["status"]["user"]["username"], "counted");
    }
    assert_eq!(
        sim.calls("gh-counted"),
        1,
        "the simulator saw more than one membership call"
    );
    let metrics = guard.metrics().await;
    assert!(
        metrics.contains(r#"guard_review_cache_total{provider="github",result="miss"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn kubectl_reviews_through_the_webhook_config() {
    let sim = GithubSim::start();
    let guard = guard_for(&sim, &[]);
    let config = guard.sb.home.path().join("webhook.yaml");
    let yaml = guard.sb.ok(&[
        "get",
        "webhook-config",
        "acme",
        "-o",
        "github",
        &format!("--addr=127.0.0.1:{}", guard.server.port),
    ]);
    fs::write(&config, yaml).unwrap();
    let body = guard.sb.home.path().join("review.json");
    fs::write(&body, review_body("v1beta1", "gh-alice")).unwrap();
    let out = kubectl_review(&config, guard.server.port, &body);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["apiVersion"], "authentication.k8s.io/v1beta1");
    assert_eq!(json["status"]["user"]["username"], "alice");
}

#[test]
fn options_of_a_disabled_provider_are_refused() {
    let sb = common::Sandbox::new();
    prepare(&sb);
    let err = sb.fails(&[
        "run",
        "--tls-ca-file=x",
        "--tls-cert-file=y",
        "--tls-private-key-file=z",
        "--auth-providers=gitlab",
        "--github.base-url=https://ghe.example.com",
    ]);
    assert!(
        err.contains("--github.base-url is set but github is not in --auth-providers"),
        "{err}"
    );
    let err = sb.fails(&[
        "run",
        "--tls-ca-file=x",
        "--tls-cert-file=y",
        "--tls-private-key-file=z",
        "--auth-providers=github",
        "--github.base-url=notaurl",
    ]);
    assert!(err.contains("invalid --github.base-url"), "{err}");
}
