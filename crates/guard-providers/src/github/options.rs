//! `--github.*`.

use reqwest::Url;

use crate::{ProviderError, http};

pub(crate) const FLAG_BASE_URL: &str = "--github.base-url";
const DEFAULT_API: &str = "https://api.github.com/";

/// Options of the `github` provider.
#[derive(Debug, Clone, clap::Args)]
pub struct GithubOptions {
    /// GitHub Enterprise API root, e.g. https://ghe.example.com (api/v3/ is
    /// appended unless present). Default: api.github.com.
    #[arg(id = "github.base-url", long = "github.base-url", value_name = "URL")]
    pub base_url: Option<String>,

    /// Use GitHub team slugs instead of team names as groups.
    #[arg(id = "github.use-team-slug", long = "github.use-team-slug", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub use_team_slug: bool,
    /// Let reserved `system:` names (groups such as system:masters, and
    /// usernames) through. Default: such groups are dropped and logged, and
    /// such a username is not authenticated.
    #[arg(id = "github.allow-system-groups", long = "github.allow-system-groups", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub allow_system_groups: bool,
}

impl GithubOptions {
    /// Checks the options of the enabled provider.
    pub fn validate(&self) -> Result<(), ProviderError> {
        api_root(self.base_url.as_deref()).map(|_| ())
    }
}

/// The API root for `--github.base-url`, with go-github's rule (so Go
/// Guard's flag values keep working): `https://api.github.com/` by default;
/// a custom URL gets `api/v3/` appended unless its path already ends with
/// `/api/v3/` or its host is an `api.` host.
pub fn api_root(base_url: Option<&str>) -> Result<Url, ProviderError> {
    let Some(raw) = base_url.filter(|s| !s.trim().is_empty()) else {
        return Url::parse(DEFAULT_API).map_err(|source| ProviderError::BadUrl {
            flag: FLAG_BASE_URL,
            value: DEFAULT_API.to_owned(),
            source,
        });
    };
    let mut url = http::base_url(raw, FLAG_BASE_URL)?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let api_host = host.starts_with("api.") || host.contains(".api.");
    if !url.path().ends_with("/api/v3/") && !api_host {
        url = url
            .join("api/v3/")
            .map_err(|source| ProviderError::BadUrl {
                flag: FLAG_BASE_URL,
                value: raw.to_owned(),
                source,
            })?;
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_follows_go_githubs_rule() {
        let root = |s: Option<&str>| api_root(s).unwrap().to_string();
        assert_eq!(root(None), "https://api.github.com/");
        assert_eq!(root(Some("")), "https://api.github.com/");
        assert_eq!(
            root(Some("https://ghe.example.com")),
            "https://ghe.example.com/api/v3/"
        );
        assert_eq!(
            root(Some("https://ghe.example.com/api/v3")),
            "https://ghe.example.com/api/v3/"
        );
        assert_eq!(
            root(Some("https://ghe.example.com/api/v3/")),
            "https://ghe.example.com/api/v3/"
        );
        assert_eq!(
            root(Some("https://api.ghe.example.com/")),
            "https://api.ghe.example.com/"
        );
        assert!(api_root(Some("ftp://x")).is_err());
        assert!(api_root(Some("not a url")).is_err());
    }
}
