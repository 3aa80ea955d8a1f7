//! The one HTTP client every network provider shares: rustls on aws-lc-rs,
//! the system's trusted roots, `HTTP(S)_PROXY`/`NO_PROXY` from the
//! environment, connection pooling, HTTP/2 when the server offers it, and
//! timeouts on connecting and on every request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use guard_auth::CheckError;
use reqwest::header::{HeaderMap, LINK};
use reqwest::{StatusCode, Url};

/// Time to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for one request, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most pages a provider follows for one user (100 items each).
pub const MAX_PAGES: usize = 100;

/// Why the shared client cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct HttpClientError(String);

/// The settings every guard client shares: timeouts, user agent, no
/// redirects (a token must not follow one), pooled idle connections.
fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("guard/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(90))
}

/// Builds the shared client.
pub fn client() -> Result<reqwest::Client, HttpClientError> {
    builder()
        .build()
        .map_err(|e| HttpClientError(e.to_string()))
}

/// A client like [`client`] that also trusts the CA certificates in
/// `ca_file` (for issuers with a private CA).
pub fn client_with_ca(ca_file: &std::path::Path) -> Result<reqwest::Client, HttpClientError> {
    let pem = std::fs::read(ca_file)
        .map_err(|e| HttpClientError(format!("cannot read {}: {e}", ca_file.display())))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| HttpClientError(format!("{}: {e}", ca_file.display())))?;
    if certs.is_empty() {
        return Err(HttpClientError(format!(
            "{} holds no PEM certificate",
            ca_file.display()
        )));
    }
    builder()
        .tls_certs_merge(certs)
        .build()
        .map_err(|e| HttpClientError(e.to_string()))
}

/// Normalises a base URL: parses it and makes sure it ends with `/`, so
/// relative paths join below it.
pub fn base_url(raw: &str, flag: &str) -> Result<Url, String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| format!("invalid {flag} {raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("invalid {flag} {raw:?}: expected an http(s) URL"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The `rel="next"` URL of a `Link` header, accepted only when it stays on
/// the same scheme, host and port as `base` (the user's token goes with it).
pub fn next_link(headers: &HeaderMap, base: &Url) -> Option<Url> {
    let link = headers.get(LINK)?.to_str().ok()?;
    let next = link.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })?;
    let url = base.join(&next).ok()?;
    (url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default())
    .then_some(url)
}

/// What an upstream answer means for the review.
pub fn classify(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    not_found: impl FnOnce() -> String,
) -> CheckError {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let exhausted = header("x-ratelimit-remaining").as_deref() == Some("0")
        || header("ratelimit-remaining").as_deref() == Some("0");
    let retry_after = header("retry-after");
    if status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (exhausted || retry_after.is_some()))
    {
        let reset = header("x-ratelimit-reset")
            .or_else(|| header("ratelimit-reset"))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|epoch| {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                format!("; resets in {}s", epoch.saturating_sub(now))
            })
            .or_else(|| retry_after.map(|s| format!("; retry after {s}s")))
            .unwrap_or_default();
        tracing::warn!("{provider} rate limit reached{reset}");
        return CheckError::Unavailable(format!("{provider} rate limit reached{reset}"));
    }
    match status {
        StatusCode::UNAUTHORIZED => {
            CheckError::Denied(format!("{provider} rejected the token (401)"))
        }
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => CheckError::Denied(not_found()),
        s if s.is_server_error() => CheckError::Unavailable(format!("{provider} answered {s}")),
        s => CheckError::Unavailable(format!("{provider} answered unexpectedly: {s}")),
    }
}

/// Largest upstream answer read (one page of teams or groups is ~100 KiB).
pub const MAX_BODY: usize = 4 << 20;

/// Reads a JSON body of at most [`MAX_BODY`] bytes.
pub async fn json<T: serde::de::DeserializeOwned>(
    provider: &str,
    mut response: reqwest::Response,
) -> Result<T, CheckError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport(provider, &e))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(CheckError::Unavailable(format!(
                "{provider} sent an answer larger than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| {
        tracing::warn!("{provider}: unexpected answer: {e}");
        CheckError::Unavailable(format!("{provider} sent an unexpected answer"))
    })
}

