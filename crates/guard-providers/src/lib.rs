//! guard's identity providers, one folder each, and the registry that
//! lists them.
//!
//! A provider is one folder, `src/<name>/`:
//!
//! * `options.rs`: its options, a clap [`Args`](clap::Args) type with Go
//!   Guard's flag names and the one set of defaults, and `validate()`;
//! * `install.rs`: what it adds to `guard get installer`, as data
//!   ([`guard_api::InstallerPart`]);
//! * `provider.rs`: its server side, a [`guard_auth::Provider`];
//! * `mod.rs`: the [`ProviderSpec`](spec::ProviderSpec) impl that ties them
//!   together.
//!
//! and one line in [`registry::PROVIDERS`]. The binary assembles every
//! provider's flags through [`ProviderFlags`] and never names a provider.
//!
//! | folder | provider |
//! |---|---|
//! | [`token_auth`] | `token-auth`: a static token file |
//! | [`google`] | `google`: Google Workspace ID tokens |
//! | [`azure`] | `azure`: Azure AD (Entra ID) tokens |
//! | [`ldap`] | `ldap`: LDAP / Active Directory |
//! | [`github`] | `github`: GitHub organisations and teams |
//! | [`gitlab`] | `gitlab`: GitLab users and groups |
//! | [`oidc`] | `oidc`: any OpenID Connect issuer |
//! | [`eks`] | `eks`: AWS IAM identities (aws-iam-authenticator tokens) |
//!
//! Shared by several providers (and by guard-client): [`http`], the one
//! HTTP client and its helpers, and [`openid`], OpenID Connect discovery
//! and token verification; [`token_kind`], what a token's shape says about
//! whose it can be (for a review that tries several providers).
//!
//! guard-installer does not depend on this crate: it renders the
//! [`InstallerPart`](guard_api::InstallerPart)s the registry produces, so
//! it links none of the providers' network code (ldap3, reqwest, ...).

pub mod azure;
pub mod eks;
mod error;
pub mod flags;
pub mod github;
pub mod gitlab;
pub mod google;
pub mod http;
pub mod ldap;
pub mod oidc;
pub mod openid;
pub mod registry;
pub mod spec;
pub mod token_auth;
pub mod token_kind;

pub use error::ProviderError;
pub use flags::{Built, Enabled, ProviderFlags};
pub use registry::{ClientProviders, ProviderName};
