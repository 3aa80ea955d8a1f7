//! The azure provider's auth modes (`--azure.auth-mode` client-credential,
//! obo, aks, passthrough) and PoP tokens, through the real binary, against
//! the HTTPS stand-in of `common::azure` for Azure AD (discovery, keys,
//! token endpoint with client-credential and on-behalf-of grants), the AKS
//! token URL and Microsoft Graph. User tokens are signed by the stand-in's
//! Azure AD key; PoP envelopes are built as kubelogin builds them
//! (`pkg/internal/pop`: an RSA key of the client, `{"typ":"pop","alg":"RS256","kid"}`,
//! `{"at","ts","u","cnf":{"jwk"},"nonce"}`, RS256 over header.payload).
//!
//! The answer contract is checked on each path: a token Azure AD or the AKS
//! token URL refuses is a plain denial (200, no `status.error`: the API
//! server caches it); an outage of any of them (5xx, 429, no connection)
//! is `status.error` (not cached).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::Sandbox;
use common::azure::{AzureSetup, AzureStandIn, Behaviour, CLIENT_SECRET, TENANT};
use common::server::{Reviewer, guard_run_args};
use serde_json::{Value, json};

const ALICE: &str = "6f1a1d5e-6f3c-4b2e-9e1d-2f8f0b1c3d4e";
const BOB: &str = "1c7e2a90-3b4f-4d8e-a2c1-9f0e8d7c6b5a";
const ADMINS: &str = "0b9d5f3c-1b8e-4a43-9c64-5a1e3f0c2d11";
const DEVS: &str = "5d2e8a71-7c4b-4f19-8e3a-6b0c1d2e3f40";
const POP_HOST: &str = "prod-dns-4f2a.hcp.westeurope.azmk8s.io";

/// The stand-in, and `guard run` with the azure provider pointed at it.
struct Azure {
    azure: AzureStandIn,
    guard: Reviewer,
}

/// Starts the stand-in (Alice in Admins and Developers, Bob in none) and
/// guard with `args` (`{url}` is the stand-in's URL); the client secret
/// comes from AZURE_CLIENT_SECRET, as the installer passes it.
fn start(args: &[&str]) -> Azure {
    start_with_secret(args, CLIENT_SECRET)
}

fn start_with_secret(args: &[&str], secret: &str) -> Azure {
    let setup = AzureSetup::start();
    setup
        .azure
        .set_members(ALICE, &[(ADMINS, "Admins"), (DEVS, "Developers")]);
    setup.azure.set_members(BOB, &[]);
    let mut run = vec![
        format!("--azure.discovery-url={}", setup.azure.issuer()),
        "--azure.graph-url={url}/".to_owned(),
        // Every review reaches the upstreams.
        "--cache-size=0".to_owned(),
    ];
    run.extend(args.iter().map(|a| a.to_string()));
    let env = [("AZURE_CLIENT_SECRET".to_owned(), secret.to_owned())];
    let (azure, guard) = setup.start_guard(&run, &env);
    Azure { azure, guard }
}

impl Azure {
    /// A v2 access token of `oid` issued to guard's application.
    fn user_token(&self, oid: &str, extra: Value) -> String {
        let mut claims = json!({"oid": oid, "upn": format!("{}@contoso.com", &oid[..4]), "aud": "guard-app", "idtyp": "user"});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.azure.sign(claims)
    }

    async fn authenticated(&self, token: &str) -> Value {
        let (status, json) = self.guard.review(token).await;
        assert_eq!(status, 200);
        assert_eq!(
            json["status"]["authenticated"],
            true,
            "{json}\n{}",
            self.guard.server.log()
        );
        json["status"]["user"].clone()
    }

