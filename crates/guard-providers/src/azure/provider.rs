//! The server side of `azure` (Azure AD, Entra ID): the bearer token is an Azure
//! AD ID or access token of the tenant (what `kubelogin` obtains).
//!
//! * Verified against the tenant's keys (discovery at
//!   `LOGIN/TENANT/v2.0`); both v2 (`LOGIN/TENANT/v2.0`) and v1
//!   (`https://sts.windows.net/TENANT/`) issuers are accepted; the audience
//!   must be `--azure.client-id` unless `--azure.verify-clientID=false`.
//! * username = `upn`, else `unique_name`, else `email`, else the `oid` (B2B
//!   guests have no `upn`); uid = `oid`; extra `oid` as Go Guard sets it.
//! * Groups: by default always from Microsoft Graph
//!   (`POST /v1.0/users/OID/getMemberGroups` with a client-credential token
//!   of `--azure.client-id`/`--azure.client-secret`, cached until it
//!   expires). With `--azure.graph-call-on-overage-claim`, the token's
//!   `groups` claim is used and Graph only asked when the claim overflowed
//!   (`_claim_names.groups`). Group object ids, or display names with
//!   `--azure.use-group-uid=false` (`directoryObjects/getByIds`).
//!
//! Only the `client-credential` auth mode is supported; `aks`, `arc`, `obo`,
//! `passthrough` and PoP tokens are refused at start-up.

use std::collections::BTreeMap;
use std::time::Duration;

use guard_api::BearerToken;
use guard_auth::{BoxFuture, CheckError, Identity, Provider};
use reqwest::Url;
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::options::{AzureOptions, environment};
use crate::openid::verifier::{Claims, Verifier, VerifierConfig, string_claim, strings_claim};
use crate::{ProviderError, http};

/// The Azure AD provider.
pub struct AzureProvider {
    client: reqwest::Client,
    options: AzureOptions,
    verifier: Verifier,
    graph: Url,
    graph_token: http::CachedToken,
}

impl AzureProvider {
    /// Builds the provider on the shared client. `leeway` is the clock skew
    /// tolerated on `exp`, `nbf`, `iat`.
    pub fn new(
        client: reqwest::Client,
        options: AzureOptions,
        leeway: Duration,
    ) -> Result<Self, ProviderError> {
        options.validate()?;
        let (_, graph, _) = environment(&options.environment)?;
        let issuers = options.token_issuers()?;
        let discovery = options.discovery_url.as_deref().unwrap_or(&issuers.v2);
        let discovery_url = http::https_url(discovery, "--azure.discovery-url")?;
        let verifier = Verifier::new(
            client.clone(),
            VerifierConfig {
                name: "Azure AD",
                discovery_url,
                issuers: vec![issuers.v2, issuers.v1],
                audience: options.verify_client_id.then(|| options.client_id.clone()),
                leeway,
            },
        );
        let graph = http::base_url(
            options.graph_url.as_deref().unwrap_or(graph),
            "--azure.graph-url",
        )?;
        Ok(AzureProvider {
            client,
            options,
            verifier,
            graph,
            graph_token: http::CachedToken::default(),
        })
    }

    async fn check_token(&self, token: &BearerToken) -> Result<Identity, CheckError> {
        let claims = self.verifier.verify(token.expose()).await?;
        let oid = string_claim(&claims, "oid")
            .ok_or_else(|| CheckError::Denied("the Azure AD token has no oid claim".into()))?
            .to_owned();
        let username = ["upn", "unique_name", "email"]
            .iter()
            .find_map(|c| string_claim(&claims, c))
            .unwrap_or(&oid)
            .to_owned();
        let groups = self.groups(&claims, &oid).await?;
        Ok(Identity {
            username,
            uid: oid.clone(),
            groups,
            extra: BTreeMap::from([("oid".to_owned(), vec![oid])]),
        })
    }

