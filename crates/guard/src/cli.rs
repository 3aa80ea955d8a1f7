//! The command-line interface. Flag names follow Go Guard so that scripts and
//! manifests written for it keep working.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use guard_pki::KeyAlgorithm;
use guard_providers::flags::parse_secret;
use guard_providers::{ProviderFlags, ProviderName};
use secrecy::SecretString;

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

/// `guard get ...`
#[derive(Debug, Subcommand)]
pub enum GetCommand {
    /// Print the manifests that deploy guard (kubectl apply -f).
    ///
    /// A Deployment (or, with --host-network, a DaemonSet), a Service, and
    /// Secrets holding the server's certificate and key and each provider's
    /// files. The output contains private keys: treat it as a secret.
    Installer(Box<InstallerArgs>),
    /// Print a token for kubectl: eks (from your AWS credentials), ldap
    /// (from your username and password), github and gitlab (how to create
    /// one), google, azure and oidc (an ID token from logging in).
    ///
    /// google, azure and oidc log in through the browser (authorization code
    /// with PKCE, redirected to a listener on 127.0.0.1) or, where no browser
    /// can open, with a device code; the refresh token is kept in the user
    /// cache directory (mode 0600) and used silently until it expires.
    ///
    /// With --exec-credential the output is an ExecCredential, so kubectl
    /// can run guard as a credential plugin (users[].user.exec).
    Token(Box<TokenArgs>),
    /// Print the kubeconfig for kube-apiserver's
    /// --authentication-token-webhook-config-file.
    ///
    /// It holds the CA (to check guard's server certificate), guard's
    /// address, and the client certificate NAME@PROVIDER the API server
    /// presents. Write it to a file on every control-plane node.
    WebhookConfig(WebhookConfigArgs),
    /// Print a kubeadm ClusterConfiguration that wires kube-apiserver to
    /// guard, and write the files it points at.
    ///
    /// The webhook kubeconfig (and, with --authz, the authorization one)
    /// goes into --dir on the control-plane node, with an
    /// AuthenticationConfiguration that lets anonymous requests reach only
    /// the API server's probes and `kubeadm join`; apiServer.extraArgs and
    /// extraVolumes point the API server at them. Use the output with
    /// `kubeadm init --config`, or, with --merge and the cluster's own
    /// ClusterConfiguration, with `kubeadm init phase control-plane
    /// apiserver --config` on an existing cluster (docs/kube-apiserver.md).
    KubeadmConfig(Box<crate::apiserver_cli::KubeadmConfigArgs>),
    /// Print an AuthenticationConfiguration for kube-apiserver's
    /// --authentication-config.
    ///
    /// Anonymous requests may reach only the API server's probe paths.
    /// With --auth-providers and the same flags as `guard run`, oidc,
    /// google and azure become in-tree jwt authenticators that accept the
    /// same tokens and map them to the same users (groups from Graph or
    /// the Directory API excepted); other providers keep guard's webhook.
    AuthnConfig(Box<crate::apiserver_cli::AuthnConfigArgs>),
}

/// `guard get token`
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The provider: eks, ldap, github, gitlab, google, azure, oidc.
    #[arg(short = 'o', long = "organization", value_name = "PROVIDER")]
    pub provider: ProviderName,

    /// EKS: the cluster ID the token is for (the client certificate's CN on
    /// the guard server; the cluster name for EKS).
    #[arg(long = "cluster-id", short = 'k', value_name = "ID")]
    pub cluster_id: Option<String>,

    /// EKS: the AWS region whose STS endpoint signs the token. Default: the
    /// global endpoint.
    #[arg(long, value_name = "REGION", env = "AWS_REGION")]
    pub region: Option<String>,

    /// EKS: assume this role first (STS AssumeRole).
    #[arg(long = "role-arn", value_name = "ARN")]
    pub role_arn: Option<String>,

    /// Print a client.authentication.k8s.io/v1 ExecCredential instead of the
    /// bare token. For github and gitlab the token is read from
    /// GITHUB_TOKEN / GITLAB_TOKEN.
    #[arg(long = "exec-credential")]
    pub exec_credential: bool,

    /// LDAP: your username.
    #[arg(long = "ldap.username", value_name = "USER")]
    pub ldap_username: Option<String>,

    /// LDAP: your password. Better left out: guard then asks on the
    /// terminal without echo, or reads the first line of standard input.
    #[arg(
        long = "ldap.password",
        value_name = "PASSWORD",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub ldap_password: Option<SecretString>,

    #[command(flatten)]
    pub oidc: OidcClientArgs,
}