    /// A plain denial, whose reason (containing `reason`) is in the log.
    async fn denied(&self, token: &str, reason: &str) {
        let (status, json) = self.guard.review(token).await;
        assert_eq!(status, 200, "{reason}: {json}");
        assert_eq!(
            json["status"]["authenticated"], false,
            "{reason}: accepted: {json}"
        );
        assert!(
            json["status"].get("error").is_none(),
            "{reason}: a refused token is a plain denial, not an error: {json}"
        );
        // The reason is logged (the line may follow the answer by a moment).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.guard.server.log().contains(reason) {
            assert!(
                std::time::Instant::now() < deadline,
                "{reason:?} is not in the log:\n{}",
                self.guard.server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An outage: 200 with `status.error` containing `what`.
    async fn outage(&self, token: &str, what: &str) {
        let (status, json) = self.guard.review(token).await;
        assert_eq!(status, 200, "{what}: {json}");
        assert_eq!(json["status"]["authenticated"], false, "{what}: {json}");
        let error = json["status"]["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(what),
            "an outage is status.error ({what}): {json}"
        );
    }

    /// Alice's token, once guard has answered it with her and both her
    /// groups (by id), as read from Graph in every mode that reads it.
    async fn alice_in_both_groups(&self) -> String {
        let alice = self.user_token(ALICE, json!({}));
        let user = self.authenticated(&alice).await;
        assert_alice(&user);
        assert_eq!(user["groups"], json!([ADMINS, DEVS]));
        alice
    }

    /// Makes Graph answer `status`: an outage, whose error names it.
    async fn graph_fails(&self, alice: &str, status: u16) {
        self.set(|s| s.graph = Behaviour::Status(status));
        self.outage(alice, &format!("Microsoft Graph answered {status}"))
            .await;
    }

    /// A service principal's groups overflowed: Go Guard's error, whatever
    /// the mode.
    async fn service_principal_overage_is_an_error(&self) {
        let mut app = overage();
        app["idtyp"] = json!("app");
        self.outage(
            &self.user_token(ALICE, app),
            "service principal with group membership exceeding 200",
        )
        .await;
    }

    fn set(&self, f: impl FnOnce(&mut common::azure::State)) {
        f(&mut self.azure.state.lock().unwrap());
    }
}

/// Claims of a token whose groups overflowed (more than 200): a link to
/// Graph instead of the list.
fn overage() -> Value {
    json!({"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/x/users/y/getMemberObjects"}}})
}

/// Go Guard's authorization webhook needs `extra.oid`: every azure user has
/// it, and the uid, whatever the mode.
fn assert_alice(user: &Value) {
    assert_eq!(user["username"], "6f1a@contoso.com");
    assert_eq!(user["uid"], ALICE);
    assert_eq!(user["extra"]["oid"], json!([ALICE]), "{user}");
}

#[tokio::test]
async fn client_credential_reads_graph_with_guards_own_token() {
    let t = start(&[]);
    let alice = t.alice_in_both_groups().await;
    let bob = t.user_token(BOB, json!({}));
    assert_eq!(t.authenticated(&bob).await.get("groups"), None);
    // One application token for both users; no on-behalf-of exchange.
    let calls = t.azure.graph_calls();
    assert!(calls.iter().all(|(_, kind)| kind == "app"), "{calls:?}");
    assert_eq!(t.azure.state.lock().unwrap().obo_requests, 0);

    // Graph throttling or failing, Azure AD failing: errors, never denials.
    t.set(|s| {
        s.graph = Behaviour::Throttle {
            n: 1,
            retry_after: 7,
        }
    });
    t.outage(&alice, "rate limit").await;
    t.graph_fails(&alice, 503).await;
    t.set(|s| s.graph = Behaviour::Normal);
    assert_alice(&t.authenticated(&alice).await);
}

#[tokio::test]
async fn client_credential_outage_of_azure_ad_is_an_error() {
    let t = start(&[]);
    t.set(|s| s.aad = Behaviour::Status(500));
    t.outage(&t.user_token(ALICE, json!({})), "Azure AD").await;
    t.set(|s| s.aad = Behaviour::Normal);
    let names = start(&["--azure.use-group-uid=false"]);
    assert_eq!(
        names
            .authenticated(&names.user_token(ALICE, json!({})))
            .await["groups"],
        json!(["Admins", "Developers"])
    );
}

