//! The OIDC-based providers (generic `oidc`, `google`, `azure`) through the
//! real webhook path, against a local issuer that signs real RS256/ES256
//! tokens and serves discovery, JWKS, Google's Directory API and MS Graph.
#![allow(clippy::unwrap_used)]

mod common;

use common::require::Peer;

use base64::Engine as _;
use common::peers::OidcIssuer;
use common::server::*;
use serde_json::json;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn oidc_guard(issuer: &OidcIssuer, extra: &[&str]) -> Reviewer {
    let iss = format!("--oidc.issuer-url={}", issuer.issuer);
    let mut args = vec![
        "--auth-providers=oidc",
        iss.as_str(),
        "--oidc.client-id=guard",
        "--server-write-timeout=4s",
    ];
    args.extend(extra);
    Reviewer::start("oidc", "oidc", &args)
}

async fn authenticated(guard: &Reviewer, token: &str) -> serde_json::Value {
    let (status, json) = guard.review(token).await;
    assert_eq!(status, 200);
    assert_eq!(
        json["status"]["authenticated"],
        true,
        "{json}\n{}",
        guard.server.log()
    );
    json["status"]["user"].clone()
}

async fn denied(guard: &Reviewer, token: &str, what: &str) {
    let (status, json) = guard.review(token).await;
    assert_eq!(status, 200, "{what}");
    assert_eq!(
        json["status"]["authenticated"], false,
        "{what} was accepted: {json}"
    );
    assert!(
        json["status"].get("error").is_none(),
        "{what}: a bad token is a denial, not an error: {json}"
    );
}

#[tokio::test]
async fn generic_oidc_follows_kube_apiservers_claim_rules() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let issuer = OidcIssuer::start(&[]);
    let guard = oidc_guard(
        &issuer,
        &["--oidc.groups-claim=groups", "--oidc.groups-prefix=oidc:"],
    );
    let token = issuer.sign(
        json!({"sub": "u-1", "aud": "guard", "groups": ["dev", "ops"]}),
        "RS256",
    );
    let user = authenticated(&guard, &token).await;
    // A claim other than email is prefixed with ISSUER#.
    assert_eq!(user["username"], format!("{}#u-1", issuer.issuer));
    assert_eq!(user["uid"], "u-1");
    assert_eq!(user["groups"], json!(["oidc:dev", "oidc:ops"]));
    // The API server's audiences are not the client id: guard does not claim them.
    assert!(
        guard.review(&token).await.1["status"]
            .get("audiences")
            .is_none()
    );

    // ES256 works too.
    let es = issuer.sign(json!({"sub": "u-2", "aud": "guard"}), "ES256");
    assert_eq!(
        authenticated(&guard, &es).await["username"],
        format!("{}#u-2", issuer.issuer)
    );

    let email = oidc_guard(
        &issuer,
        &[
            "--oidc.username-claim=email",
            "--oidc.required-claim=hd=example.com",
        ],
    );
    let ok = issuer.sign(json!({"sub": "u-3", "aud": "guard", "email": "jane@example.com", "email_verified": true, "hd": "example.com"}), "RS256");
    assert_eq!(
        authenticated(&email, &ok).await["username"],
        "jane@example.com"
    );
    let unverified = issuer.sign(json!({"sub": "u-3", "aud": "guard", "email": "jane@example.com", "email_verified": false, "hd": "example.com"}), "RS256");
    denied(&email, &unverified, "an unverified email").await;
    let other_hd = issuer.sign(json!({"sub": "u-3", "aud": "guard", "email": "jane@example.com", "email_verified": true, "hd": "evil.com"}), "RS256");
    denied(&email, &other_hd, "a required claim with another value").await;

    let raw = oidc_guard(&issuer, &["--oidc.username-prefix=-"]);
    assert_eq!(authenticated(&raw, &token).await["username"], "u-1");
}