/// How `guard get token -o google|azure|oidc` logs the user in.
#[derive(Debug, Clone, Args)]
pub struct OidcClientArgs {
    /// google, azure, oidc: the issuer [google: https://accounts.google.com;
    /// azure: https://login.microsoftonline.com/TENANT/v2.0].
    #[arg(long = "issuer-url", value_name = "URL")]
    pub issuer_url: Option<String>,

    /// azure: your tenant ID (sets the issuer).
    #[arg(long = "azure.tenant-id", value_name = "ID")]
    pub azure_tenant_id: Option<String>,

    /// google, azure, oidc: the OAuth client ID of the login application
    /// (the ID token's audience, which the guard server checks).
    #[arg(long = "client-id", value_name = "ID", env = "GUARD_OIDC_CLIENT_ID")]
    pub client_id: Option<String>,

    /// The client secret, for providers that give one to installed
    /// applications (Google's "Desktop app" clients). Better set through
    /// the environment than on the command line.
    #[arg(
        long = "client-secret",
        value_name = "SECRET",
        env = "GUARD_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub client_secret: Option<SecretString>,

    /// Another scope to ask for (repeat, or separate with commas), e.g. groups.
    #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',')]
    pub scopes: Vec<String>,

    /// How to log in: auto (the browser where one can open, else the device
    /// code), browser (authorization code + PKCE on a loopback redirect),
    /// device (a code to enter on another device).
    #[arg(long = "grant-type", value_name = "GRANT", default_value = "auto")]
    pub grant_type: GrantType,

    /// Address of the loopback listener that receives the browser's
    /// redirect (port 0: any free port).
    #[arg(
        long = "listen-address",
        value_name = "ADDR",
        default_value = "127.0.0.1:0"
    )]
    pub listen_address: std::net::SocketAddr,

    /// Host name in the redirect URI: 127.0.0.1, or localhost where the
    /// application registration only allows that.
    #[arg(
        long = "redirect-host",
        value_name = "HOST",
        default_value = "127.0.0.1"
    )]
    pub redirect_host: String,

    /// Do not start a browser; only print the login URL.
    #[arg(long = "no-browser")]
    pub no_browser: bool,

    /// How long to wait for the login to finish.
    #[arg(long = "login-timeout", value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub login_timeout: Duration,

    /// Where tokens are kept between runs [default: the user cache
    /// directory, e.g. ~/.cache/guard/oidc].
    #[arg(long = "token-cache-dir", value_name = "DIR")]
    pub token_cache_dir: Option<PathBuf>,

    /// CA certificates (PEM) to trust for the issuer, besides the system's.
    #[arg(long = "certificate-authority", value_name = "FILE")]
    pub certificate_authority: Option<PathBuf>,
}

/// `--grant-type`
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GrantType {
    /// Browser where one can open, else device code.
    Auto,
    /// Authorization code with PKCE and a loopback redirect.
    Browser,
    /// Device authorization grant.
    Device,
}

