//! `guard login`: adds (or updates) a user that runs `guard get token` as a
//! kubectl exec credential plugin, and a context that uses it, to a
//! kubeconfig — keeping everything else in the file as it was.

use std::path::Path;

use kube_client::config::{
    AuthInfo, Context, ExecConfig, ExecInteractiveMode, Kubeconfig, NamedAuthInfo, NamedContext,
};

use crate::InstallerError;

/// What to add.
#[derive(Debug, Clone)]
pub struct LoginSpec {
    /// The kubeconfig cluster entry the context points at.
    pub cluster: String,
    /// The user entry's name.
    pub user: String,
    /// The context's name.
    pub context: String,
    /// The program kubectl runs (guard's absolute path).
    pub command: String,
    /// Its arguments (`get token -o PROVIDER ... --exec-credential`).
    pub args: Vec<String>,
    /// Environment variables kubectl sets for it (secrets go here, not in
    /// the arguments, which every user of the machine can see in `ps`).
    pub env: Vec<(String, String)>,
}

/// What `apply` changed, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginChanges {
    /// `added` or `updated`.
    pub user: &'static str,
    /// `added` or `updated`.
    pub context: &'static str,
    /// Whether the cluster entry exists in the file.
    pub cluster_known: bool,
}

/// Adds or replaces the user and context of `spec` in `config`.
pub fn apply(config: &mut Kubeconfig, spec: &LoginSpec) -> LoginChanges {
    let auth = AuthInfo {
        exec: Some(ExecConfig {
            api_version: Some("client.authentication.k8s.io/v1".into()),
            command: Some(spec.command.clone()),
            args: Some(spec.args.clone()),
            env: (!spec.env.is_empty()).then(|| {
                spec.env
                    .iter()
                    .map(|(name, value)| {
                        [
                            ("name".to_owned(), name.clone()),
                            ("value".to_owned(), value.clone()),
                        ]
                        .into_iter()
                        .collect()
                    })
                    .collect()
            }),
            drop_env: None,
            install_hint: Some(
                "guard is not installed: see https://github.com/guard-rs/guard".into(),
            ),
            interactive_mode: Some(ExecInteractiveMode::IfAvailable),
            provide_cluster_info: false,
            cluster: None,
            other: Default::default(),
        }),
        ..AuthInfo::default()
    };
    let user = match config.auth_infos.iter_mut().find(|u| u.name == spec.user) {
        Some(existing) => {
            existing.auth_info = Some(auth);
            "updated"
        }
        None => {
            config.auth_infos.push(NamedAuthInfo {
                name: spec.user.clone(),
                auth_info: Some(auth),
                ..NamedAuthInfo::default()
            });
            "added"
        }
    };
    let context = Context {
        cluster: spec.cluster.clone(),
        user: Some(spec.user.clone()),
        ..Context::default()
    };
    let context_change = match config.contexts.iter_mut().find(|c| c.name == spec.context) {
        Some(existing) => {
            existing.context = Some(context);
            "updated"
        }
        None => {
            config.contexts.push(NamedContext {
                name: spec.context.clone(),
                context: Some(context),
                ..NamedContext::default()
            });
            "added"
        }
    };
    LoginChanges {
        user,
        context: context_change,
        cluster_known: config.clusters.iter().any(|c| c.name == spec.cluster),
    }
}

/// Reads `path` (an empty config when it does not exist), applies `spec`,
/// and writes the file back (mode 0600, replaced atomically).
pub fn update_file(path: &Path, spec: &LoginSpec) -> Result<LoginChanges, InstallerError> {
    let io = |e: std::io::Error| InstallerError::Invalid(format!("{}: {e}", path.display()));
    let mut config = match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => serde_saphyr::from_str::<Kubeconfig>(&text)
            .map_err(|e| {
                InstallerError::Invalid(format!("{} is not a kubeconfig: {e}", path.display()))
            })?,
        Ok(_) => Kubeconfig::default(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Kubeconfig::default(),
        Err(e) => return Err(io(e)),
    };
    config.api_version.get_or_insert_with(|| "v1".into());
    config.kind.get_or_insert_with(|| "Config".into());
    let changes = apply(&mut config, spec);
    let yaml = crate::yaml::to_sorted_yaml(&config)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("guard-tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(yaml.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(changes)
}
