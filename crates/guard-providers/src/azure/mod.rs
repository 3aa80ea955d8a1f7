//! `azure`: Azure AD (Entra ID) ID and access tokens of a tenant; groups
//! from Microsoft Graph.
//!
//! * [`options`]: the flags `--azure.*` and the cloud environments.
//! * [`authn`]: kube-apiserver's in-tree `jwt` authenticators for the
//!   tenant's issuers (`guard get authn-config`).
//! * [`install`]: the flags, and Secret `guard-azure-auth` with the client
//!   secret.
//! * [`provider`]: the verification (see [`crate::openid`]), the auth modes
//!   and the Graph calls.
//! * [`pop`]: proof-of-possession tokens (`--azure.enable-pop`).

pub mod authn;
pub mod install;
pub mod options;
pub mod pop;
pub mod provider;

use std::sync::Arc;

use guard_api::{InstallerPart, JwtAuthenticators};

pub use options::{AuthMode, AzureOptions};
pub use provider::AzureProvider;

use crate::ProviderError;
use crate::spec::{AuthnContext, BuildContext, ClientName, ProviderSpec};

/// The provider's name.
pub const NAME: &str = "azure";

impl ProviderSpec for AzureOptions {
    const NAME: &'static str = NAME;
    const CLIENT_NAME: ClientName = ClientName::Optional;

    fn validate(&self) -> Result<(), ProviderError> {
        AzureOptions::validate(self)
    }

    fn installer_part(&self) -> Result<InstallerPart, ProviderError> {
        Ok(install::part(self))
    }

    fn build(
        &self,
        context: &BuildContext,
    ) -> Result<Arc<dyn guard_auth::Provider>, ProviderError> {
        Ok(Arc::new(AzureProvider::new(
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
