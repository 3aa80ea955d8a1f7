//! `guard get kubeadm-config`: the part of a kubeadm `ClusterConfiguration`
//! (`kubeadm.k8s.io/v1beta4`, or `v1beta3` for kubeadm 1.22 to 1.30) that
//! wires kube-apiserver to guard, and the files it points at.
//!
//! * `apiServer.extraArgs`: the token webhook (its kubeconfig, version `v1`,
//!   the cache TTL); `--authentication-config` with anonymous requests
//!   limited to the probes' paths (Kubernetes 1.32 and later); with `authz`,
//!   `--authorization-config` (1.30 and later, see [`crate::authz_config`])
//!   or, before 1.30, `--authorization-mode=Node,RBAC,Webhook` and the
//!   authorization webhook flags.
//! * `apiServer.extraVolumes`: one read-only hostPath volume, the directory
//!   that holds those files, mounted at the same path in the API server pod.
//!
//! For an existing cluster, [`merge`] puts the same settings into the
//! cluster's own `ClusterConfiguration` (from the `kubeadm-config`
//! ConfigMap), which `kubeadm init phase control-plane apiserver --config`
//! turns into a new static pod manifest and `kubeadm upgrade` keeps.
//!
//! The types mirror `k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/v1beta4`
//! and `v1beta3`: only the fields guard fills in are declared.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use guard_pki::PkiDir;
use serde::{Deserialize, Serialize};

use crate::InstallerError;
use crate::authn_config::{self, AuthnConfigSpec};
use crate::authz_config::{self, go_duration};
use crate::kube_version::KubeVersion;
use crate::webhook_config::{self, Mode, WebhookConfigSpec};

/// Where the files go on a control-plane node by default.
pub const DEFAULT_DIR: &str = "/etc/kubernetes/guard";
/// The token webhook's kubeconfig (the name docs/kube-apiserver.md has always used).
pub const AUTHN_WEBHOOK_FILE: &str = "guard-webhook.yaml";
/// The authorization webhook's kubeconfig.
pub const AUTHZ_WEBHOOK_FILE: &str = "guard-authz-webhook.yaml";
/// The `AuthenticationConfiguration`.
pub const AUTHN_CONFIG_FILE: &str = "authentication-config.yaml";
/// The `AuthorizationConfiguration`.
pub const AUTHZ_CONFIG_FILE: &str = "authorization-config.yaml";
/// The name of the hostPath volume.
pub const VOLUME: &str = "guard";

/// The kubeadm configuration API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KubeadmApi {
    /// `kubeadm.k8s.io/v1beta4` (kubeadm 1.31 and later): `extraArgs` is a
    /// list of name/value pairs.
    #[default]
    V1beta4,
    /// `kubeadm.k8s.io/v1beta3` (kubeadm 1.22 to 1.30): `extraArgs` is a map.
    V1beta3,
}

impl KubeadmApi {
    /// The `apiVersion`.
    pub fn api_version(self) -> &'static str {
        match self {
            KubeadmApi::V1beta4 => "kubeadm.k8s.io/v1beta4",
            KubeadmApi::V1beta3 => "kubeadm.k8s.io/v1beta3",
        }
    }

    /// The newest Kubernetes release of the kubeadm versions that write
    /// this API by default.
    pub fn default_kube_version(self) -> KubeVersion {
        match self {
            KubeadmApi::V1beta4 => KubeVersion::LATEST,
            KubeadmApi::V1beta3 => KubeVersion { minor: 30 },
        }
    }

    fn from_api_version(api_version: &str) -> Option<Self> {
        match api_version {
            "kubeadm.k8s.io/v1beta4" => Some(KubeadmApi::V1beta4),
            "kubeadm.k8s.io/v1beta3" => Some(KubeadmApi::V1beta3),
            _ => None,
        }
    }
}

impl fmt::Display for KubeadmApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KubeadmApi::V1beta4 => "v1beta4",
            KubeadmApi::V1beta3 => "v1beta3",
        })
    }
}

impl FromStr for KubeadmApi {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        KubeadmApi::from_api_version(s)
            .or_else(|| KubeadmApi::from_api_version(&format!("kubeadm.k8s.io/{s}")))
            .ok_or_else(|| format!("unknown kubeadm API {s:?}: expected v1beta4 or v1beta3"))
    }
}

