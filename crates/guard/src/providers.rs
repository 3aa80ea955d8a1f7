//! The provider flags, checked once for `guard run` and `guard get installer`.

use anyhow::bail;
use guard_api::AuthProvider;

use crate::cli::ProviderFlags;

/// The enabled providers, deduplicated, after checking that every enabled
/// provider has its options and no option belongs to a disabled provider.
pub fn validate(flags: &ProviderFlags) -> anyhow::Result<Vec<AuthProvider>> {
    let mut enabled = flags.auth_providers.clone();
    enabled.sort();
    enabled.dedup();
    if enabled.is_empty() {
        bail!("--auth-providers is empty: name at least one provider");
    }
    let token_auth = enabled.contains(&AuthProvider::TokenAuth);
    match (&flags.token_auth_file, token_auth) {
        (None, true) => bail!("token-auth is enabled: set --token-auth-file"),
        (Some(_), false) => {
            bail!("--token-auth-file is set but token-auth is not in --auth-providers")
        }
        _ => {}
    }
    let options_of = |provider: AuthProvider, set: &[(&str, bool)]| -> anyhow::Result<()> {
        if let Some((flag, _)) = set.iter().find(|(_, set)| *set)
            && !enabled.contains(&provider)
        {
            bail!("{flag} is set but {provider} is not in --auth-providers");
        }
        Ok(())
    };
    options_of(
        AuthProvider::Github,
        &[
            ("--github.base-url", flags.github_base_url.is_some()),
            ("--github.use-team-slug", flags.github_use_team_slug),
        ],
    )?;
    options_of(
        AuthProvider::Gitlab,
        &[
            ("--gitlab.base-url", flags.gitlab_base_url.is_some()),
            ("--gitlab.use-group-id", flags.gitlab_use_group_id),
        ],
    )?;
    if let Some(flag) = flags.ldap.any_set() {
        options_of(AuthProvider::Ldap, &[(flag, true)])?;
    }
    if enabled.contains(&AuthProvider::Ldap) {
        flags
            .ldap
            .options()
            .validate()
            .map_err(anyhow::Error::msg)?;
    }
    // Base URLs are checked here so a typo fails before anything runs.
    guard_providers::github::api_root(flags.github_base_url.as_deref())
        .map_err(anyhow::Error::msg)?;
    guard_providers::gitlab::api_root(flags.gitlab_base_url.as_deref())
        .map_err(anyhow::Error::msg)?;
    Ok(enabled)
}
