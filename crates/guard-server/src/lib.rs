//! `guard run`: the webhook server kube-apiserver calls.
//!
//! * TLS with rustls: TLS 1.2+, ALPN `h2` and `http/1.1`; a client
//!   certificate from the CA is required at the handshake (or, with
//!   [`ClientAuth::Optional`], verified when presented and required by the
//!   review endpoint only).
//! * Deadlines on every connection ([`connection`](crate::connection)):
//!   first request, idle, maximum age; refused handshakes logged at info,
//!   rate-limited.
//! * `POST /tokenreviews`: the client certificate's `O` picks the provider,
//!   its `CN` is the organisation; the answer follows the rules in
//!   [`handler`].
//! * `POST /subjectaccessreviews` with `--authz-providers`: the
//!   authorization webhook ([`authz`]).
//! * `GET /healthz`, `/readyz` (503 while the authorization webhook waits
//!   for resource discovery), `/metrics`, also on an optional plain-HTTP
//!   probe port.
//! * Reloads the certificate, key and CA when they change on disk, and shuts
//!   down gracefully.

pub mod accept;
pub mod authz;
mod client_identity;
mod connection;
pub mod handler;
mod handshake;
mod metrics;
mod probe;
mod request_body;
mod server;
mod tls;

pub use client_identity::{ClientIdentity, CommonName};
pub use metrics::{Metrics, ProviderMetrics};
pub use server::{ServerConfig, ServerError, bind, serve};
pub use tls::{ClientAuth, TlsFiles, TlsReloader};
