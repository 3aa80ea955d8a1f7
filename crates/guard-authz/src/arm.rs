//! Azure Resource Manager: guard's own ARM token and the CheckAccess call.
//!
//! * Tokens: aks, fleet and aimanager POST `{"tenantID": ...}` to
//!   `--azure.aks-authz-token-url` (the AKS control plane answers
//!   `access_token` and `expires_on`); arc uses the client-credential grant
//!   of `--azure.client-id` at `LOGIN/TENANT/oauth2/v2.0/token` with scope
//!   `ARM/.default`, or, without a client secret, the Arc agent's managed
//!   identity. A token is reused until five minutes before it expires; one
//!   refresh at a time.
//! * CheckAccess: `POST ARM/SCOPE/providers/Microsoft.Authorization/checkaccess?api-version=2018-09-01-preview`
//!   with at most 200 actions per request; the requests of one review run in
//!   parallel under one deadline. 200 → the decisions; 404 (the tracked
//!   resource is gone) → denied; other 4xx → a refusal (a denial the caller
//!   caches), except 401 (guard's token refused: an outage, and a new token
//!   next time); 408 (ARM timed out), 429, 5xx, timeouts and transport
//!   errors → retried a few times within the deadline, then an outage
//!   (never cached).
//! * Throttling: on 429, or when ARM's
//!   `x-ms-ratelimit-remaining-subscription-reads` drops below
//!   `--azure.arm-call-limit`, the connection pool is replaced, so that the
//!   next calls open new connections and reach another ARM instance.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use guard_providers::http::{send, strip_url};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::actions::Action;
use crate::metrics::AuthzMetrics;

/// CheckAccess takes at most this many actions per request.
pub const MAX_ACTIONS_PER_REQUEST: usize = 200;
/// The CheckAccess API version.
const API_VERSION: &str = "2018-09-01-preview";
/// ARM's remaining-reads header.
const REMAINING_READS: &str = "x-ms-ratelimit-remaining-subscription-reads";
/// Longest single CheckAccess attempt (Go Guard's).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// A token is renewed this long before it expires.
const TOKEN_RENEW_BEFORE: Duration = Duration::from_secs(300);
/// Largest ARM answer read.
const MAX_BODY: usize = 4 << 20;

/// Builds a fresh HTTP client (a new connection pool).
pub type ClientFactory = Arc<dyn Fn() -> Result<reqwest::Client, String> + Send + Sync>;

/// Where guard's ARM token comes from.
#[derive(Clone)]
pub enum TokenSource {
    /// aks, fleet, aimanager: `--azure.aks-authz-token-url`.
    TokenUrl {
        /// The URL.
        url: Url,
        /// `--azure.tenant-id`, sent as `tenantID`.
        tenant_id: String,
    },
    /// arc with a client secret: the client-credential grant.
    ClientCredentials {
        /// `LOGIN/TENANT/oauth2/v2.0/token`
        endpoint: Url,
        /// `--azure.client-id`
        client_id: String,
        /// `--azure.client-secret`
        client_secret: String,
        /// `ARM/.default`
        scope: String,
    },
    /// arc without a client secret: the Arc agent's managed identity.
    ManagedIdentity {
        /// The identity endpoint, with its query (`api-version`).
        endpoint: Url,
        /// The ARM root, the token's resource.
        resource: String,
    },
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        match self {
            TokenSource::TokenUrl { url, .. } => write!(f, "TokenUrl({url})"),
            TokenSource::ClientCredentials {
                endpoint,
                client_id,
                ..
            } => write!(f, "ClientCredentials({client_id} at {endpoint})"),
            TokenSource::ManagedIdentity { endpoint, .. } => {
                write!(f, "ManagedIdentity({endpoint})")
            }
        }
    }
}

impl TokenSource {
    fn describe(&self) -> &'static str {
        match self {
            TokenSource::TokenUrl { .. } => "--azure.aks-authz-token-url",
            TokenSource::ClientCredentials { .. } => "Azure AD (client credentials)",
            TokenSource::ManagedIdentity { .. } => "the Arc agent's managed identity",
        }
    }
}

/// Why ARM could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArmError {
    /// ARM refused the check (4xx other than 401, 404, 408 and 429): a
    /// decision to cache.
    #[error("ARM CheckAccess answered {status}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// ARM's error code and message.
        message: String,
    },
    /// An outage: no decision, not cached.
    #[error("{0}")]
    Unavailable(String),
}

