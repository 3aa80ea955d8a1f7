//! The user's credential: `Authorization: Bearer TOKEN`, `Authorization:
//! Basic BASE64(user:password)` (for providers that take a password), or a
//! WebSocket client's `base64url.bearer.authorization.k8s.io.TOKEN`
//! subprotocol (browsers cannot set headers on a WebSocket).

use base64::Engine as _;
use guard_api::BearerToken;
use hyper::HeaderMap;
use hyper::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};

/// The prefix of the WebSocket subprotocol that carries a bearer token.
pub const WEBSOCKET_TOKEN_PREFIX: &str = "base64url.bearer.authorization.k8s.io.";

/// What the user presented.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A bearer token, for every provider.
    Bearer(BearerToken),
    /// HTTP Basic credentials, as `base64(user:password)`: LDAP's token.
    Basic(BearerToken),
}

impl Credential {
    /// The token handed to a provider.
    pub fn token(&self) -> &BearerToken {
        match self {
            Credential::Bearer(t) | Credential::Basic(t) => t,
        }
    }
}

/// Why no credential could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// No `Authorization` header (and no WebSocket token).
    #[error("no credentials: send a bearer token (Authorization: Bearer TOKEN)")]
    Missing,
    /// More than one `Authorization` header.
    #[error("more than one Authorization header")]
    Ambiguous,
    /// A well-known scheme guard does not take.
    #[error("unsupported Authorization scheme {0:?}: send Bearer (or Basic, for LDAP)")]
    Scheme(&'static str),
    /// No scheme guard knows: the value is not repeated, since it may be
    /// the credential itself sent without `Bearer `.
    #[error(
        "the Authorization header is not \"Bearer TOKEN\" (or \"Basic ...\", for LDAP): unknown or missing scheme"
    )]
    UnknownScheme,
    /// The header is there but holds no usable value.
    #[error("{0}")]
    Malformed(&'static str),
}

/// Authentication schemes a refusal may name (the IANA registry's, Azure's
/// `PoP`, GitLab's `Token`). Anything else is not repeated: a client that
/// forgets `Bearer ` sends its token where the scheme belongs.
const KNOWN_SCHEMES: [&str; 12] = [
    "Digest",
    "Negotiate",
    "NTLM",
    "HOBA",
    "Mutual",
    "VAPID",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "AWS4-HMAC-SHA256",
    "OAuth",
    "PoP",
    "Token",
];

/// Reads the credential of a request.
pub fn from_headers(headers: &HeaderMap) -> Result<Credential, CredentialError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return websocket_token(headers)?.ok_or(CredentialError::Missing);
    };
    if values.next().is_some() {
        return Err(CredentialError::Ambiguous);
    }
    let value = value
        .to_str()
        .map_err(|_| CredentialError::Malformed("the Authorization header is not ASCII"))?;
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(CredentialError::Malformed("empty bearer token"));
        }
        Ok(Credential::Bearer(BearerToken::new(rest)))
    } else if scheme.eq_ignore_ascii_case("basic") {
        // Re-encoded in the canonical form, so one user's requests share a
        // cache entry however their client pads or wraps the base64.
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| CredentialError::Malformed("Basic credentials are not base64"))?;
        if !decoded.contains(&b':') {
            return Err(CredentialError::Malformed(
                "Basic credentials are not user:password",
            ));
        }
        Ok(Credential::Basic(BearerToken::new(
            base64::engine::general_purpose::STANDARD.encode(decoded),
        )))
    } else {
        Err(KNOWN_SCHEMES
            .iter()
            .find(|known| known.eq_ignore_ascii_case(scheme))
            .map_or(CredentialError::UnknownScheme, |known| {
                CredentialError::Scheme(known)
            }))
    }
}

/// The token of a `base64url.bearer.authorization.k8s.io.` subprotocol.
fn websocket_token(headers: &HeaderMap) -> Result<Option<Credential>, CredentialError> {
    for value in headers.get_all(SEC_WEBSOCKET_PROTOCOL) {
        let Ok(value) = value.to_str() else { continue };
        for protocol in value.split(',').map(str::trim) {
            if let Some(encoded) = protocol.strip_prefix(WEBSOCKET_TOKEN_PREFIX) {
                let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(encoded.trim_end_matches('='))
                    .ok()
                    .and_then(|t| String::from_utf8(t).ok())
                    .filter(|t| !t.is_empty())
                    .ok_or(CredentialError::Malformed(
                        "the WebSocket bearer token subprotocol is not base64url",
                    ))?;
                return Ok(Some(Credential::Bearer(BearerToken::new(token))));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn bearer_and_basic() {
        let c = from_headers(&headers(&[("authorization", "Bearer abc")])).unwrap();
        assert!(matches!(&c, Credential::Bearer(t) if t.expose() == "abc"));
        let c = from_headers(&headers(&[("authorization", "bearer  abc ")])).unwrap();
        assert_eq!(c.token().expose(), "abc");
        let c = from_headers(&headers(&[("authorization", "Basic YWxpY2U6YWxpY2Vwdw==")])).unwrap();
        assert!(matches!(&c, Credential::Basic(t) if t.expose() == "YWxpY2U6YWxpY2Vwdw=="));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            from_headers(&HeaderMap::new()).unwrap_err(),
            CredentialError::Missing
        );
        assert_eq!(
            from_headers(&headers(&[
                ("authorization", "Bearer a"),
                ("authorization", "Bearer b")
            ]))
            .unwrap_err(),
            CredentialError::Ambiguous
        );
        assert!(matches!(
            from_headers(&headers(&[("authorization", "Digest x")])).unwrap_err(),
            CredentialError::Scheme("Digest")
        ));
        // A token sent without a scheme is not repeated in the refusal.
        for value in [
            "secret-token-0001",
            "Bearer\tsecret-token-0001",
            "secret token",
        ] {
            let err = from_headers(&headers(&[("authorization", value)])).unwrap_err();
            assert_eq!(err, CredentialError::UnknownScheme, "{value}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
        assert!(from_headers(&headers(&[("authorization", "Bearer ")])).is_err());
        assert!(from_headers(&headers(&[("authorization", "Basic !!!")])).is_err());
        // base64 of "nocolon"
        assert!(from_headers(&headers(&[("authorization", "Basic bm9jb2xvbg==")])).is_err());
    }

    #[test]
    fn websocket_subprotocol_token() {
        let h = headers(&[(
            "sec-websocket-protocol",
            "v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.dG9rZW4tMTIz",
        )]);
        assert_eq!(from_headers(&h).unwrap().token().expose(), "token-123");
    }
}
