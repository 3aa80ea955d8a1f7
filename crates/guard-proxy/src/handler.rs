//! One request: authenticate, check, forward, stream the answer back.
//!
//! | situation | answer | forwarded |
//! |---|---|---|
//! | `CONNECT` | 405, `Allow` | no |
//! | a `.` or `..` path segment (also `%2e`) | 400 | no |
//! | no or unusable credentials, credentials refused | 401, `WWW-Authenticate` | no |
//! | a provider could not be asked and none accepted | 503 | no |
//! | `X-Remote-*` sent by the client | 403 | no |
//! | `Impersonate-*` without `--allow-impersonation` | 403 | no |
//! | `Impersonate-*` the API server does not allow for this user | 403 | no |
//! | malformed `Impersonate-*` | 400 | no |
//! | the request body is malformed, or the client left mid-body | 400 | started |
//! | the rest of the body does not come within `--request-timeout` | 408 | started |
//! | API server unreachable | 503 | - |
//! | API server answer head later than `--request-timeout` | 504 | - |
//! | anything else | the API server's answer, streamed | yes |
//!
//! Answers the proxy writes itself are Kubernetes `Status` objects, except
//! 403s, which are plain text (see [`refuse`]), so that kubectl prints
//! their message.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use guard_auth::Authenticator;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::audit::{Audit, End, TrackedBody};
use crate::chain::{ChainOutcome, authenticate};
use crate::credentials::{self, Credential};
use crate::headers::{clean_response_headers, screen, upstream_headers};
use crate::identity::ForwardedIdentity;
use crate::impersonation::ImpersonationRequest;
use crate::metrics::{InFlight, ProxyMetrics};
use crate::request_body::{self, ClientFault};
use crate::request_info::{RequestInfo, has_dot_segment, upgrade_label, upgrade_protocol};
use crate::upstream::{ProxyBody, Upstream, describe, full};
use crate::{IdentityMode, Limits, ProviderChain};

/// Everything a request needs.
pub(crate) struct Proxy {
    pub authenticator: Arc<Authenticator>,
    pub chain: ProviderChain,
    pub upstream: Arc<Upstream>,
    pub mode: IdentityMode,
    pub allow_impersonation: bool,
    pub metrics: Arc<ProxyMetrics>,
    pub limits: Limits,
}

/// A request the proxy answers itself.
struct Refusal {
    status: StatusCode,
    /// The Kubernetes `Status` reason.
    reason: &'static str,
    /// The metrics label.
    label: &'static str,
    message: String,
}

impl Refusal {
    fn new(
        status: StatusCode,
        reason: &'static str,
        label: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Refusal {
            status,
            reason,
            label,
            message: message.into(),
        }
    }
}

/// Serves one request from the client at `peer`.
pub(crate) async fn handle(
    proxy: Arc<Proxy>,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let info = RequestInfo::parse(req.method(), req.uri());
    let upgrade = (req.version() == hyper::Version::HTTP_11)
        .then(|| upgrade_protocol(req.headers()))
        .flatten();
    let long_running = info.long_running || upgrade.is_some();
    let in_flight = proxy.metrics.start(long_running);
    let mut audit = Audit::new(
        peer.ip(),
        req.method(),
        req.uri().path(),
        info.verb,
        started,
    );

    if let Some(refusal) = unforwardable(&req) {
        return Ok(refuse(&proxy, &audit, refusal));
    }
    let forwarded = match admit(&proxy, &req, &mut audit).await {
        Ok(identity) => identity,
        Err(refusal) => return Ok(refuse(&proxy, &audit, refusal)),
    };

    // Build the request for the API server.
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let mut headers = upstream_headers(&parts.headers, peer.ip(), upgrade.is_some());
    if let Err(e) = forwarded.write_headers(proxy.mode, &mut headers) {
        return Ok(refuse(
            &proxy,
            &audit,
            Refusal::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "bad_identity",
                format!("the identity cannot be forwarded: {e}"),
            ),
        ));
    }
    if let Some(auth) = proxy.upstream.authorization() {
        headers.insert(AUTHORIZATION, auth);
    }
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = match proxy.upstream.uri(path_and_query) {
        Ok(uri) => uri,
        Err(e) => {
            return Ok(refuse(
                &proxy,
                &audit,
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "bad_request",
                    format!("invalid path: {e}"),
                ),
            ));
        }
    };
    let (body, client_body) = request_body::watch(body);
    let mut outgoing = Request::new(body);
    *outgoing.method_mut() = parts.method;
    *outgoing.uri_mut() = uri;
    *outgoing.headers_mut() = headers;

    let limit = proxy.limits.request_timeout;
    let answer =
        tokio::time::timeout(limit, proxy.upstream.send(outgoing, upgrade.is_some())).await;
    // The exchange failed because of the client's body: the client's error.
    if !matches!(answer, Ok(Ok(_)))
        && let Some(fault) = client_body.fault()
    {
        let refusal = match fault {
            ClientFault::Unreadable(why) => Refusal::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "bad_request_body",
                format!("the request body cannot be read: {why}"),
            ),
            ClientFault::Stalled => Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                "Timeout",
                "request_body_timeout",
                format!("the request body did not arrive within {limit:?}"),
            ),
        };
        return Ok(refuse(&proxy, &audit, refusal));
    }
    let mut response = match answer {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            proxy.metrics.upstream_error("unreachable");
            tracing::warn!(
                "API server {} unreachable: {}",
                proxy.upstream.origin(),
                describe(&e)
            );
            return Ok(refuse(
                &proxy,
                &audit,
                Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "upstream_unreachable",
                    format!("the API server cannot be reached: {}", describe(&e)),
                ),
            ));
        }
        Err(_) => {
            proxy.metrics.upstream_error("timeout");
            return Ok(refuse(
                &proxy,
                &audit,
                Refusal::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "Timeout",
                    "upstream_timeout",
                    format!("the API server did not answer within {limit:?}"),
                ),
            ));
        }
    };
    let status = response.status();
    proxy
        .metrics
        .answered(status.as_u16(), info.verb, started.elapsed().as_secs_f64());

    if let (Some(protocol), Some(client_upgrade)) = (&upgrade, client_upgrade) {
        let switched = status == StatusCode::SWITCHING_PROTOCOLS;
        proxy.metrics.upgrade(upgrade_label(protocol), switched);
        if switched {
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            let (mut head, _) = response.into_parts();
            clean_response_headers(&mut head.headers, true);
            tokio::spawn(tunnel(client_upgrade, upstream_upgrade, audit, in_flight));
            return Ok(Response::from_parts(head, full(bytes::Bytes::new())));
        }
    }

    let (mut head, body) = response.into_parts();
    clean_response_headers(&mut head.headers, false);
    let deadline = (!long_running).then(|| (started + limit, limit));
    let body = TrackedBody::new(body, deadline, status.as_u16(), audit, in_flight);
    Ok(Response::from_parts(head, body.boxed()))
}

