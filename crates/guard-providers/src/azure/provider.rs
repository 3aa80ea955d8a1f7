//! The server side of `azure` (Azure AD, Entra ID): the bearer token is an Azure
//! AD ID or access token of the tenant (what `kubelogin` obtains).
//!
//! * Verified against the tenant's keys (discovery at
//!   `LOGIN/TENANT/v2.0`); both v2 (`LOGIN/TENANT/v2.0`) and v1
//!   (`https://sts.windows.net/TENANT/`) issuers are accepted; the audience
//!   must be `--azure.client-id` unless `--azure.verify-clientID=false`.
//! * username = `upn`, else `unique_name`, else `email`, else the `oid` (B2B
//!   guests have no `upn`); uid = `oid`; extra `oid` as Go Guard sets it.
//! * Groups (`--azure.auth-mode`): from the token's `groups` claim with
//!   `--azure.graph-call-on-overage-claim` (Graph only when the claim
//!   overflowed: `_claim_names.groups` with a `_claim_sources` endpoint), and
//!   otherwise from Microsoft Graph (`POST /v1.0/users/OID/getMemberGroups`)
//!   with a token that depends on the mode:
//!   - `client-credential`: guard's own (`--azure.client-id`/`--azure.client-secret`),
//!     cached until it expires; group names instead of ids with
//!     `--azure.use-group-uid=false` (`directoryObjects/getByIds`);
//!   - `obo`: one obtained on behalf of the user (OAuth 2.0 on-behalf-of,
//!     the user's token as `assertion`); group ids;
//!   - `aks`: one the AKS token URL returns for the user's token
//!     (`POST {"tenantID","accessToken"}`); group ids;
//!   - `passthrough`: none, Graph is never called;
//!   - `arc`: no Graph either: the regional Arc on-behalf-of service
//!     (`POST https://REGION.obo.arc.azure.com:8084/RESOURCE/getMemberGroups`,
//!     `{"tenantID","accessToken"}`) with the Arc agent's managed identity
//!     token (`http://127.0.0.1:8421/metadata/identity/oauth2/token`).
//! * PoP tokens (`--azure.enable-pop`): see [`super::pop`].
//!
//! Answers: a token Azure AD refuses to exchange (`invalid_grant`) or the
//! AKS token URL refuses (401, 403) is a plain denial; any outage (5xx, 429,
//! timeout, no connection) or a refusal of guard's own credentials is an
//! error the API server does not cache; so is any refusal of the Arc
//! on-behalf-of service, which does not tell a bad user token from a bad
//! managed identity.

use std::collections::BTreeMap;
use std::time::Duration;

use guard_api::BearerToken;
use guard_auth::{BoxFuture, CheckError, Identity, Provider};
use reqwest::Url;
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::options::{AuthMode, AzureOptions, environment};
use super::pop::{self, PopVerifier};

/// The Arc agent's managed identity endpoint, on the node's loopback.
const ARC_MSI: &str = "http://127.0.0.1:8421/metadata/identity/oauth2/token?api-version=2018-02-01";
use crate::openid::verifier::{Claims, Verifier, VerifierConfig, string_claim, strings_claim};
use crate::{ProviderError, http};

/// The Azure AD provider.
pub struct AzureProvider {
    client: reqwest::Client,
    options: AzureOptions,
    verifier: Verifier,
    graph: Url,
    access: GraphAccess,
    pop: Option<PopVerifier>,
}

/// Where the Microsoft Graph token comes from.
enum GraphAccess {
    /// client-credential: guard's application's own token, reused until it
    /// expires.
    Application(http::CachedToken),
    /// obo: a token for each review, on behalf of its user.
    OnBehalfOf,
    /// aks: a token for each review, from the AKS token URL.
    Aks(Url),
    /// arc: no Graph; the Arc on-behalf-of service, called with the Arc
    /// agent's managed identity token (reused until it expires).
    Arc {
        msi: Url,
        member_groups: Url,
        token: http::CachedToken,
    },
    /// passthrough (or Graph switched off): none.
    None,
}

/// An error answer of Azure AD's token endpoint.
#[derive(Deserialize, Default)]
struct AadError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_codes: Vec<u64>,
    #[serde(default)]
    suberror: String,
}

/// AADSTS65001: the tenant has not consented to the application's
/// permission (sent as `invalid_grant`, suberror `consent_required`).
const AADSTS_CONSENT_REQUIRED: u64 = 65001;

