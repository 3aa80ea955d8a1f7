//! `oidc`: tokens of any OpenID Connect issuer (Keycloak, Dex, Okta, ...),
//! with the semantics of kube-apiserver's own `--oidc-*` flags.
//!
//! * [`options`]: the flags `--oidc.*`.
//! * [`authn`]: kube-apiserver's in-tree `jwt` authenticator for the
//!   same issuer (`guard get authn-config`).
//! * [`install`]: the flags, and Secret `guard-oidc-auth` with the issuer's
//!   CA.
//! * [`provider`]: the verification (see [`crate::openid`]) and the claim
//!   mapping.

pub mod authn;
pub mod install;
pub mod options;
pub mod provider;

use std::sync::Arc;

use guard_api::{InstallerPart, JwtAuthenticators};

pub use options::OidcOptions;
pub use provider::OidcProvider;

use crate::ProviderError;
use crate::spec::{AuthnContext, BuildContext, ClientName, ProviderSpec};

/// The provider's name.
pub const NAME: &str = "oidc";

impl ProviderSpec for OidcOptions {
    const NAME: &'static str = NAME;
    const CLIENT_NAME: ClientName = ClientName::Optional;

    fn validate(&self) -> Result<(), ProviderError> {
        OidcOptions::validate(self)
    }

    fn installer_part(&self) -> Result<InstallerPart, ProviderError> {
        install::part(self)
    }

    fn build(
        &self,
        context: &BuildContext,
    ) -> Result<Arc<dyn guard_auth::Provider>, ProviderError> {
        Ok(Arc::new(OidcProvider::new(
            context.http()?,
            self.clone(),
            context.jwt_leeway,
        )?))
    }

    fn jwt_authenticators(
        &self,
        _context: &AuthnContext<'_>,
    ) -> Result<Option<JwtAuthenticators>, ProviderError> {
        authn::jwt_authenticators(self).map(Some)
    }
}
