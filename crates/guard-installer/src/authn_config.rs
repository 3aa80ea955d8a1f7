//! `guard get authn-config`: kube-apiserver's structured
//! `AuthenticationConfiguration` (`--authentication-config`,
//! `apiserver.config.k8s.io` v1beta1 from Kubernetes 1.30, v1 from 1.34).
//!
//! Two things go in it:
//!
//! * `anonymous`, enabled only for the paths the API server's own probes
//!   call (`/livez`, `/readyz`, `/healthz`), so that a request without
//!   credentials is refused with 401 everywhere else, while the static pod's
//!   probes keep working (`--anonymous-auth=false` breaks them).
//! * for the OpenID Connect style providers, `jwt` authenticators that
//!   accept the same tokens and map them to the same users as guard does, so
//!   an operator can let the API server check them itself. Each provider
//!   describes its authenticator as plain data
//!   ([`guard_api::JwtAuthenticatorSpec`]); this module turns it into the
//!   API type.
//!
//! The types mirror `k8s.io/apiserver/pkg/apis/apiserver/v1` (the same field
//! names in v1beta1): only the fields guard fills in are declared.

pub use guard_api::{JwtAuthenticatorSpec, PrefixedClaim, UsernameMapping};
use serde::{Deserialize, Serialize};

use crate::InstallerError;
use crate::kube_version::KubeVersion;

/// The paths kube-apiserver's own liveness, readiness and startup probes
/// call, which must keep working without credentials.
pub const HEALTH_PATHS: [&str; 3] = ["/livez", "/readyz", "/healthz"];

/// Where `kubeadm join` reads the cluster's CA and address without
/// credentials (token discovery checks the signature the bootstrap token
/// made on it).
pub const KUBEADM_CLUSTER_INFO_PATH: &str =
    "/api/v1/namespaces/kube-public/configmaps/cluster-info";

/// What to put in the configuration.
#[derive(Debug, Clone)]
pub struct AuthnConfigSpec {
    /// The API server release it is for.
    pub kube_version: KubeVersion,
    /// Paths open to anonymous requests; empty disables anonymous requests.
    pub anonymous_paths: Vec<String>,
    /// The in-tree authenticators.
    pub jwt: Vec<JwtAuthenticatorSpec>,
}

/// `AuthenticationConfiguration`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticationConfiguration {
    /// `apiserver.config.k8s.io/v1` or `/v1beta1`.
    pub api_version: String,
    /// `AuthenticationConfiguration`.
    pub kind: String,
    /// The JWT authenticators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwt: Vec<JwtAuthenticator>,
    /// The anonymous authenticator; unset leaves it to `--anonymous-auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<AnonymousAuthConfig>,
}

/// `AnonymousAuthConfig`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnonymousAuthConfig {
    /// Whether requests without credentials are let in as `system:anonymous`.
    pub enabled: bool,
    /// When set, only requests for these paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<AnonymousAuthCondition>,
}

/// `AnonymousAuthCondition`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnonymousAuthCondition {
    /// The exact request path.
    pub path: String,
}

/// `JWTAuthenticator`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtAuthenticator {
    /// The issuer.
    pub issuer: Issuer,
    /// Rules every token's claims must pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claim_validation_rules: Vec<ClaimValidationRule>,
    /// Claims to user attributes.
    pub claim_mappings: ClaimMappings,
}

/// `Issuer`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Issuer {
    /// The `iss` of the tokens.
    pub url: String,
    /// The discovery document's URL, when not under `url`.
    #[serde(
        default,
        rename = "discoveryURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub discovery_url: Option<String>,
    /// PEM CA certificates of the issuer's HTTPS server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    /// Accepted audiences.
    pub audiences: Vec<String>,
    /// `MatchAny`, required with more than one audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience_match_policy: Option<AudienceMatchPolicy>,
}

/// `AudienceMatchPolicyType`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AudienceMatchPolicy {
    /// The token's `aud` must contain one of the audiences.
    MatchAny,
}

/// `ClaimValidationRule`: a claim with a required value, or a CEL expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimValidationRule {
    /// A string claim that must be present...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// ...with this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_value: Option<String>,
    /// Or: a CEL expression over `claims` that must be true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// The message when the expression is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `ClaimMappings`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimMappings {
    /// The username.
    pub username: PrefixedClaimOrExpression,
    /// The groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<PrefixedClaimOrExpression>,
    /// The uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<ClaimOrExpression>,
}

/// `PrefixedClaimOrExpression`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrefixedClaimOrExpression {
    /// The claim...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// ...and its prefix (required with a claim; `""` for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Or: a CEL expression over `claims`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// `ClaimOrExpression`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimOrExpression {
    /// The claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// Or: a CEL expression over `claims`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// The configuration and what the operator should know about it.
#[derive(Debug, Clone)]
pub struct AuthnConfig {
    /// The object.
    pub config: AuthenticationConfiguration,
    /// Things the output cannot express, one sentence each.
    pub notes: Vec<String>,
}

