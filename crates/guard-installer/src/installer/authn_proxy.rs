//! `guard get installer --proxy`: the objects that deploy `guard proxy`, the
//! authenticating proxy in front of kube-apiserver, instead of the webhook.
//!
//! * a Deployment of `guard proxy` and a Service users reach it through;
//! * Secrets: the proxy's serving certificate and key (`guard-proxy-pki`),
//!   in front-proxy mode the client certificate the API server trusts
//!   (`guard-proxy-front-proxy-client`, from `guard init
//!   front-proxy-client`), and each provider's, as for the webhook;
//! * in impersonation mode a ServiceAccount whose ClusterRole allows the verb
//!   `impersonate` on users, groups, uids and userextras, and nothing else.
//!
//! Everything carries the label `app: guard-proxy`, so a webhook installed
//! in the same namespace (`app: guard`) and the proxy never select each
//! other's pods.

use std::collections::BTreeMap;

use guard_pki::PkiDir;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMapVolumeSource, Namespace, PodSpec, PodTemplateSpec, Secret, ServiceAccount,
    ServiceSpec, Volume,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::objects::{
    disruption_budget, mount, network_policy, secret, secret_volume, service, value,
};
use super::pod::{
    GuardContainer, critical_addons_toleration, image_pull_secrets, pod_security_context,
    spread_replicas,
};
use super::{CONTAINER_PORT, InstallerSpec};
use crate::InstallerError;
use crate::probes::ProbePort;

/// Name of the Deployment, Service and ServiceAccount, and the `app` label.
pub const NAME: &str = "guard-proxy";
/// Name of the ClusterRole and ClusterRoleBinding (impersonation mode).
pub const IMPERSONATOR: &str = "guard-proxy-impersonator";
/// Where the serving certificate's Secret is mounted.
pub const PKI_MOUNT: &str = "/etc/guard/proxy";
/// Where the front-proxy client certificate's Secret is mounted.
pub const FRONT_PROXY_MOUNT: &str = "/etc/guard/front-proxy";
/// Where the API server's CA (the `kube-root-ca.crt` ConfigMap every
/// namespace has) is mounted in front-proxy mode.
pub const APISERVER_CA_MOUNT: &str = "/etc/guard/apiserver";
/// The port of `/metrics` and the probes in the pod.
pub const METRICS_PORT: i32 = 8081;

/// How the proxy hands the user to the API server (`guard proxy --mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// A front-proxy client certificate and `X-Remote-*` headers.
    FrontProxy,
    /// The pod's service-account token and `Impersonate-*` headers.
    Impersonation,
}

impl ProxyMode {
    fn flag(self) -> &'static str {
        match self {
            ProxyMode::FrontProxy => "front-proxy",
            ProxyMode::Impersonation => "impersonation",
        }
    }
}

/// What the proxy's objects need besides [`InstallerSpec`].
#[derive(Debug, Clone)]
pub struct ProxySpec {
    /// `--mode` of `guard proxy`.
    pub mode: ProxyMode,
    /// `--org` values, passed on as given.
    pub orgs: Vec<String>,
    /// The Service's type: ClusterIP, NodePort or LoadBalancer.
    pub service_type: String,
    /// The Service's port.
    pub port: i32,
}

/// A Secret labelled as the proxy's.
fn proxy_secret(name: &str, ns: &str, data: BTreeMap<String, Vec<u8>>) -> Secret {
    Secret {
        metadata: meta(name, Some(ns)),
        ..secret(name, ns, data)
    }
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_owned(), NAME.to_owned())])
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(labels()),
        ..ObjectMeta::default()
    }
}

/// The ClusterRole that lets the proxy impersonate: users, groups, uids and
/// userextras, and no other resource or verb.
pub fn impersonator_role() -> ClusterRole {
    let rule = |group: &str, resources: &[&str]| PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: vec!["impersonate".to_owned()],
        ..PolicyRule::default()
    };
    ClusterRole {
        metadata: meta(IMPERSONATOR, None),
        rules: Some(vec![
            rule("", &["users", "groups"]),
            rule("authentication.k8s.io", &["uids", "userextras"]),
        ]),
        ..ClusterRole::default()
    }
}

