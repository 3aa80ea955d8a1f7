//! kube-apiserver's structured `AuthorizationConfiguration`
//! (`--authorization-config`, `apiserver.config.k8s.io` v1beta1 from
//! Kubernetes 1.30, v1 from 1.32) with guard as the authorization webhook.
//!
//! The chain is Node, RBAC, then guard:
//!
//! * RBAC stays, and comes before guard: requests RBAC allows (the control
//!   plane's own components, cluster admins, guard's own service account)
//!   never wait for, or depend on, guard, which runs as a pod of the very
//!   cluster it authorizes. A broken guard cannot lock the control plane out.
//! * Node first, as kubeadm sets it, for the kubelets.
//! * guard last, with `failurePolicy: NoOpinion`: when guard cannot answer,
//!   the request is denied as it would be without guard, no worse; and
//!   `matchConditions` skip `system:` users (guard answers them with no
//!   opinion anyway), which saves a call for every controller request RBAC
//!   does not allow.
//!
//! The types mirror `k8s.io/apiserver/pkg/apis/apiserver/v1` (the same field
//! names in v1beta1): only the fields guard fills in are declared.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kube_version::KubeVersion;

/// How long the API server keeps an "allowed" answer (its default).
pub const AUTHORIZED_TTL: Duration = Duration::from_secs(300);
/// How long the API server keeps a "denied" answer (its default).
pub const UNAUTHORIZED_TTL: Duration = Duration::from_secs(30);
/// The longest the API server may wait for guard (its maximum): Azure's
/// CheckAccess batches get up to 23 s.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The CEL condition that keeps `system:` users away from guard.
pub const SKIP_SYSTEM_USERS: &str = "!request.user.startsWith('system:')";

/// `AuthorizationConfiguration`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationConfiguration {
    /// `apiserver.config.k8s.io/v1` or `/v1beta1`.
    pub api_version: String,
    /// `AuthorizationConfiguration`.
    pub kind: String,
    /// The authorizers, asked in order.
    pub authorizers: Vec<AuthorizerConfiguration>,
}

/// `AuthorizerConfiguration`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizerConfiguration {
    /// `Node`, `RBAC`, `Webhook`, ...
    #[serde(rename = "type")]
    pub kind: AuthorizerType,
    /// A DNS-1123 name, used in metrics.
    pub name: String,
    /// The webhook's settings (only with `Webhook`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookConfiguration>,
}

/// The authorizer types kube-apiserver knows (`--authorization-mode` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthorizerType {
    /// The kubelets' authorizer.
    Node,
    /// Role-based access control.
    #[serde(rename = "RBAC")]
    Rbac,
    /// A SubjectAccessReview webhook.
    Webhook,
}

/// `WebhookConfiguration`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConfiguration {
    /// How long an "allowed" answer is kept (Go duration).
    #[serde(rename = "authorizedTTL")]
    pub authorized_ttl: String,
    /// How long a "denied" answer is kept (Go duration).
    #[serde(rename = "unauthorizedTTL")]
    pub unauthorized_ttl: String,
    /// How long to wait for the webhook (Go duration, at most 30s).
    pub timeout: String,
    /// `v1` or `v1beta1`.
    pub subject_access_review_version: String,
    /// `v1`.
    pub match_condition_subject_access_review_version: String,
    /// What a failed call means.
    pub failure_policy: FailurePolicy,
    /// How to reach the webhook.
    pub connection_info: WebhookConnectionInfo,
    /// CEL conditions that must all hold for the webhook to be asked.
    pub match_conditions: Vec<WebhookMatchCondition>,
}

/// `failurePolicy`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailurePolicy {
    /// Go on to the next authorizer.
    NoOpinion,
    /// Refuse the request.
    Deny,
}

/// `WebhookConnectionInfo`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConnectionInfo {
    /// `KubeConfigFile`.
    #[serde(rename = "type")]
    pub kind: ConnectionInfoType,
    /// The absolute path of the webhook's kubeconfig.
    pub kube_config_file: String,
}

/// `connectionInfo.type`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionInfoType {
    /// A kubeconfig file names the webhook.
    KubeConfigFile,
}

/// `WebhookMatchCondition`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookMatchCondition {
    /// A CEL expression over the v1 SubjectAccessReview `request`.
    pub expression: String,
}

/// Node, RBAC, then guard's webhook read from `kubeconfig` (an absolute
/// path on the control-plane node).
pub fn build(version: KubeVersion, kubeconfig: &str) -> AuthorizationConfiguration {
    let api_version = if version >= KubeVersion::STRUCTURED_AUTHZ_V1 {
        "apiserver.config.k8s.io/v1"
    } else {
        "apiserver.config.k8s.io/v1beta1"
    };
    let plain = |kind: AuthorizerType, name: &str| AuthorizerConfiguration {
        kind,
        name: name.into(),
        webhook: None,
    };
    AuthorizationConfiguration {
        api_version: api_version.into(),
        kind: "AuthorizationConfiguration".into(),
        authorizers: vec![
            plain(AuthorizerType::Node, "node"),
            plain(AuthorizerType::Rbac, "rbac"),
            AuthorizerConfiguration {
                kind: AuthorizerType::Webhook,
                name: "guard".into(),
                webhook: Some(WebhookConfiguration {
                    authorized_ttl: go_duration(AUTHORIZED_TTL),
                    unauthorized_ttl: go_duration(UNAUTHORIZED_TTL),
                    timeout: go_duration(TIMEOUT),
                    subject_access_review_version: "v1".into(),
                    match_condition_subject_access_review_version: "v1".into(),
                    failure_policy: FailurePolicy::NoOpinion,
                    connection_info: WebhookConnectionInfo {
                        kind: ConnectionInfoType::KubeConfigFile,
                        kube_config_file: kubeconfig.into(),
                    },
                    match_conditions: vec![WebhookMatchCondition {
                        expression: SKIP_SYSTEM_USERS.into(),
                    }],
                }),
            },
        ],
    }
}

/// A duration as Go's `time.Duration.String` writes it (`2m0s`, `30s`,
/// `1h0m0s`, `1.5s`), which is what kube-apiserver flags and config
/// files parse.
pub fn go_duration(d: Duration) -> String {
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    let millis = d.subsec_millis();
    let seconds = if millis == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{millis:03}").trim_end_matches('0'))
    };
    if total == 0 && millis == 0 {
        "0s".into()
    } else if h > 0 {
        format!("{h}h{m}m{seconds}")
    } else if m > 0 {
        format!("{m}m{seconds}")
    } else {
        seconds
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::go_duration;

    #[test]
    fn durations_read_as_go_writes_them() {
        for (d, text) in [
            (Duration::from_secs(120), "2m0s"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(3725), "1h2m5s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::ZERO, "0s"),
        ] {
            assert_eq!(go_duration(d), text);
        }
    }
}