/// A request no API server request looks like, refused before anything
/// else: `CONNECT` (the proxy is not a tunnel to anywhere) and paths with
/// `.` or `..` segments (which the API server would resolve to another
/// path than the one shown, audited and authorized here).
fn unforwardable(req: &Request<Incoming>) -> Option<Refusal> {
    if req.method() == Method::CONNECT {
        return Some(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "method_not_allowed",
            "CONNECT is not allowed: guard proxy forwards Kubernetes API requests, it is not a tunnel",
        ));
    }
    if has_dot_segment(req.uri().path()) {
        return Some(Refusal::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "dot_segment",
            "the path has a \".\" or \"..\" segment (also when percent-encoded): send the path it stands for",
        ));
    }
    None
}

/// Authentication and the checks before forwarding: who the request will
/// be sent as.
async fn admit(
    proxy: &Proxy,
    req: &Request<Incoming>,
    audit: &mut Audit,
) -> Result<ForwardedIdentity, Refusal> {
    let unauthorized = |message: String| {
        Refusal::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "unauthenticated",
            message,
        )
    };
    let credential =
        credentials::from_headers(req.headers()).map_err(|e| unauthorized(e.to_string()))?;
    let (identity, provider) = match authenticate(
        &proxy.authenticator,
        &proxy.chain,
        &credential,
        &proxy.metrics,
    )
    .await
    {
        ChainOutcome::Authenticated { identity, provider } => (identity, provider),
        ChainOutcome::Denied => {
            return Err(unauthorized(match credential {
                Credential::Bearer(_) => "the bearer token was not accepted".into(),
                Credential::Basic(_) => "the user name or password was not accepted".into(),
            }));
        }
        ChainOutcome::BasicNotAccepted => {
            return Err(unauthorized(
                    "Basic credentials are only taken for ldap, which this proxy does not use: send a bearer token".into(),
                ));
        }
        ChainOutcome::Unavailable { providers } => {
            let names: Vec<&str> = providers.to_vec();
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "provider_unavailable",
                format!(
                    "guard cannot check credentials right now: {} did not answer (the proxy's log has the cause); try again shortly",
                    names.join(", ")
                ),
            ));
        }
    };
    let user = ForwardedIdentity::authenticated(identity);
    audit.user = Some(user.username.clone());
    audit.groups = user.groups.clone();
    audit.provider = Some(provider);

    screen(req.headers(), proxy.allow_impersonation).map_err(|e| {
        let label = match e {
            crate::headers::HeaderRefusal::IdentityHeader(_) => "identity_header",
            crate::headers::HeaderRefusal::ImpersonationDisabled(_) => "impersonation_disabled",
        };
        Refusal::new(StatusCode::FORBIDDEN, "Forbidden", label, e.to_string())
    })?;
    if !proxy.allow_impersonation {
        return Ok(user);
    }
    let request = ImpersonationRequest::from_headers(req.headers()).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "bad_impersonation",
            e.to_string(),
        )
    })?;
    let Some(request) = request else {
        return Ok(user);
    };
    for check in request.checks() {
        let what = describe_check(&check);
        match proxy
            .upstream
            .self_access_review(&user, proxy.mode, check, proxy.limits.request_timeout)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                return Err(Refusal::new(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "impersonation_denied",
                    format!("user {:?} may not impersonate {what}", user.username),
                ));
            }
            Err(e) => {
                return Err(Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "impersonation_unchecked",
                    format!(
                        "cannot check whether {:?} may impersonate {what}: {e}",
                        user.username
                    ),
                ));
            }
        }
    }
    let target = request.into_identity(&user);
    audit.as_user = Some(target.username.clone());
    Ok(target)
}

