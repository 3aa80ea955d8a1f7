//! The server side of `eks`: a token is validated (see [`super::token`]),
//! then its presigned URL is called with `x-k8s-aws-id` set to the cluster
//! ID of the client certificate (`CN`), so STS's signature check also proves
//! the token was made for this cluster. The caller's ARN is mapped to a
//! username and groups through the mapping file.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use guard_api::BearerToken;
use guard_auth::reload::Reloading;
use guard_auth::{BoxFuture, CheckError, ErrorChain, Identity, Provider};
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
        if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
            // Bad signature, expired, unknown key, wrong cluster id.
            return Err(CheckError::Denied(format!(
                "AWS STS refused the token ({status})"
            )));
        }
        if !status.is_success() {
            return Err(http::classify(
                "AWS STS",
                status,
                response.headers(),
                String::new,
            ));
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
        let caller = Caller {
            arn: r.arn,
            canonical_arn,
            account: r.account,
            user_id: r.user_id,
            session_name,
        };
        let mapping = self
            .mapping
            .as_ref()
            .map(|m| m.current())
            .unwrap_or_default();
        let (username, groups) = mapping.map(&caller).ok_or_else(|| {
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
            ("accessKeyId".to_owned(), vec![token.access_key_id]),
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

impl Provider for EksProvider {
    fn name(&self) -> &'static str {
        super::NAME
    }

    fn check<'a>(
        &'a self,
        org: &'a str,
        token: &'a BearerToken,
    ) -> BoxFuture<'a, Result<Identity, CheckError>> {
        Box::pin(self.check_token(org, token))
    }
}
