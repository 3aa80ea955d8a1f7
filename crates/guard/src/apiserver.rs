//! `guard get kubeadm-config` and `guard get authn-config`, and each OIDC
//! style provider's in-tree `jwt` authenticator, filled in from the same
//! options `guard run` takes.

use std::io::Read as _;

use anyhow::{Context, bail};
use guard_api::AuthProvider;
use guard_api::{JwtAuthenticatorSpec, JwtAuthenticators, PrefixedClaim, UsernameMapping};
use guard_installer::authn_config::{self, AuthnConfigSpec};
use guard_installer::kube_version::KubeVersion;
use guard_installer::kubeadm::{self, KubeadmApi, KubeadmSpec, Written};
use guard_providers::oidc::azure::AzureOptions;
use guard_providers::oidc::generic::OidcOptions;
use guard_providers::oidc::google::{self, GoogleOptions};

use crate::apiserver_cli::{AuthnConfigArgs, KubeadmConfigArgs};
use crate::init::{pki_dir, resolve_client};

/// `guard get kubeadm-config`
pub fn kubeadm_config(args: &KubeadmConfigArgs) -> anyhow::Result<()> {
    let pki = pki_dir(&args.pki)?;
    let (name, provider) = resolve_client(&args.client)?;
    let existing = match &args.merge {
        None => None,
        Some(path) => {
            let text = if path.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the configuration to merge from standard input")?;
                text
            } else {
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read --merge file {}", path.display()))?
            };
            Some(kubeadm::read_existing(&text)?)
        }
    };
    let api = match (args.kubeadm_api, &existing) {
        (Some(api), Some(e)) if api != e.api => bail!(
            "--kubeadm-api={api}, but the --merge file is kubeadm.k8s.io/{}",
            e.api
        ),
        (Some(api), _) => api,
        (None, Some(e)) => e.api,
        (None, None) => KubeadmApi::default(),
    };
    let config = kubeadm::build(&KubeadmSpec {
        pki: &pki,
        name: &name,
        provider,
        addr: &args.addr,
        dir: &args.dir,
        api,
        kube_version: args
            .kube_version
            .or_else(|| existing.as_ref().and_then(|e| e.kube_version))
            .unwrap_or_else(|| api.default_kube_version()),
        cache_ttl: args.webhook_cache_ttl,
        authz: args.authz,
        authn_config: args.authn_config,
        anonymous_paths: non_empty(&args.anonymous_path),
    })?;
    // Everything that can be refused is checked before a file is written.
    let output = match &existing {
        Some(existing) => kubeadm::merge(existing, &config)?,
        None => kubeadm::to_yaml(&config.config)?,
    };
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(&args.dir));
    for (path, state) in kubeadm::write_files(&out_dir, &config.files, args.force)? {
        let what = match state {
            Written::Created => "written",
            Written::Replaced => "replaced",
            Written::Unchanged => "unchanged",
        };
        eprintln!("{}: {what}", path.display());
    }
    for note in &config.notes {
        eprintln!("note: {note}");
    }
    print!("{output}");
    Ok(())
}

/// `guard get authn-config`
pub fn authn_config(args: &AuthnConfigArgs) -> anyhow::Result<()> {
    let enabled = crate::providers::validate(&args.providers)?;
    let flags = &args.providers;
    let mut jwt = Vec::new();
    let mut notes = Vec::new();
    if !args.google_domains.is_empty() && !enabled.contains(&AuthProvider::Google) {
        bail!("--google.domain is set but google is not in --auth-providers");
    }
    for provider in enabled {
        let part = match provider {
            AuthProvider::Oidc => oidc_authenticators(&flags.oidc())?,
            AuthProvider::Google => google_authenticators(&flags.google(), &args.google_domains)?,
            AuthProvider::Azure => azure_authenticators(&flags.azure())?,
            other => JwtAuthenticators {
                authenticators: Vec::new(),
                notes: vec![format!(
                    "{other}: kube-apiserver has no in-tree authenticator for it; keep guard's token webhook (--authentication-token-webhook-config-file, see guard get kubeadm-config), which works next to this file"
                )],
            },
        };
        jwt.extend(part.authenticators);
        notes.extend(part.notes);
    }
    let config = authn_config::build(&AuthnConfigSpec {
        kube_version: args.kube_version.unwrap_or(KubeVersion::LATEST),
        anonymous_paths: non_empty(&args.anonymous_path),
        jwt,
    })?;
    for note in notes.iter().chain(&config.notes) {
        eprintln!("note: {note}");
    }
    print!("{}", authn_config::to_yaml(&config.config)?);
    Ok(())
}

