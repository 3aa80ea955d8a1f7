//! The LDAP bearer token: `base64(username:password)`, as Go Guard's `get
//! token -o ldap` makes it.

use base64::Engine as _;
use guard_auth::CheckError;

/// Splits an LDAP bearer token, `base64(username:password)` (standard or
/// URL-safe, padded or not), into username and password.
pub fn decode_token(token: &str) -> Result<(String, String), CheckError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let malformed =
        || CheckError::Denied("malformed LDAP token (expected base64 of username:password)".into());
    let token = token.trim();
    let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(token).ok())
        .ok_or_else(malformed)?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let (user, password) = text.split_once(':').ok_or_else(malformed)?;
    if user.is_empty() {
        return Err(malformed());
    }
    if password.is_empty() {
        // An empty password makes a simple bind "unauthenticated": never try it.
        return Err(CheckError::Denied("empty LDAP password".into()));
    }
    Ok((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    #[test]
    fn tokens_decode_in_every_base64_flavour() {
        for token in ["YWxpY2U6YWxpY2Vwdw==", "YWxpY2U6YWxpY2Vwdw"] {
            assert_eq!(
                decode_token(token).unwrap(),
                ("alice".into(), "alicepw".into())
            );
        }
        // URL-safe alphabet: "a?b:c>d" encodes with '_' / '-'.
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode("a?~:p>?~");
        assert!(
            url_safe.contains('_') || url_safe.contains('-'),
            "{url_safe}"
        );
        assert_eq!(
            decode_token(&url_safe).unwrap(),
            ("a?~".into(), "p>?~".into())
        );
        // Passwords may contain ':'.
        let t = base64::engine::general_purpose::STANDARD.encode("bob:pa:ss");
        assert_eq!(decode_token(&t).unwrap().1, "pa:ss");
    }

    #[test]
    fn malformed_and_empty_credentials_are_denied() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for token in ["%%%", &b64("no-colon"), &b64(":pw"), &b64("alice:")] {
            assert!(
                matches!(decode_token(token), Err(CheckError::Denied(_))),
                "{token}"
            );
        }
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    #[test]
    fn arbitrary_tokens_never_panic() {
        let mut seed: u64 = 0xdead_beef_cafe_f00d;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let junk: Vec<u8> = (0..(seed % 120) as usize)
                .map(|j| (seed >> (j % 57)) as u8)
                .collect();
            let _ = decode_token(&String::from_utf8_lossy(&junk));
            let _ = decode_token(&base64::engine::general_purpose::STANDARD.encode(&junk));
        }
    }
}
