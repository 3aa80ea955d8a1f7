//! The command-line interface: clap definitions only. Flag names follow Go
//! Guard so that scripts and manifests written for it keep working; the
//! providers' flags come from guard-providers' registry.
//!
//! * [`init`]: `guard init ca|server|client|front-proxy-client`.
//! * [`get`]: `guard get installer|webhook-config|token|kubeadm-config|authn-config`.
//! * [`run`]: `guard run`.
//! * [`proxy`]: `guard proxy`.
//! * [`login`]: `guard login`.

pub mod get;
pub mod init;
pub mod login;
pub mod proxy;
pub mod run;

use clap::{Args, Parser, Subcommand};

pub use get::{
    AuthnConfigArgs, GetCommand, GrantType, InstallerArgs, KubeadmConfigArgs, OidcClientArgs,
    TokenArgs, WebhookConfigArgs,
};
pub use guard_providers::flags::parse_duration;
pub use init::{ClientName, InitCommand, PkiArgs};
pub use login::LoginArgs;
pub use proxy::ProxyArgs;
pub use run::{ConnectionFlags, RunArgs};

/// Log in to Kubernetes with the identity you already have.
///
/// guard is a webhook token authenticator for kube-apiserver: it checks
/// bearer tokens against a token file, GitHub, GitLab, LDAP, Google, Azure
/// AD, any OpenID Connect issuer or AWS IAM. Start with `guard init ca`,
/// `guard init server` and `guard init client`.
#[derive(Debug, Parser)]
#[command(
    name = "guard",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Log verbosity: 0-3 info, 4-5 debug, 6 and up trace. For `get
    /// installer`: the level of the deployed server [default there: 3].
    #[arg(short = 'v', long = "v", global = true, value_name = "LEVEL")]
    pub verbosity: Option<u8>,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// guard's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the certificates guard and the API server use.
    #[command(subcommand)]
    Init(InitCommand),
    /// Print configuration for Kubernetes.
    #[command(subcommand)]
    Get(GetCommand),
    /// Run the webhook server the API server calls.
    Run(Box<RunArgs>),
    /// Run an authenticating proxy in front of kube-apiserver.
    ///
    /// Users send their token (or LDAP user and password) to the proxy; it
    /// checks them with the same providers as `guard run` and forwards the
    /// request with the user's identity: as X-Remote-* headers with a
    /// front-proxy client certificate (--mode front-proxy, kubeadm
    /// clusters), or as Impersonate-* headers with its own credential
    /// (--mode impersonation, any cluster). See docs/proxy.md.
    Proxy(Box<ProxyArgs>),
    /// Add a user that gets its tokens from guard, and a context, to your kubeconfig.
    ///
    /// `guard login -o ldap --cluster prod --ldap.username alice` adds user
    /// and context `prod-ldap`; kubectl then runs `guard get token` when it
    /// needs a token. Running it again updates the entries. For google,
    /// azure and oidc pass the login flags of `guard get token`
    /// (--client-id, --issuer-url or --azure.tenant-id, ...). (Go Guard's
    /// `login -p eks -k CLUSTER` still prints an ExecCredential.)
    Login(Box<LoginArgs>),
    /// Print guard's version.
    Version(VersionArgs),
}

/// `guard version`
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print only the version number.
    #[arg(long)]
    pub short: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
