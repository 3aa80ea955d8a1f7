//! The decision: Go Guard's order, with guard's cache in front of Azure.
//!
//! 1. A `system:` user (service accounts, nodes, control-plane parts): no
//!    opinion, so the next authorizer (RBAC, Node) decides.
//! 2. arc: a user on `--azure.skip-authz-check`: no opinion.
//! 3. No `extra.oid` (not an Azure AD identity): no opinion, or denied with
//!    `--azure.skip-authz-for-non-aad-users=false`.
//! 4. guard's cache (allowed and denied decisions for
//!    `--azure.cache-ttl-minutes`); identical checks in flight are made once.
//! 5. A discovery GET (`/api*`, `/openapi*`, `/version*`, `/healthz*`) with
//!    `--azure.allow-nonres-discovery-path-access`: allowed.
//! 6. ARM CheckAccess on the namespace (or cluster) scope, then the managed
//!    namespace, then the fleet's scopes, until one allows.
//!
//! What the API server gets: allowed (`allowed: true`), denied (`denied:
//! true`, it stops there), no opinion (neither, the next authorizer
//! decides), or an outage (`evaluationError`, no decision, never cached by
//! guard).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use guard_auth::{Coalescing, Source};
use k8s_openapi::api::authorization::v1::SubjectAccessReviewSpec;
use reqwest::Url;
use tokio::time::Instant;

use crate::AuthzError;
use crate::actions::{self, Request};
use crate::arm::{Arm, ArmError, ClientFactory, TokenSource, Verdict};
use crate::discovery::{ApiServer, Discovered, Discovery};
use crate::metrics::AuthzMetrics;
use crate::options::{AuthzArgs, AuthzMode, AzureShared, FLEET_MEMBERS};
use crate::review::SubjectAccessReviewStatus;

/// The Arc agent's managed identity endpoint.
const ARC_MSI: &str = "http://127.0.0.1:8421/metadata/identity/oauth2/token?api-version=2018-02-01";
/// The longest CheckAccess round (Go Guard's).
const CHECK_ACCESS_DEADLINE: Duration = Duration::from_secs(23);
/// How much sooner than the review ARM's calls must be done.
const ARM_MARGIN: Duration = Duration::from_millis(100);
/// What one cache entry costs beyond its key and reason, in bytes.
const ENTRY_OVERHEAD: u64 = 96;

/// An answer, as cached.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Allowed(String),
    Denied { reason: String, refused: bool },
    NoOpinion(String),
    Error(String),
}

impl Decision {
    fn label(&self) -> &'static str {
        match self {
            Decision::Allowed(_) => "allowed",
            Decision::Denied { .. } => "denied",
            Decision::NoOpinion(_) => "no_opinion",
            Decision::Error(_) => "error",
        }
    }

    fn status(&self) -> SubjectAccessReviewStatus {
        let mut status = SubjectAccessReviewStatus::default();
        match self {
            Decision::Allowed(reason) => {
                status.allowed = true;
                status.reason = Some(reason.clone());
            }
            Decision::Denied { reason, .. } => {
                status.denied = Some(true);
                status.reason = Some(reason.clone());
            }
            Decision::NoOpinion(reason) => status.reason = Some(reason.clone()),
            Decision::Error(error) => {
                status.reason = Some("guard could not ask Azure RBAC".into());
                status.evaluation_error = Some(error.clone());
            }
        }
        status
    }

    fn weight(&self) -> u64 {
        let text = match self {
            Decision::Allowed(r) | Decision::NoOpinion(r) | Decision::Error(r) => r,
            Decision::Denied { reason, .. } => reason,
        };
        text.len() as u64
    }
}

/// One answered review.
#[derive(Debug, Clone)]
pub struct Review {
    /// What goes into `status`.
    pub status: SubjectAccessReviewStatus,
    /// `allowed`, `denied`, `no_opinion` or `error` (logs, metrics).
    pub outcome: &'static str,
    /// `cache`, `coalesced`, `azure` or `local` (decided without Azure).
    pub source: &'static str,
    /// Who asked about (for the log).
    pub user: String,
}

