//! `--google.*`.

use std::path::PathBuf;

use crate::ProviderError;

pub(crate) const FLAG_SA_JSON_FILE: &str = "--google.sa-json-file";

/// Options of the `google` provider.
#[derive(Debug, Clone, clap::Args)]
pub struct GoogleOptions {
    /// Your OAuth client's id: the audience of the ID tokens (required).
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
    /// Let reserved `system:` names (groups such as system:masters, and
    /// usernames) through. Default: such groups are dropped and logged, and
    /// such a username is not authenticated.
    #[arg(id = "google.allow-system-groups", long = "google.allow-system-groups", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub allow_system_groups: bool,
}

impl GoogleOptions {
    /// `--google.client-id`, unless unset or blank.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
    }

    /// Checks the options of the enabled provider.
    pub fn validate(&self) -> Result<(), ProviderError> {
        if self.client_id().is_none() {
            return Err(ProviderError::Invalid(
                "google is enabled: set --google.client-id to the id of your own OAuth client (the audience of your users' ID tokens)".into(),
            ));
        }
        if self.sa_json_file.is_some() != self.admin_email.is_some() {
            return Err(ProviderError::Invalid(
                "set both --google.sa-json-file and --google.admin-email for groups, or neither"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_options;

    #[test]
    fn the_client_id_is_required() {
        for args in [&[][..], &["--google.client-id= "][..]] {
            let o: GoogleOptions = parse_options(args).unwrap();
            let e = o.validate().unwrap_err().to_string();
            assert!(e.contains("--google.client-id"), "{e}");
        }
        let o: GoogleOptions = parse_options(&["--google.client-id=app"]).unwrap();
        assert!(o.validate().is_ok());
    }
}
