//! Verifying OpenID Connect ID tokens (and Azure access tokens): discovery,
//! a cached JWKS, and the claim checks, with `jsonwebtoken` doing the
//! cryptography.
//!
//! An issuer's outage must never turn into a denial the API server caches
//! (a plain denial is cached for 2 minutes), nor into a storm of requests:
//!
//! * Discovery (`DISCOVERY/.well-known/openid-configuration`) is fetched on
//!   first use. While it fails, reviews are unavailable (`status.error`) and
//!   it is retried with a backoff (1 s, doubling, at most 30 s): 200 reviews
//!   during an outage make a handful of calls, not 200.
//! * The JWKS is cached and refreshed every hour. A failed refresh keeps the
//!   keys guard has, and is retried with the same backoff.
//! * A token whose `kid` is not in the cached set makes guard fetch the set
//!   again, one fetch at a time: at most every 10 s while the last fetch
//!   succeeded, sooner when the token was issued after that fetch (the issuer
//!   may have rotated its keys since; such a review waits for the next
//!   second rather than fetch twice in one), and after a failure only once
//!   its backoff has passed. (Issued "after" allows for `--jwt-leeway` of
//!   clock skew.)
//! * An unknown `kid` is a plain denial only when guard holds a key set
//!   fetched after the review began or after the token was issued (its
//!   `iat`): then the key is really not the issuer's. Otherwise (the fetch
//!   failed, or was not made because of the limits above) the review is
//!   unavailable and the API server asks again next time.
//! * Accepted: RS256/384/512, PS256/384/512, ES256/384 signed by a key of
//!   the JWKS of the matching type. `alg: none` and HMAC are refused.
//! * `iss` must be one of the expected issuers, `aud` must contain the
//!   audience (when one is configured), `exp`/`nbf`/`iat` are checked with a
//!   small leeway.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::DiscoveryDocument;
use crate::{ProviderError, http};
use base64::Engine as _;
use guard_auth::CheckError;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Url;

/// Claims of a verified token.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// How often the key set is refreshed even when every `kid` is known.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
/// The shortest interval between two fetches for unknown `kid`s while the
/// last fetch succeeded and the token is not newer than the keys.
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(10);
/// The shortest interval between any two fetches for unknown `kid`s.
const JWKS_MIN_SPACING: Duration = Duration::from_secs(1);
/// The wait after the first failed fetch; it doubles with each failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two tries of a failing fetch.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

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

/// The tries of one kind of fetch: how many failed in a row, and when the
/// last one was made.
#[derive(Default, Debug)]
struct Attempts {
    failures: u32,
    last: Option<Instant>,
}

impl Attempts {
    /// How long to wait before the next try, when the last one failed.
    fn backing_off(&self) -> Option<Duration> {
        let last = self.last?;
        if self.failures == 0 {
            return None;
        }
        let wait = FIRST_BACKOFF
            .saturating_mul(1 << (self.failures - 1).min(16))
            .min(MAX_BACKOFF);
        wait.checked_sub(last.elapsed())
    }

    fn record(&mut self, ok: bool) {
        self.last = Some(Instant::now());
        self.failures = if ok {
            0
        } else {
            self.failures.saturating_add(1)
        };
    }
}