#[tokio::test]
async fn obo_reads_graph_on_behalf_of_each_user() {
    let t = start(&["--azure.auth-mode=obo"]);
    let alice = t.alice_in_both_groups().await;
    let bob = t.user_token(BOB, json!({}));
    t.authenticated(&bob).await;
    {
        let s = t.azure.state.lock().unwrap();
        // One exchange per review (the token is the user's, never shared).
        assert_eq!(s.obo_requests, 2);
        assert!(
            s.token_requests.iter().all(|r| r
                .contains("grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer")
                && r.contains("client_id=guard-app")),
            "{:?}",
            s.token_requests
        );
        assert!(s.graph_calls.iter().all(|(_, kind)| kind == "obo"));
    }

    // Azure AD will not exchange this user's token: a plain denial.
    t.set(|s| s.refused_users.push(BOB.into()));
    t.denied(&bob, "refused the on-behalf-of exchange").await;
    // The tenant has not consented to guard's permission (Azure AD says so
    // with invalid_grant too): the tenant's setup, an error for every user.
    t.set(|s| s.obo_consent_missing = true);
    t.outage(&alice, "has not consented").await;
    t.set(|s| s.obo_consent_missing = false);
    // Azure AD or Graph down or throttling: errors.
    t.set(|s| s.aad = Behaviour::Status(503));
    t.outage(&alice, "Azure AD answered 503").await;
    t.set(|s| {
        s.aad = Behaviour::Throttle {
            n: 1,
            retry_after: 5,
        }
    });
    t.outage(&alice, "Azure AD answered 429").await;
    t.graph_fails(&alice, 502).await;
    t.set(|s| s.graph = Behaviour::Normal);
    assert_alice(&t.authenticated(&alice).await);

    // A wrong client secret is guard's problem, not the user's: an error.
    let wrong = start_with_secret(&["--azure.auth-mode=obo"], "not-the-secret-of-guard-app");
    common::secrets::register("not-the-secret-of-guard-app");
    wrong
        .outage(
            &wrong.user_token(ALICE, json!({})),
            "check --azure.client-id",
        )
        .await;
}

#[tokio::test]
async fn aks_gets_the_graph_token_from_the_token_url() {
    let t = start(&[
        "--azure.auth-mode=aks",
        "--azure.aks-token-url={url}/aks/authn/token",
    ]);
    let alice = t.alice_in_both_groups().await;
    {
        let s = t.azure.state.lock().unwrap();
        assert_eq!(
            s.aks_authn_requests,
            vec![json!({"tenantID": TENANT, "accessToken": alice})]
        );
        assert!(s.graph_calls.iter().all(|(_, kind)| kind == "aks"));
        assert_eq!(s.obo_requests, 0);
    }
    t.set(|s| s.refused_users.push(ALICE.into()));
    t.denied(&alice, "refused to exchange the user's token (403")
        .await;
    t.set(|s| {
        s.refused_users.clear();
        s.aks_authn = Behaviour::Status(503);
    });
    t.outage(&alice, "the AKS token URL answered 503").await;
    t.set(|s| s.aks_authn = Behaviour::Normal);
    t.graph_fails(&alice, 500).await;

    // The token URL unreachable: an error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let down = start(&[
        "--azure.auth-mode=aks",
        &format!("--azure.aks-token-url=https://127.0.0.1:{port}/aks/authn/token"),
    ]);
    down.outage(
        &down.user_token(ALICE, json!({})),
        "the AKS token URL cannot connect",
    )
    .await;
}

