//! `github`: GitHub organisation membership and teams. The client
//! certificate's `CN` is the organisation; the token is the user's personal
//! access token (`read:org`).
//!
//! * [`options`]: the flags `--github.*`, and the API root rule for GitHub Enterprise.
//! * [`install`]: the flags for the deployed server.
//! * [`provider`]: the membership and team calls.

pub mod install;
pub mod options;
pub mod provider;

use std::sync::Arc;

use guard_api::InstallerPart;

pub use options::{GithubOptions, api_root};
pub use provider::GithubProvider;

use crate::ProviderError;
use crate::spec::{BuildContext, ClientName, ProviderSpec};

/// The provider's name.
pub const NAME: &str = "github";

impl ProviderSpec for GithubOptions {
    const NAME: &'static str = NAME;
    const CLIENT_NAME: ClientName = ClientName::Required("the GitHub organisation");

    fn validate(&self) -> Result<(), ProviderError> {
        GithubOptions::validate(self)
    }

    fn installer_part(&self) -> Result<InstallerPart, ProviderError> {
        Ok(install::part(self))
    }

    fn build(
        &self,
        context: &BuildContext,
    ) -> Result<Arc<dyn guard_auth::Provider>, ProviderError> {
        Ok(Arc::new(GithubProvider::new(context.http()?, self)?))
    }
}
