//! `gitlab`: a GitLab user and the groups they belong to; the client
//! certificate's `CN` is the group whose members may log in. The token is
//! a GitLab personal, project or group access token, or an OAuth token.
//!
//! * [`options`]: the flags `--gitlab.*`, and the API root rule for self-hosted GitLab.
//! * [`install`]: the flags for the deployed server.
//! * [`provider`]: the user and group calls.

pub mod install;
pub mod options;
pub mod provider;

use std::sync::Arc;

use guard_api::InstallerPart;

pub use options::{GitlabOptions, api_root};
pub use provider::GitlabProvider;

use crate::ProviderError;
use crate::spec::{BuildContext, ClientName, ProviderSpec};

/// The provider's name.
pub const NAME: &str = "gitlab";

impl ProviderSpec for GitlabOptions {
    const NAME: &'static str = NAME;
    const CLIENT_NAME: ClientName = ClientName::Required(
        "the GitLab group whose members may log in: a top-level group's path, or a group's id",
    );

    fn validate(&self) -> Result<(), ProviderError> {
        GitlabOptions::validate(self)
    }

    fn installer_part(&self) -> Result<InstallerPart, ProviderError> {
        Ok(install::part(self))
    }

    fn build(
        &self,
        context: &BuildContext,
    ) -> Result<Arc<dyn guard_auth::Provider>, ProviderError> {
        Ok(Arc::new(GitlabProvider::new(context.http()?, self)?))
    }
}
