//! Helpers shared by the crate's integration tests.
pub mod kdc;
/// When a test's third-party peer is missing: the rule every guard test
/// crate follows (skipped under `cargo test`, a failure under `cargo xtask ci`).
#[path = "../../../guard/tests/common/require.rs"]
#[allow(dead_code)]
pub mod require;
