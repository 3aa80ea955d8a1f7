//! The HTTP client every network provider shares, and the helpers both
//! sides use (the server's providers and guard-client's logins): rustls on
//! aws-lc-rs, the system's trusted roots, `HTTP(S)_PROXY`/`NO_PROXY` from
//! the environment, connection pooling, HTTP/2 when the server offers it,
//! no redirects (a token must not follow one), timeouts on connecting and
//! on every request, and answers read with a size limit.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use guard_auth::CheckError;
use reqwest::header::{CONTENT_TYPE, HeaderMap, LINK};
use reqwest::{StatusCode, Url};

use crate::ProviderError;

/// Time to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for one request, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most pages a provider follows for one user (100 items each).
pub const MAX_PAGES: usize = 100;
/// Largest upstream answer a provider reads (one page of teams or groups
/// is ~100 KiB).
pub const MAX_BODY: usize = 4 << 20;

/// The settings every guard client shares.
fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("guard/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(90))
}

/// Builds the shared client.
pub fn client() -> Result<reqwest::Client, ProviderError> {
    builder().build().map_err(ProviderError::HttpClient)
}

/// A client like [`client`] that also trusts the CA certificates in
/// `ca_file` (named by `flag`), for issuers with a private CA.
pub fn client_with_ca(
    flag: &'static str,
    ca_file: &Path,
) -> Result<reqwest::Client, ProviderError> {
    let pem = ProviderError::read(flag, ca_file)?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| ProviderError::bad_file(flag, ca_file, "not a PEM certificate bundle", e))?;
    if certs.is_empty() {
        return Err(ProviderError::BadFile {
            flag,
            path: ca_file.to_owned(),
            problem: "holds no PEM certificate".into(),
            source: None,
        });
    }
    builder()
        .tls_certs_merge(certs)
        .build()
        .map_err(ProviderError::HttpClient)
}

