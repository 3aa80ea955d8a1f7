//! An issuer's discovery document (`ISSUER/.well-known/openid-configuration`,
//! OpenID Connect Discovery 1.0): the one reader for the server (keys and
//! token endpoint) and for guard-client's logins (authorization, token and
//! device endpoints).

use reqwest::Url;
use serde::Deserialize;

use crate::ProviderError;
use crate::http;

/// Largest discovery document read.
const MAX_DOCUMENT: usize = 1 << 20;

/// The fields of a discovery document either side of guard uses. Each side
/// checks that the ones it needs are present.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscoveryDocument {
    /// `issuer`: the `iss` of the issuer's tokens.
    pub issuer: String,
    /// Where the signing keys are (the server).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Where the browser is sent (logins).
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Where codes, refresh tokens and client credentials are exchanged.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// RFC 8628's endpoint, when the issuer offers the device flow.
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    /// How a client may authenticate at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

impl DiscoveryDocument {
    /// The document's address below `base` (with or without a trailing `/`).
    pub fn url(base: &Url) -> Result<Url, ProviderError> {
        let raw = format!(
            "{}/.well-known/openid-configuration",
            base.as_str().trim_end_matches('/')
        );
        Url::parse(&raw).map_err(|source| ProviderError::BadUrl {
            flag: "discovery URL",
            value: raw,
            source,
        })
    }

    /// Fetches the document below `base`. An error names the URL (no
    /// secret goes into it) and never holds the answer's body.
    pub async fn fetch(client: &reqwest::Client, base: &Url) -> Result<Self, ProviderError> {
        let url = Self::url(base)?;
        let response = http::send(
            client
                .get(url.clone())
                .header(reqwest::header::ACCEPT, "application/json"),
        )
        .await
        .map_err(|e| ProviderError::Transport(http::describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProviderError::Status {
                url: url.to_string(),
                status,
            });
        }
        http::read_json(response, MAX_DOCUMENT).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lives_below_the_issuer_path() {
        for (base, expected) in [
            (
                "https://login.microsoftonline.com/tenant/v2.0",
                "https://login.microsoftonline.com/tenant/v2.0/.well-known/openid-configuration",
            ),
            (
                "https://accounts.google.com/",
                "https://accounts.google.com/.well-known/openid-configuration",
            ),
        ] {
            let url = DiscoveryDocument::url(&Url::parse(base).unwrap()).unwrap();
            assert_eq!(url.as_str(), expected);
        }
    }

    #[test]
    fn only_the_issuer_is_required() {
        let doc: DiscoveryDocument = serde_json::from_str(
            r#"{"issuer":"https://i.example","jwks_uri":"https://i.example/k"}"#,
        )
        .unwrap();
        assert_eq!(doc.jwks_uri.as_deref(), Some("https://i.example/k"));
        assert!(doc.authorization_endpoint.is_none());
        assert!(serde_json::from_str::<DiscoveryDocument>("{}").is_err());
    }
}
