//! `guard get installer`: the objects that deploy guard, built as typed
//! Kubernetes objects (k8s-openapi) and printed as one YAML stream.
//!
//! Names, Secret keys and mount paths are Go Guard's (`guard-pki` with
//! `ca.crt`/`tls.crt`/`tls.key` at `/etc/guard/pki`, `guard-token-auth` with
//! `token.csv` at `/etc/guard/auth/token`, ...), so `kubectl apply` upgrades
//! a Go Guard installation in place.

use std::collections::BTreeMap;
use std::path::PathBuf;

use guard_api::InstallerPart;
use guard_pki::PkiDir;
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar,
    EnvVarSource, Namespace, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec,
    ResourceRequirements, SeccompProfile, Secret, SecretEnvSource, SecretKeySelector,
    SecretVolumeSource, SecurityContext, Service, ServicePort, ServiceSpec, Toleration, Volume,
    VolumeMount, WeightedPodAffinityTerm,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use crate::InstallerError;

/// Where the `guard-pki` Secret is mounted.
pub const PKI_MOUNT: &str = "/etc/guard/pki";
/// The container port guard listens on inside the pod.
pub const CONTAINER_PORT: i32 = 8443;
/// The user guard runs as: the image's `nonroot` user.
const RUN_AS: i64 = 65532;
/// Secret volumes are readable by the owner and the pod's fsGroup only.
const SECRET_MODE: i32 = 0o440;

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
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_owned(), "guard".to_owned())])
}

fn meta(name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels()),
        ..ObjectMeta::default()
    }
}

fn secret(name: &str, namespace: &str, data: BTreeMap<String, Vec<u8>>) -> Secret {
    Secret {
        metadata: meta(name, namespace),
        type_: Some("Opaque".into()),
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        ..Secret::default()
    }
}

fn secret_volume(name: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(name.to_owned()),
            default_mode: Some(SECRET_MODE),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

/// Splits `HOST:PORT`.
fn split_addr(addr: &str) -> Result<(String, i32), InstallerError> {
    let bad = || {
        InstallerError::Invalid(format!(
            "invalid --addr {addr:?}: expected HOST:PORT, e.g. 10.96.10.96:443"
        ))
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_owned(), i32::from(port)))
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
    let server_pem = pki.read(&cert)?;
    if !guard_pki::certificate_covers(&server_pem, &host)
        .map_err(|e| InstallerError::Invalid(format!("{}: {e}", cert.display())))?
    {
        let flag = if host.parse::<std::net::IpAddr>().is_ok() {
            "--ips"
        } else {
            "--domains"
        };
        return Err(InstallerError::Invalid(format!(
            "{} is not valid for {host}, so the API server would refuse it: run `guard init server {flag}={host} --force` (with the other IPs and names it needs)",
            cert.display()
        )));
    }

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
        let or_empty = |v: &Option<String>| v.clone().unwrap_or_default().into_bytes();
        push(value(&secret(
            "guard-proxy",
            ns,
            BTreeMap::from([
                ("HTTP_PROXY".to_owned(), or_empty(&spec.proxy.http)),
                ("HTTPS_PROXY".to_owned(), or_empty(&spec.proxy.https)),
                ("NO_PROXY".to_owned(), or_empty(&spec.proxy.no_proxy)),
            ]),
        ))?);
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
        push(value(&Service {
            metadata: meta("guard", ns),
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                // A fixed ClusterIP when --addr names one; else Kubernetes picks.
                cluster_ip: host
                    .parse::<std::net::IpAddr>()
                    .is_ok()
                    .then(|| host.clone()),
                ports: Some(vec![ServicePort {
                    name: Some("api".into()),
                    port,
                    protocol: Some("TCP".into()),
                    target_port: Some(IntOrString::String("api".into())),
                    ..ServicePort::default()
                }]),
                selector: Some(labels()),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        })?);
    }
    if spec.replicas > 1 {
        push(value(&PodDisruptionBudget {
            metadata: meta("guard", ns),
            spec: Some(PodDisruptionBudgetSpec {
                max_unavailable: Some(IntOrString::Int(1)),
                selector: Some(selector),
                ..PodDisruptionBudgetSpec::default()
            }),
            ..PodDisruptionBudget::default()
        })?);
    }
    Ok(objects)
}

