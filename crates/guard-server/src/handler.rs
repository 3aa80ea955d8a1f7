//! The HTTP routes and the rules of the answer.
//!
//! How the API server reads an answer decides its shape (see DESIGN.md):
//!
//! | situation | HTTP | TokenReview status |
//! |---|---|---|
//! | token valid | 200 | `authenticated: true`, `user` |
//! | token invalid | 200 | `authenticated: false`, no `error` (cached by the API server) |
//! | provider down or slow | 200 | `authenticated: false`, `error` naming the outage (not cached) |
//! | no client certificate | 401 | `error` |
//! | certificate without `O`, unknown or disabled provider | 403 | `error` |
//! | certificate without a usable `CN` (none, empty, several, not text) for a provider that reads it | 403 | `error` |
//! | body not a TokenReview | 400 | `error` |
//! | body too large | 413 | `error` |
//! | content type other than JSON | 415 | `error` |
//! | body not sent in time | 408 | `error` |
//!
//! guard never answers 5xx or 429 for these: the API server retries those.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use guard_api::{ReviewApiVersion, TokenReview};
use guard_auth::{Authenticator, Outcome, RouteError, Source};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::{ClientIdentity, CommonName, Metrics};

/// Paths the review is served on: Guard's, and the API group path that
/// some webhook configs use.
pub const REVIEW_PATHS: [&str; 3] = [
    "/tokenreviews",
    "/apis/authentication.k8s.io/v1/tokenreviews",
    "/apis/authentication.k8s.io/v1beta1/tokenreviews",
];

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted body.
    pub max_body: usize,
    /// Time allowed to receive the body.
    pub read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1 << 20,
            read_timeout: Duration::from_secs(5),
        }
    }
}

/// Everything a request handler needs.
pub struct AppState {
    /// The providers, cache and deadline.
    pub authenticator: Arc<Authenticator>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Request limits.
    pub limits: Limits,
    /// The authorization webhook, with `--authz-providers`.
    pub authorizer: Option<Arc<guard_authz::Authorizer>>,
}

type Resp = Response<Full<Bytes>>;

/// Serves one request.
pub async fn handle<B>(
    state: Arc<AppState>,
    client: Option<Arc<ClientIdentity>>,
    req: Request<B>,
) -> Result<Resp, Infallible>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if let Some(authorizer) = &state.authorizer
        && crate::authz::SAR_PATHS.contains(&req.uri().path())
    {
        return Ok(crate::authz::route(&state, authorizer, client.as_deref(), req).await);
    }
    let path = req.uri().path();
    let method = req.method().clone();
    let response = if REVIEW_PATHS.contains(&path) {
        if method == Method::POST {
            token_review(&state, client.as_deref(), req).await
        } else {
            method_not_allowed("POST")
        }
    } else {
        observability(&state, path, &method)
    };
    Ok(response)
}

/// Serves one request on the plain probe port: `/healthz`, `/readyz` and
/// `/metrics`, nothing else (no reviews without TLS).
pub async fn handle_probe<B>(state: Arc<AppState>, req: Request<B>) -> Result<Resp, Infallible> {
    Ok(observability(&state, req.uri().path(), req.method()))
}