/// What [`Authorizer::new`] needs.
pub struct AuthorizerConfig {
    /// The flags.
    pub args: AuthzArgs,
    /// The Azure AD settings shared with authentication.
    pub shared: AzureShared,
    /// Longest time one review may take (the server's write timeout less a margin).
    pub deadline: Duration,
    /// Extra attempts for a failed CheckAccess call (`--azure.http-client-retry-count`).
    pub retries: u32,
}

/// The Azure RBAC authorizer.
pub struct Authorizer {
    mode: AuthzMode,
    resource_id: String,
    fleet_id: Option<String>,
    skip: HashSet<String>,
    args: AuthzArgs,
    arm: Arc<Arm>,
    cache: Coalescing<String, Decision>,
    ttl: Duration,
    deadline: Duration,
    discovered: Arc<Discovered>,
    discovery: std::sync::Mutex<Option<Discovery>>,
    metrics: Arc<AuthzMetrics>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("mode", &self.mode)
            .field("resource_id", &self.resource_id)
            .field("arm", &self.arm.base().as_str())
            .finish_non_exhaustive()
    }
}

/// `(Azure AD root, ARM root)` of an Azure environment (go-autorest names).
fn environment(name: &str) -> Result<(&'static str, &'static str), String> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "" | "azurepubliccloud" => (
            "https://login.microsoftonline.com/",
            "https://management.azure.com/",
        ),
        "azurechinacloud" => (
            "https://login.chinacloudapi.cn/",
            "https://management.chinacloudapi.cn/",
        ),
        "azureusgovernmentcloud" => (
            "https://login.microsoftonline.us/",
            "https://management.usgovcloudapi.net/",
        ),
        "azuregermancloud" => (
            "https://login.microsoftonline.de/",
            "https://management.microsoftazure.de/",
        ),
        other => {
            return Err(format!(
                "unknown --azure.environment {other:?}: AzurePublicCloud, AzureChinaCloud, AzureUSGovernmentCloud or AzureGermanCloud"
            ));
        }
    })
}

/// Parses `raw` as an http(s) URL (http only on loopback: tokens travel on
/// it) and makes its path end with `/` when `base` is set.
fn url(raw: &str, flag: &str, base: bool) -> Result<Url, String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| format!("{flag} {raw:?}: {e}"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(format!("{flag} {raw:?} must be an https URL")),
    }
    if base && !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// An ARM id as `/a/b/c`: single slashes, no trailing one.
fn normalise_id(id: &str) -> String {
    format!("/{}", actions::join(&[id]))
}

/// Whether `s` is a UUID as Azure AD object ids are (8-4-4-4-12 hex digits).
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `ns` can be a namespace (an RFC 1123 label).
fn is_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