/// `users "bob"`, `userextras/scopes "read"`, for messages.
fn describe_check(check: &k8s_openapi::api::authorization::v1::ResourceAttributes) -> String {
    let resource = check.resource.as_deref().unwrap_or_default();
    let name = check.name.as_deref().unwrap_or_default();
    match (check.subresource.as_deref(), check.namespace.as_deref()) {
        (Some(sub), _) => format!("{resource}/{sub} {name:?}"),
        (None, Some(ns)) => format!("{resource} {name:?} in namespace {ns}"),
        (None, None) => format!("{resource} {name:?}"),
    }
}

/// Logs, counts and answers a refusal.
fn refuse(proxy: &Proxy, audit: &Audit, refusal: Refusal) -> Response<ProxyBody> {
    proxy.metrics.refused(refusal.label);
    proxy.metrics.answered(
        refusal.status.as_u16(),
        audit.verb,
        audit.started.elapsed().as_secs_f64(),
    );
    if refusal.status.is_server_error() {
        tracing::warn!(status = refusal.status.as_u16(), "{}", refusal.message);
    } else {
        tracing::debug!(status = refusal.status.as_u16(), "{}", refusal.message);
    }
    // client-go reads a JSON Status only outside discovery; its discovery
    // calls (kubectl's first requests) keep an error body only when it is
    // text, and for 403 show that text as the message. So a 403 is text,
    // the rest Kubernetes Status objects (whose messages client-go shows
    // outside discovery; inside it shows its own words for 401, 503, 504).
    let (body, content_type) = if refusal.status == StatusCode::FORBIDDEN {
        (refusal.message.clone(), "text/plain; charset=utf-8")
    } else {
        (
            status_body(refusal.status, refusal.reason, &refusal.message),
            "application/json",
        )
    };
    audit.log(
        refusal.status.as_u16(),
        body.len() as u64,
        None,
        End::Refused,
    );
    let mut resp = Response::new(full(body));
    *resp.status_mut() = refusal.status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if refusal.status == StatusCode::METHOD_NOT_ALLOWED {
        resp.headers_mut().insert(
            hyper::header::ALLOW,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
    }
    if refusal.status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"guard\""),
        );
        if proxy.chain.takes_basic() {
            resp.headers_mut().append(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"guard\", charset=\"UTF-8\""),
            );
        }
    }
    resp
}

/// A Kubernetes `Status` object.
pub(crate) fn status_body(status: StatusCode, reason: &str, message: &str) -> String {
    serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": status.as_u16(),
    })
    .to_string()
}

/// Copies bytes both ways between the client and the API server once both
/// switched protocols, then writes the audit line.
async fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    audit: Audit,
    in_flight: InFlight,
) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!("protocol switch failed: {e}");
            audit.log(101, 0, Some(0), End::Cut);
            return;
        }
    };
    let (client_read, client_write) = tokio::io::split(TokioIo::new(client));
    let (upstream_read, upstream_write) = tokio::io::split(TokioIo::new(upstream));
    let (to_server, to_client) = (AtomicU64::new(0), AtomicU64::new(0));
    let up = pump(client_read, upstream_write, &to_server);
    let down = pump(upstream_read, client_write, &to_client);
    tokio::pin!(up, down);
    let (mut up_done, mut down_done, mut end) = (false, false, End::Done);
    // Each side may finish sending while the other still talks (a
    // half-close); an error on either ends both.
    while !(up_done && down_done) {
        let result = tokio::select! {
            r = &mut up, if !up_done => { up_done = true; r }
            r = &mut down, if !down_done => { down_done = true; r }
        };
        if let Err(e) = result {
            tracing::debug!("tunnel cut: {e}");
            end = End::Cut;
            break;
        }
    }
    audit.log(
        101,
        to_client.load(Ordering::Relaxed),
        Some(to_server.load(Ordering::Relaxed)),
        end,
    );
    drop(in_flight);
}

/// Copies `from` to `to` until `from` ends, counting the bytes; then ends
/// `to`'s direction. A peer that closes without a TLS close_notify has
/// still finished.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    count: &AtomicU64,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(());
        }
        to.write_all(&buf[..n]).await?;
        to.flush().await?;
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
}