/// Builds the proxy's objects: Namespace, ServiceAccount and RBAC
/// (impersonation), outbound proxy Secret, Deployment, Secrets, Service,
/// PodDisruptionBudget (more than one replica), NetworkPolicy (when asked).
pub fn generate(
    pki: &PkiDir,
    spec: &InstallerSpec,
    proxy: &ProxySpec,
) -> Result<Vec<serde_json::Value>, InstallerError> {
    let ns = spec.namespace.as_str();
    if spec.replicas < 1 {
        return Err(InstallerError::Invalid(
            "--replicas must be at least 1".into(),
        ));
    }
    if !["ClusterIP", "NodePort", "LoadBalancer"].contains(&proxy.service_type.as_str()) {
        return Err(InstallerError::Invalid(format!(
            "--proxy-service-type {}: expected ClusterIP, NodePort or LoadBalancer",
            proxy.service_type
        )));
    }
    if spec.proxy.cert.is_some() {
        return Err(InstallerError::Invalid(
            "--proxy-cert is not supported with --proxy: the proxy's image trusts the system roots only".into(),
        ));
    }
    let dir = pki.path().display().to_string();
    let (cert, key) = (
        pki.cert_path(guard_pki::SERVER),
        pki.key_path(guard_pki::SERVER),
    );
    if !cert.exists() || !key.exists() {
        return Err(InstallerError::Missing {
            what: "server certificate (the proxy's, for the name users dial)".into(),
            dir,
            command: "guard init server --domains=PROXY-NAME".into(),
        });
    }
    let front_proxy = match proxy.mode {
        ProxyMode::Impersonation => None,
        ProxyMode::FrontProxy => {
            let (c, k) = (
                pki.cert_path(guard_pki::FRONT_PROXY_CLIENT),
                pki.key_path(guard_pki::FRONT_PROXY_CLIENT),
            );
            if !c.exists() || !k.exists() {
                return Err(InstallerError::Missing {
                    what: "front-proxy client certificate".into(),
                    dir,
                    command: "guard init front-proxy-client".into(),
                });
            }
            Some((pki.read(&c)?, pki.read(&k)?))
        }
    };

    let mut objects = Vec::new();
    if ns != "kube-system" && ns != "default" {
        objects.push(value(&Namespace {
            metadata: meta(ns, None),
            ..Namespace::default()
        })?);
    }
    if proxy.mode == ProxyMode::Impersonation {
        objects.push(value(&ServiceAccount {
            metadata: meta(NAME, Some(ns)),
            ..ServiceAccount::default()
        })?);
        objects.push(value(&impersonator_role())?);
        objects.push(value(&ClusterRoleBinding {
            metadata: meta(IMPERSONATOR, None),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: IMPERSONATOR.into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: NAME.into(),
                namespace: Some(ns.to_owned()),
                ..Subject::default()
            }]),
        })?);
    }
    if spec.proxy.is_set() {
        objects.push(value(&proxy_secret(
            "guard-proxy",
            ns,
            spec.proxy.secret_data(),
        ))?);
    }

    let selector = LabelSelector {
        match_labels: Some(labels()),
        ..LabelSelector::default()
    };
    objects.push(value(&Deployment {
        metadata: meta(NAME, Some(ns)),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.replicas),
            selector: selector.clone(),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec(spec, proxy)),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    })?);

    objects.push(value(&proxy_secret(
        "guard-proxy-pki",
        ns,
        BTreeMap::from([
            ("tls.crt".to_owned(), pki.read(&cert)?.into_bytes()),
            ("tls.key".to_owned(), pki.read(&key)?.into_bytes()),
        ]),
    ))?);
    if let Some((c, k)) = front_proxy {
        objects.push(value(&proxy_secret(
            "guard-proxy-front-proxy-client",
            ns,
            BTreeMap::from([
                ("tls.crt".to_owned(), c.into_bytes()),
                ("tls.key".to_owned(), k.into_bytes()),
            ]),
        ))?);
    }
    for p in &spec.providers {
        if let Some(s) = &p.secret {
            objects.push(value(&proxy_secret(&s.name, ns, s.files.clone()))?);
        }
    }

    objects.push(value(&service(
        meta(NAME, Some(ns)),
        ServiceSpec {
            type_: Some(proxy.service_type.clone()),
            ..ServiceSpec::default()
        },
        ("https", proxy.port),
        labels(),
    ))?);
    if spec.replicas > 1 {
        objects.push(value(&disruption_budget(
            meta(NAME, Some(ns)),
            selector.clone(),
        ))?);
    }
    if let Some(sources) = &spec.network_policy {
        objects.push(value(&network_policy(
            meta(NAME, Some(ns)),
            selector,
            "https",
            sources,
        ))?);
    }
    Ok(objects)
}

