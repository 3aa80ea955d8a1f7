//! `guard init ca|server|client|front-proxy-client`

use std::path::PathBuf;

use anyhow::Context;
use guard_pki::{
    CertificateAuthority, ClientSpec, FrontProxyClientSpec, PkiDir, ServerSpec, Validity,
};
use guard_providers::ClientProviders;

use crate::prompt::confirm_overwrite;
use guard::cli::{ClientName, InitCommand, PkiArgs};

pub fn run(cmd: InitCommand) -> anyhow::Result<()> {
    match cmd {
        InitCommand::Ca(args) => {
            let pki = pki_dir(&args.common.pki)?;
            let overwrite = confirm_overwrite(&pki.existing(guard_pki::CA), args.common.force)?;
            let (_, pair) =
                CertificateAuthority::generate(args.common.key_algorithm, Validity(args.duration))?;
            pki.write_pair(guard_pki::CA, &pair, overwrite)?;
            println!("Wrote ca certificates in {}", pki.path().display());
        }
        InitCommand::Server(args) => {
            let pki = pki_dir(&args.common.pki)?;
            let ca = pki.load_ca()?;
            let overwrite = confirm_overwrite(&pki.existing(guard_pki::SERVER), args.common.force)?;
            let pair = ca.issue_server(&ServerSpec {
                ips: args.ips,
                domains: args.domains,
                key_algorithm: args.common.key_algorithm,
                validity: Validity(args.duration),
            })?;
            pki.write_pair(guard_pki::SERVER, &pair, overwrite)?;
            println!("Wrote server certificates in {}", pki.path().display());
        }
        InitCommand::Client(args) => {
            let pki = pki_dir(&args.common.pki)?;
            let (name, providers) = resolve_client(&args.client)?;
            if providers.providers().len() > guard_pki::MAX_CLIENT_PROVIDERS {
                anyhow::bail!(
                    "-o {providers}: a client certificate from guard init client holds at most {} providers",
                    guard_pki::MAX_CLIENT_PROVIDERS
                );
            }
            let ca = pki.load_ca()?;
            let base = PkiDir::client_base(&name, &providers.to_string())?;
            let overwrite = confirm_overwrite(&pki.existing(&base), args.common.force)?;
            let pair = ca.issue_client(&ClientSpec {
                name,
                providers: providers
                    .providers()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                key_algorithm: args.common.key_algorithm,
                validity: Validity(args.duration),
            })?;
            pki.write_pair(&base, &pair, overwrite)?;
            println!("Wrote client certificates in {}", pki.path().display());
        }
        InitCommand::FrontProxyClient(args) => {
            let pki = pki_dir(&args.common.pki)?;
            let ca = CertificateAuthority::load(&args.ca_cert_file, &args.ca_key_file)?;
            let base = guard_pki::FRONT_PROXY_CLIENT;
            let overwrite = confirm_overwrite(&pki.existing(base), args.common.force)?;
            let pair = ca.issue_front_proxy_client(&FrontProxyClientSpec {
                common_name: args.common_name,
                key_algorithm: args.common.key_algorithm,
                validity: Validity(args.duration),
            })?;
            pki.write_pair(base, &pair, overwrite)?;
            println!(
                "Wrote front-proxy client certificates in {}",
                pki.path().display()
            );
        }
    }
    Ok(())
}

/// The pki directory: `--pki-dir`, else `$GUARD_DATA_DIR`, else `~/.guard`.
pub fn pki_dir(args: &PkiArgs) -> anyhow::Result<PkiDir> {
    let data_dir = match (&args.pki_dir, std::env::var_os("GUARD_DATA_DIR")) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) if !dir.is_empty() => PathBuf::from(dir),
        _ => dirs::home_dir()
            .context("cannot find the home directory; pass --pki-dir")?
            .join(".guard"),
    };
    Ok(PkiDir::new(data_dir))
}

/// The client's name and providers, with Guard's defaulting of the name.
pub fn resolve_client(args: &ClientName) -> anyhow::Result<(String, ClientProviders)> {
    let providers = ClientProviders::new(args.provider.clone())?;
    let name = providers.client_name(args.name.as_deref())?;
    Ok((name, providers))
}
