//! `--azure.*` (authentication; the tenant, client and environment are
//! shared with the authorization webhook, whose own flags are in guard-authz).

use secrecy::{ExposeSecret as _, SecretString};

use crate::ProviderError;

/// Options of the `azure` provider.
#[derive(Debug, Clone, clap::Args)]
pub struct AzureOptions {
    /// Azure AD tenant id.
    #[arg(
        id = "azure.tenant-id",
        long = "azure.tenant-id",
        value_name = "ID",
        default_value = "",
        hide_default_value = true
    )]
    pub tenant_id: String,
    /// Client id of guard's Azure AD application.
    #[arg(
        id = "azure.client-id",
        long = "azure.client-id",
        value_name = "ID",
        default_value = "",
        hide_default_value = true
    )]
    pub client_id: String,
    /// Client secret of guard's application (prefer AZURE_CLIENT_SECRET).
    #[arg(
        id = "azure.client-secret",
        long = "azure.client-secret",
        value_name = "SECRET",
        env = "AZURE_CLIENT_SECRET",
        hide_env_values = true,
        value_parser = crate::flags::parse_secret
    )]
    pub client_secret: Option<SecretString>,
    /// AzurePublicCloud (default), AzureChinaCloud, AzureUSGovernmentCloud, AzureGermanCloud.
    #[arg(
        id = "azure.environment",
        long = "azure.environment",
        value_name = "NAME",
        default_value = ""
    )]
    pub environment: String,
    /// client-credential (aks, arc, obo and passthrough are not supported yet).
    #[arg(
        id = "azure.auth-mode",
        long = "azure.auth-mode",
        value_name = "MODE",
        default_value = "client-credential"
    )]
    pub auth_mode: String,
    /// Check that the token's audience is --azure.client-id. `false`
    /// accepts tokens issued to any application of the tenant (Go Guard's
    /// default).
    #[arg(id = "azure.verify-clientID", long = "azure.verify-clientID", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
    pub verify_client_id: bool,
    /// Groups are object ids (true) or display names (false).
    #[arg(id = "azure.use-group-uid", long = "azure.use-group-uid", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
    pub use_group_uid: bool,
    /// Use the token's groups claim and call Graph only when it overflowed.
    #[arg(id = "azure.graph-call-on-overage-claim", long = "azure.graph-call-on-overage-claim", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub graph_call_on_overage_claim: bool,
    /// Never call Graph; groups only from the token's claim.
    #[arg(id = "azure.skip-group-membership-resolution", long = "azure.skip-group-membership-resolution", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub skip_group_membership_resolution: bool,
    /// PoP tokens (not supported yet).
    #[arg(id = "azure.enable-pop", long = "azure.enable-pop", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true", hide = true)]
    pub enable_pop: bool,
    /// Overrides LOGIN/TENANT/v2.0 for discovery (tests, proxies).
    #[arg(
        id = "azure.discovery-url",
        long = "azure.discovery-url",
        value_name = "URL",
        hide = true
    )]
    pub discovery_url: Option<String>,
    /// Overrides the environment's Microsoft Graph root (tests, proxies).
    #[arg(
        id = "azure.graph-url",
        long = "azure.graph-url",
        value_name = "URL",
        hide = true
    )]
    pub graph_url: Option<String>,
    /// Accepted for compatibility with Go Guard manifests (aks mode).
    #[arg(
        id = "azure.aks-token-url",
        long = "azure.aks-token-url",
        value_name = "URL",
        hide = true
    )]
    pub aks_token_url: Option<String>,
    /// Extra attempts of a failed ARM CheckAccess call (authorization webhook).
    #[arg(
        id = "azure.http-client-retry-count",
        long = "azure.http-client-retry-count",
        value_name = "N",
        hide = true
    )]
    pub http_client_retry_count: Option<u32>,
    /// Let reserved `system:` names (groups such as system:masters, and
    /// usernames) through. Default: such groups are dropped and logged, and
    /// such a username is not authenticated.
    #[arg(id = "azure.allow-system-groups", long = "azure.allow-system-groups", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub allow_system_groups: bool,
}

