//! JWT headers and claims. The input is either a raw token (the header
//! parser, and the client's own reader of ID tokens), or a header and a
//! claims document that the target signs with a fixed ES256 test key, so
//! that arbitrary claims reach the claim checks and the claim readers.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use guard_providers::openid::verifier::{self, ClaimChecks};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

static KEYS: LazyLock<(EncodingKey, DecodingKey)> = LazyLock::new(|| {
    (
        EncodingKey::from_ec_pem(include_bytes!("es256-test-key.pem")).expect("test key"),
        DecodingKey::from_ec_pem(include_bytes!("es256-test-key.pub.pem")).expect("test key"),
    )
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        // header JSON, a 0 byte, claims JSON
        let (header, claims) = match rest.iter().position(|b| *b == 0) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &b"{}"[..]),
        };
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let signing_input = format!("{}.{}", b64(header), b64(claims));
        let Ok(signature) =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &KEYS.0, Algorithm::ES256)
        else {
            return;
        };
        format!("{signing_input}.{signature}")
    };
    let _ = guard_client::oidc::IdToken::parse(&token);
    let Ok((header, _family)) = verifier::read_header(&token) else {
        return;
    };
    let issuers = ["https://issuer.example".to_owned()];
    let checks = ClaimChecks {
        issuers: &issuers,
        audience: Some("guard"),
        leeway: Duration::from_secs(60),
        now: UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    };
    if let Ok(claims) =
        verifier::check_signed(&token, &header, &KEYS.1, Some(Algorithm::ES256), &checks)
    {
        let _ = verifier::string_claim(&claims, "email");
        let _ = verifier::strings_claim(&claims, "groups");
    }
});