/// A transport failure (connect, TLS, timeout, body) as an outage. The URL
/// is left out: it is configuration, and the error text reaches the API
/// server's log.
pub fn transport(provider: &str, e: &reqwest::Error) -> CheckError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_decode() || e.is_body() {
        "sent an unreadable answer"
    } else {
        "request failed"
    };
    tracing::warn!("{provider}: {what}: {e}");
    CheckError::Unavailable(format!("{provider} {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_stays_on_the_same_origin() {
        let base = Url::parse("https://ghe.example.com/api/v3/").unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            r#"<https://ghe.example.com/api/v3/user/teams?page=2>; rel="next", <https://ghe.example.com/api/v3/user/teams?page=5>; rel="last""#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h, &base).unwrap().as_str(),
            "https://ghe.example.com/api/v3/user/teams?page=2"
        );
        h.insert(
            LINK,
            r#"<https://evil.example/steal>; rel="next""#.parse().unwrap(),
        );
        assert!(next_link(&h, &base).is_none());
        h.insert(
            LINK,
            r#"<https://ghe.example.com/x>; rel="last""#.parse().unwrap(),
        );
        assert!(next_link(&h, &base).is_none());
    }

    #[test]
    fn rate_limits_are_outages_and_bad_tokens_denials() {
        let mut h = HeaderMap::new();
        assert!(matches!(
            classify("GitHub", StatusCode::UNAUTHORIZED, &h, String::new),
            CheckError::Denied(_)
        ));
        assert!(
            matches!(classify("GitHub", StatusCode::NOT_FOUND, &h, || "nope".into()), CheckError::Denied(m) if m == "nope")
        );
        assert!(matches!(
            classify("GitHub", StatusCode::BAD_GATEWAY, &h, String::new),
            CheckError::Unavailable(_)
        ));
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        assert!(
            matches!(classify("GitHub", StatusCode::FORBIDDEN, &h, String::new), CheckError::Unavailable(m) if m.contains("rate limit"))
        );
        let h = HeaderMap::new();
        assert!(matches!(
            classify("GitLab", StatusCode::TOO_MANY_REQUESTS, &h, String::new),
            CheckError::Unavailable(_)
        ));
    }
}

/// An access token guard obtains for itself (Graph, Directory API), reused
/// until a minute before it expires.
#[derive(Default)]
pub struct CachedToken {
    slot: tokio::sync::Mutex<Option<(String, std::time::SystemTime)>>,
}

impl CachedToken {
    /// The cached token, or a new one from `fetch` (`(token, lifetime in
    /// seconds)`). Concurrent callers wait for one fetch.
    pub async fn get_or_fetch<F, Fut>(&self, fetch: F) -> Result<String, CheckError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(String, u64), CheckError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((token, expires)) = slot.as_ref()
            && std::time::SystemTime::now() < *expires
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = fetch().await?;
        let valid_for = Duration::from_secs(lifetime.saturating_sub(60));
        *slot = Some((token.clone(), std::time::SystemTime::now() + valid_for));
        Ok(token)
    }
}

/// Posts an OAuth 2.0 token request (`form`) to `endpoint`; returns the
/// access token and its lifetime. `who` names the party in errors, `hint`
/// says what to check when the request is refused.
pub async fn oauth_token(
    client: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
    who: &str,
    hint: &str,
) -> Result<(String, u64), CheckError> {
    #[derive(serde::Deserialize)]
    struct Token {
        access_token: String,
        expires_in: Option<u64>,
    }
    let response = client
        .post(endpoint)
        .form(form)
        .send()
        .await
        .map_err(|e| transport(who, &e))?;
    if !response.status().is_success() {
        tracing::error!("{who} token request answered {}", response.status());
        return Err(CheckError::Unavailable(format!(
            "{who} refused guard's token request ({}): {hint}",
            response.status()
        )));
    }
    let token: Token = json(who, response).await?;
    Ok((token.access_token, token.expires_in.unwrap_or(3600)))
}
