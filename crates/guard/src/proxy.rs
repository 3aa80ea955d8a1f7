//! `guard proxy`: wires the providers, the authenticator and guard-proxy.

use std::path::PathBuf;

use anyhow::{Context, bail};
use guard_auth::CacheConfig;
use guard_providers::ProviderName;
use guard_providers::spec::ClientName;
use guard_proxy::{
    ChainEntry, IN_CLUSTER_DIR, IdentityMode, Limits, ProviderChain, ProxyConfig, UpstreamConfig,
    UpstreamCredential,
};

use guard::cli::ProxyArgs;
use guard::cli::proxy::Mode;

pub fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ProxyArgs) -> anyhow::Result<()> {
    // One crypto provider for every TLS user in the process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let enabled = args.providers.enabled()?;
    let chain = chain(args.providers.auth_providers(), &args.orgs)?;
    let config = ProxyConfig {
        serving_cert: args.tls_cert_file.clone(),
        serving_key: args.tls_private_key_file.clone(),
        mode: match args.mode {
            Mode::FrontProxy => IdentityMode::FrontProxy,
            Mode::Impersonation => IdentityMode::Impersonation,
        },
        upstream: upstream(&args)?,
        chain,
        allow_impersonation: args.allow_impersonation,
        limits: Limits {
            read_timeout: args.server_read_timeout,
            idle_timeout: (!args.idle_timeout.is_zero()).then_some(args.idle_timeout),
            request_timeout: args.request_timeout,
            max_header_bytes: args.max_header_bytes as usize,
            max_connections: args.max_connections as usize,
            shutdown_grace: args.shutdown_grace_period,
            reload_interval: args.reload_interval,
            ..Limits::default()
        },
    };
    let crate::run::Authentication {
        authenticator,
        background,
        counters,
    } = crate::run::build_authenticator(
        &enabled,
        CacheConfig {
            ttl: args.cache_ttl,
            failure_ttl: args.cache_failure_ttl,
            size: args.cache_size,
        },
        args.provider_timeout,
        args.reload_interval,
    )?;
    // Every file (serving certificate, API server CA, client certificate,
    // token) is loaded before anything says "listening".
    let proxy = guard_proxy::LoadedProxy::load(config, counters)?;
    let shutdown = crate::run::shutdown_signal()?;
    let listener = guard_server::bind(&args.secure_addr, "--secure-addr").await?;
    let local = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let probes = match args.metrics_addr.trim() {
        "" => None,
        addr => {
            let probes = guard_server::bind(addr, "--metrics-addr").await?;
            let addr = probes
                .local_addr()
                .context("cannot read the metrics address")?;
            tracing::info!("metrics and probes on http://{addr}");
            Some(probes)
        }
    };
    tracing::info!(
        "guard {} proxy listening on {local}",
        env!("CARGO_PKG_VERSION")
    );
    proxy
        .serve(authenticator, listener, probes, shutdown)
        .await?;
    for task in background {
        task.abort();
    }
    Ok(())
}

/// The ordered providers with their names: `--auth-providers` order (first
/// mention wins), names from `--org`.
pub(crate) fn chain(providers: &[ProviderName], orgs: &[String]) -> anyhow::Result<ProviderChain> {
    let mut every = None;
    let mut per_provider = Vec::new();
    for org in orgs {
        match org.split_once('=') {
            Some((p, name)) => {
                let provider: ProviderName = p.parse().with_context(|| format!("--org {org}"))?;
                if !providers.contains(&provider) {
                    bail!("--org {org}: {provider} is not in --auth-providers");
                }
                per_provider.push((provider, name.trim().to_owned()));
            }
            None if every.is_some() => {
                bail!("--org NAME is given twice; use PROVIDER=NAME for a second name")
            }
            None => every = Some(org.trim().to_owned()),
        }
    }
    let mut entries: Vec<ChainEntry> = Vec::new();
    for &provider in providers {
        if entries.iter().any(|e| e.provider == provider.as_str()) {
            continue;
        }
        let given = per_provider
            .iter()
            .rev()
            .find(|(p, _)| *p == provider)
            .map(|(_, n)| n.clone())
            .or_else(|| every.clone());
        let org = match (given, provider.registration().client_name()) {
            (Some(name), _) if !name.is_empty() => name,
            // The token file's users are the same whatever the name.
            _ if provider.as_str() == guard_providers::token_auth::NAME => {
                provider.as_str().to_owned()
            }
            (_, ClientName::Optional) => provider.as_str().to_owned(),
            (_, ClientName::Required(meaning)) => bail!(
                "{provider} needs the name tokens are checked for: pass --org {provider}=NAME ({meaning})"
            ),
        };
        entries.push(ChainEntry {
            provider: provider.as_str(),
            org,
        });
    }
    Ok(ProviderChain::new(entries)?)
}

/// The API server and the proxy's credential, with in-cluster defaults.
fn upstream(args: &ProxyArgs) -> anyhow::Result<UpstreamConfig> {
    let in_cluster = PathBuf::from(IN_CLUSTER_DIR);
    let url = match &args.apiserver_url {
        Some(url) => url.clone(),
        None => UpstreamConfig::in_cluster_url().context(
            "no API server: pass --apiserver-url (outside a pod KUBERNETES_SERVICE_HOST is not set)",
        )?,
    };
    let ca_file = args
        .apiserver_ca_file
        .clone()
        .unwrap_or_else(|| in_cluster.join("ca.crt"));
    let credential = match (
        &args.apiserver_client_cert_file,
        &args.apiserver_client_key_file,
        &args.apiserver_token_file,
    ) {
        (Some(cert), Some(key), _) => UpstreamCredential::ClientCertificate {
            cert: cert.clone(),
            key: key.clone(),
        },
        (_, _, Some(token)) => {
            if args.mode == Mode::FrontProxy {
                bail!(
                    "--apiserver-token-file is for impersonation mode; front-proxy mode authenticates with --apiserver-client-cert-file"
                );
            }
            UpstreamCredential::TokenFile(token.clone())
        }
        _ if args.mode == Mode::FrontProxy => bail!(
            "front-proxy mode needs --apiserver-client-cert-file and --apiserver-client-key-file: a certificate signed by the API server's --requestheader-client-ca-file (`guard init front-proxy-client` issues one)"
        ),
        _ => UpstreamCredential::TokenFile(in_cluster.join("token")),
    };
    Ok(UpstreamConfig {
        url,
        ca_file,
        credential,
    })
}