/// `ClusterConfiguration`, only the API server's part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterConfiguration {
    /// `kubeadm.k8s.io/v1beta4` or `/v1beta3`.
    pub api_version: String,
    /// `ClusterConfiguration`.
    pub kind: String,
    /// Settings of the kube-apiserver static pod.
    pub api_server: ApiServer,
}

/// `APIServer` (its `ControlPlaneComponent` fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiServer {
    /// Flags, without the leading dashes.
    pub extra_args: ExtraArgs,
    /// hostPath volumes.
    pub extra_volumes: Vec<HostPathMount>,
}

/// `extraArgs`: a list in v1beta4, a map in v1beta3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExtraArgs {
    /// v1beta4: `[{name, value}]`.
    List(Vec<Arg>),
    /// v1beta3: `{name: value}`.
    Map(BTreeMap<String, String>),
}

/// `Arg`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arg {
    /// The flag name, without dashes.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// `HostPathMount`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostPathMount {
    /// The volume's name in the pod.
    pub name: String,
    /// The path on the node.
    pub host_path: String,
    /// The path in the container.
    pub mount_path: String,
    /// Mounted read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// What must be at `hostPath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_type: Option<HostPathType>,
}

/// `core/v1.HostPathType`, the values guard uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostPathType {
    /// A directory must exist at the path (the pod does not start otherwise,
    /// and the kubelet says which path is missing).
    Directory,
}

/// What to wire.
#[derive(Debug, Clone)]
pub struct KubeadmSpec<'a> {
    /// The PKI the webhook kubeconfigs are made from.
    pub pki: &'a PkiDir,
    /// The client certificate's name (its `CN`).
    pub name: &'a str,
    /// The client certificate's provider name (its `O`).
    pub provider: &'a str,
    /// `HOST:PORT` at which the API server reaches guard.
    pub addr: &'a str,
    /// The directory on the control-plane node (hostPath and mountPath).
    pub dir: &'a str,
    /// The kubeadm API to write.
    pub api: KubeadmApi,
    /// The Kubernetes release of the cluster.
    pub kube_version: KubeVersion,
    /// `--authentication-token-webhook-cache-ttl`.
    pub cache_ttl: Duration,
    /// Also wire guard as the authorization webhook.
    pub authz: bool,
    /// Also write an `AuthenticationConfiguration` limiting anonymous
    /// requests to `anonymous_paths` (when the release supports it).
    pub authn_config: bool,
    /// The paths anonymous requests may reach.
    pub anonymous_paths: Vec<String>,
}

/// A file the configuration points at, to be written into the directory.
#[derive(Debug, Clone)]
pub struct KubeadmFile {
    /// The file name in the directory.
    pub name: &'static str,
    /// What goes in it.
    pub contents: String,
}

/// The configuration, its files and what the operator should know.
#[derive(Debug, Clone)]
pub struct KubeadmConfig {
    /// The `ClusterConfiguration` (API server part only).
    pub config: ClusterConfiguration,
    /// The files to write into the directory.
    pub files: Vec<KubeadmFile>,
    /// Flags an existing configuration must not keep (they conflict with
    /// the configuration files), when [`merge`]d.
    pub replaces: Vec<&'static str>,
    /// Things the operator should know, one sentence each.
    pub notes: Vec<String>,
}

