//! `guard run`: wires the providers, the authenticator and the server.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use guard_auth::{Authenticator, CacheConfig, ProviderCounter};
use guard_server::{ClientAuth, Metrics, ServerConfig, TlsFiles, TlsReloader};

use guard::cli::{ConnectionFlags, RunArgs};

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: RunArgs) -> anyhow::Result<()> {
    // One crypto provider for every TLS user in the process (rustls, ldap3, reqwest).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (Some(ca), Some(cert), Some(key)) = (
        args.tls_ca_file.clone(),
        args.tls_cert_file.clone(),
        args.tls_private_key_file.clone(),
    ) else {
        bail!(
            "guard serves only over TLS: set --tls-ca-file, --tls-cert-file and --tls-private-key-file (e.g. ~/.guard/pki/ca.crt, server.crt, server.key)"
        );
    };
    if args.clock_check_interval.is_some()
        || args.max_clock_skew.is_some()
        || args.ntp_server.is_some()
    {
        tracing::info!(
            "--clock-check-interval, --max-clock-skew and --ntp-server are accepted for compatibility and ignored: guard does not query NTP"
        );
    }

    let deadline = args
        .server_write_timeout
        .saturating_sub(Duration::from_secs(1))
        .max(Duration::from_millis(500));
    let authorizer = crate::authz::authorizer(&args.authz, &args.providers, deadline)?;
    let enabled = args.providers.enabled()?;
    let Authentication {
        authenticator,
        mut background,
        counters,
    } = build_authenticator(
        &enabled,
        CacheConfig {
            ttl: args.cache_ttl,
            failure_ttl: args.cache_failure_ttl,
            size: args.cache_size,
        },
        deadline,
        args.reload_interval,
    )?;
    let mut metrics = Metrics::new();
    for counter in counters {
        metrics.register_provider_counter(counter);
    }

    let hint = missing_tls_files_hint(&ca, &cert, &key);
    let tls = TlsReloader::new(TlsFiles {
        ca,
        cert,
        key,
        client_auth: client_auth(&args.connections),
    })
    .map_err(|e| match hint {
        Some(hint) => anyhow::anyhow!("{e}; {hint}"),
        None => e.into(),
    })?;
    let shutdown = shutdown_signal()?;
    let listener = guard_server::bind(&args.secure_addr, "--secure-addr").await?;
    let local = listener
        .local_addr()
        .context("cannot read the listening address")?;
    tracing::info!(
        providers = %enabled.names().join(","),
        "guard {} listening on {local}",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(authorizer) = &authorizer {
        metrics.register_authz(authorizer.metrics());
        background.extend(authorizer.start_discovery());
    }
    let mut config = ServerConfig {
        read_timeout: args.server_read_timeout,
        write_timeout: args.server_write_timeout,
        reload_interval: args.reload_interval,
        shutdown_grace: args.shutdown_grace_period,
        max_connections: args.max_connections as usize,
        authorizer,
        ..ServerConfig::default()
    };
    apply_connection_flags(&args.connections, &mut config);
    guard_server::serve(
        listener,
        tls,
        authenticator,
        Arc::new(metrics),
        config,
        shutdown,
    )
    .await?;
    for task in background {
        task.abort();
    }
    Ok(())
}

/// The enabled providers behind the result cache, built by
/// [`build_authenticator`].
pub(crate) struct Authentication {
    pub authenticator: Arc<Authenticator>,
    /// The tasks that reload the providers' files (abort them when done).
    pub background: Vec<tokio::task::JoinHandle<()>>,
    /// The counters the providers keep, for `/metrics`.
    pub counters: Vec<ProviderCounter>,
}

/// The enabled providers behind the result cache. Shared by `guard run` and
/// `guard proxy`.
pub(crate) fn build_authenticator(
    enabled: &guard_providers::Enabled<'_>,
    cache: CacheConfig,
    deadline: Duration,
    reload_interval: Duration,
) -> anyhow::Result<Authentication> {
    let built = enabled.build(reload_interval)?;
    let mut builder = Authenticator::builder()
        .known_providers(guard_providers::registry::names())
        .cache(cache)
        .deadline(deadline);
    let mut counters = Vec::new();
    for provider in built.providers {
        counters.extend(provider.counters());
        builder = builder.provider(provider);
    }
    Ok(Authentication {
        authenticator: Arc::new(builder.build()),
        background: built.background,
        counters,
    })
}

/// Registers the SIGTERM and SIGINT handlers now (so a signal that arrives
/// right after start-up is not fatal) and returns a future that completes on
/// either.
pub(crate) fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// Whether the handshake requires a client certificate
/// (`--require-client-cert`).
fn client_auth(flags: &ConnectionFlags) -> ClientAuth {
    if flags.require_client_cert {
        ClientAuth::Required
    } else {
        ClientAuth::Optional
    }
}

/// Sets the connection part of the server's configuration; 0 means never.
fn apply_connection_flags(flags: &ConnectionFlags, config: &mut ServerConfig) {
    let never_if_zero = |d: Duration| (!d.is_zero()).then_some(d);
    config.first_request_timeout = flags.first_request_timeout;
    config.idle_timeout = never_if_zero(flags.idle_timeout);
    config.max_connection_age = never_if_zero(flags.max_connection_age);
    config.probe_addr = flags.probe_addr.clone().filter(|a| !a.is_empty());
}

/// When a TLS file does not exist: where `guard init` puts them (the files
/// are often given relative to a directory the command does not run in).
fn missing_tls_files_hint(
    ca: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Option<String> {
    if [ca, cert, key].iter().all(|p| p.exists()) {
        return None;
    }
    let pki = crate::init::pki_dir(&guard::cli::PkiArgs { pki_dir: None }).ok()?;
    let pki = pki.path();
    let files = [
        ("--tls-ca-file", "ca.crt"),
        ("--tls-cert-file", "server.crt"),
        ("--tls-private-key-file", "server.key"),
    ];
    if files.iter().all(|(_, file)| pki.join(file).exists()) {
        let flags: Vec<String> = files
            .iter()
            .map(|(flag, file)| format!("{flag}={}", pki.join(file).display()))
            .collect();
        Some(format!(
            "guard init wrote the PKI to {}: {}",
            pki.display(),
            flags.join(" ")
        ))
    } else {
        Some(format!(
            "`guard init ca` and `guard init server` write ca.crt, server.crt and server.key to {}",
            pki.display()
        ))
    }
}
