//! Proof-of-possession (PoP) tokens, as `kubelogin --pop-enabled` sends
//! them (`--azure.enable-pop`).
//!
//! The client holds an RSA key. Azure AD binds the access token it issues to
//! that key (the access token's `cnf.kid` is the key's RFC 7638 SHA-256
//! thumbprint), and for each request the client wraps the access token in an
//! envelope it signs itself:
//!
//! ```text
//! header  {"typ":"pop","alg":"RS256","kid":THUMBPRINT}
//! payload {"at":ACCESS_TOKEN,"ts":UNIX_SECONDS,"u":HOST,"cnf":{"jwk":{"e","kty","n",...}},"nonce":...}
//! ```
//!
//! guard accepts the envelope when, as Go Guard checks it: the header says
//! `typ` pop, `alg` RS256 and has a `kid`; `ts` is no older than
//! `--azure.pop-token-validity-duration` (and, unlike Go Guard, not ahead of
//! guard's clock by more than the JWT leeway); `u` is
//! `--azure.pop-hostname` (case-insensitive); the access token's `cnf.kid`
//! is the thumbprint of the envelope's `cnf.jwk`; and the envelope's RS256
//! signature verifies with that key. The access token itself is then
//! verified like any Azure AD token. Like Go Guard, guard keeps no record
//! of nonces: an envelope can be replayed until its timestamp is stale.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use guard_auth::CheckError;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, RSAKeyParameters, RSAKeyType, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

/// Checks PoP envelopes.
#[derive(Debug, Clone)]
pub struct PopVerifier {
    hostname: String,
    validity: Duration,
    leeway: Duration,
}

fn denied(why: impl std::fmt::Display) -> CheckError {
    CheckError::Denied(format!("PoP token rejected: {why}"))
}

/// A claim value for a log line: quoted, at most 64 characters.
fn shown(value: &str) -> String {
    let cut: String = value.chars().take(64).collect();
    format!("{cut:?}")
}

fn decode_object(part: &str) -> Option<Map<String, Value>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The access token (`at`) of what looks like a PoP envelope, unverified:
/// for telling whether a token may be Azure AD's before checking it.
pub fn unverified_access_token(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    decode_object(payload)?
        .get("at")?
        .as_str()
        .map(str::to_owned)
}

/// The RFC 7638 SHA-256 thumbprint of an RSA key, base64url: what Azure
/// AD puts in the access token's `cnf.kid`.
pub fn rsa_thumbprint(n: &str, e: &str) -> Option<String> {
    Jwk {
        common: CommonParameters::default(),
        algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
            key_type: RSAKeyType::RSA,
            n: n.to_owned(),
            e: e.to_owned(),
        }),
    }
    .thumbprint(ThumbprintHash::SHA256)
    .ok()
}

impl PopVerifier {
    /// A verifier for envelopes bound to `hostname`, accepted for `validity`
    /// after their timestamp; `leeway` is the clock skew tolerated on a
    /// timestamp ahead of guard's clock.
    pub fn new(hostname: &str, validity: Duration, leeway: Duration) -> Self {
        PopVerifier {
            hostname: hostname.trim().to_owned(),
            validity,
            leeway,
        }
    }