/// Builds the configuration for `spec.kube_version`.
pub fn build(spec: &AuthnConfigSpec) -> Result<AuthnConfig, InstallerError> {
    let version = spec.kube_version;
    if version < KubeVersion::STRUCTURED_AUTHN {
        return Err(InstallerError::Invalid(format!(
            "kube-apiserver {version} has no AuthenticationConfiguration (it came in 1.30): configure --oidc-* and --anonymous-auth with flags there; guard's webhook works on every version (guard get kubeadm-config)"
        )));
    }
    let mut notes = Vec::new();
    let anonymous = anonymous(spec, &mut notes)?;
    let mut jwt = Vec::new();
    for authenticator in &spec.jwt {
        jwt.push(jwt_authenticator(authenticator)?);
    }
    let mut issuers: Vec<&str> = jwt.iter().map(|j| j.issuer.url.as_str()).collect();
    issuers.sort_unstable();
    if let Some(w) = issuers.windows(2).find(|w| w[0] == w[1]) {
        return Err(InstallerError::Invalid(format!(
            "two providers use the issuer {}: kube-apiserver takes one jwt authenticator per issuer",
            w[0]
        )));
    }
    let api_version = if version >= KubeVersion::STRUCTURED_AUTHN_V1 {
        "apiserver.config.k8s.io/v1"
    } else {
        "apiserver.config.k8s.io/v1beta1"
    };
    Ok(AuthnConfig {
        config: AuthenticationConfiguration {
            api_version: api_version.into(),
            kind: "AuthenticationConfiguration".into(),
            jwt,
            anonymous,
        },
        notes,
    })
}

fn anonymous(
    spec: &AuthnConfigSpec,
    notes: &mut Vec<String>,
) -> Result<Option<AnonymousAuthConfig>, InstallerError> {
    let mut paths: Vec<String> = Vec::new();
    for path in &spec.anonymous_paths {
        let path = path.trim();
        if !path.starts_with('/') {
            return Err(InstallerError::Invalid(format!(
                "--anonymous-path {path:?} must be a request path starting with /"
            )));
        }
        if !paths.iter().any(|p| p == path) {
            paths.push(path.to_owned());
        }
    }
    let version = spec.kube_version;
    if version < KubeVersion::ANONYMOUS_CONDITIONS {
        notes.push(format!(
            "kube-apiserver {version} cannot limit anonymous requests to paths without the AnonymousAuthConfigurableEndpoints feature gate (alpha in 1.31, on by default from 1.32), so the output leaves anonymous requests to --anonymous-auth; do not set --anonymous-auth=false on a kubeadm cluster: the API server's probes need /livez and /readyz"
        ));
        return Ok(None);
    }
    if paths.is_empty() {
        notes.push("anonymous requests are off: kube-apiserver's own probes (/livez, /readyz) then fail on a kubeadm cluster and the kubelet restarts it".into());
    } else if !paths.iter().any(|p| p == "/livez") || !paths.iter().any(|p| p == "/readyz") {
        notes.push("the probes of a kubeadm API server call /livez, /readyz (and the startup probe /livez): leave them open to anonymous requests, or change the probes".into());
    }
    Ok(Some(AnonymousAuthConfig {
        enabled: !paths.is_empty(),
        conditions: paths
            .into_iter()
            .map(|path| AnonymousAuthCondition { path })
            .collect(),
    }))
}

fn jwt_authenticator(spec: &JwtAuthenticatorSpec) -> Result<JwtAuthenticator, InstallerError> {
    let provider = &spec.provider;
    let https = |url: &str, what: &str| -> Result<(), InstallerError> {
        if url.starts_with("https://") && !url.contains(['?', '#']) {
            Ok(())
        } else {
            Err(InstallerError::Invalid(format!(
                "{provider}: kube-apiserver needs an https {what} without query or fragment, not {url:?}"
            )))
        }
    };
    https(&spec.issuer, "issuer URL")?;
    if let Some(url) = &spec.discovery_url {
        https(url, "discovery URL")?;
    }
    if spec.audiences.is_empty() || spec.audiences.iter().any(String::is_empty) {
        return Err(InstallerError::Invalid(format!(
            "{provider}: the in-tree authenticator needs the audience (client id) of the tokens"
        )));
    }
    let username = match &spec.username {
        UsernameMapping::Claim(c) => PrefixedClaimOrExpression {
            claim: Some(c.claim.clone()),
            prefix: Some(c.prefix.clone()),
            expression: None,
        },
        UsernameMapping::Expression(e) => PrefixedClaimOrExpression {
            claim: None,
            prefix: None,
            expression: Some(e.clone()),
        },
    };
    let mut rules: Vec<ClaimValidationRule> = spec
        .required_claims
        .iter()
        .map(|(claim, value)| ClaimValidationRule {
            claim: Some(claim.clone()),
            required_value: Some(value.clone()),
            expression: None,
            message: None,
        })
        .collect();
    rules.extend(
        spec.claim_rules
            .iter()
            .map(|(expression, message)| ClaimValidationRule {
                claim: None,
                required_value: None,
                expression: Some(expression.clone()),
                message: Some(message.clone()),
            }),
    );
    Ok(JwtAuthenticator {
        issuer: Issuer {
            url: spec.issuer.clone(),
            discovery_url: spec.discovery_url.clone(),
            certificate_authority: spec.certificate_authority.clone(),
            audiences: spec.audiences.clone(),
            audience_match_policy: (spec.audiences.len() > 1)
                .then_some(AudienceMatchPolicy::MatchAny),
        },
        claim_validation_rules: rules,
        claim_mappings: ClaimMappings {
            username,
            groups: spec.groups.as_ref().map(|g| PrefixedClaimOrExpression {
                claim: Some(g.claim.clone()),
                prefix: Some(g.prefix.clone()),
                expression: None,
            }),
            uid: spec.uid_claim.as_ref().map(|claim| ClaimOrExpression {
                claim: Some(claim.clone()),
                expression: None,
            }),
        },
    })
}

/// Renders the configuration as YAML with keys sorted.
pub fn to_yaml(config: &AuthenticationConfiguration) -> Result<String, InstallerError> {
    Ok(guard_api::yaml::to_sorted_yaml(config)?)
}
