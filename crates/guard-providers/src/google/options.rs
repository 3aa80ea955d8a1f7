//! `--google.*`.

use std::path::PathBuf;

use crate::ProviderError;

pub(crate) const FLAG_SA_JSON_FILE: &str = "--google.sa-json-file";

/// Options of the `google` provider.
#[derive(Debug, Clone, clap::Args)]
pub struct GoogleOptions {
    /// OAuth client id the ID tokens are issued to (their audience).
    /// Default: the client id Go Guard's `get token` uses.
    #[arg(id = "google.client-id", long = "google.client-id", value_name = "ID")]
    pub client_id: Option<String>,
    /// Service account key (JSON) with domain-wide delegation, for groups.
    #[arg(
        id = "google.sa-json-file",
        long = "google.sa-json-file",
        value_name = "FILE"
    )]
    pub sa_json_file: Option<PathBuf>,
    /// Workspace administrator the service account acts as, for groups.
    #[arg(
        id = "google.admin-email",
        long = "google.admin-email",
        value_name = "EMAIL"
    )]
    pub admin_email: Option<String>,
    /// Where Google's discovery document is fetched (tests, proxies).
    #[arg(
        id = "google.discovery-url",
        long = "google.discovery-url",
        value_name = "URL",
        hide = true
    )]
    pub discovery_url: Option<String>,
    /// Admin SDK root (tests, proxies).
    #[arg(
        id = "google.directory-url",
        long = "google.directory-url",
        value_name = "URL",
        hide = true
    )]
    pub directory_url: Option<String>,
    /// Let groups named `system:...` (Kubernetes' reserved groups, such as
    /// system:masters) through. Default: such groups are dropped and logged.
    #[arg(id = "google.allow-system-groups", long = "google.allow-system-groups", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub allow_system_groups: bool,
}

impl GoogleOptions {
    /// Checks the options of the enabled provider.
    pub fn validate(&self) -> Result<(), ProviderError> {
        if self.sa_json_file.is_some() != self.admin_email.is_some() {
            return Err(ProviderError::Invalid(
                "set both --google.sa-json-file and --google.admin-email for groups, or neither"
                    .into(),
            ));
        }
        Ok(())
    }
}