impl Authorizer {
    /// Builds the authorizer from validated options; `new_client` makes the
    /// HTTP clients for ARM (a new one replaces the pool when ARM throttles).
    pub fn new(config: AuthorizerConfig, new_client: ClientFactory) -> Result<Self, AuthzError> {
        let AuthorizerConfig {
            args,
            shared,
            deadline,
            retries,
        } = config;
        args.validate(&shared).map_err(AuthzError::Config)?;
        let mode = args
            .mode()
            .ok_or_else(|| AuthzError::Config("--azure.authz-mode is not set".into()))?;
        let (login, arm_root) = environment(&shared.environment).map_err(AuthzError::Config)?;
        let arm_base = url(
            args.arm_url.as_deref().unwrap_or(arm_root),
            "--azure.arm-url",
            true,
        )
        .map_err(AuthzError::Config)?;
        let token_source = if mode.uses_token_url() {
            TokenSource::TokenUrl {
                url: url(
                    &args.aks_authz_token_url,
                    "--azure.aks-authz-token-url",
                    false,
                )
                .map_err(AuthzError::Config)?,
                tenant_id: shared.tenant_id.clone(),
            }
        } else {
            match shared
                .client_secret
                .as_ref()
                .map(secrecy::ExposeSecret::expose_secret)
                .filter(|s| !s.is_empty())
            {
                Some(secret) => {
                    let login = url(
                        args.login_url.as_deref().unwrap_or(login),
                        "--azure.login-url",
                        true,
                    )
                    .map_err(AuthzError::Config)?;
                    let endpoint = login
                        .join(&format!("{}/oauth2/v2.0/token", shared.tenant_id.trim()))
                        .map_err(|e| AuthzError::Config(format!("--azure.tenant-id: {e}")))?;
                    TokenSource::ClientCredentials {
                        endpoint,
                        client_id: shared.client_id.clone(),
                        client_secret: secret.to_owned(),
                        scope: format!("{arm_base}.default"),
                    }
                }
                None => {
                    // The managed identity of the Arc agent on the node, on loopback.
                    let raw = shared.arc_msi_url.as_deref().unwrap_or(ARC_MSI);
                    TokenSource::ManagedIdentity {
                        endpoint: url(raw, "--azure.arc-msi-url", false)
                            .map_err(AuthzError::Config)?,
                        resource: arm_base.to_string(),
                    }
                }
            }
        };
        let metrics = Arc::new(AuthzMetrics::default());
        let arm = Arc::new(
            Arm::new(
                arm_base,
                new_client,
                token_source,
                args.arm_call_limit,
                retries,
                metrics.clone(),
            )
            .map_err(AuthzError::Config)?,
        );
        let discovered = Arc::new(Discovered::default());
        let discovery = if args.discover_resources {
            Some(Discovery {
                api: ApiServer::from_config(args.kubeconfig_file.as_deref())
                    .map_err(|e| AuthzError::Config(e.to_string()))?,
                mode,
                arm: arm.clone(),
                frequency: args.discover_resources_frequency,
                into: discovered.clone(),
                metrics: metrics.clone(),
            })
        } else {
            None
        };
        let fleet_id = Some(args.fleet_resource_id.trim())
            .filter(|f| !f.is_empty())
            .map(normalise_id);
        let skip = args
            .skip_authz_check
            .iter()
            .map(|u| u.trim().to_lowercase())
            .filter(|u| !u.is_empty())
            .collect();
        let capacity = u64::from(args.cache_size_mb) << 20;
        Ok(Authorizer {
            mode,
            resource_id: normalise_id(&args.resource_id),
            fleet_id,
            skip,
            ttl: Duration::from_secs(u64::from(args.cache_ttl_minutes) * 60),
            cache: Coalescing::new(capacity, |key, decision| {
                key.len() as u64 + decision.weight() + ENTRY_OVERHEAD
            }),
            args,
            arm,
            deadline,
            discovered,
            discovery: std::sync::Mutex::new(discovery),
            metrics,
        })
    }

    /// The metrics, to register with the server's registry.
    pub fn metrics(&self) -> &AuthzMetrics {
        &self.metrics
    }

    /// Starts resource discovery on the current runtime (with
    /// `--azure.discover-resources`; once).
    pub fn start_discovery(&self) -> Option<tokio::task::JoinHandle<()>> {
        let discovery = self
            .discovery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        Some(tokio::spawn(discovery.run()))
    }

    /// Whether the authorizer can answer every request: false until
    /// resource discovery has succeeded once (with `--azure.discover-resources`).
    pub fn is_ready(&self) -> bool {
        !self.args.discover_resources || self.discovered.is_ready()
    }

    /// Answers one SubjectAccessReview.
    pub async fn review(&self, spec: &SubjectAccessReviewSpec) -> Review {
        let user = spec.user.clone().unwrap_or_default();
        let (decision, source) = self.decide(&user, spec).await;
        let outcome = decision.label();
        self.metrics.review(outcome, source);
        Review {
            status: decision.status(),
            outcome,
            source,
            user,
        }
    }