#[tokio::test]
async fn bad_tokens_are_denied() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let issuer = OidcIssuer::start(&[]);
    let guard = oidc_guard(&issuer, &[]);
    let valid = issuer.sign(json!({"sub": "u", "aud": "guard"}), "RS256");
    authenticated(&guard, &valid).await;

    let t = now();
    denied(
        &guard,
        &issuer.sign(
            json!({"sub": "u", "aud": "guard", "exp": t - 600, "iat": t - 4000, "nbf": t - 4000}),
            "RS256",
        ),
        "expired",
    )
    .await;
    denied(
        &guard,
        &issuer.sign(json!({"sub": "u", "aud": "guard", "nbf": t + 600}), "RS256"),
        "not yet valid",
    )
    .await;
    denied(
        &guard,
        &issuer.sign(json!({"sub": "u", "aud": "someone-else"}), "RS256"),
        "wrong audience",
    )
    .await;
    denied(
        &guard,
        &issuer.sign(
            json!({"sub": "u", "aud": "guard", "iss": "https://evil.example"}),
            "RS256",
        ),
        "wrong issuer",
    )
    .await;
    denied(
        &guard,
        &issuer.sign(
            json!({"sub": "u", "aud": "guard", "iat": t + 3600}),
            "RS256",
        ),
        "issued in the future",
    )
    .await;

    // One byte of the signature changed.
    let mut tampered = valid.clone().into_bytes();
    let i = tampered.len() - 5;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    denied(
        &guard,
        &String::from_utf8(tampered).unwrap(),
        "a tampered signature",
    )
    .await;
    // The payload changed, the signature kept.
    let parts: Vec<&str> = valid.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(&json!({"sub": "admin", "aud": "guard", "iss": issuer.issuer, "exp": t + 600})),
        parts[2]
    );
    denied(&guard, &forged, "a forged payload").await;
    // alg: none, and HMAC.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&json!({"sub": "u", "aud": "guard", "iss": issuer.issuer, "exp": t + 600}))
    );
    denied(&guard, &none, "alg none").await;
    let hs = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(&json!({"alg": "HS256", "typ": "JWT"})),
        b64(&json!({"sub": "u", "aud": "guard", "iss": issuer.issuer, "exp": t + 600}))
    );
    denied(&guard, &hs, "HS256").await;
    denied(&guard, "not-a-jwt", "garbage").await;
    assert!(
        !guard.server.log().contains(&valid),
        "a token reached the log"
    );
}

#[tokio::test]
async fn a_rotated_key_is_fetched_on_its_first_use() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let issuer = OidcIssuer::start(&[]);
    let guard = oidc_guard(&issuer, &["--cache-ttl=0"]);
    authenticated(
        &guard,
        &issuer.sign(json!({"sub": "u", "aud": "guard"}), "RS256"),
    )
    .await;
    issuer.rotate();
    let rotated = issuer.sign(json!({"sub": "v", "aud": "guard"}), "RS256");
    assert_eq!(authenticated(&guard, &rotated).await["uid"], "v");
}

#[tokio::test]
async fn an_issuer_down_at_start_up_makes_reviews_unavailable_until_it_is_back() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let issuer = OidcIssuer::start(&[]);
    issuer.set_down(true);
    let guard = oidc_guard(&issuer, &[]);
    let token = issuer.sign(json!({"sub": "u", "aud": "guard"}), "RS256");
    let (status, json) = guard.review(&token).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false);
    let error = json["status"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {json}"));
    assert!(error.contains("discovery"), "{error}");
    issuer.set_down(false);
    // Discovery is tried again once its backoff (1 s after one failure) is over.
    until_authenticated(&guard, &token).await;
}

/// Reviews `token` until it is authenticated (at most 30 s); every answer
/// before must be an outage (`status.error`), never a plain denial the API
/// server would cache.
async fn until_authenticated(guard: &Reviewer, token: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, json) = guard.review(token).await;
        assert_eq!(status, 200);
        if json["status"]["authenticated"] == true {
            return json["status"]["user"].clone();
        }
        assert!(
            json["status"]["error"].is_string(),
            "a plain (cacheable) denial during an outage: {json}\n{}",
            guard.server.log()
        );
        assert!(
            std::time::Instant::now() < deadline,
            "not authenticated within 30 s: {json}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A token that looks like the issuer's (RS256, this `kid`) but is signed
/// by no key of it.
fn junk_token(issuer: &OidcIssuer, kid: &str, n: usize) -> String {
    let t = now();
    let token = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(&json!({"alg": "RS256", "typ": "JWT", "kid": kid})),
        b64(
            &json!({"sub": format!("junk-{n}"), "aud": "guard", "iss": issuer.issuer, "exp": t + 600})
        )
    );
    common::secrets::register(&token);
    token
}

