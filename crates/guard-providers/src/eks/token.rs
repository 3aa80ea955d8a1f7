//! The token: `k8s-aws-v1.` + base64url (no padding) of a presigned `GET`
//! URL for STS `GetCallerIdentity` whose signed headers include
//! `x-k8s-aws-id: <cluster ID>`. [`validate_token`] checks it **before** any
//! request: this is an SSRF boundary, nothing but that one STS call may ever
//! be made from a token.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use guard_auth::CheckError;
use reqwest::Url;

/// The token prefix.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The header that binds a token to a cluster.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// How long a token is accepted after its `X-Amz-Date`: aws-iam-authenticator's
/// rule, which kubectl relies on (the aws CLI hands it a 14-minute expiry).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Longest token accepted (aws-iam-authenticator's limit).
const MAX_TOKEN_LEN: usize = 4096;
/// Clock skew tolerated on `X-Amz-Date` in the future.
const SKEW: Duration = Duration::from_secs(60);

/// A validated token: the URL to call and what it says about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedToken {
    /// The presigned URL, exactly as signed.
    pub url: Url,
    /// The access key id from `X-Amz-Credential`.
    pub access_key_id: String,
}

/// Why a token is refused before any request is made.
fn refuse(why: impl Into<String>) -> CheckError {
    CheckError::Denied(format!("invalid EKS token: {}", why.into()))
}

/// The domains of regional STS hosts: the IPv4 ones, and the dual-stack
/// (IPv4 and IPv6) ones that aws-iam-authenticator also accepts (`api.aws`
/// serves the commercial and GovCloud partitions).
const STS_DOMAINS: [&str; 4] = [
    ".amazonaws.com",
    ".amazonaws.com.cn",
    ".api.aws",
    ".api.amazonwebservices.com.cn",
];

/// Whether `host` is an AWS STS host: `sts.amazonaws.com`, and
/// `sts.REGION.DOMAIN` or `sts-fips.REGION.DOMAIN` for the domains above
/// (`sts.us-east-1.amazonaws.com`, dual-stack `sts.us-east-1.api.aws`, the
/// China partition's `sts.cn-north-1.amazonaws.com.cn`).
pub fn is_sts_host(host: &str) -> bool {
    if host == "sts.amazonaws.com" {
        return true;
    }
    let rest = host
        .strip_prefix("sts.")
        .or_else(|| host.strip_prefix("sts-fips."));
    let Some(rest) = rest else { return false };
    STS_DOMAINS.iter().any(|domain| {
        let region = rest.strip_suffix(domain);
        region.is_some_and(is_region)
    })
}