/// Normalises a base URL: parses it and makes sure it ends with `/`, so
/// relative paths join below it.
pub fn base_url(raw: &str, flag: &'static str) -> Result<Url, ProviderError> {
    let mut url = Url::parse(raw.trim()).map_err(|source| ProviderError::BadUrl {
        flag,
        value: raw.to_owned(),
        source,
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ProviderError::NotHttp {
            flag,
            value: raw.to_owned(),
        });
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A base URL that must be https, or http on a loopback address (tests,
/// local issuers).
pub fn https_url(raw: &str, flag: &'static str) -> Result<Url, ProviderError> {
    let parsed = base_url(raw, flag)?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if parsed.scheme() != "https" && !loopback {
        return Err(ProviderError::NotHttps {
            flag,
            value: raw.to_owned(),
        });
    }
    Ok(parsed)
}

/// Sends a request. Every outbound request of guard goes through here
/// (clippy's `disallowed-methods` refuses `RequestBuilder::send` elsewhere),
/// so that no error can carry a URL's path, query or credentials into a log
/// or a message: a presigned STS URL is a replayable token, an OAuth
/// redirect holds a code. What is left is the origin
/// (`https://host:port/`), enough to tell which upstream failed.
pub async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, reqwest::Error> {
    #[allow(clippy::disallowed_methods)]
    let sent = request.send().await;
    sent.map_err(strip_url)
}

/// Reduces the URL an error carries to its origin.
pub fn strip_url(mut e: reqwest::Error) -> reqwest::Error {
    if let Some(url) = e.url_mut() {
        url.set_query(None);
        url.set_fragment(None);
        url.set_path("/");
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    e
}

/// A request failure in words, with the origin it went to but never the
/// path or query (which may hold a code or token).
pub fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_decode() || e.is_body() {
        "unreadable answer"
    } else {
        "request failed"
    };
    match e.url() {
        Some(url) => format!(
            "{what} ({}://{}{})",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        None => what.to_owned(),
    }
}

/// Reads a body of at most `limit` bytes.
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ProviderError::Transport(describe(&strip_url(e))))?
    {
        if body.len() + chunk.len() > limit {
            return Err(ProviderError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads a JSON body of at most `limit` bytes.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    limit: usize,
) -> Result<T, ProviderError> {
    let body = read_body(response, limit).await?;
    serde_json::from_slice(&body).map_err(ProviderError::UnexpectedAnswer)
}

// ------------------------------------------------------------ for reviews

/// Reads a provider's JSON answer of at most [`MAX_BODY`] bytes; any
/// failure is an outage of `provider`.
pub async fn json<T: serde::de::DeserializeOwned>(
    provider: &str,
    response: reqwest::Response,
) -> Result<T, CheckError> {
    read_json(response, MAX_BODY).await.map_err(|e| match e {
        ProviderError::TooLarge(limit) => CheckError::Unavailable(format!(
            "{provider} sent an answer larger than {limit} bytes"
        )),
        ProviderError::UnexpectedAnswer(e) => {
            tracing::warn!("{provider}: unexpected answer: {e}");
            CheckError::Unavailable(format!("{provider} sent an unexpected answer"))
        }
        other => {
            tracing::warn!("{provider}: {other}");
            let what = match &other {
                ProviderError::Transport(words) if words.starts_with("timed out") => "timed out",
                _ => "sent an unreadable answer",
            };
            CheckError::Unavailable(format!("{provider} {what}"))
        }
    })
}

/// A transport failure (connect, TLS, timeout, body) as an outage. The URL
/// is left out: it is configuration, and the error text reaches the API
/// server's log.
pub fn transport(provider: &str, e: reqwest::Error) -> CheckError {
    let e = strip_url(e);
    let what = outage_words(&e);
    tracing::warn!("{provider}: {what}: {e}");
    CheckError::Unavailable(format!("{provider} {what}"))
}

/// Reads a paginated listing (GitHub's teams, GitLab's groups): GETs
/// `first` with `get` (which turns an unsuccessful status into a
/// [`CheckError`]), then the page each answer names next: `Link:
/// rel="next"` on `base`'s origin ([`next_link`]), else what `fallback`
/// finds in the headers (GitLab's `x-next-page`). Gives up as an outage
/// past [`MAX_PAGES`] pages; `what` names the items in that message.
pub async fn all_pages<T, F, Fut>(
    provider: &str,
    what: &str,
    base: &Url,
    first: Url,
    mut get: F,
    fallback: fn(&Url, &HeaderMap) -> Option<Url>,
) -> Result<Vec<T>, CheckError>
where
    T: serde::de::DeserializeOwned,
    F: FnMut(Url) -> Fut,
    Fut: std::future::Future<Output = Result<reqwest::Response, CheckError>>,
{
    let mut items = Vec::new();
    let mut next = Some(first);
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        if pages > MAX_PAGES {
            return Err(CheckError::Unavailable(format!(
                "{provider} returned more than {MAX_PAGES} pages of {what}"
            )));
        }
        let response = get(url.clone()).await?;
        next = next_link(response.headers(), base).or_else(|| fallback(&url, response.headers()));
        let page: Vec<T> = json(provider, response).await?;
        items.extend(page);
    }
    Ok(items)
}

/// For [`all_pages`]: no other way to the next page than `Link`.
pub fn no_fallback(_: &Url, _: &HeaderMap) -> Option<Url> {
    None
}

/// The `rel="next"` URL of a `Link` header, accepted only when it stays on
/// the same scheme, host and port as `base` (the user's token goes with it).
/// Other relations (`last`, `first`, `prev`, or any other) are passed over.
pub fn next_link(headers: &HeaderMap, base: &Url) -> Option<Url> {
    let link = headers.get(LINK)?.to_str().ok()?;
    let (next, _) = link_values(link)?.into_iter().find(|(_, rel)| {
        rel.split_whitespace()
            .any(|r| r.eq_ignore_ascii_case("next"))
    })?;
    same_origin(&next, base)
}

/// The links of a `Link` header (RFC 8288: `<URI>; param=value; ...`,
/// separated by commas; values may be quoted strings, which may hold commas
/// and semicolons), each with its `rel` (empty if none). `None` if the
/// header does not have that shape.
fn link_values(header: &str) -> Option<Vec<(String, String)>> {
    let mut links = Vec::new();
    let mut rest = header.trim_start_matches([' ', '\t', ',']);
    while !rest.is_empty() {
        let (uri, after) = rest.strip_prefix('<')?.split_once('>')?;
        rest = after;
        let mut rel = String::new();
        loop {
            rest = rest.trim_start_matches([' ', '\t']);
            let Some(param) = rest.strip_prefix(';') else {
                break;
            };
            let end = param.find(['=', ';', ',']).unwrap_or(param.len());
            let name = param[..end].trim();
            rest = &param[end..];
            let value = match rest.strip_prefix('=') {
                Some(value) => {
                    let (value, after) = param_value(value.trim_start_matches([' ', '\t']))?;
                    rest = after;
                    value
                }
                None => String::new(),
            };
            if name.eq_ignore_ascii_case("rel") && rel.is_empty() {
                rel = value;
            }
        }
        match rest.strip_prefix(',') {
            Some(after) => rest = after.trim_start_matches([' ', '\t', ',']),
            None if rest.is_empty() => {}
            None => return None,
        }
        links.push((uri.trim().to_owned(), rel));
    }
    Some(links)
}

/// A parameter's value at the start of `s`, a token or a quoted string
/// (with `\` escapes), and what follows it.
fn param_value(s: &str) -> Option<(String, &str)> {
    let Some(quoted) = s.strip_prefix('"') else {
        let end = s.find([';', ',', ' ', '\t']).unwrap_or(s.len());
        return Some((s[..end].to_owned(), &s[end..]));
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &quoted[i + 1..])),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

/// `link` (absolute, or relative to `base`) as a URL, when it stays on the
/// same scheme, host and port as `base` (a credential goes with it).
pub fn same_origin(link: &str, base: &Url) -> Option<Url> {
    let url = base.join(link).ok()?;
    (url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default())
    .then_some(url)
}

/// A transport failure found by reference (in the source chain of another
/// library's error) as an outage: the same words as [`transport`], and a log
/// line that names the origin only.
pub fn transport_ref(provider: &str, e: &reqwest::Error) -> CheckError {
    let what = outage_words(e);
    tracing::warn!("{provider}: {what}: {}", describe(e));
    CheckError::Unavailable(format!("{provider} {what}"))
}

/// What a transport failure was, in the words of an outage answer.
fn outage_words(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_decode() || e.is_body() {
        "sent an unreadable answer"
    } else {
        "request failed"
    }
}

/// Largest error answer read to tell a provider's own refusal from a proxy's
/// page (GitHub and GitLab send a few hundred bytes).
pub const MAX_ERROR_BODY: usize = 64 << 10;

/// Reads a refused answer (not 2xx) of `provider` and says what it means for
/// the review: see [`classify`].
pub async fn refusal(
    provider: &str,
    response: reqwest::Response,
    not_found: impl FnOnce() -> String,
) -> CheckError {
    let status = response.status();
    let headers = response.headers().clone();
    // An unreadable or oversized body is simply not the provider's own error.
    let body = read_body(response, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    classify(provider, status, &headers, &body, not_found)
}

/// The `message` (GitHub, GitLab), `error` (GitLab's OAuth errors) or
/// `error.message` (Microsoft Graph) of a provider's own JSON error answer; `None` for anything else (an HTML page
/// of a proxy or ingress, an empty body, other JSON).
fn provider_error_message(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let json_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
    if !json_type {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    object
        .get("message")
        .and_then(text)
        .or_else(|| object.get("error").and_then(text))
        // Microsoft Graph: {"error": {"code": ..., "message": ...}}
        .or_else(|| object.get("error")?.get("message").and_then(text))
}

/// What an upstream answer that is not 2xx means for the review.
///
/// - 429, or 403 with the rate-limit headers used up or a `retry-after`, or
///   any answer whose message speaks of a rate limit (GitHub's secondary
///   rate limit is a 403 with requests left): an outage.
/// - 401, 403, 404 carrying the provider's own JSON error (`message` or
///   `error`): a plain denial (`not_found` words the 403/404).
/// - 431 or 414 (the token was too large for the provider): a plain denial.
/// - 401, 403, 404 with anything else (an HTML page of a proxy, an ingress'
///   default backend, an empty body): not the provider speaking, an outage.
/// - anything else: an outage.
pub fn classify(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
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
    let message = provider_error_message(headers, body);
    let rate_limit_message = message.as_deref().is_some_and(|m| {
        let m = m.to_ascii_lowercase();
        m.contains("rate limit") || m.contains("abuse")
    });
    if status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (exhausted || retry_after.is_some()))
        || rate_limit_message
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
        tracing::warn!("{provider} rate limit reached ({status}){reset}");
        return CheckError::Unavailable(format!("{provider} rate limit reached{reset}"));
    }
    let own_error = message.is_some();
    match status {
        // The request line or headers (the token is one) were too large for
        // the provider: no token that size is valid there.
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE | StatusCode::URI_TOO_LONG => {
            CheckError::Denied(format!("token too large for {provider} ({status})"))
        }
        StatusCode::UNAUTHORIZED if own_error => {
            CheckError::Denied(format!("{provider} rejected the token (401)"))
        }
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND if own_error => {
            CheckError::Denied(not_found())
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
            tracing::warn!(
                "{provider} answered {status} without its own JSON error: a proxy or \
                 another server answers at the configured URL"
            );
            CheckError::Unavailable(format!(
                "{provider} answered {status} without {provider}'s JSON error (a proxy or \
                 a wrong base URL?)"
            ))
        }
        s if s.is_server_error() => CheckError::Unavailable(format!("{provider} answered {s}")),
        s => CheckError::Unavailable(format!("{provider} answered unexpectedly: {s}")),
    }
}

/// An access token guard obtains for itself (Graph, Directory API), reused
/// until a minute before it expires.
#[derive(Default)]
pub struct CachedToken {
    slot: tokio::sync::Mutex<Option<(String, SystemTime)>>,
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
            && SystemTime::now() < *expires
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = fetch().await?;
        let valid_for = Duration::from_secs(lifetime.saturating_sub(60));
        *slot = Some((token.clone(), SystemTime::now() + valid_for));
        Ok(token)
    }

    /// Drops `token` (refused by the service it was for: revoked, or issued
    /// before a change of the application's rights), so that the next call
    /// fetches a new one instead of reusing it until it expires. A newer
    /// token already in its place is kept.
    pub async fn forget(&self, token: &str) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|(cached, _)| cached == token) {
            *slot = None;
        }
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
    let response = send(client.post(endpoint).form(form))
        .await
        .map_err(|e| transport(who, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A page of `items` whose headers name the next page.
    fn page(items: &[u32], headers: &[(&str, &str)]) -> reqwest::Response {
        let mut b = ::http::Response::builder();
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        reqwest::Response::from(b.body(serde_json::to_vec(items).unwrap()).unwrap())
    }

    #[tokio::test]
    async fn all_pages_follows_link_then_the_fallback_and_stops_at_the_limit() {
        let base = Url::parse("https://gl.example/api/v4/").unwrap();
        let first = base.join("groups?page=1").unwrap();
        let fallback = |url: &Url, h: &HeaderMap| {
            let n = h.get("x-next")?.to_str().ok()?;
            url.join(&format!("groups?page={n}")).ok()
        };
        let mut asked = Vec::new();
        let items: Vec<u32> = all_pages(
            "GitLab",
            "groups",
            &base,
            first.clone(),
            |url| {
                asked.push(url.query().unwrap_or_default().to_owned());
                let answer = match url.query() {
                    Some("page=1") => page(
                        &[1, 2],
                        &[(
                            "link",
                            r#"<https://gl.example/api/v4/groups?page=2>; rel="next""#,
                        )],
                    ),
                    Some("page=2") => page(&[3], &[("x-next", "3")]),
                    _ => page(&[4], &[]),
                };
                async move { Ok(answer) }
            },
            fallback,
        )
        .await
        .unwrap();
        assert_eq!(items, [1, 2, 3, 4]);
        assert_eq!(asked, ["page=1", "page=2", "page=3"]);

        // A listing that never ends is an outage, not a hang.
        let endless = all_pages::<u32, _, _>(
            "GitHub",
            "teams",
            &base,
            first,
            |_| async {
                Ok(page(
                    &[1],
                    &[(
                        "link",
                        r#"<https://gl.example/api/v4/groups?page=2>; rel="next""#,
                    )],
                ))
            },
            no_fallback,
        )
        .await
        .unwrap_err();
        assert_eq!(
            endless,
            CheckError::Unavailable(format!(
                "GitHub returned more than {MAX_PAGES} pages of teams"
            ))
        );
    }

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
        // Relations besides next, in any order and case, quoted strings
        // holding commas and semicolons, a relation list: the next page all the same.
        h.insert(
            LINK,
            r#"<https://ghe.example.com/api/v3/user/teams?page=1>; rel="first", <https://ghe.example.com/a,b>; title="page 3; of, 5"; rel="custom", <https://ghe.example.com/api/v3/user/teams?page=3>; rel="Next last""#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h, &base).unwrap().as_str(),
            "https://ghe.example.com/api/v3/user/teams?page=3"
        );
        h.insert(
            LINK,
            "<https://ghe.example.com/y>; rel=next".parse().unwrap(),
        );
        assert_eq!(
            next_link(&h, &base).unwrap().as_str(),
            "https://ghe.example.com/y"
        );
        // Not the shape of a Link header: no next page.
        for broken in [
            r#"https://ghe.example.com/y; rel="next""#,
            r#"<https://ghe.example.com/y>; rel="next"#,
            r#"<https://ghe.example.com/y>; rel="next" junk"#,
        ] {
            h.insert(LINK, broken.parse().unwrap());
            assert!(next_link(&h, &base).is_none(), "{broken}");
        }
    }

    #[test]
    fn rate_limits_are_outages_and_bad_tokens_denials() {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        let bad = br#"{"message":"Bad credentials"}"#;
        assert!(matches!(
            classify("GitHub", StatusCode::UNAUTHORIZED, &h, bad, String::new),
            CheckError::Denied(_)
        ));
        assert!(
            matches!(classify("GitHub", StatusCode::NOT_FOUND, &h, br#"{"message":"Not Found"}"#, || "nope".into()), CheckError::Denied(m) if m == "nope")
        );
        assert!(matches!(
            classify("GitHub", StatusCode::BAD_GATEWAY, &h, b"", String::new),
            CheckError::Unavailable(_)
        ));
        // GitHub's secondary rate limit: a 403 with requests left.
        let secondary = br#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#;
        assert!(
            matches!(classify("GitHub", StatusCode::FORBIDDEN, &h, secondary, String::new), CheckError::Unavailable(m) if m.contains("rate limit"))
        );
        // GitLab's OAuth error shape is its own error too.
        assert!(matches!(
            classify(
                "GitLab",
                StatusCode::FORBIDDEN,
                &h,
                br#"{"error":"insufficient_scope"}"#,
                String::new
            ),
            CheckError::Denied(_)
        ));
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        assert!(
            matches!(classify("GitHub", StatusCode::FORBIDDEN, &h, b"", String::new), CheckError::Unavailable(m) if m.contains("rate limit"))
        );
        let h = HeaderMap::new();
        assert!(matches!(
            classify(
                "GitLab",
                StatusCode::TOO_MANY_REQUESTS,
                &h,
                b"",
                String::new
            ),
            CheckError::Unavailable(_)
        ));
    }

    #[test]
    fn a_token_too_large_for_the_provider_is_a_denial() {
        for status in [
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            StatusCode::URI_TOO_LONG,
        ] {
            assert!(
                matches!(classify("GitHub", status, &HeaderMap::new(), b"", String::new), CheckError::Denied(m) if m.contains("token too large for GitHub"))
            );
        }
    }

    #[test]
    fn refusals_that_are_not_the_providers_own_json_are_outages() {
        let mut html = HeaderMap::new();
        html.insert(CONTENT_TYPE, "text/html".parse().unwrap());
        let mut json = HeaderMap::new();
        json.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        for status in [
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
        ] {
            for (headers, body) in [
                (
                    &html,
                    &b"<html><body>default backend - 404</body></html>"[..],
                ),
                // JSON in an HTML type, and JSON without a message.
                (&html, &br#"{"message":"Not Found"}"#[..]),
                (&json, &br#"{"status":404}"#[..]),
                (&json, &b""[..]),
                (&HeaderMap::new(), &b""[..]),
            ] {
                assert!(
                    matches!(
                        classify("GitHub", status, headers, body, String::new),
                        CheckError::Unavailable(_)
                    ),
                    "{status} {body:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn errors_carry_the_origin_only() {
        // Nothing listens on port 1 of the loopback address.
        let url = "http://user:pw@127.0.0.1:1/sts/?Action=GetCallerIdentity&X-Amz-Signature=deadbeef#frag";
        let e = send(client().unwrap().get(url)).await.unwrap_err();
        let text = format!("{e} {e:?} {}", describe(&e));
        for secret in ["deadbeef", "X-Amz", "Action", "/sts", "pw", "frag"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("127.0.0.1:1"), "{text}");
        let CheckError::Unavailable(words) = transport("AWS STS", e) else {
            panic!("a connection failure is an outage");
        };
        assert_eq!(words, "AWS STS cannot connect");
    }

    #[test]
    fn urls_are_checked_and_normalised() {
        assert_eq!(
            base_url("https://x.example/api", "--f").unwrap().as_str(),
            "https://x.example/api/"
        );
        assert!(matches!(
            base_url("not a url", "--f"),
            Err(ProviderError::BadUrl { flag: "--f", .. })
        ));
        assert!(matches!(
            base_url("ftp://x.example", "--f"),
            Err(ProviderError::NotHttp { .. })
        ));
        assert!(https_url("http://127.0.0.1:8080", "--f").is_ok());
        let e = https_url("http://idp.example", "--oidc.issuer-url").unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
    }
}
