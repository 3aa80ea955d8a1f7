//! The command-line interface. Flag names follow Go Guard so that scripts and
//! manifests written for it keep working.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use guard_api::AuthProvider;
use guard_pki::KeyAlgorithm;

/// Log in to Kubernetes with the identity you already have.
///
/// guard is a webhook token authenticator for kube-apiserver: it checks
/// bearer tokens against a token file, GitHub, GitLab, Google, Azure AD or
/// LDAP. Start with `guard init ca`, `guard init server` and
/// `guard init client`.
#[derive(Debug, Parser)]
#[command(
    name = "guard",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Log verbosity: 0-3 info, 4-5 debug, 6 and up trace.
    #[arg(
        short = 'v',
        long = "v",
        global = true,
        value_name = "LEVEL",
        default_value_t = 0
    )]
    pub verbosity: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// guard's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the certificates guard and the API server use.
    #[command(subcommand)]
    Init(InitCommand),
    /// Print guard's version.
    Version(VersionArgs),
}

/// `guard init ...`
#[derive(Debug, Subcommand)]
pub enum InitCommand {
    /// Create the certificate authority (PKI_DIR/pki/ca.crt, ca.key).
    ///
    /// Every other certificate is signed by this CA, and the webhook server
    /// trusts only client certificates it signed. Keep ca.key safe.
    Ca(InitCaArgs),
    /// Create the webhook server's certificate (PKI_DIR/pki/server.crt, server.key).
    ///
    /// The API server checks it against the address in its webhook config,
    /// so list every IP and DNS name it will use to reach guard (the
    /// Service's ClusterIP, 10.96.10.96 in the default installer).
    Server(InitServerArgs),
    /// Create a client certificate for the API server (PKI_DIR/pki/NAME@PROVIDER.crt, .key).
    ///
    /// The API server presents it to guard; its organization (O) selects the
    /// provider and its common name (CN) carries NAME: the GitHub
    /// organisation, the Google Workspace domain, or any name for the other
    /// providers. NAME may be left out for gitlab, azure and ldap.
    Client(InitClientArgs),
}

/// Where the PKI lives.
#[derive(Debug, Args)]
pub struct PkiArgs {
    /// Directory holding guard's data; certificates go to PKI_DIR/pki/.
    /// [default: $GUARD_DATA_DIR, else ~/.guard]
    #[arg(long, value_name = "PKI_DIR")]
    pub pki_dir: Option<PathBuf>,
}

/// Options shared by the `init` commands.
#[derive(Debug, Args)]
pub struct NewCertArgs {
    #[command(flatten)]
    pub pki: PkiArgs,

    /// Algorithm of the new key: rsa2048 (as Go Guard and kubeadm),
    /// rsa3072, rsa4096, ecdsa-p256 or ecdsa-p384.
    #[arg(long, value_name = "ALGORITHM", default_value_t = KeyAlgorithm::Rsa2048)]
    pub key_algorithm: KeyAlgorithm,

    /// Replace existing files without asking.
    #[arg(long)]
    pub force: bool,
}

/// `guard init ca`
#[derive(Debug, Args)]
pub struct InitCaArgs {
    #[command(flatten)]
    pub common: NewCertArgs,

    /// How long the CA is valid (e.g. 3650d, 87600h).
    #[arg(long, value_name = "DURATION", default_value = "3650d", value_parser = parse_duration)]
    pub duration: Duration,
}

/// `guard init server`
#[derive(Debug, Args)]
pub struct InitServerArgs {
    #[command(flatten)]
    pub common: NewCertArgs,

    /// IP addresses the certificate is valid for (comma separated or repeated).
    #[arg(
        long,
        value_name = "IP",
        value_delimiter = ',',
        default_value = "127.0.0.1"
    )]
    pub ips: Vec<IpAddr>,

    /// DNS names the certificate is valid for (comma separated or repeated).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub domains: Vec<String>,

    /// How long the certificate is valid (e.g. 365d, 8760h).
    #[arg(long, value_name = "DURATION", default_value = "365d", value_parser = parse_duration)]
    pub duration: Duration,
}

/// `guard init client`
#[derive(Debug, Args)]
pub struct InitClientArgs {
    #[command(flatten)]
    pub common: NewCertArgs,

    #[command(flatten)]
    pub client: ClientName,

    /// How long the certificate is valid (e.g. 365d, 8760h).
    #[arg(long, value_name = "DURATION", default_value = "365d", value_parser = parse_duration)]
    pub duration: Duration,
}

/// A client certificate's name and provider, as `init client` and
/// `get webhook-config` take them.
#[derive(Debug, Args)]
pub struct ClientName {
    /// The certificate's common name: GitHub organisation, Google domain, or
    /// any name. Defaults to the provider for gitlab, azure and ldap.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// The provider: github, gitlab, google, azure, ldap or token-auth.
    #[arg(short = 'o', long = "organization", value_name = "PROVIDER")]
    pub provider: Option<AuthProvider>,
}

/// `guard version`
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print only the version number.
    #[arg(long)]
    pub short: bool,
}

/// Parses `90s`, `15m`, `8760h`, `365d`, `2m0s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{e} (examples: 30s, 15m, 8760h, 365d)"))
}
