//! `guard get ...`

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use guard_installer::authn_config::{HEALTH_PATHS, KUBEADM_CLUSTER_INFO_PATH};
use guard_installer::kube_version::KubeVersion;
use guard_installer::kubeadm::{DEFAULT_DIR, KubeadmApi};
use guard_providers::flags::parse_secret;
use guard_providers::{ProviderFlags, ProviderName};
use secrecy::SecretString;

use super::init::{ClientName, PkiArgs};
use super::parse_duration;

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
    KubeadmConfig(Box<KubeadmConfigArgs>),
    /// Print an AuthenticationConfiguration for kube-apiserver's
    /// --authentication-config.
    ///
    /// Anonymous requests may reach only the API server's probe paths.
    /// With --auth-providers and the same flags as `guard run`, oidc,
    /// google and azure become in-tree jwt authenticators that accept the
    /// same tokens and map them to the same users (groups from Graph or
    /// the Directory API excepted); other providers keep guard's webhook.
    AuthnConfig(Box<AuthnConfigArgs>),
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

    /// Print an ExecCredential instead of the bare token, in the version
    /// kubectl asks for in KUBERNETES_EXEC_INFO (v1 or v1beta1; v1 when it
    /// asks for none). For github and gitlab the token is read from
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

    /// How LDAP users with Kerberos get their ticket.
    #[command(flatten)]
    pub kerberos: KerberosClientArgs,

    /// How google, azure and oidc users log in.
    #[command(flatten)]
    pub oidc: OidcClientArgs,
}

/// How `guard get token -o ldap` gets a Kerberos service ticket (Go Guard's
/// flags).
#[derive(Debug, Clone, Args)]
pub struct KerberosClientArgs {
    /// LDAP: Simple (a token from your username and password) or Kerberos
    /// (a service ticket: from your credential cache after kinit, or by
    /// logging in with --ldap.username). Go Guard's 0 and 1 work too.
    #[arg(
        long = "ldap.auth-choice",
        value_name = "CHOICE",
        default_value = "Simple",
        ignore_case = true
    )]
    pub auth_choice: guard_providers::ldap::AuthChoice,

    /// LDAP with Kerberos: the guard server's service principal
    /// (HTTP/guard.example.com, or with @REALM).
    #[arg(long = "ldap.spn", value_name = "PRINCIPAL")]
    pub spn: Option<String>,

    /// LDAP with Kerberos: the realm of --ldap.username [default: the
    /// default realm of --ldap.krb5-config].
    #[arg(long = "ldap.realm", value_name = "REALM")]
    pub realm: Option<String>,

    /// LDAP with Kerberos: the Kerberos configuration (KDCs, default realm,
    /// default credential cache).
    #[arg(
        long = "ldap.krb5-config",
        value_name = "FILE",
        env = "KRB5_CONFIG",
        default_value = "/etc/krb5.conf"
    )]
    pub krb5_config: PathBuf,

    /// Go Guard's flag, accepted for its kubeconfigs: guard never uses FAST
    /// armoring (PA-FX-FAST), so only true is accepted.
    #[arg(long = "ldap.disable-pa-fx-fast", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", hide = true)]
    pub disable_pa_fx_fast: bool,
}

impl KerberosClientArgs {
    /// Whether Kerberos was chosen.
    pub fn is_kerberos(&self) -> bool {
        self.auth_choice == guard_providers::ldap::AuthChoice::Kerberos
    }

    /// The flags that reproduce these settings, for the kubeconfig's exec
    /// plugin (none in simple mode).
    pub fn to_args(&self) -> Vec<String> {
        if !self.is_kerberos() {
            return Vec::new();
        }
        let mut args = vec!["--ldap.auth-choice=Kerberos".to_owned()];
        if let Some(spn) = &self.spn {
            args.push(format!("--ldap.spn={spn}"));
        }
        if let Some(realm) = &self.realm {
            args.push(format!("--ldap.realm={realm}"));
        }
        if self.krb5_config != std::path::Path::new("/etc/krb5.conf") {
            args.push(format!("--ldap.krb5-config={}", self.krb5_config.display()));
        }
        args
    }
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

/// `guard get webhook-config`
#[derive(Debug, Args)]
pub struct WebhookConfigArgs {
    /// Where the PKI is.
    #[command(flatten)]
    pub pki: PkiArgs,

