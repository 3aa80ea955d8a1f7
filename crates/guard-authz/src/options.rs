//! The authorization webhook's options: Go Guard's flag names and defaults
//! (`--authz-providers`, `--azure.authz-mode`, ...) as a clap [`Args`] type
//! the binary flattens into `guard run` and `guard get installer`, their
//! checks, and the flags the installer passes on.
//!
//! The Azure AD settings authorization shares with authentication
//! (`--azure.tenant-id`, `--azure.client-id`, `--azure.client-secret`,
//! `--azure.environment`) belong to the azure provider's flags; the binary
//! hands them over as [`AzureShared`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// The Go Guard defaults.
pub mod defaults {
    /// `--azure.arm-call-limit`
    pub const ARM_CALL_LIMIT: i64 = 2000;
    /// The largest `--azure.arm-call-limit` (ARM allows 12,000 reads an hour
    /// per subscription and principal; Go Guard caps the threshold here).
    pub const MAX_ARM_CALL_LIMIT: i64 = 4000;
    /// `--azure.cache-size-mb`
    pub const CACHE_SIZE_MB: u32 = 50;
    /// `--azure.cache-ttl-minutes`
    pub const CACHE_TTL_MINUTES: u32 = 3;
}

/// The authorization webhook (`--authz-providers` and the `--azure.*`
/// authorization flags).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Authorization webhook (--authz-providers=azure)")]
pub struct AuthzArgs {
    /// Answer SubjectAccessReviews on POST /subjectaccessreviews for these
    /// providers: azure (Azure RBAC through ARM CheckAccess; the API server's
    /// client certificate must have O=azure). Not set: the route answers 404.
    #[arg(
        long = "authz-providers",
        value_name = "PROVIDERS",
        value_delimiter = ','
    )]
    pub authz_providers: Vec<String>,

    /// Whose RBAC decides: aks (managed cluster), arc (connected cluster),
    /// fleet (fleet hub cluster) or aimanager.
    #[arg(
        id = "azure.authz-mode",
        long = "azure.authz-mode",
        value_name = "MODE",
        default_value = ""
    )]
    pub authz_mode: String,

    /// ARM id of the cluster, the scope of the checks:
    /// /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ContainerService/managedClusters/NAME
    /// (aks), .../Microsoft.Kubernetes/connectedClusters/NAME (arc),
    /// .../Microsoft.ContainerService/fleets/NAME (fleet) or
    /// .../Microsoft.ContainerService/aiManagers/NAME (aimanager).
    #[arg(
        id = "azure.resource-id",
        long = "azure.resource-id",
        value_name = "ID",
        default_value = ""
    )]
    pub resource_id: String,

    /// aks, fleet, aimanager: where guard gets its ARM token (POST
    /// {"tenantID": ...}, answered with access_token and expires_on).
    #[arg(
        id = "azure.aks-authz-token-url",
        long = "azure.aks-authz-token-url",
        value_name = "URL",
        default_value = ""
    )]
    pub aks_authz_token_url: String,

    /// When ARM reports fewer reads left than this
    /// (x-ms-ratelimit-remaining-subscription-reads), or throttles (429),
    /// guard opens new connections so that its next calls reach another ARM
    /// instance. At most 4000.
    #[arg(id = "azure.arm-call-limit", long = "azure.arm-call-limit", value_name = "N", default_value_t = defaults::ARM_CALL_LIMIT, allow_negative_numbers = true)]
    pub arm_call_limit: i64,

    /// arc: users (compared lower-cased) whose requests get no opinion from
    /// guard, comma separated.
    #[arg(
        id = "azure.skip-authz-check",
        long = "azure.skip-authz-check",
        value_name = "USERS",
        value_delimiter = ','
    )]
    pub skip_authz_check: Vec<String>,

    /// Users without extra.oid (not Azure AD identities: service accounts,
    /// certificate users) get no opinion, so the next authorizer (RBAC)
    /// decides. false: they are denied.
    #[arg(id = "azure.skip-authz-for-non-aad-users", long = "azure.skip-authz-for-non-aad-users", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
    pub skip_authz_for_non_aad_users: bool,

    /// Allow GET on /api*, /openapi*, /version* and /healthz* (discovery)
    /// to every Azure AD user without asking Azure.
    #[arg(id = "azure.allow-nonres-discovery-path-access", long = "azure.allow-nonres-discovery-path-access", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
    pub allow_nonres_discovery_path_access: bool,

    /// Check resources unknown to Azure's operations list as custom
    /// resources (TYPE/customresources/read|write|delete, with the group and
    /// resource as attributes). Needs --azure.discover-resources.
    #[arg(id = "azure.allow-custom-resource-type-check", long = "azure.allow-custom-resource-type-check", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub allow_custom_resource_type_check: bool,

    /// Send the subresource (pods/exec, pods/log, deployments/scale, ...) as
    /// an attribute, for Azure role conditions. Needs --azure.discover-resources.
    #[arg(id = "azure.allow-subresource-type-check", long = "azure.allow-subresource-type-check", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub allow_subresource_type_check: bool,

    /// Namespace scope as RESOURCE/providers/Microsoft.KubernetesConfiguration/namespaces/NS
    /// instead of RESOURCE/namespaces/NS.
    #[arg(id = "azure.use-ns-resource-scope-format", long = "azure.use-ns-resource-scope-format", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub use_ns_resource_scope_format: bool,

    /// kubeconfig of the cluster, for --azure.discover-resources. Default:
    /// the pod's service account.
    #[arg(
        id = "azure.kubeconfig-file",
        long = "azure.kubeconfig-file",
        value_name = "FILE"
    )]
    pub kubeconfig_file: Option<PathBuf>,

    /// aks, fleet: when the namespace scope does not allow, try the managed
    /// namespace RESOURCE/managedNamespaces/NS.
    #[arg(id = "azure.use-managed-namespace-resource-scope-format", long = "azure.use-managed-namespace-resource-scope-format", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub use_managed_namespace_resource_scope_format: bool,

    /// Read the cluster's resources (API discovery) and Azure's operations
    /// list, so that wildcard requests (verb, resource or group *) and the
    /// custom-resource check work. /readyz answers 503 until both are read.
    #[arg(id = "azure.discover-resources", long = "azure.discover-resources", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub discover_resources: bool,

    /// How often --azure.discover-resources reads them again.
    #[arg(id = "azure.discover-resources-frequency", long = "azure.discover-resources-frequency", value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub discover_resources_frequency: Duration,

    /// Log every SubjectAccessReview's attributes (debug level).
    #[arg(id = "azure.audit-sar", long = "azure.audit-sar", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub audit_sar: bool,

    /// The fleet the cluster has joined
    /// (/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ContainerService/fleets/NAME):
    /// when the cluster's own scope does not allow, its fleet-member roles are checked.
    #[arg(
        id = "azure.fleet-resource-id",
        long = "azure.fleet-resource-id",
        value_name = "ID",
        default_value = ""
    )]
    pub fleet_resource_id: String,

    /// CheckAccess v2 (Azure's policy decision point). Not supported yet.
    #[arg(id = "azure.use-checkaccess-v2", long = "azure.use-checkaccess-v2", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true", hide = true)]
    pub use_checkaccess_v2: bool,

    /// CheckAccess v2 endpoint (not supported yet).
    #[arg(
        id = "azure.pdp-endpoint",
        long = "azure.pdp-endpoint",
        value_name = "URL",
        default_value = "",
        hide = true
    )]
    pub pdp_endpoint: String,

    /// CheckAccess v2 OAuth scope (not supported yet).
    #[arg(
        id = "azure.pdp-scope",
        long = "azure.pdp-scope",
        value_name = "SCOPE",
        default_value = "",
        hide = true
    )]
    pub pdp_scope: String,

    /// CheckAccess v2 API version (not supported yet).
    #[arg(
        id = "azure.checkaccess-v2-api-version",
        long = "azure.checkaccess-v2-api-version",
        value_name = "VERSION",
        default_value = "",
        hide = true
    )]
    pub checkaccess_v2_api_version: String,

    /// Room for cached decisions, in MiB (1-500).
    #[arg(id = "azure.cache-size-mb", long = "azure.cache-size-mb", value_name = "MIB", default_value_t = defaults::CACHE_SIZE_MB)]
    pub cache_size_mb: u32,

    /// How long a decision (allowed or denied) is reused, in minutes (1-60).
    #[arg(id = "azure.cache-ttl-minutes", long = "azure.cache-ttl-minutes", value_name = "MINUTES", default_value_t = defaults::CACHE_TTL_MINUTES)]
    pub cache_ttl_minutes: u32,

    /// Overrides the environment's Azure Resource Manager root (Azure Stack, proxies, tests).
    #[arg(
        id = "azure.arm-url",
        long = "azure.arm-url",
        value_name = "URL",
        hide = true
    )]
    pub arm_url: Option<String>,

    /// Overrides the environment's Azure AD root, for arc's ARM token (tests, proxies).
    #[arg(
        id = "azure.login-url",
        long = "azure.login-url",
        value_name = "URL",
        hide = true
    )]
    pub login_url: Option<String>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (examples: 5m, 90s, 1h)"))
}