#[tokio::test]
async fn a_new_key_during_a_jwks_outage_is_an_error_not_a_denial() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let issuer = OidcIssuer::start(&[]);
    let guard = oidc_guard(&issuer, &["--cache-ttl=0", "--cache-failure-ttl=0"]);
    let old = issuer.sign(json!({"sub": "u", "aud": "guard"}), "RS256");
    authenticated(&guard, &old).await;
    // The issuer rotates its key, and its JWKS goes down.
    issuer.rotate();
    issuer.set_jwks_down(true);
    let rotated = issuer.sign(json!({"sub": "v", "aud": "guard"}), "RS256");
    for _ in 0..3 {
        let (status, json) = guard.review(&rotated).await;
        assert_eq!(status, 200);
        assert_eq!(json["status"]["authenticated"], false);
        let error = json["status"]["error"].as_str().unwrap_or_else(|| {
            panic!("an unknown key while the JWKS is down was plainly denied: {json}")
        });
        assert!(error.contains("OIDC"), "{error}");
    }
    // The keys guard has keep working.
    authenticated(&guard, &old).await;
    // The JWKS is back: the new key is fetched and the token accepted.
    issuer.set_jwks_down(false);
    assert_eq!(until_authenticated(&guard, &rotated).await["uid"], "v");
}

#[tokio::test]
async fn a_key_rotated_right_after_a_junk_kid_is_never_plainly_denied() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let issuer = OidcIssuer::start(&[]);
    let guard = oidc_guard(&issuer, &["--cache-ttl=0", "--cache-failure-ttl=0"]);
    authenticated(
        &guard,
        &issuer.sign(json!({"sub": "u", "aud": "guard"}), "RS256"),
    )
    .await;
    // A token with a made-up kid comes first (the old code then refused
    // every unknown kid for 10 s)...
    let (_, json) = guard.review(&junk_token(&issuer, "junk", 0)).await;
    assert_eq!(json["status"]["authenticated"], false);
    // ...then the issuer rotates, and a user logs in with the new key.
    issuer.rotate();
    let rotated = issuer.sign(json!({"sub": "v", "aud": "guard"}), "RS256");
    assert_eq!(until_authenticated(&guard, &rotated).await["uid"], "v");
}

#[tokio::test]
async fn an_issuer_outage_backs_off_instead_of_calling_discovery_per_review() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let issuer = OidcIssuer::start(&[]);
    issuer.set_down(true);
    let guard = oidc_guard(&issuer, &["--cache-failure-ttl=0"]);
    // 200 distinct tokens (the result cache cannot help), 20 at a time.
    let (port, ca) = (guard.server.port, guard.sb.pki().join("ca.crt"));
    for batch in 0..10 {
        let reviews: Vec<_> = (0..20)
            .map(|i| {
                let call = common::client::Call::post(
                    "/tokenreviews",
                    review_body("v1", &junk_token(&issuer, "k", batch * 20 + i)),
                )
                .with_identity(&guard.client.0, &guard.client.1);
                let ca = ca.clone();
                tokio::spawn(async move { common::client::send(port, &ca, call).await })
            })
            .collect();
        for review in reviews {
            let answer = review.await.unwrap().unwrap();
            assert_eq!(answer.status, 200);
            let json = answer.json();
            let error = json["status"]["error"]
                .as_str()
                .unwrap_or_else(|| panic!("an outage must be status.error: {json}"));
            assert!(error.contains("discovery"), "{error}");
        }
    }
    // The backoff doubles from 1 s to 30 s: 10 calls would take over 2 minutes.
    let calls = issuer.calls()["discovery"].as_u64().unwrap();
    assert!(
        (1..10).contains(&calls),
        "{calls} discovery calls for 200 reviews"
    );
}

