//! The server side of `eks`: a token is validated (see [`super::token`]),
//! then its presigned URL is called with `x-k8s-aws-id` set to the cluster
//! ID of the client certificate (`CN`), so STS's signature check also proves
//! the token was made for this cluster. The caller's ARN is mapped to a
//! username and groups through the mapping file.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use guard_api::BearerToken;
use guard_auth::reload::Reloading;
use guard_auth::{BoxFuture, CheckError, ErrorChain, Identity, Provider, ProviderCounter};
use reqwest::Url;
use serde::Deserialize;

use super::arn::{Caller, canonicalize};
use super::mapping::Mapping;
use super::options::EksOptions;
use super::token::{CLUSTER_ID_HEADER, validate_token};
use crate::{ProviderError, http};

/// The EKS provider.
pub struct EksProvider {
    client: reqwest::Client,
    extra_endpoint: Option<Url>,
    mapping: Option<Arc<Reloading<Mapping, ProviderError>>>,
    /// Answers of STS that said it throttles guard.
    throttled: Arc<AtomicU64>,
}

impl EksProvider {
    /// Loads the mapping file; fails if it is missing or malformed.
    pub fn new(client: reqwest::Client, options: &EksOptions) -> Result<Arc<Self>, ProviderError> {
        let extra_endpoint = options.sts_endpoint()?;
        let mapping = match &options.mapping_file {
            Some(path) => {
                let file = path.clone();
                Some(Reloading::load(vec![path.clone()], move || {
                    Mapping::load(&file)
                })?)
            }
            None => None,
        };
        Ok(Arc::new(EksProvider {
            client,
            extra_endpoint,
            mapping,
            throttled: Arc::default(),
        }))
    }