/// The outcome of one CheckAccess round (all batches of one scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every action is allowed; the role assignment and definition that allow the first.
    Allowed {
        /// Role assignment id.
        assignment: String,
        /// Role definition id.
        role: String,
    },
    /// Some action is not allowed (or the resource is gone: 404).
    Denied,
}

/// A CheckAccess request body.
#[derive(Debug, Clone, Serialize)]
pub struct CheckAccessRequest<'a> {
    /// Who.
    #[serde(rename = "Subject")]
    pub subject: Subject<'a>,
    /// What.
    #[serde(rename = "Actions")]
    pub actions: &'a [Action],
    /// Where.
    #[serde(rename = "Resource")]
    pub resource: ResourceId<'a>,
}

/// The subject of a check.
#[derive(Debug, Clone, Serialize)]
pub struct Subject<'a> {
    /// Its attributes.
    #[serde(rename = "Attributes")]
    pub attributes: SubjectAttributes<'a>,
}

/// The user's object id and (UUID-shaped) groups.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectAttributes<'a> {
    /// `extra.oid`.
    #[serde(rename = "ObjectId")]
    pub object_id: &'a str,
    /// Group object ids.
    #[serde(rename = "Groups", skip_serializing_if = "<[_]>::is_empty")]
    pub groups: &'a [String],
}

/// The scope of a check.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceId<'a> {
    /// The ARM id.
    #[serde(rename = "Id")]
    pub id: &'a str,
}

#[derive(Debug, Deserialize)]
struct Decision {
    #[serde(rename = "accessDecision", default)]
    access_decision: String,
    #[serde(rename = "roleAssignment", default)]
    role_assignment: Option<RoleAssignment>,
}

#[derive(Debug, Default, Deserialize)]
struct RoleAssignment {
    #[serde(default)]
    id: String,
    #[serde(rename = "roleDefinitionId", default)]
    role_definition_id: String,
}

struct CachedToken {
    token: String,
    renew_at: SystemTime,
}

/// The ARM client: token, connection pool, retries and metrics.
pub struct Arm {
    base: Url,
    client: RwLock<reqwest::Client>,
    new_client: ClientFactory,
    token_source: TokenSource,
    token: tokio::sync::Mutex<Option<CachedToken>>,
    arm_call_limit: i64,
    retries: u32,
    metrics: Arc<AuthzMetrics>,
}

impl Arm {
    /// An ARM client at `base` (the ARM root, ending in `/`).
    pub fn new(
        base: Url,
        new_client: ClientFactory,
        token_source: TokenSource,
        arm_call_limit: i64,
        retries: u32,
        metrics: Arc<AuthzMetrics>,
    ) -> Result<Self, String> {
        let client = new_client()?;
        Ok(Arm {
            base,
            client: RwLock::new(client),
            new_client,
            token_source,
            token: tokio::sync::Mutex::new(None),
            arm_call_limit,
            retries,
            metrics,
        })
    }

    /// The ARM root.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The current client.
    pub fn client(&self) -> reqwest::Client {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the connection pool: later calls open new connections.
    fn renew_connections(&self, why: &str) {
        match (self.new_client)() {
            Ok(client) => {
                tracing::info!("{why}: new ARM connections from now on");
                *self.client.write().unwrap_or_else(|p| p.into_inner()) = client;
            }
            Err(e) => tracing::warn!("{why}, but no new HTTP client: {e}"),
        }
    }

    /// guard's ARM token, renewed when it expires within five minutes.
    pub async fn token(&self) -> Result<String, ArmError> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref()
            && SystemTime::now() < t.renew_at
        {
            return Ok(t.token.clone());
        }
        let (token, expires) = self.fetch_token().await.map_err(|e| {
            ArmError::Unavailable(format!(
                "cannot get an ARM token from {}: {e}",
                self.token_source.describe()
            ))
        })?;
        let now = SystemTime::now();
        let lifetime = expires.duration_since(now).unwrap_or_default();
        let renew_at = expires - TOKEN_RENEW_BEFORE.min(lifetime / 2);
        tracing::info!(
            "ARM token from {} valid for {}s",
            self.token_source.describe(),
            lifetime.as_secs()
        );
        *slot = Some(CachedToken {
            token: token.clone(),
            renew_at,
        });
        Ok(token)
    }

