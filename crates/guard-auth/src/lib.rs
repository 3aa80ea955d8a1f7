//! How guard decides about a token, independent of HTTP and TLS:
//!
//! * [`Provider`]: what every identity provider implements.
//! * [`Authenticator`]: the enabled providers, a per-review deadline, and a
//!   [result cache](cache) with request coalescing in front of them.
//! * [`reload`]: noticing changed files, for providers and the server.
//! * [`Outcome`]: the answer, in the three shapes the API server tells apart
//!   (authenticated, denied, provider unavailable).

mod authenticator;
pub mod cache;
mod provider;
pub mod reload;

pub use authenticator::{Authenticator, AuthenticatorBuilder, Outcome, Review};
pub use cache::{CacheConfig, Source};
pub use provider::{BoxFuture, CheckError, Identity, Provider};
