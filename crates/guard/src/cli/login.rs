//! `guard login`

use std::path::PathBuf;

use clap::Args;
use guard_providers::ProviderName;

use super::get::{KerberosClientArgs, OidcClientArgs};

/// `guard login`
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Add a user for this provider to your kubeconfig: eks, ldap, github,
    /// gitlab, google, azure, oidc.
    #[arg(
        short = 'o',
        long = "organization",
        value_name = "PROVIDER",
        conflicts_with = "provider"
    )]
    pub organization: Option<ProviderName>,

    /// The kubeconfig cluster entry to log in to (with -p eks: the EKS
    /// cluster name) [default with --server: the server's host name].
    #[arg(short = 'k', long = "cluster", value_name = "NAME")]
    pub cluster: Option<String>,

    /// Also write the cluster entry: kubectl connects to this address,
    /// e.g. `guard proxy` (https://PROXY[:PORT]), and trusts the CA of
    /// --server-ca-file there.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,

    /// With --server: the CA that signed the server's certificate,
    /// embedded in the kubeconfig [default: guard's CA,
    /// PKI_DIR/pki/ca.crt, which signs `guard proxy`'s certificate].
    #[arg(long, value_name = "FILE", requires = "server")]
    pub server_ca_file: Option<PathBuf>,

    /// With --server: where guard's PKI is [default: $GUARD_DATA_DIR, else ~/.guard].
    #[arg(long, value_name = "PKI_DIR", requires = "server")]
    pub pki_dir: Option<PathBuf>,

    /// The kubeconfig to change [default: $KUBECONFIG, else ~/.kube/config].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Name of the user and context entries [default: CLUSTER-PROVIDER].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// EKS: the cluster ID tokens are made for [default: --cluster].
    #[arg(long = "cluster-id", value_name = "ID")]
    pub cluster_id: Option<String>,

    /// EKS: the STS region.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// EKS: a role to assume.
    #[arg(long = "role-arn", value_name = "ARN")]
    pub role_arn: Option<String>,

    /// LDAP: your username (the password is asked when kubectl needs a
    /// token). With Kerberos, leave it out to use the ticket kinit got.
    #[arg(long = "ldap.username", value_name = "USER")]
    pub ldap_username: Option<String>,

    /// How LDAP users with Kerberos get their ticket.
    #[command(flatten)]
    pub kerberos: KerberosClientArgs,

    /// How google, azure and oidc users log in.
    #[command(flatten)]
    pub oidc: OidcClientArgs,

    /// Go Guard's form: `-p eks -k CLUSTER` prints an EKS ExecCredential
    /// (v1beta1, or the version kubectl asks for).
    #[arg(short = 'p', long = "provider", value_name = "PROVIDER", hide = true)]
    pub provider: Option<String>,
}
