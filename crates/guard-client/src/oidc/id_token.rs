//! The two claims the client reads from an ID token, without verifying it
//! (the guard server does that on every review).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

/// An ID token and when it expires.
#[derive(Clone, PartialEq, Eq)]
pub struct IdToken {
    /// The compact JWT, as sent to the API server.
    pub token: String,
    /// Its `exp`.
    pub expires: SystemTime,
    /// Its `nonce`, if any.
    pub(crate) nonce: Option<String>,
}

impl std::fmt::Debug for IdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdToken")
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    exp: u64,
    #[serde(default)]
    nonce: Option<String>,
}

impl IdToken {
    /// Reads `exp` and `nonce` from a compact JWT; `None` if it is not one.
    pub fn parse(token: &str) -> Option<IdToken> {
        let mut parts = token.split('.');
        let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        let claims: Claims = serde_json::from_slice(&json).ok()?;
        Some(IdToken {
            token: token.to_owned(),
            expires: UNIX_EPOCH.checked_add(Duration::from_secs(claims.exp))?,
            nonce: claims.nonce,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(claims))
    }

    #[test]
    fn reads_exp_and_nonce() {
        let t = IdToken::parse(&jwt(r#"{"exp":2000000000,"nonce":"n1","sub":"a"}"#)).unwrap();
        assert_eq!(t.expires, UNIX_EPOCH + Duration::from_secs(2_000_000_000));
        assert_eq!(t.nonce.as_deref(), Some("n1"));
        assert!(
            !format!("{t:?}").contains(&t.token),
            "Debug must not print the token"
        );
    }

    #[test]
    fn refuses_what_is_not_a_jwt() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            &jwt(r#"{"sub":"no exp"}"#),
            "x.!!!.y",
            &jwt("[]"),
        ] {
            assert!(IdToken::parse(bad).is_none(), "{bad}");
        }
        assert!(IdToken::parse(&jwt(r#"{"exp":18446744073709551615}"#)).is_none());
    }
}