    async fn groups(&self, claims: &Claims, oid: &str) -> Result<Vec<String>, CheckError> {
        let o = &self.options;
        let in_token = claims
            .contains_key("groups")
            .then(|| strings_claim(claims, "groups"));
        let overage = claims
            .get("_claim_names")
            .and_then(|n| n.get("groups"))
            .is_some();
        if o.skip_group_membership_resolution {
            return Ok(in_token.unwrap_or_default());
        }
        if o.graph_call_on_overage_claim {
            if let Some(groups) = in_token {
                return Ok(groups);
            }
            if !overage {
                return Ok(Vec::new());
            }
            if string_claim(claims, "idtyp").is_some_and(|t| t.eq_ignore_ascii_case("app")) {
                return Err(CheckError::Unavailable(
                    "service principals in more than 200 groups are not supported".into(),
                ));
            }
        }
        let ids = self.member_groups(oid).await?;
        if o.use_group_uid {
            Ok(ids)
        } else {
            self.group_names(&ids).await
        }
    }

    async fn graph_token(&self) -> Result<String, CheckError> {
        self.graph_token
            .get_or_fetch(|| async {
                let endpoint = self.verifier.token_endpoint().await?;
                let scope = format!("{}.default", self.graph.as_str());
                let secret = self
                    .options
                    .client_secret()
                    .map(|s| s.expose_secret())
                    .unwrap_or_default();
                let form = [
                    ("client_id", self.options.client_id.as_str()),
                    ("client_secret", secret),
                    ("scope", scope.as_str()),
                    ("grant_type", "client_credentials"),
                ];
                http::oauth_token(
                    &self.client,
                    &endpoint,
                    &form,
                    "Azure AD",
                    "check --azure.client-id and the secret",
                )
                .await
            })
            .await
    }

    async fn graph_post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<T, CheckError> {
        let access = self.graph_token().await?;
        let url = self
            .graph
            .join(path)
            .map_err(|_| CheckError::Unavailable("invalid Graph URL".into()))?;
        let response = http::send(self.client.post(url).bearer_auth(access).json(&body))
            .await
            .map_err(|e| http::transport("Microsoft Graph", e))?;
        let status = response.status();
        if !status.is_success() {
            let refused = || {
                format!(
                    "Microsoft Graph refused guard's application ({status}): grant it GroupMember.Read.All"
                )
            };
            // The user's token was valid: Graph refusing guard is an outage.
            return Err(
                match http::refusal("Microsoft Graph", response, refused).await {
                    CheckError::Denied(m) => CheckError::Unavailable(m),
                    other => other,
                },
            );
        }
        http::json("Microsoft Graph", response).await
    }

    async fn member_groups(&self, oid: &str) -> Result<Vec<String>, CheckError> {
        #[derive(Deserialize)]
        struct Ids {
            value: Vec<String>,
        }
        if oid.is_empty() || !oid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(CheckError::Denied("invalid oid claim".into()));
        }
        let ids: Ids = self
            .graph_post(
                &format!("v1.0/users/{oid}/getMemberGroups"),
                serde_json::json!({"securityEnabledOnly": false}),
            )
            .await?;
        Ok(ids.value)
    }

    async fn group_names(&self, ids: &[String]) -> Result<Vec<String>, CheckError> {
        #[derive(Deserialize)]
        struct Objects {
            value: Vec<Object>,
        }
        #[derive(Deserialize)]
        struct Object {
            id: String,
            #[serde(rename = "displayName")]
            display_name: Option<String>,
        }
        let mut names = BTreeMap::new();
        for batch in ids.chunks(500) {
            let objects: Objects = self
                .graph_post(
                    "v1.0/directoryObjects/getByIds",
                    serde_json::json!({"ids": batch, "types": ["group"]}),
                )
                .await?;
            names.extend(
                objects
                    .value
                    .into_iter()
                    .filter_map(|o| Some((o.id, o.display_name?))),
            );
        }
        Ok(ids.iter().filter_map(|id| names.get(id).cloned()).collect())
    }
}

impl Provider for AzureProvider {
    fn name(&self) -> &'static str {
        super::NAME
    }

    fn may_be_mine(&self, token: &BearerToken) -> bool {
        self.verifier.may_have_issued(token.expose())
    }

    fn check<'a>(
        &'a self,
        _org: &'a str,
        token: &'a BearerToken,
    ) -> BoxFuture<'a, Result<Identity, CheckError>> {
        Box::pin(self.check_token(token))
    }

    fn allows_system_groups(&self) -> bool {
        self.options.allow_system_groups
    }
}