/// The Azure AD settings shared with the azure authentication provider.
#[derive(Debug, Clone, Default)]
pub struct AzureShared {
    /// `--azure.tenant-id`
    pub tenant_id: String,
    /// `--azure.client-id`
    pub client_id: String,
    /// `--azure.client-secret` (`AZURE_CLIENT_SECRET`)
    pub client_secret: Option<secrecy::SecretString>,
    /// `--azure.environment`
    pub environment: String,
    /// `--azure.arc-msi-url`: overrides the Arc agent's managed identity
    /// endpoint (arc without a client secret; shared with authentication's
    /// arc mode).
    pub arc_msi_url: Option<String>,
}

/// Which kind of Azure resource the cluster is, from `--azure.authz-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthzMode {
    /// AKS managed cluster.
    Aks,
    /// Azure Arc connected cluster.
    Arc,
    /// Azure Kubernetes Fleet Manager hub.
    Fleet,
    /// AI manager.
    AiManager,
}

impl AuthzMode {
    /// The ARM resource type that prefixes every action id.
    pub fn resource_type(self) -> &'static str {
        match self {
            AuthzMode::Aks => "Microsoft.ContainerService/managedClusters",
            AuthzMode::Arc => "Microsoft.Kubernetes/connectedClusters",
            AuthzMode::Fleet => "Microsoft.ContainerService/fleets",
            AuthzMode::AiManager => "Microsoft.ContainerService/aiManagers",
        }
    }

    /// Whether the ARM token comes from `--azure.aks-authz-token-url`.
    pub fn uses_token_url(self) -> bool {
        !matches!(self, AuthzMode::Arc)
    }

    /// ARM's operations list for this resource type (for discovery).
    pub fn operations_path(self) -> &'static str {
        match self {
            AuthzMode::Arc => "providers/Microsoft.Kubernetes/operations?api-version=2021-10-01",
            AuthzMode::AiManager => {
                "providers/Microsoft.ContainerService/operations?api-version=2026-03-02-preview"
            }
            AuthzMode::Aks | AuthzMode::Fleet => {
                "providers/Microsoft.ContainerService/operations?api-version=2018-10-31"
            }
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "aks" => Some(AuthzMode::Aks),
            "arc" => Some(AuthzMode::Arc),
            "fleet" => Some(AuthzMode::Fleet),
            "aimanager" => Some(AuthzMode::AiManager),
            _ => None,
        }
    }
}