/// Builds the configuration and the files it points at.
pub fn build(spec: &KubeadmSpec<'_>) -> Result<KubeadmConfig, InstallerError> {
    let dir = spec.dir.trim_end_matches('/');
    if !dir.starts_with('/') || dir.contains(['\n', ',', ' ']) {
        return Err(InstallerError::Invalid(format!(
            "--dir {:?} must be an absolute path on the control-plane node, without spaces or commas",
            spec.dir
        )));
    }
    let version = spec.kube_version;
    let path = |file: &str| format!("{dir}/{file}");
    let webhook = |mode: Mode| -> Result<String, InstallerError> {
        let config = webhook_config::build(
            spec.pki,
            &WebhookConfigSpec {
                name: spec.name,
                provider: spec.provider,
                addr: spec.addr,
                mode,
            },
        )?;
        webhook_config::to_yaml(&config)
    };
    let mut args: Vec<(&'static str, String)> = vec![
        (
            "authentication-token-webhook-config-file",
            path(AUTHN_WEBHOOK_FILE),
        ),
        ("authentication-token-webhook-version", "v1".into()),
        (
            "authentication-token-webhook-cache-ttl",
            go_duration(spec.cache_ttl),
        ),
    ];
    let mut files = vec![KubeadmFile {
        name: AUTHN_WEBHOOK_FILE,
        contents: webhook(Mode::Authn)?,
    }];
    let mut replaces = Vec::new();
    let mut notes = Vec::new();
    if spec.authn_config {
        if version >= KubeVersion::ANONYMOUS_CONDITIONS {
            let authn = authn_config::build(&AuthnConfigSpec {
                kube_version: version,
                anonymous_paths: spec.anonymous_paths.clone(),
                jwt: Vec::new(),
            })?;
            notes.extend(authn.notes);
            args.push(("authentication-config", path(AUTHN_CONFIG_FILE)));
            replaces.push("anonymous-auth");
            files.push(KubeadmFile {
                name: AUTHN_CONFIG_FILE,
                contents: authn_config::to_yaml(&authn.config)?,
            });
        } else {
            notes.push(format!(
                "Kubernetes {version} cannot limit anonymous requests to the probes' paths (that needs 1.32), so no authentication-config is written; do not set --anonymous-auth=false on a kubeadm cluster: the API server's probes need /livez and /readyz"
            ));
        }
    }
    if spec.authz {
        if spec.provider != "azure" {
            return Err(InstallerError::Invalid(format!(
                "--authz: guard authorizes Azure AD users (Azure RBAC), and only for an API server that presents an azure client certificate: use -o azure, not -o {}",
                spec.provider
            )));
        }
        files.push(KubeadmFile {
            name: AUTHZ_WEBHOOK_FILE,
            contents: webhook(Mode::Authz)?,
        });
        if version >= KubeVersion::STRUCTURED_AUTHZ {
            let authz = authz_config::build(version, &path(AUTHZ_WEBHOOK_FILE));
            args.push(("authorization-config", path(AUTHZ_CONFIG_FILE)));
            replaces.extend([
                "authorization-mode",
                "authorization-webhook-config-file",
                "authorization-webhook-version",
                "authorization-webhook-cache-authorized-ttl",
                "authorization-webhook-cache-unauthorized-ttl",
            ]);
            files.push(KubeadmFile {
                name: AUTHZ_CONFIG_FILE,
                contents: guard_api::yaml::to_sorted_yaml(&authz)?,
            });
        } else {
            args.extend([
                ("authorization-mode", "Node,RBAC,Webhook".into()),
                (
                    "authorization-webhook-config-file",
                    path(AUTHZ_WEBHOOK_FILE),
                ),
                ("authorization-webhook-version", "v1".into()),
            ]);
            replaces.push("authorization-config");
            notes.push(format!(
                "Kubernetes {version} has no AuthorizationConfiguration (1.30): guard is the last authorizer through flags, and also receives the system: users' requests RBAC does not allow (it answers them with no opinion)"
            ));
        }
    }
    let extra_args = match spec.api {
        KubeadmApi::V1beta4 => ExtraArgs::List(
            args.into_iter()
                .map(|(name, value)| Arg {
                    name: name.into(),
                    value,
                })
                .collect(),
        ),
        KubeadmApi::V1beta3 => ExtraArgs::Map(
            args.into_iter()
                .map(|(name, value)| (name.into(), value))
                .collect(),
        ),
    };
    Ok(KubeadmConfig {
        config: ClusterConfiguration {
            api_version: spec.api.api_version().into(),
            kind: "ClusterConfiguration".into(),
            api_server: ApiServer {
                extra_args,
                extra_volumes: vec![HostPathMount {
                    name: VOLUME.into(),
                    host_path: dir.into(),
                    mount_path: dir.into(),
                    read_only: true,
                    path_type: Some(HostPathType::Directory),
                }],
            },
        },
        files,
        replaces,
        notes,
    })
}

/// Renders a configuration as YAML with keys sorted.
pub fn to_yaml(config: &ClusterConfiguration) -> Result<String, InstallerError> {
    Ok(guard_api::yaml::to_sorted_yaml(config)?)
}

