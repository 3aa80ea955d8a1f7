//! `guard get token`: a token for kubectl, by the provider's user side.

use std::time::SystemTime;

use anyhow::Context;
use guard_client::exec_credential::{self, exec_credential};
use guard_client::kerberos::KerberosLogin;
use guard_client::oidc::{Grant, LoginSettings};
use guard_client::{ClientError, UserSide, user_side};
use secrecy::ExposeSecret as _;

use guard::cli::{GrantType, OidcClientArgs, TokenArgs};

pub fn run(args: &TokenArgs) -> anyhow::Result<()> {
    let side = user_side(args.provider.as_str())
        .with_context(|| format!("guard get token does not support -o {}", args.provider))?;
    match side {
        UserSide::Eks => {
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
                exec_credential::V1,
            )
        }
        UserSide::Basic if args.kerberos.is_kerberos() => kerberos_token(args),
        UserSide::Basic => {
            let user = args
                .ldap_username
                .as_deref()
                .filter(|u| !u.is_empty())
                .context("set --ldap.username")?;
            let password = match &args.ldap_password {
                Some(p) => p.clone(),
                None => crate::prompt::read_password(&format!("LDAP password for {user}: "))?,
            };
            let token = guard_client::basic::basic_token(user, &password)?;
            print_token(
                token.expose_secret(),
                None,
                args.exec_credential,
                exec_credential::V1,
            )
        }
        UserSide::PersonalAccessToken(pat) => {
            if args.exec_credential {
                return print_token(&pat.from_env()?, None, true, exec_credential::V1);
            }
            println!(
                "Create a {} personal access token at {}",
                pat.product, pat.create_url
            );
            if guard_client::browser::can_open(args.oidc.no_browser) {
                // Best effort: the instructions above stand on their own.
                guard_client::browser::open(pat.create_url);
            }
            println!("with the {} scope (and nothing else). Then:", pat.scope);
            println!("    kubectl config set-credentials <user-name> --token=<token>");
            println!(
                "or keep it in {} and let kubectl ask guard for it (exec credential plugin):",
                pat.env_var
            );
            println!(
                "    kubectl config set-credentials <user-name> --exec-api-version=client.authentication.k8s.io/v1 --exec-command=guard --exec-arg=get,token,-o,{},--exec-credential --exec-interactive-mode=Never",
                args.provider
            );
            Ok(())
        }
        UserSide::OpenIdConnect(preset) => {
            let config = preset.login_config(&login_settings(&args.oidc))?;
            let http = match &args.oidc.certificate_authority {
                Some(ca) => guard_providers::http::client_with_ca("--certificate-authority", ca)?,
                None => guard_providers::http::client()?,
            };
            let notify = |message: &str| eprintln!("{message}");
            let token = runtime()?
                .block_on(guard_client::oidc::Session::new(&config, http, &notify).id_token())?;
            print_token(
                &token.token,
                Some(token.expires),
                args.exec_credential,
                exec_credential::V1,
            )
        }
    }
}

/// `guard get token -o ldap --ldap.auth-choice=Kerberos`: a ticket from the
/// credential cache, else (with --ldap.username) from a password.
fn kerberos_token(args: &TokenArgs) -> anyhow::Result<()> {
    let k = &args.kerberos;
    anyhow::ensure!(
        k.disable_pa_fx_fast,
        "guard does not use FAST armoring: drop --ldap.disable-pa-fx-fast=false"
    );
    let login = KerberosLogin {
        spn: k.spn.as_deref().unwrap_or_default(),
        realm: k.realm.as_deref(),
        krb5_config: &k.krb5_config,
    };
    let user = args.ldap_username.as_deref().filter(|u| !u.is_empty());
    let token = match (user, &args.ldap_password) {
        (Some(user), Some(password)) => login.token_with_password(user, password)?,
        (None, Some(_)) => anyhow::bail!("--ldap.password needs --ldap.username"),
        (user, None) => match (login.token_from_ccache(), user) {
            (Ok(token), None) => token,
            (Ok(token), Some(user)) if token.user.eq_ignore_ascii_case(user) => token,
            // No ticket (or another user's), but a user to log in as: ask
            // for the password.
            (Ok(_) | Err(ClientError::NeedsKinit(_)), Some(user)) => {
                let password =
                    crate::prompt::read_password(&format!("Kerberos password for {user}: "))?;
                login.token_with_password(user, &password)?
            }
            (Err(e), _) => return Err(e.into()),
        },
    };
    print_token(
        token.token.expose_secret(),
        Some(token.expires),
        args.exec_credential,
        exec_credential::V1,
    )
}

/// The login settings of `guard get token`'s flags.
pub fn login_settings(args: &OidcClientArgs) -> LoginSettings {
    LoginSettings {
        issuer_url: args.issuer_url.clone(),
        azure_tenant_id: args.azure_tenant_id.clone(),
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
        scopes: args.scopes.clone(),
        grant: match args.grant_type {
            GrantType::Auto => Grant::Auto,
            GrantType::Browser => Grant::Browser,
            GrantType::Device => Grant::Device,
        },
        listen: args.listen_address,
        redirect_host: args.redirect_host.clone(),
        no_browser: args.no_browser,
        login_timeout: args.login_timeout,
        token_cache_dir: args.token_cache_dir.clone(),
    }
}

/// An EKS token for `cluster` and when kubectl should stop reusing it.
pub fn eks_token(
    cluster: &str,
    region: Option<&str>,
    role_arn: Option<&str>,
) -> anyhow::Result<(String, SystemTime)> {
    let request = guard_client::eks::TokenRequest {
        cluster_id: cluster,
        region,
        role_arn,
    };
    Ok(runtime()?.block_on(guard_client::eks::token(&request))?)
}

/// A runtime for one client call.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // One crypto provider for every TLS user in the process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Prints the token, or an ExecCredential around it in the version kubectl
/// asks for through `KUBERNETES_EXEC_INFO` (`default_version` when it asks
/// for none).
pub fn print_token(
    token: &str,
    expires: Option<SystemTime>,
    as_exec_credential: bool,
    default_version: &'static str,
) -> anyhow::Result<()> {
    if as_exec_credential {
        let info = std::env::var(exec_credential::EXEC_INFO_ENV).ok();
        let api_version = exec_credential::requested_version(info.as_deref(), default_version)?;
        println!("{}", exec_credential(token, expires, api_version)?);
    } else {
        println!("{token}");
    }
    Ok(())
}
