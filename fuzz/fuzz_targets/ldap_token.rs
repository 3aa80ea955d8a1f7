//! The LDAP bearer token, base64(username:password), straight from the
//! TokenReview: anything at all.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok((user, _password)) = guard_providers::ldap::decode_token(&text) {
        assert!(!user.is_empty());
    }
});