#[tokio::test]
async fn passthrough_takes_groups_from_the_token_only() {
    let t = start(&[
        "--azure.auth-mode=passthrough",
        "--azure.graph-call-on-overage-claim",
        "--azure.skip-group-membership-resolution",
    ]);
    let alice = t.user_token(ALICE, json!({"groups": [DEVS]}));
    let user = t.authenticated(&alice).await;
    assert_alice(&user);
    assert_eq!(user["groups"], json!([DEVS]));
    // Overflowed groups: Go Guard's answer, the user without groups...
    let user = t.authenticated(&t.user_token(ALICE, overage())).await;
    assert_alice(&user);
    assert_eq!(user.get("groups"), None);
    // ... and for a service principal, an error the API server logs.
    t.service_principal_overage_is_an_error().await;
    assert!(t.azure.graph_calls().is_empty());
    assert_eq!(t.azure.state.lock().unwrap().token_requests.len(), 0);
}

const ARC_CLUSTER: &str = "/subscriptions/8ecadfc9-d1a3-4ea4-b844-0d9f87e4d7c8/resourceGroups/edge-rg/providers/Microsoft.Kubernetes/connectedClusters/store-42";

#[tokio::test]
async fn arc_asks_the_arc_service_only_for_overflowed_groups() {
    let resource = format!("--azure.auth-resource-id={ARC_CLUSTER}");
    let t = start(&[
        "--azure.auth-mode=arc",
        &resource,
        "--azure.region=westeurope",
        "--azure.graph-call-on-overage-claim",
        "--azure.arc-msi-url={url}/metadata/identity/oauth2/token?api-version=2018-02-01",
        "--azure.arc-obo-url={url}",
    ]);
    // Groups in the token: nothing is asked.
    let listed = t.user_token(ALICE, json!({"groups": [DEVS]}));
    assert_eq!(t.authenticated(&listed).await["groups"], json!([DEVS]));
    assert!(t.azure.state.lock().unwrap().arc_obo_requests.is_empty());
    // Overflowed: the Arc service, with the agent's managed identity token.
    let alice = t.user_token(ALICE, overage());
    let user = t.authenticated(&alice).await;
    assert_alice(&user);
    assert_eq!(user["groups"], json!([ADMINS, DEVS]));
    t.authenticated(&alice).await;
    {
        let s = t.azure.state.lock().unwrap();
        let msi: Vec<&String> = s
            .token_requests
            .iter()
            .filter(|r| r.starts_with("msi "))
            .collect();
        // One managed identity token (for guard's application), reused.
        assert_eq!(msi.len(), 1, "{msi:?}");
        assert!(
            msi[0].contains("resource=guard-app") && msi[0].contains("metadata=true"),
            "{msi:?}"
        );
        assert_eq!(s.arc_obo_requests.len(), 2);
        let (path, body) = &s.arc_obo_requests[0];
        assert_eq!(
            path,
            &format!("{ARC_CLUSTER}/getMemberGroups?api-version=v1")
        );
        assert_eq!(body, &json!({"tenantID": TENANT, "accessToken": alice}));
        assert!(s.graph_calls.is_empty());
    }
    // 503: asked once more, as Go Guard does, then an error.
    t.set(|s| {
        s.arc_obo_requests.clear();
        s.arc_obo = Behaviour::Status(503);
    });
    t.outage(&alice, "the Arc on-behalf-of service answered 503")
        .await;
    assert_eq!(t.azure.state.lock().unwrap().arc_obo_requests.len(), 2);
    t.set(|s| {
        s.arc_obo_requests.clear();
        s.arc_obo = Behaviour::Throttle {
            n: 1,
            retry_after: 1,
        };
    });
    t.outage(&alice, "the Arc on-behalf-of service answered 429")
        .await;
    assert_eq!(t.azure.state.lock().unwrap().arc_obo_requests.len(), 1);
    t.set(|s| s.arc_obo = Behaviour::Status(500));
    t.outage(&alice, "answered 500").await;
    // A service principal's overflowed groups: Go Guard's error.
    t.service_principal_overage_is_an_error().await;
}