fn non_empty(paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| !p.trim().is_empty())
        .cloned()
        .collect()
}

/// `oidc`: kube-apiserver's own `--oidc-*` semantics, which guard's oidc
/// provider follows: the username claim prefixed with `ISSUER#` unless the
/// claim is `email` or a prefix is given (`-` for none), groups with their
/// prefix, the uid from `sub`, required claims as claim rules.
fn oidc_authenticators(o: &OidcOptions) -> anyhow::Result<JwtAuthenticators> {
    o.validate().map_err(anyhow::Error::msg)?;
    let claim = o.username_claim.clone();
    let prefix = match o.username_prefix.as_deref() {
        Some("-") => String::new(),
        Some(p) => p.to_owned(),
        None if claim == "email" => String::new(),
        None => format!("{}#", o.issuer_url),
    };
    let discovery_url = match &o.discovery_url {
        Some(url) => Some(
            guard_providers::http::base_url(url, "--oidc.discovery-url")
                .map_err(anyhow::Error::msg)?
                .join(".well-known/openid-configuration")
                .context("invalid --oidc.discovery-url")?
                .to_string(),
        ),
        None => None,
    };
    let certificate_authority = match &o.ca_file {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read --oidc.ca-file {}", file.display()))?,
        ),
        None => None,
    };
    let authenticator = JwtAuthenticatorSpec {
        provider: "oidc",
        issuer: o.issuer_url.clone(),
        discovery_url,
        certificate_authority,
        audiences: vec![o.client_id.clone()],
        username: UsernameMapping::Claim(PrefixedClaim { claim, prefix }),
        groups: o.groups_claim.as_ref().map(|claim| PrefixedClaim {
            claim: claim.clone(),
            prefix: o.groups_prefix.clone().unwrap_or_default(),
        }),
        uid_claim: Some("sub".into()),
        required_claims: o.required_claims.clone(),
        claim_rules: Vec::new(),
    };
    Ok(JwtAuthenticators {
        authenticators: vec![authenticator],
        notes: Vec::new(),
    })
}

