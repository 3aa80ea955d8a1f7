//! The generic OpenID Connect provider (`oidc`): any issuer, with the
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

use std::path::PathBuf;
use std::time::Duration;

use guard_api::{AuthProvider, BearerToken};
use guard_auth::{BoxFuture, CheckError, Identity, Provider};

use super::verifier::{Claims, Verifier, VerifierConfig, string_claim, strings_claim};
use crate::http;

/// Options (`--oidc.*`).
#[derive(Debug, Clone, Default)]
pub struct OidcOptions {
    /// `--oidc.issuer-url`: the `iss` of the tokens (https).
    pub issuer_url: String,
    /// `--oidc.discovery-url`: where discovery is fetched, when not at the issuer URL.
    pub discovery_url: Option<String>,
    /// `--oidc.client-id`: the audience tokens must carry.
    pub client_id: String,
    /// `--oidc.username-claim`
    pub username_claim: String,
    /// `--oidc.username-prefix`
    pub username_prefix: Option<String>,
    /// `--oidc.groups-claim`
    pub groups_claim: Option<String>,
    /// `--oidc.groups-prefix`
    pub groups_prefix: Option<String>,
    /// `--oidc.required-claim key=value`
    pub required_claims: Vec<(String, String)>,
    /// `--oidc.ca-file`: CA of the issuer's HTTPS certificate.
    pub ca_file: Option<PathBuf>,
    /// Clock skew tolerated on `exp`, `nbf`, `iat`.
    pub leeway: Duration,
}

impl OidcOptions {
    /// Checks the options; messages name the flag.
    pub fn validate(&self) -> Result<(), String> {
        if self.issuer_url.trim().is_empty() {
            return Err("oidc is enabled: set --oidc.issuer-url".into());
        }
        if self.client_id.trim().is_empty() {
            return Err(
                "oidc is enabled: set --oidc.client-id (the audience of the tokens)".into(),
            );
        }
        check_https(&self.issuer_url, "--oidc.issuer-url")?;
        if let Some(d) = &self.discovery_url {
            check_https(d, "--oidc.discovery-url")?;
        }
        Ok(())
    }
}

/// https, or http on a loopback address (tests, local issuers).
pub fn check_https(url: &str, flag: &str) -> Result<reqwest::Url, String> {
    let parsed = http::base_url(url, flag)?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if parsed.scheme() != "https" && !loopback {
        return Err(format!("{flag} {url:?} must use https"));
    }
    Ok(parsed)
}

/// The generic OIDC provider.
pub struct OidcProvider {
    options: OidcOptions,
    verifier: Verifier,
}

impl OidcProvider {
    /// Builds the provider; `client` is the shared one unless `--oidc.ca-file` is set.
    pub fn new(client: reqwest::Client, options: OidcOptions) -> Result<Self, String> {
        options.validate()?;
        let client = match &options.ca_file {
            Some(ca) => http::client_with_ca(ca).map_err(|e| e.to_string())?,
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
                discovery_url: check_https(discovery, "--oidc.discovery-url")?,
                issuers: vec![options.issuer_url.clone()],
                audience: Some(options.client_id.clone()),
                leeway: options.leeway,
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
    fn kind(&self) -> AuthProvider {
        AuthProvider::Oidc
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
}