    async fn fetch_token(&self) -> Result<(String, SystemTime), String> {
        let client = self.client();
        let request = match &self.token_source {
            TokenSource::TokenUrl { url, tenant_id } => client
                .post(url.clone())
                .json(&serde_json::json!({ "tenantID": tenant_id })),
            TokenSource::ClientCredentials {
                endpoint,
                client_id,
                client_secret,
                scope,
            } => client.post(endpoint.clone()).form(&[
                ("client_id", client_id.as_str()),
                ("client_secret", client_secret.as_str()),
                ("scope", scope.as_str()),
                ("grant_type", "client_credentials"),
            ]),
            TokenSource::ManagedIdentity { endpoint, resource } => {
                let mut url = endpoint.clone();
                url.query_pairs_mut().append_pair("resource", resource);
                client.get(url).header("Metadata", "true")
            }
        };
        let response = send(request).await.map_err(|e| transport(&e))?;
        let status = response.status();
        let body = read_body(response).await?;
        if !status.is_success() {
            return Err(format!("answered {status}{}", error_detail(&body)));
        }
        parse_token(&body)
    }

    /// Runs one CheckAccess round: `actions` on `scope` (an ARM id), split
    /// into requests of at most 200 actions, all in parallel, done by
    /// `deadline`.
    pub async fn check_access(
        self: &Arc<Self>,
        scope: &str,
        object_id: &str,
        groups: &[String],
        actions: &[Action],
        deadline: Instant,
    ) -> Result<Verdict, ArmError> {
        let mut url = self.base.clone();
        let path = format!(
            "{}/{}/providers/Microsoft.Authorization/checkaccess",
            self.base.path().trim_end_matches('/'),
            scope.trim_matches('/')
        );
        url.set_path(&path);
        url.set_query(Some(&format!("api-version={API_VERSION}")));
        let token = tokio::time::timeout_at(deadline, self.token())
            .await
            .map_err(|_| {
                ArmError::Unavailable(format!(
                    "no ARM token from {} in time",
                    self.token_source.describe()
                ))
            })??;
        let batches: Vec<Vec<u8>> = actions
            .chunks(MAX_ACTIONS_PER_REQUEST)
            .map(|chunk| {
                serde_json::to_vec(&CheckAccessRequest {
                    subject: Subject {
                        attributes: SubjectAttributes { object_id, groups },
                    },
                    actions: chunk,
                    resource: ResourceId { id: scope },
                })
                .unwrap_or_default()
            })
            .collect();
        let batch_count = batches.len();
        let mut tasks = tokio::task::JoinSet::new();
        for body in batches {
            let (arm, url, token) = (self.clone(), url.clone(), token.clone());
            tasks.spawn(async move { arm.send_with_retries(url, token, body, deadline).await });
        }
        let overall = tokio::time::timeout_at(deadline, async {
            let mut allowed: Option<Verdict> = None;
            while let Some(joined) = tasks.join_next().await {
                let result = joined
                    .map_err(|e| ArmError::Unavailable(format!("CheckAccess task failed: {e}")))?;
                match result? {
                    // One denied batch decides; the others are dropped.
                    Verdict::Denied => return Ok(Verdict::Denied),
                    verdict => {
                        allowed.get_or_insert(verdict);
                    }
                }
            }
            allowed.ok_or_else(|| ArmError::Unavailable("no CheckAccess request made".into()))
        })
        .await;
        match overall {
            Ok(result) => result,
            Err(_) => {
                self.metrics.context_timeout(batch_count, actions.len());
                Err(ArmError::Unavailable(format!(
                    "ARM CheckAccess did not answer in time ({batch_count} request(s), {} action(s))",
                    actions.len()
                )))
            }
        }
    }