type Keys = HashMap<String, (DecodingKey, Option<Algorithm>, &'static str)>;

#[derive(Default)]
struct State {
    issuer: Option<String>,
    jwks_uri: Option<Url>,
    token_endpoint: Option<String>,
    keys: Keys,
    /// When the keys were last fetched successfully (monotonic, and by the
    /// wall clock for comparing with a token's `iat`).
    fetched: Option<(Instant, SystemTime)>,
    discovery: Attempts,
    jwks: Attempts,
}

/// A token verifier for one issuer.
pub struct Verifier {
    client: reqwest::Client,
    config: VerifierConfig,
    /// [`JWKS_MAX_AGE`] (shorter in tests).
    jwks_max_age: Duration,
    state: tokio::sync::RwLock<State>,
    /// Held while discovery or the JWKS is being fetched: one fetch at a
    /// time, and reviews that need its result wait for it.
    fetching: tokio::sync::Mutex<()>,
}

impl Verifier {
    /// A verifier; nothing is fetched until the first token.
    pub fn new(client: reqwest::Client, config: VerifierConfig) -> Self {
        Verifier {
            client,
            config,
            jwks_max_age: JWKS_MAX_AGE,
            state: tokio::sync::RwLock::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
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

    /// Whether `token` may be this verifier's, from its shape alone: a JWT
    /// whose unverified `iss` is one of the expected issuers (or, where the
    /// issuer comes from discovery, the discovered one once known). Used to
    /// skip this provider for tokens of another kind; [`Self::verify`]
    /// still checks everything.
    pub fn may_have_issued(&self, token: &str) -> bool {
        if crate::token_kind::is_eks(token) || !crate::token_kind::is_jwt(token) {
            return false;
        }
        let Some(issuer) = crate::token_kind::unverified_claims(token)
            .and_then(|claims| claims.get("iss")?.as_str().map(str::to_owned))
        else {
            // verify() denies it; no reason to ask this issuer.
            return false;
        };
        if !self.config.issuers.is_empty() {
            return self.config.issuers.contains(&issuer);
        }
        match self.state.try_read() {
            Ok(state) => state.issuer.as_ref().is_none_or(|known| *known == issuer),
            // Being refreshed: let verify() decide.
            Err(_) => true,
        }
    }

    /// Verifies `token`: a bad token is `Denied`, an unreachable issuer `Unavailable`.
    pub async fn verify(&self, token: &str) -> Result<Claims, CheckError> {
        let started = Instant::now();
        let name = self.config.name;
        let denied = |why: String| CheckError::Denied(format!("{name} token rejected: {why}"));
        let (header, family) = read_header(token).map_err(denied)?;
        self.ensure_loaded().await?;
        let kid = header.kid.clone().unwrap_or_default();
        let (decoding_key, jwk_alg) = match self.key(&kid, family).await {
            Some(k) => k,
            None => {
                let issued = unverified_iat(token);
                self.refresh_for_unknown_kid(started, issued).await;
                match self.key(&kid, family).await {
                    Some(k) => k,
                    None => return Err(self.unknown_key(&kid, family, started, issued).await),
                }
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

    /// The answer for a `kid` that is still unknown: a denial only when the
    /// keys guard holds are known to be current for this token.
    async fn unknown_key(
        &self,
        kid: &str,
        family: &str,
        started: Instant,
        issued: Option<SystemTime>,
    ) -> CheckError {
        let name = self.config.name;
        let state = self.state.read().await;
        let current = state.fetched.is_some_and(|(at, wall)| {
            at >= started || (issued.is_some() && !self.newer_than(issued, wall))
        });
        if current {
            CheckError::Denied(format!(
                "{name} token rejected: no {family} key with kid {kid:?} in the issuer's JWKS"
            ))
        } else {
            CheckError::Unavailable(format!(
                "{name}: the token's signing key is not among the keys guard holds, and the JWKS could not be fetched again just now; try again"
            ))
        }
    }

    /// Loads discovery and keys if missing, or refreshes stale keys (while
    /// the others go on with the keys guard has).
    async fn ensure_loaded(&self) -> Result<(), CheckError> {
        {
            let state = self.state.read().await;
            if !state.keys.is_empty() {
                let stale = state
                    .fetched
                    .is_none_or(|(at, _)| at.elapsed() >= self.jwks_max_age);
                let due = stale && state.jwks.backing_off().is_none();
                drop(state);
                if due && let Ok(_fetching) = self.fetching.try_lock() {
                    // A failure is logged and keeps the keys.
                    let _ = self.refresh_keys().await;
                }
                return Ok(());
            }
        }
        let _fetching = self.fetching.lock().await;
        if !self.state.read().await.keys.is_empty() {
            return Ok(()); // loaded while this review waited
        }
        self.discover().await?;
        if let Some(wait) = self.state.read().await.jwks.backing_off() {
            return Err(CheckError::Unavailable(format!(
                "{} keys cannot be fetched; next try in {}s",
                self.config.name,
                wait.as_secs() + 1
            )));
        }
        self.refresh_keys().await.map(|_| ())
    }

    /// Fetches discovery unless it is loaded or backing off. The caller
    /// holds `fetching`.
    async fn discover(&self) -> Result<(), CheckError> {
        let name = self.config.name;
        {
            let state = self.state.read().await;
            if state.jwks_uri.is_some() {
                return Ok(());
            }
            if let Some(wait) = state.discovery.backing_off() {
                return Err(CheckError::Unavailable(format!(
                    "{name} discovery failed {} time(s) in a row; next try in {}s",
                    state.discovery.failures,
                    wait.as_secs() + 1
                )));
            }
        }
        let result = self.fetch_discovery().await;
        let mut state = self.state.write().await;
        state.discovery.record(result.is_ok());
        let (issuer, token_endpoint, jwks_uri) = result?;
        state.issuer = Some(issuer);
        state.token_endpoint = token_endpoint;
        state.jwks_uri = Some(jwks_uri);
        Ok(())
    }

    async fn fetch_discovery(&self) -> Result<(String, Option<String>, Url), CheckError> {
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
                        format!("{name} discovery timed out")
                    }
                    ProviderError::Transport(_) => format!("{name} discovery cannot connect"),
                    _ => format!("{name} discovery sent an unexpected answer"),
                })
            })?;
        if !self.config.issuers.is_empty() && !self.config.issuers.contains(&discovery.issuer) {
            tracing::error!(
                "{name} discovery names issuer {:?}, expected one of {:?}",
                discovery.issuer,
                self.config.issuers
            );
            return Err(CheckError::Unavailable(format!(
                "{name} discovery names another issuer"
            )));
        }
        let jwks_uri =
            Url::parse(discovery.jwks_uri.as_deref().unwrap_or_default()).map_err(|_| {
                CheckError::Unavailable(format!("{name} discovery has an invalid jwks_uri"))
            })?;
        Ok((discovery.issuer, discovery.token_endpoint, jwks_uri))
    }

    /// Fetches a key set that `kid` may be in, within the limits in the
    /// module's documentation. `started`: when the review began; `issued`:
    /// the token's (unverified) `iat`.
    async fn refresh_for_unknown_kid(&self, started: Instant, issued: Option<SystemTime>) {
        let _fetching = self.fetching.lock().await;
        {
            let state = self.state.read().await;
            if state.fetched.is_some_and(|(at, _)| at >= started) {
                return; // fetched while this review waited
            }
            if state.jwks.backing_off().is_some() {
                return;
            }
            if state.jwks.failures == 0
                && let Some((at, wall)) = state.fetched
                && at.elapsed() < JWKS_MIN_REFRESH
                && !self.newer_than(issued, wall)
            {
                return;
            }
            // Never more than one fetch a second: wait for the second to
            // pass (holding `fetching`, so that the reviews queued behind
            // share this fetch).
            if let Some(wait) = state
                .jwks
                .last
                .and_then(|t| JWKS_MIN_SPACING.checked_sub(t.elapsed()))
            {
                drop(state);
                tokio::time::sleep(wait).await;
            }
        }
        let _ = self.refresh_keys().await;
    }

    /// Whether a token issued at `issued` (whole seconds, by the issuer's
    /// clock) may be newer than keys fetched at `fetched`: then its key may
    /// have been published after that fetch.
    fn newer_than(&self, issued: Option<SystemTime>, fetched: SystemTime) -> bool {
        issued.is_some_and(|iat| iat + Duration::from_secs(1) + self.config.leeway > fetched)
    }

    /// Fetches the key set and records the try; a failure keeps the keys
    /// guard has. The caller holds `fetching`.
    async fn refresh_keys(&self) -> Result<usize, CheckError> {
        let name = self.config.name;
        let Some(uri) = self.state.read().await.jwks_uri.clone() else {
            return Err(CheckError::Unavailable(format!("{name} keys unknown")));
        };
        let result = self.fetch_keys(uri).await;
        let mut state = self.state.write().await;
        state.jwks.record(result.is_ok());
        match result {
            Ok(keys) => {
                let count = keys.len();
                state.keys = keys;
                state.fetched = Some((Instant::now(), SystemTime::now()));
                Ok(count)
            }
            Err(e) => {
                if state.keys.is_empty() {
                    tracing::warn!("{name} key fetch failed: {e}");
                } else {
                    tracing::warn!(
                        "{name} key refresh failed, keeping the {} keys guard has: {e}",
                        state.keys.len()
                    );
                }
                Err(e)
            }
        }
    }

    async fn fetch_keys(&self, uri: Url) -> Result<Keys, CheckError> {
        let name = self.config.name;
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
        Ok(keys)
    }
}

/// The `iat` of a token whose signature is not checked yet: only used to
/// decide whether the keys guard holds are older than the token.
fn unverified_iat(token: &str) -> Option<SystemTime> {
    let payload = token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    let iat = claims.get("iat")?.as_f64()?;
    (0.0..1e11)
        .contains(&iat)
        .then(|| UNIX_EPOCH + Duration::from_secs(iat as u64))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// An issuer on 127.0.0.1 that counts discovery and JWKS requests and
    /// can fail either with 503.
    #[derive(Default)]
    struct Issuer {
        discovery: AtomicUsize,
        jwks: AtomicUsize,
        discovery_down: AtomicBool,
        jwks_down: AtomicBool,
    }

    async fn serve(issuer: Arc<Issuer>) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let origin = base.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let (issuer, origin) = (issuer.clone(), origin.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split_whitespace().nth(1).unwrap_or_default();
                    let (status, body) = if path.ends_with("/openid-configuration") {
                        issuer.discovery.fetch_add(1, SeqCst);
                        if issuer.discovery_down.load(SeqCst) {
                            (503, String::new())
                        } else {
                            (
                                200,
                                format!(r#"{{"issuer":"{origin}","jwks_uri":"{origin}/jwks"}}"#),
                            )
                        }
                    } else {
                        issuer.jwks.fetch_add(1, SeqCst);
                        if issuer.jwks_down.load(SeqCst) {
                            (503, String::new())
                        } else {
                            // Any RSA modulus makes a usable verification key.
                            (200, r#"{"keys":[{"kty":"RSA","kid":"k1","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}]}"#.to_owned())
                        }
                    };
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tcp.write_all(answer.as_bytes()).await;
                });
            }
        });
        Url::parse(&base).unwrap()
    }

    fn verifier(url: Url) -> Verifier {
        Verifier::new(
            http::client().unwrap(),
            VerifierConfig {
                name: "OIDC",
                discovery_url: url,
                issuers: vec![],
                audience: None,
                leeway: Duration::from_secs(30),
            },
        )
    }

    #[test]
    fn only_jwts_of_the_expected_issuers_may_be_its_tokens() {
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = |iss: &str| {
            format!(
                "{}.{}.c2ln",
                b64(r#"{"alg":"RS256"}"#),
                b64(&format!(r#"{{"iss":"{iss}"}}"#))
            )
        };
        let mut v = verifier(Url::parse("http://127.0.0.1:9/").unwrap());
        v.config.issuers = vec!["https://a.example".into(), "https://b.example".into()];
        assert!(v.may_have_issued(&jwt("https://a.example")));
        assert!(v.may_have_issued(&jwt("https://b.example")));
        assert!(!v.may_have_issued(&jwt("https://accounts.google.com")));
        assert!(!v.may_have_issued("ghp_opaque"));
        assert!(!v.may_have_issued("k8s-aws-v1.aHR0cHM"));
        // Issuer from discovery, not fetched yet: any JWT may be.
        v.config.issuers.clear();
        assert!(v.may_have_issued(&jwt("https://c.example")));
    }

    /// A token with this `kid` and `iat` and a signature no key matches.
    fn token(kid: &str, iat: Option<u64>) -> String {
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let claims = match iat {
            Some(iat) => serde_json::json!({"sub": "u", "iat": iat}),
            None => serde_json::json!({"sub": "u"}),
        };
        format!(
            "{}.{}.c2ln",
            b64(serde_json::json!({"alg": "RS256", "kid": kid})),
            b64(claims)
        )
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[tokio::test]
    async fn failing_discovery_backs_off() {
        let issuer = Arc::new(Issuer::default());
        issuer.discovery_down.store(true, SeqCst);
        let v = verifier(serve(issuer.clone()).await);
        for i in 0..50 {
            let e = v.verify(&token("k1", None)).await.unwrap_err();
            assert!(
                matches!(&e, CheckError::Unavailable(m) if m.contains("discovery")),
                "{i}: {e:?}"
            );
        }
        // The backoff doubles from 1 s: six calls would take over 30 s.
        let calls = issuer.discovery.load(SeqCst);
        assert!((1..6).contains(&calls), "{calls} discovery calls");
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_keys_and_records_its_time() {
        let issuer = Arc::new(Issuer::default());
        let mut v = verifier(serve(issuer.clone()).await);
        // The key is found; the signature is wrong: a denial.
        let known = token("k1", None);
        assert!(matches!(v.verify(&known).await, Err(CheckError::Denied(_))));
        assert_eq!(issuer.jwks.load(SeqCst), 1);

        // Keys always stale, issuer down: the first review tries, the next
        // ones wait for the backoff, and all go on with the old key.
        v.jwks_max_age = Duration::ZERO;
        issuer.jwks_down.store(true, SeqCst);
        for _ in 0..20 {
            assert!(matches!(v.verify(&known).await, Err(CheckError::Denied(_))));
        }
        let calls = issuer.jwks.load(SeqCst);
        assert!((2..6).contains(&calls), "{calls} JWKS calls");
        assert_eq!(issuer.discovery.load(SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unknown_kid_is_denied_only_against_current_keys() {
        let issuer = Arc::new(Issuer::default());
        let v = verifier(serve(issuer.clone()).await);
        // First review: discovery and keys fetched for it, kid not there: denied.
        assert!(matches!(
            v.verify(&token("junk", None)).await,
            Err(CheckError::Denied(_))
        ));
        // A token issued before the keys were fetched: its key would be there.
        assert!(matches!(
            v.verify(&token("junk", Some(now() - 3600))).await,
            Err(CheckError::Denied(_))
        ));
        // No iat, keys fetched a moment ago, before this review: no new
        // fetch (10 s window), and no denial either.
        let before = issuer.jwks.load(SeqCst);
        assert!(matches!(
            v.verify(&token("junk", None)).await,
            Err(CheckError::Unavailable(_))
        ));
        assert_eq!(issuer.jwks.load(SeqCst), before);
        // The issuer is down: a token newer than the keys may carry a new
        // key; the fetch fails: unavailable, never denied.
        issuer.jwks_down.store(true, SeqCst);
        let newer = token("rotated", Some(now() + 120));
        let deadline = Instant::now() + Duration::from_secs(30);
        while issuer.jwks.load(SeqCst) == before {
            assert!(Instant::now() < deadline, "no fetch for a newer token");
            let e = v.verify(&newer).await.unwrap_err();
            assert!(matches!(e, CheckError::Unavailable(_)), "{e:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let e = v.verify(&newer).await.unwrap_err();
        assert!(matches!(e, CheckError::Unavailable(_)), "{e:?}");
    }
}