#[tokio::test]
async fn reserved_groups_from_the_issuer_are_dropped_unless_allowed() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let issuer = OidcIssuer::start(&[]);
    let token = issuer.sign(
        json!({"sub": "u", "aud": "guard", "groups": ["dev", "system:masters", "system:nodes"]}),
        "RS256",
    );
    let guard = oidc_guard(&issuer, &["--oidc.groups-claim=groups"]);
    assert_eq!(
        authenticated(&guard, &token).await["groups"],
        json!(["dev"])
    );
    // Again (distinct result-cache entry): each dropped group is logged once.
    let again = issuer.sign(
        json!({"sub": "w", "aud": "guard", "groups": ["system:masters"]}),
        "RS256",
    );
    assert!(authenticated(&guard, &again).await.get("groups").is_none());
    // The log reaches the test through a pipe: wait for both lines to arrive.
    eventually(
        std::time::Duration::from_secs(30),
        "the reserved-group warnings",
        || {
            let log = guard.server.log();
            log.contains("reserved group \"system:masters\"")
                && log.contains("reserved group \"system:nodes\"")
        },
    );
    let log = guard.server.log();
    let warned = |group: &str| {
        log.lines()
            .filter(|l| l.contains("WARN") && l.contains(&format!("reserved group \"{group}\"")))
            .count()
    };
    assert_eq!(warned("system:masters"), 1, "{log}");
    assert_eq!(warned("system:nodes"), 1, "{log}");

    let allowed = oidc_guard(
        &issuer,
        &["--oidc.groups-claim=groups", "--oidc.allow-system-groups"],
    );
    assert_eq!(
        authenticated(&allowed, &token).await["groups"],
        json!(["dev", "system:masters", "system:nodes"])
    );
}

#[tokio::test]
async fn a_reserved_username_from_the_issuer_is_denied_unless_allowed() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let issuer = OidcIssuer::start(&[]);
    let token = issuer.sign(
        json!({"sub": "u", "aud": "guard", "name": "system:kube-controller-manager"}),
        "RS256",
    );
    let args = ["--oidc.username-claim=name", "--oidc.username-prefix=-"];
    let guard = oidc_guard(&issuer, &args);
    let (status, json) = guard.review(&token).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false, "{json}");
    assert!(json["status"].get("error").is_none(), "{json}");
    // The log reaches the test through a pipe: poll for the line.
    eventually(
        std::time::Duration::from_secs(30),
        "the reserved-username log line",
        || guard.server.log().contains("reserved username"),
    );

    let mut allowed_args = args.to_vec();
    allowed_args.push("--oidc.allow-system-groups");
    let allowed = oidc_guard(&issuer, &allowed_args);
    assert_eq!(
        authenticated(&allowed, &token).await["username"],
        "system:kube-controller-manager"
    );
}

fn google_guard(issuer: &OidcIssuer, sb_extra: &[&str]) -> Reviewer {
    // A service account key made with guard's own PKI (an RSA PKCS#8 key, as Google's).
    let keys = common::Sandbox::new();
    keys.ok(&["init", "ca"]);
    let key = std::fs::read_to_string(keys.pki().join("ca.key")).unwrap();
    let sa = json!({
        "type": "service_account", "client_email": "guard@project.iam.gserviceaccount.com",
        "private_key": key, "token_uri": format!("{}/token", issuer.origin),
    });
    let sa_file = keys.home.path().join("sa.json");
    std::fs::write(&sa_file, sa.to_string()).unwrap();
    let args = [
        "--auth-providers=google".to_owned(),
        "--google.client-id=guard-client".to_owned(),
        format!("--google.discovery-url={}", issuer.origin),
        format!("--google.directory-url={}", issuer.origin),
        format!("--google.sa-json-file={}", sa_file.display()),
        "--google.admin-email=admin@example.com".to_owned(),
    ];
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(sb_extra);
    let guard = Reviewer::start("example.com", "google", &args);
    std::mem::forget(keys); // the key file must outlive the server
    guard
}

