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
    /// How guard gets the groups of a user: client-credential (Graph with
    /// guard's own application token), obo (Graph on behalf of the user),
    /// aks (a Graph token from --azure.aks-token-url), passthrough (the
    /// token's groups claim only), arc (Azure Arc: groups of an overflowed
    /// token from the regional Arc on-behalf-of service, with the Arc
    /// agent's managed identity).
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
    /// Accept only proof-of-possession tokens (kubelogin --pop-enabled):
    /// the access token inside an envelope signed by the client's key,
    /// bound to --azure.pop-hostname and a fresh timestamp.
    #[arg(id = "azure.enable-pop", long = "azure.enable-pop", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub enable_pop: bool,
    /// The host PoP tokens must be bound to (their `u` claim; the API
    /// server's host name, what kubelogin's --pop-claims u= names).
    #[arg(
        id = "azure.pop-hostname",
        long = "azure.pop-hostname",
        value_name = "HOST",
        default_value = "",
        hide_default_value = true
    )]
    pub pop_hostname: String,
    /// How long after its timestamp (`ts`) a PoP token is accepted.
    #[arg(id = "azure.pop-token-validity-duration", long = "azure.pop-token-validity-duration", value_name = "DURATION", default_value = "15m", value_parser = crate::flags::parse_duration)]
    pub pop_token_validity_duration: std::time::Duration,
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
    /// aks mode: where guard exchanges the user's token for a Microsoft
    /// Graph token (the AKS control plane's token service).
    #[arg(
        id = "azure.aks-token-url",
        long = "azure.aks-token-url",
        value_name = "URL"
    )]
    pub aks_token_url: Option<String>,
    /// arc mode: the ARM id of the connected cluster
    /// (`/subscriptions/S/resourceGroups/G/providers/Microsoft.Kubernetes/connectedClusters/NAME`).
    #[arg(
        id = "azure.auth-resource-id",
        long = "azure.auth-resource-id",
        value_name = "ID",
        default_value = "",
        hide_default_value = true
    )]
    pub auth_resource_id: String,
    /// arc mode: the Azure region of the connected cluster (`westeurope`).
    #[arg(
        id = "azure.region",
        long = "azure.region",
        value_name = "REGION",
        default_value = "",
        hide_default_value = true
    )]
    pub region: String,
    /// Overrides the Arc agent's managed identity endpoint (arc modes of
    /// authentication and authorization; tests).
    #[arg(
        id = "azure.arc-msi-url",
        long = "azure.arc-msi-url",
        value_name = "URL",
        hide = true
    )]
    pub arc_msi_url: Option<String>,
    /// Overrides `https://REGION.obo.arc.azure.com:8084`, the Arc
    /// on-behalf-of service (tests, proxies).
    #[arg(
        id = "azure.arc-obo-url",
        long = "azure.arc-obo-url",
        value_name = "URL",
        hide = true
    )]
    pub arc_obo_url: Option<String>,
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

/// `--azure.auth-mode`: how guard gets a user's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Graph, with a client-credential token of guard's application.
    ClientCredential,
    /// Graph, with a token obtained on behalf of the user (OAuth 2.0 OBO).
    OnBehalfOf,
    /// Graph, with a token the AKS token URL exchanges for the user's.
    Aks,
    /// Azure Arc: the token's groups, and for an overflowed token the
    /// regional Arc on-behalf-of service (with the Arc agent's managed
    /// identity).
    Arc,
    /// The token's `groups` claim only; Graph is never called.
    Passthrough,
}

