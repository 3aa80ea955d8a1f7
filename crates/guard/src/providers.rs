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
    if let Some(p) = enabled.iter().find(|p| **p != AuthProvider::TokenAuth) {
        bail!("provider {p} is not available in this build of guard yet; enable token-auth");
    }
    Ok(enabled)
}
