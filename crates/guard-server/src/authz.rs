//! `POST /subjectaccessreviews`: the authorization webhook, served on the
//! same mutual-TLS listener as the TokenReviews when `--authz-providers` is
//! set (404 otherwise).
//!
//! | situation | HTTP | SubjectAccessReview status |
//! |---|---|---|
//! | allowed / denied / no opinion | 200 | `allowed` / `denied` / neither, `reason` |
//! | Azure unreachable, throttling, timeout | 200 | `evaluationError`, no decision |
//! | no client certificate | 401 | `evaluationError` |
//! | certificate whose first `O` is not `azure` | 403 | `evaluationError` |
//! | body not a SubjectAccessReview | 400 | `evaluationError` |
//! | body too large / not JSON / too slow | 413 / 415 / 408 | `evaluationError` |
//!
//! The API server treats a non-200 answer as an error of the webhook (no
//! opinion, or its `failurePolicy`), and never caches it.

use std::time::Instant;

use bytes::Bytes;
use guard_authz::Authorizer;
use guard_authz::review::{self, SarRequest};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::ClientIdentity;
use crate::handler::AppState;

/// Paths of the authorization webhook: Go Guard's, and the API group's.
pub const SAR_PATHS: [&str; 3] = [
    "/subjectaccessreviews",
    "/apis/authorization.k8s.io/v1/subjectaccessreviews",
    "/apis/authorization.k8s.io/v1beta1/subjectaccessreviews",
];

type Resp = Response<Full<Bytes>>;

/// Serves one request on [`SAR_PATHS`] (only routed there when
/// authorization is enabled).
pub(crate) async fn route<B>(
    state: &AppState,
    authorizer: &Authorizer,
    client: Option<&ClientIdentity>,
    req: Request<B>,
) -> Resp
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if req.method() != Method::POST {
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        resp.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    let started = Instant::now();
    let _in_flight = state.metrics.start_sar();
    let (status, body) = match read(state, client, req).await {
        Err((status, message)) => {
            tracing::warn!(
                status = status.as_u16(),
                "subject access review refused: {message}"
            );
            (status, review::refusal(&message))
        }
        Ok(request) => {
            let review = authorizer.review(&request.spec).await;
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            let reason = review.status.reason.as_deref().unwrap_or_default();
            match &review.status.evaluation_error {
                Some(error) => {
                    tracing::warn!(
                        user = review.user.as_str(),
                        outcome = review.outcome,
                        latency_ms,
                        error,
                        "subject access review"
                    )
                }
                None => {
                    tracing::info!(
                        user = review.user.as_str(),
                        outcome = review.outcome,
                        source = review.source,
                        latency_ms,
                        reason,
                        "subject access review"
                    )
                }
            }
            (StatusCode::OK, request.answer(&review.status))
        }
    };
    state
        .metrics
        .sar_done(status.as_u16(), started.elapsed().as_secs_f64(), body.len());
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

async fn read<B>(
    state: &AppState,
    client: Option<&ClientIdentity>,
    req: Request<B>,
) -> Result<SarRequest, (StatusCode, String)>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let client = client.ok_or((
        StatusCode::UNAUTHORIZED,
        "no client certificate: the API server must present a certificate signed by guard's CA (see `guard get webhook-config --mode authz`)".to_owned(),
    ))?;
    match client.organizations.first().map(String::as_str) {
        Some(o) if o.trim().eq_ignore_ascii_case("azure") => {}
        Some(o) => {
            return Err((
                StatusCode::FORBIDDEN,
                format!(
                    "guard answers SubjectAccessReviews for azure only: the client certificate has O={o}"
                ),
            ));
        }
        None => {
            return Err((
                StatusCode::FORBIDDEN,
                format!(
                    "client certificate CN={} has no organization (O): create it with `guard init client -o azure`",
                    client.common_name.as_str()
                ),
            ));
        }
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
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content type {media:?}: send application/json"),
            ));
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
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body exceeds {} bytes", limits.max_body),
            ));
        }
        Ok(Err(e)) => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            ));
        }
        Err(_) => {
            return Err((
                StatusCode::REQUEST_TIMEOUT,
                format!("request body not received within {:?}", limits.read_timeout),
            ));
        }
    };
    SarRequest::parse(&body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
}

/// The answer when a SubjectAccessReview could not be answered within the
/// write timeout: no decision, and why.
pub(crate) fn timed_out(limit: std::time::Duration) -> Resp {
    let body = review::refusal(&format!(
        "review not finished within the write timeout ({limit:?})"
    ));
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
