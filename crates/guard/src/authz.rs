//! Wiring of the authorization webhook (`--authz-providers=azure`) into
//! `guard run` and `guard get installer` (guard-authz).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use guard_api::InstallerPart;
use guard_authz::{Authorizer, AuthorizerConfig, AuthzArgs, AzureShared};
use guard_providers::ProviderFlags;
use guard_providers::azure::AzureOptions;

/// Go Guard's default for `--azure.http-client-retry-count`.
const DEFAULT_RETRIES: u32 = 2;

/// The azure provider's options (read whether or not azure is enabled).
fn azure(providers: &ProviderFlags) -> anyhow::Result<&AzureOptions> {
    providers
        .options::<AzureOptions>()
        .context("the azure provider is not registered")
}

/// The Azure AD settings authorization shares with the azure provider.
fn shared(azure: &AzureOptions) -> AzureShared {
    AzureShared {
        tenant_id: azure.tenant_id.clone(),
        client_id: azure.client_id.clone(),
        client_secret: azure.client_secret().cloned(),
        environment: azure.environment.clone(),
        arc_msi_url: azure.arc_msi_url.clone(),
    }
}

/// Whether `azure` is in `--auth-providers`.
fn azure_authn(providers: &ProviderFlags) -> bool {
    providers
        .auth_providers()
        .iter()
        .any(|p| p.as_str() == guard_providers::azure::NAME)
}

/// The authorizer for `guard run`, if `--authz-providers` asks for one.
/// Checked before the providers, so that a missing `azure` in
/// `--auth-providers` is named as such.
pub fn authorizer(
    args: &AuthzArgs,
    providers: &ProviderFlags,
    deadline: Duration,
) -> anyhow::Result<Option<Arc<Authorizer>>> {
    if !args.enabled() {
        return Ok(None);
    }
    if args.azure_enabled() && !azure_authn(providers) {
        bail!(
            "--authz-providers=azure decides for Azure AD users, whom the azure provider logs in: add azure to --auth-providers"
        );
    }
    let azure = azure(providers)?;
    let config = AuthorizerConfig {
        args: args.clone(),
        shared: shared(azure),
        deadline,
        retries: azure.http_client_retry_count.unwrap_or(DEFAULT_RETRIES),
    };
    let new_client = Arc::new(|| guard_providers::http::client().map_err(|e| e.to_string()));
    let authorizer = Authorizer::new(config, new_client)
        .context("the authorization webhook (--authz-providers)")?;
    tracing::info!("authorization webhook: {authorizer:?}");
    Ok(Some(Arc::new(authorizer)))
}

/// The installer's part for the authorization webhook: its flags, and the
/// discovery kubeconfig as Secret `guard-azure-authz`.
pub fn installer_part(
    args: &AuthzArgs,
    providers: &ProviderFlags,
) -> anyhow::Result<Option<InstallerPart>> {
    Ok(guard_authz::install::part(
        args,
        &shared(azure(providers)?),
        azure_authn(providers),
        |path| std::fs::read(path),
    )?)
}