impl OidcClientArgs {
    /// The flags that reproduce these settings, for the kubeconfig's exec
    /// plugin (the client secret is left out: it stays in the environment).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut push = |flag: &str, value: &str| args.push(format!("--{flag}={value}"));
        if let Some(v) = &self.issuer_url {
            push("issuer-url", v);
        }
        if let Some(v) = &self.azure_tenant_id {
            push("azure.tenant-id", v);
        }
        if let Some(v) = &self.client_id {
            push("client-id", v);
        }
        if !self.scopes.is_empty() {
            push("scope", &self.scopes.join(","));
        }
        if self.grant_type != GrantType::Auto {
            push(
                "grant-type",
                match self.grant_type {
                    GrantType::Browser => "browser",
                    _ => "device",
                },
            );
        }
        if self.listen_address.port() != 0 || !self.listen_address.ip().is_loopback() {
            push("listen-address", &self.listen_address.to_string());
        }
        if self.redirect_host != "127.0.0.1" {
            push("redirect-host", &self.redirect_host);
        }
        if self.login_timeout != Duration::from_secs(300) {
            push(
                "login-timeout",
                &humantime::format_duration(self.login_timeout).to_string(),
            );
        }
        if let Some(v) = &self.token_cache_dir {
            push("token-cache-dir", &v.display().to_string());
        }
        if let Some(v) = &self.certificate_authority {
            push("certificate-authority", &v.display().to_string());
        }
        if self.no_browser {
            args.push("--no-browser".into());
        }
        args
    }
}

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

    /// The kubeconfig cluster entry to log in to (with -p eks: the EKS cluster name).
    #[arg(short = 'k', long = "cluster", value_name = "NAME")]
    pub cluster: Option<String>,

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

    /// LDAP: your username (the password is asked when kubectl needs a token).
    #[arg(long = "ldap.username", value_name = "USER")]
    pub ldap_username: Option<String>,

    #[command(flatten)]
    pub oidc: OidcClientArgs,

    /// Go Guard's form: `-p eks -k CLUSTER` prints an EKS ExecCredential (v1beta1).
    #[arg(short = 'p', long = "provider", value_name = "PROVIDER", hide = true)]
    pub provider: Option<String>,
}

/// `guard get webhook-config`
#[derive(Debug, Args)]
pub struct WebhookConfigArgs {
    #[command(flatten)]
    pub pki: PkiArgs,

    #[command(flatten)]
    pub client: ClientName,

    /// Address (HOST:PORT) at which the API server reaches guard: the
    /// Service's ClusterIP and port.
    #[arg(long, value_name = "HOST:PORT", default_value = guard_installer::webhook_config::DEFAULT_ADDR)]
    pub addr: String,

    /// authn for --authentication-token-webhook-config-file (POST
    /// /tokenreviews), authz for --authorization-webhook-config-file (POST
    /// /subjectaccessreviews).
    #[arg(long, value_name = "MODE", default_value = "authn")]
    pub mode: guard_installer::webhook_config::Mode,
}

/// `guard run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address to listen on: HOST:PORT, or :PORT for every interface.
    #[arg(long, value_name = "ADDR", default_value = ":8443")]
    pub secure_addr: String,

    /// CA certificate(s) that client certificates must chain to (ca.crt).
    #[arg(long, alias = "ca-cert-file", value_name = "FILE")]
    pub tls_ca_file: Option<PathBuf>,

    /// The server certificate, optionally followed by its chain (server.crt).
    #[arg(long, alias = "cert-file", value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// The server's private key (server.key).
    #[arg(long, alias = "key-file", value_name = "FILE")]
    pub tls_private_key_file: Option<PathBuf>,

    #[command(flatten)]
    pub providers: ProviderFlags,

    /// Time allowed to receive a request body.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub server_read_timeout: Duration,

    /// Time allowed to answer a request. A review is given up (and answered
    /// with an error) one second before this.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub server_write_timeout: Duration,

    /// How long a successful review is reused; 0 disables.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    pub cache_ttl: Duration,

    /// How long a denied review is reused; 0 disables.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub cache_failure_ttl: Duration,

    /// Maximum number of cached reviews; 0 disables the cache.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub cache_size: usize,

    /// How often the token file and the TLS files are checked for changes.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub reload_interval: Duration,

    /// After SIGTERM, how long in-flight requests may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace_period: Duration,

    /// Most client connections served at once (TLS handshakes included);
    /// more wait in the listen backlog until slow or idle ones time out.
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    #[command(flatten)]
    pub connections: crate::connection_flags::ConnectionFlags,

    /// Accepted for compatibility with Go Guard; guard does not query NTP.
    #[arg(long, value_name = "DURATION", hide = true)]
    pub clock_check_interval: Option<String>,

    /// Accepted for compatibility with Go Guard; guard does not query NTP.
    #[arg(long, value_name = "DURATION", hide = true)]
    pub max_clock_skew: Option<String>,

    /// Accepted for compatibility with Go Guard; guard does not query NTP.
    #[arg(long, value_name = "HOST", hide = true)]
    pub ntp_server: Option<String>,
}

