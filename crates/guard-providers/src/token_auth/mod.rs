//! `token-auth`: a static token file (`--token-auth-file`), Kubernetes'
//! static token CSV format, reloaded when the file changes.
//!
//! * [`options`]: the flag.
//! * [`install`]: the file in Secret `guard-token-auth`.
//! * [`file`]: the parser, built for files of a million lines.
//! * [`provider`]: the lookup, with the reloading file.

pub mod file;
pub mod install;
pub mod options;
pub mod provider;

use std::sync::Arc;

use guard_api::InstallerPart;

pub use file::TokenFile;
pub use options::TokenAuthOptions;
pub use provider::TokenFileProvider;

use crate::ProviderError;
use crate::spec::{BuildContext, ClientName, ProviderSpec};

/// The provider's name.
pub const NAME: &str = "token-auth";

impl ProviderSpec for TokenAuthOptions {
    const NAME: &'static str = NAME;
    const CLIENT_NAME: ClientName = ClientName::Required("any name the API server is known by");

    fn validate(&self) -> Result<(), ProviderError> {
        TokenAuthOptions::validate(self)
    }

    fn installer_part(&self) -> Result<InstallerPart, ProviderError> {
        install::part(self)
    }

    fn build(
        &self,
        context: &BuildContext,
    ) -> Result<Arc<dyn guard_auth::Provider>, ProviderError> {
        let path = self.file()?;
        let tokens = TokenFileProvider::load(path)?;
        tracing::info!(file = %path.display(), tokens = tokens.current().len(), "token file loaded");
        context.keep_running(tokens.spawn_reloader(context.reload_interval));
        Ok(tokens)
    }
}