/// A region name as AWS writes them: `us-east-1`, `cn-north-1`.
fn is_region(r: &str) -> bool {
    !r.is_empty()
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks a token without calling anything: prefix, encoding, an https URL
/// to an STS host (or the configured endpoint), `GetCallerIdentity` and
/// nothing else, `x-k8s-aws-id` signed, the date window.
pub fn validate_token(
    token: &str,
    extra_endpoint: Option<&Url>,
    now: SystemTime,
) -> Result<ValidatedToken, CheckError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(refuse("too long"));
    }
    let encoded = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or_else(|| refuse(format!("it does not start with {TOKEN_PREFIX}")))?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|_| refuse("not base64url"))?;
    let text = String::from_utf8(raw).map_err(|_| refuse("not a URL"))?;
    let url = Url::parse(&text).map_err(|_| refuse("not a URL"))?;

    let allowed_extra = extra_endpoint.is_some_and(|e| {
        e.scheme() == url.scheme()
            && e.host_str() == url.host_str()
            && e.port_or_known_default() == url.port_or_known_default()
    });
    if !allowed_extra {
        if url.scheme() != "https" {
            return Err(refuse("the URL is not https"));
        }
        if url.port().is_some() || !url.host_str().is_some_and(is_sts_host) {
            return Err(refuse("the URL is not an AWS STS endpoint"));
        }
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(refuse("the URL has user info or a fragment"));
    }
    if url.path() != "/" {
        return Err(refuse("the URL path is not /"));
    }

    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in url.query_pairs() {
        let key = key.to_ascii_lowercase();
        const ALLOWED: [&str; 9] = [
            "action",
            "version",
            "x-amz-algorithm",
            "x-amz-credential",
            "x-amz-date",
            "x-amz-expires",
            "x-amz-signedheaders",
            "x-amz-signature",
            "x-amz-security-token",
        ];
        if !ALLOWED.contains(&key.as_str()) {
            return Err(refuse(format!("unexpected query parameter {key}")));
        }
        if params.insert(key.clone(), value.into_owned()).is_some() {
            return Err(refuse(format!("query parameter {key} repeated")));
        }
    }
    let get = |k: &str| {
        params
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| refuse(format!("missing {k}")))
    };
    if get("action")? != "GetCallerIdentity" {
        return Err(refuse("the action is not GetCallerIdentity"));
    }
    get("version")?;
    get("x-amz-signature")?;
    if get("x-amz-algorithm")? != "AWS4-HMAC-SHA256" {
        return Err(refuse("unsupported signing algorithm"));
    }
    let signed: Vec<&str> = get("x-amz-signedheaders")?.split(';').collect();
    if !signed
        .iter()
        .any(|h| h.eq_ignore_ascii_case(CLUSTER_ID_HEADER))
    {
        return Err(refuse("x-k8s-aws-id is not a signed header"));
    }
    let expires: u64 = get("x-amz-expires")?
        .parse()
        .map_err(|_| refuse("invalid X-Amz-Expires"))?;
    if expires == 0 || expires > TOKEN_LIFETIME.as_secs() {
        return Err(refuse("X-Amz-Expires out of range"));
    }
    let date = parse_amz_date(get("x-amz-date")?).ok_or_else(|| refuse("invalid X-Amz-Date"))?;
    if date > now + SKEW {
        return Err(refuse("X-Amz-Date is in the future"));
    }
    if now > date + TOKEN_LIFETIME {
        return Err(refuse("expired"));
    }
    let credential = get("x-amz-credential")?;
    let access_key_id = credential.split('/').next().unwrap_or_default().to_owned();
    Ok(ValidatedToken { url, access_key_id })
}

fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(s, &format)
        .ok()?
        .assume_utc();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.unix_timestamp()).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(url: &str) -> String {
        format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
        )
    }

    fn url_at(host: &str, date: &str, extra: &str) -> String {
        format!(
            "https://{host}/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261122%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date={date}&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=abc{extra}"
        )
    }

    fn at(s: &str) -> SystemTime {
        parse_amz_date(s).unwrap()
    }

    #[test]
    fn sts_hosts_only() {
        for ok in [
            "sts.amazonaws.com",
            "sts.us-west-2.amazonaws.com",
            "sts.cn-north-1.amazonaws.com.cn",
            "sts-fips.us-east-1.amazonaws.com",
            "sts.us-east-1.api.aws",
            "sts-fips.us-gov-west-1.api.aws",
            "sts.cn-north-1.api.amazonwebservices.com.cn",
        ] {
            assert!(is_sts_host(ok), "{ok}");
        }
        for bad in [
            "sts.amazonaws.com.evil.com",
            "evil.com",
            "sts..amazonaws.com",
            "s3.amazonaws.com",
            "sts.us-west-2.amazonaws.com:444",
            "xsts.amazonaws.com",
            "sts.US-WEST-2.amazonaws.com",
            "sts.api.aws",
            "sts.us-east-1.api.aws.evil.com",
            "sts.a.b.api.aws",
        ] {
            assert!(!is_sts_host(bad), "{bad}");
        }
    }

    #[test]
    fn a_well_formed_token_passes() {
        let t = validate_token(
            &encode(&url_at("sts.amazonaws.com", "20261122T120000Z", "")),
            None,
            at("20261122T120030Z"),
        )
        .unwrap();
        assert_eq!(t.access_key_id, "AKID");
        assert_eq!(t.url.host_str(), Some("sts.amazonaws.com"));
    }

    #[test]
    fn no_other_host_action_or_parameter_gets_through() {
        let now = at("20261122T120030Z");
        let d = "20261122T120000Z";
        let cases = [
            ("k8s-aws-v2.abc".to_owned(), "start with"),
            (format!("{TOKEN_PREFIX}!!!"), "base64"),
            (
                encode(&url_at("evil.example.com", d, "")),
                "not an AWS STS endpoint",
            ),
            (
                encode(&url_at("sts.amazonaws.com:8443", d, "")),
                "not an AWS STS endpoint",
            ),
            (
                encode(&url_at("169.254.169.254", d, "")),
                "not an AWS STS endpoint",
            ),
            (
                encode(&url_at("sts.amazonaws.com", d, "").replace("https://", "http://")),
                "not https",
            ),
            (
                encode(
                    &url_at("sts.amazonaws.com", d, "").replace("GetCallerIdentity", "AssumeRole"),
                ),
                "not GetCallerIdentity",
            ),
            (
                encode(&url_at("sts.amazonaws.com", d, "&RoleArn=x")),
                "unexpected query parameter",
            ),
            (
                encode(&url_at("sts.amazonaws.com", d, "&Action=GetCallerIdentity")),
                "repeated",
            ),
            (
                encode(&url_at("sts.amazonaws.com", d, "").replace("host%3Bx-k8s-aws-id", "host")),
                "not a signed header",
            ),
            (
                encode(
                    &url_at("sts.amazonaws.com", d, "")
                        .replace("https://sts.amazonaws.com/", "https://sts.amazonaws.com/x"),
                ),
                "path",
            ),
            (
                encode(&url_at("user:pw@sts.amazonaws.com", d, "")),
                "user info",
            ),
            (
                encode(&url_at("sts.amazonaws.com", "20261122T100000Z", "")),
                "expired",
            ),
            (
                encode(&url_at("sts.amazonaws.com", "20261122T130000Z", "")),
                "future",
            ),
            (
                encode(
                    &url_at("sts.amazonaws.com", d, "")
                        .replace("X-Amz-Expires=60", "X-Amz-Expires=86400"),
                ),
                "X-Amz-Expires",
            ),
        ];
        for (token, needle) in cases {
            match validate_token(&token, None, now) {
                Err(CheckError::Denied(m)) => assert!(m.contains(needle), "{token}: {m}"),
                other => panic!("{needle}: {other:?}"),
            }
        }
        // The configured endpoint (a local STS in tests) is accepted exactly.
        let local = Url::parse("http://127.0.0.1:5002").unwrap();
        let token = encode(
            &url_at("sts.amazonaws.com", d, "")
                .replace("https://sts.amazonaws.com/", "http://127.0.0.1:5002/"),
        );
        assert!(validate_token(&token, Some(&local), now).is_ok());
        let other_port = encode(
            &url_at("sts.amazonaws.com", d, "")
                .replace("https://sts.amazonaws.com/", "http://127.0.0.1:5003/"),
        );
        assert!(validate_token(&other_port, Some(&local), now).is_err());
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    #[test]
    fn arbitrary_tokens_never_panic_and_never_validate() {
        let mut seed: u64 = 0x1234_5678_9abc_def1;
        let now = SystemTime::now();
        for i in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let junk: Vec<u8> = (0..(seed % 300) as usize)
                .map(|j| (seed >> (j % 57)) as u8 ^ j as u8)
                .collect();
            let body = if i % 2 == 0 {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&junk)
            } else {
                String::from_utf8_lossy(&junk).into_owned()
            };
            let token = format!("{TOKEN_PREFIX}{body}");
            assert!(validate_token(&token, None, now).is_err());
        }
    }
}
