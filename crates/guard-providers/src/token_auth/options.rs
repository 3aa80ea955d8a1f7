//! `--token-auth-file`.

use std::path::{Path, PathBuf};

use crate::ProviderError;

/// The flag naming the file.
pub(crate) const FLAG: &str = "--token-auth-file";

/// Options of the `token-auth` provider.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenAuthOptions {
    /// The static token file for token-auth: CSV lines of
    /// token,user,uid[,"group1,group2"]. Reloaded when it changes.
    #[arg(id = "token-auth-file", long = "token-auth-file", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

impl TokenAuthOptions {
    /// Checks the options of the enabled provider.
    pub fn validate(&self) -> Result<(), ProviderError> {
        self.file().map(|_| ())
    }

    /// The file; an error when it is not set.
    pub(crate) fn file(&self) -> Result<&Path, ProviderError> {
        self.file
            .as_deref()
            .ok_or_else(|| ProviderError::Invalid(format!("token-auth is enabled: set {FLAG}")))
    }
}
