//! The server side of `oidc`: any OpenID Connect issuer, with the
//! semantics of kube-apiserver's own `--oidc-*` flags (Kubernetes
//! documentation, *Authenticating*, "OpenID Connect Tokens"):
//!
//! * `--oidc.username-claim` (default `sub`); a claim other than `email` is
//!   prefixed with `ISSUER_URL#` unless `--oidc.username-prefix` is given;
//!   `-` means no prefix. With `email`, an `email_verified` claim, when
//!   present, must be true.
//! * `--oidc.groups-claim` (a string or a list of strings), each group
//!   prefixed with `--oidc.groups-prefix`.
//! * `--oidc.required-claim key=value`: every one must be present and equal.

use std::time::Duration;

use guard_api::BearerToken;
use guard_auth::{BoxFuture, CheckError, Identity, Provider};

use super::options::{FLAG_CA_FILE, OidcOptions};
use crate::openid::verifier::{Claims, Verifier, VerifierConfig, string_claim, strings_claim};
use crate::{ProviderError, http};

/// The generic OIDC provider.
pub struct OidcProvider {
    options: OidcOptions,
    verifier: Verifier,
}

impl OidcProvider {
    /// Builds the provider; `client` is the shared one unless `--oidc.ca-file`
    /// is set. `leeway` is the clock skew tolerated on `exp`, `nbf`, `iat`.
    pub fn new(
        client: reqwest::Client,
        options: OidcOptions,
        leeway: Duration,
    ) -> Result<Self, ProviderError> {
        options.validate()?;
        let client = match &options.ca_file {
            Some(ca) => http::client_with_ca(FLAG_CA_FILE, ca)?,
            None => client,
        };
        let discovery = options
            .discovery_url
            .as_deref()
            .unwrap_or(&options.issuer_url);
        let verifier = Verifier::new(
            client,
            VerifierConfig {
                name: "OIDC",
                discovery_url: http::https_url(discovery, "--oidc.discovery-url")?,
                issuers: vec![options.issuer_url.clone()],
                audience: Some(options.client_id.clone()),
                leeway,
            },
        );
        Ok(OidcProvider { options, verifier })
    }

    fn identity(&self, claims: &Claims) -> Result<Identity, CheckError> {
        let o = &self.options;
        for (key, value) in &o.required_claims {
            if string_claim(claims, key) != Some(value.as_str()) {
                return Err(CheckError::Denied(format!(
                    "required claim {key}={value} not met"
                )));
            }
        }
        let claim = o.username_claim.as_str();
        let name = string_claim(claims, claim)
            .ok_or_else(|| CheckError::Denied(format!("the token has no {claim} claim")))?;
        if claim == "email"
            && let Some(verified) = claims.get("email_verified")
            && verified.as_bool() != Some(true)
        {
            return Err(CheckError::Denied("email_verified is not true".into()));
        }
        let prefix = match o.username_prefix.as_deref() {
            Some("-") => String::new(),
            Some(p) => p.to_owned(),
            None if claim == "email" => String::new(),
            None => format!("{}#", o.issuer_url),
        };
        let groups = match &o.groups_claim {
            Some(g) => strings_claim(claims, g)
                .into_iter()
                .map(|group| format!("{}{group}", o.groups_prefix.as_deref().unwrap_or_default()))
                .collect(),
            None => Vec::new(),
        };
        Ok(Identity {
            username: format!("{prefix}{name}"),
            uid: string_claim(claims, "sub").unwrap_or_default().to_owned(),
            groups,
            extra: Default::default(),
        })
    }
}

impl Provider for OidcProvider {
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
        Box::pin(async move {
            let claims = self.verifier.verify(token.expose()).await?;
            self.identity(&claims)
        })
    }

    fn allows_system_groups(&self) -> bool {
        self.options.allow_system_groups
    }
}