    async fn decide(&self, user: &str, spec: &SubjectAccessReviewSpec) -> (Decision, &'static str) {
        let local = |d: Decision| (d, "local");
        let lower = user.to_lowercase();
        if lower.starts_with("system:") {
            return local(Decision::NoOpinion(
                "guard leaves system: users to the other authorizers".into(),
            ));
        }
        if self.mode == AuthzMode::Arc && self.skip.contains(&lower) {
            return local(Decision::NoOpinion(
                "user listed in --azure.skip-authz-check".into(),
            ));
        }
        let Some(oids) = spec.extra.as_ref().and_then(|e| e.get("oid")) else {
            return local(if self.args.skip_authz_for_non_aad_users {
                Decision::NoOpinion(
                    "not an Azure AD user (no extra.oid): guard leaves it to the other authorizers"
                        .into(),
                )
            } else {
                Decision::Denied {
                    reason: "not an Azure AD user (no extra.oid), and --azure.skip-authz-for-non-aad-users=false denies those".into(),
                    refused: false,
                }
            });
        };
        let oid = match oids.as_slice() {
            [oid] if is_uuid(oid) => oid.clone(),
            _ => {
                return local(Decision::Denied {
                    reason: "extra.oid is not one Azure AD object id".into(),
                    refused: false,
                });
            }
        };
        let Some(request) = Request::from_spec(spec) else {
            return local(Decision::Error(
                "the review has neither resourceAttributes nor nonResourceAttributes".into(),
            ));
        };
        if let Some(ns) = request.namespace()
            && !is_namespace(ns)
        {
            // The namespace comes from the user's request path: repeat a
            // bounded part of it (the answer and the log line).
            let shown: String = ns.chars().take(64).collect();
            let cut = if shown.len() < ns.len() { "..." } else { "" };
            return local(Decision::Error(format!(
                "{shown:?}{cut} is not a namespace name"
            )));
        }
        if self.args.audit_sar {
            tracing::debug!(user, ?request, "SubjectAccessReview");
        }
        // Only UUID-shaped groups are Azure AD groups; the others mean nothing to ARM.
        let groups: Vec<String> = spec
            .groups
            .iter()
            .flatten()
            .filter(|g| is_uuid(g))
            .cloned()
            .collect();
        let mut sorted = groups.clone();
        sorted.sort();
        sorted.dedup();
        let key = format!("{:?}", (user, &oid, &sorted, &request));
        let ttl = self.ttl;
        let (decision, source) = self
            .cache
            .get_or_compute(
                key,
                || async {
                    let deadline = Instant::now() + self.deadline;
                    tokio::time::timeout_at(
                        deadline,
                        self.ask_azure(user, &oid, &groups, &request, deadline),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        Decision::Error(format!(
                            "Azure RBAC did not answer in time ({}s)",
                            self.deadline.as_secs_f32()
                        ))
                    })
                },
                |d| matches!(d, Decision::Allowed(_) | Decision::Denied { .. }).then_some(ttl),
            )
            .await;
        self.metrics
            .cache_lookup(source == Source::Cache, self.cache.len());
        if source == Source::Provider && matches!(decision, Decision::Denied { refused: true, .. })
        {
            self.metrics.error_cached();
        }
        let source = match source {
            Source::Cache => "cache",
            Source::Coalesced => "coalesced",
            Source::Provider | Source::Uncached => "azure",
        };
        (decision, source)
    }

    async fn ask_azure(
        &self,
        user: &str,
        oid: &str,
        groups: &[String],
        request: &Request,
        deadline: Instant,
    ) -> Decision {
        if self.args.allow_nonres_discovery_path_access
            && let Request::NonResource { path, verb } = request
            && verb.eq_ignore_ascii_case("get")
        {
            let path = path.to_ascii_lowercase();
            if ["/api", "/openapi", "/version", "/healthz"]
                .iter()
                .any(|p| path.starts_with(p))
            {
                return Decision::Allowed(
                    "discovery paths are open to Azure AD users (--azure.allow-nonres-discovery-path-access)".into(),
                );
            }
        }
        let operations = self.discovered.operations();
        let actions_for = |resource_type: &str| {
            actions::data_actions(
                request,
                &actions::Options {
                    resource_type,
                    operations: &operations,
                    custom_resources: self.args.allow_custom_resource_type_check,
                    subresources: self.args.allow_subresource_type_check,
                },
            )
        };
        let actions = match actions_for(self.mode.resource_type()) {
            Ok(a) => a,
            Err(e) => {
                return Decision::Error(format!("cannot check this request with Azure RBAC: {e}"));
            }
        };
        // ARM's own deadline ends a little earlier, so that its errors
        // (which say more) win over the review's.
        let deadline = (deadline - ARM_MARGIN).min(Instant::now() + CHECK_ACCESS_DEADLINE);
        let ns = request.namespace();
        let ns_scope = |root: &str| match ns {
            None => root.to_owned(),
            Some(ns) if self.args.use_ns_resource_scope_format => {
                format!("{root}/providers/Microsoft.KubernetesConfiguration/namespaces/{ns}")
            }
            Some(ns) => format!("{root}/namespaces/{ns}"),
        };
        let mut scopes = vec![(ns_scope(&self.resource_id), false)];
        if let Some(ns) = ns
            && self.args.use_managed_namespace_resource_scope_format
            && matches!(self.mode, AuthzMode::Aks | AuthzMode::Fleet)
        {
            scopes.push((
                format!("{}/managedNamespaces/{ns}", self.resource_id),
                false,
            ));
        }
        if let Some(fleet) = &self.fleet_id {
            scopes.push((ns_scope(fleet), true));
            if let Some(ns) = ns {
                scopes.push((format!("{fleet}/managedNamespaces/{ns}"), true));
            }
        }
        let mut fleet_actions = None;
        for (scope, fleet) in &scopes {
            let actions = if *fleet {
                match fleet_actions.get_or_insert_with(|| actions_for(FLEET_MEMBERS)) {
                    Ok(a) => &*a,
                    Err(e) => {
                        return Decision::Error(format!(
                            "cannot check this request with the fleet's roles: {e}"
                        ));
                    }
                }
            } else {
                &actions
            };
            match self
                .arm
                .check_access(scope, oid, groups, actions, deadline)
                .await
            {
                Ok(Verdict::Allowed { assignment, role }) => {
                    return Decision::Allowed(format!(
                        "allowed by Azure RBAC: role assignment {assignment} (role {role}) on {scope}"
                    ));
                }
                Ok(Verdict::Denied) => {}
                Err(ArmError::Refused { status, message }) => {
                    tracing::warn!(user, status, "ARM CheckAccess refused the check: {message}");
                    return Decision::Denied {
                        reason: format!(
                            "denied: Azure RBAC could not check the request (ARM answered {status}{}{message})",
                            if message.is_empty() { "" } else { ": " }
                        ),
                        refused: true,
                    };
                }
                Err(ArmError::Unavailable(e)) => return Decision::Error(e),
            }
        }
        Decision::Denied {
            reason: format!(
                "Azure RBAC gives {user} no role that allows this; add a role assignment on the cluster or namespace"
            ),
            refused: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_namespaces_and_ids() {
        assert!(is_uuid("6f1a1d5e-6f3c-4b2e-9e1d-2f8f0b1c3d4e"));
        assert!(!is_uuid("6f1a1d5e6f3c4b2e9e1d2f8f0b1c3d4e"));
        assert!(!is_uuid("system:authenticated"));
        assert!(is_namespace("kube-system"));
        assert!(!is_namespace("a/../b"));
        assert!(!is_namespace("Dev"));
        assert_eq!(
            normalise_id("//subscriptions/s//resourceGroups/g/"),
            "/subscriptions/s/resourceGroups/g"
        );
        assert!(url("http://10.0.0.1/token", "--x", false).is_err());
        assert!(url("http://127.0.0.1:8080/token", "--x", false).is_ok());
        assert_eq!(
            url("https://arm.example", "--x", true).unwrap().as_str(),
            "https://arm.example/"
        );
    }

    #[test]
    fn statuses_say_what_the_api_server_needs() {
        let allowed = Decision::Allowed("ok".into()).status();
        assert!(allowed.allowed && allowed.denied.is_none());
        let denied = Decision::Denied {
            reason: "no".into(),
            refused: false,
        }
        .status();
        assert!(!denied.allowed && denied.denied == Some(true));
        let none = Decision::NoOpinion("x".into()).status();
        assert!(!none.allowed && none.denied.is_none() && none.evaluation_error.is_none());
        let error = Decision::Error("down".into()).status();
        assert!(!error.allowed && error.denied.is_none());
        assert_eq!(error.evaluation_error.as_deref(), Some("down"));
    }
}
