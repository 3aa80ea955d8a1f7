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
    /// The client certificate's providers (its `O`s), as `-o` spells them: `github` or `github,token-auth`.
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
    let addr = crate::addr::parse(spec.addr)?;
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
                server: Some(format!("https://{addr}{}", spec.mode.path())),
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

#[cfg(test)]
mod tests {
    use guard_pki::{CertificateAuthority, ClientSpec, KeyAlgorithm, Overwrite, Validity};

    use super::*;

    #[test]
    fn the_config_points_at_guard_with_the_ca_and_the_client_pair() {
        let dir = tempfile::tempdir().unwrap();
        let pki = PkiDir::new(dir.path());
        let spec = WebhookConfigSpec {
            name: "acme",
            provider: "github",
            addr: DEFAULT_ADDR,
            mode: Mode::Authn,
        };
        let e = build(&pki, &spec).unwrap_err().to_string();
        assert!(e.contains("guard init ca"), "{e}");
        let (ca, pair) =
            CertificateAuthority::generate(KeyAlgorithm::EcdsaP256, Validity::CA_DEFAULT).unwrap();
        pki.write_pair(guard_pki::CA, &pair, Overwrite::Refuse)
            .unwrap();
        let e = build(&pki, &spec).unwrap_err().to_string();
        assert!(e.contains("guard init client acme -o github"), "{e}");
        let client = ca
            .issue_client(&ClientSpec {
                name: "acme".into(),
                providers: vec!["github".into()],
                key_algorithm: KeyAlgorithm::EcdsaP256,
                validity: Validity::LEAF_DEFAULT,
            })
            .unwrap();
        pki.write_pair("acme@github", &client, Overwrite::Refuse)
            .unwrap();

        let config = build(&pki, &spec).unwrap();
        let cluster = config.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(
            cluster.server.as_deref(),
            Some("https://10.96.10.96:443/tokenreviews")
        );
        assert_eq!(
            cluster.certificate_authority_data.as_deref(),
            Some(STANDARD.encode(&pair.cert_pem).as_str())
        );
        assert_eq!(config.auth_infos[0].name, "acme@github");
        assert_eq!(config.current_context.as_deref(), Some("webhook"));
        let authz = build(
            &pki,
            &WebhookConfigSpec {
                mode: Mode::Authz,
                ..spec
            },
        )
        .unwrap();
        assert!(
            authz.clusters[0]
                .cluster
                .as_ref()
                .unwrap()
                .server
                .as_deref()
                .unwrap()
                .ends_with("/subjectaccessreviews")
        );
        let yaml = to_yaml(&config).unwrap();
        assert!(yaml.starts_with("apiVersion: v1\n"), "{yaml}");
    }

    #[test]
    fn modes_parse_case_insensitively() {
        assert_eq!(" AuthZ ".parse::<Mode>(), Ok(Mode::Authz));
        assert!("both".parse::<Mode>().is_err());
        assert_eq!(Mode::Authn.to_string(), "authn");
    }
}
