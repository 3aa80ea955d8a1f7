//! The OAuth 2.0 exchanges, through the `oauth2` crate over guard's shared
//! reqwest client: authorization code with PKCE, device code, refresh.

use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    DeviceAuthorizationUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardDeviceAuthorizationResponse, StandardRevocableToken, StandardTokenResponse,
    TokenResponse as _, TokenUrl,
};

use secrecy::ExposeSecret as _;

use super::loopback::Loopback;
use super::{CachedTokens, Endpoints, Grant, IdToken, LoginConfig};
use crate::ClientError;

/// The largest answer read from the identity provider.
const MAX_BODY: usize = 1 << 20;

/// The `id_token` of a token response.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;
type OidcClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A transport failure, for the `oauth2` crate (never holds a body).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct TransportError(String);

/// Why a refresh did not give a token.
pub(crate) enum RefreshError {
    /// The provider no longer accepts the refresh token: log in again.
    Rejected(String),
    /// Anything else: report it.
    Other(ClientError),
}

/// Sends one `oauth2` request through reqwest.
async fn send(
    http: &reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, TransportError> {
    let (parts, body) = request.into_parts();
    let response = guard_providers::http::send(
        http.request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body),
    )
    .await
    .map_err(|e| TransportError(guard_providers::http::describe(&e)))?;
    let mut builder = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = guard_providers::http::read_body(response, MAX_BODY)
        .await
        .map_err(|e| TransportError(e.to_string()))?;
    builder
        .body(body)
        .map_err(|e| TransportError(e.to_string()))
}

/// Maps an `oauth2` error to ours; never includes a response body.
fn token_error<T>(e: RequestTokenError<TransportError, T>) -> ClientError
where
    T: oauth2::ErrorResponse + std::fmt::Display + 'static,
{
    match e {
        RequestTokenError::ServerResponse(answer) => ClientError::Refused(answer.to_string()),
        RequestTokenError::Request(e) => ClientError::Unreachable(e.0),
        RequestTokenError::Parse(e, _) => ClientError::BadAnswer(format!("{}", e.path())),
        RequestTokenError::Other(e) => ClientError::BadAnswer(e),
    }
}

impl CachedTokens {
    fn from_response(response: &TokenResponse) -> Self {
        CachedTokens {
            id_token: response.extra_fields().id_token.clone(),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
        }
    }

    /// The ID token of a fresh answer, checked for the login's `nonce`.
    pub(crate) fn checked(&self, nonce: Option<&str>) -> Result<IdToken, ClientError> {
        let raw = self.id_token.as_deref().ok_or_else(|| {
            ClientError::BadAnswer(
                "no id_token in the answer (is `openid` among the scopes?)".into(),
            )
        })?;
        let token = IdToken::parse(raw).ok_or_else(|| {
            ClientError::BadAnswer("the id_token is not a JWT with an exp".into())
        })?;
        if let Some(expected) = nonce
            && token.nonce.as_deref() != Some(expected)
        {
            return Err(ClientError::BadAnswer(
                "the id_token's nonce does not match this login".into(),
            ));
        }
        Ok(token)
    }

    /// A refresh answer over the cached tokens: providers that do not
    /// rotate refresh tokens send none back.
    pub(crate) fn merged_with(&self, old: &CachedTokens) -> CachedTokens {
        CachedTokens {
            id_token: self.id_token.clone(),
            refresh_token: self
                .refresh_token
                .clone()
                .or_else(|| old.refresh_token.clone()),
        }
    }
}

/// The exchanges with one provider.
pub(crate) struct Flows<'a> {
    config: &'a LoginConfig,
    client: OidcClient,
    http: &'a reqwest::Client,
    notify: &'a (dyn Fn(&str) + Sync),
}