/// `google`: Google's issuer, the client id as audience, `hd` equal to the
/// Workspace domain and `email_verified` true, the email as username, the
/// uid from `sub`. Groups come from the Directory API, which the in-tree
/// authenticator cannot ask.
fn google_authenticators(
    o: &GoogleOptions,
    domains: &[String],
) -> anyhow::Result<JwtAuthenticators> {
    let mut notes = Vec::new();
    let mut domains: Vec<String> = domains
        .iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    domains.dedup();
    if domains.is_empty() {
        bail!(
            "google: set --google.domain (the Google Workspace domain whose accounts may log in: the NAME of guard's google client certificate)"
        );
    }
    if domains.iter().any(|d| d.contains(['\'', '\\'])) {
        bail!("--google.domain: {domains:?} is not a domain name");
    }
    let (required_claims, claim_rules) = match &domains[..] {
        [one] => (vec![("hd".to_owned(), one.clone())], Vec::new()),
        many => {
            let list = many
                .iter()
                .map(|d| format!("'{d}'"))
                .collect::<Vec<_>>()
                .join(", ");
            (
                Vec::new(),
                vec![(
                    format!("has(claims.hd) && claims.hd in [{list}]"),
                    "the Google account is not in an allowed Workspace domain".to_owned(),
                )],
            )
        }
    };
    let mut claim_rules = claim_rules;
    claim_rules.push((
        "has(claims.email_verified) && claims.email_verified == true".into(),
        "the Google account's email address is not verified".into(),
    ));
    if o.sa_json_file.is_some() {
        notes.push("google: guard reads groups from the Directory API; the in-tree authenticator maps none".into());
    }
    notes.push(format!(
        "google: the in-tree authenticator accepts only the issuer {}, not the older accounts.google.com guard also takes",
        google::ISSUER
    ));
    let authenticator = JwtAuthenticatorSpec {
        provider: "google",
        issuer: google::ISSUER.into(),
        discovery_url: None,
        certificate_authority: None,
        audiences: vec![
            o.client_id
                .clone()
                .unwrap_or_else(|| google::GUARD_GO_CLIENT_ID.into()),
        ],
        username: UsernameMapping::Claim(PrefixedClaim {
            claim: "email".into(),
            prefix: String::new(),
        }),
        groups: None,
        uid_claim: Some("sub".into()),
        required_claims,
        claim_rules,
    };
    Ok(JwtAuthenticators {
        authenticators: vec![authenticator],
        notes,
    })
}

/// `azure`: the tenant's v2 and v1 issuers (one authenticator each), the
/// client id as audience, the username from `upn`, else `unique_name`,
/// else `oid`, the uid from `oid`; groups from the token's `groups` claim
/// when guard reads them from there too.
fn azure_authenticators(o: &AzureOptions) -> anyhow::Result<JwtAuthenticators> {
    let mut notes = Vec::new();
    if o.tenant_id.trim().is_empty() {
        bail!("azure is enabled: set --azure.tenant-id");
    }
    let client_id = o.client_id.trim();
    if client_id.is_empty() {
        bail!(
            "azure: set --azure.client-id: the in-tree authenticator always checks the tokens' audience"
        );
    }
    if !o.verify_client_id {
        notes.push(format!(
            "azure: the in-tree authenticator checks that the tokens' audience is {client_id}, which guard only does with --azure.verify-clientID"
        ));
    }
    let from_token = o.skip_group_membership_resolution || o.graph_call_on_overage_claim;
    let groups = if from_token {
        notes.push("azure: a token whose groups overflowed (more than 200) is refused by the in-tree authenticator, where guard asks Microsoft Graph".into());
        Some(PrefixedClaim {
            claim: "groups".into(),
            prefix: String::new(),
        })
    } else {
        notes.push("azure: guard reads groups from Microsoft Graph, which the in-tree authenticator cannot; it maps no groups (with --azure.skip-group-membership-resolution it maps the token's groups claim)".into());
        None
    };
    notes.push("azure: the in-tree authenticator cannot set guard's extra oid (keys must be domain-prefixed), which guard's Azure authorization webhook needs, and does not fall back to the email of guests without upn".into());
    let issuers = o.token_issuers().map_err(anyhow::Error::msg)?;
    let authenticator = |issuer: String, discovery_url: Option<String>| {
        JwtAuthenticatorSpec {
        provider: "azure",
        issuer,
        discovery_url,
        certificate_authority: None,
        audiences: vec![client_id.to_owned()],
        username: UsernameMapping::Expression(
            "has(claims.upn) ? claims.upn : has(claims.unique_name) ? claims.unique_name : claims.oid"
                .into(),
        ),
        groups: groups.clone(),
        uid_claim: Some("oid".into()),
        required_claims: Vec::new(),
        claim_rules: vec![(
            "has(claims.oid)".into(),
            "the Azure AD token has no oid claim".into(),
        )],
    }
    };
    Ok(JwtAuthenticators {
        authenticators: vec![
            authenticator(issuers.v2, None),
            authenticator(issuers.v1, Some(issuers.v1_discovery)),
        ],
        notes,
    })
}