    /// Re-reads the mapping file when it changed; a broken one keeps the old.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        match &self.mapping {
            Some(mapping) => mapping.spawn_reloader(interval, |mapping, result| match result {
                Ok(_) => tracing::info!(
                    file = %mapping.paths()[0].display(),
                    "EKS mapping file reloaded"
                ),
                Err(e) => tracing::error!("{}; keeping the previous mapping", ErrorChain(e)),
            }),
            None => tokio::spawn(async {}),
        }
    }

    async fn check_token(
        &self,
        cluster_id: &str,
        token: &BearerToken,
    ) -> Result<Identity, CheckError> {
        let token = validate_token(
            token.expose(),
            self.extra_endpoint.as_ref(),
            SystemTime::now(),
        )?;
        let response = http::send(
            self.client
                .get(token.url.clone())
                .header(CLUSTER_ID_HEADER, cluster_id)
                .header("accept", "application/json"),
        )
        .await
        .map_err(|e| http::transport("AWS STS", e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.refusal(response).await);
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Envelope {
            get_caller_identity_response: Response,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Response {
            get_caller_identity_result: Result_,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Result_ {
            arn: String,
            account: String,
            user_id: String,
        }
        let body: Envelope = http::json("AWS STS", response).await?;
        let r = body.get_caller_identity_response.get_caller_identity_result;
        let (canonical_arn, session_name) = canonicalize(&r.arn)?;
        // An assumed role's UserId is `ROLEID:SESSION`; the uid holds the
        // role id only (aws-iam-authenticator's rule), so that one principal
        // keeps one uid across sessions.
        let user_id = match &session_name {
            Some(_) => r.user_id.split(':').next().unwrap_or_default().to_owned(),
            None => r.user_id,
        };
        let caller = Caller {
            arn: r.arn,
            canonical_arn,
            account: r.account,
            user_id,
            session_name,
            access_key_id: token.access_key_id.clone(),
        };
        let mapping = self
            .mapping
            .as_ref()
            .map(|m| m.current())
            .unwrap_or_default();
        let (username, groups) = mapping
            .map(&caller)
            .map_err(CheckError::Denied)?
            .ok_or_else(|| {
                CheckError::Denied(format!(
                    "{} is not in the EKS mapping",
                    caller.canonical_arn
                ))
            })?;
        let mut extra = BTreeMap::from([
            ("arn".to_owned(), vec![caller.arn.clone()]),
            (
                "canonicalArn".to_owned(),
                vec![caller.canonical_arn.clone()],
            ),
            ("accessKeyId".to_owned(), vec![caller.access_key_id.clone()]),
        ]);
        if let Some(s) = &caller.session_name {
            extra.insert("sessionName".to_owned(), vec![s.clone()]);
        }
        Ok(Identity {
            username,
            uid: format!(
                "aws-iam-authenticator:{}:{}",
                caller.account, caller.user_id
            ),
            groups,
            extra,
        })
    }
}

impl EksProvider {
    /// What an STS answer other than 200 means. STS throttles with 400 and
    /// the error code `Throttling` (also 429, and 503 when it is
    /// overloaded): an outage, counted in `guard_eks_sts_throttling_total`
    /// as aws-iam-authenticator counts it. Other 4xx (bad signature,
    /// expired, unknown key, wrong cluster id) refuse the token; 5xx is an
    /// outage.
    async fn refusal(&self, response: reqwest::Response) -> CheckError {
        let status = response.status();
        let headers = response.headers().clone();
        let code = match http::read_body(response, http::MAX_ERROR_BODY).await {
            Ok(body) => error_code(&body),
            Err(_) => None,
        };
        let throttled = status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || code.as_deref().is_some_and(is_throttling_code);
        if throttled {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            let code = code.unwrap_or_else(|| status.to_string());
            tracing::warn!("AWS STS is throttling guard ({status}, {code})");
            return CheckError::Unavailable(format!("AWS STS is throttling requests ({code})"));
        }
        if status.is_client_error() {
            return CheckError::Denied(match code {
                Some(code) => format!("AWS STS refused the token ({status}, {code})"),
                None => format!("AWS STS refused the token ({status})"),
            });
        }
        http::classify("AWS STS", status, &headers, &[], String::new)
    }
}

/// The error code of an STS error answer, in its JSON
/// (`{"Error":{"Code":...}}`) or XML (`<Error><Code>...</Code>`) shape.
fn error_code(body: &[u8]) -> Option<String> {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        return json
            .pointer("/Error/Code")
            .and_then(|c| c.as_str())
            .map(str::to_owned);
    }
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    let code = text[start..end].trim();
    (!code.is_empty() && code.len() <= 64).then(|| code.to_owned())
}

/// Codes AWS uses for throttling (`Throttling`, `ThrottlingException`,
/// `RequestLimitExceeded`, `TooManyRequestsException`).
fn is_throttling_code(code: &str) -> bool {
    code.contains("Throttling")
        || code == "RequestLimitExceeded"
        || code == "TooManyRequestsException"
}

impl Provider for EksProvider {
    fn name(&self) -> &'static str {
        super::NAME
    }

    fn may_be_mine(&self, token: &BearerToken) -> bool {
        crate::token_kind::is_eks(token.expose())
    }

    fn client_name(&self) -> Option<&'static str> {
        Some("the cluster ID the tokens are made for")
    }

    fn check<'a>(
        &'a self,
        org: &'a str,
        token: &'a BearerToken,
    ) -> BoxFuture<'a, Result<Identity, CheckError>> {
        Box::pin(self.check_token(org, token))
    }

    /// The groups come from the operator's mapping, never from AWS.
    fn allows_system_groups(&self) -> bool {
        true
    }

    fn counters(&self) -> Vec<ProviderCounter> {
        vec![ProviderCounter {
            name: "guard_eks_sts_throttling",
            help: "STS answers that throttled guard (400 Throttling, 429)",
            value: self.throttled.clone(),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_error_codes_are_read_from_json_and_xml() {
        assert_eq!(
            error_code(br#"{"Error":{"Code":"Throttling","Message":"Rate exceeded","Type":"Sender"},"RequestId":"x"}"#).as_deref(),
            Some("Throttling")
        );
        assert_eq!(
            error_code(b"<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>").as_deref(),
            Some("SignatureDoesNotMatch")
        );
        assert_eq!(error_code(b"<html>bad gateway</html>"), None);
        assert!(is_throttling_code("Throttling") && is_throttling_code("ThrottlingException"));
        assert!(!is_throttling_code("ExpiredToken"));
    }
}