#[test]
fn mode_flags_are_checked_at_start_up() {
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "server", "--ips=127.0.0.1"]);
    let mut base = guard_run_args(&sb);
    base.extend([
        "--auth-providers=azure".to_owned(),
        "--azure.tenant-id=t".to_owned(),
        "--azure.client-id=guard-app".to_owned(),
    ]);
    let fails = |extra: &[&str], wanted: &str| {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend(extra);
        let err = sb.fails(&args);
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: {err}");
        assert!(err.contains(wanted), "{extra:?}: {err}");
    };
    fails(&["--azure.auth-mode=kerberos"], "--azure.auth-mode");
    fails(&["--azure.auth-mode=arc"], "--azure.auth-resource-id");
    fails(
        &[
            "--azure.auth-mode=arc",
            "--azure.auth-resource-id=/subscriptions/s",
        ],
        "--azure.region",
    );
    fails(
        &[
            "--azure.auth-mode=arc",
            "--azure.auth-resource-id=/subscriptions/s",
            "--azure.region=westeurope",
        ],
        "--azure.graph-call-on-overage-claim=true",
    );
    fails(&["--azure.auth-mode=obo"], "--azure.client-secret");
    fails(&["--azure.auth-mode=aks"], "--azure.aks-token-url");
    fails(
        &[
            "--azure.auth-mode=aks",
            "--azure.aks-token-url=http://aks.example.com/token",
        ],
        "https",
    );
    fails(
        &["--azure.auth-mode=passthrough"],
        "--azure.graph-call-on-overage-claim=true",
    );
    fails(
        &[
            "--azure.auth-mode=passthrough",
            "--azure.graph-call-on-overage-claim",
        ],
        "--azure.skip-group-membership-resolution=true",
    );
    fails(
        &[
            "--azure.skip-group-membership-resolution",
            "--azure.enable-pop",
        ],
        "--azure.pop-hostname",
    );
}

/// A PoP key and envelopes, as kubelogin's `pkg/internal/pop` makes them.
struct PopKey {
    key: jsonwebtoken::EncodingKey,
    e: String,
    n: String,
    thumbprint: String,
}

