//! guard's identity providers, one module each.
//!
//! * [`token_file`]: the static token file (`--token-auth-file`), Kubernetes'
//!   static token CSV format, reloaded when the file changes.

pub mod token_file;
