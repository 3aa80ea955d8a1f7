//! OpenID Connect plumbing shared by the `oidc`, `google` and `azure`
//! providers, and by guard-client's logins:
//!
//! * [`discovery`]: the issuer's discovery document.
//! * [`verifier`]: verifying ID tokens (and Azure access tokens) against the
//!   issuer's keys.

pub mod discovery;
pub mod verifier;

pub use discovery::DiscoveryDocument;