impl PopKey {
    fn generate() -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).unwrap();
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::RS256)
            .unwrap();
        let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            unreachable!()
        };
        // kubelogin's computeJWKThumbprint hashes `{"e":E,"kty":"RSA","n":N}`:
        // RFC 7638's thumbprint.
        let thumbprint = jwk
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap();
        PopKey {
            key,
            e: rsa.e.clone(),
            n: rsa.n.clone(),
            thumbprint,
        }
    }

    /// `req_cnf`'s `kid`: what Azure AD writes into the access token's `cnf`.
    fn cnf(&self) -> Value {
        json!({"kid": self.thumbprint, "xms_ksl": "sw"})
    }

    /// kubelogin's FormatAccessTokenWithOptions.
    fn envelope(&self, at: &str, ts: i64, host: &str) -> String {
        self.envelope_with_ts(at, &ts.to_string(), host)
    }

    /// An envelope whose `ts` is the JSON `ts`.
    fn envelope_with_ts(&self, at: &str, ts: &str, host: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let header = format!(
            r#"{{"typ":"pop","alg":"RS256","kid":"{}"}}"#,
            self.thumbprint
        );
        let jwk = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}","alg":"RS256","kid":"{}"}}"#,
            self.e, self.n, self.thumbprint
        );
        let payload = format!(
            r#"{{"at":"{at}","ts":{ts},"u":"{host}","cnf":{{"jwk":{jwk}}},"nonce":"3f1c9b2e8d7a4c6b9e0f1a2b3c4d5e6f"}}"#
        );
        let message = format!("{}.{}", b64(&header), b64(&payload));
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &self.key,
            jsonwebtoken::Algorithm::RS256,
        )
        .unwrap();
        let token = format!("{message}.{signature}");
        common::secrets::register(&token);
        token
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn pop_tokens_are_verified_as_go_guard_does() {
    let t = start(&[
        "--azure.auth-mode=passthrough",
        "--azure.graph-call-on-overage-claim",
        "--azure.skip-group-membership-resolution",
        "--azure.enable-pop",
        &format!("--azure.pop-hostname={}", POP_HOST.to_uppercase()),
    ]);
    let key = PopKey::generate();
    let at = t.user_token(ALICE, json!({"cnf": key.cnf(), "groups": [ADMINS]}));
    let now = unix_now();
    let user = t.authenticated(&key.envelope(&at, now, POP_HOST)).await;
    assert_alice(&user);
    assert_eq!(user["groups"], json!([ADMINS]));
    // Go Guard reads a ts given as a string too.
    let as_string = key.envelope_with_ts(&at, &format!("\"{now}\""), POP_HOST);
    assert_alice(&t.authenticated(&as_string).await);
    t.denied(
        &key.envelope_with_ts(&at, "\"yesterday\"", POP_HOST),
        "not a Unix time",
    )
    .await;

    t.denied(
        &key.envelope(&at, now, "evil.example.com"),
        "not to --azure.pop-hostname",
    )
    .await;
    t.denied(&key.envelope(&at, now - 16 * 60, POP_HOST), "stale")
        .await;
    t.denied(
        &key.envelope(&at, now + 3600, POP_HOST),
        "ahead of guard's clock",
    )
    .await;
    // Signed by another key than the one in cnf.jwk.
    let other = PopKey::generate();
    let forged = {
        let genuine = key.envelope(&at, now, POP_HOST);
        let by_other = other.envelope(&at, now, POP_HOST);
        let (message, _) = genuine.rsplit_once('.').unwrap();
        let (_, signature) = by_other.rsplit_once('.').unwrap();
        let t = format!("{message}.{signature}");
        common::secrets::register(&t);
        t
    };
    t.denied(&forged, "signature does not verify").await;
    // The access token is bound to another key (stolen and re-wrapped).
    t.denied(&other.envelope(&at, now, POP_HOST), "bound to another key")
        .await;
    // An access token without cnf, in an envelope; and a bare access token.
    let unbound = t.user_token(ALICE, json!({}));
    t.denied(&key.envelope(&unbound, now, POP_HOST), "no cnf.kid")
        .await;
    t.denied(&at, "not pop").await;
    // The access token inside is verified as any: one of another tenant's
    // issuer is refused.
    let foreign = t.azure.sign(json!({"oid": ALICE, "aud": "guard-app", "iss": "https://sts.windows.net/another-tenant/", "cnf": key.cnf()}));
    let (status, json) = t.guard.review(&key.envelope(&foreign, now, POP_HOST)).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false, "{json}");
    assert!(json["status"].get("error").is_none(), "{json}");
    let log = t.guard.server.log();
    assert!(!log.contains(&at), "a token reached the log");
}

/// Graph refusing guard's cached application token (401: revoked, or
/// issued before the application's rights changed) is an outage for that
/// review only: the token is dropped and the next review gets a new one,
/// instead of every review failing until the old token expires (an hour).
#[tokio::test]
async fn client_credential_drops_an_application_token_graph_refuses() {
    let t = start(&[]);
    let alice = t.user_token(ALICE, json!({}));
    assert_alice(&t.authenticated(&alice).await);
    let fetched = |t: &Azure| {
        t.azure
            .state
            .lock()
            .unwrap()
            .token_requests
            .iter()
            .filter(|r| r.contains("grant_type=client_credentials"))
            .count()
    };
    assert_eq!(fetched(&t), 1);
    // Azure AD revokes the token guard holds: Graph answers 401.
    t.set(|s| s.issued.clear());
    t.outage(&alice, "Microsoft Graph").await;
    // The next review fetches a new token and succeeds.
    let user = t.authenticated(&alice).await;
    assert_eq!(user["groups"], json!([ADMINS, DEVS]));
    assert_eq!(fetched(&t), 2);
}
