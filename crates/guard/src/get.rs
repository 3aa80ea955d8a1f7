//! `guard get webhook-config` and `guard get installer`

use anyhow::bail;
use guard_api::AuthProvider;
use guard_installer::installer::{self, InstallerSpec, Proxy};
use guard_installer::webhook_config::{self, WebhookConfigSpec};

use crate::cli::{GetCommand, InstallerArgs, WebhookConfigArgs};
use crate::init::{pki_dir, resolve_client};

pub fn run(cmd: GetCommand, verbosity: Option<u8>) -> anyhow::Result<()> {
    match cmd {
        GetCommand::WebhookConfig(args) => webhook(&args),
        GetCommand::Installer(args) => installer(&args, verbosity),
        GetCommand::Token(args) => token(&args),
    }
}

fn webhook(args: &WebhookConfigArgs) -> anyhow::Result<()> {
    let pki = pki_dir(&args.pki)?;
    let (name, provider) = resolve_client(&args.client)?;
    let config = webhook_config::build(
        &pki,
        &WebhookConfigSpec {
            name: &name,
            provider,
            addr: &args.addr,
            mode: args.mode,
        },
    )?;
    print!("{}", webhook_config::to_yaml(&config)?);
    Ok(())
}

fn installer(args: &InstallerArgs, verbosity: Option<u8>) -> anyhow::Result<()> {
    if !args.authz_providers.is_empty() {
        bail!("--authz-providers: authorization webhooks are not supported by guard yet");
    }
    let enabled = crate::providers::validate(&args.providers)?;
    let mut providers = Vec::new();
    for provider in enabled {
        match provider {
            AuthProvider::TokenAuth => {
                if let Some(file) = &args.providers.token_auth_file {
                    providers.push(installer::token_auth(file)?);
                }
            }
            AuthProvider::Github => providers.push(installer::github(&args.providers.github())),
            AuthProvider::Gitlab => providers.push(installer::gitlab(&args.providers.gitlab())),
            AuthProvider::Ldap => providers.push(installer::ldap(&args.providers.ldap.options())?),
            AuthProvider::Google => providers.push(installer::google(&args.providers.google())?),
            AuthProvider::Azure => providers.push(installer::azure(&args.providers.azure())?),
            AuthProvider::Oidc => providers.push(installer::oidc(&args.providers.oidc())?),
            AuthProvider::Eks => providers.push(installer::eks(&args.providers.eks())?),
        }
    }
    let default_addr = if args.host_network {
        "127.0.0.1:8443"
    } else {
        webhook_config::DEFAULT_ADDR
    };
    let mut auth_providers = args.providers.auth_providers.clone();
    auth_providers.dedup();
    let spec = InstallerSpec {
        namespace: args.namespace.clone(),
        addr: args.addr.clone().unwrap_or_else(|| default_addr.to_owned()),
        run_on_master: args.run_on_master,
        image: format!(
            "{}/guard:v{}",
            args.private_registry.trim_end_matches('/'),
            env!("CARGO_PKG_VERSION")
        ),
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
    };
    let objects = installer::generate(&pki_dir(&args.pki)?, &spec)?;
    print!("{}", installer::to_yaml(&objects)?);
    Ok(())
}

fn token(args: &crate::cli::TokenArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use guard_providers::eks;
    if args.provider != AuthProvider::Eks {
        bail!(
            "guard get token supports -o eks so far; for {} see docs/providers/",
            args.provider
        );
    }
    let cluster = args
        .cluster_id
        .as_deref()
        .filter(|c| !c.is_empty())
        .context("set --cluster-id (the cluster the token is for)")?;
    let region = args.region.as_deref().filter(|r| !r.is_empty());
    let endpoint = eks::sts_endpoint(
        region,
        std::env::var("AWS_ENDPOINT_URL_STS").ok().as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    let mut credentials = eks::credentials_from_environment(dirs::home_dir().as_deref())
        .map_err(anyhow::Error::msg)?;
    if let Some(role) = &args.role_arn {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = guard_providers::http::client()?;
        let session = format!(
            "guard-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs()
        );
        credentials = runtime
            .block_on(eks::assume_role(
                &client,
                &credentials,
                role,
                &session,
                region,
                &endpoint,
            ))
            .map_err(anyhow::Error::msg)?;
    }
    let now = std::time::SystemTime::now();
    let token = eks::mint_token(&credentials, cluster, region, &endpoint, now)
        .map_err(anyhow::Error::msg)?;
    if args.exec_credential {
        // kubectl reuses it until then; the server accepts it for 15 minutes.
        let expires = time::OffsetDateTime::from(now + std::time::Duration::from_secs(14 * 60))
            .replace_nanosecond(0)
            .unwrap_or_else(|_| time::OffsetDateTime::from(now));
        let stamp = expires
            .format(&time::format_description::well_known::Rfc3339)
            .context("cannot format the expiry")?;
        let credential = serde_json::json!({
            "kind": "ExecCredential",
            "apiVersion": "client.authentication.k8s.io/v1",
            "spec": {"interactive": false},
            "status": {"expirationTimestamp": stamp, "token": token},
        });
        println!("{credential}");
    } else {
        println!("{token}");
    }
    Ok(())
}