/// The ARM resource type of a fleet.
pub const FLEETS: &str = "Microsoft.ContainerService/fleets";
/// The action prefix of fleet members' roles (the fleet fallback).
pub const FLEET_MEMBERS: &str = "Microsoft.ContainerService/fleets/members";

impl AuthzArgs {
    /// Whether `--authz-providers` enables azure.
    pub fn azure_enabled(&self) -> bool {
        self.authz_providers
            .iter()
            .any(|p| p.trim().eq_ignore_ascii_case("azure"))
    }

    /// Whether any authorization provider is asked for.
    pub fn enabled(&self) -> bool {
        self.authz_providers.iter().any(|p| !p.trim().is_empty())
    }

    /// Checks the options; every problem, in one line, separated by `; `.
    pub fn validate(&self, shared: &AzureShared) -> Result<(), String> {
        let mut errors = Vec::new();
        for p in &self.authz_providers {
            let p = p.trim();
            if !p.is_empty() && !p.eq_ignore_ascii_case("azure") {
                errors.push(format!(
                    "--authz-providers: {p:?} is not an authorization provider guard has (azure)"
                ));
            }
        }
        if self.azure_enabled() {
            self.validate_azure(shared, &mut errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn validate_azure(&self, shared: &AzureShared, errors: &mut Vec<String>) {
        let mode = AuthzMode::parse(&self.authz_mode);
        match mode {
            None => errors.push(format!(
                "--azure.authz-mode={:?}: expected aks, arc, fleet or aimanager",
                self.authz_mode
            )),
            Some(_) if self.resource_id.trim().is_empty() => errors.push(
                "set --azure.resource-id: the ARM id of the cluster the checks are scoped to"
                    .into(),
            ),
            Some(_) => {}
        }
        if let Some(mode) = mode {
            let url = self.aks_authz_token_url.trim();
            if mode.uses_token_url() && url.is_empty() {
                errors.push(
                    "--azure.authz-mode aks, fleet and aimanager get their ARM token from --azure.aks-authz-token-url: set it".into(),
                );
            }
            if !mode.uses_token_url() && !url.is_empty() {
                errors.push(
                    "--azure.aks-authz-token-url applies to --azure.authz-mode aks, fleet and aimanager only".into(),
                );
            }
            if mode == AuthzMode::Arc && shared.client_id.trim().is_empty() {
                errors.push(
                    "--azure.authz-mode=arc gets its ARM token as guard's application: set --azure.client-id".into(),
                );
            }
        }
        if shared.tenant_id.trim().is_empty() {
            errors.push("the authorization webhook needs --azure.tenant-id".into());
        }
        if self.arm_call_limit > defaults::MAX_ARM_CALL_LIMIT {
            errors.push(format!(
                "--azure.arm-call-limit={} is above {}",
                self.arm_call_limit,
                defaults::MAX_ARM_CALL_LIMIT
            ));
        }
        if !self.discover_resources && self.allow_custom_resource_type_check {
            errors.push(
                "--azure.allow-custom-resource-type-check needs --azure.discover-resources".into(),
            );
        }
        if !self.discover_resources && self.allow_subresource_type_check {
            errors.push(
                "--azure.allow-subresource-type-check needs --azure.discover-resources".into(),
            );
        }
        if !self.fleet_resource_id.trim().is_empty()
            && let Err(e) = check_fleet_id(self.fleet_resource_id.trim())
        {
            errors.push(e);
        }
        if self.use_checkaccess_v2
            || !self.pdp_endpoint.is_empty()
            || !self.pdp_scope.is_empty()
            || !self.checkaccess_v2_api_version.is_empty()
        {
            errors.push(
                "--azure.use-checkaccess-v2, --azure.pdp-endpoint and --azure.pdp-scope (CheckAccess v2) are not supported yet: guard calls ARM CheckAccess".into(),
            );
        }
        if !(1..=500).contains(&self.cache_size_mb) {
            errors.push(format!(
                "--azure.cache-size-mb={} is outside 1-500",
                self.cache_size_mb
            ));
        }
        if !(1..=60).contains(&self.cache_ttl_minutes) {
            errors.push(format!(
                "--azure.cache-ttl-minutes={} is outside 1-60",
                self.cache_ttl_minutes
            ));
        }
        if self.discover_resources_frequency < Duration::from_secs(1) {
            errors.push("--azure.discover-resources-frequency must be at least 1s".into());
        }
    }

    /// The mode, once [validated](Self::validate).
    pub fn mode(&self) -> Option<AuthzMode> {
        AuthzMode::parse(&self.authz_mode)
    }

    /// The `guard run` flags that reproduce these options in the installer
    /// (every authorization flag that differs from its default; unlike Go
    /// Guard, fleet, aimanager, the scope formats, discovery and the cache
    /// settings are passed on too). `kubeconfig_path` replaces
    /// `--azure.kubeconfig-file` (where the installer mounts it).
    pub fn installer_flags(&self, kubeconfig_path: Option<&str>) -> Vec<String> {
        let mut args = Vec::new();
        if !self.enabled() {
            return args;
        }
        let providers: Vec<&str> = self
            .authz_providers
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .collect();
        args.push(format!("--authz-providers={}", providers.join(",")));
        if !self.azure_enabled() {
            return args;
        }
        let mut flag = |name: &str, value: String| args.push(format!("--azure.{name}={value}"));
        flag("authz-mode", self.authz_mode.trim().to_ascii_lowercase());
        flag("resource-id", self.resource_id.trim().to_owned());
        flag("arm-call-limit", self.arm_call_limit.to_string());
        if !self.aks_authz_token_url.is_empty() {
            flag("aks-authz-token-url", self.aks_authz_token_url.clone());
        }
        let skip: Vec<&str> = self
            .skip_authz_check
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if !skip.is_empty() {
            flag("skip-authz-check", skip.join(","));
        }
        for (name, value, default) in [
            (
                "skip-authz-for-non-aad-users",
                self.skip_authz_for_non_aad_users,
                true,
            ),
            (
                "allow-nonres-discovery-path-access",
                self.allow_nonres_discovery_path_access,
                true,
            ),
            (
                "allow-custom-resource-type-check",
                self.allow_custom_resource_type_check,
                false,
            ),
            (
                "allow-subresource-type-check",
                self.allow_subresource_type_check,
                false,
            ),
            (
                "use-ns-resource-scope-format",
                self.use_ns_resource_scope_format,
                false,
            ),
            (
                "use-managed-namespace-resource-scope-format",
                self.use_managed_namespace_resource_scope_format,
                false,
            ),
            ("discover-resources", self.discover_resources, false),
            ("audit-sar", self.audit_sar, false),
        ] {
            // Go Guard always writes the first four; guard writes them too.
            if value != default || name.starts_with("skip-") || name.starts_with("allow-") {
                flag(name, value.to_string());
            }
        }
        if self.discover_resources {
            flag(
                "discover-resources-frequency",
                humantime::format_duration(self.discover_resources_frequency).to_string(),
            );
            if let Some(path) = kubeconfig_path {
                flag("kubeconfig-file", path.to_owned());
            }
        }
        if !self.fleet_resource_id.trim().is_empty() {
            flag(
                "fleet-resource-id",
                self.fleet_resource_id.trim().to_owned(),
            );
        }
        if self.cache_size_mb != defaults::CACHE_SIZE_MB {
            flag("cache-size-mb", self.cache_size_mb.to_string());
        }
        if self.cache_ttl_minutes != defaults::CACHE_TTL_MINUTES {
            flag("cache-ttl-minutes", self.cache_ttl_minutes.to_string());
        }
        for (name, value) in [("arm-url", &self.arm_url), ("login-url", &self.login_url)] {
            if let Some(v) = value {
                flag(name, v.clone());
            }
        }
        args
    }
}

/// Checks that `id` is the ARM id of a fleet
/// (`/subscriptions/S/resourceGroups/G/providers/Microsoft.ContainerService/fleets/NAME`).
fn check_fleet_id(id: &str) -> Result<(), String> {
    let parts: Vec<&str> = id.split('/').filter(|p| !p.is_empty()).collect();
    let ok = parts.len() == 8
        && parts[0].eq_ignore_ascii_case("subscriptions")
        && parts[2].eq_ignore_ascii_case("resourceGroups")
        && parts[4].eq_ignore_ascii_case("providers")
        && format!("{}/{}", parts[5], parts[6]).eq_ignore_ascii_case(FLEETS);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--azure.fleet-resource-id={id:?} is not the ARM id of a fleet (/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ContainerService/fleets/NAME)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        authz: AuthzArgs,
    }

    fn parse(args: &[&str]) -> AuthzArgs {
        let mut all = vec!["guard"];
        all.extend(args);
        Cli::try_parse_from(all).unwrap().authz
    }

    fn shared() -> AzureShared {
        AzureShared {
            tenant_id: "t".into(),
            client_id: "c".into(),
            ..AzureShared::default()
        }
    }

    const AKS: &str =
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/c";

    #[test]
    fn go_guard_defaults() {
        let a = parse(&[]);
        assert!(!a.enabled());
        assert_eq!(a.arm_call_limit, 2000);
        assert!(a.skip_authz_for_non_aad_users && a.allow_nonres_discovery_path_access);
        assert_eq!((a.cache_size_mb, a.cache_ttl_minutes), (50, 3));
        assert_eq!(a.discover_resources_frequency, Duration::from_secs(300));
        assert!(a.validate(&AzureShared::default()).is_ok());
        assert!(a.installer_flags(None).is_empty());
    }

    #[test]
    fn every_problem_is_reported() {
        let a = parse(&[
            "--authz-providers=azure,github",
            "--azure.authz-mode=arc",
            "--azure.aks-authz-token-url=https://x",
            "--azure.arm-call-limit=5000",
            "--azure.allow-custom-resource-type-check",
            "--azure.fleet-resource-id=/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/c",
            "--azure.cache-ttl-minutes=0",
        ]);
        let err = a.validate(&AzureShared::default()).unwrap_err();
        for expected in [
            "\"github\" is not an authorization provider",
            "set --azure.resource-id",
            "applies to --azure.authz-mode aks, fleet and aimanager only",
            "set --azure.client-id",
            "--azure.tenant-id",
            "above 4000",
            "needs --azure.discover-resources",
            "not the ARM id of a fleet",
            "outside 1-60",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
        }
        let bad_mode = parse(&["--authz-providers=azure", "--azure.authz-mode=eks"]);
        assert!(
            bad_mode
                .validate(&shared())
                .unwrap_err()
                .contains("expected aks, arc, fleet or aimanager")
        );
        let aks_without_url = parse(&[
            "--authz-providers=azure",
            "--azure.authz-mode=AKS",
            &format!("--azure.resource-id={AKS}"),
        ]);
        assert!(
            aks_without_url
                .validate(&shared())
                .unwrap_err()
                .contains("--azure.aks-authz-token-url")
        );
    }

    #[test]
    fn the_installer_gets_every_non_default_flag() {
        let a = parse(&[
            "--authz-providers=azure",
            "--azure.authz-mode=fleet",
            &format!("--azure.resource-id={AKS}"),
            "--azure.aks-authz-token-url=https://token.example/authz",
            "--azure.skip-authz-check=a@x.com,b@x.com",
            "--azure.discover-resources",
            "--azure.allow-custom-resource-type-check",
            "--azure.cache-ttl-minutes=10",
        ]);
        assert!(a.validate(&shared()).is_ok());
        let flags = a.installer_flags(Some("/etc/guard/authz/azure/kubeconfig"));
        for expected in [
            "--authz-providers=azure",
            "--azure.authz-mode=fleet",
            "--azure.arm-call-limit=2000",
            "--azure.aks-authz-token-url=https://token.example/authz",
            "--azure.skip-authz-check=a@x.com,b@x.com",
            "--azure.skip-authz-for-non-aad-users=true",
            "--azure.allow-custom-resource-type-check=true",
            "--azure.discover-resources=true",
            "--azure.discover-resources-frequency=5m",
            "--azure.kubeconfig-file=/etc/guard/authz/azure/kubeconfig",
            "--azure.cache-ttl-minutes=10",
        ] {
            assert!(
                flags.iter().any(|f| f == expected),
                "{expected} not in {flags:?}"
            );
        }
        assert!(!flags.iter().any(|f| f.contains("cache-size-mb")));
        // What the installer writes parses back to the same options.
        let mut again = vec![];
        again.extend(flags.iter().map(String::as_str));
        let b = parse(&again);
        assert_eq!(
            b.installer_flags(Some("/etc/guard/authz/azure/kubeconfig")),
            flags
        );
    }
}
