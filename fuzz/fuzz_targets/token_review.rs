//! The TokenReview request body, as the API server (or anyone who reaches
//! the port with a client certificate) sends it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(review) = guard_api::TokenReview::parse_request(data) {
        // What the handler does next with a parsed review.
        let _ = format!("{review:?}");
    }
});
