//! `guard get webhook-config` and `guard get installer`

use anyhow::{Context, bail};
use guard_installer::installer::{self, InstallerSpec, Proxy};
use guard_installer::webhook_config::{self, WebhookConfigSpec};

use crate::cli::{GetCommand, InstallerArgs, WebhookConfigArgs};
use crate::init::{pki_dir, resolve_client};
use guard_providers::ProviderName;

pub fn run(cmd: GetCommand, verbosity: Option<u8>) -> anyhow::Result<()> {
    match cmd {
        GetCommand::WebhookConfig(args) => webhook(&args),
        GetCommand::Installer(args) => installer(&args, verbosity),
        GetCommand::Token(args) => token(&args),
        GetCommand::KubeadmConfig(args) => crate::apiserver::kubeadm_config(&args),
        GetCommand::AuthnConfig(args) => crate::apiserver::authn_config(&args),
    }
}

fn webhook(args: &WebhookConfigArgs) -> anyhow::Result<()> {
    let pki = pki_dir(&args.pki)?;
    let (name, provider) = resolve_client(&args.client)?;
    let config = webhook_config::build(
        &pki,
        &WebhookConfigSpec {
            name: &name,
            provider: provider.as_str(),
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
    let providers = args.providers.enabled()?.installer_parts()?;
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
    };
    let objects = installer::generate(&pki_dir(&args.pki)?, &spec)?;
    print!("{}", installer::to_yaml(&objects)?);
    Ok(())
}

fn token(args: &crate::cli::TokenArgs) -> anyhow::Result<()> {
    match args.provider.as_str() {
        "eks" => {
            let cluster = args
                .cluster_id
                .as_deref()
                .filter(|c| !c.is_empty())
                .context("set --cluster-id (the cluster the token is for)")?;
            let (token, expires) =
                eks_token(cluster, args.region.as_deref(), args.role_arn.as_deref())?;
            print_token(
                &token,
                Some(expires),
                args.exec_credential,
                "client.authentication.k8s.io/v1",
            )
        }
        "ldap" => {
            let user = args
                .ldap_username
                .as_deref()
                .filter(|u| !u.is_empty())
                .context("set --ldap.username")?;
            let password = match &args.ldap_password {
                Some(p) => p.clone(),
                None => read_password(user)?,
            };
            if password.is_empty() {
                bail!("the password is empty");
            }
            use base64::Engine as _;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            print_token(
                &token,
                None,
                args.exec_credential,
                "client.authentication.k8s.io/v1",
            )
        }
        "github" | "gitlab" => {
            let (name, url, scope, var) = if args.provider.as_str() == "github" {
                (
                    "GitHub",
                    "https://github.com/settings/tokens/new?scopes=read:org&description=guard",
                    "read:org",
                    "GITHUB_TOKEN",
                )
            } else {
                (
                    "GitLab",
                    "https://gitlab.com/-/user_settings/personal_access_tokens?name=guard&scopes=read_api",
                    "read_api",
                    "GITLAB_TOKEN",
                )
            };
            if args.exec_credential {
                let token = std::env::var(var)
                    .ok()
                    .filter(|t| !t.is_empty())
                    .with_context(|| {
                        format!(
                            "--exec-credential reads the {name} token from {var}, which is not set"
                        )
                    })?;
                return print_token(&token, None, true, "client.authentication.k8s.io/v1");
            }
            println!("Create a {name} personal access token at {url}");
            if can_open_browser(args.oidc.no_browser) {
                // Best effort: the instructions above stand on their own.
                let _ = webbrowser::open(url);
            }
            println!("with the {scope} scope (and nothing else). Then:");
            println!("    kubectl config set-credentials <user-name> --token=<token>");
            println!(
                "or keep it in {var} and let kubectl ask guard for it (exec credential plugin):"
            );
            println!(
                "    kubectl config set-credentials <user-name> --exec-api-version=client.authentication.k8s.io/v1 --exec-command=guard --exec-arg=get,token,-o,{},--exec-credential",
                args.provider
            );
            Ok(())
        }
        "google" | "azure" | "oidc" => {
            let config = oidc_login_config(args.provider, &args.oidc)?;
            let http = match &args.oidc.certificate_authority {
                Some(ca) => guard_providers::http::client_with_ca("--certificate-authority", ca)?,
                None => guard_providers::http::client()?,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let notify = |message: &str| eprintln!("{message}");
            let token =
                runtime.block_on(guard_oauth::Session::new(&config, http, &notify).id_token())?;
            print_token(
                &token.token,
                Some(token.expires),
                args.exec_credential,
                "client.authentication.k8s.io/v1",
            )
        }
        _ => bail!("guard get token does not support -o {}", args.provider),
    }
}

/// Whether a browser can be started here: `$BROWSER` is set, a display is
/// (Linux and the BSDs), or the system always has one (macOS, Windows).
fn can_open_browser(no_browser: bool) -> bool {
    let display = ["DISPLAY", "WAYLAND_DISPLAY", "BROWSER"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    !no_browser && (display || cfg!(any(target_os = "macos", target_os = "windows")))
}

/// The login settings for google, azure or oidc, with each provider's
/// issuer, scopes and parameters filled in.
fn oidc_login_config(
    provider: ProviderName,
    args: &crate::cli::OidcClientArgs,
) -> anyhow::Result<guard_oauth::LoginConfig> {
    use crate::cli::GrantType;
    let client_id = args.client_id.clone().filter(|c| !c.is_empty()).context(
        "set --client-id (the OAuth client ID of the login application; ask your cluster operator)",
    )?;
    let (default_issuer, scopes, auth_params): (Option<String>, &[&str], &[(&str, &str)]) =
        match provider.as_str() {
            // Google gives refresh tokens to access_type=offline, and again
            // on later logins only with prompt=consent.
            "google" => (
                Some("https://accounts.google.com".into()),
                &["email"],
                &[("access_type", "offline"), ("prompt", "consent")],
            ),
            "azure" => (
                args.azure_tenant_id
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .map(|t| format!("https://login.microsoftonline.com/{t}/v2.0")),
                &["profile", "email", "offline_access"],
                &[],
            ),
            _ => (None, &["email", "offline_access"], &[]),
        };
    let issuer = args
        .issuer_url
        .clone()
        .filter(|i| !i.is_empty())
        .or(default_issuer)
        .with_context(|| match provider.as_str() {
            "azure" => "set --azure.tenant-id (or --issuer-url)",
            _ => "set --issuer-url (the issuer the guard server trusts)",
        })?;
    let issuer = url::Url::parse(&issuer)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .with_context(|| format!("--issuer-url {issuer} is not an http(s) URL"))?;
    let mut all_scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    for scope in &args.scopes {
        if !scope.is_empty() && !all_scopes.contains(scope) {
            all_scopes.push(scope.clone());
        }
    }
    let cache_dir = match &args.token_cache_dir {
        Some(dir) => dir.clone(),
        None => dirs::cache_dir()
            .context("cannot find the user cache directory; pass --token-cache-dir")?
            .join("guard/oidc"),
    };
    let open_browser = can_open_browser(args.no_browser);
    Ok(guard_oauth::LoginConfig {
        issuer,
        client_id,
        client_secret: args.client_secret.clone().filter(|s| !s.is_empty()),
        scopes: all_scopes,
        auth_params: auth_params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        grant: match args.grant_type {
            GrantType::Auto => guard_oauth::Grant::Auto,
            GrantType::Browser => guard_oauth::Grant::Browser,
            GrantType::Device => guard_oauth::Grant::Device,
        },
        listen: args.listen_address,
        redirect_host: args.redirect_host.clone(),
        open_browser,
        login_timeout: args.login_timeout,
        cache_dir,
        min_validity: std::time::Duration::from_secs(60),
    })
}

/// `guard login -p eks -k CLUSTER`: Go Guard's credential plugin, kept for
/// kubeconfigs written for it (ExecCredential v1beta1).
pub fn login(args: &crate::cli::LoginArgs) -> anyhow::Result<()> {
    if let Some(provider) = args.organization {
        return login_kubeconfig(provider, args);
    }
    let provider = args
        .provider
        .as_deref()
        .context("pass -o PROVIDER --cluster NAME (or Go Guard's -p eks -k CLUSTER)")?;
    if !provider.eq_ignore_ascii_case("eks") {
        bail!("unsupported cloud provider {provider}: only eks");
    }
    let cluster = args
        .cluster
        .as_deref()
        .filter(|c| !c.is_empty())
        .context("missing cluster: pass -k CLUSTER")?;
    let region = std::env::var("AWS_REGION").ok();
    let (token, expires) = eks_token(cluster, region.as_deref(), None)?;
    print_token(
        &token,
        Some(expires),
        true,
        "client.authentication.k8s.io/v1beta1",
    )
}

fn eks_token(
    cluster: &str,
    region: Option<&str>,
    role_arn: Option<&str>,
) -> anyhow::Result<(String, std::time::SystemTime)> {
    use guard_providers::eks::client as eks;
    let region = region.filter(|r| !r.is_empty());
    let endpoint = eks::sts_endpoint(
        region,
        std::env::var("AWS_ENDPOINT_URL_STS").ok().as_deref(),
    )?;
    let mut credentials = eks::credentials_from_environment(dirs::home_dir().as_deref())
        .map_err(anyhow::Error::msg)?;
    if let Some(role) = role_arn {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = guard_providers::http::client()?;
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        let session = format!("guard-{}", since.as_secs());
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
    // kubectl reuses it until then; the server accepts it for 15 minutes.
    Ok((token, now + std::time::Duration::from_secs(14 * 60)))
}

/// Prints the token, or an ExecCredential of `api_version` around it.
fn print_token(
    token: &str,
    expires: Option<std::time::SystemTime>,
    exec_credential: bool,
    api_version: &str,
) -> anyhow::Result<()> {
    if !exec_credential {
        println!("{token}");
        return Ok(());
    }
    let mut status = serde_json::json!({ "token": token });
    if let Some(expires) = expires {
        let stamp = time::OffsetDateTime::from(expires)
            .replace_nanosecond(0)
            .context("cannot compute the expiry")?
            .format(&time::format_description::well_known::Rfc3339)
            .context("cannot format the expiry")?;
        status["expirationTimestamp"] = serde_json::Value::String(stamp);
    }
    let credential = serde_json::json!({
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {"interactive": false},
        "status": status,
    });
    println!("{credential}");
    Ok(())
}

/// The password from the terminal (no echo), else the first line of stdin.
fn read_password(user: &str) -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("LDAP password for {user}: "))
            .context("cannot read the password");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// `guard login -o PROVIDER --cluster NAME`: writes the exec user and context.
fn login_kubeconfig(provider: ProviderName, args: &crate::cli::LoginArgs) -> anyhow::Result<()> {
    use guard_installer::login::{LoginSpec, update_file};
    let cluster = args
        .cluster
        .as_deref()
        .filter(|c| !c.is_empty())
        .context("pass --cluster NAME (the kubeconfig cluster entry)")?;
    let mut token_args: Vec<String> = vec![
        "get".into(),
        "token".into(),
        "-o".into(),
        provider.to_string(),
    ];
    match provider.as_str() {
        "eks" => {
            token_args.push(format!(
                "--cluster-id={}",
                args.cluster_id.as_deref().unwrap_or(cluster)
            ));
            if let Some(r) = &args.region {
                token_args.push(format!("--region={r}"));
            }
            if let Some(r) = &args.role_arn {
                token_args.push(format!("--role-arn={r}"));
            }
        }
        "ldap" => {
            let user = args
                .ldap_username
                .as_deref()
                .context("pass --ldap.username")?;
            token_args.push(format!("--ldap.username={user}"));
        }
        "github" | "gitlab" => {}
        "google" | "azure" | "oidc" => {
            // Fails now, not when kubectl first runs it.
            oidc_login_config(provider, &args.oidc)?;
            token_args.extend(args.oidc.to_args());
        }
        _ => bail!("guard login does not support -o {provider}"),
    }
    token_args.push("--exec-credential".into());
    let path = match &args.kubeconfig {
        Some(p) => p.clone(),
        None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(list) => std::env::split_paths(&list)
                .next()
                .context("KUBECONFIG is empty")?,
            None => dirs::home_dir()
                .context("cannot find the home directory; pass --kubeconfig")?
                .join(".kube/config"),
        },
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{cluster}-{provider}"));
    let command = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned))
        .unwrap_or_else(|| "guard".into());
    let spec = LoginSpec {
        cluster: cluster.to_owned(),
        user: name.clone(),
        context: name.clone(),
        command,
        args: token_args,
        env: args
            .oidc
            .client_secret
            .iter()
            .filter(|_| matches!(provider.as_str(), "google" | "azure" | "oidc"))
            .map(|secret| ("GUARD_OIDC_CLIENT_SECRET".to_owned(), secret.clone()))
            .collect(),
    };
    let changes = update_file(&path, &spec)?;
    println!(
        "{}: user {name} {}, context {name} {}.",
        path.display(),
        changes.user,
        changes.context
    );
    if !changes.cluster_known {
        println!(
            "note: the file has no cluster named {cluster}; add it with `kubectl config set-cluster {cluster} --server=...`."
        );
    }
    if matches!(provider.as_str(), "github" | "gitlab") {
        let var = if provider.as_str() == "github" {
            "GITHUB_TOKEN"
        } else {
            "GITLAB_TOKEN"
        };
        println!(
            "kubectl will read your token from {var}; `guard get token -o {provider}` says how to create one."
        );
    }
    println!("Use it: kubectl --context {name} get pods   (or: kubectl config use-context {name})");
    Ok(())
}