/// `guard get installer`
#[derive(Debug, Args)]
pub struct InstallerArgs {
    #[command(flatten)]
    pub pki: PkiArgs,

    #[command(flatten)]
    pub providers: ProviderFlags,

    /// Authorization webhook providers (Go Guard: azure). Not supported yet.
    #[arg(long, value_name = "PROVIDERS", value_delimiter = ',', hide = true)]
    pub authz_providers: Vec<String>,

    /// Address (HOST:PORT) at which the API server reaches guard: the
    /// Service's ClusterIP and port. The server certificate must be valid
    /// for HOST. [default: 10.96.10.96:443, or 127.0.0.1:8443 with --host-network]
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,

    /// Namespace of every object (created unless kube-system or default).
    #[arg(
        short = 'n',
        long,
        value_name = "NAMESPACE",
        default_value = "kube-system"
    )]
    pub namespace: String,

    /// Registry of guard's image: the image is REGISTRY/guard:VERSION.
    /// [default: ghcr.io/guard-rs, where `cargo xtask dist` names it]
    #[arg(long, value_name = "REGISTRY")]
    pub private_registry: Option<String>,

    /// guard's image as a full reference (REGISTRY/NAME:TAG or
    /// NAME@sha256:DIGEST), instead of REGISTRY/guard:VERSION.
    #[arg(long, value_name = "IMAGE", conflicts_with = "private_registry")]
    pub image: Option<String>,

    /// imagePullPolicy of guard's container. [default: Kubernetes' own:
    /// IfNotPresent for a tag other than latest]
    #[arg(long, value_name = "POLICY", value_parser = guard_installer::image::PULL_POLICIES)]
    pub image_pull_policy: Option<String>,

    /// Name of a Secret for pulling the image from a private registry.
    #[arg(long, value_name = "SECRET")]
    pub image_pull_secret: Option<String>,

    /// Run guard on control-plane nodes (tolerating their taints).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub run_on_master: bool,

    /// Number of guard pods; above 1 adds a PodDisruptionBudget and spreads
    /// the pods over nodes.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub replicas: i32,

    /// Run guard as a DaemonSet on the control-plane nodes' host network,
    /// listening on loopback (--addr=127.0.0.1:PORT), so each API server
    /// reaches its own guard without a Service, kube-proxy or the CNI.
    #[arg(long)]
    pub host_network: bool,

    /// HTTP_PROXY for guard's calls to providers.
    #[arg(long, value_name = "URL")]
    pub proxy_http: Option<String>,

    /// HTTPS_PROXY for guard's calls to providers.
    #[arg(long, value_name = "URL")]
    pub proxy_https: Option<String>,

    /// NO_PROXY: hosts and ranges reached without the proxy.
    #[arg(long, value_name = "LIST")]
    pub proxy_skip_range: Option<String>,

    /// CA certificate of the proxy, added to the trusted roots.
    #[arg(long, value_name = "FILE")]
    pub proxy_cert: Option<PathBuf>,
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

    /// The provider: token-auth, google, azure, ldap, github, gitlab, oidc or eks.
    #[arg(short = 'o', long = "organization", value_name = "PROVIDER")]
    pub provider: Option<ProviderName>,
}

/// `guard version`
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print only the version number.
    #[arg(long)]
    pub short: bool,
}

pub use guard_providers::flags::parse_duration;

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