    /// The client certificate.
    #[command(flatten)]
    pub client: ClientName,

    /// Address (HOST:PORT) at which the API server reaches guard: the
    /// Service's ClusterIP and port.
    #[arg(long, value_name = "HOST:PORT", default_value = guard_installer::webhook_config::DEFAULT_ADDR)]
    pub addr: String,

    /// authn for --authentication-token-webhook-config-file (POST
    /// /tokenreviews), authz for --authorization-webhook-config-file (POST
    /// /subjectaccessreviews, which guard serves when it runs with
    /// --authz-providers: the authorization webhook).
    #[arg(long, value_name = "MODE", default_value = "authn")]
    pub mode: guard_installer::webhook_config::Mode,
}

/// `guard get installer`
#[derive(Debug, Args)]
pub struct InstallerArgs {
    /// Where the PKI is.
    #[command(flatten)]
    pub pki: PkiArgs,

    /// The providers and their options.
    #[command(flatten)]
    pub providers: ProviderFlags,

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

    /// Add a NetworkPolicy: anyone may reach the serving port, and only
    /// pods in the --metrics-namespace namespaces the plain-HTTP probe and
    /// metrics port (kubelet's probes come from the node and still pass).
    #[arg(long)]
    pub network_policy: bool,

    /// With --network-policy: a namespace whose pods may scrape /metrics,
    /// e.g. monitoring (repeat, or separate with commas).
    #[arg(
        long,
        value_name = "NAMESPACE",
        value_delimiter = ',',
        requires = "network_policy"
    )]
    pub metrics_namespace: Vec<String>,

    /// Print the manifests of `guard proxy`, the authenticating proxy in
    /// front of kube-apiserver, instead of the webhook's: a Deployment and
    /// Service `guard-proxy`, Secrets with its serving certificate
    /// (server.crt, valid for the name users dial), the front-proxy client
    /// certificate (--proxy-mode=front-proxy) and the providers' files,
    /// and, in impersonation mode, a ServiceAccount whose ClusterRole
    /// allows only `impersonate` on users, groups, uids and userextras.
    #[arg(long, help_heading = "Authenticating proxy (guard proxy)")]
    pub proxy: bool,

    /// With --proxy: impersonation (the pod's service account, any
    /// cluster) or front-proxy (the certificate of `guard init
    /// front-proxy-client`, kubeadm clusters).
    #[arg(
        long,
        value_name = "MODE",
        default_value = "impersonation",
        requires = "proxy",
        help_heading = "Authenticating proxy (guard proxy)"
    )]
    pub proxy_mode: super::proxy::Mode,

    /// With --proxy: `guard proxy --org`, NAME or PROVIDER=NAME (repeat).
    #[arg(
        long = "org",
        value_name = "[PROVIDER=]NAME",
        requires = "proxy",
        help_heading = "Authenticating proxy (guard proxy)"
    )]
    pub orgs: Vec<String>,

    /// With --proxy: the type of the Service users reach the proxy through
    /// (ClusterIP, NodePort, LoadBalancer).
    #[arg(
        long,
        value_name = "TYPE",
        default_value = "ClusterIP",
        requires = "proxy",
        help_heading = "Authenticating proxy (guard proxy)"
    )]
    pub proxy_service_type: String,

    /// With --proxy: the Service's port.
    #[arg(
        long,
        value_name = "PORT",
        default_value_t = 443,
        value_parser = clap::value_parser!(i32).range(1..=65535),
        requires = "proxy",
        help_heading = "Authenticating proxy (guard proxy)"
    )]
    pub proxy_port: i32,

    // Last: its help heading covers the flags that follow it.
    /// The authorization webhook (`--authz-providers`) guard runs with.
    #[command(flatten)]
    pub authz: guard_authz::AuthzArgs,
}