/// An existing kubeadm configuration file: every YAML document, and which
/// one is the `ClusterConfiguration`.
#[derive(Debug, Clone)]
pub struct Existing {
    docs: Vec<serde_json::Value>,
    cluster: usize,
    /// Its kubeadm API.
    pub api: KubeadmApi,
    /// Its `kubernetesVersion`, when that names a release (`v1.29.9`, not
    /// `stable`).
    pub kube_version: Option<KubeVersion>,
}

/// Reads a kubeadm configuration (one or more YAML documents, e.g. the
/// `ClusterConfiguration` key of the `kubeadm-config` ConfigMap, or a
/// `kubeadm init --config` file).
pub fn read_existing(text: &str) -> Result<Existing, InstallerError> {
    let invalid = |why: String| InstallerError::Invalid(format!("--merge: {why}"));
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).map_err(|e| {
        // The parser's message carries a source snippet: keep its first line.
        let message = e.to_string();
        let first = message.lines().next().unwrap_or_default().trim();
        invalid(format!("not YAML: {}", first.trim_start_matches("error: ")))
    })?;
    let docs: Vec<serde_json::Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    let clusters: Vec<usize> = docs
        .iter()
        .enumerate()
        .filter(|(_, d)| d["kind"] == "ClusterConfiguration")
        .map(|(i, _)| i)
        .collect();
    let [cluster] = clusters[..] else {
        return Err(invalid(format!(
            "expected one ClusterConfiguration, found {} (kubectl -n kube-system get configmap kubeadm-config -o jsonpath='{{.data.ClusterConfiguration}}' prints the cluster's)",
            clusters.len()
        )));
    };
    let api_version = docs[cluster]["apiVersion"].as_str().unwrap_or_default();
    let api = KubeadmApi::from_api_version(api_version).ok_or_else(|| {
        invalid(format!(
            "the ClusterConfiguration is {api_version:?}; guard writes kubeadm.k8s.io/v1beta4 and v1beta3 (`kubeadm config migrate` converts older files)"
        ))
    })?;
    let kube_version = docs[cluster]["kubernetesVersion"]
        .as_str()
        .and_then(|v| v.parse().ok());
    Ok(Existing {
        docs,
        cluster,
        api,
        kube_version,
    })
}

/// Puts `ours` into the existing configuration: each of our flags replaces
/// every entry of the same name, our volume replaces one of the same name
/// or mount path, everything else is kept. Refuses flags that would
/// conflict with ours (see [`KubeadmConfig::replaces`]) unless they hold
/// kubeadm's defaults. Returns every document, as YAML.
pub fn merge(existing: &Existing, ours: &KubeadmConfig) -> Result<String, InstallerError> {
    let invalid = |why: String| InstallerError::Invalid(format!("--merge: {why}"));
    if ours.config.api_version != existing.api.api_version() {
        return Err(invalid(format!(
            "the file is {}, not {}",
            existing.api.api_version(),
            ours.config.api_version
        )));
    }
    let mut docs = existing.docs.clone();
    let cluster = docs[existing.cluster]
        .as_object_mut()
        .ok_or_else(|| invalid("the ClusterConfiguration is not a mapping".into()))?;
    let api_server = cluster
        .entry("apiServer")
        .or_insert_with(|| serde_json::json!({}));
    let api_server = api_server
        .as_object_mut()
        .ok_or_else(|| invalid("apiServer is not a mapping".into()))?;

    // The flags, as (name, value) pairs in order.
    let mut args: Vec<(String, String)> = match api_server.get("extraArgs") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .map(|a| {
                Some((
                    a.get("name")?.as_str()?.to_owned(),
                    scalar(a.get("value")?)?,
                ))
            })
            .collect::<Option<_>>()
            .ok_or_else(|| {
                invalid("apiServer.extraArgs has an entry without name and value".into())
            })?,
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| Some((k.clone(), scalar(v)?)))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                invalid("apiServer.extraArgs has a value that is not a string".into())
            })?,
        Some(_) => {
            return Err(invalid(
                "apiServer.extraArgs is neither a list nor a map".into(),
            ));
        }
    };
    let ours_args: Vec<(String, String)> = match &ours.config.api_server.extra_args {
        ExtraArgs::List(list) => list
            .iter()
            .map(|a| (a.name.clone(), a.value.clone()))
            .collect(),
        ExtraArgs::Map(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    };
    for (name, value) in &args {
        let ours_value = ours_args.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        if !ours.replaces.contains(&name.as_str()) && ours_value.is_none() {
            continue;
        }
        let conflict = match name.as_str() {
            // kubeadm's own default, which guard's settings extend.
            "authorization-mode" => value != "Node,RBAC" && ours_value != Some(value),
            // Someone else's configuration file: guard does not edit it.
            "authentication-config" | "authorization-config" => ours_value != Some(value),
            // Flags kube-apiserver refuses next to guard's files.
            other => ours.replaces.contains(&other) && ours_value != Some(value),
        };
        if conflict {
            return Err(invalid(format!(
                "the cluster already sets --{name}={value}, which guard's settings would replace or conflict with; merge them by hand (see docs/kube-apiserver.md) or leave that part out (--authn-config=false, or without --authz)"
            )));
        }
    }
    args.retain(|(name, _)| {
        !ours.replaces.contains(&name.as_str()) && !ours_args.iter().any(|(n, _)| n == name)
    });
    args.extend(ours_args);
    let extra_args = match existing.api {
        KubeadmApi::V1beta4 => serde_json::Value::Array(
            args.into_iter()
                .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
                .collect(),
        ),
        KubeadmApi::V1beta3 => serde_json::Value::Object(
            args.into_iter()
                .map(|(name, value)| (name, serde_json::Value::String(value)))
                .collect(),
        ),
    };
    api_server.insert("extraArgs".into(), extra_args);

    let ours_volumes = &ours.config.api_server.extra_volumes;
    let mut volumes = match api_server.remove("extraVolumes") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(list)) => list,
        Some(_) => return Err(invalid("apiServer.extraVolumes is not a list".into())),
    };
    volumes.retain(|v| {
        !ours_volumes.iter().any(|o| {
            v["name"].as_str() == Some(o.name.as_str())
                || v["mountPath"].as_str() == Some(o.mount_path.as_str())
        })
    });
    for volume in ours_volumes {
        volumes.push(
            serde_json::to_value(volume).map_err(|e| InstallerError::Serialize(Box::new(e)))?,
        );
    }
    api_server.insert("extraVolumes".into(), serde_json::Value::Array(volumes));

    let rendered = docs
        .iter()
        .map(guard_api::yaml::to_sorted_yaml)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rendered.join("---\n"))
}