fn pod_spec(
    spec: &InstallerSpec,
    providers: &[InstallerPart],
    host: &str,
    port: i32,
    proxy_cert: bool,
) -> PodSpec {
    let listen_port = if spec.host_network {
        port
    } else {
        CONTAINER_PORT
    };
    let mut args = vec![
        "run".to_owned(),
        format!("--v={}", spec.verbosity),
        format!("--tls-ca-file={PKI_MOUNT}/ca.crt"),
        format!("--tls-cert-file={PKI_MOUNT}/tls.crt"),
        format!("--tls-private-key-file={PKI_MOUNT}/tls.key"),
        format!("--auth-providers={}", spec.auth_providers.join(",")),
    ];
    if spec.host_network {
        args.push(format!("--secure-addr={host}:{port}"));
    }
    let probes = crate::probes::ProbePort::new(spec.host_network, host, listen_port);
    args.push(probes.arg());
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    let mut env = Vec::new();
    if proxy_cert {
        volumes.push(Volume {
            name: "proxy-certstore".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some("guard-proxy-cert".into()),
                default_mode: Some(0o444),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
        volumes.push(Volume {
            name: "ssl-certs".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        });
        mounts.push(mount("ssl-certs", "/etc/ssl/certs/"));
    }
    volumes.push(secret_volume("guard-pki"));
    mounts.push(mount("guard-pki", PKI_MOUNT));
    for p in providers {
        args.extend(p.args.iter().cloned());
        if let Some(s) = &p.secret {
            volumes.push(secret_volume(&s.name));
            mounts.push(mount(&s.name, &s.mount_path));
            for var in &s.env {
                env.push(EnvVar {
                    name: var.variable.clone(),
                    value_from: Some(EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: s.name.clone(),
                            key: var.key.clone(),
                            ..SecretKeySelector::default()
                        }),
                        ..EnvVarSource::default()
                    }),
                    ..EnvVar::default()
                });
            }
        }
    }
    let proxy_env = spec.proxy.is_set().then(|| {
        vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: "guard-proxy".into(),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]
    });
    let no_privileges = SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    };
    let container = Container {
        name: "guard".into(),
        image: Some(spec.image.clone()),
        image_pull_policy: spec.image_pull_policy.clone(),
        args: Some(args),
        ports: Some(vec![
            ContainerPort {
                name: Some("api".into()),
                container_port: listen_port,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
            probes.container_port(),
        ]),
        env: (!env.is_empty()).then_some(env),
        env_from: proxy_env.clone(),
        readiness_probe: Some(probes.probe(2, 10)),
        liveness_probe: Some(probes.probe(10, 20)),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity("100m".into())),
                ("memory".to_owned(), Quantity("64Mi".into())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_owned(),
                Quantity("256Mi".into()),
            )])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(no_privileges.clone()),
        volume_mounts: Some(mounts),
        ..Container::default()
    };
    let init_containers = proxy_cert.then(|| {
        vec![Container {
            name: "update-proxy-certs".into(),
            image: Some("nginx:stable-alpine".into()),
            command: Some(vec![
                "sh".into(),
                "-c".into(),
                "update-ca-certificates".into(),
            ]),
            env_from: proxy_env,
            // update-ca-certificates writes the bundle into the emptyDir.
            security_context: Some(SecurityContext {
                run_as_user: Some(0),
                run_as_non_root: Some(false),
                ..no_privileges.clone()
            }),
            volume_mounts: Some(vec![
                VolumeMount {
                    name: "proxy-certstore".into(),
                    mount_path: "/usr/local/share/ca-certificates/proxy-cert.crt".into(),
                    sub_path: Some("proxy-cert.crt".into()),
                    read_only: Some(true),
                    ..VolumeMount::default()
                },
                VolumeMount {
                    name: "ssl-certs".into(),
                    mount_path: "/etc/ssl/certs/".into(),
                    ..VolumeMount::default()
                },
            ]),
            ..Container::default()
        }]
    });

    let mut tolerations = vec![Toleration {
        key: Some("CriticalAddonsOnly".into()),
        operator: Some("Exists".into()),
        ..Toleration::default()
    }];
    let mut affinity = Affinity::default();
    if spec.run_on_master || spec.host_network {
        // `control-plane` since Kubernetes 1.24; `master` before.
        for role in [
            "node-role.kubernetes.io/control-plane",
            "node-role.kubernetes.io/master",
        ] {
            tolerations.push(Toleration {
                key: Some(role.into()),
                operator: Some("Exists".into()),
                effect: Some("NoSchedule".into()),
                ..Toleration::default()
            });
        }
        affinity.node_affinity = Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: [
                    "node-role.kubernetes.io/control-plane",
                    "node-role.kubernetes.io/master",
                ]
                .into_iter()
                .map(|role| NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: role.into(),
                        operator: "Exists".into(),
                        values: None,
                    }]),
                    ..NodeSelectorTerm::default()
                })
                .collect(),
            }),
            ..NodeAffinity::default()
        });
    }
    if spec.replicas > 1 {
        affinity.pod_anti_affinity = Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(LabelSelector {
                            match_labels: Some(labels()),
                            ..LabelSelector::default()
                        }),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..PodAffinityTerm::default()
                    },
                },
            ]),
            ..PodAntiAffinity::default()
        });
    }
    let has_affinity = affinity.node_affinity.is_some() || affinity.pod_anti_affinity.is_some();

    PodSpec {
        containers: vec![container],
        init_containers,
        volumes: Some(volumes),
        priority_class_name: Some("system-cluster-critical".into()),
        tolerations: Some(tolerations),
        affinity: has_affinity.then_some(affinity),
        automount_service_account_token: Some(false),
        host_network: spec.host_network.then_some(true),
        dns_policy: spec
            .host_network
            .then(|| "ClusterFirstWithHostNet".to_owned()),
        image_pull_secrets: spec.image_pull_secret.as_ref().map(|name| {
            vec![k8s_openapi::api::core::v1::LocalObjectReference { name: name.clone() }]
        }),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            fs_group: Some(RUN_AS),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        termination_grace_period_seconds: Some(30),
        ..PodSpec::default()
    }
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

/// A typed object as a JSON value (whose maps keep keys sorted).
fn value<T: Serialize>(object: &T) -> Result<serde_json::Value, InstallerError> {
    serde_json::to_value(object).map_err(|e| InstallerError::Serialize(Box::new(e)))
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
