//! How guard decides about a token, independent of HTTP and TLS:
//!
//! * [`Provider`]: what every identity provider implements.
//! * [`Authenticator`]: the enabled providers, a per-review deadline, and a
//!   [result cache](cache) with request coalescing in front of them.
//! * [`Coalescing`]: that cache's general part (TTL per entry, coalescing of
//!   identical concurrent computations), also used by the authorization
//!   webhook.
//! * [`reload`]: values loaded from files and reloaded when they change,
//!   for providers and the server.
//! * [`ErrorChain`]: an error and its causes on one line, for logs.
//! * [`Outcome`]: the answer, in the three shapes the API server tells apart
//!   (authenticated, denied, provider unavailable).

mod authenticator;
pub mod cache;
mod chain;
mod provider;
pub mod reload;

pub use authenticator::{
    Attempt, Authenticator, AuthenticatorBuilder, Outcome, Review, Route, RouteError,
};
pub use cache::{CacheConfig, Coalescing, Source};
pub use chain::ErrorChain;
pub use provider::{BoxFuture, CheckError, Identity, Provider, ProviderCounter};
