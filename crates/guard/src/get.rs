//! `guard get webhook-config` and `guard get installer`

use guard_installer::installer::authn_proxy::{self, ProxyMode, ProxySpec};
use guard_installer::installer::{self, InstallerSpec, ProbeSources, Proxy};
use guard_installer::server_cert;
use guard_installer::webhook_config::{self, WebhookConfigSpec};

use crate::init::{pki_dir, resolve_client};
use guard::cli::{GetCommand, InstallerArgs, WebhookConfigArgs};

pub fn run(cmd: GetCommand, verbosity: Option<u8>) -> anyhow::Result<()> {
    match cmd {
        GetCommand::WebhookConfig(args) => webhook(&args),
        GetCommand::Installer(args) => installer(&args, verbosity),
        GetCommand::Token(args) => crate::token::run(&args),
        GetCommand::KubeadmConfig(args) => crate::apiserver::kubeadm_config(&args),
        GetCommand::AuthnConfig(args) => crate::apiserver::authn_config(&args),
    }
}

fn webhook(args: &WebhookConfigArgs) -> anyhow::Result<()> {
    let pki = pki_dir(&args.pki)?;
    let (name, providers) = resolve_client(&args.client)?;
    let config = webhook_config::build(
        &pki,
        &WebhookConfigSpec {
            name: &name,
            provider: &providers.to_string(),
            addr: &args.addr,
            mode: args.mode,
        },
    )?;
    print!("{}", webhook_config::to_yaml(&config)?);
    // The server certificate may be kept elsewhere; where it is here, say
    // whether the API server would accept it at this address.
    if let Some(host) = server_cert::host_of(&args.addr)
        && pki.cert_path(guard_pki::SERVER).exists()
        && let Some(problem) = server_cert::problem(&pki, host)?
    {
        eprintln!("warning: {problem}");
    }
    Ok(())
}

fn installer(args: &InstallerArgs, verbosity: Option<u8>) -> anyhow::Result<()> {
    // First: it names a missing azure in --auth-providers as such.
    let authz = crate::authz::installer_part(&args.authz, &args.providers)?;
    let mut providers = args.providers.enabled()?.installer_parts()?;
    providers.extend(authz);
    let default_addr = if args.host_network {
        "127.0.0.1:8443"
    } else {
        webhook_config::DEFAULT_ADDR
    };
    let mut auth_providers: Vec<String> = args
        .providers
        .auth_providers()
        .iter()
        .map(ToString::to_string)
        .collect();
    auth_providers.dedup();
    let spec = InstallerSpec {
        namespace: args.namespace.clone(),
        addr: args.addr.clone().unwrap_or_else(|| default_addr.to_owned()),
        run_on_master: args.run_on_master,
        image: guard_installer::image::reference(
            args.image.as_deref(),
            args.private_registry.as_deref(),
        ),
        image_pull_policy: args.image_pull_policy.clone(),
        image_pull_secret: args.image_pull_secret.clone(),
        verbosity: verbosity.unwrap_or(3),
        replicas: args.replicas,
        host_network: args.host_network,
        proxy: Proxy {
            http: args.proxy_http.clone(),
            https: args.proxy_https.clone(),
            no_proxy: args.proxy_skip_range.clone(),
            cert: args.proxy_cert.clone(),
        },
        auth_providers,
        providers,
        network_policy: args.network_policy.then(|| ProbeSources {
            namespaces: args.metrics_namespace.clone(),
        }),
    };
    let objects = if args.proxy {
        proxy_installer(args, &spec)?
    } else {
        installer::generate(&pki_dir(&args.pki)?, &spec)?
    };
    print!("{}", installer::to_yaml(&objects)?);
    Ok(())
}

/// `guard get installer --proxy`: `guard proxy`'s objects.
fn proxy_installer(
    args: &InstallerArgs,
    spec: &InstallerSpec,
) -> anyhow::Result<Vec<installer::Object>> {
    use guard::cli::proxy::Mode;
    if args.host_network || args.addr.is_some() {
        anyhow::bail!(
            "--host-network and --addr are the webhook's; the proxy's Service is set with --proxy-service-type and --proxy-port"
        );
    }
    if args.authz.enabled() {
        anyhow::bail!(
            "--authz-providers is the webhook's; the proxy leaves authorization to the API server"
        );
    }
    // The same check `guard proxy` makes at start-up, now rather than in
    // the pod.
    crate::proxy::chain(args.providers.auth_providers(), &args.orgs)?;
    let proxy = ProxySpec {
        mode: match args.proxy_mode {
            Mode::FrontProxy => ProxyMode::FrontProxy,
            Mode::Impersonation => ProxyMode::Impersonation,
        },
        orgs: args.orgs.clone(),
        service_type: args.proxy_service_type.clone(),
        port: args.proxy_port,
    };
    Ok(authn_proxy::generate(&pki_dir(&args.pki)?, spec, &proxy)?)
}