/// A flag value as kubeadm reads it: YAML may have made `true` or `8443`
/// of it.
fn scalar(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What [`write_files`] did with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// It did not exist.
    Created,
    /// It existed with other contents.
    Replaced,
    /// It already held exactly this.
    Unchanged,
}

/// Writes `files` into `dir` (created 0700 if missing), each 0600 and
/// atomically (kube-apiserver re-reads its configuration files while it
/// runs). A file with other contents is only replaced with `force`.
pub fn write_files(
    dir: &std::path::Path,
    files: &[KubeadmFile],
    force: bool,
) -> Result<Vec<(std::path::PathBuf, Written)>, InstallerError> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};

    let failed = |path: &std::path::Path, source: std::io::Error| {
        let hint = if source.kind() == std::io::ErrorKind::PermissionDenied {
            " (run it as root on the control-plane node, or pass --out-dir and copy the files there)"
        } else {
            ""
        };
        InstallerError::Write {
            path: path.to_owned(),
            hint,
            source,
        }
    };
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| failed(dir, e))?;
    }
    // Check every file before writing any, so a refusal changes nothing.
    let mut plan = Vec::new();
    for file in files {
        let path = dir.join(file.name);
        let state = match std::fs::read(&path) {
            Ok(old) if old == file.contents.as_bytes() => Written::Unchanged,
            Ok(_) if !force => {
                return Err(InstallerError::Invalid(format!(
                    "{} exists with other contents: pass --force to replace it",
                    path.display()
                )));
            }
            Ok(_) => Written::Replaced,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Written::Created,
            Err(e) => return Err(failed(&path, e)),
        };
        plan.push((path, file, state));
    }
    let mut done = Vec::new();
    for (path, file, state) in plan {
        if state != Written::Unchanged {
            let tmp = dir.join(format!(".{}.tmp", file.name));
            let _ = std::fs::remove_file(&tmp);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| failed(&tmp, e))?;
            f.write_all(file.contents.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| failed(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| failed(&path, e))?;
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| failed(&path, e))?;
        done.push((path, state));
    }
    Ok(done)
}
