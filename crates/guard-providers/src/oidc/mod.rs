//! Providers built on OpenID Connect tokens: one [verifier](verifier), three
//! providers.
//!
//! * [`generic`]: any OIDC issuer, with kube-apiserver's `--oidc-*` semantics.
//! * [`google`]: Google Workspace ID tokens, groups from the Directory API.
//! * [`azure`]: Azure AD (Entra ID) tokens, groups from Microsoft Graph.

pub mod azure;
pub mod generic;
pub mod google;
pub mod verifier;
