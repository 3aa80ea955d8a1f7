//! The user's side of guard: what `guard get token` and `guard login` do on
//! a user's machine, as a library the binary wires to its flags.
//!
//! * [`user_side`]: how a user of each provider gets a token ([`UserSide`]).
//! * [`oidc`]: an ID token for google, azure and oidc: discovery, browser
//!   (PKCE, loopback) and device flows, silent refresh, the token cache, and
//!   each provider's login preset.
//! * [`eks`]: an aws-iam-authenticator token from the user's AWS
//!   credentials (the AWS SDK's credential chain, optionally a role assumed
//!   with STS).
//! * [`basic`]: the LDAP token, `base64(username:password)`.
//! * [`kerberos`]: the LDAP provider's Kerberos token, a service ticket
//!   from the credential cache `kinit` filled, or from a password.
//! * [`pat`]: where GitHub and GitLab users create a personal access token.
//! * [`exec_credential`]: the ExecCredential kubectl reads from a credential
//!   plugin.
//! * [`kubeconfig`]: adding a user that runs `guard get token`, and a
//!   context, to a kubeconfig, keeping everything else.
//! * [`browser`]: whether a browser can be opened here.
//!
//! Nothing here prints to stdout: messages for the user go through the
//! callbacks the binary passes in.

pub mod basic;
pub mod browser;
pub mod eks;
mod error;
pub mod exec_credential;
pub mod kerberos;
pub mod kubeconfig;
pub mod oidc;
pub mod pat;
pub mod user_side;

pub use error::ClientError;
pub use user_side::{UserSide, user_side};
