//! `guard login`: a kubeconfig user that runs `guard get token`, and a
//! context; and Go Guard's `login -p eks -k CLUSTER`.

use anyhow::{Context, bail};
use guard_client::kubeconfig::{ClusterEntry, LoginSpec, default_path, parse_server, update_file};
use guard_client::{UserSide, exec_credential, user_side};
use guard_providers::ProviderName;

use crate::token::{eks_token, login_settings, print_token};
use guard::cli::LoginArgs;

pub fn run(args: &LoginArgs) -> anyhow::Result<()> {
    if let Some(provider) = args.organization {
        return login_kubeconfig(provider, args);
    }
    // Go Guard's credential plugin, kept for kubeconfigs written for it.
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
    print_token(&token, Some(expires), true, exec_credential::V1BETA1)
}

/// `guard login -o PROVIDER --cluster NAME`: writes the exec user and context.
fn login_kubeconfig(provider: ProviderName, args: &LoginArgs) -> anyhow::Result<()> {
    let side = user_side(provider.as_str())
        .with_context(|| format!("guard login does not support -o {provider}"))?;
    let server = args.server.as_deref().map(parse_server).transpose()?;
    let cluster = match (args.cluster.as_deref().filter(|c| !c.is_empty()), &server) {
        (Some(name), _) => name.to_owned(),
        (None, Some((host, _))) => host.clone(),
        (None, None) => bail!(
            "pass --cluster NAME (the kubeconfig cluster entry), or --server https://HOST to write one"
        ),
    };
    let cluster = cluster.as_str();
    let server = match server {
        Some((_, url)) => Some(ClusterEntry {
            ca_pem: server_ca(args)?,
            server: url,
        }),
        None => None,
    };
    let mut token_args: Vec<String> = vec![
        "get".into(),
        "token".into(),
        "-o".into(),
        provider.to_string(),
    ];
    let mut env = Vec::new();
    match side {
        UserSide::Eks => {
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
        UserSide::Basic if args.kerberos.is_kerberos() => {
            let spn = args.kerberos.spn.as_deref().unwrap_or_default();
            anyhow::ensure!(
                !spn.trim().is_empty(),
                "pass --ldap.spn (the guard server's service principal, e.g. HTTP/guard.example.com)"
            );
            token_args.extend(args.kerberos.to_args());
            // Without a username kubectl's tokens come from kinit's ticket.
            if let Some(user) = args.ldap_username.as_deref().filter(|u| !u.is_empty()) {
                token_args.push(format!("--ldap.username={user}"));
            }
        }
        UserSide::Basic => {
            let user = args
                .ldap_username
                .as_deref()
                .context("pass --ldap.username")?;
            token_args.push(format!("--ldap.username={user}"));
        }
        UserSide::PersonalAccessToken(_) => {}
        UserSide::OpenIdConnect(preset) => {
            // Fails now, not when kubectl first runs it.
            preset.login_config(&login_settings(&args.oidc))?;
            token_args.extend(args.oidc.to_args());
            // The secret goes to the environment, not the arguments.
            if let Some(secret) = &args.oidc.client_secret {
                env.push(("GUARD_OIDC_CLIENT_SECRET".to_owned(), secret.clone()));
            }
        }
    }
    token_args.push("--exec-credential".into());
    let path = match &args.kubeconfig {
        Some(p) => p.clone(),
        None => default_path()?,
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{cluster}-{provider}"));
    let command = exec_command();
    let spec = LoginSpec {
        cluster: cluster.to_owned(),
        user: name.clone(),
        context: name.clone(),
        command,
        args: token_args,
        env,
        server,
    };
    let changes = update_file(&path, &spec)?;
    if let Some(change) = changes.cluster {
        println!("{}: cluster {cluster} {change}.", path.display());
    }
    if changes.nothing_changed() {
        println!(
            "{}: user {name} and context {name} are already as asked: nothing changed.",
            path.display()
        );
    } else {
        println!(
            "{}: user {name} {}, context {name} {}.",
            path.display(),
            changes.user,
            changes.context
        );
    }
    if !changes.cluster_known {
        println!(
            "note: the file has no cluster named {cluster}; add it with `kubectl config set-cluster {cluster} --server=...`."
        );
    }
    if let UserSide::PersonalAccessToken(pat) = side {
        println!(
            "kubectl will read your token from {}; `guard get token -o {provider}` says how to create one.",
            pat.env_var
        );
    }
    println!("Use it: kubectl --context {name} get pods   (or: kubectl config use-context {name})");
    Ok(())
}

/// The program kubectl is to run: `guard` when the `guard` that `PATH` finds
/// is this binary (also through a symlink, so an upgrade of a symlinked
/// install carries over), else this binary's absolute path.
fn exec_command() -> String {
    let Some(me) = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned))
    else {
        return "guard".into();
    };
    let real = |p: &std::path::Path| std::fs::canonicalize(p).ok();
    let on_path = std::env::var_os("PATH").and_then(|list| {
        std::env::split_paths(&list)
            .map(|dir| dir.join("guard"))
            .find(|candidate| {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::metadata(candidate)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    });
    match on_path {
        Some(found)
            if real(&found).is_some() && real(&found) == real(std::path::Path::new(&me)) =>
        {
            "guard".into()
        }
        _ => me,
    }
}

/// The CA to trust at `--server`: `--server-ca-file`, else guard's CA.
fn server_ca(args: &LoginArgs) -> anyhow::Result<Vec<u8>> {
    let path = match &args.server_ca_file {
        Some(path) => path.clone(),
        None => crate::init::pki_dir(&guard::cli::PkiArgs {
            pki_dir: args.pki_dir.clone(),
        })?
        .cert_path(guard_pki::CA),
    };
    let pem = std::fs::read(&path).with_context(|| {
        format!(
            "cannot read the server's CA {} (pass --server-ca-file)",
            path.display()
        )
    })?;
    anyhow::ensure!(
        String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----"),
        "{}: no PEM certificate in it (pass the CA of the server's certificate with --server-ca-file)",
        path.display()
    );
    Ok(pem)
}
