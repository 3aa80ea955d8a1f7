//! The secrets check: every token, password and key the tests hand to guard
//! is registered here, and every log guard writes (the server's, and the
//! CLI's standard error) is scanned for them when the test is done with it.
//! A hit fails the test that caused it.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};

/// Shorter values are not registered: they would match ordinary words.
const MIN_LEN: usize = 7;

fn registry() -> &'static Mutex<BTreeSet<String>> {
    static REGISTRY: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        // The fixtures' passwords and tokens, known before any test runs.
        let known = [
            "good-token-123",
            "bob-token-456",
            "guardpw",
            "alicepw",
            "carolpw",
            "davepw",
            "twinpw",
        ];
        Mutex::new(known.iter().map(|s| (*s).to_owned()).collect())
    })
}

/// Registers a value guard must never write to a log.
pub fn register(secret: &str) {
    if secret.len() >= MIN_LEN {
        registry().lock().unwrap().insert(secret.to_owned());
    }
}

/// Fails if `text` (what `source` wrote) holds a registered secret or a PEM
/// private key.
pub fn assert_clean(source: &str, text: &str) {
    assert!(
        !text.contains("PRIVATE KEY-----"),
        "{source} wrote a private key"
    );
    let hits: Vec<String> = registry()
        .lock()
        .unwrap()
        .iter()
        .filter(|s| text.contains(s.as_str()))
        .cloned()
        .collect();
    assert!(hits.is_empty(), "{source} wrote secrets {hits:?}:\n{text}");
}

/// Fails if `text` (a server log) holds a URL with a query string: guard
/// logs where a request went (its origin), never the query, which may be a
/// presigned STS URL (a replayable token) or an OAuth code.
pub fn assert_no_url_query(source: &str, text: &str) {
    let with_query: Vec<&str> = text
        .split("://")
        .skip(1)
        .map(|rest| {
            rest.split(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>'))
                .next()
                .unwrap_or_default()
        })
        .filter(|url| url.contains('?'))
        .collect();
    assert!(
        with_query.is_empty(),
        "{source} logged URLs with a query {with_query:?}:\n{text}"
    );
}
