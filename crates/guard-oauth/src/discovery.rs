//! The endpoints of an issuer, from its discovery document
//! (`ISSUER/.well-known/openid-configuration`).

use crate::OAuthError;
use crate::flows::read_capped;

/// The endpoints this client uses.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Endpoints {
    /// `issuer`: must equal the configured issuer.
    pub issuer: String,
    /// Where the browser is sent.
    pub authorization_endpoint: String,
    /// Where codes and refresh tokens are exchanged.
    pub token_endpoint: String,
    /// RFC 8628's endpoint, when the provider offers the device flow.
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    /// How the client may authenticate at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

impl Endpoints {
    /// Fetches and checks the discovery document of `issuer`.
    pub async fn discover(http: &reqwest::Client, issuer: &url::Url) -> Result<Self, OAuthError> {
        let fail = |reason: String| OAuthError::Discovery {
            issuer: issuer.to_string(),
            reason,
        };
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.as_str().trim_end_matches('/')
        );
        let response = http
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fail(crate::flows::describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(fail(format!("{url} answered {status}")));
        }
        let body = read_capped(response).await.map_err(fail)?;
        let mut endpoints: Endpoints = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("{url} is not a discovery document: {e}")))?;
        if endpoints.issuer.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
            return Err(fail(format!(
                "it names the issuer {}; pass exactly that",
                endpoints.issuer
            )));
        }
        // Azure AD's device endpoint, where discovery does not list it.
        if endpoints.device_authorization_endpoint.is_none()
            && let Some(base) = endpoints.token_endpoint.strip_suffix("/oauth2/v2.0/token")
        {
            endpoints.device_authorization_endpoint =
                Some(format!("{base}/oauth2/v2.0/devicecode"));
        }
        Ok(endpoints)
    }
}
