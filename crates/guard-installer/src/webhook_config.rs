//! `guard get webhook-config`: the kubeconfig kube-apiserver reads to call
//! guard (`--authentication-token-webhook-config-file`, or
//! `--authorization-webhook-config-file` for `authz`).

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use guard_pki::PkiDir;
use kube_client::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext, Preferences,
};

use crate::InstallerError;

/// The default address of the guard Service: the ClusterIP the installer
/// gives it, port 443.
pub const DEFAULT_ADDR: &str = "10.96.10.96:443";

/// Which webhook the config is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Authentication: `POST /tokenreviews`.
    #[default]
    Authn,
    /// Authorization: `POST /subjectaccessreviews`.
    Authz,
}

impl Mode {
    fn path(self) -> &'static str {
        match self {
            Mode::Authn => "/tokenreviews",
            Mode::Authz => "/subjectaccessreviews",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Authn => "authn",
            Mode::Authz => "authz",
        })
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "authn" => Ok(Mode::Authn),
            "authz" => Ok(Mode::Authz),
            other => Err(format!("unknown mode {other:?}: expected authn or authz")),
        }
    }
}

/// What the config is made of.
#[derive(Debug, Clone)]
pub struct WebhookConfigSpec<'a> {
    /// The client certificate's name (its `CN`).
    pub name: &'a str,
    /// The client certificate's provider name (its `O`).
    pub provider: &'a str,
    /// `host:port` of the guard server as the API server reaches it.
    pub addr: &'a str,
    /// authn or authz.
    pub mode: Mode,
}

/// Builds the kubeconfig from `pki`: cluster `guard-server` (the CA and
/// `https://ADDR/tokenreviews`), user `NAME@PROVIDER` (the client pair),
/// context and current-context `webhook`.
pub fn build(pki: &PkiDir, spec: &WebhookConfigSpec<'_>) -> Result<Kubeconfig, InstallerError> {
    let dir = pki.path().display().to_string();
    let ca_path = pki.cert_path(guard_pki::CA);
    if !ca_path.exists() {
        return Err(InstallerError::Missing {
            what: "CA certificate".into(),
            dir,
            command: "guard init ca".into(),
        });
    }
    let base = PkiDir::client_base(spec.name, spec.provider)?;
    let (cert_path, key_path) = (pki.cert_path(&base), pki.key_path(&base));
    if !cert_path.exists() || !key_path.exists() {
        return Err(InstallerError::Missing {
            what: format!("client certificate {base}"),
            dir,
            command: format!("guard init client {} -o {}", spec.name, spec.provider),
        });
    }
    let encode = |path: &std::path::Path| -> Result<String, InstallerError> {
        Ok(STANDARD.encode(pki.read(path)?))
    };
    let user = format!("{}@{}", spec.name, spec.provider);
    Ok(Kubeconfig {
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        preferences: Some(Preferences::default()),
        clusters: vec![NamedCluster {
            name: "guard-server".into(),
            cluster: Some(Cluster {
                server: Some(format!("https://{}{}", spec.addr, spec.mode.path())),
                certificate_authority_data: Some(encode(&ca_path)?),
                ..Cluster::default()
            }),
            ..NamedCluster::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: user.clone(),
            auth_info: Some(AuthInfo {
                client_certificate_data: Some(encode(&cert_path)?),
                client_key_data: Some(encode(&key_path)?.into()),
                ..AuthInfo::default()
            }),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: "webhook".into(),
            context: Some(Context {
                cluster: "guard-server".into(),
                user: Some(user),
                ..Context::default()
            }),
            ..NamedContext::default()
        }],
        current_context: Some("webhook".into()),
        ..Kubeconfig::default()
    })
}

/// Renders the kubeconfig as YAML with keys sorted, as client-go writes it.
pub fn to_yaml(config: &Kubeconfig) -> Result<String, InstallerError> {
    guard_api::yaml::to_sorted_yaml(config).map_err(|e| InstallerError::Serialize(Box::new(e)))
}