/// Health, readiness and metrics; 404 for anything else.
fn observability(state: &AppState, path: &str, method: &Method) -> Resp {
    match path {
        "/healthz" | "/readyz" if matches!(*method, Method::GET | Method::HEAD) => json(
            // Not ready while the authorization webhook waits for resource discovery.
            if path == "/readyz" && state.authorizer.as_ref().is_some_and(|a| !a.is_ready()) {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            },
            format!(
                "{{\"status\":\"ok\",\"version\":\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        "/healthz" | "/readyz" => method_not_allowed("GET, HEAD"),
        "/metrics" if *method == Method::GET => {
            let mut resp = Response::new(Full::new(Bytes::from(state.metrics.render())));
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            resp
        }
        "/metrics" => method_not_allowed("GET"),
        _ => {
            let mut resp = Response::new(Full::new(Bytes::from_static(b"404 page not found\n")));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            resp
        }
    }
}

async fn token_review<B>(state: &AppState, client: Option<&ClientIdentity>, req: Request<B>) -> Resp
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    let _in_flight = state.metrics.start_request();
    let (status, review) = decide(state, client, req).await;
    let body = review.to_json();
    state
        .metrics
        .request_done(status.as_u16(), started.elapsed().as_secs_f64(), body.len());
    let mut resp = json(status, body);
    resp.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// A refused request: its status and the error for `status.error`.
fn refuse(
    status: StatusCode,
    version: ReviewApiVersion,
    error: String,
) -> (StatusCode, TokenReview) {
    tracing::warn!(status = status.as_u16(), "review refused: {error}");
    (status, TokenReview::denied(version, Some(error)))
}

async fn decide<B>(
    state: &AppState,
    client: Option<&ClientIdentity>,
    req: Request<B>,
) -> (StatusCode, TokenReview)
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let v1 = ReviewApiVersion::V1;
    let bad = |provider: &'static str| state.metrics.review(provider, "bad_request", None, 0.0);

    // Who is calling decides which provider answers: check before reading.
    let Some(client) = client else {
        bad("none");
        return refuse(
            StatusCode::UNAUTHORIZED,
            v1,
            "no client certificate: the API server must present a certificate signed by guard's CA (see `guard get webhook-config`)".into(),
        );
    };
    let route = match state.authenticator.route(&client.organizations) {
        Ok(route) => route,
        Err(RouteError::NoOrganization) => {
            bad("none");
            return refuse(
                StatusCode::FORBIDDEN,
                v1,
                format!(
                    "client certificate CN={} has no organization (O): create it with `guard init client NAME -o PROVIDER`",
                    client.common_name.as_str()
                ),
            );
        }
        Err(e) => {
            bad(match &e {
                RouteError::NotEnabled(name) => name,
                _ => "unknown",
            });
            return refuse(StatusCode::FORBIDDEN, v1, e.to_string());
        }
    };
    let provider = route.label();
    if let (Some(meaning), CommonName::Unusable(why)) = (route.client_name(), &client.common_name) {
        bad(provider);
        return refuse(
            StatusCode::FORBIDDEN,
            v1,
            format!(
                "client certificate {why}: {provider} reads {meaning} from it; create one with `guard init client NAME -o {provider}`"
            ),
        );
    }

    if let Some(ct) = req.headers().get(CONTENT_TYPE) {
        let media = ct
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        if !media.eq_ignore_ascii_case("application/json") {
            bad(provider);
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                v1,
                format!("unsupported content type {media:?}: send application/json"),
            );
        }
    }

    let limits = state.limits;
    let body = match tokio::time::timeout(
        limits.read_timeout,
        Limited::new(req.into_body(), limits.max_body).collect(),
    )
    .await
    {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            bad(provider);
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                v1,
                format!("request body exceeds {} bytes", limits.max_body),
            );
        }
        Ok(Err(e)) => {
            bad(provider);
            return refuse(
                StatusCode::BAD_REQUEST,
                v1,
                format!("cannot read the request body: {e}"),
            );
        }
        Err(_) => {
            bad(provider);
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                v1,
                format!("request body not received within {:?}", limits.read_timeout),
            );
        }
    };

    let request = match TokenReview::parse_request(&body) {
        Ok(r) => r,
        Err(e) => {
            bad(provider);
            return refuse(StatusCode::BAD_REQUEST, v1, e.to_string());
        }
    };

    let review = state
        .authenticator
        .review(&route, client.common_name.as_str(), &request.token)
        .await;
    let provider = review.provider;
    state.metrics.provider_checks(&review.attempts);
    // Which provider of a multi-provider route said what.
    let tried = (review.attempts.len() > 1).then(|| review.attempts_text());
    let tried = tried.as_deref();
    let source = match review.source {
        Source::Cache => "hit",
        Source::Coalesced => "coalesced",
        Source::Provider => "miss",
        Source::Uncached => "uncached",
    };
    state.metrics.review(
        provider,
        review.outcome.label(),
        Some(source),
        review.elapsed.as_secs_f64(),
    );
    // Whole microseconds: `0.007`, not `0.007751000000000001`.
    let latency_ms = review.elapsed.as_micros() as f64 / 1000.0;
    let org = client.common_name.as_str();
    match review.outcome {
        Outcome::Authenticated {
            identity,
            audiences_checked,
        } => {
            tracing::info!(
                provider,
                org,
                user = identity.username.as_str(),
                outcome = "authenticated",
                source,
                latency_ms,
                tried,
                "review"
            );
            let audiences =
                (audiences_checked && !request.audiences.is_empty()).then_some(request.audiences);
            (
                StatusCode::OK,
                TokenReview::authenticated(request.version, identity.into(), audiences),
            )
        }
        Outcome::Denied(reason) => {
            tracing::info!(
                provider,
                org,
                outcome = "denied",
                source,
                latency_ms,
                tried,
                reason,
                "review"
            );
            (StatusCode::OK, TokenReview::denied(request.version, None))
        }
        Outcome::Unavailable(reason) => {
            tracing::warn!(
                provider,
                org,
                outcome = "unavailable",
                latency_ms,
                tried,
                reason,
                "review"
            );
            (
                StatusCode::OK,
                TokenReview::denied(request.version, Some(reason)),
            )
        }
    }
}