#[tokio::test]
async fn google_checks_the_domain_and_reads_groups_from_the_directory() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let issuer = OidcIssuer::start(&[("OIDC_ISSUER", "https://accounts.google.com")]);
    let guard = google_guard(&issuer, &[]);
    let claims = |email: &str, hd: Option<&str>, verified: bool, aud: &str| {
        let mut c = json!({"sub": format!("1{email}"), "aud": aud, "email": email, "email_verified": verified});
        if let Some(hd) = hd {
            c["hd"] = json!(hd);
        }
        c
    };
    let alice = issuer.sign(
        claims(
            "alice@example.com",
            Some("example.com"),
            true,
            "guard-client",
        ),
        "RS256",
    );
    let user = authenticated(&guard, &alice).await;
    assert_eq!(user["username"], "alice@example.com");
    assert_eq!(user["uid"], "1alice@example.com");
    // Three groups over two pages.
    assert_eq!(
        user["groups"],
        json!(["admins@example.com", "devs@example.com", "sre@example.com"])
    );
    let bob = issuer.sign(
        claims("bob@example.com", Some("example.com"), true, "guard-client"),
        "RS256",
    );
    assert!(authenticated(&guard, &bob).await.get("groups").is_none());
    // The service account's token was fetched once for both users.
    assert_eq!(issuer.calls()["token"], 1);
    // The directory refuses that token (revoked): an outage for this
    // review, and the next one fetches a new token instead of reusing the
    // refused one until it expires.
    issuer.revoke_directory_tokens();
    // New tokens of Alice's (the reviews above are cached).
    let alice_again = |jti: &str| {
        let mut c = claims(
            "alice@example.com",
            Some("example.com"),
            true,
            "guard-client",
        );
        c["jti"] = json!(jti);
        issuer.sign(c, "RS256")
    };
    let (status, json) = guard.review(&alice_again("after-revocation-1")).await;
    assert_eq!(status, 200);
    assert!(
        json["status"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("401")),
        "{json}"
    );
    let user = authenticated(&guard, &alice_again("after-revocation-2")).await;
    assert_eq!(user["groups"].as_array().map(Vec::len), Some(3), "{user}");
    assert_eq!(issuer.calls()["token"], 2);

    denied(
        &guard,
        &issuer.sign(
            claims("eve@evil.com", Some("evil.com"), true, "guard-client"),
            "RS256",
        ),
        "another domain",
    )
    .await;
    denied(
        &guard,
        &issuer.sign(claims("joe@gmail.com", None, true, "guard-client"), "RS256"),
        "no hd",
    )
    .await;
    denied(
        &guard,
        &issuer.sign(
            claims(
                "alice@example.com",
                Some("example.com"),
                false,
                "guard-client",
            ),
            "RS256",
        ),
        "unverified email",
    )
    .await;
    denied(
        &guard,
        &issuer.sign(
            claims(
                "alice@example.com",
                Some("example.com"),
                true,
                "other-client",
            ),
            "RS256",
        ),
        "another client id",
    )
    .await;
}

fn azure_guard(issuer: &OidcIssuer, extra: &[&str]) -> Reviewer {
    let args = [
        "--auth-providers=azure".to_owned(),
        "--azure.tenant-id=TENANT".to_owned(),
        "--azure.client-id=guard-app".to_owned(),
        format!("--azure.discovery-url={}", issuer.discovery()),
        format!("--azure.graph-url={}", issuer.origin),
    ];
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(extra);
    // The client secret comes from the environment, as the installer passes it.
    let sb = common::Sandbox::new();
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "server", "--ips=127.0.0.1"]);
    sb.ok(&["init", "client", "-o", "azure"]);
    let pki = sb.pki();
    let mut run = vec![
        "run".to_owned(),
        "--secure-addr=127.0.0.1:0".to_owned(),
        format!("--tls-ca-file={}", pki.join("ca.crt").display()),
        format!("--tls-cert-file={}", pki.join("server.crt").display()),
        format!(
            "--tls-private-key-file={}",
            pki.join("server.key").display()
        ),
    ];
    run.extend(args.iter().map(|a| a.to_string()));
    let server = GuardServer::spawn(
        &sb,
        &run,
        &[("AZURE_CLIENT_SECRET".into(), "graph-secret-not-real".into())],
    );
    Reviewer {
        client: (pki.join("azure@azure.crt"), pki.join("azure@azure.key")),
        sb,
        server,
    }
}

