//! guard's identity providers, one module each.
//!
//! * [`token_file`]: the static token file (`--token-auth-file`), Kubernetes'
//!   static token CSV format, reloaded when the file changes.
//! * [`eks`]: AWS identities through aws-iam-authenticator tokens.
//! * [`github`]: GitHub organisation membership and teams.
//! * [`gitlab`]: GitLab user and groups.
//! * [`ldap`]: LDAP / Active Directory users and groups.
//! * [`oidc`]: OpenID Connect tokens: any issuer, Google, Azure AD.
//! * [`http`]: the HTTP client the network providers share.

pub mod eks;
pub mod github;
pub mod gitlab;
pub mod http;
pub mod ldap;
pub mod oidc;
pub mod token_file;