/// The token of a token endpoint's answer.
#[derive(Deserialize)]
struct IssuedToken {
    access_token: String,
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
        let mode = options.mode()?;
        let access = match mode {
            _ if options.skip_group_membership_resolution => GraphAccess::None,
            AuthMode::ClientCredential => GraphAccess::Application(http::CachedToken::default()),
            AuthMode::OnBehalfOf => GraphAccess::OnBehalfOf,
            AuthMode::Aks => {
                let raw = options.aks_token_url.as_deref().unwrap_or_default();
                let mut url = http::https_url(raw, "--azure.aks-token-url")?;
                // The URL is used as given (https_url adds a trailing slash).
                if !raw.trim().ends_with('/') {
                    let path = url.path().trim_end_matches('/').to_owned();
                    url.set_path(&path);
                }
                GraphAccess::Aks(url)
            }
            AuthMode::Arc => GraphAccess::Arc {
                msi: http::https_url(
                    options.arc_msi_url.as_deref().unwrap_or(ARC_MSI),
                    "--azure.arc-msi-url",
                )?,
                member_groups: http::https_url(
                    &options.arc_member_groups_url(),
                    "--azure.arc-obo-url",
                )?,
                token: http::CachedToken::default(),
            },
            AuthMode::Passthrough => GraphAccess::None,
        };
        if !options.use_group_uid && matches!(mode, AuthMode::OnBehalfOf | AuthMode::Aks) {
            tracing::warn!(
                "--azure.use-group-uid=false is ignored with --azure.auth-mode={}: groups are object ids, as in Go Guard",
                mode.as_str()
            );
        }
        let pop = options.enable_pop.then(|| {
            PopVerifier::new(
                &options.pop_hostname,
                options.pop_token_validity_duration,
                leeway,
            )
        });
        Ok(AzureProvider {
            client,
            options,
            verifier,
            graph,
            access,
            pop,
        })
    }

    async fn check_token(&self, token: &BearerToken) -> Result<Identity, CheckError> {
        let unwrapped;
        let token = match &self.pop {
            Some(pop) => {
                unwrapped = pop.access_token(token.expose())?;
                unwrapped.as_str()
            }
            None => token.expose(),
        };
        let claims = self.verifier.verify(token).await?;
        let oid = string_claim(&claims, "oid")
            .ok_or_else(|| CheckError::Denied("the Azure AD token has no oid claim".into()))?
            .to_owned();
        let username = ["upn", "unique_name", "email"]
            .iter()
            .find_map(|c| string_claim(&claims, c))
            .unwrap_or(&oid)
            .to_owned();
        let groups = self.groups(&claims, &oid, token).await?;
        Ok(Identity {
            username,
            uid: oid.clone(),
            groups,
            extra: BTreeMap::from([("oid".to_owned(), vec![oid])]),
        })
    }

    async fn groups(
        &self,
        claims: &Claims,
        oid: &str,
        token: &str,
    ) -> Result<Vec<String>, CheckError> {
        let o = &self.options;
        if o.graph_call_on_overage_claim {
            match claim_groups(claims)? {
                ClaimGroups::Listed(groups) => return Ok(groups),
                ClaimGroups::None => return Ok(Vec::new()),
                ClaimGroups::Overage => {}
            }
            if string_claim(claims, "idtyp").is_some_and(|t| t.eq_ignore_ascii_case("app")) {
                return Err(CheckError::Unavailable(
                    "service principal with group membership exceeding 200 is not supported (see kubelogin's AKS limitations)".into(),
                ));
            }
            if o.skip_group_membership_resolution {
                // Go Guard's answer (passthrough): authenticated, no groups.
                tracing::warn!(
                    "azure: the token's groups overflowed (more than 200) and Graph is not called (--azure.auth-mode={}, --azure.skip-group-membership-resolution): the user gets no groups",
                    o.auth_mode
                );
                return Ok(Vec::new());
            }
        } else if o.skip_group_membership_resolution {
            return Ok(if claims.contains_key("groups") {
                strings_claim(claims, "groups")
            } else {
                Vec::new()
            });
        }
        let access = match &self.access {
            GraphAccess::Application(cached) => {
                cached.get_or_fetch(|| self.application_token()).await?
            }
            GraphAccess::OnBehalfOf => self.on_behalf_of(token).await?,
            GraphAccess::Aks(url) => self.aks_token(url, token).await?,
            GraphAccess::Arc {
                msi,
                member_groups,
                token: cached,
            } => {
                // Go Guard: only users' tokens go to the Arc service.
                if string_claim(claims, "idtyp").is_some_and(|t| !t.eq_ignore_ascii_case("user")) {
                    return Err(CheckError::Unavailable(
                        "overflowed groups (more than 200) of a service principal are not supported in arc mode".into(),
                    ));
                }
                let msi_token = cached.get_or_fetch(|| self.arc_msi_token(msi)).await?;
                return self
                    .arc_member_groups(member_groups, &msi_token, token)
                    .await;
            }
            GraphAccess::None => return Ok(Vec::new()),
        };
        let ids = self.member_groups(oid, &access).await?;
        if o.use_group_uid || !matches!(self.access, GraphAccess::Application(_)) {
            Ok(ids)
        } else {
            self.group_names(&ids, &access).await
        }
    }

    /// client-credential: guard's own Graph token and its lifetime.
    async fn application_token(&self) -> Result<(String, u64), CheckError> {
        let endpoint = self.verifier.token_endpoint().await?;
        let scope = self.graph_scope();
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
    }

    fn graph_scope(&self) -> String {
        format!("{}.default", self.graph.as_str())
    }

    /// obo: a Graph token on behalf of the user of `token`.
    async fn on_behalf_of(&self, token: &str) -> Result<String, CheckError> {
        let endpoint = self.verifier.token_endpoint().await?;
        let scope = self.graph_scope();
        let secret = self
            .options
            .client_secret()
            .map(|s| s.expose_secret())
            .unwrap_or_default();
        let form = [
            ("client_id", self.options.client_id.as_str()),
            ("client_secret", secret),
            ("assertion", token),
            ("requested_token_use", "on_behalf_of"),
            ("scope", scope.as_str()),
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ];
        let response = http::send(self.client.post(&endpoint).form(&form))
            .await
            .map_err(|e| http::transport("Azure AD", e))?;
        let status = response.status();
        if status.is_success() {
            let issued: IssuedToken = http::json("Azure AD", response).await?;
            return Ok(issued.access_token);
        }
        let body = http::read_body(response, http::MAX_ERROR_BODY)
            .await
            .unwrap_or_default();
        let error: AadError = serde_json::from_slice(&body).unwrap_or_default();
        let code = error
            .error_codes
            .first()
            .map(|c| format!(" AADSTS{c}"))
            .unwrap_or_default();
        // Azure AD's error codes are words of [a-z_]; anything else is not
        // repeated.
        let kind: String = error
            .error
            .chars()
            .filter(|c| c.is_ascii_lowercase() || *c == '_')
            .take(40)
            .collect();
        let what = format!("{status}, {kind}{code}");
        // Azure AD's words for "this user's token cannot be exchanged".
        // Missing consent is the tenant's setup, hence an outage: Azure AD
        // says it with invalid_grant too, and suberror consent_required.
        let consent_required = error.suberror == "consent_required"
            || error.error_codes.contains(&AADSTS_CONSENT_REQUIRED)
            || kind == "consent_required";
        let users_token =
            !consent_required && matches!(kind.as_str(), "invalid_grant" | "interaction_required");
        if users_token && status.is_client_error() {
            return Err(CheckError::Denied(format!(
                "Azure AD refused the on-behalf-of exchange of the user's token ({what})"
            )));
        }
        tracing::error!("Azure AD on-behalf-of request answered {what}");
        Err(if consent_required {
            CheckError::Unavailable(format!(
                "Azure AD refused guard's on-behalf-of request ({what}): the tenant has not consented to guard's application; grant it admin consent for GroupMember.Read.All (delegated)"
            ))
        } else if status.is_client_error() && status.as_u16() != 429 {
            CheckError::Unavailable(format!(
                "Azure AD refused guard's on-behalf-of request ({what}): check --azure.client-id and the secret"
            ))
        } else {
            CheckError::Unavailable(format!("Azure AD answered {status}"))
        })
    }

    /// arc: the managed identity token of the Arc agent for guard's
    /// application (`resource=--azure.client-id`) and its lifetime.
    async fn arc_msi_token(&self, msi: &Url) -> Result<(String, u64), CheckError> {
        const WHO: &str = "the Arc agent's managed identity endpoint";
        #[derive(Deserialize)]
        struct MsiToken {
            access_token: String,
            expires_on: Option<serde_json::Value>,
        }
        let mut url = msi.clone();
        // https_url added a trailing slash to the path.
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        url.query_pairs_mut()
            .append_pair("resource", self.options.client_id.trim());
        let response = http::send(self.client.get(url).header("Metadata", "true"))
            .await
            .map_err(|e| http::transport(WHO, e))?;
        let status = response.status();
        if !status.is_success() {
            tracing::error!("{WHO} answered {status}");
            return Err(CheckError::Unavailable(format!("{WHO} answered {status}")));
        }
        let token: MsiToken = http::json(WHO, response).await?;
        let expires_on = match token.expires_on {
            Some(serde_json::Value::String(s)) => s.parse::<u64>().ok(),
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            _ => None,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let lifetime = expires_on.map_or(3600, |e| e.saturating_sub(now));
        Ok((token.access_token, lifetime))
    }

    /// arc: the user's groups from the Arc on-behalf-of service. Retried
    /// once on 503 and 504, as Go Guard does. Any failure is an outage:
    /// the service's refusals do not say whether the user's token or
    /// guard's identity was refused.
    async fn arc_member_groups(
        &self,
        url: &Url,
        msi_token: &str,
        token: &str,
    ) -> Result<Vec<String>, CheckError> {
        const WHO: &str = "the Arc on-behalf-of service";
        #[derive(Deserialize)]
        struct Ids {
            value: Vec<String>,
        }
        let mut url = url.clone();
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        let body = serde_json::json!({
            "tenantID": self.options.tenant_id.trim(),
            "accessToken": token,
        });
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = http::send(
                self.client
                    .post(url.clone())
                    .bearer_auth(msi_token)
                    .json(&body),
            )
            .await
            .map_err(|e| http::transport(WHO, e))?;
            let status = response.status();
            if status.is_success() {
                let ids: Ids = http::json(WHO, response).await?;
                return Ok(ids.value);
            }
            if status == reqwest::StatusCode::UNAUTHORIZED
                && let GraphAccess::Arc { token: cached, .. } = &self.access
            {
                // The managed identity's token was refused: the next
                // review gets a new one.
                cached.forget(msi_token).await;
            }
            if attempt == 1 && matches!(status.as_u16(), 503 | 504) {
                tracing::warn!("{WHO} answered {status}; asking once more");
                continue;
            }
            tracing::error!("{WHO} answered {status}");
            return Err(CheckError::Unavailable(format!("{WHO} answered {status}")));
        }
    }

    /// aks: the Graph token the AKS token URL gives for `token`.
    async fn aks_token(&self, url: &Url, token: &str) -> Result<String, CheckError> {
        const WHO: &str = "the AKS token URL";
        let body = serde_json::json!({
            "tenantID": self.options.tenant_id.trim(),
            "accessToken": token,
        });
        let response = http::send(self.client.post(url.clone()).json(&body))
            .await
            .map_err(|e| http::transport(WHO, e))?;
        let status = response.status();
        if status.is_success() {
            let issued: IssuedToken = http::json(WHO, response).await?;
            return Ok(issued.access_token);
        }
        if matches!(status.as_u16(), 401 | 403) {
            return Err(CheckError::Denied(format!(
                "{WHO} refused to exchange the user's token ({status})"
            )));
        }
        tracing::error!("{WHO} answered {status}");
        Err(CheckError::Unavailable(format!("{WHO} answered {status}")))
    }

    async fn graph_post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: serde_json::Value,
        access: &str,
    ) -> Result<T, CheckError> {
        let url = self
            .graph
            .join(path)
            .map_err(|_| CheckError::Unavailable("invalid Graph URL".into()))?;
        let response = http::send(self.client.post(url).bearer_auth(access).json(&body))
            .await
            .map_err(|e| http::transport("Microsoft Graph", e))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED
            && let GraphAccess::Application(cached) = &self.access
        {
            // guard's own token was refused: the next review gets a new one.
            cached.forget(access).await;
        }
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

    async fn member_groups(&self, oid: &str, access: &str) -> Result<Vec<String>, CheckError> {
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
                access,
            )
            .await?;
        Ok(ids.value)
    }

    async fn group_names(&self, ids: &[String], access: &str) -> Result<Vec<String>, CheckError> {
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
                    access,
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
        match &self.pop {
            Some(_) => pop::unverified_access_token(token.expose())
                .is_some_and(|at| self.verifier.may_have_issued(&at)),
            None => self.verifier.may_have_issued(token.expose()),
        }
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

/// What the token's claims say about the user's groups
/// (`--azure.graph-call-on-overage-claim`), read as Go Guard reads them.
enum ClaimGroups {
    /// The `groups` claim.
    Listed(Vec<String>),
    /// No groups claim and no overage indicator: no groups.
    None,
    /// The groups overflowed: `_claim_names.groups` names a
    /// `_claim_sources` entry with an endpoint.
    Overage,
}

fn claim_groups(claims: &Claims) -> Result<ClaimGroups, CheckError> {
    if claims.contains_key("groups") {
        return Ok(ClaimGroups::Listed(strings_claim(claims, "groups")));
    }
    let Some(source) = claims
        .get("_claim_names")
        .and_then(|n| n.get("groups"))
        .and_then(|s| s.as_str())
    else {
        return Ok(ClaimGroups::None);
    };
    let endpoint = claims
        .get("_claim_sources")
        .and_then(|s| s.get(source))
        .ok_or_else(|| {
            CheckError::Denied("the token's _claim_names.groups has no _claim_sources entry".into())
        })?
        .get("endpoint")
        .and_then(|e| e.as_str())
        .unwrap_or_default();
    Ok(if endpoint.is_empty() {
        ClaimGroups::None
    } else {
        ClaimGroups::Overage
    })
}