#[tokio::test]
async fn azure_reads_groups_from_graph_and_accepts_v1_and_v2_tokens() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let issuer = OidcIssuer::start(&[("OIDC_PATH_PREFIX", "/TENANT/v2.0")]);
    let guard = azure_guard(&issuer, &[]);
    let token = issuer.sign(json!({"oid": "oid-alice", "upn": "alice@contoso.com", "tid": "TENANT", "aud": "guard-app"}), "RS256");
    let user = authenticated(&guard, &token).await;
    assert_eq!(user["username"], "alice@contoso.com");
    assert_eq!(user["uid"], "oid-alice");
    assert_eq!(user["groups"], json!(["g-1", "g-2"]));
    assert_eq!(user["extra"]["oid"], json!(["oid-alice"]));

    // A v1 token (sts.windows.net issuer) of the same tenant, and a guest without upn.
    let v1 = issuer.sign(json!({"oid": "oid-alice", "unique_name": "alice@contoso.com", "aud": "guard-app", "iss": "https://sts.windows.net/TENANT/"}), "RS256");
    assert_eq!(
        authenticated(&guard, &v1).await["username"],
        "alice@contoso.com"
    );
    let guest = issuer.sign(json!({"oid": "oid-guest", "aud": "guard-app"}), "RS256");
    assert_eq!(authenticated(&guard, &guest).await["username"], "oid-guest");
    denied(
        &guard,
        &issuer.sign(
            json!({"oid": "oid-alice", "aud": "guard-app", "iss": "https://sts.windows.net/OTHER/"}),
            "RS256",
        ),
        "another tenant",
    )
    .await;
    assert!(!guard.server.log().contains("graph-secret-not-real"));

    let names = azure_guard(&issuer, &["--azure.use-group-uid=false"]);
    assert_eq!(
        authenticated(&names, &token).await["groups"],
        json!(["Admins", "Developers"])
    );
}

#[tokio::test]
async fn azure_uses_the_groups_claim_and_graph_only_on_overage() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let issuer = OidcIssuer::start(&[("OIDC_PATH_PREFIX", "/TENANT/v2.0")]);
    let guard = azure_guard(&issuer, &["--azure.graph-call-on-overage-claim"]);
    let with_groups = issuer.sign(json!({"oid": "oid-alice", "upn": "a@contoso.com", "aud": "guard-app", "groups": ["claim-group"]}), "RS256");
    assert_eq!(
        authenticated(&guard, &with_groups).await["groups"],
        json!(["claim-group"])
    );
    assert_eq!(issuer.calls()["graph"], 0);
    let overage = issuer.sign(json!({"oid": "oid-overage", "upn": "o@contoso.com", "aud": "guard-app", "_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/x"}}}), "RS256");
    assert_eq!(
        authenticated(&guard, &overage).await["groups"],
        json!(["g-1", "g-2", "g-3"])
    );
    assert_eq!(issuer.calls()["graph"], 1);
    denied(
        &guard,
        &issuer.sign(json!({"oid": "oid-alice", "aud": "another-app"}), "RS256"),
        "another audience",
    )
    .await;
}

#[test]
fn incomplete_azure_modes_fail_at_start_up() {
    let sb = common::Sandbox::new();
    let err = sb.fails(&[
        "run",
        "--tls-ca-file=x",
        "--tls-cert-file=y",
        "--tls-private-key-file=z",
        "--auth-providers=azure",
        "--azure.tenant-id=t",
        "--azure.client-id=guard-app",
        "--azure.auth-mode=arc",
    ]);
    assert!(err.contains("--azure.auth-resource-id"), "{err}");
    let err = sb.fails(&[
        "run",
        "--tls-ca-file=x",
        "--tls-cert-file=y",
        "--tls-private-key-file=z",
        "--auth-providers=oidc",
        "--oidc.issuer-url=http://idp.example.com",
        "--oidc.client-id=x",
    ]);
    assert!(err.contains("must use https"), "{err}");
}

