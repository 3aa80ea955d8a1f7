//! `guard run`: the webhook server kube-apiserver calls.
//!
//! * TLS with rustls: TLS 1.2+, ALPN `h2` and `http/1.1`; a client
//!   certificate is verified against the CA when presented, and required by
//!   the review endpoint (probes reach `/healthz` without one).
//! * `POST /tokenreviews`: the client certificate's `O` picks the provider,
//!   its `CN` is the organisation; the answer follows the rules in
//!   [`handler`].
//! * `GET /healthz`, `/readyz`, `/metrics`.
//! * Reloads the certificate, key and CA when they change on disk, and shuts
//!   down gracefully.

mod client_identity;
pub mod handler;
mod metrics;
mod server;
mod tls;

pub use client_identity::ClientIdentity;
pub use metrics::Metrics;
pub use server::{ServerConfig, ServerError, bind, serve};
pub use tls::{TlsFiles, TlsReloader};