/// `guard get kubeadm-config`
#[derive(Debug, Args)]
pub struct KubeadmConfigArgs {
    /// Where the PKI is.
    #[command(flatten)]
    pub pki: PkiArgs,

    /// The client certificate the API server presents.
    #[command(flatten)]
    pub client: ClientName,

    /// Address (HOST:PORT) at which the API server reaches guard: the
    /// Service's ClusterIP and port.
    #[arg(long, value_name = "HOST:PORT", default_value = guard_installer::webhook_config::DEFAULT_ADDR)]
    pub addr: String,

    /// The directory on the control-plane node that holds the webhook
    /// kubeconfig and configuration files; mounted read-only at the same
    /// path into the API server pod.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DIR)]
    pub dir: String,

    /// Write the files here instead of into --dir (to copy them to the
    /// control-plane nodes yourself).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// The kubeadm configuration API: v1beta4 (kubeadm 1.31 and later) or
    /// v1beta3 (kubeadm 1.22 to 1.30) [default: v1beta4, or the --merge
    /// file's].
    #[arg(long = "kubeadm-api", value_name = "VERSION")]
    pub kubeadm_api: Option<KubeadmApi>,

    /// The cluster's Kubernetes release: it decides which configuration
    /// files kube-apiserver accepts [default: the --merge file's
    /// kubernetesVersion, else 1.34 and later; 1.30 with
    /// --kubeadm-api=v1beta3].
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<KubeVersion>,

    /// How long kube-apiserver reuses guard's answers
    /// (--authentication-token-webhook-cache-ttl).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub webhook_cache_ttl: Duration,

    /// Also make guard the authorization webhook (POST
    /// /subjectaccessreviews), after Node and RBAC. Azure only (-o azure).
    #[arg(long)]
    pub authz: bool,

    /// Also write an AuthenticationConfiguration that lets anonymous
    /// requests reach only --anonymous-path (Kubernetes 1.32 and later).
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
    pub authn_config: bool,

    /// The request paths open to anonymous requests: the API server's
    /// probes, and the ConfigMap `kubeadm join` reads before it has
    /// credentials. Replaces the default list; empty turns anonymous
    /// requests off.
    #[arg(long, value_name = "PATH", value_delimiter = ',', default_values = [HEALTH_PATHS[0], HEALTH_PATHS[1], HEALTH_PATHS[2], KUBEADM_CLUSTER_INFO_PATH])]
    pub anonymous_path: Vec<String>,

    /// Merge into this kubeadm configuration (`-` for standard input), e.g.
    /// the cluster's own: kubectl -n kube-system get configmap
    /// kubeadm-config -o jsonpath='{.data.ClusterConfiguration}'. Prints
    /// every document of it, with guard's settings added.
    #[arg(long, value_name = "FILE")]
    pub merge: Option<PathBuf>,

    /// Replace files in the directory that have other contents.
    #[arg(long)]
    pub force: bool,
}

/// `guard get authn-config`
#[derive(Debug, Args)]
pub struct AuthnConfigArgs {
    /// The API server's Kubernetes release: v1 for 1.34 and later, v1beta1
    /// for 1.30 to 1.33 [default: 1.34 and later].
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<KubeVersion>,

    /// The request paths open to anonymous requests (the API server's
    /// probes by default; add /api/v1/namespaces/kube-public/configmaps/cluster-info
    /// for `kubeadm join`). Replaces the default list; empty turns anonymous
    /// requests off.
    #[arg(long, value_name = "PATH", value_delimiter = ',', default_values = HEALTH_PATHS)]
    pub anonymous_path: Vec<String>,

    /// google: the Google Workspace domain(s) whose accounts may log in
    /// (the `hd` claim), the NAME of guard's google client certificate.
    #[arg(long = "google.domain", value_name = "DOMAIN", value_delimiter = ',')]
    pub google_domains: Vec<String>,

    /// The providers and their options, as `guard run` takes them.
    #[command(flatten)]
    pub providers: ProviderFlags,
}
