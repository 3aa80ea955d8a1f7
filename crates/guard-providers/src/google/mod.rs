//! `google`: Google Workspace ID tokens; the client certificate's `CN` is
//! the Workspace domain. Groups from the Admin SDK Directory API.
//!
//! * [`options`]: the flags `--google.*`.
//! * [`authn`]: kube-apiserver's in-tree `jwt` authenticator for Google
//!   ID tokens (`guard get authn-config`).
//! * [`install`]: the flags, and Secret `guard-google-auth` with the
//!   service account key.
//! * [`provider`]: the verification (see [`crate::openid`]), the domain
//!   check and the Directory API calls.

pub mod authn;
pub mod install;
pub mod options;
pub mod provider;

use std::sync::Arc;

use guard_api::{InstallerPart, JwtAuthenticators};

pub use options::GoogleOptions;
pub use provider::GoogleProvider;

use crate::ProviderError;
use crate::spec::{AuthnContext, BuildContext, ClientName, ProviderSpec};

/// The provider's name.
pub const NAME: &str = "google";

impl ProviderSpec for GoogleOptions {
    const NAME: &'static str = NAME;
    const CLIENT_NAME: ClientName = ClientName::Required("the Google Workspace domain");

    fn validate(&self) -> Result<(), ProviderError> {
        GoogleOptions::validate(self)
    }

    fn installer_part(&self) -> Result<InstallerPart, ProviderError> {
        install::part(self)
    }

    fn build(
        &self,
        context: &BuildContext,
    ) -> Result<Arc<dyn guard_auth::Provider>, ProviderError> {
        Ok(Arc::new(GoogleProvider::new(
            context.http()?,
            self,
            context.jwt_leeway,
        )?))
    }

    fn jwt_authenticators(
        &self,
        context: &AuthnContext<'_>,
    ) -> Result<Option<JwtAuthenticators>, ProviderError> {
        authn::jwt_authenticators(self, context.google_domains).map(Some)
    }
}
