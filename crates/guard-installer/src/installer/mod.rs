//! `guard get installer`: the objects that deploy guard, built as typed
//! Kubernetes objects (k8s-openapi) and printed as one YAML stream.
//!
//! * this module: what to install ([`InstallerSpec`]) and the objects, in
//!   Go Guard's order;
//! * `pod`: the pod spec, and the guard container both installers share;
//! * `objects`: labels, metadata, Secrets, volumes;
//! * [`authn_proxy`]: the objects of `guard proxy` instead (`--proxy`).
//!
//! Each provider's flags, Secret and environment come in as
//! [`InstallerPart`]s from guard-providers' registry.
//!
//! Names, Secret keys and mount paths are Go Guard's (`guard-pki` with
//! `ca.crt`/`tls.crt`/`tls.key` at `/etc/guard/pki`, `guard-token-auth` with
//! `token.csv` at `/etc/guard/auth/token`, ...), so `kubectl apply` upgrades
//! a Go Guard installation in place.

use std::collections::BTreeMap;
use std::path::PathBuf;

use guard_api::InstallerPart;
use guard_pki::PkiDir;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{Namespace, PodTemplateSpec, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::InstallerError;

/// One generated object, as JSON (what [`to_yaml`] prints).
pub type Object = serde_json::Value;

/// Where the `guard-pki` Secret is mounted.
pub const PKI_MOUNT: &str = "/etc/guard/pki";
/// The container port guard listens on inside the pod.
pub const CONTAINER_PORT: i32 = 8443;

/// What to install.
#[derive(Debug, Clone)]
pub struct InstallerSpec {
    /// Namespace of every object.
    pub namespace: String,
    /// `HOST:PORT` the API server dials: the Service's ClusterIP and port,
    /// or `127.0.0.1:PORT` with [`host_network`](Self::host_network).
    pub addr: String,
    /// Schedule on control-plane nodes only (and tolerate their taints).
    pub run_on_master: bool,
    /// Container image.
    pub image: String,
    /// `imagePullPolicy` of the container (Kubernetes' default if `None`).
    pub image_pull_policy: Option<String>,
    /// Name of an image pull Secret.
    pub image_pull_secret: Option<String>,
    /// `--v` passed to `guard run`.
    pub verbosity: u8,
    /// Number of replicas of the Deployment.
    pub replicas: i32,
    /// Run as a DaemonSet on the control-plane nodes' host network,
    /// listening on loopback, instead of a Deployment behind a Service.
    pub host_network: bool,
    /// Outbound proxy settings.
    pub proxy: Proxy,
    /// `--auth-providers` as given.
    pub auth_providers: Vec<String>,
    /// What each enabled provider adds, in the order their flags and
    /// Secrets are written (the registry's).
    pub providers: Vec<InstallerPart>,
    /// Also a NetworkPolicy that admits anyone to the serving port and
    /// only these namespaces to the probe and metrics port.
    pub network_policy: Option<ProbeSources>,
}

/// Who may reach the plain-HTTP probe and metrics port when the
/// NetworkPolicy is on (`--network-policy`).
#[derive(Debug, Clone, Default)]
pub struct ProbeSources {
    /// Namespaces (by name) whose pods may scrape `/metrics`, e.g. the
    /// monitoring namespace. Empty: no pod may.
    pub namespaces: Vec<String>,
}

/// Outbound proxy for the providers' calls (`--proxy-*`).
#[derive(Debug, Clone, Default)]
pub struct Proxy {
    /// `HTTP_PROXY`.
    pub http: Option<String>,
    /// `HTTPS_PROXY`.
    pub https: Option<String>,
    /// `NO_PROXY`.
    pub no_proxy: Option<String>,
    /// A CA certificate the proxy presents, added to the trusted roots.
    pub cert: Option<PathBuf>,
}

impl Proxy {
    fn is_set(&self) -> bool {
        self.http.is_some() || self.https.is_some() || self.no_proxy.is_some()
    }

    /// The `guard-proxy` Secret's data: the three variables, empty when unset.
    fn secret_data(&self) -> BTreeMap<String, Vec<u8>> {
        let or_empty = |v: &Option<String>| v.clone().unwrap_or_default().into_bytes();
        BTreeMap::from([
            ("HTTP_PROXY".to_owned(), or_empty(&self.http)),
            ("HTTPS_PROXY".to_owned(), or_empty(&self.https)),
            ("NO_PROXY".to_owned(), or_empty(&self.no_proxy)),
        ])
    }
}

pub mod authn_proxy;
mod objects;
mod pod;

use objects::{disruption_budget, labels, meta, network_policy, secret, service, value};
use pod::pod_spec;

/// Splits `HOST:PORT` (see [`crate::addr::parse`]).
fn split_addr(addr: &str) -> Result<(String, i32), InstallerError> {
    let parsed = crate::addr::parse(addr)?;
    Ok((parsed.host, i32::from(parsed.port)))
}

/// Builds every object, in Go Guard's order (Namespace, proxy Secrets,
/// Deployment or DaemonSet, `guard-pki`, provider Secrets, Service), plus a
/// PodDisruptionBudget when there is more than one replica.
pub fn generate(
    pki: &PkiDir,
    spec: &InstallerSpec,
) -> Result<Vec<serde_json::Value>, InstallerError> {
    let ns = spec.namespace.as_str();
    let (host, port) = split_addr(&spec.addr)?;
    if spec.host_network && host != "127.0.0.1" && host != "::1" && host != "localhost" {
        return Err(InstallerError::Invalid(format!(
            "with --host-network each API server reaches its local guard on loopback: use --addr=127.0.0.1:PORT, not {}",
            spec.addr
        )));
    }
    if spec.replicas < 1 {
        return Err(InstallerError::Invalid(
            "--replicas must be at least 1".into(),
        ));
    }
    if spec.host_network && spec.network_policy.is_some() {
        return Err(InstallerError::Invalid(
            "--network-policy does not apply with --host-network (a NetworkPolicy cannot select pods on the node's network)".into(),
        ));
    }
    if spec.host_network && spec.replicas != 1 {
        return Err(InstallerError::Invalid(
            "--replicas does not apply with --host-network (one guard runs on every control-plane node)".into(),
        ));
    }

    let dir = pki.path().display().to_string();
    let (ca, cert, key) = (
        pki.cert_path(guard_pki::CA),
        pki.cert_path(guard_pki::SERVER),
        pki.key_path(guard_pki::SERVER),
    );
    if !ca.exists() {
        return Err(InstallerError::Missing {
            what: "CA certificate".into(),
            dir,
            command: "guard init ca".into(),
        });
    }
    if !cert.exists() || !key.exists() {
        return Err(InstallerError::Missing {
            what: "server certificate".into(),
            dir,
            command: format!("guard init server --ips={host}"),
        });
    }
    if let Some(problem) = crate::server_cert::problem(pki, &host)? {
        return Err(InstallerError::Invalid(problem));
    }
    let server_pem = pki.read(&cert)?;

    let providers = &spec.providers;

    let mut objects: Vec<serde_json::Value> = Vec::new();
    let mut push = |o: serde_json::Value| objects.push(o);

    if ns != "kube-system" && ns != "default" {
        push(value(&Namespace {
            metadata: ObjectMeta {
                name: Some(ns.to_owned()),
                labels: Some(labels()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        })?);
    }

    // Proxy.
    let proxy_cert = match (&spec.proxy.cert, spec.proxy.is_set()) {
        (Some(path), true) => Some(std::fs::read(path).map_err(|source| InstallerError::File {
            flag: "--proxy-cert",
            path: path.clone(),
            source,
        })?),
        (Some(_), false) => {
            return Err(InstallerError::Invalid(
                "--proxy-cert needs --proxy-http, --proxy-https or --proxy-skip-range".into(),
            ));
        }
        (None, _) => None,
    };
    if spec.proxy.is_set() {
        push(value(&secret("guard-proxy", ns, spec.proxy.secret_data()))?);
    }
    if let Some(pem) = &proxy_cert {
        push(value(&secret(
            "guard-proxy-cert",
            ns,
            BTreeMap::from([("proxy-cert.crt".to_owned(), pem.clone())]),
        ))?);
    }

    let pod = pod_spec(spec, providers, &host, port, proxy_cert.is_some());
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels()),
            ..ObjectMeta::default()
        }),
        spec: Some(pod),
    };
    let selector = LabelSelector {
        match_labels: Some(labels()),
        ..LabelSelector::default()
    };
    if spec.host_network {
        push(value(&DaemonSet {
            metadata: meta("guard", ns),
            spec: Some(DaemonSetSpec {
                selector: selector.clone(),
                template,
                ..DaemonSetSpec::default()
            }),
            ..DaemonSet::default()
        })?);
    } else {
        push(value(&Deployment {
            metadata: meta("guard", ns),
            spec: Some(DeploymentSpec {
                replicas: Some(spec.replicas),
                selector: selector.clone(),
                template,
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        })?);
    }

    push(value(&secret(
        "guard-pki",
        ns,
        BTreeMap::from([
            ("ca.crt".to_owned(), pki.read(&ca)?.into_bytes()),
            ("tls.crt".to_owned(), server_pem.into_bytes()),
            ("tls.key".to_owned(), pki.read(&key)?.into_bytes()),
        ]),
    ))?);
    for p in providers {
        if let Some(s) = &p.secret {
            push(value(&secret(&s.name, ns, s.files.clone()))?);
        }
    }

    if !spec.host_network {
        push(value(&service(
            meta("guard", ns),
            ServiceSpec {
                type_: Some("ClusterIP".into()),
                // A fixed ClusterIP when --addr names one; else Kubernetes picks.
                cluster_ip: host
                    .parse::<std::net::IpAddr>()
                    .is_ok()
                    .then(|| host.clone()),
                ..ServiceSpec::default()
            },
            ("api", port),
            labels(),
        ))?);
    }
    if spec.replicas > 1 {
        push(value(&disruption_budget(
            meta("guard", ns),
            selector.clone(),
        ))?);
    }
    if let Some(sources) = &spec.network_policy {
        push(value(&network_policy(
            meta("guard", ns),
            selector,
            "api",
            sources,
        ))?);
    }
    Ok(objects)
}

/// Renders the objects as one YAML stream, documents separated by `---`.
pub fn to_yaml(objects: &[serde_json::Value]) -> Result<String, InstallerError> {
    let docs = objects
        .iter()
        .map(|o| {
            guard_api::yaml::to_sorted_yaml(o).map_err(|e| InstallerError::Serialize(Box::new(e)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(docs.join("---\n"))
}

#[cfg(test)]
mod tests {
    use guard_api::{InstallerSecret, SecretEnv};
    use guard_pki::{CertificateAuthority, KeyAlgorithm, Overwrite, ServerSpec, Validity};

    use super::*;

    /// A PKI whose server certificate is valid for `ip`.
    fn new_pki(ip: &str) -> (tempfile::TempDir, PkiDir) {
        let dir = tempfile::tempdir().unwrap();
        let pki = PkiDir::new(dir.path());
        let (ca, pair) =
            CertificateAuthority::generate(KeyAlgorithm::EcdsaP256, Validity::CA_DEFAULT).unwrap();
        pki.write_pair(guard_pki::CA, &pair, Overwrite::Refuse)
            .unwrap();
        let server = ca
            .issue_server(&ServerSpec {
                ips: vec![ip.parse().unwrap()],
                domains: Vec::new(),
                key_algorithm: KeyAlgorithm::EcdsaP256,
                validity: Validity::LEAF_DEFAULT,
            })
            .unwrap();
        pki.write_pair(guard_pki::SERVER, &server, Overwrite::Refuse)
            .unwrap();
        (dir, pki)
    }

    fn ldap_part() -> InstallerPart {
        InstallerPart {
            provider: "ldap",
            args: vec!["--ldap.server-address=ldap.example.com".into()],
            secret: Some(InstallerSecret {
                name: "guard-ldap-auth".into(),
                mount_path: "/etc/guard/auth/ldap".into(),
                files: BTreeMap::from([("bind-password".to_owned(), b"pw".to_vec())]),
                env: vec![SecretEnv::new("LDAP_BIND_PASSWORD", "bind-password")],
            }),
        }
    }

    fn spec() -> InstallerSpec {
        InstallerSpec {
            namespace: "kube-system".into(),
            addr: "10.96.10.96:443".into(),
            run_on_master: true,
            image: "ghcr.io/guard-rs/guard:v0".into(),
            image_pull_policy: None,
            image_pull_secret: None,
            verbosity: 3,
            replicas: 1,
            host_network: false,
            proxy: Proxy::default(),
            auth_providers: vec!["ldap".into()],
            providers: vec![ldap_part()],
            network_policy: None,
        }
    }

    fn kinds(objects: &[serde_json::Value]) -> Vec<String> {
        objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn a_providers_part_becomes_flags_a_secret_a_mount_and_env() {
        let (_dir, pki) = new_pki("10.96.10.96");
        let objects = generate(&pki, &spec()).unwrap();
        assert_eq!(
            kinds(&objects),
            [
                "Deployment/guard",
                "Secret/guard-pki",
                "Secret/guard-ldap-auth",
                "Service/guard"
            ]
        );
        let pod = &objects[0]["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        let args: Vec<&str> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(args[0], "run");
        assert!(args.contains(&"--auth-providers=ldap"));
        assert_eq!(args.last(), Some(&"--ldap.server-address=ldap.example.com"));
        assert!(
            container["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["name"] == "guard-ldap-auth" && m["mountPath"] == "/etc/guard/auth/ldap")
        );
        let env = &container["env"][0];
        assert_eq!(env["name"], "LDAP_BIND_PASSWORD");
        assert_eq!(env["valueFrom"]["secretKeyRef"]["name"], "guard-ldap-auth");
        assert_eq!(env["valueFrom"]["secretKeyRef"]["key"], "bind-password");
        assert_eq!(objects[3]["spec"]["clusterIP"], "10.96.10.96");
        let yaml = to_yaml(&objects).unwrap();
        assert_eq!(yaml.matches("\n---\n").count() + 1, 4, "{yaml}");
        assert!(
            !yaml.contains("pw\n"),
            "secret data is base64 in the Secret"
        );
    }

    #[test]
    fn host_network_is_a_daemonset_on_loopback_and_replicas_add_a_budget() {
        let (_dir, pki) = new_pki("127.0.0.1");
        let objects = generate(
            &pki,
            &InstallerSpec {
                addr: "127.0.0.1:8443".into(),
                host_network: true,
                ..spec()
            },
        )
        .unwrap();
        assert_eq!(
            kinds(&objects),
            [
                "DaemonSet/guard",
                "Secret/guard-pki",
                "Secret/guard-ldap-auth"
            ]
        );
        assert_eq!(objects[0]["spec"]["template"]["spec"]["hostNetwork"], true);

        let (_dir, pki) = new_pki("10.96.10.96");
        let objects = generate(
            &pki,
            &InstallerSpec {
                replicas: 3,
                ..spec()
            },
        )
        .unwrap();
        assert_eq!(kinds(&objects).last().unwrap(), "PodDisruptionBudget/guard");
    }

    #[test]
    fn impossible_installations_are_refused_with_the_fix() {
        let (_dir, pki) = new_pki("10.96.10.96");
        let fails = |spec: InstallerSpec| generate(&pki, &spec).unwrap_err().to_string();
        assert!(
            fails(InstallerSpec {
                addr: "10.1.2.3:443".into(),
                ..spec()
            })
            .contains("guard init server --ips=10.1.2.3")
        );
        assert!(
            fails(InstallerSpec {
                addr: "nonsense".into(),
                ..spec()
            })
            .contains("HOST:PORT")
        );
        assert!(
            fails(InstallerSpec {
                replicas: 0,
                ..spec()
            })
            .contains("at least 1")
        );
        assert!(
            fails(InstallerSpec {
                host_network: true,
                ..spec()
            })
            .contains("127.0.0.1")
        );
        let empty = tempfile::tempdir().unwrap();
        let e = generate(&PkiDir::new(empty.path()), &spec())
            .unwrap_err()
            .to_string();
        assert!(e.contains("guard init ca"), "{e}");
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(
            split_addr("10.96.10.96:443").unwrap(),
            ("10.96.10.96".into(), 443)
        );
        assert_eq!(split_addr("[::1]:8443").unwrap(), ("::1".into(), 8443));
        for bad in ["10.96.10.96", ":443", "host:0", "host:99999"] {
            assert!(split_addr(bad).is_err(), "{bad}");
        }
    }
}