impl AuthMode {
    /// The flag's value.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::ClientCredential => "client-credential",
            AuthMode::OnBehalfOf => "obo",
            AuthMode::Aks => "aks",
            AuthMode::Arc => "arc",
            AuthMode::Passthrough => "passthrough",
        }
    }
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

    /// arc: the regional Arc on-behalf-of service's `getMemberGroups` URL
    /// for the connected cluster, as Go Guard builds it.
    pub fn arc_member_groups_url(&self) -> String {
        let region = self.region.trim().to_ascii_lowercase();
        let base = match &self.arc_obo_url {
            Some(url) => url.trim().trim_end_matches('/').to_owned(),
            None => {
                let suffix = if region.starts_with("usgov") || region.starts_with("usdod") {
                    "us"
                } else if region.starts_with("china") {
                    "cn"
                } else {
                    "com"
                };
                format!("https://{region}.obo.arc.azure.{suffix}:8084")
            }
        };
        let id = self.auth_resource_id.trim();
        let slash = if id.starts_with('/') { "" } else { "/" };
        format!("{base}{slash}{id}/getMemberGroups?api-version=v1")
    }

    /// The client secret, unless unset or empty.
    pub fn client_secret(&self) -> Option<&SecretString> {
        self.client_secret
            .as_ref()
            .filter(|s| !s.expose_secret().is_empty())
    }

    /// `--azure.auth-mode`, read as Go Guard reads it (case-insensitive).
    pub fn mode(&self) -> Result<AuthMode, ProviderError> {
        Ok(match self.auth_mode.trim().to_ascii_lowercase().as_str() {
            "client-credential" => AuthMode::ClientCredential,
            "obo" => AuthMode::OnBehalfOf,
            "aks" => AuthMode::Aks,
            "arc" => AuthMode::Arc,
            "passthrough" => AuthMode::Passthrough,
            other => {
                return Err(ProviderError::Invalid(format!(
                    "invalid --azure.auth-mode={other:?}: client-credential, obo, aks, arc or passthrough"
                )));
            }
        })
    }

    /// Checks the options of the enabled provider; messages name the flag.
    pub fn validate(&self) -> Result<(), ProviderError> {
        let invalid = |m: String| Err(ProviderError::Invalid(m));
        if self.tenant_id.trim().is_empty() {
            return invalid("azure is enabled: set --azure.tenant-id".into());
        }
        environment(&self.environment)?;
        let mode = self.mode()?;
        if self.enable_pop && self.pop_hostname.trim().is_empty() {
            return invalid("--azure.enable-pop needs --azure.pop-hostname: the host PoP tokens must be bound to (the API server's)".into());
        }
        if self.verify_client_id && self.client_id.trim().is_empty() {
            return invalid("azure checks that tokens are issued to guard's application: set --azure.client-id, or --azure.verify-clientID=false to accept tokens of any application of the tenant".into());
        }
        let needs_graph = !self.skip_group_membership_resolution;
        match mode {
            AuthMode::ClientCredential | AuthMode::OnBehalfOf => {
                if needs_graph
                    && (self.client_id.trim().is_empty() || self.client_secret().is_none())
                {
                    return invalid(format!(
                        "azure groups come from Microsoft Graph with --azure.auth-mode={}: set --azure.client-id and --azure.client-secret (or AZURE_CLIENT_SECRET), or --azure.skip-group-membership-resolution",
                        mode.as_str()
                    ));
                }
            }
            AuthMode::Aks => {
                if self
                    .aks_token_url
                    .as_deref()
                    .is_none_or(|u| u.trim().is_empty())
                {
                    return invalid("--azure.auth-mode=aks needs --azure.aks-token-url (where guard exchanges the user's token for a Microsoft Graph token)".into());
                }
            }
            AuthMode::Passthrough => {
                // Go Guard's two rules, kept so that manifests mean the same.
                if !self.graph_call_on_overage_claim {
                    return invalid("--azure.auth-mode=passthrough takes groups from the token only: set --azure.graph-call-on-overage-claim=true".into());
                }
                if needs_graph {
                    return invalid("--azure.auth-mode=passthrough never calls Microsoft Graph: set --azure.skip-group-membership-resolution=true".into());
                }
            }
            AuthMode::Arc => {
                // Go Guard's rules for arc.
                if self.auth_resource_id.trim().is_empty() {
                    return invalid("--azure.auth-mode=arc needs --azure.auth-resource-id (the connected cluster's ARM id)".into());
                }
                if self.region.trim().is_empty() {
                    return invalid("--azure.auth-mode=arc needs --azure.region (the connected cluster's region)".into());
                }
                if !needs_graph {
                    return invalid("--azure.auth-mode=arc resolves overflowed groups: set --azure.skip-group-membership-resolution=false".into());
                }
                if !self.graph_call_on_overage_claim {
                    return invalid("--azure.auth-mode=arc reads groups from the token: set --azure.graph-call-on-overage-claim=true".into());
                }
            }
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
        let e = error(&[
            tenant,
            "--azure.verify-clientID=false",
            "--azure.auth-mode=arc",
        ]);
        assert!(e.contains("--azure.auth-resource-id"), "{e}");
        assert!(error(&[tenant, "--azure.auth-mode=ldap"]).contains("--azure.auth-mode"));
        let no_check = "--azure.verify-clientID=false";
        let e = error(&[tenant, no_check, "--azure.auth-mode=obo"]);
        assert!(
            e.contains("--azure.client-secret") && e.contains("obo"),
            "{e}"
        );
        let e = error(&[tenant, no_check, "--azure.auth-mode=AKS"]);
        assert!(e.contains("--azure.aks-token-url"), "{e}");
        let e = error(&[tenant, no_check, "--azure.auth-mode=passthrough"]);
        assert!(
            e.contains("--azure.graph-call-on-overage-claim=true"),
            "{e}"
        );
        let e = error(&[
            tenant,
            no_check,
            "--azure.auth-mode=passthrough",
            "--azure.graph-call-on-overage-claim",
        ]);
        assert!(
            e.contains("--azure.skip-group-membership-resolution=true"),
            "{e}"
        );
        let e = error(&[
            tenant,
            no_check,
            "--azure.skip-group-membership-resolution",
            "--azure.enable-pop",
        ]);
        assert!(e.contains("--azure.pop-hostname"), "{e}");
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
