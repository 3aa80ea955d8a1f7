//! The options of `guard get kubeadm-config` and `guard get authn-config`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use guard_installer::authn_config::{HEALTH_PATHS, KUBEADM_CLUSTER_INFO_PATH};
use guard_installer::kube_version::KubeVersion;
use guard_installer::kubeadm::{DEFAULT_DIR, KubeadmApi};

use guard_providers::ProviderFlags;

use crate::cli::{ClientName, PkiArgs, parse_duration};

/// `guard get kubeadm-config`
#[derive(Debug, Args)]
pub struct KubeadmConfigArgs {
    #[command(flatten)]
    pub pki: PkiArgs,

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

    #[command(flatten)]
    pub providers: ProviderFlags,
}