    async fn send_with_retries(
        &self,
        url: Url,
        token: String,
        body: Vec<u8>,
        deadline: Instant,
    ) -> Result<Verdict, ArmError> {
        let mut attempt = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ArmError::Unavailable(
                    "ARM CheckAccess did not answer in time".into(),
                ));
            }
            let outcome = self
                .send_once(&url, &token, &body, remaining.min(ATTEMPT_TIMEOUT))
                .await;
            let (error, wait) = match outcome {
                Attempt::Done(result) => return result,
                Attempt::Retry { error, after } => {
                    if attempt >= self.retries {
                        return Err(error);
                    }
                    tracing::debug!("CheckAccess attempt {} failed: {error}", attempt + 1);
                    let backoff = Duration::from_millis(500) * 2u32.pow(attempt.min(2));
                    (error, after.unwrap_or(backoff))
                }
            };
            attempt += 1;
            if Instant::now() + wait >= deadline {
                // No time left for another attempt: the last error stands.
                return Err(error);
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn send_once(&self, url: &Url, token: &str, body: &[u8], timeout: Duration) -> Attempt {
        let started = std::time::Instant::now();
        let sent = send(
            self.client()
                .post(url.clone())
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .timeout(timeout),
        )
        .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                self.metrics
                    .check_access_call(500, started.elapsed().as_secs_f64());
                return Attempt::Retry {
                    error: ArmError::Unavailable(format!("ARM CheckAccess {}", transport(&e))),
                    after: None,
                };
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_body(response).await;
        self.metrics
            .check_access_call(status.as_u16(), started.elapsed().as_secs_f64());
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Retry {
                    error: ArmError::Unavailable(format!("ARM CheckAccess {e}")),
                    after: None,
                };
            }
        };
        if status == StatusCode::OK || status == StatusCode::NOT_FOUND {
            self.metrics.check_access_succeeded();
            if let Some(remaining) = headers
                .get(REMAINING_READS)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
                && remaining < self.arm_call_limit
            {
                self.renew_connections(&format!(
                    "ARM has {remaining} reads left for this subscription (below --azure.arm-call-limit={})",
                    self.arm_call_limit
                ));
            }
            if status == StatusCode::NOT_FOUND {
                // The tracked resource no longer exists.
                return Attempt::Done(Ok(Verdict::Denied));
            }
            return Attempt::Done(parse_decisions(&body));
        }
        self.metrics.check_access_failed(status.as_u16());
        let retry_after = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.metrics.check_access_throttled();
            self.renew_connections("ARM throttled CheckAccess (429)");
            return Attempt::Retry {
                error: ArmError::Unavailable(format!(
                    "ARM throttled CheckAccess (429){}",
                    retry_after
                        .map(|d| format!("; retry after {}s", d.as_secs()))
                        .unwrap_or_default()
                )),
                after: retry_after,
            };
        }
        // 408: ARM gave up waiting (for the request, or on its own
        // backends), which says nothing about the user: an outage.
        if (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
            || status == StatusCode::REQUEST_TIMEOUT
        {
            return Attempt::Retry {
                error: ArmError::Unavailable(format!(
                    "ARM CheckAccess answered {status}{}",
                    error_detail(&body)
                )),
                after: retry_after,
            };
        }
        if status == StatusCode::UNAUTHORIZED {
            // guard's own token was refused (revoked, or the clock is off):
            // an outage of guard's, not a decision about the user. The next
            // review fetches a new token.
            *self.token.lock().await = None;
            return Attempt::Done(Err(ArmError::Unavailable(format!(
                "ARM refused guard's token (401){}",
                error_detail(&body)
            ))));
        }
        if status.is_client_error() {
            return Attempt::Done(Err(ArmError::Refused {
                status: status.as_u16(),
                message: error_detail(&body).trim_start_matches(": ").to_owned(),
            }));
        }
        Attempt::Done(Err(ArmError::Unavailable(format!(
            "ARM CheckAccess answered {status}{}",
            error_detail(&body)
        ))))
    }
}

enum Attempt {
    Done(Result<Verdict, ArmError>),
    Retry {
        error: ArmError,
        after: Option<Duration>,
    },
}

/// Reads the decisions: allowed only if every one is "allowed".
fn parse_decisions(body: &[u8]) -> Result<Verdict, ArmError> {
    let decisions: Vec<Decision> = serde_json::from_slice(body).map_err(|e| {
        tracing::warn!("unexpected CheckAccess answer: {e}");
        ArmError::Unavailable("ARM CheckAccess sent an unexpected answer".into())
    })?;
    let Some(first) = decisions.first() else {
        return Err(ArmError::Unavailable(
            "ARM CheckAccess answered without decisions".into(),
        ));
    };
    if decisions
        .iter()
        .all(|d| d.access_decision.eq_ignore_ascii_case("allowed"))
    {
        let assignment = first.role_assignment.as_ref();
        Ok(Verdict::Allowed {
            assignment: assignment.map(|a| a.id.clone()).unwrap_or_default(),
            role: assignment
                .map(|a| a.role_definition_id.clone())
                .unwrap_or_default(),
        })
    } else {
        Ok(Verdict::Denied)
    }
}

