//! Verifying OpenID Connect ID tokens (and Azure access tokens): discovery,
//! a cached JWKS, and the claim checks, with `jsonwebtoken` doing the
//! cryptography.
//!
//! * Discovery (`DISCOVERY/.well-known/openid-configuration`) is fetched on
//!   first use and retried on later reviews while it fails: an issuer that is
//!   down at start-up makes reviews unavailable, never crashes guard.
//! * The JWKS is cached; an unknown `kid` refreshes it (at most every 10 s),
//!   and it is refreshed every hour. A failed refresh keeps the old keys.
//! * Accepted: RS256/384/512, PS256/384/512, ES256/384 signed by a key of
//!   the JWKS of the matching type. `alg: none` and HMAC are refused.
//! * `iss` must be one of the expected issuers, `aud` must contain the
//!   audience (when one is configured), `exp`/`nbf`/`iat` are checked with a
//!   small leeway.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::DiscoveryDocument;
use crate::{ProviderError, http};
use guard_auth::CheckError;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Url;

/// Claims of a verified token.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// How often the key set is refreshed even when every `kid` is known.
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
/// The shortest interval between two fetches triggered by an unknown `kid`.
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(10);

/// What a verifier checks.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// Shown in messages (`OIDC`, `Google`, `Azure AD`).
    pub name: &'static str,
    /// Where discovery lives: `URL/.well-known/openid-configuration`.
    pub discovery_url: Url,
    /// Accepted `iss` values. Empty: the `issuer` of the discovery document.
    pub issuers: Vec<String>,
    /// `aud` must contain this; `None` skips the audience check.
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf`, `iat`.
    pub leeway: Duration,
}

#[derive(Default)]
struct State {
    issuer: Option<String>,
    jwks_uri: Option<Url>,
    token_endpoint: Option<String>,
    keys: HashMap<String, (DecodingKey, Option<Algorithm>, &'static str)>,
    fetched: Option<Instant>,
    /// Last refresh triggered by an unknown `kid` (rate limit).
    last_attempt: Option<Instant>,
}

/// A token verifier for one issuer.
pub struct Verifier {
    client: reqwest::Client,
    config: VerifierConfig,
    state: tokio::sync::RwLock<State>,
}

impl Verifier {
    /// A verifier; nothing is fetched until the first token.
    pub fn new(client: reqwest::Client, config: VerifierConfig) -> Self {
        Verifier {
            client,
            config,
            state: tokio::sync::RwLock::new(State::default()),
        }
    }

    /// The token endpoint from discovery (for client-credential grants).
    pub async fn token_endpoint(&self) -> Result<String, CheckError> {
        self.ensure_loaded().await?;
        self.state
            .read()
            .await
            .token_endpoint
            .clone()
            .ok_or_else(|| {
                CheckError::Unavailable(format!(
                    "{} discovery has no token_endpoint",
                    self.config.name
                ))
            })
    }

    /// Verifies `token`: a bad token is `Denied`, an unreachable issuer `Unavailable`.
    pub async fn verify(&self, token: &str) -> Result<Claims, CheckError> {
        let name = self.config.name;
        let denied = |why: String| CheckError::Denied(format!("{name} token rejected: {why}"));
        let (header, family) = read_header(token).map_err(denied)?;
        self.ensure_loaded().await?;
        let kid = header.kid.clone().unwrap_or_default();
        let (decoding_key, jwk_alg) = match self.key(&kid, family).await {
            Some(k) => k,
            None => {
                self.refresh_for_unknown_kid().await;
                self.key(&kid, family).await.ok_or_else(|| {
                    denied(format!(
                        "no {family} key with kid {kid:?} in the issuer's JWKS"
                    ))
                })?
            }
        };
        let issuers = {
            let state = self.state.read().await;
            if self.config.issuers.is_empty() {
                state.issuer.clone().into_iter().collect::<Vec<_>>()
            } else {
                self.config.issuers.clone()
            }
        };
        let checks = ClaimChecks {
            issuers: &issuers,
            audience: self.config.audience.as_deref(),
            leeway: self.config.leeway,
            now: SystemTime::now(),
        };
        check_signed(token, &header, &decoding_key, jwk_alg, &checks).map_err(denied)
    }

    async fn key(&self, kid: &str, family: &str) -> Option<(DecodingKey, Option<Algorithm>)> {
        let state = self.state.read().await;
        let matching =
            |(_, (_, _, f)): &(&String, &(DecodingKey, Option<Algorithm>, &'static str))| {
                *f == family
            };
        let found = if kid.is_empty() {
            // No kid: only unambiguous with a single key of the right type.
            let mut candidates = state.keys.iter().filter(matching);
            match (candidates.next(), candidates.next()) {
                (Some(one), None) => Some(one.1),
                _ => None,
            }
        } else {
            state.keys.get(kid).filter(|(_, _, f)| *f == family)
        };
        found.map(|(k, a, _)| (k.clone(), *a))
    }

    /// Loads discovery and keys if missing, or refreshes stale keys.
    async fn ensure_loaded(&self) -> Result<(), CheckError> {
        {
            let state = self.state.read().await;
            let fresh = state.fetched.is_some_and(|t| t.elapsed() < JWKS_MAX_AGE);
            if state.jwks_uri.is_some() && fresh {
                return Ok(());
            }
        }
        let mut state = self.state.write().await;
        if state.jwks_uri.is_none() {
            let name = self.config.name;
            let discovery = DiscoveryDocument::fetch(&self.client, &self.config.discovery_url)
                .await
                .map_err(|e| {
                    tracing::warn!("{name} discovery failed: {e}");
                    CheckError::Unavailable(match e {
                        ProviderError::Status { status, .. } => {
                            format!("{name} discovery answered {status}")
                        }
                        ProviderError::Transport(words) if words.starts_with("timed out") => {
                            format!("{name} timed out")
                        }
                        ProviderError::Transport(_) => format!("{name} cannot connect"),
                        _ => format!("{name} sent an unexpected answer"),
                    })
                })?;
            if !self.config.issuers.is_empty() && !self.config.issuers.contains(&discovery.issuer) {
                tracing::error!(
                    "{} discovery names issuer {:?}, expected one of {:?}",
                    self.config.name,
                    discovery.issuer,
                    self.config.issuers
                );
                return Err(CheckError::Unavailable(format!(
                    "{} discovery names another issuer",
                    self.config.name
                )));
            }
            let jwks_uri =
                Url::parse(discovery.jwks_uri.as_deref().unwrap_or_default()).map_err(|_| {
                    CheckError::Unavailable(format!(
                        "{} discovery has an invalid jwks_uri",
                        self.config.name
                    ))
                })?;
            state.issuer = Some(discovery.issuer);
            state.token_endpoint = discovery.token_endpoint;
            state.jwks_uri = Some(jwks_uri);
        }
        match self.fetch_keys(&mut state).await {
            Ok(()) => Ok(()),
            // Stale keys are better than none.
            Err(e) if !state.keys.is_empty() => {
                tracing::warn!(
                    "{} key refresh failed, keeping the old keys: {e}",
                    self.config.name
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn refresh_for_unknown_kid(&self) {
        let mut state = self.state.write().await;
        if state
            .last_attempt
            .is_some_and(|t| t.elapsed() < JWKS_MIN_REFRESH)
        {
            return;
        }
        state.last_attempt = Some(Instant::now());
        if let Err(e) = self.fetch_keys(&mut state).await {
            tracing::warn!("{} key refresh failed: {e}", self.config.name);
        }
    }

    async fn fetch_keys(&self, state: &mut State) -> Result<(), CheckError> {
        let name = self.config.name;
        let Some(uri) = state.jwks_uri.clone() else {
            return Err(CheckError::Unavailable(format!("{name} keys unknown")));
        };
        let response = http::send(self.client.get(uri))
            .await
            .map_err(|e| http::transport(name, e))?;
        if !response.status().is_success() {
            return Err(CheckError::Unavailable(format!(
                "{name} JWKS answered {}",
                response.status()
            )));
        }
        let set: JwkSet = http::json(name, response).await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            use jsonwebtoken::jwk::AlgorithmParameters;
            let family = match jwk.algorithm {
                AlgorithmParameters::RSA(_) => "RSA",
                AlgorithmParameters::EllipticCurve(_) => "EC",
                _ => continue, // octet (HMAC) keys and others are never used
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok());
            keys.insert(
                jwk.common.key_id.clone().unwrap_or_default(),
                (key, alg, family),
            );
        }
        if keys.is_empty() {
            return Err(CheckError::Unavailable(format!(
                "{name} JWKS holds no usable key"
            )));
        }
        state.keys = keys;
        state.fetched = Some(Instant::now());
        Ok(())
    }
}

/// Reads a token's header and the key type its algorithm needs; refuses
/// `none`, HMAC and anything that is not a compact JWS. No I/O.
pub fn read_header(token: &str) -> Result<(jsonwebtoken::Header, &'static str), String> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| format!("not a signed JWT ({e})"))?;
    let family = match header.alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => "RSA",
        Algorithm::ES256 | Algorithm::ES384 => "EC",
        other => return Err(format!("algorithm {other:?} is not accepted")),
    };
    Ok((header, family))
}

/// The claim checks of one verification.
#[derive(Debug, Clone)]
pub struct ClaimChecks<'a> {
    /// Accepted `iss` values.
    pub issuers: &'a [String],
    /// `aud` must contain this; `None` skips the check.
    pub audience: Option<&'a str>,
    /// Clock skew tolerated on `exp`, `nbf`, `iat`.
    pub leeway: Duration,
    /// The time `iat` is checked against (`exp` and `nbf` are checked
    /// against the clock by jsonwebtoken).
    pub now: SystemTime,
}

/// Checks the signature of `token` with `key`, then its claims. No I/O.
pub fn check_signed(
    token: &str,
    header: &jsonwebtoken::Header,
    key: &DecodingKey,
    jwk_alg: Option<Algorithm>,
    checks: &ClaimChecks<'_>,
) -> Result<Claims, String> {
    if jwk_alg.is_some_and(|a| a != header.alg) {
        return Err("the token's algorithm differs from its key's".into());
    }
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(checks.issuers);
    match checks.audience {
        Some(aud) => {
            validation.set_audience(&[aud]);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        }
        None => {
            validation.validate_aud = false;
            validation.set_required_spec_claims(&["exp", "iss"]);
        }
    }
    validation.validate_nbf = true;
    validation.leeway = checks.leeway.as_secs();
    let now = checks
        .now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::ExpiredSignature => "expired".into(),
            ErrorKind::ImmatureSignature => "not valid yet (nbf)".into(),
            ErrorKind::InvalidIssuer => "wrong issuer".into(),
            ErrorKind::InvalidAudience => "wrong audience".into(),
            ErrorKind::InvalidSignature => "bad signature".into(),
            other => format!("{other:?}"),
        }
    })?;
    if let Some(iat) = data.claims.get("iat").and_then(serde_json::Value::as_u64)
        && iat > now.saturating_add(checks.leeway.as_secs())
    {
        return Err("issued in the future (iat)".into());
    }
    Ok(data.claims)
}

/// A claim as a string.
pub fn string_claim<'a>(claims: &'a Claims, name: &str) -> Option<&'a str> {
    claims
        .get(name)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A claim holding a string or a list of strings.
pub fn strings_claim(claims: &Claims, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}