fn pod_spec(spec: &InstallerSpec, proxy: &ProxySpec) -> PodSpec {
    let mut args = vec![
        "proxy".to_owned(),
        format!("--v={}", spec.verbosity),
        format!("--secure-addr=:{CONTAINER_PORT}"),
        format!("--metrics-addr=:{METRICS_PORT}"),
        format!("--tls-cert-file={PKI_MOUNT}/tls.crt"),
        format!("--tls-private-key-file={PKI_MOUNT}/tls.key"),
        format!("--mode={}", proxy.mode.flag()),
    ];
    let mut volumes = vec![secret_volume("guard-proxy-pki")];
    let mut mounts = vec![mount("guard-proxy-pki", PKI_MOUNT)];
    if proxy.mode == ProxyMode::FrontProxy {
        // No service-account token in this mode: the API server's CA comes
        // from the ConfigMap Kubernetes publishes in every namespace.
        args.extend([
            format!("--apiserver-ca-file={APISERVER_CA_MOUNT}/ca.crt"),
            format!("--apiserver-client-cert-file={FRONT_PROXY_MOUNT}/tls.crt"),
            format!("--apiserver-client-key-file={FRONT_PROXY_MOUNT}/tls.key"),
        ]);
        volumes.push(Volume {
            name: "apiserver-ca".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: "kube-root-ca.crt".into(),
                default_mode: Some(0o444),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
        mounts.push(mount("apiserver-ca", APISERVER_CA_MOUNT));
        volumes.push(secret_volume("guard-proxy-front-proxy-client"));
        mounts.push(mount("guard-proxy-front-proxy-client", FRONT_PROXY_MOUNT));
    }
    args.push(format!(
        "--auth-providers={}",
        spec.auth_providers.join(",")
    ));
    args.extend(proxy.orgs.iter().map(|org| format!("--org={org}")));
    let (container, volumes) = GuardContainer {
        name: NAME,
        args,
        port: ("https", CONTAINER_PORT),
        probes: ProbePort::named(METRICS_PORT),
        volumes,
        mounts,
    }
    .build(spec, &spec.providers);
    let anti_affinity = spread_replicas(spec, labels()).map(|spread| Affinity {
        pod_anti_affinity: Some(spread),
        ..Affinity::default()
    });
    let impersonation = proxy.mode == ProxyMode::Impersonation;
    PodSpec {
        containers: vec![container],
        volumes: Some(volumes),
        // Impersonation mode authenticates with the pod's own token.
        service_account_name: impersonation.then(|| NAME.to_owned()),
        automount_service_account_token: Some(impersonation),
        tolerations: Some(vec![critical_addons_toleration()]),
        affinity: anti_affinity,
        image_pull_secrets: image_pull_secrets(spec),
        security_context: Some(pod_security_context()),
        // Watches and exec sessions get the proxy's own grace period.
        termination_grace_period_seconds: Some(30),
        ..PodSpec::default()
    }
}
