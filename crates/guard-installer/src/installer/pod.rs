//! The pod of the Deployment (or DaemonSet): `guard run` with its flags,
//! the PKI and provider Secrets mounted, probes, resources, a locked-down
//! security context, and scheduling on the control plane.

use std::collections::BTreeMap;

use guard_api::InstallerPart;
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar,
    EnvVarSource, LocalObjectReference, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec,
    ResourceRequirements, SeccompProfile, SecretEnvSource, SecretKeySelector, SecretVolumeSource,
    SecurityContext, Toleration, Volume, VolumeMount, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::objects::{labels, mount, secret_volume};
use super::{CONTAINER_PORT, InstallerSpec, PKI_MOUNT};
use crate::probes::ProbePort;

/// The user guard runs as: the image's `nonroot` user.
const RUN_AS: i64 = 65532;

pub(super) fn pod_spec(
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
    let probes = ProbePort::new(spec.host_network, host, listen_port);
    args.push(probes.arg());
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
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
    let (container, volumes) = GuardContainer {
        name: "guard",
        args,
        port: ("api", listen_port),
        probes,
        volumes,
        mounts,
    }
    .build(spec, providers);
    let init_containers = proxy_cert.then(|| {
        vec![Container {
            name: "update-proxy-certs".into(),
            image: Some("nginx:stable-alpine".into()),
            command: Some(vec![
                "sh".into(),
                "-c".into(),
                "update-ca-certificates".into(),
            ]),
            env_from: outbound_proxy_env(spec),
            // update-ca-certificates writes the bundle into the emptyDir.
            security_context: Some(SecurityContext {
                run_as_user: Some(0),
                run_as_non_root: Some(false),
                ..no_privileges()
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

    let mut tolerations = vec![critical_addons_toleration()];
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
    affinity.pod_anti_affinity = spread_replicas(spec, labels());
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
        image_pull_secrets: image_pull_secrets(spec),
        security_context: Some(pod_security_context()),
        termination_grace_period_seconds: Some(30),
        ..PodSpec::default()
    }
}

/// The one container of either pod, `guard run` (the webhook) or `guard
/// proxy`: the image, the serving port and the probe port, each provider's
/// flags, Secret volume and environment, the outbound proxy's environment,
/// the probes, resources and a locked-down security context.
pub(super) struct GuardContainer<'a> {
    /// The container's name.
    pub(super) name: &'a str,
    /// The command and its flags; the providers' flags follow.
    pub(super) args: Vec<String>,
    /// The serving port: its name and number.
    pub(super) port: (&'a str, i32),
    /// The plain-HTTP probe (and metrics) port.
    pub(super) probes: ProbePort,
    /// The pod's volumes; the providers' Secret volumes follow.
    pub(super) volumes: Vec<Volume>,
    /// The container's mounts; the providers' follow.
    pub(super) mounts: Vec<VolumeMount>,
}

impl GuardContainer<'_> {
    /// The container, with `providers` added, and the pod's volumes.
    pub(super) fn build(
        self,
        spec: &InstallerSpec,
        providers: &[InstallerPart],
    ) -> (Container, Vec<Volume>) {
        let GuardContainer {
            name,
            mut args,
            port: (port_name, port),
            probes,
            mut volumes,
            mut mounts,
        } = self;
        let mut env = Vec::new();
        add_providers(providers, &mut args, &mut volumes, &mut mounts, &mut env);
        let container = Container {
            name: name.to_owned(),
            image: Some(spec.image.clone()),
            image_pull_policy: spec.image_pull_policy.clone(),
            args: Some(args),
            ports: Some(vec![
                ContainerPort {
                    name: Some(port_name.to_owned()),
                    container_port: port,
                    protocol: Some("TCP".into()),
                    ..ContainerPort::default()
                },
                probes.container_port(),
            ]),
            env: (!env.is_empty()).then_some(env),
            env_from: outbound_proxy_env(spec),
            readiness_probe: Some(probes.probe(2, 10)),
            liveness_probe: Some(probes.probe(10, 20)),
            resources: Some(resources()),
            security_context: Some(no_privileges()),
            volume_mounts: Some(mounts),
            ..Container::default()
        };
        (container, volumes)
    }
}

/// `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` from the `guard-proxy` Secret,
/// when the outbound proxy is set.
fn outbound_proxy_env(spec: &InstallerSpec) -> Option<Vec<EnvFromSource>> {
    spec.proxy.is_set().then(|| {
        vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: "guard-proxy".into(),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]
    })
}

/// Tolerates the taint of nodes kept for critical add-ons.
pub(super) fn critical_addons_toleration() -> Toleration {
    Toleration {
        key: Some("CriticalAddonsOnly".into()),
        operator: Some("Exists".into()),
        ..Toleration::default()
    }
}

/// With more than one replica, prefers nodes that run none of the pods
/// `labels` select yet.
pub(super) fn spread_replicas(
    spec: &InstallerSpec,
    labels: BTreeMap<String, String>,
) -> Option<PodAntiAffinity> {
    (spec.replicas > 1).then(|| PodAntiAffinity {
        preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
            weight: 100,
            pod_affinity_term: PodAffinityTerm {
                label_selector: Some(LabelSelector {
                    match_labels: Some(labels),
                    ..LabelSelector::default()
                }),
                topology_key: "kubernetes.io/hostname".into(),
                ..PodAffinityTerm::default()
            },
        }]),
        ..PodAntiAffinity::default()
    })
}

/// The image pull Secret, when one is named.
pub(super) fn image_pull_secrets(spec: &InstallerSpec) -> Option<Vec<LocalObjectReference>> {
    spec.image_pull_secret
        .as_ref()
        .map(|name| vec![LocalObjectReference { name: name.clone() }])
}

/// Adds each provider's flags, Secret volume and mount, and environment
/// variables from its Secret.
fn add_providers(
    providers: &[InstallerPart],
    args: &mut Vec<String>,
    volumes: &mut Vec<Volume>,
    mounts: &mut Vec<VolumeMount>,
    env: &mut Vec<EnvVar>,
) {
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
}

/// A container that cannot gain privileges or write its root filesystem.
fn no_privileges() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    }
}

/// The container's requests and limits.
fn resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity("100m".into())),
            ("memory".to_owned(), Quantity("64Mi".into())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_owned(),
            Quantity("256Mi".into()),
        )])),
        ..ResourceRequirements::default()
    }
}

/// Non-root as the image's `nonroot` user, with the runtime's seccomp profile.
pub(super) fn pod_security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS),
        run_as_group: Some(RUN_AS),
        fs_group: Some(RUN_AS),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}
