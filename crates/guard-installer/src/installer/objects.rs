//! The small Kubernetes objects every manifest is built from: labels,
//! metadata, Secrets, Secret volumes and mounts, the Service, the
//! PodDisruptionBudget and the NetworkPolicy.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    Secret, SecretVolumeSource, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::ProbeSources;
use crate::InstallerError;

/// Secret volumes are readable by the owner and the pod's fsGroup only.
const SECRET_MODE: i32 = 0o440;

pub(super) fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_owned(), "guard".to_owned())])
}

pub(super) fn meta(name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels()),
        ..ObjectMeta::default()
    }
}

pub(super) fn secret(name: &str, namespace: &str, data: BTreeMap<String, Vec<u8>>) -> Secret {
    Secret {
        metadata: meta(name, namespace),
        type_: Some("Opaque".into()),
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        ..Secret::default()
    }
}

pub(super) fn secret_volume(name: &str) -> Volume {
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

pub(super) fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

/// A Service (`spec` gives its type) whose port `port` reaches the port
/// named `port_name` of the pods `selector` picks.
pub(super) fn service(
    metadata: ObjectMeta,
    spec: ServiceSpec,
    (port_name, port): (&str, i32),
    selector: BTreeMap<String, String>,
) -> Service {
    Service {
        metadata,
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                name: Some(port_name.to_owned()),
                port,
                protocol: Some("TCP".into()),
                target_port: Some(IntOrString::String(port_name.to_owned())),
                ..ServicePort::default()
            }]),
            selector: Some(selector),
            ..spec
        }),
        ..Service::default()
    }
}

/// Keeps all but one of the pods `selector` picks running through voluntary
/// disruptions (node drains).
pub(super) fn disruption_budget(
    metadata: ObjectMeta,
    selector: LabelSelector,
) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata,
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(selector),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

/// A typed object as a JSON value (whose maps keep keys sorted).
pub(super) fn value<T: Serialize>(object: &T) -> Result<serde_json::Value, InstallerError> {
    serde_json::to_value(object).map_err(|e| InstallerError::Serialize(Box::new(e)))
}

/// A NetworkPolicy for the pods `selector` picks: anyone may reach the
/// port named `serving_port`; the plain-HTTP probe and metrics port
/// (`probes`) only pods in the namespaces of `sources` (kubelet's probes
/// come from the node, which most network plugins always admit).
pub(super) fn network_policy(
    metadata: ObjectMeta,
    selector: LabelSelector,
    serving_port: &str,
    sources: &ProbeSources,
) -> NetworkPolicy {
    let port = |name: &str| NetworkPolicyPort {
        port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".into()),
        ..NetworkPolicyPort::default()
    };
    let mut ingress = vec![NetworkPolicyIngressRule {
        ports: Some(vec![port(serving_port)]),
        ..NetworkPolicyIngressRule::default()
    }];
    if !sources.namespaces.is_empty() {
        ingress.push(NetworkPolicyIngressRule {
            ports: Some(vec![port("probes")]),
            from: Some(
                sources
                    .namespaces
                    .iter()
                    .map(|name| NetworkPolicyPeer {
                        namespace_selector: Some(LabelSelector {
                            match_labels: Some(BTreeMap::from([(
                                "kubernetes.io/metadata.name".to_owned(),
                                name.clone(),
                            )])),
                            ..LabelSelector::default()
                        }),
                        ..NetworkPolicyPeer::default()
                    })
                    .collect(),
            ),
        });
    }
    NetworkPolicy {
        metadata,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(ingress),
            ..NetworkPolicySpec::default()
        }),
    }
}
