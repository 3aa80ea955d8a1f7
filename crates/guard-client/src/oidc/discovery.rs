//! The endpoints of an issuer, from its discovery document, read with the
//! same reader the guard server uses
//! ([`guard_providers::openid::DiscoveryDocument`]).

use guard_providers::openid::DiscoveryDocument;

use crate::ClientError;

/// The endpoints this client uses.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Where the browser is sent.
    pub authorization_endpoint: String,
    /// Where codes and refresh tokens are exchanged.
    pub token_endpoint: String,
    /// RFC 8628's endpoint, when the provider offers the device flow.
    pub device_authorization_endpoint: Option<String>,
    /// How the client may authenticate at the token endpoint.
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

impl Endpoints {
    /// Fetches and checks the discovery document of `issuer`.
    pub async fn discover(http: &reqwest::Client, issuer: &url::Url) -> Result<Self, ClientError> {
        let document = DiscoveryDocument::fetch(http, issuer)
            .await
            .map_err(|source| ClientError::Discovery {
                issuer: issuer.to_string(),
                source: Box::new(source),
            })?;
        Self::from_document(issuer, document)
    }

    fn from_document(issuer: &url::Url, document: DiscoveryDocument) -> Result<Self, ClientError> {
        if document.issuer.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
            return Err(ClientError::IssuerMismatch {
                issuer: issuer.to_string(),
                named: document.issuer,
            });
        }
        let missing = |field: &str| {
            ClientError::BadAnswer(format!("the discovery document of {issuer} has no {field}"))
        };
        let authorization_endpoint = document
            .authorization_endpoint
            .ok_or_else(|| missing("authorization_endpoint"))?;
        let token_endpoint = document
            .token_endpoint
            .ok_or_else(|| missing("token_endpoint"))?;
        // Azure AD's device endpoint, where discovery does not list it.
        let device_authorization_endpoint = document.device_authorization_endpoint.or_else(|| {
            token_endpoint
                .strip_suffix("/oauth2/v2.0/token")
                .map(|base| format!("{base}/oauth2/v2.0/devicecode"))
        });
        Ok(Endpoints {
            authorization_endpoint,
            token_endpoint,
            device_authorization_endpoint,
            token_endpoint_auth_methods_supported: document.token_endpoint_auth_methods_supported,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(json: serde_json::Value) -> DiscoveryDocument {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn azure_gets_its_device_endpoint_and_other_issuers_are_refused() {
        let issuer = url::Url::parse("https://login.microsoftonline.com/t/v2.0").unwrap();
        let doc = document(serde_json::json!({
            "issuer": "https://login.microsoftonline.com/t/v2.0",
            "authorization_endpoint": "https://login.microsoftonline.com/t/oauth2/v2.0/authorize",
            "token_endpoint": "https://login.microsoftonline.com/t/oauth2/v2.0/token",
        }));
        let e = Endpoints::from_document(&issuer, doc.clone()).unwrap();
        assert_eq!(
            e.device_authorization_endpoint.as_deref(),
            Some("https://login.microsoftonline.com/t/oauth2/v2.0/devicecode")
        );
        let other = url::Url::parse("https://login.microsoftonline.com/u/v2.0").unwrap();
        assert!(matches!(
            Endpoints::from_document(&other, doc),
            Err(ClientError::IssuerMismatch { .. })
        ));
        let no_auth =
            document(serde_json::json!({"issuer": "https://login.microsoftonline.com/t/v2.0"}));
        let e = Endpoints::from_document(&issuer, no_auth)
            .unwrap_err()
            .to_string();
        assert!(e.contains("authorization_endpoint"), "{e}");
    }
}
