//! The EKS bearer token, `k8s-aws-v1.` + base64url(presigned STS URL),
//! checked before any request leaves guard.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // A fixed clock keeps runs reproducible: a minute after the seed
    // token's X-Amz-Date (2026-11-22T22:01:13Z), so the seed is valid.
    let now = UNIX_EPOCH + Duration::from_secs(1_795_384_933);
    let raw = String::from_utf8_lossy(data);
    let _ = guard_providers::eks::validate_token(&raw, None, now);
    let encoded = format!(
        "k8s-aws-v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
    );
    let _ = guard_providers::eks::validate_token(&encoded, None, now);
});