/// `(login, graph, v1 issuer host)` of an Azure environment.
pub(crate) fn environment(
    name: &str,
) -> Result<(&'static str, &'static str, &'static str), ProviderError> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "" | "azurepubliccloud" => (
            "https://login.microsoftonline.com/",
            "https://graph.microsoft.com/",
            "https://sts.windows.net/",
        ),
        "azurechinacloud" => (
            "https://login.chinacloudapi.cn/",
            "https://microsoftgraph.chinacloudapi.cn/",
            "https://sts.chinacloudapi.cn/",
        ),
        "azureusgovernmentcloud" => (
            "https://login.microsoftonline.us/",
            "https://graph.microsoft.us/",
            "https://sts.windows.net/",
        ),
        "azuregermancloud" => (
            "https://login.microsoftonline.de/",
            "https://graph.microsoft.de/",
            "https://sts.microsoftonline.de/",
        ),
        other => {
            return Err(ProviderError::Invalid(format!(
                "unknown --azure.environment {other:?}: AzurePublicCloud, AzureChinaCloud, AzureUSGovernmentCloud or AzureGermanCloud"
            )));
        }
    })
}

/// The issuers of a tenant's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIssuers {
    /// v2 tokens' `iss`: `LOGIN/TENANT/v2.0`, or `--azure.discovery-url`.
    pub v2: String,
    /// v1 tokens' `iss`: `STS/TENANT/`.
    pub v1: String,
    /// Where the v1 issuer's discovery document is: `LOGIN/TENANT/.well-known/openid-configuration`.
    pub v1_discovery: String,
}

impl AzureOptions {
    /// The issuers guard accepts for this tenant and environment.
    pub fn token_issuers(&self) -> Result<TokenIssuers, ProviderError> {
        let (login, _, v1) = environment(&self.environment)?;
        let tenant = self.tenant_id.trim();
        let v2 = self
            .discovery_url
            .clone()
            .unwrap_or_else(|| format!("{login}{tenant}/v2.0"));
        Ok(TokenIssuers {
            v2: v2.trim_end_matches('/').to_owned(),
            v1: format!("{v1}{tenant}/"),
            v1_discovery: format!("{login}{tenant}/.well-known/openid-configuration"),
        })
    }

    /// The client secret, unless unset or empty.
    pub fn client_secret(&self) -> Option<&SecretString> {
        self.client_secret
            .as_ref()
            .filter(|s| !s.expose_secret().is_empty())
    }

    /// Checks the options of the enabled provider; messages name the flag.
    pub fn validate(&self) -> Result<(), ProviderError> {
        let invalid = |m: String| Err(ProviderError::Invalid(m));
        if self.tenant_id.trim().is_empty() {
            return invalid("azure is enabled: set --azure.tenant-id".into());
        }
        environment(&self.environment)?;
        let mode = self.auth_mode.to_ascii_lowercase();
        if mode != "client-credential" {
            return invalid(format!(
                "--azure.auth-mode={mode} is not supported yet; use client-credential"
            ));
        }
        if self.enable_pop {
            return invalid("--azure.enable-pop (PoP tokens) is not supported yet".into());
        }
        if self.verify_client_id && self.client_id.trim().is_empty() {
            return invalid("azure checks that tokens are issued to guard's application: set --azure.client-id, or --azure.verify-clientID=false to accept tokens of any application of the tenant".into());
        }
        let needs_graph = !self.skip_group_membership_resolution;
        if needs_graph && (self.client_id.trim().is_empty() || self.client_secret().is_none()) {
            return invalid("azure groups come from Microsoft Graph: set --azure.client-id and --azure.client-secret (or AZURE_CLIENT_SECRET), or --azure.skip-group-membership-resolution".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_options;

    fn error(args: &[&str]) -> String {
        let o: AzureOptions = parse_options(args).unwrap();
        o.validate().unwrap_err().to_string()
    }

    #[test]
    fn validation_names_the_flag_and_hides_the_secret() {
        assert!(error(&[]).contains("--azure.tenant-id"));
        let tenant = "--azure.tenant-id=t";
        assert!(error(&[tenant]).contains("--azure.client-id"));
        assert!(
            error(&[tenant, "--azure.verify-clientID=false"]).contains("--azure.client-secret")
        );
        let e = error(&[tenant, "--azure.skip-group-membership-resolution"]);
        assert!(e.contains("--azure.verify-clientID=false"), "{e}");
        assert!(error(&[tenant, "--azure.environment=Mars"]).contains("--azure.environment"));
        assert!(error(&[tenant, "--azure.auth-mode=obo"]).contains("not supported yet"));
        let o: AzureOptions = parse_options(&[
            tenant,
            "--azure.client-id=c",
            "--azure.client-secret=s3cr3t-value",
        ])
        .unwrap();
        assert!(o.validate().is_ok());
        assert!(!format!("{o:?}").contains("s3cr3t-value"));
    }
}