/// A token answer: `access_token` with `expires_on` (epoch seconds, number
/// or string) or `expires_in` (seconds).
fn parse_token(body: &[u8]) -> Result<(String, SystemTime), String> {
    #[derive(Deserialize)]
    struct Token {
        access_token: String,
        #[serde(default)]
        expires_on: Option<serde_json::Value>,
        #[serde(default)]
        expires_in: Option<serde_json::Value>,
    }
    let seconds = |v: &serde_json::Value| match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let token: Token =
        serde_json::from_slice(body).map_err(|_| "sent an unexpected answer".to_owned())?;
    if token.access_token.is_empty() {
        return Err("sent an empty access token".into());
    }
    let now = SystemTime::now();
    let expires = match (
        token.expires_on.as_ref().and_then(seconds),
        token.expires_in.as_ref().and_then(seconds),
    ) {
        (Some(on), _) => UNIX_EPOCH + Duration::from_secs(on),
        (None, Some(within)) => now + Duration::from_secs(within),
        (None, None) => now + Duration::from_secs(3600),
    };
    if expires <= now {
        return Err("sent an expired token".into());
    }
    Ok((token.access_token, expires))
}

/// `": CODE: message"` from an ARM or Azure AD error body, shortened.
fn error_detail(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let error = v.get("error").unwrap_or(&v);
    let code = error
        .get("code")
        .or_else(|| v.get("error"))
        .and_then(|c| c.as_str())
        .unwrap_or_default();
    let message = error
        .get("message")
        .or_else(|| v.get("error_description"))
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    let mut detail: String = [code, message]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(": ");
    if detail.len() > 300 {
        let mut end = 300;
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        detail.truncate(end);
        detail.push('…');
    }
    if detail.is_empty() {
        detail
    } else {
        format!(": {detail}")
    }
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport(&strip_url(e)))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("sent an answer larger than {MAX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport failure in words, without the URL (the error's own URL is
/// already reduced to its origin by [`send`] or [`strip_url`]).
fn transport(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "sent an unreadable answer"
    } else {
        "request failed"
    };
    tracing::debug!("ARM call: {what}: {e}");
    what.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_allow_only_when_all_allow() {
        let allowed = br#"[{"accessDecision":"Allowed","actionId":"a","isDataAction":true,"roleAssignment":{"id":"ra1","roleDefinitionId":"rd1"},"timeToLiveInMs":300000},{"accessDecision":"allowed","actionId":"b"}]"#;
        assert_eq!(
            parse_decisions(allowed).unwrap(),
            Verdict::Allowed {
                assignment: "ra1".into(),
                role: "rd1".into()
            }
        );
        let mixed = br#"[{"accessDecision":"Allowed"},{"accessDecision":"NotAllowed"}]"#;
        assert_eq!(parse_decisions(mixed).unwrap(), Verdict::Denied);
        assert!(matches!(
            parse_decisions(b"[]"),
            Err(ArmError::Unavailable(_))
        ));
        assert!(matches!(
            parse_decisions(b"<html>"),
            Err(ArmError::Unavailable(_))
        ));
    }

    #[test]
    fn tokens_carry_expires_on_or_expires_in() {
        let later = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let (t, exp) = parse_token(
            format!(r#"{{"access_token":"x","expires_on":"{later}","token_type":"Bearer"}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(t, "x");
        assert_eq!(exp, UNIX_EPOCH + Duration::from_secs(later));
        let (_, exp) = parse_token(br#"{"access_token":"y","expires_in":3599}"#).unwrap();
        assert!(exp > SystemTime::now() + Duration::from_secs(3500));
        assert!(parse_token(br#"{"access_token":"z","expires_on":5}"#).is_err());
        assert!(parse_token(br#"{"error":"invalid_client"}"#).is_err());
    }

    #[test]
    fn error_details_are_short_and_carry_no_body_dump() {
        assert_eq!(
            error_detail(br#"{"error":{"code":"AuthorizationFailed","message":"no"}}"#),
            ": AuthorizationFailed: no"
        );
        assert_eq!(
            error_detail(br#"{"error":"invalid_client","error_description":"bad secret"}"#),
            ": invalid_client: bad secret"
        );
        assert_eq!(error_detail(b"<html>"), "");
        let long = format!(
            r#"{{"error":{{"code":"X","message":"{}"}}}}"#,
            "é".repeat(400)
        );
        assert!(error_detail(long.as_bytes()).chars().count() < 310);
    }

    #[test]
    fn request_bodies_match_arm_s_shape() {
        let actions = [Action {
            id: "T/pods/read".into(),
            is_data_action: true,
            attributes: None,
        }];
        let body = CheckAccessRequest {
            subject: Subject {
                attributes: SubjectAttributes {
                    object_id: "oid",
                    groups: &[],
                },
            },
            actions: &actions,
            resource: ResourceId { id: "/s/ns" },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"Subject":{"Attributes":{"ObjectId":"oid"}},"Actions":[{"Id":"T/pods/read","IsDataAction":true,"Attributes":null}],"Resource":{"Id":"/s/ns"}}"#
        );
    }
}
