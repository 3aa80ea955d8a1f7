//! `--gitlab.*`.

use reqwest::Url;

use crate::{ProviderError, http};

pub(crate) const FLAG_BASE_URL: &str = "--gitlab.base-url";
const DEFAULT_API: &str = "https://gitlab.com/api/v4/";

/// Options of the `gitlab` provider.
#[derive(Debug, Clone, clap::Args)]
pub struct GitlabOptions {
    /// Self-hosted GitLab API root, e.g. https://gitlab.example.com (api/v4/
    /// is appended unless present). Default: gitlab.com.
    #[arg(id = "gitlab.base-url", long = "gitlab.base-url", value_name = "URL")]
    pub base_url: Option<String>,

    /// Use GitLab group ids instead of full paths as groups.
    #[arg(id = "gitlab.use-group-id", long = "gitlab.use-group-id", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub use_group_id: bool,
    /// Let reserved `system:` names (groups such as system:masters, and
    /// usernames) through. Default: such groups are dropped and logged, and
    /// such a username is not authenticated.
    #[arg(id = "gitlab.allow-system-groups", long = "gitlab.allow-system-groups", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub allow_system_groups: bool,

    /// Let every user of this GitLab log in, whatever the client
    /// certificate's CN (Go Guard's behaviour; with gitlab.com that is anyone
    /// with an account). By default the CN names the group whose members
    /// may log in.
    #[arg(id = "gitlab.allow-any-user", long = "gitlab.allow-any-user", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub allow_any_user: bool,
}

impl GitlabOptions {
    /// Checks the options of the enabled provider.
    pub fn validate(&self) -> Result<(), ProviderError> {
        api_root(self.base_url.as_deref()).map(|_| ())
    }
}

/// The API root for `--gitlab.base-url`, with go-gitlab's rule (so Go
/// Guard's flag values keep working): `https://gitlab.com/api/v4/` by
/// default; a custom URL gets `api/v4/` appended unless it already ends so.
pub fn api_root(base_url: Option<&str>) -> Result<Url, ProviderError> {
    let Some(raw) = base_url.filter(|s| !s.trim().is_empty()) else {
        return Url::parse(DEFAULT_API).map_err(|source| ProviderError::BadUrl {
            flag: FLAG_BASE_URL,
            value: DEFAULT_API.to_owned(),
            source,
        });
    };
    let url = http::base_url(raw, FLAG_BASE_URL)?;
    if url.path().ends_with("/api/v4/") {
        Ok(url)
    } else {
        url.join("api/v4/").map_err(|source| ProviderError::BadUrl {
            flag: FLAG_BASE_URL,
            value: raw.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_follows_go_gitlabs_rule() {
        let root = |s: Option<&str>| api_root(s).unwrap().to_string();
        assert_eq!(root(None), "https://gitlab.com/api/v4/");
        assert_eq!(
            root(Some("https://git.example.com")),
            "https://git.example.com/api/v4/"
        );
        assert_eq!(
            root(Some("https://git.example.com/gitlab/")),
            "https://git.example.com/gitlab/api/v4/"
        );
        assert_eq!(
            root(Some("https://git.example.com/api/v4")),
            "https://git.example.com/api/v4/"
        );
    }
}
