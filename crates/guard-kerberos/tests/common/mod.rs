//! Helpers shared by the crate's integration tests.
pub mod kdc;
