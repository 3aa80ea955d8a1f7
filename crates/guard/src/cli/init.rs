//! `guard init ...` and the PKI flags other commands share.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use guard_pki::KeyAlgorithm;
use guard_providers::ProviderName;

use super::parse_duration;

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
    /// provider (with -o A,B: one O each, tried in that order) and its
    /// common name (CN) carries NAME: the GitHub organisation, the GitLab
    /// group, the Google Workspace domain, or any name for the other
    /// providers. NAME may be left out for azure, ldap and oidc (it then
    /// defaults to the provider's name).
    Client(InitClientArgs),
    /// Create `guard proxy`'s front-proxy client certificate (PKI_DIR/pki/front-proxy-client.crt, .key).
    ///
    /// Signed by the CA the API server trusts for front proxies
    /// (--requestheader-client-ca-file; kubeadm's front-proxy-ca), with a CN
    /// the API server lists in --requestheader-allowed-names. Run it where
    /// that CA's key is, e.g. on a kubeadm control-plane node.
    FrontProxyClient(InitFrontProxyClientArgs),
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
    /// Where the PKI is.
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
    /// The options of every new certificate.
    #[command(flatten)]
    pub common: NewCertArgs,

    /// How long the CA is valid (e.g. 3650d, 87600h).
    #[arg(long, value_name = "DURATION", default_value = "3650d", value_parser = parse_duration)]
    pub duration: Duration,
}

/// `guard init server`
#[derive(Debug, Args)]
pub struct InitServerArgs {
    /// The options of every new certificate.
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
    /// The options of every new certificate.
    #[command(flatten)]
    pub common: NewCertArgs,

    /// The client certificate.
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
    /// The certificate's common name: GitHub organisation, GitLab group,
    /// Google domain, or any name. Defaults to the provider for azure, ldap
    /// and oidc.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// The provider: token-auth, google, azure, ldap, github, gitlab, oidc
    /// or eks. Two, comma separated (github,token-auth), make a client
    /// whose reviews go to each in turn: the first that accepts the token
    /// answers.
    #[arg(
        short = 'o',
        long = "organization",
        value_name = "PROVIDER",
        value_delimiter = ','
    )]
    pub provider: Vec<ProviderName>,
}

/// `guard init front-proxy-client`
#[derive(Debug, Args)]
pub struct InitFrontProxyClientArgs {
    /// The options of every new certificate.
    #[command(flatten)]
    pub common: NewCertArgs,

    /// The front-proxy CA certificate (the API server's --requestheader-client-ca-file).
    #[arg(
        long = "ca-cert-file",
        value_name = "FILE",
        default_value = "/etc/kubernetes/pki/front-proxy-ca.crt"
    )]
    pub ca_cert_file: PathBuf,

    /// The front-proxy CA's private key.
    #[arg(
        long = "ca-key-file",
        value_name = "FILE",
        default_value = "/etc/kubernetes/pki/front-proxy-ca.key"
    )]
    pub ca_key_file: PathBuf,

    /// The certificate's CN: a name in the API server's --requestheader-allowed-names.
    #[arg(
        long = "common-name",
        value_name = "NAME",
        default_value = "front-proxy-client"
    )]
    pub common_name: String,

    /// How long the certificate is valid (e.g. 365d, 8760h).
    #[arg(long, value_name = "DURATION", default_value = "365d", value_parser = parse_duration)]
    pub duration: Duration,
}