    /// Checks the envelope and returns the access token inside it (still to
    /// be verified as an Azure AD token). Every refusal is a plain denial;
    /// its reason never holds a token.
    pub fn access_token(&self, token: &str) -> Result<String, CheckError> {
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts[..] else {
            return Err(denied(format!(
                "not a signed envelope ({} parts, 3 expected)",
                parts.len()
            )));
        };
        if header.is_empty() || payload.is_empty() || signature.is_empty() {
            return Err(denied("a part of the envelope is empty"));
        }
        let header = decode_object(header).ok_or_else(|| denied("unreadable header"))?;
        let text = |map: &Map<String, Value>, name: &str| -> Option<String> {
            map.get(name).and_then(Value::as_str).map(str::to_owned)
        };
        match text(&header, "typ") {
            Some(t) if t.eq_ignore_ascii_case("pop") => {}
            Some(t) => return Err(denied(format!("typ is {}, not pop", shown(&t)))),
            None => return Err(denied("no typ in the header (not a PoP token)")),
        }
        match text(&header, "alg").as_deref() {
            Some("RS256") => {}
            other => {
                return Err(denied(format!(
                    "alg is {}, not RS256",
                    shown(other.unwrap_or("missing"))
                )));
            }
        }
        if text(&header, "kid").is_none_or(|k| k.is_empty()) {
            return Err(denied("no kid in the header"));
        }
        let claims = decode_object(payload).ok_or_else(|| denied("unreadable claims"))?;

        let ts = match claims.get("ts") {
            Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            _ => return Err(denied("no ts (timestamp) claim")),
        }
        .ok_or_else(|| denied("the ts claim is not a Unix time"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let validity = i64::try_from(self.validity.as_secs()).unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        if ts.saturating_add(validity) < now {
            return Err(denied(format!(
                "stale: its timestamp is {}s old, --azure.pop-token-validity-duration allows {validity}s",
                now.saturating_sub(ts)
            )));
        }
        if ts > now.saturating_add(leeway) {
            return Err(denied(format!(
                "its timestamp is {}s ahead of guard's clock",
                ts.saturating_sub(now)
            )));
        }

        let host = text(&claims, "u").ok_or_else(|| denied("no u (host) claim"))?;
        if !host.trim().eq_ignore_ascii_case(&self.hostname) {
            return Err(denied(format!(
                "bound to host {}, not to --azure.pop-hostname {}",
                shown(&host),
                shown(&self.hostname)
            )));
        }

        let jwk = claims
            .get("cnf")
            .and_then(|c| c.get("jwk"))
            .ok_or_else(|| denied("no cnf.jwk (the client's key) claim"))?;
        let component = |name: &str| jwk.get(name).and_then(Value::as_str).unwrap_or_default();
        let (n, e) = (component("n"), component("e"));
        if n.is_empty() || e.is_empty() {
            return Err(denied("cnf.jwk is not an RSA key (n, e)"));
        }

        let access = text(&claims, "at").ok_or_else(|| denied("no at (access token) claim"))?;
        let bound_to = crate::token_kind::unverified_claims(&access)
            .and_then(|c| c.get("cnf")?.get("kid")?.as_str().map(str::to_owned))
            .ok_or_else(|| denied("the access token has no cnf.kid (it is not bound to a key)"))?;
        let thumbprint = rsa_thumbprint(n, e).ok_or_else(|| denied("cnf.jwk is not an RSA key"))?;
        if bound_to != thumbprint {
            return Err(denied(
                "the access token is bound to another key than the envelope's cnf.jwk",
            ));
        }

        let key = DecodingKey::from_rsa_components(n, e)
            .map_err(|_| denied("cnf.jwk's n or e is not base64url"))?;
        let message = &token[..token.len() - signature.len() - 1];
        match jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, Algorithm::RS256) {
            Ok(true) => Ok(access),
            Ok(false) | Err(_) => Err(denied(
                "the envelope's signature does not verify with its cnf.jwk",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn refusals_name_the_reason_and_never_the_token() {
        let v = PopVerifier::new("api.example", Duration::from_secs(900), Duration::ZERO);
        let reason = |t: &str| v.access_token(t).unwrap_err().to_string();
        assert!(reason("a.b").contains("3 expected"));
        let header = b64(&serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": "k"}));
        let secret_at = "eyJhbGciOiJub25lIn0.eyJzZWNyZXQiOjF9.sig";
        let payload = b64(&serde_json::json!({"at": secret_at, "ts": 1}));
        let r = reason(&format!("{header}.{payload}.c2ln"));
        assert!(r.contains("not pop"), "{r}");
        let header = b64(&serde_json::json!({"typ": "pop", "alg": "RS256", "kid": "k"}));
        let r = reason(&format!("{header}.{payload}.c2ln"));
        assert!(r.contains("stale"), "{r}");
        assert!(!r.contains(secret_at));
        let header = b64(&serde_json::json!({"typ": "pop", "alg": "HS256", "kid": "k"}));
        assert!(reason(&format!("{header}.{payload}.c2ln")).contains("not RS256"));
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s() {
        // RFC 7638, section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            rsa_thumbprint(n, "AQAB").unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
