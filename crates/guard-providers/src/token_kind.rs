//! What a token's shape says about whose it can be, for a review that
//! tries several providers in turn ([`guard_auth::Provider::may_be_mine`]):
//! cheap checks on the text, no signature, no I/O.

use base64::Engine as _;

/// Whether `token` is an EKS token (`k8s-aws-v1.` + a presigned STS URL),
/// which only eks reads: any other provider's upstream must never see one,
/// as the URL is a replayable credential.
pub fn is_eks(token: &str) -> bool {
    token.starts_with(crate::eks::TOKEN_PREFIX)
}

/// Whether `token` is a compact JWS (three dot-separated base64url parts
/// whose first is a JSON header): the shape of every ID token.
pub fn is_jwt(token: &str) -> bool {
    jsonwebtoken::decode_header(token).is_ok()
}

/// The claims of a token whose signature is not checked: only for deciding
/// where to send it, never for who it belongs to.
pub fn unverified_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&raw).ok()
}

/// Whether `token` may be an opaque provider's (GitHub, GitLab: neither
/// issues JWTs nor reads EKS tokens).
pub fn may_be_opaque(token: &str) -> bool {
    !is_eks(token) && !is_jwt(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.c2ln", b(r#"{"alg":"RS256","typ":"JWT"}"#), b(claims))
    }

    #[test]
    fn tells_the_kinds_apart() {
        let id_token = jwt(r#"{"iss":"https://issuer.example"}"#);
        assert!(is_jwt(&id_token));
        assert_eq!(
            unverified_claims(&id_token).unwrap()["iss"],
            "https://issuer.example"
        );
        assert!(!may_be_opaque(&id_token));
        assert!(is_eks("k8s-aws-v1.aHR0cHM6Ly9zdHM"));
        assert!(!may_be_opaque("k8s-aws-v1.aHR0cHM6Ly9zdHM"));
        for opaque in ["ghp_abc", "glpat-x.y.z", "a.b.c", "good-token-123"] {
            assert!(may_be_opaque(opaque), "{opaque}");
            assert!(unverified_claims(opaque).is_none(), "{opaque}");
        }
    }
}