fn json(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn method_not_allowed(allow: &'static str) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    resp
}

/// The answer when a request could not be served within the write timeout.
pub fn timed_out(limit: Duration) -> Resp {
    json(
        StatusCode::OK,
        TokenReview::denied(
            ReviewApiVersion::V1,
            Some(format!(
                "review not finished within the write timeout ({limit:?})"
            )),
        )
        .to_json(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use guard_api::BearerToken;
    use guard_auth::{BoxFuture, CheckError, Identity, Provider};

    use super::*;

    /// A network-like provider: answers per token.
    struct Fake {
        audiences: bool,
    }

    impl Provider for Fake {
        fn name(&self) -> &'static str {
            "github"
        }
        fn check<'a>(
            &'a self,
            org: &'a str,
            token: &'a BearerToken,
        ) -> BoxFuture<'a, Result<Identity, CheckError>> {
            let result = match token.expose() {
                "good" => Ok(Identity {
                    username: format!("alice@{org}"),
                    uid: "7".into(),
                    groups: vec!["team".into()],
                    extra: [("k".to_owned(), vec!["v".to_owned()])].into(),
                }),
                "down" => Err(CheckError::Unavailable(
                    "api.github.com answered 503".into(),
                )),
                _ => Err(CheckError::Denied("bad credentials".into())),
            };
            Box::pin(async move {
                if token.expose() == "slow" {
                    std::future::pending::<()>().await;
                }
                result
            })
        }
        fn checks_audiences(&self) -> bool {
            self.audiences
        }
        fn client_name(&self) -> Option<&'static str> {
            Some("the GitHub organisation")
        }
    }

    fn state(audiences: bool) -> Arc<AppState> {
        Arc::new(AppState {
            authenticator: Arc::new(
                Authenticator::builder()
                    .provider(Arc::new(Fake { audiences }))
                    .deadline(Duration::from_millis(200))
                    .build(),
            ),
            metrics: Arc::new(Metrics::new()),
            limits: Limits::default(),
            authorizer: None,
        })
    }

    fn github_client() -> Option<Arc<ClientIdentity>> {
        Some(Arc::new(ClientIdentity {
            organizations: vec!["Github".into()],
            common_name: "acme".into(),
        }))
    }

    async fn review(
        state: Arc<AppState>,
        token: &str,
        audiences: &[&str],
    ) -> (u16, serde_json::Value) {
        let body = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, "audiences": audiences}
        });
        let req = Request::post("/tokenreviews")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let resp = handle(state, github_client(), req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn an_outage_is_200_with_an_error_naming_it() {
        let (status, json) = review(state(false), "down", &[]).await;
        assert_eq!(status, 200);
        assert_eq!(json["status"]["authenticated"], false);
        assert_eq!(json["status"]["error"], "api.github.com answered 503");
    }

    #[tokio::test]
    async fn a_provider_past_the_deadline_is_an_outage_not_a_5xx() {
        let (status, json) = review(state(false), "slow", &[]).await;
        assert_eq!(status, 200);
        let error = json["status"]["error"].as_str().unwrap();
        assert!(error.contains("did not answer within"), "{error}");
    }

    #[tokio::test]
    async fn a_denial_is_200_without_error() {
        let (status, json) = review(state(false), "bad", &[]).await;
        assert_eq!(status, 200);
        assert_eq!(json["status"]["authenticated"], false);
        assert!(json["status"].get("error").is_none(), "{json}");
    }

    #[tokio::test]
    async fn success_carries_the_whole_user() {
        let (status, json) = review(state(false), "good", &[]).await;
        assert_eq!(status, 200);
        let user = &json["status"]["user"];
        assert_eq!(user["username"], "alice@acme");
        assert_eq!(user["uid"], "7");
        assert_eq!(user["groups"], serde_json::json!(["team"]));
        assert_eq!(user["extra"]["k"], serde_json::json!(["v"]));
    }

    #[tokio::test]
    async fn audiences_are_echoed_only_by_providers_that_check_them() {
        let (_, json) = review(state(false), "good", &["api"]).await;
        assert!(json["status"].get("audiences").is_none(), "{json}");
        let (_, json) = review(state(true), "good", &["api"]).await;
        assert_eq!(json["status"]["audiences"], serde_json::json!(["api"]));
    }

    #[tokio::test]
    async fn a_certificate_without_organization_is_forbidden() {
        let client = Some(Arc::new(ClientIdentity {
            organizations: Vec::new(),
            common_name: "x".into(),
        }));
        let req = Request::post("/tokenreviews")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let resp = handle(state(false), client, req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn a_certificate_without_a_usable_cn_is_forbidden() {
        let client = Some(Arc::new(ClientIdentity {
            organizations: vec!["github".into()],
            common_name: CommonName::Unusable("has an empty CN"),
        }));
        let req = Request::post("/tokenreviews")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let resp = handle(state(false), client, req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains("has an empty CN") && text.contains("the GitHub organisation"),
            "{text}"
        );
    }
}