/// The verifier's rejections, through a given provider: expired, not yet
/// valid, tampered, alg none, HMAC, a rotated key before and after.
async fn rejects_bad_tokens(guard: &Reviewer, issuer: &OidcIssuer, claims: serde_json::Value) {
    let t = now();
    let with = |extra: serde_json::Value| {
        let mut c = claims.clone();
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    let valid = issuer.sign(claims.clone(), "RS256");
    authenticated(guard, &valid).await;
    denied(
        guard,
        &issuer.sign(
            with(json!({"exp": t - 600, "iat": t - 4000, "nbf": t - 4000})),
            "RS256",
        ),
        "expired",
    )
    .await;
    denied(
        guard,
        &issuer.sign(with(json!({"nbf": t + 600})), "RS256"),
        "not yet valid",
    )
    .await;
    let mut tampered = valid.clone().into_bytes();
    let i = tampered.len() - 5;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    denied(guard, &String::from_utf8(tampered).unwrap(), "tampered").await;
    let payload = b64(&with(json!({"iss": issuer.issuer, "exp": t + 600})));
    denied(
        guard,
        &format!("{}.{payload}.", b64(&json!({"alg": "none"}))),
        "alg none",
    )
    .await;
    denied(
        guard,
        &format!("{}.{payload}.c2ln", b64(&json!({"alg": "HS256"}))),
        "HS256",
    )
    .await;
    issuer.rotate();
    authenticated(guard, &issuer.sign(claims, "RS256")).await;
}

#[tokio::test]
async fn google_and_azure_reject_what_the_verifier_rejects() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let google_issuer = OidcIssuer::start(&[("OIDC_ISSUER", "https://accounts.google.com")]);
    let google = google_guard(&google_issuer, &["--cache-ttl=0"]);
    let alice = json!({"sub": "1", "aud": "guard-client", "email": "alice@example.com", "email_verified": true, "hd": "example.com"});
    rejects_bad_tokens(&google, &google_issuer, alice).await;

    let azure_issuer = OidcIssuer::start(&[("OIDC_PATH_PREFIX", "/TENANT/v2.0")]);
    let azure = azure_guard(&azure_issuer, &["--cache-ttl=0"]);
    rejects_bad_tokens(
        &azure,
        &azure_issuer,
        json!({"oid": "oid-alice", "upn": "alice@contoso.com", "aud": "guard-app"}),
    )
    .await;
}

/// A CA and a server certificate in the sandbox, and the `guard run` flags
/// that name them.
fn tls_flags(sb: &common::Sandbox) -> Vec<String> {
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "server", "--ips=127.0.0.1"]);
    let pki = sb.pki();
    vec![
        format!("--tls-ca-file={}", pki.join("ca.crt").display()),
        format!("--tls-cert-file={}", pki.join("server.crt").display()),
        format!(
            "--tls-private-key-file={}",
            pki.join("server.key").display()
        ),
    ]
}

/// Google has no default client id (Go Guard's was its own public OAuth
/// client, whose tokens anyone can obtain): `guard run` and `guard get
/// installer` ask for the operator's own, in one line.
#[test]
fn google_needs_the_operators_own_client_id() {
    let sb = common::Sandbox::new();
    let tls = tls_flags(&sb);
    for command in [&["run"][..], &["get", "installer"][..]] {
        let mut args = command.to_vec();
        if command == ["run"] {
            args.extend(tls.iter().map(String::as_str));
        }
        args.push("--auth-providers=google");
        let out = sb.run(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} printed something");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("--google.client-id"), "{args:?}: {err}");
    }
}

/// Azure checks the audience by default (Go Guard accepted tokens issued to
/// any application of the tenant); `--azure.verify-clientID=false` keeps
/// Go Guard's behaviour.
#[tokio::test]
async fn azure_verifies_the_audience_unless_told_not_to() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    let issuer = OidcIssuer::start(&[("OIDC_PATH_PREFIX", "/TENANT/v2.0")]);
    let other_app = issuer.sign(
        json!({"oid": "oid-alice", "upn": "alice@contoso.com", "aud": "another-app-of-the-tenant"}),
        "RS256",
    );
    let guard = azure_guard(&issuer, &[]);
    denied(&guard, &other_app, "a token of another application").await;
    // The reason is logged (the line may follow the answer by a moment).
    eventually(
        std::time::Duration::from_secs(10),
        "the denial's reason in the log",
        || guard.server.log().contains("wrong audience"),
    );
    let go_guard = azure_guard(&issuer, &["--azure.verify-clientID=false"]);
    assert_eq!(
        authenticated(&go_guard, &other_app).await["username"],
        "alice@contoso.com"
    );

    // Checking the audience needs guard's application id: one line at start-up.
    let sb = common::Sandbox::new();
    let mut args = vec!["run".to_owned()];
    args.extend(tls_flags(&sb));
    args.extend(
        [
            "--auth-providers=azure",
            "--azure.tenant-id=t",
            "--azure.skip-group-membership-resolution",
        ]
        .map(String::from),
    );
    let err = sb.fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("--azure.client-id") && err.contains("--azure.verify-clientID=false"),
        "{err}"
    );
}