impl<'a> Flows<'a> {
    pub(crate) fn new(
        config: &'a LoginConfig,
        endpoints: &Endpoints,
        http: &'a reqwest::Client,
        notify: &'a (dyn Fn(&str) + Sync),
    ) -> Result<Self, ClientError> {
        let url = |what: &str, value: &str| {
            ClientError::BadAnswer(format!(
                "the discovery document's {what} {value} is not a URL"
            ))
        };
        let auth = AuthUrl::new(endpoints.authorization_endpoint.clone())
            .map_err(|_| url("authorization_endpoint", &endpoints.authorization_endpoint))?;
        let token = TokenUrl::new(endpoints.token_endpoint.clone())
            .map_err(|_| url("token_endpoint", &endpoints.token_endpoint))?;
        let device = match &endpoints.device_authorization_endpoint {
            Some(d) => Some(
                DeviceAuthorizationUrl::new(d.clone())
                    .map_err(|_| url("device_authorization_endpoint", d))?,
            ),
            None => None,
        };
        let mut client = oauth2::Client::new(ClientId::new(config.client_id.clone()))
            .set_auth_uri(auth)
            .set_token_uri(token)
            .set_device_authorization_url_option(device);
        if let Some(secret) = &config.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
            let methods = &endpoints.token_endpoint_auth_methods_supported;
            if !methods.is_empty()
                && !methods.iter().any(|m| m == "client_secret_basic")
                && methods.iter().any(|m| m == "client_secret_post")
            {
                client = client.set_auth_type(AuthType::RequestBody);
            }
        }
        Ok(Flows {
            config,
            client,
            http,
            notify,
        })
    }

    fn scopes(&self) -> Vec<Scope> {
        std::iter::once("openid")
            .chain(
                self.config
                    .scopes
                    .iter()
                    .map(String::as_str)
                    .filter(|s| *s != "openid"),
            )
            .map(|s| Scope::new(s.to_owned()))
            .collect()
    }

    /// Trades a refresh token for new tokens.
    pub(crate) async fn refresh(&self, refresh_token: &str) -> Result<CachedTokens, RefreshError> {
        let token = RefreshToken::new(refresh_token.to_owned());
        let http = |r| send(self.http, r);
        match self
            .client
            .exchange_refresh_token(&token)
            .request_async(&http)
            .await
        {
            Ok(response) => {
                let tokens = CachedTokens::from_response(&response);
                if tokens.id_token.is_none() {
                    return Err(RefreshError::Rejected(
                        "the refresh gave no ID token".into(),
                    ));
                }
                Ok(tokens)
            }
            Err(RequestTokenError::ServerResponse(answer))
                if *answer.error() == BasicErrorResponseType::InvalidGrant =>
            {
                Err(RefreshError::Rejected(answer.to_string()))
            }
            Err(e) => Err(RefreshError::Other(token_error(e))),
        }
    }

    /// Logs in; returns the tokens and the nonce the ID token must carry.
    pub(crate) async fn login(&self) -> Result<(CachedTokens, Option<String>), ClientError> {
        let device_offered = self.client.device_authorization_url().is_some();
        let grant = match self.config.grant {
            Grant::Auto if !self.config.open_browser && device_offered => Grant::Device,
            Grant::Auto => Grant::Browser,
            other => other,
        };
        match grant {
            Grant::Device if !device_offered => Err(ClientError::NoDeviceEndpoint(
                self.config.issuer.to_string(),
            )),
            Grant::Device => Ok((self.device().await?, None)),
            _ => {
                let (tokens, nonce) = self.browser().await?;
                Ok((tokens, Some(nonce)))
            }
        }
    }

    async fn browser(&self) -> Result<(CachedTokens, String), ClientError> {
        let loopback = Loopback::bind(self.config.listen, &self.config.redirect_host).await?;
        let redirect = RedirectUrl::new(loopback.redirect_uri().to_owned())
            .map_err(|e| ClientError::Login(format!("bad redirect URI: {e}")))?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random().secret().clone();
        let mut request = self
            .client
            .authorize_url(CsrfToken::new_random)
            .set_redirect_uri(std::borrow::Cow::Borrowed(&redirect))
            .add_scopes(self.scopes())
            .set_pkce_challenge(challenge)
            .add_extra_param("nonce", nonce.clone());
        for (name, value) in &self.config.auth_params {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        let (url, state) = request.url();
        (self.notify)(&format!(
            "Log in with your browser at: {url}\n(waiting for the redirect to {})",
            loopback.redirect_uri()
        ));
        if self.config.open_browser {
            let url = url.to_string();
            // The browser may take its time; the listener runs meanwhile.
            tokio::task::spawn_blocking(move || crate::browser::open(&url));
        }
        let code = tokio::time::timeout(
            self.config.login_timeout,
            loopback.wait_for_code(state.secret()),
        )
        .await
        .map_err(|_| ClientError::Timeout(self.config.login_timeout))??;
        let http = |r| send(self.http, r);
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .set_redirect_uri(std::borrow::Cow::Borrowed(&redirect))
            .request_async(&http)
            .await
            .map_err(token_error)?;
        Ok((CachedTokens::from_response(&response), nonce))
    }

    async fn device(&self) -> Result<CachedTokens, ClientError> {
        let http = |r| send(self.http, r);
        let request = self
            .client
            .exchange_device_code()
            .map_err(|e| ClientError::Login(e.to_string()))?
            .add_scopes(self.scopes());
        let details: StandardDeviceAuthorizationResponse =
            request.request_async(&http).await.map_err(token_error)?;
        let code = details.user_code().secret();
        match details.verification_uri_complete() {
            Some(complete) => (self.notify)(&format!(
                "To log in, open {} and check that it shows the code {code}\n(or open {} and enter {code})",
                complete.secret(),
                details.verification_uri().as_str()
            )),
            None => (self.notify)(&format!(
                "To log in, open {} and enter the code {code}",
                details.verification_uri().as_str()
            )),
        }
        let timeout = self.config.login_timeout.min(details.expires_in());
        let response = self
            .client
            .exchange_device_access_token(&details)
            .request_async(&http, tokio::time::sleep, Some(timeout))
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(ref answer)
                    if answer.error().to_string() == "expired_token" =>
                {
                    ClientError::Timeout(timeout)
                }
                other => token_error(other),
            })?;
        Ok(CachedTokens::from_response(&response))
    }
}
