//! `guard get kubeadm-config` and `guard get authn-config`. Each OpenID
//! Connect style provider's in-tree `jwt` authenticator comes from its own
//! folder in guard-providers (`authn.rs`), filled in from the same options
//! `guard run` takes.

use std::io::Read as _;

use anyhow::{Context, bail};
use guard_api::JwtAuthenticators;
use guard_installer::authn_config::{self, AuthnConfigSpec};
use guard_installer::kube_version::KubeVersion;
use guard_installer::kubeadm::{self, KubeadmApi, KubeadmSpec, Written};
use guard_providers::spec::AuthnContext;

use guard::cli::{AuthnConfigArgs, KubeadmConfigArgs};

use crate::init::{pki_dir, resolve_client};

/// `guard get kubeadm-config`
pub fn kubeadm_config(args: &KubeadmConfigArgs) -> anyhow::Result<()> {
    let pki = pki_dir(&args.pki)?;
    let (name, providers) = resolve_client(&args.client)?;
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
        provider: &providers.to_string(),
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
    let flags = &args.providers;
    let context = AuthnContext {
        google_domains: &args.google_domains,
    };
    if !args.google_domains.is_empty() && !flags.enabled_names()?.contains(&"google") {
        bail!("--google.domain is set but google is not in --auth-providers");
    }
    let mut jwt = Vec::new();
    let mut notes = Vec::new();
    for (name, part) in flags.jwt_authenticators(&context)? {
        let part = part.unwrap_or_else(|| JwtAuthenticators {
            authenticators: Vec::new(),
            notes: vec![format!(
                "{name}: kube-apiserver has no in-tree authenticator for it; keep guard's token webhook (--authentication-token-webhook-config-file, see guard get kubeadm-config), which works next to this file"
            )],
        });
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
