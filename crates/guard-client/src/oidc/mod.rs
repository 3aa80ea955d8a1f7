//! The user's side of OpenID Connect, for `guard get token -o
//! google|azure|oidc`: an ID token for the user, from the cache when it is
//! still valid, else by a silent refresh, else by logging in. Each
//! provider's issuer, scopes and parameters are its [`Preset`].
//!
//! Logging in is the OAuth 2.0 authorization-code flow with PKCE and a
//! loopback redirect on 127.0.0.1 (RFC 8252), or the device-code flow (RFC
//! 8628) on machines without a browser. The endpoints come from the issuer's
//! discovery document, so one code path serves Google, Azure AD (Entra ID)
//! and any OpenID Connect provider. The protocol itself is the `oauth2`
//! crate's; this crate adds discovery, the loopback listener and the cache.
//!
//! The ID token is not verified here: it comes straight from the token
//! endpoint over TLS, and the guard server verifies it on every review.
//! Only its `exp` (when to refresh) and `nonce` (that the answer belongs to
//! this login) are read.

mod cache;
mod discovery;
mod flows;
mod id_token;
mod loopback;
mod presets;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub use cache::{CachedTokens, TokenCache};
pub use discovery::Endpoints;
pub use id_token::IdToken;
pub use presets::{LoginSettings, Preset};
use secrecy::SecretString;

use crate::ClientError;

/// How to log in when no cached or refreshable token exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The browser flow when a browser can be opened (or the issuer has no
    /// device endpoint), else the device flow.
    Auto,
    /// Authorization code with PKCE and a loopback redirect.
    Browser,
    /// Device authorization grant: a code to enter on another device.
    Device,
}

/// Everything a login needs.
#[derive(Debug, Clone)]
pub struct LoginConfig {
    /// The issuer (discovery is at `ISSUER/.well-known/openid-configuration`).
    pub issuer: url::Url,
    /// The OAuth client ID (the ID token's audience).
    pub client_id: String,
    /// The client secret, for providers that want one from installed
    /// applications (Google); public clients have none.
    pub client_secret: Option<SecretString>,
    /// Scopes to ask for (`openid` is always added).
    pub scopes: Vec<String>,
    /// Extra parameters on the authorization request (Google:
    /// `access_type=offline`, `prompt=consent`).
    pub auth_params: Vec<(String, String)>,
    /// How to log in.
    pub grant: Grant,
    /// Where the loopback listener binds (port 0: any free port).
    pub listen: SocketAddr,
    /// Host name in the redirect URI (`127.0.0.1`, or `localhost` where the
    /// provider only registers that).
    pub redirect_host: String,
    /// Whether to start the user's browser (the URL is printed either way).
    pub open_browser: bool,
    /// How long to wait for the user to finish logging in.
    pub login_timeout: Duration,
    /// Directory of the token cache.
    pub cache_dir: PathBuf,
    /// A cached ID token is reused only if it is valid this much longer.
    pub min_validity: Duration,
}

/// Gets ID tokens for one issuer and client, telling the user what happens
/// through `notify` (one line each; never a token).
pub struct Session<'a> {
    config: &'a LoginConfig,
    http: reqwest::Client,
    notify: &'a (dyn Fn(&str) + Sync),
}

impl<'a> Session<'a> {
    /// A session over `http` (which should not follow redirects and should
    /// time out).
    pub fn new(
        config: &'a LoginConfig,
        http: reqwest::Client,
        notify: &'a (dyn Fn(&str) + Sync),
    ) -> Self {
        Session {
            config,
            http,
            notify,
        }
    }

    /// A valid ID token: the cached one, a refreshed one, or a new login.
    /// The cache is locked meanwhile, so concurrent kubectl calls log in
    /// once.
    pub async fn id_token(&self) -> Result<IdToken, ClientError> {
        let cache = TokenCache::for_client(
            &self.config.cache_dir,
            self.config.issuer.as_str(),
            &self.config.client_id,
            &self.config.scopes,
        );
        let _lock = cache.lock()?;
        let cached = cache.load(self.notify);
        if let Some(token) = cached.id_token.as_deref().and_then(IdToken::parse)
            && token.expires > SystemTime::now() + self.config.min_validity
        {
            return Ok(token);
        }
        let endpoints = Endpoints::discover(&self.http, &self.config.issuer).await?;
        let flows = flows::Flows::new(self.config, &endpoints, &self.http, self.notify)?;
        if let Some(refresh_token) = cached.refresh_token.as_deref() {
            match flows.refresh(refresh_token).await {
                Ok(tokens) => {
                    let token = tokens.checked(None)?;
                    cache.save(&tokens.merged_with(&cached))?;
                    return Ok(token);
                }
                Err(flows::RefreshError::Rejected(why)) => (self.notify)(&format!(
                    "the saved login is no longer valid ({why}); logging in again"
                )),
                Err(flows::RefreshError::Other(e)) => return Err(e),
            }
        }
        let (tokens, nonce) = flows.login().await?;
        let token = tokens.checked(nonce.as_deref())?;
        cache.save(&tokens)?;
        Ok(token)
    }
}
